"""kill -9 at seeded random moments of real training processes: every run resumes to the weights of an uninterrupted one.

Each trial starts ``crossmodal-train`` as a subprocess, kills it with SIGKILL after a seeded
delay (anywhere: inside an epoch, while a checkpoint or the metrics file is written, before the
first checkpoint), and starts it again the way a user would (``--resume`` when the run has a
checkpoint, else the same command), until the run finishes. The finished run must equal an
uninterrupted run with the same seed bit for bit (student, objective state with its memory banks
and Z, optimiser, RNG states), its metrics file must list each epoch exactly once, and no
temporary file may be left behind. One trial runs in the default suite; the rest are ``slow``.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from crossmodal.config import TrainConfig, apply_overrides
from crossmodal.engine.checkpoint import load_checkpoint
from crossmodal.engine.logging import MetricsFile
from crossmodal.modalities.training_set import prepare_data

EPOCHS = 3
TINY = [
    "data.options.num=40", "data.options.size=[48, 64]", "data.options.split=all", "data.input_size=[32, 48]",
    "student.name=resnet10", "student.width=8", "schedule.batch_size=8", "run.progress=false",
]


def train_command(run: Path, data_root: Path) -> list[str]:
    if (run / "last.pt").exists():
        return [sys.executable, "-m", "crossmodal.cli.train", "--resume", str(run)]
    return [sys.executable, "-m", "crossmodal.cli.train", "--epochs", str(EPOCHS), "--out", str(run), "--wandb", "disabled",
            "--set", f"data.root={data_root}", *TINY]


def environment() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def finished(run: Path) -> bool:
    return (run / "last.pt").exists() and load_checkpoint(run)["finished"]


def train_with_kills(run: Path, data_root: Path, delays: list[float]) -> int:
    """Train ``run`` to the end, killing the process after each of ``delays`` seconds (if still running); returns the kills."""
    kills = 0
    for delay in delays:
        if finished(run):
            break
        process = subprocess.Popen(train_command(run, data_root), env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
        else:
            assert process.returncode == 0, process.stderr.read().decode()
    while not finished(run):
        result = subprocess.run(train_command(run, data_root), env=environment(), capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr
    return kills


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    """The embedded rooms, generated before any run is timed (so the kill delays fall inside training)."""
    root = tmp_path_factory.mktemp("data")
    config = apply_overrides(TrainConfig(), [f"data.root={root}", *TINY])
    prepare_data(config.data, progress=False)
    return root


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory, data_root) -> tuple[Path, float]:
    run = tmp_path_factory.mktemp("straight") / "run"
    start = time.perf_counter()
    subprocess.run(train_command(run, data_root), env=environment(), check=True, capture_output=True, timeout=600)
    return run, time.perf_counter() - start


def assert_same_run(straight: Path, resumed: Path) -> None:
    a, b = load_checkpoint(straight), load_checkpoint(resumed)
    assert (a["epoch"], a["global_step"]) == (b["epoch"], b["global_step"])
    for part in ("student", "objective"):
        assert a[part].keys() == b[part].keys() and all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    assert all(torch.equal(a["optimizer"]["state"][k]["momentum_buffer"], b["optimizer"]["state"][k]["momentum_buffer"])
               for k in a["optimizer"]["state"])
    epochs = [r["epoch"] for r in MetricsFile(resumed / "metrics.jsonl").read() if r.get("event") == "epoch"]
    assert epochs == list(range(1, EPOCHS + 1)), "each epoch exactly once"
    losses = [(r["epoch"], r["step"], r["loss"]) for r in MetricsFile(resumed / "metrics.jsonl").read() if "loss" in r]
    assert losses == [(r["epoch"], r["step"], r["loss"]) for r in MetricsFile(straight / "metrics.jsonl").read() if "loss" in r]
    assert not [p.name for p in resumed.iterdir() if ".tmp-" in p.name], "no temporary file is left behind"


def _trial(seed: int, tmp_path: Path, data_root: Path, straight_run: tuple[Path, float]) -> int:
    straight, duration = straight_run
    rng = random.Random(seed)
    # kill anywhere from the interpreter's start-up to the end of the last epoch, three to five times;
    # the first kill falls in the first half of a run, so every trial kills at least once on any machine
    delays = [rng.uniform(0.2, duration / 2)] + [rng.uniform(0.2, duration) for _ in range(rng.randint(2, 4))]
    run = tmp_path / f"trial{seed}"
    kills = train_with_kills(run, data_root, delays)
    assert_same_run(straight, run)
    return kills


def test_a_run_killed_at_random_moments_resumes_bit_identical(tmp_path, data_root, straight_run):
    assert _trial(0, tmp_path, data_root, straight_run) >= 1


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(1, 7))
def test_more_kill_schedules_resume_bit_identical(seed, tmp_path, data_root, straight_run):
    assert _trial(seed, tmp_path, data_root, straight_run) >= 1
