// ort_session.js — the ONNX Runtime session and input that ort_bench.js and
// ort_profile.js share, so the profile is taken with the options the
// benchmark times: CPU provider, all graph optimizations, THREADS intra-op
// threads, sequential execution.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, '.ort', 'node_modules', 'onnxruntime-node'));

// An InferenceSession for MODEL on THREADS threads; `extra` adds options.
function open(model, threads, extra) {
  return ort.InferenceSession.create(model, Object.assign({
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  }, extra || {}));
}

// The feeds of SESS: INPUT (raw float32, skipserve-bench --save-input) as
// its first input, the model's shape with the batch dimension set to BATCH.
function feeds(sess, input, batch) {
  const buf = fs.readFileSync(input);
  const data = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const meta = sess.inputMetadata ? sess.inputMetadata[0] : null;
  const dims = meta && meta.shape ? meta.shape.slice() : null;
  if (!dims || dims.some((d, i) => i > 0 && typeof d !== 'number')) {
    throw new Error('cannot read the input shape of the model');
  }
  dims[0] = batch;
  return {[sess.inputNames[0]]: new ort.Tensor('float32', data, dims)};
}

module.exports = {open, feeds};
