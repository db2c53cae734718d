"""Is a video cache file whole? Structure on every open (cheap), content by checksum when preparing.

Each cache file ends its write with a ``checksum`` attribute: BLAKE2b of its frames, audio, sample
times and window offsets. ``file_problem`` checks what must hold for the dataset to read the file
(datasets present, sample counts consistent, every audio window inside the track, attributes
set), and with ``content=True`` also recomputes the checksum, reading every byte once.
``crossmodal-prepare video`` re-decodes any file that fails either check; the dataset refuses to
open a cache with a file that fails the structural one.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import h5py
import numpy as np

from crossmodal.errors import HDF5_DAMAGE, first_line

CHECKSUM_ATTR = "checksum"
DATASETS = ("frames", "audio", "times", "audio_offsets")
ATTRS = ("audio_start", "footage_seconds")
_ROWS_PER_READ = 256


def content_checksum(h5: h5py.File) -> str:
    """BLAKE2b of the cache file's datasets, read in blocks."""
    digest = hashlib.blake2b(digest_size=16)
    for name in DATASETS:
        data = h5[name]
        digest.update(f"{name}{data.shape}{data.dtype}".encode())
        for start in range(0, data.shape[0], _ROWS_PER_READ):
            digest.update(np.ascontiguousarray(data[start:start + _ROWS_PER_READ]).tobytes())
    return digest.hexdigest()


def file_problem(path: Path, window: int, content: bool = False) -> str | None:
    """What is wrong with the cache file at ``path`` (None: nothing); ``window``: audio samples per window."""
    try:
        with h5py.File(path, "r") as h5:
            missing = [name for name in DATASETS if name not in h5] + [name for name in ATTRS if name not in h5.attrs]
            if missing:
                return f"lacks {', '.join(missing)}"
            rows = h5["frames"].shape[0]
            if not rows or h5["times"].shape != (rows,) or h5["audio_offsets"].shape != (rows,):
                return f"holds {rows} frames but {h5['times'].shape[0]} sample times and {h5['audio_offsets'].shape[0]} audio offsets"
            offsets = h5["audio_offsets"][()]
            if offsets.min() < 0 or offsets.max() + window > h5["audio"].shape[0]:
                return "has audio windows outside its audio track"
            if content:
                stored = h5.attrs.get(CHECKSUM_ATTR)
                if stored is None:
                    return "has no checksum (an interrupted or older write)"
                if content_checksum(h5) != stored:
                    return "does not match its checksum"
    except HDF5_DAMAGE as error:
        return f"cannot be read as HDF5 ({first_line(error)})"
    return None
