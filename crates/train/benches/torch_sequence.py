"""The PyTorch side of `cargo bench -p exphil-train --bench sequence`.

The baseline's sequence model (`../shared/bench/bc-baseline/bc.py`, `LSTMNet`): a linear layer
over 27 continuous inputs plus a summed embedding of 12 categorical inputs (one-hot times a
matrix), ReLU, one LSTM (or GRU) layer, a linear head to 81 logits (8 buttons, 4 sticks x 17,
shoulder 5); the loss summed over the 13 components on every frame of 32-frame unrolls of 64
streams, the state carried (detached) from one unroll to the next; Adam, gradients clipped to
norm 10. Random data of the same shapes. Prints the scored frames per second.
Usage: python torch_sequence.py KIND HIDDEN STREAMS UNROLL STEPS THREADS
"""

import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

N_CONT = 27
CATS = [399, 399, 7, 7, 33, 33, 64, 17, 17, 17, 17, 5]
N_OUT = 8 + 4 * 17 + 5


class Net(nn.Module):
    def __init__(self, kind, h):
        super().__init__()
        self.lin = nn.Linear(N_CONT, h)
        self.embs = nn.ModuleList([nn.Embedding(n + 1, h) for n in CATS])
        self.rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[kind](h, h, batch_first=True)
        self.head = nn.Linear(h, N_OUT)

    def forward(self, cont, cat, state):
        x = self.lin(cont)
        for k, e in enumerate(self.embs):
            x = x + e(cat[..., k])
        y, state = self.rnn(F.relu(x), state)
        return self.head(y), state


def loss_of(out, btn, sticks, shoulder):
    nb = F.binary_cross_entropy_with_logits(out[..., :8], btn, reduction="none").sum(-1)
    ls = out[..., 8:76].reshape(*out.shape[:-1], 4, 17)
    ns = F.cross_entropy(ls.reshape(-1, 17), sticks.reshape(-1), reduction="none").reshape(sticks.shape)
    nsh = F.cross_entropy(out[..., 76:81].reshape(-1, 5), shoulder.reshape(-1), reduction="none").reshape(shoulder.shape)
    return (nb + ns.sum(-1) + nsh).mean()


def main():
    kind = sys.argv[1]
    h, streams, unroll, steps, threads = map(int, sys.argv[2:7])
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    net = Net(kind, h)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(2)
    batches = []
    for _ in range(4):
        cont = torch.randn(streams, unroll, N_CONT, generator=g)
        cat = torch.stack([torch.randint(0, n, (streams, unroll), generator=g) for n in CATS], -1)
        btn = (torch.rand(streams, unroll, 8, generator=g) < 0.1).float()
        sticks = torch.randint(0, 17, (streams, unroll, 4), generator=g)
        shoulder = torch.randint(0, 5, (streams, unroll), generator=g)
        batches.append((cont, cat, btn, sticks, shoulder))
    state = None

    def step(i):
        nonlocal state
        cont, cat, btn, sticks, shoulder = batches[i % 4]
        if state is not None:
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        out, state = net(cont, cat, state)
        loss = loss_of(out, btn, sticks, shoulder)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        opt.step()

    for i in range(5):
        step(i)
    t0 = time.perf_counter()
    for i in range(steps):
        step(i)
    dt = time.perf_counter() - t0
    print(json.dumps({"frames_per_sec": steps * streams * unroll / dt}))


if __name__ == "__main__":
    main()
