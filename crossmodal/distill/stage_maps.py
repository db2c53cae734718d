"""Stage maps across modalities: which stages a map-based objective reads, and how two maps of different size meet.

Teacher and student see different inputs (an RGB frame at one size, a depth map or a log-mel
spectrogram at another, rarely square), so their stage maps differ in (H, W). A map-based
objective compares them after adaptive average pooling of both to the smaller extent along each
axis, ``(min(H_s, H_t), min(W_s, W_t))``: no map is upsampled, non-square maps keep their aspect,
and a map already that size is returned unchanged. (The reference implementations resize to a
square; that distorts a 96 x 128 depth map.)

``stages`` options are indices into ``Features.maps``, shallow to deep, the same for student and
teacher; negative indices count from the deepest. Every network here has four stage maps.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar, cast

import torch.nn.functional as F
from torch import Tensor, nn

from crossmodal.distill.base import ObjectiveContext
from crossmodal.errors import OptionError


def check_stages(stages: Sequence[int], ctx: ObjectiveContext) -> list[int]:
    """``stages`` as non-negative indices valid for the student and every teacher; otherwise one InputError."""
    counts = [len(ctx.student_maps), *(len(maps) for maps in ctx.teacher_maps)]
    if not stages or not all(isinstance(s, int) and not isinstance(s, bool) for s in stages):
        raise OptionError(f"option stages must be a non-empty list of stage indices, got {list(stages)!r}")
    if len(set(counts)) != 1:
        raise OptionError(
            "reads the same stages of student and teacher, but the student has "
            f"{counts[0]} stage maps and the teachers {counts[1:]}"
        )
    count = counts[0]
    bad = [s for s in stages if not -count <= s < count]
    if bad:
        raise OptionError(f"option stages={list(stages)} is out of range for networks with {count} stage maps")
    chosen = [s % count for s in stages]
    if len(set(chosen)) != len(chosen):
        raise OptionError(f"option stages={list(stages)} names a stage twice")
    return chosen


M = TypeVar("M", bound=nn.Module)


def teacher_modules(modules: nn.ModuleList, teacher: int, kind: type[M]) -> list[M]:
    """The per-stage modules (of class ``kind``) of teacher number ``teacher`` in a per-teacher ModuleList of ModuleLists."""
    return cast(list[M], list(cast(nn.ModuleList, modules[teacher])))


def common_size(student: Tensor, teacher: Tensor) -> tuple[int, int]:
    """The (H, W) both maps are compared at: the smaller extent along each axis."""
    return min(student.shape[-2], teacher.shape[-2]), min(student.shape[-1], teacher.shape[-1])


def pool_to(feature_map: Tensor, size: tuple[int, int]) -> Tensor:
    """Adaptive average pooling to ``size``; a map of that size is returned as it is."""
    return feature_map if tuple(feature_map.shape[-2:]) == size else F.adaptive_avg_pool2d(feature_map, size)


def matched(student: Tensor, teacher: Tensor) -> tuple[Tensor, Tensor]:
    """Both maps pooled to their common size (float32, so mixed precision never reaches the loss)."""
    size = common_size(student, teacher)
    return pool_to(student.float(), size), pool_to(teacher.float(), size)
