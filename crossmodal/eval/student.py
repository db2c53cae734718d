"""The network an evaluation protocol judges, with what it needs to know about where it came from.

Protocols read only this object; how it is loaded (from a run, a checkpoint, or as an untrained
reference) is the experiments layer's job (``crossmodal.experiments.student_loading``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crossmodal.config import TrainConfig
from crossmodal.eval.render import first_channel_image
from crossmodal.models.features import FeatureNetwork


@dataclass
class LoadedStudent:
    """A frozen student in eval mode and what evaluation needs to know about where it came from.

    ``config``: the training config (for a random-init reference, the defaults or another run's,
    with the chosen architecture). ``modality``: the target modality it was built for.
    ``run_dir``: where results are written by default. ``wandb_id``: the training run's wandb id,
    for linking evaluation to it. ``draw_input``: how its modality draws one input (for pictures).
    """

    model: FeatureNetwork
    config: TrainConfig
    modality: str
    spec: dict[str, Any]
    description: str
    fingerprint: str
    run_dir: Path
    checkpoint: Path | None = None
    epoch: int | None = None
    wandb_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    draw_input: Callable[[torch.Tensor], np.ndarray] = first_channel_image

    def report(self) -> dict[str, Any]:
        """Which network was judged, for every report file."""
        return {
            "student": self.description,
            "modality": self.modality,
            "spec": self.spec,
            "checkpoint": str(self.checkpoint) if self.checkpoint else None,
            "epoch": self.epoch,
            "weights_fingerprint": self.fingerprint,
        }
