/*
 * mlp.h (internal) - one dense tower. Owns its layers' weights, biases,
 * parameter gradients and the activations of the last training batch
 * (sized once for max_batch). Computes through blas.h. Knows nothing of
 * embeddings, heads or optimizers.
 */
#ifndef ESMM__MLP_H
#define ESMM__MLP_H

#include "internal.h"

#define ESMM__MLP_MAX_LAYERS 9 /* 8 hidden + output */

typedef struct esmm__layer {
  size_t n_in, n_out;
  float *w, *b;   /* n_in x n_out, n_out */
  float *gw, *gb; /* gradients of the last backward */
} esmm__layer;

struct esmm_mlp {
  esmm__allocator alloc;
  size_t n_layers, n_in, n_out, max_batch, batch;
  int activation;
  esmm__layer layer[ESMM__MLP_MAX_LAYERS];
  const float *input;                   /* last forward input (borrowed) */
  float *act[ESMM__MLP_MAX_LAYERS];     /* post-activation output of each layer, max_batch x n_out */
  float *delta[2];                      /* backward scratch, max_batch x widest */
  int have_forward;
  int have_split;                       /* the last forward was esmm__mlp_forward_split */
  struct esmm__mlp_split {
    size_t lo, hi;      /* columns [lo, hi) of the input: the part shared by a run of rows */
    const float *c;     /* n_runs x (stride ldc): run r's shared input at c + r*ldc + lo */
    size_t ldc, n_runs;
    const int64_t *run; /* run of each batch row (-1: the row has no shared part) */
    float *scratch;     /* n_runs x n_out of layer 0, caller's (forward: h_g; backward: the run sums) */
  } split;
};
typedef struct esmm__mlp_split esmm__mlp_split;

int esmm__mlp_create(esmm_mlp **out, const esmm__allocator *a, size_t n_in, const int64_t *hidden,
                     size_t n_hidden, size_t n_out, int activation, size_t max_batch, uint64_t seed);

/* Floats of scratch esmm__mlp_infer needs for n rows. */
size_t esmm__mlp_infer_scratch(const esmm_mlp *m, size_t n);

/* Inference on a const tower (thread-safe): out = tower(in) for n rows of
 * any count, using caller scratch of esmm__mlp_infer_scratch(m, n) floats. */
void esmm__mlp_infer(const esmm_mlp *m, const float *in, size_t n, float *out, float *scratch);

/* esmm_mlp_backward, except that the input gradient is added to grad_in
 * (the GEMM's beta = 1) instead of overwriting it. For the model's second
 * tower: the shared embedding's gradient is the sum of both towers' input
 * gradients, and accumulating in the GEMM saves a scratch buffer and a
 * pass over batch x input floats. grad_in must not be NULL. */
int esmm__mlp_backward_accumulate(esmm_mlp *m, const float *grad_out, float *grad_in);

/* First-layer split (docs/performance.md, plan item 1). Row i's input is
 * in[i] outside columns [sp->lo, sp->hi) and, inside, the run's shared part
 * c[run[i]] (rows with run[i] < 0: in[i] everywhere). in[i] must be 0 in
 * [lo, hi) and c[r] is only read there. Layer 0 then computes
 * z_i = in_i[R] W[R] + (c_r[U] W[U]) + b with the second product once per
 * run. Equal to esmm_mlp_forward on the summed rows up to float rounding.
 * sp (copied; its arrays borrowed until the backward) is kept for the backward. */
int esmm__mlp_forward_split(esmm_mlp *m, const float *in, size_t n, float *out, const esmm__mlp_split *sp);

/* Backward of a split forward (a plain forward: as backward/_accumulate).
 * grad_in gets columns outside [lo, hi) (written, or added when beta 1;
 * columns [lo, hi) are not touched); gcom row r (stride ldg) gets columns
 * [lo, hi) of the input gradient summed over run r's rows, once per run:
 * (sum_{i in r} d_i) W[U]^T (written or added the same way). */
int esmm__mlp_backward_split(esmm_mlp *m, const float *grad_out, float *grad_in, float beta, float *gcom,
                             size_t ldg);

/* Total parameter count (weights + biases). */
size_t esmm__mlp_param_count(const esmm_mlp *m);

#endif /* ESMM__MLP_H */
