"""The features contract every teacher and student returns, and every objective reads."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from torch import Tensor, nn


@dataclass
class Features:
    """Outputs of a backbone for one batch.

    pooled: B x D global-pooled features of the last stage (what probes and CRD embed).
    maps:   stage feature maps, shallow to deep (B x C_i x H_i x W_i), for FitNet and segmentation.
    logits: B x K class scores, or None when the network has no classifier.
    """

    pooled: Tensor
    maps: list[Tensor] = field(default_factory=list)
    logits: Tensor | None = None

    def apply(self, function: Callable[[Tensor], Tensor]) -> Features:
        """The same outputs with ``function`` applied to every tensor (moving, casting, indexing rows)."""
        return Features(
            pooled=function(self.pooled), maps=[function(m) for m in self.maps],
            logits=None if self.logits is None else function(self.logits),
        )


@dataclass(frozen=True)
class MapSpec:
    """One stage map's shape, as detectron2's ShapeSpec or timm's ``feature_info``: channels and stride (h, w).

    The stride is relative to the network's own 2-D input: pixels for image networks, log-mel
    bins x frames for spectrogram students, (1, samples) for raw-waveform students.
    """

    channels: int
    stride: tuple[int, int]


class FeatureNetwork(nn.Module):
    """A network whose forward returns Features: every student and teacher.

    Declares what the trainer, the objectives and the probes read from any of them: the pooled
    size, each stage map's channels and stride, and the classifier's size (None: no classifier).
    """

    feature_dim: int
    map_channels: list[int]
    map_strides: list[tuple[int, int]]
    num_classes: int | None


def feature_info(network: FeatureNetwork) -> list[MapSpec]:
    """The stage maps a Features-returning network declares (``map_channels`` and ``map_strides``)."""
    return [MapSpec(int(c), (int(s[0]), int(s[1]))) for c, s in zip(network.map_channels, network.map_strides)]
