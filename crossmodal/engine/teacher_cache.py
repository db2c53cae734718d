"""Teacher outputs computed once per sample and reused every epoch (``teacher.cache: true``).

The teachers are frozen, so their outputs on a fixed input never change. Caching runs each
teacher once over the un-augmented (centre-crop) view of every sample and then serves rows
by sample index, which removes the teacher forward pass from every training step.

Trade-off: the teacher then describes the un-augmented view while the student sees the
augmented one (random crop, flip), so positives pair slightly different views; and the cache
holds every sample's pooled features, logits and stage maps in host memory (about
N x sum(C_i x H_i x W_i) floats for the maps), computed on every rank under DDP.
"""
from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from crossmodal.models.features import Features


class TeacherOutputCache:
    """Per-teacher Features for every sample of ``dataset`` (row = item "index")."""

    def __init__(
        self,
        teachers: list[nn.Module],
        dataset: Dataset,
        device: torch.device,
        batch_size: int,
        autocast: Callable[[], AbstractContextManager],
        progress: bool = True,
    ) -> None:
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
        parts: list[list[Features]] = [[] for _ in teachers]
        rows: list[Tensor] = []
        for batch in tqdm(loader, desc="caching teacher outputs", disable=not progress, leave=False):
            source = batch["source"].to(device)
            rows.append(torch.as_tensor(batch["index"]))
            with torch.no_grad(), autocast():
                for teacher, part in zip(teachers, parts):
                    part.append(_to_host(teacher(source)))
        order = torch.argsort(torch.cat(rows))
        self.device = device
        self.outputs = [_concatenate(part, order) for part in parts]

    def lookup(self, index: Tensor) -> list[Features]:
        """The cached outputs of rows ``index``, on the training device."""
        rows = torch.as_tensor(index, dtype=torch.long).cpu()
        return [out.apply(lambda tensor: tensor[rows].to(self.device, non_blocking=True)) for out in self.outputs]


def _to_host(features: Features) -> Features:
    return features.apply(lambda tensor: tensor.float().cpu().contiguous())


def _concatenate(parts: list[Features], order: Tensor) -> Features:
    logits = None if parts[0].logits is None else torch.cat([p.logits for p in parts])[order]
    maps = [torch.cat([p.maps[i] for p in parts])[order] for i in range(len(parts[0].maps))]
    return Features(pooled=torch.cat([p.pooled for p in parts])[order], maps=maps, logits=logits)
