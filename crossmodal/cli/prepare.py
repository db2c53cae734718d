"""`crossmodal-prepare`: turn raw data into what training reads (caches, the embedded default data).

Every default comes from the config dataclasses (``RoomsConfig``, ``SyntheticAVConfig``,
``VideoConfig``, ``NYURawCacheConfig``), so a prepared file is the one training would generate with the same settings.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from crossmodal.cli.common import OneLineErrorParser, run_cli
from crossmodal.config import RAW_FILLS, NYURawCacheConfig, RoomsConfig, SyntheticAVConfig, VideoConfig
from crossmodal.data.resize import parse_size
from crossmodal.errors import InputError

ROOMS, AV, VIDEO, RAW = RoomsConfig(), SyntheticAVConfig(), VideoConfig(), NYURawCacheConfig()


def _explicit_size(text: str) -> tuple[int, int]:
    size = parse_size(text)
    if size is None:
        raise InputError(f"--size {text!r}: this command needs an explicit HEIGHTxWIDTH, e.g. 128x128")
    return size


def _size_text(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def _at_least_one(value: int, flag: str) -> int:
    if value < 1:
        raise InputError(f"{flag} must be at least 1, got {value}")
    return value


def _prepare_nyu(args: argparse.Namespace) -> None:
    from crossmodal.data.nyu_cache import prepare_nyu_cache

    out = prepare_nyu_cache(args.mat, args.out, size=parse_size(args.size), hha=args.hha)
    print(f"NYU-Depth V2 cache written to {out}")


def _shard(text: str) -> tuple[int, int]:
    part, slash, parts = text.partition("/")
    if not (slash and part.isdigit() and parts.isdigit() and 1 <= int(part) <= int(parts)):
        raise InputError(f"--shard {text!r} is not K/N with 1 <= K <= N (e.g. 3/16)")
    return int(part), int(parts)


def _prepare_nyu_raw(args: argparse.Namespace) -> None:
    from crossmodal.data.nyu_raw_cache import prepare_raw_cache

    settings = NYURawCacheConfig(size=_explicit_size(args.size), every=args.every, fill=args.fill, hha=args.hha)
    summary = prepare_raw_cache(args.src, args.out, settings, workers=args.workers, shard=_shard(args.shard))
    print(summary)


def _prepare_sunrgbd(args: argparse.Namespace) -> None:
    from crossmodal.data.sunrgbd_cache import prepare_sunrgbd_cache

    files = {key: getattr(args, key) for key in ("toolbox", "split_file", "meta_file", "labels_file") if getattr(args, key) is not None}
    out = prepare_sunrgbd_cache(args.root, args.out, size=_explicit_size(args.size), labels=not args.no_labels, workers=args.workers,
                                hha=args.hha, depth=args.depth, **files)
    print(f"SUN RGB-D cache written to {out}")


def _prepare_synthetic_nyu_raw(args: argparse.Namespace) -> None:
    from crossmodal.data.synthetic.raw_scenes import generate_raw_scenes

    out = generate_raw_scenes(args.out, args.seed, _at_least_one(args.scenes, "--scenes"), _at_least_one(args.frames, "--frames"),
                              workers=args.workers)
    print(f"{args.scenes} synthetic rooms written as NYU raw scene folders of {args.frames} frames into {out}")


def _prepare_synthetic_rooms(args: argparse.Namespace) -> None:
    from crossmodal.data.synthetic.rooms import generate_rooms

    rooms = RoomsConfig(num=_at_least_one(args.num, "--num"), size=_explicit_size(args.size), seed=args.seed)
    out = generate_rooms(args.out, rooms, workers=args.workers)
    print(f"{rooms.num} synthetic rooms written to {out}")


def _prepare_video(args: argparse.Namespace) -> None:
    from crossmodal.data.video_cache import prepare_video_cache

    if args.fps <= 0 or args.clip_seconds <= 0:
        raise InputError("--fps and --clip-seconds must be positive")
    video = VideoConfig(fps=args.fps, clip_seconds=args.clip_seconds, frame_size=_explicit_size(args.size))
    prepare_video_cache(args.src, args.out, video, workers=args.workers, strict=args.strict)


def _prepare_synthetic_av(args: argparse.Namespace) -> None:
    from crossmodal.data.synthetic.av_set import generate_synthetic_av

    av = SyntheticAVConfig(num=_at_least_one(args.num, "--num"), seed=args.seed)
    out = generate_synthetic_av(args.out, av, workers=args.workers)
    print(f"{av.num} synthetic audio-visual event videos and a labelled sound set written to {out}")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="crossmodal-prepare", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineErrorParser)

    nyu = commands.add_parser("nyu", help="cache nyu_depth_v2_labeled.mat for fast random access")
    nyu.add_argument("--mat", type=Path, required=True, help="path to nyu_depth_v2_labeled.mat")
    nyu.add_argument("--out", type=Path, required=True, help="cache directory to create")
    nyu.add_argument("--size", default="240x320", help="HEIGHTxWIDTH of the cached frames, or 'full' (default 240x320)")
    nyu.add_argument("--hha", action="store_true", help="also store the HHA encoding of each frame (for data.depth_encoding: hha)")
    nyu.set_defaults(run=_prepare_nyu)

    raw = commands.add_parser("nyu-raw", help="synchronise, register and cache NYU-Depth V2's raw scene folders")
    raw.add_argument("--src", type=Path, required=True, help="folder of raw scene folders (bedroom_0001/ ...)")
    raw.add_argument("--out", type=Path, required=True, help="cache directory (a rerun resumes; shards share it)")
    raw.add_argument("--every", type=int, default=RAW.every, help=f"keep every K-th synchronised frame (default {RAW.every})")
    raw.add_argument("--size", default=_size_text(RAW.size), help=f"HEIGHTxWIDTH of cached frames (default {_size_text(RAW.size)})")
    raw.add_argument("--fill", default=RAW.fill, choices=RAW_FILLS, help=f"fill depth holes (default {RAW.fill})")
    raw.add_argument("--hha", action="store_true", help="also store the HHA encoding of each frame (for data.depth_encoding: hha)")
    raw.add_argument("--workers", type=int, default=None, help="processes to use (default: all cores)")
    raw.add_argument("--shard", default="1/1", help="K/N: prepare the K-th of every N scenes, e.g. one Slurm array task each")
    raw.set_defaults(run=_prepare_nyu_raw)

    sun = commands.add_parser("sunrgbd", help="cache SUN RGB-D's frames (official split, 37-class labels) at one size")
    sun.add_argument("--root", type=Path, required=True, help="the SUNRGBD folder (kv1/ kv2/ realsense/ xtion/)")
    sun.add_argument("--out", type=Path, required=True, help="cache directory to create")
    sun.add_argument("--size", default="240x320", help="HEIGHTxWIDTH of cached frames, each centre-cropped to its aspect (default 240x320)")
    sun.add_argument("--toolbox", type=Path, default=None, help="the SUNRGBDtoolbox folder (default: beside --root)")
    sun.add_argument("--split-file", type=Path, default=None, help="allsplit.mat (default: in the toolbox)")
    sun.add_argument("--meta-file", type=Path, default=None, help="SUNRGBDMeta.mat (default: in the toolbox)")
    sun.add_argument("--labels-file", "--labels", type=Path, default=None, help="SUNRGBD2Dseg.mat (default: in the toolbox)")
    sun.add_argument("--no-labels", action="store_true", help="cache without the 37-class labels (needs no meta or label file)")
    sun.add_argument("--depth", choices=("depth", "depth_bfx"), default="depth",
                     help="depth folder: the sensor's (default, what the toolbox reads) or depth_bfx (refined, fewer holes)")
    sun.add_argument("--hha", action="store_true", help="also store the HHA encoding of each frame (for data.depth_encoding: hha)")
    sun.add_argument("--workers", type=int, default=None, help="processes to use (default: all cores)")
    sun.set_defaults(run=_prepare_sunrgbd)

    synthetic_raw = commands.add_parser("synthetic-nyu-raw", help="write synthetic rooms as NYU raw scene folders (Kinect dumps)")
    synthetic_raw.add_argument("--scenes", type=int, default=10, help="number of scene folders: rooms 1..N of the seed (default 10)")
    synthetic_raw.add_argument("--frames", type=int, default=30, help="frames per scene (default 30)")
    synthetic_raw.add_argument("--seed", type=int, default=ROOMS.seed, help=f"the rooms' seed (default {ROOMS.seed}, the embedded rooms')")
    synthetic_raw.add_argument("--workers", type=int, default=None, help="processes to use (default: all cores)")
    synthetic_raw.add_argument("--out", type=Path, required=True, help="output folder of scene folders")
    synthetic_raw.set_defaults(run=_prepare_synthetic_nyu_raw)

    rooms = commands.add_parser("synthetic-rooms", help="generate procedural indoor RGB-D scenes in the NYU .mat layout")
    rooms.add_argument("--num", type=int, default=ROOMS.num, help=f"number of scenes (default {ROOMS.num}, as training)")
    rooms.add_argument("--size", default=_size_text(ROOMS.size), help=f"HEIGHTxWIDTH (default {_size_text(ROOMS.size)})")
    rooms.add_argument("--seed", type=int, default=ROOMS.seed, help="random seed; the same seed gives the same file")
    rooms.add_argument("--workers", type=int, default=None, help="processes to use (default: all cores)")
    rooms.add_argument("--out", type=Path, required=True, help="output .mat file")
    rooms.set_defaults(run=_prepare_synthetic_rooms)

    video = commands.add_parser("video", help="decode a folder of videos once into a frame/audio cache")
    video.add_argument("--src", type=Path, required=True, help="folder of video files (and optional labels.csv)")
    video.add_argument("--out", type=Path, required=True, help="cache directory (re-running resumes)")
    video.add_argument("--fps", type=float, default=VIDEO.fps, help=f"samples per second of video (default {VIDEO.fps:g})")
    video.add_argument("--clip-seconds", type=float, default=VIDEO.clip_seconds,
                       help=f"audio window centred on each frame (default {VIDEO.clip_seconds:g})")
    video.add_argument("--size", default=_size_text(VIDEO.frame_size),
                       help=f"HEIGHTxWIDTH of cached frames (default {_size_text(VIDEO.frame_size)})")
    video.add_argument("--workers", type=int, default=None, help="processes to use (default: all cores)")
    video.add_argument("--strict", action="store_true", help="stop at the first unreadable or silent video")
    video.set_defaults(run=_prepare_video)

    av = commands.add_parser("synthetic-av", help="generate event videos with sound, labels.csv and an ESC-50-layout sound set")
    av.add_argument("--num", type=int, default=AV.num, help=f"number of videos (default {AV.num})")
    av.add_argument("--seed", type=int, default=AV.seed, help="random seed; the same seed gives the same files")
    av.add_argument("--workers", type=int, default=None, help="processes to use (default: all cores)")
    av.add_argument("--out", type=Path, required=True, help="output folder")
    av.set_defaults(run=_prepare_synthetic_av)
    return parser


def _os_error_sentence(out: Path, error: OSError) -> str:
    """An OSError of a prepare step as one sentence: about --out when it concerns the output (or names no file)."""
    reason = error.strerror or str(error)
    if error.filename is None:
        return f"cannot write --out {out}: {reason}"
    path = Path(error.filename).absolute()
    target = out.absolute()
    if path == target or target in path.parents or path in target.parents:
        return f"cannot write --out {out}: {reason} ({error.filename})"
    return f"{error.filename}: {reason}"


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except OSError as error:  # an unwritable or full output place, an unreadable input: one sentence
        raise InputError(_os_error_sentence(args.out, error)) from None
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
