"""Experiments over trained students: loading them, running protocols, the benchmark grid, weight sweeps and reports."""
from crossmodal.experiments.evaluate import evaluate, judge, probe_run, segment_run

__all__ = ["evaluate", "judge", "probe_run", "segment_run"]
