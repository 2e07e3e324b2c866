/*
 * esmm/optimizer.h - optimizer state as its own handle.
 *
 * An optimizer holds the state (Adam moments, Adagrad accumulators) of the
 * parameter blocks registered with it. Dense blocks are updated whole;
 * row blocks (embedding tables) are updated lazily, row by row: a row that
 * is not in the update keeps its weights and its state bit-identical
 * (LazyAdam: the moments of a row decay only when the row is updated; bias
 * correction uses the global step count).
 *
 * Update rules for gradient g (+ l2 * w when ESMM_OPT_L2 > 0), step t:
 *   SGD      w -= lr * g
 *   Adagrad  s += g^2;  w -= lr * g / (sqrt(s) + 1e-10), s starting at adagrad_init
 *   Adam     m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *            w -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 *
 * Thread safety: not thread-safe.
 */
#ifndef ESMM_OPTIMIZER_H
#define ESMM_OPTIMIZER_H

#include "common.h"
#include "config.h"

ESMM_BEGIN_DECLS

typedef struct esmm_optimizer esmm_optimizer;

/**
 * Create an optimizer from cfg's ESMM_OPT_OPTIMIZER, learning rate, Adam
 * and Adagrad parameters, L2 and allocator (NULL = defaults).
 * @return ESMM_OK, ESMM_EINVAL, ESMM_ENOMEM. @since 1.0
 */
ESMM_API int esmm_optimizer_new(esmm_optimizer **out, const esmm_config *cfg);

/** Free an optimizer; NULL is a no-op. @since 1.0 */
ESMM_API void esmm_optimizer_free(esmm_optimizer *opt);

/**
 * Register a parameter block of rows x cols floats and allocate its state.
 * @param[out] id_out  handle of the block for the update calls.
 * @return ESMM_OK, ESMM_EINVAL, ESMM_ENOMEM. @since 1.0
 */
ESMM_API int esmm_optimizer_add_block(esmm_optimizer *opt, size_t rows, size_t cols, int *id_out);

/**
 * Start a step: increments the step count t used by Adam's bias
 * correction. Call once per mini-batch before its updates.
 * @return ESMM_OK, ESMM_EINVAL. @since 1.0
 */
ESMM_API int esmm_optimizer_begin_step(esmm_optimizer *opt);

/**
 * Update a whole block: param and grad hold rows*cols floats.
 * @return ESMM_OK, ESMM_EINVAL (unknown block, NULL), ESMM_ESTATE (no step
 * begun). @since 1.0
 */
ESMM_API int esmm_optimizer_update_dense(esmm_optimizer *opt, int id, float *param, const float *grad);

/**
 * Update n_rows distinct rows of a block: rows[i] in [0, rows), grads is
 * n_rows x cols. param is the whole block. Other rows are not touched.
 * @return ESMM_OK, ESMM_EINVAL (unknown block, row out of range),
 * ESMM_ESTATE (no step begun). @since 1.0
 */
ESMM_API int esmm_optimizer_update_rows(esmm_optimizer *opt, int id, float *param, size_t n_rows,
                                        const int64_t *rows, const float *grads);

/** Steps begun so far. @return ESMM_OK, ESMM_EINVAL. @since 1.0 */
ESMM_API int esmm_optimizer_steps(const esmm_optimizer *opt, int64_t *out);

ESMM_END_DECLS

#endif /* ESMM_OPTIMIZER_H */
