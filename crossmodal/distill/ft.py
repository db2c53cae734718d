"""Factor transfer (Kim et al., NeurIPS 2018): the student's "translator" matches the teacher's factors, learned by a paraphraser.

A paraphraser (three 3x3 convolutions down to ``rate`` x the teacher's channels, and three back,
each but the last followed by BatchNorm and LeakyReLU 0.1, as in the reference code; without the
BatchNorm, SGD at the schedule's learning rate diverged on the teacher's raw maps within 20 steps)
is first trained alone to reconstruct the teacher's stage map (mean
squared error): its bottleneck output is the teacher's factor. Then the paraphraser is fixed and
the student's translator (three 3x3 convolutions from the student's channels to the factor's)
learns, with the student, ``beta * mean |F_S / ||F_S||_2 - F_T / ||F_T||_2|`` (the paper's p = 1
distance between per-sample L2-normalised factors; the mean over entries is the reference code's
normalisation). ``beta`` defaults to 2000, chosen on the depth validation split among 20, 200 (the
CRD paper's) and 2000 (``tools/tune.py``).

Cross-modal: translator and paraphraser bridge the channel counts; the factors are pooled to
their common size (``stage_maps``) before the comparison. Two-stage (``two_stage``): the first
phase trains the paraphraser only (the student is untouched), the second the student.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossmodal.distill.base import OBJECTIVES, ObjectiveContext, TeacherReads, summed, term_keys
from crossmodal.distill.stage_maps import check_stages, matched, teacher_modules
from crossmodal.distill.two_stage import TwoStageObjective, check_fraction
from crossmodal.errors import OptionError
from crossmodal.models.features import Features


def conv_stack(channels: list[int], plain_last: bool = False) -> nn.Sequential:
    """3x3 convolutions, each followed by BatchNorm and LeakyReLU(0.1) (``plain_last``: not the last one)."""
    layers: list[nn.Module] = []
    for k, (inputs, outputs) in enumerate(zip(channels, channels[1:])):
        layers.append(nn.Conv2d(inputs, outputs, kernel_size=3, padding=1))
        if not (plain_last and k == len(channels) - 2):
            layers += [nn.BatchNorm2d(outputs), nn.LeakyReLU(0.1)]
    return nn.Sequential(*layers)


class Paraphraser(nn.Module):
    """An autoencoder of one teacher stage map; the encoder's output is the teacher's factor."""

    def __init__(self, channels: int, factor_channels: int) -> None:
        super().__init__()
        self.encoder = conv_stack([channels, channels, factor_channels, factor_channels])
        self.decoder = conv_stack([factor_channels, factor_channels, channels, channels], plain_last=True)

    def reconstruction_loss(self, teacher_map: Tensor) -> Tensor:
        teacher_map = teacher_map.detach().float()
        return F.mse_loss(self.decoder(self.encoder(teacher_map)), teacher_map)


def factor_distance(student_factor: Tensor, teacher_factor: Tensor) -> Tensor:
    student_factor, teacher_factor = matched(student_factor, teacher_factor)
    return F.l1_loss(F.normalize(student_factor.flatten(1), dim=1), F.normalize(teacher_factor.flatten(1), dim=1))


@OBJECTIVES.register("ft")
class FactorTransfer(TwoStageObjective):
    """Options: ``stages``, ``rate`` (factor channels / teacher channels), ``beta``, ``pretrain_fraction``.

    Loss key ``ft`` (``ft/<i>`` per teacher): the paraphrasers' reconstruction error, unweighted, in
    the first phase; ``beta`` times the factor distance in the second.
    """

    title = "FT"
    paper_weight = 200.0

    def __init__(
        self, ctx: ObjectiveContext, *, stages: tuple[int, ...] = (3,), rate: float = 0.5, beta: float = 2000.0, pretrain_fraction: float = 0.125
    ) -> None:
        super().__init__()
        self.beta = beta
        self.stages = check_stages(stages, ctx)
        if not 0 < rate <= 4:
            raise OptionError(f"option rate must lie in (0, 4], got {rate}")
        self.pretrain_fraction = check_fraction(pretrain_fraction)
        self.paraphrasers = nn.ModuleList(
            nn.ModuleList(Paraphraser(channels[s], max(1, round(rate * channels[s]))) for s in self.stages)
            for channels in ctx.teacher_map_channels
        )
        self.translators = nn.ModuleList(
            nn.ModuleList(
                conv_stack([ctx.student_map_channels[s], ctx.student_map_channels[s], max(1, round(rate * channels[s])),
                            max(1, round(rate * channels[s]))])
                for s in self.stages
            )
            for channels in ctx.teacher_map_channels
        )

    def teacher_reads(self) -> TeacherReads:
        return TeacherReads(stages=tuple(self.stages))

    def forward(self, student_out: Features, teacher_outs: list[Features], batch: dict[str, Any]) -> dict[str, Tensor]:
        keys = term_keys("ft", len(teacher_outs))
        if self.pretraining:
            return {
                key: summed(p.reconstruction_loss(out.maps[s]) for s, p in zip(self.stages, teacher_modules(self.paraphrasers, k, Paraphraser)))
                for k, (key, out) in enumerate(zip(keys, teacher_outs))
            }
        return {key: self.beta * self._transfer_loss(k, student_out, out) for k, (key, out) in enumerate(zip(keys, teacher_outs))}

    def _transfer_loss(self, teacher: int, student_out: Features, teacher_out: Features) -> Tensor:
        terms = []
        paraphrasers = teacher_modules(self.paraphrasers, teacher, Paraphraser)
        for s, paraphraser, translator in zip(self.stages, paraphrasers, teacher_modules(self.translators, teacher, nn.Module)):
            paraphraser.eval()  # fixed after pre-training, BatchNorm statistics included
            with torch.no_grad():
                teacher_factor = paraphraser.encoder(teacher_out.maps[s].detach().float())
            terms.append(factor_distance(translator(student_out.maps[s].float()), teacher_factor))
        return summed(terms)
