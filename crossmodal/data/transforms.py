"""Paired RGB-D augmentation: one geometry for every modality, colour changes for RGB only.

Cross-modal distillation only works if the teacher's RGB view and the student's depth
view show the same scene region, so every geometric change (crop, resize, flip) is drawn
once per sample and applied to RGB, depth and labels alike. All randomness comes from
torch's global generator, so ``torch.manual_seed`` and DataLoader worker seeding make an
epoch reproducible.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np
import torch

from crossmodal.constants import IMAGENET_MEAN, IMAGENET_STD
from crossmodal.data.resize import centre_crop_box, resize_depth, resize_labels, resize_rgb
from crossmodal.errors import InputError
from crossmodal.registry import Registry

Resize = Callable[[np.ndarray, tuple[int, int]], np.ndarray]
DepthEncoding = Callable[[torch.Tensor, float, float], torch.Tensor]
DEPTH_ENCODINGS: Registry[DepthEncoding] = Registry("depth encoding")
HHA = "hha"
"""The depth encoding computed once, when a cache is prepared with --hha (``crossmodal.data.hha``), never per step:
items carry it as "hha" (3 x H x W uint8: disparity, height, angle) and the student takes its three channels."""


@DEPTH_ENCODINGS.register("metric")
def encode_metric(depth: torch.Tensor, min_depth: float, max_depth: float) -> torch.Tensor:
    """Depth / max_depth clipped to [0, 1]; missing stays 0 (nearer than any real reading)."""
    return torch.clamp(depth / max_depth, 0.0, 1.0)


@DEPTH_ENCODINGS.register("inverse")
def encode_inverse(depth: torch.Tensor, min_depth: float, max_depth: float) -> torch.Tensor:
    """min_depth / depth in (0, 1]; missing becomes 0, i.e. "infinitely far".

    Inverse depth spends its range on near surfaces, where indoor structure is densest.
    """
    return torch.where(depth > 0, min_depth / torch.clamp(depth, min=min_depth), 0.0)


CROP_ATTEMPTS = 10
"""Random crops tried per training sample before the centre crop."""
GREY_WEIGHTS = np.array([0.299, 0.587, 0.114])
RGB_TO_YIQ = np.array([GREY_WEIGHTS, [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)


def _uniform(low: float, high: float) -> float:
    return low + (high - low) * torch.rand(()).item()


def _hue_matrix(turns: float) -> np.ndarray:
    """Rotate chroma in YIQ space: a linear stand-in for an HSV hue shift."""
    angle = 2.0 * math.pi * turns
    c, s = math.cos(angle), math.sin(angle)
    rotation = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    return YIQ_TO_RGB @ rotation @ RGB_TO_YIQ


def _jitter_affine(strength: float, mean_colour: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Random brightness/contrast/saturation/hue, in random order, folded into x -> A x + b.

    All four jitters are affine in RGB (contrast blends towards the image's mean grey,
    which is tracked through the earlier steps), so the whole jitter costs one 3x4
    colour transform per pixel instead of four full-image passes.
    """
    matrix, offset = np.eye(3), np.zeros(3)
    low, high = max(0.0, 1.0 - strength), 1.0 + strength
    for step in torch.randperm(4).tolist():
        if step == 0:
            step_matrix, step_offset = _uniform(low, high) * np.eye(3), np.zeros(3)
        elif step == 1:
            factor = _uniform(low, high)
            mean_grey = GREY_WEIGHTS @ (matrix @ mean_colour + offset)
            step_matrix, step_offset = factor * np.eye(3), np.full(3, (1.0 - factor) * mean_grey)
        elif step == 2:
            factor = _uniform(low, high)
            step_matrix = factor * np.eye(3) + (1.0 - factor) * np.outer(np.ones(3), GREY_WEIGHTS)
            step_offset = np.zeros(3)
        else:
            step_matrix, step_offset = _hue_matrix(_uniform(-strength / 4, strength / 4)), np.zeros(3)
        matrix, offset = step_matrix @ matrix, step_matrix @ offset + step_offset
    return matrix, offset


class PairedTransform:
    """Dataset item -> fixed-size training sample ("source", "target", "index", ["seg"], ["label"]).

    Train mode draws one random resized crop and one horizontal flip per item and applies
    them to RGB (area/bilinear), depth (valid-weighted, so holes never blend into valid
    depth) and seg (nearest), then jitters the RGB colours. Eval mode centre-crops to the
    output aspect ratio and resizes, so nothing is stretched and the result is
    deterministic.

    Defaults, and why:
      * ``scale=(0.5, 1.0)``: indoor scenes need context (scene labels, room layout); crops
        below half the image mostly show one wall or table.
      * ``ratio=(3/4, 4/3)``: the crop's aspect ratio *relative to the output's*, i.e. the
        same distortion range torchvision's RandomResizedCrop gives square outputs.
      * ``color_jitter=0.4``: brightness/contrast/saturation factors in [0.6, 1.4] and hue
        within +-0.1 turn (SimCLR's 4:1 ratio); stronger hue shifts push the frozen
        ImageNet teacher's predictions off the image content it is meant to describe.
      * ``max_depth=10.0``: the range of Kinect-style indoor sensors (NYU tops out near
        10 m); ``min_depth=0.5`` is their near limit and sets the "inverse" scale.
    """

    def __init__(
        self,
        size: Sequence[int] = (240, 320),
        train: bool = True,
        scale: tuple[float, float] = (0.5, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        flip: bool = True,
        color_jitter: float = 0.4,
        depth_encoding: str = "metric",
        max_depth: float = 10.0,
        min_depth: float = 0.5,
    ) -> None:
        if len(size) != 2 or min(size) < 1:
            raise InputError(f"transform size must be two positive integers (h, w), got {size!r}")
        if not 0 < scale[0] <= scale[1] <= 1:
            raise InputError(f"crop scale must satisfy 0 < low <= high <= 1, got {scale!r}")
        if not 0 < ratio[0] <= ratio[1]:
            raise InputError(f"crop ratio must satisfy 0 < low <= high, got {ratio!r}")
        if color_jitter < 0:
            raise InputError(f"color_jitter must be >= 0, got {color_jitter!r}")
        if not 0 < min_depth < max_depth:
            raise InputError(f"depth range must satisfy 0 < min_depth < max_depth, got {min_depth!r}, {max_depth!r}")
        self.size = (int(size[0]), int(size[1]))
        self.train = train
        self.scale = scale
        self.log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        self.flip = flip
        self.color_jitter = color_jitter
        self.encode = None if depth_encoding == HHA else DEPTH_ENCODINGS.get(depth_encoding)
        self.depth_encoding = depth_encoding
        self.max_depth = max_depth
        self.min_depth = min_depth
        levels = np.arange(256, dtype=np.float64)[:, None] / 255.0
        table = (levels - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
        self._normalise_table = table.astype(np.float32)[None]

    def __call__(self, item: dict[str, Any]) -> dict[str, Any]:
        rgb, depth = item["rgb"], item["depth"]
        height, width = rgb.shape[-2:]
        seg = item.get("seg")
        if depth.shape[-2:] != (height, width) or (seg is not None and tuple(seg.shape) != (height, width)):
            raise InputError(f"item {item.get('index')} has RGB, depth and seg of different sizes")

        top, left, crop_h, crop_w = self._crop_box(height, width)
        flipped = self.train and self.flip and bool(torch.rand(()) < 0.5)
        rows, cols = slice(top, top + crop_h), slice(left, left + crop_w)

        rgb_crop = cv2.merge([plane.numpy() for plane in rgb[:, rows, cols]])
        sample: dict[str, Any] = {
            "source": self._source(self._resize(resize_rgb, rgb_crop, flipped)),
            "target": self._target(item, rows, cols, flipped),
            "index": item["index"],
            # a frame with no valid depth anywhere trains as all-missing; the trainer counts these per epoch
            "target_empty": not bool((depth > 0).any()),
        }
        if seg is not None:
            seg_crop = seg[rows, cols].numpy()
            sample["seg"] = torch.from_numpy(self._resize(resize_labels, seg_crop, flipped).astype(np.int64))
        if "scene_label" in item:
            sample["label"] = item["scene_label"]
        return sample

    def _crop_box(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(top, left, h, w) of the region that becomes the output image."""
        out_aspect = self.size[1] / self.size[0]
        if self.train:
            area = height * width
            for _ in range(CROP_ATTEMPTS):
                target_area = area * _uniform(*self.scale)
                aspect = out_aspect * math.exp(_uniform(*self.log_ratio))
                crop_w = round(math.sqrt(target_area * aspect))
                crop_h = round(math.sqrt(target_area / aspect))
                if 0 < crop_w <= width and 0 < crop_h <= height:
                    top = int(torch.randint(0, height - crop_h + 1, ()))
                    left = int(torch.randint(0, width - crop_w + 1, ()))
                    return top, left, crop_h, crop_w
        return centre_crop_box(height, width, self.size)

    def _resize(self, resize: Resize, image: np.ndarray, flipped: bool) -> np.ndarray:
        out = resize(image, self.size)
        return cv2.flip(out, 1) if flipped else out

    def _source(self, rgb: np.ndarray) -> torch.Tensor:
        """h x w x 3 uint8 -> 3 x h x w float, colour-jittered (train) and ImageNet-normalised.

        The jitter runs in uint8, whose saturation is the [0, 255] clamp; normalisation is
        a 256-entry lookup table per channel.
        """
        if self.train and self.color_jitter > 0:
            mean_colour = np.array(cv2.mean(rgb)[:3]) / 255.0
            matrix, offset = _jitter_affine(self.color_jitter, mean_colour)
            rgb = cv2.transform(rgb, np.hstack([matrix, 255.0 * offset[:, None]]).astype(np.float32))
        normalised = cv2.LUT(rgb, self._normalise_table)
        return torch.from_numpy(np.ascontiguousarray(normalised.transpose(2, 0, 1)))

    def _target(self, item: dict[str, Any], rows: slice, cols: slice, flipped: bool) -> torch.Tensor:
        """The depth crop, resized and encoded (1 x h x w); for HHA the item's precomputed planes, resized as RGB and scaled
        to [0, 1] (3 x h x w)."""
        if self.encode is None:
            hha = item.get("hha")
            if hha is None:
                raise InputError(
                    f"item {item.get('index')} has no HHA encoding; depth_encoding {HHA} reads it from a cache prepared "
                    "with --hha (crossmodal-prepare nyu|nyu-raw|sunrgbd ... --hha)"
                )
            crop = cv2.merge([plane.numpy() for plane in hha[:, rows, cols]])
            planes = self._resize(resize_rgb, crop, flipped).astype(np.float32) / np.float32(255)
            return torch.from_numpy(np.ascontiguousarray(planes.transpose(2, 0, 1)))
        depth = item["depth"].reshape(item["depth"].shape[-2:])[rows, cols].numpy()
        resized = torch.from_numpy(np.ascontiguousarray(self._resize(resize_depth, depth, flipped)))
        return self.encode(resized, self.min_depth, self.max_depth)[None]
