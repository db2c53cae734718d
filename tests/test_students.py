import math

import pytest
import torch
from torch import nn

from crossmodal.errors import InputError
from crossmodal.models.features import Features
from crossmodal.models.student_registry import STUDENTS, build_student


@pytest.mark.parametrize("name", ["resnet18", "resnet10"])
@pytest.mark.parametrize("width, size", [(8, (32, 32)), (16, (120, 160)), (8, (48, 70))])
def test_output_shapes(name, width, size):
    student = build_student(name, in_channels=1, width=width)
    out = student(torch.randn(2, 1, *size))
    assert isinstance(out, Features)
    assert out.logits is None
    assert student.feature_dim == 8 * width
    assert student.map_channels == [width, 2 * width, 4 * width, 8 * width]
    assert out.pooled.shape == (2, 8 * width)
    for stride, channels, fmap in zip((4, 8, 16, 32), student.map_channels, out.maps):
        assert fmap.shape == (2, channels, math.ceil(size[0] / stride), math.ceil(size[1] / stride))


def test_logits_when_num_classes_given_and_other_input_channels():
    student = build_student("resnet18", in_channels=3, width=8, num_classes=7)
    assert student.in_channels == 3
    assert student(torch.randn(2, 3, 40, 40)).logits.shape == (2, 7)


def test_gradients_reach_every_parameter():
    student = build_student("resnet18", width=8, num_classes=5)
    out = student(torch.randn(4, 1, 64, 64))
    (out.pooled.square().mean() + out.logits.logsumexp(dim=1).mean() + out.maps[0].mean()).backward()
    for name, parameter in student.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_depths_differ_as_named():
    def basic_blocks(student: nn.Module) -> int:
        return sum(type(m).__name__ == "BasicBlock" for m in student.modules())

    assert basic_blocks(build_student("resnet18", width=8)) == 8
    assert basic_blocks(build_student("resnet10", width=8)) == 4


def test_convolutions_use_kaiming_fan_out_init():
    torch.manual_seed(0)
    student = build_student("resnet18", width=64)
    conv = student.stages[2][0].conv1
    fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2.0 / fan_out), rel=0.05)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": "vit"}, "unknown student 'vit'"),
        ({"width": 0}, "width"),
        ({"in_channels": 0}, "in_channels"),
        ({"num_classes": 0}, "num_classes"),
    ],
)
def test_bad_options_are_input_errors(kwargs, message):
    with pytest.raises(InputError, match=message):
        build_student(**kwargs)


def test_registry_lists_the_students():
    assert STUDENTS.names() == ["audio_resnet10", "audio_resnet18", "audio_soundnet", "resnet10", "resnet18"]
