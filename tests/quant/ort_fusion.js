// ort_fusion.js MODEL.onnx OUT.onnx — open MODEL in onnxruntime-node (bench/.ort/)
// with every graph optimization, as a user's session would, and save the graph
// it will run to OUT, so tests/quant/check.py can count which QDQ groups ORT
// folded into integer operators (QLinearConv, QLinearAdd, ...).
'use strict';
const path = require('path');
const ort = require(path.join(__dirname, '..', '..', 'bench', '.ort', 'node_modules',
                              'onnxruntime-node'));
(async () => {
  await ort.InferenceSession.create(process.argv[2], {
    executionProviders: ['cpu'], intraOpNumThreads: 1, graphOptimizationLevel: 'all',
    optimizedModelFilePath: process.argv[3], logSeverityLevel: 3,
  });
})().catch((e) => { console.error(`ort_fusion: ${e.message}`); process.exit(1); });
