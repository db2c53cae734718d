"""A wandb sweep document run with or without wandb: ``wandb sweep FILE`` hands its points to agents, and
``crossmodal-tune --sweep FILE`` trains every point of its grid here, judged the same way.

The document is wandb's own format (``method: grid``, ``metric``, ``parameters`` with ``value`` or
``values``); its parameters are config keys (``objective.options.tau``) and two fixed ones,
``data.target`` and ``objective.name``, pick the grid's target and method. A point is the target's
pinned benchmark schedule with the point's settings on top, judged on the validation split only
(the test data never takes part in a choice); its score is the metric's record key (the part after
the protocol section: ``scene-probe/probe_top1`` -> ``probe_top1``).
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from crossmodal.config import parse_setting
from crossmodal.engine.logging import numeric_values, update_run_summary
from crossmodal.errors import InputError
from crossmodal.eval.reports import EvalSettings
from crossmodal.experiments.grid import GridSpec, run_grids, run_one
from crossmodal.experiments.report import format_mean_spread, mean_std
from crossmodal.experiments.student_loading import load_trained_student
from crossmodal.fileio import write_json_atomically, write_text_atomically
from crossmodal.modalities import MODALITIES

FIXED = ("data.target", "objective.name")
"""Parameters that pick the grid rather than vary within it."""


@dataclass(frozen=True)
class SweepFile:
    """A parsed sweep document: the grid's target and method, the varied config keys and their values, the metric."""

    path: Path
    target: str
    method: str
    parameters: dict[str, tuple[Any, ...]]
    metric: str
    goal: str

    @property
    def record_key(self) -> str:
        return self.metric.split("/", 1)[-1]

    def points(self) -> list[dict[str, Any]]:
        """Every combination of the parameters' values, in the document's order."""
        keys = list(self.parameters)
        return [dict(zip(keys, values)) for values in itertools.product(*(self.parameters[key] for key in keys))]


def read_sweep_file(path: Path) -> SweepFile:
    """Parse and check a wandb grid sweep document; every mistake is one sentence naming the file."""
    try:
        document = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"sweep file {path} does not exist") from None
    except yaml.YAMLError as error:
        raise InputError(f"sweep file {path} is not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(document, dict) or document.get("method") != "grid":
        raise InputError(f"sweep file {path} must be a wandb sweep with method: grid (the other methods need wandb's server)")
    metric = document.get("metric") or {}
    parameters: dict[str, tuple[Any, ...]] = {}
    for key, spec in (document.get("parameters") or {}).items():
        if not isinstance(spec, dict) or ("values" not in spec and "value" not in spec):
            raise InputError(f"sweep file {path}: parameter {key!r} needs value: or values: (a grid takes no distributions)")
        parameters[key] = tuple(spec["values"]) if "values" in spec else (spec["value"],)
    fixed = {key: parameters.pop(key, (None,)) for key in FIXED}
    if any(len(values) != 1 or values[0] is None for values in fixed.values()):
        raise InputError(f"sweep file {path} must fix {' and '.join(FIXED)} with one value: each")
    target, method = (str(fixed[key][0]) for key in FIXED)
    if target not in MODALITIES:
        raise InputError(f"sweep file {path}: data.target {target!r} is not one of: {', '.join(MODALITIES.names())}")
    if not parameters or "name" not in metric or metric.get("goal", "maximize") not in ("maximize", "minimize"):
        raise InputError(f"sweep file {path} needs parameters to vary and metric: {{name: ..., goal: maximize or minimize}}")
    return SweepFile(Path(path), target, method, parameters, str(metric["name"]), str(metric.get("goal", "maximize")))


def point_name(sweep: SweepFile, point: dict[str, Any]) -> str:
    """A folder name for a point: the values of the parameters that vary (all, when none does), keys shortened to
    their last part, characters a path would trip on replaced."""
    varied = [key for key in point if len(sweep.parameters.get(key, ())) > 1] or list(point)
    name = "-".join(f"{key.rsplit('.', 1)[-1]}{point[key]}" for key in varied) or "point"
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", name)


def point_overrides(sweep: SweepFile, point: dict[str, Any]) -> tuple[str, ...]:
    """The pinned schedule, then the point's settings (values as YAML reads them back)."""
    settings = [f"{key}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}"
                for key, value in point.items()]
    return (*MODALITIES.get(sweep.target).demo_overrides, *settings)


def point_spec(sweep: SweepFile, point: dict[str, Any], seeds: tuple[int, ...], out: Path) -> GridSpec:
    return GridSpec((sweep.method,), seeds, out / sweep.target / point_name(sweep, point), point_overrides(sweep, point),
                    evaluation=EvalSettings(split="validation"), target=sweep.target)


def run_sweep_file(sweep: SweepFile, seeds: tuple[int, ...], out: Path, jobs: int, threads: int) -> dict[str, Any]:
    """Train and judge every point; writes (and returns) ``sweep.json`` and ``sweep.md`` in ``out``."""
    points = sweep.points()
    results = run_grids([point_spec(sweep, point, seeds, out) for point in points], jobs, threads, failures_allowed=True)
    rows: list[dict[str, Any]] = []
    for point, records in zip(points, results):
        finished = [float(r[sweep.record_key]) for r in records if "error" not in r and sweep.record_key in r]
        mean, spread = mean_std(finished) if len(finished) == len(seeds) else (None, None)
        rows.append({"point": point, "mean": mean, "std": None if spread is None or math.isnan(spread) else spread})
    scored = [row for row in rows if row["mean"] is not None]
    sign = 1.0 if sweep.goal == "maximize" else -1.0
    best = max(scored, key=lambda row: sign * float(row["mean"])) if scored else None
    document = {"sweep_file": str(sweep.path), "target": sweep.target, "method": sweep.method, "metric": sweep.metric,
                "goal": sweep.goal, "seeds": list(seeds), "points": rows, "chosen": None if best is None else best["point"],
                "runs": [record for records in results for record in records]}
    write_json_atomically(out / "sweep.json", document)
    write_text_atomically(out / "sweep.md", sweep_file_table(sweep, document))
    return document


SUMMARY_SECTION = "validation"
"""Where an agent's point puts its validation scores in its wandb run's summary (the sweep's metric names one)."""


def run_sweep_point(arguments: list[str], out: Path, seed: int = 0) -> dict[str, Any]:
    """One point handed over by a wandb agent (``key=value`` arguments, the fixed ones among them): trained with
    wandb on, judged on the validation split as ``run_sweep_file`` judges it, its numeric scores then written into
    the run's summary under ``validation/``, where the sweep's metric finds them."""
    point = dict(parse_setting(argument, what="sweep point argument", shape="key=value") for argument in arguments)
    fixed = [point.pop(key, None) for key in FIXED]
    if None in fixed:
        raise InputError(f"a sweep point needs {' and '.join(FIXED)} among its arguments")
    sweep = SweepFile(Path("<agent>"), str(fixed[0]), str(fixed[1]), {key: (value,) for key, value in point.items()}, "", "maximize")
    spec = point_spec(sweep, point, (seed,), out)
    spec = dataclasses.replace(spec, overrides=(*spec.overrides, "run.wandb=auto"))
    record = run_one(spec, sweep.method, seed)
    student = load_trained_student(record["run_dir"])
    if student.wandb_id is not None:
        scores = {f"{SUMMARY_SECTION}/{key}": value for key, value in numeric_values(record).items()}
        update_run_summary(student.config.run.wandb, student.config.experiment, record["run_dir"], student.wandb_id, scores)
    return record


def sweep_file_table(sweep: SweepFile, document: dict[str, Any]) -> str:
    """Markdown: one row per point, its validation score (mean ± spread over seeds), the chosen point in bold."""
    keys = list(sweep.parameters)
    lines = [f"Sweep {sweep.path} ({sweep.method} on {sweep.target}): validation {sweep.metric} (%), mean ± sample "
             f"standard deviation over seeds {', '.join(map(str, document['seeds']))}; '—': a seed failed.", "",
             "| " + " | ".join(keys) + " | Validation score |", "|" + "---|" * len(keys) + "---:|"]
    for row in document["points"]:
        score = "—" if row["mean"] is None else format_mean_spread(row["mean"], math.nan if row["std"] is None else row["std"])
        if row["point"] == document["chosen"]:
            score = f"**{score}**"
        lines.append("| " + " | ".join(str(row["point"][key]) for key in keys) + f" | {score} |")
    return "\n".join(lines) + "\n"
