"""Image students: 2-D ResNets for image-like targets (depth maps; audio students reuse them on log-mel images).

A ResNet with torchvision's BasicBlock, but with any number of input channels and a
configurable base width, so the same network runs full size on a GPU and narrow on a CPU.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock

from crossmodal.models.features import FeatureNetwork, Features
from crossmodal.models.student_registry import register_student


class ResNetStudent(FeatureNetwork):
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
        self.map_strides = [(2**stage * 4, 2**stage * 4) for stage in range(4)]
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


@register_student("resnet18", takes="image")
def resnet18(in_channels: int = 1, width: int = 64, num_classes: int | None = None) -> ResNetStudent:
    return ResNetStudent([2, 2, 2, 2], in_channels, width, num_classes)


@register_student("resnet10", takes="image")
def resnet10(in_channels: int = 1, width: int = 64, num_classes: int | None = None) -> ResNetStudent:
    """One block per stage: the quick variant for CPU runs."""
    return ResNetStudent([1, 1, 1, 1], in_channels, width, num_classes)
