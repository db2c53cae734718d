"""The features contract every teacher and student returns, and every objective reads."""
from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor


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
