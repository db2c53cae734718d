"""The paper-scale experiment files: what they promise, that they validate, and the tools that measure them."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from crossmodal.config import load_config
from crossmodal.engine.trainer import check_config

REPO = Path(__file__).resolve().parents[1]
PAPER_FILES = sorted((REPO / "configs" / "paper").glob("*.yaml"))


def test_every_paper_file_trains_the_papers_setting_at_224_and_validates():
    assert {path.stem for path in PAPER_FILES} == {"crd_nyu", "crd_nyu_raw", "crd_sunrgbd", "crd_video"}
    for path in PAPER_FILES:
        config = load_config(path)
        check_config(config)
        assert config.data.input_size == (224, 224) and config.student.width == 64, path
        assert config.objective.name == "crd" and config.objective.options["num_negatives"] == 16384, path
        assert config.teacher.specs == ["resnet18"] and config.schedule.batch_size == 64, path
    assert {load_config(path).data.name for path in PAPER_FILES} == {"nyu", "nyu-raw", "sunrgbd", "video"}


def _tool(name: str, *args: str, tmp_path: Path) -> str:
    env = {**os.environ, "CROSSMODAL_DATA": str(tmp_path / "data"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, f"tools/{name}", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_bench_paper_trains_each_file_on_stand_in_data(tmp_path):
    out = _tool("bench_paper.py", "--quick", tmp_path=tmp_path)
    rows = [line for line in out.splitlines() if line.startswith("crd_")]
    assert [row.split()[0] for row in rows] == ["crd_nyu", "crd_nyu_raw", "crd_sunrgbd", "crd_video"]
    assert all("%" in row.split()[3] for row in rows), out


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_bench_loader_prints_a_row_per_data_path_and_size(tmp_path):
    out = _tool("bench_loader.py", "--quick", tmp_path=tmp_path)
    rows = [line for line in out.splitlines() if "x" in line.split("  ")[-1] or line.rstrip().endswith(tuple("0123456789"))]
    for path in ("nyu cache", "rgbd folder", "nyu-raw cache", "video cache"):
        assert sum(line.startswith(path) for line in rows) == 2, out
