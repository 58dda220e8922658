/* gemm.h — the fast FP32 matrix product: register-blocked microkernels over
 * packed panels, cache blocking, a thread-pool split, and a fused epilogue.
 *
 *   C[M x N] = A[M x K] * B[K x N]  (+ bias) (+ residual), clamped to [min,max]
 *
 * Panels (BLIS / XNNPACK style): A is cut into panels of MR rows stored
 * k-major (a[k*MR + r]), B into panels of NR columns stored k-major
 * (b[k*NR + c]); rows / columns past the matrix are zero. A microkernel
 * multiplies one MR-row A panel by one NR-column B panel over a K block
 * with MR x NR accumulators in registers. Weights are packed once at load
 * (sk_gemm_pack_a / sk_gemm_pack_b); the other operand is packed per K x NC
 * block into per-thread scratch as the product runs, by a callback so that
 * convolution can pack straight from the image (implicit im2col).
 *
 * The scalar level has no microkernel: sk_gemm_f32 given no config runs the reference
 * GEMM (engine/kernels/ref/gemm.c) and the same epilogue. */
#ifndef SK_GEMM_H
#define SK_GEMM_H

#include <stddef.h>
#include <string.h>

#include "cpu.h"

struct sk_pool;

/* Applied once per output element after the full K sum, in this order:
 * + bias, + residual, clamp. */
typedef struct sk_gemm_epi {
    const float *bias; /* NULL, or M values (per row) or N values (per column) */
    int bias_per_col;  /* 0: bias[i] for row i; 1: bias[j] for column j */
    const float *res;  /* NULL, or a matrix with C's shape, row stride ldres */
    size_t ldres;
    float min, max; /* -INFINITY, INFINITY: no activation; Relu: 0, INFINITY */
} sk_gemm_epi;

void sk_gemm_epi_none(sk_gemm_epi *e); /* no bias, no residual, no clamp */

/* ---- microkernel ABI (engine/kernels/avx2, engine/kernels/avx512) ------- */
enum {
    SK_UK_ACCUM = 1, /* C += A*B instead of C = A*B */
    SK_UK_EPI = 2,   /* apply the epilogue (last K block) */
};

typedef struct sk_ukernel_params {
    const float *bias_row; /* MR values or NULL */
    const float *bias_col; /* NR values or NULL */
    const float *res;      /* MR x NR tile of the residual, or NULL */
    size_t ldres;
    float min, max;
    /* Software prefetch (gemm.c, issue 24 session 16): while its K loop
     * runs, the kernel touches the cache lines [pf, pf_end), pf_step bytes
     * (a multiple of 64) per two k steps — a piece of the weights the
     * driver reads next, so that they stream from DRAM while this tile
     * computes. pf NULL: none. Kernels without it ignore it. */
    const char *pf, *pf_end;
    size_t pf_step;
    /* (session 19, gk) 0, or how many bytes ahead of its A panel the kernel
     * touches one line (two past 8 rows) per two k steps (gemm.c: the
     * config's apf, full tiles only). Kernels without it ignore it. */
    size_t apf;
    /* (session 19, r12) for sk_gemm_cfg.uk2 only: the second A panel of its
     * 2 * mr rows (the first is `a`), and the next-weights piece of that
     * panel's tile (as pf / pf_end / pf_step). Other kernels ignore them. */
    const float *a2;
    const char *pf2, *pf2_end;
    size_t pf2_step;
} sk_ukernel_params;

/* Full MR x NR tile: c (row stride ldc, in elements) from kc steps of
 * panels a (kc x MR) and b (kc x NR, 64-byte aligned). */
typedef void (*sk_gemm_ukernel)(size_t kc, const float *a, const float *b, float *c,
                                size_t ldc, int flags, const sk_ukernel_params *p);

/* The last column panel when it has at most nr/2 real columns (a 14x14
 * map's 196 pixels leave 4 in the 13th panel of 16): two A panels (2 * mr
 * rows; a1 == a0 when there is one) times the panel's first nr/2 columns.
 * Writes rows x cols of c, each element the same FMA chain and epilogue
 * as the full kernel's (the same bits), at twice the useful FMAs per cycle
 * of a full tile on the narrow panel. Lives with the row loops
 * (fast_vrow.h) so the AVX-512 build is tested under emulation too. */
typedef void (*sk_gemm_ntail_fn)(size_t kc, const float *a0, const float *a1, const float *b,
                                 float *c, size_t ldc, int rows, int cols, int flags,
                                 const sk_ukernel_params *p);

/* The last 1 .. mr-1 rows of a block across npanels B panels (panel q at
 * b + q * bstride; c's columns [0, ncols) real): one A panel times several
 * B panels at once, so that the few rows still give enough independent FMA
 * chains; each element the same FMA chain and epilogue as the full
 * kernel's (the same bits). p->bias_col and p->res point at column 0. */
typedef void (*sk_gemm_mtail_fn)(size_t kc, const float *a, const float *b, size_t bstride,
                                 int npanels, float *c, size_t ldc, int rows, int ncols, int flags,
                                 const sk_ukernel_params *p);

/* The last column panel when it has at most 8 real columns, with the
 * output rows in the vector lanes (issue 24 session 17): `rows` rows of the
 * block from mr-row A panels (panel q at a + q * astride) times the
 * panel's first `cols` columns, every lane useful (a 14x14 map's last 4
 * columns: ntail computes 16 lanes for them). Same bits as the full
 * kernel, as ntail. AVX-512 FP32 only (8-row panels: two make a zmm). */
typedef void (*sk_gemm_narrow_fn)(size_t kc, const float *a, size_t astride, const float *b,
                                  float *c, size_t ldc, int rows, int cols, int flags,
                                  const sk_ukernel_params *p);
void sk_f32_gemm_narrow_64x8__avx512f(size_t kc, const float *a, size_t astride, const float *b,
                                      float *c, size_t ldc, int rows, int cols, int flags,
                                      const sk_ukernel_params *p);

void sk_f32_gemm_6x16__avx2_fma(size_t kc, const float *a, const float *b, float *c,
                                size_t ldc, int flags, const sk_ukernel_params *p);
/* (session 21, a2r / vit2) the same with the driver's next-weights prefetch (p->pf) */
void sk_f32_gemm_6x16__avx2_fma_pf(size_t kc, const float *a, const float *b, float *c,
                                   size_t ldc, int flags, const sk_ukernel_params *p);
/* (session 21, a2s) the same prefetching into L2 (prefetcht1): Intel's AVX2 gemm.uk */
void sk_f32_gemm_6x16__avx2_fma_pfl2(size_t kc, const float *a, const float *b, float *c,
                                     size_t ldc, int flags, const sk_ukernel_params *p);
void sk_f32_gemm_8x32__avx512f(size_t kc, const float *a, const float *b, float *c,
                               size_t ldc, int flags, const sk_ukernel_params *p);
/* 12-row A panels (_MatMulFused where config.c sets gemm_mr12) */
void sk_f32_gemm_12x32__avx512f(size_t kc, const float *a, const float *b, float *c,
                                size_t ldc, int flags, const sk_ukernel_params *p);
/* 7-row A panels (pixel rows of a 7x7 map, fast_conv_pixrows.c) */
void sk_f32_gemm_7x32x2__avx512f(size_t kc, const float *a, const float *b, float *c,
                                 size_t ldc, int flags, const sk_ukernel_params *p);
void sk_f32_gemm_7x32__avx512f(size_t kc, const float *a, const float *b, float *c,
                               size_t ldc, int flags, const sk_ukernel_params *p);
void sk_f32_gemm_ntail__avx2(size_t kc, const float *a0, const float *a1, const float *b, float *c,
                             size_t ldc, int rows, int cols, int flags, const sk_ukernel_params *p);
void sk_f32_gemm_ntail__avx512f(size_t kc, const float *a0, const float *a1, const float *b,
                                float *c, size_t ldc, int rows, int cols, int flags,
                                const sk_ukernel_params *p);
void sk_f32_gemm_mtail__avx2(size_t kc, const float *a, const float *b, size_t bstride,
                             int npanels, float *c, size_t ldc, int rows, int ncols, int flags,
                             const sk_ukernel_params *p);
void sk_f32_gemm_mtail__avx512f(size_t kc, const float *a, const float *b, size_t bstride,
                                int npanels, float *c, size_t ldc, int rows, int ncols, int flags,
                                const sk_ukernel_params *p);

typedef struct sk_gemm_cfg {
    sk_isa isa;
    int mr, nr; /* microkernel tile */
    int kc;     /* K block: a kc x NR B panel stays in L1 */
    int mc;     /* M block: mc x kc of A stays in L2 */
    int nc;     /* N block packed per task: kc x nc of B in L2 */
    sk_gemm_ukernel uk;
    sk_gemm_ntail_fn ntail; /* NULL: tail panels run uk (SKIPSERVE_GEMM_NTAIL=0) */
    sk_gemm_mtail_fn mtail; /* NULL: tail rows run uk (SKIPSERVE_GEMM_MTAIL=0) */
    /* 1: a BF16 GEMM (kernels/bf16.h): panels hold K-pairs, the pair of
     * rows (k, k+1), k even, as nr (mr) 32-bit bf16 pairs in slot k/2
     * (sk_gemm_kslots), so every K block must start at an even k */
    int kpair;
    /* NULL, or the narrow-panel kernel run instead of ntail for a last
     * panel of <= 8 columns (SKIPSERVE_GEMM_NARROW=0: ntail, read per run) */
    sk_gemm_narrow_fn narrow;
    /* (session 19, gk) 0, or the bytes of a core's L2 that a job's whole-K
     * block of A (rows x K floats) may fill: _MatMulFused's K rule
     * (sk_matmul_fused_kc) on CPUs where config.c measured it (Intel) */
    long ablock_bytes;
    /* (session 19, gk) 0, or the bytes ahead of the A panel the FP32
     * AVX-512 kernels prefetch (sk_ukernel_params.apf; config.c: Intel;
     * SKIPSERVE_GEMM_APF=0 off, read per run) */
    int apf;

    /* 0, or (session 19, AMX) the K rows of one A chunk: A panels hold K
     * in chunks of kchunk rows (kchunk / 2 pair slots), each row-major
     * [mr][kchunk / 2 words] (the last [mr][rest]; kernels/bf16.h), so the
     * driver starts every K block at a multiple of kchunk rows */
    int kchunk;
    /* NULL, or (session 19, mend19) called by the thread at the start and
     * the end of each task of kernel calls (gemm.c run_task, fast_winograd.c
     * wino_task): the AMX config loads the tile configuration and releases
     * the tile state (kernels/amx/amx_tile.h) */
    void (*task_begin)(void);
    void (*task_end)(void);


    /* NULL, or (session 19, r12) a kernel of two A panels at once: 2 * mr
     * rows x nr, the first panel at `a`, the second at params.a2, the
     * same bits as two uk tiles. The default-order panel loop of gemm.c
     * runs whole pairs of full tiles with it (pixel rows' 7-row panels on
     * Intel: config.h gemm_mr7x2) */
    sk_gemm_ukernel uk2;
    /* (session 21, mv2a) 1: the config's kernels ignore the weight
     * prefetch (sk_ukernel_params pf / pf_end / pf_step: the AVX2 ones),
     * so run_task does not compute it (the pieces cost 4% of MobileNetV2
     * b8 at the AVX2 level when pf_piece divided per tile; pf_cyc since).
     * Describes gemm.uk: fast_matmul_fused.c clears it where it swaps in
     * a prefetching gemm_mm_uk */
    int no_pf;
    /* (session 21, mv2b) > 0: jobs of K < pf_min_k compute no weight
     * prefetch either (their tiles are short: pf_piece's divisions and the
     * prefetch cost more than the lines bring; config.c fill_nopf: the
     * AVX2 level on Intel, 128). SKIPSERVE_GEMM_PF_MINK=n (switches.h:
     * read once, sk_switches_reload) overrides, 0 none */
    int pf_min_k;
} sk_gemm_cfg;

/* base's blocking run by a 7-row kernel uk7 (pixel rows of 7x7 maps,
 * config.h gemm_mr7): M blocks of whole 7-row panels, no edge kernels
 * (theirs read 8-row panels; tail tiles go through the buffered path). */
sk_gemm_cfg sk_gemm_cfg_mr7(const sk_gemm_cfg *base, sk_gemm_ukernel uk7);
/* base's blocking run by the 12-row kernel uk12 (config.h gemm_mr12,
 * _MatMulFused's products on Intel): M blocks of whole 12-row panels, no
 * edge kernels (theirs read 8-row panels; tail tiles go through the
 * buffered path), the same bits as base's per element. */
sk_gemm_cfg sk_gemm_cfg_mr12(const sk_gemm_cfg *base, sk_gemm_ukernel uk12);
/* gemm.c's weight prefetch for other drivers (fast_winograd.c): up's
 * pf / pf_end / pf_step for call t of n spreading the `bytes` at `next`
 * over a K loop of kc (at most two lines per two k: the first part where
 * the piece is longer); cleared (no prefetch) when next is NULL */
void sk_gemm_pf_piece(sk_ukernel_params *up, const void *next, size_t bytes, int t, int n,
                      size_t kc);
/* (session 21, a2s) sk_gemm_pf_piece for t = 0, 1, ... n - 1 in turn
 * without its divisions (Winograd's calls, one per tile): init once, then
 * next() sets up's piece for the next call (cleared when next was NULL) */
typedef struct sk_gemm_pf_seq {
    const char *base;
    size_t q, r, dq, dr, n;
} sk_gemm_pf_seq;
void sk_gemm_pf_seq_init(sk_gemm_pf_seq *s, const void *next, size_t bytes, int n);
void sk_gemm_pf_seq_next(sk_ukernel_params *up, sk_gemm_pf_seq *s, size_t kc);

/* Slots of nr (mr) words that kc K rows take in a panel: kc, or ceil(kc/2)
 * pairs for a K-pair config. Panel strides and K offsets count in these. */
static inline size_t sk_gemm_kslots(const sk_gemm_cfg *cfg, int kc)
{
    return cfg->kpair ? ((size_t)kc + 1) / 2 : (size_t)kc;
}

/* A level's sk_gemm_cfg is part of its kernel configuration:
 * sk_gemm_config(isa) in kernels/config.h. */

/* ---- packed operands ----------------------------------------------------- */

/* `groups` independent M x K matrices (grouped convolution), each cut into
 * ceil(M/mr) panels over the full K. */
typedef struct sk_gemm_packed_a {
    const sk_gemm_cfg *cfg;
    int M, K, groups;
    size_t group_stride; /* floats between groups */
    float *data;
} sk_gemm_packed_a;

/* A given row-major with row stride lda (group g starts at A + g*M*lda),
 * scaled by `alpha`. Returns 0 or SK_ENOMEM. */
int sk_gemm_pack_a(const sk_gemm_cfg *cfg, const float *A, size_t lda, int M, int K,
                   int groups, float alpha, sk_gemm_packed_a *out);

/* B (K x N) packed into ceil(N/nr) panels over the full K. B(k, n) is read at
 * B[k*sk + n*sn], so a transposed matrix packs as well. */
typedef struct sk_gemm_packed_b {
    const sk_gemm_cfg *cfg;
    int K, N;
    float *data;
} sk_gemm_packed_b;

int sk_gemm_pack_b(const sk_gemm_cfg *cfg, const float *B, size_t sk, size_t sn, int K, int N,
                   float alpha, sk_gemm_packed_b *out);
void sk_gemm_packed_a_free(sk_gemm_packed_a *p);
void sk_gemm_packed_b_free(sk_gemm_packed_b *p);

/* Pack rows [m0, m0+mb) x depth [k0, k0+kc) of item `batch` into mr-row
 * panels (dst: ceil(mb/mr) panels of kc x mr, rows past mb zero). */
typedef void (*sk_gemm_pack_a_fn)(const void *ctx, int batch, int m0, int mb, int k0, int kc,
                                  int mr, float *dst);
/* Pack depth [k0, k0+kc) x columns [n0, n0+nb) of item `batch` into nr-column
 * panels (dst: ceil(nb/nr) panels of kc x nr, columns past nb zero; of
 * sk_gemm_kslots(kc) pair slots x nr for a K-pair config). `tmp` has room
 * for nc + 2*nr floats, twice that for a K-pair config. */
typedef void (*sk_gemm_pack_b_fn)(const void *ctx, int batch, int k0, int kc, int n0, int nb,
                                  int nr, float *dst, float *tmp);

/* One k row of one B panel: nr floats. A constant-size memcpy compiles to
 * a few vector moves; a call per 64 bytes would cost more than the copy. */
static inline void sk_gemm_copy_row(float *d, const float *s, int nr)
{
    if (nr == 16)
        memcpy(d, s, 16 * sizeof(float));
    else if (nr == 32)
        memcpy(d, s, 32 * sizeof(float));
    else
        for (int i = 0; i < nr; i++)
            d[i] = s[i];
}

/* Packers for plain row-major operands: ctx is an sk_gemm_rowmajor; item b
 * reads the matrix at p + b*stride. */
typedef struct sk_gemm_rowmajor {
    const float *p;
    size_t ld, stride;
} sk_gemm_rowmajor;
void sk_gemm_pack_a_rowmajor(const void *ctx, int batch, int m0, int mb, int k0, int kc, int mr,
                             float *dst);
void sk_gemm_pack_b_rowmajor(const void *ctx, int batch, int k0, int kc, int n0, int nb, int nr,
                             float *dst, float *tmp);

/* A batch of products sharing shapes: item b computes
 * C_b = A_{b % groups} * B_b. Exactly one of a_packed / pack_a, and one of
 * b_packed / pack_b, is set. */
typedef struct sk_gemm_job {
    const sk_gemm_cfg *cfg;
    int M, N, K, nbatch;
    const sk_gemm_packed_a *a_packed; /* groups used as above */
    sk_gemm_pack_a_fn pack_a;
    const void *a_ctx;
    const sk_gemm_packed_b *b_packed; /* item b reads data + b * b_stride */
    size_t b_stride;                  /* 0: one B shared by every item */
    sk_gemm_pack_b_fn pack_b;
    const void *b_ctx;
    float *c;
    size_t ldc, c_stride; /* row stride; floats between items */
    sk_gemm_epi epi;      /* per-row bias is indexed by the item's group row */
    size_t bias_stride;   /* floats between groups' bias rows (per-row bias) */
    size_t res_stride;    /* floats between items' residuals */
    /* K block limit: 0 = cfg->kc. With a packing callback the scratch
     * must then hold the job's blocks: sk_gemm_job_scratch_floats (issue
     * 24: pixel rows and im2col-gemm run longer K blocks) */
    int kc;
    /* NULL, or run by a task on each block of C it finished (its last K
     * block done, epilogue applied): rows x cols at c (row stride ldc) of
     * item `batch`, while the block is still in cache — an element-wise
     * activation the microkernel epilogue has not (_MatMulFused's GELU,
     * session 15 vit). Each element is visited exactly once. */
    void (*post)(const void *ctx, int batch, float *c, size_t ldc, int rows, int cols);
    const void *post_ctx;
    /* 1: split the columns, one block of whole panels a thread, where
     * sk_gemm_split_cols applies (batch-1 convs at 14x14, issue 24 session
     * 18: each thread packs and multiplies only its own columns); 0: the
     * cost model's split (plan_split) */
    int split_cols;
#define SK_GEMM_SPLIT_ROWS 2 /* split_cols = 2: all columns, rows in T chunks */
    /* 1: with packed A, the A-panel order of run_task (each A panel kept
     * in L1 across the block's B panels, C written along its rows; the
     * same bits) — FP32 im2col-gemm on Intel (issue 24, session 19;
     * kernels/config.c fill_intel). SKIPSERVE_GEMM_AORDER=0 overrides */
    int aorder;
} sk_gemm_job;

/* A job of `nbatch` M x N x K products at cfg's level: every other field
 * zero (no operands yet), no epilogue (sk_gemm_epi_none). */
void sk_gemm_job_init(sk_gemm_job *j, const sk_gemm_cfg *cfg, int M, int N, int K, int nbatch);

/* Per-thread scratch (floats) a job with this config needs, for `nthreads`
 * threads. */
size_t sk_gemm_scratch_floats(const sk_gemm_cfg *cfg, int nthreads);
/* The same for a job's own K block (job->kc; = the above when it is 0,
 * or when no callback packs an operand). */
size_t sk_gemm_job_scratch_floats(const sk_gemm_job *j, int nthreads);

/* Run the job on the pool. scratch: sk_gemm_scratch_floats(cfg,
 * sk_pool_size(pool)) floats, 64-byte aligned; NULL allocates (not for
 * plans: a run must not allocate). Returns 0 or SK_ENOMEM. */
int sk_gemm_run(struct sk_pool *pool, const sk_gemm_job *job, float *scratch);

/* (gemm_split.c) The busiest thread's padded elements (whole mr x nr
 * tiles) when a job cut into column blocks of ppb panels and row chunks
 * of cpp panels runs on a pool of T threads in the pool's claim order;
 * -1 for T outside 1..SK_GEMM_SPLIT_MAX_T. What plan_split weighs splits
 * by (issue 24 session 17; SKIPSERVE_GEMM_SPLIT_POOL=0: the mean-task
 * estimate). */
/* The split switches (SKIPSERVE_GEMM_SPLIT_FAR=0, SKIPSERVE_GEMM_SPLIT_POOL=0,
 * SKIPSERVE_GEMM_SPLIT=balance, SKIPSERVE_GEMM_SPLIT_CACHE=0) are read once per process
 * with the kernels' other run-time switches (kernels/switches.h); this, the
 * old name, is sk_switches_reload (never while a GEMM runs or is planned on
 * another thread). */
void sk_gemm_split_env_reload(void);
/* (tests) The split plan_split picks for the job on T threads: column
 * blocks of *nbw columns, row chunks of *chunk_panels A panels. */
void sk_gemm_plan_split(const sk_gemm_job *j, int T, int *nbw, int *chunk_panels);
#define SK_GEMM_SPLIT_MAX_T 64 /* threads the split models play out at most */
double sk_gemm_split_pool_busiest_elems(const sk_gemm_job *j, int T, int ppb, int nblocks, int cpp,
                                 int mchunks);

/* (gemm_split.c) The column split of a job with split_cols: one item,
 * one column block of whole panels a thread (T blocks exactly), the last
 * block also taking a narrow last panel (<= nr/2 columns: the narrow /
 * ntail kernels run it), one row chunk, every block within cfg->nc.
 * *nbw: the block width. Returns 0 where it does not apply. */
int sk_gemm_split_cols(const sk_gemm_job *j, int T, int *nbw, int *nblocks);

/* Plain row-major product with the given level's config (NULL: the
 * reference GEMM): C = A * B with the epilogue (NULL: none). Allocates its
 * packing buffers; for tests, benchmarks and one-off products. Returns 0
 * or SK_ENOMEM. */
int sk_gemm_f32(const sk_gemm_cfg *cfg, struct sk_pool *pool, int M, int N, int K,
                const float *A, size_t lda, const float *B, size_t ldb, float *C, size_t ldc,
                const sk_gemm_epi *epi);

/* The epilogue on an m x n block of C (row stride ldc) whose top-left
 * element is (row, col) of the whole product; used for tails, the scalar
 * level and the reference fused ops. */
void sk_gemm_epi_apply(const sk_gemm_epi *e, float *c, size_t ldc, int row, int col, int m,
                       int n);

#endif
