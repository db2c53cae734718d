"""Building blocks of furniture: boxes and vertical cylinders in an object's own frame.

An object's frame has x across its width, y from back (-depth/2) to front (+depth/2) and z up
from its base; a placed object adds a pose (x, y, z, yaw). Box faces are numbered
-x, +x, -y, +y, bottom, top (0..5), so ``FRONT`` is the face looking out of the object.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from crossmodal.data.synthetic.labels import RAW_IDS
from crossmodal.data.synthetic.materials import PAINT, WOOD, MaterialBank

BOX, CYLINDER, INSIDE_BOX = 0, 1, 2
BACK, FRONT, TOP = 2, 3, 5


@dataclass(frozen=True)
class Part:
    """One primitive; a cylinder is stored by its bounding box (axis along z)."""

    shape: int
    lo: tuple[float, float, float]
    hi: tuple[float, float, float]
    labels: tuple[int, ...]  # raw label id per face
    materials: tuple[int, ...]  # material id per face


@dataclass
class Item:
    """A placed object: parts in its own frame, a pose, and the free tops other things can stand on."""

    kind: str
    width: float
    depth: float
    height: float
    parts: list[Part]
    surfaces: list[tuple[float, float, float, float, float]] = field(default_factory=list)  # x0 x1 y0 y1 z
    lights: list[tuple[float, float, float, float]] = field(default_factory=list)  # x y z power
    solid: bool = True  # blocks the floor for other objects and for the photographer
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    yaw: float = 0.0

    def to_world(self, x: float, y: float) -> tuple[float, float]:
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        return float(self.x + c * x - s * y), float(self.y + s * x + c * y)

    def footprint(self, pad: float = 0.0) -> tuple[float, float, float, float]:
        """World axis-aligned bounds (x0, y0, x1, y1) of the rotated footprint."""
        c, s = abs(np.cos(self.yaw)), abs(np.sin(self.yaw))
        hx = c * self.width / 2 + s * self.depth / 2 + pad
        hy = s * self.width / 2 + c * self.depth / 2 + pad
        return self.x - hx, self.y - hy, self.x + hx, self.y + hy


def box(x0: float, x1: float, y0: float, y1: float, z0: float, z1: float, label: str, material: int,
        front: int | None = None) -> Part:
    materials = [material] * 6
    if front is not None:
        materials[FRONT] = front
    return Part(BOX, (x0, y0, z0), (x1, y1, z1), (RAW_IDS[label],) * 6, tuple(materials))


def cylinder(cx: float, cy: float, r: float, z0: float, z1: float, label: str, material: int) -> Part:
    return Part(CYLINDER, (cx - r, cy - r, z0), (cx + r, cy + r, z1), (RAW_IDS[label],) * 6, (material,) * 6)


@dataclass
class Workshop:
    """Random choices and the scene's material bank, shared by every builder of one scene."""

    rng: np.random.Generator
    bank: MaterialBank

    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def count(self, lo: int, hi: int) -> int:
        """Uniform integer in [lo, hi]."""
        return int(self.rng.integers(lo, hi + 1))

    def pick(self, options: list | tuple):  # type: ignore[no-untyped-def]
        return options[int(self.rng.integers(len(options)))]

    def casework(self, palette: str = "casework", **properties: float) -> int:
        """A furniture body: wood grain or painted, from the shared casework colours."""
        kind = WOOD if self.chance(0.5) else PAINT
        return self.bank.add(kind, palette, "dark", scale=10.0, **properties)
