/*
 * mlp.h (internal) - one dense tower. Owns its layers' weights and biases,
 * and one flat block of parameter gradients (layer 0's w then b, layer 1's,
 * ...: esmm__mlp_param_count floats). A forward/backward pass keeps its
 * activations in an esmm__mlp_ctx, which the caller owns and sizes: the
 * model's training step runs one pass per batch slice, each on its worker's
 * context, writing that slice's gradients into a buffer of its own
 * (esmm__mlp_grads). The public parts API (esmm_mlp_forward/_backward) runs
 * on the tower's own context and gradients. Computes through blas.h.
 * Knows nothing of embeddings, heads or optimizers.
 */
#ifndef ESMM__MLP_H
#define ESMM__MLP_H

#include "internal.h"

#define ESMM__MLP_MAX_LAYERS 9 /* 8 hidden + output */

typedef struct esmm__layer {
  size_t n_in, n_out;
  float *w, *b;   /* n_in x n_out, n_out */
  float *gw, *gb; /* the tower's own gradients (into its flat block grad) */
} esmm__layer;

/* First-layer split (docs/performance.md). Row i's input is in[i] outside
 * columns [lo, hi) and, inside, the run's shared part c[run[i]] (rows with
 * run[i] < 0: in[i] everywhere). in[i] must be 0 in [lo, hi) and c[r] is
 * only read there. Layer 0 then computes z_i = in_i[R] W[R] + (c_r[U] W[U])
 * + b with the second product once per run. Equal to a plain forward on
 * the summed rows up to float rounding. Its arrays are borrowed from the
 * forward until the backward. */
typedef struct esmm__mlp_split {
  size_t lo, hi;      /* columns [lo, hi) of the input: the part shared by a run of rows */
  const float *c;     /* n_runs x (stride ldc): run r's shared input at c + r*ldc + lo */
  size_t ldc, n_runs;
  const int64_t *run; /* run of each row (-1: the row has no shared part) */
  float *scratch;     /* n_runs x layer 0's n_out (forward: h_r; backward: the run sums) */
} esmm__mlp_split;

/* What one forward/backward pass keeps: the activations of up to max_rows
 * rows and the backward's deltas. */
typedef struct esmm__mlp_ctx {
  size_t max_rows, n;
  const float *input;                /* the forward's input (borrowed) */
  float *act[ESMM__MLP_MAX_LAYERS];  /* post-activation output of each layer, max_rows x n_out */
  float *delta[2];                   /* max_rows x widest hidden layer */
  int have_forward, have_split;
  esmm__mlp_split split;
} esmm__mlp_ctx;

/* Where a backward writes the parameter gradients of each layer. */
typedef struct esmm__mlp_grads {
  float *gw[ESMM__MLP_MAX_LAYERS], *gb[ESMM__MLP_MAX_LAYERS];
} esmm__mlp_grads;

struct esmm_mlp {
  esmm__allocator alloc;
  size_t n_layers, n_in, n_out, max_batch;
  int activation;
  esmm__layer layer[ESMM__MLP_MAX_LAYERS];
  float *grad;       /* esmm__mlp_param_count floats: every layer's gw, gb */
  esmm__mlp_ctx own; /* the public API's pass (max_batch rows; none when 0) */
};

/* max_batch 0: no context of its own (a model's tower, trained through
 * contexts of the model's workers); esmm_mlp_forward then refuses. */
int esmm__mlp_create(esmm_mlp **out, const esmm__allocator *a, size_t n_in, const int64_t *hidden,
                     size_t n_hidden, size_t n_out, int activation, size_t max_batch, uint64_t seed);

/* A context for passes of up to max_rows rows of tower m (or of any tower
 * of the same shape). Only ENOMEM can fail; on failure c holds nothing. */
int esmm__mlp_ctx_init(esmm__mlp_ctx *c, const esmm_mlp *m, const esmm__allocator *a, size_t max_rows);
void esmm__mlp_ctx_free(esmm__mlp_ctx *c, const esmm__allocator *a);

/* Gradient pointers into a flat buffer laid out as m->grad (layer 0's w,
 * then b, then layer 1's, ...); g = the tower's own with base = m->grad. */
void esmm__mlp_grads_at(const esmm_mlp *m, float *base, esmm__mlp_grads *g);

/* Forward n <= c->max_rows rows on a const tower: out = tower(in) (n x
 * n_out); sp non-NULL = the first-layer split (copied; its arrays borrowed
 * until the backward). in is borrowed until the backward too. Allocates
 * nothing, cannot fail; the caller checks n. */
void esmm__mlp_fwd(const esmm_mlp *m, esmm__mlp_ctx *c, const float *in, size_t n, float *out,
                   const esmm__mlp_split *sp);

/* Backward through c's last forward: grad_out is n x n_out. The parameter
 * gradients are written (not accumulated) through g. grad_in (n x n_in,
 * may be NULL, may be the forward's input) receives dL/din, written (beta 0)
 * or added (beta 1). After a split forward, grad_in gets the columns
 * outside [lo, hi) only, and gcom row r (stride ldg) gets columns [lo, hi)
 * of the input gradient summed over run r's rows, written or added the
 * same way. Allocates nothing; c must hold a forward (the caller's job). */
void esmm__mlp_bwd(const esmm_mlp *m, esmm__mlp_ctx *c, const esmm__mlp_grads *g, const float *grad_out,
                   float *grad_in, float beta_in, float *gcom, size_t ldg);

/* Floats of scratch esmm__mlp_infer needs for n rows. */
size_t esmm__mlp_infer_scratch(const esmm_mlp *m, size_t n);

/* Inference on a const tower (thread-safe): out = tower(in) for n rows of
 * any count, on caller scratch of esmm__mlp_infer_scratch(m, n) floats;
 * with sp non-NULL, through the first-layer split (its scratch holds
 * n_runs x layer 0's n_out floats besides). */
void esmm__mlp_infer(const esmm_mlp *m, const float *in, size_t n, float *out, float *scratch,
                     const esmm__mlp_split *sp);

/* Total parameter count (weights + biases). */
size_t esmm__mlp_param_count(const esmm_mlp *m);

/* Widest layer 0 output (first-layer split scratch) and widest hidden layer. */
size_t esmm__mlp_widest_hidden(const esmm_mlp *m);

#endif /* ESMM__MLP_H */
