// ort_profile.js — ONNX Runtime's own per-node profile of one model, for
// bench/layers-vs-ort.sh:
//   node bench/ort_profile.js MODEL.onnx INPUT.f32 BATCH THREADS RUNS OUT.json [OPT.onnx]
// The session of ort_session.js (as ort_bench.js) plus enableProfiling;
// with OPT.onnx also the graph ORT runs (optimizedModelFilePath): its node
// names are the trace's, and layers_vs_ort.py follows it back to the
// original model's values (QDQ models run as renamed QLinearConv nodes);
// INPUT.f32 is the raw float32 input (skipserve-bench --save-input). Writes
// ORT's trace (Chrome trace-event JSON: one "Node" event per kernel run,
// named after the node plus "_kernel_time") to OUT.json.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const {open, feeds: inputFeeds} = require('./ort_session');

async function main() {
  const [model, input, batchS, threadsS, runsS, out, opt] = process.argv.slice(2);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ortprof-'));
  const sess = await open(model, +threadsS, Object.assign({
    enableProfiling: true,
    profileFilePrefix: path.join(dir, 'p'),
  }, opt ? {optimizedModelFilePath: opt} : {}));
  const feeds = inputFeeds(sess, input, +batchS);
  for (let i = 0; i < +runsS; i++) await sess.run(feeds);
  await sess.endProfiling();
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
  if (files.length !== 1) throw new Error('no profile written in ' + dir);
  fs.copyFileSync(path.join(dir, files[0]), out);
  fs.rmSync(dir, {recursive: true});
}
main().catch((e) => { console.error('ort_profile: ' + e.message); process.exit(1); });
