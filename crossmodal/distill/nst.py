"""Neuron selectivity transfer (Huang & Wang, 2017): match the distribution of the networks' neuron activation patterns.

Each channel of a stage map, flattened over positions and L2-normalised, is one sample of a
network's "neuron selectivity" distribution. The loss is the squared maximum mean discrepancy
between the student's and the teacher's channel sets with the paper's polynomial kernel
``k(x, y) = (x.y)^2``: ``mean k(s, s') + mean k(t, t') - 2 mean k(s, t)`` per sample, averaged over
the batch, times ``beta`` (50, the value the CRD paper ran, which the depth validation split
also chose among 5, 50 and 500: ``tools/tune.py``).

Cross-modal: channels are samples of a distribution, so their counts may differ; the kernel
compares positions, so maps of different (H, W) are pooled to their common size first
(``stage_maps``). Default stage: the deepest, where the paper applies it.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from crossmodal.distill.base import OBJECTIVES, ObjectiveContext, PerTeacherObjective, TeacherReads, summed
from crossmodal.distill.stage_maps import check_stages, matched
from crossmodal.models.features import Features


def _mean_polynomial_kernel(a: Tensor, b: Tensor) -> Tensor:
    """Mean over channel pairs and samples of (a_i . b_j)^2; a, b are B x C x (H*W)."""
    return (a @ b.transpose(1, 2)).pow(2).mean()


def selectivity_mmd(student_map: Tensor, teacher_map: Tensor) -> Tensor:
    student_map, teacher_map = matched(student_map, teacher_map)
    student = F.normalize(student_map.flatten(2), dim=2)
    teacher = F.normalize(teacher_map.detach().flatten(2), dim=2)
    return (
        _mean_polynomial_kernel(student, student)
        + _mean_polynomial_kernel(teacher, teacher)
        - 2 * _mean_polynomial_kernel(student, teacher)
    )


@OBJECTIVES.register("nst")
class NeuronSelectivityTransfer(PerTeacherObjective):
    """Options: ``stages`` (indices into the stage maps), ``beta``."""

    title = "NST"
    paper_weight = 50.0

    def __init__(self, ctx: ObjectiveContext, *, stages: tuple[int, ...] = (3,), beta: float = 50.0) -> None:
        super().__init__(ctx, beta)
        self.stages = check_stages(stages, ctx)

    def teacher_reads(self) -> TeacherReads:
        return TeacherReads(stages=tuple(self.stages))

    def teacher_term(self, teacher: int, student_out: Features, teacher_out: Features) -> Tensor:
        return summed(selectivity_mmd(student_out.maps[s], teacher_out.maps[s]) for s in self.stages)
