/*
 * infer.h (internal) - prediction: the layout of esmm_workspace and the
 * block step every prediction entry point shares (esmm_model_predict on
 * dataset rows, esmm_model_predict_csr on host rows, esmm_model_predict_user
 * on one user's candidate items, esmm_model_evaluate). A block of rows is
 * pooled exactly as the training step pools a slice (rows.h: each run's
 * common list once, the first-layer split when the block qualifies) and
 * mapped through the towers and the head on the caller's workspace, so
 * the same rows give the same bits whichever call scores them. Reads the
 * model, never writes it; allocates nothing when given a workspace.
 */
#ifndef ESMM__INFER_H
#define ESMM__INFER_H

#include "model.h"

/* Per-thread scratch of a model of one shape, for blocks of up to
 * max_batch rows. Pooled inputs: row k of a block is pooled from m->emb
 * into x + k*in_dim (numeric inputs after the pool_dim pooled floats) and,
 * when the model has a second table (n_tables == 2), from m->emb2 into
 * x2 + k*in_dim the same way. */
struct esmm_workspace {
  esmm__allocator alloc;
  size_t max_batch, in_dim, pool_dim, scratch_n, n_tables, l0_width;
  float *x, *x2;       /* max_batch x in_dim */
  float *lc, *lv;      /* max_batch logits */
  float *scratch;      /* tower inference scratch + the split's per-run layer-0 products */
  float *cpool, *cpool2; /* pool_dim: the common list of the current run */
  int64_t *run;        /* max_batch: run of each row of the block */
  float *cbat, *cbat2; /* max_batch x pool_dim: each run's common pooling (split) */
};

/* Towers and head on the n rows (n <= ws->max_batch) pooled into ws->x
 * (and ws->x2), through the first-layer split when sp is not NULL (the
 * second table's split reads sp2): pCTR, pCVR, pCTCVR (each may be NULL).
 * Product head: pCTR = s(ctr), pCVR = s(second), pCTCVR = pCTR pCVR (in
 * log space); division head: pCTCVR = s(second), pCVR = min(1, pCTCVR /
 * pCTR). Thread-safe on a const model with distinct workspaces. Returns
 * ESMM_OK, or ESMM_ENUMERIC when a logit is NaN (finite parameters or
 * inputs that overflow float); the outputs are then unspecified. */
int esmm__infer_pooled(const esmm_model *m, esmm_workspace *ws, size_t n, const esmm__mlp_split *sp,
                       const esmm__mlp_split *sp2, float *pctr, float *pcvr, float *pctcvr, const char *func);

/* Pool block b (b->n <= ws->max_batch rows) and score it: what every
 * entry point runs per block. */
int esmm__infer_block(const esmm_model *m, esmm_workspace *ws, const esmm__block *b, float *pctr, float *pcvr,
                      float *pctcvr, const char *func);

/* 1 when ws fits m (input width, table count, scratch at ws's batch size). */
int esmm__workspace_fits(const esmm_model *m, const esmm_workspace *ws);

#endif /* ESMM__INFER_H */
