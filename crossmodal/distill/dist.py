"""DIST (Huang et al., NeurIPS 2022): knowledge distillation from a stronger teacher by Pearson relations, not exact probabilities.

With ``p = softmax(z / tau)`` for student and teacher (B x K), the inter-class term is
``1 - mean_i pearson(p_S[i, :], p_T[i, :])`` (each sample's ranking of the classes) and the
intra-class term ``1 - mean_k pearson(p_S[:, k], p_T[:, k])`` (each class's ranking of the
samples). The loss is ``beta * tau^2 * (inter_weight * inter + intra_weight * intra)``, with the
paper's ImageNet settings ``tau = 1`` and both weights 1; ``beta = 1``, which the depth validation
split also chose among 0.1, 1 and 10 (``tools/tune.py``).

It needs no ground truth: the teacher's predictions are the only labels, which is why it
applies across modalities (it was chosen among recent methods for that reason). The student gets
a classifier over the teacher's classes (``needs_student_logits``); several teachers' softened
predictions are averaged first, as KD does. Under torchrun the intra-class term is within each
process's batch.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from crossmodal.distill.base import OBJECTIVES, Objective, ObjectiveContext, TeacherReads
from crossmodal.distill.kd import check_shared_label_set, student_and_teacher_logits
from crossmodal.errors import OptionError
from crossmodal.models.features import Features

EPSILON = 1e-8


def pearson_rows(a: Tensor, b: Tensor) -> Tensor:
    """Pearson correlation of each row of ``a`` with the same row of ``b``."""
    a = a - a.mean(dim=1, keepdim=True)
    b = b - b.mean(dim=1, keepdim=True)
    return (a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1) + EPSILON)


def dist_terms(student_logits: Tensor, teacher_logits: list[Tensor], tau: float) -> tuple[Tensor, Tensor]:
    """(inter-class, intra-class) relation losses, each already multiplied by tau^2."""
    student = F.softmax(student_logits.float() / tau, dim=1)
    teacher = torch.stack([F.softmax(logits.detach().float() / tau, dim=1) for logits in teacher_logits]).mean(0)
    inter = 1 - pearson_rows(student, teacher).mean()
    intra = 1 - pearson_rows(student.T, teacher.T).mean()
    return tau**2 * inter, tau**2 * intra


@OBJECTIVES.register("dist")
class DIST(Objective):
    """Options: ``tau`` (softmax temperature), ``inter_weight``, ``intra_weight``, ``beta``. Loss key ``dist``."""

    title = "DIST"
    paper_weight = 1.0

    needs_student_logits = True

    def __init__(
        self, ctx: ObjectiveContext, *, tau: float = 1.0, inter_weight: float = 1.0, intra_weight: float = 1.0, beta: float = 1.0
    ) -> None:
        super().__init__()
        check_shared_label_set(ctx)
        if tau <= 0:
            raise OptionError(f"option tau must be positive, got {tau}")
        self.tau = tau
        self.inter_weight = inter_weight
        self.intra_weight = intra_weight
        self.beta = beta

    def teacher_reads(self) -> TeacherReads:
        return TeacherReads(logits=True)

    def forward(self, student_out: Features, teacher_outs: list[Features], batch: dict[str, Any]) -> dict[str, Tensor]:
        inter, intra = dist_terms(*student_and_teacher_logits("DIST", student_out, teacher_outs), self.tau)
        return {"dist": self.beta * (self.inter_weight * inter + self.intra_weight * intra)}
