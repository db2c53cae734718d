"""The student registry: every architecture a target-modality student can be, and what input it takes.

Kept apart from the networks so image and audio students both register here without importing
each other. ``takes`` ("image": B x C x H x W, "waveform": B x C x T) is what a modality checks
against its own input kind before anything is built.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from crossmodal.errors import InputError
from crossmodal.models.features import FeatureNetwork
from crossmodal.registry import Registry

INPUT_KINDS = ("image", "waveform")


@dataclass(frozen=True)
class StudentArch:
    """A student factory ``(in_channels, width, num_classes) -> FeatureNetwork`` and the input kind it takes."""

    factory: Callable[..., FeatureNetwork]
    takes: str


STUDENTS: Registry[StudentArch] = Registry("student")


def register_student(name: str, takes: str) -> Callable[[Callable[..., FeatureNetwork]], Callable[..., FeatureNetwork]]:
    """Decorator: register a factory under ``name`` as a student taking ``takes`` inputs."""
    if takes not in INPUT_KINDS:
        raise ValueError(f"student {name!r}: takes must be one of {INPUT_KINDS}, got {takes!r}")

    def add(factory: Callable[..., FeatureNetwork]) -> Callable[..., FeatureNetwork]:
        STUDENTS.register(name)(StudentArch(factory, takes))
        return factory

    return add


def student_takes(name: str) -> str:
    """The input kind of architecture ``name`` (unknown names are an InputError listing the known ones)."""
    return STUDENTS.get(name).takes


def build_student(
    name: str = "resnet18", in_channels: int = 1, width: int = 64, num_classes: int | None = None
) -> FeatureNetwork:
    """Builds the student ``name`` with freshly initialised weights (drawn from torch's global generator)."""
    arch = STUDENTS.get(name)
    for option, value in (("in_channels", in_channels), ("width", width)):
        if value < 1:
            raise InputError(f"student option {option} must be a positive integer, got {value}")
    if num_classes is not None and num_classes < 1:
        raise InputError(f"student option num_classes must be a positive integer or None, got {num_classes}")
    return arch.factory(in_channels=in_channels, width=width, num_classes=num_classes)
