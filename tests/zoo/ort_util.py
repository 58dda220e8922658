"""ort_util.py — run ONNX Runtime from Python through tests/zoo/ort_run.js
(onnxruntime-node; this machine has no Python onnxruntime). Used by
tests/zoo/make_ms_ops.py and tests/zoo/lowp_models.py.

    ensure_ort()                      # npm install into bench/.ort/ when absent
    outs = run_ort([(model_path, {name: ndarray}, workdir), ...])
    # -> one list of output ndarrays per job (None for a job that failed)
"""
import json
import os
import subprocess

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ORT_DIR = os.path.join(ROOT, "bench", ".ort")
TYPES = {np.dtype("float32"): "float32", np.dtype("float16"): "float16",
         np.dtype("uint8"): "uint8", np.dtype("int8"): "int8", np.dtype("int32"): "int32",
         np.dtype("int64"): "int64", np.dtype("bool"): "bool"}
NP = {"float32": np.float32, "float16": np.float16, "uint8": np.uint8, "int8": np.int8,
      "int32": np.int32, "int64": np.int64, "bool": np.bool_}


def ensure_ort():
    if os.path.isdir(os.path.join(ORT_DIR, "node_modules", "onnxruntime-node")):
        return
    os.makedirs(ORT_DIR, exist_ok=True)
    subprocess.run(["npm", "install", "--ignore-scripts", "--no-audit", "--no-fund",
                    "onnxruntime-node"], cwd=ORT_DIR, check=True,
                   stdout=subprocess.DEVNULL)


def run_ort(jobs, opt="all"):
    """opt: onnxruntime's graph optimization level for every job."""
    spec = []
    for model, feeds, work in jobs:
        os.makedirs(work, exist_ok=True)
        ins = []
        for k, (name, a) in enumerate(feeds.items()):
            f = os.path.join(work, "ort_in_%d.bin" % k)
            np.ascontiguousarray(a).tofile(f)
            ins.append({"name": name, "type": TYPES[a.dtype], "dims": list(a.shape),
                        "file": f})
        for f in ("ort.json",):
            if os.path.exists(os.path.join(work, f)):
                os.unlink(os.path.join(work, f))
        spec.append({"model": os.path.abspath(model), "inputs": ins, "out": work, "opt": opt})
    jf = os.path.join(jobs[0][2], "ort_jobs.json")
    with open(jf, "w") as f:
        json.dump(spec, f)
    subprocess.run(["node", os.path.join(ROOT, "tests", "zoo", "ort_run.js"), jf])
    res = []
    for _, _, work in jobs:
        mf = os.path.join(work, "ort.json")
        if not os.path.exists(mf):
            res.append(None)
            continue
        meta = json.load(open(mf))
        res.append([np.fromfile(os.path.join(work, "ort_%d.bin" % k), NP[m["type"]])
                    .reshape(m["dims"]) for k, m in enumerate(meta)])
    return res
