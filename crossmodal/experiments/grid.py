"""Train -> judge for several distillation methods and seeds: the experiment behind every results table.

Each method is its experiment file (``configs/<objective>_<target>.yaml``; a zoo method without
one: ``configs/<target>_base.yaml`` with ``objective.name`` set) with one shared list of overrides
on top, trained by the same Trainer, so the methods differ in the objective alone.
Random init is the ``none`` objective run through that same path: the student keeps the weights
its seed gave it. Each student is then judged frozen, as the evaluation commands do:

its modality's ``judge`` runs the same protocols as ``crossmodal-probe`` and ``crossmodal-segment``
(``probe_run`` / ``segment_run``): depth students by the scene probe and a segmentation head,
audio students by the ESC-50 five-fold probe.

``seed`` sets the training seed (student init, data order, augmentation) and the evaluation
seed (probe validation split, head init and batch order); the data set itself comes from the
config (the data set's ``seed`` option) and stays the same across seeds, so the spread
over seeds is the spread of the methods, not of the data.

``EvalSettings.split="validation"`` keeps the test data out, for choosing settings (depth: every
fifth train frame is scored; audio: the first four folds only).
"""
from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from crossmodal.config import TrainConfig, apply_overrides, config_to_dict, experiments_dir, load_config
from crossmodal.device import resolve_device
from crossmodal.distill import OBJECTIVES
from crossmodal.engine.checkpoint import LAST_CHECKPOINT
from crossmodal.engine.logging import MetricsFile
from crossmodal.engine.trainer import METRICS_FILE, Trainer, config_in_effect, run_config_from_checkpoint
from crossmodal.errors import InputError
from crossmodal.eval.reports import EvalSettings
from crossmodal.experiments.evaluate import judge
from crossmodal.experiments.student_loading import load_trained_student
from crossmodal.fileio import write_json_atomically
from crossmodal.machine import UNRECORDED
from crossmodal.modalities import MODALITIES, Modality
from crossmodal.modalities.training_set import prepare_data

PROGRESS_POLL_S = 2.0
RESULTS_FILE = "report.json"
WORKER_OVERRIDES = ("run.progress=false",)
"""Added to every run of a grid: the trainers' own bars would interleave across workers; run_grid shows one bar instead."""


@dataclass(frozen=True)
class GridSpec:
    """Which target, methods and seeds to run, with which shared overrides, and where runs and results go."""

    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    out_dir: Path
    overrides: tuple[str, ...] = ()
    configs_dir: Path | None = None
    evaluation: EvalSettings = field(default_factory=EvalSettings)
    target: str = "depth"

    @property
    def modality(self) -> Modality:
        return MODALITIES.get(self.target)

    def experiment_file(self, method: str) -> Path:
        """The method's experiment file in ``configs_dir``, else among the experiments shipped with the package."""
        return (self.configs_dir or experiments_dir()) / self.modality.experiment_file(method)

    def check(self) -> None:
        if self.target not in MODALITIES or not self.modality.experiments:
            raise InputError(f"target {self.target!r} has no method grid; choose from: {', '.join(grid_targets())}")
        unknown = [m for m in self.methods if m not in OBJECTIVES]
        if unknown or not self.methods:
            raise InputError(f"methods {', '.join(unknown) or '(none)'} unknown for {self.target}; choose from: {', '.join(zoo_methods(self.modality))}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise InputError(f"seeds {list(self.seeds)} must be distinct non-negative integers, at least one")
        for method in self.methods:
            path = self.experiment_file(method)
            if not path.is_file():
                raise InputError(f"experiment file {path} for method {method!r} does not exist (--configs)")
        self.evaluation.check()

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "methods": list(self.methods),
            "seeds": list(self.seeds),
            "out_dir": str(self.out_dir),
            "overrides": list(self.overrides),
            "configs_dir": str(self.configs_dir) if self.configs_dir else "shipped with the package",
            "evaluation": asdict(self.evaluation),
        }


def grid_targets() -> list[str]:
    """The targets whose modality has a method grid (experiment files), by name."""
    return [name for name in MODALITIES if MODALITIES.get(name).experiments]


def zoo_methods(modality: Modality) -> tuple[str, ...]:
    """The modality's core methods, then every other registered objective (trained from its base experiment)."""
    return (*modality.experiments, *(name for name in OBJECTIVES.names() if name not in modality.experiments))


def run_name(method: str, seed: int) -> str:
    return f"{method}-seed{seed}"


def method_config(spec: GridSpec, method: str, seed: int) -> TrainConfig:
    """The method's experiment file (a zoo method: the base one, with its name), the shared overrides, then this run's seed and directory."""
    config = load_config(spec.experiment_file(method))
    if method not in spec.modality.experiments:
        config = apply_overrides(config, [f"objective.name={method}"])
    config = apply_overrides(config, spec.overrides)
    return apply_overrides(config, [f"run.seed={seed}", f"run.dir={spec.out_dir / run_name(method, seed)}"])


def check_existing_run(config: TrainConfig) -> bool:
    """Whether ``config.run.dir`` already holds this run (to continue or keep); a run with other settings is an InputError."""
    run_dir = Path(str(config.run.dir))
    if not (run_dir / LAST_CHECKPOINT).exists():
        return False
    if config_to_dict(config_in_effect(run_config_from_checkpoint(run_dir))) != config_to_dict(config_in_effect(config)):
        raise InputError(f"{run_dir} holds a run with other settings; remove it or write the results elsewhere (--out)")
    return True


def train(config: TrainConfig) -> Path:
    """Train the run in ``config.run.dir``; a run already there with the same config is continued (or kept if finished)."""
    if check_existing_run(config):
        return Trainer(config, resume=config.run.dir).fit()
    return Trainer(config).fit()


def run_one(spec: GridSpec, method: str, seed: int, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Train and judge one (method, seed); returns its scores, timings and run directory."""
    tag = f"[{spec.target} {method} seed {seed}]"
    config = method_config(spec, method, seed)
    say(f"{tag} train: {spec.experiment_file(method)} -> {config.run.dir}")
    continued = check_existing_run(config)  # an earlier invocation's run: this one's times cover only its part
    loads = [os.getloadavg()[0]]
    start = time.perf_counter()
    run_dir = train(config)
    record: dict[str, Any] = {"method": method, "seed": seed, "run_dir": str(run_dir), "continued": continued}
    record["train_s"] = round(time.perf_counter() - start, 1)
    record.update(training_history(run_dir))
    loads.append(os.getloadavg()[0])

    student = load_trained_student(run_dir)
    device = resolve_device(config.run.device)
    record.update(judge(student, spec.evaluation, seed, device, lambda line: say(f"{tag} {line}")))
    record["load_1min"] = [*loads, os.getloadavg()[0]]
    return record


def run_grid(spec: GridSpec, jobs: int = 1, threads: int = 1) -> list[dict[str, Any]]:
    """Every (seed, method) of one grid; see run_grids."""
    return run_grids([spec], jobs, threads)[0]


def run_grids(
    specs: Sequence[GridSpec], jobs: int = 1, threads: int = 1, failures_allowed: bool = False
) -> list[list[dict[str, Any]]]:
    """Every (seed, method) of every grid, ``jobs`` at a time in worker processes of ``threads`` torch threads each.

    Several single-threaded jobs use a small CPU better than one job with several threads: a
    batch of this size gives each thread little work, and on cores that other processes share,
    threads that wait for each other spin (the teacher's forward pass ran 15x slower with two
    threads than with one on two busy cores). All grids share one pool, trained runs first and
    untrained references last, so no worker idles while another finishes a grid. Workers report
    their stages as lines; this process prints them above one progress bar of training epochs
    (read from each run's metrics file). Each grid's records so far are rewritten to its
    ``out_dir/report.json`` after each run. Returns the records per grid, in task order.

    ``failures_allowed`` (weight sweeps): a run that stops with an InputError (e.g. a non-finite
    loss) becomes a record with its ``error`` instead of stopping the grid.
    """
    if jobs < 1 or threads < 1:
        raise InputError(f"jobs and threads must be at least 1, got {jobs} and {threads}")
    specs = [replace(spec, overrides=(*spec.overrides, *WORKER_OVERRIDES)) for spec in specs]
    for spec in specs:
        spec.check()
        spec.out_dir.mkdir(parents=True, exist_ok=True)
    tasks = [(k, method, seed) for k, spec in enumerate(specs) for seed in spec.seeds for method in spec.methods]
    configs = {task: method_config(specs[task[0]], *task[1:]) for task in tasks}
    for config in configs.values():
        check_existing_run(config)  # before any work, not minutes into it
    for data in {json.dumps(config_to_dict(c.data), sort_keys=True): c.data for c in configs.values()}.values():
        prepare_data(data)  # once, here: workers must not generate the same file side by side
    order = sorted(tasks, key=lambda task: configs[task].objective.name == "none")
    context = multiprocessing.get_context("spawn")
    lines = context.SimpleQueue()
    records: dict[tuple[int, str, int], dict[str, Any]] = {}
    total = sum(config.schedule.epochs for config in configs.values())
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker, initargs=(threads, lines)) as pool, \
            tqdm(total=total, desc="training epochs", unit="epoch", dynamic_ncols=True) as bar:
        futures = {pool.submit(_run_in_worker, specs[task[0]], *task[1:]): task for task in order}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=PROGRESS_POLL_S, return_when=FIRST_COMPLETED)
                while not lines.empty():
                    bar.write(lines.get())
                bar.update(sum(epochs_done(c) for c in configs.values()) - bar.n)
                for future in done:
                    k, method, seed = futures[future]
                    try:
                        records[futures[future]] = future.result()
                    except InputError as error:
                        if not failures_allowed:
                            raise
                        records[futures[future]] = {"method": method, "seed": seed, "error": str(error)}
                    finished = [records[t] for t in tasks if t in records and t[0] == k]
                    save_records(specs[k], finished, specs[k].out_dir / RESULTS_FILE)
        finally:
            for future in pending:
                future.cancel()
    return [[records[task] for task in tasks if task[0] == k] for k in range(len(specs))]


_worker_lines: Any = None


def _start_worker(threads: int, lines: Any) -> None:
    global _worker_lines
    torch.set_num_threads(threads)
    _worker_lines = lines


def _run_in_worker(spec: GridSpec, method: str, seed: int) -> dict[str, Any]:
    return run_one(spec, method, seed, say=_worker_lines.put)


def epochs_done(config: TrainConfig) -> int:
    """Finished epochs of the run in ``config.run.dir`` by its metrics file (all of them for an untrained run)."""
    done = 0
    for record in MetricsFile(Path(str(config.run.dir)) / METRICS_FILE).read():
        if record.get("event") == "untrained":
            return config.schedule.epochs
        if record.get("event") == "epoch":
            done = max(done, int(record["epoch"]))
    return done


def training_history(run_dir: Path) -> dict[str, Any]:
    """What the run's metrics file says of its epochs over every invocation: the kinds of machine that
    trained them and the seconds they took (an untrained run: none and 0).

    Epochs logged before runs recorded their machine count as UNRECORDED.
    """
    epochs = [record for record in MetricsFile(run_dir / METRICS_FILE).read() if record.get("event") == "epoch"]
    return {
        "machines": sorted({str(record.get("machine", UNRECORDED)) for record in epochs}),
        "epoch_s": round(sum(float(record.get("epoch_time_s", 0.0)) for record in epochs), 1),
    }


def save_records(spec: GridSpec, records: Sequence[dict[str, Any]], path: Path) -> None:
    write_json_atomically(path, {"spec": spec.to_dict(), "runs": list(records)})
