"""Regenerate docs/results.md from the benchmark reports in docs/results/ (crossmodal.experiments.results_page)."""
from __future__ import annotations

from pathlib import Path

from crossmodal.experiments.results_page import results_page

DOCS = Path(__file__).resolve().parents[1] / "docs"

if __name__ == "__main__":
    (DOCS / "results.md").write_text(results_page(DOCS / "results"))
    print(f"wrote {DOCS / 'results.md'}")
