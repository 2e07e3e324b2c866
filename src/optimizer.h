/*
 * optimizer.h (internal) - the layout of esmm_optimizer and the accessors
 * the model and the model-file/checkpoint code need. Owns the per-block
 * state (Adam moments, Adagrad accumulators) and the step count; the
 * parameters themselves belong to the caller (embedding tables, towers).
 * Knows nothing of models, layers or files: a block is rows x cols floats.
 */
#ifndef ESMM__OPTIMIZER_H
#define ESMM__OPTIMIZER_H

#include "internal.h"

/* Fixed so that registration never reallocates the block table and ids
 * stay plain indices; a model needs ~2 blocks per layer plus one table. */
#define ESMM__OPT_MAX_BLOCKS 64

/* Adagrad's denominator guard, fixed by the public documentation. */
#define ESMM__ADAGRAD_EPS 1e-10f

typedef struct esmm__opt_block {
  size_t rows, cols;
  size_t n;  /* rows * cols */
  float *s1; /* Adam m / Adagrad accumulator; NULL for SGD */
  float *s2; /* Adam v; NULL otherwise */
  /* Adam blocks of many rows (embedding tables): 1 for each row whose state
   * has been written, else NULL. The state arrays come zeroed from calloc
   * and stay unmapped until used, so a table's moments cost memory only
   * for rows a model updates; a row updated for the first time is first
   * written with zeros. Writing first matters: the update reads m and v,
   * and a first read would map the kernel's zero page, so the write after
   * it would take a copy-on-write fault and a TLB shootdown across the
   * training threads (measured: +1.4 ms per step at 2 threads, wide
   * towers, 1,000 steps). One byte per row, not a bit: parts of a step
   * update distinct rows concurrently. */
  unsigned char *touched;
} esmm__opt_block;

struct esmm_optimizer {
  esmm__allocator alloc;
  int kind; /* esmm_optimizer_kind */
  float lr, eps, l2, adagrad_init;
  float beta1, beta2;
  /* 1 - beta taken in double before rounding: 1 - 0.999f in float is off
   * by 1.3e-5 relative, which Adam's v would inherit. */
  float one_minus_beta1, one_minus_beta2;
  double beta1_d, beta2_d; /* the config's values, for the bias corrections */
  int64_t t; /* steps begun; 0 = no step yet, updates refused */
  /* Per-step constants, recomputed whenever t changes so the update loops
   * do no pow(). */
  float inv_bc1; /* 1 / (1 - beta1^t) */
  float inv_bc2; /* 1 / (1 - beta2^t) */
  int n_blocks;
  esmm__opt_block blocks[ESMM__OPT_MAX_BLOCKS];
};

/* Create an optimizer using cfg's options and allocator (NULL = defaults).
 * *out is NULL on failure. */
int esmm__optimizer_create(esmm_optimizer **out, const esmm_config *cfg);

/* Borrow a block's state arrays (which marks every row as written: the
 * caller may fill them, e.g. a checkpoint restore): *s1 and *s2 as in esmm__opt_block (NULL when
 * the kind has none), *n = rows * cols elements per non-NULL array. Any out
 * pointer may be NULL. Writing the arrays (checkpoint restore) is allowed.
 * Returns ESMM_OK or ESMM_EINVAL (NULL o, unknown id). */
int esmm__optimizer_state(esmm_optimizer *o, int id, float **s1, float **s2, size_t *n);

/* Shape of a registered block. Returns ESMM_OK or ESMM_EINVAL. */
int esmm__optimizer_block_shape(const esmm_optimizer *o, int id, size_t *rows, size_t *cols);

/* Restore the step count (checkpoint load) and the constants derived from
 * it; t < 0 is treated as 0. With t == 0 updates are refused until the
 * next begin_step, exactly as for a fresh optimizer. */
void esmm__optimizer_set_steps(esmm_optimizer *o, int64_t t);

/* Range updates, for the model's worker threads (model.c): the update of
 * a block split into contiguous, disjoint ranges run concurrently. Each
 * parameter is updated by exactly the operations esmm_optimizer_update_dense
 * / _rows apply to it, so any split gives bit-identical results.
 * esmm__optimizer_check validates an update as those functions do (known
 * block, step begun, rows[0..n_rows) in range; func names the caller in the
 * error); the range functions then check nothing, allocate nothing, cannot
 * fail, and only read the optimizer (thread-safe between disjoint ranges).
 * dense_range updates elements [lo, hi) of the block; rows_range updates
 * rows[lo..hi) with grads[lo*cols ..) (rows distinct across all ranges). */
int esmm__optimizer_check(const esmm_optimizer *o, int id, size_t n_rows, const int64_t *rows, const char *func);
void esmm__optimizer_dense_range(const esmm_optimizer *o, int id, float *param, const float *grad, size_t lo,
                                 size_t hi);
void esmm__optimizer_rows_range(const esmm_optimizer *o, int id, float *param, const int64_t *rows,
                                const float *grads, size_t lo, size_t hi);

#endif /* ESMM__OPTIMIZER_H */
