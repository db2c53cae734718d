"""Experiments over trained students: loading them, running protocols, the benchmark grid, weight sweeps and reports."""
from crossmodal.experiments.evaluate import probe_run, segment_run

__all__ = ["probe_run", "segment_run"]
