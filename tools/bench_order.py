"""Does the loader keep up with the trainer on a video cache of many videos, in shuffled and in chunked order?

    python tools/bench_order.py --quick        # 400 videos x 60 samples: about a minute on 2 CPU cores
    python tools/bench_order.py                # 1000 videos x 100 samples

Writes a video cache in the layout ``crossmodal-prepare video`` writes (one HDF5 file per video,
the same writer, with random frames and sound instead of decoded ones), then times a DataLoader
reading raw items (frame and audio window) over it for one epoch in the two orders of
``data.order``: ``shuffle`` (uniform) and ``chunks`` (``data.chunk_size`` 256, ``window_chunks`` 16).
A video cache keeps at most 64 files open, so a uniform order over hundreds of videos reopens a
file for nearly every sample. Printed from one run: samples/s of each order, their ratio, and
the default audio student's training throughput (forward and backward, batch 32) they must feed.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from torch.utils.data import DataLoader

from crossmodal.constants import SAMPLE_RATE
from crossmodal.data import video_cache
from crossmodal.data.chunk_sampler import ChunkShuffleSampler
from crossmodal.data.video import DecodedAudio
from crossmodal.data.video_cache import INDEX_FILE, SETTINGS_FILE, VideoAudioPairs

FPS, CLIP_SECONDS, SIZE = 2.0, 1.0, (64, 64)


def write_cache(folder: Path, videos: int, samples: int) -> None:
    """``videos`` cache files of ``samples`` frames each (random content), with the index and settings files."""
    rng = np.random.default_rng(0)
    times = CLIP_SECONDS / 2 + np.arange(samples) / FPS
    seconds = samples / FPS + CLIP_SECONDS
    entries = []
    for v in range(videos):
        audio = DecodedAudio(samples=rng.integers(-3000, 3000, int(seconds * SAMPLE_RATE), dtype=np.int16), start=0.0)
        frames = ((k, rng.integers(0, 255, (*SIZE, 3), dtype=np.uint8)) for k in range(samples))
        name = f"video{v:05d}.h5"
        with mock.patch.object(video_cache, "frames_at", lambda *_, frames=frames: frames):
            video_cache._write_cache_file(folder / name, Path(name), audio, times, CLIP_SECONDS, SIZE)
        entries.append({"video": f"video{v:05d}.mp4", "file": name, "samples": samples, "label": None})
    (folder / INDEX_FILE).write_text(json.dumps({"class_names": [], "videos": entries}))
    (folder / SETTINGS_FILE).write_text(json.dumps({"fps": FPS, "clip_seconds": CLIP_SECONDS, "size": list(SIZE),
                                                    "sample_rate": SAMPLE_RATE}))


def samples_per_second(dataset: VideoAudioPairs, order: str, batch: int, workers: int) -> float:
    if order == "chunks":
        sampler = ChunkShuffleSampler(len(dataset), 256, 16, seed=0)
        sampler.set_epoch(1)
        loader = DataLoader(dataset, batch_size=batch, sampler=sampler, num_workers=workers)
    else:
        loader = DataLoader(dataset, batch_size=batch, shuffle=True, generator=torch.Generator().manual_seed(0), num_workers=workers)
    start = time.perf_counter()
    count = sum(item["audio"].shape[0] for item in loader)
    return count / (time.perf_counter() - start)


def student_samples_per_second(repeats: int = 5) -> float:
    from crossmodal.models.student_registry import build_student

    torch.set_num_threads(1)
    student = build_student("audio_resnet18", in_channels=1, width=16).train()
    audio = torch.randn(32, 1, round(CLIP_SECONDS * SAMPLE_RATE))
    student(audio).pooled.square().mean().backward()
    start = time.perf_counter()
    for _ in range(repeats):
        student.zero_grad(set_to_none=True)
        student(audio).pooled.square().mean().backward()
    return 32 * repeats / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="400 videos x 60 samples instead of 1000 x 100")
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader workers (default 0)")
    parser.add_argument("--videos", type=int, help="videos in the cache (default 1000; --quick 400)")
    parser.add_argument("--samples", type=int, help="samples per video (default 100; --quick 60)")
    args = parser.parse_args()
    videos, samples = args.videos or (400 if args.quick else 1000), args.samples or (60 if args.quick else 100)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        write_cache(Path(folder), videos, samples)
        print(f"video cache: {videos} videos x {samples} samples ({SIZE[0]}x{SIZE[1]} frames, {CLIP_SECONDS} s windows), "
              f"written in {time.perf_counter() - start:.0f} s")
        dataset = VideoAudioPairs(folder)
        rates = {order: samples_per_second(dataset, order, 32, args.num_workers) for order in ("shuffle", "chunks")}
    student = student_samples_per_second()
    for order, rate in rates.items():
        print(f"  {order:<8} order: {rate:8.0f} samples/s  ({rate / student:5.1f}x what the audio student trains on)")
    print(f"  chunks / shuffle: {rates['chunks'] / rates['shuffle']:.1f}x; audio student (audio_resnet18 w16, batch 32, 1 thread): "
          f"{student:.0f} samples/s")


if __name__ == "__main__":
    main()
