"""Training a segmentation head on an encoder's stage maps, and scoring it with one confusion matrix.

The encoder stays frozen by default, so the score measures what distillation put into the
maps; ``finetune`` trains it too (by default at a tenth of the head's learning rate) for the upper bound.
Scores come from one confusion matrix summed over every scored pixel.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from crossmodal.errors import InputError
from crossmodal.eval.metrics import IGNORE_INDEX, ConfusionAccumulator
from crossmodal.eval.seg_heads import DEFAULT_LR, SegmentationHead
from crossmodal.models.frozen import freeze

ENCODER_LR_FACTOR = 0.1

class Segmenter(nn.Module):
    """Encoder (Features-returning) + head; logits are upsampled to the requested label size."""

    def __init__(self, encoder: nn.Module, head: SegmentationHead, finetune: bool = False) -> None:
        super().__init__()
        self.encoder = encoder
        self.head: SegmentationHead = head
        self.finetune = finetune
        if not finetune:
            freeze(self.encoder)
        else:
            self.encoder.requires_grad_(True)

    def train(self, mode: bool = True) -> Segmenter:
        """A frozen encoder keeps its BatchNorm statistics: it stays in eval mode while the head trains."""
        super().train(mode)
        if not self.finetune:
            self.encoder.eval()
        return self

    def forward(self, x: Tensor, size: tuple[int, int] | None = None) -> Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.finetune):
            maps = self.encoder(x).maps
        return self.decode(maps, size or (x.shape[-2], x.shape[-1]))

    def decode(self, maps: list[Tensor], size: tuple[int, int]) -> Tensor:
        """Head logits for the encoder's stage maps, upsampled to ``size``."""
        return F.interpolate(self.head(maps), size=size, mode="bilinear", align_corners=False)


@dataclass
class HeadTraining:
    """How the head is trained; defaults fit a quick CPU run. ``lr=None``: the head's own ``default_lr``;
    a fine-tuned encoder trains at ``encoder_lr_factor`` times it.

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
    class_balanced: bool = False
    encoder_lr_factor: float = ENCODER_LR_FACTOR


def balanced_class_weights(samples: Any, num_classes: int) -> Tensor:
    """Median-frequency balancing (Eigen & Fergus, ICCV 2015): class c weighs median(f) / f_c, f the classes' pixel
    shares in ``samples``' label maps; a class without pixels weighs 0. Rare classes (most of NYU's 40) then count."""
    counts = torch.zeros(num_classes, dtype=torch.float64)
    for index in range(len(samples)):
        seg = torch.as_tensor(samples[index]["seg"]).reshape(-1)
        seg = seg[seg != IGNORE_INDEX]
        counts += torch.bincount(seg, minlength=num_classes)[:num_classes].double()
    present = counts > 0
    if not present.any():
        raise InputError("the train split has no labelled pixels (every seg pixel is 255), so a head cannot learn")
    shares = counts / counts.sum()
    weights = torch.zeros(num_classes, dtype=torch.float64)
    weights[present] = shares[present].median() / shares[present]
    return weights.float()


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
    """AdamW with a cosine decay, cross-entropy ignoring 255 (class-balanced with ``settings.class_balanced``); returns
    the mean loss of each epoch.

    Batches without a labelled pixel are skipped; a train split without any is an InputError.
    """
    num_workers = settings.num_workers
    samples: Any = dataset  # a Dataset, or the list of precomputed maps (both index and have a length)
    if settings.precompute_maps:
        if model.finetune:
            raise InputError("precompute_maps needs a frozen encoder; a fine-tuned encoder changes its maps every step")
        samples = frozen_maps(model.encoder.to(device), dataset, device, settings.batch_size, num_workers)
        num_workers = 0  # the maps are in memory already
    generator = torch.Generator().manual_seed(settings.seed)
    loader = DataLoader(
        samples, batch_size=settings.batch_size, shuffle=True, num_workers=num_workers,
        generator=generator, drop_last=len(samples) > settings.batch_size,
    )
    weights = balanced_class_weights(samples, model.head.num_classes).to(device) if settings.class_balanced else None
    lr: float = settings.lr if settings.lr else getattr(model.head, "default_lr", DEFAULT_LR)
    groups = [{"params": list(model.head.parameters()), "lr": lr}]
    if model.finetune:
        groups.append({"params": list(model.encoder.parameters()), "lr": lr * settings.encoder_lr_factor})
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
            loss = F.cross_entropy(logits, seg, weight=weights, ignore_index=IGNORE_INDEX)
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
    """One scored sample for the picture: the encoder's input (C x H x W), predicted and true label maps."""

    input: torch.Tensor
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
        for sample, pred, truth in zip(batch["target"], prediction.cpu(), seg.cpu()):
            if len(examples) < num_examples:
                examples.append(Example(sample, pred.numpy(), truth.numpy()))
    return confusion.matrix, examples
