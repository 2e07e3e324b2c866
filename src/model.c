/* model.c - composes embedding tables, towers, loss and optimizer into the
 * ESMM model of the configured variant: construction, the parameter
 * tensors and optimizer blocks that model files and checkpoints walk, and
 * statistics. Training is train.c/train_slice.c/epoch.c, prediction
 * infer.c (model.h).
 *
 * Variants (esmm_variant) differ only where the variant table
 * (variant.c) says: whether the second tower reads a table of its own,
 * whether a third tower exists, the head (product or division), the loss
 * settings (esmm__variant_loss_cfg), and tensor names. Everything else is
 * one code path for every variant. */
#include "model.h"

#include "blas.h"
#include "config.h"
#include "dataset.h"
#include "optimizer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static uint64_t sub_seed(uint64_t seed, uint64_t k) { return esmm__mix64(seed * 0x100000001b3ULL + k); }
static double param_count(const esmm_model *m);

static int check_table_size(const esmm_config *cfg, const char *func) {
  double rows = 0;
  for (size_t f = 0; f < cfg->n_fields; f++)
    rows += (double)esmm__config_buckets(cfg, f);
  if (rows * (double)esmm__config_int(cfg, ESMM_OPT_EMBED_DIM) > 0x1p40)
    return esmm__error(ESMM_EINVAL, func, "the embedding table would hold %.0f rows x %lld floats, more than 2^40",
                       rows, (long long)esmm__config_int(cfg, ESMM_OPT_EMBED_DIM));
  return ESMM_OK;
}

static int register_tower(esmm_model *m, esmm_mlp *t, int *blk) {
  for (size_t l = 0; l < t->n_layers; l++) {
    ESMM__TRY(esmm_optimizer_add_block(m->opt, t->layer[l].n_in, t->layer[l].n_out, &blk[2 * l]));
    ESMM__TRY(esmm_optimizer_add_block(m->opt, 1, t->layer[l].n_out, &blk[2 * l + 1]));
  }
  return ESMM_OK;
}

/* Threads the model runs on. The default (0) is the usable CPUs, but one
 * when the BLAS has threads of its own: ours would run on top of them
 * (blas.h). An explicit count is the host's decision and is used as given,
 * with a warning in that case. */
static size_t workers(const esmm_config *cfg, const esmm__logger *log) {
  size_t want = (size_t)esmm__config_int(cfg, ESMM_OPT_NUM_THREADS), blas = esmm__blas_threads();
  if (want == 0) {
    want = blas > 1 ? 1 : esmm__cpu_count();
    if (blas > 1)
      esmm__log(log, ESMM_LOG_INFO,
                "the BLAS runs %zu threads of its own: the model trains on 1 thread and lets it parallelise "
                "each GEMM (OPENBLAS_NUM_THREADS=1 before the BLAS loads trains data-parallel on every CPU)",
                blas);
  } else if (want > 1 && blas > 1) {
    esmm__log(log, ESMM_LOG_WARN,
              "%zu model threads on top of %zu BLAS threads each: the cores are oversubscribed (set "
              "OPENBLAS_NUM_THREADS=1)",
              want, blas);
  }
  return want;
}

static int model_build(esmm_model *m) {
  const esmm_config *cfg = m->cfg;
  uint64_t seed = (uint64_t)esmm__config_int(cfg, ESMM_OPT_SEED);
  int64_t buckets[ESMM_MAX_FIELDS];
  size_t nc, nv;
  const int64_t *tc = esmm__config_tower(cfg, ESMM_OPT_CTR_TOWER, &nc);
  const int64_t *tv = esmm__config_tower(cfg, ESMM_OPT_CVR_TOWER, &nv);
  int act = (int)esmm__config_int(cfg, ESMM_OPT_ACTIVATION);
  double scale = esmm__config_float(cfg, ESMM_OPT_INIT_SCALE);

  for (size_t f = 0; f < m->n_fields; f++)
    buckets[f] = esmm__config_buckets(cfg, f);
  /* towers of a model have no pass of their own (max_batch 0): they train
   * through the workers' contexts (train.h) and infer on workspaces */
  ESMM__TRY(esmm__embedding_create(&m->emb, &m->alloc, m->n_fields, buckets, m->dim, scale, sub_seed(seed, 1)));
  ESMM__TRY(esmm__mlp_create(&m->ctr, &m->alloc, m->in_dim, tc, nc, 1, act, 0, sub_seed(seed, 2)));
  ESMM__TRY(esmm__mlp_create(&m->cvr, &m->alloc, m->in_dim, tv, nv, 1, act, 0, sub_seed(seed, 3)));
  /* the variants' extra parts draw from sub-seeds of their own, so ESMM's
   * initialisation is the same whatever the variant */
  if (m->var->own_table)
    ESMM__TRY(esmm__embedding_create(&m->emb2, &m->alloc, m->n_fields, buckets, m->dim, scale, sub_seed(seed, 5)));
  if (m->var->imputation)
    ESMM__TRY(esmm__mlp_create(&m->imp, &m->alloc, m->in_dim, tv, nv, 1, act, 0, sub_seed(seed, 6)));
  ESMM__TRY(esmm__optimizer_create(&m->opt, cfg));
  /* registration order = esmm__model_tensors order (block id k = tensor k) */
  ESMM__TRY(esmm_optimizer_add_block(m->opt, m->emb->rows, m->dim, &m->blk_emb));
  ESMM__TRY(register_tower(m, m->ctr, m->blk_ctr));
  ESMM__TRY(register_tower(m, m->cvr, m->blk_cvr));
  if (m->emb2)
    ESMM__TRY(esmm_optimizer_add_block(m->opt, m->emb2->rows, m->dim, &m->blk_emb2));
  if (m->imp)
    ESMM__TRY(register_tower(m, m->imp, m->blk_imp));
  ESMM__TRY(esmm__pool_create(&m->pool, &m->alloc, m->n_workers));
  ESMM__TRY(esmm__train_create(m));
  esmm__rng_seed(&m->rng, sub_seed(seed, 4));
  return ESMM_OK;
}

int esmm__model_create(esmm_model **out, const esmm_config *cfg, const char *func) {
  esmm_model *m;
  const esmm__variant *var;
  int rc;
  *out = NULL;
  var = esmm__variant_get(esmm__config_int(cfg, ESMM_OPT_VARIANT));
  if (!var)
    return esmm__error(ESMM_EINVAL, func, "ESMM_OPT_VARIANT %lld is not implemented in libesmm %s",
                       (long long)esmm__config_int(cfg, ESMM_OPT_VARIANT), ESMM_VERSION_STRING);
  ESMM__TRY(check_table_size(cfg, func));
  m = esmm__calloc(&cfg->alloc, 1, sizeof *m);
  if (!m)
    return esmm__error(ESMM_ENOMEM, func, "out of memory");
  m->alloc = cfg->alloc;
  m->log = cfg->log;
  rc = esmm_config_clone(cfg, &m->cfg);
  if (rc) {
    esmm__free(&m->alloc, m);
    return rc;
  }
  m->var = var;
  m->n_fields = cfg->n_fields;
  m->dim = (size_t)esmm__config_int(cfg, ESMM_OPT_EMBED_DIM);
  m->pool_dim = m->n_fields * m->dim;
  m->n_dense = (size_t)esmm__config_int(cfg, ESMM_OPT_DENSE_FEATURES);
  m->in_dim = m->pool_dim + m->n_dense;
  m->batch = (size_t)esmm__config_int(cfg, ESMM_OPT_BATCH_SIZE);
  m->n_workers = workers(cfg, &m->log);
  m->lcfg = esmm__variant_loss_cfg(var, cfg);
  rc = model_build(m);
  if (rc) {
    /* the parts' constructors name themselves: say which call failed */
    esmm_model_free(m);
    return esmm__error_in(rc, func);
  }
  if (esmm__blas_hint())
    esmm__log(&m->log, ESMM_LOG_INFO, "%s", esmm__blas_hint());
  esmm__log(&m->log, ESMM_LOG_INFO, "model: variant %s, %zu fields x %zu dims, %.0f parameters, %zu threads",
            var->name, m->n_fields, m->dim, param_count(m), m->n_workers);
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
  rc = esmm__model_create(out, c, __func__);
  esmm_config_free(tmp);
  return rc;
}

void esmm_model_free(esmm_model *m) {
  esmm__allocator a;
  if (!m)
    return;
  a = m->alloc;
  /* the threads first: nothing may run on the parts once they go */
  esmm__pool_free(m->pool);
  esmm__train_free(m);
  esmm__infer_shared_free(m);
  esmm_embedding_free(m->emb);
  esmm_mlp_free(m->ctr);
  esmm_mlp_free(m->cvr);
  esmm_embedding_free(m->emb2);
  esmm_mlp_free(m->imp);
  esmm_optimizer_free(m->opt);
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
  const esmm__variant *var = esmm__variant_get(esmm__config_int(cfg, ESMM_OPT_VARIANT));
  size_t dim = (size_t)esmm__config_int(cfg, ESMM_OPT_EMBED_DIM), rows = 0, nc, nv, n = 0;
  size_t in_dim = cfg->n_fields * dim + (size_t)esmm__config_int(cfg, ESMM_OPT_DENSE_FEATURES);
  const int64_t *tc = esmm__config_tower(cfg, ESMM_OPT_CTR_TOWER, &nc);
  const int64_t *tv = esmm__config_tower(cfg, ESMM_OPT_CVR_TOWER, &nv);
  if (!var) /* callers pass valid configs; an unknown variant has no tensors */
    return 0;
  for (size_t f = 0; f < cfg->n_fields; f++)
    rows += (size_t)esmm__config_buckets(cfg, f);
  n = one_shape("embedding", rows, dim, out, cap, n);
  n = tower_shapes("ctr", in_dim, tc, nc, out, cap, n);
  n = tower_shapes(var->second, in_dim, tv, nv, out, cap, n);
  if (var->own_table)
    n = one_shape(var->table2, rows, dim, out, cap, n);
  if (var->imputation)
    n = tower_shapes(var->third, in_dim, tv, nv, out, cap, n);
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

size_t esmm__model_towers(const esmm_model *m, esmm_mlp **out) {
  size_t n = 0;
  out[n++] = m->ctr;
  out[n++] = m->cvr;
  if (m->imp)
    out[n++] = m->imp;
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

int esmm__model_check_dataset(const esmm_model *m, const esmm_dataset *ds, const char *func) {
  if (!esmm__dataset_fields_match(ds, m->cfg))
    return esmm__error(ESMM_ESHAPE, func, "the dataset's field list differs from the model's (%zu vs %zu fields)",
                       ds->n_fields, m->n_fields);
  if (ds->n_dense != m->n_dense)
    return esmm__error(ESMM_ESHAPE, func, "the dataset has %zu dense inputs per row, the model %zu", ds->n_dense,
                       m->n_dense);
  return ESMM_OK;
}

static void ds_row(const void *ctx, size_t k, esmm__flist *own, int64_t *common, const float **dense) {
  const esmm__ds_rows *s = ctx;
  const esmm_dataset *ds = s->ds;
  size_t r = s->idx ? s->idx[k] : s->first + k;
  int64_t a = ds->row_off[r], b = ds->row_off[r + 1];
  own->nnz = (size_t)(b - a);
  own->field = ds->field + a;
  own->id = ds->id + a;
  own->value = ds->value + a;
  *common = ds->common[r];
  *dense = ds->n_dense ? ds->dense + r * ds->n_dense : NULL;
}

static void batch_common(const void *ctx, int64_t c, esmm__flist *l) {
  const esmm_dataset *ds = ((const esmm__ds_rows *)ctx)->ds;
  int64_t a = ds->com_off[c], b = ds->com_off[c + 1];
  l->nnz = (size_t)(b - a);
  l->field = ds->com_field + a;
  l->id = ds->com_id + a;
  l->value = ds->com_value + a;
}

void esmm__ds_block(esmm__block *b, esmm__ds_rows *src, const esmm_dataset *ds, const size_t *idx, size_t first,
                    size_t n) {
  src->ds = ds;
  src->idx = idx;
  src->first = first;
  b->n = n;
  b->row = ds_row;
  b->common = batch_common;
  b->ctx = src;
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
  case ESMM_STAT_PARAMS: *out = param_count(m); break;
  case ESMM_STAT_CVR_CLIPS: *out = (double)m->cvr_clips; break;
  case ESMM_STAT_LOSS_CVR: *out = m->loss_cvr; break;
  case ESMM_STAT_EPOCH_LOSS: *out = m->epoch_steps ? m->epoch_loss_sum / (double)m->epoch_steps : NAN; break;
  case ESMM_STAT_THREADS: *out = (double)m->n_workers; break;
  case ESMM_STAT_SPLIT_SLICES: *out = (double)esmm__train_split_slices(m); break;
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
