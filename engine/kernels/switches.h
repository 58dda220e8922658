/* switches.h — the kernels' run-time switches (SKIPSERVE_*), read once.
 *
 * The A/B switches that the kernels consult on every conv / GEMM call of
 * every run (not those read once per model at load or plan time: those
 * stay getenv calls in the passes / packers, see README.md). Each field is
 * the switch's value as the environment had it when the table was filled
 * (a private copy; NULL where unset), so every call site keeps its own
 * parsing and thus each switch's meaning and default exactly; only the
 * environment scan goes (ResNet-50 b1 at AVX-512: 337 getenv a run before
 * session 21, 0 after; bench/RESULTS.md). The GEMM driver's split and
 * A-prefetch switches also come parsed (gemm_*_on, ...): gemm.c used them
 * per job.
 *
 * Filled on first use (pthread_once). sk_switches_reload() re-reads the
 * environment: for tests and bench/ab_inproc.c, which flip a switch
 * between runs; call it only while no run is in flight (it rewrites the
 * table in place). */
#ifndef SK_SWITCHES_H
#define SK_SWITCHES_H

/* field, environment variable — the switches read per call */
#define SK_SWITCH_LIST(X)                                   \
    X(gemm_prefetch, "SKIPSERVE_GEMM_PREFETCH")             \
    X(gemm_aorder, "SKIPSERVE_GEMM_AORDER")                 \
    X(gemm_narrow, "SKIPSERVE_GEMM_NARROW")                 \
    X(gemm_apf, "SKIPSERVE_GEMM_APF")                       \
    X(gemm_apf_mink, "SKIPSERVE_GEMM_APF_MINK")             \
    X(gemm_pf_mink, "SKIPSERVE_GEMM_PF_MINK")               \
    X(gemm_split_cache, "SKIPSERVE_GEMM_SPLIT_CACHE")       \
    X(gemm_split_far, "SKIPSERVE_GEMM_SPLIT_FAR")           \
    X(gemm_split, "SKIPSERVE_GEMM_SPLIT")                   \
    X(gemm_split_pool, "SKIPSERVE_GEMM_SPLIT_POOL")         \
    X(pixrows_kc, "SKIPSERVE_PIXROWS_KC")                   \
    X(pixrows_mr14, "SKIPSERVE_PIXROWS_MR14")               \
    X(pixrows_mr7, "SKIPSERVE_PIXROWS_MR7")                 \
    X(pixrows_one, "SKIPSERVE_PIXROWS_ONE")                 \
    X(bf16_pixruns, "SKIPSERVE_BF16_PIXRUNS")               \
    X(bf16_taps, "SKIPSERVE_BF16_TAPS")                     \
    X(im2col_kc, "SKIPSERVE_IM2COL_KC")                     \
    X(im2col_aorder, "SKIPSERVE_IM2COL_AORDER")             \
    X(im2col_colsplit, "SKIPSERVE_IM2COL_COLSPLIT")         \
    X(conv_bcast_order, "SKIPSERVE_CONV_BCAST_ORDER")       \
    X(conv_bcast_kb, "SKIPSERVE_CONV_BCAST_KB")             \
    X(conv_bcast_rows, "SKIPSERVE_CONV_BCAST_ROWS")         \
    X(matmul_mr12, "SKIPSERVE_MATMUL_MR12")                 \
    X(matmul_slice, "SKIPSERVE_MATMUL_SLICE")               \
    X(matmul_wide, "SKIPSERVE_MATMUL_WIDE")                 \
    X(matmul_mc, "SKIPSERVE_MATMUL_MC")                     \
    X(matmul_kc, "SKIPSERVE_MATMUL_KC")                     \
    X(gelu_post, "SKIPSERVE_GELU_POST")                     \
    X(pack_t, "SKIPSERVE_PACK_T")                           \
    X(pool_s2, "SKIPSERVE_POOL_S2")                         \
    X(dw_cl_wtab, "SKIPSERVE_DW_CL_WTAB")                   \
    X(wino_one, "SKIPSERVE_WINO_ONE")                       \
    X(wino_gather, "SKIPSERVE_WINO_GATHER")                 \
    X(wino_vorder, "SKIPSERVE_WINO_VORDER")                 \
    X(wino_prefetch, "SKIPSERVE_WINO_PREFETCH")             \
    X(wino_pfw, "SKIPSERVE_WINO_PFW")                       \
    X(wino_split, "SKIPSERVE_WINO_SPLIT")                   \
    X(input_pcopy, "SKIPSERVE_INPUT_PCOPY")                 \
    X(irblock_carry, "SKIPSERVE_IRBLOCK_CARRY")

typedef struct sk_switches {
#define SK_SWITCH_FIELD(f, name) const char *f;
    SK_SWITCH_LIST(SK_SWITCH_FIELD)
#undef SK_SWITCH_FIELD
    /* gemm.c's, parsed (as its split_env_read did since session 17):
     * SKIPSERVE_GEMM_APF set (non-empty) and its distance; _APF_MINK (128
     * unset); _SPLIT_CACHE / _SPLIT_FAR / _SPLIT_POOL not "0"; _SPLIT =
     * "balance" */
    int gemm_apf_set, gemm_apf_mink_v;
    long gemm_apf_dist;
    int gemm_split_cache_on, gemm_split_far_on, gemm_split_balance, gemm_split_pool_on;
} sk_switches;

/* the table (filled on the first call) */
const sk_switches *sk_sw(void);

/* re-read every switch from the environment (tests, bench/ab_inproc.c;
 * no run in flight) */
void sk_switches_reload(void);

#endif
