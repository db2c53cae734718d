"""The evaluation protocols as library calls: ``evaluate`` (any protocol by name), ``probe_run``, ``segment_run`` and ``judge``.

A protocol applies to a student when the student's modality lists it; the console commands, the
benchmark grid and the demo all go through ``evaluate``, so a number means the same wherever it is
printed.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from crossmodal.engine.logging import log_evaluation
from crossmodal.errors import InputError
from crossmodal.eval.catalog import PROTOCOLS, EvalProtocol
from crossmodal.eval.protocol import Say, silent
from crossmodal.eval.render import save_png
from crossmodal.eval.reports import EvalSettings, ProbeReport, ProbeSettings, SegmentReport, SegmentSettings
from crossmodal.eval.student import LoadedStudent
from crossmodal.fileio import write_json_atomically
from crossmodal.modalities import MODALITIES

SEGMENTATION = "segmentation"


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


def write_report(name: str, report: Any, student: LoadedStudent, out: Path, wandb: str | None = None) -> list[Path]:
    """Write ``report`` into ``out`` (the protocol's JSON file, its picture beside it) and, with a wandb mode, log it as an eval job."""
    protocol = PROTOCOLS.get(name)
    out.mkdir(parents=True, exist_ok=True)
    result_path = out / protocol.result_file
    written = []
    picture = getattr(report, "picture", None)
    if picture is not None:
        written.append(result_path.with_suffix(".png"))
        save_png(picture, written[-1])
    result = report.to_dict(student)
    write_json_atomically(result_path, result)
    written.insert(0, result_path)
    if wandb is not None:
        config = {key: value for key, value in result.items() if key not in ("confusion", "class_names", "train_losses")}
        log_evaluation(
            wandb, student.config.experiment, f"{student.run_dir.name}-{protocol.wandb_name(report)}",
            {**config, "train_wandb_id": student.wandb_id, "run_dir": str(student.run_dir)}, out,
            protocol.wandb_scores(report), picture, section=protocol.wandb_section,
        )
    return written
