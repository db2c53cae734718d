"""How many labels distillation saves: where a reference curve (score against label fraction) reaches a score.

"Labels saved" compares two curves of the same protocol: the distilled student's score at an anchor
fraction (10 % by default) is the target, and the answer is the fraction of the labels the
random-init reference needs to reach it. Between two measured fractions the reference curve is
taken as linear in log(fraction), since the fractions are spaced geometrically (1, 5, 10, 25,
100 %); the first crossing from below counts. Outside the measured range the answer is a bound,
never an extrapolation: reached already at the smallest fraction ("at most" that fraction) or not
reached at all ("more than" the largest).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from crossmodal.errors import InputError

INTERPOLATED = "interpolated"
AT_MOST = "at most"
MORE_THAN = "more than"


@dataclass(frozen=True)
class FractionNeeded:
    """The label fraction a curve needs to reach ``target``: ``fraction`` exactly (interpolated) or as a bound."""

    target: float
    fraction: float
    kind: str

    def describe(self) -> str:
        percent = f"{100 * self.fraction:.3g}%"
        return percent if self.kind == INTERPOLATED else f"{self.kind} {percent}"


def fraction_needed(fractions: Sequence[float], scores: Sequence[float], target: float) -> FractionNeeded:
    """Where the curve (``scores`` at increasing ``fractions``) first reaches ``target``, interpolated in log(fraction)."""
    if len(fractions) != len(scores) or not fractions:
        raise InputError("a label-efficiency curve needs one score per fraction, at least one")
    if any(b <= a for a, b in zip(fractions, fractions[1:])) or fractions[0] <= 0:
        raise InputError(f"label fractions {list(fractions)} must be positive and increasing")
    if scores[0] >= target:
        return FractionNeeded(target, fractions[0], AT_MOST)
    for k in range(1, len(fractions)):
        if scores[k] >= target:
            step = (target - scores[k - 1]) / (scores[k] - scores[k - 1])
            low, high = math.log(fractions[k - 1]), math.log(fractions[k])
            return FractionNeeded(target, math.exp(low + step * (high - low)), INTERPOLATED)
    return FractionNeeded(target, fractions[-1], MORE_THAN)


def labels_saved(
    fractions: Sequence[float], reference: Sequence[float], distilled: Sequence[float], anchor: float
) -> FractionNeeded:
    """The fraction the ``reference`` curve needs to match the ``distilled`` curve's score at ``anchor`` (one of ``fractions``)."""
    matches = [k for k, fraction in enumerate(fractions) if math.isclose(fraction, anchor)]
    if not matches:
        raise InputError(f"the labels-saved anchor {anchor} is not one of the measured fractions {list(fractions)}")
    return fraction_needed(fractions, reference, distilled[matches[0]])


@dataclass(frozen=True)
class Curve:
    """One method's curve for a picture: mean scores at the fractions, and their spread over seeds (None: one seed)."""

    name: str
    fractions: tuple[float, ...]
    means: tuple[float, ...]
    spreads: tuple[float, ...] | None = None


def curve_picture(curves: Sequence[Curve], metric: str, title: str = "") -> np.ndarray:
    """H x W x 3 uint8 plot of score (%) against label fraction (log axis), error bars where spreads were measured."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4), dpi=100)
    for curve in curves:
        errors = None if curve.spreads is None else [100 * s for s in curve.spreads]
        axes.errorbar([100 * f for f in curve.fractions], [100 * m for m in curve.means], yerr=errors, marker="o",
                      capsize=3, label=curve.name)
    axes.set_xscale("log")
    fractions = sorted({f for curve in curves for f in curve.fractions})
    axes.set_xticks([100 * f for f in fractions], [f"{100 * f:g}%" for f in fractions])
    axes.minorticks_off()
    axes.set_xlabel("labelled training frames")
    axes.set_ylabel(f"{metric} (%)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    if title:
        axes.set_title(title, fontsize="medium")
    figure.tight_layout()
    figure.canvas.draw()
    image = np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()  # type: ignore[attr-defined]
    plt.close(figure)
    return image
