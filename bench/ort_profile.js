// ort_profile.js — ONNX Runtime's own per-node profile of one model, for
// bench/layers-vs-ort.sh:
//   node bench/ort_profile.js MODEL.onnx INPUT.f32 BATCH THREADS RUNS OUT.json
// Same session options as ort_bench.js plus enableProfiling; INPUT.f32 is
// the raw float32 input (skipserve-bench --save-input). Writes ORT's trace
// (Chrome trace-event JSON: one "Node" event per kernel run, named after
// the node's first output plus "_kernel_time") to OUT.json.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const ort = require(path.join(__dirname, '.ort', 'node_modules', 'onnxruntime-node'));

async function main() {
  const [model, input, batchS, threadsS, runsS, out] = process.argv.slice(2);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ortprof-'));
  const sess = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: +threadsS,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    enableProfiling: true,
    profileFilePrefix: path.join(dir, 'p'),
  });
  const buf = fs.readFileSync(input);
  const data = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const dims = sess.inputMetadata[0].shape.slice();
  dims[0] = +batchS;
  const feeds = {[sess.inputNames[0]]: new ort.Tensor('float32', data, dims)};
  for (let i = 0; i < +runsS; i++) await sess.run(feeds);
  await sess.endProfiling();
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
  if (files.length !== 1) throw new Error('no profile written in ' + dir);
  fs.copyFileSync(path.join(dir, files[0]), out);
  fs.rmSync(dir, {recursive: true});
}
main().catch((e) => { console.error('ort_profile: ' + e.message); process.exit(1); });
