"""What a target modality is: one registered object that owns everything specific to it.

A modality says what its students take (images or waveforms) and with how many channels, which
data sets it trains on, how a pair is transformed, what its default experiment changes, which
evaluation protocols apply to its students (and which the benchmark judges with, in which columns)
and how to draw one of its samples. The rest of the program asks ``MODALITIES``; nothing else
compares modality names, so a new modality is one module that registers one object.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from crossmodal.config import DataConfig, TrainConfig
from crossmodal.data.batch_augment import PairedBatchAugment
from crossmodal.data.catalog import DataSetKind, data_sets_of
from crossmodal.errors import InputError
from crossmodal.eval.reports import EvalSettings, ProbeSettings
from crossmodal.models.student_registry import student_takes
from crossmodal.registry import Registry


class Modality:
    """Base of every target modality; subclasses set the class attributes, ``transform`` and ``render``.

    ``name``: the ``--target`` value and the item key its data sets fill. ``takes``: what its
    students take ("image" or "waveform"). ``default_experiment``: what its default (CRD)
    experiment changes in the TrainConfig defaults, i.e. configs/crd_<name>.yaml. ``experiments``: the core benchmark methods -> their
    experiment files. ``base_experiment``: the file those share, which every other registered
    objective (the zoo) trains from with its own name and default options.
    ``benchmark_metrics``: record key -> column title (fractions, shown as %). ``demo_overrides``:
    what the demo and benchmark pin on top of the experiment files. ``protocols``: the registered
    evaluation protocols that apply to its students (``crossmodal.eval.catalog``);
    ``benchmark_protocols``: those the benchmark judges every student with, in order.
    ``probe_tasks``: ``crossmodal-probe --labels`` task -> its protocol, the default first.
    """

    name: ClassVar[str]
    takes: ClassVar[str]
    default_experiment: ClassVar[dict[str, Any]] = {}
    experiments: ClassVar[dict[str, str]] = {}
    base_experiment: ClassVar[str] = ""
    benchmark_title: ClassVar[str] = ""
    benchmark_metrics: ClassVar[dict[str, str]] = {}
    demo_overrides: ClassVar[tuple[str, ...]] = ()
    protocols: ClassVar[tuple[str, ...]] = ()
    benchmark_protocols: ClassVar[tuple[str, ...]] = ()
    probe_tasks: ClassVar[dict[str, str]] = {}
    example_student: ClassVar[str] = ""

    def experiment_file(self, method: str) -> str:
        """The experiment file a benchmark run of ``method`` loads: its own, or the shared base."""
        return self.experiments.get(method, self.base_experiment)

    # ------------------------------------------------------------------ data

    def channels(self, data: DataConfig) -> int:
        """Input channels of a student for data shaped by ``data`` (e.g. per depth encoding)."""
        return 1

    @property
    def data_sets(self) -> tuple[DataSetKind, ...]:
        """The catalog's data sets that pair RGB with this modality, the default experiment's first."""
        return data_sets_of(self.name, default=self.default_experiment.get("data", {}).get("name"))

    def data_set(self, name: str) -> DataSetKind:
        for kind in self.data_sets:
            if kind.name == name:
                return kind
        raise InputError(
            f"data set {name!r} has no {self.name} to pair with rgb; for --target {self.name} use --data "
            + ", ".join(kind.name for kind in self.data_sets)
        )

    def transform(self, data: DataConfig, train: bool) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """Raw item -> batch-contract sample ("source", "target", "index", ...); ``train`` adds augmentation."""
        raise NotImplementedError

    def batch_augment(self, data: DataConfig) -> PairedBatchAugment:
        """The training augmentation split for ``data.augment_on: device``: a compact step per item, the rest per batch
        on the training device, with the per-sample transform's settings."""
        raise InputError(f"target {self.name} has no device augmentation yet; set data.augment_on=host")

    def check_student(self, name: str, in_channels: int, data: DataConfig, origin: str) -> None:
        """A student architecture must take this modality's input kind with its channel count."""
        takes = student_takes(name)
        if takes != self.takes:
            raise InputError(
                f"{origin}: student {name!r} takes {takes}s, but target {self.name!r} needs a student that takes "
                f"{self.takes}s (set student.name, e.g. {self.example_student})"
            )
        channels = self.channels(data)
        if in_channels != channels:
            raise InputError(f"{origin}: a {name!r} student with {in_channels} input channels; {self.name} students take {channels}")

    # ------------------------------------------------------------ evaluation

    def benchmark_notes(self, config: TrainConfig, evaluation: EvalSettings, first: dict[str, Any]) -> list[str]:
        """How a benchmark section's numbers were made (data, protocols), for its report."""
        return []

    def render(self, sample: torch.Tensor) -> np.ndarray:
        """One target sample (as in a batch, without the batch axis) -> H x W x 3 uint8 picture."""
        raise NotImplementedError

    def probe_task(self, settings: ProbeSettings) -> str:
        """The probe task ``settings`` ask for (None: the first), checked against this modality's."""
        task = settings.task or next(iter(self.probe_tasks))
        if task not in self.probe_tasks:
            raise InputError(
                f"probe task {task!r} does not apply to {self.name} students; their tasks: {', '.join(self.probe_tasks)}"
            )
        return task


MODALITIES: Registry[Modality] = Registry("target modality")


def register_modality(cls: type[Modality]) -> type[Modality]:
    """Class decorator: register one instance of ``cls`` under ``cls.name``."""
    MODALITIES.register(cls.name)(cls())
    return cls


def all_data_sets() -> Sequence[tuple[str, DataSetKind]]:
    """(modality, data set kind) for every registered modality's data sets, modalities by name, each's default first."""
    return [(name, kind) for name in MODALITIES for kind in MODALITIES.get(name).data_sets]

