#!/usr/bin/env python3
"""Reads every frame table of a dataset with pyarrow, and every feature shard with numpy (and
zstandard for compressed shards; no exphil), and checks them against the summary the Rust test wrote: column names and order, row
counts, integer types, the row order (player by player, frames increasing), and the shards'
shapes and first/last feature rows and ids. Usage: read_parquet.py EXPECT.json
Exit status 0 when every table matches; 1 with a message otherwise."""

import json
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


ARRAYS = ["features", "ids", "targets", "frames", "delays", "variant"]


def load(d: str, name: str, info: dict) -> np.ndarray:
    """Array `name` of the shard in `d`: a memory-mapped `.npy`, or its zstd frames in
    `arrays.zst` (each array of ARRAYS in blocks of 4096 rows, one frame per block, one after
    another, of the sizes `info["packed"]` lists; a block of n rows is its bytes byte-shuffled
    column by column: byte b of element (r, c) at b*n*k + c*n + r)."""
    if info.get("compression", "none") == "none":
        return np.load(f"{d}/{name}.npy", mmap_mode="r")
    import zstandard

    n = info["n"]
    dtype, cols = {
        "features": ("<f2" if info["precision"] == "f16" else "<f4", info["features"]),
        "ids": ("<u4", info["ids"]),
        "targets": ("<u2", 6),
    }[name]
    k = ARRAYS.index(name)
    at = sum(sum(sizes) for sizes in info["packed"][:k])
    with open(f"{d}/arrays.zst", "rb") as f:
        data = f.read()
    width = np.dtype(dtype).itemsize
    blocks = []
    for b, size in enumerate(info["packed"][k]):
        rows = min(4096, n - b * 4096)
        raw = np.frombuffer(zstandard.ZstdDecompressor().decompress(data[at:at + size]), np.uint8)
        blocks.append(raw.reshape(width, cols, rows).transpose(2, 1, 0).copy().view(dtype).reshape(rows, cols))
        at += size
    return np.concatenate(blocks) if blocks else np.zeros((0, cols), dtype)


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
        with open(f"{d}/shard.json") as f:
            info = json.load(f)
        feats = load(d, "features", info)
        ids = load(d, "ids", info)
        targets = load(d, "targets", info)
        if feats.shape[0] != sh["rows"] or ids.shape[0] != sh["rows"] or targets.shape != (sh["rows"], 6):
            errors.append(f"{d}: shapes {feats.shape} {ids.shape} {targets.shape}, {sh['rows']} rows expected")
            continue
        if not np.allclose(np.asarray(feats[0], np.float32), sh["first"]) or \
                not np.allclose(np.asarray(feats[-1], np.float32), sh["last"]):
            errors.append(f"{d}: feature rows differ from exphil's")
        total = float(np.asarray(feats, np.float64).sum())
        if not np.isclose(total, sh["sum"], rtol=1e-7, atol=1e-6):
            errors.append(f"{d}: features sum to {total}, exphil's to {sh['sum']}")
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
