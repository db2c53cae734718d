"""Objectives that add up other objectives' terms, e.g. ``crd+kd`` = ``alpha * KD + beta * CRD``.

Each part keeps its own options, weights and state; the combination only routes options to the
part that declares them and merges the loss dicts. A part's option errors name the combination
(``Objective.build``).
"""
from __future__ import annotations

import functools
import operator
from typing import Any, ClassVar, cast

from torch import Tensor, nn

from crossmodal.distill.base import OBJECTIVES, Objective, ObjectiveContext, TeacherReads, TrainingProgress
from crossmodal.distill.crd import CRD
from crossmodal.distill.kd import KD
from crossmodal.models.features import Features


class CombinedObjective(Objective):
    """The sum of the parts named in ``part_classes``; loss terms and diagnostics keep each part's own keys.

    Its options are the union of the parts' options (a name two parts share goes to both).
    """

    part_classes: ClassVar[dict[str, type[Objective]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.needs_student_logits = any(part.needs_student_logits for part in cls.part_classes.values())

    def __init__(self, ctx: ObjectiveContext, **options: Any) -> None:
        super().__init__()
        self.parts = nn.ModuleDict({
            name: part(ctx, **{key: value for key, value in options.items() if key in part.option_defaults()})  # type: ignore[call-arg]
            for name, part in self.part_classes.items()
        })

    @property
    def part_objectives(self) -> list[Objective]:
        """The parts, typed (an nn.ModuleDict yields plain Modules)."""
        return cast(list[Objective], list(self.parts.values()))

    @classmethod
    def option_defaults(cls) -> dict[str, Any]:
        return {key: value for part in cls.part_classes.values() for key, value in part.option_defaults().items()}

    def set_progress(self, progress: TrainingProgress) -> None:
        super().set_progress(progress)
        for part in self.part_objectives:
            part.set_progress(progress)

    def forward(self, student_out: Features, teacher_outs: list[Features], batch: dict[str, Any]) -> dict[str, Tensor]:
        terms: dict[str, Tensor] = {}
        for part in self.part_objectives:
            terms.update(part(student_out, teacher_outs, batch))
        return terms

    def teacher_reads(self) -> TeacherReads | None:
        reads = [part.teacher_reads() for part in self.part_objectives]
        return None if None in reads else functools.reduce(operator.or_, reads, TeacherReads())

    def diagnostics(self) -> dict[str, float]:
        values: dict[str, float] = {}
        for part in self.part_objectives:
            values.update(part.diagnostics())
        return values


@OBJECTIVES.register("crd+kd")
class CRDPlusKD(CombinedObjective):
    """``alpha * KD + beta * CRD``: the contrastive term plus matching the teacher's softened predictions."""

    title = "CRD+KD"

    part_classes = {"kd": KD, "crd": CRD}
