"""exphil.scan: one row per file, the command line's filters, errors as rows."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest

import exphil
from conftest import edge, games, manifest, not_a_replay, replays_dir

GAMES = games()


def test_one_row_per_file_in_path_order_errors_as_rows():
    rows = manifest()
    t = exphil.scan(replays_dir())
    assert isinstance(t, pa.Table)
    assert t.num_rows == len(rows)
    assert t.column("path").to_pylist() == sorted(r["path"] for r in rows)
    by_path = {r["path"]: r for r in t.to_pylist()}
    for r in rows:
        got = by_path[r["path"]]
        if not_a_replay(r):
            assert not got["ok"] and "not a Slippi replay" in got["error"]
            assert got["frames"] is None and got["characters"] is None
        elif r["file"].startswith("games/"):
            assert got["ok"] and got["error"] is None
            assert got["frames"] == int(r["frames"])
            assert got["version"] == r["slippi_version"]
            assert got["stage_name"] == r["stage"]
            assert got["players"] == 2 and got["cpus"] == 0
            assert all(c in r["characters"] for c in got["characters"])
            assert got["winner"] in got["ports"]


def test_scan_agrees_with_read_replay():
    t = exphil.scan([GAMES[0]["path"], GAMES[1]["path"]])
    assert t.num_rows == 2
    for row in t.to_pylist():
        game = exphil.read_replay(row["path"])
        assert row["frames"] == len(game)
        assert row["characters"] == [game.metadata["characters"][p] for p in game.ports]
        assert row["content_hash"] == game.metadata["summary"]["content_hash"]


def test_character_and_stage_filters_mirror_the_cli_flags():
    everything = exphil.scan(replays_dir() / "games")
    assert everything.num_rows == 37
    fox = exphil.scan(replays_dir() / "games", character="fox")
    want = [r["path"] for r in everything.to_pylist() if "Fox" in r["characters"]]
    assert fox.column("path").to_pylist() == want and 0 < len(want) < 37
    both = exphil.scan(replays_dir() / "games", characters=["fox", "falco"])
    assert both.num_rows == sum(
        1 for r in everything.to_pylist() if {"Fox", "Falco"} & set(r["characters"]))
    assert exphil.scan(replays_dir() / "games", characters="fox,falco").num_rows == both.num_rows
    fd = exphil.scan(replays_dir() / "games", stage="fd")
    assert set(fd.column("stage_name").to_pylist()) == {"Final Destination"}
    long = exphil.scan(replays_dir() / "games", min_frames=10_000)
    assert all(f >= 10_000 for f in long.column("frames").to_pylist())
    assert 0 < long.num_rows < 37


def test_rejected_rows_on_request_and_filters_over_the_edge_files():
    t = exphil.scan(replays_dir() / "edge", one_v_one=True, human_only=True,
                    include_rejected=True)
    assert t.num_rows == len(edge())
    rows = t.to_pylist()
    assert {r["rejected"] for r in rows if r["ok"]} >= {None, "not 1v1", "non-human player"}
    kept = exphil.scan(replays_dir() / "edge", one_v_one=True, human_only=True)
    # Kept replays plus the files that could not be read (no filter can judge those).
    assert kept.num_rows == sum(1 for r in rows if r["rejected"] is None)
    assert all(r["players"] == 2 and r["cpus"] == 0 for r in kept.to_pylist() if r["ok"])


def test_metadata_only_gives_the_same_frames_for_complete_games():
    full = exphil.scan(replays_dir() / "games")
    fast = exphil.scan(replays_dir() / "games", metadata_only=True, threads=1)
    assert fast.column("frames").to_pylist() == full.column("frames").to_pylist()


def test_bad_arguments_raise():
    with pytest.raises(FileNotFoundError, match="nowhere"):
        exphil.scan("/nowhere/at/all")
    with pytest.raises(ValueError, match="unknown character \"waluigi\""):
        exphil.scan(replays_dir() / "games", character="waluigi")
    with pytest.raises(ValueError, match="unknown stage"):
        exphil.scan(replays_dir() / "games", stage="moon")
    with pytest.raises(TypeError, match="unknown filter 'colour'"):
        exphil.scan(replays_dir() / "games", colour="red")


def test_scan_matches_replays_scan_json(exphil_bin):
    out = subprocess.run([exphil_bin, "replays", "scan", "--json", str(replays_dir() / "games")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    cli = {r["path"]: r for r in json.loads(out.stdout)["replays"]}
    t = exphil.scan(replays_dir() / "games")
    assert sorted(cli) == t.column("path").to_pylist()
    for row in t.to_pylist():
        c = cli[row["path"]]
        assert (row["frames"], row["version"], row["content_hash"], row["quality"]) == (
            c["frames"], c["version"], c["content_hash"], c["quality"]["score"])
        assert row["characters"] == [p["character_name"] for p in c["players"]]


def test_all_paths_given_are_scanned_once():
    p = GAMES[0]["path"]
    t = exphil.scan([p, Path(p)])
    assert t.num_rows == 1
