"""Flow of solution procedure (Yim et al., CVPR 2017): the student learns how the teacher's features flow from stage to stage.

The FSP matrix of two stage maps of one network, brought to the smaller one's (H, W) by adaptive
average pooling, is ``G = sum_{h,w} F1[:, h, w] F2[:, h, w]^T / (H W)`` (C1 x C2 per sample), for each
pair of consecutive ``stages``. Its loss is ``beta * mean_pairs mean((G_S - G_T)^2)`` (the mean over
the matrix entries and the batch, the reference code's normalisation, for which the CRD paper ran
``beta = 50``). On the embedded depth rooms that weight diverges within five steps at the
schedule's learning rate (the EfficientNet teacher's stage maps are far larger than a CIFAR
ResNet's), and so does 5. ``beta`` defaults to 0.005, the best of 0.005, 0.05 and 0.5 on the
depth validation split (``tools/tune.py --target depth --methods fsp --factors 0.0001,0.001,0.01``):
at that weight the FSP loss barely falls during pre-training, so FSP is close to KD after a
short head start; the weights at which the student does learn the teacher's flow scored lower.

Cross-modal: the pairs are within each network, so the two networks' map sizes never meet; the
matrices must have the same shape, so each student stage goes through a learned 1x1 connector
to the teacher's channels first (the paper's networks shared their widths). Two-stage
(``two_stage``): the first phase trains the student and connectors on the FSP loss, the second
on KD with the teacher's logits.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from crossmodal.distill.base import OBJECTIVES, ObjectiveContext, summed
from crossmodal.distill.stage_maps import check_stages, common_size, pool_to, teacher_modules
from crossmodal.distill.two_stage import PretrainThenKD
from crossmodal.errors import OptionError
from crossmodal.models.features import Features


def fsp_matrix(first: Tensor, second: Tensor) -> Tensor:
    """B x C1 x C2: the positions' mean outer product of two maps, pooled to their common size."""
    size = common_size(first, second)
    first, second = pool_to(first.float(), size).flatten(2), pool_to(second.float(), size).flatten(2)
    return first @ second.transpose(1, 2) / first.shape[-1]


@OBJECTIVES.register("fsp")
class FlowOfSolutionProcedure(PretrainThenKD):
    """Options: ``stages`` (consecutive ones are paired), ``beta``, ``pretrain_fraction``, then KD's ``alpha`` and ``temperature``."""

    title = "FSP"
    paper_weight = 50.0

    def __init__(
        self,
        ctx: ObjectiveContext,
        *,
        stages: tuple[int, ...] = (0, 1, 2, 3),
        beta: float = 0.005,
        pretrain_fraction: float = 0.125,
        alpha: float = 1.0,
        temperature: float = 4.0,
    ) -> None:
        super().__init__(ctx, beta, pretrain_fraction, alpha, temperature)
        self.stages = check_stages(stages, ctx)
        if len(self.stages) < 2:
            raise OptionError(f"pairs consecutive stages, so option stages needs at least two, got {list(stages)}")
        self.connectors = nn.ModuleList(
            nn.ModuleList(nn.Conv2d(ctx.student_map_channels[s], channels[s], kernel_size=1) for s in self.stages)
            for channels in ctx.teacher_map_channels
        )

    def pretraining_term(self, teacher: int, student_out: Features, teacher_out: Features) -> Tensor:
        student_maps = [connector(student_out.maps[s].float()) for s, connector in zip(self.stages, teacher_modules(self.connectors, teacher, nn.Conv2d))]
        with torch.no_grad():
            teacher_maps = [teacher_out.maps[s].detach().float() for s in self.stages]
            teacher_flows = [fsp_matrix(a, b) for a, b in zip(teacher_maps, teacher_maps[1:])]
        student_flows = [fsp_matrix(a, b) for a, b in zip(student_maps, student_maps[1:])]
        return summed((s - t).pow(2).mean() for s, t in zip(student_flows, teacher_flows)) / len(student_flows)
