/* quantize.c — skipserve-quantize: an FP32 ONNX model + a folder of
 * calibration images -> a QDQ INT8 model (the form onnxruntime runs too).
 *
 *   skipserve-quantize MODEL_DIR|MODEL.onnx --calib DIR [--model-json F]
 *       [--calib-method minmax|percentile[:P]|entropy] [--activations u8|s8]
 *       [--per-tensor] [--no-share] [--reduce-range] [--threads T] [--out F.onnx]
 *       [--report]
 *
 * MODEL_DIR is a repository entry (models/<name>/): its model.onnx and
 * model.json are used and the result goes to MODEL_DIR/model.int8.onnx,
 * which model.json's "int8_model" can name (tools/README.md). Steps:
 * quantize_calib.c (preprocess, FP32 run, ranges), quantize_qdq.c (the QDQ
 * model). Exit 0 on success, 1 on a usage error, 2 on any other error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/sk.h"
#include "tools/quantize.h"

static int usage(void)
{
    fprintf(stderr,
            "usage: skipserve-quantize MODEL_DIR|MODEL.onnx --calib DIR [--model-json F]\n"
            "         [--calib-method minmax|percentile[:99.99]|entropy] [--activations u8|s8]\n"
            "         [--per-tensor] [--no-share] [--reduce-range] [--threads T] [--out F.onnx]\n"
            "         [--report]\n");
    return 1;
}

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *calib = NULL, *mjson = NULL, *out = NULL;
    int method = QZ_MINMAX, threads = 0;
    double pct = 99.99;
    qz_opts o = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--report"))
            o.report = 1;
        else if (!strcmp(a, "--per-tensor"))
            o.per_tensor = 1;
        else if (!strcmp(a, "--no-share"))
            o.no_share = 1;
        else if (!strcmp(a, "--reduce-range"))
            o.reduce_range = 1;
        else if (a[0] == '-' && a[1] == '-' && !v) {
            fprintf(stderr, "skipserve-quantize: %s needs a value\n", a);
            return usage();
        } else if (!strcmp(a, "--calib"))
            calib = argv[++i];
        else if (!strcmp(a, "--model-json"))
            mjson = argv[++i];
        else if (!strcmp(a, "--out"))
            out = argv[++i];
        else if (!strcmp(a, "--threads"))
            threads = atoi(argv[++i]);
        else if (!strcmp(a, "--activations")) {
            i++;
            if (!strcmp(v, "u8"))
                o.s8 = 0;
            else if (!strcmp(v, "s8"))
                o.s8 = 1;
            else {
                fprintf(stderr, "skipserve-quantize: --activations must be u8 or s8\n");
                return usage();
            }
        } else if (!strcmp(a, "--calib-method")) {
            i++;
            char *end = NULL;
            if (!strcmp(v, "minmax"))
                method = QZ_MINMAX;
            else if (!strcmp(v, "entropy"))
                method = QZ_ENTROPY;
            else if (!strncmp(v, "percentile", 10) && (v[10] == 0 || v[10] == ':')) {
                method = QZ_PERCENTILE;
                if (v[10] == ':')
                    pct = strtod(v + 11, &end);
                if (v[10] == ':' && (end == v + 11 || *end || !(pct > 50 && pct <= 100))) {
                    fprintf(stderr, "skipserve-quantize: percentile must be in (50, 100]\n");
                    return usage();
                }
            } else {
                fprintf(stderr, "skipserve-quantize: --calib-method must be minmax, "
                                "percentile[:P] or entropy\n");
                return usage();
            }
        } else if (a[0] == '-') {
            fprintf(stderr, "skipserve-quantize: unknown option %s\n", a);
            return usage();
        } else if (!model)
            model = a;
        else
            return usage();
    }
    if (!model || !calib)
        return usage();

    /* a model folder: its model.onnx / model.json, output beside them */
    char onnx[4096], jbuf[4096], obuf[4096];
    if (is_dir(model)) {
        snprintf(onnx, sizeof onnx, "%s/model.onnx", model);
        snprintf(jbuf, sizeof jbuf, "%s/model.json", model);
        snprintf(obuf, sizeof obuf, "%s/model.int8.onnx", model);
        if (!mjson && exists(jbuf))
            mjson = jbuf;
    } else {
        snprintf(onnx, sizeof onnx, "%s", model);
        /* x.onnx -> x.int8.onnx */
        size_t n = strlen(model);
        if (n > 5 && !strcmp(model + n - 5, ".onnx"))
            snprintf(obuf, sizeof obuf, "%.*s.int8.onnx", (int)(n - 5), model);
        else
            snprintf(obuf, sizeof obuf, "%s.int8.onnx", model);
    }
    if (!out)
        out = obuf;

    char err[512];
    qz_pre pre;
    qz_pre_defaults(&pre);
    if (mjson && qz_pre_load(mjson, &pre, err, sizeof err) < 0) {
        fprintf(stderr, "skipserve-quantize: %s\n", err);
        return 2;
    }
    qz_stats st = {0};
    int nimg = 0;
    if (qz_calib_run(onnx, calib, &pre, method, threads, &st, &nimg, err, sizeof err) < 0) {
        fprintf(stderr, "skipserve-quantize: %s\n", err);
        qz_stats_free(&st);
        return 2;
    }
    for (int i = 0; i < st.n; i++)
        qz_calibrate(&st.v[i], method, pct, o.s8);
    if (o.report)
        printf("calibration: %d images from %s, %s, %d activations observed\n", nimg, calib,
               method == QZ_MINMAX ? "minmax" : method == QZ_ENTROPY ? "entropy" : "percentile",
               st.n);
    int rc = qz_write_qdq(onnx, out, &st, &o, err, sizeof err);
    qz_stats_free(&st);
    if (rc < 0) {
        fprintf(stderr, "skipserve-quantize: %s\n", err);
        return 2;
    }
    fprintf(stderr, "skipserve-quantize: wrote %s (%d calibration images)\n", out, nimg);
    return 0;
}
