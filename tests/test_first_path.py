"""The README's first path (train -> probe -> segment -> the untrained reference), run as written on tiny data:
each command completes and the run directory holds every file the README says it writes."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from crossmodal.cli import probe, segment, train

REPO = Path(__file__).resolve().parents[1]
COMMANDS = {"crossmodal-train": train.main, "crossmodal-probe": probe.main, "crossmodal-segment": segment.main}
TINY_TRAINING = [
    "--set", "data.options.num=40", "data.options.size=[48, 64]", "data.input_size=[32, 48]", "student.name=resnet10",
    "student.width=4", "schedule.epochs=1", "schedule.batch_size=8", "objective.options.num_negatives=8", "run.progress=false",
]
WRITTEN = ("config.yaml", "metrics.jsonl", "last.pt", "probe.json", "segment.json", "segment.png")


def first_path() -> tuple[str, list[list[str]]]:
    """The README's "First path" section and the commands of its code block (comments dropped)."""
    text = (REPO / "README.md").read_text()
    section = text.split("## First path", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block is not None, "the first path shows its commands in a bash block"
    return section, [shlex.split(line, comments=True) for line in block.group(1).splitlines() if line.strip()]


@pytest.mark.timeout(600)
def test_the_readme_first_path_runs_and_writes_what_it_says(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    section, commands = first_path()
    assert [command[0] for command in commands] == ["crossmodal-train", "crossmodal-probe", "crossmodal-segment", "crossmodal-probe"]
    for command in commands:
        extra = TINY_TRAINING if command[0] == "crossmodal-train" else ["--device", "cpu"]
        assert COMMANDS[command[0]]([*command[1:], *extra]) == 0, " ".join(command)
    run = tmp_path / "runs" / "first"
    for name in WRITTEN:
        assert f"`{name}`" in section, f"the first path names {name}"
        assert (run / name).is_file(), f"{name} is not in {run}"
    assert "`runs/random-init-resnet18-w32-seed0/probe.json`" in section
    assert (tmp_path / "runs" / "random-init-resnet18-w4-seed0" / "probe.json").is_file(), "the tiny run's width is 4"
    assert "wrote runs/first/segment.json and runs/first/segment.png" in capsys.readouterr().out
