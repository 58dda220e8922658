// ort_run.js JOBS.json — run models with ONNX Runtime (onnxruntime-node from
// bench/.ort/, installed by bench/compare-ort.sh or tests/zoo/run_quant.sh)
// for tests/zoo/lowp_models.py and tests/conformance/make_quant_ms.py, which
// cannot load ORT from Python here (no PyPI). JOBS.json is a list of
//   {"model": PATH, "inputs": [{"name", "type", "dims", "file"}], "out": DIR,
//    "opt": "all" | "extended" | "basic" | "disabled" (default all)}
// with each input a raw little-endian file; each output K is written to
// DIR/ort_K.bin with DIR/ort.json listing [{"name", "type", "dims"}].
// CPU provider, all graph optimizations (what a user's ORT does), 1 thread.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, '..', '..', 'bench', '.ort', 'node_modules',
                              'onnxruntime-node'));

const ARRAYS = {
  float32: Float32Array, float16: Uint16Array, uint8: Uint8Array, int8: Int8Array,
  int32: Int32Array, int64: BigInt64Array, bool: Uint8Array,
};

async function runOne(job) {
  const sess = await ort.InferenceSession.create(job.model, {
    executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1,
    graphOptimizationLevel: job.opt || 'all',
  });
  const feeds = {};
  for (const inp of job.inputs) {
    const buf = fs.readFileSync(inp.file);
    const A = ARRAYS[inp.type];
    const copy = new Uint8Array(buf.byteLength);
    copy.set(buf);
    feeds[inp.name] = new ort.Tensor(inp.type, new A(copy.buffer), inp.dims);
  }
  const res = await sess.run(feeds);
  const meta = [];
  sess.outputNames.forEach((name, k) => {
    const t = res[name];
    const d = t.data;
    fs.writeFileSync(path.join(job.out, `ort_${k}.bin`),
                     Buffer.from(d.buffer, d.byteOffset, d.byteLength));
    meta.push({name, type: t.type, dims: t.dims});
  });
  fs.writeFileSync(path.join(job.out, 'ort.json'), JSON.stringify(meta));
}

(async () => {
  const jobs = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  let failed = 0;
  for (const job of jobs) {
    try {
      await runOne(job);
    } catch (e) {
      failed++;
      console.error(`ort_run: ${job.model}: ${e.message}`);
    }
  }
  process.exit(failed ? 1 : 0);
})();
