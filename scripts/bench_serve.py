"""Reply times of `exphil serve` up to 256 games per observation, with umi-melee's own test
arena (the one `umi-conform` uses), against the issue's targets: one game p99 <= 2 ms,
256 games p99 <= 1 s.

    python scripts/bench_serve.py --cmd "target/release/exphil serve --policy checkpoints/RUN"

Needs a Python with umi-melee (pip install umi-melee)."""
import argparse
import sys

from umi.conform.arena import DummyArena


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--cmd", required=True, help="the bot's command line")
    p.add_argument("--steps", type=int, default=300, help="observations per batch size")
    a = p.parse_args()
    # 512 games in 2 lanes: batches of 1, 8, 32, 64, 128 and 256 per lane.
    arena = DummyArena(a.cmd.split(), realtime=True, steps=a.steps, max_games=512)
    checks = arena.run()
    ok = True
    for c in checks:
        if c.name.startswith("reply time") or c.name == "real time" or c.status == "fail":
            print(f"{c.status.upper():4}  {c.name:<20} {c.detail}")
        ok &= c.status != "fail"
    one = next((c for c in checks if c.name == "reply time N=1"), None)
    big = next((c for c in checks if c.name == "reply time N=256"), None)
    for c, target, label in ((one, 2.0, "1 game"), (big, 1000.0, "256 games")):
        if c is None or "p99" not in c.detail:
            print(f"{label}: not measured")
            ok = False
            continue
        p99 = float(c.detail.split("p99 ")[1].split(" ms")[0])
        print(f"{label}: p99 {p99:.2f} ms, target <= {target:g} ms: {p99 / target:.3f} of the target"
              f" ({'met' if p99 <= target else 'MISSED'})")
        ok &= p99 <= target
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
