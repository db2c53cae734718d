"""Generating the embedded audio-visual data set: event videos with sound and a labelled sound set, from one config.

Layout written by generate_synthetic_av(out):
    out/videos/video_000.mp4 ...      H.264 (or MPEG-4 part 2) video + AAC stereo audio, 22.05 kHz
    out/videos/labels.csv             video,label
    out/sounds/audio/*.wav            mono 44.1 kHz clips in the ESC-50 naming scheme
    out/sounds/meta/esc50.csv         filename,fold,target,category,esc10,src_file,take (5 folds)
"""
from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import soundfile
from tqdm import tqdm

from crossmodal.config import SyntheticAVConfig
from crossmodal.data.synthetic.av import EVENT_CLASSES, SOUND_SET_RATE, VIDEO_AUDIO_RATE, render_event_sound, render_event_video
from crossmodal.data.synthetic.av_files import write_av_file
from crossmodal.errors import InputError
from crossmodal.parallel import process_pool, worker_count

ESC50_COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")
GENERATOR_VERSION = 2
"""Part of the generated folder's name: files from a generator that rendered differently are never reused."""
VIDEO_FPS = 25
SOUND_CLIP_SECONDS = 5.0
"""The labelled sound set's clips are ESC-50 length."""


def _video_job(job: tuple[Path, int, list[int], tuple[int, int], float, int]) -> None:
    path, class_id, seed, size, seconds, fps = job
    frames, audio = render_event_video(class_id, seed, size, seconds, fps)
    write_av_file(path, frames, fps, audio, VIDEO_AUDIO_RATE)


def _sound_job(job: tuple[Path, int, list[int], float]) -> None:
    path, class_id, seed, seconds = job
    soundfile.write(path, render_event_sound(class_id, seed, seconds), SOUND_SET_RATE, subtype="PCM_16")


def generate_synthetic_av(
    out_dir: str | Path,
    av: SyntheticAVConfig = SyntheticAVConfig(),
    workers: int | None = None,
    progress: bool = True,
    fps: int = VIDEO_FPS,
    clip_seconds: float = SOUND_CLIP_SECONDS,
) -> Path:
    """Write ``av.num`` event videos (out/videos, with labels.csv) and an ESC-50-layout sound set (out/sounds).

    Classes cycle through EVENT_CLASSES so the videos are balanced; ``av.clips_per_class`` sound
    clips of each class (``clip_seconds`` long) are spread evenly over the five folds. The same
    seed gives the same files. ``fps`` and ``clip_seconds`` are the renderer's own settings
    (lower them for quick tests).
    """
    if av.num < 1 or av.clips_per_class < 1 or av.seconds <= 0 or min(av.size) < 8:
        raise InputError(
            f"synthetic events need num and clips_per_class >= 1, sides >= 8 and positive seconds, "
            f"got {av.num}, {av.clips_per_class}, {av.size} and {av.seconds}"
        )
    num_videos, seed, size, seconds, clips_per_class = av.num, av.seed, tuple(av.size), av.seconds, av.clips_per_class
    out = Path(out_dir)
    videos, sounds = out / "videos", out / "sounds"
    (sounds / "audio").mkdir(parents=True, exist_ok=True)
    (sounds / "meta").mkdir(parents=True, exist_ok=True)
    videos.mkdir(parents=True, exist_ok=True)
    classes = len(EVENT_CLASSES)

    video_jobs = [
        (videos / f"video_{i:03d}.mp4", i % classes, [seed, 0, i], tuple(size), seconds, fps) for i in range(num_videos)
    ]
    sound_rows, sound_jobs = [], []
    for c, name in enumerate(EVENT_CLASSES):
        for j in range(clips_per_class):
            fold, clip_id = j % 5 + 1, c * clips_per_class + j
            filename = f"{fold}-{clip_id:06d}-A-{c}.wav"
            sound_rows.append((filename, fold, c, name, False, clip_id, "A"))
            sound_jobs.append((sounds / "audio" / filename, c, [seed, 1, clip_id], clip_seconds))

    jobs = [(_video_job, job) for job in video_jobs] + [(_sound_job, job) for job in sound_jobs]
    with process_pool(worker_count(workers, len(jobs))) as pool, tqdm(
        total=len(jobs), desc="rendering events", unit="file", disable=not progress, dynamic_ncols=True
    ) as bar:
        for _ in pool.imap_unordered(_run_job, jobs) if pool else map(_run_job, jobs):
            bar.update()

    with open(videos / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video", "label"])
        writer.writerows((job[0].name, EVENT_CLASSES[job[1]]) for job in video_jobs)
    with open(sounds / "meta" / "esc50.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(ESC50_COLUMNS)
        writer.writerows(sound_rows)
    return out


def _run_job(job: tuple[Callable[[tuple], None], tuple]) -> None:
    function, arguments = job
    function(arguments)
