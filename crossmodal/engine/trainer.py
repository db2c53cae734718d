"""The distillation training loop: frozen teacher(s), a student, and whatever objective the config names.

The trainer knows objectives only through ``build_objective`` and the Objective contract: it
minimises the sum of the returned loss terms over the student's and the objective's parameters
(embedding heads, regressors) together. An objective that declares it trains nothing ("none")
leaves the student at its initialisation; the run still writes its config, metrics and checkpoint
so the random-init reference can be evaluated like any other run.

Every finished epoch is checkpointed atomically with everything needed to continue bit for bit:
each epoch's data order comes from a generator seeded by (seed, epoch), and the global RNG
states are saved with the model, objective, optimiser and scheduler states.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, Sampler
from tqdm import tqdm

from crossmodal.config import TrainConfig, config_from_dict, config_to_dict, plain, save_config
from crossmodal.data.batch_augment import AUGMENT_PLACES, augments_on_device, collate_frames
from crossmodal.data.catalog import data_options
from crossmodal.data.chunk_sampler import ORDERS, ChunkShuffleSampler
from crossmodal.data.kinds import num_items
from crossmodal.device import resolve_device
from crossmodal.distill import OBJECTIVES, Objective, ObjectiveContext, TrainingProgress
from crossmodal.distill.base import DISTILL
from crossmodal.distributed import average_buffers, barrier, close_distributed, init_distributed
from crossmodal.engine.checkpoint import CHECKPOINT_FORMAT, LAST_CHECKPOINT, checkpoint_path, load_checkpoint, save_checkpoint
from crossmodal.engine.logging import WANDB_MODES, MetricsFile, WandbLogger, resolve_wandb_mode
from crossmodal.engine.seeding import augment_generator, capture_rng_state, epoch_generator, restore_rng_state, seed_everything
from crossmodal.engine.teacher_cache import TeacherOutputCache, cache_fingerprint, teacher_view
from crossmodal.errors import InputError
from crossmodal.fileio import remove_stale_temporaries
from crossmodal.machine import machine_description
from crossmodal.modalities import MODALITIES
from crossmodal.modalities.training_set import build_train_dataset, data_set_kind, prepare_data
from crossmodal.models.features import Features, feature_info
from crossmodal.models.student_registry import STUDENTS, build_student
from crossmodal.models.sync_batchnorm import convert_to_sync_batchnorm
from crossmodal.models.teachers import build_teacher
from crossmodal.parallel import usable_cores

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.jsonl"
MAX_AUTO_WORKERS = 8
MIN_BATCH = 2
"""Samples per process and step below which BatchNorm cannot normalise a training batch."""
NONFINITE_ACTIONS = ("stop", "skip")
RESUME_KEYS = ("epoch", "global_step", "finished", "student_spec", "student", "objective", "optimizer", "scheduler", "grad_scaler", "rng")


def run_config_from_checkpoint(run_or_file: str | Path) -> TrainConfig:
    """The configuration a checkpointed run was started with."""
    return config_from_dict(load_checkpoint(run_or_file)["config"], origin=str(checkpoint_path(run_or_file)))


def _clock(seconds: float) -> str:
    """12:05 (minutes:seconds), or 1:02:05 past an hour."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def check_config(config: TrainConfig) -> None:
    """The checks that need no data or weights, so mistakes surface before anything slow runs."""
    if config.run.wandb not in WANDB_MODES:
        raise InputError(f"run.wandb {config.run.wandb!r} is not one of: {', '.join(WANDB_MODES)}")
    if config.schedule.epochs < 1 or config.schedule.batch_size < 1 or config.run.log_every < 1:
        raise InputError("schedule.epochs, schedule.batch_size and run.log_every must be positive")
    if config.schedule.batch_size < MIN_BATCH:
        raise InputError(
            f"schedule.batch_size {config.schedule.batch_size} cannot train: BatchNorm layers (the student's, the objectives' "
            f"embedding heads) need at least {MIN_BATCH} samples per step; use --batch-size {MIN_BATCH} or more"
        )
    if not config.teacher.specs:
        raise InputError("teacher.specs is empty; name at least one teacher (--teacher)")
    optim = config.optim
    if not (math.isfinite(optim.lr) and optim.lr > 0):
        raise InputError(f"optim.lr must be a positive number, got {optim.lr}")
    if not 0 <= optim.momentum < 1:
        raise InputError(f"optim.momentum must lie in [0, 1), got {optim.momentum}")
    if not (math.isfinite(optim.weight_decay) and optim.weight_decay >= 0):
        raise InputError(f"optim.weight_decay must be a number >= 0, got {optim.weight_decay}")
    if config.data.num_workers is not None and config.data.num_workers < 0:
        raise InputError(f"data.num_workers must be 0 (load in the training process) or more, got {config.data.num_workers}")
    if config.data.prefetch < 1:
        raise InputError(f"data.prefetch must be at least 1 batch per worker, got {config.data.prefetch}")
    if config.teacher.cache_dir and not config.teacher.cache:
        raise InputError("teacher.cache_dir is set but teacher.cache is false; set teacher.cache=true to cache the teacher outputs")
    if config.data.augment_on not in AUGMENT_PLACES:
        raise InputError(f"data.augment_on {config.data.augment_on!r} is not one of: {', '.join(AUGMENT_PLACES)}")
    if config.data.order not in ORDERS:
        raise InputError(f"data.order {config.data.order!r} is not one of: {', '.join(ORDERS)}")
    if config.data.chunk_size < 1 or config.data.window_chunks < 1:
        raise InputError(f"data.chunk_size ({config.data.chunk_size}) and data.window_chunks ({config.data.window_chunks}) must be positive")
    if config.run.on_nonfinite not in NONFINITE_ACTIONS:
        raise InputError(f"run.on_nonfinite {config.run.on_nonfinite!r} is not one of: {', '.join(NONFINITE_ACTIONS)}")
    data_set_kind(config.data)
    data_options(config.data)
    OBJECTIVES.get(config.objective.name).check_options(config.objective.options)
    STUDENTS.get(config.student.name)


def config_in_effect(config: TrainConfig) -> TrainConfig:
    """``config`` with every option of its objective and of its data set spelled out at the value in effect (the
    defaults included), as a run records it: what it ran with stays readable even if a default changes later."""
    objective = OBJECTIVES.get(config.objective.name)
    options = plain({**objective.option_defaults(), **objective.check_options(config.objective.options)})
    data = config_to_dict(data_options(config.data))
    return dataclasses.replace(
        config,
        objective=dataclasses.replace(config.objective, options=options),
        data=dataclasses.replace(config.data, options=data),
    )


def _data_location(config: TrainConfig) -> Path:
    """The data set's file or folder (what a teacher-output cache's fingerprint stats)."""
    return Path(str(data_set_kind(config.data).location(config.data) or ""))


def _check_writable(folder: Path) -> None:
    """Fail now, not after the first epoch, when the run directory cannot take a file."""
    probe = folder / f".write-check.tmp-{os.getpid()}"
    probe.write_bytes(b"")
    probe.unlink()


class DistillationModel(nn.Module):
    """Student plus objective as one module, so DDP averages the gradients of both."""

    def __init__(self, student: nn.Module, objective: Objective, autocast: Callable[[], AbstractContextManager]) -> None:
        super().__init__()
        self.student = student
        self.objective = objective
        self._autocast = autocast

    def forward(self, target: Tensor, teacher_outs: list[Features], batch: dict[str, Any]) -> dict[str, Tensor]:
        with self._autocast():
            student_out = self.student(target)
        return self.objective(_as_float(student_out), teacher_outs, batch)


def _as_float(features: Features) -> Features:
    """Objectives compute in float32 whatever precision the backbones ran in."""
    return features.apply(Tensor.float)


class Trainer:
    """One training run: ``Trainer(config).fit()`` trains and returns the run directory.

    ``resume`` (a run directory or checkpoint file) continues that run in its own directory,
    from the epoch after its last checkpoint. ``dry_run`` builds everything a run needs (data checked and
    prepared, teachers loaded, student and objective built) and stops before writing a run directory.
    """

    def __init__(self, config: TrainConfig, resume: str | Path | None = None, dry_run: bool = False) -> None:
        check_config(config)
        config = config_in_effect(config)
        self.config = config
        self.dist = init_distributed(resolve_device(config.run.device))
        self.device = resolve_device(config.run.device, self.dist.local_rank)
        self.machine = machine_description(self.device)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self._resume_path = checkpoint_path(resume) if resume is not None else None
        resume_state = load_checkpoint(self._resume_path) if self._resume_path is not None else None
        self.teachers = [
            build_teacher(spec).to(self.device, memory_format=self._memory_format) for spec in config.teacher.specs  # type: ignore[call-overload]  # stubs omit memory_format
        ]

        if self.dist.is_main:
            prepare_data(config.data, progress=config.run.progress)
        barrier(self.dist)
        self.batch_augment = MODALITIES.get(config.data.target).batch_augment(config.data) \
            if augments_on_device(config.data.augment_on, self.device) else None
        self.dataset = build_train_dataset(config.data, transform=None if self.batch_augment is None else self.batch_augment.compact)
        self._check_batch_fits()
        self._steady_loader: DataLoader | None = None
        self._augment_generator = torch.Generator()

        seed_everything(config.run.seed)
        self.student, self.student_spec, self.objective = self._build_student_and_objective(num_items(self.dataset))
        if config.run.sync_batchnorm:
            convert_to_sync_batchnorm(self.student)
            convert_to_sync_batchnorm(self.objective)
        self.model: nn.Module = DistillationModel(self.student, self.objective, self._autocast).to(self.device)
        if self.dist.enabled:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = DistributedDataParallel(
                self.model, device_ids=device_ids, broadcast_buffers=False, find_unused_parameters=True
            )
        self._check_phases()
        use_cache = config.teacher.cache and self.objective.trains_student
        self.teacher_cache = self._build_teacher_cache() if use_cache else None

        parameters = [p for p in self.student.parameters()] + [p for p in self.objective.parameters()]
        self.optimizer = torch.optim.SGD(
            parameters, lr=config.optim.lr, momentum=config.optim.momentum, weight_decay=config.optim.weight_decay
        )
        total_steps = max(1, self.steps_per_epoch * config.schedule.epochs)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=self._amp_dtype == torch.float16)
        self.epoch = 0
        self._epochs_timed: list[float] = []
        self.global_step = 0
        self.skipped_steps = 0
        self.finished = False
        if dry_run:
            return

        self._made_run_dir = False
        self.run_dir = self._open_run_dir()
        with self._no_folder_without_an_epoch():
            self.metrics = MetricsFile(self.run_dir / METRICS_FILE)
            wandb_id = None
            if resume_state is not None:
                wandb_id = self._restore(resume_state)
            if self.dist.is_main:
                # The metrics file never holds an epoch the checkpoint does not (a fresh start holds none).
                self.metrics.keep_epochs_up_to(self.epoch)
                save_config(config, self.run_dir / CONFIG_FILE)
            self.wandb = WandbLogger(
                resolve_wandb_mode(config.run.wandb) if self.dist.is_main else "disabled",
                group=config.experiment,
                name=self.run_dir.name,
                config=config_to_dict(config),
                directory=self.run_dir,
                run_id=wandb_id,
            )
        if resume_state is not None:
            restore_rng_state(resume_state["rng"])

    # ----------------------------------------------------------------- building

    @property
    def _use_cuda_features(self) -> bool:
        return self.device.type == "cuda"

    @property
    def _amp_dtype(self) -> torch.dtype | None:
        if not (self._use_cuda_features and self.config.run.amp):
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

    def _autocast(self) -> AbstractContextManager:
        dtype = self._amp_dtype
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=dtype)

    @property
    def _memory_format(self) -> torch.memory_format:
        use = self._use_cuda_features and self.config.run.channels_last
        return torch.channels_last if use else torch.contiguous_format

    @property
    def steps_per_epoch(self) -> int:
        return self._samples_per_rank // self.config.schedule.batch_size

    @property
    def _samples_per_rank(self) -> int:
        return len(self._chunk_sampler()) if self.config.data.order == "chunks" else num_items(self.dataset) // self.dist.world_size

    def _check_batch_fits(self) -> None:
        if self.steps_per_epoch == 0:
            raise InputError(
                f"schedule.batch_size {self.config.schedule.batch_size} is larger than the "
                f"{self._samples_per_rank} training samples per process; lower --batch-size"
            )

    def _build_student_and_objective(self, num_samples: int) -> tuple[nn.Module, dict[str, Any], Objective]:
        """The student (built once: the objective class says beforehand whether it needs logits), then the objective."""
        config, teachers = self.config, self.teachers
        objective_class = OBJECTIVES.get(config.objective.name)
        num_classes = None
        if objective_class.needs_student_logits:
            classes = {t.num_classes for t in teachers}
            if len(classes) != 1 or None in classes:
                raise InputError(
                    f"objective {config.objective.name!r} needs teachers that share one classifier size, "
                    f"got {sorted(map(str, classes))}"
                )
            num_classes = classes.pop()
        modality = MODALITIES.get(config.data.target)
        spec: dict[str, Any] = {
            "name": config.student.name,
            "in_channels": modality.channels(config.data),
            "width": config.student.width,
            "num_classes": num_classes,
        }
        modality.check_student(spec["name"], spec["in_channels"], config.data, "student.name")
        student = build_student(**spec)
        context = ObjectiveContext(
            student_dim=student.feature_dim,
            teacher_dims=[t.feature_dim for t in teachers],
            num_samples=num_samples,
            student_maps=feature_info(student),
            teacher_maps=[feature_info(t) for t in teachers],
            teacher_num_classes=[t.num_classes for t in teachers],
            student=student,
        )
        objective = objective_class.build(context, config.objective.options)
        student = student.to(self.device, memory_format=self._memory_format)  # type: ignore[call-overload]  # stubs omit memory_format
        return student, spec, objective.to(self.device)

    def _check_phases(self) -> None:
        """A two-stage objective must reach its distillation phase before the run ends."""
        epochs = self.config.schedule.epochs
        last = TrainingProgress(epochs, self.steps_per_epoch * epochs - 1, self.steps_per_epoch, epochs)
        phase = self.objective.phase(last)
        if phase != DISTILL:
            raise InputError(
                f"objective {self.config.objective.name!r} is still in its {phase!r} phase at the last "
                f"of {epochs} epochs; train more epochs or lower its pretrain_fraction"
            )

    def _build_teacher_cache(self) -> TeacherOutputCache:
        config = self.config
        plain_view = build_train_dataset(config.data, augment=False)
        folder = None
        if config.teacher.cache_dir:
            fingerprint = cache_fingerprint(
                self.teachers, config.teacher.specs, teacher_view(config.data), _data_location(config),
                f"{self.device.type}-{self._amp_dtype}",
            )
            folder = Path(config.teacher.cache_dir).expanduser() / fingerprint
        try:
            return TeacherOutputCache(
                self.teachers, plain_view, self.device, config.schedule.batch_size, self._autocast,
                self.objective.teacher_reads(), folder, self.dist, progress=config.run.progress,
            )
        except OSError as error:
            raise InputError(f"teacher.cache_dir {config.teacher.cache_dir}: cannot write the teacher cache there ({error.strerror or error})") from error

    def _open_run_dir(self) -> Path:
        if self._resume_path is not None:
            return self._resume_path.parent
        run = self.config.run
        if run.dir:
            path = Path(run.dir).expanduser()
            if (path / LAST_CHECKPOINT).exists():
                raise InputError(f"run directory {path} already holds a run; continue it with --resume {path} or choose another --run-dir")
        else:
            name = run.name or f"{self.config.objective.name}-{self.config.data.source}2{self.config.data.target}"
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path = Path(run.runs_dir).expanduser() / f"{name}-{stamp}"
            suffix = 1
            while path.exists():
                suffix += 1
                path = Path(run.runs_dir).expanduser() / f"{name}-{stamp}-{suffix}"
        if self.dist.is_main:
            self._made_run_dir = not path.exists()
            try:
                path.mkdir(parents=True, exist_ok=True)
                remove_stale_temporaries(path)
                _check_writable(path)
            except OSError as error:
                raise InputError(f"cannot write the run directory {path}: {error.strerror or error}") from None
        return path

    # ------------------------------------------------------------ checkpoints

    def _state(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "epoch": self.epoch,
            "global_step": self.global_step,
            "finished": self.finished,
            "config": config_to_dict(self.config),
            "modality": self.config.data.target,
            "student_spec": dict(self.student_spec),
            "student": self.student.state_dict(),
            "objective": self.objective.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "grad_scaler": self.scaler.state_dict(),
            "rng": capture_rng_state(),
            "wandb_id": self.wandb.run_id,
            "world_size": self.dist.world_size,
        }

    def _save(self) -> None:
        if self.dist.is_main:
            path = self.run_dir / LAST_CHECKPOINT
            try:
                save_checkpoint(self._state(), path)
            except OSError as error:
                kept = "the previous checkpoint is kept" if path.exists() else "no checkpoint was written yet"
                raise InputError(f"could not write checkpoint {path} ({error.strerror or error}); {kept}") from None
        barrier(self.dist)

    def _restore(self, state: dict[str, Any]) -> str | None:
        missing = [key for key in RESUME_KEYS if key not in state]
        if missing:
            raise InputError(f"checkpoint {self._resume_path} lacks {', '.join(missing)}, so the run cannot be continued from it")
        if state["epoch"] > self.config.schedule.epochs:
            raise InputError(
                f"the run has finished {state['epoch']} epochs, more than schedule.epochs {self.config.schedule.epochs}; "
                "--epochs can only extend a run"
            )
        trained_by = int(state.get("world_size", 1))
        if trained_by != self.dist.world_size:
            raise InputError(
                f"checkpoint {self._resume_path} was trained by {trained_by} process(es) and this run has {self.dist.world_size}; "
                "resume with the same number (torchrun --nnodes and --nproc_per_node), since the data order and the "
                "schedule's steps follow it"
            )
        if state["student_spec"] != self.student_spec:
            raise InputError(f"the checkpoint's student {state['student_spec']} differs from the configured {self.student_spec}")
        self._check_state_fits(state["objective"], self.objective.state_dict())
        try:
            self.student.load_state_dict(state["student"])
            self.objective.load_state_dict(state["objective"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            if state["grad_scaler"]:
                self.scaler.load_state_dict(state["grad_scaler"])
        except (RuntimeError, KeyError, ValueError) as error:
            reason = str(error).strip().splitlines()[-1][:200] if str(error).strip() else type(error).__name__
            raise InputError(f"checkpoint {self._resume_path} does not fit this run ({reason}); start afresh in another --run-dir") from None
        self.epoch = state["epoch"]
        self.global_step = state["global_step"]
        self.finished = state["finished"] and self.epoch >= self.config.schedule.epochs
        return state["wandb_id"]

    # ---------------------------------------------------------------- training

    @property
    def loader_workers(self) -> int:
        """data.num_workers, or when unset: none on the CPU; on CUDA one per usable core but one (the training process
        keeps one), at most MAX_AUTO_WORKERS."""
        requested = self.config.data.num_workers
        if requested is not None:
            return requested
        return min(MAX_AUTO_WORKERS, max(1, usable_cores() - 1)) if self.device.type == "cuda" else 0

    def describe(self) -> str:
        """What this run trains, in one line: the samples, the data set, the teachers, the student and the objective."""
        config = self.config
        return (
            f"{num_items(self.dataset)} training samples of {config.data.name} ({_data_location(config)}), "
            f"{self.steps_per_epoch} steps per epoch; teacher {' + '.join(config.teacher.specs)}; student {config.student.name} "
            f"(width {config.student.width}, {self.student_spec['in_channels']} input channel(s)); objective {config.objective.name} on {self.device}; "
            f"augmentation {'per batch on the device' if self.batch_augment is not None else 'per sample in the loader'}"
        )

    @contextlib.contextmanager
    def _no_folder_without_an_epoch(self) -> Iterator[None]:
        """A run folder this start made goes again when the start fails before its first epoch is saved: nothing in
        it could be resumed or evaluated, and a failed start should leave no run behind."""
        try:
            yield
        except BaseException:
            if self._made_run_dir and not (self.run_dir / LAST_CHECKPOINT).exists():
                shutil.rmtree(self.run_dir, ignore_errors=True)
            raise

    def fit(self) -> Path:
        """Train the remaining epochs, checkpointing each; returns the run directory."""
        with self._no_folder_without_an_epoch():
            return self._fit()

    def _fit(self) -> Path:
        try:
            if not self.objective.trains_student and not self.finished:
                self._keep_initial_student()
                self._save()
            for epoch in range(self.epoch + 1, self.config.schedule.epochs + 1):
                if self.finished:
                    break
                self._train_epoch(epoch)
                self._save()
        finally:
            self.wandb.finish()
            if isinstance(self.model, DistributedDataParallel):
                # DDP's reducer holds the process group. Left to it, the group's gloo threads are joined
                # in the reducer's destructor with the GIL held, and a thread still freeing the last
                # collective's tensors waits for the GIL: the process never exits. Dropped first, the
                # group goes in close_distributed, which joins its threads with the GIL released.
                self.model = self.model.module
            close_distributed(self.dist)
        return self.run_dir

    def _chunk_sampler(self) -> ChunkShuffleSampler:
        data = self.config.data
        return ChunkShuffleSampler(num_items(self.dataset), data.chunk_size, data.window_chunks, self.config.run.seed,
                                   self.dist.rank, self.dist.world_size)

    def _epoch_sampler(self) -> ChunkShuffleSampler | DistributedSampler | None:
        """The sampler whose ``set_epoch`` orders each epoch (chunked order, or this rank's share under torchrun); None
        for a plain shuffle of the whole set."""
        if self.config.data.order == "chunks":
            return self._chunk_sampler()
        if self.dist.enabled:
            return DistributedSampler(
                self.dataset, self.dist.world_size, self.dist.rank, shuffle=True, seed=self.config.run.seed, drop_last=True
            )
        return None

    def _loader(self, epoch: int) -> DataLoader:
        if self.batch_augment is not None:
            self._augment_generator = augment_generator(self.config.run.seed, epoch, self.dist.rank)
            return self._steady_loader_for(epoch)
        sampler = self._epoch_sampler()
        if sampler is not None:
            sampler.set_epoch(epoch)
        return DataLoader(
            self.dataset,
            batch_size=self.config.schedule.batch_size,
            shuffle=sampler is None,
            sampler=sampler,
            drop_last=True,
            num_workers=self.loader_workers,
            prefetch_factor=self.config.data.prefetch if self.loader_workers else None,
            generator=epoch_generator(self.config.run.seed, epoch),
            pin_memory=self.device.type == "cuda",
        )

    def _steady_loader_for(self, epoch: int) -> DataLoader:
        """The device path's loader: built once, its workers kept from epoch to epoch (they draw nothing, so nothing in
        them depends on the epochs before), its order set per epoch from (seed, epoch) as the per-sample path's is."""
        if self._steady_loader is None:
            sampler: Sampler[int] = self._epoch_sampler() or RandomSampler(self.dataset, generator=torch.Generator())  # type: ignore[arg-type]  # a map-style set
            workers = self.loader_workers
            self._steady_loader = DataLoader(
                self.dataset, batch_size=self.config.schedule.batch_size, sampler=sampler, drop_last=True,
                num_workers=workers, prefetch_factor=self.config.data.prefetch if workers else None,
                persistent_workers=workers > 0, collate_fn=collate_frames, generator=epoch_generator(self.config.run.seed, 0),
                pin_memory=self.device.type == "cuda",
            )
        ordering = self._steady_loader.sampler
        if isinstance(ordering, RandomSampler):
            assert ordering.generator is not None
            ordering.generator.manual_seed(epoch_generator(self.config.run.seed, epoch).initial_seed())
        else:
            ordering.set_epoch(epoch)  # type: ignore[attr-defined]  # DistributedSampler and ChunkShuffleSampler
        return self._steady_loader

    def _train_epoch(self, epoch: int) -> None:
        config = self.config
        self.student.train()
        self.objective.train()
        loader = self._loader(epoch)
        bar = tqdm(
            loader, desc=f"epoch {epoch}/{config.schedule.epochs}", unit="batch",
            disable=not (config.run.progress and self.dist.is_main), dynamic_ncols=True,
        )
        totals: dict[str, Tensor] = {}
        empty_targets = 0
        steps = 0
        epoch_start = window_start = time.perf_counter()
        window_samples = 0
        waited = 0.0  # seconds the loop stood waiting for the loader's next batch
        batches = iter(bar)
        while True:
            asked = time.perf_counter()
            batch = next(batches, None)
            waited += time.perf_counter() - asked
            if batch is None:
                break
            if "target_empty" in batch:
                empty_targets += int(torch.as_tensor(batch["target_empty"]).sum())
            self.objective.set_progress(TrainingProgress(epoch, self.global_step, self.steps_per_epoch, config.schedule.epochs))
            losses = self._step(batch)
            self.global_step += 1
            if not losses:
                continue  # a skipped non-finite step (run.on_nonfinite=skip)
            steps += 1
            window_samples += len(batch["index"]) * self.dist.world_size
            for key, value in losses.items():
                totals[key] = totals.get(key, 0.0) + value
            if self.global_step % config.run.log_every == 0:
                now = time.perf_counter()
                record = self._record(epoch, losses, window_samples / max(now - window_start, 1e-9))
                self._log(record)
                bar.set_postfix(loss=f"{record['loss']:.4f}", samples_per_s=f"{record['samples_per_s']:.1f}")
                window_start, window_samples = now, 0
        elapsed = time.perf_counter() - epoch_start
        if steps == 0:
            raise InputError(f"every step of epoch {epoch} gave a non-finite loss (run.on_nonfinite=skip), so nothing was learnt")
        means = self._epoch_means(totals, steps)
        samples = steps * config.schedule.batch_size * self.dist.world_size
        record = self._record(epoch, means, samples / max(elapsed, 1e-9))
        progress = TrainingProgress(epoch, self.global_step - 1, self.steps_per_epoch, config.schedule.epochs)
        record.update(event="epoch", phase=self.objective.phase(progress), epoch_time_s=round(elapsed, 3),
                      data_wait_s=round(waited, 3), machine=self.machine)
        if self.skipped_steps:
            record["skipped_steps"] = self.skipped_steps
        if self.dist.enabled:
            count = torch.tensor(empty_targets, device=self.device)
            torch.distributed.all_reduce(count)
            empty_targets = int(count)
        if empty_targets:
            record["empty_targets"] = empty_targets
            if self.dist.is_main:
                print(f"warning: epoch {epoch}: {empty_targets} training samples had no valid target pixel (e.g. a depth "
                      "frame that is all missing) and trained on an all-missing target", file=sys.stderr)
        self.epoch = epoch
        self.finished = epoch == config.schedule.epochs
        self._log(record)
        if self.dist.is_main:
            print(self._epoch_line(record, means, elapsed), flush=True)

    def _epoch_line(self, record: dict[str, Any], means: dict[str, Tensor], elapsed: float) -> str:
        """One line per epoch for logs and terminals: its losses, speed and time, the run's time so far and what is left."""
        epochs = self.config.schedule.epochs
        self._epochs_timed.append(elapsed)
        left = (epochs - self.epoch) * sum(self._epochs_timed) / len(self._epochs_timed)
        terms = ", ".join(f"{key} {float(value):.4f}" for key, value in means.items() if key != "loss")
        return (
            f"epoch {self.epoch}/{epochs}: loss {record['loss']:.4f}{f' ({terms})' if terms else ''}, "
            f"{record['samples_per_s']:.0f} samples/s, {elapsed:.1f} s ({record['data_wait_s'] / max(elapsed, 1e-9):.0%} waiting "
            f"for data); elapsed {_clock(sum(self._epochs_timed))}, "
            f"about {_clock(left)} left"
        )

    def _step(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        batch = {k: v.to(self.device, non_blocking=True) if isinstance(v, Tensor) else v for k, v in batch.items()}
        if self.batch_augment is not None:
            batch = self.batch_augment(batch, self._augment_generator)
        image_like = batch["target"].dim() == 4  # waveforms (B x C x T) have no channels-last layout
        target = batch["target"].contiguous(memory_format=self._memory_format if image_like else torch.contiguous_format)
        teacher_outs = self._teacher_outputs(batch)
        losses = self.model(target, teacher_outs, batch)
        if not losses:
            raise RuntimeError(f"objective {self.config.objective.name!r} trains the student but returned no loss terms")
        loss = sum(losses.values())
        if not self._all_finite(loss):
            if self.config.run.on_nonfinite == "skip":
                self.skipped_steps += 1
                self.scheduler.step()  # the schedule stays aligned with the step count
                return {}
            raise InputError(self._nonfinite_message(losses))
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        average_buffers(self.model)  # BatchNorm statistics; banks and Z already followed the global batch
        return {"loss": loss.detach(), **{f"loss/{k}": v.detach() for k, v in losses.items()}}

    def _check_state_fits(self, stored: dict[str, Tensor], built: dict[str, Tensor]) -> None:
        """Per-sample state (memory banks) has one row per training sample: another data set size cannot continue."""
        for key, tensor in built.items():
            old = stored.get(key)
            if isinstance(old, Tensor) and old.dim() >= 1 and tensor.dim() >= 1 and old.shape[0] != tensor.shape[0] \
                    and old.shape[1:] == tensor.shape[1:] and tensor.shape[0] == num_items(self.dataset):
                raise InputError(
                    f"checkpoint {self._resume_path} holds per-sample state ({key}) for {old.shape[0]} training samples, "
                    f"but the data set now has {num_items(self.dataset)}; a run continues on the data it started with, "
                    "so start afresh in another --run-dir"
                )

    def _all_finite(self, loss: Tensor) -> bool:
        """Whether the loss is finite on every rank (all ranks must take the same decision, or DDP hangs)."""
        finite = torch.isfinite(loss.detach()).to(torch.int32)
        if self.dist.enabled:
            torch.distributed.all_reduce(finite, op=torch.distributed.ReduceOp.MIN)
        return bool(finite)

    def _nonfinite_message(self, losses: dict[str, Tensor]) -> str:
        bad = ", ".join(f"{name} = {float(value.detach())}" for name, value in losses.items() if not torch.isfinite(value))
        kept = f"the checkpoint of epoch {self.epoch} in {self.run_dir} is kept" if self.epoch else "no epoch had finished yet"
        return (
            f"step {self.global_step + 1} (epoch {self.epoch + 1}) gave a non-finite loss ({bad}), so training stopped; {kept}. "
            "Lower optim.lr or check the data, or set run.on_nonfinite=skip to skip such steps"
        )

    def _teacher_outputs(self, batch: dict[str, Any]) -> list[Features]:
        if self.teacher_cache is not None:
            return self.teacher_cache.lookup(batch["index"])
        source = batch["source"].contiguous(memory_format=self._memory_format)
        with torch.no_grad(), self._autocast():
            return [_as_float(teacher(source)) for teacher in self.teachers]

    def _keep_initial_student(self) -> None:
        """The objective has nothing to learn: the student keeps its initial weights and the run is finished."""
        self.epoch = self.config.schedule.epochs
        self.finished = True
        self._log({
            "event": "untrained", "epoch": 1, "step": 0,
            "note": f"objective {self.config.objective.name!r} has no loss terms; the student keeps its initial weights",
        })

    def _epoch_means(self, totals: dict[str, Tensor], steps: int) -> dict[str, Tensor]:
        means = {key: value / steps for key, value in totals.items()}
        if self.dist.enabled:
            for value in means.values():
                torch.distributed.all_reduce(value)
                value /= self.dist.world_size
        return means

    def _record(self, epoch: int, losses: dict[str, Tensor], samples_per_s: float) -> dict[str, Any]:
        record: dict[str, Any] = {"epoch": epoch, "step": self.global_step}
        record.update({key: float(value) for key, value in losses.items()})
        record["lr"] = self.optimizer.param_groups[0]["lr"]
        record["samples_per_s"] = round(samples_per_s, 2)
        record.update({f"diag/{key}": value for key, value in self.objective.diagnostics().items()})
        return record

    def _log(self, record: dict[str, Any]) -> None:
        if not self.dist.is_main:
            return
        self.metrics.write(record)
        # An epoch's means go under epoch/: logged at its last step, under their own names they would overwrite that step's values.
        prefix = "epoch/" if record.get("event") == "epoch" else ""
        values = {f"{prefix}{k}": v for k, v in record.items() if isinstance(v, (int, float)) and k not in ("step", "epoch")}
        self.wandb.log({**values, "epoch": record["epoch"]}, step=self.global_step)
