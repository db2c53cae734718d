"""docs/results.md is what the committed benchmark reports give, and the generator renders a report's tables."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from crossmodal.errors import InputError
from crossmodal.experiments.results_page import HEADER, README_BEGIN, README_END, readme_with_core_tables, results_page

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def test_the_committed_results_page_is_what_the_committed_reports_give():
    assert (DOCS / "results.md").read_text() == results_page(DOCS / "results"), "run python tools/results_page.py"


def test_the_readme_core_tables_are_what_the_committed_core_report_gives():
    readme = (REPO / "README.md").read_text()
    assert readme == readme_with_core_tables(readme, DOCS / "results"), "run python tools/results_page.py"
    tables = readme.split(README_BEGIN, 1)[1].split(README_END, 1)[0]
    assert "| CRD |" in tables and "Sound probe top-1" in tables and "Seg. mIoU" in tables


def _report(runs: list[dict]) -> dict:
    return {"targets": {"depth": {"spec": {"methods": ["none", "crd"]}, "runs": runs}}}


def test_a_report_becomes_its_description_and_a_table_of_means_and_spreads(tmp_path):
    runs = [{"method": method, "seed": seed, "probe_top1": top1, "pixel_accuracy": 0.5, "miou": 0.1}
            for method, seed, top1 in (("crd", 0, 0.40), ("none", 0, 0.30), ("crd", 1, 0.50), ("none", 1, 0.32))]
    (tmp_path / "a-grid.json").write_text(json.dumps(_report(runs)))
    (tmp_path / "a-grid.md").write_text("## A grid\n\nCommand: `make it`.\n")
    page = results_page(tmp_path)
    assert page.startswith(HEADER) and "## A grid\n\nCommand: `make it`.\n\n| Method | Scene probe top-1 (%) |" in page
    lines = page.splitlines()
    assert lines.index("| Random init (none) | 31.0 ± 1.4 | 50.0 ± 0.0 | 10.0 ± 0.0 |") < lines.index(
        "| CRD | 45.0 ± 7.1 | 50.0 ± 0.0 | 10.0 ± 0.0 |")
    (tmp_path / "b-orphan.md").write_text("## B\n")
    with pytest.raises(InputError, match=r"b-orphan.md has no benchmark report beside it \(b-orphan.json\)"):
        results_page(tmp_path)
