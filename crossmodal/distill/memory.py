"""CRD's state: memory banks of past embeddings, negative sampling over them, and the normaliser Z.

Everything here is a buffer or a pure function of tensors, so it lives in ``state_dict`` and
runs without host-device synchronisation (no ``.item()``, no data-dependent shapes).
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossmodal.distributed import global_logsumexp


def random_unit_rows(num_rows: int, dim: int, dtype: torch.dtype = torch.float32, chunk: int = 65536) -> Tensor:
    """Rows uniform in [-1, 1]^D, then normalised, from the torch RNG, stored as ``dtype``.

    Drawn ``chunk`` rows at a time (the same values and RNG state as one draw), so a bank of a
    million rows never holds more than a chunk in float32 besides itself.
    """
    rows = torch.empty(num_rows, dim, dtype=dtype)
    for start in range(0, num_rows, chunk):
        part = torch.rand(min(chunk, num_rows - start), dim).mul_(2).sub_(1)
        rows[start:start + part.shape[0]] = F.normalize(part, dim=1)
    return rows


class MemoryBank(nn.Module):
    """One unit-length embedding per training sample (M x D), refreshed by momentum.

    Rows start as random unit vectors (uniform in [-1, 1]^D, then normalised, from the torch RNG),
    as in the CRD reference code. After each training step the rows of the batch become
    ``normalize(momentum * row + (1 - momentum) * embedding)``. Under torchrun its owner passes the
    global batch (every rank's indices and embeddings, gathered), so all ranks hold the same bank.
    ``dtype`` is the storage precision (float16 / bfloat16 halve the bank's memory); scores and
    updates are computed in the anchors' precision (float32) and only stored rounded.

    ``placement`` "host" keeps the rows in host memory when the module moves to an accelerator, for
    banks larger than its memory: each step gathers the distinct rows it reads on the host and copies
    them over once through pinned memory (N x D floats with shared negatives, up to B x N x D
    per-sample), and the update copies the batch's rows back.
    """

    synchronises_itself = True
    placements = ("device", "host")
    rows: Tensor

    def __init__(
        self, num_rows: int, dim: int, momentum: float = 0.5, dtype: torch.dtype = torch.float32, placement: str = "device",
    ) -> None:
        super().__init__()
        self.momentum = momentum
        self.on_host = placement == "host"
        self.register_buffer("rows", random_unit_rows(num_rows, dim, dtype))

    def _apply(self, fn: Any, recurse: bool = True) -> MemoryBank:
        """``.to(device)`` and friends leave a host bank's rows where they are."""
        if not self.on_host:
            return super()._apply(fn, recurse)
        rows = self._buffers.pop("rows")
        try:
            return super()._apply(fn, recurse)
        finally:
            self._buffers["rows"] = rows

    @property
    def num_rows(self) -> int:
        return self.rows.shape[0]

    def score(self, anchor: Tensor, index: Tensor, negatives: Tensor) -> tuple[Tensor, Tensor]:
        """Dot products of each anchor (B x D) with its own row and with its negative rows.

        ``negatives`` is either B x N (each anchor's own draw) or N (one draw for the whole batch).
        Returns positive scores (B) and negative scores (B x N); gradients reach ``anchor`` only.
        """
        if self.on_host:
            return self._score_gathered(anchor, index, negatives)
        positive = (anchor * self.rows.index_select(0, index).to(anchor.dtype)).sum(dim=1)
        if negatives.dim() == 1:
            return positive, anchor @ self.rows.index_select(0, negatives).to(anchor.dtype).T
        # update() rewrites the bank in place before the backward pass runs: score a copy.
        return positive, _per_sample_scores(anchor, self.rows, negatives, copy=True)

    def _score_gathered(self, anchor: Tensor, index: Tensor, negatives: Tensor) -> tuple[Tensor, Tensor]:
        """``score`` for a host bank: the distinct rows the step reads, gathered and copied to the anchors' device once."""
        ids, where = torch.unique(torch.cat([index, negatives.reshape(-1)]), return_inverse=True)
        block = self.rows.index_select(0, ids.cpu())
        if anchor.is_cuda:
            block = block.pin_memory()
        block = block.to(anchor.device, anchor.dtype, non_blocking=True)
        positive = (anchor * block[where[: index.shape[0]]]).sum(dim=1)
        picked = where[index.shape[0]:]
        if negatives.dim() == 1:
            return positive, anchor @ block[picked].T
        return positive, _per_sample_scores(anchor, block, picked.view_as(negatives), copy=False)

    @torch.no_grad()
    def update(self, index: Tensor, embeddings: Tensor) -> None:
        """Blend the batch's new embeddings into their rows and renormalise."""
        index, embeddings = index.to(self.rows.device), embeddings.to(self.rows.device)
        blended = self.rows.index_select(0, index).float() * self.momentum + embeddings.float() * (1 - self.momentum)
        self.rows.index_copy_(0, index, F.normalize(blended, dim=1).to(self.rows.dtype))


def _per_sample_scores(anchor: Tensor, rows: Tensor, negatives: Tensor, copy: bool) -> Tensor:
    """B x N scores of each anchor against its own drawn rows, by the cheaper of two equal sums.

    With fewer rows than draws, scoring every row and picking the drawn columns moves M x D + B x M
    floats; with more (a large bank), gathering the B x N drawn rows moves B x N x D and costs no
    O(M) work. ``copy``: score a copy of ``rows`` when they change before the backward pass.
    """
    if rows.shape[0] <= negatives.numel():
        return (anchor @ rows.to(anchor.dtype, copy=copy).T).gather(1, negatives)
    drawn = rows.index_select(0, negatives.reshape(-1)).view(*negatives.shape, -1).to(anchor.dtype)
    return torch.bmm(drawn, anchor.unsqueeze(2)).squeeze(2)


def draw_per_sample_negatives(index: Tensor, num_rows: int, num_negatives: int) -> Tensor:
    """B x N row ids, uniform with replacement over all rows except each anchor's own."""
    draws = torch.randint(0, num_rows - 1, (index.shape[0], num_negatives), device=index.device)
    return draws + (draws >= index[:, None]).long()


def draw_shared_negatives(index: Tensor, num_rows: int, num_negatives: int) -> Tensor:
    """N row ids for the whole batch, uniform with replacement over rows that are no anchor's positive.

    Draws a rank among the allowed rows and maps it to the row id of that rank: the rank plus the
    number of distinct excluded rows with at most that many allowed rows before them. It costs
    O(N log B), not O(M), so a bank of a million rows samples as fast as a small one, and needs no
    data-dependent shapes (repeated ids in the batch count once).
    """
    excluded, _ = index.sort()
    first = torch.ones_like(excluded, dtype=torch.bool)
    first[1:] = excluded[1:] != excluded[:-1]
    distinct_before = torch.cumsum(first, dim=0) - 1
    # Allowed rows below each distinct excluded row; repeats are pushed past every rank.
    allowed_below = torch.where(first, excluded - distinct_before, num_rows).sort().values
    num_allowed = num_rows - first.sum()
    rank = (torch.rand(num_negatives, device=index.device) * num_allowed).long()
    rank = torch.minimum(rank, num_allowed - 1)
    return rank + torch.searchsorted(allowed_below, rank, right=True)


class LogNormaliser(nn.Module):
    """The critic's normaliser Z, kept as log Z so large exp(score / tau) sums cannot overflow.

    Each step offers an estimate ``log(mean(exp(score / tau)) * M)`` over the batch's positive
    and negative scores. ``first-batch`` keeps the first training estimate forever, as the CRD
    reference code does; ``ema`` keeps a running average of Z (in linear space, computed in log
    space) with weight ``momentum`` on the past, which follows the embeddings as they sharpen and
    is less at the mercy of one unlucky first batch on small data sets (``momentum`` in (0, 1)).
    Only training steps change the stored value. Under torchrun the estimate is over every rank's
    scores (``global_logsumexp``), so all ranks use and store the same Z.
    """

    modes = ("first-batch", "ema")
    synchronises_itself = True

    log_z: Tensor
    initialised: Tensor

    def __init__(self, mode: str = "first-batch", momentum: float = 0.99) -> None:
        super().__init__()
        self.mode = mode
        self.momentum = momentum
        self.register_buffer("log_z", torch.zeros(()))
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))
        # Host-side knowledge that a first-batch Z is stored, to skip the estimate without
        # reading the device flag; loading a state forgets it until the next training step.
        self._fixed = False

    @staticmethod
    def estimate(scaled_scores: list[Tensor], num_rows: int) -> Tensor:
        """log(mean(exp(s)) * num_rows) over every entry s of the given tensors, without gradient."""
        count = sum(scores.numel() for scores in scaled_scores)
        log_sums = torch.stack([torch.logsumexp(scores.detach().reshape(-1), dim=0) for scores in scaled_scores])
        log_sum, count = global_logsumexp(torch.logsumexp(log_sums, dim=0), count)
        return log_sum - math.log(count) + math.log(num_rows)

    def forward(self, scaled_scores: list[Tensor], num_rows: int) -> Tensor:
        """The log Z to use this step, given the batch's scores over tau against ``num_rows`` rows."""
        if self.mode == "first-batch" and self._fixed:
            return self.log_z
        log_estimate = self.estimate(scaled_scores, num_rows)
        if self.mode == "first-batch":
            log_z = torch.where(self.initialised, self.log_z, log_estimate)
        else:
            blended = torch.logaddexp(
                self.log_z + math.log(self.momentum), log_estimate + math.log1p(-self.momentum)
            )
            log_z = torch.where(self.initialised, blended, log_estimate)
        if self.training:
            self.log_z.copy_(log_z)
            self.initialised.fill_(True)
            self._fixed = True
        return log_z

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._fixed = False
