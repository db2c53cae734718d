"""Teacher outputs computed once per sample and reused every epoch (``teacher.cache: true``).

The teachers are frozen, so their outputs on a fixed input never change. Caching runs each
teacher once over the un-augmented (centre-crop) view of every sample and then serves rows
by sample index, which removes the teacher forward pass from every training step. Only the
outputs the objective reads are kept (``Objective.teacher_reads``: pooled features, logits, the
listed stage maps), which for CRD or KD is a few hundred floats per sample instead of every map.

Where the outputs live (``teacher.cache_dir``):

- unset: in host memory, computed by every rank under DDP;
- a folder: on disk as memory-mapped ``.npy`` files, one per teacher and output, in a subfolder
  named by a fingerprint of the teachers' weights, the data settings and the precision. Under
  DDP each rank computes every world-th sample into the shared files (on a file system every
  node sees), and later runs with the same teachers and data (any objective, any world size)
  reuse what is there and compute only the outputs that are missing. Files are written under a
  temporary name and renamed when complete, so a killed run leaves no half-written output.

Trade-off: the teacher then describes the un-augmented view while the student sees the
augmented one (random crop, flip), so positives pair slightly different views.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from crossmodal.config import DataConfig
from crossmodal.data.catalog import data_options
from crossmodal.data.kinds import num_items
from crossmodal.distill.base import TeacherReads
from crossmodal.distributed import DistributedContext, barrier
from crossmodal.engine.checkpoint import state_checksum
from crossmodal.models.features import Features

CACHE_FORMAT = 1


def kept_outputs(reads: TeacherReads | None, example: Features) -> list[str]:
    """Names of the outputs to keep: "pooled", "logits", "map<i>" (every one the teacher has when ``reads`` is None)."""
    num_maps = len(example.maps)
    if reads is None:
        reads = TeacherReads(pooled=True, logits=True, stages=tuple(range(num_maps)))
    names = ["pooled"] if reads.pooled else []
    if reads.logits and example.logits is not None:
        names.append("logits")
    names += [f"map{stage % num_maps}" for stage in sorted({stage % num_maps for stage in reads.stages})]
    return names


def output_of(features: Features, name: str) -> Tensor:
    if name == "pooled":
        return features.pooled
    if name == "logits":
        assert features.logits is not None
        return features.logits
    return features.maps[int(name.removeprefix("map"))]


def teacher_view(data: DataConfig) -> dict[str, Any]:
    """What decides the images a teacher sees: the chosen data set and its options (all of them, defaults included;
    not ``strict``, which changes no image) and the input size. Another data set's settings play no part."""
    options = {key: value for key, value in dataclasses.asdict(data_options(data)).items() if key != "strict"}
    return {"name": data.name, "options": options, "input_size": list(data.input_size)}


def cache_fingerprint(teachers: list[nn.Module], specs: list[str], data: dict[str, Any], location: Path, precision: str) -> str:
    """What the cached outputs depend on: the teachers' weights, the data (``teacher_view``) and its files, the precision they ran in."""
    settings = dict(data)
    stat = location.stat() if location.exists() else None
    return state_checksum({
        "format": CACHE_FORMAT, "specs": list(specs), "teachers": [teacher.state_dict() for teacher in teachers],
        "data": repr(sorted(settings.items())), "files": None if stat is None else [stat.st_size, stat.st_mtime_ns],
        "precision": precision,
    })


class TeacherOutputCache:
    """Per-teacher outputs for every sample of ``dataset`` (row = item "index"), served as Features by ``lookup``.

    Outputs the objective does not read come back as empty tensors (B x 0 ...; logits None), so a
    wrong ``teacher_reads`` fails loudly instead of training on something else.
    """

    def __init__(
        self,
        teachers: list[nn.Module],
        dataset: Dataset,
        device: torch.device,
        batch_size: int,
        autocast: Callable[[], AbstractContextManager],
        reads: TeacherReads | None,
        folder: Path | None = None,
        dist: DistributedContext = DistributedContext(),
        progress: bool = True,
    ) -> None:
        self.device = device
        self._teachers, self._dataset, self._batch_size, self._autocast = teachers, dataset, batch_size, autocast
        self._progress = progress and dist.is_main
        example = self._run(dataset[0]["source"][None])
        self.num_maps = [len(out.maps) for out in example]
        self.kept = [kept_outputs(reads, out) for out in example]
        shapes = [{name: tuple(output_of(out, name).shape[1:]) for name in names} for out, names in zip(example, self.kept)]
        num_rows = num_items(dataset)
        if folder is None:
            self.outputs: list[dict[str, Any]] = [{name: torch.empty(num_rows, *shape) for name, shape in per.items()} for per in shapes]
            self.fill(range(num_rows), self.outputs)
        else:
            self.outputs = _disk_outputs(self, Path(folder), shapes, num_rows, dist)

    def lookup(self, index: Tensor) -> list[Features]:
        """The cached outputs of rows ``index``, on the training device."""
        rows = torch.as_tensor(index, dtype=torch.long).cpu()
        served = []
        for outputs, num_maps in zip(self.outputs, self.num_maps):
            batch = {name: _rows(array, rows).to(self.device, non_blocking=True) for name, array in outputs.items()}
            served.append(Features(
                pooled=batch.get("pooled", torch.empty(len(rows), 0, device=self.device)),
                maps=[batch.get(f"map{i}", torch.empty(len(rows), 0, 0, 0, device=self.device)) for i in range(num_maps)],
                logits=batch.get("logits"),
            ))
        return served

    def _run(self, source: Tensor) -> list[Features]:
        with torch.no_grad(), self._autocast():
            return [teacher(source.to(self.device)).apply(lambda tensor: tensor.float().cpu()) for teacher in self._teachers]

    def fill(self, rows: range, outputs: list[dict[str, Any]]) -> None:
        """Run the teachers over the dataset rows ``rows`` and write each output named in ``outputs`` (per teacher) into its array."""
        subset = self._dataset if len(rows) == num_items(self._dataset) else Subset(self._dataset, list(rows))
        loader = DataLoader(subset, batch_size=self._batch_size, shuffle=False)
        for batch in tqdm(loader, desc="caching teacher outputs", disable=not self._progress, leave=False):
            index = torch.as_tensor(batch["index"])
            for out, arrays in zip(self._run(batch["source"]), outputs):
                for name, array in arrays.items():
                    if isinstance(array, Tensor):
                        array[index] = output_of(out, name)
                    else:
                        array[index.numpy()] = output_of(out, name).numpy()


def _rows(array: Any, rows: Tensor) -> Tensor:
    if isinstance(array, Tensor):
        return array[rows]
    return torch.from_numpy(np.ascontiguousarray(array[rows.numpy()]))


def _disk_outputs(cache: TeacherOutputCache, folder: Path, shapes: list[dict[str, tuple[int, ...]]], num_rows: int,
                  dist: DistributedContext) -> list[dict[str, Any]]:
    """Open the outputs in ``folder`` memory-mapped, first computing (sharded over the ranks) the ones not there yet."""
    paths = [{name: folder / f"teacher{t}" / f"{name}.npy" for name in per} for t, per in enumerate(shapes)]
    missing = [(t, name) for t, per in enumerate(paths) for name, path in per.items() if not path.exists()]
    if missing:
        # one temporary name for all ranks (a killed run's is overwritten); renamed when every rank is done
        partial = {(t, name): paths[t][name].with_name(f".{name}.npy.partial") for t, name in missing}
        if dist.is_main:
            for t in range(len(paths)):
                (folder / f"teacher{t}").mkdir(parents=True, exist_ok=True)
            for (t, name), path in partial.items():
                np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(num_rows, *shapes[t][name])).flush()
        barrier(dist)
        writable: list[dict[str, Any]] = [{} for _ in shapes]
        for (t, name), path in partial.items():
            writable[t][name] = np.load(path, mmap_mode="r+")
        cache.fill(range(dist.rank, num_rows, dist.world_size), writable)
        for per in writable:
            for array in per.values():
                array.flush()
        del writable
        barrier(dist)
        if dist.is_main:
            for (t, name), path in partial.items():
                os.replace(path, paths[t][name])
        barrier(dist)
    return [{name: np.load(path, mmap_mode="r") for name, path in per.items()} for per in paths]

