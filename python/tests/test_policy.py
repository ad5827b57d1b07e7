"""exphil.umi (the UMI v1 frame dtype), Game.umi_frames and exphil.Policy stepping a policy on
them as `exphil serve` does."""

from __future__ import annotations

import numpy as np
import pytest

import exphil
from conftest import games, replays_dir

def umi_frames_of(i):
    """Game ``i``'s UMI frames seen by its first port."""
    game = exphil.read_replay(games()[i]["path"])
    return game.umi_frames(game.ports[0])


needs_policy = pytest.mark.skipif(not hasattr(exphil._native, "Policy"),
                                  reason="built without the `policy` feature")


def test_the_frame_dtype_is_umi_melees():
    umi = pytest.importorskip("umi.frame")
    assert exphil.umi.FRAME == umi.FRAME
    assert exphil.umi.FRAME.itemsize == 770
    assert exphil.umi.BUTTONS == umi.BUTTONS


def test_umi_frames_are_the_replays_frames_from_each_side():
    game = exphil.read_replay(games()[0]["path"])
    p, q = game.ports
    frames = game.umi_frames(p)
    assert frames.dtype == exphil.umi.FRAME
    rows = game.umi_frame_rows(p)
    assert len(frames) == len(rows) > 1000
    t, u = game.frames(p), game.frames(q)
    ids = t.column("frame").to_numpy()
    assert np.array_equal(frames["frame"], ids[rows])
    assert np.array_equal(frames["players"][:, 0]["x"], t.column("post_x").to_numpy()[rows])
    assert np.array_equal(frames["players"][:, 1]["x"], u.column("post_x").to_numpy()[rows])
    assert np.array_equal(frames["players"][:, 0]["action"],
                          t.column("post_action_state").to_numpy()[rows])
    assert (frames["players"]["exists"] == 1).all()
    # From the other side, the players swap.
    other = game.umi_frames(q)
    assert np.array_equal(other["players"][:, 0]["x"], frames["players"][:, 1]["x"])
    with pytest.raises(ValueError, match="port 3 has no player"):
        game.umi_frames(3)


def test_nana_is_in_the_umi_frames():
    game = exphil.read_replay(replays_dir() / "edge" / "py-slippi__Game_20221228T034923.slp")
    frames = game.umi_frames(1)
    assert frames["nana"][:, 0]["exists"].any()
    assert not frames["nana"][:, 1]["exists"].any()


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory):
    if not hasattr(exphil._native, "Policy"):
        pytest.skip("built without the `policy` feature")
    path = tmp_path_factory.mktemp("policy") / "tiny.safetensors"
    exphil.write_untrained_policy(path, hidden=16, frame_delay=2)
    return path


@needs_policy
def test_a_policy_steps_on_a_games_frames(policy_file):
    policy = exphil.Policy(policy_file, deterministic=True)
    assert policy.delay == 2 and policy.info["trained_frame_delay"] == 2
    assert policy.info["name"] == "tiny" and policy.info["params"] > 0
    frames = umi_frames_of(0)[:400]
    outs = [policy.step(f) for f in frames]
    for f, c in zip(frames, outs):
        assert set(c) == {"main_x", "main_y", "c_x", "c_y", "shoulder", "buttons", "row",
                          "anomalous"}
        assert c["row"].shape == (13,) and c["row"].dtype == np.float32
        assert list(c["buttons"]) == list(exphil.umi.BUTTONS)
        assert all(0.0 <= c[k] <= 1.0 for k in ("main_x", "main_y", "c_x", "c_y", "shoulder"))
        assert c["row"][5:].tolist() == [float(v) for v in c["buttons"].values()]
        if f["frame"] < 0:  # the game ignores inputs before GO: neutral
            assert c["row"].tolist() == [0.5, 0.5, 0.5, 0.5] + [0.0] * 9
        assert not c["anomalous"]
    # Deterministic: the same game again (a frame id not after the last starts it afresh),
    # from raw bytes this time, gives the same controllers; so does a fresh policy.
    again = [policy.step(f.tobytes()) for f in frames]
    fresh = exphil.Policy(policy_file, deterministic=True)
    third = [fresh.step(f) for f in frames]
    for a, b, c in zip(outs, again, third):
        assert np.array_equal(a["row"], b["row"]) and np.array_equal(a["row"], c["row"])


@needs_policy
def test_sampling_is_seeded(policy_file):
    frames = umi_frames_of(1)[200:400]
    a = exphil.Policy(policy_file, temperature=1.0, seed=5)
    b = exphil.Policy(policy_file, temperature=1.0, seed=5)
    rows_a = np.stack([a.step(f)["row"] for f in frames])
    rows_b = np.stack([b.step(f)["row"] for f in frames])
    assert np.array_equal(rows_a, rows_b)


@needs_policy
def test_bad_frames_and_files_raise(policy_file, tmp_path):
    policy = exphil.Policy(policy_file)
    with pytest.raises(ValueError, match="770"):
        policy.step(b"\0" * 769)
    with pytest.raises(ValueError, match="FRAME"):
        policy.step(np.zeros(3, dtype=np.float32))
    with pytest.raises(exphil.PolicyError, match="nope"):
        exphil.Policy(tmp_path / "nope")
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(exphil.PolicyError, match="junk.safetensors"):
        exphil.Policy(tmp_path / "junk.safetensors")
    with pytest.raises(ValueError, match="temperature"):
        exphil.Policy(policy_file, temperature=0.0)
    with pytest.raises(ValueError, match="device"):
        exphil.Policy(policy_file, device="tpu:0")


@needs_policy
def test_out_of_range_frames_repeat_the_previous_controller(policy_file):
    policy = exphil.Policy(policy_file, deterministic=True)
    frames = umi_frames_of(0)[:200].copy()
    last = None
    for f in frames:
        last = policy.step(f)
    bad = frames[-1].copy()
    bad["frame"] += 1
    bad["players"][0]["x"] = np.float32(np.inf)
    out = policy.step(bad)
    assert out["anomalous"]
    assert np.array_equal(out["row"], last["row"])
