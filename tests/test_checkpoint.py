"""Checkpoint files and RNG snapshots, the two things a bit-exact resume stands on, tested without training."""
from __future__ import annotations

import io
import random

import numpy as np
import pytest
import torch

from crossmodal.engine.checkpoint import CHECKPOINT_FORMAT, checkpoint_path, load_checkpoint, save_checkpoint, state_checksum
from crossmodal.engine.seeding import capture_rng_state, epoch_generator, restore_rng_state, seed_everything
from crossmodal.errors import InputError


def _roundtrip(value):
    buffer = io.BytesIO()
    torch.save(value, buffer)
    buffer.seek(0)
    return buffer


def test_rng_snapshot_restores_every_generator():
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    random.gauss(0, 1)  # leaves a cached Gaussian in Python's generator
    np.random.standard_normal()  # and one in NumPy's legacy generator
    state = capture_rng_state()
    first = (random.random(), random.gauss(0, 1), np.random.rand(), np.random.standard_normal(), torch.rand(1))
    random.seed(2), np.random.seed(2), torch.manual_seed(2)
    restore_rng_state(torch.load(_roundtrip(state), weights_only=True))
    assert (random.random(), random.gauss(0, 1), np.random.rand(), np.random.standard_normal(), torch.rand(1)) == first


def test_seed_everything_seeds_python_numpy_and_torch_alike():
    seed_everything(7)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(0), np.random.seed(0), torch.manual_seed(0)
    seed_everything(7)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
    random.seed(7), np.random.seed(7), torch.manual_seed(7)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
    seed_everything(2**32 + 7)  # NumPy takes 32-bit seeds: the seed is reduced, not refused
    assert np.random.rand() == first[1]


def test_an_epoch_generator_depends_on_seed_and_epoch_alone():
    draw = lambda seed, epoch: torch.randperm(1000, generator=epoch_generator(seed, epoch)).tolist()
    torch.manual_seed(123)
    assert draw(3, 2) == draw(3, 2)
    assert epoch_generator(3, 2).initial_seed() == 3 * 1_000_003 + 2
    assert len({tuple(draw(seed, epoch)) for seed, epoch in [(0, 0), (0, 1), (1, 0), (1, 1), (3, 2)]}) == 5


def test_failed_checkpoint_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"epoch": 1}, path)

    def failing_save(obj, handle):
        handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"epoch": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_a_checkpoint_carries_a_checksum_of_its_contents_and_a_changed_weight_is_refused(tmp_path):
    state = {"format": CHECKPOINT_FORMAT, "epoch": 1, "student": {"w": torch.arange(6.0).view(2, 3), "step": torch.tensor(3)}}
    save_checkpoint(state, tmp_path / "last.pt")
    stored = torch.load(tmp_path / "last.pt", weights_only=True)
    assert stored["checksum"] == state_checksum(state)
    assert state_checksum({**state, "student": {**state["student"], "w": torch.arange(6.0).view(3, 2)}}) != stored["checksum"]
    loaded = load_checkpoint(tmp_path)
    assert loaded["student"]["w"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert "checksum" not in loaded  # the digest is the file's, not part of the state handed back
    save_checkpoint(loaded, tmp_path / "again.pt")  # a state read back saves to the same digest
    assert torch.load(tmp_path / "again.pt", weights_only=True)["checksum"] == stored["checksum"]
    stored["student"]["w"][1, 2] = 5.5  # what a flipped byte in the tensor data would do
    torch.save(stored, tmp_path / "last.pt")
    with pytest.raises(InputError, match="is damaged: its contents no longer match the checksum"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize(
    "changed",
    [
        {"w": torch.arange(6.0).view(2, 3).to(torch.float64)},  # same values, another dtype
        {"w": torch.arange(6.0).view(3, 2)},  # same bytes, another shape
        {"w": torch.arange(6.0).view(2, 3), "extra": 0},  # one more key
        {"v": torch.arange(6.0).view(2, 3)},  # another key, same tensor
        {"w": [torch.arange(6.0).view(2, 3)]},  # a list holding it
        {"w": (torch.arange(6.0).view(2, 3),)},  # a tuple holding it
        {"w": torch.arange(6.0).view(2, 3) + 1e-6},  # a changed value
    ],
)
def test_the_checksum_tells_apart_every_change_of_structure_and_value(changed):
    assert state_checksum({"w": torch.arange(6.0).view(2, 3)}) != state_checksum(changed)


def test_the_checksum_is_that_of_the_values_not_of_their_memory_layout():
    tensor = torch.arange(6.0).view(2, 3)
    assert state_checksum({"a": 1, "b": tensor}) == state_checksum({"b": tensor.t().contiguous().t(), "a": 1})
    assert len(state_checksum({})) == 32


def test_a_half_written_checkpoint_is_truncated_and_a_folder_without_run_files_is_not_a_run(tmp_path):
    save_checkpoint({"format": CHECKPOINT_FORMAT, "epoch": 1, "w": torch.zeros(1000)}, tmp_path / "last.pt")
    data = (tmp_path / "last.pt").read_bytes()
    (tmp_path / "last.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"^checkpoint .*last\.pt is truncated or damaged: it cannot be read \(RuntimeError: "):
        load_checkpoint(tmp_path)
    with pytest.raises(InputError, match=r"^.*photos is not a crossmodal run directory \(it holds no last\.pt or config\.yaml or metrics\.jsonl\)$"):
        checkpoint_path((tmp_path / "photos").mkdir() or tmp_path / "photos")


def test_checkpoint_paths_and_unreadable_files_give_one_sentence(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("{}\n")
    with pytest.raises(InputError, match=r"run directory .*run has no last\.pt; it finished no epoch yet"):
        checkpoint_path(run)
    with pytest.raises(InputError, match=r"checkpoint or run directory .*missing\.pt does not exist"):
        checkpoint_path(tmp_path / "missing.pt")
    (run / "last.pt").write_bytes(b"not a zip")
    assert checkpoint_path(run) == run / "last.pt"
    assert checkpoint_path(run / "last.pt") == run / "last.pt"
    with pytest.raises(InputError, match=r"^checkpoint .*last\.pt is not a checkpoint \(not a file torch.save wrote\)$"):
        load_checkpoint(run)
    torch.save({"format": "someone-else/1", "epoch": 1}, run / "last.pt")
    with pytest.raises(InputError, match=r"is not a crossmodal-train checkpoint \(format crossmodal-train/1\)"):
        load_checkpoint(run)
    torch.save([1, 2], run / "last.pt")
    with pytest.raises(InputError, match="is not a crossmodal-train checkpoint"):
        load_checkpoint(run)


def test_a_checkpoint_without_a_checksum_still_loads(tmp_path):
    """Files from before checksums were written load unchecked rather than being refused."""
    torch.save({"format": CHECKPOINT_FORMAT, "epoch": 3}, tmp_path / "old.pt")
    assert load_checkpoint(tmp_path / "old.pt") == {"format": CHECKPOINT_FORMAT, "epoch": 3}


def test_the_checksum_format_is_fixed_so_older_checkpoints_still_verify():
    """Any change to how the digest is computed would report every existing checkpoint as damaged."""
    state = {"b": 1, 10: 2, 2: [torch.tensor([1.0, 2.0]), (3, "x")], "z": None}
    assert state_checksum(state) == "ec7446230bf620e2e4155936917bb3b4"


class _Payload:
    """Anything that is not a tensor, container or number: loading it would run code from the file."""


def test_a_checkpoint_holding_arbitrary_objects_is_refused_unread(tmp_path):
    torch.save({"format": CHECKPOINT_FORMAT, "epoch": 1, "payload": _Payload()}, tmp_path / "last.pt")
    with pytest.raises(InputError, match=r"^checkpoint .*last\.pt holds objects other than tensors and plain values, so it is refused unread$"):
        load_checkpoint(tmp_path)
