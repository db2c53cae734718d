"""Sweep files: wandb's grid sweep document, run here point by point without wandb (crossmodal-tune --sweep) and
point by point as a wandb agent runs it (crossmodal-tune --sweep-point), judged on the validation split."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from crossmodal.cli.tune import main as tune_main
from crossmodal.errors import InputError
from crossmodal.experiments.sweep_file import read_sweep_file
from tests.test_report import TINY
from tests.wandb_files import offline_runs

REPO = Path(__file__).resolve().parents[1]


def test_the_shipped_crd_sweep_is_a_grid_over_crds_main_options_scored_on_validation():
    sweep = read_sweep_file(REPO / "configs" / "sweeps" / "crd.yaml")
    assert (sweep.target, sweep.method, sweep.record_key, sweep.goal) == ("depth", "crd", "probe_top1", "maximize")
    assert list(sweep.parameters) == ["objective.options.tau", "objective.options.beta", "objective.options.feat_dim"]
    points = sweep.points()
    assert len(points) == 18 and points[0] == {"objective.options.tau": 0.05, "objective.options.beta": 0.4,
                                               "objective.options.feat_dim": 64}
    document = yaml.safe_load((REPO / "configs" / "sweeps" / "crd.yaml").read_text())
    assert document["command"] == ["${program}", "--sweep-point", "${args_no_hyphens}"] and document["program"] == "crossmodal-tune"


@pytest.mark.parametrize(("text", "message"), [
    ("method: random\nparameters: {}\n", "must be a wandb sweep with method: grid"),
    ("method: grid\nmetric: {name: validation/probe_top1}\nparameters: {a: {values: [1]}}\n", "must fix data.target and objective.name"),
    ("method: grid\nmetric: {name: m}\nparameters: {data.target: {value: depth}, objective.name: {value: crd}, "
     "x: {min: 0, max: 1}}\n", "parameter 'x' needs value: or values:"),
    ("method: grid\nmetric: {name: m}\nparameters: {data.target: {value: sonar}, objective.name: {value: crd}}\n",
     "data.target 'sonar' is not one of"),
    ("method: [grid\n", "is not valid YAML"),
])
def test_sweep_file_mistakes_are_one_sentence_naming_the_file(tmp_path, text, message):
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as caught:
        read_sweep_file(path)
    assert str(path) in str(caught.value)


def tiny_sweep(path: Path) -> Path:
    fixed = {key: {"value": yaml.safe_load(value)} for key, value in (item.split("=", 1) for item in TINY)}
    document = {"method": "grid", "metric": {"name": "validation/probe_top1", "goal": "maximize"},
                "parameters": {"data.target": {"value": "depth"}, "objective.name": {"value": "crd"}, **fixed,
                               "objective.options.tau": {"values": [0.07, 0.2]}}}
    path.write_text(yaml.safe_dump(document))
    return path


def test_a_sweep_file_runs_every_point_without_wandb_and_marks_the_best_validation_score(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CROSSMODAL_DATA", str(tmp_path / "data"))
    out = tmp_path / "sweep"
    assert tune_main(["--sweep", str(tiny_sweep(tmp_path / "sweep.yaml")), "--out", str(out), "--jobs", "2"]) == 0
    document = json.loads((out / "sweep.json").read_text())
    assert [row["point"]["objective.options.tau"] for row in document["points"]] == [0.07, 0.2]
    assert sorted(Path(run["run_dir"]).name for run in document["runs"]) == ["crd-seed0", "crd-seed0"]
    assert {Path(run["run_dir"]).parent.name for run in document["runs"]} == {"tau0.07", "tau0.2"}
    for run in document["runs"]:
        assert run["num_scored"] == (run["num_fit"] + run["num_scored"]) // 5, "judged on a validation fifth"
        assert "tau:" in (Path(run["run_dir"]) / "config.yaml").read_text()
    best = max(document["points"], key=lambda row: row["mean"])
    assert document["chosen"] == best["point"]
    assert f"**{100 * best['mean']:.1f}**" in (out / "sweep.md").read_text() and "wrote" in capsys.readouterr().out
    assert tune_main(["--sweep", str(tmp_path / "sweep.yaml"), "--methods", "crd"]) == 2


def test_a_point_from_a_wandb_agent_writes_its_validation_scores_into_its_runs_summary(tmp_path, monkeypatch):
    monkeypatch.setenv("CROSSMODAL_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    arguments = ["data.target=depth", "objective.name=crd", "objective.options.tau=0.2", *TINY]
    assert tune_main(["--sweep-point", *arguments, "--out", str(tmp_path / "points")]) == 0
    run_dir = next((tmp_path / "points" / "depth").iterdir()) / "crd-seed0"
    runs = offline_runs(run_dir)
    assert len(runs) == 2
    training = next(r for r in runs if r.job_type == "train")
    scored = next(r for r in runs if r is not training)
    assert scored.run_id == training.run_id, "the same run, resumed to take the scores"
    assert 0 <= scored.summary["validation/probe_top1"] <= 1 and "validation/miou" in scored.summary
