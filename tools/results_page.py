"""Regenerate docs/results.md and the README's core tables from the benchmark reports in docs/results/
(crossmodal.experiments.results_page)."""
from __future__ import annotations

from pathlib import Path

from crossmodal.experiments.results_page import readme_with_core_tables, results_page

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"

if __name__ == "__main__":
    (DOCS / "results.md").write_text(results_page(DOCS / "results"))
    readme = REPO / "README.md"
    readme.write_text(readme_with_core_tables(readme.read_text(), DOCS / "results"))
    print(f"wrote {DOCS / 'results.md'} and the core tables of {readme}")
