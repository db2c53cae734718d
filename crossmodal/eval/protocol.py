"""What an evaluation protocol is: a registered object with a settings dataclass and a ``run`` that returns a report.

Each protocol module registers one subclass of ``EvalProtocol`` in ``PROTOCOLS``;
``crossmodal.eval.catalog`` imports the built-in ones. A modality lists the protocols that apply
to its students and those its benchmark judges with; ``crossmodal-eval PROTOCOL``, the probe and
segmentation commands, the benchmark grid and the demo all call the same ``run``, so a number
means the same wherever it is printed.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch

from crossmodal.eval.student import LoadedStudent
from crossmodal.registry import Registry

Say = Callable[[str], None]
WandbTable = tuple[list[str], list[list[Any]]]
"""A table for wandb: column names, then rows."""


def silent(line: str) -> None:
    """A ``say`` that prints nothing."""


class EvalProtocol:
    """Base of every protocol; subclasses set the class attributes and implement ``run`` and ``benchmark_settings``.

    A report has flat ``scores`` (for tables), a printable ``table`` and ``to_dict(student)`` (the
    JSON written into the run); a ``picture`` when it has one.

    ``settings_type``: its frozen settings dataclass (``crossmodal-eval --set key=value`` sets its
    fields). ``result_file``: the JSON report written into the evaluated run (a picture, when the
    report has one, beside it as a PNG of the same stem). ``timing_key``: the benchmark record's
    key for the protocol's seconds. ``table_columns``: record key -> column title of the scores a
    benchmark table shows when the protocol was judged beside the modality's own (fractions, shown as
    %). ``wandb_prefix``: the section its scores go under in the wandb
    "eval" job the evaluation commands log (default: its name).
    """

    name: ClassVar[str]
    title: ClassVar[str]
    settings_type: ClassVar[type[Any]]
    result_file: ClassVar[str]
    timing_key: ClassVar[str]
    table_columns: ClassVar[dict[str, str]] = {}
    wandb_prefix: ClassVar[str] = ""

    def run(self, student: LoadedStudent, settings: Any, device: torch.device, say: Say = silent) -> Any:
        """Fit on the labelled training part, score on the held-out part; ``say`` gets progress lines."""
        raise NotImplementedError

    def benchmark_settings(self, evaluation: Any, seed: int) -> Any:
        """The settings the benchmark runs this protocol with, from its shared ``EvalSettings`` and the run's seed."""
        raise NotImplementedError

    def benchmark_record(self, report: Any) -> dict[str, Any]:
        """The report's entries of a benchmark record (every score by default)."""
        return dict(report.scores)

    def benchmark_line(self, record: dict[str, Any], evaluation: Any) -> str:
        """One progress line of the benchmark for this protocol's part of ``record`` (judged with ``evaluation``)."""
        return f"{self.name} in {record[self.timing_key]:.0f} s"

    def wandb_scores(self, report: Any) -> dict[str, Any]:
        """What the wandb eval job records of ``report`` (its flat scores by default)."""
        return dict(report.scores)

    def wandb_tables(self, report: Any) -> dict[str, WandbTable]:
        """Tables the wandb eval job records (name -> columns, rows): by default a probe's accuracy per class."""
        details = getattr(report, "details", {})
        accuracy = details.get("per_class_accuracy", details.get("per_class_accuracy_over_folds"))
        if "class_names" not in details or accuracy is None:
            return {}
        return {"per_class": (["class", "accuracy"], [[name, value] for name, value in zip(details["class_names"], accuracy)])}

    @property
    def wandb_section(self) -> str:
        return self.wandb_prefix or self.name

    def wandb_name(self, report: Any) -> str:
        """The suffix of the wandb eval run's name (after the run directory's name)."""
        return self.name


PROTOCOLS: Registry[EvalProtocol] = Registry("evaluation protocol")


def register_protocol(cls: type[EvalProtocol]) -> type[EvalProtocol]:
    """Class decorator: register one instance of ``cls`` under ``cls.name``."""
    PROTOCOLS.register(cls.name)(cls())
    return cls
