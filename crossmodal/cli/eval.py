"""`crossmodal-eval PROTOCOL`: run one registered evaluation protocol on a student, the one evaluation command.

    crossmodal-eval scene-probe --run runs/RUN
    crossmodal-eval segmentation --run runs/RUN --set labels=nyu13 head=fcn epochs=10
    crossmodal-eval sound-probe --random-init audio_resnet18 --target audio --set cs=[0.1,1,10]

The protocol must apply to the student's modality. ``--set key=value`` sets fields of the
protocol's settings (values read as YAML, names and types checked); --data, --data-set, --split,
--seed and --workers set the fields of those names. The report goes into the run directory (or --out) as
the protocol's JSON file (probe.json, segment.json, ...: the latest), a picture beside it when it has
one, and is kept under evaluations/<protocol>-<digest>.json, keyed by network and settings.
``crossmodal-probe`` and ``crossmodal-segment`` are this command with their protocols' flags.
"""
from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crossmodal.cli.common import OneLineErrorParser, run_cli
from crossmodal.cli.student_options import add_student_arguments, run_protocol, student_from_args
from crossmodal.config import parse_setting, replace_checked
from crossmodal.engine.logging import WANDB_MODES
from crossmodal.eval.catalog import PROTOCOLS

FEATURE_CACHE = "feature_cache"
"""A settings field the command points at <out>/features, where probes keep extracted features."""


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="crossmodal-eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("protocol", help="one of: " + ", ".join(
        f"{name} ({PROTOCOLS.get(name).title})" for name in PROTOCOLS.names()
    ))
    add_student_arguments(parser)
    parser.add_argument("--set", dest="changes", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="fields of the protocol's settings, e.g. epochs=10 cs=[0.1,1]")
    parser.add_argument("--wandb", choices=WANDB_MODES, default="auto",
                        help="log the scores as a wandb eval job in the run's group: auto (online when logged in, else offline), online, offline, disabled")
    return parser


def settings_from_args(protocol: str, args: argparse.Namespace, out: Path) -> Any:
    """The protocol's default settings with the shared flags, then the --set changes, every key checked."""
    settings_type = PROTOCOLS.get(protocol).settings_type
    fields = {field.name for field in dataclasses.fields(settings_type)}
    shared = {"data": args.data, "data_set": args.data_set, "split": args.split, "seed": args.seed, "workers": args.workers, FEATURE_CACHE: out / "features"}
    changes: dict[str, Any] = {key: value for key, value in shared.items() if key in fields and value is not None}
    for change in args.changes:
        key, value = parse_setting(change, what="--set", shape="key=value")
        changes[key] = value
    return replace_checked(settings_type(), changes, origin=f"the {protocol} settings (--set)")


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    protocol = PROTOCOLS.get(args.protocol)
    student, out = student_from_args(args)
    return run_protocol(protocol.name, student, settings_from_args(protocol.name, args, out), out, args.device, wandb=args.wandb)


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
