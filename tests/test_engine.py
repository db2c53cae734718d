"""The training engine: run directory contents, checkpoints, bit-for-bit resume, frozen teachers,
the "none" objective, teacher caching, wandb resilience and DDP buffer merging."""
from __future__ import annotations

import copy
import json
import os

import numpy as np
import pytest
import torch
from torch import nn

import crossmodal.engine.trainer as trainer_module
from crossmodal.config import TrainConfig, apply_overrides, load_config
from crossmodal.engine.checkpoint import load_checkpoint
from crossmodal.engine.logging import MetricsFile, resolve_wandb_mode
from crossmodal.engine.trainer import Trainer, config_in_effect
from crossmodal.errors import InputError
from crossmodal.experiments.student_loading import load_trained_student
from crossmodal.machine import machine_description
from crossmodal.modalities.training_set import build_train_dataset, prepare_data
from crossmodal.models.sync_batchnorm import SyncBatchNorm, convert_to_sync_batchnorm
from tests.process_groups import run_ranks

torch.set_num_threads(1)  # small batches gain nothing from more threads on a shared machine


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


def tiny_config(tmp_path, data_root, *overrides: str) -> TrainConfig:
    """A run that takes seconds: few small rooms, a narrow one-block-per-stage student."""
    return apply_overrides(
        TrainConfig(),
        [
            f"data.root={data_root}", "data.options.num=40", "data.options.size=[48, 64]", "data.options.split=all",
            "data.input_size=[32, 48]", "student.name=resnet10", "student.width=8",
            "schedule.epochs=2", "schedule.batch_size=8", "run.wandb=disabled", "run.progress=false",
            "run.log_every=1", f"run.runs_dir={tmp_path / 'runs'}", *overrides,
        ],
    )


def stop_after_first_checkpoint(config: TrainConfig, monkeypatch) -> None:
    """Train ``config`` until its first checkpoint is written, then interrupt it (as Ctrl-C would)."""
    real_save = trainer_module.save_checkpoint

    def save_then_stop(state, path):
        real_save(state, path)
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer_module, "save_checkpoint", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        Trainer(config).fit()
    monkeypatch.undo()


def _states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_run_writes_config_metrics_and_weights_only_checkpoint(tmp_path, data_root):
    config = tiny_config(tmp_path, data_root, "schedule.epochs=1")
    trainer = Trainer(config)
    teacher_before = {k: v.clone() for k, v in trainer.teachers[0].state_dict().items()}
    run = trainer.fit()

    assert load_config(run / "config.yaml") == trainer.config == config_in_effect(config), "the options in effect, defaults included"
    state = torch.load(run / "last.pt", weights_only=True)
    assert (state["epoch"], state["finished"], state["global_step"]) == (1, True, trainer.steps_per_epoch)
    assert {"student", "objective", "optimizer", "scheduler", "rng", "config"} <= state.keys()
    assert any("memory" in key for key in state["objective"]), "memory banks must travel with the objective state"
    records = MetricsFile(run / "metrics.jsonl").read()
    epoch_record = [r for r in records if r.get("event") == "epoch"][-1]
    assert np.isfinite(epoch_record["loss"]) and epoch_record["samples_per_s"] > 0
    assert {"lr", "loss/crd", "diag/crd/pos_score"} <= epoch_record.keys()
    assert epoch_record["machine"] == machine_description(trainer.device), "tables name the kind of machine that trained them"
    assert _states_equal(teacher_before, trainer.teachers[0].state_dict()), "teacher weights or BN statistics changed"
    student = load_trained_student(run).model
    assert student(torch.zeros(2, 1, 32, 48)).pooled.shape == (2, 64)


RESUME_VARIANTS = {
    "in-process-loading": ["data.num_workers=0"],
    "worker-loading": ["data.num_workers=2"],
    "teacher-cache": ["teacher.cache=true"],
    "ema-z": ["objective.options.z_mode=ema"],
    "per-sample-negatives": ["objective.options.sampling=per-sample"],
    "queue-negatives": ["objective.options.negatives=queue", "objective.options.queue_size=16"],
    "queue-momentum-student": ["objective.options.negatives=queue", "objective.options.queue_size=16", "objective.options.key_encoder=student"],
    "host-banks": ["objective.options.bank_placement=host"],
    "chunk-order": ["data.order=chunks", "data.chunk_size=6", "data.window_chunks=2"],
    "device-augment": ["data.augment_on=device"],
    "device-augment-kept-workers": ["data.augment_on=device", "data.num_workers=2"],
    "device-augment-chunk-order": ["data.augment_on=device", "data.order=chunks", "data.chunk_size=6", "data.window_chunks=2"],
}


@pytest.mark.parametrize("variant", RESUME_VARIANTS)
def test_resume_after_interruption_matches_an_uninterrupted_run(tmp_path, data_root, monkeypatch, variant):
    settings = RESUME_VARIANTS[variant]
    straight = Trainer(tiny_config(tmp_path, data_root, *settings, f"run.dir={tmp_path / 'straight'}")).fit()

    interrupted_config = tiny_config(tmp_path, data_root, *settings, f"run.dir={tmp_path / 'interrupted'}")
    stop_after_first_checkpoint(interrupted_config, monkeypatch)
    assert load_checkpoint(tmp_path / "interrupted")["epoch"] == 1
    resumed = Trainer(interrupted_config, resume=tmp_path / "interrupted").fit()

    a, b = load_checkpoint(straight), load_checkpoint(resumed)
    assert (a["epoch"], a["global_step"]) == (b["epoch"], b["global_step"]) == (2, 2 * 5)
    assert _states_equal(a["student"], b["student"])
    assert _states_equal(a["objective"], b["objective"])
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])

    def losses(run):
        return [(r["epoch"], r["step"], r["loss"]) for r in MetricsFile(run / "metrics.jsonl").read()]

    assert losses(straight) == losses(resumed), "the resumed run's metrics must equal the straight run's, without duplicates"


def test_a_two_stage_objective_resumes_across_its_phase_boundary(tmp_path, data_root, monkeypatch):
    method = ["objective.name=ft", "objective.options.pretrain_fraction=0.5"]
    straight = Trainer(tiny_config(tmp_path, data_root, *method, f"run.dir={tmp_path / 'straight'}")).fit()
    interrupted_config = tiny_config(tmp_path, data_root, *method, f"run.dir={tmp_path / 'interrupted'}")
    stop_after_first_checkpoint(interrupted_config, monkeypatch)
    after_pretraining = load_checkpoint(tmp_path / "interrupted")["student"]
    initial = Trainer(tiny_config(tmp_path, data_root, *method, f"run.dir={tmp_path / 'fresh'}")).student
    # the first phase trains the paraphraser alone: the student's weights are still its initial ones
    assert all(torch.equal(after_pretraining[name], value) for name, value in initial.named_parameters())
    resumed = Trainer(interrupted_config, resume=tmp_path / "interrupted").fit()

    epochs = [r for r in MetricsFile(resumed / "metrics.jsonl").read() if r.get("event") == "epoch"]
    assert [(r["epoch"], r["phase"]) for r in epochs] == [(1, "pretrain"), (2, "distill")]
    a, b = load_checkpoint(straight), load_checkpoint(resumed)
    assert _states_equal(a["student"], b["student"]) and _states_equal(a["objective"], b["objective"])
    assert not torch.equal(a["student"]["stem.0.weight"], after_pretraining["stem.0.weight"])


def test_a_run_that_would_end_in_pretraining_is_refused(tmp_path, data_root):
    config = tiny_config(tmp_path, data_root, "objective.name=fsp", "schedule.epochs=1")
    with pytest.raises(InputError, match="still in its 'pretrain' phase at the last of 1 epochs"):
        Trainer(config)


def test_none_objective_keeps_the_initial_student_and_still_writes_a_run(tmp_path, data_root):
    trainer = Trainer(tiny_config(tmp_path, data_root, "objective.name=none"))
    initial = {k: v.clone() for k, v in trainer.student.state_dict().items()}
    run = trainer.fit()
    state = load_checkpoint(run)
    assert state["global_step"] == 0 and state["finished"]
    assert _states_equal(initial, state["student"]), "the student (BN statistics included) must stay at its initialisation"
    assert (run / "config.yaml").is_file()
    assert [r["event"] for r in MetricsFile(run / "metrics.jsonl").read()] == ["untrained"]


@pytest.fixture(scope="module")
def crd_epochs(tmp_path_factory, data_root):
    """Epoch records of a short CRD run on 128 embedded rooms (a few seconds)."""
    config = tiny_config(
        tmp_path_factory.mktemp("crd"), data_root, "data.options.num=128", "schedule.epochs=10", "schedule.batch_size=16"
    )
    return [r for r in MetricsFile(Trainer(config).fit() / "metrics.jsonl").read() if r.get("event") == "epoch"]


def test_crd_loss_falls_and_positive_score_rises_on_embedded_rooms(crd_epochs):
    assert crd_epochs[-1]["loss"] < crd_epochs[0]["loss"]
    assert crd_epochs[-1]["diag/crd/pos_score"] > crd_epochs[0]["diag/crd/pos_score"] + 0.03


def test_crd_scores_positives_above_negatives_after_a_short_run(crd_epochs):
    gaps = [r["diag/crd/pos_score"] - r["diag/crd/neg_score"] for r in crd_epochs[-3:]]
    assert np.mean(gaps) > 0.03


def test_teacher_cache_serves_the_teachers_output_on_the_plain_view(tmp_path, data_root):
    config = tiny_config(tmp_path, data_root, "teacher.cache=true", "schedule.epochs=1")
    trainer = Trainer(config)
    plain = build_train_dataset(config.data, augment=False)
    rows = torch.tensor([5, 2])
    expected = trainer.teachers[0](torch.stack([plain[int(i)]["source"] for i in rows]))
    cached = trainer.teacher_cache.lookup(rows)[0]
    torch.testing.assert_close(cached.pooled, expected.pooled, rtol=1e-4, atol=1e-4)
    assert [m.numel() for m in cached.maps] == [0] * len(expected.maps) and cached.logits is None, "CRD reads only the pooled features"
    assert load_checkpoint(trainer.fit())["finished"]


def test_a_disk_teacher_cache_trains_like_the_memory_cache_and_is_shared_by_the_next_run(tmp_path, data_root):
    on_disk = [f"teacher.cache_dir={tmp_path / 'teacher-cache'}", "objective.name=crd+kd"]
    memory = Trainer(tiny_config(tmp_path, data_root, "teacher.cache=true", "objective.name=crd+kd", f"run.dir={tmp_path / 'memory'}")).fit()
    disk = Trainer(tiny_config(tmp_path, data_root, "teacher.cache=true", *on_disk, f"run.dir={tmp_path / 'disk'}")).fit()
    assert _states_equal(load_checkpoint(memory)["student"], load_checkpoint(disk)["student"])
    (folder,) = (tmp_path / "teacher-cache").iterdir()
    assert sorted(p.name for p in (folder / "teacher0").iterdir()) == ["logits.npy", "pooled.npy"]
    again = Trainer(tiny_config(tmp_path, data_root, "teacher.cache=true", *on_disk, f"run.dir={tmp_path / 'again'}"))
    assert [p.name for p in (tmp_path / "teacher-cache").iterdir()] == [folder.name], "the same teacher and data: the same folder"
    assert again.teacher_cache is not None and isinstance(again.teacher_cache.outputs[0]["pooled"], np.memmap)
    with pytest.raises(InputError, match="teacher.cache_dir is set but teacher.cache is false"):
        Trainer(tiny_config(tmp_path, data_root, f"teacher.cache_dir={tmp_path}"))


def test_wandb_failure_warns_once_and_training_continues(tmp_path, data_root, monkeypatch, capsys):
    wandb = pytest.importorskip("wandb")

    def broken_init(**kwargs):
        raise RuntimeError("no service")

    monkeypatch.setattr(wandb, "init", broken_init)
    run = Trainer(tiny_config(tmp_path, data_root, "run.wandb=offline", "schedule.epochs=1")).fit()
    assert load_checkpoint(run)["finished"]
    assert capsys.readouterr().err.count("warning: wandb") == 1


def test_an_unreachable_wandb_server_costs_the_init_timeout_and_one_line(tmp_path, monkeypatch, capsys):
    import time

    import crossmodal.engine.logging as logging_module

    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # the discard port: connection refused
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    monkeypatch.setattr(logging_module, "WANDB_INIT_TIMEOUT_S", 2)
    start = time.perf_counter()
    logger = logging_module.WandbLogger("online", "group", "name", {}, tmp_path)
    assert time.perf_counter() - start < 30 and logger.run is None
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: wandb")]
    assert len(warnings) == 1 and "could not start within 2 s (CommError" in warnings[0]


def test_wandb_offline_run_is_written_under_wandb_dir(tmp_path, data_root, monkeypatch):
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wb"))
    (tmp_path / "wb").mkdir()
    run = Trainer(tiny_config(tmp_path, data_root, "run.wandb=offline", "schedule.epochs=1")).fit()
    assert load_checkpoint(run)["wandb_id"]
    assert list((tmp_path / "wb" / "wandb").glob("offline-run-*"))


def test_wandb_auto_mode_follows_env_and_login(tmp_path, monkeypatch):
    for name in ("WANDB_MODE", "WANDB_API_KEY", "NETRC"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_wandb_mode("auto") == "offline"
    (tmp_path / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password secret\n")
    (tmp_path / ".netrc").chmod(0o600)
    assert resolve_wandb_mode("auto") == "online"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_wandb_mode("auto") == "disabled"
    assert resolve_wandb_mode("offline") == "offline"


def test_existing_run_directory_is_not_overwritten(tmp_path, data_root):
    config = tiny_config(tmp_path, data_root, f"run.dir={tmp_path / 'taken'}", "objective.name=none")
    Trainer(config).fit()
    with pytest.raises(InputError, match="--resume"):
        Trainer(config)


# ------------------------------------------------------------------ distributed


class _Stats(nn.Module):
    """A module with an ordinary buffer (averaged) and a self-synchronising child (left alone)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("running_mean", torch.zeros(3))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))
        self.bank = nn.Module()
        self.bank.synchronises_itself = True
        self.bank.register_buffer("rows", torch.zeros(4, 2))


def _collectives_worker(rank: int, out_dir: str) -> None:
    import torch.distributed as dist

    from crossmodal.distributed import average_buffers, gather_rows, global_logsumexp

    dist.init_process_group("gloo")
    module = _Stats()
    module.running_mean += float(rank + 1)
    module.count += 1
    module.bank.rows[rank] = 1.0
    average_buffers(module)
    gathered = gather_rows(torch.tensor([[rank, 10 + rank]]))
    scores = torch.tensor([0.5, 1.0]) if rank == 0 else torch.tensor([2.0, -1.0, 0.0])
    log_sum, count = global_logsumexp(torch.logsumexp(scores, dim=0), scores.numel())
    torch.save({"state": module.state_dict(), "gathered": gathered, "log_sum": log_sum, "count": count},
               os.path.join(out_dir, f"rank{rank}.pt"))


def test_distributed_collectives_gather_rows_combine_logsumexp_and_average_buffers(tmp_path):
    run_ranks(_collectives_worker, str(tmp_path))
    results = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for rank, result in enumerate(results):
        assert result["state"]["running_mean"].tolist() == [1.5] * 3 and result["state"]["count"].item() == 1
        assert result["state"]["bank.rows"][rank].tolist() == [1.0, 1.0], "a self-synchronising module is left alone"
        assert result["state"]["bank.rows"][1 - rank].tolist() == [0.0, 0.0]
        assert result["gathered"].tolist() == [[0, 10], [1, 11]]
        expected = torch.logsumexp(torch.tensor([0.5, 1.0, 2.0, -1.0, 0.0]), dim=0)
        assert result["log_sum"].item() == pytest.approx(expected.item(), rel=1e-6) and result["count"] == 5


M_ROWS, BATCH = 16, 8


def _every_other_row(self, index):
    """Deterministic per-sample negatives, the same for any sharding of the batch: every row but the anchor's."""
    rows = torch.arange(self.num_samples)
    return torch.stack([rows[rows != i] for i in index.tolist()])


DDP_CRD_VARIANTS = {
    "first-batch-z": {"z_mode": "first-batch"},
    "ema-z": {"z_mode": "ema"},
    # 12 keys, 8 a step: the queue wraps around within the three steps
    "queue": {"negatives": "queue", "queue_size": 12, "key_momentum": 0.5},
    # the student-side keys from a momentum copy of the whole student
    "queue-momentum-student": {"negatives": "queue", "queue_size": 12, "key_momentum": 0.5, "key_encoder": "student"},
    # BatchNorm in the student and in CRD's centred embedding heads, synchronised on the ranks
    "sync-batchnorm": {"embed_inputs": "centred"},
}


def _crd_setup(variant: str):
    from crossmodal.distill import ObjectiveContext, build_objective

    torch.manual_seed(0)
    # BatchNorm only with synchronised statistics: per-rank ones would differ from the combined batch's
    student = nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6)) if variant == "sync-batchnorm" else nn.Linear(5, 6)
    if variant == "queue-momentum-student":
        student = _PooledStudent(student)
    ctx = ObjectiveContext(student_dim=6, teacher_dims=[7], num_samples=M_ROWS, student=student)
    objective = build_objective("crd", ctx, {"feat_dim": 4, "sampling": "per-sample", "embed_inputs": "raw", "z_momentum": 0.5,
                                             **DDP_CRD_VARIANTS[variant]})
    generator = torch.Generator().manual_seed(1)
    steps = [(torch.randn(BATCH, 5, generator=generator), torch.randn(BATCH, 7, generator=generator),
              torch.randperm(M_ROWS, generator=generator)[:BATCH]) for _ in range(3)]
    return student, objective, steps


class _PooledStudent(nn.Module):
    """A student that returns Features, as the trainer's students do (a momentum copy of it must too)."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x):
        from crossmodal.models.features import Features

        return Features(pooled=self.layer(x))


class _Distilled(nn.Module):
    def __init__(self, student, objective) -> None:
        super().__init__()
        self.student, self.objective = student, objective

    def forward(self, x, teacher, index):
        from crossmodal.models.features import Features

        out = self.student(x)
        student_out = out if isinstance(out, Features) else Features(pooled=out)
        return self.objective(student_out, [Features(pooled=teacher)], {"index": index, "target": x})["crd"]


def _train_crd(model, steps, rows: slice) -> None:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    for x, teacher, index in steps:
        loss = model(x[rows], teacher[rows], index[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def _ddp_crd_worker(rank: int, variant: str, out_dir: str) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from crossmodal.distill.crd import CRD

    dist.init_process_group("gloo")
    CRD.draw_negatives = _every_other_row
    student, objective, steps = _crd_setup(variant)
    if variant == "sync-batchnorm":
        convert_to_sync_batchnorm(student)
        convert_to_sync_batchnorm(objective)
    model = DistributedDataParallel(_Distilled(student, objective), broadcast_buffers=False)
    half = BATCH // 2
    _train_crd(model, steps, slice(rank * half, (rank + 1) * half))
    torch.save(model.module.state_dict(), os.path.join(out_dir, f"rank{rank}.pt"))
    # run_ranks destroys the group once this frame, and the DDP model with it, is gone


@pytest.mark.parametrize("variant", DDP_CRD_VARIANTS)
def test_ddp_crd_banks_queues_z_and_weights_equal_one_process_over_the_combined_batch(tmp_path, monkeypatch, variant):
    from crossmodal.distill.crd import CRD

    run_ranks(_ddp_crd_worker, variant, str(tmp_path))
    monkeypatch.setattr(CRD, "draw_negatives", _every_other_row)
    student, objective, steps = _crd_setup(variant)
    single = _Distilled(student, objective)
    _train_crd(single, steps, slice(0, BATCH))
    expected = single.state_dict()
    for rank in range(2):
        state = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert state.keys() == expected.keys()
        for key, value in expected.items():
            assert torch.allclose(state[key].double(), value.double(), atol=1e-6), (rank, key)
    initial = _crd_setup(variant)[1].state_dict()
    if variant.startswith("queue"):
        assert expected["objective.terms.0.student_queue.pointer"].item() == 3 * BATCH % 12
        assert (expected["objective.terms.0.student_queue.keys"] != initial["terms.0.student_queue.keys"]).any(dim=1).all()
        assert not torch.equal(expected["objective.terms.0.key_teacher.linear.weight"], initial["terms.0.key_teacher.linear.weight"])
        if variant == "queue-momentum-student":
            assert not torch.equal(expected["objective.key_network.layer.weight"], initial["key_network.layer.weight"])
    else:
        refreshed = expected["objective.terms.0.student_memory.rows"] != initial["terms.0.student_memory.rows"]
        assert refreshed.any(dim=1).sum() > BATCH // 2, "both ranks' rows were refreshed"


def test_sync_batchnorm_outside_distributed_training_is_plain_batchnorm():
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, momentum=0.3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))
    plain(torch.randn(2, 3, 6, 5))  # materialise the lazy layer
    synced = convert_to_sync_batchnorm(copy.deepcopy(plain))
    assert isinstance(synced[1], SyncBatchNorm) and synced.state_dict().keys() == plain.state_dict().keys()
    inputs = torch.randn(5, 3, 6, 5)
    for network in (plain, synced):
        network(inputs).square().sum().backward()
    assert _states_equal(plain.state_dict(), synced.state_dict()), "the same running statistics"
    assert all(torch.equal(a.grad, b.grad) for a, b in zip(plain.parameters(), synced.parameters()))
    plain.eval(), synced.eval()
    assert torch.equal(plain(inputs), synced(inputs))


def test_a_one_process_run_with_sync_batchnorm_equals_a_plain_run(tmp_path, data_root):
    plain = Trainer(tiny_config(tmp_path, data_root, "schedule.epochs=1", f"run.dir={tmp_path / 'plain'}")).fit()
    trainer = Trainer(tiny_config(tmp_path, data_root, "schedule.epochs=1", "run.sync_batchnorm=true", f"run.dir={tmp_path / 'synced'}"))
    assert any(isinstance(m, SyncBatchNorm) for m in trainer.student.modules())
    assert any(isinstance(m, SyncBatchNorm) for m in trainer.objective.modules()), "CRD's centring BatchNorm too"
    synced = trainer.fit()
    assert _states_equal(load_checkpoint(plain)["student"], load_checkpoint(synced)["student"])


def _train_worker(rank: int, config: TrainConfig, out_dir: str) -> None:
    torch.set_num_threads(1)
    trainer = Trainer(config)
    trainer.fit()
    torch.save(
        {"objective": trainer.objective.state_dict(), "student": trainer.student.state_dict()},
        os.path.join(out_dir, f"rank{rank}.pt"),
    )


@pytest.mark.slow
def test_two_process_training_keeps_ranks_in_step(tmp_path, data_root):
    config = tiny_config(tmp_path, data_root, f"run.dir={tmp_path / 'ddp'}", "schedule.epochs=1")
    prepare_data(config.data, progress=False)  # generated once here, not by both ranks
    run_ranks(_train_worker, config, str(tmp_path))
    states = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert _states_equal(states[0]["objective"], states[1]["objective"]), "memory banks diverged across ranks"
    assert _states_equal(states[0]["student"], states[1]["student"]), "weights or BatchNorm statistics diverged across ranks"
    bank = states[0]["objective"]["terms.0.teacher_memory.rows"]
    initial = Trainer(apply_overrides(config, ["objective.name=crd", f"run.dir={tmp_path / 'fresh'}"])).objective.state_dict()
    refreshed = (bank != initial["terms.0.teacher_memory.rows"].cpu()).any(dim=1)
    assert refreshed.sum().item() == 2 * (40 // 2 // 8) * 8, "rows of both ranks' batches must be refreshed"
    records = [json.loads(line) for line in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    assert records and all(r["epoch"] == 1 for r in records)


def test_objectives_see_map_shapes_and_training_progress(tmp_path, data_root):
    """A plug-in objective gets the stage maps' channels and strides, and the epoch and step before each step."""
    from crossmodal.distill import OBJECTIVES, Objective
    from crossmodal.models.features import MapSpec

    seen: dict[str, list] = {"progress": [], "maps": []}

    class Recording(Objective):
        def __init__(self, ctx, *, beta: float = 1.0) -> None:
            super().__init__()
            seen["maps"] = [ctx.student_maps, ctx.teacher_maps]
            self.scale = nn.Parameter(torch.ones(()))

        def forward(self, student_out, teacher_outs, batch):
            seen["progress"].append((self.progress.epoch, self.progress.step, self.progress.steps_per_epoch, self.progress.epochs))
            return {"recording": self.scale * student_out.pooled.pow(2).mean()}

    OBJECTIVES.register("recording")(Recording)
    try:
        config = tiny_config(tmp_path, data_root, "objective.name=recording", "data.options.split=train")
        Trainer(config).fit()
    finally:
        OBJECTIVES.unregister("recording")
    # 40 rooms: 22 in the train split, batch 8 -> 2 steps per epoch, 2 epochs.
    assert seen["progress"] == [(1, 0, 2, 2), (1, 1, 2, 2), (2, 2, 2, 2), (2, 3, 2, 2)]
    student_maps, teacher_maps = seen["maps"]
    assert student_maps == [MapSpec(8 * 2**k, (4 * 2**k, 4 * 2**k)) for k in range(4)]
    assert teacher_maps == [[MapSpec(c, (s, s)) for c, s in zip((24, 40, 112, 320), (4, 8, 16, 32))]]
    assert Recording.name == "recording"


def test_metrics_file_drops_a_torn_last_line_and_names_a_damaged_middle_one(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"epoch": 1, "loss": 2.0}\n{"epoch": 2, "loss": 1.5}\n{"epoch": 3, "lo')  # a write cut short
    metrics = MetricsFile(path)
    assert metrics.read() == [{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.5}]
    metrics.keep_epochs_up_to(1)
    assert path.read_text() == '{"epoch": 1, "loss": 2.0}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.jsonl"]
    path.write_text('{"epoch": 1}\n{"epo\n{"epoch": 2}\n')
    with pytest.raises(InputError, match=r"metrics.jsonl line 2 is not a JSON record"):
        metrics.read()


class _StopBeforeEpoch(Exception):
    pass


def _interrupted_train_worker(rank: int, config: TrainConfig, resume: str | None, stop_at: int | None) -> None:
    """A rank of a 2-process run (``resume``: continuing that run) that every rank leaves at the start of epoch ``stop_at``."""
    torch.set_num_threads(1)
    trainer = Trainer(config, resume=resume)
    if stop_at is not None:
        real_epoch = trainer._train_epoch

        def train_epoch(epoch: int) -> None:
            if epoch == stop_at:
                raise _StopBeforeEpoch  # after the checkpoint of the epoch before, on every rank alike
            real_epoch(epoch)

        trainer._train_epoch = train_epoch
    try:
        trainer.fit()
    except _StopBeforeEpoch:
        pass


@pytest.mark.slow
def test_a_resumed_two_process_run_continues_where_it_stopped(tmp_path, data_root):
    straight = tiny_config(tmp_path, data_root, f"run.dir={tmp_path / 'straight'}", "data.options.num=64")
    prepare_data(straight.data, progress=False)
    run_ranks(_interrupted_train_worker, straight, None, None)
    interrupted = apply_overrides(straight, [f"run.dir={tmp_path / 'interrupted'}"])
    run_ranks(_interrupted_train_worker, interrupted, None, 2)
    assert load_checkpoint(tmp_path / "interrupted")["epoch"] == 1
    run_ranks(_interrupted_train_worker, interrupted, str(tmp_path / "interrupted"), None)

    a, b = load_checkpoint(tmp_path / "straight"), load_checkpoint(tmp_path / "interrupted")
    assert (a["epoch"], a["global_step"], a["world_size"]) == (b["epoch"], b["global_step"], b["world_size"]) == (2, 2 * 4, 2)
    assert _states_equal(a["student"], b["student"]) and _states_equal(a["objective"], b["objective"])
    epochs = [r["epoch"] for r in MetricsFile(tmp_path / "interrupted" / "metrics.jsonl").read() if r.get("event") == "epoch"]
    assert epochs == [1, 2]


def test_loader_workers_default_to_none_on_the_cpu_and_an_explicit_count_wins(tmp_path, monkeypatch):
    from crossmodal.engine.trainer import MAX_AUTO_WORKERS, Trainer

    config = apply_overrides(TrainConfig(), [
        f"data.root={tmp_path / 'data'}", "data.options.num=12", "data.options.size=[24,32]", "data.input_size=[24,32]",
        "student.name=resnet10", "student.width=8", "schedule.batch_size=4", "run.wandb=disabled", "run.progress=false",
    ])
    trainer = Trainer(config, dry_run=True)
    assert trainer.config.data.num_workers is None and trainer.loader_workers == 0
    assert Trainer(apply_overrides(config, ["data.num_workers=3"]), dry_run=True).loader_workers == 3
    monkeypatch.setattr(trainer, "device", torch.device("cuda"))
    monkeypatch.setattr("crossmodal.engine.trainer.usable_cores", lambda: 32)
    assert trainer.loader_workers == MAX_AUTO_WORKERS


def test_wandb_gets_each_steps_values_and_the_epoch_means_under_their_own_names(tmp_path, monkeypatch):
    from crossmodal.engine.logging import WandbLogger
    from crossmodal.engine.trainer import Trainer

    logged: list[tuple[dict, int]] = []
    monkeypatch.setattr(WandbLogger, "log", lambda self, values, step: logged.append((values, step)))
    config = apply_overrides(TrainConfig(), [
        f"data.root={tmp_path / 'data'}", "data.options.num=12", "data.options.size=[24,32]", "data.options.split=all",
        "data.input_size=[24,32]", "student.name=resnet10", "student.width=8", "schedule.batch_size=4", "schedule.epochs=1",
        "run.wandb=disabled", "run.progress=false", "run.log_every=1", f"run.dir={tmp_path / 'run'}",
    ])
    Trainer(config).fit()
    steps = [values for values, _ in logged if "loss" in values]
    epoch_values, epoch_step = next((values, step) for values, step in logged if "epoch/loss" in values)
    assert len(steps) == 3 and logged[2][1] == epoch_step == 3, "the epoch means are logged at its last step"
    assert "loss" not in epoch_values and epoch_values["epoch"] == 1 and "epoch/samples_per_s" in epoch_values
