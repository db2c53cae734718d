"""Activation boundaries (Heo et al., AAAI 2019): the student learns on which side of zero each teacher neuron lies.

A learned connector (1x1 convolution and BatchNorm, as in the paper) maps a student stage map to
the teacher's channels, giving responses ``r``; with ``rho = 1[t > 0]`` for the teacher's map, the
paper's hinge-style loss per neuron is ``rho * relu(margin - r)^2 + (1 - rho) * relu(margin + r)^2``:
a neuron the teacher activates must respond above ``margin``, one it silences below ``-margin``.
The loss is ``beta * sum_stages mean(...)`` over neurons and the batch, ``margin = 1``. The teacher's
maps should be pre-activation responses (EfficientNet stages end in a linear projection; a
post-ReLU map still separates zero from positive responses).

Cross-modal: the connector bridges the channel counts; its output and the teacher's map are
pooled to their common size (``stage_maps``). Two-stage (``two_stage``): the first phase trains
the student and connectors on the boundary loss, the second on KD with the teacher's logits.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from crossmodal.distill.base import OBJECTIVES, ObjectiveContext, summed
from crossmodal.distill.stage_maps import check_stages, matched, teacher_modules
from crossmodal.distill.two_stage import PretrainThenKD
from crossmodal.errors import OptionError
from crossmodal.models.features import Features


def boundary_loss(responses: Tensor, teacher_map: Tensor, margin: float) -> Tensor:
    """Mean over neurons of the squared hinge that puts each response on the teacher's side of zero."""
    responses, teacher_map = matched(responses, teacher_map.detach())
    active = (teacher_map > 0).float()
    return (active * F.relu(margin - responses).pow(2) + (1 - active) * F.relu(margin + responses).pow(2)).mean()


@OBJECTIVES.register("ab")
class ActivationBoundaries(PretrainThenKD):
    """Options: ``stages``, ``margin``, ``beta``, ``pretrain_fraction``, then KD's ``alpha`` and ``temperature``."""

    title = "AB"

    def __init__(
        self,
        ctx: ObjectiveContext,
        *,
        stages: tuple[int, ...] = (1, 2, 3),
        margin: float = 1.0,
        beta: float = 1.0,
        pretrain_fraction: float = 0.125,
        alpha: float = 1.0,
        temperature: float = 4.0,
    ) -> None:
        super().__init__(ctx, beta, pretrain_fraction, alpha, temperature)
        self.stages = check_stages(stages, ctx)
        if margin <= 0:
            raise OptionError(f"option margin must be positive, got {margin}")
        self.margin = margin
        self.connectors = nn.ModuleList(
            nn.ModuleList(
                nn.Sequential(nn.Conv2d(ctx.student_map_channels[s], channels[s], kernel_size=1, bias=False), nn.BatchNorm2d(channels[s]))
                for s in self.stages
            )
            for channels in ctx.teacher_map_channels
        )

    def pretraining_term(self, teacher: int, student_out: Features, teacher_out: Features) -> Tensor:
        return summed(
            boundary_loss(connector(student_out.maps[s].float()), teacher_out.maps[s].float(), self.margin)
            for s, connector in zip(self.stages, teacher_modules(self.connectors, teacher, nn.Sequential))
        )
