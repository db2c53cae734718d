"""The network an evaluation judges: a trained student from a run, or an untrained one as the reference.

A trained student is rebuilt from the checkpoint's own ``student_spec``, config and recorded
modality, so the evaluation sees the exact architecture and input shaping it was trained with.
The random-init reference answers "what does distillation add over an untrained network of the
same shape?"; its modality is said, never guessed: the ``like`` run's, else the one asked for.
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from crossmodal.config import TrainConfig, config_from_dict
from crossmodal.engine.checkpoint import checkpoint_path, load_checkpoint
from crossmodal.errors import InputError
from crossmodal.eval.extract import weights_fingerprint
from crossmodal.eval.student import LoadedStudent
from crossmodal.modalities import MODALITIES, default_config
from crossmodal.models.frozen import freeze
from crossmodal.models.student_registry import build_student


def _check_fits(modality: str, config: TrainConfig, spec: dict[str, Any], origin: str) -> None:
    MODALITIES.get(modality).check_student(str(spec.get("name")), int(spec.get("in_channels", 0)), config.data, origin)


def load_trained_student(run_or_file: str | os.PathLike[str]) -> LoadedStudent:
    """Rebuild and load the student of a run directory (its last.pt) or of a checkpoint file, frozen."""
    path = checkpoint_path(run_or_file)
    state = load_checkpoint(path)
    spec, weights, values = state.get("student_spec"), state.get("student"), state.get("config")
    if not isinstance(spec, dict) or not isinstance(weights, dict) or not isinstance(values, dict):
        raise InputError(f"checkpoint {path} lacks the student spec, weights or config it should carry")
    config = config_from_dict(values, origin=f"the config stored in {path}")
    modality = str(state.get("modality", config.data.target))
    _check_fits(modality, config, spec, f"checkpoint {path}")
    model = build_student(**spec)
    try:
        model.load_state_dict(weights)
    except RuntimeError:
        raise InputError(
            f"checkpoint {path} holds weights that do not fit a {spec.get('name')!r} student of width {spec.get('width')}"
        ) from None
    return LoadedStudent(
        model=freeze(model),
        config=config,
        modality=modality,
        spec=dict(spec),
        description=f"{spec.get('name')} (width {spec.get('width')}) from {path}",
        fingerprint=weights_fingerprint(model),
        run_dir=path.parent,
        checkpoint=path,
        epoch=state.get("epoch"),
        wandb_id=state.get("wandb_id"),
        draw_input=MODALITIES.get(modality).render,
    )


RANDOM_INIT_SEED = "random_init_seed"
"""The ``LoadedStudent.extra`` key a random-init reference carries (its init seed, in every report of it)."""


def random_init_dir(config: TrainConfig, name: str, width: int, seed: int | str) -> Path:
    """Where a random-init reference's results go: ``<runs_dir>/random-init-<arch>-w<width>-seed<seed>``
    (``seed="*"``: the pattern of every seed's)."""
    return Path(config.run.runs_dir) / f"random-init-{name}-w{width}-seed{seed}"


def random_init_student(name: str, width: int, config: TrainConfig, seed: int = 0) -> LoadedStudent:
    """An untrained student for ``config``'s target modality (Kaiming init from ``seed``), frozen.

    ``config`` supplies data and input shaping. Its results go to
    ``<runs_dir>/random-init-<arch>-w<width>-seed<seed>``.
    """
    modality = MODALITIES.get(config.data.target)
    config = replace(config, student=replace(config.student, name=name, width=width))
    spec: dict[str, Any] = {"name": name, "in_channels": modality.channels(config.data), "width": width, "num_classes": None}
    _check_fits(modality.name, config, spec, "--random-init")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_student(**spec)
    return LoadedStudent(
        model=freeze(model),
        config=config,
        modality=modality.name,
        spec=spec,
        description=f"{name} (width {width}), random init, seed {seed}",
        fingerprint=weights_fingerprint(model),
        run_dir=random_init_dir(config, name, width, seed),
        extra={RANDOM_INIT_SEED: seed},
        draw_input=modality.render,
    )


def select_student(
    run: str | os.PathLike[str] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    random_init: str | None = None,
    width: int | None = None,
    like: str | os.PathLike[str] | None = None,
    seed: int = 0,
    target: str | None = None,
) -> LoadedStudent:
    """Exactly one of a run directory, a checkpoint file or a random-init architecture.

    A random-init reference takes its modality, data and input shaping from the run ``like`` (so
    it is compared on equal terms), else from the default experiment of ``target`` (default depth).
    """
    if sum(value is not None for value in (run, checkpoint, random_init)) != 1:
        raise InputError("give exactly one of --run RUN, --checkpoint FILE or --random-init ARCH")
    if random_init is None and (width is not None or like is not None or target is not None):
        raise InputError("--width, --like and --target describe a --random-init reference; a trained student brings its own")
    if run is not None:
        if not Path(run).exists():
            raise InputError(f"run directory {run} does not exist (--run)")
        if not Path(run).is_dir():
            raise InputError(f"--run {run} is not a run directory (use --checkpoint for a checkpoint file)")
        return load_trained_student(run)
    if checkpoint is not None:
        if Path(checkpoint).is_dir():
            raise InputError(f"--checkpoint {checkpoint} is a directory (use --run for a run directory)")
        return load_trained_student(checkpoint)
    if like is not None:
        config = _trained_config(like)
        if target is not None and target != config.data.target:
            raise InputError(f"--target {target} contradicts the --like run, which trained a {config.data.target} student")
    else:
        config = default_config(target or "depth")
    return random_init_student(str(random_init), width or config.student.width, config, seed)


def _trained_config(run_or_file: str | os.PathLike[str]) -> TrainConfig:
    path = checkpoint_path(run_or_file)
    values = load_checkpoint(path).get("config")
    if not isinstance(values, dict):
        raise InputError(f"checkpoint {path} carries no training config")
    return config_from_dict(values, origin=f"the config stored in {path}")
