"""The NYU-Depth V2 facts the results rest on, pinned by literals and hashes written here, not read from the file the code reads.

Sources: Gupta et al.'s classMapping40.mat (894 -> 40), class13Mapping.mat (40 -> 13) and the
official splits.mat, all 1-based as in MATLAB. A change to crossmodal/data/nyu_v2_meta.json that
alters one mapping entry or one split index fails here.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from crossmodal.data.nyu_meta import load_meta

NYU13_NAMES = ["bed", "books", "ceiling", "chair", "floor", "furniture", "objects", "picture", "sofa", "table", "tv", "wall", "window"]
# 40-class id (1-based, in order) -> 13-class id (1-based), class13Mapping.mat
MAP_40_TO_13 = [12, 5, 6, 1, 4, 9, 10, 12, 13, 6, 8, 6, 13, 10, 6, 13, 6, 7, 7, 5, 7, 3, 2, 6, 11, 7, 7, 7, 7, 7, 7, 6, 7, 7, 7, 7, 7, 7, 6, 7]
NYU40_NAMES = [
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf", "picture", "counter", "blinds",
    "desk", "shelves", "curtain", "dresser", "pillow", "mirror", "floor mat", "clothes", "ceiling", "books", "refridgerator",
    "television", "paper", "towel", "shower curtain", "box", "whiteboard", "person", "night stand", "toilet", "sink", "lamp",
    "bathtub", "bag", "otherstructure", "otherfurniture", "otherprop",
]
SHA256 = {  # of json.dumps(list) of the 1-based values
    "train_indices": "f98fd6217a429fc247917b51644c67fb9e2612d49f36ed1cb58c5fe2adecdeff",
    "test_indices": "88a531049f3f21175368e4797d1cc40c2ded0aaf03a87f1d14a1a929e6ad7e6d",
    "map_894_to_40": "01733cc19ee417e3fd4ded9320bc6f12f2dcec2490b9a644f6f5cb0a4418331b",
    "class_names_894": "3f50f10d518c0e5b8d272a99284858cfa97ef44e777837f35f2d19dd29093d3c",
}


def sha256(values) -> str:
    return hashlib.sha256(json.dumps(list(values)).encode()).hexdigest()


def test_the_13_and_40_class_names_and_every_40_to_13_assignment():
    meta = load_meta()
    assert list(meta.nyu13_class_names) == NYU13_NAMES and list(meta.nyu40_class_names) == NYU40_NAMES
    labelled = meta.raw_to_nyu40 != 255
    for nyu40 in range(40):
        raw_ids = np.flatnonzero(meta.raw_to_nyu40 == nyu40)
        assert set(meta.raw_to_nyu13[raw_ids].tolist()) <= {MAP_40_TO_13[nyu40] - 1}, NYU40_NAMES[nyu40]
    assert np.array_equal(meta.raw_to_nyu13 == 255, ~labelled), "exactly the unlabelled ids map to 255 in both sets"
    # a few assignments spelled out: a 40-class's 13-class name
    named = {NYU40_NAMES[k]: NYU13_NAMES[MAP_40_TO_13[k] - 1] for k in range(40)}
    assert (named["cabinet"], named["television"], named["blinds"], named["night stand"], named["person"]) == (
        "furniture", "tv", "window", "furniture", "objects")


def test_the_894_raw_names_and_their_40_class_map_match_the_pinned_hashes():
    meta = load_meta()
    assert len(meta.raw_class_names) == 894 and meta.raw_to_nyu40.shape == (895,)
    assert meta.raw_to_nyu40[0] == 255, "raw id 0 is unlabelled"
    assert sha256(meta.raw_class_names) == SHA256["class_names_894"]
    assert sha256(int(v) + 1 for v in meta.raw_to_nyu40[1:]) == SHA256["map_894_to_40"]


def test_the_official_split_both_ends_sizes_and_hashes():
    meta = load_meta()
    train, test = meta.train_indices + 1, meta.test_indices + 1  # 1-based, as splits.mat
    assert (len(train), len(test)) == (795, 654)
    assert train[:5].tolist() == [3, 4, 5, 6, 7] and train[-5:].tolist() == [1436, 1437, 1438, 1439, 1440]
    assert test[:5].tolist() == [1, 2, 9, 14, 15] and test[-5:].tolist() == [1445, 1446, 1447, 1448, 1449]
    assert sorted(set(train.tolist()) | set(test.tolist())) == list(range(1, 1450)) and not set(train.tolist()) & set(test.tolist())
    assert sha256(int(v) for v in train) == SHA256["train_indices"] and sha256(int(v) for v in test) == SHA256["test_indices"]


def test_the_label_maps_cannot_be_changed_by_accident():
    meta = load_meta()
    for table in (meta.raw_to_nyu40, meta.raw_to_nyu13):
        with pytest.raises(ValueError, match="read-only"):
            table[1] = 0
