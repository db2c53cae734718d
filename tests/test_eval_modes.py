"""Evaluation never sees a student in training mode.

A BatchNorm student in training mode would normalise by each batch and update its statistics,
silently changing every number a probe or segmentation head reports.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from crossmodal.eval.extract import extract_pooled
from crossmodal.eval.seg_heads import build_segmentation_head
from crossmodal.eval.segment import HeadTraining, Segmenter, evaluate_segmenter, train_segmenter
from crossmodal.eval.sound_label_efficiency import SoundLabelEfficiencySettings, finetune_and_score
from crossmodal.models.features import Features


class RecordingEncoder(nn.Module):
    """A BatchNorm encoder that records, at every forward, whether it was in training mode."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.norm = nn.BatchNorm2d(4)
        self.map_channels = [4]
        self.modes: list[bool] = []

    def forward(self, x: torch.Tensor) -> Features:
        self.modes.append(self.training)
        feature_map = torch.relu(self.norm(self.conv(x)))
        return Features(pooled=feature_map.mean(dim=(2, 3)), maps=[feature_map])


def samples(count: int = 8) -> list[dict]:
    generator = torch.Generator().manual_seed(0)
    return [{"target": torch.randn(1, 8, 8, generator=generator), "label": k % 2,
             "seg": torch.randint(0, 3, (8, 8), generator=generator)} for k in range(count)]


def statistics(encoder: RecordingEncoder) -> list[torch.Tensor]:
    return [encoder.norm.running_mean.clone(), encoder.norm.running_var.clone()]


def test_feature_extraction_runs_the_student_in_eval_mode():
    encoder = RecordingEncoder().train()
    before = statistics(encoder)
    features, labels = extract_pooled(encoder, samples())
    assert encoder.modes and not any(encoder.modes)
    assert all(torch.equal(a, b) for a, b in zip(before, statistics(encoder)))
    assert features.shape == (8, 4) and labels.tolist() == [0, 1] * 4


@pytest.mark.parametrize("precompute", [False, True])
def test_a_frozen_encoder_stays_in_eval_mode_while_the_head_trains_and_is_scored(precompute):
    encoder = RecordingEncoder().train()
    before = statistics(encoder)
    model = Segmenter(encoder, build_segmentation_head("linear", [4], 3))
    train_segmenter(model, samples(), HeadTraining(epochs=2, batch_size=4, precompute_maps=precompute))
    assert model.head.training, "the head itself trains in training mode"
    evaluate_segmenter(model, samples(), num_classes=3)
    assert encoder.modes and not any(encoder.modes)
    assert all(torch.equal(a, b) for a, b in zip(before, statistics(encoder))), "the frozen encoder's BatchNorm statistics moved"


def test_a_fine_tuned_encoder_trains_in_training_mode_and_is_scored_in_eval_mode():
    encoder = RecordingEncoder()
    model = Segmenter(encoder, build_segmentation_head("linear", [4], 3), finetune=True)
    train_segmenter(model, samples(), HeadTraining(epochs=1, batch_size=4))
    assert encoder.modes and all(encoder.modes), "fine-tuning trains the encoder too"
    encoder.modes.clear()
    trained = statistics(encoder)
    evaluate_segmenter(model, samples(), num_classes=3)
    assert encoder.modes and not any(encoder.modes)
    assert all(torch.equal(a, b) for a, b in zip(trained, statistics(encoder))), "scoring moved the BatchNorm statistics"


class RecordingAudioEncoder(nn.Module):
    """A BatchNorm waveform encoder that records its mode at every forward in a class-wide list (a deep copy, as the
    protocol fine-tunes, records there too), with the pooled size a network declares."""

    feature_dim = 4
    modes: list[bool] = []

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 5, stride=4)
        self.norm = nn.BatchNorm1d(4)

    def forward(self, x: torch.Tensor) -> Features:
        RecordingAudioEncoder.modes.append(self.training)
        return Features(pooled=torch.relu(self.norm(self.conv(x))).mean(dim=2), maps=[])


def test_a_sound_classifier_fine_tuned_end_to_end_is_scored_in_eval_mode():
    RecordingAudioEncoder.modes.clear()
    generator = torch.Generator().manual_seed(0)
    train = (torch.randn(8, 400, generator=generator), torch.arange(8) % 2)
    test = (torch.randn(4, 400, generator=generator), np.arange(4) % 2)
    scores = finetune_and_score(RecordingAudioEncoder(), train, test, 2, window=100, epochs=2,
                                settings=SoundLabelEfficiencySettings(batch_size=4), device=torch.device("cpu"))
    modes = RecordingAudioEncoder.modes
    assert modes == [True] * 4 + [False], "four training steps in training mode, then one scoring batch in eval mode"
    assert 0.0 <= scores["top1"] <= 1.0
