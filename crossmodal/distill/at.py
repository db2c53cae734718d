"""Attention transfer (Zagoruyko & Komodakis, ICLR 2017): match where each network's activations are strong.

A stage map A (B x C x H x W) gives the spatial attention ``q = normalize(mean_c |A_c|^p)`` over
its H x W positions (unit L2 norm per sample). The loss is ``beta * sum_stages mean((q_S - q_T)^2)``,
the authors' own form (their code averages the squared difference over batch and positions) with
``p = 2``. ``beta`` defaults to 100, chosen on the depth validation split among 100, 1000 (the
authors' value) and 10000 (``tools/tune.py``; docs/zoo.md).

Cross-modal: the attention map is channel-free, so student and teacher may differ in width; maps
of different (H, W) are pooled to their common size first (``stage_maps``). Default stages: all
four, as the paper transfers attention at the end of every group.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from crossmodal.distill.base import OBJECTIVES, ObjectiveContext, PerTeacherObjective, TeacherReads, summed
from crossmodal.distill.stage_maps import check_stages, matched
from crossmodal.errors import OptionError
from crossmodal.models.features import Features


def attention_map(feature_map: Tensor, p: float) -> Tensor:
    """B x (H*W): the channel mean of |A|^p, L2-normalised over positions."""
    return F.normalize(feature_map.abs().pow(p).mean(1).flatten(1), dim=1)


def attention_loss(student_map: Tensor, teacher_map: Tensor, p: float) -> Tensor:
    student_map, teacher_map = matched(student_map, teacher_map)
    return (attention_map(student_map, p) - attention_map(teacher_map.detach(), p)).pow(2).mean()


@OBJECTIVES.register("at")
class AttentionTransfer(PerTeacherObjective):
    """Options: ``stages`` (indices into the stage maps), ``p`` (exponent of the activations), ``beta``."""

    title = "AT"
    paper_weight = 1000.0

    def __init__(self, ctx: ObjectiveContext, *, stages: tuple[int, ...] = (0, 1, 2, 3), p: float = 2.0, beta: float = 100.0) -> None:
        super().__init__(ctx, beta)
        if p <= 0:
            raise OptionError(f"option p must be positive, got {p}")
        self.stages = check_stages(stages, ctx)
        self.p = p

    def teacher_reads(self) -> TeacherReads:
        return TeacherReads(stages=tuple(self.stages))

    def teacher_term(self, teacher: int, student_out: Features, teacher_out: Features) -> Tensor:
        return summed(attention_loss(student_out.maps[s], teacher_out.maps[s], self.p) for s in self.stages)
