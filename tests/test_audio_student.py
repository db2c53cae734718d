"""Audio students: log-mel front end, Features shapes, logits, gradients, registry names."""

from __future__ import annotations

import pytest
import torch

from crossmodal.models import audio  # noqa: F401 - registers the audio students
from crossmodal.models.audio import LogMelSpectrogram
from crossmodal.models.features import Features
from crossmodal.models.student_registry import STUDENTS, build_student

torch.set_num_threads(2)


def _waveform(batch: int, channels: int = 1, seconds: float = 1.0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return 0.1 * torch.randn(batch, channels, int(seconds * 16000), generator=generator)


def test_log_mel_is_64_bands_every_10_ms_normalised_per_utterance():
    frontend = LogMelSpectrogram()
    wave = _waveform(3)
    wave[1] *= 50  # a loud clip and a quiet clip must look the same after normalisation
    image = frontend(wave)
    assert image.shape == (3, 1, 64, 101)
    assert torch.allclose(image.mean(dim=(-2, -1)), torch.zeros(3, 1), atol=1e-4)
    assert torch.allclose(image.std(dim=(-2, -1)), torch.ones(3, 1), atol=1e-3)
    assert torch.allclose(frontend(wave[:1] * 50), frontend(wave[:1]), atol=1e-3)
    assert torch.isfinite(frontend(torch.zeros(1, 16000))).all()  # silence, B x T input


@pytest.mark.parametrize("name", ["audio_resnet18", "audio_resnet10", "audio_soundnet"])
def test_students_return_features_with_declared_shapes_and_gradients(name):
    assert name in STUDENTS.names()
    student = build_student(name, in_channels=1, width=8, num_classes=5)
    wave = _waveform(2).requires_grad_(True)
    out = student(wave)
    assert isinstance(out, Features)
    assert out.pooled.shape == (2, student.feature_dim) == (2, 64)
    assert [m.shape[1] for m in out.maps] == student.map_channels == [8, 16, 32, 64]
    assert all(m.dim() == 4 and m.shape[0] == 2 for m in out.maps)
    assert out.logits.shape == (2, 5)
    (out.logits.sum() + out.pooled.sum()).backward()
    first_conv = next(p for p in student.parameters() if p.dim() >= 3)
    assert first_conv.grad is not None and first_conv.grad.abs().sum() > 0
    assert wave.grad is not None and torch.isfinite(wave.grad).all() and wave.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["audio_resnet10", "audio_soundnet"])
def test_multichannel_input_and_no_classifier(name):
    student = build_student(name, in_channels=2, width=8, num_classes=None)
    out = student(_waveform(2, channels=2, seconds=0.5))
    assert out.logits is None and out.pooled.shape == (2, 64)
