"""Two-stage methods (FSP, AB, FT): a pre-training phase on the method's own loss, then distillation.

The papers pre-train (FSP and AB: the student, to mimic the teacher's flow or activation
boundaries; FT: the teacher-side paraphraser, to reconstruct the teacher's map) and then train on
the labelled task. Across modalities there are no labels: the teacher's predictions are the only
ones, so FSP's and AB's second phase is KD on the teacher's logits (``alpha``, ``temperature``),
while FT's second phase is its own factor-transfer loss. The first
``ceil(pretrain_fraction * epochs)`` epochs are the pre-training phase (RepDistiller pre-trains
30 of 240 epochs: 0.125); the phase follows from the epoch (``Objective.phase``), so a resumed run
continues in the phase it stopped in, and the trainer records the phase with every epoch.
"""
from __future__ import annotations

import math
from typing import Any

from torch import Tensor

from crossmodal.distill.base import DISTILL, PRETRAIN, Objective, ObjectiveContext, TeacherReads, TrainingProgress, term_keys
from crossmodal.distill.kd import KD
from crossmodal.errors import OptionError
from crossmodal.models.features import Features


def pretrain_epochs(fraction: float, epochs: int) -> int:
    """Epochs of the pre-training phase: at least one."""
    return max(1, math.ceil(fraction * epochs))


class TwoStageObjective(Objective):
    """Pre-training for the first ``pretrain_epochs`` epochs; subclasses set ``pretrain_fraction``."""

    pretrain_fraction: float = 0.125

    def phase(self, progress: TrainingProgress) -> str:
        return PRETRAIN if progress.epoch <= pretrain_epochs(self.pretrain_fraction, progress.epochs) else DISTILL

    @property
    def pretraining(self) -> bool:
        """Whether the current step is in the pre-training phase (outside a training loop: no)."""
        return self.progress is not None and self.phase(self.progress) == PRETRAIN


def check_fraction(fraction: float) -> float:
    if not 0 < fraction < 1:
        raise OptionError(f"option pretrain_fraction must lie in (0, 1), got {fraction}")
    return fraction


class PretrainThenKD(TwoStageObjective):
    """FSP and AB: ``beta`` times a pre-training term per teacher (``pretraining_term``), then KD on the teachers' logits.

    The second phase is the KD objective itself (``alpha``, ``temperature``), which has no state of its own.
    """

    needs_student_logits = True
    stages: list[int]
    """The stage maps the pre-training term reads, set by the subclass."""

    def __init__(self, ctx: ObjectiveContext, beta: float, pretrain_fraction: float, alpha: float, temperature: float) -> None:
        super().__init__()
        self.second_phase = KD(ctx, temperature=temperature, alpha=alpha)
        self.pretrain_fraction = check_fraction(pretrain_fraction)
        self.beta = beta

    def teacher_reads(self) -> TeacherReads:
        """The pre-training term's stage maps (``stages``, set by the subclass), then KD's logits."""
        return TeacherReads(logits=True, stages=tuple(self.stages))

    def forward(self, student_out: Features, teacher_outs: list[Features], batch: dict[str, Any]) -> dict[str, Tensor]:
        if not self.pretraining:
            return self.second_phase(student_out, teacher_outs, batch)
        keys = term_keys(self.name, len(teacher_outs))
        return {key: self.beta * self.pretraining_term(k, student_out, out) for k, (key, out) in enumerate(zip(keys, teacher_outs))}

    def pretraining_term(self, teacher: int, student_out: Features, teacher_out: Features) -> Tensor:
        """The unweighted pre-training loss against teacher number ``teacher``."""
        raise NotImplementedError
