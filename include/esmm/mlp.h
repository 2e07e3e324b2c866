/*
 * esmm/mlp.h - parts API: one MLP tower.
 *
 * Layers are dense: y = x W + b, W stored n_in x n_out row-major, computed
 * with SGEMM. Hidden layers apply the activation; the output layer is
 * linear (logits). The tower keeps, for the last forward batch, what
 * backward needs; its buffers are sized once for max_batch rows, so
 * forward and backward never allocate.
 *
 * Thread safety: a tower is not thread-safe (forward stores activations).
 */
#ifndef ESMM_MLP_H
#define ESMM_MLP_H

#include "common.h"

ESMM_BEGIN_DECLS

typedef struct esmm_mlp esmm_mlp;

/**
 * Create a tower n_in -> hidden[0] -> ... -> hidden[n_hidden-1] -> n_out.
 * Weights are initialised He-normal for ReLU, Xavier-normal otherwise,
 * biases 0, from seed.
 * @param activation  an esmm_activation value.
 * @param max_batch   largest batch forward will be given (>= 1).
 * @return ESMM_OK, ESMM_EINVAL, ESMM_ENOMEM. @since 1.0
 */
ESMM_API int esmm_mlp_new(esmm_mlp **out, size_t n_in, const int64_t *hidden, size_t n_hidden, size_t n_out,
                          int activation, size_t max_batch, uint64_t seed);

/** Free a tower; NULL is a no-op. @since 1.0 */
ESMM_API void esmm_mlp_free(esmm_mlp *m);

/**
 * Forward n rows (n <= max_batch) of n_in floats to n x n_out outputs.
 * The tower keeps a pointer to `in` for esmm_mlp_backward: the buffer must
 * stay valid and unchanged until then.
 * @return ESMM_OK, ESMM_EINVAL, ESMM_ESHAPE (n > max_batch). @since 1.0
 */
ESMM_API int esmm_mlp_forward(esmm_mlp *m, const float *in, size_t n, float *out);

/**
 * Backward through the last forward batch: grad_out is n x n_out, dL/dout.
 * The parameter gradients are overwritten (not accumulated) and read with
 * esmm_mlp_layer. grad_in (n x n_in) receives dL/din; it may be NULL, and
 * it may be the forward input buffer itself (the input is read for the
 * parameter gradients before grad_in is written).
 * @return ESMM_OK, ESMM_EINVAL, ESMM_ESTATE (no forward yet). @since 1.0
 */
ESMM_API int esmm_mlp_backward(esmm_mlp *m, const float *grad_out, float *grad_in);

/** Number of dense layers (hidden layers + the output layer). @since 1.0 */
ESMM_API int esmm_mlp_layer_count(const esmm_mlp *m, size_t *out);

/**
 * Borrow layer l's weights (n_in x n_out), bias (n_out) and their
 * gradients from the last backward. Any output may be NULL. Writable.
 * @return ESMM_OK, ESMM_EINVAL (l out of range). @since 1.0
 */
ESMM_API int esmm_mlp_layer(esmm_mlp *m, size_t l, float **w_out, float **b_out, float **grad_w_out,
                            float **grad_b_out, size_t *n_in_out, size_t *n_out_out);

ESMM_END_DECLS

#endif /* ESMM_MLP_H */
