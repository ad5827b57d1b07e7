"""exphil.read_replay on every shared game and the edge files, against the manifest and against
`exphil replays show --json` (the CLI on the same decoder)."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import exphil
from conftest import edge, games, not_a_replay, replays_dir

GAMES = games()
EDGE = edge()
# Columns the CLI comparison checks, as (table column, JSON path in a player's leader frame).
COMPARED = [
    ("post_x", ("post", "x")),
    ("post_y", ("post", "y")),
    ("post_action_state", ("post", "action_state")),
    ("post_percent", ("post", "percent")),
    ("post_stocks", ("post", "stocks")),
    ("post_facing", ("post", "facing")),
    ("pre_buttons", ("pre", "buttons")),
    ("pre_joystick_x", ("pre", "joystick", "x")),
    ("pre_joystick_y", ("pre", "joystick", "y")),
]


def test_the_shared_set_is_there():
    assert len(GAMES) == 37, [r["file"] for r in GAMES]
    assert len(EDGE) >= 25


@pytest.mark.parametrize("row", GAMES, ids=lambda r: Path(r["file"]).name)
def test_every_game_reads_with_the_manifest_frame_count(row):
    game = exphil.read_replay(row["path"])
    frames = int(row["frames"])
    assert len(game) == frames
    meta = game.metadata
    assert meta["frames"] == frames
    assert meta["version"] == row["slippi_version"]
    assert meta["complete"] and not meta["damaged"]
    assert meta["ports"] == game.ports and len(game.ports) == 2
    assert meta["winner"] in game.ports
    assert game.warnings == [] or all(isinstance(w, str) for w in game.warnings)
    for port in game.ports:
        t = game.frames(port)
        assert isinstance(t, pa.Table)
        assert t.num_rows == frames
        ids = t.column("frame").to_numpy()
        assert ids[0] == -123 and np.all(np.diff(ids) > 0)
        x = t.column("post_x").to_numpy(zero_copy_only=False)
        assert np.isfinite(x[~np.isnan(x)]).all()
        stocks = t.column("post_stocks").drop_null().to_numpy()
        assert stocks.max() <= 4 and stocks[0] >= stocks[-1]
        # Characters named in the manifest, e.g. "P1 Fox, P2 Falco".
        assert meta["characters"][port] in row["characters"]


def test_metadata_keys_and_types():
    game = exphil.read_replay(GAMES[0]["path"])
    meta = game.metadata
    for key in ("path", "version", "stage", "stage_name", "ports", "characters", "names",
                "frames", "seconds", "end_method", "winner", "online", "played_on", "start_at",
                "complete", "damaged", "quality", "rollback_resends", "players", "start", "end",
                "raw", "summary"):
        assert key in meta, key
    assert meta["path"] == GAMES[0]["path"]
    assert isinstance(meta["stage"], int) and meta["stage_name"] == GAMES[0]["stage"]
    assert meta["seconds"] == pytest.approx(meta["frames"] / 60)


def test_frame_columns_have_the_decoders_types_and_nulls_for_unrecorded_fields():
    # 0.1.0 records neither percent in the pre-frame nor state flags or velocities.
    old = next(r for r in GAMES if r["slippi_version"] == "0.1.0")
    t = exphil.read_replay(old["path"]).frames(1)
    assert t.schema.field("post_x").type == pa.float32()
    assert t.schema.field("post_action_state").type == pa.uint16()
    assert t.schema.field("pre_buttons").type == pa.uint32()
    assert t.column("post_state_flags_0").null_count == t.num_rows
    assert t.column("post_self_x_air").null_count == t.num_rows
    new = next(r for r in GAMES if r["slippi_version"].startswith("3.14"))
    t = exphil.read_replay(new["path"]).frames(2)
    assert t.column("post_self_x_air").null_count < t.num_rows
    assert t.column("post_hitlag_remaining").null_count < t.num_rows


def test_frames_convert_to_pandas():
    pd = pytest.importorskip("pandas")
    df = exphil.read_replay(GAMES[0]["path"]).frames(1).to_pandas()
    assert isinstance(df, pd.DataFrame) and len(df) > 1000
    assert {"frame", "post_x", "post_y", "post_percent", "post_action_state"} <= set(df.columns)


def test_a_port_without_a_player_is_a_value_error_naming_the_file():
    game = exphil.read_replay(GAMES[0]["path"])
    with pytest.raises(ValueError, match=r"port 4 has no player") as e:
        game.frames(4)
    assert GAMES[0]["path"] in str(e.value)


def edge_file(name: str) -> str:
    return str(replays_dir() / "edge" / name)


def test_ice_climbers_have_nana_columns():
    game = exphil.read_replay(edge_file("py-slippi__Game_20221228T034923.slp"))
    assert game.followers == [1]
    nana = game.frames(1, follower=True)
    popo = game.frames(1)
    assert nana.num_rows == popo.num_rows == len(game)
    assert nana.column("post_x").null_count < nana.num_rows
    # Nana is her own character (internal id 11), Popo 10.
    assert set(nana.column("post_character").drop_null().to_pylist()) == {11}
    assert set(popo.column("post_character").drop_null().to_pylist()) == {10}
    # A port without a follower: every follower value is null.
    other = game.frames(2, follower=True)
    assert other.column("post_x").null_count == other.num_rows


def test_items_are_their_own_table():
    game = exphil.read_replay(edge_file("peppi__items.slp"))
    items = game.items()
    assert items.num_rows == 513
    assert {"frame", "slot", "type", "x", "y", "spawn_id", "owner"} <= set(items.column_names)
    frames = set(game.frames(1).column("frame").to_pylist())
    assert set(items.column("frame").to_pylist()) <= frames
    # Before 3.0 there are no item records.
    old = next(r for r in GAMES if r["slippi_version"] == "0.1.0")
    assert exphil.read_replay(old["path"]).items().num_rows == 0


def test_damaged_files_decode_up_to_the_damage_with_a_warning():
    game = exphil.read_replay(edge_file("peppi__corrupt.slp"))
    assert not game.metadata["complete"]
    assert any("truncated" in w for w in game.warnings), game.warnings
    game = exphil.read_replay(edge_file("slippi-js__incomplete.slp"))
    assert len(game) > 1000 and not game.metadata["complete"]
    assert any("never finished" in w for w in game.warnings), game.warnings


@pytest.mark.parametrize("row", EDGE, ids=lambda r: Path(r["file"]).name)
def test_edge_files_read_or_raise_the_packages_error_naming_the_file(row):
    try:
        game = exphil.read_replay(row["path"])
    except exphil.ReplayError as e:
        assert isinstance(e, ValueError)
        assert row["path"] in str(e)
        if not_a_replay(row):
            assert "not a Slippi replay" in str(e)
        return
    assert not not_a_replay(row), "a non-replay decoded"
    if row["frames"]:
        assert len(game) == int(row["frames"])
    for port in game.ports:
        assert game.frames(port).num_rows == len(game)
        assert game.frames(port, follower=True).num_rows == len(game)
    game.items()
    assert isinstance(game.metadata, dict)


def test_missing_file_and_directory_are_replay_errors():
    with pytest.raises(exphil.ReplayError, match="nope.slp"):
        exphil.read_replay("/nonexistent/nope.slp")
    with pytest.raises(exphil.ReplayError, match="a directory"):
        exphil.read_replay(str(replays_dir()))


def test_rollback_mode_is_checked():
    with pytest.raises(ValueError, match="rollback"):
        exphil.read_replay(GAMES[0]["path"], rollback="middle")
    online = next(r for r in GAMES if "rollbackFrameTest" in r["file"])
    first = exphil.read_replay(online["path"], rollback="first")
    last = exphil.read_replay(online["path"])
    assert len(first) == len(last)


# --- against the command line ------------------------------------------------------------------


def run_cli(exphil_bin, *args):
    return subprocess.run([exphil_bin, *args], capture_output=True, text=True, timeout=300)


def json_value(player, path):
    v = player["leader"]
    for k in path:
        v = v[k]
    return v


@pytest.mark.parametrize("row", GAMES, ids=lambda r: Path(r["file"]).name)
def test_games_match_replays_show_json(row, exphil_bin):
    game = exphil.read_replay(row["path"])
    out = run_cli(exphil_bin, "replays", "show", "--json", row["path"])
    assert out.returncode == 0, out.stderr
    show = json.loads(out.stdout)
    meta = game.metadata
    assert show["summary"]["frames"] == len(game) == meta["frames"]
    assert show["summary"] == meta["summary"]
    assert show["start"] == meta["start"]
    assert show["end"] == meta["end"]
    assert show["rollback_resends"] == meta["rollback_resends"]
    # A window of frames in the middle of the game, every port, compared column by column.
    ids = game.frames(game.ports[0]).column("frame").to_numpy()
    mid = int(ids[len(ids) // 2])
    lo, hi = mid - 300, mid + 300
    out = run_cli(exphil_bin, "replays", "show", row["path"], "--frames", f"{lo}..{hi}", "--json")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert lines, "no frames dumped"
    for port in game.ports:
        t = game.frames(port)
        sel = t.filter(pc.and_(pc.greater_equal(t["frame"], lo), pc.less_equal(t["frame"], hi)))
        by_id = {fid: i for i, fid in enumerate(sel.column("frame").to_pylist())}
        assert sorted(by_id) == [line["frame"] for line in lines]
        cols = {name: sel.column(name).to_pylist() for name, _ in COMPARED}
        for line in lines:
            i = by_id[line["frame"]]
            player = next((p for p in line["players"] if p["port"] == port), None)
            if player is None:
                assert cols["post_x"][i] is None
                continue
            for name, path in COMPARED:
                want, got = json_value(player, path), cols[name][i]
                if isinstance(got, float):
                    # The CLI prints f32 as its shortest text; NaN as null.
                    if want is None:
                        assert math.isnan(got), (name, line["frame"])
                    else:
                        assert np.float32(want) == np.float32(got), (name, line["frame"], want, got)
                else:
                    assert want == got, (name, line["frame"])


@pytest.mark.parametrize("row", [r for r in EDGE if not_a_replay(r)],
                         ids=lambda r: Path(r["file"]).name)
def test_non_replays_fail_as_in_the_cli(row, exphil_bin):
    out = run_cli(exphil_bin, "replays", "show", "--json", row["path"])
    assert out.returncode != 0
    with pytest.raises(exphil.ReplayError) as e:
        exphil.read_replay(row["path"])
    problem = str(e.value).split(": ", 1)[1]
    assert problem in out.stderr, (problem, out.stderr)


@pytest.mark.parametrize("row", [r for r in EDGE if not not_a_replay(r)],
                         ids=lambda r: Path(r["file"]).name)
def test_edge_frame_counts_match_the_cli(row, exphil_bin):
    try:
        game = exphil.read_replay(row["path"])
    except exphil.ReplayError:
        out = run_cli(exphil_bin, "replays", "show", "--json", row["path"])
        assert out.returncode != 0
        return
    out = run_cli(exphil_bin, "replays", "show", "--json", row["path"])
    assert out.returncode == 0, out.stderr
    show = json.loads(out.stdout)
    assert show["summary"]["frames"] == len(game)
    assert show["summary"]["warnings"] == game.warnings


def test_a_rust_panic_becomes_the_packages_exception():
    with pytest.raises(exphil.ReplayError, match=r"x\.slp: internal error .*deliberate panic"):
        exphil._native.panic_selftest("x.slp")
    # The interpreter and the module still work afterwards.
    assert len(exphil.read_replay(GAMES[0]["path"])) == int(GAMES[0]["frames"])
