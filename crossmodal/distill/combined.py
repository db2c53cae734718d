"""Objectives that add up other objectives' terms, e.g. ``crd+kd`` = ``alpha * KD + beta * CRD``.

Each part keeps its own options, weights and state; the combination only routes options to the
part that declares them and merges the loss dicts.
"""
from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from crossmodal.distill.base import OBJECTIVES, Objective, ObjectiveContext
from crossmodal.distill.crd import CRD
from crossmodal.distill.kd import KD
from crossmodal.distill.options import accepted_options, option_defaults, reject_unknown
from crossmodal.models.features import Features


class CombinedObjective(Objective):
    """The sum of named parts; loss terms and diagnostics keep each part's own keys."""

    def __init__(self, parts: dict[str, Objective]) -> None:
        super().__init__()
        self.parts = nn.ModuleDict(parts)
        self.needs_student_logits = any(part.needs_student_logits for part in parts.values())

    def forward(self, student_out: Features, teacher_outs: list[Features], batch: dict[str, Any]) -> dict[str, Tensor]:
        terms: dict[str, Tensor] = {}
        for part in self.parts.values():
            terms.update(part(student_out, teacher_outs, batch))
        return terms

    def diagnostics(self) -> dict[str, float]:
        values: dict[str, float] = {}
        for part in self.parts.values():
            values.update(part.diagnostics())
        return values


def build_combined(name: str, part_classes: dict[str, type], ctx: ObjectiveContext, options: dict[str, Any]) -> CombinedObjective:
    """Build each part with the options its constructor declares; an option no part declares is an error."""
    reject_unknown(name, options, {option for cls in part_classes.values() for option in option_defaults(cls)})
    parts = {}
    for part_name, cls in part_classes.items():
        own = {key: value for key, value in options.items() if key in option_defaults(cls)}
        parts[part_name] = cls(ctx, **accepted_options(name, cls, own))
    return CombinedObjective(parts)


@OBJECTIVES.register("crd+kd")
def build_crd_kd(ctx: ObjectiveContext, options: dict[str, Any]) -> CombinedObjective:
    return build_combined("crd+kd", {"kd": KD, "crd": CRD}, ctx, options)
