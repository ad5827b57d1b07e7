#!/usr/bin/env python3
"""Reads every frame table of a dataset with pyarrow, and every feature shard with numpy (no
exphil), and checks them against the summary the Rust test wrote: column names and order, row
counts, integer types, the row order (player by player, frames increasing), and the shards'
shapes and first/last feature rows and ids. Usage: read_parquet.py EXPECT.json
Exit status 0 when every table matches; 1 with a message otherwise."""

import json
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def main() -> int:
    with open(sys.argv[1]) as f:
        expect = json.load(f)
    columns = expect["columns"]
    errors = []
    rows_total = 0
    for t in expect["tables"]:
        table = pq.read_table(t["path"])
        if table.column_names != columns:
            errors.append(f"{t['path']}: columns {table.column_names} != {columns}")
            continue
        if table.num_rows != t["rows"]:
            errors.append(f"{t['path']}: {table.num_rows} rows, expected {t['rows']}")
        schema = table.schema
        for name, typ in [("frame", pa.int32()), ("port", pa.uint8()), ("x", pa.float32()),
                          ("on_ground", pa.bool_()), ("target_main_x", pa.uint16())]:
            if schema.field(name).type != typ:
                errors.append(f"{t['path']}: {name} is {schema.field(name).type}, not {typ}")
        ports = table.column("port").to_pylist()
        frames = table.column("frame").to_pylist()
        if len(set(ports)) != 2:
            errors.append(f"{t['path']}: ports {sorted(set(ports))}, expected two")
        half = len(frames) // 2
        for part in (frames[:half], frames[half:]):
            if any(b <= a for a, b in zip(part, part[1:])):
                errors.append(f"{t['path']}: frames not increasing within a player")
        meta = pq.read_metadata(t["path"]).metadata or {}
        if meta.get(b"exphil.content_hash", b"").decode() != t["content_hash"]:
            errors.append(f"{t['path']}: footer content hash {meta.get(b'exphil.content_hash')}")
        rows_total += table.num_rows
    for sh in expect.get("shards", []):
        d = sh["dir"]
        feats = np.load(f"{d}/features.npy", mmap_mode="r")
        ids = np.load(f"{d}/ids.npy", mmap_mode="r")
        targets = np.load(f"{d}/targets.npy", mmap_mode="r")
        if feats.shape[0] != sh["rows"] or ids.shape[0] != sh["rows"] or targets.shape != (sh["rows"], 6):
            errors.append(f"{d}: shapes {feats.shape} {ids.shape} {targets.shape}, {sh['rows']} rows expected")
            continue
        if not np.allclose(np.asarray(feats[0], np.float32), sh["first"]) or \
                not np.allclose(np.asarray(feats[-1], np.float32), sh["last"]):
            errors.append(f"{d}: feature rows differ from exphil's")
        if list(ids[0]) != sh["ids_first"]:
            errors.append(f"{d}: ids {list(ids[0])} != {sh['ids_first']}")
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        return 1
    print(f"ok: {len(expect['tables'])} tables, {rows_total} rows read with pyarrow {pa.__version__}; "
          f"{len(expect.get('shards', []))} shards read with numpy {np.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
