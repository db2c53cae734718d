"""One self-contained HTML page of benchmarks and runs: what ``crossmodal-report`` and the benchmark write.

Everything is inline (the style sheet, and every picture as base64 PNG data), so the page opens
from disk or a mail attachment with no network and no file beside it. A benchmark folder gives,
per target, the command, its results table (mean ± spread over seeds), the bar chart with error
bars, the label-efficiency table and curves when measured, each method's training curves over
its seeds and the resolved config of its runs; a run folder gives its training curves, the scores
and pictures of its evaluations (segmentation examples: input, prediction, ground truth) and its
config.
"""
from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from crossmodal.engine.checkpoint import RUN_FILES
from crossmodal.engine.logging import numeric_values
from crossmodal.errors import InputError
from crossmodal.eval.catalog import PROTOCOLS
from crossmodal.experiments.evaluate import plain_setting
from crossmodal.experiments.grid import RESULTS_FILE
from crossmodal.experiments.label_table import label_efficiency_table, plot_label_curves
from crossmodal.experiments.report import markdown_table, method_title, plot_summary, table_metrics
from crossmodal.experiments.results_page import read_report
from crossmodal.fileio import write_text_atomically
from crossmodal.modalities import MODALITIES

REPORT_FILE = "report.html"
CONFIG_FILE, METRICS_FILE = RUN_FILES
CURVES = {
    "loss": "training loss (per logged step)",
    "diag/crd/pos_score": "CRD critic: positive pair score",
    "diag/crd/neg_score": "CRD critic: negative pair score",
    "lr": "learning rate",
}
"""metrics.jsonl key -> panel title of the training curves (a panel only when some run logged the key)."""
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; padding: 0 1em; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 100%; display: block; margin: 0.5em 0; }
code, pre { background: #f4f4f4; padding: 0.1em 0.3em; }
pre { padding: 0.6em; overflow-x: auto; }
"""


def write_html_report(paths: Sequence[Path], out: Path) -> Path:
    """``out``: one page of every benchmark folder (with report.json) and run folder (with metrics.jsonl) in ``paths``."""
    kinds = [kind_of(Path(path)) for path in paths]  # every path checked before any is rendered
    sections = [kind(Path(path)) for kind, path in zip(kinds, paths)]
    title = "crossmodal report: " + ", ".join(Path(path).name or str(path) for path in paths)
    document = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
                f"<style>{STYLE}</style></head>\n<body>\n<h1>{html.escape(title)}</h1>\n" + "\n".join(sections) + "\n</body></html>\n")
    write_text_atomically(out, document)
    return out


def kind_of(path: Path) -> Callable[[Path], str]:
    """How ``path`` is shown: a benchmark folder, or a run directory (or an evaluation's ``--out`` folder)."""
    if (path / RESULTS_FILE).is_file():
        return benchmark_section
    if (path / METRICS_FILE).is_file() or result_files(path):
        return run_section
    raise InputError(f"{path} is neither a benchmark folder (no {RESULTS_FILE}) nor a run directory (no {METRICS_FILE}) "
                     "nor a folder of evaluation results")


def result_files(folder: Path) -> list[Path]:
    """The evaluation results in ``folder``, each protocol's latest (the probes share probe.json)."""
    names = dict.fromkeys(PROTOCOLS.get(name).result_file for name in PROTOCOLS.names())
    return [folder / name for name in names if (folder / name).is_file()]


def benchmark_section(folder: Path) -> str:
    """Per target: the results table, its chart, label efficiency, training curves per method, the runs' configs."""
    report = read_report(folder / RESULTS_FILE)
    parts = [f"<h2>Benchmark {html.escape(str(folder))}</h2>", f"<p>Command: <code>{html.escape(report['command'])}</code></p>"]
    for target, section in report["targets"].items():
        records, methods = section["runs"], section["spec"]["methods"]
        metrics = table_metrics(target, records)
        parts.append(f"<h3>{html.escape(MODALITIES.get(target).benchmark_title)}</h3>")
        parts.append(f"<p>{html.escape(spec_line(section['spec']))}</p>")
        parts.append(markdown_table_html(markdown_table(records, methods, metrics)))
        with tempfile.TemporaryDirectory() as scratch:
            chart = plot_summary(records, methods, metrics, Path(scratch) / "chart.png", MODALITIES.get(target).benchmark_title)
            parts.append(image_tag(chart.read_bytes(), f"{target} results chart"))
            label_table = label_efficiency_table(records, methods)
            if label_table is not None:
                parts.append("<h4>Label efficiency</h4>" + markdown_table_html(label_table))
                curve = plot_label_curves(records, methods, Path(scratch) / "curve.png", f"{target}: label efficiency")
                parts.append(image_tag(curve.read_bytes(), f"{target} label-efficiency curves"))
        parts.append("<h4>Training curves (every seed)</h4>")
        for method in methods:
            runs = [(f"seed {r['seed']}", Path(r["run_dir"])) for r in records if r["method"] == method]
            curves = training_curves_png([(label, run) for label, run in runs if (run / METRICS_FILE).is_file()],
                                         method_title(method))
            if curves is not None:
                parts.append(image_tag(curves[0], f"{method} training curves: {'; '.join(curves[1])}"))
        first = next((Path(r["run_dir"]) for r in records if (Path(r["run_dir"]) / CONFIG_FILE).is_file()), None)
        if first is not None:
            parts.append(config_block(first, f"Resolved config of {first.name} (the other runs differ in method and seed)"))
    return "\n".join(parts)


def spec_line(spec: dict[str, Any]) -> str:
    """The grid's seeds and evaluation settings, in one line under its table's heading."""
    evaluation = ", ".join(f"{key}={','.join(map(str, value)) if isinstance(value, list) else value}"
                           for key, value in spec.get("evaluation", {}).items() if value not in (None, [], ()))
    return f"Seeds {', '.join(map(str, spec['seeds']))}; evaluation: {evaluation or 'defaults'}."


def run_section(run: Path) -> str:
    """A run's training curves, each evaluation's scores and picture, its config."""
    parts = [f"<h2>Run {html.escape(str(run))}</h2>"]
    if (run / METRICS_FILE).is_file():
        curves = training_curves_png([(run.name, run)], run.name)
        if curves is not None:
            parts.append(image_tag(curves[0], f"{run.name} training curves: {'; '.join(curves[1])}"))
    parts.extend(evaluation_html(result) for result in result_files(run))
    if (run / CONFIG_FILE).is_file():
        parts.append(config_block(run, "Resolved config"))
    return "\n".join(parts)


def evaluation_html(result: Path) -> str:
    """An evaluation's headline scores (every top-level number of its JSON), the command-line settings, its picture."""
    try:
        report = json.loads(result.read_text())
    except json.JSONDecodeError as error:
        raise InputError(f"{result} is not valid JSON ({error})") from None
    rows = list(numeric_values(report).items())
    body = "".join(f"<tr><td>{html.escape(key)}</td><td>{format_number(value)}</td></tr>" for key, value in rows)
    parts = [f"<h3>{html.escape(result.name)}</h3>"]
    if "evaluation" in report:
        parts.append(f"<p>Command: <code>{html.escape(evaluation_command(result.parent, report['evaluation']))}</code></p>")
    parts.append(f"<table><tr><th>score or setting</th><th>value</th></tr>{body}</table>")
    picture = result.with_suffix(".png")
    if picture.is_file():
        parts.append(image_tag(picture.read_bytes(), f"{result.stem} picture"))
    return "\n".join(parts)


def evaluation_command(run: Path, evaluation: dict[str, Any]) -> str:
    """The ``crossmodal-eval`` call that repeats an evaluation: its protocol and every setting that differs from the default."""
    defaults = dataclasses.asdict(PROTOCOLS.get(evaluation["protocol"]).settings_type())
    changed = [f"{key}={json.dumps(value, separators=(',', ':'))}" for key, value in evaluation["settings"].items()
               if key in defaults and value != plain_setting(defaults[key])]
    return f"crossmodal-eval {evaluation['protocol']} --run {run}" + (f" --set {' '.join(changed)}" if changed else "")


def format_number(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def markdown_table_html(markdown: str) -> str:
    """A markdown table (header, rule, rows) as an HTML table."""
    lines = [line.strip().strip("|").split("|") for line in markdown.strip().splitlines()]
    header, rows = lines[0], lines[2:]
    head = "".join(f"<th>{html.escape(cell.strip())}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell.strip())}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def read_metrics(run: Path) -> list[dict[str, Any]]:
    """The run's logged rows; a line cut short by a kill is skipped."""
    rows = []
    for line in (run / METRICS_FILE).read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def training_curves_png(runs: Sequence[tuple[str, Path]], title: str) -> tuple[bytes, list[str]] | None:
    """One panel per ``CURVES`` key some run logged, a line per run against the step, and the panels' titles;
    None when nothing was logged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    logged = [(label, [row for row in read_metrics(run) if "step" in row]) for label, run in runs]
    keys = [key for key in CURVES if any(key in row for _, rows in logged for row in rows)]
    if not keys:
        return None
    figure, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.2), squeeze=False)
    for axis, key in zip(axes[0], keys):
        for label, rows in logged:
            points = [(row["step"], row[key]) for row in rows if key in row]
            if points:
                steps, values = zip(*points)
                axis.plot(steps, values, label=label, linewidth=1)
        axis.set_title(CURVES[key], fontsize=9)
        axis.set_xlabel("step", fontsize=8)
        axis.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=7)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    picture = io.BytesIO()
    figure.savefig(picture, format="png", dpi=90)
    plt.close(figure)
    return picture.getvalue(), [CURVES[key] for key in keys]


def config_block(run: Path, caption: str) -> str:
    return (f"<details><summary>{html.escape(caption)}</summary><pre>"
            f"{html.escape((run / CONFIG_FILE).read_text())}</pre></details>")


def image_tag(png: bytes, alt: str) -> str:
    """An <img> whose PNG travels inside the page."""
    return f"<img alt=\"{html.escape(alt)}\" src=\"data:image/png;base64,{base64.b64encode(png).decode('ascii')}\">"
