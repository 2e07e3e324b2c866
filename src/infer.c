/* infer.c - prediction (infer.h): workspaces, the block step, and every
 * public prediction call.
 *
 *   esmm_model_predict      rows of a dataset, in blocks of the workspace's
 *                           size. With the host's workspace, on the calling
 *                           thread, allocating nothing (a serving host
 *                           scales with its own threads). Without one, a
 *                           request of several blocks is scored on the
 *                           model's threads when they are free (each thread
 *                           a block, on a workspace of its own, made once),
 *                           on the calling thread otherwise: the same bits
 *                           either way, since a block is scored the same
 *                           wherever it runs;
 *   esmm_model_evaluate     predictions of a whole dataset, then the metrics;
 *   esmm_model_predict_csr  rows from host memory (CSR arrays);
 *   esmm_model_predict_user one user x N candidate items: the items are a
 *                           block whose rows share the user as their common
 *                           list, so the user is pooled once and, through
 *                           the first-layer split, multiplied through layer
 *                           0 once: esmm_model_predict on a dataset holding
 *                           the same rows gives the same bits
 *                           (tests/check_serving.c).
 * Any number of host threads may predict on one const model at once, each
 * with its own workspace. */
#include "infer.h"

#include "dataset.h"
#include <esmm/head.h>

#include <math.h>
#include <string.h>

/* ---- workspaces ---------------------------------------------------------- */

static size_t first_width(const esmm_model *m) {
  size_t w = m->ctr->layer[0].n_out;
  return m->cvr->layer[0].n_out > w ? m->cvr->layer[0].n_out : w;
}

/* Floats of ws->scratch for blocks of n rows: the towers' inference
 * scratch, then the split's per-run layer-0 products (n runs at most). */
static size_t scratch_floats(const esmm_model *m, size_t n) {
  size_t sc = esmm__mlp_infer_scratch(m->ctr, n), sv = esmm__mlp_infer_scratch(m->cvr, n);
  return (sc > sv ? sc : sv) + n * first_width(m);
}

int esmm_workspace_new(esmm_workspace **out, const esmm_model *m, size_t max_batch) {
  esmm_workspace *ws;
  size_t bx, bp, pd, sn;
  int ok = 1;
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(m);
  if (max_batch == 0)
    max_batch = m->batch;
  pd = m->pool_dim ? m->pool_dim : 1;
  /* the scratch is the largest of these per-row widths times max_batch */
  if (!esmm__mul_ok(max_batch, m->in_dim, &bx) || !esmm__mul_ok(max_batch, pd, &bp) ||
      !esmm__mul_ok(max_batch, 2 * (esmm__mlp_widest_hidden(m->ctr) + esmm__mlp_widest_hidden(m->cvr)) +
                                   first_width(m) + 1, &sn))
    return ESMM__ERR(ESMM_EINVAL, "max_batch %zu is too large", max_batch);
  ws = esmm__calloc(&m->alloc, 1, sizeof *ws);
  if (!ws)
    return ESMM__ERR(ESMM_ENOMEM, "out of memory");
  ws->alloc = m->alloc;
  ws->max_batch = max_batch;
  ws->in_dim = m->in_dim;
  ws->pool_dim = m->pool_dim;
  ws->l0_width = first_width(m);
  ws->scratch_n = scratch_floats(m, max_batch);
  ws->n_tables = esmm__model_tables(m);
  ok &= (ws->x = esmm__alloc(&ws->alloc, bx * sizeof(float))) != NULL;
  ok &= (ws->lc = esmm__alloc(&ws->alloc, max_batch * sizeof(float))) != NULL;
  ok &= (ws->lv = esmm__alloc(&ws->alloc, max_batch * sizeof(float))) != NULL;
  ok &= (ws->scratch = esmm__alloc(&ws->alloc, (ws->scratch_n ? ws->scratch_n : 1) * sizeof(float))) != NULL;
  ok &= (ws->cpool = esmm__alloc(&ws->alloc, pd * sizeof(float))) != NULL;
  ok &= (ws->run = esmm__alloc(&ws->alloc, max_batch * sizeof(int64_t))) != NULL;
  ok &= (ws->cbat = esmm__alloc(&ws->alloc, bp * sizeof(float))) != NULL;
  if (ws->n_tables == 2) {
    ok &= (ws->x2 = esmm__alloc(&ws->alloc, bx * sizeof(float))) != NULL;
    ok &= (ws->cpool2 = esmm__alloc(&ws->alloc, pd * sizeof(float))) != NULL;
    ok &= (ws->cbat2 = esmm__alloc(&ws->alloc, bp * sizeof(float))) != NULL;
  }
  if (!ok) {
    esmm_workspace_free(ws);
    return ESMM__ERR(ESMM_ENOMEM, "out of memory for a workspace of %zu rows", max_batch);
  }
  *out = ws;
  return ESMM_OK;
}

void esmm_workspace_free(esmm_workspace *ws) {
  esmm__allocator a;
  if (!ws)
    return;
  a = ws->alloc;
  esmm__free(&a, ws->x);
  esmm__free(&a, ws->x2);
  esmm__free(&a, ws->lc);
  esmm__free(&a, ws->lv);
  esmm__free(&a, ws->scratch);
  esmm__free(&a, ws->cpool);
  esmm__free(&a, ws->cpool2);
  esmm__free(&a, ws->run);
  esmm__free(&a, ws->cbat);
  esmm__free(&a, ws->cbat2);
  esmm__free(&a, ws);
}

int esmm__workspace_fits(const esmm_model *m, const esmm_workspace *ws) {
  return ws->in_dim == m->in_dim && ws->pool_dim == m->pool_dim && ws->n_tables == esmm__model_tables(m) &&
         ws->l0_width >= first_width(m) && ws->scratch_n >= scratch_floats(m, ws->max_batch);
}

/* ---- the block step -------------------------------------------------------- */

int esmm__infer_pooled(const esmm_model *m, esmm_workspace *ws, size_t n, const esmm__mlp_split *sp,
                       const esmm__mlp_split *sp2, float *pctr, float *pcvr, float *pctcvr, const char *func) {
  esmm__mlp_infer(m->ctr, ws->x, n, ws->lc, ws->scratch, sp);
  esmm__mlp_infer(m->cvr, m->emb2 ? ws->x2 : ws->x, n, ws->lv, ws->scratch, sp2);
  /* finite but huge parameters or inputs can still overflow to NaN logits;
   * say so rather than return garbage (the head would leave outputs unset) */
  for (size_t i = 0; i < n; i++)
    if (isnan(ws->lc[i]) || isnan(ws->lv[i]))
      return esmm__error(ESMM_ENUMERIC, func, "row %zu of the batch: a logit is NaN (parameters or inputs overflow float)",
                         i);
  if (m->var->head == ESMM__HEAD_PRODUCT)
    return esmm_head_forward(ws->lc, ws->lv, n, pctr, pcvr, pctcvr);
  /* division head: pCVR = pCTCVR / pCTR in log space, clipped to 1 (a > b
   * means pCTCVR <= pCTR; the clip counts are ESMM_STAT_CVR_CLIPS and
   * esmm_diag's) */
  for (size_t i = 0; i < n; i++) {
    double la = esmm__log_sigmoid(ws->lc[i]), lt = esmm__log_sigmoid(ws->lv[i]), lr = lt - la;
    if (pctr)
      pctr[i] = (float)exp(la);
    if (pctcvr)
      pctcvr[i] = (float)exp(lt);
    if (pcvr)
      pcvr[i] = (float)exp(lr < 0.0 ? lr : 0.0);
  }
  return ESMM_OK;
}

/* Pool row k of the block into ws->x (and ws->x2): with the split, its
 * own features alone; else its own plus its run's common pooling. */
static void pool_block(const esmm_model *m, esmm_workspace *ws, const esmm__block *b, int split) {
  size_t pd = m->pool_dim;
  for (size_t k = 0; k < b->n; k++) {
    esmm__flist own;
    int64_t c, run = ws->run[k];
    const float *dense, *cp = NULL, *cp2 = NULL;
    b->row(b->ctx, k, &own, &c, &dense);
    if (c >= 0 && (k == 0 || ws->run[k - 1] != run)) {
      esmm__flist l;
      b->common(b->ctx, c, &l);
      esmm__rows_pool_list(m->emb, pd, &l, split ? ws->cbat + (size_t)run * pd : ws->cpool);
      if (m->emb2)
        esmm__rows_pool_list(m->emb2, pd, &l, split ? ws->cbat2 + (size_t)run * pd : ws->cpool2);
    }
    if (c >= 0 && !split) {
      cp = ws->cpool;
      cp2 = ws->cpool2;
    }
    esmm__rows_pool(m->emb, pd, m->n_dense, ws->x + k * m->in_dim, &own, cp, dense);
    if (m->emb2)
      esmm__rows_pool(m->emb2, pd, m->n_dense, ws->x2 + k * m->in_dim, &own, cp2, dense);
  }
}

static esmm__mlp_split ws_split_of(const esmm_model *m, esmm_workspace *ws, size_t ulo, size_t uhi, size_t runs,
                                   const float *cbat) {
  /* after the towers' own scratch (esmm__mlp_infer uses the front) */
  esmm__mlp_split sp = {.lo = ulo, .hi = uhi, .c = cbat, .ldc = m->pool_dim, .n_runs = runs, .run = ws->run,
                        .scratch = ws->scratch + (ws->scratch_n - ws->max_batch * ws->l0_width)};
  return sp;
}

int esmm__infer_block(const esmm_model *m, esmm_workspace *ws, const esmm__block *b, float *pctr, float *pcvr,
                      float *pctcvr, const char *func) {
  size_t with, runs, ulo = 0, uhi = 0;
  int split;
  esmm__mlp_split sp, sp2;
  runs = esmm__rows_runs(b, ws->run, &with);
  split = esmm__rows_split(b, ws->run, runs, with, m->dim, m->pool_dim, 0, &ulo, &uhi);
  pool_block(m, ws, b, split);
  if (!split)
    return esmm__infer_pooled(m, ws, b->n, NULL, NULL, pctr, pcvr, pctcvr, func);
  sp = ws_split_of(m, ws, ulo, uhi, runs, ws->cbat);
  sp2 = ws_split_of(m, ws, ulo, uhi, runs, m->emb2 ? ws->cbat2 : ws->cbat);
  return esmm__infer_pooled(m, ws, b->n, &sp, &sp2, pctr, pcvr, pctcvr, func);
}

/* ---- the pool's workspaces ------------------------------------------------ */

/* Workspaces of the pool's threads 1.., for requests of several blocks. Made
 * on the first such request (and again if a request's block size differs),
 * only while the pool is held, so no two threads touch them at once. */
struct esmm__infer_shared {
  size_t n, max_batch;
  esmm_workspace *ws[];
};

void esmm__infer_shared_free(esmm_model *m) {
  if (!m->inf)
    return;
  for (size_t k = 0; k < m->inf->n; k++)
    esmm_workspace_free(m->inf->ws[k]);
  esmm__free(&m->alloc, m->inf);
  m->inf = NULL;
}

static int shared_ready(const esmm_model *cm, size_t max_batch) {
  esmm_model *m = (esmm_model *)cm; /* the shared scratch is not part of the model's value */
  size_t n = m->n_workers;
  if (m->inf && m->inf->max_batch == max_batch)
    return ESMM_OK;
  esmm__infer_shared_free(m);
  m->inf = esmm__calloc(&m->alloc, 1, sizeof *m->inf + n * sizeof m->inf->ws[0]);
  if (!m->inf)
    return ESMM_ENOMEM;
  m->inf->n = n;
  m->inf->max_batch = max_batch;
  for (size_t k = 1; k < n; k++)
    if (esmm_workspace_new(&m->inf->ws[k], m, max_batch) != ESMM_OK) {
      esmm__infer_shared_free(m);
      return ESMM_ENOMEM;
    }
  return ESMM_OK;
}

/* ---- esmm_model_predict, esmm_model_evaluate --------------------------------- */

typedef struct predict_job {
  const esmm_model *m;
  esmm_workspace *ws; /* the caller's: thread 0 */
  const esmm_dataset *ds;
  size_t first, n, block;
  float *pctr, *pcvr, *pctcvr;
  int *rc; /* per block */
} predict_job;

static int predict_range(const esmm_model *m, esmm_workspace *ws, const esmm_dataset *ds, size_t first, size_t n,
                         float *pctr, float *pcvr, float *pctcvr) {
  esmm__block b;
  esmm__ds_rows src;
  esmm__ds_block(&b, &src, ds, NULL, first, n);
  return esmm__infer_block(m, ws, &b, pctr, pcvr, pctcvr, "esmm_model_predict");
}

static void predict_task(void *ctx, size_t t, size_t worker) {
  const predict_job *j = ctx;
  size_t at = t * j->block, k = j->n - at < j->block ? j->n - at : j->block;
  esmm_workspace *ws = worker == 0 ? j->ws : j->m->inf->ws[worker];
  j->rc[t] = predict_range(j->m, ws, j->ds, j->first + at, k, j->pctr ? j->pctr + at : NULL,
                           j->pcvr ? j->pcvr + at : NULL, j->pctcvr ? j->pctcvr + at : NULL);
}

static int predict_serial(const esmm_model *m, esmm_workspace *ws, const esmm_dataset *ds, size_t first, size_t n,
                          float *pctr, float *pcvr, float *pctcvr) {
  int rc = ESMM_OK;
  for (size_t done = 0; done < n && rc == ESMM_OK; done += ws->max_batch) {
    size_t k = n - done < ws->max_batch ? n - done : ws->max_batch;
    rc = predict_range(m, ws, ds, first + done, k, pctr ? pctr + done : NULL, pcvr ? pcvr + done : NULL,
                       pctcvr ? pctcvr + done : NULL);
  }
  return rc;
}

/* Blocks of ws->max_batch rows from first, on the model's threads: the
 * caller's workspace is thread 0's, the others' are the model's shared
 * ones. A block that fails is scored again on the calling thread, so that
 * its message is this thread's last error. Returns ESMM_EBUFS when the
 * pool or the memory is not available (the caller then scores serially). */
static int predict_parallel(const esmm_model *m, esmm_workspace *ws, const esmm_dataset *ds, size_t first,
                            size_t n, float *pctr, float *pcvr, float *pctcvr) {
  size_t B = ws->max_batch, nb = (n + B - 1) / B;
  int *brc;
  int rc = ESMM_OK;
  if (!esmm__pool_try_acquire(m->pool))
    return ESMM_EBUFS;
  brc = esmm__alloc(&m->alloc, nb * sizeof *brc);
  if (!brc || shared_ready(m, B) != ESMM_OK) {
    esmm__pool_release(m->pool);
    esmm__free(&m->alloc, brc);
    return ESMM_EBUFS;
  }
  {
    predict_job j = {m, ws, ds, first, n, B, pctr, pcvr, pctcvr, brc};
    esmm__pool_run(m->pool, nb, predict_task, &j);
  }
  esmm__pool_release(m->pool);
  for (size_t t = 0; t < nb && rc == ESMM_OK; t++)
    if (brc[t] != ESMM_OK) {
      size_t at = t * B, k = n - at < B ? n - at : B;
      rc = predict_range(m, ws, ds, first + at, k, pctr ? pctr + at : NULL, pcvr ? pcvr + at : NULL,
                         pctcvr ? pctcvr + at : NULL);
      if (rc == ESMM_OK) /* cannot happen: a block scores the same anywhere */
        rc = brc[t];
    }
  esmm__free(&m->alloc, brc);
  return rc;
}

int esmm_model_predict(const esmm_model *m, esmm_workspace *ws, const esmm_dataset *ds, size_t first, size_t n,
                       float *pctr, float *pcvr, float *pctcvr) {
  esmm_workspace *own = NULL;
  int rc;
  ESMM__CHECK_ARG(m && ds);
  if (first > ds->n_rows || n > ds->n_rows - first)
    return ESMM__ERR(ESMM_EINVAL, "rows [%zu, %zu) are outside the dataset's %zu rows", first, first + n,
                     ds->n_rows);
  ESMM__TRY(esmm__model_check_dataset(m, ds, __func__));
  if (n == 0)
    return ESMM_OK;
  if (ws) {
    /* the host's workspace: the host's thread, no allocation */
    if (!esmm__workspace_fits(m, ws))
      return ESMM__ERR(ESMM_ESHAPE, "the workspace was made for another model shape");
    return predict_serial(m, ws, ds, first, n, pctr, pcvr, pctcvr);
  }
  ESMM__TRY(esmm_workspace_new(&own, m, n < m->batch ? n : m->batch));
  rc = ESMM_EBUFS;
  if (n > own->max_batch && m->n_workers > 1)
    rc = predict_parallel(m, own, ds, first, n, pctr, pcvr, pctcvr);
  if (rc == ESMM_EBUFS)
    rc = predict_serial(m, own, ds, first, n, pctr, pcvr, pctcvr);
  esmm_workspace_free(own);
  return rc;
}

int esmm_model_evaluate(const esmm_model *m, const esmm_dataset *ds, double *out, size_t n_out) {
  size_t n;
  float *p;
  int rc;
  ESMM__CHECK_ARG(m && ds && out);
  n = ds->n_rows;
  p = esmm__calloc(&m->alloc, 3 * (n ? n : 1), sizeof *p);
  if (!p)
    return ESMM__ERR(ESMM_ENOMEM, "out of memory for %zu predictions", n);
  rc = esmm_model_predict(m, NULL, ds, 0, n, p, p + n, p + 2 * n);
  if (rc == ESMM_OK)
    rc = esmm_metrics_compute(p, p + n, p + 2 * n, ds->click, ds->conv, n, out, n_out);
  esmm__free(&m->alloc, p);
  return rc;
}

/* ---- host memory: CSR rows, one user x many items ---------------------------- */

static int check_features(size_t n_fields, size_t nnz, const int *field, const float *value, const char *what,
                          const char *func) {
  for (size_t k = 0; k < nnz; k++) {
    if (field[k] < 0 || (size_t)field[k] >= n_fields)
      return esmm__error(ESMM_EINVAL, func, "%s: feature %zu has field index %d, the model has %zu fields", what,
                         k, field[k], n_fields);
    if (value && !isfinite(value[k]))
      return esmm__error(ESMM_ENUMERIC, func, "%s: feature %zu has a non-finite value", what, k);
  }
  return ESMM_OK;
}

/* Numeric inputs: the model's n_dense per row, or none. */
static int check_dense(const esmm_model *m, const float *dense, size_t n, const char *func) {
  size_t total;
  if (m->n_dense == 0)
    return ESMM_OK;
  if (!dense)
    return esmm__error(ESMM_EINVAL, func, "the model takes %zu numeric inputs per row; dense must not be NULL",
                       m->n_dense);
  if (!esmm__mul_ok(n, m->n_dense, &total))
    return esmm__error(ESMM_EINVAL, func, "%zu rows x %zu numeric inputs overflows", n, m->n_dense);
  for (size_t k = 0; k < total; k++)
    if (!isfinite(dense[k]))
      return esmm__error(ESMM_ENUMERIC, func, "numeric input %zu of row %zu is not finite", k % m->n_dense,
                         k / m->n_dense);
  return ESMM_OK;
}

static int check_offsets(const int64_t *off, size_t n, const char *name, const char *func) {
  if (off[0] != 0)
    return esmm__error(ESMM_EINVAL, func, "%s[0] must be 0, got %lld", name, (long long)off[0]);
  for (size_t i = 0; i < n; i++)
    if (off[i + 1] < off[i])
      return esmm__error(ESMM_EINVAL, func, "%s decrease at %zu (%lld after %lld)", name, i, (long long)off[i + 1],
                         (long long)off[i]);
  return ESMM_OK;
}

/* Host rows as a block: rows [at, at + n) of CSR arrays; with a user list,
 * every row has it as common list 0. */
typedef struct host_rows {
  size_t at, n_dense;
  const int64_t *off;
  const int *field;
  const uint64_t *id;
  const float *value, *dense;
  const esmm__flist *user; /* NULL: no common list */
} host_rows;

static void host_row(const void *ctx, size_t k, esmm__flist *own, int64_t *common, const float **dense) {
  const host_rows *h = ctx;
  size_t r = h->at + k, lo = (size_t)h->off[r];
  own->nnz = (size_t)(h->off[r + 1] - h->off[r]);
  own->field = h->field + lo;
  own->id = h->id + lo;
  own->value = h->value ? h->value + lo : NULL;
  *common = h->user ? 0 : -1;
  *dense = h->n_dense ? h->dense + r * h->n_dense : NULL;
}

static void host_common(const void *ctx, int64_t c, esmm__flist *l) {
  (void)c;
  *l = *((const host_rows *)ctx)->user;
}

static int workspace_for(const esmm_model *m, esmm_workspace **ws, esmm_workspace **own, size_t want,
                         const char *func) {
  *own = NULL;
  if (*ws) {
    if (!esmm__workspace_fits(m, *ws))
      return esmm__error(ESMM_ESHAPE, func, "the workspace was made for another model shape");
    return ESMM_OK;
  }
  ESMM__TRY(esmm_workspace_new(own, m, want));
  *ws = *own;
  return ESMM_OK;
}

static int score_host(const esmm_model *m, esmm_workspace *ws, host_rows *h, size_t n, float *pctr, float *pcvr,
                      float *pctcvr, const char *func) {
  esmm__block b = {0, host_row, host_common, h};
  int rc = ESMM_OK;
  for (size_t done = 0; done < n && rc == ESMM_OK; done += ws->max_batch) {
    b.n = n - done < ws->max_batch ? n - done : ws->max_batch;
    h->at = done;
    rc = esmm__infer_block(m, ws, &b, pctr ? pctr + done : NULL, pcvr ? pcvr + done : NULL,
                           pctcvr ? pctcvr + done : NULL, func);
  }
  return rc;
}

int esmm_model_predict_csr(const esmm_model *m, esmm_workspace *ws, size_t n, const int64_t *offsets,
                           const int *field, const uint64_t *id, const float *value, const float *dense,
                           float *pctr, float *pcvr, float *pctcvr) {
  esmm_workspace *own;
  host_rows h;
  size_t nnz;
  int rc;
  ESMM__CHECK_ARG(m);
  ESMM__CHECK_ARG(offsets);
  ESMM__TRY(check_offsets(offsets, n, "offsets", __func__));
  nnz = (size_t)offsets[n];
  if (nnz > 0 && (!field || !id))
    return ESMM__ERR(ESMM_EINVAL, "invalid argument: field and id must not be NULL when rows have features");
  ESMM__TRY(check_features(m->n_fields, nnz, field, value, "rows", __func__));
  ESMM__TRY(check_dense(m, dense, n, __func__));
  if (n == 0)
    return ESMM_OK;
  ESMM__TRY(workspace_for(m, &ws, &own, n < m->batch ? n : m->batch, __func__));
  h = (host_rows){0, m->n_dense, offsets, field, id, value, dense, NULL};
  rc = score_host(m, ws, &h, n, pctr, pcvr, pctcvr, __func__);
  esmm_workspace_free(own);
  return rc;
}

int esmm_model_predict_user(const esmm_model *m, esmm_workspace *ws, size_t user_nnz, const int *user_field,
                            const uint64_t *user_id, const float *user_value, size_t n_items,
                            const int64_t *item_offsets, const int *item_field, const uint64_t *item_id,
                            const float *item_value, const float *item_dense, float *pctr, float *pcvr,
                            float *pctcvr) {
  esmm_workspace *own;
  esmm__flist user = {user_nnz, user_field, user_id, user_value};
  host_rows h;
  size_t nnz;
  int rc;
  ESMM__CHECK_ARG(m);
  ESMM__CHECK_ARG(item_offsets);
  ESMM__CHECK_ARG(user_nnz == 0 || (user_field && user_id));
  ESMM__TRY(check_features(m->n_fields, user_nnz, user_field, user_value, "user features", __func__));
  ESMM__TRY(check_offsets(item_offsets, n_items, "item_offsets", __func__));
  nnz = (size_t)item_offsets[n_items];
  if (nnz > 0 && (!item_field || !item_id))
    return ESMM__ERR(ESMM_EINVAL,
                     "invalid argument: item_field and item_id must not be NULL when items have features");
  ESMM__TRY(check_features(m->n_fields, nnz, item_field, item_value, "item features", __func__));
  ESMM__TRY(check_dense(m, item_dense, n_items, __func__));
  if (n_items == 0)
    return ESMM_OK;
  ESMM__TRY(workspace_for(m, &ws, &own, n_items < m->batch ? n_items : m->batch, __func__));
  h = (host_rows){0, m->n_dense, item_offsets, item_field, item_id, item_value, item_dense, &user};
  rc = score_host(m, ws, &h, n_items, pctr, pcvr, pctcvr, __func__);
  esmm_workspace_free(own);
  return rc;
}
