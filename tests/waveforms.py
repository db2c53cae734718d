"""What the audio augmentation must produce, written out plainly for the tests to compare against."""
from __future__ import annotations

import torch


def shifted(waveform: torch.Tensor, shift: int) -> torch.Tensor:
    """``waveform`` (1-D) moved ``shift`` samples later (earlier when negative), the gap zero-filled."""
    out = torch.zeros_like(waveform)
    if shift >= 0:
        out[shift:] = waveform[: len(waveform) - shift]
    else:
        out[:shift] = waveform[-shift:]
    return out
