/* plan.h — a graph made ready to run for one set of concrete input shapes.
 *
 * sk_plan_create binds the runtime inputs' shapes (the batch size), infers
 * every shape, folds every node whose inputs are all known (the Shape ->
 * Gather -> Concat -> Reshape sub-graphs exporters emit), drops dead nodes,
 * and lays every remaining value out in one 64-byte aligned arena by
 * liveness. A run then does no allocation. A plan reads the graph's constants
 * (weights) but never writes them, so several plans of one graph can run at
 * once on different threads. */
#ifndef SK_PLAN_H
#define SK_PLAN_H

#include "graph.h"

struct sk_pool;
typedef struct sk_plan sk_plan;

/* `inputs` has g->ninputs entries (order of g->inputs): dtype and shape must
 * be concrete. data == NULL: a runtime input (given to sk_plan_run); data !=
 * NULL: pinned, treated as a constant (lets a graph with value-dependent
 * shapes be planned when those values are known). `pool` may be NULL. */
int sk_plan_create(const sk_graph *g, const sk_tensor *inputs, struct sk_pool *pool,
                   sk_plan **out, char *err, size_t errlen);
void sk_plan_free(sk_plan *p);
/* As sk_plan_create, but the plan runs in `share`'s arena and scratch where
 * they are large enough (else in its own): one model's plans for several
 * batch sizes then hold the activations of the largest once (the server:
 * ViT-B/16's plans for batch 1, 2, 4 and 8 held 90 MiB of arenas, 47 MiB
 * shared). The rules: plans sharing memory never run at the same time, a
 * run of one overwrites the others' outputs, and `share` is freed after
 * every plan that shares its memory. `share` must own its memory: a plan
 * that itself runs in another's is refused (SK_EINVAL) — share the owner. */
int sk_plan_create_shared(const sk_graph *g, const sk_tensor *inputs, struct sk_pool *pool,
                          const sk_plan *share, sk_plan **out, char *err, size_t errlen);

/* Run with one data pointer per graph input (entries for pinned inputs are
 * ignored and may be NULL). Input data is copied into the arena. */
int sk_plan_run(sk_plan *p, const void *const *input_data, char *err, size_t errlen);

int sk_plan_noutputs(const sk_plan *p);
/* Output i after a run: shape, dtype and data valid until the next run. */
const sk_tensor *sk_plan_output(const sk_plan *p, int i);
const char *sk_plan_output_name(const sk_plan *p, int i);
/* Inferred dtype/shape of graph input i as bound. */
const sk_tensor *sk_plan_input(const sk_plan *p, int i);

/* Bytes of arena + scratch this plan allocated; memory it runs in from a
 * shared plan (sk_plan_create_shared) is not counted: a plan that borrows
 * both reports 0. */
size_t sk_plan_arena_bytes(const sk_plan *p);
int sk_plan_nsteps(const sk_plan *p);
/* The optimized graph as it runs: one line per step, with shapes. */
void sk_plan_dump(const sk_plan *p, FILE *f);
/* Per-step timing (a profiler, off by default): after sk_plan_profile(p, 1)
 * (which allocates and zeroes the counters; 0 frees them) every run adds
 * each step's wall time; sk_plan_profile_dump prints the steps by time
 * taken, with their kernel / conv strategy and share of the total, and —
 * given node_macs (multiply-adds per node of the plan's graph, or NULL) —
 * each step's GFLOP/s. Returns 0 or SK_ENOMEM. SKIPSERVE_PROFILE_CLOCK=thread
 * (read here; session 18) times the steps on the calling thread's CPU
 * clock instead: for 1-thread runs on a loaded machine (with more threads
 * it misses the workers' share). */
int sk_plan_profile(sk_plan *p, int on);
void sk_plan_profile_dump(const sk_plan *p, FILE *f, int top, const int64_t *node_macs);

/* Observation hook (calibration, debugging): after sk_plan_observe(p, fn,
 * user) every run calls fn once per value a step produces, right after the
 * step, in step order, with the value's graph name and its tensor (valid
 * only during the call; do not write it). On a graph run without the fusion
 * passes (sk_graph_optimize level 0) every node is one step, so every
 * activation of the model is seen; fused steps show only what they write.
 * fn == NULL turns it off. Costs one pointer test per step when off. */
typedef void (*sk_observe_fn)(void *user, const char *name, const sk_tensor *t);
void sk_plan_observe(sk_plan *p, sk_observe_fn fn, void *user);

#endif
