"""FitNet-style feature regression (Romero et al., 2015; Gupta et al., 2016 supervision transfer).

A learned regressor maps the student's features onto the teacher's, and the loss is their mean
squared error, ``beta * mean((regressor(s) - t)^2)``, per teacher, summed.

``target="pooled"`` (default) regresses the teacher's pooled feature through a linear layer.
Across modalities that is the safer choice: it needs no spatial correspondence between the RGB
and depth networks' stage maps (different strides and receptive fields) and it supervises the
very vector the probes later read. ``target="map"`` is the original hint: a 1x1 convolution maps
student stage ``student_stage`` to teacher stage ``teacher_stage`` (default: the deepest of each),
and the regressed and the teacher map are pooled to their common size (``stage_maps``) before the comparison.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from crossmodal.distill.base import OBJECTIVES, ObjectiveContext, PerTeacherObjective, TeacherReads
from crossmodal.distill.stage_maps import matched
from crossmodal.errors import OptionError
from crossmodal.models.features import Features

TARGETS = ("pooled", "map")


@OBJECTIVES.register("fitnet")
class FitNet(PerTeacherObjective):
    """Feature regression onto each teacher. Options: ``target``, ``student_stage``, ``teacher_stage``, ``beta``.

    Loss key ``fitnet``, or ``fitnet/<i>`` per teacher when there are several.
    """

    title = "FitNet"

    def __init__(
        self,
        ctx: ObjectiveContext,
        *,
        target: str = "pooled",
        student_stage: int = -1,
        teacher_stage: int = -1,
        beta: float = 1.0,
    ) -> None:
        super().__init__(ctx, beta)
        if target not in TARGETS:
            raise OptionError(f"option target={target!r} is not one of: {', '.join(TARGETS)}")
        self.target = target
        self.student_stage = student_stage
        self.teacher_stage = teacher_stage
        if target == "pooled":
            self.regressors = nn.ModuleList(nn.Linear(ctx.student_dim, dim) for dim in ctx.teacher_dims)
        else:
            student_channels = _stage_channels(ctx.student_map_channels, student_stage, "student_stage")
            self.regressors = nn.ModuleList(
                nn.Conv2d(student_channels, _stage_channels(channels, teacher_stage, "teacher_stage"), kernel_size=1)
                for channels in ctx.teacher_map_channels
            )

    def teacher_reads(self) -> TeacherReads:
        return TeacherReads(pooled=True) if self.target == "pooled" else TeacherReads(stages=(self.teacher_stage,))

    def teacher_term(self, teacher: int, student_out: Features, teacher_out: Features) -> Tensor:
        regressor = self.regressors[teacher]
        if self.target == "pooled":
            return F.mse_loss(regressor(student_out.pooled), teacher_out.pooled.detach())
        prediction, target = matched(regressor(student_out.maps[self.student_stage]), teacher_out.maps[self.teacher_stage].detach())
        return F.mse_loss(prediction, target)


def _stage_channels(channels: list[int], stage: int, option: str) -> int:
    if not -len(channels) <= stage < len(channels):
        raise OptionError(
            f"option {option}={stage} is out of range for a network with {len(channels)} stage maps"
        )
    return channels[stage]
