"""The segmentation picture: each example's input (drawn by its modality), prediction and truth, as a PNG."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import torch

from crossmodal.eval.segment import Example


def label_palette() -> np.ndarray:
    """256 x 3 uint8 colours, fixed for every run: id k gets the bit-interleaved colour of k+1; 255 (ignore) is black."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    for label in range(255):
        code, colour = label + 1, [0, 0, 0]
        for bit in range(8):
            for channel in range(3):
                colour[channel] |= ((code >> channel) & 1) << (7 - bit)
            code >>= 3
        palette[label] = colour
    return palette


def depth_image(depth: np.ndarray) -> np.ndarray:
    """Encoded depth -> RGB picture: min-max over valid (non-zero) pixels, viridis, missing pixels black."""
    valid = depth > 0
    low, high = (depth[valid].min(), depth[valid].max()) if valid.any() else (0.0, 1.0)
    scaled = np.clip((depth - low) / max(high - low, 1e-6), 0.0, 1.0)
    coloured = cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_VIRIDIS)[..., ::-1]
    return np.where(valid[..., None], coloured, 0).astype(np.uint8)


def first_channel_image(sample: torch.Tensor) -> np.ndarray:
    """An image input's first channel (a batch entry without the batch axis), drawn as ``depth_image`` draws depth."""
    return depth_image(sample[0].numpy())


COLUMNS = ("input", "prediction", "ground truth")
_FONT, _TEXT_SCALE, _TEXT_HEIGHT = cv2.FONT_HERSHEY_SIMPLEX, 0.45, 20
_WHITE, _INK = 255, (0, 0, 0)


def _text_band(lines: list[list[tuple[int, str]]], width: int) -> np.ndarray:
    """White rows of text; each line lists (x, text) pieces."""
    band = np.full((_TEXT_HEIGHT * len(lines) + 4, width, 3), _WHITE, dtype=np.uint8)
    for row, pieces in enumerate(lines):
        for x, text in pieces:
            cv2.putText(band, text, (x, _TEXT_HEIGHT * (row + 1) - 5), _FONT, _TEXT_SCALE, _INK, 1, cv2.LINE_AA)
    return band


def _legend(classes: list[tuple[int, str]], palette: np.ndarray, width: int) -> np.ndarray:
    """A colour swatch and the name of each class shown, laid out in rows that fit ``width``."""
    entries = [(label, f"{name}") for label, name in classes]
    entry_width = 18 + max(cv2.getTextSize(text, _FONT, _TEXT_SCALE, 1)[0][0] for _, text in entries) + 12
    per_row = max(1, width // entry_width)
    rows = [entries[i:i + per_row] for i in range(0, len(entries), per_row)]
    band = _text_band([[(k * entry_width + 18, text) for k, (_, text) in enumerate(row)] for row in rows], width)
    for r, row in enumerate(rows):
        for k, (label, _) in enumerate(row):
            top = _TEXT_HEIGHT * r + 5
            band[top:top + 12, k * entry_width + 2:k * entry_width + 14] = palette[label]
    return band


def render_examples(
    examples: list[Example], draw_input: Callable[[torch.Tensor], np.ndarray], gap: int = 4, min_tile_height: int = 96,
    class_names: list[str] | None = None, caption: str | None = None,
) -> np.ndarray:
    """H x W x 3 uint8 grid, one row per example: input (drawn by ``draw_input``) | prediction | ground truth, under
    the column titles; with ``class_names``, a legend of the classes the picture shows; ``caption`` (the scores) below.

    Small inputs are enlarged by an integer factor (nearest neighbour) so labels stay readable.
    """
    palette = label_palette()
    factor = max(1, -(-min_tile_height // examples[0].truth.shape[0]))
    rows = []
    for example in examples:
        tiles = [draw_input(example.input), palette[example.prediction], palette[example.truth]]
        tiles = [tile.repeat(factor, axis=0).repeat(factor, axis=1) for tile in tiles]
        spacer = np.full((tiles[0].shape[0], gap, 3), 255, dtype=np.uint8)
        rows.append(np.concatenate([tiles[0], spacer, tiles[1], spacer, tiles[2]], axis=1))
    width = rows[0].shape[1]
    tile_width = (width - 2 * gap) // 3
    spacer_row = np.full((gap, width, 3), 255, dtype=np.uint8)
    parts = [_text_band([[(k * (tile_width + gap) + 2, title) for k, title in enumerate(COLUMNS)]], width)]
    parts += [part for row in rows for part in (row, spacer_row)][:-1]
    if class_names:
        shown = sorted({int(label) for example in examples for label in np.unique(np.concatenate(
            [example.prediction.ravel(), example.truth.ravel()])) if label < len(class_names)})
        if shown:
            parts.append(_legend([(label, class_names[label]) for label in shown], palette, width))
    if caption:
        parts.append(_text_band([[(2, caption)]], width))
    return np.concatenate(parts, axis=0)


def save_png(image: np.ndarray, path: Any) -> None:
    """Write an RGB uint8 image as PNG."""
    if not cv2.imwrite(str(path), np.ascontiguousarray(image[..., ::-1])):
        raise OSError(f"could not write {path}")
