"""The evaluation protocols as library calls: ``probe_run`` and ``segment_run``.

The student's modality decides what each protocol does (a depth student is probed on the
10-class scene task, an audio student by the ESC-50 fold protocol); the console commands, the
benchmark grid and the demo all call these two functions, so a number means the same wherever
it is printed.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from crossmodal.eval.protocols import ProbeReport, ProbeSettings, SegmentReport, SegmentSettings, silent
from crossmodal.eval.student import LoadedStudent
from crossmodal.modalities import MODALITIES


def probe_run(
    student: LoadedStudent,
    settings: ProbeSettings = ProbeSettings(),
    device: torch.device | str = "cpu",
    say: Callable[[str], None] = silent,
) -> ProbeReport:
    """The linear probe of ``student``'s frozen pooled features, by its modality's protocol; ``say`` gets progress lines."""
    return MODALITIES.get(student.modality).probe(student, settings, torch.device(device), say)


def segment_run(
    student: LoadedStudent,
    settings: SegmentSettings = SegmentSettings(),
    device: torch.device | str = "cpu",
    say: Callable[[str], None] = silent,
) -> SegmentReport:
    """A segmentation head on ``student``'s stage maps, by its modality's protocol (InputError if it has none)."""
    return MODALITIES.get(student.modality).segment(student, settings, torch.device(device), say)
