"""The evaluation protocols as library calls: ``evaluate`` (any protocol by name), ``probe_run``, ``segment_run`` and ``judge``.

A protocol applies to a student when the student's modality lists it; the console commands, the
benchmark grid and the demo all go through ``evaluate``, so a number means the same wherever it is
printed.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from crossmodal.engine.logging import EvaluationLog, log_evaluation, numeric_values
from crossmodal.errors import InputError
from crossmodal.eval.catalog import PROTOCOLS, EvalProtocol
from crossmodal.eval.protocol import Say, silent
from crossmodal.eval.render import save_png
from crossmodal.eval.reports import EvalSettings, ProbeReport, ProbeSettings, SegmentReport, SegmentSettings
from crossmodal.eval.student import LoadedStudent
from crossmodal.experiments.student_loading import RANDOM_INIT_SEED, random_init_dir
from crossmodal.fileio import write_json_atomically
from crossmodal.modalities import MODALITIES

SEGMENTATION = "segmentation"
EVALUATIONS_DIR = "evaluations"
"""Inside an output directory: every evaluation's result under a name keyed by its protocol, network and settings."""
UNKEYED_FIELDS = ("feature_cache",)
"""Settings fields that say where intermediate files are kept, never what is scored: left out of a result's key."""


def protocol_for(student: LoadedStudent, name: str) -> EvalProtocol:
    """The registered protocol ``name``, checked to apply to ``student``'s modality."""
    protocol = PROTOCOLS.get(name)
    modality = MODALITIES.get(student.modality)
    if name not in modality.protocols:
        raise InputError(
            f"evaluation protocol {name!r} does not apply to {modality.name} students; theirs: {', '.join(modality.protocols)}"
        )
    return protocol


def evaluate(
    name: str, student: LoadedStudent, settings: Any = None, device: torch.device | str = "cpu", say: Say = silent
) -> Any:
    """Run protocol ``name`` on ``student`` with ``settings`` (None: the protocol's defaults); returns its report."""
    protocol = protocol_for(student, name)
    chosen = protocol.settings_type() if settings is None else settings
    if not isinstance(chosen, protocol.settings_type):
        raise InputError(f"protocol {name!r} takes {protocol.settings_type.__name__}, not {type(chosen).__name__}")
    return protocol.run(student, chosen, torch.device(device), say)


def probe_run(
    student: LoadedStudent, settings: ProbeSettings = ProbeSettings(), device: torch.device | str = "cpu", say: Say = silent
) -> ProbeReport:
    """The linear probe of ``student``'s frozen pooled features: the protocol of the probe task ``settings`` name (None: the modality's first)."""
    modality = MODALITIES.get(student.modality)
    return evaluate(modality.probe_tasks[modality.probe_task(settings)], student, settings, device, say)


def segment_run(
    student: LoadedStudent, settings: SegmentSettings = SegmentSettings(), device: torch.device | str = "cpu", say: Say = silent
) -> SegmentReport:
    """A segmentation head on ``student``'s stage maps (InputError if its modality has no dense labels)."""
    return evaluate(SEGMENTATION, student, settings, device, say)


def judge(student: LoadedStudent, evaluation: EvalSettings, seed: int, device: torch.device, say: Say) -> dict[str, Any]:
    """The benchmark's scores of one student: each of its modality's benchmark protocols, timed, in one record."""
    record: dict[str, Any] = {}
    for name in benchmark_protocols(student.modality, evaluation):
        protocol = protocol_for(student, name)
        start = time.perf_counter()
        report = protocol.run(student, protocol.benchmark_settings(evaluation, seed), device, silent)
        record.update(protocol.benchmark_record(report))
        record[protocol.timing_key] = round(time.perf_counter() - start, 1)
        say(protocol.benchmark_line(record, evaluation))
    return record


def benchmark_protocols(modality: str, evaluation: EvalSettings) -> list[str]:
    """The protocols the benchmark judges a ``modality`` student with: the modality's, then the extra ones that apply to it."""
    own = MODALITIES.get(modality)
    return [*own.benchmark_protocols,
            *(name for name in evaluation.extra_protocols if name in own.protocols and name not in own.benchmark_protocols)]


def evaluation_key(name: str, student: LoadedStudent, settings: Any) -> tuple[str, dict[str, Any]]:
    """The name an evaluation's result is kept under (``<protocol>-<digest>``) and the settings it digests.

    The digest covers the protocol, the network's weights and every settings field that can change a
    score, so an evaluation with other settings (or of another network into the same ``--out``) never
    overwrites an earlier one, and the same evaluation run again replaces its own result.
    """
    fields = {key: plain_setting(value) for key, value in dataclasses.asdict(settings).items() if key not in UNKEYED_FIELDS}
    described = {"protocol": name, "network": student.fingerprint, "student": student.description, "settings": fields}
    digest = hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:12]
    return f"{name}-{digest}", fields


def plain_setting(value: Any) -> Any:
    """A settings value as JSON keeps it: paths resolved (two spellings of one file are one key), tuples as lists."""
    if isinstance(value, Path):
        return str(value.resolve())
    if isinstance(value, (tuple, list)):
        return [plain_setting(item) for item in value]
    return value


def reference_scores(name: str, student: LoadedStudent, settings: Any) -> tuple[Path, dict[str, float]] | None:
    """The scores of the random-init reference of ``student``'s architecture under the same protocol and settings,
    when that evaluation has been run (``--random-init ARCH --like RUN``); None otherwise and for a reference itself."""
    if RANDOM_INIT_SEED in student.extra:
        return None
    _, fields = evaluation_key(name, student, settings)
    pattern = random_init_dir(student.config, str(student.spec["name"]), int(student.spec["width"]), "*")
    for result in sorted(pattern.parent.glob(f"{pattern.name}/{EVALUATIONS_DIR}/{name}-*.json")):
        document = json.loads(result.read_text())
        if document.get("evaluation", {}).get("settings") == fields:
            return result, document.get("scores", {})
    return None


def reference_line(name: str, student: LoadedStudent, scores: dict[str, Any], reference: tuple[Path, dict[str, float]] | None) -> str:
    """What the scores mean beside an untrained network of the same architecture: its scores, or how to get them."""
    if RANDOM_INIT_SEED in student.extra:
        return "this is the random-init reference: a trained student of this architecture should score above it"
    if reference is None:
        return (f"random init of this architecture not scored with these settings yet: the same command with "
                f"--random-init {student.spec['name']} --like RUN gives the reference")
    path, theirs = reference
    titles = score_titles(student.modality)
    shown = [f"{titles[key]} {100 * theirs[key]:.1f}% (here {100 * scores[key]:.1f}%)"
             for key in titles if key in theirs and key in scores]
    return f"random init of this architecture ({path}): " + ("; ".join(shown) or "no score in common")


def score_titles(modality: str) -> dict[str, str]:
    """Score key -> its name (the table titles without their unit), for the modality's and every protocol's columns."""
    columns = dict(MODALITIES.get(modality).benchmark_metrics)
    for protocol in (PROTOCOLS.get(name) for name in PROTOCOLS.names()):
        columns.update(protocol.table_columns)
    return {key: title.removesuffix(" (%)") for key, title in columns.items()}


def write_report(
    name: str, report: Any, student: LoadedStudent, settings: Any, out: Path, wandb: str | None = None
) -> list[Path]:
    """Write ``report`` into ``out`` and, with a wandb mode, log it as an eval job.

    The result goes to ``out/evaluations/<protocol>-<digest>.json`` (see ``evaluation_key``) and, as the
    latest of its protocol, to the protocol's own file (``probe.json``, ``segment.json``, ...); a
    picture, when the report has one, beside each as ``.png``.
    """
    protocol = PROTOCOLS.get(name)
    key, fields = evaluation_key(name, student, settings)
    latest = out / protocol.result_file
    keyed = out / EVALUATIONS_DIR / f"{key}.json"
    keyed.parent.mkdir(parents=True, exist_ok=True)
    result = {**report.to_dict(student), "scores": numeric_values(report.scores), "evaluation": {"protocol": name, "key": key, "settings": fields}}
    written = []
    for path in (latest, keyed):
        write_json_atomically(path, result)
        written.append(path)
    picture = getattr(report, "picture", None)
    if picture is not None:  # encoded once, copied to the latest
        save_png(picture, keyed.with_suffix(".png"))
        shutil.copyfile(keyed.with_suffix(".png"), latest.with_suffix(".png"))
        written += [latest.with_suffix(".png"), keyed.with_suffix(".png")]
    if wandb is not None:
        config = {field: value for field, value in result.items() if field not in ("confusion", "class_names", "train_losses")}
        log = EvaluationLog(
            name=f"{student.run_dir.name}-{protocol.wandb_name(report)}",
            config={**config, "train_wandb_id": student.wandb_id, "run_dir": str(student.run_dir)},
            scores=protocol.wandb_scores(report), section=protocol.wandb_section, image=picture,
            tables=protocol.wandb_tables(report),
        )
        log_evaluation(wandb, student.config.experiment, out, log, train_run_id=student.wandb_id)
    return written
