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

from torch import Tensor

from crossmodal.distill.base import DISTILL, PRETRAIN, Objective, TrainingProgress
from crossmodal.distill.kd import kd_loss
from crossmodal.errors import InputError
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


def check_fraction(objective: str, fraction: float) -> float:
    if not 0 < fraction < 1:
        raise InputError(f"objective {objective!r} option pretrain_fraction must lie in (0, 1), got {fraction}")
    return fraction


def second_phase_kd(student_out: Features, teacher_outs: list[Features], temperature: float) -> Tensor:
    """KD on the teachers' logits: the task loss of FSP's and AB's second phase when there are no labels."""
    if student_out.logits is None or any(out.logits is None for out in teacher_outs):
        raise ValueError("the second phase needs logits from the student and from every teacher")
    return kd_loss(student_out.logits, [out.logits for out in teacher_outs], temperature)
