"""No distillation: the random-initialisation reference every other objective is compared with.

It returns no loss terms and declares ``trains_student = False``: the trainer takes no optimiser
step (and computes no teacher outputs), so the student keeps its initial weights.
"""
from __future__ import annotations

from typing import Any

from torch import Tensor

from crossmodal.distill.base import OBJECTIVES, Objective, ObjectiveContext, TeacherReads
from crossmodal.models.features import Features


@OBJECTIVES.register("none")
class NoDistillation(Objective):
    """An objective with no terms and no options."""

    title = "Random init (none)"

    trains_student = False

    def __init__(self, ctx: ObjectiveContext) -> None:
        super().__init__()

    def teacher_reads(self) -> TeacherReads:
        return TeacherReads()

    def forward(self, student_out: Features, teacher_outs: list[Features], batch: dict[str, Any]) -> dict[str, Tensor]:
        return {}
