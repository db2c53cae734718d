"""Per-seed results of the method grid -> mean ± standard deviation per method and metric, a markdown table, a bar chart.

The table is what the README shows, so it is built from the recorded numbers only: no
rounding before averaging, the standard deviation is the sample one (n - 1) over seeds, and a
single seed prints its value alone rather than a "± 0.0" that would claim a spread was measured.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from crossmodal.distill import OBJECTIVES
from crossmodal.eval.catalog import PROTOCOLS
from crossmodal.machine import UNRECORDED
from crossmodal.modalities import MODALITIES


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1); the deviation of one value is NaN (not measured)."""
    if not values:
        raise ValueError("mean_std needs at least one value")
    mean = math.fsum(values) / len(values)
    if len(values) == 1:
        return mean, math.nan
    variance = math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(variance)


def format_mean_std(values: Sequence[float], scale: float = 100.0, digits: int = 1) -> str:
    """``"41.3 ± 2.0"`` (values times ``scale``); one value prints alone."""
    return format_mean_spread(*mean_std(values), scale=scale, digits=digits)


def format_mean_spread(mean: float, spread: float, scale: float = 100.0, digits: int = 1) -> str:
    """``format_mean_std`` of a mean and spread already computed; a NaN spread (one value) prints the mean alone."""
    if math.isnan(spread):
        return f"{scale * mean:.{digits}f}"
    return f"{scale * mean:.{digits}f} ± {scale * spread:.{digits}f}"


def method_title(method: str) -> str:
    """The objective's own table title (its class attribute ``title``), else its registered name."""
    return OBJECTIVES.get(method).title if method in OBJECTIVES else method


def table_metrics(target: str, records: Sequence[dict[str, Any]]) -> dict[str, str]:
    """A target's table columns: its modality's benchmark metrics, then the columns of every other protocol whose
    scores the records hold (one judged beside the modality's own, e.g. ``--protocols scene-knn``)."""
    metrics = dict(MODALITIES.get(target).benchmark_metrics)
    for name in PROTOCOLS.names():
        for key, title in PROTOCOLS.get(name).table_columns.items():
            if records and all(key in record for record in records):
                metrics.setdefault(key, title)
    return metrics


def collect(
    records: Sequence[dict[str, Any]], methods: Sequence[str], metrics: dict[str, str]
) -> dict[str, dict[str, list[float]]]:
    """method -> metric -> the per-seed values, in record order; methods without records are left out."""
    table: dict[str, dict[str, list[float]]] = {}
    for method in methods:
        rows = [r for r in records if r["method"] == method]
        if rows:
            table[method] = {metric: [float(r[metric]) for r in rows] for metric in metrics}
    return table


def summarise(
    records: Sequence[dict[str, Any]], methods: Sequence[str], metrics: dict[str, str]
) -> dict[str, dict[str, dict[str, Any]]]:
    """method -> metric -> {"mean", "std" (None for one seed), "n", "values"}: the JSON form of the table."""
    summary: dict[str, dict[str, dict[str, Any]]] = {}
    for method, metric_values in collect(records, methods, metrics).items():
        summary[method] = {}
        for metric, values in metric_values.items():
            mean, std = mean_std(values)
            summary[method][metric] = {"mean": mean, "std": None if math.isnan(std) else std, "n": len(values), "values": values}
    return summary


def mean_ranks(table: dict[str, dict[str, list[float]]], metrics: Sequence[str]) -> dict[str, float]:
    """method -> its rank by mean (1 = highest), averaged over ``metrics``; tied means share the better rank."""
    ranks: dict[str, list[int]] = {method: [] for method in table}
    for metric in metrics:
        means = {method: mean_std(values[metric])[0] for method, values in table.items()}
        for method, mean in means.items():
            ranks[method].append(1 + sum(other > mean for other in means.values()))
    return {method: sum(r) / len(r) for method, r in ranks.items()}


def markdown_table(records: Sequence[dict[str, Any]], methods: Sequence[str], metrics: dict[str, str], ranked: bool = False) -> str:
    """One row per method (in ``methods`` order), one column per metric, cells "mean ± std" in percent.

    ``ranked`` adds a last column: the method's rank by mean on each metric, averaged over the metrics.
    """
    table = collect(records, methods, metrics)
    ranks = mean_ranks(table, list(metrics)) if ranked else {}
    titles = [*metrics.values(), *(["Mean rank"] if ranked else [])]
    lines = ["| Method | " + " | ".join(titles) + " |", "|---|" + "---:|" * len(titles)]
    for method, values in table.items():
        cells = [format_mean_std(values[metric]) for metric in metrics] + ([f"{ranks[method]:.1f}"] if ranked else [])
        lines.append(f"| {method_title(method)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_summary(
    records: Sequence[dict[str, Any]], methods: Sequence[str], metrics: dict[str, str], path: Path, title: str = ""
) -> Path:
    """Grouped bar chart (one group per metric, one bar per method, error bars = std over seeds, none for one seed) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = collect(records, methods, metrics)
    shown = list(table)
    width = 0.8 / max(1, len(shown))
    many = len(shown) > 5  # the zoo: a wider chart, 20 distinct colours, the legend beside the bars
    figure, axes = plt.subplots(figsize=(12, 4.5) if many else (8, 4), dpi=120)
    colours = cast(Any, plt.get_cmap("tab20")).colors if many else plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for position, method in enumerate(shown):
        stats = [mean_std(table[method][metric]) for metric in metrics]
        means = [100 * mean for mean, _ in stats]
        errors = None if math.isnan(stats[0][1]) else [100 * std for _, std in stats]
        offsets = [k + (position - (len(shown) - 1) / 2) * width for k in range(len(metrics))]
        axes.bar(offsets, means, width, yerr=errors, capsize=2 if many else 3, label=method_title(method),
                 color=colours[position % len(colours)])
    axes.set_xticks(range(len(metrics)), list(metrics.values()))
    axes.set_ylabel("%")
    axes.set_ylim(0, 100)
    axes.grid(axis="y", alpha=0.3)
    if many:
        axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        axes.legend(fontsize="small", ncols=min(len(shown), 5), loc="upper center")
    if title:
        axes.set_title(title, fontsize="medium")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def report_section(title: str, table: str, notes: Sequence[str], chart: str | None = None) -> str:
    """One part of the report file: a heading, the table, the settings that produced it as a list, the chart."""
    parts = [f"## {title}", table, "\n".join(f"- {note}" for note in notes)]
    if chart:
        parts.append(f"![{title}]({chart})")
    return "\n\n".join(parts) + "\n"


def machines_note(records: Sequence[dict[str, Any]]) -> str:
    """Which kind of machine trained the runs: seeded numbers repeat bit for bit on one kind only (crossmodal.machine)."""
    counts = Counter(machine for record in records for machine in record.get("machines", [UNRECORDED]))
    if len(counts) <= 1:
        return f"Trained on: {next(iter(counts), 'no training (every run untrained)')}."
    kinds = "; ".join(f"{machine} ({count} run{'' if count == 1 else 's'})" for machine, count in sorted(counts.items()))
    return f"Trained on {len(counts)} kinds of machine, so the numbers repeat only on the same mix: {kinds}."
