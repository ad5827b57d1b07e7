"""The PyTorch side of `cargo bench -p exphil-train --bench mlp_throughput`.

Builds the same policy as exphil's MLP (learned id tables, GELU MLP with optional layer norm and
projected residuals, the autoregressive controller head with teacher forcing), the same loss
(buttons: BCE with positive weights; sticks and shoulder: cross-entropy) and Adam with
global-norm clipping, then times full training steps on the batches the bench wrote. Prints one
JSON line: {"examples_per_sec": ...}. Usage: python torch_mlp.py WORKDIR
"""

import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.numpy import load_file


class Layer(nn.Module):
    def __init__(self, w, h, residual, layer_norm, activation):
        super().__init__()
        self.act = {"relu": F.relu, "gelu": F.gelu, "silu": F.silu}[activation]
        self.linear = nn.Linear(w, h)
        self.norm = nn.LayerNorm(h) if layer_norm else None
        self.skip = nn.Linear(w, h, bias=False) if residual and w != h else None
        self.residual = residual

    def forward(self, x):
        h = self.linear(x)
        if self.norm is not None:
            h = self.norm(h)
        h = self.act(h)
        if not self.residual:
            return h
        return h + (self.skip(x) if self.skip is not None else x)


class Policy(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.groups = spec["groups"]
        self.tables = nn.ModuleList(nn.Embedding(g["vocab"], g["dim"]) for g in self.groups)
        w = spec["features"] + sum(len(g["columns"]) * g["dim"] for g in self.groups)
        layers = []
        for h in spec["hidden"]:
            layers.append(Layer(w, h, spec["residual"], spec["layer_norm"], spec["activation"]))
            w = h
        self.layers = nn.ModuleList(layers)
        classes = spec["classes"]
        self.buttons = nn.Linear(w, 8)
        self.classes = nn.ModuleList(nn.Linear(w, c) for c in classes)
        self.cond_buttons = nn.Linear(8, w)
        self.cond_classes = nn.ModuleList(nn.Embedding(c, w) for c in classes[:4])

    def forward(self, features, ids, buttons, classes):
        parts = [features]
        for g, (table, cols) in enumerate(zip(self.tables, self.columns)):
            parts.append(table(ids[:, cols]).flatten(1))
        x = torch.cat(parts, 1)
        for layer in self.layers:
            x = layer(x)
        b = self.buttons(x)
        x = x + self.cond_buttons(buttons)
        out = []
        for k in range(5):
            out.append(self.classes[k](x))
            if k < 4:
                x = x + self.cond_classes[k](classes[:, k])
        return b, out


def main():
    work = sys.argv[1]
    spec = json.load(open(f"{work}/spec.json"))
    torch.manual_seed(1)
    torch.set_num_threads(torch.get_num_threads())
    raw = load_file(f"{work}/batches.safetensors")
    model = Policy(spec)
    model.columns = [torch.tensor(g["columns"], dtype=torch.long) for g in spec["groups"]]
    vocab = [g["vocab"] - 1 for g in spec["groups"]]
    batches = []
    for i in range(spec["batches"]):
        f = torch.from_numpy(raw[f"b{i}.features"])
        ids = torch.from_numpy(raw[f"b{i}.ids"]).long()
        for cols, v in zip(model.columns, vocab):
            ids[:, cols] = ids[:, cols].clamp(max=v)
        t = torch.from_numpy(raw[f"b{i}.targets"]).long()
        bits = torch.stack([(t[:, 0] >> k) & 1 for k in range(8)], 1).float()
        batches.append((f, ids, bits, t[:, 1:6]))
    pos_weight = torch.tensor(spec["pos_weight"], dtype=torch.float32)
    opt = torch.optim.Adam(
        model.parameters(), lr=spec["lr"], betas=tuple(spec["betas"]), eps=spec["eps"]
    )

    def step(batch):
        f, ids, bits, cls = batch
        b, out = model(f, ids, bits, cls)
        loss = F.binary_cross_entropy_with_logits(b, bits, pos_weight=pos_weight)
        for k in range(5):
            loss = loss + F.cross_entropy(out[k], cls[:, k])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), spec["max_grad_norm"])
        opt.step()
        return f.shape[0]

    warmup, steps = spec["warmup"], spec["steps"]
    for i in range(warmup):
        step(batches[i % len(batches)])
    seen = 0
    t0 = time.perf_counter()
    for i in range(warmup, warmup + steps):
        seen += step(batches[i % len(batches)])
    dt = time.perf_counter() - t0
    print(json.dumps({"examples_per_sec": seen / dt, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
