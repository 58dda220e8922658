/* quantize.h — shared between skipserve-quantize's files (tools/):
 *
 *   quantize.c        command line, report, the steps in order
 *   quantize_calib.c  model.json preprocessing, calibration images through
 *                     the FP32 engine (sk_plan_observe), range statistics
 *                     and the calibration methods (minmax, percentile,
 *                     entropy)
 *   quantize_qdq.c    the FP32 ModelProto rewritten as QDQ: int8 weights +
 *                     DequantizeLinear, Q/DQ pairs on activations, int32
 *                     biases, shared scales for Add / Concat */
#ifndef SK_TOOLS_QUANTIZE_H
#define SK_TOOLS_QUANTIZE_H

#include <stddef.h>
#include <stdint.h>

#include "loaders/image.h"

enum { QZ_MINMAX = 0, QZ_PERCENTILE, QZ_ENTROPY };

#define QZ_BINS 2048 /* histogram bins per activation (percentile, entropy) */

/* One observed activation: its range over every calibration image and,
 * after the second pass (percentile / entropy), a histogram over
 * [min, max]. */
typedef struct qz_stat {
    char *name;
    double min, max;
    uint64_t count; /* elements seen */
    uint64_t *hist; /* QZ_BINS, NULL in minmax */
    float lo, hi;   /* the calibrated range (qz_calibrate) */
} qz_stat;

typedef struct qz_stats {
    qz_stat *v;
    int n, cap;
    int pass; /* 1: min/max, 2: histogram */
} qz_stats;

qz_stat *qz_stats_find(const qz_stats *s, const char *name);
void qz_stats_free(qz_stats *s);

/* The model's preprocessing, from model.json's "input" object (the keys and
 * defaults server/model.c reads: width, height, color, resize, resize_to,
 * scale, mean, std, invert, pad, background). Returns 0 or -1 with err. */
typedef struct qz_pre {
    sk_preprocess pp;
    sk_invert invert;
    uint8_t background[3];
    int have_size; /* width/height given (else the model's input shape) */
} qz_pre;
int qz_pre_load(const char *json_path, qz_pre *p, char *err, size_t errlen);
void qz_pre_defaults(qz_pre *p);

/* Run every PNG/JPEG of calib_dir (sorted by name; other files skipped,
 * an unreadable image an error) through the FP32 model and fill `st` with
 * every float activation's range (and histogram when method != minmax).
 * `nimages` receives how many were used. */
int qz_calib_run(const char *onnx_path, const char *calib_dir, qz_pre *pre, int method,
                 int threads, qz_stats *st, int *nimages, char *err, size_t errlen);

/* lo/hi of one statistic by the method (percentile p in (50, 100]). */
void qz_calibrate(qz_stat *s, int method, double pct, int s8);

typedef struct qz_opts {
    int s8;         /* activations int8 (else uint8) */
    int per_tensor; /* weights per tensor (else per output channel) */
    int no_share;   /* no shared scales for Add / Concat */
    /* session 18: weights in 7 bits (-64..64, as onnxruntime's quantizer's
     * reduce_range): every byte pair then passes sk_qigemm_pairs_fit, so
     * AVX2 CPUs without VNNI run the model's convs on vpmaddubsw */
    int reduce_range;
    int report;
} qz_opts;

/* Read `in` (FP32 ONNX), write the QDQ model to `out`. */
int qz_write_qdq(const char *in, const char *out, qz_stats *st, const qz_opts *o, char *err,
                 size_t errlen);

#endif
