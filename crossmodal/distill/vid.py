"""Variational information distillation (Ahn et al., CVPR 2019): maximise a variational lower bound on I(teacher map; student map).

For each chosen stage, a Gaussian ``q(t | s) = N(t; mu(s), diag(sigma^2))`` models the teacher's map
from the student's: ``mu`` is the paper's three 1x1 convolutions with ReLUs between them (student
channels -> hidden -> hidden -> teacher channels, hidden = the teacher's channels), and ``sigma^2``
is one learned variance per teacher channel, ``softplus(alpha_c) + 1e-5``, starting at 5 as in the
authors' setting. The loss is the negative log-likelihood,
``beta * sum_stages mean(0.5 * (log sigma^2 + (t - mu(s))^2 / sigma^2))`` (the constant
``log(2 pi) / 2`` dropped). ``beta`` defaults to 10, chosen on the depth validation split among
0.1, 1 (the CRD paper's) and 10 (``tools/tune.py``).

Cross-modal: the regressor bridges the channel counts; the student map is regressed first and
both maps are then pooled to their common size (``stage_maps``). Default stages: the last three,
where the paper places its transfer points for deep networks.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossmodal.distill.base import OBJECTIVES, ObjectiveContext, PerTeacherObjective, TeacherReads, summed
from crossmodal.distill.stage_maps import check_stages, matched, teacher_modules
from crossmodal.models.features import Features

INITIAL_VARIANCE = 5.0
MIN_VARIANCE = 1e-5


class GaussianRegressor(nn.Module):
    """Mean and per-channel variance of q(teacher map | student map)."""

    def __init__(self, student_channels: int, teacher_channels: int) -> None:
        super().__init__()
        hidden = teacher_channels
        self.mean = nn.Sequential(
            nn.Conv2d(student_channels, hidden, kernel_size=1),
            nn.ReLU(),
            nn.Conv2d(hidden, hidden, kernel_size=1),
            nn.ReLU(),
            nn.Conv2d(hidden, teacher_channels, kernel_size=1),
        )
        inverse_softplus = math.log(math.expm1(INITIAL_VARIANCE - MIN_VARIANCE))
        self.alpha = nn.Parameter(torch.full((teacher_channels,), inverse_softplus))

    def variance(self) -> Tensor:
        return F.softplus(self.alpha) + MIN_VARIANCE

    def negative_log_likelihood(self, student_map: Tensor, teacher_map: Tensor) -> Tensor:
        mean, target = matched(self.mean(student_map.float()), teacher_map.detach())
        variance = self.variance().view(1, -1, 1, 1)
        return 0.5 * (torch.log(variance) + (target - mean).pow(2) / variance).mean()


@OBJECTIVES.register("vid")
class VariationalInformationDistillation(PerTeacherObjective):
    """Options: ``stages`` (indices into the stage maps), ``beta``."""

    title = "VID"
    paper_weight = 1.0

    def __init__(self, ctx: ObjectiveContext, *, stages: tuple[int, ...] = (1, 2, 3), beta: float = 10.0) -> None:
        super().__init__(ctx, beta)
        self.stages = check_stages(stages, ctx)
        self.regressors = nn.ModuleList(
            nn.ModuleList(GaussianRegressor(ctx.student_map_channels[s], channels[s]) for s in self.stages)
            for channels in ctx.teacher_map_channels
        )

    def teacher_reads(self) -> TeacherReads:
        return TeacherReads(stages=tuple(self.stages))

    def teacher_term(self, teacher: int, student_out: Features, teacher_out: Features) -> Tensor:
        return summed(
            regressor.negative_log_likelihood(student_out.maps[s], teacher_out.maps[s])
            for s, regressor in zip(self.stages, teacher_modules(self.regressors, teacher, GaussianRegressor))
        )
