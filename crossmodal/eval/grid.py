"""Train -> judge for several distillation methods and seeds: the experiment behind every results table.

Each method is its experiment file (``configs/<objective>_<target>.yaml``) with one shared list
of overrides on top, trained by the same Trainer, so the methods differ in the objective alone.
Random init is the ``none`` objective run through that same path: the student keeps the weights
its seed gave it. Each student is then judged frozen, as the evaluation commands do:

- depth: a linear probe of its pooled features on the 10-class scene task (C chosen on a
  split of train, as ``crossmodal-probe``) and a segmentation head trained on its stage maps
  (as ``crossmodal-segment``);
- audio: the ESC-50 five-fold probe on the labelled sound set of its data (as ``crossmodal-probe``).

``seed`` sets the training seed (student init, data order, augmentation) and the evaluation
seed (probe validation split, head init and batch order); the data set itself comes from the
config (``data.rooms.seed``, ``data.av.seed``) and stays the same across seeds, so the spread
over seeds is the spread of the methods, not of the data.

``EvalSettings.split="validation"`` keeps the test data out, for choosing settings: depth
students are scored on every fifth train frame (the head and the probe learn from the other
four fifths), audio students by the fold protocol on the first four folds only.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Subset
from tqdm import tqdm

from crossmodal.config import TrainConfig, apply_overrides, config_to_dict, load_config
from crossmodal.data.build import prepare_data
from crossmodal.engine.checkpoint import LAST_CHECKPOINT
from crossmodal.engine.trainer import METRICS_FILE, Trainer, resolve_device, run_config_from_checkpoint
from crossmodal.errors import InputError
from crossmodal.eval.audio_probe import esc50_features, window_extractor, window_seconds
from crossmodal.eval.extract import extract_pooled, labelled_data_path, labelled_sound_set, open_labelled_split
from crossmodal.eval.fold_probe import fold_probe
from crossmodal.eval.metrics import segmentation_scores
from crossmodal.eval.probe import DEFAULT_CS, linear_probe
from crossmodal.eval.segment import (
    SEGMENTATION_HEADS,
    HeadTraining,
    Segmenter,
    build_segmentation_head,
    evaluate_segmenter,
    train_segmenter,
)
from crossmodal.eval.student_loading import LoadedStudent, load_trained_student

METHOD_CONFIGS: dict[str, dict[str, str]] = {
    "depth": {
        "none": "none_depth.yaml",
        "fitnet": "fitnet_depth.yaml",
        "kd": "kd_depth.yaml",
        "crd": "crd_depth.yaml",
        "crd+kd": "crdkd_depth.yaml",
    },
    "audio": {
        "none": "none_audio.yaml",
        "kd": "kd_audio.yaml",
        "crd": "crd_audio.yaml",
        "crd+kd": "crdkd_audio.yaml",
    },
}
"""Target -> method (objective name) -> its experiment file in the configs directory."""
TARGETS = tuple(METHOD_CONFIGS)
EVAL_SPLITS = ("test", "validation")
LABEL_SETS = ("nyu13", "nyu40")
VALIDATION_EVERY = 5
PROGRESS_POLL_S = 2.0
RESULTS_FILE = "report.json"
WORKER_OVERRIDES = ("run.progress=false",)
"""Added to every run of a grid: the trainers' own bars would interleave across workers; run_grid shows one bar instead."""


@dataclass(frozen=True)
class EvalSettings:
    """How every student is judged; the same for all methods and seeds (labels and head: depth only).

    Defaults: the linear head on the 13-class NYU labels. With 40 classes, 21 of the 39 the
    embedded rooms contain cover under 1% of the pixels each; a linear head on the last stage
    (3 x 4 cells at 96 x 128 input) never predicts them, so mIoU sat near 3% for every student
    and could not tell them apart. The head's validation scores level off after about 10 epochs.
    ``head_lr=None``: the head's own default learning rate.
    """

    labels: str = "nyu13"
    head: str = "linear"
    head_epochs: int = 10
    head_lr: float | None = None
    head_batch_size: int = 16
    split: str = "test"

    def check(self) -> None:
        if self.labels not in LABEL_SETS:
            raise InputError(f"segmentation labels {self.labels!r} must be one of: {', '.join(LABEL_SETS)}")
        if self.split not in EVAL_SPLITS:
            raise InputError(f"evaluation split {self.split!r} must be one of: {', '.join(EVAL_SPLITS)}")
        SEGMENTATION_HEADS.get(self.head)
        if self.head_epochs < 1 or self.head_batch_size < 1:
            raise InputError("head epochs and head batch size must be at least 1")
        if self.head_lr is not None and self.head_lr <= 0:
            raise InputError(f"head learning rate must be positive, got {self.head_lr}")


@dataclass(frozen=True)
class GridSpec:
    """Which target, methods and seeds to run, with which shared overrides, and where runs and results go."""

    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    out_dir: Path
    overrides: tuple[str, ...] = ()
    configs_dir: Path = Path("configs")
    evaluation: EvalSettings = field(default_factory=EvalSettings)
    target: str = "depth"

    @property
    def experiment_files(self) -> dict[str, str]:
        return METHOD_CONFIGS[self.target]

    def check(self) -> None:
        if self.target not in METHOD_CONFIGS:
            raise InputError(f"target {self.target!r} has no method grid; choose from: {', '.join(TARGETS)}")
        unknown = [m for m in self.methods if m not in self.experiment_files]
        if unknown or not self.methods:
            raise InputError(
                f"methods {', '.join(unknown) or '(none)'} unknown for {self.target}; "
                f"choose from: {', '.join(self.experiment_files)}"
            )
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise InputError(f"seeds {list(self.seeds)} must be distinct non-negative integers, at least one")
        for method in self.methods:
            path = self.configs_dir / self.experiment_files[method]
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
            "configs_dir": str(self.configs_dir),
            "evaluation": asdict(self.evaluation),
        }


def run_name(method: str, seed: int) -> str:
    return f"{method}-seed{seed}"


def method_config(spec: GridSpec, method: str, seed: int) -> TrainConfig:
    """The method's experiment file, the shared overrides, then this run's seed and directory."""
    config = load_config(spec.configs_dir / spec.experiment_files[method])
    config = apply_overrides(config, spec.overrides)
    return apply_overrides(config, [f"run.seed={seed}", f"run.dir={spec.out_dir / run_name(method, seed)}"])


def check_existing_run(config: TrainConfig) -> bool:
    """Whether ``config.run.dir`` already holds this run (to continue or keep); a run with other settings is an InputError."""
    run_dir = Path(str(config.run.dir))
    if not (run_dir / LAST_CHECKPOINT).exists():
        return False
    if config_to_dict(run_config_from_checkpoint(run_dir)) != config_to_dict(config):
        raise InputError(f"{run_dir} holds a run with other settings; remove it or write the results elsewhere (--out)")
    return True


def train(config: TrainConfig) -> Path:
    """Train the run in ``config.run.dir``; a run already there with the same config is continued (or kept if finished)."""
    if check_existing_run(config):
        return Trainer(config, resume=config.run.dir).fit()
    return Trainer(config).fit()


def evaluation_splits(config: TrainConfig, settings: EvalSettings) -> tuple[Dataset, Dataset, list[str], list[str]]:
    """(fit set, scored set, segmentation class names, scene class names) of the run's labelled data."""
    path = labelled_data_path(config)
    train_set = open_labelled_split(config, path, "train", settings.labels)
    class_names, scene_classes = list(train_set.class_names), list(train_set.scene_classes)
    if settings.split == "test":
        return train_set, open_labelled_split(config, path, "test", settings.labels), class_names, scene_classes
    held_out = np.arange(len(train_set)) % VALIDATION_EVERY == VALIDATION_EVERY - 1
    if not held_out.any():
        raise InputError(f"the train split of {path} has fewer than {VALIDATION_EVERY} frames, too few to hold out a validation part")
    fit = Subset(train_set, np.flatnonzero(~held_out).tolist())
    return fit, Subset(train_set, np.flatnonzero(held_out).tolist()), class_names, scene_classes


def probe_scores(
    student: LoadedStudent, fit: Dataset, scored: Dataset, scene_classes: list[str], seed: int, device: torch.device
) -> dict[str, Any]:
    """Linear probe on the pooled features, scene labels (the crossmodal-probe protocol)."""
    fit_x, fit_y = extract_pooled(student.model, fit, device, label_key="label")
    scored_x, scored_y = extract_pooled(student.model, scored, device, label_key="label")
    result = linear_probe(fit_x, fit_y, scored_x, scored_y, len(scene_classes), scene_classes, DEFAULT_CS, 0.2, seed)
    return {"probe_top1": result.top1, "probe_mean_class_accuracy": result.mean_class_accuracy, "probe_c": result.chosen_c}


def segmentation_scores_of(
    student: LoadedStudent, fit: Dataset, scored: Dataset, class_names: list[str], settings: EvalSettings,
    seed: int, device: torch.device,
) -> dict[str, Any]:
    """A head on the frozen student's stage maps, trained on ``fit``, scored on ``scored`` (the crossmodal-segment protocol)."""
    torch.manual_seed(seed)
    head = build_segmentation_head(settings.head, student.model.map_channels, len(class_names))
    model = Segmenter(student.model, head)
    # The evaluation transform is deterministic and the encoder frozen: its maps can be computed once.
    training = HeadTraining(settings.head_epochs, settings.head_batch_size, settings.head_lr, seed=seed, precompute_maps=True)
    losses = train_segmenter(model, fit, training, device)
    confusion, _ = evaluate_segmenter(model, scored, len(class_names), device, settings.head_batch_size, num_examples=0)
    scores = segmentation_scores(confusion)
    return {
        "pixel_accuracy": scores["pixel_accuracy"],
        "segment_mean_class_accuracy": scores["mean_class_accuracy"],
        "miou": scores["miou"],
        "head_final_loss": losses[-1],
    }


def judge_depth(
    student: LoadedStudent, settings: EvalSettings, seed: int, device: torch.device, say: Callable[[str], None]
) -> dict[str, Any]:
    """Scene probe and segmentation head, each trained on the fit frames and scored on the others."""
    fit, scored, class_names, scene_classes = evaluation_splits(student.config, settings)
    record: dict[str, Any] = {"num_fit": len(fit), "num_scored": len(scored)}
    start = time.perf_counter()
    record.update(probe_scores(student, fit, scored, scene_classes, seed, device))
    record["probe_s"] = round(time.perf_counter() - start, 1)
    say(f"probe: scene top-1 {100 * record['probe_top1']:.1f}% (C={record['probe_c']:g}) in {record['probe_s']:.0f} s")
    start = time.perf_counter()
    record.update(segmentation_scores_of(student, fit, scored, class_names, settings, seed, device))
    record["segment_s"] = round(time.perf_counter() - start, 1)
    say(
        f"segment ({settings.head} head, {settings.labels}, {settings.head_epochs} epochs): "
        f"pixel acc {100 * record['pixel_accuracy']:.1f}%  mIoU {100 * record['miou']:.1f}% in {record['segment_s']:.0f} s"
    )
    return record


def judge_audio(
    student: LoadedStudent, settings: EvalSettings, seed: int, device: torch.device, say: Callable[[str], None]
) -> dict[str, Any]:
    """The ESC-50 fold protocol on the labelled sound set of the run's data (validation: without the last fold)."""
    start = time.perf_counter()
    extract = window_extractor(student, device)
    root = labelled_sound_set(student.config)
    features, labels, folds, groups, class_names = esc50_features(root, window_seconds(student), extract)
    if settings.split == "validation":
        kept = folds != folds.max()
        features, labels, folds, groups = features[kept], labels[kept], folds[kept], groups[kept]
    result = fold_probe(features, labels, folds, groups, class_names, DEFAULT_CS, 0.2, seed)
    record = {
        "probe_top1": result.top1_mean,
        "probe_top1_fold_std": result.top1_std,
        "probe_mean_class_accuracy": result.mean_class_accuracy_mean,
        "num_clips": int(len(labels)),
        "num_folds": len(result.folds),
        "probe_s": round(time.perf_counter() - start, 1),
    }
    say(f"probe: {len(result.folds)}-fold sound top-1 {100 * result.top1_mean:.1f} ± {100 * result.top1_std:.1f}% in {record['probe_s']:.0f} s")
    return record


JUDGES: dict[str, Callable[..., dict[str, Any]]] = {"depth": judge_depth, "audio": judge_audio}
"""Target -> how its students are judged."""


def run_one(spec: GridSpec, method: str, seed: int, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Train and judge one (method, seed); returns its scores, timings and run directory."""
    tag = f"[{spec.target} {method} seed {seed}]"
    config = method_config(spec, method, seed)
    say(f"{tag} train: {spec.configs_dir / spec.experiment_files[method]} -> {config.run.dir}")
    loads = [os.getloadavg()[0]]
    start = time.perf_counter()
    run_dir = train(config)
    record: dict[str, Any] = {"method": method, "seed": seed, "run_dir": str(run_dir)}
    record["train_s"] = round(time.perf_counter() - start, 1)
    loads.append(os.getloadavg()[0])

    student = load_trained_student(run_dir, spec.target)
    device = resolve_device(config.run.device)
    record.update(JUDGES[spec.target](student, spec.evaluation, seed, device, lambda line: say(f"{tag} {line}")))
    record["load_1min"] = [*loads, os.getloadavg()[0]]
    return record


def run_grid(spec: GridSpec, jobs: int = 1, threads: int = 1) -> list[dict[str, Any]]:
    """Every (seed, method) of one grid; see run_grids."""
    return run_grids([spec], jobs, threads)[0]


def run_grids(specs: Sequence[GridSpec], jobs: int = 1, threads: int = 1) -> list[list[dict[str, Any]]]:
    """Every (seed, method) of every grid, ``jobs`` at a time in worker processes of ``threads`` torch threads each.

    Several single-threaded jobs use a small CPU better than one job with several threads: a
    batch of this size gives each thread little work, and on cores that other processes share,
    threads that wait for each other spin (the teacher's forward pass ran 15x slower with two
    threads than with one on two busy cores). All grids share one pool, trained runs first and
    untrained references last, so no worker idles while another finishes a grid. Workers report
    their stages as lines; this process prints them above one progress bar of training epochs
    (read from each run's metrics file). Each grid's records so far are rewritten to its
    ``out_dir/report.json`` after each run. Returns the records per grid, in task order.
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
                    k = futures[future][0]
                    records[futures[future]] = future.result()
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
    path = Path(str(config.run.dir)) / METRICS_FILE
    if not path.is_file():
        return 0
    done = 0
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line being written
        if record.get("event") == "untrained":
            return config.schedule.epochs
        if record.get("event") == "epoch":
            done = max(done, int(record["epoch"]))
    return done


def save_records(spec: GridSpec, records: Sequence[dict[str, Any]], path: Path) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps({"spec": spec.to_dict(), "runs": list(records)}, indent=2) + "\n")
    partial.replace(path)
