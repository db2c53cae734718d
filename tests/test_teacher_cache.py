"""The teacher-output cache: only what the objective reads, in memory or memory-mapped on disk, sharded under DDP, reused by later runs."""
from __future__ import annotations

import contextlib
import os
from dataclasses import replace

import pytest
import torch
from torch import nn

from crossmodal.config import DataConfig
from crossmodal.distill import OBJECTIVES, build_objective
from crossmodal.engine.teacher_cache import TeacherOutputCache, cache_fingerprint, teacher_view
from crossmodal.models.features import Features
from tests.process_groups import run_ranks
from tests.test_zoo import DISTILLING, PRETRAINING, TEACHER_CHANNELS, TEACHER_SIZES, context, student_features

POOLED, CLASSES = 9, 4
MAP_SIZES = [c * h * w for c, (h, w) in zip(TEACHER_CHANNELS, TEACHER_SIZES)]
SOURCE_SIZE = POOLED + CLASSES + sum(MAP_SIZES)
NUM_SAMPLES = 10


class SlicingTeacher(nn.Module):
    """A deterministic 'teacher' whose outputs are slices of its input vector; counts its forward passes."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(2.0))
        self.calls = 0

    def forward(self, source: torch.Tensor) -> Features:
        self.calls += 1
        values = source * self.scale
        pooled, logits, rest = values[:, :POOLED], values[:, POOLED:POOLED + CLASSES], values[:, POOLED + CLASSES:]
        maps, offset = [], 0
        for channels, (h, w), size in zip(TEACHER_CHANNELS, TEACHER_SIZES, MAP_SIZES):
            maps.append(rest[:, offset:offset + size].reshape(-1, channels, h, w))
            offset += size
        return Features(pooled=pooled, maps=maps, logits=logits)


def samples() -> list[dict]:
    generator = torch.Generator().manual_seed(3)
    return [{"source": torch.randn(SOURCE_SIZE, generator=generator), "index": i} for i in range(NUM_SAMPLES)]


def build_cache(reads, folder=None, teacher=None, **kwargs) -> TeacherOutputCache:
    return TeacherOutputCache([teacher or SlicingTeacher()], samples(), torch.device("cpu"), 4, contextlib.nullcontext,
                              reads, folder, progress=False, **kwargs)


ROWS = torch.tensor([7, 0, 3, 9, 5])


@pytest.mark.parametrize("progress", [PRETRAINING, DISTILLING], ids=["pretraining", "distilling"])
@pytest.mark.parametrize("name", sorted(OBJECTIVES.names()))
def test_each_objective_gives_the_same_loss_from_the_outputs_it_declares_as_from_all_of_them(name, progress):
    assert build_objective(name, context(), {}).teacher_reads() is not None, "every registered objective declares what it reads"
    losses = []
    for served in ("all", "declared"):
        torch.manual_seed(0)
        objective = build_objective(name, context(), {})
        objective.set_progress(progress)
        teacher_outs = build_cache(None if served == "all" else objective.teacher_reads()).lookup(ROWS)
        torch.manual_seed(1)  # the same negatives for CRD
        losses.append(objective(student_features(), teacher_outs, {"index": ROWS}))
    expected, got = losses
    assert got.keys() == expected.keys()
    assert all(torch.equal(got[key], expected[key]) for key in expected)


def test_a_pooled_only_objective_keeps_only_the_pooled_features():
    cache = build_cache(build_objective("crd", context(), {}).teacher_reads())
    assert cache.kept == [["pooled"]] and set(cache.outputs[0]) == {"pooled"}
    kd = build_cache(build_objective("kd", context(), {}).teacher_reads())
    assert kd.kept == [["logits"]]
    at = build_cache(build_objective("at", context(), {"stages": [1, -1]}).teacher_reads())
    assert at.kept == [["map1", "map3"]]


def test_the_disk_cache_equals_the_memory_cache_and_a_later_run_reuses_it(tmp_path):
    memory = build_cache(None).lookup(ROWS)[0]
    first = build_cache(None, tmp_path).lookup(ROWS)[0]
    for got, expected in zip([first.pooled, first.logits, *first.maps], [memory.pooled, memory.logits, *memory.maps]):
        assert torch.equal(got, expected)
    files = sorted(p.name for p in (tmp_path / "teacher0").iterdir())
    assert files == ["logits.npy", "map0.npy", "map1.npy", "map2.npy", "map3.npy", "pooled.npy"], "no temporary is left"

    teacher = SlicingTeacher()
    again = build_cache(None, tmp_path, teacher).lookup(ROWS)[0]
    assert teacher.calls == 1, "only the shape probe runs: every output is read from disk"
    assert torch.equal(again.maps[2], memory.maps[2])


def test_a_later_objective_computes_only_the_outputs_not_on_disk_yet(tmp_path):
    build_cache(build_objective("crd", context(), {}).teacher_reads(), tmp_path)
    pooled_file = tmp_path / "teacher0" / "pooled.npy"
    before = pooled_file.stat().st_mtime_ns
    teacher = SlicingTeacher()
    cache = build_cache(build_objective("kd", context(), {}).teacher_reads() | build_objective("crd", context(), {}).teacher_reads(),
                        tmp_path, teacher)
    assert teacher.calls > 1 and pooled_file.stat().st_mtime_ns == before
    assert sorted(cache.outputs[0]) == ["logits", "pooled"]
    assert torch.equal(cache.lookup(ROWS)[0].logits, build_cache(None).lookup(ROWS)[0].logits)


def test_the_fingerprint_follows_the_teachers_weights_the_data_settings_and_the_precision(tmp_path):
    teacher = SlicingTeacher()
    rooms = DataConfig()

    def fingerprint(data: DataConfig, precision: str = "cpu-None") -> str:
        return cache_fingerprint([teacher], ["slice"], teacher_view(data), tmp_path, precision)

    base = fingerprint(rooms)
    for same in (replace(rooms, num_workers=4, order="chunks"), replace(rooms, options={"num": 1200, "split": "train"}),
                 replace(rooms, depth_encoding="inverse"), replace(rooms, augment=replace(rooms.augment, gain_db=0.0))):
        assert fingerprint(same) == base, f"{same} shows the teacher the same images"
    for other in (replace(rooms, options={"num": 40}), replace(rooms, options={"split": "all"}), replace(rooms, input_size=(48, 64)),
                  replace(rooms, name="nyu", options={"path": "nyu.mat"})):
        assert fingerprint(other) != base, f"{other} shows the teacher other images"
    assert base != fingerprint(rooms, "cuda-torch.bfloat16")
    with torch.no_grad():
        teacher.scale.add_(1e-3)
    assert base != fingerprint(rooms)


def _sharded_worker(rank: int, folder: str) -> None:
    import torch.distributed as dist

    from crossmodal.distributed import DistributedContext

    dist.init_process_group("gloo")
    teacher = SlicingTeacher()
    build_cache(None, folder, teacher, dist=DistributedContext(rank=rank, world_size=2))
    with open(os.path.join(folder, f"calls{rank}"), "w") as file:
        file.write(str(teacher.calls))


def test_distributed_ranks_compute_every_other_sample_into_the_shared_files(tmp_path):
    run_ranks(_sharded_worker, str(tmp_path))
    # 10 samples, 5 per rank, batches of 4: the shape probe and two batches each
    assert [(tmp_path / f"calls{r}").read_text() for r in range(2)] == ["3", "3"]
    sharded = build_cache(None, tmp_path).lookup(torch.arange(NUM_SAMPLES))[0]
    memory = build_cache(None).lookup(torch.arange(NUM_SAMPLES))[0]
    assert torch.equal(sharded.pooled, memory.pooled) and all(torch.equal(a, b) for a, b in zip(sharded.maps, memory.maps))
