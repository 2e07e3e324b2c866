/* train.c - the data-parallel training step (train.h): its scratch, the
 * three parallel phases and what runs between them. Phase 1 (one slice of
 * the batch per task) is train_slice.c. */
#include "model.h"

#include "config.h"
#include "dataset.h"
#include "optimizer.h"

#include <math.h>
#include <string.h>

size_t esmm__train_slice_items(const esmm_dataset *ds, const size_t *idx, size_t lo, size_t hi);

/* ---- scratch ------------------------------------------------------------- */

static size_t widest_first_layer(const esmm_model *m) {
  size_t w = m->ctr->layer[0].n_out;
  if (m->cvr->layer[0].n_out > w)
    w = m->cvr->layer[0].n_out;
  if (m->imp && m->imp->layer[0].n_out > w)
    w = m->imp->layer[0].n_out;
  return w;
}

static void worker_free(esmm_model *m, esmm__worker *wk) {
  const esmm__allocator *a = &m->alloc;
  float *f[] = {wk->x, wk->x2, wk->cp, wk->cp2, wk->lc, wk->lv, wk->lt, wk->gc, wk->gv, wk->gt, wk->cbat, wk->cbat2,
                wk->flscr};
  for (size_t k = 0; k < sizeof f / sizeof f[0]; k++)
    esmm__free(a, f[k]);
  esmm__free(a, wk->run);
  for (int k = 0; k < 3; k++)
    esmm__mlp_ctx_free(&wk->ctx[k], a);
}

/* Slice-sized scratch of one worker (R rows). */
static int worker_init(esmm_model *m, esmm__worker *wk, size_t R) {
  const esmm__allocator *a = &m->alloc;
  size_t pd = m->pool_dim ? m->pool_dim : 1, two = m->emb2 != NULL;
  int ok = 1;
  ok &= (wk->x = esmm__calloc(a, R, m->in_dim * sizeof(float))) != NULL;
  ok &= (wk->cp = esmm__calloc(a, pd, sizeof(float))) != NULL;
  ok &= (wk->cbat = esmm__calloc(a, R, pd * sizeof(float))) != NULL;
  if (two) {
    ok &= (wk->x2 = esmm__calloc(a, R, m->in_dim * sizeof(float))) != NULL;
    ok &= (wk->cp2 = esmm__calloc(a, pd, sizeof(float))) != NULL;
    ok &= (wk->cbat2 = esmm__calloc(a, R, pd * sizeof(float))) != NULL;
  }
  ok &= (wk->lc = esmm__calloc(a, R, sizeof(float))) != NULL;
  ok &= (wk->lv = esmm__calloc(a, R, sizeof(float))) != NULL;
  ok &= (wk->lt = esmm__calloc(a, R, sizeof(float))) != NULL;
  ok &= (wk->gc = esmm__calloc(a, R, sizeof(float))) != NULL;
  ok &= (wk->gv = esmm__calloc(a, R, sizeof(float))) != NULL;
  ok &= (wk->gt = esmm__calloc(a, R, sizeof(float))) != NULL;
  ok &= (wk->run = esmm__calloc(a, R, sizeof(int64_t))) != NULL;
  ok &= (wk->flscr = esmm__calloc(a, R, widest_first_layer(m) * sizeof(float))) != NULL;
  if (!ok)
    return ESMM__ERR(ESMM_ENOMEM, "out of memory for a training worker (%zu rows)", R);
  ESMM__TRY(esmm__mlp_ctx_init(&wk->ctx[0], m->ctr, a, R));
  ESMM__TRY(esmm__mlp_ctx_init(&wk->ctx[1], m->cvr, a, R));
  if (m->imp)
    ESMM__TRY(esmm__mlp_ctx_init(&wk->ctx[2], m->imp, a, R));
  return ESMM_OK;
}

int esmm__train_create(esmm_model *m) {
  esmm__train *tr = &m->tr;
  const esmm__allocator *a = &m->alloc;
  esmm_mlp *t[3];
  size_t S = (size_t)esmm__config_int(m->cfg, ESMM_OPT_BATCH_SLICES), R, P, gs, bx, bp;
  memset(tr, 0, sizeof *tr);
  if (S == 0)
    S = esmm__cpu_count();
  if (S > m->batch)
    S = m->batch;
  R = (m->batch + S - 1) / S;
  tr->n_slices = S;
  tr->slice_rows = R;
  tr->n_workers = esmm__pool_workers(m->pool);
  tr->n_parts = tr->n_workers;
  tr->n_towers = esmm__model_towers(m, t);
  for (size_t k = 0; k < tr->n_towers; k++)
    tr->tower_off[k + 1] = tr->tower_off[k] + esmm__mlp_param_count(t[k]);
  P = tr->tower_off[tr->n_towers];
  /* the step's gradient buffer: input gradients (batch x in_dim), then run
   * sums (batch x pool_dim); scatter items address it with 32 bits */
  if (!esmm__mul_ok(m->batch, m->in_dim, &bx) || !esmm__mul_ok(m->batch, m->pool_dim, &bp) || bx + bp < bx ||
      bx + bp > (size_t)UINT32_MAX)
    return ESMM__ERR(ESMM_EINVAL, "batch_size %zu x tower input %zu is too large for a training step (2^32 floats)",
                     m->batch, m->in_dim);
  tr->gsum_off = bx;
  gs = bx + bp;
  if (!esmm__mul_ok(S, P, &P))
    return ESMM__ERR(ESMM_ENOMEM, "per-slice gradients overflow");
  tr->gd = esmm__alloc(a, P * sizeof(float));
  tr->grad = esmm__calloc(a, gs, sizeof(float));
  if (m->emb2)
    tr->grad2 = esmm__calloc(a, gs, sizeof(float));
  tr->feat_off = esmm__calloc(a, S + 1, sizeof *tr->feat_off);
  tr->out = esmm__calloc(a, S, sizeof *tr->out);
  tr->wk = esmm__calloc(a, tr->n_workers, sizeof *tr->wk);
  tr->sg = esmm__calloc(a, tr->n_parts, sizeof *tr->sg);
  tr->sg2 = esmm__calloc(a, tr->n_parts, sizeof *tr->sg2);
  tr->part_ok = esmm__calloc(a, tr->n_parts, sizeof *tr->part_ok);
  if (!tr->gd || !tr->grad || (m->emb2 && !tr->grad2) || !tr->feat_off || !tr->out || !tr->wk || !tr->sg ||
      !tr->sg2 || !tr->part_ok)
    return ESMM__ERR(ESMM_ENOMEM, "out of memory for the training scratch (batch %zu)", m->batch);
  for (size_t w = 0; w < tr->n_workers; w++)
    ESMM__TRY(worker_init(m, &tr->wk[w], R));
  return ESMM_OK;
}

static void sg_free(const esmm__allocator *a, esmm__sparse_grad *sg) {
  esmm__free(a, sg->rows);
  esmm__free(a, sg->g);
  memset(sg, 0, sizeof *sg);
}

void esmm__train_free(esmm_model *m) {
  esmm__train *tr = &m->tr;
  const esmm__allocator *a = &m->alloc;
  if (tr->wk)
    for (size_t w = 0; w < tr->n_workers; w++)
      worker_free(m, &tr->wk[w]);
  for (size_t p = 0; p < tr->n_parts; p++) {
    if (tr->sg)
      sg_free(a, &tr->sg[p]);
    if (tr->sg2)
      sg_free(a, &tr->sg2[p]);
  }
  esmm__free(a, tr->wk);
  esmm__free(a, tr->sg);
  esmm__free(a, tr->sg2);
  esmm__free(a, tr->gd);
  esmm__free(a, tr->grad);
  esmm__free(a, tr->grad2);
  esmm__free(a, tr->feat);
  esmm__free(a, tr->feat_off);
  esmm__free(a, tr->out);
  esmm__free(a, tr->part_ok);
  memset(tr, 0, sizeof *tr);
}

/* A sparse gradient of cap rows (the memory is touched only as rows are
 * claimed, so unused capacity costs address space, not RAM). */
static int sg_reserve(esmm_model *m, esmm__sparse_grad *sg, size_t cap) {
  size_t ng;
  int64_t *rows;
  float *g;
  if (cap <= sg->cap && sg->rows)
    return ESMM_OK;
  if (cap == 0)
    cap = 1;
  if (!esmm__mul_ok(cap, m->dim * sizeof(float), &ng) || cap > SIZE_MAX / sizeof *rows)
    return ESMM__ERR(ESMM_ENOMEM, "sparse gradient size overflows");
  rows = esmm__alloc(&m->alloc, cap * sizeof *rows);
  g = esmm__alloc(&m->alloc, ng);
  if (!rows || !g) {
    esmm__free(&m->alloc, rows);
    esmm__free(&m->alloc, g);
    return ESMM__ERR(ESMM_ENOMEM, "out of memory for a sparse gradient of %zu rows", cap);
  }
  sg_free(&m->alloc, sg);
  sg->rows = rows;
  sg->g = g;
  sg->cap = cap;
  return ESMM_OK;
}

int esmm__train_reserve(esmm_model *m, const esmm_dataset *ds) {
  esmm__train *tr = &m->tr;
  size_t need = esmm__dataset_max_row_nnz(ds), rows;
  ESMM__TRY(esmm__loss_check_dataset(&m->lcfg, ds, "training"));
  if (tr->reserved_for == ds && tr->reserved_nnz == need)
    return ESMM_OK;
  if (!esmm__mul_ok(need, m->batch, &need) || need > SIZE_MAX / sizeof *tr->feat)
    return ESMM__ERR(ESMM_ENOMEM, "scatter items of a batch overflow");
  if (need > tr->feat_cap || !tr->feat) {
    esmm__feat *f = esmm__alloc(&m->alloc, (need ? need : 1) * sizeof *f);
    if (!f)
      return ESMM__ERR(ESMM_ENOMEM, "out of memory for %zu scatter items", need);
    esmm__free(&m->alloc, tr->feat);
    tr->feat = f;
    tr->feat_cap = need;
  }
  /* any part may hold every distinct row of a batch */
  rows = need < m->emb->rows ? need : m->emb->rows;
  for (size_t p = 0; p < tr->n_parts; p++) {
    ESMM__TRY(sg_reserve(m, &tr->sg[p], rows));
    if (m->emb2)
      ESMM__TRY(sg_reserve(m, &tr->sg2[p], rows));
  }
  tr->reserved_for = ds;
  tr->reserved_nnz = esmm__dataset_max_row_nnz(ds);
  return ESMM_OK;
}

int esmm__train_sparse_reserve(esmm_model *m, int t, size_t n) {
  esmm_embedding *e = t ? m->emb2 : m->emb;
  esmm__sparse_grad *sg = t ? &m->tr.sg2[0] : &m->tr.sg[0];
  if (n > e->rows)
    n = e->rows;
  return sg_reserve(m, sg, n);
}

size_t esmm__train_split_slices(const esmm_model *m) {
  size_t k = 0;
  for (size_t s = 0; s < m->tr.n_slices; s++)
    k += m->tr.out && m->tr.out[s].split;
  return k;
}

/* ---- running phases ------------------------------------------------------ */

typedef struct step_job {
  esmm_model *m;
  const esmm_dataset *ds;
  const size_t *idx;
  size_t n;
  const esmm__step_opts *o;
  int backward;
} step_job;

/* Run a phase on the pool when this step holds it, else on this thread. */
static void run_phase(esmm_model *m, int held, size_t n_tasks, esmm__pool_fn fn, void *ctx) {
  if (held) {
    esmm__pool_run(m->pool, n_tasks, fn, ctx);
    return;
  }
  for (size_t t = 0; t < n_tasks; t++)
    fn(ctx, t, 0);
}

static void phase_slices(void *ctx, size_t s, size_t worker) {
  const step_job *j = ctx;
  esmm__train_slice(j->m, j->ds, j->idx, j->n, s, worker, j->o, j->backward);
}

/* Phase 2, part p: the embedding rows of part p, and the dense gradients
 * of element range p summed over the slices in slice order. */
ESMM__HOT static void sum_slices(esmm_model *m, size_t n, float *dst, size_t at, size_t len) {
  const esmm__train *tr = &m->tr;
  size_t P = tr->tower_off[tr->n_towers], S = tr->n_slices, r = (n + S - 1) / S;
  size_t used = (n + r - 1) / r; /* slices with rows */
  const float *src = tr->gd + at;
  enum { CHUNK = 2048 }; /* stays in L1 while the slices are added */
  for (size_t c = 0; c < len; c += CHUNK) {
    size_t k = len - c < CHUNK ? len - c : CHUNK;
    memcpy(dst + c, src + c, k * sizeof *dst);
    for (size_t s = 1; s < used; s++) {
      const float *restrict g = src + s * P + c;
      float *restrict d = dst + c;
      for (size_t e = 0; e < k; e++)
        d[e] += g[e];
    }
  }
}

static void phase_parts(void *ctx, size_t p, size_t worker) {
  const step_job *j = ctx;
  esmm_model *m = j->m;
  esmm__train *tr = &m->tr;
  size_t nf = tr->feat_off[tr->n_slices], lo, hi;
  esmm_mlp *t[3];
  int ok = 1;
  (void)worker;
  ok &= esmm__embedding_scatter_part(m->emb, tr->feat, nf, tr->grad, p, tr->n_parts, &tr->sg[p]) == ESMM_OK;
  ok &= esmm__all_finite(tr->sg[p].g, tr->sg[p].n * m->dim);
  if (m->emb2) {
    ok &= esmm__embedding_scatter_part(m->emb2, tr->feat, nf, tr->grad2, p, tr->n_parts, &tr->sg2[p]) == ESMM_OK;
    ok &= esmm__all_finite(tr->sg2[p].g, tr->sg2[p].n * m->dim);
  }
  esmm__split_range(tr->tower_off[tr->n_towers], p, tr->n_parts, &lo, &hi);
  esmm__model_towers(m, t);
  for (size_t k = 0; k < tr->n_towers; k++) {
    size_t a = lo > tr->tower_off[k] ? lo : tr->tower_off[k];
    size_t b = hi < tr->tower_off[k + 1] ? hi : tr->tower_off[k + 1];
    if (a >= b)
      continue;
    sum_slices(m, j->n, t[k]->grad + (a - tr->tower_off[k]), a, b - a);
    ok &= esmm__all_finite(t[k]->grad + (a - tr->tower_off[k]), b - a);
  }
  tr->part_ok[p] = ok;
}

/* Phase 3, part p: the update of dense range p of every block and of part
 * p's embedding rows, then a check that nothing overflowed, and the end of
 * part p's scatter. */
static int update_tower(const esmm_model *m, esmm_mlp *t, const int *blk, size_t p, size_t np) {
  int ok = 1;
  for (size_t l = 0; l < t->n_layers; l++) {
    esmm__layer *ly = &t->layer[l];
    size_t lo, hi;
    esmm__split_range(ly->n_in * ly->n_out, p, np, &lo, &hi);
    esmm__optimizer_dense_range(m->opt, blk[2 * l], ly->w, ly->gw, lo, hi);
    ok &= esmm__all_finite(ly->w + lo, hi - lo);
    esmm__split_range(ly->n_out, p, np, &lo, &hi);
    esmm__optimizer_dense_range(m->opt, blk[2 * l + 1], ly->b, ly->gb, lo, hi);
    ok &= esmm__all_finite(ly->b + lo, hi - lo);
  }
  return ok;
}

static int update_rows(const esmm_model *m, esmm_embedding *e, int blk, esmm__sparse_grad *sg) {
  int ok = 1;
  esmm__optimizer_rows_range(m->opt, blk, e->w, sg->rows, sg->g, 0, sg->n);
  for (size_t r = 0; r < sg->n && ok; r++)
    ok = esmm__all_finite(e->w + (size_t)sg->rows[r] * m->dim, m->dim);
  esmm__embedding_scatter_end(e, sg);
  return ok;
}

static void phase_update(void *ctx, size_t p, size_t worker) {
  const step_job *j = ctx;
  esmm_model *m = j->m;
  esmm__train *tr = &m->tr;
  int ok = 1;
  (void)worker;
  ok &= update_tower(m, m->ctr, m->blk_ctr, p, tr->n_parts);
  ok &= update_tower(m, m->cvr, m->blk_cvr, p, tr->n_parts);
  if (m->imp)
    ok &= update_tower(m, m->imp, m->blk_imp, p, tr->n_parts);
  ok &= update_rows(m, m->emb, m->blk_emb, &tr->sg[p]);
  if (m->emb2)
    ok &= update_rows(m, m->emb2, m->blk_emb2, &tr->sg2[p]);
  tr->part_ok[p] = ok;
}

/* ---- the step -------------------------------------------------------------- */

void esmm__train_end(esmm_model *m) {
  esmm__train *tr = &m->tr;
  for (size_t p = 0; p < tr->n_parts; p++) {
    esmm__embedding_scatter_end(m->emb, &tr->sg[p]);
    if (m->emb2)
      esmm__embedding_scatter_end(m->emb2, &tr->sg2[p]);
  }
}

/* Move the rows of parts 1.. into part 0 (rows are distinct across parts). */
static void merge_parts(esmm_model *m, esmm_embedding *e, esmm__sparse_grad *sg, size_t np) {
  esmm__sparse_grad *dst = &sg[0];
  for (size_t p = 1; p < np; p++) {
    esmm__sparse_grad *src = &sg[p];
    for (size_t r = 0; r < src->n; r++) {
      int64_t row = src->rows[r];
      e->slot[row] = (int32_t)dst->n;
      dst->rows[dst->n] = row;
      memcpy(dst->g + dst->n * m->dim, src->g + r * m->dim, m->dim * sizeof *dst->g);
      dst->n++;
    }
    src->n = 0;
  }
}

esmm__sparse_grad *esmm__train_sparse(esmm_model *m, int t) {
  esmm__train *tr = &m->tr;
  if (t && !m->emb2)
    return NULL;
  merge_parts(m, t ? m->emb2 : m->emb, t ? tr->sg2 : tr->sg, tr->n_parts);
  return t ? &tr->sg2[0] : &tr->sg[0];
}

/* Item offsets of the slices (serial: O(rows), no feature is read twice). */
static int plan_items(esmm_model *m, const esmm_dataset *ds, const size_t *idx, size_t n) {
  esmm__train *tr = &m->tr;
  size_t S = tr->n_slices, r = (n + S - 1) / S;
  tr->feat_off[0] = 0;
  for (size_t s = 0; s < S; s++) {
    size_t lo = s * r < n ? s * r : n, hi = lo + r < n ? lo + r : n;
    tr->feat_off[s + 1] = tr->feat_off[s] + esmm__train_slice_items(ds, idx, lo, hi);
  }
  if (tr->feat_off[S] > tr->feat_cap)
    return ESMM__ERR(ESMM_ERROR, "internal: %zu scatter items, room for %zu", tr->feat_off[S], tr->feat_cap);
  return ESMM_OK;
}

/* Phase 1 and the batch's loss statistics. */
static int forward_backward(esmm_model *m, const esmm_dataset *ds, const size_t *idx, size_t n,
                            const esmm__step_opts *o, int backward, int held, const char *func) {
  esmm__train *tr = &m->tr;
  step_job j = {m, ds, idx, n, o, backward};
  double lc = 0, lt = 0, lv = 0, l = 0;
  int64_t clips = 0;
  int finite = 1;
  if (n == 0 || n > m->batch)
    return esmm__error(ESMM_EINVAL, func, "internal: a step of %zu rows (batch %zu)", n, m->batch);
  if (plan_items(m, ds, idx, n) != ESMM_OK)
    return esmm__error_in(ESMM_ERROR, func);
  run_phase(m, held, tr->n_slices, phase_slices, &j);
  for (size_t s = 0; s < tr->n_slices; s++) {
    lc += tr->out[s].l_ctr;
    lt += tr->out[s].l_ctcvr;
    lv += tr->out[s].l_cvr;
    l += tr->out[s].l_total;
    clips += tr->out[s].clips;
    finite &= tr->out[s].finite;
  }
  m->loss_ctr = lc / (double)n;
  m->loss_ctcvr = lt / (double)n;
  m->loss_cvr = lv / (double)n;
  m->loss = l / (double)n;
  if (!finite || !isfinite(m->loss))
    return esmm__error(ESMM_ENUMERIC, func,
                       "step %lld: the loss is not finite (ctr %g, ctcvr %g, cvr %g); the step was not applied",
                       (long long)m->step + 1, m->loss_ctr, m->loss_ctcvr, m->loss_cvr);
  m->cvr_clips += clips; /* only once the step is known to be valid */
  return ESMM_OK;
}

static int parts_ok(const esmm__train *tr) {
  for (size_t p = 0; p < tr->n_parts; p++)
    if (!tr->part_ok[p])
      return 0;
  return 1;
}

/* Phases 1 and 2: gradients in the towers and the parts. On failure no
 * scatter is left open. */
static int gradients(esmm_model *m, const esmm_dataset *ds, const size_t *idx, size_t n, const esmm__step_opts *o,
                     int held, const char *func) {
  step_job j = {m, ds, idx, n, o, 1};
  ESMM__TRY(forward_backward(m, ds, idx, n, o, 1, held, func));
  run_phase(m, held, m->tr.n_parts, phase_parts, &j);
  if (!parts_ok(&m->tr)) {
    esmm__train_end(m);
    return esmm__error(ESMM_ENUMERIC, func, "step %lld: a gradient is not finite; the step was not applied",
                       (long long)m->step + 1);
  }
  return ESMM_OK;
}

/* Every block is checked before any moves, so a refused update changes
 * nothing. */
static int check_model_update(esmm_model *m, const char *func) {
  esmm_mlp *t[3];
  const int *blk[3] = {m->blk_ctr, m->blk_cvr, m->blk_imp};
  size_t nt = esmm__model_towers(m, t);
  ESMM__TRY(esmm_optimizer_begin_step(m->opt));
  for (size_t k = 0; k < nt; k++)
    for (size_t l = 0; l < 2 * t[k]->n_layers; l++)
      ESMM__TRY(esmm__optimizer_check(m->opt, blk[k][l], 0, NULL, func));
  for (size_t p = 0; p < m->tr.n_parts; p++) {
    ESMM__TRY(esmm__optimizer_check(m->opt, m->blk_emb, m->tr.sg[p].n, m->tr.sg[p].rows, func));
    if (m->emb2)
      ESMM__TRY(esmm__optimizer_check(m->opt, m->blk_emb2, m->tr.sg2[p].n, m->tr.sg2[p].rows, func));
  }
  return ESMM_OK;
}

int esmm__train_step(esmm_model *m, const esmm_dataset *ds, const size_t *idx, size_t n, const char *func) {
  step_job j = {m, ds, idx, n, NULL, 1};
  int held = esmm__pool_try_acquire(m->pool), rc;
  rc = gradients(m, ds, idx, n, NULL, held, func);
  if (rc == ESMM_OK && m->sync) {
    esmm__train_sparse(m, 0);
    if (m->emb2)
      esmm__train_sparse(m, 1);
    rc = m->sync(m, m->sync_payload);
  }
  if (rc == ESMM_OK)
    rc = check_model_update(m, func);
  if (rc != ESMM_OK) {
    if (rc != ESMM_ENUMERIC || m->sync) /* gradients() ends its own scatters */
      esmm__train_end(m);
    else
      esmm__train_end(m);
    if (held)
      esmm__pool_release(m->pool);
    return rc;
  }
  run_phase(m, held, m->tr.n_parts, phase_update, &j);
  if (held)
    esmm__pool_release(m->pool);
  /* Finite gradients can still overflow a weight (a learning rate far too
   * high on huge inputs). Undoing the update would mean copying every
   * touched parameter and its optimizer state each step for a rare event,
   * so the damage is detected and reported instead: the model keeps the
   * non-finite values, training and prediction on it fail with
   * ESMM_ENUMERIC, and saving it is refused - nothing non-finite reaches a
   * file. */
  if (!parts_ok(&m->tr))
    return esmm__error(ESMM_ENUMERIC, func,
                       "step %lld: the update overflowed a parameter to Inf/NaN (learning rate too high for "
                       "these inputs?); the model is unusable: reload a checkpoint (saving it is refused)",
                       (long long)m->step + 1);
  return ESMM_OK;
}

int esmm__train_loss(esmm_model *m, const esmm_dataset *ds, const size_t *idx, size_t n, const esmm__step_opts *o,
                     double *loss) {
  int held, rc;
  ESMM__TRY(esmm__train_reserve(m, ds));
  held = esmm__pool_try_acquire(m->pool);
  rc = forward_backward(m, ds, idx, n, o, 0, held, __func__);
  if (held)
    esmm__pool_release(m->pool);
  *loss = m->loss;
  return rc;
}

int esmm__train_grads(esmm_model *m, const esmm_dataset *ds, const size_t *idx, size_t n, const esmm__step_opts *o,
                      double *loss) {
  int held, rc;
  ESMM__TRY(esmm__train_reserve(m, ds));
  held = esmm__pool_try_acquire(m->pool);
  rc = gradients(m, ds, idx, n, o, held, __func__);
  if (held)
    esmm__pool_release(m->pool);
  *loss = m->loss;
  if (rc == ESMM_OK) {
    esmm__train_sparse(m, 0);
    if (m->emb2)
      esmm__train_sparse(m, 1);
  }
  return rc;
}
