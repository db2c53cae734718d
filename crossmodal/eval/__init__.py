"""Evaluation of a frozen student on its own modality: protocol settings and reports, features, probes, segmentation heads, metrics."""
from crossmodal.eval.reports import EvalSettings, ProbeReport, ProbeSettings, SegmentReport, SegmentSettings

__all__ = ["EvalSettings", "ProbeReport", "ProbeSettings", "SegmentReport", "SegmentSettings"]
