"""The label-efficiency part of a benchmark report: mIoU against label fraction per method, the curve, labels saved.

The grid's random-init method (``none``) fine-tuned through the same protocol is the reference curve; at
fraction 1 it is the supervised reference (the architecture trained from scratch with every label).
"Random init needs" compares mean curves over seeds: the fraction at which random init's mean curve reaches
the method's mean mIoU at the anchor fraction (``crossmodal.eval.label_curves``).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crossmodal.errors import InputError
from crossmodal.eval.catalog import PROTOCOLS
from crossmodal.eval.label_curves import Curve, curve_picture, labels_saved
from crossmodal.eval.label_efficiency import LabelCurveProtocol, LabelEfficiency, LabelEfficiencySettings
from crossmodal.eval.render import save_png
from crossmodal.experiments.report import format_mean_std, method_title, summarise

REFERENCE_METHOD = "none"
FRACTIONS_KEY = "label_fractions"
PROTOCOL_KEY = "label_protocol"
"""The protocol that measured a record's curve; records without one come from segmentation's ``label-efficiency``."""
ANCHOR = LabelEfficiencySettings.anchor


def label_curves(records: Sequence[dict[str, Any]], methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    """method -> {"fractions", "mean", "std" (None for one seed), "values" (per fraction, per seed)} of its mIoU."""
    judged = [r for r in records if FRACTIONS_KEY in r]
    if not judged:
        return {}
    fractions = [float(f) for f in judged[0][FRACTIONS_KEY]]
    keys = {f"{curve_protocol(judged).curve_metric}@{f:g}": "" for f in fractions}
    curves: dict[str, dict[str, Any]] = {}
    for method, stats in summarise(judged, methods, keys).items():
        points = [stats[key] for key in keys]
        curves[method] = {
            "fractions": fractions, "mean": [p["mean"] for p in points],
            "std": None if points[0]["std"] is None else [p["std"] for p in points], "values": [p["values"] for p in points],
        }
    return curves


def curve_protocol(records: Sequence[dict[str, Any]]) -> LabelCurveProtocol:
    """The protocol that measured the records' label-efficiency curves."""
    name = next((r.get(PROTOCOL_KEY, LabelEfficiency.name) for r in records if FRACTIONS_KEY in r), LabelEfficiency.name)
    protocol = PROTOCOLS.get(name)
    if not isinstance(protocol, LabelCurveProtocol):
        raise InputError(f"protocol {name!r} of the label-efficiency records measures no curve")
    return protocol


def random_init_needs(curves: dict[str, dict[str, Any]], method: str) -> str:
    """The table cell: the fraction random init's mean curve needs to reach ``method``'s mean at the anchor."""
    reference = curves.get(REFERENCE_METHOD)
    if (reference is None or method == REFERENCE_METHOD or reference["fractions"] != curves[method]["fractions"]
            or not any(math.isclose(f, ANCHOR) for f in reference["fractions"])):
        return "–"
    return labels_saved(reference["fractions"], reference["mean"], curves[method]["mean"], ANCHOR).describe()


def label_efficiency_table(records: Sequence[dict[str, Any]], methods: Sequence[str]) -> str | None:
    """Markdown: one row per method with label-efficiency records (mIoU %, mean ± std per fraction); None without any."""
    curves = label_curves(records, methods)
    if not curves:
        return None
    fractions = next(iter(curves.values()))["fractions"]
    metric = curve_protocol(records).curve_title
    titles = [f"{metric} at {100 * f:g}% labels" for f in fractions] + [f"Random init needs (to match at {100 * ANCHOR:g}%)"]
    lines = ["| Method | " + " | ".join(titles) + " |", "|---|" + "---:|" * len(titles)]
    for method, curve in curves.items():
        cells = [format_mean_std(values) for values in curve["values"]] + [random_init_needs(curves, method)]
        lines.append(f"| {method_title(method)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_label_curves(records: Sequence[dict[str, Any]], methods: Sequence[str], path: Path, title: str) -> Path:
    """The mean curves with their spreads over seeds as error bars, as a PNG."""
    curves = label_curves(records, methods)
    shown = [Curve(method_title(method), tuple(c["fractions"]), tuple(c["mean"]), None if c["std"] is None else tuple(c["std"]))
             for method, c in curves.items()]
    save_png(curve_picture(shown, curve_protocol(records).curve_title, title), path)
    return path
