"""Distillation objectives, one module per method, registered by class in ``OBJECTIVES``.

Names: ``none``, ``fitnet``, ``kd``, ``crd``, ``crd+kd``. Importing this package registers them.
"""
from __future__ import annotations

from typing import Any

from crossmodal.distill import combined, crd, fitnet, kd, none  # noqa: F401  (registers the objectives)
from crossmodal.distill.base import OBJECTIVES, Objective, ObjectiveContext, TrainingProgress


def build_objective(name: str, ctx: ObjectiveContext, options: dict[str, Any] | None = None) -> Objective:
    """The objective registered as ``name``, sized by ``ctx`` and configured by ``options``.

    Unknown names and unknown or ill-typed options raise InputError.
    """
    return OBJECTIVES.get(name).build(ctx, dict(options or {}))


__all__ = ["OBJECTIVES", "Objective", "ObjectiveContext", "TrainingProgress", "build_objective"]
