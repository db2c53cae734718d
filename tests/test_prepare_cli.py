"""crossmodal-prepare: each subcommand reaches its library call; bad input is one line and exit 2."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

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
