/* model.c - composes embedding, towers, head, loss and optimizer into the
 * ESMM model, and implements the public esmm_model_* training API.
 *
 * One training step over a batch B of impressions:
 *   x[i]   = concat_f sum_{features of field f of row i (own + common)} value * E[row], dense_i
 *            (a common list is pooled once for a run of rows sharing it, and its
 *            gradient is summed over the run before one scatter)
 *   a, b   = CTR tower(x), CVR tower(x)                        (logits)
 *   L      = w_ctr * mean BCE(sigmoid(a), y) + w_ctcvr * mean BCE(sigmoid(a)sigmoid(b), y*z)
 *   dL/da, dL/db from the logits (loss.h, in log space)
 *   dL/dx  = CTR tower backward + CVR tower backward           (the embedding is shared)
 *   dL/dE  = sparse scatter of dL/dx over the features of the batch
 *   update: dense towers, lazily the embedding rows touched.
 * A step whose loss or gradients are not finite is not applied. */
#include "model.h"

#include "config.h"
#include "dataset.h"
#include "loss.h"
#include "optimizer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static uint64_t sub_seed(uint64_t seed, uint64_t k) { return esmm__mix64(seed * 0x100000001b3ULL + k); }

static int check_variant(const esmm_config *cfg) {
  int64_t v = esmm__config_int(cfg, ESMM_OPT_VARIANT);
  if (v != ESMM_VARIANT_ESMM)
    return esmm__error(ESMM_EINVAL, "esmm_model_new",
                       "ESMM_OPT_VARIANT %lld is not implemented in libesmm %s (only ESMM_VARIANT_ESMM)",
                       (long long)v, ESMM_VERSION_STRING);
  return ESMM_OK;
}

static int check_table_size(const esmm_config *cfg) {
  double rows = 0;
  for (size_t f = 0; f < cfg->n_fields; f++)
    rows += (double)esmm__config_buckets(cfg, f);
  if (rows * (double)esmm__config_int(cfg, ESMM_OPT_EMBED_DIM) > 0x1p40)
    return esmm__error(ESMM_EINVAL, "esmm_model_new",
                       "the embedding table would hold %.0f rows x %lld floats, more than 2^40", rows,
                       (long long)esmm__config_int(cfg, ESMM_OPT_EMBED_DIM));
  return ESMM_OK;
}

static int register_tower(esmm_model *m, esmm_mlp *t, int *blk) {
  for (size_t l = 0; l < t->n_layers; l++) {
    ESMM__TRY(esmm_optimizer_add_block(m->opt, t->layer[l].n_in, t->layer[l].n_out, &blk[2 * l]));
    ESMM__TRY(esmm_optimizer_add_block(m->opt, 1, t->layer[l].n_out, &blk[2 * l + 1]));
  }
  return ESMM_OK;
}

static int alloc_scratch(esmm_model *m) {
  size_t bx;
  if (!esmm__mul_ok(m->batch, m->in_dim, &bx))
    return ESMM__ERR(ESMM_ENOMEM, "batch x input size overflows");
  m->cpool = esmm__calloc(&m->alloc, m->pool_dim ? m->pool_dim : 1, sizeof(float));
  m->gsum = esmm__calloc(&m->alloc, m->pool_dim ? m->pool_dim : 1, sizeof(float));
  m->x = esmm__calloc(&m->alloc, bx, sizeof(float));
  m->gx = esmm__calloc(&m->alloc, bx, sizeof(float));
  m->lc = esmm__calloc(&m->alloc, m->batch, sizeof(float));
  m->lv = esmm__calloc(&m->alloc, m->batch, sizeof(float));
  m->gc = esmm__calloc(&m->alloc, m->batch, sizeof(float));
  m->gv = esmm__calloc(&m->alloc, m->batch, sizeof(float));
  if (!m->x || !m->gx || !m->lc || !m->lv || !m->gc || !m->gv || !m->cpool || !m->gsum)
    return ESMM__ERR(ESMM_ENOMEM, "out of memory for the training scratch (batch %zu)", m->batch);
  return ESMM_OK;
}

static int build(esmm_model *m) {
  const esmm_config *cfg = m->cfg;
  uint64_t seed = (uint64_t)esmm__config_int(cfg, ESMM_OPT_SEED);
  int64_t buckets[ESMM_MAX_FIELDS];
  size_t nc, nv;
  const int64_t *tc = esmm__config_tower(cfg, ESMM_OPT_CTR_TOWER, &nc);
  const int64_t *tv = esmm__config_tower(cfg, ESMM_OPT_CVR_TOWER, &nv);
  int act = (int)esmm__config_int(cfg, ESMM_OPT_ACTIVATION);

  for (size_t f = 0; f < m->n_fields; f++)
    buckets[f] = esmm__config_buckets(cfg, f);
  ESMM__TRY(esmm__embedding_create(&m->emb, &m->alloc, m->n_fields, buckets, m->dim,
                                   esmm__config_float(cfg, ESMM_OPT_INIT_SCALE), sub_seed(seed, 1)));
  ESMM__TRY(esmm__mlp_create(&m->ctr, &m->alloc, m->in_dim, tc, nc, 1, act, m->batch, sub_seed(seed, 2)));
  ESMM__TRY(esmm__mlp_create(&m->cvr, &m->alloc, m->in_dim, tv, nv, 1, act, m->batch, sub_seed(seed, 3)));
  ESMM__TRY(esmm__optimizer_create(&m->opt, cfg));
  ESMM__TRY(esmm_optimizer_add_block(m->opt, m->emb->rows, m->dim, &m->blk_emb));
  ESMM__TRY(register_tower(m, m->ctr, m->blk_ctr));
  ESMM__TRY(register_tower(m, m->cvr, m->blk_cvr));
  ESMM__TRY(alloc_scratch(m));
  esmm__rng_seed(&m->rng, sub_seed(seed, 4));
  return ESMM_OK;
}

int esmm__model_create(esmm_model **out, const esmm_config *cfg) {
  esmm_model *m;
  int rc;
  *out = NULL;
  ESMM__TRY(check_variant(cfg));
  ESMM__TRY(check_table_size(cfg));
  m = esmm__calloc(&cfg->alloc, 1, sizeof *m);
  if (!m)
    return esmm__error(ESMM_ENOMEM, "esmm_model_new", "out of memory");
  m->alloc = cfg->alloc;
  m->log = cfg->log;
  rc = esmm_config_clone(cfg, &m->cfg);
  if (rc) {
    esmm__free(&m->alloc, m);
    return rc;
  }
  m->n_fields = cfg->n_fields;
  m->dim = (size_t)esmm__config_int(cfg, ESMM_OPT_EMBED_DIM);
  m->pool_dim = m->n_fields * m->dim;
  m->n_dense = (size_t)esmm__config_int(cfg, ESMM_OPT_DENSE_FEATURES);
  m->in_dim = m->pool_dim + m->n_dense;
  m->batch = (size_t)esmm__config_int(cfg, ESMM_OPT_BATCH_SIZE);
  m->w_ctr = esmm__config_float(cfg, ESMM_OPT_LOSS_WEIGHT_CTR);
  m->w_ctcvr = esmm__config_float(cfg, ESMM_OPT_LOSS_WEIGHT_CTCVR);
  rc = build(m);
  if (rc) {
    esmm_model_free(m);
    return rc;
  }
  esmm__log(&m->log, ESMM_LOG_INFO, "model: %zu fields x %zu dims, %.0f parameters", m->n_fields, m->dim,
            (double)(m->emb->rows * m->dim + esmm__mlp_param_count(m->ctr) + esmm__mlp_param_count(m->cvr)));
  *out = m;
  return ESMM_OK;
}

int esmm_model_new(esmm_model **out, const esmm_config *cfg) {
  esmm_config *tmp;
  const esmm_config *c;
  int rc;
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__TRY(esmm__config_or_default(cfg, &tmp, &c));
  rc = esmm__model_create(out, c);
  esmm_config_free(tmp);
  return rc;
}

void esmm_model_free(esmm_model *m) {
  esmm__allocator a;
  if (!m)
    return;
  a = m->alloc;
  esmm_embedding_free(m->emb);
  esmm_mlp_free(m->ctr);
  esmm_mlp_free(m->cvr);
  esmm_optimizer_free(m->opt);
  esmm__free(&a, m->cpool);
  esmm__free(&a, m->gsum);
  esmm__free(&a, m->x);
  esmm__free(&a, m->gx);
  esmm__free(&a, m->lc);
  esmm__free(&a, m->lv);
  esmm__free(&a, m->gc);
  esmm__free(&a, m->gv);
  esmm__free(&a, m->sg.rows);
  esmm__free(&a, m->sg.g);
  esmm__free(&a, m->perm);
  esmm_config_free(m->cfg);
  esmm__free(&a, m);
}

size_t esmm__model_tensors(esmm_model *m, esmm__tensor *out, size_t cap) {
  size_t n = 0;
  esmm_mlp *towers[2] = {m->ctr, m->cvr};
  const char *tname[2] = {"ctr", "cvr"};
#define ADD(nm_fmt, l, ptr, r, c)                                      \
  do {                                                                 \
    if (n < cap) {                                                     \
      snprintf(out[n].name, sizeof out[n].name, nm_fmt, tname[t], l); \
      out[n].data = (ptr);                                             \
      out[n].rows = (r);                                               \
      out[n].cols = (c);                                               \
    }                                                                  \
    n++;                                                               \
  } while (0)
  if (cap > 0) {
    snprintf(out[0].name, sizeof out[0].name, "embedding");
    out[0].data = m->emb->w;
    out[0].rows = m->emb->rows;
    out[0].cols = m->dim;
  }
  n = 1;
  for (int t = 0; t < 2; t++)
    for (size_t l = 0; l < towers[t]->n_layers; l++) {
      esmm__layer *ly = &towers[t]->layer[l];
      ADD("%s.%zu.w", l, ly->w, ly->n_in, ly->n_out);
      ADD("%s.%zu.b", l, ly->b, 1, ly->n_out);
    }
#undef ADD
  return n;
}

/* ---- batch assembly ---------------------------------------------------- */

/* x = the row's own features pooled, plus its common list pooled, plus its
 * dense inputs. The common list is pooled into cp, which is reused while
 * consecutive rows share the list (*last tracks it): grouped data pools each
 * user once per run of rows. Own and common parts are always pooled apart and
 * then added, so the result does not depend on how rows are grouped. */
static void pool_row(const esmm_embedding *e, const esmm_dataset *ds, size_t r, float *x, size_t pool_dim,
                     float *cp, int64_t *last) {
  int64_t lo = ds->row_off[r], hi = ds->row_off[r + 1];
  int64_t c = ds->common[r];
  memset(x, 0, pool_dim * sizeof *x);
  esmm__embedding_pool(e, (size_t)(hi - lo), ds->field + lo, ds->id + lo, ds->value + lo, x);
  if (c >= 0) {
    if (c != *last) {
      int64_t clo = ds->com_off[c], chi = ds->com_off[c + 1];
      memset(cp, 0, pool_dim * sizeof *cp);
      esmm__embedding_pool(e, (size_t)(chi - clo), ds->com_field + clo, ds->com_id + clo, ds->com_value + clo,
                           cp);
      *last = c;
    }
    for (size_t k = 0; k < pool_dim; k++)
      x[k] += cp[k];
  }
  if (ds->n_dense)
    memcpy(x + pool_dim, ds->dense + r * ds->n_dense, ds->n_dense * sizeof *x);
}

/* Scatter the gradients g (stride in_dim) of batch rows idx[0..n): own
 * features row by row; a common list once per run of consecutive rows that
 * share it, with the run's gradients summed first. */
static int scatter_batch(esmm_model *m, const esmm_dataset *ds, const size_t *idx, size_t n, const float *g) {
  esmm_embedding *e = m->emb;
  for (size_t i = 0; i < n; i++) {
    size_t r = idx[i];
    int64_t lo = ds->row_off[r], hi = ds->row_off[r + 1], c = ds->common[r];
    const float *gi = g + i * m->in_dim;
    ESMM__TRY(esmm__embedding_scatter(e, (size_t)(hi - lo), ds->field + lo, ds->id + lo, ds->value + lo, gi,
                                      &m->sg));
    if (c < 0)
      continue;
    for (size_t k = 0; k < m->pool_dim; k++)
      m->gsum[k] += gi[k];
    if (i + 1 == n || ds->common[idx[i + 1]] != c) {
      int64_t clo = ds->com_off[c], chi = ds->com_off[c + 1];
      ESMM__TRY(esmm__embedding_scatter(e, (size_t)(chi - clo), ds->com_field + clo, ds->com_id + clo,
                                        ds->com_value + clo, m->gsum, &m->sg));
      memset(m->gsum, 0, m->pool_dim * sizeof *m->gsum);
    }
  }
  return ESMM_OK;
}

/* ---- training ---------------------------------------------------------- */

static int check_dataset(const esmm_model *m, const esmm_dataset *ds, const char *func) {
  if (!esmm__dataset_fields_match(ds, m->cfg))
    return esmm__error(ESMM_ESHAPE, func, "the dataset's field list differs from the model's (%zu vs %zu fields)",
                       ds->n_fields, m->n_fields);
  if (ds->n_dense != m->n_dense)
    return esmm__error(ESMM_ESHAPE, func, "the dataset has %zu dense inputs per row, the model %zu", ds->n_dense,
                       m->n_dense);
  return ESMM_OK;
}

/* Grow the sparse gradient to hold every feature of a full batch of ds. */
static int reserve_sparse(esmm_model *m, const esmm_dataset *ds) {
  size_t need, ng;
  need = esmm__dataset_max_row_nnz(ds);
  if (!esmm__mul_ok(need, m->batch, &need))
    return ESMM__ERR(ESMM_ENOMEM, "sparse gradient size overflows");
  if (need > m->emb->rows)
    need = m->emb->rows;
  if (need <= m->sg.cap)
    return ESMM_OK;
  if (!esmm__mul_ok(need, m->dim, &ng))
    return ESMM__ERR(ESMM_ENOMEM, "sparse gradient size overflows");
  int64_t *rows = esmm__alloc(&m->alloc, need * sizeof *rows);
  float *g = esmm__alloc(&m->alloc, ng * sizeof *g);
  if (!rows || !g) {
    esmm__free(&m->alloc, rows);
    esmm__free(&m->alloc, g);
    return ESMM__ERR(ESMM_ENOMEM, "out of memory for a sparse gradient of %zu rows", need);
  }
  esmm__free(&m->alloc, m->sg.rows);
  esmm__free(&m->alloc, m->sg.g);
  m->sg.rows = rows;
  m->sg.g = g;
  m->sg.cap = need;
  m->sg.n = 0;
  return ESMM_OK;
}

static size_t run_length(const esmm_dataset *ds, size_t first) {
  size_t k = first + 1;
  int64_t c = ds->common[first];
  while (c >= 0 && k < ds->n_rows && ds->common[k] == c)
    k++;
  return k - first;
}

/* perm[0..n_runs) holds run starts in their new order; rewrite perm in place
 * as the rows of those runs. Runs are expanded from the last slot backwards
 * into the tail of perm, which only ever overwrites run starts already
 * consumed (the runs before slot j occupy at least j rows). */
static void expand_runs(size_t *perm, size_t n_runs, const esmm_dataset *ds) {
  size_t w = ds->n_rows;
  for (size_t j = n_runs; j-- > 0;) {
    size_t start = perm[j], len = run_length(ds, start);
    w -= len;
    for (size_t k = len; k-- > 0;)
      perm[w + k] = start + k;
  }
}

static void swap(size_t *a, size_t *b) {
  size_t t = *a;
  *a = *b;
  *b = t;
}

/* Rows in a random order (ESMM_OPT_SHUFFLE 1), or groups in a random order
 * with each group's rows kept together (2: a group is a run of consecutive
 * rows sharing a common list), so that a batch pools each user once. */
static void shuffle(esmm_model *m, const esmm_dataset *ds) {
  int64_t mode = esmm__config_int(m->cfg, ESMM_OPT_SHUFFLE);
  size_t n = m->perm_n, n_runs = 0;
  m->rng_epoch = m->rng;
  for (size_t i = 0; i < n; i++)
    m->perm[i] = i;
  if (mode == 1) {
    for (size_t i = n; i > 1; i--)
      swap(&m->perm[i - 1], &m->perm[(size_t)esmm__rng_below(&m->rng, i)]);
    return;
  }
  if (mode != 2 || n == 0)
    return;
  /* perm temporarily holds the runs' first rows, shuffled, then expands */
  for (size_t i = 0; i < n; i++)
    if (i == 0 || ds->common[i] < 0 || ds->common[i] != ds->common[i - 1])
      m->perm[n_runs++] = i;
  for (size_t i = n_runs; i > 1; i--)
    swap(&m->perm[i - 1], &m->perm[(size_t)esmm__rng_below(&m->rng, i)]);
  expand_runs(m->perm, n_runs, ds);
}

/* Make ds the dataset of the epoch under way (restarting when it changed,
 * or regenerating a restored epoch's permutation). */
static int begin_dataset(esmm_model *m, const esmm_dataset *ds) {
  if (m->epoch_ds == ds && m->perm_n == ds->n_rows && !m->resume_n)
    return ESMM_OK;
  if (m->resume_n && m->resume_n != ds->n_rows)
    return ESMM__ERR(ESMM_ESTATE, "the restored training state is for a dataset of %zu rows, this one has %zu",
                     m->resume_n, ds->n_rows);
  ESMM__TRY(reserve_sparse(m, ds));
  if (m->perm_n != ds->n_rows || !m->perm) {
    size_t *p = esmm__alloc(&m->alloc, (ds->n_rows ? ds->n_rows : 1) * sizeof *p);
    if (!p)
      return ESMM__ERR(ESMM_ENOMEM, "out of memory for a permutation of %zu rows", ds->n_rows);
    esmm__free(&m->alloc, m->perm);
    m->perm = p;
    m->perm_n = ds->n_rows;
  }
  m->epoch_ds = ds;
  if (m->resume_n) {
    /* the epoch's permutation, drawn again from the same RNG state */
    m->rng = m->rng_epoch;
    shuffle(m, ds);
    m->cursor = m->resume_cursor;
    m->resume_n = 0;
  } else {
    m->cursor = m->perm_n; /* forces a fresh permutation */
  }
  return ESMM_OK;
}

void esmm__model_get_train_state(const esmm_model *m, esmm__train_state *out) {
  out->step = m->step;
  out->epoch = m->epoch;
  out->samples = m->samples;
  out->epoch_steps = m->epoch_steps;
  out->epoch_loss_sum = m->epoch_loss_sum;
  out->rng_epoch = m->resume_n ? m->rng_epoch : (m->epoch_ds ? m->rng_epoch : m->rng);
  out->cursor = m->resume_n ? m->resume_cursor : (m->epoch_ds ? m->cursor : 0);
  out->perm_n = m->resume_n ? m->resume_n : (m->epoch_ds ? m->perm_n : 0);
}

void esmm__model_set_train_state(esmm_model *m, const esmm__train_state *st) {
  m->step = st->step;
  m->epoch = st->epoch;
  m->samples = st->samples;
  m->epoch_steps = st->epoch_steps;
  m->epoch_loss_sum = st->epoch_loss_sum;
  m->epoch_ds = NULL;
  if (st->perm_n) {
    m->rng_epoch = st->rng_epoch;
    m->resume_n = st->perm_n;
    m->resume_cursor = st->cursor;
  } else {
    m->rng = st->rng_epoch; /* no epoch begun yet: the RNG as it stands */
    m->resume_n = 0;
  }
}

static int finite_tower_grads(const esmm_mlp *t) {
  for (size_t l = 0; l < t->n_layers; l++)
    if (!esmm__all_finite(t->layer[l].gw, t->layer[l].n_in * t->layer[l].n_out) ||
        !esmm__all_finite(t->layer[l].gb, t->layer[l].n_out))
      return 0;
  return 1;
}

static int update_tower(esmm_model *m, esmm_mlp *t, const int *blk) {
  for (size_t l = 0; l < t->n_layers; l++) {
    ESMM__TRY(esmm_optimizer_update_dense(m->opt, blk[2 * l], t->layer[l].w, t->layer[l].gw));
    ESMM__TRY(esmm_optimizer_update_dense(m->opt, blk[2 * l + 1], t->layer[l].b, t->layer[l].gb));
  }
  return ESMM_OK;
}

/* Forward and loss of the batch rows idx[0..n); fills gc/gv. */
static int forward_loss(esmm_model *m, const esmm_dataset *ds, const size_t *idx, size_t n) {
  double lsum_c = 0, lsum_t = 0;
  int64_t last = -1;
  for (size_t i = 0; i < n; i++)
    pool_row(m->emb, ds, idx[i], m->x + i * m->in_dim, m->pool_dim, m->cpool, &last);
  ESMM__TRY(esmm_mlp_forward(m->ctr, m->x, n, m->lc));
  ESMM__TRY(esmm_mlp_forward(m->cvr, m->x, n, m->lv));
  for (size_t i = 0; i < n; i++) {
    size_t r = idx[i];
    int y = ds->click[r], t = ds->click[r] & ds->conv[r];
    double l_c, l_t, g_a, g_b;
    esmm__loss_esmm_one(m->lc[i], m->lv[i], y, t, m->w_ctr, m->w_ctcvr, &l_c, &l_t, &g_a, &g_b);
    lsum_c += l_c;
    lsum_t += l_t;
    m->gc[i] = (float)(g_a / (double)n);
    m->gv[i] = (float)(g_b / (double)n);
  }
  m->loss_ctr = lsum_c / (double)n;
  m->loss_ctcvr = lsum_t / (double)n;
  m->loss = m->w_ctr * m->loss_ctr + m->w_ctcvr * m->loss_ctcvr;
  if (!isfinite(m->loss) || !esmm__all_finite(m->gc, n) || !esmm__all_finite(m->gv, n))
    return esmm__error(ESMM_ENUMERIC, "esmm_model_train",
                       "step %lld: the loss is not finite (ctr %g, ctcvr %g); the step was not applied",
                       (long long)m->step + 1, m->loss_ctr, m->loss_ctcvr);
  return ESMM_OK;
}

/* Gradients of the batch whose forward_loss just ran: tower gradients in
 * the towers, the embedding's sparse gradient in m->sg (the caller must end
 * the scatter with esmm__embedding_scatter_end, whatever happens). */
static int compute_grads(esmm_model *m, const esmm_dataset *ds, const size_t *idx, size_t n) {
  size_t gxn = n * m->in_dim;
  ESMM__TRY(esmm_mlp_backward(m->ctr, m->gc, m->gx));
  ESMM__TRY(esmm_mlp_backward(m->cvr, m->gv, m->x)); /* x is free now: reuse it for the CVR input grad */
  for (size_t k = 0; k < gxn; k++)
    m->gx[k] += m->x[k];
  ESMM__TRY(scatter_batch(m, ds, idx, n, m->gx));
  if (!finite_tower_grads(m->ctr) || !finite_tower_grads(m->cvr) || !esmm__all_finite(m->sg.g, m->sg.n * m->dim))
    return esmm__error(ESMM_ENUMERIC, "esmm_model_train",
                       "step %lld: a gradient is not finite; the step was not applied", (long long)m->step + 1);
  return ESMM_OK;
}

static int apply_update(esmm_model *m) {
  ESMM__TRY(esmm_optimizer_begin_step(m->opt));
  ESMM__TRY(esmm_optimizer_update_rows(m->opt, m->blk_emb, m->emb->w, m->sg.n, m->sg.rows, m->sg.g));
  ESMM__TRY(update_tower(m, m->ctr, m->blk_ctr));
  return update_tower(m, m->cvr, m->blk_cvr);
}

int esmm__model_loss(esmm_model *m, const esmm_dataset *ds, const size_t *idx, size_t n, double *loss) {
  ESMM__TRY(forward_loss(m, ds, idx, n));
  *loss = m->loss;
  return ESMM_OK;
}

int esmm__model_grads(esmm_model *m, const esmm_dataset *ds, const size_t *idx, size_t n, double *loss) {
  ESMM__TRY(reserve_sparse(m, ds));
  ESMM__TRY(forward_loss(m, ds, idx, n));
  *loss = m->loss;
  return compute_grads(m, ds, idx, n);
}

/* One step on the next batch of the epoch; *epoch_done set when it ended. */
static int train_one(esmm_model *m, const esmm_dataset *ds, int *epoch_done) {
  size_t n;
  const size_t *idx;
  if (m->cursor >= m->perm_n) {
    shuffle(m, ds);
    m->cursor = 0;
    m->epoch_steps = 0;
    m->epoch_loss_sum = 0;
  }
  n = m->perm_n - m->cursor;
  if (n > m->batch)
    n = m->batch;
  idx = m->perm + m->cursor;
  int rc;
  ESMM__TRY(forward_loss(m, ds, idx, n));
  rc = compute_grads(m, ds, idx, n);
  if (rc == ESMM_OK)
    rc = apply_update(m);
  esmm__embedding_scatter_end(m->emb, &m->sg);
  if (rc)
    return rc;
  m->cursor += n;
  m->step++;
  m->samples += (int64_t)n;
  m->epoch_steps++;
  m->epoch_loss_sum += m->loss;
  *epoch_done = m->cursor >= m->perm_n;
  if (*epoch_done)
    m->epoch++;
  return ESMM_OK;
}

static double now_sec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Train until max_steps steps were taken or (stop_at_epoch) the epoch ended. */
static int train_loop(esmm_model *m, const esmm_dataset *ds, int64_t max_steps, int stop_at_epoch,
                      esmm_progress_fn fn, void *payload) {
  double t0 = now_sec();
  int64_t s0 = m->samples;
  int rc = ESMM_OK;
  ESMM__TRY(check_dataset(m, ds, stop_at_epoch ? "esmm_model_train_epoch" : "esmm_model_train_steps"));
  if (ds->n_rows == 0)
    return esmm__error(ESMM_EINVAL, stop_at_epoch ? "esmm_model_train_epoch" : "esmm_model_train_steps",
                       "the dataset has no rows");
  ESMM__TRY(begin_dataset(m, ds));
  for (int64_t s = 0; s < max_steps; s++) {
    int done = 0;
    rc = train_one(m, ds, &done);
    if (rc)
      break;
    if (fn && fn(m, m->step, payload)) {
      rc = esmm__error(ESMM_ECANCELED, "esmm_model_train", "the progress callback stopped training at step %lld",
                       (long long)m->step);
      break;
    }
    if (done && stop_at_epoch)
      break;
  }
  {
    double dt = now_sec() - t0;
    m->samples_per_sec = dt > 0 ? (double)(m->samples - s0) / dt : 0;
  }
  if (rc == ESMM_OK)
    esmm__log(&m->log, ESMM_LOG_DEBUG, "step %lld loss %.6f (%.0f samples/s)", (long long)m->step, m->loss,
              m->samples_per_sec);
  return rc;
}

int esmm_model_train_epoch(esmm_model *m, const esmm_dataset *ds, esmm_progress_fn fn, void *payload) {
  ESMM__CHECK_ARG(m && ds);
  return train_loop(m, ds, INT64_MAX, 1, fn, payload);
}

int esmm_model_train_steps(esmm_model *m, const esmm_dataset *ds, int64_t n_steps, esmm_progress_fn fn,
                           void *payload) {
  ESMM__CHECK_ARG(m && ds);
  if (n_steps < 0)
    return ESMM__ERR(ESMM_EINVAL, "n_steps must be >= 0, got %lld", (long long)n_steps);
  return train_loop(m, ds, n_steps, 0, fn, payload);
}

int esmm_model_train(esmm_model *m, const esmm_dataset *ds, esmm_progress_fn fn, void *payload) {
  int64_t epochs;
  ESMM__CHECK_ARG(m && ds);
  epochs = esmm__config_int(m->cfg, ESMM_OPT_EPOCHS);
  for (int64_t e = 0; e < epochs; e++)
    ESMM__TRY(esmm_model_train_epoch(m, ds, fn, payload));
  return ESMM_OK;
}

int esmm_model_stat(const esmm_model *m, int key, double *out) {
  ESMM__CHECK_ARG(m && out);
  switch (key) {
  case ESMM_STAT_STEP: *out = (double)m->step; break;
  case ESMM_STAT_EPOCH: *out = (double)m->epoch; break;
  case ESMM_STAT_LOSS: *out = m->loss; break;
  case ESMM_STAT_LOSS_CTR: *out = m->loss_ctr; break;
  case ESMM_STAT_LOSS_CTCVR: *out = m->loss_ctcvr; break;
  case ESMM_STAT_SAMPLES: *out = (double)m->samples; break;
  case ESMM_STAT_SAMPLES_PER_SEC: *out = m->samples_per_sec; break;
  case ESMM_STAT_PARAMS:
    *out = (double)(m->emb->rows * m->dim + esmm__mlp_param_count(m->ctr) + esmm__mlp_param_count(m->cvr));
    break;
  case ESMM_STAT_EPOCH_LOSS: *out = m->epoch_steps ? m->epoch_loss_sum / (double)m->epoch_steps : NAN; break;
  default: return ESMM__ERR(ESMM_EINVAL, "unknown statistic key %d", key);
  }
  return ESMM_OK;
}

int esmm_model_config(const esmm_model *m, esmm_config **out) {
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(m);
  return esmm_config_clone(m->cfg, out);
}

/* ---- prediction -------------------------------------------------------- */

int esmm_workspace_new(esmm_workspace **out, const esmm_model *m, size_t max_batch) {
  esmm_workspace *ws;
  size_t sc, sv, bx;
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(m);
  if (max_batch == 0)
    max_batch = m->batch;
  if (!esmm__mul_ok(max_batch, m->in_dim, &bx))
    return ESMM__ERR(ESMM_EINVAL, "max_batch %zu is too large", max_batch);
  ws = esmm__calloc(&m->alloc, 1, sizeof *ws);
  if (!ws)
    return ESMM__ERR(ESMM_ENOMEM, "out of memory");
  ws->alloc = m->alloc;
  ws->max_batch = max_batch;
  ws->in_dim = m->in_dim;
  ws->pool_dim = m->pool_dim;
  sc = esmm__mlp_infer_scratch(m->ctr, max_batch);
  sv = esmm__mlp_infer_scratch(m->cvr, max_batch);
  ws->scratch_n = sc > sv ? sc : sv;
  ws->x = esmm__alloc(&ws->alloc, bx * sizeof(float));
  ws->lc = esmm__alloc(&ws->alloc, max_batch * sizeof(float));
  ws->lv = esmm__alloc(&ws->alloc, max_batch * sizeof(float));
  ws->scratch = esmm__alloc(&ws->alloc, ws->scratch_n * sizeof(float));
  ws->cpool = esmm__alloc(&ws->alloc, (m->pool_dim ? m->pool_dim : 1) * sizeof(float));
  if (!ws->x || !ws->lc || !ws->lv || !ws->scratch || !ws->cpool) {
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
  esmm__free(&a, ws->lc);
  esmm__free(&a, ws->lv);
  esmm__free(&a, ws->scratch);
  esmm__free(&a, ws->cpool);
  esmm__free(&a, ws);
}

static int workspace_fits(const esmm_model *m, const esmm_workspace *ws) {
  return ws->in_dim == m->in_dim && ws->pool_dim == m->pool_dim && ws->scratch_n >= esmm__mlp_infer_scratch(m->ctr, ws->max_batch) &&
         ws->scratch_n >= esmm__mlp_infer_scratch(m->cvr, ws->max_batch);
}

static void predict_chunk(const esmm_model *m, esmm_workspace *ws, const esmm_dataset *ds, size_t first,
                          size_t n, float *pctr, float *pcvr, float *pctcvr) {
  int64_t last = -1;
  for (size_t i = 0; i < n; i++)
    pool_row(m->emb, ds, first + i, ws->x + i * m->in_dim, m->pool_dim, ws->cpool, &last);
  esmm__mlp_infer(m->ctr, ws->x, n, ws->lc, ws->scratch);
  esmm__mlp_infer(m->cvr, ws->x, n, ws->lv, ws->scratch);
  /* logits from finite parameters and inputs are finite: the head cannot fail */
  esmm_head_forward(ws->lc, ws->lv, n, pctr, pcvr, pctcvr);
}

int esmm_model_predict(const esmm_model *m, esmm_workspace *ws, const esmm_dataset *ds, size_t first, size_t n,
                       float *pctr, float *pcvr, float *pctcvr) {
  esmm_workspace *own = NULL;
  ESMM__CHECK_ARG(m && ds);
  if (first > ds->n_rows || n > ds->n_rows - first)
    return ESMM__ERR(ESMM_EINVAL, "rows [%zu, %zu) are outside the dataset's %zu rows", first, first + n,
                     ds->n_rows);
  ESMM__TRY(check_dataset(m, ds, __func__));
  if (!ws) {
    ESMM__TRY(esmm_workspace_new(&own, m, n < m->batch ? (n ? n : 1) : m->batch));
    ws = own;
  } else if (!workspace_fits(m, ws)) {
    return ESMM__ERR(ESMM_ESHAPE, "the workspace was made for another model shape");
  }
  for (size_t done = 0; done < n;) {
    size_t k = n - done < ws->max_batch ? n - done : ws->max_batch;
    predict_chunk(m, ws, ds, first + done, k, pctr ? pctr + done : NULL, pcvr ? pcvr + done : NULL,
                  pctcvr ? pctcvr + done : NULL);
    done += k;
  }
  esmm_workspace_free(own);
  return ESMM_OK;
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
