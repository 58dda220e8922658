#!/usr/bin/env python3
"""ort_bench.py — the Python twin of ort_bench.js, for machines that have the
`onnxruntime` wheel but no Node.js (bench/scaling.sh --ort py):

    python3 bench/ort_bench.py MODEL.onnx INPUT.f32 BATCH THREADS RUNS [OUTPUT.f32]

Same session options (CPU provider, intra-op THREADS, inter-op 1, all graph
optimizations, sequential) and the same JSON line: median_ms, min_ms, cpu_ms
(process CPU time per run), max_rss_mb. INPUT.f32 is skipserve-bench's
--save-input; the first output is written raw when OUTPUT.f32 is given.
"""
import json
import resource
import sys
import time

import numpy as np
import onnxruntime as ort


def main():
    model, inp, batch, threads, runs = sys.argv[1:6]
    out_path = sys.argv[6] if len(sys.argv) > 6 else None
    batch, threads, runs = int(batch), int(threads), int(runs)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    meta = sess.get_inputs()[0]
    dims = list(meta.shape)
    if any(not isinstance(d, int) for d in dims[1:]):
        sys.exit("ort_bench: cannot read the input shape of " + model)
    dims[0] = batch
    x = np.fromfile(inp, dtype=np.float32).reshape(dims)
    feeds = {meta.name: x}
    for _ in range(2):
        sess.run(None, feeds)
    ms = []
    c0 = time.process_time()
    for _ in range(runs):
        t = time.perf_counter()
        y = sess.run(None, feeds)
        ms.append((time.perf_counter() - t) * 1e3)
    cpu_ms = (time.process_time() - c0) * 1e3 / runs
    ms.sort()
    median = ms[(runs - 1) // 2] if runs % 2 else (ms[runs // 2 - 1] + ms[runs // 2]) / 2
    if out_path:
        np.ascontiguousarray(y[0], dtype=np.float32).tofile(out_path)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"median_ms": median, "min_ms": ms[0], "cpu_ms": cpu_ms,
                      "max_rss_mb": rss, "ort_version": ort.__version__}))


if __name__ == "__main__":
    main()
