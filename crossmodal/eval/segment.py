"""Semantic segmentation heads on a student's stage maps: train on the labelled train split, score on test.

The encoder stays frozen by default, so the score measures what distillation put into the
maps; ``finetune`` trains it too (at a tenth of the head's learning rate) for the upper bound.
Test metrics come from one confusion matrix summed over every test pixel.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from crossmodal.errors import InputError
from crossmodal.eval.metrics import IGNORE_INDEX, ConfusionAccumulator
from crossmodal.registry import Registry

HeadFactory = Callable[[list[int], int], nn.Module]
SEGMENTATION_HEADS: Registry[HeadFactory] = Registry("segmentation head")
ENCODER_LR_FACTOR = 0.1
DEFAULT_LR = 1e-3


@SEGMENTATION_HEADS.register("linear")
class LinearHead(nn.Module):
    """A 1x1 convolution on the deepest stage: per-location linear separability of the last features."""

    default_lr = 1e-2

    def __init__(self, map_channels: list[int], num_classes: int) -> None:
        super().__init__()
        self.classify = nn.Conv2d(map_channels[-1], num_classes, kernel_size=1)

    def forward(self, maps: list[Tensor]) -> Tensor:
        return self.classify(maps[-1])


@SEGMENTATION_HEADS.register("fcn")
class FCNHead(nn.Module):
    """Every stage resized to the second stage's resolution (stride 8, as in FCN-8s), concatenated, 3x3 conv-BN-ReLU, 1x1.

    Shallow stages carry the edges, deep stages the semantics; the small head mixes both.
    Fusing at stride 8 rather than 4 costs a quarter of the compute, which matters on a CPU.
    """

    default_lr = 1e-3

    def __init__(self, map_channels: list[int], num_classes: int, hidden: int = 128) -> None:
        super().__init__()
        self.mix = nn.Sequential(
            nn.Conv2d(sum(map_channels), hidden, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Dropout2d(0.1),
        )
        self.classify = nn.Conv2d(hidden, num_classes, kernel_size=1)

    def forward(self, maps: list[Tensor]) -> Tensor:
        size = tuple(maps[min(1, len(maps) - 1)].shape[-2:])
        return self.classify(self.mix(torch.cat([_resize_map(m, size) for m in maps], dim=1)))


def _resize_map(features: Tensor, size: tuple[int, int]) -> Tensor:
    """Average-pool larger maps (no aliasing), bilinearly upsample smaller ones."""
    if tuple(features.shape[-2:]) == size:
        return features
    if features.shape[-2] > size[0]:
        return F.adaptive_avg_pool2d(features, size)
    return F.interpolate(features, size=size, mode="bilinear", align_corners=False)


def build_segmentation_head(kind: str, map_channels: list[int], num_classes: int) -> nn.Module:
    return SEGMENTATION_HEADS.get(kind)(list(map_channels), num_classes)


class Segmenter(nn.Module):
    """Encoder (Features-returning) + head; logits are upsampled to the requested label size."""

    def __init__(self, encoder: nn.Module, head: nn.Module, finetune: bool = False) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.finetune = finetune
        self.encoder.requires_grad_(finetune)

    def train(self, mode: bool = True) -> Segmenter:
        """A frozen encoder keeps its BatchNorm statistics: it stays in eval mode while the head trains."""
        super().train(mode)
        if not self.finetune:
            self.encoder.eval()
        return self

    def forward(self, x: Tensor, size: tuple[int, int] | None = None) -> Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.finetune):
            maps = self.encoder(x).maps
        return self.decode(maps, size or tuple(x.shape[-2:]))

    def decode(self, maps: list[Tensor], size: tuple[int, int]) -> Tensor:
        """Head logits for the encoder's stage maps, upsampled to ``size``."""
        return F.interpolate(self.head(maps), size=size, mode="bilinear", align_corners=False)


@dataclass
class HeadTraining:
    """How the head is trained; defaults fit a quick CPU run. ``lr=None``: the head's own ``default_lr``.

    ``precompute_maps``: run the frozen encoder once over the data set and train the head on the
    stored stage maps, so each epoch costs the head alone instead of data loading plus an
    encoder pass. Valid only for a frozen encoder and a deterministic data set (the evaluation
    transform), where every epoch would see the same maps anyway.
    """

    epochs: int = 5
    batch_size: int = 16
    lr: float | None = None
    weight_decay: float = 1e-4
    num_workers: int = 0
    seed: int = 0
    precompute_maps: bool = False


@torch.no_grad()
def frozen_maps(
    encoder: nn.Module, dataset: Dataset, device: torch.device | str, batch_size: int, num_workers: int = 0
) -> list[dict[str, Any]]:
    """Per sample, the encoder's stage maps (on ``device``) and its label map: a data set the head can train on.

    Gradient-free rather than inference mode: the head's backward pass keeps these maps as inputs.
    """
    encoder.eval()
    items: list[dict[str, Any]] = []
    # An own generator: iterating must not draw from the global one, which the head's dropout uses.
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers, generator=torch.Generator())
    for batch in loader:
        maps = encoder(batch["target"].to(device)).maps
        items += [{"maps": [m[k] for m in maps], "seg": seg} for k, seg in enumerate(batch["seg"])]
    return items


def train_segmenter(
    model: Segmenter,
    dataset: Dataset,
    settings: HeadTraining,
    device: torch.device | str = "cpu",
    on_epoch: Callable[[int, float], None] | None = None,
) -> list[float]:
    """AdamW with a cosine decay, cross-entropy ignoring 255; returns the mean loss of each epoch.

    Batches without a labelled pixel are skipped; a train split without any is an InputError.
    """
    num_workers = settings.num_workers
    if settings.precompute_maps:
        if model.finetune:
            raise InputError("precompute_maps needs a frozen encoder; a fine-tuned encoder changes its maps every step")
        dataset = frozen_maps(model.encoder.to(device), dataset, device, settings.batch_size, num_workers)
        num_workers = 0  # the maps are in memory already
    generator = torch.Generator().manual_seed(settings.seed)
    loader = DataLoader(
        dataset, batch_size=settings.batch_size, shuffle=True, num_workers=num_workers,
        generator=generator, drop_last=len(dataset) > settings.batch_size,
    )
    lr = settings.lr or getattr(model.head, "default_lr", DEFAULT_LR)
    groups = [{"params": list(model.head.parameters()), "lr": lr}]
    if model.finetune:
        groups.append({"params": list(model.encoder.parameters()), "lr": lr * ENCODER_LR_FACTOR})
    optimiser = torch.optim.AdamW(groups, weight_decay=settings.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(1, settings.epochs * len(loader)))
    model.to(device).train()
    epoch_losses = []
    for epoch in range(settings.epochs):
        total, count = 0.0, 0
        for batch in loader:
            seg = batch["seg"].to(device)
            if "maps" in batch:
                logits = model.decode(batch["maps"], tuple(seg.shape[-2:]))
            else:
                logits = model(batch["target"].to(device), size=tuple(seg.shape[-2:]))
            loss = F.cross_entropy(logits, seg, ignore_index=IGNORE_INDEX)
            if not torch.isfinite(loss):
                continue  # a batch without one labelled pixel carries no signal
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            total, count = total + loss.item(), count + 1
        if count == 0:
            raise InputError("the train split has no labelled pixels (every seg pixel is 255), so a head cannot learn")
        epoch_losses.append(total / count)
        if on_epoch is not None:
            on_epoch(epoch, epoch_losses[-1])
    return epoch_losses


@dataclass
class Example:
    """One test sample for the picture: encoded depth input, predicted and true label maps."""

    depth: np.ndarray
    prediction: np.ndarray
    truth: np.ndarray


@torch.inference_mode()
def evaluate_segmenter(
    model: Segmenter,
    dataset: Dataset,
    num_classes: int,
    device: torch.device | str = "cpu",
    batch_size: int = 16,
    num_workers: int = 0,
    num_examples: int = 4,
) -> tuple[np.ndarray, list[Example]]:
    """Confusion matrix over every labelled test pixel, and the first ``num_examples`` samples for a picture."""
    model.to(device).eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    confusion = ConfusionAccumulator(num_classes)
    examples: list[Example] = []
    for batch in loader:
        seg = batch["seg"].to(device)
        prediction = model(batch["target"].to(device), size=tuple(seg.shape[-2:])).argmax(dim=1)
        confusion.update(prediction, seg)
        for depth, pred, truth in zip(batch["target"], prediction.cpu(), seg.cpu()):
            if len(examples) < num_examples:
                examples.append(Example(depth[0].numpy(), pred.numpy(), truth.numpy()))
    return confusion.matrix, examples


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


def _depth_image(depth: np.ndarray) -> np.ndarray:
    """Encoded depth -> RGB picture: min-max over valid (non-zero) pixels, viridis, missing pixels black."""
    valid = depth > 0
    low, high = (depth[valid].min(), depth[valid].max()) if valid.any() else (0.0, 1.0)
    scaled = np.clip((depth - low) / max(high - low, 1e-6), 0.0, 1.0)
    coloured = cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_VIRIDIS)[..., ::-1]
    return np.where(valid[..., None], coloured, 0).astype(np.uint8)


def render_examples(examples: list[Example], gap: int = 4, min_tile_height: int = 96) -> np.ndarray:
    """H x W x 3 uint8 grid, one row per example: depth input | prediction | ground truth.

    Small inputs are enlarged by an integer factor (nearest neighbour) so labels stay readable.
    """
    palette = label_palette()
    factor = max(1, -(-min_tile_height // examples[0].depth.shape[0]))
    rows = []
    for example in examples:
        tiles = [_depth_image(example.depth), palette[example.prediction], palette[example.truth]]
        tiles = [tile.repeat(factor, axis=0).repeat(factor, axis=1) for tile in tiles]
        spacer = np.full((tiles[0].shape[0], gap, 3), 255, dtype=np.uint8)
        rows.append(np.concatenate([tiles[0], spacer, tiles[1], spacer, tiles[2]], axis=1))
    spacer_row = np.full((gap, rows[0].shape[1], 3), 255, dtype=np.uint8)
    stacked = [part for row in rows for part in (row, spacer_row)][:-1]
    return np.concatenate(stacked, axis=0)


def save_png(image: np.ndarray, path: Any) -> None:
    """Write an RGB uint8 image as PNG."""
    if not cv2.imwrite(str(path), np.ascontiguousarray(image[..., ::-1])):
        raise OSError(f"could not write {path}")


def report_to_wandb(
    mode: str,
    group: str,
    name: str,
    config: dict[str, Any],
    directory: Any,
    scores: dict[str, Any],
    image: np.ndarray | None,
) -> bool:
    """Log scores (and the example grid) as a wandb "eval" job; any wandb failure is one warning, never an error."""
    from crossmodal.engine.logging import WANDB_PROJECT, resolve_wandb_mode

    mode = resolve_wandb_mode(mode)
    if mode == "disabled":
        return False
    try:
        import wandb

        run = wandb.init(
            project=WANDB_PROJECT, group=group, job_type="eval", name=name, config=config, mode=mode,
            dir=str(directory), settings=wandb.Settings(console="off", silent=True),
        )
        summary = {f"segment/{key}": value for key, value in scores.items() if isinstance(value, (int, float))}
        if image is not None:
            summary["segment/examples"] = wandb.Image(image)
        run.log(summary)
        run.finish()
        return True
    except Exception as error:  # wandb may fail in many ways; evaluation must not
        print(f"warning: wandb could not record the evaluation ({type(error).__name__}: {error})", file=sys.stderr)
        return False
