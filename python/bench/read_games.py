"""Benchmark: reading the 37 shared games with ``exphil.read_replay``, against the command line's
decode of the same files measured in the same run.

    python python/bench/read_games.py [--repeat N]

The reference is ``$EXPHIL_BIN replays validate --threads 1 <files>``: the CLI decoding every
game in full on one thread (process start included), as ``read_replay`` decodes them one after
another. Without ``EXPHIL_BIN`` the CLI is not measured and the ratio is taken against the same
decoder called from Rust inside this process (``exphil._native.decode_only``: no Python objects),
which isolates what the Python binding adds. Each time is the best of ``--repeat`` runs (the
files are read once first, so every run finds them in the page cache). Target: within 1.5x.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, List

import exphil
from exphil import _native

TARGET = 1.5


def replays_dir() -> Path:
    """``$EXPHIL_REPLAYS``, else ``../shared/replays`` beside the checkout."""
    env = os.environ.get("EXPHIL_REPLAYS")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "replays"


def best(repeat: int, run: Callable[[], object]) -> float:
    """The fastest of ``repeat`` runs, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement")
    args = parser.parse_args()
    files: List[str] = sorted(str(p) for p in (replays_dir() / "games").glob("*.slp"))
    if not files:
        print(f"no games under {replays_dir() / 'games'}", file=sys.stderr)
        return 1
    for f in files:  # warm the page cache
        Path(f).read_bytes()

    frames = sum(len(exphil.read_replay(f)) for f in files)
    print(f"{len(files)} games, {frames} frames")

    def read_all() -> None:
        for f in files:
            exphil.read_replay(f)

    def read_and_tables() -> None:
        for f in files:
            g = exphil.read_replay(f)
            for port in g.ports:
                g.frames(port)

    read_replay_s = best(args.repeat, read_all)
    tables_s = best(args.repeat, read_and_tables)
    native_s = best(args.repeat, lambda: _native.decode_only(files))
    print(f"exphil.read_replay:                {read_replay_s:7.3f} s  "
          f"({frames / read_replay_s / 1e6:.2f} M frames/s)")
    print(f"read_replay + frames() every port: {tables_s:7.3f} s")
    print(f"same decoder from Rust, in process: {native_s:6.3f} s")

    exphil_bin = os.environ.get("EXPHIL_BIN")
    if exphil_bin:
        cmd = [exphil_bin, "replays", "validate", "--threads", "1", *files]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{' '.join(cmd[:5])} … failed:\n{out.stdout}{out.stderr}", file=sys.stderr)
            return 1
        cli_s = best(args.repeat, lambda: subprocess.run(cmd, capture_output=True, check=True))
        print(f"CLI (replays validate --threads 1): {cli_s:6.3f} s")
        reference, name = cli_s, "CLI"
    else:
        print("CLI: not measured (set EXPHIL_BIN to the exphil binary); ratio against the "
              "in-process Rust decode")
        reference, name = native_s, "Rust decode"
    ratio = read_replay_s / reference
    print(f"ratio read_replay / {name}: {ratio:.2f}x (target <= {TARGET}x)"
          f"{'' if ratio <= TARGET else '  OVER TARGET'}")
    print(f"ratio read_replay + tables / {name}: {tables_s / reference:.2f}x")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
