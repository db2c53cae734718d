"""crossmodal-prepare: each subcommand reaches its library call; bad input is one line and exit 2."""
from __future__ import annotations

import errno

import h5py
import numpy as np
import pytest

import crossmodal.data.synthetic.rooms as rooms
from crossmodal.cli.prepare import main
from crossmodal.data.nyu import NYUDepthV2
from tests.nyu_files import random_frames, write_nyu_mat


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    return err[0]


def test_synthetic_rooms_writes_a_file_the_nyu_loader_reads(tmp_path):
    out = tmp_path / "rooms.mat"
    assert main(["synthetic-rooms", "--num", "3", "--size", "24x32", "--seed", "5", "--workers", "1", "--out", str(out)]) == 0
    with h5py.File(out, "r") as file:
        assert file["images"].shape == (3, 3, 32, 24)
    dataset = NYUDepthV2(out, split="all")
    assert len(dataset) == 3 and dataset[0]["rgb"].shape == (3, 24, 32)


def test_nyu_cache_matches_the_mat_file(tmp_path):
    mat = tmp_path / "nyu.mat"
    write_nyu_mat(mat, random_frames(4, 12, 16, seed=1))
    cache = tmp_path / "cache"
    assert main(["nyu", "--mat", str(mat), "--out", str(cache), "--size", "full"]) == 0
    from_mat, from_cache = NYUDepthV2(mat, split="all"), NYUDepthV2(cache, split="all")
    for i in range(4):
        assert np.array_equal(from_mat[i]["depth"].numpy(), from_cache[i]["depth"].numpy())


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["nyu", "--mat", "missing.mat", "--out", "cache"], "missing.mat"),
        (["synthetic-rooms", "--num", "0", "--out", "r.mat"], "--num"),
        (["synthetic-rooms", "--size", "big", "--out", "r.mat"], "big"),
        (["synthetic-rooms", "--size", "full", "--out", "r.mat"], "explicit"),
        (["video", "--src", "no-such-folder", "--out", "cache"], "no-such-folder"),
        (["video", "--src", ".", "--out", "cache", "--fps", "0"], "--fps"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, argv, fragment):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert fragment in error_line(capsys)


@pytest.mark.parametrize(
    "argv",
    [
        ["synthetic-rooms", "--num", "2", "--size", "24x32", "--workers", "1", "--out", "{blocked}/rooms.mat"],
        ["synthetic-av", "--num", "2", "--workers", "1", "--out", "{blocked}/av"],
        ["nyu", "--mat", "{mat}", "--out", "{blocked}/cache"],
    ],
)
def test_an_output_under_a_file_is_one_sentence_naming_out(tmp_path, capsys, argv):
    (tmp_path / "blocked").write_text("a file where a folder should be")
    mat = write_nyu_mat(tmp_path / "nyu.mat", random_frames(2, 12, 16))
    argv = [part.format(blocked=tmp_path / "blocked", mat=mat) for part in argv]
    assert main(argv) == 2
    line = error_line(capsys)
    assert line.startswith(f"error: cannot write --out {tmp_path / 'blocked'}/") and ("exists" in line or "Not a directory" in line)


def test_a_full_disk_while_preparing_is_one_sentence(tmp_path, monkeypatch, capsys):
    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(rooms, "generate_rooms", full_disk)
    assert main(["synthetic-rooms", "--num", "2", "--size", "24x32", "--out", str(tmp_path / "rooms.mat")]) == 2
    assert error_line(capsys) == f"error: cannot write --out {tmp_path / 'rooms.mat'}: No space left on device"
