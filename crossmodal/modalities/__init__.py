"""Target modalities, one registered object each (``MODALITIES``): depth and audio ship with the package.

A new modality is one module that subclasses ``Modality`` and decorates it with
``register_modality``; ``default_config(name)`` then gives its default experiment, and training,
evaluation and the benchmark find it by name.
"""
from __future__ import annotations

from typing import Any

from crossmodal.config import TrainConfig, apply_changes
from crossmodal.modalities import audio, depth  # noqa: F401  (registers the modalities)
from crossmodal.modalities.base import MODALITIES, Modality, all_data_sets, register_modality


def default_config(target: str = "depth") -> TrainConfig:
    """The default (CRD) experiment for ``target``: the TrainConfig defaults with its modality's changes,
    equal to configs/crd_<target>.yaml but needing no file. An unknown target is an InputError naming the known ones."""
    changes: dict[str, Any] = MODALITIES.get(target).default_experiment
    return apply_changes(TrainConfig(), changes, origin=f"the {target} defaults")


__all__ = ["MODALITIES", "Modality", "all_data_sets", "default_config", "register_modality"]
