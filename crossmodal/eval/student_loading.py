"""The network an evaluation judges: a trained student from a run, or an untrained one as the reference.

A trained student is rebuilt from the checkpoint's own ``student_spec`` and config, so the
evaluation sees the exact architecture and input shaping it was trained with. The random-init
reference answers "what does distillation add over an untrained network of the same shape?".
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from crossmodal.config import TrainConfig, config_from_dict, default_config
from crossmodal.data.build import TARGET_CHANNELS, check_student_input, student_input
from crossmodal.engine.checkpoint import checkpoint_path, load_checkpoint
from crossmodal.errors import InputError
from crossmodal.eval.extract import weights_fingerprint
from crossmodal.models.students import build_student

@dataclass
class LoadedStudent:
    """A frozen student in eval mode and what evaluation needs to know about where it came from.

    ``config``: the training config (for a random-init reference, the defaults or another run's,
    with the chosen architecture). ``run_dir``: where results are written by default.
    ``wandb_id``: the training run's wandb id, for linking evaluation to it.
    """

    model: nn.Module
    config: TrainConfig
    spec: dict[str, Any]
    description: str
    fingerprint: str
    run_dir: Path
    checkpoint: Path | None = None
    epoch: int | None = None
    wandb_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def freeze(model: nn.Module) -> nn.Module:
    """No gradients, eval mode: evaluation must not change the network it measures."""
    model.requires_grad_(False)
    return model.eval()


def _check_modality(config: TrainConfig, spec: dict[str, Any], origin: str, modality: str) -> None:
    if config.data.target != modality:
        raise InputError(
            f"{origin} holds a {config.data.target!r} student, but this evaluation needs a {modality!r} student"
        )
    channels = TARGET_CHANNELS.get(modality)
    if channels is not None and spec.get("in_channels") != channels:
        raise InputError(
            f"{origin} holds a student with {spec.get('in_channels')} input channels; {modality} students take {channels}"
        )


def load_trained_student(run_or_file: str | os.PathLike[str], modality: str | None = "depth") -> LoadedStudent:
    """Rebuild and load the student of a run directory (its last.pt) or of a checkpoint file, frozen.

    ``modality``: the target the evaluation needs; None accepts whatever the run trained.
    """
    path = checkpoint_path(run_or_file)
    state = load_checkpoint(path)
    spec, weights, values = state.get("student_spec"), state.get("student"), state.get("config")
    if not isinstance(spec, dict) or not isinstance(weights, dict) or not isinstance(values, dict):
        raise InputError(f"checkpoint {path} lacks the student spec, weights or config it should carry")
    config = config_from_dict(values, origin=f"the config stored in {path}")
    _check_modality(config, spec, f"checkpoint {path}", modality or config.data.target)
    model = build_student(**spec)
    check_student_input(model, str(spec.get("name")), config.data.target)
    try:
        model.load_state_dict(weights)
    except RuntimeError:
        raise InputError(
            f"checkpoint {path} holds weights that do not fit a {spec.get('name')!r} student of width {spec.get('width')}"
        ) from None
    run_dir = path.parent
    return LoadedStudent(
        model=freeze(model),
        config=config,
        spec=dict(spec),
        description=f"{spec.get('name')} (width {spec.get('width')}) from {path}",
        fingerprint=weights_fingerprint(model),
        run_dir=run_dir,
        checkpoint=path,
        epoch=state.get("epoch"),
        wandb_id=state.get("wandb_id"),
    )


def random_init_student(
    name: str,
    width: int,
    modality: str = "depth",
    seed: int = 0,
    config: TrainConfig | None = None,
) -> LoadedStudent:
    """An untrained student (Kaiming init from ``seed``), frozen; ``config`` (default: the modality's
    default experiment) supplies data and input shaping.

    Its results go to ``<runs_dir>/random-init-<arch>-w<width>-seed<seed>``.
    """
    if modality not in TARGET_CHANNELS:
        raise InputError(f"modality {modality!r} has no student input shape; known: {', '.join(TARGET_CHANNELS)}")
    config = config or default_config(modality)
    config = replace(
        config, student=replace(config.student, name=name, width=width), data=replace(config.data, target=modality)
    )
    spec = {"name": name, "in_channels": TARGET_CHANNELS[modality], "width": width, "num_classes": None}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_student(**spec)
    check_student_input(model, name, modality)
    return LoadedStudent(
        model=freeze(model),
        config=config,
        spec=spec,
        description=f"{name} (width {width}), random init, seed {seed}",
        fingerprint=weights_fingerprint(model),
        run_dir=Path(config.run.runs_dir) / f"random-init-{name}-w{width}-seed{seed}",
        extra={"random_init_seed": seed},
    )


def select_student(
    run: str | os.PathLike[str] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    random_init: str | None = None,
    width: int | None = None,
    like: str | os.PathLike[str] | None = None,
    seed: int = 0,
    modality: str | None = "depth",
) -> LoadedStudent:
    """Exactly one of a run directory, a checkpoint file or a random-init architecture.

    A random-init reference takes its data and input shaping from the run ``like`` (so it is
    compared on equal terms), else from the default config of its modality.
    ``modality`` None: whatever the run trained; for a random init, the ``like`` run's target,
    else what the architecture takes (waveform students are audio students).
    """
    if sum(value is not None for value in (run, checkpoint, random_init)) != 1:
        raise InputError("give exactly one of --run RUN, --checkpoint FILE or --random-init ARCH")
    if random_init is None and (width is not None or like is not None):
        raise InputError("--width and --like describe a --random-init reference; a trained student brings its own")
    if run is not None:
        if not Path(run).exists():
            raise InputError(f"run directory {run} does not exist (--run)")
        if not Path(run).is_dir():
            raise InputError(f"--run {run} is not a run directory (use --checkpoint for a checkpoint file)")
        return load_trained_student(run, modality)
    if checkpoint is not None:
        if Path(checkpoint).is_dir():
            raise InputError(f"--checkpoint {checkpoint} is a directory (use --run for a run directory)")
        return load_trained_student(checkpoint, modality)
    like_config = _trained_config(like) if like is not None else None
    if modality is None:
        modality = like_config.data.target if like_config is not None else _modality_of(str(random_init))
    config = like_config or default_config(modality)
    return random_init_student(str(random_init), width or config.student.width, modality, seed, config)


def _modality_of(name: str) -> str:
    """The target an architecture is built for: audio for waveform students, else depth."""
    return "audio" if student_input(build_student(name, width=1)) == "waveform" else "depth"


def _trained_config(run_or_file: str | os.PathLike[str]) -> TrainConfig:
    path = checkpoint_path(run_or_file)
    values = load_checkpoint(path).get("config")
    if not isinstance(values, dict):
        raise InputError(f"checkpoint {path} carries no training config")
    return config_from_dict(values, origin=f"the config stored in {path}")
