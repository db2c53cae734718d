"""From ray hits to an 8-bit photograph: procedural textures, Lambertian and glossy shading from
ceiling lights, lamps and windows, screen-space ambient occlusion, then a consumer camera's
auto-exposure, white balance, vignetting, blur and noise.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from crossmodal.data.synthetic import materials as mat
from crossmodal.data.synthetic.layout import Layout
from crossmodal.data.synthetic.raycast import Hits

TILE = 64  # texels per side of the tiling noise textures
BOOK_COLOURS = np.array([mat.FAMILIES[f][i] for f in ("accent", "dark", "white", "cream", "wood_dark", "pastel")
                         for i in range(3)], dtype=np.float32) ** 2.2  # linear


@dataclass(frozen=True)
class NoiseTiles:
    """Tiling noise for one scene: smooth (blotches, grain waviness) and fine (weave, carpet pile)."""

    smooth: np.ndarray
    fine: np.ndarray

    @staticmethod
    def sample(rng: np.random.Generator) -> NoiseTiles:
        def normalised(a: np.ndarray) -> np.ndarray:
            a = a - a.mean()
            return (a / (np.abs(a).max() + 1e-6)).astype(np.float32)

        smooth = ndimage.gaussian_filter(rng.standard_normal((TILE, TILE)), 4.0, mode="wrap")
        return NoiseTiles(normalised(smooth), normalised(rng.standard_normal((TILE, TILE))))


def _lookup(tile: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear, wrapping lookup; u and v in texels."""
    u0, v0 = np.floor(u), np.floor(v)
    fu, fv = u - u0, v - v0
    i0, j0 = u0.astype(np.int64) % TILE, v0.astype(np.int64) % TILE
    i1, j1 = (i0 + 1) % TILE, (j0 + 1) % TILE
    top = tile[j0, i0] * (1 - fu) + tile[j0, i1] * fu
    bottom = tile[j1, i0] * (1 - fu) + tile[j1, i1] * fu
    return top * (1 - fv) + bottom * fv


def _hash01(*keys: np.ndarray) -> np.ndarray:
    """Deterministic pseudo-random value in [0, 1) per integer key tuple (tiles, planks, books)."""
    h = np.zeros(np.shape(keys[0]), dtype=np.int64)
    for i, key in enumerate(keys):
        h = (h ^ (np.asarray(key, dtype=np.int64) * (73856093 + 19349663 * i))) & 0xFFFFFFFF
        h = ((h ^ (h >> 13)) * 1274126177) & 0xFFFFFFFF
    return ((h >> 8) & 0xFFFF).astype(np.float32) / 65536.0


def _near_line(x: np.ndarray, period: np.ndarray | float, width: float) -> np.ndarray:
    """True within ``width`` of a multiple of ``period``."""
    f = np.mod(x, period)
    return (f < width) | (period - f < width)


@dataclass(frozen=True)
class Texels:
    """The pixels of one material kind: colours are linear, x/y in metres, s/t in [0, 1] across the face."""

    base: np.ndarray
    accent: np.ndarray
    scale: np.ndarray
    rows: np.ndarray
    glow: np.ndarray
    x: np.ndarray
    y: np.ndarray
    s: np.ndarray
    t: np.ndarray
    extent: np.ndarray
    seed: np.ndarray  # per primitive, so neighbouring objects do not share a texture phase
    noise: NoiseTiles

    def blotch(self, frequency: float = 3.0) -> np.ndarray:
        return _lookup(self.noise.smooth, self.x * frequency + self.seed, self.y * frequency)

    def fine(self, frequency: float = 60.0) -> np.ndarray:
        return _lookup(self.noise.fine, self.x * frequency + self.seed, self.y * frequency)


def _modulate(p: Texels, factor: np.ndarray) -> np.ndarray:
    return p.base * factor[:, None]


def _paint(p: Texels) -> np.ndarray:
    return _modulate(p, 1 + 0.08 * p.blotch())


def _wood(p: Texels) -> np.ndarray:
    """Grain along x, planks `scale` wide across y with seams and per-plank tone."""
    plank = np.floor(p.y / p.scale)
    grain = _lookup(p.noise.smooth, p.x * 1.5 + plank * 5, p.y * 25 + p.seed)
    tone = 0.25 * (_hash01(plank, np.floor(p.x / 1.3 + plank * 0.37)) - 0.5)
    return _modulate(p, (0.92 + 0.12 * grain + tone) * np.where(_near_line(p.y, p.scale, 0.003), 0.45, 1.0))


def _fabric(p: Texels) -> np.ndarray:
    """Weave and blotches; a small `scale` means a hanging curtain's folds."""
    folds = np.where(p.scale < 0.5, 0.35 * np.sin(2 * np.pi * p.x / np.maximum(p.scale, 0.01)), 0.0)
    return _modulate(p, 0.9 + 0.12 * p.blotch() + 0.08 * p.fine() + folds)


def _carpet(p: Texels) -> np.ndarray:
    return _modulate(p, 0.85 + 0.25 * p.fine(40.0) + 0.1 * p.blotch())


def _tiles(p: Texels) -> np.ndarray:
    grout = _near_line(p.x, p.scale, 0.004) | _near_line(p.y, p.scale, 0.004)
    tiles = _modulate(p, 0.85 + 0.3 * _hash01(np.floor(p.x / p.scale), np.floor(p.y / p.scale)))
    return np.where(grout[:, None], 0.4 * p.accent + 0.1, tiles)


def _wallpaper(p: Texels) -> np.ndarray:
    stripes = (0.5 + 0.5 * np.sin(2 * np.pi * p.x / p.scale))[:, None] * 0.4
    return p.base * (1 - stripes) + p.accent * stripes


def _panel(p: Texels) -> np.ndarray:
    """Door and drawer fronts: a grid of cells, `scale` wide and `rows` high, dark gaps and handles."""
    width, height = p.extent[:, 0], p.extent[:, 1]
    cell_w = width / np.maximum(1, np.round(width / p.scale))
    cell_h = height / p.rows
    x, y = p.s * width, p.t * height
    gap = _near_line(x, cell_w, 0.005) | _near_line(y, cell_h, 0.005)
    handle = (np.abs(np.mod(x, cell_w) - cell_w / 2) < 0.05) & (np.abs(np.mod(y, cell_h) - 0.85 * cell_h) < 0.012)
    return np.where((gap | handle)[:, None], 0.15 * p.base, _modulate(p, 1 + 0.06 * p.blotch()))


def _books(p: Texels) -> np.ndarray:
    """Spines of varying width, colour and height in front of a dark shelf."""
    seed = p.seed.astype(np.int64)
    book = np.floor(p.x / p.scale + 0.4 * _hash01(np.floor(p.x / p.scale), seed))
    colour = BOOK_COLOURS[(_hash01(book, seed) * len(BOOK_COLOURS)).astype(np.int64)]
    colour = colour * (0.6 + 0.6 * _hash01(book + 3, seed))[:, None]
    tall = 0.6 + 0.4 * _hash01(book + 11, seed)
    return np.where(((p.t > tall) | _near_line(p.x, p.scale, 0.002))[:, None], 0.01 * p.base, colour)


def _dark_glass(p: Texels) -> np.ndarray:
    return _modulate(p, 0.7 + 0.5 * p.t)


def _mirror(p: Texels) -> np.ndarray:
    return p.base * 0.5 + p.accent * (0.3 + 0.3 * p.blotch(1.0))[:, None]


def _window(p: Texels) -> np.ndarray:
    """Frame and mullions; the panes are dark, the view through them is emitted light."""
    panes = np.maximum(1, np.round(p.extent[:, 0] / p.scale))
    frame = (p.s < 0.04) | (p.s > 0.96) | (p.t < 0.04) | (p.t > 0.96) | _near_line(p.s * panes, 1.0, 0.02 * panes)
    return np.where(frame[:, None], np.float32(0.7), np.float32(0.0))


def _metal(p: Texels) -> np.ndarray:
    return _modulate(p, 0.85 + 0.15 * _lookup(p.noise.fine, p.x * 200 + p.seed, p.y * 2))


def _picture(p: Texels) -> np.ndarray:
    """Blobs of two colours inside a border."""
    paint = _lookup(p.noise.smooth, p.s * 10 + p.seed, p.t * 10 + p.seed)
    image = np.where((paint > 0)[:, None], p.base, p.accent) * (0.5 + 0.5 * np.abs(paint))[:, None]
    border = (p.s < 0.06) | (p.s > 0.94) | (p.t < 0.06) | (p.t > 0.94)
    return np.where(border[:, None], p.accent * 0.3, image)


def _slats(p: Texels) -> np.ndarray:
    return _modulate(p, 0.5 + 0.5 * np.abs(np.sin(np.pi * p.y / p.scale)))


def _foliage(p: Texels) -> np.ndarray:
    return _modulate(p, 0.3 + 1.0 * np.abs(p.fine(30.0)) + 0.3 * p.blotch())


PATTERNS = {
    mat.PAINT: _paint, mat.PORCELAIN: _paint, mat.WOOD: _wood, mat.FABRIC: _fabric, mat.CARPET: _carpet,
    mat.TILES: _tiles, mat.WALLPAPER: _wallpaper, mat.PANEL: _panel, mat.BOOKS: _books, mat.SCREEN: _dark_glass,
    mat.MIRROR: _mirror, mat.GLASS: _window, mat.METAL: _metal, mat.PICTURE: _picture, mat.SLATS: _slats,
    mat.FOLIAGE: _foliage,
}


def _emission(kind: int, p: Texels) -> np.ndarray:
    """Light leaving self-lit surfaces: the view through a window, a screen that is on, a lamp."""
    if kind == mat.GLASS:
        horizon = 0.2 + 0.25 * _lookup(p.noise.smooth, p.s * 5 + p.seed, 0.5)
        outside = np.where((p.t > horizon)[:, None], p.accent, p.base * (0.6 + 0.6 * p.blotch())[:, None])
        return outside * (p.glow * (_window(p)[:, 0] == 0))[:, None]
    if kind == mat.SCREEN:
        picture = _lookup(p.noise.smooth, p.s * 8 + p.seed, p.t * 6)
        return p.accent * ((0.4 + 0.6 * np.abs(picture)) * p.glow)[:, None]
    return p.base * p.glow[:, None]


def albedo(hits: Hits, columns: dict[str, np.ndarray], noise: NoiseTiles) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel linear surface colour and self-emitted radiance, both H x W x 3."""
    material = hits.material.ravel()
    kinds = columns["kind"][material]
    linear_albedo, linear_accent = columns["albedo"] ** 2.2, columns["accent"] ** 2.2
    tex, uv, extent = hits.tex.reshape(-1, 2), hits.uv.reshape(-1, 2), hits.extent.reshape(-1, 2)
    seed = hits.primitive.ravel().astype(np.float32) * 7.31
    colour = np.empty((material.size, 3), dtype=np.float32)
    emitted = np.zeros((material.size, 3), dtype=np.float32)
    for kind in np.unique(kinds):
        i = np.flatnonzero(kinds == kind)
        m = material[i]
        texels = Texels(linear_albedo[m], linear_accent[m], columns["scale"][m], columns["rows"][m],
                        columns["emission"][m], tex[i, 0], tex[i, 1], uv[i, 0], uv[i, 1], extent[i], seed[i], noise)
        colour[i] = PATTERNS[int(kind)](texels)
        if texels.glow.any():
            emitted[i] = _emission(int(kind), texels)
    shape = (*hits.depth.shape, 3)
    return np.clip(colour, 0.0, 1.0).reshape(shape), emitted.reshape(shape)


@dataclass(frozen=True)
class Light:
    position: np.ndarray
    colour: np.ndarray
    power: float


def scene_lights(layout: Layout, rng: np.random.Generator) -> list[Light]:
    """Point lights of the room's light fittings and lamps that are on, plus one to fill in."""
    lights = []
    for item in layout.items:
        for x, y, z, power in item.lights:
            wx, wy = item.to_world(x, y)
            warm = np.array([1.0, rng.uniform(0.85, 0.95), rng.uniform(0.65, 0.85)])
            lights.append(Light(np.array([wx, wy, item.z + z]), warm, power * 6.0))
    if not lights or rng.random() < 0.5:
        fill = np.array([rng.uniform(0.2, 0.8) * layout.width, rng.uniform(0.2, 0.8) * layout.depth,
                         layout.height - 0.2])
        lights.append(Light(fill, np.array([1.0, 0.97, 0.92]), rng.uniform(3.0, 8.0)))
    return lights


def _window_light(layout: Layout, rng: np.random.Generator) -> tuple[np.ndarray, float] | None:
    """Daylight through the first window: a direction into the room and a strength."""
    windows = [o for o in layout.openings if o.kind == "window"]
    if not windows:
        return None
    inward = np.array([[0, 1, 0], [-1, 0, 0], [0, -1, 0], [1, 0, 0]], dtype=np.float64)[windows[0].wall]
    direction = inward + np.array([rng.normal(0, 0.3), rng.normal(0, 0.3), -rng.uniform(0.2, 0.8)])
    return direction / np.linalg.norm(direction), rng.uniform(0.2, 0.8)


def shade(hits: Hits, layout: Layout, colour: np.ndarray, emitted: np.ndarray, gloss: np.ndarray,
          camera_position: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Linear radiance: ambient + Lambertian point lights with falloff + glossy highlights + daylight."""
    shape = colour.shape
    n, p = hits.normal.reshape(-1, 3), hits.point.reshape(-1, 3)
    gloss = gloss.ravel()
    shiny = np.flatnonzero(gloss > 0)
    view = camera_position.astype(np.float32) - p[shiny]
    view /= np.linalg.norm(view, axis=-1, keepdims=True) + 1e-6
    ambient = rng.uniform(0.15, 0.4) * np.array([1.0, rng.uniform(0.95, 1.0), rng.uniform(0.88, 1.0)], np.float32)
    irradiance = ambient * (0.8 + 0.2 * n[:, 2:3])
    highlight = np.zeros(len(shiny), dtype=np.float32)
    for light in scene_lights(layout, rng):
        to_light = light.position.astype(np.float32) - p
        d2 = np.einsum("nc,nc->n", to_light, to_light)
        to_light /= np.sqrt(d2)[:, None] + 1e-6
        lambert = np.maximum(np.einsum("nc,nc->n", n, to_light), 0.0)
        falloff = light.power / (d2 + 1.0)
        irradiance += (lambert * falloff)[:, None] * light.colour.astype(np.float32)
        half = to_light[shiny] + view
        half /= np.linalg.norm(half, axis=-1, keepdims=True) + 1e-6
        highlight += np.maximum(np.einsum("nc,nc->n", n[shiny], half), 0.0) ** 40 * falloff[shiny] * (lambert[shiny] > 0)
    sun = _window_light(layout, rng)
    if sun is not None:
        direction, strength = sun
        irradiance += (np.maximum(-(n @ direction.astype(np.float32)), 0) * strength)[:, None] \
            * np.array([1.0, 1.0, 1.05], np.float32)
    radiance = colour.reshape(-1, 3) * irradiance * ambient_occlusion(hits.depth).reshape(-1, 1)
    radiance[shiny] += (gloss[shiny] * highlight)[:, None]
    return radiance.reshape(shape) + emitted


def ambient_occlusion(depth: np.ndarray) -> np.ndarray:
    """Darkening in creases and under things: where a pixel lies behind its neighbourhood."""
    sigma = max(depth.shape) / 80
    behind = (depth - ndimage.gaussian_filter(depth, sigma, truncate=3.0)) / depth
    return np.clip(1.0 - 3.0 * np.maximum(behind, 0.0), 0.45, 1.0).astype(np.float32)


def expose(radiance: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The camera: auto-exposure, white balance, vignetting, slight blur, gamma, noise, 8 bits."""
    h, w, _ = radiance.shape
    luminance = radiance.mean(axis=-1)
    gain = rng.uniform(0.55, 0.95) / (np.percentile(luminance[::2, ::2], 90) + 1e-4)
    rows = ((np.arange(h, dtype=np.float32) - h / 2) / (h / 2)) ** 2 * 0.56
    cols = ((np.arange(w, dtype=np.float32) - w / 2) / (w / 2)) ** 2
    vignette = 1.0 - rng.uniform(0.1, 0.35) * (rows[:, None] + cols[None, :]) / 1.56
    image = radiance * (vignette[..., None] * gain) * rng.normal(1.0, 0.06, 3).astype(np.float32)
    blur = rng.uniform(0.3, 0.7) * w / 320
    image = np.stack([ndimage.gaussian_filter(image[..., c], blur, truncate=2.5) for c in range(3)], axis=-1)
    image = np.sqrt(np.clip(image, 0.0, 1.0)) ** 0.9  # gamma 1/2.2
    sigma = rng.uniform(0.006, 0.02)
    image += rng.standard_normal(image.shape, dtype=np.float32) * (sigma * (0.5 + image))
    return np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)
