// ort_bench.js — time ONNX Runtime (CPU provider, onnxruntime-node) on one
// model, for bench/compare-ort.sh:
//   node bench/ort_bench.js MODEL.onnx INPUT.f32 BATCH THREADS RUNS [OUTPUT.f32]
// INPUT.f32 holds the raw float32 input (written by skipserve-bench
// --save-input); the input shape is the model's with the batch dimension
// set to BATCH. Prints one JSON line: median_ms, min_ms, cpu_ms (process CPU
// time per run, mean), max_rss_mb; writes
// the first output as raw float32 when OUTPUT.f32 is given.
'use strict';
const fs = require('fs');
const {open, feeds: inputFeeds} = require('./ort_session');

async function main() {
  const [model, input, batchS, threadsS, runsS, output] = process.argv.slice(2);
  const batch = +batchS, threads = +threadsS, runs = +runsS;
  const sess = await open(model, threads);
  const feeds = inputFeeds(sess, input, batch);
  for (let i = 0; i < 2; i++) await sess.run(feeds);
  const ms = [];
  let out;
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    out = await sess.run(feeds);
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  const cpu1 = process.cpuUsage(cpu0);
  const cpuMs = (cpu1.user + cpu1.system) / 1000 / runs; // mean: Node gives totals only
  ms.sort((a, b) => a - b);
  const median = runs % 2 ? ms[(runs - 1) / 2] : (ms[runs / 2 - 1] + ms[runs / 2]) / 2;
  const y = out[sess.outputNames[0]].data;
  if (output) fs.writeFileSync(output, Buffer.from(y.buffer, y.byteOffset, y.byteLength));
  const rss = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify({median_ms: median, min_ms: ms[0], cpu_ms: cpuMs, max_rss_mb: rss}));
}
main().catch((e) => { console.error('ort_bench: ' + e.message); process.exit(1); });
