"""The audio contract: every waveform the program reads, caches or feeds a student is mono float at SAMPLE_RATE."""

SAMPLE_RATE = 16000
"""Samples per second of every decoded, cached and student-facing waveform (SoundNet's and most audio CNNs' rate)."""
