"""Evaluation never sees a student in training mode.

A BatchNorm student in training mode would normalise by each batch and update its statistics,
silently changing every number a probe or segmentation head reports.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from crossmodal.eval.extract import extract_pooled
from crossmodal.eval.seg_heads import build_segmentation_head
from crossmodal.eval.segment import HeadTraining, Segmenter, evaluate_segmenter, train_segmenter
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
