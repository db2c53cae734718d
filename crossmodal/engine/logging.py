"""Where training numbers go: metrics.jsonl in the run directory always, wandb when it works.

metrics.jsonl is the record evaluation and plots read; wandb is a convenience, so any wandb
failure (import, init, log, finish) prints one warning and training carries on without it.
"""
from __future__ import annotations

import json
import math
import netrc
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crossmodal.errors import InputError, first_line
from crossmodal.eval.protocol import WandbTable
from crossmodal.fileio import write_text_atomically

WANDB_MODES = ("auto", "online", "offline", "disabled")
WANDB_PROJECT = "crossmodal"
WANDB_HOST = "api.wandb.ai"


class MetricsFile:
    """Append-only JSON lines, one per logged step or finished epoch, flushed as written."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def write(self, record: dict[str, Any]) -> None:
        with open(self.path, "a") as handle:
            handle.write(json.dumps(_finite(record)) + "\n")

    def read(self) -> list[dict[str, Any]]:
        """Every record; a torn last line (a write cut short by a kill or a full disk) is dropped.

        A damaged line before the last is an InputError naming the file and the line.
        """
        if not self.path.is_file():
            return []
        lines = [line for line in self.path.read_text(errors="replace").splitlines() if line.strip()]
        records = []
        for number, line in enumerate(lines, start=1):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                if number == len(lines):
                    break
                raise InputError(f"metrics file {self.path} line {number} is not a JSON record; remove or repair that line") from None
        return records

    def keep_epochs_up_to(self, epoch: int) -> None:
        """Drop records of epochs after ``epoch`` (a resumed run redoes them) and any torn tail; rewritten atomically."""
        kept = [record for record in self.read() if record.get("epoch", 0) <= epoch]
        write_text_atomically(self.path, "".join(json.dumps(record) + "\n" for record in kept))


def _finite(record: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN/inf; write them as null so every line stays parseable."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}


def logged_in_to_wandb() -> bool:
    """True when wandb has credentials: WANDB_API_KEY, or an api.wandb.ai entry in ~/.netrc."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators(WANDB_HOST) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def resolve_wandb_mode(requested: str) -> str:
    """"auto" -> $WANDB_MODE if set, else "online" when logged in, else "offline"."""
    if requested != "auto":
        return requested
    from_env = os.environ.get("WANDB_MODE", "").strip().lower()
    if from_env:
        return {"dryrun": "offline", "run": "online"}.get(from_env, from_env)
    return "online" if logged_in_to_wandb() else "offline"


WANDB_INIT_TIMEOUT_S = 20
"""How long wandb may try to reach its server before training goes on without it (wandb's own default: 90 s)."""


def _wandb_settings() -> Any:
    import wandb

    return wandb.Settings(console="off", silent=True, init_timeout=WANDB_INIT_TIMEOUT_S)


def _first_line(error: Exception) -> str:
    return f"{type(error).__name__}: {first_line(error)}" if str(error).strip() else type(error).__name__


class WandbLogger:
    """A wandb run that never takes training down with it; inactive when disabled or broken."""

    def __init__(
        self,
        mode: str,
        group: str,
        name: str,
        config: dict[str, Any],
        directory: str | os.PathLike[str],
        run_id: str | None = None,
    ) -> None:
        self.run: Any = None
        self._warned = False
        if mode == "disabled":
            return
        try:
            import wandb

            self.run = wandb.init(
                project=WANDB_PROJECT,
                group=group,
                job_type="train",
                name=name,
                config=config,
                mode=mode,  # type: ignore[arg-type]  # wandb's Literal; other values are wandb's to reject
                dir=os.environ.get("WANDB_DIR", str(directory)),
                id=run_id,
                resume="allow" if run_id else None,
                settings=_wandb_settings(),
            )
        except Exception as error:  # wandb can fail in many ways; training must not
            self._warn(f"could not start within {WANDB_INIT_TIMEOUT_S} s ({_first_line(error)})")

    def describe(self, metrics: Path) -> str:
        """Where this run's metrics go, for the console: wandb's mode, its files or page, and the local metrics file."""
        if self.run is None:
            return f"wandb: off; metrics in {metrics}"
        if self.run.offline:
            files = Path(self.run.dir).parent
            return f"wandb: offline, files in {files} (upload later: wandb sync {files}); metrics in {metrics}"
        return f"wandb: online, {self.run.url}; metrics in {metrics}"

    @property
    def run_id(self) -> str | None:
        return None if self.run is None else self.run.id

    def log(self, values: dict[str, Any], step: int) -> None:
        if self.run is None:
            return
        try:
            self.run.log(values, step=step)
        except Exception as error:
            self._warn(f"logging failed ({_first_line(error)})")
            self.run = None

    def finish(self) -> None:
        if self.run is None:
            return
        try:
            self.run.finish()
        except Exception as error:
            self._warn(f"finishing failed ({_first_line(error)})")
        self.run = None

    def _warn(self, message: str) -> None:
        if not self._warned:
            print(f"warning: wandb {message}; continuing with metrics.jsonl only", file=sys.stderr)
            self._warned = True


def numeric_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The int and float entries of ``values`` (not bools): what can stand as a score in a summary or a table."""
    return {key: value for key, value in values.items() if isinstance(value, (int, float)) and not isinstance(value, bool)}


@dataclass
class EvaluationLog:
    """What an evaluation leaves in wandb: its eval job's ``name`` and ``config``, its numeric ``scores`` (logged and
    in the summary, under ``section/``), an ``image`` and ``tables`` (``wandb.Table``s under ``section/<name>``)."""

    name: str
    config: dict[str, Any]
    scores: dict[str, Any]
    section: str
    image: Any = None
    tables: dict[str, WandbTable] = field(default_factory=dict)


def log_evaluation(mode: str, group: str, directory: Any, log: EvaluationLog, train_run_id: str | None = None) -> bool:
    """Log an evaluation as a wandb "eval" job in the training run's ``group``, and put its scores into the training
    run's summary too (``train_run_id``: resumed for that alone), so the run's table in wandb shows them.

    Any wandb failure is one warning, never an error.
    """
    mode = resolve_wandb_mode(mode)
    if mode == "disabled":
        return False
    try:
        import wandb

        run = wandb.init(
            project=WANDB_PROJECT, group=group, job_type="eval", name=log.name, config=log.config, mode=mode,  # type: ignore[arg-type]
            dir=str(directory), settings=_wandb_settings(),
        )
        scores = {f"{log.section}/{key}": value for key, value in numeric_values(log.scores).items()}
        logged: dict[str, Any] = dict(scores)
        if log.image is not None:
            logged[f"{log.section}/examples"] = wandb.Image(log.image)
        for table, (columns, rows) in log.tables.items():
            logged[f"{log.section}/{table}"] = wandb.Table(columns=list[str | int](columns), data=rows)
        run.log(logged)
        run.finish()
    except Exception as error:  # wandb may fail in many ways; evaluation must not
        print(f"warning: wandb could not record the evaluation ({_first_line(error)})", file=sys.stderr)
        return False
    return train_run_id is None or update_run_summary(mode, group, directory, train_run_id, scores)


def update_run_summary(mode: str, group: str, directory: Any, run_id: str, values: dict[str, Any]) -> bool:
    """Add ``values`` to the summary of the finished run ``run_id`` (resumed for that alone); a failure is one warning."""
    mode = resolve_wandb_mode(mode)
    if mode == "disabled":
        return False
    try:
        import wandb

        run = wandb.init(project=WANDB_PROJECT, group=group, id=run_id, resume="allow", mode=mode,  # type: ignore[arg-type]
                         dir=str(directory), settings=_wandb_settings())
        run.summary.update(values)
        run.finish()
        return True
    except Exception as error:
        print(f"warning: wandb could not update run {run_id}'s summary ({_first_line(error)})", file=sys.stderr)
        return False
