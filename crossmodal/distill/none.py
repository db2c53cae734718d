"""No distillation: the random-initialisation reference every other objective is compared with.

It returns no loss terms. The trainer treats an empty dict as "nothing to learn": it takes no
optimiser step, so the student keeps its initial weights.
"""
from __future__ import annotations

from typing import Any

from torch import Tensor

from crossmodal.distill.base import OBJECTIVES, Objective, ObjectiveContext
from crossmodal.distill.options import accepted_options
from crossmodal.models.features import Features


class NoDistillation(Objective):
    """An objective with no terms and no options."""

    def forward(self, student_out: Features, teacher_outs: list[Features], batch: dict[str, Any]) -> dict[str, Tensor]:
        return {}


@OBJECTIVES.register("none")
def build_none(ctx: ObjectiveContext, options: dict[str, Any]) -> NoDistillation:
    accepted_options("none", NoDistillation, options)
    return NoDistillation()
