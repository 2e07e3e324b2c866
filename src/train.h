/*
 * train.h (internal) - the training step: data-parallel inside one process.
 *
 * A batch of B rows is cut into S = ESMM_OPT_BATCH_SLICES slices of
 * ceil(B / S) consecutive rows, S fixed by the config and never by the
 * thread count. One step runs three parallel phases on the model's pool
 * (pool.h), each worker on scratch of its own:
 *   1. per slice (train_slice.c): pool the slice's rows (a common list once
 *      per run of rows sharing it; with the first-layer split, layer 0 takes
 *      it once per run too), both towers (and the imputation tower) forward,
 *      the loss of each row, backward: the slice's dense gradients into a
 *      buffer of its own, the input gradients into the step's gradient
 *      buffer at the slice's rows, and one scatter item per feature;
 *   2. per part p of W (W = the pool's workers): the sparse gradient of the
 *      embedding rows in part p, summed over the items in batch order; and
 *      the dense gradients of element range p, summed over the slices in
 *      slice order;
 *   3. per part p: the optimizer update of dense range p and of part p's
 *      embedding rows.
 * Every sum is formed in an order fixed by the batch and S alone, so a
 * model trained with any number of threads is bit-identical
 * (tests/check_threads.c). Between phases 2 and 3 the data-parallel hook
 * (dist.c) may replace the gradients by the replicas' reduction.
 *
 * Owns the training scratch: sized when a dataset is first trained on
 * (esmm__train_reserve), never per step; per-worker buffers are slice-sized.
 * Knows the dataset layout and the parts; nothing of files.
 */
#ifndef ESMM__TRAIN_H
#define ESMM__TRAIN_H

#include "embedding.h"
#include "loss.h"
#include "mlp.h"

struct esmm_model;

/* Choices a test makes about one step (production passes NULL = defaults):
 * split -1 never takes the first-layer split, 0 when it pays, 1 whenever a
 * slice qualifies; sg (ESCM2 variants) records or replays the stop-gradient
 * quantities of each batch row (loss.h, esmm__loss_sg), n rows. */
typedef struct esmm__step_opts {
  int split;
  esmm__loss_sg *sg;
} esmm__step_opts;

/* One worker's slice scratch (R = slice rows). */
typedef struct esmm__worker {
  float *x, *x2;               /* R x in_dim: tower inputs (x2: the second table's) */
  float *cp, *cp2;             /* pool_dim: the common list of the current run */
  float *lc, *lv, *lt;         /* R: logits of the CTR, second and imputation towers */
  float *gc, *gv, *gt;         /* R: the loss's gradients with respect to them */
  int64_t *run;                /* R: slice-local run of each row, -1 = no common list */
  float *cbat, *cbat2;         /* R x pool_dim: each run's common pooling (split) */
  float *flscr;                /* R x widest layer 0: the split's per-run scratch */
  esmm__mlp_ctx ctx[3];        /* passes of the CTR, second and imputation towers */
} esmm__worker;

/* What a slice reports back (loss sums in double, in row order). */
typedef struct esmm__slice_out {
  double l_ctr, l_ctcvr, l_cvr, l_total;
  int64_t clips;
  int finite; /* every logit gradient finite */
  int split;  /* took the first-layer split */
} esmm__slice_out;

typedef struct esmm__train {
  size_t n_slices, slice_rows, n_workers, n_parts;
  size_t n_towers;               /* 2, or 3 with an imputation tower */
  size_t tower_off[4];           /* offsets of each tower's gradients in a slice's block; [n_towers] = total */
  esmm__worker *wk;              /* n_workers */
  float *gd;                     /* n_slices x tower_off[n_towers]: each slice's dense gradients */
  float *grad, *grad2;           /* step gradient buffers: batch x in_dim input gradients, then the run
                                    sums of the common lists' (batch x pool_dim); grad2: second table */
  size_t gsum_off;               /* where the run sums start in grad (batch x in_dim) */
  esmm__feat *feat;              /* the step's scatter items: feat_off[s] .. feat_off[s+1] are slice s's */
  size_t *feat_off;              /* n_slices + 1 */
  size_t feat_cap;
  esmm__sparse_grad *sg, *sg2;   /* n_parts each: part p's embedding rows (sg2: second table) */
  esmm__slice_out *out;          /* n_slices */
  int *part_ok;                  /* n_parts: the part's gradients are finite */
  const void *reserved_for;      /* the dataset the item capacity was computed for */
  size_t reserved_nnz;           /* its largest row (own + common features) */
} esmm__train;

/* Create the trainer of m (scratch for slices and parts, not yet for any
 * dataset's features). Only ENOMEM can fail. */
int esmm__train_create(struct esmm_model *m);
void esmm__train_free(struct esmm_model *m);

/* Size the feature-dependent scratch for batches of ds (once per dataset). */
int esmm__train_reserve(struct esmm_model *m, const esmm_dataset *ds);

/* One step on rows idx[0..n) of ds (n <= batch): forward, loss, gradients,
 * the data-parallel hook, the update. On failure (ESMM_ENUMERIC: a loss or
 * gradient not finite, nothing applied; or an update that overflowed) the
 * message names func. Sets the model's loss statistics. */
int esmm__train_step(struct esmm_model *m, const esmm_dataset *ds, const size_t *idx, size_t n,
                     const char *func);

/* For tests of the whole model. esmm__train_loss: the weighted loss of rows
 * idx[0..n) without gradients or update. esmm__train_grads: the same plus
 * every gradient: the towers' in their own gradient blocks (esmm_mlp_layer),
 * the tables' merged into one sparse gradient each (esmm__train_sparse);
 * end them with esmm__train_end before the next step. */
int esmm__train_loss(struct esmm_model *m, const esmm_dataset *ds, const size_t *idx, size_t n,
                     const esmm__step_opts *o, double *loss);
int esmm__train_grads(struct esmm_model *m, const esmm_dataset *ds, const size_t *idx, size_t n,
                      const esmm__step_opts *o, double *loss);
void esmm__train_end(struct esmm_model *m);

/* The whole sparse gradient of table t (0, or 1 = the second table) after
 * phase 2, merged into part 0 (the data-parallel hook and tests read it
 * there), and room for at least n rows in it (dist.c's union of ranks). */
esmm__sparse_grad *esmm__train_sparse(struct esmm_model *m, int t);
int esmm__train_sparse_reserve(struct esmm_model *m, int t, size_t n);

/* Slices of the last step that took the first-layer split. */
size_t esmm__train_split_slices(const struct esmm_model *m);

/* Phase 1 on slice s (train_slice.c): pool, forward, loss, and (backward
 * != 0) backward, run sums and scatter items. Writes tr->out[s]. */
void esmm__train_slice(struct esmm_model *m, const esmm_dataset *ds, const size_t *idx, size_t n, size_t s,
                       size_t worker, const esmm__step_opts *o, int backward);

#endif /* ESMM__TRAIN_H */
