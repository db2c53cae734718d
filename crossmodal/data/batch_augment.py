"""Paired augmentation of whole batches on the training device (``data.augment_on: device``).

A loader worker that decodes, crops, resizes and jitters every sample on its own costs a CPU core
per few hundred samples per second, and a GPU step is faster than that. Here the work is split:
the worker only delivers compact tensors at the stored size (uint8 RGB, depth as cached), and one
call per batch on the training device draws every sample's crop, flip and colour jitter and applies
them batched -- the same crop and flip to RGB, depth and labels, as the
per-sample path (``crossmodal.data.transforms``) does, with the same parameter ranges:

* crop and resize with ``torchvision.ops.roi_align``: each output pixel averages a grid of
  bilinear samples over its footprint, the batched counterpart of area resizing when shrinking;
  depth is averaged over valid pixels only and stays missing where less than half was valid;
* labels by pixel-centred nearest neighbour (an exact gather: no new ids appear);
* the colour jitter folded into one 3 x 4 affine per sample, as the per-sample path folds it
  (its HSV-free definition is why no library jitter is used: the ranges would differ).

Every random draw comes from a CPU generator the trainer seeds per epoch, so a run is reproducible
and resumes bit-exact, and CPU and CUDA draw the same parameters.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import default_collate
from torchvision.ops import roi_align

from crossmodal.constants import IMAGENET_MEAN, IMAGENET_STD
from crossmodal.data.av_transforms import VideoPairTransform
from crossmodal.data.resize import centre_crop_box
from crossmodal.data.transforms import CROP_ATTEMPTS, GREY_WEIGHTS, HHA, RGB_TO_YIQ, YIQ_TO_RGB, PairedTransform
from crossmodal.errors import InputError

AUGMENT_PLACES = ("auto", "host", "device")
"""Values of ``data.augment_on``."""


def augments_on_device(place: str, device: torch.device) -> bool:
    """Whether ``data.augment_on`` (``place``) puts augmentation on the training device: "auto" does on CUDA, where a
    batched op costs microseconds, and not on the CPU, where the per-sample path is the faster one and keeps its
    seeded results."""
    return place == "device" or (place == "auto" and device.type == "cuda")


def collate_frames(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Compact items -> one batch; frames must share one size, since a batch is cropped as one tensor."""
    sizes = sorted({tuple(item["rgb"].shape[-2:]) for item in items})
    if len(sizes) > 1:
        shown = " and ".join(f"{h}x{w}" for h, w in sizes[:2])
        raise InputError(
            f"data.augment_on=device augments whole batches, so every frame must have one size, but frames of {shown} "
            "met in one batch; use data.augment_on=host, or prepare a cache at one size (crossmodal-prepare ... --size)"
        )
    return default_collate(items)


def draw_crop_boxes(count: int, height: int, width: int, settings: PairedTransform, generator: torch.Generator) -> Tensor:
    """(count x 4) int64 boxes (top, left, h, w): random resized crops of an H x W frame with the output's aspect ratio
    times a ratio drawn log-uniformly, covering ``settings.scale`` of its area; the centre crop where none fits."""
    out_aspect = settings.size[1] / settings.size[0]
    low, high = settings.scale
    area = height * width * (low + (high - low) * torch.rand(count, CROP_ATTEMPTS, generator=generator, dtype=torch.float64))
    log_low, log_high = settings.log_ratio
    aspect = out_aspect * torch.exp(log_low + (log_high - log_low) * torch.rand(count, CROP_ATTEMPTS, generator=generator, dtype=torch.float64))
    crop_w = torch.round(torch.sqrt(area * aspect)).long()
    crop_h = torch.round(torch.sqrt(area / aspect)).long()
    fits = (crop_w > 0) & (crop_w <= width) & (crop_h > 0) & (crop_h <= height)
    first = fits.long().argmax(dim=1, keepdim=True)
    crop_h, crop_w = crop_h.gather(1, first).squeeze(1), crop_w.gather(1, first).squeeze(1)
    position = torch.rand(count, 2, generator=generator, dtype=torch.float64)
    top = torch.floor(position[:, 0] * (height - crop_h + 1)).long()
    left = torch.floor(position[:, 1] * (width - crop_w + 1)).long()
    boxes = torch.stack([top, left, crop_h, crop_w], dim=1)
    centre = torch.tensor(centre_crop_box(height, width, settings.size))
    return torch.where(fits.any(dim=1, keepdim=True), boxes, centre)


def crop_resize(images: Tensor, boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """N x C x H x W float images, each cropped to its box (top, left, h, w) and resized to ``size`` by roi_align."""
    boxes = boxes.to(images.device, torch.float32)
    rois = torch.stack([
        torch.arange(len(boxes), device=images.device, dtype=torch.float32),
        boxes[:, 1], boxes[:, 0], boxes[:, 1] + boxes[:, 3], boxes[:, 0] + boxes[:, 2],
    ], dim=1)
    return roi_align(images, rois, output_size=size, spatial_scale=1.0, sampling_ratio=-1, aligned=True)


def crop_resize_depth(depth: Tensor, boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """N x 1 x H x W depth (0 = missing) -> N x 1 x h x w, the valid-weighted mean of each footprint; missing (0)
    where less than half of it was valid, as ``resize_depth`` does per sample."""
    depth = torch.nan_to_num(depth.float(), nan=0.0, posinf=0.0, neginf=0.0)
    valid = (depth > 0).float()
    resized = crop_resize(torch.cat([depth * valid, valid], dim=1), boxes, size)
    weighted, weight = resized[:, :1], resized[:, 1:]
    keep = weight >= 0.5
    return torch.where(keep, weighted / weight.clamp_min(1e-12), torch.zeros_like(weighted))


def crop_nearest(labels: Tensor, boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """N x H x W labels, each cropped to its box and resized to ``size`` by pixel-centred nearest neighbour
    (the source pixel under each output pixel's centre, as OpenCV's INTER_NEAREST_EXACT)."""
    boxes = boxes.to(labels.device)
    rows = _nearest_indices(boxes[:, 0], boxes[:, 2], size[0])
    cols = _nearest_indices(boxes[:, 1], boxes[:, 3], size[1])
    batch = torch.arange(len(labels), device=labels.device)[:, None, None]
    return labels[batch, rows[:, :, None], cols[:, None, :]]


def _nearest_indices(start: Tensor, length: Tensor, out: int) -> Tensor:
    centres = torch.arange(out, device=start.device, dtype=torch.float64) + 0.5
    offset = torch.floor(centres[None] * length[:, None].double() / out).long()
    return start[:, None] + torch.minimum(offset, length[:, None] - 1)


def flip_where(images: Tensor, flipped: Tensor) -> Tensor:
    """Mirror left-right the samples where ``flipped`` (N bools) holds."""
    mask = flipped.to(images.device).view(-1, *([1] * (images.dim() - 1)))
    return torch.where(mask, images.flip(-1), images)


def draw_jitter(count: int, strength: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Per sample, the order of the four jitters (count x 4 step kinds: 0 brightness, 1 contrast, 2 saturation, 3 hue)
    and each kind's factor (count x 4): brightness, contrast and saturation in [1 - s, 1 + s] (at least 0), hue
    within +-s/4 turn -- the per-sample path's ranges."""
    order = torch.rand(count, 4, generator=generator).argsort(dim=1)
    unit = torch.rand(count, 4, generator=generator, dtype=torch.float64)
    low, high = max(0.0, 1.0 - strength), 1.0 + strength
    factors = low + (high - low) * unit
    factors[:, 3] = strength / 4 * (2.0 * unit[:, 3] - 1.0)
    return order, factors


def jitter_affines(order: Tensor, factors: Tensor, mean_colour: Tensor) -> tuple[Tensor, Tensor]:
    """The jitters applied in ``order`` folded into x -> A x + b per sample ((N x 3 x 3, N x 3), colours in [0, 1]).

    Contrast blends towards the mean grey of the image as the earlier steps left it, which is affine in the
    image's ``mean_colour`` (N x 3), so the fold is exact, as in the per-sample path.
    """
    count = len(order)
    mean_colour = mean_colour.double()
    eye = torch.eye(3, dtype=mean_colour.dtype, device=mean_colour.device).expand(count, 3, 3)
    gray = torch.tensor(GREY_WEIGHTS, dtype=mean_colour.dtype, device=mean_colour.device)
    matrix, offset = eye.clone(), torch.zeros_like(mean_colour)
    order, factors = order.to(mean_colour.device), factors.to(mean_colour.device)
    for position in range(4):
        kind = order[:, position]
        factor = factors.gather(1, kind[:, None]).squeeze(1)
        scaled = factor[:, None, None] * eye
        saturation = scaled + (1.0 - factor)[:, None, None] * torch.outer(torch.ones_like(gray), gray)
        step = torch.where((kind <= 1)[:, None, None], scaled, torch.where((kind == 2)[:, None, None], saturation, _hue_matrices(factor)))
        grey_now = (torch.einsum("nij,nj->ni", matrix, mean_colour) + offset) @ gray
        step_offset = torch.where((kind == 1)[:, None], ((1.0 - factor) * grey_now)[:, None].expand(count, 3), 0.0)
        matrix = step @ matrix
        offset = torch.einsum("nij,nj->ni", step, offset) + step_offset
    return matrix, offset


def _hue_matrices(turns: Tensor) -> Tensor:
    """Chroma rotations in YIQ space by ``turns`` (N), as RGB matrices (N x 3 x 3)."""
    angle = 2.0 * math.pi * turns
    cos, sin = torch.cos(angle), torch.sin(angle)
    rotation = torch.zeros(len(turns), 3, 3, dtype=torch.float64, device=turns.device)
    rotation[:, 0, 0] = 1.0
    rotation[:, 1, 1], rotation[:, 1, 2], rotation[:, 2, 1], rotation[:, 2, 2] = cos, -sin, sin, cos
    to_rgb = torch.tensor(YIQ_TO_RGB, dtype=torch.float64, device=turns.device)
    to_yiq = torch.tensor(RGB_TO_YIQ, dtype=torch.float64, device=turns.device)
    return to_rgb @ rotation @ to_yiq


class PairedBatchAugment:
    """The device half of ``PairedTransform``: same settings (read from one, so defaults live in one place).

    ``compact`` runs in the loader worker: the item's frames as stored, cheap to collate and copy. Calling the
    object with a batch of compact items on the training device gives what ``PairedTransform`` gives per sample:
    "source" (ImageNet-normalised, colour-jittered RGB), "target" (the encoded depth, or HHA in [0, 1]), "index",
    "target_empty", "label", and "seg" when a batch carries labels (N x H x W, cropped and mirrored with the frames).
    """

    def __init__(self, settings: PairedTransform) -> None:
        if not settings.train:
            raise ValueError("batch augmentation is for training; evaluation views are centre crops made per sample")
        self.settings = settings
        self._mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1)

    def compact(self, item: dict[str, Any]) -> dict[str, Any]:
        """A stored item -> the tensors training needs, unchanged in size: "rgb" uint8, "depth" float (or "hha"
        uint8), "index" and "label". Labels stay behind: no objective trains on them, and they would cost the worker
        a copy and the batch a gather."""
        rgb, depth = item["rgb"], item["depth"]
        if depth.shape[-2:] != rgb.shape[-2:]:
            raise InputError(f"item {item.get('index')} has RGB and depth of different sizes")
        # a frame with no valid depth anywhere trains as all-missing; the trainer counts these per epoch
        out: dict[str, Any] = {"rgb": rgb, "index": item["index"], "target_empty": not (depth.numpy() > 0).any()}
        if self.settings.encode is None:
            if item.get("hha") is None:
                raise InputError(f"item {item.get('index')} has no HHA encoding; depth_encoding {HHA} reads it from a cache "
                                 "prepared with --hha (crossmodal-prepare nyu|nyu-raw|sunrgbd ... --hha)")
            out["hha"] = item["hha"]
        else:
            out["depth"] = depth.reshape(1, *depth.shape[-2:])
        if "scene_label" in item:
            out["label"] = item["scene_label"]
        return out

    def __call__(self, batch: dict[str, Any], generator: torch.Generator) -> dict[str, Any]:
        settings = self.settings
        boxes, flipped = self.source(batch, generator)
        if "hha" in batch:
            batch["target"] = flip_where(crop_resize(batch.pop("hha").float(), boxes, settings.size), flipped) / 255.0
        else:
            depth = flip_where(crop_resize_depth(batch.pop("depth"), boxes, settings.size), flipped)
            assert settings.encode is not None  # HHA items carry "hha"
            batch["target"] = settings.encode(depth, settings.min_depth, settings.max_depth)
        if "seg" in batch:
            batch["seg"] = flip_where(crop_nearest(batch["seg"], boxes, settings.size), flipped).long()
        return batch

    def source(self, batch: dict[str, Any], generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Replace the batch's stored "rgb" by the teacher's view, "source": each frame cropped, resized, mirrored and
        jittered by its own draw. Returns the crop boxes and mirror flags, for the target to follow."""
        rgb = batch.pop("rgb")
        count, (height, width) = rgb.shape[0], rgb.shape[-2:]
        boxes = draw_crop_boxes(count, height, width, self.settings, generator)
        flipped = (torch.rand(count, generator=generator) < 0.5) & self.settings.flip
        batch["source"] = self.photometric(flip_where(crop_resize(rgb.float(), boxes, self.settings.size), flipped), generator)
        return boxes, flipped

    def photometric(self, rgb: Tensor, generator: torch.Generator) -> Tensor:
        """N x 3 x h x w RGB in [0, 255] -> colour-jittered (clamped to [0, 255]) and ImageNet-normalised."""
        strength = self.settings.color_jitter
        if strength > 0:
            order, factors = draw_jitter(len(rgb), strength, generator)
            matrix, offset = jitter_affines(order, factors, rgb.mean(dim=(2, 3)) / 255.0)
            rgb = torch.einsum("nij,njhw->nihw", matrix.float(), rgb) + 255.0 * offset.float()[:, :, None, None]
            rgb = rgb.clamp(0.0, 255.0)
        mean, std = self._mean.to(rgb.device), self._std.to(rgb.device)
        return (rgb / 255.0 - mean) / std


class VideoBatchAugment(PairedBatchAugment):
    """The device half of ``VideoPairTransform``: the frame as in ``PairedBatchAugment``, the waveform shifted by up
    to +-``max_shift`` samples (the gap zero-filled) and scaled by a gain within +-``gain_db``, each drawn per clip."""

    settings: VideoPairTransform

    def compact(self, item: dict[str, Any]) -> dict[str, Any]:
        out = {"rgb": item["rgb"], "target": item["audio"].float().reshape(1, -1), "index": item["index"]}
        if "label" in item:
            out["label"] = item["label"]
        return out

    def __call__(self, batch: dict[str, Any], generator: torch.Generator) -> dict[str, Any]:
        self.source(batch, generator)  # a crop of the picture changes nothing about the sound
        batch["target"] = self.audio(batch["target"], generator)
        return batch

    def audio(self, waveforms: Tensor, generator: torch.Generator) -> Tensor:
        """N x 1 x T waveforms, each shifted and scaled by its own draw."""
        count, length = waveforms.shape[0], waveforms.shape[-1]
        settings = self.settings
        if settings.max_shift:
            shifts = torch.randint(-settings.max_shift, settings.max_shift + 1, (count,), generator=generator)
            sources = torch.arange(length)[None] - shifts.clamp(-length, length)[:, None]
            inside = ((sources >= 0) & (sources < length)).to(waveforms.device)
            moved = waveforms.gather(-1, sources.clamp(0, length - 1).to(waveforms.device)[:, None])
            waveforms = torch.where(inside[:, None], moved, torch.zeros((), device=waveforms.device))
        if settings.gain_db:
            gain_db = settings.gain_db * (2.0 * torch.rand(count, generator=generator, dtype=torch.float64) - 1.0)
            waveforms = waveforms * (10.0 ** (gain_db / 20.0)).float().to(waveforms.device)[:, None, None]
        return waveforms
