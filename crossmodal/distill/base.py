"""The contract every distillation objective follows, and the registry the trainer builds them from."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from torch import Tensor, nn

from crossmodal.models.features import Features
from crossmodal.registry import Registry


@dataclass(frozen=True)
class ObjectiveContext:
    """What an objective may need to size itself; filled in by the trainer from the built models.

    student_dim / teacher_dims: pooled feature sizes (one teacher dim per teacher).
    student_map_channels / teacher_map_channels: channels of each stage map (teacher: per teacher).
    teacher_num_classes: logits size of each teacher (None when a teacher has no logits).
    num_samples: rows in the training set, i.e. the memory-bank size M.
    """

    student_dim: int
    teacher_dims: list[int]
    num_samples: int
    student_map_channels: list[int] = field(default_factory=list)
    teacher_map_channels: list[list[int]] = field(default_factory=list)
    teacher_num_classes: list[int | None] = field(default_factory=list)


class Objective(nn.Module):
    """A distillation loss: ``forward(student_out, teacher_outs, batch) -> {name: loss term}``.

    ``teacher_outs`` holds one Features per teacher. The returned terms are already weighted;
    the trainer minimises their sum. Any state (memory banks, normaliser Z) is a buffer, so it
    travels in ``state_dict`` and therefore in checkpoints. ``needs_student_logits`` tells the
    trainer to give the student a classifier head over the teacher's classes.
    """

    needs_student_logits: bool = False

    def forward(self, student_out: Features, teacher_outs: list[Features], batch: dict[str, Any]) -> dict[str, Tensor]:
        raise NotImplementedError

    def diagnostics(self) -> dict[str, float]:
        """Scalars worth logging beside the losses (e.g. positive/negative critic scores)."""
        return {}


ObjectiveFactory = Callable[[ObjectiveContext, dict[str, Any]], Objective]
OBJECTIVES: Registry[ObjectiveFactory] = Registry("objective")
