/* model.c - composes embedding, towers, head, loss and optimizer into the
 * ESMM model, and implements the public esmm_model_* training API.
 *
 * One training step over a batch B of impressions:
 *   x[i]   = concat_f sum_{features of field f of row i (own + common)} value * E[row], dense_i
 *            (a common list is pooled once for a run of rows sharing it, and its
 *            gradient is summed over the run before one scatter; with grouped
 *            batches on a qualifying dataset the towers' first layers take it
 *            once per run too: "first-layer split" below)
 *   a, b   = CTR tower(x), CVR tower(x)                        (logits)
 *   L      = w_ctr * mean BCE(sigmoid(a), y) + w_ctcvr * mean BCE(sigmoid(a)sigmoid(b), y*z)
 *   dL/da, dL/db from the logits (loss.h, in log space)
 *   dL/dx  = CTR tower backward + CVR tower backward           (the embedding is shared)
 *   dL/dE  = sparse scatter of dL/dx over the features of the batch
 *   update: dense towers, lazily the embedding rows touched.
 * A step whose loss or gradients are not finite is not applied.
 *
 * Variants (esmm_variant) change three things only, each in one place:
 *   - the second tower reads its own table emb2 instead of emb (ESMM_NS,
 *     BASE, DIVISION: has_own_table), so its input gradient goes to emb2;
 *   - ESCM2_DR adds an imputation tower on emb's pooling (m->imp);
 *   - the per-impression loss and its logit gradients (loss.c,
 *     esmm__loss_variant_one); DIVISION's head divides instead of
 *     multiplying (esmm__model_infer).
 * Everything else (batching, shuffling, pooling, optimizer, train state) is
 * the same code for every variant. */
#include "model.h"

#include "config.h"
#include "dataset.h"
#include "loss.h"
#include "optimizer.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static uint64_t sub_seed(uint64_t seed, uint64_t k) { return esmm__mix64(seed * 0x100000001b3ULL + k); }
static double param_count(const esmm_model *m);

static int check_variant(const esmm_config *cfg) {
  int64_t v = esmm__config_int(cfg, ESMM_OPT_VARIANT);
  if (v < ESMM_VARIANT_ESMM || v > ESMM_VARIANT_ESCM2_DR)
    return esmm__error(ESMM_EINVAL, "esmm_model_new", "ESMM_OPT_VARIANT %lld is not implemented in libesmm %s",
                       (long long)v, ESMM_VERSION_STRING);
  return ESMM_OK;
}

/* The second tower has its own embedding table (no sharing with the CTR tower). */
static int has_own_table(int64_t variant) {
  return variant == ESMM_VARIANT_ESMM_NS || variant == ESMM_VARIANT_BASE || variant == ESMM_VARIANT_DIVISION;
}

static esmm__loss_cfg loss_cfg(const esmm_config *cfg) {
  esmm__loss_cfg c;
  c.variant = (int)esmm__config_int(cfg, ESMM_OPT_VARIANT);
  c.w_ctr = esmm__config_float(cfg, ESMM_OPT_LOSS_WEIGHT_CTR);
  c.w_ctcvr = esmm__config_float(cfg, ESMM_OPT_LOSS_WEIGHT_CTCVR);
  c.clip = esmm__config_float(cfg, ESMM_OPT_PROPENSITY_CLIP);
  c.stop_grad = (int)esmm__config_int(cfg, ESMM_OPT_PROPENSITY_STOP_GRAD);
  switch (c.variant) {
  case ESMM_VARIANT_BASE: c.w_cvr = 1.0; break;
  case ESMM_VARIANT_ESCM2_IPS:
  case ESMM_VARIANT_ESCM2_DR: c.w_cvr = esmm__config_float(cfg, ESMM_OPT_LAMBDA_C); break;
  case ESMM_VARIANT_DIVISION: c.w_cvr = 0.0; break;
  default: c.w_cvr = esmm__config_float(cfg, ESMM_OPT_CVR_CLICK_WEIGHT); break;
  }
  return c;
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
  size_t bp, tp;
  if (!esmm__mul_ok(m->batch, m->pool_dim ? m->pool_dim : 1, &bp) ||
      !esmm__mul_ok(m->n_threads, m->pool_dim ? m->pool_dim : 1, &tp))
    return ESMM__ERR(ESMM_ENOMEM, "batch x input size overflows");
  m->cpool = esmm__calloc(&m->alloc, tp, sizeof(float));
  m->gsum = esmm__calloc(&m->alloc, bp, sizeof(float));
  m->x = esmm__calloc(&m->alloc, bx, sizeof(float));
  m->gx = esmm__calloc(&m->alloc, bx, sizeof(float));
  m->lc = esmm__calloc(&m->alloc, m->batch, sizeof(float));
  m->lv = esmm__calloc(&m->alloc, m->batch, sizeof(float));
  m->gc = esmm__calloc(&m->alloc, m->batch, sizeof(float));
  m->gv = esmm__calloc(&m->alloc, m->batch, sizeof(float));
  m->sg_rec = esmm__calloc(&m->alloc, m->batch, sizeof *m->sg_rec);
  if (!m->x || !m->gx || !m->lc || !m->lv || !m->gc || !m->gv || !m->cpool || !m->gsum || !m->sg_rec)
    return ESMM__ERR(ESMM_ENOMEM, "out of memory for the training scratch (batch %zu)", m->batch);
  if (has_own_table(m->variant)) {
    m->x2 = esmm__calloc(&m->alloc, bx, sizeof(float));
    m->cpool2 = esmm__calloc(&m->alloc, tp, sizeof(float));
    m->gsum2 = esmm__calloc(&m->alloc, bp, sizeof(float));
    if (!m->x2 || !m->cpool2 || !m->gsum2)
      return ESMM__ERR(ESMM_ENOMEM, "out of memory for the training scratch (batch %zu)", m->batch);
  }
  if (m->variant == ESMM_VARIANT_ESCM2_DR) {
    m->lt = esmm__calloc(&m->alloc, m->batch, sizeof(float));
    m->gt = esmm__calloc(&m->alloc, m->batch, sizeof(float));
    if (!m->lt || !m->gt)
      return ESMM__ERR(ESMM_ENOMEM, "out of memory for the training scratch (batch %zu)", m->batch);
  }
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
  /* the variants' extra parts draw from sub-seeds of their own, so ESMM's
   * initialisation is the same whatever the variant */
  if (has_own_table(m->variant))
    ESMM__TRY(esmm__embedding_create(&m->emb2, &m->alloc, m->n_fields, buckets, m->dim,
                                     esmm__config_float(cfg, ESMM_OPT_INIT_SCALE), sub_seed(seed, 5)));
  if (m->variant == ESMM_VARIANT_ESCM2_DR)
    ESMM__TRY(esmm__mlp_create(&m->imp, &m->alloc, m->in_dim, tv, nv, 1, act, m->batch, sub_seed(seed, 6)));
  ESMM__TRY(esmm__optimizer_create(&m->opt, cfg));
  /* registration order = esmm__model_tensors order (block id k = tensor k) */
  ESMM__TRY(esmm_optimizer_add_block(m->opt, m->emb->rows, m->dim, &m->blk_emb));
  ESMM__TRY(register_tower(m, m->ctr, m->blk_ctr));
  ESMM__TRY(register_tower(m, m->cvr, m->blk_cvr));
  if (m->emb2)
    ESMM__TRY(esmm_optimizer_add_block(m->opt, m->emb2->rows, m->dim, &m->blk_emb2));
  if (m->imp)
    ESMM__TRY(register_tower(m, m->imp, m->blk_imp));
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
  m->n_threads = (size_t)esmm__config_int(cfg, ESMM_OPT_NUM_THREADS);
  m->batch = (size_t)esmm__config_int(cfg, ESMM_OPT_BATCH_SIZE);
  m->w_ctr = esmm__config_float(cfg, ESMM_OPT_LOSS_WEIGHT_CTR);
  m->w_ctcvr = esmm__config_float(cfg, ESMM_OPT_LOSS_WEIGHT_CTCVR);
  m->variant = (int)esmm__config_int(cfg, ESMM_OPT_VARIANT);
  m->lcfg = loss_cfg(cfg);
  rc = build(m);
  if (rc) {
    esmm_model_free(m);
    return rc;
  }
  esmm__log(&m->log, ESMM_LOG_INFO, "model: variant %d, %zu fields x %zu dims, %.0f parameters", m->variant,
            m->n_fields, m->dim, param_count(m));
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
  esmm_embedding_free(m->emb2);
  esmm_mlp_free(m->imp);
  esmm_optimizer_free(m->opt);
  esmm__free(&a, m->x2);
  esmm__free(&a, m->cpool2);
  esmm__free(&a, m->gsum2);
  esmm__free(&a, m->sg2.rows);
  esmm__free(&a, m->sg2.g);
  esmm__free(&a, m->lt);
  esmm__free(&a, m->gt);
  esmm__free(&a, m->items);
  esmm__free(&a, m->items2);
  esmm__free(&a, m->sg_rec);
  esmm__free(&a, m->run_id);
  esmm__free(&a, m->cbat);
  esmm__free(&a, m->cbat2);
  esmm__free(&a, m->fl_scr);
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

/* Append the shapes of a tower with hidden sizes h[0..nh) on input in_dim. */
static size_t tower_shapes(const char *prefix, size_t in_dim, const int64_t *h, size_t nh, esmm__tensor *out,
                           size_t cap, size_t n) {
  size_t in = in_dim;
  for (size_t l = 0; l <= nh; l++) {
    size_t o = l < nh ? (size_t)h[l] : 1;
    for (int wb = 0; wb < 2; wb++, n++) {
      if (n >= cap)
        continue;
      snprintf(out[n].name, sizeof out[n].name, "%s.%zu.%c", prefix, l, wb ? 'b' : 'w');
      out[n].data = NULL;
      out[n].rows = wb ? 1 : in;
      out[n].cols = o;
    }
    in = o;
  }
  return n;
}

static size_t one_shape(const char *name, size_t rows, size_t cols, esmm__tensor *out, size_t cap, size_t n) {
  if (n < cap) {
    snprintf(out[n].name, sizeof out[n].name, "%s", name);
    out[n].data = NULL;
    out[n].rows = rows;
    out[n].cols = cols;
  }
  return n + 1;
}

size_t esmm__model_tensor_shapes(const esmm_config *cfg, esmm__tensor *out, size_t cap) {
  int64_t v = esmm__config_int(cfg, ESMM_OPT_VARIANT);
  size_t dim = (size_t)esmm__config_int(cfg, ESMM_OPT_EMBED_DIM), rows = 0, nc, nv, n = 0;
  size_t in_dim = cfg->n_fields * dim + (size_t)esmm__config_int(cfg, ESMM_OPT_DENSE_FEATURES);
  const int64_t *tc = esmm__config_tower(cfg, ESMM_OPT_CTR_TOWER, &nc);
  const int64_t *tv = esmm__config_tower(cfg, ESMM_OPT_CVR_TOWER, &nv);
  int div = v == ESMM_VARIANT_DIVISION;
  for (size_t f = 0; f < cfg->n_fields; f++)
    rows += (size_t)esmm__config_buckets(cfg, f);
  n = one_shape("embedding", rows, dim, out, cap, n);
  n = tower_shapes("ctr", in_dim, tc, nc, out, cap, n);
  n = tower_shapes(div ? "ctcvr" : "cvr", in_dim, tv, nv, out, cap, n);
  if (has_own_table(v))
    n = one_shape(div ? "embedding_ctcvr" : "embedding_cvr", rows, dim, out, cap, n);
  if (v == ESMM_VARIANT_ESCM2_DR)
    n = tower_shapes("imp", in_dim, tv, nv, out, cap, n);
  return n;
}

/* Data pointers in esmm__model_tensor_shapes order. */
static size_t tower_data(esmm_mlp *t, esmm__tensor *out, size_t cap, size_t n) {
  for (size_t l = 0; l < t->n_layers; l++)
    for (int wb = 0; wb < 2; wb++, n++)
      if (n < cap)
        out[n].data = wb ? t->layer[l].b : t->layer[l].w;
  return n;
}

size_t esmm__model_tensors(esmm_model *m, esmm__tensor *out, size_t cap) {
  size_t total = esmm__model_tensor_shapes(m->cfg, out, cap), n = 0;
  if (n < cap)
    out[n].data = m->emb->w;
  n = tower_data(m->ctr, out, cap, n + 1);
  n = tower_data(m->cvr, out, cap, n);
  if (m->emb2) {
    if (n < cap)
      out[n].data = m->emb2->w;
    n++;
  }
  if (m->imp)
    n = tower_data(m->imp, out, cap, n);
  (void)n; /* == total: the shapes and the parts are built from the same config */
  return total;
}

static size_t tower_blocks(const esmm_mlp *t, const int *blk, int *out, size_t cap, size_t n) {
  for (size_t l = 0; l < 2 * t->n_layers; l++, n++)
    if (n < cap)
      out[n] = blk[l];
  return n;
}

size_t esmm__model_blocks(const esmm_model *m, int *out, size_t cap) {
  size_t n = 0;
  if (n < cap)
    out[n] = m->blk_emb;
  n = tower_blocks(m->ctr, m->blk_ctr, out, cap, n + 1);
  n = tower_blocks(m->cvr, m->blk_cvr, out, cap, n);
  if (m->emb2) {
    if (n < cap)
      out[n] = m->blk_emb2;
    n++;
  }
  if (m->imp)
    n = tower_blocks(m->imp, m->blk_imp, out, cap, n);
  return n;
}

static double param_count(const esmm_model *m) {
  double p = (double)(m->emb->rows * m->dim) + (double)esmm__mlp_param_count(m->ctr) +
             (double)esmm__mlp_param_count(m->cvr);
  if (m->emb2)
    p += (double)(m->emb2->rows * m->dim);
  if (m->imp)
    p += (double)esmm__mlp_param_count(m->imp);
  return p;
}

/* ---- batch assembly ---------------------------------------------------- */

/* x = the row's own features pooled, plus its common list pooled, plus its
 * dense inputs. The common list is pooled into cp, which is reused while
 * consecutive rows share the list (*last tracks it): grouped data pools each
 * user once per run of rows. Own and common parts are always pooled apart and
 * then added, so the result does not depend on how rows are grouped. */
/* One pooled input: the own features into a zeroed row, the common part
 * (already pooled into cp, or NULL) added, then the numeric inputs. Dataset
 * rows (pool_row) and host-memory rows (serving, esmm__model_pool_row) both
 * go through here, so the two paths pool bit-identically. */
static void pool_features(const esmm_embedding *e, size_t pool_dim, size_t n_dense, float *x, size_t nnz,
                          const int *field, const uint64_t *id, const float *value, const float *cp,
                          const float *dense) {
  memset(x, 0, pool_dim * sizeof *x);
  esmm__embedding_pool(e, nnz, field, id, value, x);
  if (cp)
    for (size_t k = 0; k < pool_dim; k++)
      x[k] += cp[k];
  if (n_dense)
    memcpy(x + pool_dim, dense, n_dense * sizeof *x);
}

/* A common list pooled on its own (into cp, pool_dim floats). */
static void pool_list(const esmm_embedding *e, size_t pool_dim, size_t nnz, const int *field, const uint64_t *id,
                      const float *value, float *cp) {
  memset(cp, 0, pool_dim * sizeof *cp);
  esmm__embedding_pool(e, nnz, field, id, value, cp);
}

static void pool_row(const esmm_embedding *e, const esmm_dataset *ds, size_t r, float *x, size_t pool_dim,
                     float *cp, int64_t *last) {
  int64_t lo = ds->row_off[r], hi = ds->row_off[r + 1];
  int64_t c = ds->common[r];
  if (c >= 0 && c != *last) {
    int64_t clo = ds->com_off[c], chi = ds->com_off[c + 1];
    pool_list(e, pool_dim, (size_t)(chi - clo), ds->com_field + clo, ds->com_id + clo, ds->com_value + clo, cp);
    *last = c;
  }
  pool_features(e, pool_dim, ds->n_dense, x, (size_t)(hi - lo), ds->field + lo, ds->id + lo, ds->value + lo,
                c >= 0 ? cp : NULL, ds->n_dense ? ds->dense + r * ds->n_dense : NULL);
}

/* ---- worker threads (ESMM_OPT_NUM_THREADS) ------------------------------ */

/* The parallel phases: pooling a batch (training and esmm_model_predict),
 * summing a run's gradients and accumulating the sparse gradients
 * (scatter), and the optimizer update. Each splits its work into
 * contiguous, disjoint ranges -- rows, runs, slots, parameters -- whose
 * results are computed by exactly the operations, in the order, of one
 * thread, so results are bit-identical for every thread count.
 *
 * Threads are created for each phase and joined at its end (run_par), not
 * kept in a pool owned by the model. Measured on the bench machine
 * (glibc 2.x, 2 cores, an empty worker): pthread_create + join costs 20-23
 * us, against 0.5-2 ms of work per phase at batch 1,024: 4 phases a step
 * (pool, run sums, scatter accumulation, update) x ~22 us = ~0.1 ms of a
 * ~14 ms step (docs/performance.md, "Worker threads"). In exchange: no state,
 * no condition variables, nothing to join in esmm_model_free, models that
 * are never trained hold no threads, and esmm_model_predict on a const model
 * works the same from any number of host threads at once (a model-owned pool
 * would have to serialise them). glibc caches the stacks of joined threads,
 * so a steady-state step maps no memory; the library's allocator is never
 * used. Phases with too little work (see *_PER_THREAD) run on the caller's
 * thread; a model with 1 thread never creates one. If pthread_create fails,
 * that share of the phase runs on the calling thread after its own: a
 * phase cannot fail, and the results are the same. */
#define ESMM__MAX_THREADS 256              /* ESMM_OPT_NUM_THREADS' bound (config.c) */
#define ROWS_PER_THREAD ((size_t)64)       /* pooling, run sums: batch rows */
#define SLOTS_PER_THREAD ((size_t)512)     /* scatter: distinct embedding rows */
#define PARAMS_PER_THREAD ((size_t)32768)  /* optimizer: parameters */

typedef void (*par_fn)(void *ctx, size_t t, size_t nt);

typedef struct par_arg {
  pthread_t tid;
  par_fn fn;
  void *ctx;
  size_t t, nt;
  int started;
} par_arg;

static void *par_main(void *p) {
  par_arg *a = p;
  a->fn(a->ctx, a->t, a->nt);
  return NULL;
}

/* Threads worth using for work units of which per_thread fill one thread. */
static size_t par_threads(const esmm_model *m, size_t max_threads, size_t units, size_t per_thread) {
  size_t nt = m->par_split_all ? max_threads : units / per_thread;
  if (nt > max_threads)
    nt = max_threads;
  if (nt > ESMM__MAX_THREADS)
    nt = ESMM__MAX_THREADS;
  return nt ? nt : 1;
}

/* fn(ctx, t, nt) for t in [0, nt): t = 0 on the calling thread, the others
 * on threads created here and joined before returning. */
static void run_par(size_t nt, par_fn fn, void *ctx) {
  par_arg arg[ESMM__MAX_THREADS];
  if (nt <= 1) {
    fn(ctx, 0, 1);
    return;
  }
  for (size_t t = 1; t < nt; t++) {
    arg[t].fn = fn;
    arg[t].ctx = ctx;
    arg[t].t = t;
    arg[t].nt = nt;
    arg[t].started = pthread_create(&arg[t].tid, NULL, par_main, &arg[t]) == 0;
  }
  fn(ctx, 0, nt);
  for (size_t t = 1; t < nt; t++) {
    if (arg[t].started)
      pthread_join(arg[t].tid, NULL);
    else
      fn(ctx, t, nt);
  }
}

/* Contiguous part t of nt of [0, n). */
static void par_range(size_t n, size_t t, size_t nt, size_t *lo, size_t *hi) {
  *lo = (size_t)((double)n * (double)t / (double)nt);
  *hi = t + 1 == nt ? n : (size_t)((double)n * (double)(t + 1) / (double)nt);
  if (*lo > n)
    *lo = n;
  if (*hi > n)
    *hi = n;
  if (*hi < *lo)
    *hi = *lo;
}

/* A batch: rows idx[0..n) of ds, or rows first..first+n when idx is NULL. */
typedef struct batch_rows {
  const esmm_dataset *ds;
  const size_t *idx;
  size_t first, n;
} batch_rows;

static size_t batch_row(const batch_rows *b, size_t i) { return b->idx ? b->idx[i] : b->first + i; }

/* Part t of nt of the batch's rows, its ends moved forward to the next
 * change of common list, so that a run of rows sharing one is pooled (and
 * its gradients summed) by one thread, once. */
static void row_range(const batch_rows *b, size_t t, size_t nt, size_t *lo, size_t *hi) {
  size_t e[2];
  par_range(b->n, t, nt, &e[0], &e[1]);
  for (int k = 0; k < 2; k++) {
    size_t i = e[k];
    while (i > 0 && i < b->n) {
      int64_t c = b->ds->common[batch_row(b, i)];
      if (c < 0 || c != b->ds->common[batch_row(b, i - 1)])
        break;
      i++;
    }
    e[k] = i;
  }
  *lo = e[0];
  *hi = e[1];
}

/* Pooling of the batch rows into x (and x2), one cpool per thread. */
typedef struct pool_job {
  const esmm_model *m;
  batch_rows b;
  float *x, *x2, *cpool, *cpool2;
  int split; /* first-layer split: own features only into x; run r's common list into cbat row r */
} pool_job;

/* Split pooling of rows [lo, hi): each run's common list once into its row
 * of cbat (cbat2), the rows' own features (and dense inputs) alone. */
static void pool_split(const esmm_model *m, const batch_rows *b, size_t lo, size_t hi, float *x, float *x2) {
  const esmm_dataset *ds = b->ds;
  for (size_t i = lo; i < hi; i++) {
    size_t r = batch_row(b, i);
    int64_t olo = ds->row_off[r], ohi = ds->row_off[r + 1], c = ds->common[r], k = m->run_id[i];
    const float *dense = ds->n_dense ? ds->dense + r * ds->n_dense : NULL;
    if (k >= 0 && (i == lo || m->run_id[i - 1] != k)) {
      int64_t clo = ds->com_off[c], chi = ds->com_off[c + 1];
      pool_list(m->emb, m->pool_dim, (size_t)(chi - clo), ds->com_field + clo, ds->com_id + clo,
                ds->com_value + clo, m->cbat + (size_t)k * m->pool_dim);
      if (m->emb2)
        pool_list(m->emb2, m->pool_dim, (size_t)(chi - clo), ds->com_field + clo, ds->com_id + clo,
                  ds->com_value + clo, m->cbat2 + (size_t)k * m->pool_dim);
    }
    pool_features(m->emb, m->pool_dim, ds->n_dense, x + i * m->in_dim, (size_t)(ohi - olo), ds->field + olo,
                  ds->id + olo, ds->value + olo, NULL, dense);
    if (m->emb2)
      pool_features(m->emb2, m->pool_dim, ds->n_dense, x2 + i * m->in_dim, (size_t)(ohi - olo), ds->field + olo,
                    ds->id + olo, ds->value + olo, NULL, dense);
  }
}

static void pool_part(void *ctx, size_t t, size_t nt) {
  const pool_job *j = ctx;
  const esmm_model *m = j->m;
  size_t lo, hi, pd = m->pool_dim ? m->pool_dim : 1;
  int64_t last = -1, last2 = -1;
  row_range(&j->b, t, nt, &lo, &hi);
  if (j->split) {
    pool_split(m, &j->b, lo, hi, j->x, j->x2);
    return;
  }
  for (size_t i = lo; i < hi; i++) {
    size_t r = batch_row(&j->b, i);
    pool_row(m->emb, j->b.ds, r, j->x + i * m->in_dim, m->pool_dim, j->cpool + t * pd, &last);
    if (m->emb2)
      pool_row(m->emb2, j->b.ds, r, j->x2 + i * m->in_dim, m->pool_dim, j->cpool2 + t * pd, &last2);
  }
}

static void pool_batch(const esmm_model *m, size_t max_threads, const batch_rows *b, float *x, float *x2,
                       float *cpool, float *cpool2, int split) {
  pool_job j = {m, *b, x, x2, cpool, cpool2, split};
  run_par(par_threads(m, max_threads, b->n, ROWS_PER_THREAD), pool_part, &j);
}

/* The run sums of the scatter: for each run of rows sharing a common list,
 * gsum + (first row of the run) * pool_dim = the sum of the run's gradients
 * g (stride in_dim), added in row order to zero; for emb (g = gx into gsum)
 * and emb2 (x2 into gsum2). */
typedef struct runsum_job {
  esmm_model *m;
  batch_rows b;
} runsum_job;

static void run_sums(const esmm_model *m, const batch_rows *b, size_t lo, size_t hi, const float *g, float *gsum) {
  size_t pd = m->pool_dim, start = lo;
  for (size_t i = lo; i < hi; i++) {
    int64_t c = b->ds->common[batch_row(b, i)];
    const float *gi = g + i * m->in_dim;
    float *dst;
    if (c < 0)
      continue;
    if (i == lo || b->ds->common[batch_row(b, i - 1)] != c) {
      start = i;
      memset(gsum + start * pd, 0, pd * sizeof *gsum);
    }
    dst = gsum + start * pd;
    for (size_t k = 0; k < pd; k++)
      dst[k] += gi[k];
  }
}

static void runsum_part(void *ctx, size_t t, size_t nt) {
  const runsum_job *j = ctx;
  size_t lo, hi;
  row_range(&j->b, t, nt, &lo, &hi);
  run_sums(j->m, &j->b, lo, hi, j->m->gx, j->m->gsum);
  if (j->m->emb2)
    run_sums(j->m, &j->b, lo, hi, j->m->x2, j->m->gsum2);
}

/* The scatter plan of g (stride in_dim) over batch rows, serial (it claims
 * the slots, which fixes the order of the sparse gradient's rows): own
 * features row by row; a common list once per run of consecutive rows that
 * share it, from the run's summed gradients, after the run's last row. */
static int plan_batch(esmm_model *m, esmm_embedding *e, esmm__sparse_grad *sg, esmm__scatter_item *items,
                      size_t *n_items, const float *gsum, const batch_rows *b, const float *g) {
  const esmm_dataset *ds = b->ds;
  size_t start = 0;
  *n_items = 0;
  for (size_t i = 0; i < b->n; i++) {
    size_t r = batch_row(b, i);
    int64_t lo = ds->row_off[r], hi = ds->row_off[r + 1], c = ds->common[r];
    ESMM__TRY(esmm__embedding_scatter_plan(e, (size_t)(hi - lo), ds->field + lo, ds->id + lo, ds->value + lo,
                                           g + i * m->in_dim, sg, items, m->items_cap, n_items));
    if (c < 0)
      continue;
    if (i == 0 || ds->common[batch_row(b, i - 1)] != c)
      start = i;
    if (i + 1 == b->n || ds->common[batch_row(b, i + 1)] != c) {
      int64_t clo = ds->com_off[c], chi = ds->com_off[c + 1];
      size_t at = m->fl_on ? (size_t)m->run_id[i] : start; /* split: run r's sum is row r */
      ESMM__TRY(esmm__embedding_scatter_plan(e, (size_t)(chi - clo), ds->com_field + clo, ds->com_id + clo,
                                             ds->com_value + clo, gsum + at * m->pool_dim, sg, items,
                                             m->items_cap, n_items));
    }
  }
  return ESMM_OK;
}

/* Accumulation of the planned scatters, by slot ranges of sg and sg2. */
typedef struct apply_job {
  esmm_model *m;
  size_t n_items, n_items2;
} apply_job;

static void apply_part(void *ctx, size_t t, size_t nt) {
  const apply_job *j = ctx;
  esmm_model *m = j->m;
  size_t lo, hi;
  par_range(m->sg.n, t, nt, &lo, &hi);
  esmm__embedding_scatter_apply(m->emb, m->items, j->n_items, &m->sg, lo, hi);
  if (m->emb2) {
    par_range(m->sg2.n, t, nt, &lo, &hi);
    esmm__embedding_scatter_apply(m->emb2, m->items2, j->n_items2, &m->sg2, lo, hi);
  }
}

/* The one-thread scatter of g (stride in_dim): the same sums in the same
 * order as plan + apply, without the plan's extra pass over the features;
 * each run's sum is formed in the first pool_dim floats of gsum. */
static int scatter_serial(esmm_model *m, esmm_embedding *e, esmm__sparse_grad *sg, float *gsum,
                          const batch_rows *b, const float *g) {
  const esmm_dataset *ds = b->ds;
  for (size_t i = 0; i < b->n; i++) {
    size_t r = batch_row(b, i);
    int64_t lo = ds->row_off[r], hi = ds->row_off[r + 1], c = ds->common[r];
    const float *gi = g + i * m->in_dim;
    ESMM__TRY(esmm__embedding_scatter(e, (size_t)(hi - lo), ds->field + lo, ds->id + lo, ds->value + lo, gi,
                                      sg));
    if (c < 0)
      continue;
    if (m->fl_on) { /* the towers summed the run: row r of gsum */
      if (i + 1 == b->n || ds->common[batch_row(b, i + 1)] != c) {
        int64_t clo = ds->com_off[c], chi = ds->com_off[c + 1];
        ESMM__TRY(esmm__embedding_scatter(e, (size_t)(chi - clo), ds->com_field + clo, ds->com_id + clo,
                                          ds->com_value + clo, gsum + (size_t)m->run_id[i] * m->pool_dim, sg));
      }
      continue;
    }
    if (i == 0 || ds->common[batch_row(b, i - 1)] != c)
      memset(gsum, 0, m->pool_dim * sizeof *gsum);
    for (size_t k = 0; k < m->pool_dim; k++)
      gsum[k] += gi[k];
    if (i + 1 == b->n || ds->common[batch_row(b, i + 1)] != c) {
      int64_t clo = ds->com_off[c], chi = ds->com_off[c + 1];
      ESMM__TRY(esmm__embedding_scatter(e, (size_t)(chi - clo), ds->com_field + clo, ds->com_id + clo,
                                        ds->com_value + clo, gsum, sg));
    }
  }
  return ESMM_OK;
}

/* The sparse gradients of the batch: m->sg from m->gx, m->sg2 from m->x2.
 * With one thread, scatter_serial; else run sums (parallel by rows), the
 * plan (serial) and its accumulation (parallel by slots). Both give the
 * same bits (tests/check_threads.c compares them). */
static int scatter_batch(esmm_model *m, const batch_rows *b) {
  runsum_job rj = {m, *b};
  apply_job aj = {m, 0, 0};
  size_t slots;
  if (m->n_threads == 1 && !m->par_split_all) {
    ESMM__TRY(scatter_serial(m, m->emb, &m->sg, m->gsum, b, m->gx));
    if (m->emb2)
      ESMM__TRY(scatter_serial(m, m->emb2, &m->sg2, m->gsum2, b, m->x2));
    return ESMM_OK;
  }
  if (!m->fl_on) /* split: the towers formed the run sums */
    run_par(par_threads(m, m->n_threads, b->n, ROWS_PER_THREAD), runsum_part, &rj);
  ESMM__TRY(plan_batch(m, m->emb, &m->sg, m->items, &aj.n_items, m->gsum, b, m->gx));
  if (m->emb2)
    ESMM__TRY(plan_batch(m, m->emb2, &m->sg2, m->items2, &aj.n_items2, m->gsum2, b, m->x2));
  slots = m->sg.n > m->sg2.n ? m->sg.n : m->sg2.n;
  run_par(par_threads(m, m->n_threads, slots, SLOTS_PER_THREAD), apply_part, &aj);
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

/* Grow a sparse gradient to hold every feature of a full batch of ds. */
static int reserve_one(esmm_model *m, const esmm_embedding *e, esmm__sparse_grad *sg, size_t need) {
  size_t ng;
  if (need > e->rows)
    need = e->rows;
  if (need <= sg->cap)
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
  esmm__free(&m->alloc, sg->rows);
  esmm__free(&m->alloc, sg->g);
  sg->rows = rows;
  sg->g = g;
  sg->cap = need;
  sg->n = 0;
  return ESMM_OK;
}

/* Grow the scatter plans to need items (one per feature of a full batch). */
static int reserve_items(esmm_model *m, size_t need) {
  esmm__scatter_item *it, *it2 = NULL;
  if (need <= m->items_cap && m->items)
    return ESMM_OK;
  if (need == 0)
    need = 1;
  if (need > SIZE_MAX / sizeof *it)
    return ESMM__ERR(ESMM_ENOMEM, "scatter plan size overflows");
  it = esmm__alloc(&m->alloc, need * sizeof *it);
  if (m->emb2)
    it2 = esmm__alloc(&m->alloc, need * sizeof *it2);
  if (!it || (m->emb2 && !it2)) {
    esmm__free(&m->alloc, it);
    esmm__free(&m->alloc, it2);
    return ESMM__ERR(ESMM_ENOMEM, "out of memory for a scatter plan of %zu features", need);
  }
  esmm__free(&m->alloc, m->items);
  esmm__free(&m->alloc, m->items2);
  m->items = it;
  m->items2 = it2;
  m->items_cap = need;
  return ESMM_OK;
}

/* ---- first-layer split (docs/performance.md, plan item 1) ---------------
 *
 * Layer 0 of a tower is linear before its activation, so for row i of a
 * run g, x_i W = own_i W + common_g W. When the common lists of a dataset
 * use only fields that no row's own features use, the common pooling lives
 * in columns U of x that are zero in own_i, and layer 0 splits into
 * own_i[R] W[R] per row plus common_g[U] W[U] once per run (and likewise in
 * the backward, mlp.c esmm__mlp_forward_split/_backward_split).
 *
 * U is taken as ONE contiguous block of columns: the fields from the
 * smallest to the largest common field. That holds for the default field
 * order (the 13 user fields first; the simulator and Ali-CCP), needs no
 * column gather (a copy of batch x in_dim floats per step and per tower
 * input would eat a good part of the gain), and a field between them that
 * nobody uses costs only zero columns in the small per-run GEMM. Datasets
 * with an own feature inside that block take today's path. */
static void split_check(esmm_model *m, const esmm_dataset *ds) {
  int lo = INT32_MAX, hi = -1, ok;
  size_t nc = ds->n_common ? (size_t)ds->com_off[ds->n_common] : 0;
  size_t no = ds->n_rows ? (size_t)ds->row_off[ds->n_rows] : 0;
  for (size_t k = 0; k < nc; k++) {
    if (ds->com_field[k] < lo)
      lo = ds->com_field[k];
    if (ds->com_field[k] > hi)
      hi = ds->com_field[k];
  }
  ok = hi >= 0;
  for (size_t k = 0; k < no && ok; k++)
    ok = ds->field[k] < lo || ds->field[k] > hi;
  m->fl_ds = ds;
  m->fl_ok = ok;
  m->fl_ulo = ok ? (size_t)lo * m->dim : 0;
  m->fl_uhi = ok ? (size_t)(hi + 1) * m->dim : 0;
}

static size_t first_width(const esmm_model *m) {
  size_t w = m->ctr->layer[0].n_out;
  if (m->cvr->layer[0].n_out > w)
    w = m->cvr->layer[0].n_out;
  if (m->imp && m->imp->layer[0].n_out > w)
    w = m->imp->layer[0].n_out;
  return w;
}

/* Check ds and, when it qualifies, size the split's scratch (once per model). */
static int reserve_split(esmm_model *m, const esmm_dataset *ds) {
  size_t bp, bh;
  split_check(m, ds);
  if (!m->fl_ok || m->run_id)
    return ESMM_OK;
  if (!esmm__mul_ok(m->batch, m->pool_dim, &bp) || !esmm__mul_ok(m->batch, first_width(m), &bh))
    return ESMM__ERR(ESMM_ENOMEM, "first-layer split scratch size overflows");
  m->run_id = esmm__alloc(&m->alloc, m->batch * sizeof *m->run_id);
  m->cbat = esmm__alloc(&m->alloc, bp * sizeof(float));
  m->fl_scr = esmm__alloc(&m->alloc, bh * sizeof(float));
  if (m->emb2)
    m->cbat2 = esmm__alloc(&m->alloc, bp * sizeof(float));
  if (!m->run_id || !m->cbat || !m->fl_scr || (m->emb2 && !m->cbat2)) {
    esmm__free(&m->alloc, m->run_id);
    esmm__free(&m->alloc, m->cbat);
    esmm__free(&m->alloc, m->cbat2);
    esmm__free(&m->alloc, m->fl_scr);
    m->run_id = NULL;
    m->cbat = m->cbat2 = m->fl_scr = NULL;
    m->fl_ok = 0;
    return ESMM__ERR(ESMM_ENOMEM, "out of memory for the first-layer split scratch (batch %zu)", m->batch);
  }
  return ESMM_OK;
}

/* Decide whether batch b takes the split path (m->fl_on) and number its runs. */
static void split_plan(esmm_model *m, const batch_rows *b) {
  size_t runs = 0, with = 0;
  m->fl_on = 0;
  if (m->fl_force < 0 || !m->fl_ok || m->fl_ds != b->ds || !m->run_id || m->pool_dim == 0)
    return;
  for (size_t i = 0; i < b->n; i++) {
    int64_t c = b->ds->common[batch_row(b, i)];
    if (c < 0) {
      m->run_id[i] = -1;
      continue;
    }
    with++;
    if (i == 0 || b->ds->common[batch_row(b, i - 1)] != c)
      runs++;
    m->run_id[i] = (int64_t)runs - 1;
  }
  m->fl_runs = runs;
  /* runs of 2+ rows on average: below that the per-run GEMM and the run
   * sums cost more than they save (a row shuffle gives runs of ~1) */
  m->fl_on = runs > 0 && (m->fl_force > 0 || 2 * runs <= with);
}

static esmm__mlp_split split_of(const esmm_model *m, const float *cbat) {
  esmm__mlp_split sp;
  sp.lo = m->fl_ulo;
  sp.hi = m->fl_uhi;
  sp.c = cbat;
  sp.ldc = m->pool_dim;
  sp.n_runs = m->fl_runs;
  sp.run = m->run_id;
  sp.scratch = m->fl_scr;
  return sp;
}

static int reserve_sparse(esmm_model *m, const esmm_dataset *ds) {
  size_t need = esmm__dataset_max_row_nnz(ds);
  if (!esmm__mul_ok(need, m->batch, &need))
    return ESMM__ERR(ESMM_ENOMEM, "sparse gradient size overflows");
  ESMM__TRY(reserve_one(m, m->emb, &m->sg, need));
  if (m->emb2)
    ESMM__TRY(reserve_one(m, m->emb2, &m->sg2, need));
  ESMM__TRY(reserve_split(m, ds));
  return reserve_items(m, need);
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
  if (m->resume_n) { /* restored, not yet regenerated */
    out->rng_epoch = m->rng_epoch;
    out->cursor = m->resume_cursor;
    out->perm_n = m->resume_n;
  } else if (m->epoch_ds && m->cursor < m->perm_n) { /* an epoch under way */
    out->rng_epoch = m->rng_epoch;
    out->cursor = m->cursor;
    out->perm_n = m->perm_n;
  } else { /* between epochs: the next permutation is drawn from rng */
    out->rng_epoch = m->rng;
    out->cursor = 0;
    out->perm_n = 0;
  }
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

/* The optimizer update of a step as a list of blocks, each split over the
 * threads into contiguous ranges (elements of a dense block, rows of a
 * sparse one): every parameter's update is independent of the others. */
typedef struct upd_block {
  int id;
  float *param;
  const float *grad;
  const int64_t *rows; /* sparse: the n distinct rows of grad; NULL for a dense block of n elements */
  size_t n;
} upd_block;

#define UPD_MAX (2 + 3 * 2 * ESMM__MLP_MAX_LAYERS)

typedef struct upd_job {
  const esmm_optimizer *opt;
  upd_block blk[UPD_MAX];
  size_t n_blk;
} upd_job;

static void upd_part(void *ctx, size_t t, size_t nt) {
  const upd_job *j = ctx;
  for (size_t k = 0; k < j->n_blk; k++) {
    const upd_block *u = &j->blk[k];
    size_t lo, hi;
    par_range(u->n, t, nt, &lo, &hi);
    if (u->rows)
      esmm__optimizer_rows_range(j->opt, u->id, u->param, u->rows, u->grad, lo, hi);
    else
      esmm__optimizer_dense_range(j->opt, u->id, u->param, u->grad, lo, hi);
  }
}

static void upd_add(upd_job *j, int id, float *param, const float *grad, const int64_t *rows, size_t n) {
  upd_block *u = &j->blk[j->n_blk++];
  u->id = id;
  u->param = param;
  u->grad = grad;
  u->rows = rows;
  u->n = n;
}

static void upd_tower(upd_job *j, esmm_mlp *t, const int *blk) {
  for (size_t l = 0; l < t->n_layers; l++) {
    upd_add(j, blk[2 * l], t->layer[l].w, t->layer[l].gw, NULL, t->layer[l].n_in * t->layer[l].n_out);
    upd_add(j, blk[2 * l + 1], t->layer[l].b, t->layer[l].gb, NULL, t->layer[l].n_out);
  }
}

/* Forward and loss of the batch rows idx[0..n); fills gc/gv (and gt). */
static int forward_loss(esmm_model *m, const esmm_dataset *ds, const size_t *idx, size_t n) {
  double lsum_c = 0, lsum_t = 0, lsum_v = 0, lsum = 0;
  int64_t clips = 0;
  batch_rows b = {ds, idx, 0, n};
  split_plan(m, &b);
  pool_batch(m, m->n_threads, &b, m->x, m->x2, m->cpool, m->cpool2, m->fl_on);
  if (m->fl_on) {
    esmm__mlp_split sp = split_of(m, m->cbat), sp2 = split_of(m, m->emb2 ? m->cbat2 : m->cbat);
    ESMM__TRY(esmm__mlp_forward_split(m->ctr, m->x, n, m->lc, &sp));
    ESMM__TRY(esmm__mlp_forward_split(m->cvr, m->emb2 ? m->x2 : m->x, n, m->lv, &sp2));
    if (m->imp)
      ESMM__TRY(esmm__mlp_forward_split(m->imp, m->x, n, m->lt, &sp));
  } else {
    ESMM__TRY(esmm_mlp_forward(m->ctr, m->x, n, m->lc));
    ESMM__TRY(esmm_mlp_forward(m->cvr, m->emb2 ? m->x2 : m->x, n, m->lv));
    if (m->imp)
      ESMM__TRY(esmm_mlp_forward(m->imp, m->x, n, m->lt));
  }
  for (size_t i = 0; i < n; i++) {
    size_t r = idx[i];
    int y = ds->click[r] != 0, z = ds->conv[r] != 0;
    double g_a, g_b, g_t;
    esmm__loss_terms lt;
    esmm__loss_sg *sg = NULL;
    if (m->sg_mode) {
      sg = &m->sg_rec[i];
      sg->replay = m->sg_mode == 2;
    }
    esmm__loss_variant_one(&m->lcfg, m->lc[i], m->lv[i], m->imp ? m->lt[i] : 0.0, y, z, &lt, &g_a, &g_b, &g_t,
                           sg);
    lsum_c += lt.ctr;
    lsum_t += lt.ctcvr;
    lsum_v += lt.cvr;
    lsum += lt.total;
    clips += m->variant == ESMM_VARIANT_DIVISION && m->lv[i] > m->lc[i];
    m->gc[i] = (float)(g_a / (double)n);
    m->gv[i] = (float)(g_b / (double)n);
    if (m->imp)
      m->gt[i] = (float)(g_t / (double)n);
  }
  m->loss_ctr = lsum_c / (double)n;
  m->loss_ctcvr = lsum_t / (double)n;
  m->loss_cvr = lsum_v / (double)n;
  m->loss = lsum / (double)n;
  if (!isfinite(m->loss) || !esmm__all_finite(m->gc, n) || !esmm__all_finite(m->gv, n) ||
      (m->imp && !esmm__all_finite(m->gt, n)))
    return esmm__error(ESMM_ENUMERIC, "esmm_model_train",
                       "step %lld: the loss is not finite (ctr %g, ctcvr %g, cvr %g); the step was not applied",
                       (long long)m->step + 1, m->loss_ctr, m->loss_ctcvr, m->loss_cvr);
  m->cvr_clips += clips; /* only once the step is known to be valid */
  return ESMM_OK;
}

/* Gradients of the batch whose forward_loss just ran: tower gradients in
 * the towers, the embeddings' sparse gradients in m->sg (and m->sg2); the
 * caller must end both scatters (end_scatter), whatever happens. */
static int compute_grads(esmm_model *m, const esmm_dataset *ds, const size_t *idx, size_t n) {
  batch_rows b = {ds, idx, 0, n};
  /* emb's gradient gx: the CTR tower's input gradient, plus the imputation
   * tower's (ESCM2_DR) and the second tower's when that reads emb too,
   * both added in their GEMMs (beta = 1) */
  if (m->fl_on) {
    /* split: the common lists' input gradients summed per run straight
     * into gsum (gsum2) row r = run r, columns [fl_ulo, fl_uhi); the
     * columns of gx (x2) there are left as they were (never read) */
    size_t pd = m->pool_dim;
    ESMM__TRY(esmm__mlp_backward_split(m->ctr, m->gc, m->gx, 0.0f, m->gsum, pd));
    if (m->imp)
      ESMM__TRY(esmm__mlp_backward_split(m->imp, m->gt, m->gx, 1.0f, m->gsum, pd));
    if (m->emb2)
      ESMM__TRY(esmm__mlp_backward_split(m->cvr, m->gv, m->x2, 0.0f, m->gsum2, pd));
    else
      ESMM__TRY(esmm__mlp_backward_split(m->cvr, m->gv, m->gx, 1.0f, m->gsum, pd));
  } else {
    ESMM__TRY(esmm_mlp_backward(m->ctr, m->gc, m->gx));
    if (m->imp)
      ESMM__TRY(esmm__mlp_backward_accumulate(m->imp, m->gt, m->gx));
    /* with emb2 the second tower's input is x2, free once its weight
     * gradients are formed: its input gradient overwrites it, then goes to
     * emb2 alone */
    if (m->emb2)
      ESMM__TRY(esmm_mlp_backward(m->cvr, m->gv, m->x2));
    else
      ESMM__TRY(esmm__mlp_backward_accumulate(m->cvr, m->gv, m->gx));
  }
  ESMM__TRY(scatter_batch(m, &b));
  if (!finite_tower_grads(m->ctr) || !finite_tower_grads(m->cvr) || (m->imp && !finite_tower_grads(m->imp)) ||
      !esmm__all_finite(m->sg.g, m->sg.n * m->dim) || (m->emb2 && !esmm__all_finite(m->sg2.g, m->sg2.n * m->dim)))
    return esmm__error(ESMM_ENUMERIC, "esmm_model_train",
                       "step %lld: a gradient is not finite; the step was not applied", (long long)m->step + 1);
  return ESMM_OK;
}

static void end_scatter(esmm_model *m) {
  esmm__embedding_scatter_end(m->emb, &m->sg);
  if (m->emb2)
    esmm__embedding_scatter_end(m->emb2, &m->sg2);
}

/* Every block is checked before any moves, so a refused update changes
 * nothing; then the update runs as one parallel phase. */
/* Finite gradients can still overflow a weight (a learning rate far too
 * high on huge inputs). Undoing the update would mean copying every touched
 * parameter and its optimizer state each step for a rare event, so the
 * damage is detected and reported instead: the model keeps the non-finite
 * values, training and prediction on it fail with ESMM_ENUMERIC, and saving
 * it is refused - nothing non-finite reaches a file. */
static int check_updated(const esmm_model *m, const upd_job *j) {
  for (size_t k = 0; k < j->n_blk; k++) {
    const upd_block *u = &j->blk[k];
    int ok = 1;
    if (!u->rows)
      ok = esmm__all_finite(u->param, u->n);
    else
      for (size_t r = 0; r < u->n && ok; r++)
        ok = esmm__all_finite(u->param + (size_t)u->rows[r] * m->dim, m->dim);
    if (!ok)
      return esmm__error(ESMM_ENUMERIC, "esmm_model_train",
                         "step %lld: the update overflowed a parameter to Inf/NaN (learning rate too high for "
                         "these inputs?); the model is unusable: reload a checkpoint (saving it is refused)",
                         (long long)m->step + 1);
  }
  return ESMM_OK;
}

static int apply_update(esmm_model *m) {
  upd_job j;
  size_t params = 0;
  j.opt = m->opt;
  j.n_blk = 0;
  upd_add(&j, m->blk_emb, m->emb->w, m->sg.g, m->sg.rows, m->sg.n);
  upd_tower(&j, m->ctr, m->blk_ctr);
  upd_tower(&j, m->cvr, m->blk_cvr);
  if (m->emb2)
    upd_add(&j, m->blk_emb2, m->emb2->w, m->sg2.g, m->sg2.rows, m->sg2.n);
  if (m->imp)
    upd_tower(&j, m->imp, m->blk_imp);
  ESMM__TRY(esmm_optimizer_begin_step(m->opt));
  for (size_t k = 0; k < j.n_blk; k++) {
    const upd_block *u = &j.blk[k];
    ESMM__TRY(esmm__optimizer_check(m->opt, u->id, u->rows ? u->n : 0, u->rows, "esmm_model_train"));
    params += u->rows ? u->n * m->dim : u->n;
  }
  run_par(par_threads(m, m->n_threads, params, PARAMS_PER_THREAD), upd_part, &j);
  return check_updated(m, &j);
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
  if (rc == ESMM_OK && m->sync)
    rc = m->sync(m, m->sync_payload);
  if (rc == ESMM_OK)
    rc = apply_update(m);
  end_scatter(m);
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
    *out = param_count(m);
    break;
  case ESMM_STAT_CVR_CLIPS: *out = (double)m->cvr_clips; break;
  case ESMM_STAT_LOSS_CVR: *out = m->loss_cvr; break;
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
  size_t sc, sv, bx, tp;
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(m);
  if (max_batch == 0)
    max_batch = m->batch;
  if (!esmm__mul_ok(max_batch, m->in_dim, &bx))
    return ESMM__ERR(ESMM_EINVAL, "max_batch %zu is too large", max_batch);
  /* one common-list buffer per thread predict may pool on */
  if (!esmm__mul_ok(m->n_threads, m->pool_dim ? m->pool_dim : 1, &tp))
    return ESMM__ERR(ESMM_EINVAL, "%zu threads x %zu floats is too large", m->n_threads, m->pool_dim);
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
  ws->n_tables = esmm__model_tables(m);
  if (ws->n_tables == 2) {
    ws->x2 = esmm__alloc(&ws->alloc, bx * sizeof(float));
    ws->cpool2 = esmm__alloc(&ws->alloc, tp * sizeof(float));
  }
  ws->x = esmm__alloc(&ws->alloc, bx * sizeof(float));
  ws->lc = esmm__alloc(&ws->alloc, max_batch * sizeof(float));
  ws->lv = esmm__alloc(&ws->alloc, max_batch * sizeof(float));
  ws->scratch = esmm__alloc(&ws->alloc, ws->scratch_n * sizeof(float));
  ws->cpool = esmm__alloc(&ws->alloc, tp * sizeof(float));
  ws->n_cpool = m->n_threads;
  if (!ws->x || !ws->lc || !ws->lv || !ws->scratch || !ws->cpool ||
      (ws->n_tables == 2 && (!ws->x2 || !ws->cpool2))) {
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
  esmm__free(&a, ws->x2);
  esmm__free(&a, ws->cpool2);
  esmm__free(&a, ws);
}

static int workspace_fits(const esmm_model *m, const esmm_workspace *ws) {
  return ws->in_dim == m->in_dim && ws->pool_dim == m->pool_dim && ws->n_tables == esmm__model_tables(m) &&
         ws->scratch_n >= esmm__mlp_infer_scratch(m->ctr, ws->max_batch) &&
         ws->scratch_n >= esmm__mlp_infer_scratch(m->cvr, ws->max_batch);
}

int esmm__model_infer(const esmm_model *m, esmm_workspace *ws, size_t n, float *pctr, float *pcvr,
                      float *pctcvr) {
  esmm__mlp_infer(m->ctr, ws->x, n, ws->lc, ws->scratch);
  esmm__mlp_infer(m->cvr, m->emb2 ? ws->x2 : ws->x, n, ws->lv, ws->scratch);
  /* finite but huge parameters or inputs can still overflow to NaN logits;
   * say so rather than return garbage (the head would leave outputs unset) */
  for (size_t i = 0; i < n; i++)
    if (isnan(ws->lc[i]) || isnan(ws->lv[i]))
      return esmm__error(ESMM_ENUMERIC, "esmm_model_predict",
                         "row %zu of the batch: a logit is NaN (parameters or inputs overflow float)", i);
  if (m->variant != ESMM_VARIANT_DIVISION)
    return esmm_head_forward(ws->lc, ws->lv, n, pctr, pcvr, pctcvr);
  /* DIVISION: pCVR = pCTCVR / pCTR in log space, clipped to 1 (a > b means
   * pCTCVR <= pCTR; the clip counts are ESMM_STAT_CVR_CLIPS and esmm_diag's) */
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

static int predict_chunk(const esmm_model *m, esmm_workspace *ws, const esmm_dataset *ds, size_t first,
                         size_t n, float *pctr, float *pcvr, float *pctcvr) {
  /* the pooling on up to m->n_threads threads (as many as the workspace
   * has common-list buffers for); the towers are OpenBLAS's */
  batch_rows b = {ds, NULL, first, n};
  size_t nt = ws->n_cpool < m->n_threads ? ws->n_cpool : m->n_threads;
  pool_batch(m, nt ? nt : 1, &b, ws->x, ws->x2, ws->cpool, ws->cpool2, 0);
  return esmm__model_infer(m, ws, n, pctr, pcvr, pctcvr);
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
  int rc = ESMM_OK;
  for (size_t done = 0; done < n && rc == ESMM_OK;) {
    size_t k = n - done < ws->max_batch ? n - done : ws->max_batch;
    rc = predict_chunk(m, ws, ds, first + done, k, pctr ? pctr + done : NULL, pcvr ? pcvr + done : NULL,
                       pctcvr ? pctcvr + done : NULL);
    done += k;
  }
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

/* ---- pooling host-memory features (score.c) ------------------------------ */

void esmm__model_pool_common(const esmm_model *m, esmm_workspace *ws, size_t nnz, const int *field,
                             const uint64_t *id, const float *value) {
  pool_list(m->emb, m->pool_dim, nnz, field, id, value, ws->cpool);
  if (m->emb2)
    pool_list(m->emb2, m->pool_dim, nnz, field, id, value, ws->cpool2);
}

void esmm__model_pool_row(const esmm_model *m, esmm_workspace *ws, size_t i, size_t nnz, const int *field,
                          const uint64_t *id, const float *value, int with_common, const float *dense) {
  pool_features(m->emb, m->pool_dim, m->n_dense, ws->x + i * m->in_dim, nnz, field, id, value,
                with_common ? ws->cpool : NULL, dense);
  if (m->emb2)
    pool_features(m->emb2, m->pool_dim, m->n_dense, ws->x2 + i * m->in_dim, nnz, field, id, value,
                  with_common ? ws->cpool2 : NULL, dense);
}

int esmm__model_workspace_fits(const esmm_model *m, const esmm_workspace *ws) { return workspace_fits(m, ws); }
