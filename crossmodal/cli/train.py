"""``crossmodal-train``: distil a frozen RGB teacher into a depth or audio student.

Flags fill in the same TrainConfig a Python user builds: the target's defaults
(``default_config(target)``, i.e. configs/crd_<target>.yaml), or ``--config FILE`` instead,
then the named flags, then ``--set section.key=value`` overrides. With no flags it runs CRD
on the embedded synthetic rooms; with ``--target audio`` on the embedded synthetic
audio-visual events (both generated on first use). It prints where the run went.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from typing import Any

import yaml

from crossmodal.cli.common import INTERRUPTED_EXIT, OneLineErrorParser, run_cli
from crossmodal.config import DataConfig, TrainConfig, apply_overrides, config_to_dict, load_config
from crossmodal.distill import OBJECTIVES
from crossmodal.engine.logging import WANDB_MODES
from crossmodal.engine.trainer import METRICS_FILE, Trainer, check_config, config_in_effect, run_config_from_checkpoint
from crossmodal.errors import InputError
from crossmodal.modalities import MODALITIES, default_config


def suggest_set(flag: str, value: str | None) -> str | None:
    """``--lr 0.1`` -> ``--set optim.lr=0.1``: the config key (a section's field or an objective's option) an unknown flag names."""
    name = flag.split("=", 1)[0].lstrip("-").replace("-", "_")
    value = flag.split("=", 1)[1] if "=" in flag else value
    keys = [f"{section.name}.{name}" for section in dataclasses.fields(TrainConfig)
            if isinstance(section.default_factory, type) and name in {field.name for field in dataclasses.fields(section.default_factory)}]
    if not keys and any(name in OBJECTIVES.get(objective).option_defaults() for objective in OBJECTIVES.registered()):
        keys = [f"objective.options.{name}"]
    return f"--set {keys[0]}={value if value is not None else 'VALUE'}" if len(keys) == 1 else None


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="crossmodal-train",
        suggest=suggest_set,
        description="Distil a frozen RGB teacher into a target-modality student on paired, unlabelled data.",
    )
    parser.add_argument(
        "--config", metavar="FILE",
        help="experiment YAML (e.g. configs/fitnet_depth.yaml); default: the target's CRD experiment",
    )
    parser.add_argument("--source", help="source modality the teacher sees (rgb)")
    parser.add_argument("--target", help=f"target modality the student learns: {', '.join(MODALITIES)} (default depth)")
    parser.add_argument("--objective", help=f"distillation objective: {', '.join(OBJECTIVES)} (default crd)")
    parser.add_argument(
        "--teacher", action="append", metavar="SPEC",
        help="teacher spec, e.g. efficientnet_lite0 or resnet50:/path.pth; repeat for an ensemble",
    )
    parser.add_argument(
        "--data",
        help="training data; " + "; ".join(
            f"{name}: " + ", ".join(kind.name for kind in MODALITIES.get(name).data_sets) for name in MODALITIES
        ) + " (the first of each is the default); its options: --set data.options.KEY=VALUE",
    )
    parser.add_argument("--data-path", metavar="PATH", help="the data set's file or folder (data.options.path)")
    parser.add_argument("--nyu", metavar="PATH", help="nyu_depth_v2_labeled.mat or its prepared cache (implies --data nyu)")
    parser.add_argument("--folder", metavar="PATH", help="RGB-D folder root (implies --data rgbd-folder)")
    parser.add_argument("--videos", metavar="DIR", help="folder of videos with sound, cached on first use (implies --data video)")
    parser.add_argument(
        "--cache", metavar="DIR",
        help="prepared video cache (implies --data video-cache); with --videos: where to put the cache",
    )
    parser.add_argument("--strict", action="store_true", default=None,
                        help="RGB-D folder: stop on a data file that ends early (truncated) instead of counting it in a warning")
    parser.add_argument("--epochs", type=int, help="with --resume: extend a run (its cosine schedule stretches to the new length)")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--run-dir", "--out", dest="run_dir", metavar="DIR", help="exact run directory (default runs/<name>-<time>)")
    parser.add_argument("--resume", metavar="RUN", help="continue the run in directory RUN (or from a checkpoint file)")
    parser.add_argument("--wandb", choices=WANDB_MODES, help="wandb mode (default auto: online when logged in, else offline)")
    parser.add_argument("--device", help="auto (default), cpu, cuda, cuda:N")
    parser.add_argument("--print-config", action="store_true",
                        help="print the configuration the run would use (every option at its value in effect) and stop")
    parser.add_argument("--dry-run", action="store_true",
                        help="check and prepare the data, load the teachers, build student and objective, print the "
                             "configuration and what would train, and stop without writing a run")
    parser.add_argument(
        "--set", dest="overrides", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
        help="config overrides, e.g. optim.lr=0.01 objective.options.num_negatives=4096",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The configuration the parsed flags describe (for --resume: the run's own, with flags on top)."""
    if args.resume:
        if args.config or args.run_dir:
            raise InputError("--resume continues a run in its own directory with its saved config; drop --config/--run-dir")
        config = run_config_from_checkpoint(args.resume)
    else:
        # An unknown --target starts from the depth defaults, so the usual check names it (after --source).
        config = load_config(args.config) if args.config else default_config(args.target if args.target in MODALITIES else "depth")
    data, run, schedule = data_from_args(config.data, args), config.run, config.schedule
    for flag, value in (("source", args.source), ("target", args.target)):
        if value is not None:
            data = dataclasses.replace(data, **{flag: value})
    for flag, value in (("epochs", args.epochs), ("batch_size", args.batch_size)):
        if value is not None:
            schedule = dataclasses.replace(schedule, **{flag: value})
    for flag, value in (("seed", args.seed), ("dir", args.run_dir), ("wandb", args.wandb), ("device", args.device)):
        if value is not None:
            run = dataclasses.replace(run, **{flag: value})
    config = dataclasses.replace(config, data=data, run=run, schedule=schedule)
    if args.objective is not None and args.objective != config.objective.name:
        # Options belong to one objective; another objective starts from its own defaults.
        config = dataclasses.replace(config, objective=dataclasses.replace(config.objective, name=args.objective, options={}))
    if args.teacher:
        config = dataclasses.replace(config, teacher=dataclasses.replace(config.teacher, specs=list(args.teacher)))
    return apply_overrides(config, args.overrides)


SHORTHANDS = (("nyu", "nyu", "path"), ("folder", "rgbd-folder", "path"), ("videos", "video", "path"))
"""(flag, the data set it names, the option it sets): --nyu PATH is --data nyu --data-path PATH."""


def data_from_args(data: DataConfig, args: argparse.Namespace) -> DataConfig:
    """The data section with --data, --data-path and the shorthands applied; another data set starts from its own defaults.

    --cache names a prepared cache (data set video-cache) or, beside --videos, where the videos are cached.
    """
    named: dict[str, str] = {}  # data set -> the flag that named it
    options: dict[str, Any] = {}
    for flag, name, option in SHORTHANDS:
        if getattr(args, flag) is not None:
            named[name], options[option] = f"--{flag}", getattr(args, flag)
    if args.cache is not None:
        if args.videos is not None:
            options["cache"] = args.cache
        else:
            named["video-cache"], options["path"] = "--cache", args.cache
    if args.data is not None:
        named[args.data] = f"--data {args.data}"
    if len(named) > 1:
        raise InputError(f"{' and '.join(named.values())} name different data sets ({', '.join(named)}); give one")
    if args.data_path is not None:
        if "path" in options:
            raise InputError(f"--data-path repeats {named[next(iter(named))]}, which gives the path already; give one")
        options["path"] = args.data_path
    if args.strict:
        options["strict"] = True
    name = next(iter(named), data.name)
    start = data.options if name == data.name else {}
    return dataclasses.replace(data, name=name, options={**start, **options})


def train_main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    if args.print_config:
        check_config(config)
        print(yaml.safe_dump(config_to_dict(config_in_effect(config)), sort_keys=False), end="")
        return 0
    if args.dry_run:
        checked = Trainer(config, resume=args.resume, dry_run=True)
        print(yaml.safe_dump(config_to_dict(checked.config), sort_keys=False), end="")
        print(f"dry run: {checked.describe()}; nothing written")
        return 0
    trainer = Trainer(config, resume=args.resume)
    epochs = trainer.config.schedule.epochs
    if trainer.dist.is_main:
        resuming = f" (resuming after epoch {trainer.epoch} of {epochs})" if args.resume else ""
        print(f"run directory: {trainer.run_dir}{resuming}", flush=True)
        print(trainer.wandb.describe(trainer.run_dir / METRICS_FILE), flush=True)
    try:
        run_dir = trainer.fit()
    except KeyboardInterrupt:
        if trainer.dist.is_main:
            kept = (f"after epoch {trainer.epoch} of {epochs}; continue with: crossmodal-train --resume {trainer.run_dir}"
                    if trainer.epoch else "before its first epoch finished; nothing was kept")
            print(f"interrupted {kept}", file=sys.stderr)
        return INTERRUPTED_EXIT
    if trainer.dist.is_main:
        print(f"finished {trainer.epoch}/{epochs} epochs; run saved in {run_dir} (config.yaml, metrics.jsonl, last.pt)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(train_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
