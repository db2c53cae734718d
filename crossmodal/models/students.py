"""Students: 2-D CNNs for the target modality (depth images now, audio spectrograms later).

A ResNet with torchvision's BasicBlock, but with any number of input channels and a
configurable base width, so the same network runs full size on a GPU and narrow on a CPU.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock

from crossmodal.errors import InputError
from crossmodal.models.features import Features
from crossmodal.registry import Registry

STUDENTS: Registry[Callable[..., nn.Module]] = Registry("student")


class ResNetStudent(nn.Module):
    """ResNet of BasicBlocks on ``in_channels`` inputs; stage widths width x (1, 2, 4, 8).

    pooled: B x 8·width (global average pool of the last stage); maps: the four stage
    outputs at strides 4, 8, 16, 32 (each ceil(size / stride)); logits: a linear head on
    pooled when ``num_classes`` is given, else None.
    """

    def __init__(
        self, blocks_per_stage: list[int], in_channels: int = 1, width: int = 64, num_classes: int | None = None
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.map_channels = [width * 2**stage for stage in range(4)]
        self.feature_dim = self.map_channels[-1]
        self.num_classes = num_classes
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, kernel_size=7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        )
        stages = []
        channels = width
        for stage, (out_channels, blocks) in enumerate(zip(self.map_channels, blocks_per_stage)):
            stages.append(self._stage(channels, out_channels, blocks, stride=1 if stage == 0 else 2))
            channels = out_channels
        self.stages = nn.ModuleList(stages)
        self.head = nn.Linear(self.feature_dim, num_classes) if num_classes is not None else None
        self._init_weights()

    @staticmethod
    def _stage(in_channels: int, out_channels: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or in_channels != out_channels:
            downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        layers = [BasicBlock(in_channels, out_channels, stride, downsample)]
        layers += [BasicBlock(out_channels, out_channels) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> Features:
        x = self.stem(x)
        maps = []
        for stage in self.stages:
            x = stage(x)
            maps.append(x)
        pooled = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        logits = self.head(pooled) if self.head is not None else None
        return Features(pooled=pooled, maps=maps, logits=logits)


@STUDENTS.register("resnet18")
def resnet18(in_channels: int = 1, width: int = 64, num_classes: int | None = None) -> ResNetStudent:
    return ResNetStudent([2, 2, 2, 2], in_channels, width, num_classes)


@STUDENTS.register("resnet10")
def resnet10(in_channels: int = 1, width: int = 64, num_classes: int | None = None) -> ResNetStudent:
    """One block per stage: the quick variant for CPU runs."""
    return ResNetStudent([1, 1, 1, 1], in_channels, width, num_classes)


def build_student(
    name: str = "resnet18", in_channels: int = 1, width: int = 64, num_classes: int | None = None
) -> nn.Module:
    """Builds the student ``name`` from STUDENTS with Kaiming-initialised weights."""
    factory = STUDENTS.get(name)
    for option, value in (("in_channels", in_channels), ("width", width)):
        if value < 1:
            raise InputError(f"student option {option} must be a positive integer, got {value}")
    if num_classes is not None and num_classes < 1:
        raise InputError(f"student option num_classes must be a positive integer or None, got {num_classes}")
    return factory(in_channels=in_channels, width=width, num_classes=num_classes)


from crossmodal.models import audio as _audio_students  # noqa: E402,F401  registers the audio students
