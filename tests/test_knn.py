"""The kNN protocol: cosine neighbours voting with exp(similarity / T) weights, and ``crossmodal-eval scene-knn``."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from crossmodal.cli.eval import main as eval_main
from crossmodal.errors import InputError
from crossmodal.eval.knn import knn_classify, knn_predict
from tests.nyu_files import random_frames, write_nyu_mat
from tests.test_probe import INPUT_SIZE, fake_run


def test_neighbours_vote_by_cosine_similarity_weighted_by_temperature():
    train = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.0, 5.0]])
    labels = np.array([0, 0, 1, 1, 1])
    test = np.array([[2.0, 0.1], [0.2, 3.0]])  # lengths do not count, directions do
    assert knn_predict(train, labels, test, num_classes=2, k=2).tolist() == [0, 1]
    # k=5: class 1 has three votes to class 0's two; only a low temperature lets the two near neighbours outvote them
    near_zero = np.array([[1.0, 0.3]])
    assert knn_predict(train, labels, near_zero, 2, k=5, temperature=100.0).tolist() == [1]
    assert knn_predict(train, labels, near_zero, 2, k=5, temperature=0.05).tolist() == [0]
    result = knn_classify(train, labels, test, np.array([0, 0]), ["a", "b"], k=50)
    assert (result.k, result.top1, result.confusion) == (5, 0.5, [[1, 1], [0, 0]])
    with pytest.raises(InputError, match="k >= 1 and a positive temperature"):
        knn_predict(train, labels, test, 2, k=0)


def test_scene_knn_on_a_run_writes_knn_json(tmp_path, capsys):
    frames = random_frames(28, *INPUT_SIZE, seed=0)
    half = INPUT_SIZE[1] // 2
    for k, frame in enumerate(frames):
        frame.scene = ("bedroom", "kitchen")[k % 2]
        frame.depth[:], frame.depth[:, half:] = 1.0, 9.0
        if k % 2:  # the other scene is the mirror image: features point elsewhere, not only grow (cosine ignores length)
            frame.depth[:] = frame.depth[:, ::-1].copy()
        frame.raw_depth[:] = frame.depth
    run = fake_run(tmp_path / "run", write_nyu_mat(tmp_path / "separable.mat", frames))
    assert eval_main(["scene-knn", "--run", str(run), "--device", "cpu", "--set", "k=5"]) == 0
    report = json.loads((run / "knn.json").read_text())
    assert report["top1"] == 1.0 and report["k"] == 5 and (report["num_train"], report["num_test"]) == (16, 12)
    assert "kNN (k=5, T=0.07, cosine): top-1 100.0%" in capsys.readouterr().out


def test_evaluations_are_kept_by_protocol_network_and_settings(tmp_path, capsys):
    """Another k is another result beside the first; the same k again replaces its own; the protocol's file is the latest."""
    frames = random_frames(20, *INPUT_SIZE, seed=1)
    run = fake_run(tmp_path / "run", write_nyu_mat(tmp_path / "frames.mat", frames))

    def knn(k: int) -> dict:
        assert eval_main(["scene-knn", "--run", str(run), "--device", "cpu", "--set", f"k={k}"]) == 0
        return json.loads((run / "knn.json").read_text())

    first, second = knn(5), knn(3)
    kept = sorted((run / "evaluations").glob("scene-knn-*.json"))
    assert len(kept) == 2 and second["k"] == 3, "a second setting must not overwrite the first"
    by_k = {json.loads(path.read_text())["k"]: path for path in kept}
    assert by_k[5].stem == first["evaluation"]["key"] and by_k[3].stem == second["evaluation"]["key"]
    assert first["evaluation"]["settings"]["k"] == 5 and "feature_cache" not in first["evaluation"]["settings"]
    assert knn(5)["evaluation"]["key"] == first["evaluation"]["key"]
    assert len(list((run / "evaluations").glob("*.json"))) == 2, "the same evaluation again replaces its own result"
    assert f"also kept as {run}/evaluations/{first['evaluation']['key']}.json" in capsys.readouterr().out


def test_a_trained_networks_scores_are_printed_beside_its_random_init_reference_once_that_is_scored(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the reference goes to runs/ of the working directory
    frames = random_frames(20, *INPUT_SIZE, seed=2)
    run = fake_run(tmp_path / "run", write_nyu_mat(tmp_path / "frames.mat", frames))
    assert eval_main(["scene-knn", "--run", str(run), "--device", "cpu", "--set", "k=5"]) == 0
    assert "the same command with --random-init resnet10 --like RUN gives the reference" in capsys.readouterr().out
    assert eval_main(["scene-knn", "--random-init", "resnet10", "--width", "4", "--like", str(run), "--device", "cpu",
                      "--set", "k=5"]) == 0
    assert "this is the random-init reference" in capsys.readouterr().out
    reference = json.loads(Path("runs/random-init-resnet10-w4-seed0/knn.json").read_text())["scores"]["knn_top1"]
    assert eval_main(["scene-knn", "--run", str(run), "--device", "cpu", "--set", "k=5"]) == 0
    mine = json.loads((run / "knn.json").read_text())["scores"]["knn_top1"]
    line = capsys.readouterr().out.strip().splitlines()[-2]
    assert line.startswith("random init of this architecture (runs/random-init-resnet10-w4-seed0/evaluations/scene-knn-")
    assert line.endswith(f": Scene kNN top-1 {100 * reference:.1f}% (here {100 * mine:.1f}%)")
    assert eval_main(["scene-knn", "--run", str(run), "--device", "cpu", "--set", "k=3"]) == 0
    assert "not scored with these settings yet" in capsys.readouterr().out, "other settings have no reference"
