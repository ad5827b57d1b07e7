"""exphil.build_dataset and exphil.Dataset: a small dataset from four shared games, its batches'
shapes, and its values against the `.npy` shards of the same games built uncompressed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import exphil
from conftest import games

TARGETS = ["buttons", "main_x", "main_y", "c_x", "c_y", "shoulder"]


@pytest.fixture(scope="session")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("dataset")
    files = [r["path"] for r in games()[:4]]
    report = exphil.build_dataset(files, out, validation_fraction=0.25, threads=2)
    assert report["games"] == 4 and report["failed"] == []
    assert report["validation_games"] == 1
    return out, report


def test_frame_batches_have_the_right_shapes(dataset):
    out, report = dataset
    ds = exphil.Dataset(out, batch_size=512, seed=3)
    f, i = ds.info["feature_width"], ds.info["id_width"]
    assert f > 0 and i > 0
    assert ds.num_examples == report["train_examples"]
    assert len(ds) == -(-ds.num_examples // 512)
    batches = list(ds)
    assert len(batches) == -(-ds.num_examples // 512)
    assert sum(len(b["frame"]) for b in batches) == ds.num_examples
    b = batches[0]
    assert b["features"].shape == (512, f) and b["features"].dtype == np.float32
    assert b["ids"].shape == (512, i) and b["ids"].dtype == np.uint32
    assert b["targets"].shape == (512, 6) and b["targets"].dtype == np.uint16
    for k, name in enumerate(TARGETS):
        assert np.array_equal(b[name], b["targets"][:, k])
    assert b["frame"].shape == (512,) and b["frame"].dtype == np.int32
    assert b["game"].shape == (512,)
    assert np.isfinite(b["features"]).all()


def test_epochs_are_deterministic_and_reshuffled(dataset):
    out, _ = dataset
    a = exphil.Dataset(out, batch_size=256, seed=7)
    b = exphil.Dataset(out, batch_size=256, seed=7)
    first_a, first_b = next(iter(a)), next(iter(b))
    assert np.array_equal(first_a["features"], first_b["features"])
    second_a = next(iter(a))  # the next iteration is epoch 1: another order
    assert not np.array_equal(first_a["frame"], second_a["frame"])
    assert np.array_equal(next(a.epoch(0))["frame"], first_a["frame"])


def test_unshuffled_batches_are_the_shards_rows(dataset, tmp_path):
    out, _ = dataset
    # The same games with `.npy` shards, which NumPy reads without exphil.
    npy = tmp_path / "npy"
    files = [r["path"] for r in games()[:4]]
    exphil.build_dataset(files, npy, validation_fraction=0.25, threads=2, compression="none")
    manifest = json.loads((npy / "dataset.json").read_text())
    first = next(g for g in manifest["games"] if g["split"] == "train")
    shard = npy / first["shards"][0]["dir"]
    for root in (out, npy):
        b = next(iter(exphil.Dataset(root, batch_size=100, shuffle=False)))
        assert np.array_equal(b["features"], np.load(shard / "features.npy")[:100])
        assert np.array_equal(b["ids"], np.load(shard / "ids.npy")[:100])
        assert np.array_equal(b["targets"], np.load(shard / "targets.npy")[:100])
        assert np.array_equal(b["frame"], np.load(shard / "frames.npy")[:100])


def test_validation_split_is_the_held_out_game(dataset):
    out, report = dataset
    val = exphil.Dataset(out, split="val", batch_size=1000, shuffle=False)
    assert val.num_examples == report["validation_examples"]
    everything = exphil.Dataset(out, split="all", batch_size=1000)
    assert everything.num_examples == report["train_examples"] + report["validation_examples"]
    assert val.info["summary"]["validation_games"] == 1


def test_windows_and_unrolls(dataset):
    out, _ = dataset
    f = exphil.Dataset(out).info["feature_width"]
    w = exphil.Dataset(out, window=8, batch_size=16)
    b = next(iter(w))
    assert b["features"].shape == (16, 8, f)
    assert b["targets"].shape == (16, 8, 6) and b["buttons"].shape == (16, 8)
    assert b["frame"].shape == (16, 8)
    assert (np.diff(b["frame"], axis=1) == 1).all()  # consecutive frames of one game
    u = exphil.Dataset(out, unroll=32, batch_size=4)
    batches = list(u)
    assert len(batches) > 0
    b = batches[0]
    assert b["features"].shape == (32, 4, f)
    assert b["ids"].shape[:2] == (32, 4) and b["targets"].shape == (32, 4, 6)
    assert b["valid"].shape == (32, 4) and b["valid"].dtype == np.bool_
    assert b["reset"].shape == (4,) and b["reset"].all()  # every stream starts a segment
    assert b["game"].shape == (4,)
    assert sum(int(x["valid"].sum()) for x in batches) <= u.num_examples


def test_bad_datasets_and_options_raise(tmp_path, dataset):
    out, _ = dataset
    with pytest.raises(exphil.DatasetError, match=str(tmp_path)):
        exphil.Dataset(tmp_path)
    (tmp_path / "dataset.json").write_text("{not json")
    with pytest.raises(exphil.DatasetError, match="dataset.json"):
        exphil.Dataset(tmp_path)
    with pytest.raises(ValueError, match="split"):
        exphil.Dataset(out, split="test")
    with pytest.raises(ValueError, match="not both"):
        exphil.Dataset(out, window=4, unroll=4)
    with pytest.raises(exphil.DatasetError, match="batch size"):
        exphil.Dataset(out, batch_size=0)


def test_build_reports_bad_files_without_raising(tmp_path):
    from conftest import replays_dir

    bad = replays_dir() / "edge" / "libmelee__corrupt_game_1.slp"
    report = exphil.build_dataset([bad, games()[0]["path"]], tmp_path / "ds",
                                  validation_fraction=0.0)
    assert report["games"] == 1
    assert [p for p, _ in report["failed"]] == [str(bad)]
    with pytest.raises(ValueError, match="unknown character"):
        exphil.build_dataset([bad], tmp_path / "ds2", character="waluigi")
