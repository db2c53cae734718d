"""Relational knowledge distillation (Park et al., CVPR 2019): match distances and angles between the batch's samples.

On the pooled features: the distance term compares every pair's Euclidean distance, each
network's divided by its own mean pair distance, and the angle term compares the cosine of the
angle at every j between (i, j, k) triples; both through the Huber (smooth L1) loss. The loss is
``beta * (distance_weight * L_D + angle_weight * L_A)`` with the paper's weights 25 and 50; ``beta``
defaults to 0.1, chosen on the depth validation split among 0.1, 1 (the CRD paper's) and 10
(``tools/tune.py``).

Cross-modal: distances and angles are taken within one network's feature space, so the
student's and the teacher's feature sizes may differ. Under torchrun the relations are within
each process's batch. The angle term costs O(B^3 D) memory-light operations per step.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from crossmodal.distill.base import OBJECTIVES, ObjectiveContext, PerTeacherObjective, TeacherReads
from crossmodal.errors import OptionError
from crossmodal.models.features import Features


def normalised_distances(features: Tensor) -> Tensor:
    """B x B pairwise distances over their mean off the diagonal (the paper's mu)."""
    distances = torch.cdist(features, features)
    batch = features.shape[0]
    off_diagonal = ~torch.eye(batch, dtype=torch.bool, device=features.device)
    return distances / distances[off_diagonal].mean().clamp_min(1e-12)


def triplet_angles(features: Tensor) -> Tensor:
    """B x B x B cosines <e_ij, e_kj> of the unit vectors from sample j to samples i and k."""
    directions = F.normalize(features.unsqueeze(0) - features.unsqueeze(1), dim=2)  # [j, i] = x_i - x_j
    return directions @ directions.transpose(1, 2)


def relational_losses(student: Tensor, teacher: Tensor) -> tuple[Tensor, Tensor]:
    """(distance term, angle term) between two B x D feature sets."""
    student, teacher = student.float(), teacher.detach().float()
    with torch.no_grad():
        teacher_distances, teacher_angles = normalised_distances(teacher), triplet_angles(teacher)
    distance = F.smooth_l1_loss(normalised_distances(student), teacher_distances)
    angle = F.smooth_l1_loss(triplet_angles(student), teacher_angles)
    return distance, angle


@OBJECTIVES.register("rkd")
class RelationalKD(PerTeacherObjective):
    """Options: ``distance_weight``, ``angle_weight``, ``beta``."""

    title = "RKD"
    paper_weight = 1.0

    def __init__(self, ctx: ObjectiveContext, *, distance_weight: float = 25.0, angle_weight: float = 50.0, beta: float = 0.1) -> None:
        super().__init__(ctx, beta)
        if distance_weight < 0 or angle_weight < 0 or distance_weight + angle_weight == 0:
            raise OptionError(f"weights must be non-negative and not both 0, got {distance_weight}, {angle_weight}")
        self.distance_weight = distance_weight
        self.angle_weight = angle_weight

    def teacher_reads(self) -> TeacherReads:
        return TeacherReads(pooled=True)

    def teacher_term(self, teacher: int, student_out: Features, teacher_out: Features) -> Tensor:
        distance, angle = relational_losses(student_out.pooled, teacher_out.pooled)
        return self.distance_weight * distance + self.angle_weight * angle
