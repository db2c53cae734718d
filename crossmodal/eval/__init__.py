"""Evaluation of a frozen student on its own modality: the protocols (``probe_run``, ``segment_run``), features, metrics, benchmark."""
from crossmodal.eval.protocols import (
    EvalSettings,
    ProbeReport,
    ProbeSettings,
    SegmentReport,
    SegmentSettings,
    probe_run,
    segment_run,
)

__all__ = ["EvalSettings", "ProbeReport", "ProbeSettings", "SegmentReport", "SegmentSettings", "probe_run", "segment_run"]
