"""Contrastive Representation Distillation (Tian, Krishnan & Isola, ICLR 2020).

The student learns to tell, from a memory bank of teacher embeddings, which one belongs to
its own input (the positive) and which N belong to other samples (the negatives); the
symmetric term does the same for teacher embeddings against a bank of student embeddings.
The critic is ``h(v, u) = P / (P + N/M)`` with ``P = exp(v.u / tau) / Z``, and the loss per
anchor is ``-log h(positive) - sum_k log(1 - h(negative_k))``. Writing
``a = v.u / tau - log Z - log(N/M)``, ``-log h = softplus(-a)`` and ``-log(1 - h) = softplus(a)``,
so the loss is computed in log space with no epsilon.

``critic="infonce"`` scores the same positive and negatives with a softmax instead (InfoNCE, as in
CMC and MoCo): ``-log(exp(a_pos) / (exp(a_pos) + sum_k exp(a_k)))`` with ``a = v.u / tau``. It needs
no normaliser Z (the softmax normalises), so ``z_mode`` and ``z_momentum`` do not enter its loss.

Negative sampling (``sampling``):

- ``shared`` (default): one draw of N rows per batch, excluding every anchor's positive row,
  scored with a single (B x D) @ (D x N) matmul. It is the cheaper mode in
  ``tools/bench_crd.py`` at B = 64, M = 20000, N = 4096 and 16384 (the cost grows with N only
  through one N x D gather and the B x N scores). Each anchor's negatives are still uniform over
  other rows (minus the batch's B - 1 other positives, negligible when B << M); sharing them
  only correlates the anchors' terms within a step.
- ``per-sample``: each anchor draws its own N rows (any row but its own), as in the paper. It
  scores each anchor against the whole bank (B x M) and picks its N columns, which is cheaper
  than gathering B x N x D rows whenever M < N x D.

``num_negatives`` is capped at M - 1: drawing more negatives than there are other rows only
repeats rows and would push the noise prior N/M above one.

Where negatives come from (``negatives``):

- ``bank`` (default): the memory banks above, one row per training sample (M x D floats each,
  ``bank_dtype`` float32, or float16 / bfloat16 to halve them), on the training device or, with
  ``bank_placement: host``, in host memory for banks larger than the accelerator's (each step then
  copies the rows it reads: see MemoryBank).
- ``queue``: for data too large for a bank, or a stream: FIFO queues of the last ``queue_size``
  keys from momentum copies of the embedding heads (``key_momentum``; ``crossmodal.distill.queue``).
  Every queued key is a negative (N = K), the positive is the current key of the anchor's pair,
  and the NCE critic's M is K. The default ``key_momentum`` is 0.99 rather than MoCo's 0.999:
  the benchmark's runs take a few hundred steps, over which 0.999 would leave the keys near
  their random start. ``queue_size`` is capped at M - 1 like ``num_negatives``; a queue longer
  than an epoch would hold older keys of the anchor itself. ``key_encoder: student`` computes the
  student-side keys with a momentum copy of the whole student too (MoCo's key encoder: one more
  student forward per step, in float32), instead of the student's current features through the key head.

With several teachers each gets its own term (own student and teacher embedding heads, memory
banks and normalisers); the terms are summed. Teacher features are detached: only the
teacher-side embedding head ``W_T`` learns on that side.
"""
from __future__ import annotations

import math
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossmodal.distill.base import OBJECTIVES, Objective, ObjectiveContext, TeacherReads, term_keys
from crossmodal.distill.memory import LogNormaliser, MemoryBank, draw_per_sample_negatives, draw_shared_negatives
from crossmodal.distill.queue import NegativeQueue, momentum_copy, momentum_update
from crossmodal.distill.stage_maps import check_stages
from crossmodal.distributed import gather_rows
from crossmodal.errors import InputError, OptionError
from crossmodal.models.features import Features

SAMPLING_MODES = ("shared", "per-sample")
CRITICS = ("nce", "infonce")
NEGATIVE_SOURCES = ("bank", "queue")
KEY_ENCODERS = ("head", "student")
BANK_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def infonce_loss(positive_logits: Tensor, negative_logits: Tensor) -> Tensor:
    """Mean over anchors of -log softmax over (positive, N negatives) at the positive: no Z, no noise prior."""
    logits = torch.cat([positive_logits.unsqueeze(1), negative_logits], dim=1)
    return (torch.logsumexp(logits, dim=1) - positive_logits).mean()


def critic_loss(positive_logits: Tensor, negative_logits: Tensor, log_z: Tensor, num_rows: int) -> Tensor:
    """Mean over anchors of -log h(positive) - sum_k log(1 - h(negative_k)), in log space.

    The logits are scores over tau: ``positive_logits`` (B) and ``negative_logits`` (B x N).
    """
    offset = log_z + math.log(negative_logits.shape[1] / num_rows)
    positive_term = F.softplus(offset - positive_logits).sum()
    negative_term = F.softplus(negative_logits - offset).sum()
    return (positive_term + negative_term) / positive_logits.shape[0]


EMBED_INPUTS = ("centred", "raw")


class Embed(nn.Module):
    """Linear projection to the contrastive space, then L2 normalisation.

    ``centred`` puts a parameter-free BatchNorm before the projection. Pooled post-ReLU
    features are dominated by their mean; on the embedded rooms (M ~ 660) the paper's plain
    linear head ("raw") let both embeddings collapse onto one direction within an epoch
    (pairwise cosine 0.997, positive score = negative score), while centred inputs kept
    learning (positive score 0.01 -> 0.20, negative ~ 0).
    """

    def __init__(self, in_dim: int, out_dim: int, inputs: str = "centred") -> None:
        super().__init__()
        self.centre = nn.BatchNorm1d(in_dim, affine=False) if inputs == "centred" else nn.Identity()
        self.linear = nn.Linear(in_dim, out_dim)

    def forward(self, features: Tensor) -> Tensor:
        return F.normalize(self.linear(self.centre(features.float())), dim=1)


class ContrastTerm(nn.Module):
    """What both negative sources share for one teacher: the embedding heads, both Zs, the critic and its diagnostics.

    The direction with student anchors scores them against teacher-side negatives (normaliser
    ``student_anchor_z``); the direction with teacher anchors against student-side ones.
    """

    def __init__(
        self, student_dim: int, teacher_dim: int, feat_dim: int, tau: float, z_mode: str, z_momentum: float,
        embed_inputs: str, critic: str,
    ) -> None:
        super().__init__()
        self.tau = tau
        self.critic = critic
        self.embed_student = Embed(student_dim, feat_dim, embed_inputs)
        self.embed_teacher = Embed(teacher_dim, feat_dim, embed_inputs)
        self.student_anchor_z = LogNormaliser(z_mode, z_momentum)
        self.teacher_anchor_z = LogNormaliser(z_mode, z_momentum)
        self.last_scores: dict[str, tuple[Tensor, Tensor, Tensor | None]] = {}

    def diagnostics(self) -> dict[str, float]:
        """Mean positive and negative scores (v.u) over both directions, and log Z of each direction."""
        if not self.last_scores:
            return {}
        directions = len(self.last_scores)
        values = {
            "pos_score": sum(positive.mean() for positive, _, _ in self.last_scores.values()) * self.tau / directions,
            "neg_score": sum(negative.mean() for _, negative, _ in self.last_scores.values()) * self.tau / directions,
        }
        for direction, (_, _, log_z) in self.last_scores.items():
            if log_z is not None:
                values[f"log_z_{direction}"] = log_z
        return {name: float(value) for name, value in values.items()}

    def _direction(self, name: str, positive: Tensor, negative: Tensor, normaliser: LogNormaliser, num_rows: int) -> Tensor:
        """The critic's loss for one direction's scores over tau (positive B, negative B x N) against ``num_rows`` rows."""
        if self.critic == "infonce":
            self.last_scores[name] = (positive.detach(), negative.detach(), None)
            return infonce_loss(positive, negative)
        log_z = normaliser([positive, negative], num_rows)
        # Kept (detached) for diagnostics(), which reduces them only when asked.
        self.last_scores[name] = (positive.detach(), negative.detach(), log_z.detach())
        return critic_loss(positive, negative, log_z, num_rows)


class BankContrastTerm(ContrastTerm):
    """Negatives from memory banks of past embeddings, one row per training sample (the paper's CRD).

    ``student_memory`` holds student embeddings, which teacher anchors are scored against;
    ``teacher_memory`` likewise for student anchors. A sample's positive is its own row.
    """

    def __init__(
        self, student_dim: int, teacher_dim: int, num_samples: int, feat_dim: int, tau: float, momentum: float,
        z_mode: str, z_momentum: float, embed_inputs: str, critic: str, bank_dtype: torch.dtype, placement: str,
    ) -> None:
        super().__init__(student_dim, teacher_dim, feat_dim, tau, z_mode, z_momentum, embed_inputs, critic)
        self.student_memory = MemoryBank(num_samples, feat_dim, momentum, bank_dtype, placement)
        self.teacher_memory = MemoryBank(num_samples, feat_dim, momentum, bank_dtype, placement)

    def forward(self, student_pooled: Tensor, teacher_pooled: Tensor, index: Tensor, negatives: Tensor) -> Tensor:
        """Summed loss of both directions; in training mode also refreshes both banks."""
        with torch.autocast(device_type=student_pooled.device.type, enabled=False):
            student = self.embed_student(student_pooled)
            teacher = self.embed_teacher(teacher_pooled.detach())
            # Dividing the B x D anchors by tau is cheaper than dividing the B x N scores.
            student_loss = self._direction(
                "student_anchor", *self.teacher_memory.score(student / self.tau, index, negatives),
                self.student_anchor_z, self.teacher_memory.num_rows,
            )
            teacher_loss = self._direction(
                "teacher_anchor", *self.student_memory.score(teacher / self.tau, index, negatives),
                self.teacher_anchor_z, self.student_memory.num_rows,
            )
        if self.training:
            # under torchrun: the global batch, in one gather of both embeddings (plus one of the indices)
            index, both = gather_rows(index), gather_rows(torch.cat([student.detach(), teacher.detach()], dim=1))
            self.student_memory.update(index, both[:, : student.shape[1]])
            self.teacher_memory.update(index, both[:, student.shape[1]:])
        return student_loss + teacher_loss


class QueueContrastTerm(ContrastTerm):
    """Negatives from FIFO queues of momentum keys (``crossmodal.distill.queue``), no per-sample state.

    A student anchor's positive is the teacher key of its own pair, from the momentum copy of the
    teacher-side head, and its negatives are the K teacher keys in ``teacher_queue``; teacher anchors
    likewise against student keys. Before each training step the key heads move towards the heads
    (``key_momentum``); after it, the batch's keys replace the oldest ones in the queues.
    """

    def __init__(
        self, student_dim: int, teacher_dim: int, queue_size: int, feat_dim: int, tau: float, key_momentum: float,
        z_mode: str, z_momentum: float, embed_inputs: str, critic: str, bank_dtype: torch.dtype,
    ) -> None:
        super().__init__(student_dim, teacher_dim, feat_dim, tau, z_mode, z_momentum, embed_inputs, critic)
        self.key_momentum = key_momentum
        self.key_student = momentum_copy(self.embed_student)
        self.key_teacher = momentum_copy(self.embed_teacher)
        self.student_queue = NegativeQueue(queue_size, feat_dim, bank_dtype)
        self.teacher_queue = NegativeQueue(queue_size, feat_dim, bank_dtype)

    def forward(
        self, student_pooled: Tensor, teacher_pooled: Tensor, index: Tensor, negatives: Tensor, student_key_input: Tensor | None = None,
    ) -> Tensor:
        """Summed loss of both directions; in training mode also moves the key heads and enqueues the batch's keys.

        ``student_key_input``: the features the student-side keys embed (a momentum student's); default the student's own.
        """
        if self.training:
            momentum_update(self.key_student, self.embed_student, self.key_momentum)
            momentum_update(self.key_teacher, self.embed_teacher, self.key_momentum)
        with torch.autocast(device_type=student_pooled.device.type, enabled=False):
            student = self.embed_student(student_pooled)
            teacher = self.embed_teacher(teacher_pooled.detach())
            with torch.no_grad():
                student_key = self.key_student((student_pooled if student_key_input is None else student_key_input).detach())
                teacher_key = self.key_teacher(teacher_pooled.detach())
            student_loss = self._direction(
                "student_anchor", *self.teacher_queue.score(student / self.tau, teacher_key),
                self.student_anchor_z, self.teacher_queue.num_rows,
            )
            teacher_loss = self._direction(
                "teacher_anchor", *self.student_queue.score(teacher / self.tau, student_key),
                self.teacher_anchor_z, self.student_queue.num_rows,
            )
        if self.training:
            # under torchrun: every rank's keys, in rank order, in one gather
            keys = gather_rows(torch.cat([student_key, teacher_key], dim=1))
            self.student_queue.enqueue(keys[:, : student_key.shape[1]])
            self.teacher_queue.enqueue(keys[:, student_key.shape[1]:])
        return student_loss + teacher_loss


@OBJECTIVES.register("crd")
class CRD(Objective):
    """CRD objective: ``beta`` times the sum over teachers of the two-way contrastive term.

    Options: ``feat_dim`` (embedding size), ``num_negatives`` (N), ``tau`` (critic temperature),
    ``momentum`` (memory-bank momentum), ``z_mode`` ("first-batch" | "ema") and ``z_momentum``
    (EMA weight on the past Z), ``sampling`` ("shared" | "per-sample"), ``embed_inputs``
    ("centred" | "raw": see Embed), ``critic`` ("nce" | "infonce"), ``stages`` (empty: the pooled
    features; else a term per listed stage map, averaged over positions, each with its own heads,
    banks and Z, summed), ``negatives`` ("bank" | "queue"), ``queue_size`` and ``key_momentum``
    (queue only), ``key_encoder`` ("head" | "student": keys from momentum copies of the heads alone, or
    of the student too; queue only), ``bank_dtype`` ("float32" | "float16" | "bfloat16": storage of banks and queues),
    ``bank_placement`` ("device" | "host": where the banks live; bank only),
    ``beta`` (loss weight; 0.8 as in the paper's runs). Loss key ``crd``, or ``crd/<i>`` per teacher when there are several.
    """

    title = "CRD"

    def __init__(
        self,
        ctx: ObjectiveContext,
        *,
        feat_dim: int = 128,
        num_negatives: int = 16384,
        tau: float = 0.07,
        momentum: float = 0.5,
        z_mode: str = "first-batch",
        z_momentum: float = 0.99,
        sampling: str = "shared",
        embed_inputs: str = "centred",
        critic: str = "nce",
        stages: tuple[int, ...] = (),
        negatives: str = "bank",
        queue_size: int = 16384,
        key_momentum: float = 0.99,
        key_encoder: str = "head",
        bank_dtype: str = "float32",
        bank_placement: str = "device",
        beta: float = 0.8,
    ) -> None:
        super().__init__()
        if ctx.num_samples < 2:
            raise OptionError(f"needs at least 2 training samples for its memory bank, got {ctx.num_samples}")
        for option, value, choices in (
            ("z_mode", z_mode, LogNormaliser.modes), ("sampling", sampling, SAMPLING_MODES), ("embed_inputs", embed_inputs, EMBED_INPUTS),
            ("critic", critic, CRITICS), ("negatives", negatives, NEGATIVE_SOURCES), ("bank_dtype", bank_dtype, tuple(BANK_DTYPES)),
            ("bank_placement", bank_placement, MemoryBank.placements), ("key_encoder", key_encoder, KEY_ENCODERS),
        ):
            if value not in choices:
                raise OptionError(f"option {option}={value!r} is not one of: {', '.join(choices)}")
        if negatives == "queue" and bank_placement == "host":
            raise OptionError("option bank_placement=host applies to negatives=bank; a queue's rows stay on the training device")
        if key_encoder == "student" and negatives != "queue":
            raise OptionError("option key_encoder=student applies to negatives=queue; a bank stores past embeddings instead")
        if num_negatives < 1 or feat_dim < 1 or tau <= 0 or queue_size < 1:
            raise OptionError("options num_negatives, queue_size, feat_dim and tau must be positive")
        for option, fraction, low_included in (("momentum", momentum, True), ("z_momentum", z_momentum, False), ("key_momentum", key_momentum, True)):
            if not (0 <= fraction < 1 if low_included else 0 < fraction < 1):
                raise OptionError(f"option {option} must lie in {'[' if low_included else '('}0, 1), got {fraction}")
        self.num_samples = ctx.num_samples
        self.num_negatives = min(num_negatives, ctx.num_samples - 1)
        self.sampling = sampling
        self.negatives = negatives
        self.key_momentum = key_momentum
        self.key_network: nn.Module | None = None
        if key_encoder == "student":
            if ctx.student is None:
                raise ValueError("CRD with key_encoder=student needs the student in its ObjectiveContext")
            self.key_network = momentum_copy(ctx.student)
            self._student = [ctx.student]  # a reference, not a submodule: its weights are the trainer's
        self.beta = beta
        self.stages = check_stages(stages, ctx) if stages else []
        self.num_teachers = len(ctx.teacher_dims)
        # one term per (teacher, input): teacher-major, so the default (pooled only) keeps one term per teacher
        dims = [
            [(ctx.student_dim, teacher_dim)] if not self.stages
            else [(ctx.student_map_channels[s], ctx.teacher_map_channels[t][s]) for s in self.stages]
            for t, teacher_dim in enumerate(ctx.teacher_dims)
        ]
        dtype = BANK_DTYPES[bank_dtype]
        if negatives == "queue":
            size = min(queue_size, ctx.num_samples - 1)
            self.terms = nn.ModuleList(
                QueueContrastTerm(student_dim, teacher_dim, size, feat_dim, tau, key_momentum, z_mode, z_momentum, embed_inputs, critic, dtype)
                for per_teacher in dims for student_dim, teacher_dim in per_teacher
            )
        else:
            self.terms = nn.ModuleList(
                BankContrastTerm(student_dim, teacher_dim, ctx.num_samples, feat_dim, tau, momentum, z_mode, z_momentum, embed_inputs, critic, dtype,
                                 bank_placement)
                for per_teacher in dims for student_dim, teacher_dim in per_teacher
            )

    def draw_negatives(self, index: Tensor) -> Tensor:
        """Negative row ids for this batch: N shared ones, or B x N per anchor."""
        if self.sampling == "shared":
            if index.shape[0] >= self.num_samples:
                raise InputError(
                    f"objective {self.name!r} with sampling 'shared' needs more training samples ({self.num_samples}) "
                    f"than the batch size ({index.shape[0]}); use sampling 'per-sample' or a smaller batch"
                )
            return draw_shared_negatives(index, self.num_samples, self.num_negatives)
        return draw_per_sample_negatives(index, self.num_samples, self.num_negatives)

    @property
    def contrast_terms(self) -> list[ContrastTerm]:
        """The terms, teacher-major (``terms`` as a typed list: an nn.ModuleList yields plain Modules)."""
        return cast(list[ContrastTerm], list(self.terms))

    def teacher_reads(self) -> TeacherReads:
        return TeacherReads(stages=tuple(self.stages)) if self.stages else TeacherReads(pooled=True)

    def forward(self, student_out: Features, teacher_outs: list[Features], batch: dict[str, Any]) -> dict[str, Tensor]:
        if len(teacher_outs) != self.num_teachers:
            raise ValueError(f"CRD was built for {self.num_teachers} teachers but got {len(teacher_outs)} outputs")
        device = self.contrast_terms[0].student_anchor_z.log_z.device
        if self.negatives == "queue":
            index = negatives = torch.empty(0, dtype=torch.long, device=device)  # a queue needs neither
        else:
            index = torch.as_tensor(batch["index"], dtype=torch.long).to(device, non_blocking=True)
            negatives = self.draw_negatives(index)
        key_out = self._key_features(batch)
        per_input = len(self.terms) // self.num_teachers
        losses = []
        for t, out in enumerate(teacher_outs):
            terms = self.terms[t * per_input:(t + 1) * per_input]
            inputs = self._inputs(student_out, out)
            # a momentum student's features for the student-side keys, where there is one; else the terms use the student's own
            keys = [(student,) for student, _ in self._inputs(key_out, out)] if key_out is not None else [()] * len(inputs)
            losses.append(sum(term(student, teacher, index, negatives, *key) for term, (student, teacher), key in zip(terms, inputs, keys)))
        return {key: self.beta * loss for key, loss in zip(term_keys("crd", self.num_teachers), losses)}

    def _key_features(self, batch: dict[str, Any]) -> Features | None:
        """The momentum student's features of the batch (``key_encoder: student``; moved one momentum step first when training)."""
        if self.key_network is None:
            return None
        if self.training:
            momentum_update(self.key_network, self._student[0], self.key_momentum)
        with torch.no_grad():
            return self.key_network(batch["target"]).apply(Tensor.float)

    def _inputs(self, student_out: Features, teacher_out: Features) -> list[tuple[Tensor, Tensor]]:
        """(student, teacher) features each term embeds: the pooled ones, or each listed stage's map averaged over positions."""
        if not self.stages:
            return [(student_out.pooled, teacher_out.pooled)]
        return [(student_out.maps[s].float().mean(dim=(2, 3)), teacher_out.maps[s].float().mean(dim=(2, 3))) for s in self.stages]

    def diagnostics(self) -> dict[str, float]:
        """Mean positive / negative scores (v.u) and log Z per direction, from the last step (per stage when ``stages`` is set)."""
        inputs = [f"/stage{s}" for s in self.stages] or [""]
        names = [f"{key}{stage}" for key in term_keys("crd", self.num_teachers) for stage in inputs]
        return {f"{name}/{diag}": value for name, term in zip(names, self.contrast_terms) for diag, value in term.diagnostics().items()}
