"""Similarity-preserving distillation (Tung & Mori, ICCV 2019): inputs similar for the teacher are similar for the student.

Each network's stage map, flattened per sample (B x CHW), gives the batch's B x B similarity
matrix ``G = Q Q^T``, each row L2-normalised. The loss is ``beta * sum_stages ||G_S - G_T||_F^2 / B^2``;
``beta`` defaults to 300, chosen on the depth validation split among 300, 3000 (the paper's) and
30000 (``tools/tune.py``).

Cross-modal: G is B x B whatever the map's channels and size, so nothing is pooled or
projected. Default stage: the deepest, as the paper's CIFAR experiments use the last group.
Under torchrun the relations are within each process's batch, as in the reference code.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from crossmodal.distill.base import OBJECTIVES, ObjectiveContext, PerTeacherObjective, TeacherReads, summed
from crossmodal.distill.stage_maps import check_stages
from crossmodal.models.features import Features


def similarity_matrix(feature_map: Tensor) -> Tensor:
    """The row-normalised B x B Gram matrix of the flattened maps."""
    flat = feature_map.float().flatten(1)
    return F.normalize(flat @ flat.T, dim=1)


def similarity_loss(student_map: Tensor, teacher_map: Tensor) -> Tensor:
    batch = student_map.shape[0]
    return (similarity_matrix(student_map) - similarity_matrix(teacher_map.detach())).pow(2).sum() / batch**2


@OBJECTIVES.register("sp")
class SimilarityPreserving(PerTeacherObjective):
    """Options: ``stages`` (indices into the stage maps), ``beta``."""

    title = "SP"
    paper_weight = 3000.0

    def __init__(self, ctx: ObjectiveContext, *, stages: tuple[int, ...] = (3,), beta: float = 300.0) -> None:
        super().__init__(ctx, beta)
        self.stages = check_stages(stages, ctx)

    def teacher_reads(self) -> TeacherReads:
        return TeacherReads(stages=tuple(self.stages))

    def teacher_term(self, teacher: int, student_out: Features, teacher_out: Features) -> Tensor:
        return summed(similarity_loss(student_out.maps[s], teacher_out.maps[s]) for s in self.stages)
