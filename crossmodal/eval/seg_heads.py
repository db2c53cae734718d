"""Segmentation heads on a student's stage maps, registered by name: what ``--head`` chooses."""
from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossmodal.registry import Registry

DEFAULT_LR = 1e-3


class SegmentationHead(nn.Module):
    """Stage maps -> per-pixel class scores (its last layer ``classify``); ``default_lr`` is the head's learning rate
    when none is given."""

    default_lr: ClassVar[float] = DEFAULT_LR
    classify: nn.Conv2d

    @property
    def num_classes(self) -> int:
        return self.classify.out_channels


HeadFactory = Callable[[list[int], int], SegmentationHead]
SEGMENTATION_HEADS: Registry[HeadFactory] = Registry("segmentation head")


@SEGMENTATION_HEADS.register("linear")
class LinearHead(SegmentationHead):
    """A 1x1 convolution on the deepest stage: per-location linear separability of the last features."""

    default_lr = 1e-2

    def __init__(self, map_channels: list[int], num_classes: int) -> None:
        super().__init__()
        self.classify = nn.Conv2d(map_channels[-1], num_classes, kernel_size=1)

    def forward(self, maps: list[Tensor]) -> Tensor:
        return self.classify(maps[-1])


@SEGMENTATION_HEADS.register("fcn")
class FCNHead(SegmentationHead):
    """Every stage resized to the second stage's resolution (stride 8, as in FCN-8s), concatenated, 3x3 conv-BN-ReLU, 1x1.

    Shallow stages carry the edges, deep stages the semantics; the small head mixes both.
    Fusing at stride 8 rather than 4 costs a quarter of the compute, which matters on a CPU.
    """

    default_lr = 1e-3

    def __init__(self, map_channels: list[int], num_classes: int, hidden: int = 128) -> None:
        super().__init__()
        self.mix = nn.Sequential(
            nn.Conv2d(sum(map_channels), hidden, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Dropout2d(0.1),
        )
        self.classify = nn.Conv2d(hidden, num_classes, kernel_size=1)

    def forward(self, maps: list[Tensor]) -> Tensor:
        height, width = maps[min(1, len(maps) - 1)].shape[-2:]
        return self.classify(self.mix(torch.cat([_resize_map(m, (height, width)) for m in maps], dim=1)))


def _resize_map(features: Tensor, size: tuple[int, int]) -> Tensor:
    """Average-pool larger maps (no aliasing), bilinearly upsample smaller ones."""
    if tuple(features.shape[-2:]) == size:
        return features
    if features.shape[-2] > size[0]:
        return F.adaptive_avg_pool2d(features, size)
    return F.interpolate(features, size=size, mode="bilinear", align_corners=False)


def build_segmentation_head(kind: str, map_channels: list[int], num_classes: int) -> SegmentationHead:
    return SEGMENTATION_HEADS.get(kind)(list(map_channels), num_classes)
