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
};

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

/* Total parameter count (weights + biases). */
size_t esmm__mlp_param_count(const esmm_mlp *m);

#endif /* ESMM__MLP_H */
