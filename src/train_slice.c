/* train_slice.c - phase 1 of a training step (train.h): one slice of a
 * batch on one worker, from features to gradients.
 *
 * For slice s, rows [lo, hi) of the batch (idx[lo..hi)):
 *   runs    consecutive rows sharing a common list form a run (numbered
 *           within the slice: a user's rows that straddle two slices are a
 *           run in each, so slices stay exactly ceil(n / S) rows and the
 *           workers' scratch slice-sized; it costs at most S - 1 extra
 *           poolings of a common list per batch);
 *   split   the first-layer split (rows.h) when the slice qualifies and its
 *           runs average 2+ rows;
 *   pool    each run's common list once (into the run's row of cbat with the
 *           split, else into cp, then added to each of its rows), each row's
 *           own features, numeric inputs; every feature recorded as a
 *           scatter item (embedding.h: row, value, where its gradient is);
 *   forward the CTR tower, the second tower (on the second table's pooling
 *           when the variant has one), the imputation tower;
 *   loss    per row in double (loss.h), gradients scaled by 1 / n (the
 *           batch's mean);
 *   backward the slice's parameter gradients into its own block of tr->gd;
 *           the input gradients of its rows into tr->grad rows [lo, hi) (the
 *           second table's into tr->grad2), and each run's summed gradient
 *           of its common list into run sum row lo + r (the split's towers
 *           form it; otherwise summed here from the rows, in row order).
 * Everything depends on the slice's rows alone, never on the worker. */
#include "model.h"

#include "dataset.h"
#include "rows.h"

#include <math.h>
#include <string.h>

/* Rows of slice s of a batch of n rows cut into S slices of ceil(n / S). */
static void slice_bounds(size_t n, size_t S, size_t s, size_t *lo, size_t *hi) {
  size_t r = (n + S - 1) / S;
  *lo = s * r < n ? s * r : n;
  *hi = *lo + r < n ? *lo + r : n;
}

/* Items the slice's rows [lo, hi) record: own features of every row, a
 * common list once per run. train.c sizes the item array with it. */
size_t esmm__train_slice_items(const esmm_dataset *ds, const size_t *idx, size_t lo, size_t hi);
size_t esmm__train_slice_items(const esmm_dataset *ds, const size_t *idx, size_t lo, size_t hi) {
  size_t k = 0;
  for (size_t i = lo; i < hi; i++) {
    size_t r = idx[i];
    int64_t c = ds->common[r];
    k += (size_t)(ds->row_off[r + 1] - ds->row_off[r]);
    if (c >= 0 && (i == lo || ds->common[idx[i - 1]] != c))
      k += (size_t)(ds->com_off[c + 1] - ds->com_off[c]);
  }
  return k;
}

ESMM__HOT static void add_to(float *restrict x, const float *restrict y, size_t n) {
  for (size_t k = 0; k < n; k++)
    x[k] += y[k];
}

/* Pool rows [lo, hi) (block b) into the worker's x (and x2), recording the items. */
static void pool_slice(const esmm_model *m, const esmm__block *b, size_t lo,
                       esmm__worker *wk, int split, esmm__feat *f) {
  const esmm__train *tr = &m->tr;
  size_t pd = m->pool_dim, id = m->in_dim;
  for (size_t k = 0; k < b->n; k++) {
    size_t i = lo + k;
    int64_t c, run = wk->run[k];
    esmm__flist own;
    float *x = wk->x + k * id, *x2 = wk->x2 ? wk->x2 + k * id : NULL;
    const float *dense;
    b->row(b->ctx, k, &own, &c, &dense);
    if (c >= 0 && (k == 0 || wk->run[k - 1] != run)) {
      /* a new run: its common list, pooled once; its gradient will be the
       * run sum at row lo + run of the step's buffer */
      esmm__flist l;
      b->common(b->ctx, c, &l);
      uint32_t base = (uint32_t)(tr->gsum_off + (lo + (size_t)run) * pd);
      float *cp = split ? wk->cbat + (size_t)run * pd : wk->cp;
      memset(cp, 0, pd * sizeof *cp);
      esmm__embedding_pool_rec(m->emb, l.nnz, l.field, l.id, l.value, cp, f, base);
      if (m->emb2) {
        float *cp2 = split ? wk->cbat2 + (size_t)run * pd : wk->cp2;
        memset(cp2, 0, pd * sizeof *cp2);
        esmm__embedding_pool_feats(m->emb2, f, l.nnz, cp2, base);
      }
      f += l.nnz;
    }
    memset(x, 0, pd * sizeof *x);
    esmm__embedding_pool_rec(m->emb, own.nnz, own.field, own.id, own.value, x, f, (uint32_t)(i * id));
    if (c >= 0 && !split)
      add_to(x, wk->cp, pd);
    if (m->n_dense)
      memcpy(x + pd, dense, m->n_dense * sizeof *x);
    if (x2) {
      memset(x2, 0, pd * sizeof *x2);
      esmm__embedding_pool_feats(m->emb2, f, own.nnz, x2, (uint32_t)(i * id));
      if (c >= 0 && !split)
        add_to(x2, wk->cp2, pd);
      if (m->n_dense)
        memcpy(x2 + pd, dense, m->n_dense * sizeof *x2);
    }
    f += own.nnz;
  }
}

/* Run sums of a plain (unsplit) backward: run r's rows' input gradients
 * (their pooled part) summed in row order into run sum row lo + r. */
static void run_sums(const esmm_model *m, const esmm__worker *wk, size_t lo, size_t rows, const float *g,
                     float *gsum) {
  size_t pd = m->pool_dim;
  for (size_t k = 0; k < rows; k++) {
    int64_t run = wk->run[k];
    float *dst;
    if (run < 0)
      continue;
    dst = gsum + (lo + (size_t)run) * pd;
    if (k == 0 || wk->run[k - 1] != run)
      memset(dst, 0, pd * sizeof *dst);
    add_to(dst, g + (lo + k) * m->in_dim, pd);
  }
}

static esmm__mlp_split wk_split_of(const esmm_model *m, esmm__worker *wk, size_t ulo, size_t uhi, size_t runs,
                                   const float *cbat) {
  esmm__mlp_split sp = {.lo = ulo, .hi = uhi, .c = cbat, .ldc = m->pool_dim, .n_runs = runs, .run = wk->run,
                        .scratch = wk->flscr};
  return sp;
}

void esmm__train_slice(esmm_model *m, const esmm_dataset *ds, const size_t *idx, size_t n, size_t s,
                       size_t worker, const esmm__step_opts *o, int backward) {
  esmm__train *tr = &m->tr;
  esmm__worker *wk = &tr->wk[worker];
  esmm__slice_out *out = &tr->out[s];
  size_t lo, hi, rows, runs, with, ulo = 0, uhi = 0;
  int split, want = o ? o->split : 0, div = m->var->head == ESMM__HEAD_DIVISION;
  esmm__block blk;
  esmm__ds_rows src;
  esmm__mlp_split sp, sp2;
  const esmm__mlp_split *psp = NULL, *psp2 = NULL;
  double inv_n = 1.0 / (double)n;
  esmm__loss_batch lb;
  const float *prop;

  slice_bounds(n, tr->n_slices, s, &lo, &hi);
  rows = hi - lo;
  memset(out, 0, sizeof *out);
  out->finite = 1;
  if (rows == 0)
    return;

  esmm__ds_block(&blk, &src, ds, idx + lo, 0, rows);
  runs = esmm__rows_runs(&blk, wk->run, &with);
  split = esmm__rows_split(&blk, wk->run, runs, with, m->dim, m->pool_dim, want, &ulo, &uhi);
  out->split = split;
  pool_slice(m, &blk, lo, wk, split, tr->feat + tr->feat_off[s]);

  if (split) {
    sp = wk_split_of(m, wk, ulo, uhi, runs, wk->cbat);
    sp2 = wk_split_of(m, wk, ulo, uhi, runs, m->emb2 ? wk->cbat2 : wk->cbat);
    psp = &sp;
    psp2 = &sp2;
  }
  esmm__mlp_fwd(m->ctr, &wk->ctx[0], wk->x, rows, wk->lc, psp);
  esmm__mlp_fwd(m->cvr, &wk->ctx[1], m->emb2 ? wk->x2 : wk->x, rows, wk->lv, psp2);
  if (m->imp)
    esmm__mlp_fwd(m->imp, &wk->ctx[2], wk->x, rows, wk->lt, psp);

  prop = esmm__loss_batch_init(&m->lcfg, ds, idx, n, &lb);
  for (size_t k = 0; k < rows; k++) {
    size_t i = lo + k, r = idx[i];
    int y = ds->click[r] != 0, z = ds->conv[r] != 0;
    double g_a, g_b, g_t;
    esmm__loss_terms lt;
    esmm__loss_variant_one(&m->lcfg, &lb, wk->lc[k], wk->lv[k], m->imp ? wk->lt[k] : 0.0, prop ? prop[r] : 0.0, y, z,
                           &lt, &g_a, &g_b, &g_t, o && o->sg ? &o->sg[i] : NULL);
    out->l_ctr += lt.ctr;
    out->l_ctcvr += lt.ctcvr;
    out->l_cvr += lt.cvr;
    out->l_total += lt.total;
    out->clips += div && wk->lv[k] > wk->lc[k];
    wk->gc[k] = (float)(g_a * inv_n);
    wk->gv[k] = (float)(g_b * inv_n);
    wk->gt[k] = (float)(g_t * inv_n);
  }
  out->finite = isfinite(out->l_total) && esmm__all_finite(wk->gc, rows) && esmm__all_finite(wk->gv, rows) &&
                (!m->imp || esmm__all_finite(wk->gt, rows));
  if (!backward || !out->finite)
    return;

  {
    float *gd = tr->gd + s * tr->tower_off[tr->n_towers];
    float *gx = tr->grad + lo * m->in_dim, *gsum = tr->grad + tr->gsum_off + lo * m->pool_dim;
    float *gx2 = m->emb2 ? tr->grad2 + lo * m->in_dim : NULL;
    float *gsum2 = m->emb2 ? tr->grad2 + tr->gsum_off + lo * m->pool_dim : NULL;
    size_t pd = m->pool_dim;
    esmm__mlp_grads g;
    /* the shared table's input gradient: the CTR tower's, plus the
     * imputation tower's and the second tower's when it reads the shared
     * table too, added in their GEMMs (beta 1); with the split the common
     * columns go to the run sums instead, the same way */
    esmm__mlp_grads_at(m->ctr, gd + tr->tower_off[0], &g);
    esmm__mlp_bwd(m->ctr, &wk->ctx[0], &g, wk->gc, gx, 0.0f, split ? gsum : NULL, pd);
    if (m->imp) {
      esmm__mlp_grads_at(m->imp, gd + tr->tower_off[2], &g);
      esmm__mlp_bwd(m->imp, &wk->ctx[2], &g, wk->gt, gx, 1.0f, split ? gsum : NULL, pd);
    }
    esmm__mlp_grads_at(m->cvr, gd + tr->tower_off[1], &g);
    if (m->emb2)
      esmm__mlp_bwd(m->cvr, &wk->ctx[1], &g, wk->gv, gx2, 0.0f, split ? gsum2 : NULL, pd);
    else
      esmm__mlp_bwd(m->cvr, &wk->ctx[1], &g, wk->gv, gx, 1.0f, split ? gsum : NULL, pd);
    if (!split && runs > 0) {
      run_sums(m, wk, lo, rows, tr->grad, tr->grad + tr->gsum_off);
      if (m->emb2)
        run_sums(m, wk, lo, rows, tr->grad2, tr->grad2 + tr->gsum_off);
    }
  }
}
