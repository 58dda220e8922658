/* tasks.h — model outputs -> answers: softmax + top-k with labels
 * (classify); argmax mask resized to the input image, as a palette PNG,
 * JSON, overlay PNG or raw indices (segment). */
#ifndef SRV_TASKS_H
#define SRV_TASKS_H

#include <stddef.h>
#include <stdint.h>

#include "loaders/image.h"
#include "server/model.h"
#include "server/server.h"

typedef struct srv_timing {
    double decode, queue, infer, total; /* milliseconds */
} srv_timing;

typedef enum { SRV_FMT_PNG = 0, SRV_FMT_JSON, SRV_FMT_OVERLAY, SRV_FMT_INDICES } srv_seg_format;
/* "png" | "json" | "overlay" | "indices" -> format; -1 when unknown. */
int srv_seg_format_parse(const char *s);

typedef struct srv_answer {
    const char *ctype;
    void *body; /* malloc'ed */
    size_t len;
    int width, height; /* indices: X-Width / X-Height */
} srv_answer;

/* One image's classes: p (nclasses floats) gets the scores /classify
 * reports (softmax unless the model ends in one or model.json says not),
 * idx (nclasses ints) the class indices, its first top_k best first (ties:
 * lower index first). Shared by /classify and the KServe classification
 * extension so both answer the same. */
void srv_classify_topk(const srv_model *m, const float *x, int top_k, float *p, int *idx);

/* out: n * m->out_floats model outputs. */
srv_err srv_classify_answer(const srv_model *m, const float *out, int n, int top_k,
                            const srv_timing *t, int batch_size, srv_answer *a, srv_error *e);

/* sizes[2*i], sizes[2*i+1]: width, height to resize mask i to. `image`
 * (the decoded input) is needed for SRV_FMT_OVERLAY only (n == 1). */
srv_err srv_segment_answer(const srv_model *m, const float *out, int n, const int *sizes,
                           const sk_image *image, srv_seg_format fmt, const srv_timing *t,
                           int batch_size, srv_answer *a, srv_error *e);

/* The same for one mask already made (tiled segmentation), w x h class
 * indices, taken over (freed here, or the answer's body for indices). */
srv_err srv_segment_mask_answer(const srv_model *m, uint8_t *mask, int w, int h,
                                const sk_image *image, srv_seg_format fmt, const srv_timing *t,
                                int batch_size, srv_answer *a, srv_error *e);

#endif
