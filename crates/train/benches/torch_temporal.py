"""The PyTorch side of `cargo bench -p exphil-train --bench temporal`.

Training: nn.LSTM / nn.GRU (batch_first, stacked) over random windows, a linear head on the last
step, cross-entropy, Adam; prints samples (windows) per second. Step: the same recurrent stack
advanced one frame at a time for one game (eval, no grad); prints the median microseconds.
Usage: python torch_temporal.py train|step KIND INPUT HIDDEN LAYERS WINDOW BATCH CLASSES STEPS
"""

import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def main():
    mode, kind = sys.argv[1], sys.argv[2]
    d, h, layers, w, b, classes, steps = map(int, sys.argv[3:10])
    torch.manual_seed(1)
    rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[kind](d, h, num_layers=layers, batch_first=True)
    head = nn.Linear(h, classes)
    if mode == "train":
        params = list(rnn.parameters()) + list(head.parameters())
        opt = torch.optim.Adam(params, lr=1e-4)
        xs = [torch.randn(b, w, d) for _ in range(4)]
        ys = [torch.randint(0, classes, (b,)) for _ in range(4)]

        def step(i):
            out, _ = rnn(xs[i % 4])
            loss = F.cross_entropy(head(out[:, -1]), ys[i % 4])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        for i in range(5):
            step(i)
        t0 = time.perf_counter()
        for i in range(steps):
            step(i)
        dt = time.perf_counter() - t0
        print(json.dumps({"samples_per_sec": steps * b / dt}))
    else:
        rnn.eval()
        x = torch.randn(1, 1, d)
        state = None
        times = []
        with torch.no_grad():
            for i in range(steps + 50):
                t0 = time.perf_counter()
                out, state = rnn(x, state)
                head(out[:, -1])
                times.append(time.perf_counter() - t0)
        times = sorted(times[50:])
        print(json.dumps({"median_us": times[len(times) // 2] * 1e6}))


if __name__ == "__main__":
    main()
