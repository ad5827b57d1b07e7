"""Runs an exported exphil policy in ONNX Runtime on its sample and reports, per output, the
largest difference from exphil's own outputs (JSON on stdout).

Usage: check.py MODEL.onnx MODEL.sample.npz

A single-frame model's sample holds [n, ...] arrays; a step model's holds [T, g, ...] arrays
and its state inputs' start, and is replayed step by step with each `..._out` fed back as the
next step's `..._in` (how a user runs it frame by frame)."""
import json
import sys

import numpy as np
import onnxruntime as ort

model, sample = sys.argv[1], sys.argv[2]
try:
    import onnx

    onnx.checker.check_model(onnx.load(model), full_check=True)
    checked = True
except ImportError:
    checked = False
sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
data = np.load(sample)
ins = [i.name for i in sess.get_inputs()]
outs = [o.name for o in sess.get_outputs()]
state_ins = [n for n in ins if n.endswith("_in")]
missing = [n for n in ins if n not in data.files]
if missing:
    sys.exit(f"the sample lacks inputs {missing}")
worst = {}


def compare(res, ref):
    for n, v in zip(outs, res):
        if n in ref:
            diff = float(np.abs(v - ref[n]).max()) if v.size else 0.0
            worst[n] = max(worst.get(n, 0.0), diff)


steps = 0
if state_ins:
    state = {n: data[n] for n in state_ins}
    steps = data["features"].shape[0]
    for t in range(steps):
        feed = {n: data[n][t] for n in ins if n not in state_ins}
        feed.update(state)
        res = sess.run(outs, feed)
        compare(res, {n: data[n][t] for n in outs if n in data.files})
        got = dict(zip(outs, res))
        state = {n: got[n[: -len("_in")] + "_out"] for n in state_ins}
else:
    res = sess.run(outs, {n: data[n] for n in ins})
    compare(res, {n: data[n] for n in outs if n in data.files})
print(
    json.dumps(
        {
            "inputs": ins,
            "outputs": outs,
            "rows": int(data["features"].shape[-2] if state_ins else data["features"].shape[0]),
            "steps": steps,
            "checked": checked,
            "worst": worst,
        }
    )
)
