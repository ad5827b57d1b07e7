"""Runs exphil-written ONNX models in ONNX Runtime, for crates/onnx/tests/onnxruntime.rs.

Usage: run_models.py DIR CASE...  For each CASE, loads DIR/CASE.onnx (validated first with
onnx.checker.check_model(full_check=True) when the onnx package imports), feeds it the arrays of
DIR/CASE.npz and prints, as one JSON object keyed by case, the session's metadata, inputs and
outputs (values as float64 lists, row-major).
"""
import json
import sys

import numpy as np
import onnxruntime as ort

try:
    import onnx
except ImportError:
    onnx = None

out = {}
folder = sys.argv[1]
for case in sys.argv[2:]:
    path = f"{folder}/{case}.onnx"
    if onnx is not None:
        onnx.checker.check_model(onnx.load(path), full_check=True)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    with np.load(f"{folder}/{case}.npz") as z:
        feeds = {k: z[k] for k in z.files}
    names = [o.name for o in sess.get_outputs()]
    results = sess.run(names, feeds)
    meta = sess.get_modelmeta()
    out[case] = {
        "checked": onnx is not None,
        "producer": meta.producer_name,
        "description": meta.description,
        "graph": meta.graph_name,
        "metadata": meta.custom_metadata_map,
        "inputs": {i.name: {"type": i.type, "shape": i.shape} for i in sess.get_inputs()},
        "outputs": {
            n: {
                "dtype": r.dtype.str,
                "shape": list(r.shape),
                "values": r.astype(np.float64).ravel().tolist(),
            }
            for n, r in zip(names, results)
        },
    }
print(json.dumps(out))
