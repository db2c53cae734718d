"""The zoo in the benchmark grid and the weight sweep: which methods run, from which config, ranked tables, validation-only tuning."""
from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import torch

from crossmodal.cli.train import build_parser, config_from_args
from crossmodal.config import apply_overrides, config_to_dict, load_config
from crossmodal.distill import OBJECTIVES
from crossmodal.errors import InputError
from crossmodal.eval.reports import EvalSettings
from crossmodal.experiments.benchmark import grid_specs
from crossmodal.experiments.grid import GridSpec, method_config, zoo_methods
from crossmodal.experiments.report import collect, markdown_table, mean_ranks
from crossmodal.experiments.tuning import Sweep, run_sweep, summarise_sweep, sweep_table, weight_option
from crossmodal.machine import machine_description
from crossmodal.modalities import MODALITIES

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
DEPTH = MODALITIES.get("depth").benchmark_metrics


def test_zoo_is_every_objective_with_the_core_methods_first():
    depth = zoo_methods(MODALITIES.get("depth"))
    assert depth[:5] == ("none", "fitnet", "kd", "crd", "crd+kd")
    assert sorted(depth) == OBJECTIVES.names()
    (specs,) = grid_specs(["audio"], ["kd", "zoo", "at"], 1, Path("out"))
    assert specs.methods[:4] == ("kd", "none", "crd", "crd+kd") and sorted(specs.methods) == OBJECTIVES.names()
    assert grid_specs(["depth"], None, 1, Path("out"))[0].methods == tuple(MODALITIES.get("depth").experiments)


@pytest.mark.parametrize("target", ["depth", "audio"])
def test_a_zoo_method_trains_the_base_experiment_as_crossmodal_train_would(tmp_path, target):
    spec = GridSpec(("at",), (2,), tmp_path, ("schedule.epochs=3",), REPO / "configs", target=target)
    config = method_config(spec, "at", 2)
    base = load_config(REPO / "configs" / MODALITIES.get(target).base_experiment)
    assert config_to_dict(config) == config_to_dict(
        apply_overrides(base, ["objective.name=at", "schedule.epochs=3", "run.seed=2", f"run.dir={tmp_path / 'at-seed2'}"])
    )
    from_cli = config_from_args(build_parser().parse_args(
        ["--target", target, "--objective", "at", "--epochs", "3", "--seed", "2", "--run-dir", str(tmp_path / "at-seed2")]
    ))
    assert config_to_dict(from_cli) == config_to_dict(config)


def test_ranks_average_each_metrics_order_and_ties_share_the_better_rank():
    records = [
        {"method": "a", "probe_top1": 0.5, "pixel_accuracy": 0.6, "miou": 0.2},
        {"method": "b", "probe_top1": 0.4, "pixel_accuracy": 0.7, "miou": 0.2},
        {"method": "c", "probe_top1": 0.3, "pixel_accuracy": 0.5, "miou": 0.1},
    ]
    assert mean_ranks(collect(records, ["a", "b", "c"], DEPTH), list(DEPTH)) == {"a": 4 / 3, "b": 4 / 3, "c": 3.0}
    table = markdown_table(records, ["a", "b", "c"], DEPTH, ranked=True).splitlines()
    assert table[0].endswith("| Mean rank |") and table[2] == "| a | 50.0 | 60.0 | 20.0 | 1.3 |"
    assert table[4] == "| c | 30.0 | 50.0 | 10.0 | 3.0 |"


def test_the_weight_of_a_method_is_beta_or_kds_alpha():
    assert weight_option("at") == ("beta", 1000.0), "sweeps centre on the paper's value, not on the chosen default"
    assert OBJECTIVES.get("at").option_defaults()["beta"] == 100.0
    assert weight_option("kd") == ("alpha", 1.0)
    assert weight_option("crd+kd") == ("beta", 0.8)
    with pytest.raises(InputError, match="'none' has no loss weight"):
        weight_option("none")


def test_sweep_points_multiply_the_default_and_never_score_the_test_split(tmp_path):
    sweep = Sweep("depth", ("sp", "kd"), (0.1, 10), (0,), tmp_path)
    points = sweep.specs()
    assert [(method, weight) for method, weight, _ in points] == [("sp", 300.0), ("sp", 30000.0), ("kd", 0.1), ("kd", 10.0)]
    spec = points[0][2]
    assert spec.overrides[-1] == "objective.options.beta=300.0" and spec.evaluation.split == "validation"
    assert method_config(spec, "sp", 0).objective.options == {"beta": 300.0}
    with pytest.raises(InputError, match="validation split"):
        Sweep("depth", ("sp",), (1,), (0,), tmp_path, evaluation=EvalSettings(split="test")).check()
    with pytest.raises(InputError, match="not one of the depth metrics"):
        Sweep("depth", ("sp",), (1,), (0,), tmp_path, metric="probe_c").check()


def test_sweep_table_marks_the_choice_and_failures(tmp_path):
    sweep = Sweep("depth", ("at",), (0.1, 1, 10), (0, 1), tmp_path)
    table = sweep_table(sweep, {"scores": {"at": {"100": 0.41, "1000": 0.45, "10000": None}}, "chosen": {"at": "1000"}})
    assert "| AT | beta=100: 41.0; **beta=1000: 45.0**; beta=10000: — |" in table
    assert "mean ± sample standard deviation over seeds 0, 1" in table
    assert "Each metric" not in table


def _record(seed: int, probe: float, pixels: float, miou: float) -> dict[str, float]:
    return {"seed": seed, "probe_top1": probe, "pixel_accuracy": pixels, "miou": miou}


def test_a_sweep_over_seeds_reports_each_points_spread_and_metrics(tmp_path):
    sweep = Sweep("depth", ("kd",), (1, 10), (0, 1, 2), tmp_path)
    runs = [[_record(0, 0.40, 0.60, 0.10), _record(1, 0.46, 0.63, 0.13), _record(2, 0.43, 0.57, 0.16)],
            [_record(0, 0.5, 0.6, 0.2), {"seed": 1, "error": "non-finite loss"}, _record(2, 0.5, 0.6, 0.2)]]
    document = summarise_sweep(sweep, [("kd", 1.0), ("kd", 10.0)], runs)
    per_run = [1.10 / 3, 1.22 / 3, 1.16 / 3]  # each run's mean of the three metrics
    assert document["scores"]["kd"]["1"] == pytest.approx(statistics.mean(per_run))
    assert document["spreads"]["kd"]["1"] == pytest.approx(statistics.stdev(per_run))
    assert document["scores"]["kd"]["10"] is None and document["metrics"]["kd"]["10"] is None
    probe_mean, probe_spread = document["metrics"]["kd"]["1"]["probe_top1"]
    assert probe_mean == pytest.approx(0.43) and probe_spread == pytest.approx(0.03)
    table = sweep_table(sweep, document)
    assert "| KD | **alpha=1: " in table and "alpha=10: —" in table
    assert "| KD | alpha=1 | 43.0 ± 3.0 | 60.0 ± 3.0 | 13.0 ± 3.0 |" in table
    assert "alpha=10 |" not in table
    one_seed = Sweep("depth", ("kd",), (1,), (0,), tmp_path)
    single = summarise_sweep(one_seed, [("kd", 1.0)], [runs[0][:1]])
    assert single["spreads"]["kd"]["1"] is None and single["metrics"]["kd"]["1"]["miou"] == [0.10, None]
    assert "| KD | alpha=1 | 40.0 | 60.0 | 10.0 |" in sweep_table(one_seed, single)


TINY = [
    "data.options.num=40", "data.options.size=[48, 64]", "data.input_size=[32, 48]", "student.name=resnet10",
    "student.width=8", "schedule.epochs=1", "schedule.batch_size=8", "run.progress=false", "run.device=cpu",
]


def test_a_tiny_sweep_picks_the_finite_weight_and_records_the_diverged_one(tmp_path, monkeypatch):
    monkeypatch.setenv("CROSSMODAL_DATA", str(tmp_path / "data"))
    # 1e37 x AT's paper weight 1000 overflows float32: that run stops on a non-finite loss
    sweep = Sweep("depth", ("at",), (1, 1e37), (0,), tmp_path / "tune", overrides=tuple(TINY),
                  evaluation=EvalSettings(split="validation", head_epochs=1))
    document = run_sweep(sweep, jobs=2, threads=1)
    assert document["chosen"] == {"at": "1000"}
    scores = document["scores"]["at"]
    assert scores["1e+40"] is None and 0 <= scores["1000"] <= 1
    failed = [run for run in document["runs"] if "error" in run]
    assert len(failed) == 1 and "non-finite" in failed[0]["error"]
    assert json.loads((tmp_path / "tune" / "tune.json").read_text())["chosen"] == {"at": "1000"}
    markdown = (tmp_path / "tune" / "tune.md").read_text()
    assert "**beta=1000:" in markdown and f"Trained on: {machine_description(torch.device('cpu'))}." in markdown
