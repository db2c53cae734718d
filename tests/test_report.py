"""The results table: mean ± std formatting, the table and summary from known per-seed numbers, the
chart, grid settings checks, and a tiny end-to-end grid through crossmodal-benchmark."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from crossmodal import machine
from crossmodal.cli import benchmark
from crossmodal.errors import InputError
from crossmodal.eval.reports import EvalSettings
from crossmodal.experiments.benchmark import machines_note, time_note
from crossmodal.experiments.grid import GridSpec, method_config, run_grid
from crossmodal.experiments.label_table import label_efficiency_table
from crossmodal.experiments.report import (
    format_mean_std,
    markdown_table,
    mean_std,
    plot_summary,
    report_section,
    summarise,
    table_metrics,
)
from crossmodal.machine import machine_description
from crossmodal.modalities import MODALITIES

torch.set_num_threads(1)  # tiny batches gain nothing from more threads on a shared machine

REPO = Path(__file__).resolve().parents[1]


def record(method: str, seed: int, top1: float, pixel: float, miou: float) -> dict:
    return {"method": method, "seed": seed, "probe_top1": top1, "pixel_accuracy": pixel, "miou": miou}


DEPTH = MODALITIES.get("depth").benchmark_metrics
KNOWN = [
    record("none", 0, 0.30, 0.50, 0.10),
    record("crd", 0, 0.40, 0.60, 0.20),
    record("none", 1, 0.32, 0.52, 0.12),
    record("crd", 1, 0.50, 0.64, 0.30),
]


def test_mean_std_uses_the_sample_deviation():
    mean, std = mean_std([0.4, 0.5, 0.6])
    assert mean == pytest.approx(0.5) and std == pytest.approx(0.1)
    assert math.isnan(mean_std([0.7])[1])
    with pytest.raises(ValueError, match="at least one value"):
        mean_std([])


def test_format_mean_std_in_percent_and_one_value_alone():
    assert format_mean_std([0.4, 0.5, 0.6]) == "50.0 ± 10.0"
    assert format_mean_std([0.4123]) == "41.2"
    assert format_mean_std([0.25, 0.25], digits=2) == "25.00 ± 0.00"


def test_table_rows_follow_the_method_order_with_known_numbers():
    table = markdown_table(KNOWN, ["none", "fitnet", "crd"], DEPTH).splitlines()
    assert table[0] == "| Method | Scene probe top-1 (%) | Seg. pixel acc. (%) | Seg. mIoU (%) |"
    assert len(table) == 4, "a method without records gets no row"
    assert table[2] == "| Random init (none) | 31.0 ± 1.4 | 51.0 ± 1.4 | 11.0 ± 1.4 |"
    assert table[3] == "| CRD | 45.0 ± 7.1 | 62.0 ± 2.8 | 25.0 ± 7.1 |"


def test_summary_keeps_every_value_and_marks_single_seeds():
    summary = summarise(KNOWN, ["none", "crd"], DEPTH)
    assert summary["crd"]["miou"]["values"] == [0.20, 0.30]
    assert summary["crd"]["miou"]["n"] == 2 and summary["crd"]["miou"]["std"] == pytest.approx(math.sqrt(0.005))
    single = summarise(KNOWN[:2], ["none", "crd"], DEPTH)
    assert single["none"]["probe_top1"] == {"mean": 0.30, "std": None, "n": 1, "values": [0.30]}
    assert json.loads(json.dumps(single)) == single


def test_the_time_note_says_when_runs_trained_in_an_earlier_invocation():
    fresh = {"train_s": 90.0, "epoch_s": 60.0, "continued": False, "load_1min": [1.0, 2.0, 3.0]}
    kept = {"train_s": 6.0, "epoch_s": 120.0, "continued": True, "load_1min": [2.0, 2.0, 2.0]}
    assert time_note([fresh, fresh]) == (
        "Training time: 3.0 min summed over runs, 2.0 min of it in training epochs "
        "(1-minute load average at stage boundaries: mean 2.0, max 3.0)."
    )
    assert time_note([fresh, kept]) == (
        "Training time: 3.0 min summed over the runs' training epochs in every invocation of the command; 1 of 2 runs "
        "were continued or kept from an earlier invocation, so the wall time above and the 1.6 min summed over runs "
        "count this invocation only (1-minute load average at stage boundaries: mean 2.0, max 3.0)."
    )


def test_the_machines_note_names_the_one_kind_or_counts_each_of_a_mix():
    epyc, xeon = "AMD EPYC, AVX512 kernels, torch 2.9.1", "Intel Xeon, AVX2 kernels, torch 2.9.1"
    untrained = {"machines": []}
    assert machines_note([untrained, {"machines": [epyc]}, {"machines": [epyc]}]) == f"Trained on: {epyc}."
    assert machines_note([untrained]) == "Trained on: no training (every run untrained)."
    mixed = machines_note([{"machines": [epyc, xeon]}, {"machines": [epyc]}, {}])
    assert mixed == (f"Trained on 3 kinds of machine, so the numbers repeat only on the same mix: {epyc} (2 runs); "
                     f"{xeon} (1 run); not recorded (1 run).")


def test_the_cpu_model_comes_from_cpuinfo_else_the_platform(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9654 96-Core Processor\n\nprocessor\t: 1\n")
    monkeypatch.setattr(machine, "CPUINFO", cpuinfo)
    assert machine.cpu_model() == "AMD EPYC 9654 96-Core Processor"
    described = machine.machine_description(torch.device("cpu"))
    assert described == f"AMD EPYC 9654 96-Core Processor, {torch.backends.cpu.get_cpu_capability()} kernels, torch {torch.__version__}"
    monkeypatch.setattr(machine, "CPUINFO", tmp_path / "absent")
    monkeypatch.setattr(machine.platform, "processor", lambda: "")
    monkeypatch.setattr(machine.platform, "machine", lambda: "x86_64")
    assert machine.cpu_model() == "x86_64"


def test_chart_is_a_png(tmp_path):
    path = plot_summary(KNOWN, ["none", "crd"], DEPTH, tmp_path / "chart.png", "title")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_audio_table_has_the_sound_probe_columns():
    records = [{"method": "crd", "seed": 0, "probe_top1": 0.61, "probe_mean_class_accuracy": 0.6}]
    table = markdown_table(records, ["none", "crd"], MODALITIES.get("audio").benchmark_metrics).splitlines()
    assert table[0] == "| Method | Sound probe top-1, 5 folds (%) | Sound probe mean class acc. (%) |"
    assert table[2:] == ["| CRD | 61.0 | 60.0 |"]


def test_a_protocol_judged_beside_the_targets_own_adds_its_columns_when_every_run_has_its_scores():
    with_knn = [{**r, "knn_top1": 0.25 + 0.1 * r["seed"]} for r in KNOWN]
    assert table_metrics("depth", KNOWN) == DEPTH
    assert table_metrics("depth", with_knn) == {**DEPTH, "knn_top1": "Scene kNN top-1 (%)"}
    assert table_metrics("depth", [with_knn[0], *KNOWN[1:]]) == DEPTH, "a column every run can fill, or none"
    table = markdown_table(with_knn, ["none", "crd"], table_metrics("depth", with_knn)).splitlines()
    assert table[0].endswith("| Scene kNN top-1 (%) |") and table[2].endswith("| 30.0 ± 7.1 |")
    svm = [{"method": "crd", "seed": 0, "probe_top1": 0.6, "probe_mean_class_accuracy": 0.6, "svm_top1": 0.55}]
    assert list(table_metrics("audio", svm))[-1] == "svm_top1"


def test_report_section_has_table_notes_and_chart():
    text = report_section("Title", "| a |", ["one", "two"], "report.png")
    assert text == "## Title\n\n| a |\n\n- one\n- two\n\n![Title](report.png)\n"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"methods": ("crd", "simclr")}, "simclr"),
        ({"seeds": (0, 0)}, "distinct"),
        ({"seeds": ()}, "at least one"),
        ({"configs_dir": Path("/no/such/configs")}, "does not exist"),
        ({"evaluation": EvalSettings(labels="nyu894")}, "nyu894"),
        ({"evaluation": EvalSettings(split="train")}, "'train'"),
        ({"evaluation": EvalSettings(head="unet")}, "unet"),
        ({"evaluation": EvalSettings(head_epochs=0)}, "at least 1"),
        ({"target": "audio", "methods": ("simclr",)}, "unknown for audio"),
        ({"target": "thermal"}, "thermal"),
    ],
)
def test_grid_settings_mistakes_are_input_errors(tmp_path, changes, message):
    settings = {"methods": ("none", "crd"), "seeds": (0,), "out_dir": tmp_path, "configs_dir": REPO / "configs", **changes}
    with pytest.raises(InputError, match=message):
        GridSpec(**settings).check()


def test_method_config_is_the_experiment_file_with_overrides_seed_and_run_dir(tmp_path):
    spec = GridSpec(("crd+kd",), (3,), tmp_path, ("schedule.epochs=2", "optim.lr=0.01"), REPO / "configs")
    config = method_config(spec, "crd+kd", 3)
    assert config.objective.name == "crd+kd"
    assert (config.schedule.epochs, config.optim.lr, config.run.seed) == (2, 0.01, 3)
    assert config.run.dir == str(tmp_path / "crd+kd-seed3")


TINY = [
    "data.options.num=40", "data.options.size=[48, 64]", "data.input_size=[32, 48]", "student.name=resnet10",
    "student.width=8", "schedule.epochs=1", "schedule.batch_size=8", "run.progress=false", "run.device=cpu",
]


def test_tiny_grid_trains_and_scores_every_method_on_a_validation_fifth(tmp_path, monkeypatch):
    monkeypatch.setenv("CROSSMODAL_DATA", str(tmp_path / "data"))
    spec = GridSpec(("none", "crd"), (0,), tmp_path / "grid", tuple(TINY), REPO / "configs",
                    EvalSettings(head_epochs=1, split="validation"))
    records = run_grid(spec, jobs=2)
    assert [(r["method"], r["seed"]) for r in records] == [("none", 0), ("crd", 0)]
    assert [r["machines"] for r in records] == [[], [machine_description(torch.device("cpu"))]], "only trained epochs name a machine"
    assert [r["continued"] for r in records] == [False, False]
    assert records[0]["epoch_s"] == 0 and 0 < records[1]["epoch_s"] <= records[1]["train_s"]
    for run in records:
        assert run["num_scored"] == (run["num_fit"] + run["num_scored"]) // 5
        assert 0 <= run["probe_top1"] <= 1 and 0 <= run["miou"] <= run["pixel_accuracy"] <= 1
        assert "schedule:\n  epochs: 1" in (Path(run["run_dir"]) / "config.yaml").read_text()
    assert json.loads((spec.out_dir / "report.json").read_text())["runs"] == records


TINY_AUDIO = [
    "data.options.num=8", "data.options.seconds=1.5", "data.options.size=[48,48]", "data.options.clips_per_class=5",
    "data.options.frame_size=[48,48]", "data.input_size=[32,32]", "student.name=audio_resnet10", "student.width=8",
    "schedule.epochs=1", "schedule.batch_size=8", "run.progress=false",
    "run.device=cpu",
]


def test_tiny_audio_grid_probes_every_method_on_the_first_four_sound_folds(tmp_path, monkeypatch):
    monkeypatch.setenv("CROSSMODAL_DATA", str(tmp_path / "data"))
    spec = GridSpec(("none", "crd"), (0,), tmp_path / "grid", tuple(TINY_AUDIO), REPO / "configs",
                    EvalSettings(split="validation"), target="audio")
    records = run_grid(spec, jobs=2)
    assert [(r["method"], r["seed"]) for r in records] == [("none", 0), ("crd", 0)]
    for run in records:
        assert run["num_folds"] == 4 and run["num_clips"] == 4 * 8, "fold 5 (5 clips per class, one per fold) is left out"
        assert 0 <= run["probe_top1"] <= 1
    assert records[0]["run_dir"] == str(tmp_path / "grid" / "none-seed0")


@pytest.mark.slow
def test_benchmark_writes_the_report_and_keeps_finished_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CROSSMODAL_DATA", str(tmp_path / "data"))
    out = tmp_path / "grid"
    argv = ["--seeds", "1", "--targets", "depth", "--methods", "none,crd", "--out", str(out), "--configs",
            str(REPO / "configs"), "--head-epochs", "1", "--jobs", "2", "--protocols", "label-efficiency", "--set", *TINY]
    assert benchmark.main(argv) == 0
    printed = capsys.readouterr().out
    assert "| Random init (none) |" in printed and "| CRD |" in printed
    report = json.loads((out / "report.json").read_text())["targets"]["depth"]
    assert [(r["method"], r["seed"]) for r in report["runs"]] == [("none", 0), ("crd", 0)]
    assert report["summary"]["crd"]["miou"]["values"] == [report["runs"][1]["miou"]]
    markdown = (out / "report.md").read_text()
    assert markdown_table(report["runs"], ["none", "crd"], DEPTH) in markdown and "Seeds: 0." in markdown
    assert f"Trained on: {machine_description(torch.device('cpu'))}." in markdown
    assert (out / "report-depth.png").is_file()
    assert "## rgb -> depth distillation on the embedded synthetic rooms: label efficiency" in markdown
    assert label_efficiency_table(report["runs"], ["none", "crd"]) in markdown
    assert report["label_efficiency"]["crd"]["fractions"] == [0.01, 0.05, 0.1, 0.25, 1.0]
    assert (out / "report-depth-label-efficiency.png").is_file()
    page = (out / "report.html").read_text()
    assert "Label efficiency" in page and "CRD critic: positive pair score" in page

    checkpoint = out / "depth" / "crd-seed0" / "last.pt"
    written = checkpoint.stat().st_mtime_ns
    assert benchmark.main(argv) == 0, "a second identical call reuses the finished runs"
    assert checkpoint.stat().st_mtime_ns == written
    assert "2 of 2 runs were continued or kept from an earlier invocation" in (out / "report.md").read_text()
    assert benchmark.main([*argv, "schedule.epochs=2"]) == 2, "a run directory with other settings is not overwritten"
    assert "other settings" in capsys.readouterr().err


def test_benchmark_method_and_target_mistakes_are_one_line_errors(capsys):
    assert benchmark.main(["--targets", "thermal"]) == 2
    assert benchmark.main(["--targets", "audio", "--methods", "zoo,fitnett"]) == 2
    assert benchmark.main(["--methods", "crd,simclr"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and "thermal" in errors[0] and "fitnett" in errors[1] and "simclr" in errors[2]


def test_the_step_benchmark_runs_on_the_cpu_and_prints_one_row(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "bench_step.py"), "--device", "cpu", "--steps", "1", "--batch-size", "4",
         "--set", f"data.root={tmp_path}", "data.options.num=20", "data.options.size=[48, 64]", "data.options.split=all", "data.input_size=[32, 48]"],
        capture_output=True, text=True, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    (row,) = [line for line in result.stdout.splitlines() if "samples/s" in line]
    assert row.lstrip().startswith("fp32, contiguous") and "1.00x fp32" in row and "% of the step" in row


def test_the_reading_order_benchmark_runs_and_compares_both_orders(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "tools" / "bench_order.py"), "--videos", "6", "--samples", "20"],
                            capture_output=True, text=True, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert result.returncode == 0, result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines() if "order:" in line] == ["shuffle", "chunks"]
    assert "chunks / shuffle:" in result.stdout
