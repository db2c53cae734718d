"""Surface materials: a pattern kind, colours drawn from palettes shared across classes, and
the properties the depth sensor cares about.

Every object class draws its colour from a weighted mix of the same colour families (white
walls and white cabinets, wooden floors and wooden tables), then each instance is jittered in
hue and brightness, so colour alone cannot tell a wall from a cabinet.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

(PAINT, WOOD, FABRIC, CARPET, TILES, WALLPAPER, PANEL, BOOKS, SCREEN, GLASS, METAL, PICTURE,
 PORCELAIN, SLATS, FOLIAGE, MIRROR) = range(16)
NUM_KINDS = 16

FAMILIES: dict[str, tuple[tuple[float, float, float], ...]] = {
    "white": ((0.92, 0.92, 0.90), (0.95, 0.93, 0.86), (0.86, 0.89, 0.92), (0.90, 0.90, 0.84)),
    "cream": ((0.93, 0.86, 0.72), (0.88, 0.81, 0.68), (0.84, 0.80, 0.73), (0.90, 0.84, 0.78)),
    "grey": ((0.62, 0.62, 0.62), (0.50, 0.52, 0.56), (0.73, 0.71, 0.67), (0.38, 0.39, 0.41)),
    "pastel": ((0.74, 0.83, 0.91), (0.77, 0.88, 0.75), (0.93, 0.87, 0.60), (0.92, 0.77, 0.77),
               (0.80, 0.75, 0.89)),
    "wood_light": ((0.80, 0.63, 0.43), (0.75, 0.58, 0.37), (0.86, 0.72, 0.52), (0.70, 0.55, 0.40)),
    "wood_dark": ((0.45, 0.29, 0.17), (0.35, 0.22, 0.13), (0.55, 0.36, 0.21), (0.40, 0.30, 0.24)),
    "dark": ((0.10, 0.10, 0.10), (0.17, 0.15, 0.14), (0.12, 0.14, 0.21), (0.22, 0.20, 0.18)),
    "accent": ((0.70, 0.16, 0.13), (0.16, 0.26, 0.55), (0.21, 0.45, 0.26), (0.85, 0.64, 0.16),
               (0.50, 0.21, 0.45), (0.90, 0.46, 0.20), (0.25, 0.55, 0.60)),
    "green": ((0.20, 0.42, 0.16), (0.30, 0.50, 0.20), (0.16, 0.33, 0.18)),
    "sky": ((0.75, 0.85, 0.97), (0.92, 0.94, 0.97), (0.60, 0.72, 0.90)),
}

PALETTES: dict[str, dict[str, float]] = {
    "wall": {"white": 4, "cream": 3, "pastel": 2, "grey": 1.2, "accent": 0.4, "wood_light": 0.3},
    "ceiling": {"white": 8, "cream": 1.5, "grey": 0.6},
    "floor_wood": {"wood_light": 3, "wood_dark": 2, "grey": 0.6, "cream": 0.5},
    "floor_tile": {"white": 1, "cream": 2, "grey": 2, "dark": 0.5, "wood_light": 0.5},
    "carpet": {"grey": 2, "cream": 2, "accent": 1, "wood_dark": 1, "pastel": 0.6, "dark": 0.5},
    "casework": {"white": 3, "wood_light": 2.5, "wood_dark": 2, "grey": 1, "cream": 1, "pastel": 0.4,
                 "dark": 0.6},
    "upholstery": {"grey": 2, "cream": 1.5, "accent": 1.5, "dark": 1, "wood_dark": 0.7, "pastel": 0.7,
                   "white": 0.5},
    "bedding": {"white": 3, "pastel": 2, "cream": 1.5, "accent": 1, "grey": 1.5},
    "sanitary": {"white": 9, "cream": 1, "grey": 0.3},
    "stone": {"white": 1.5, "grey": 2, "dark": 1.5, "cream": 1.5, "wood_light": 0.7},
    "metal": {"grey": 3, "white": 1, "dark": 1},
    "appliance": {"white": 2, "grey": 2, "dark": 1},
    "decor": {"white": 1, "cream": 1, "grey": 1, "pastel": 1, "wood_light": 1, "wood_dark": 1,
              "dark": 1, "accent": 2, "green": 0.5},
    "cardboard": {"wood_light": 3, "cream": 1, "accent": 0.6, "white": 0.6},
    "plant": {"green": 1},
}
PALETTES.update({name: {name: 1.0} for name in FAMILIES})  # a family on its own is a palette too
_PALETTE_CDF = {name: (list(weights), np.cumsum(list(weights.values()))) for name, weights in PALETTES.items()}


@dataclass(frozen=True)
class Material:
    """What a surface looks like; ``scale`` is the pattern period in metres (tile, plank, panel)."""

    kind: int
    albedo: tuple[float, float, float]
    accent: tuple[float, float, float]
    scale: float = 0.5
    rows: int = 1  # drawer rows on PANEL fronts
    gloss: float = 0.0
    emission: float = 0.0  # self-lit surfaces: windows, screens that are on, lamp shades
    ir_dropout: float = 0.0  # chance the depth sensor returns nothing from this surface


@dataclass
class MaterialBank:
    """The materials of one scene; objects refer to them by index."""

    rng: np.random.Generator
    materials: list[Material] = field(default_factory=list)

    def colour(self, palette: str) -> tuple[float, float, float]:
        names, cumulative = _PALETTE_CDF[palette]
        family = FAMILIES[names[int(np.searchsorted(cumulative, self.rng.random() * cumulative[-1], side="right"))]]
        base = np.asarray(family[int(self.rng.integers(len(family)))])
        base = base * self.rng.normal(1.0, 0.08) + self.rng.normal(0.0, 0.03, 3)
        return tuple(float(c) for c in np.clip(base, 0.02, 0.97))  # type: ignore[return-value]

    def add(self, kind: int, palette: str, accent: str = "decor", **properties: float) -> int:
        self.materials.append(Material(kind, self.colour(palette), self.colour(accent), **properties))
        return len(self.materials) - 1

    def arrays(self) -> dict[str, np.ndarray]:
        """Per-material columns, indexed by material id, for vectorised shading."""
        m = self.materials
        return {
            "kind": np.array([x.kind for x in m], dtype=np.int32),
            "albedo": np.array([x.albedo for x in m], dtype=np.float32),
            "accent": np.array([x.accent for x in m], dtype=np.float32),
            "scale": np.array([x.scale for x in m], dtype=np.float32),
            "rows": np.array([x.rows for x in m], dtype=np.float32),
            "gloss": np.array([x.gloss for x in m], dtype=np.float32),
            "emission": np.array([x.emission for x in m], dtype=np.float32),
            "ir_dropout": np.array([x.ir_dropout for x in m], dtype=np.float32),
        }
