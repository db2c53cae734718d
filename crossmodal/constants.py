"""Conventions every layer shares: what the RGB teachers were trained to see, and the audio sample rate.

They sit below the data and model layers because both need them: a transform normalises RGB the
way a teacher expects, and a waveform student's front end assumes the rate the loaders resample to.
"""
from __future__ import annotations

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SAMPLE_RATE = 16000
"""Hz of every waveform the audio data sets deliver and the audio students take."""
