"""Video-pair augmentation: the frame gets the RGB-D pipeline's crop, flip and colour jitter, the audio a gain and a shift.

Frame and sound share no geometry (a crop of the picture changes nothing about the sound),
so the two are augmented independently. All randomness comes from torch's global
generator, as in PairedTransform, so seeding makes an epoch reproducible.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import torch

from crossmodal.config import AugmentConfig
from crossmodal.constants import SAMPLE_RATE
from crossmodal.data.resize import resize_rgb
from crossmodal.data.transforms import PairedTransform
from crossmodal.errors import InputError


class VideoPairTransform(PairedTransform):
    """Video-cache item ("rgb", "audio", "index", ["label"]) -> ("source", "target", "index", ["label"]).

    "source": the frame, random resized crop + horizontal flip + colour jitter in train mode
    (centre crop in eval mode), resized to ``size`` and ImageNet-normalised, exactly as the
    RGB side of PairedTransform. "target": the 1 x T float waveform; in train mode scaled by
    a random gain within +-``gain_db`` and shifted by up to +-``shift_seconds`` (the gap
    zero-filled), in eval mode unchanged.

    ``scale=(0.6, 1.0)``: a sounding object may sit anywhere in the frame; smaller crops
    often cut it out, and the frame then no longer shows what the audio hears.
    """

    def __init__(
        self,
        size: Sequence[int] = (112, 112),
        train: bool = True,
        scale: tuple[float, float] = (0.6, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        flip: bool = True,
        color_jitter: float = 0.4,
        gain_db: float = AugmentConfig.gain_db,
        shift_seconds: float = AugmentConfig.shift_seconds,
        sample_rate: int = SAMPLE_RATE,
    ) -> None:
        super().__init__(size=size, train=train, scale=scale, ratio=ratio, flip=flip, color_jitter=color_jitter)
        if gain_db < 0 or shift_seconds < 0:
            raise InputError(f"audio gain_db and shift_seconds must be >= 0, got {gain_db!r} and {shift_seconds!r}")
        self.gain_db = gain_db
        self.max_shift = round(shift_seconds * sample_rate)

    def __call__(self, item: dict[str, Any]) -> dict[str, Any]:
        rgb = item["rgb"]
        height, width = rgb.shape[-2:]
        top, left, crop_h, crop_w = self._crop_box(height, width)
        flipped = self.train and self.flip and bool(torch.rand(()) < 0.5)
        crop = cv2.merge([plane.numpy() for plane in rgb[:, top : top + crop_h, left : left + crop_w]])
        sample: dict[str, Any] = {
            "source": self._source(self._resize(resize_rgb, crop, flipped)),
            "target": self._audio(item["audio"]),
            "index": item["index"],
        }
        if "label" in item:
            sample["label"] = item["label"]
        return sample

    def _audio(self, waveform: torch.Tensor) -> torch.Tensor:
        waveform = waveform.float().reshape(1, -1)
        if not self.train:
            return waveform.contiguous()
        if self.max_shift:
            length = waveform.shape[1]
            shift = max(-length, min(length, int(torch.randint(-self.max_shift, self.max_shift + 1, ()))))
            shifted = torch.zeros_like(waveform)
            if shift >= 0:
                shifted[:, shift:] = waveform[:, : length - shift]
            else:
                shifted[:, :shift] = waveform[:, -shift:]
            waveform = shifted
        if self.gain_db:
            gain_db = self.gain_db * (2.0 * torch.rand(()).item() - 1.0)
            waveform = waveform * 10.0 ** (gain_db / 20.0)
        return waveform
