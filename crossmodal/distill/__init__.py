"""Distillation objectives, one module per method, registered by class in ``OBJECTIVES``.

Names: ``none``, ``fitnet``, ``kd``, ``crd``, ``crd+kd`` (the core methods), and the zoo of the
CRD paper's comparison plus DIST: ``at``, ``sp``, ``cc``, ``vid``, ``rkd``, ``pkt``, ``ab``,
``ft``, ``fsp``, ``nst``, ``dist``. Importing this package registers them.
"""
from __future__ import annotations

from typing import Any

from crossmodal.distill import (  # noqa: F401  (registers the objectives)
    ab,
    at,
    cc,
    combined,
    crd,
    dist,
    fitnet,
    fsp,
    ft,
    kd,
    none,
    nst,
    pkt,
    rkd,
    sp,
    vid,
)
from crossmodal.distill.base import OBJECTIVES, Objective, ObjectiveContext, TrainingProgress


def build_objective(name: str, ctx: ObjectiveContext, options: dict[str, Any] | None = None) -> Objective:
    """The objective registered as ``name``, sized by ``ctx`` and configured by ``options``.

    Unknown names and unknown or ill-typed options raise InputError.
    """
    return OBJECTIVES.get(name).build(ctx, dict(options or {}))


__all__ = ["OBJECTIVES", "Objective", "ObjectiveContext", "TrainingProgress", "build_objective"]
