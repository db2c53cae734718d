"""The benchmark behind every results table: per-target method grids, trained and judged, and the report they write.

Each target's grid is its modality's experiment files (``Modality.experiments``) with the
modality's pinned demo schedule and any user overrides on top, judged by the modality's
protocols. ``write_report`` writes report.md (a section per target), report-<target>.png and
report.json (every per-seed number, the specs and the summaries); ``run_benchmark`` adds report.html (``html_report``).
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crossmodal.distill import OBJECTIVES
from crossmodal.errors import InputError
from crossmodal.eval.reports import EvalSettings
from crossmodal.experiments.grid import RESULTS_FILE, WORKER_OVERRIDES, GridSpec, grid_targets, method_config, run_grids, zoo_methods
from crossmodal.experiments.html_report import REPORT_FILE, write_html_report
from crossmodal.experiments.label_table import curve_protocol, label_curves, label_efficiency_table, plot_label_curves
from crossmodal.experiments.report import machines_note, markdown_table, plot_summary, report_section, summarise, table_metrics
from crossmodal.fileio import write_json_atomically, write_text_atomically
from crossmodal.modalities import MODALITIES
from crossmodal.parallel import usable_cores

ZOO = "zoo"
"""``--methods zoo``: every registered objective, each target's core methods first."""


def grid_specs(
    targets: Sequence[str],
    methods: Sequence[str] | None,
    seeds: int,
    out: Path,
    overrides: Sequence[str] = (),
    configs_dir: Path | None = None,
    evaluation: EvalSettings = EvalSettings(),
) -> list[GridSpec]:
    """One grid per target, in the order given; ``methods`` (None: each target's core methods; ``zoo``: every objective)."""
    if seeds < 1:
        raise InputError(f"--seeds must be at least 1, got {seeds}")
    known_targets = grid_targets()
    unknown = [t for t in targets if t not in known_targets]
    if unknown or not targets:
        raise InputError(f"--targets {','.join(targets)!r}: choose from {', '.join(known_targets)}")
    if methods is not None:
        known = set(OBJECTIVES.names())
        stray = [m for m in methods if m not in known and m != ZOO]
        if stray:
            raise InputError(f"--methods: {', '.join(stray)} unknown; choose from: {ZOO}, {', '.join(sorted(known))}")
    for protocol in evaluation.extra_protocols:
        if not any(protocol in MODALITIES.get(t).protocols for t in targets):
            raise InputError(f"--protocols {protocol}: no protocol of that name applies to {', '.join(targets)}; "
                             f"theirs: {', '.join(sorted({p for t in targets for p in MODALITIES.get(t).protocols}))}")
    specs = []
    for target in targets:
        modality = MODALITIES.get(target)
        chosen = tuple(modality.experiments) if methods is None else _expand(methods, zoo_methods(modality))
        schedule = (*modality.demo_overrides, *overrides)
        specs.append(GridSpec(chosen, tuple(range(seeds)), out / target, schedule, configs_dir, evaluation, target))
    return specs


def _expand(methods: Sequence[str], zoo: Sequence[str]) -> tuple[str, ...]:
    """``methods`` with ``zoo`` standing for every registered objective, each once, in the order given."""
    chosen = [name for method in methods for name in (zoo if method == ZOO else (method,))]
    return tuple(dict.fromkeys(chosen))




def describe(spec: GridSpec, records: Sequence[dict[str, Any]]) -> list[str]:
    """A section's notes: how its numbers were made."""
    config = method_config(spec, spec.methods[0], spec.seeds[0])
    seeds = ", ".join(map(str, spec.seeds))
    spread = f"mean ± sample standard deviation over {len(spec.seeds)} seeds" if len(spec.seeds) > 1 else "one seed"
    return [
        f"Seeds: {seeds}. Each sets the training seed (student init, data order, augmentation) and the "
        f"evaluation seed; the data set is fixed. Cells: {spread}.",
        f"Training: `configs/<method>_{spec.target}.yaml` (methods without one: `configs/{spec.modality.base_experiment}` "
        f"with `objective.name=<method>` and the method's default options) with overrides `{' '.join((*spec.overrides, *WORKER_OVERRIDES))}` "
        f"(each run's config.yaml has the full settings).",
        *spec.modality.benchmark_notes(config, spec.evaluation, records[0]),
        machines_note(records),
        time_note(records),
    ]


def time_note(records: Sequence[dict[str, Any]]) -> str:
    """How long the runs trained; a run continued or kept from an earlier invocation trained partly (or wholly) there."""
    loads = [load for record in records for load in record["load_1min"]]
    load = f"1-minute load average at stage boundaries: mean {sum(loads) / len(loads):.1f}, max {max(loads):.1f}"
    train_min = sum(record["train_s"] for record in records) / 60
    epoch_min = sum(record["epoch_s"] for record in records) / 60
    continued = sum(bool(record["continued"]) for record in records)
    if not continued:
        return f"Training time: {train_min:.1f} min summed over runs, {epoch_min:.1f} min of it in training epochs ({load})."
    return (
        f"Training time: {epoch_min:.1f} min summed over the runs' training epochs in every invocation of the command; "
        f"{continued} of {len(records)} runs were continued or kept from an earlier invocation, so the wall time above "
        f"and the {train_min:.1f} min summed over runs count this invocation only ({load})."
    )


def write_report(
    out: Path, grids: list[tuple[GridSpec, list[dict[str, Any]]]], command: str, wall_s: float, jobs: int, threads: int
) -> list[str]:
    """report.md (a section per target), report-<target>.png and report.json (specs, every run, summaries); returns the tables."""
    sections, tables, document = [], [], {}
    for spec, records in grids:
        modality = spec.modality
        metrics = table_metrics(spec.target, records)
        zoo = len(spec.methods) > len(modality.experiments)  # beyond the core methods: rank them
        table = markdown_table(records, spec.methods, metrics, ranked=zoo)
        chart = plot_summary(records, spec.methods, metrics, out / f"report-{spec.target}.png", modality.benchmark_title)
        sections.append(report_section(modality.benchmark_title, table, describe(spec, records), chart.name))
        tables.append(table)
        document[spec.target] = {"spec": spec.to_dict(), "runs": records, "summary": summarise(records, spec.methods, metrics)}
        label_table = label_efficiency_table(records, spec.methods)
        if label_table is not None:
            title = f"{modality.benchmark_title}: label efficiency"
            curve = plot_label_curves(records, spec.methods, out / f"report-{spec.target}-label-efficiency.png", title)
            sections.append(report_section(title, label_table, curve_protocol(records).curve_notes, curve.name))
            tables.append(label_table)
            document[spec.target]["label_efficiency"] = label_curves(records, spec.methods)
    header = (
        f"# Distillation benchmark\n\nCommand: `{command}`. Wall time: {wall_s / 60:.1f} min on {usable_cores()} CPU "
        f"cores, {jobs} jobs of {threads} torch thread(s), data generation included.\n"
    )
    write_text_atomically(out / "report.md", "\n".join([header, *sections]))
    summary = {"command": command, "wall_s": round(wall_s, 1), "jobs": jobs, "threads": threads, "cpu_cores": usable_cores()}
    write_json_atomically(out / RESULTS_FILE, {**summary, "targets": document})
    return tables


def run_benchmark(specs: Sequence[GridSpec], out: Path, command: str, jobs: int, threads: int) -> list[tuple[GridSpec, str]]:
    """Train and judge every grid, write the report into ``out``; returns each grid with its markdown table."""
    start = time.perf_counter()
    grids = list(zip(specs, run_grids(specs, jobs, threads)))
    tables = write_report(out, grids, command, time.perf_counter() - start, jobs, threads)
    write_html_report([out], out / REPORT_FILE)
    return list(zip(specs, tables))
