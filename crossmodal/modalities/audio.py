"""Audio: video frames paired with the sound around them, a waveform student, the ESC-50 fold probe."""
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from crossmodal.config import DataConfig, TrainConfig
from crossmodal.data.av_sets import SYNTHETIC_AV
from crossmodal.data.av_transforms import VideoPairTransform
from crossmodal.data.batch_augment import VideoBatchAugment
from crossmodal.data.catalog import data_options
from crossmodal.eval.probe import VALIDATION_FRACTION
from crossmodal.eval.render import depth_image
from crossmodal.eval.reports import EvalSettings
from crossmodal.modalities.base import Modality, register_modality
from crossmodal.models.audio import LogMelSpectrogram


@register_modality
class Audio(Modality):
    """Mono waveforms (B x 1 x T at 16 kHz) around each video frame; students take waveforms."""

    name = "audio"
    takes = "waveform"
    example_student = "audio_resnet18"
    default_experiment: ClassVar[dict[str, Any]] = {
        "data": {"name": SYNTHETIC_AV.name, "target": "audio", "input_size": [96, 96]},
        "teacher": {"cache": True},
        "student": {"name": "audio_resnet18", "width": 16},
        "schedule": {"epochs": 8},
    }
    experiments = {
        "none": "none_audio.yaml",
        "kd": "kd_audio.yaml",
        "crd": "crd_audio.yaml",
        "crd+kd": "crdkd_audio.yaml",
    }
    base_experiment = "audio_base.yaml"
    benchmark_title = "rgb -> audio distillation on the embedded synthetic audio-visual events"
    benchmark_metrics = {
        "probe_top1": "Sound probe top-1, 5 folds (%)",
        "probe_mean_class_accuracy": "Sound probe mean class acc. (%)",
    }
    demo_overrides = ("run.wandb=disabled",)
    """The experiment files' own settings (configs/audio_base.yaml) are sized for two CPU cores already."""
    protocols = ("sound-probe", "video-cache-probe", "sound-svm", "sound-label-efficiency")
    benchmark_protocols = ("sound-probe",)
    probe_tasks = {"esc50": "sound-probe", "video-cache": "video-cache-probe"}

    def transform(self, data: DataConfig, train: bool) -> VideoPairTransform:
        return VideoPairTransform(
            size=tuple(data.input_size), train=train, gain_db=data.augment.gain_db, shift_seconds=data.augment.shift_seconds
        )

    def batch_augment(self, data: DataConfig) -> VideoBatchAugment:
        return VideoBatchAugment(self.transform(data, train=True))

    def benchmark_notes(self, config: TrainConfig, evaluation: EvalSettings, first: dict[str, Any]) -> list[str]:
        options = data_options(config.data)
        av, video = options.av, options.video
        return [
            f"Data: {config.data.name} (seed {av.seed}), {av.num} videos of {av.seconds:g} s, a frame and its "
            f"{video.clip_seconds:g} s sound window {video.fps:g} times a second; the labelled sound set has "
            f"{first['num_clips']} clips in {first['num_folds']} folds.",
            "Sound probe: ESC-50 fold protocol (train on the other folds, test on one, mean over folds), logistic "
            "regression on the frozen pooled features averaged over the clip's windows, "
            f"C chosen on {VALIDATION_FRACTION:.0%} of the training clips" + ("." if evaluation.split == "test" else "; the fifth fold left out (validation)."),
        ]

    def render(self, sample: torch.Tensor) -> np.ndarray:
        """The waveform's log-mel spectrogram (mel bins up, time to the right), viridis."""
        image = LogMelSpectrogram()(sample.unsqueeze(0).float())[0, 0].flip(0).numpy()
        return depth_image(image - image.min() + 1e-3)
