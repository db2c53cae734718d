"""A decoded-once cache of (frame, audio window) pairs from a folder of videos, and the dataset over it.

Layout of a cache directory:
    settings.json           fps, clip_seconds, size: a re-run must use the same ones
    videos/<rel path>.h5    one file per source video, written atomically, so a re-run
                            skips the videos already done; frames (N x H x W x 3 uint8,
                            one chunk per frame), the whole audio track (int16 mono 16 kHz,
                            1 s chunks), sample times and audio window offsets
    index.json              the videos in the cache, their sample counts and labels

Storing the whole audio track instead of one window per sample keeps overlapping
windows (fps * clip_seconds > 1) from being stored twice.
"""

from __future__ import annotations

import csv
import json
import os
import time
import warnings
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from crossmodal.config import VideoConfig
from crossmodal.constants import SAMPLE_RATE
from crossmodal.data.video import (
    VIDEO_EXTENSIONS,
    DecodedAudio,
    decode_audio,
    frames_at,
    list_videos,
    sample_times,
)
from crossmodal.data.video_cache_check import CHECKSUM_ATTR, content_checksum, file_problem
from crossmodal.errors import InputError, listed
from crossmodal.fileio import atomic_path, write_json_atomically
from crossmodal.parallel import process_pool, worker_count

SETTINGS_FILE = "settings.json"
INDEX_FILE = "index.json"
LABELS_FILE = "labels.csv"
_FRAME_BLOCK = 32


@dataclass
class VideoCacheSummary:
    """What a prepare run did: per-video outcome counts and the size of the cache."""

    out: Path
    decoded: int = 0
    resumed: int = 0
    repaired: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    samples: int = 0
    footage_seconds: float = 0.0
    elapsed_seconds: float = 0.0

    @property
    def ok(self) -> int:
        return self.decoded + self.resumed

    def skip_reasons(self) -> dict[str, int]:
        """Skipped videos counted per reason (the error after the file's path, without its details), most frequent first."""
        reasons = Counter(_reason(name, error) for name, error in self.skipped.items())
        return dict(reasons.most_common())

    def __str__(self) -> str:
        reasons = ", ".join(f"{count} {reason}" for reason, count in self.skip_reasons().items())
        return (
            f"videos: {self.ok} ok ({self.decoded} decoded{f', {self.repaired} of them repaired' if self.repaired else ''}, "
            f"{self.resumed} already cached), "
            f"{len(self.skipped)} skipped{f' ({reasons})' if reasons else ''}; samples: {self.samples}; "
            f"footage: {self.footage_seconds:.1f} s; took {self.elapsed_seconds:.1f} s; cache: {self.out}"
        )


def _reason(name: str, error: str) -> str:
    """ "/videos/clips/a.mp4 has no audio track" -> "has no audio track"; details in parentheses or after a colon are dropped."""
    _, found, after = error.partition(f"{name} ")
    return (after if found else error).split(" (")[0].split(": ")[0].strip()


def _cache_file(out: Path, video: Path) -> Path:
    return out / "videos" / (video.as_posix() + ".h5")


def read_video_labels(labels_csv: Path, videos: list[Path]) -> tuple[list[str], dict[str, int]]:
    """labels.csv (columns video, label) -> (class names, video rel path -> class id).

    A row names a video by its path relative to the source folder, its file name, or its
    stem; every video in the folder must have a label.
    """
    with open(labels_csv, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"video", "label"} - set(reader.fieldnames or [])
        if missing:
            raise InputError(f"{labels_csv} lacks the column(s) {', '.join(sorted(missing))}; expected: video,label")
        rows = {row["video"].strip(): row["label"].strip() for row in reader}
    class_names = sorted(set(rows.values()))
    class_ids = {name: i for i, name in enumerate(class_names)}
    labels: dict[str, int] = {}
    for video in videos:
        keys = (video.as_posix(), video.name, video.stem)
        label = next((rows[key] for key in keys if key in rows), None)
        if label is None:
            raise InputError(f"{labels_csv} has no label for the video {video.as_posix()}")
        labels[video.as_posix()] = class_ids[label]
    return class_names, labels


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError(f"{path} is damaged (not valid JSON); {what}") from None


def _check_settings(out: Path, settings: dict[str, Any]) -> None:
    path = out / SETTINGS_FILE
    if path.exists():
        previous = _read_json(path, "remove it to prepare the cache afresh with the settings given")
        if previous != settings:
            raise InputError(
                f"{out} is a cache made with {previous}, not {settings}; "
                "use the same settings to resume or another output folder"
            )
    else:
        write_json_atomically(path, settings)


def cache_one_video(
    source: Path, target: Path, fps: float, clip_seconds: float, size: tuple[int, int]
) -> tuple[int, float]:
    """Decode `source` into the cache file `target` (atomically); returns (samples, footage seconds)."""
    audio = decode_audio(source)
    times = sample_times(audio.start, audio.end, fps, clip_seconds)
    if len(times) == 0:
        raise InputError(f"{source} is shorter than one {clip_seconds} s clip with audio")
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as partial:
        samples = _write_cache_file(partial, source, audio, times, clip_seconds, size)
    return samples, audio.end - audio.start


def _write_cache_file(
    path: Path, source: Path, audio: DecodedAudio, times: np.ndarray, clip_seconds: float, size: tuple[int, int]
) -> int:
    """Frames at `times` that the video covers, the audio track and the window offsets; returns the sample count."""
    window = round(clip_seconds * SAMPLE_RATE)
    height, width = size
    with h5py.File(path, "w") as h5:
        frames = h5.create_dataset(
            "frames",
            shape=(0, height, width, 3),
            maxshape=(None, height, width, 3),
            dtype=np.uint8,
            chunks=(1, height, width, 3),
        )
        kept: list[int] = []
        block: list[np.ndarray] = []

        def flush() -> None:
            frames.resize(len(kept), axis=0)
            frames[len(kept) - len(block) :] = np.stack(block)
            block.clear()

        for k, frame in frames_at(source, times, size):
            kept.append(k)
            block.append(frame)
            if len(block) == _FRAME_BLOCK:
                flush()
        if block:
            flush()
        if not kept:
            raise InputError(f"{source} has no video frames during its audio track")
        times = times[kept]
        starts = np.round((times - clip_seconds / 2 - audio.start) * SAMPLE_RATE).astype(np.int64)
        h5.create_dataset("times", data=times)
        h5.create_dataset("audio_offsets", data=np.clip(starts, 0, len(audio.samples) - window))
        h5.create_dataset("audio", data=audio.samples, chunks=(min(len(audio.samples), SAMPLE_RATE),))
        h5.attrs["audio_start"] = audio.start
        h5.attrs["footage_seconds"] = audio.end - audio.start
        h5.attrs[CHECKSUM_ATTR] = content_checksum(h5)  # last: a file with it was written whole
    return len(kept)


def _cache_job(job: tuple[Path, Path, float, float, tuple[int, int]]) -> tuple[str, str | None]:
    """Cache one video in a worker: (source, error or None); one bad file never stops the job."""
    source = job[0]
    try:
        cache_one_video(*job)
    except InputError as error:
        return str(source), str(error)
    except Exception as error:  # noqa: BLE001 - any failure of one video is reported, not fatal
        return str(source), f"{source} failed: {type(error).__name__}: {error}"
    return str(source), None


def prepare_video_cache(
    src_dir: str | Path,
    out: str | Path,
    video: VideoConfig = VideoConfig(),
    workers: int | None = None,
    strict: bool = False,
    progress: bool = True,
    check_content: bool = True,
) -> VideoCacheSummary:
    """Decode every video under src_dir once into the cache `out`, sampled as ``video`` says; prints and returns a summary.

    Videos without audio, too short, or unreadable are skipped with a warning (strict=True:
    InputError naming the file). Videos already in the cache are not decoded again, so an
    interrupted run resumes; a cached file that is damaged (``video_cache_check``: its structure,
    and with ``check_content`` its checksum, which reads the whole cache once) is decoded again.
    `src_dir/labels.csv` (video,label), when present, labels the clips.
    """
    began = time.perf_counter()
    fps, clip_seconds, size = video.fps, video.clip_seconds, video.frame_size
    src_dir, out = Path(src_dir), Path(out)
    if not src_dir.is_dir():
        raise InputError(f"video folder {src_dir} does not exist")
    if fps <= 0 or clip_seconds <= 0:
        raise InputError(f"fps ({fps}) and clip_seconds ({clip_seconds}) must be positive")
    if min(size) < 8:
        raise InputError(f"size {size} is too small: both sides must be at least 8 pixels")
    videos = list_videos(src_dir)
    if not videos:
        raise InputError(f"{src_dir} holds no video files ({', '.join(VIDEO_EXTENSIONS)})")
    labels_csv = src_dir / LABELS_FILE
    class_names, labels = read_video_labels(labels_csv, videos) if labels_csv.exists() else ([], {})

    out.mkdir(parents=True, exist_ok=True)
    size = (int(size[0]), int(size[1]))
    _check_settings(
        out,
        {"fps": float(fps), "clip_seconds": float(clip_seconds), "size": list(size), "sample_rate": SAMPLE_RATE},
    )
    summary = VideoCacheSummary(out=out)
    window = round(float(clip_seconds) * SAMPLE_RATE)
    damaged = {v: problem for v in videos if _cache_file(out, v).exists()
               and (problem := file_problem(_cache_file(out, v), window, content=check_content)) is not None}
    for video_path, problem in damaged.items():
        warnings.warn(f"re-decoding {video_path.as_posix()}: its cache file {problem}", stacklevel=2)
        _cache_file(out, video_path).unlink()
    summary.repaired = len(damaged)
    todo = [v for v in videos if not _cache_file(out, v).exists()]
    summary.resumed = len(videos) - len(todo)
    jobs = [(src_dir / v, _cache_file(out, v), float(fps), float(clip_seconds), size) for v in todo]
    workers = worker_count(workers, len(jobs))

    bar = tqdm(total=len(videos), initial=summary.resumed, unit="video", desc="caching videos", disable=not progress)
    with process_pool(workers) as pool, bar:
        results = pool.imap_unordered(_cache_job, jobs) if pool else map(_cache_job, jobs)
        for source, error in results:
            bar.update()
            if error is None:
                summary.decoded += 1
                continue
            if strict:
                raise InputError(error)
            name = Path(source).relative_to(src_dir).as_posix()
            summary.skipped[name] = error
            warnings.warn(f"skipping {error}", stacklevel=2)

    entries = []
    for relative in videos:
        path = _cache_file(out, relative)
        if not path.exists():
            continue
        with h5py.File(path, "r") as h5:
            count = len(h5["times"])
            summary.footage_seconds += float(h5.attrs["footage_seconds"])
        summary.samples += count
        entries.append(
            {
                "video": relative.as_posix(),
                "file": path.relative_to(out).as_posix(),
                "samples": count,
                "label": labels.get(relative.as_posix()),
            }
        )
    write_json_atomically(out / INDEX_FILE, {"class_names": class_names, "videos": entries})
    summary.elapsed_seconds = time.perf_counter() - began
    if progress:
        print(summary)
    return summary


class VideoAudioPairs(Dataset):
    """Samples of a video cache: the frame at t and the audio window centred at t.

    Items: "rgb" uint8 3 x H x W, "audio" float32 1 x T in [-1, 1] at 16 kHz
    (T = clip_seconds * 16000), "index", "video" (path relative to the source folder),
    "time" (seconds), and "label" when the cache has labels (class_names is then non-empty).
    """

    _max_open_files = 64

    def __init__(self, cache: str | Path, transform: Callable[[dict], Any] | None = None) -> None:
        self.root = Path(cache)
        index_path = self.root / INDEX_FILE
        if not index_path.exists():
            raise InputError(f"{self.root} is not a video cache (no {INDEX_FILE}); make one with prepare_video_cache")
        index = _read_json(index_path, "run crossmodal-prepare video again to rebuild it")
        settings = _read_json(self.root / SETTINGS_FILE, "remove the cache and prepare it again")
        self.transform = transform
        self.sample_rate: int = settings["sample_rate"]
        self.fps: float = settings["fps"]
        self.clip_seconds: float = settings["clip_seconds"]
        self.size: tuple[int, int] = tuple(settings["size"])
        self.class_names: list[str] = index["class_names"]
        self._videos = index["videos"]
        self._window = round(self.clip_seconds * self.sample_rate)
        self._ends = np.cumsum([entry["samples"] for entry in self._videos])
        self._open: OrderedDict[int, tuple[h5py.File, np.ndarray, np.ndarray, h5py.Dataset, h5py.Dataset]] = OrderedDict()
        self._pid = os.getpid()
        self._check_files()

    def _check_files(self) -> None:
        """Every listed file's structure (not its content), so a damaged file stops the run now, not hours in."""
        problems = []
        for entry in self._videos:
            path = self.root / entry["file"]
            problem = "is missing" if not path.is_file() else file_problem(path, self._window)
            if problem is None:
                with h5py.File(path, "r") as h5:
                    if h5["times"].shape[0] != entry["samples"]:
                        problem = f"holds {h5['times'].shape[0]} samples where {INDEX_FILE} lists {entry['samples']}"
            if problem is not None:
                problems.append(f"{entry['file']} {problem}")
        if problems:
            raise InputError(
                f"video cache {self.root} has {len(problems)} damaged file(s): {listed(problems)}; "
                "run crossmodal-prepare video again on the source folder to re-decode them"
            )

    def __len__(self) -> int:
        return int(self._ends[-1]) if len(self._ends) else 0

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without open HDF5 handles (DataLoader workers started by spawn receive a copy)."""
        state = self.__dict__.copy()
        state["_open"] = OrderedDict()
        return state

    def _video(self, v: int) -> tuple[h5py.File, np.ndarray, np.ndarray, h5py.Dataset, h5py.Dataset]:
        """Open cache files lazily, per process (h5py handles do not survive a fork), a bounded number at a time; their
        datasets are looked up once (a lookup costs as much as reading a frame)."""
        if self._pid != os.getpid():
            self._open.clear()
            self._pid = os.getpid()
        if v in self._open:
            self._open.move_to_end(v)
            return self._open[v]
        h5 = h5py.File(self.root / self._videos[v]["file"], "r")
        self._open[v] = (h5, h5["times"][()], h5["audio_offsets"][()], h5["audio"], h5["frames"])
        if len(self._open) > self._max_open_files:
            self._open.popitem(last=False)[1][0].close()
        return self._open[v]

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < len(self):
            raise IndexError(index)
        v = int(np.searchsorted(self._ends, index, side="right"))
        row = index - (int(self._ends[v - 1]) if v else 0)
        _, times, offsets, sound, frames = self._video(v)
        start = int(offsets[row])
        audio = sound[start : start + self._window].astype(np.float32) / 32768.0
        item = {
            "rgb": torch.from_numpy(np.ascontiguousarray(frames[row].transpose(2, 0, 1))),
            "audio": torch.from_numpy(audio).unsqueeze(0),
            "index": index,
            "video": self._videos[v]["video"],
            "time": float(times[row]),
        }
        if self.class_names:
            item["label"] = self._videos[v]["label"]
        return item if self.transform is None else self.transform(item)
