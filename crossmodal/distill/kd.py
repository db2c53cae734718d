"""Knowledge distillation (Hinton et al., 2015): match the teacher's softened class distribution.

Loss ``alpha * T^2 * KL(softmax(z_T / T) || softmax(z_S / T))``, summed over classes and averaged
over the batch; the ``T^2`` keeps gradient sizes comparable across temperatures. The student
gets a classifier over the teacher's classes (``needs_student_logits``). With several teachers
their softened probabilities are averaged first, so the student matches the ensemble's own
prediction (the mixture of its members), as in ensemble distillation.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from crossmodal.distill.base import OBJECTIVES, Objective, ObjectiveContext, TeacherReads
from crossmodal.errors import OptionError
from crossmodal.models.features import Features


def kd_loss(student_logits: Tensor, teacher_logits: list[Tensor], temperature: float) -> Tensor:
    """T^2 * KL(mean_j softmax(teacher_j / T) || softmax(student / T)), batch mean."""
    teacher_probs = torch.stack([F.softmax(logits.detach().float() / temperature, dim=1) for logits in teacher_logits]).mean(0)
    student_log_probs = F.log_softmax(student_logits.float() / temperature, dim=1)
    return F.kl_div(student_log_probs, teacher_probs, reduction="batchmean") * temperature**2


def check_shared_label_set(ctx: ObjectiveContext) -> None:
    """Objectives on logits need every teacher to have a classifier, all over one label set."""
    if not ctx.teacher_num_classes or None in ctx.teacher_num_classes:
        raise OptionError("needs teachers with class logits; at least one teacher has none")
    classes = {count for count in ctx.teacher_num_classes if count is not None}
    if len(classes) != 1:
        raise OptionError(f"needs all teachers to share one label set, got class counts {sorted(classes)}")


def student_and_teacher_logits(objective: str, student_out: Features, teacher_outs: list[Features]) -> tuple[Tensor, list[Tensor]]:
    """The student's logits and the teachers', after checking that the student and every teacher returned logits."""
    teachers = [out.logits for out in teacher_outs if out.logits is not None]
    if student_out.logits is None or len(teachers) != len(teacher_outs):
        raise ValueError(f"{objective} needs logits from the student and from every teacher")
    return student_out.logits, teachers


@OBJECTIVES.register("kd")
class KD(Objective):
    """Hinton KD on the teachers' logits. Options: ``temperature`` (T, 4 as in CRD's baselines), ``alpha``."""

    title = "KD"

    needs_student_logits = True

    def __init__(self, ctx: ObjectiveContext, *, temperature: float = 4.0, alpha: float = 1.0) -> None:
        super().__init__()
        check_shared_label_set(ctx)
        if temperature <= 0:
            raise OptionError(f"option temperature must be positive, got {temperature}")
        self.temperature = temperature
        self.alpha = alpha

    def teacher_reads(self) -> TeacherReads:
        return TeacherReads(logits=True)

    def forward(self, student_out: Features, teacher_outs: list[Features], batch: dict[str, Any]) -> dict[str, Tensor]:
        student, teachers = student_and_teacher_logits("KD", student_out, teacher_outs)
        return {"kd": self.alpha * kd_loss(student, teachers, self.temperature)}
