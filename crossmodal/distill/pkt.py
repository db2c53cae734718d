"""Probabilistic knowledge transfer (Passalis & Tefas, ECCV 2018): match the networks' conditional neighbour distributions.

The pooled features, L2-normalised, give the cosine kernel ``K_ij = (cos(x_i, x_j) + 1) / 2`` of
the batch; each row divided by its sum is the probability ``p_{j|i}`` that sample i picks sample j
as a neighbour. The loss is ``beta * mean_ij p_T log(p_T / p_S)``, the divergence as the authors'
code computes it (diagonal included, an epsilon of 1e-7 inside the logarithm, mean over the B x B
entries), with the CRD paper's ``beta = 30000``, which the depth validation split also chose
among 3000, 30000 and 300000 (``tools/tune.py``).

Cross-modal: the kernel is B x B within each network, so the feature sizes may differ. Under
torchrun the neighbours are within each process's batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from crossmodal.distill.base import OBJECTIVES, ObjectiveContext, PerTeacherObjective, TeacherReads
from crossmodal.models.features import Features

EPSILON = 1e-7


def neighbour_probabilities(features: Tensor) -> Tensor:
    """B x B row-stochastic p_{j|i} from the cosine kernel mapped to [0, 1]."""
    unit = F.normalize(features.float(), dim=1)
    kernel = (unit @ unit.T + 1) / 2
    return kernel / kernel.sum(dim=1, keepdim=True)


def probabilistic_transfer_loss(student: Tensor, teacher: Tensor) -> Tensor:
    student_p = neighbour_probabilities(student)
    teacher_p = neighbour_probabilities(teacher.detach())
    return (teacher_p * torch.log((teacher_p + EPSILON) / (student_p + EPSILON))).mean()


@OBJECTIVES.register("pkt")
class ProbabilisticTransfer(PerTeacherObjective):
    """Options: ``beta``."""

    title = "PKT"
    paper_weight = 30000.0

    def __init__(self, ctx: ObjectiveContext, *, beta: float = 30000.0) -> None:
        super().__init__(ctx, beta)

    def teacher_reads(self) -> TeacherReads:
        return TeacherReads(pooled=True)

    def teacher_term(self, teacher: int, student_out: Features, teacher_out: Features) -> Tensor:
        return probabilistic_transfer_loss(student_out.pooled, teacher_out.pooled)
