"""The package installs like any other: a wheel of the tracked files, installed without -e into a temporary
target, trains, probes and segments from a directory outside the repository, reading its shipped data files."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY = [
    "--set", "data.options.num=40", "data.options.size=[48, 64]", "data.input_size=[32, 48]", "student.name=resnet10",
    "student.width=4", "schedule.batch_size=8", "objective.options.num_negatives=8", "run.progress=false",
]


def _tracked_tree(destination: Path) -> Path:
    """The files git tracks or would track, as they are in the working tree (links kept): the build leaves nothing in the checkout."""
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"], capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source, target = REPO / name, destination / name
        if not source.is_symlink() and not source.exists():
            continue  # deleted in the working tree, not yet committed
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    return destination


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.timeout(900)
def test_wheel_installs_without_editable_and_runs_train_probe_segment_outside_the_repository(tmp_path):
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs the git checkout to know the tracked files")
    source = _tracked_tree(tmp_path / "source")
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(wheels), str(source)],
        check=True, capture_output=True, timeout=300,
    )
    (wheel,) = wheels.glob("crossmodal-*.whl")
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
        check=True, capture_output=True, timeout=300,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "CROSSMODAL_DATA": str(tmp_path / "data"), "WANDB_MODE": "disabled"}
    where = _run([sys.executable, "-c", "import crossmodal; print(crossmodal.__file__)"], elsewhere, env)
    assert where.strip().startswith(str(target)), f"the installed copy must be the one imported, not {where}"
    scripts = target / "bin"

    assert "usage: crossmodal-train" in _run([str(scripts / "crossmodal-train"), "--help"], elsewhere, env)
    for script in ("crossmodal-eval", "crossmodal-probe", "crossmodal-segment", "crossmodal-prepare", "crossmodal-benchmark", "crossmodal-tune"):
        assert f"usage: {script}" in _run([str(scripts / script), "--help"], elsewhere, env)

    run = elsewhere / "run"
    _run([str(scripts / "crossmodal-train"), "--config", "crd_depth.yaml", "--epochs", "1", "--out", str(run), "--device", "cpu", *TINY],
         elsewhere, env)
    assert (run / "last.pt").is_file() and "crd" in (run / "config.yaml").read_text()
    probed = _run([str(scripts / "crossmodal-probe"), "--run", str(run), "--device", "cpu"], elsewhere, env)
    assert "top-1" in probed
    assert len(json.loads((run / "probe.json").read_text())["class_names"]) == 10, "the shipped NYU facts give the 10 scene classes"
    _run([str(scripts / "crossmodal-segment"), "--run", str(run), "--classes", "13", "--epochs", "1", "--examples", "1",
          "--device", "cpu", "--wandb", "disabled"], elsewhere, env)
    assert len(json.loads((run / "segment.json").read_text())["class_names"]) == 13
