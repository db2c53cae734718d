"""Choose each method's loss weight on the validation split: the weight sweep behind the zoo's documented defaults.

Each method is trained at its paper's ``beta`` (``Objective.paper_weight``; else its default) times
every factor (KD's weight is ``alpha``), with
the modality's pinned schedule, by the same grid as the benchmark, and judged with
``EvalSettings(split="validation")`` only, so the test data never takes part in the choice. The
weight with the highest mean of the chosen metric wins. The default metric is the mean of the
target's benchmark metrics: on depth the scene probe alone scores 131 validation frames (of the
1200 embedded rooms; one frame = 0.8 points, binomial noise about 4.3 points), while the segmentation metrics count
pixels. A run that stopped on a non-finite loss (the weight was too large for the schedule's
learning rate) counts as a failure, not an error.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crossmodal.distill import OBJECTIVES
from crossmodal.errors import InputError
from crossmodal.eval.reports import EvalSettings
from crossmodal.experiments.grid import GridSpec, run_grids
from crossmodal.experiments.report import format_mean_spread, machines_note, mean_std, method_title
from crossmodal.fileio import write_json_atomically, write_text_atomically
from crossmodal.modalities import MODALITIES

MEAN_OF_METRICS = "mean"
WEIGHT_OPTIONS = ("beta", "alpha")
"""The option that weighs a method's loss, in the order looked for (KD keeps Hinton's ``alpha``)."""


def _weight_name(method: str) -> str | None:
    defaults = OBJECTIVES.get(method).option_defaults()
    return next((option for option in WEIGHT_OPTIONS if option in defaults), None)


def weight_option(method: str) -> tuple[str, float]:
    """(option name, reference value) of ``method``'s loss weight: its paper's value, else its default.

    A method without a weight option is an InputError.
    """
    option = _weight_name(method)
    if option is not None:
        objective = OBJECTIVES.get(method)
        return option, float(objective.paper_weight if objective.paper_weight is not None else objective.option_defaults()[option])
    raise InputError(f"objective {method!r} has no loss weight ({' or '.join(WEIGHT_OPTIONS)}) to tune")


@dataclass(frozen=True)
class Sweep:
    """Which methods of which target, at which multiples of their default weight, over which seeds."""

    target: str
    methods: tuple[str, ...]
    factors: tuple[float, ...]
    seeds: tuple[int, ...]
    out_dir: Path
    metric: str = ""
    overrides: tuple[str, ...] = ()
    evaluation: EvalSettings = EvalSettings(split="validation")

    def chosen_metric(self) -> str:
        return self.metric or MEAN_OF_METRICS

    def metric_title(self) -> str:
        metrics = MODALITIES.get(self.target).benchmark_metrics
        if self.chosen_metric() == MEAN_OF_METRICS:
            return "mean of " + ", ".join(metrics.values())
        return metrics[self.chosen_metric()]

    def score(self, record: dict[str, Any]) -> float:
        """A run's value of the chosen metric."""
        if self.chosen_metric() == MEAN_OF_METRICS:
            metrics = MODALITIES.get(self.target).benchmark_metrics
            return sum(float(record[m]) for m in metrics) / len(metrics)
        return float(record[self.chosen_metric()])

    def check(self) -> None:
        if self.evaluation.split != "validation":
            raise InputError("a weight sweep chooses on the validation split; the test split must not take part")
        metrics = MODALITIES.get(self.target).benchmark_metrics
        if self.chosen_metric() not in (*metrics, MEAN_OF_METRICS):
            raise InputError(f"metric {self.metric!r} is not one of the {self.target} metrics: {MEAN_OF_METRICS}, {', '.join(metrics)}")
        if not self.factors or min(self.factors) <= 0:
            raise InputError(f"weight factors {list(self.factors)} must be positive, at least one")
        for method in self.methods:
            weight_option(method)

    def specs(self) -> list[tuple[str, float, GridSpec]]:
        """(method, weight, grid) per sweep point: one grid each, its runs in their own directory."""
        modality = MODALITIES.get(self.target)
        points = []
        for method in self.methods:
            option, default = weight_option(method)
            for factor in self.factors:
                weight = default * factor
                overrides = (*modality.demo_overrides, *self.overrides, f"objective.options.{option}={weight!r}")
                out = self.out_dir / self.target / f"{method}-{option}{weight:g}"
                points.append((method, weight, GridSpec(
                    (method,), self.seeds, out, overrides, evaluation=self.evaluation, target=self.target,
                )))
        return points


def run_sweep(sweep: Sweep, jobs: int, threads: int) -> dict[str, Any]:
    """Train and judge every sweep point; returns (and writes to ``tune.json``/``tune.md``) the scores and each method's choice."""
    sweep.check()
    points = sweep.specs()
    results = run_grids([spec for _, _, spec in points], jobs, threads, failures_allowed=True)
    document = summarise_sweep(sweep, [(method, weight) for method, weight, _ in points], results)
    write_json_atomically(sweep.out_dir / "tune.json", document)
    write_text_atomically(sweep.out_dir / "tune.md", sweep_table(sweep, document))
    return document


def summarise_sweep(sweep: Sweep, points: Sequence[tuple[str, float]], results: Sequence[Sequence[dict[str, Any]]]) -> dict[str, Any]:
    """Per method and weight (None where some seed failed): the mean score, its spread over seeds and each metric's
    mean and spread; the chosen weight per method; and every run."""
    metrics = MODALITIES.get(sweep.target).benchmark_metrics
    scores: dict[str, dict[str, float | None]] = {}
    spreads: dict[str, dict[str, float | None]] = {}
    per_metric: dict[str, dict[str, dict[str, list[float | None]] | None]] = {}
    for (method, weight), records in zip(points, results):
        finished = [r for r in records if "error" not in r]
        complete = len(finished) == len(sweep.seeds)
        key = f"{weight:g}"
        mean, spread = mean_std([sweep.score(r) for r in finished]) if complete else (None, None)
        scores.setdefault(method, {})[key] = mean
        spreads.setdefault(method, {})[key] = _measured(spread)
        per_metric.setdefault(method, {})[key] = _metric_summary(finished, metrics) if complete else None
    return {"target": sweep.target, "metric": sweep.chosen_metric(), "factors": list(sweep.factors), "seeds": list(sweep.seeds),
            "overrides": list(sweep.overrides), "scores": scores, "spreads": spreads, "metrics": per_metric,
            "chosen": {method: _best(by_weight) for method, by_weight in scores.items()},
            "runs": [record for records in results for record in records]}


def _metric_summary(records: Sequence[dict[str, Any]], metrics: Iterable[str]) -> dict[str, list[float | None]]:
    """[mean, spread] over the records of each metric."""
    summary: dict[str, list[float | None]] = {}
    for metric in metrics:
        mean, spread = mean_std([float(record[metric]) for record in records])
        summary[metric] = [mean, _measured(spread)]
    return summary


def _measured(spread: float | None) -> float | None:
    """A spread for JSON: None where there is none (one seed gives NaN)."""
    return None if spread is None or math.isnan(spread) else spread


def _best(by_weight: dict[str, float | None]) -> str | None:
    finished = {weight: score for weight, score in by_weight.items() if score is not None}
    return max(finished, key=lambda weight: finished[weight]) if finished else None


def _percent(mean: float | None, spread: float | None) -> str:
    if mean is None or math.isnan(mean):
        return "—"
    return format_mean_spread(mean, math.nan if spread is None else spread)


def sweep_table(sweep: Sweep, document: dict[str, Any]) -> str:
    """Markdown: one row per method, its weights and their validation scores (%, mean ± spread over seeds),
    the chosen one in bold; then every finished weight's metrics."""
    scores, chosen = document["scores"], document["chosen"]
    spreads = document.get("spreads", {})
    lines = [f"Validation score ({sweep.metric_title()}, in %), mean ± sample standard deviation over seeds "
             f"{', '.join(map(str, sweep.seeds))}; weights are the paper's (else the default) times "
             f"{', '.join(f'{f:g}' for f in sweep.factors)}; '—': stopped on a non-finite loss.", "",
             "| Method | Weight: validation score |", "|---|---|"]
    for method, by_weight in scores.items():
        option = weight_option(method)[0]
        cells = []
        for weight, score in by_weight.items():
            text = _percent(score, spreads.get(method, {}).get(weight))
            cells.append(f"**{option}={weight}: {text}**" if weight == chosen[method] else f"{option}={weight}: {text}")
        lines.append(f"| {method_title(method)} | " + "; ".join(cells) + " |")
    titles = MODALITIES.get(sweep.target).benchmark_metrics
    rows = [(method, weight, values) for method, by_weight in document.get("metrics", {}).items()
            for weight, values in by_weight.items() if values is not None]
    if rows:
        lines += ["", "Each metric on the validation split (%):", "",
                  "| Method | Weight | " + " | ".join(titles.values()) + " |", "|---|---|" + "---:|" * len(titles)]
        for method, weight, values in rows:
            option = weight_option(method)[0]
            lines.append(f"| {method_title(method)} | {option}={weight} | " + " | ".join(_percent(*values[m]) for m in titles) + " |")
    lines += ["", machines_note([record for record in document.get("runs", []) if "error" not in record])]
    return "\n".join(lines) + "\n"


def parse_factors(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise InputError(f"--factors {text!r} must be comma-separated numbers, e.g. 0.1,1,10") from None


def sweep_methods(names: Sequence[str] | None) -> tuple[str, ...]:
    """The named methods, or every objective with a loss weight."""
    if names:
        return tuple(names)
    return tuple(name for name in OBJECTIVES.names() if _weight_name(name) is not None)
