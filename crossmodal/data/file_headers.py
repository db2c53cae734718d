"""What an image or array file holds, from its header alone: size, channels, bit depth, and whether it ends where it should.

Checking every file of a large RGB-D folder this way costs a few hundred bytes per file, so it
runs once before training and finds a bad file in the first second instead of hours into a run.
PNG: the IHDR chunk, and the IEND chunk at the end. JPEG: the first start-of-frame marker, and
the end-of-image marker at the end (a truncated JPEG still decodes, grey below the cut, with only
a libjpeg line on stderr). NumPy ``.npy``: the format header's shape and dtype.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}
"""Channels a decoder returns per PNG colour type (a palette image decodes to colour)."""
JPEG_START, JPEG_END = b"\xff\xd8", b"\xff\xd9"
JPEG_FRAME_MARKERS = {0xC0 + k for k in range(16)} - {0xC4, 0xC8, 0xCC}
"""Start-of-frame markers (baseline, progressive, lossless...): not DHT, JPG or DAC."""
TAIL_BYTES = 64


class HeaderError(ValueError):
    """A file whose header cannot be read as its suffix says."""


@dataclass(frozen=True)
class ImageHeader:
    height: int
    width: int
    channels: int
    bits: int
    complete: bool
    """The file ends with its format's end marker (False: most likely truncated)."""


def image_header(path: Path) -> ImageHeader:
    """The header of a PNG or JPEG file, by its content (not its suffix); HeaderError otherwise."""
    with open(path, "rb") as file:
        start = file.read(len(PNG_SIGNATURE))
        if start == PNG_SIGNATURE:
            return _png_header(file)
        if start[:2] == JPEG_START:
            file.seek(len(JPEG_START))
            return _jpeg_header(file)
    raise HeaderError("is neither a PNG nor a JPEG file")


def _tail(file) -> bytes:
    file.seek(0, 2)
    size = file.tell()
    file.seek(max(0, size - TAIL_BYTES))
    return file.read()


def _png_header(file) -> ImageHeader:
    chunk = file.read(8 + 13)
    if len(chunk) < 21 or chunk[4:8] != b"IHDR":
        raise HeaderError("is a PNG without its IHDR header")
    width, height, bits, colour_type = struct.unpack(">IIBB", chunk[8:18])
    if colour_type not in PNG_CHANNELS or width == 0 or height == 0:
        raise HeaderError(f"is a PNG with an invalid header (colour type {colour_type}, {width}x{height})")
    return ImageHeader(height, width, PNG_CHANNELS[colour_type], bits, _tail(file).endswith(PNG_END))


def _jpeg_header(file) -> ImageHeader:
    while True:
        marker = file.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            raise HeaderError("is a JPEG whose markers end before its frame header")
        if marker[1] == 0xFF:  # fill byte before a marker
            file.seek(-1, 1)
            continue
        length_bytes = file.read(2)
        if len(length_bytes) < 2:
            raise HeaderError("is a JPEG whose markers end before its frame header")
        (length,) = struct.unpack(">H", length_bytes)
        if marker[1] in JPEG_FRAME_MARKERS:
            frame = file.read(6)
            if len(frame) < 6:
                raise HeaderError("is a JPEG with a cut frame header")
            bits, height, width, channels = struct.unpack(">BHHB", frame)
            if height == 0 or width == 0:
                raise HeaderError(f"is a JPEG with an invalid frame header ({width}x{height})")
            complete = _tail(file).rstrip(b"\x00\r\n ").endswith(JPEG_END)
            return ImageHeader(height, width, channels, bits, complete)
        if length < 2:
            raise HeaderError("is a JPEG with an invalid marker length")
        file.seek(length - 2, 1)


def npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of a ``.npy`` file from its header; HeaderError for anything else (or a pickled array)."""
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    with open(path, "rb") as file:
        try:
            version = np.lib.format.read_magic(file)
            if version not in readers:
                raise ValueError(f"format version {version[0]}.{version[1]} is not supported")
            shape, _, dtype = readers[version](file)
        except (ValueError, OSError, SyntaxError) as error:
            raise HeaderError(f"is not a NumPy .npy file ({error})") from None
        data_start = file.tell()
        file.seek(0, 2)
        available = file.tell() - data_start
    if dtype.hasobject:
        raise HeaderError("holds Python objects, which are never loaded")
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if available < expected:
        raise HeaderError(f"is cut short: its header promises {expected} bytes of data, the file holds {available}")
    return tuple(int(n) for n in shape), dtype
