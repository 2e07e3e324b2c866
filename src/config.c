/* config.c - the option table and everything it drives. */
#include "config.h"

#include "numparse.h"
#include "opttab.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The rows are read by the shared engine (opttab.h); the values live in
 * esmm_config's v[] at the row's index. */
enum { T_INT = ESMM__OT_INT, T_FLOAT = ESMM__OT_FLOAT, T_ENUM = ESMM__OT_ENUM, T_LIST = ESMM__OT_LIST };

static const char *const variant_names[] = {"esmm",      "esmm_ns",  "base",     "division", "escm2_ips",
                                            "escm2_dr",  "multi_ipw", "multi_dr", "dcmt",     NULL};
static const char *const escm2_form_names[] = {"paper", "code", NULL};
static const char *const propensity_names[] = {"model", "truth", NULL};
static const char *const act_names[] = {"relu", "tanh", "sigmoid", NULL};
static const char *const optim_names[] = {"adam", "adagrad", "sgd", NULL};
static const char *const shuffle_names[] = {"none", "rows", "groups", NULL};
/* data options (readers) */
static const char *const unknown_field_names[] = {"error", "ignore", NULL};
static const char *const values_names[] = {"weight", "ignore", NULL};
static const char *const on_error_names[] = {"fail", "skip", NULL};
static const char *const cnc_names[] = {"keep", "zero", "drop", "error", NULL};
/* fit options (esmm/fit.h): the metrics a fit can monitor, by esmm_metric value */
static const char *const monitor_names[] = {"ctr_auc",     "cvr_auc_clicked",     "cvr_auc_all",   "ctcvr_auc",
                                            "ctr_logloss", "cvr_logloss_clicked", "ctcvr_logloss", NULL};

static const esmm__optrow config_table[] = {
    {ESMM_OPT_EMBED_DIM, "embed_dim", "ESMM_OPT_EMBED_DIM", T_INT, 1, 4096, 0, 0, 18, NULL},
    {ESMM_OPT_HASH_BUCKETS, "hash_buckets", "ESMM_OPT_HASH_BUCKETS", T_INT, 1, 2147483647.0, 0, 0,
     32768, NULL},
    {ESMM_OPT_CTR_TOWER, "ctr_tower", "ESMM_OPT_CTR_TOWER", T_LIST, 1, 65536, 0, 0, 0, NULL},
    {ESMM_OPT_CVR_TOWER, "cvr_tower", "ESMM_OPT_CVR_TOWER", T_LIST, 1, 65536, 0, 0, 0, NULL},
    {ESMM_OPT_VARIANT, "variant", "ESMM_OPT_VARIANT", T_ENUM, 0, 8, 0, 0, 0, variant_names},
    {ESMM_OPT_ACTIVATION, "activation", "ESMM_OPT_ACTIVATION", T_ENUM, 0, 2, 0, 0, 0, act_names},
    {ESMM_OPT_INIT_SCALE, "init_scale", "ESMM_OPT_INIT_SCALE", T_FLOAT, 0, 1, 0, 0, 0.01, NULL},
    {ESMM_OPT_OPTIMIZER, "optimizer", "ESMM_OPT_OPTIMIZER", T_ENUM, 0, 2, 0, 0, 0, optim_names},
    {ESMM_OPT_LEARNING_RATE, "learning_rate", "ESMM_OPT_LEARNING_RATE", T_FLOAT, 0, 10, 1, 0, 1e-3,
     NULL},
    {ESMM_OPT_ADAM_BETA1, "adam_beta1", "ESMM_OPT_ADAM_BETA1", T_FLOAT, 0, 1, 0, 1, 0.9, NULL},
    {ESMM_OPT_ADAM_BETA2, "adam_beta2", "ESMM_OPT_ADAM_BETA2", T_FLOAT, 0, 1, 0, 1, 0.999, NULL},
    {ESMM_OPT_ADAM_EPS, "adam_eps", "ESMM_OPT_ADAM_EPS", T_FLOAT, 0, 1, 1, 0, 1e-8, NULL},
    {ESMM_OPT_L2, "l2", "ESMM_OPT_L2", T_FLOAT, 0, 1000, 0, 0, 0, NULL},
    {ESMM_OPT_ADAGRAD_INIT, "adagrad_init", "ESMM_OPT_ADAGRAD_INIT", T_FLOAT, 0, 1000, 0, 0, 0.1, NULL},
    {ESMM_OPT_BATCH_SIZE, "batch_size", "ESMM_OPT_BATCH_SIZE", T_INT, 1, 1048576, 0, 0, 1024, NULL},
    {ESMM_OPT_EPOCHS, "epochs", "ESMM_OPT_EPOCHS", T_INT, 1, 1000000, 0, 0, 1, NULL},
    {ESMM_OPT_LOSS_WEIGHT_CTR, "loss_weight_ctr", "ESMM_OPT_LOSS_WEIGHT_CTR", T_FLOAT, 0, 1000, 0, 0, 1,
     NULL},
    {ESMM_OPT_LOSS_WEIGHT_CTCVR, "loss_weight_ctcvr", "ESMM_OPT_LOSS_WEIGHT_CTCVR", T_FLOAT, 0, 1000, 0,
     0, 1, NULL},
    {ESMM_OPT_SHUFFLE, "shuffle", "ESMM_OPT_SHUFFLE", T_ENUM, 0, 2, 0, 0, 1, shuffle_names},
    {ESMM_OPT_SEED, "seed", "ESMM_OPT_SEED", T_INT, 0, ESMM__OT_I64_END, 0, 0, 42, NULL},
    {ESMM_OPT_NUM_THREADS, "threads", "ESMM_OPT_NUM_THREADS", T_INT, 0, 256, 0, 0, 0, NULL},
    {ESMM_OPT_BATCH_SLICES, "batch_slices", "ESMM_OPT_BATCH_SLICES", T_INT, 0, 4096, 0, 0, 0, NULL},
    /* data options (readers) */
    {ESMM_OPT_DENSE_FEATURES, "dense_features", "ESMM_OPT_DENSE_FEATURES", T_INT, 0, 4096, 0, 0, 0, NULL},
    {ESMM_OPT_DATA_UNKNOWN_FIELD, "unknown_field", "ESMM_OPT_DATA_UNKNOWN_FIELD", T_ENUM, 0, 1, 0, 0, 0,
     unknown_field_names},
    {ESMM_OPT_DATA_VALUES, "feature_values", "ESMM_OPT_DATA_VALUES", T_ENUM, 0, 1, 0, 0, 0, values_names},
    {ESMM_OPT_DATA_ON_ERROR, "on_error", "ESMM_OPT_DATA_ON_ERROR", T_ENUM, 0, 1, 0, 0, 0, on_error_names},
    {ESMM_OPT_DATA_CONV_NO_CLICK, "conv_no_click", "ESMM_OPT_DATA_CONV_NO_CLICK", T_ENUM, 0, 3, 0, 0, 0,
     cnc_names},
    {ESMM_OPT_DATA_MAX_ERRORS, "max_errors", "ESMM_OPT_DATA_MAX_ERRORS", T_INT, 0, 4611686018427387904.0, 0, 0,
     0, NULL},
    /* variant options */
    {ESMM_OPT_CVR_CLICK_WEIGHT, "cvr_click_weight", "ESMM_OPT_CVR_CLICK_WEIGHT", T_FLOAT, 0, 1000, 0, 0, 0, NULL},
    {ESMM_OPT_LAMBDA_C, "lambda_c", "ESMM_OPT_LAMBDA_C", T_FLOAT, 0, 1000, 0, 0, 1, NULL},
    {ESMM_OPT_PROPENSITY_CLIP, "propensity_clip", "ESMM_OPT_PROPENSITY_CLIP", T_FLOAT, 1e-6, 1, 0, 0, 0.01, NULL},
    {ESMM_OPT_PROPENSITY_STOP_GRAD, "propensity_stop_grad", "ESMM_OPT_PROPENSITY_STOP_GRAD", T_INT, 0, 1, 0, 0, 1,
     NULL},
    {ESMM_OPT_ESCM2_FORM, "escm2_form", "ESMM_OPT_ESCM2_FORM", T_ENUM, 0, 1, 0, 0, 0, escm2_form_names},
    {ESMM_OPT_PROPENSITY_SOURCE, "propensity", "ESMM_OPT_PROPENSITY_SOURCE", T_ENUM, 0, 1, 0, 0, 0,
     propensity_names},
    {ESMM_OPT_DCMT_LAMBDA, "dcmt_lambda", "ESMM_OPT_DCMT_LAMBDA", T_FLOAT, 0, 1000, 0, 0, 0.001, NULL},
    /* execution options */
    /* fit options (esmm/fit.h, @since 1.1) */
    {ESMM_OPT_FIT_EVAL_EVERY, "eval_every", "ESMM_OPT_FIT_EVAL_EVERY", T_INT, 0, 2147483647.0, 0, 0, 0, NULL},
    {ESMM_OPT_FIT_MONITOR, "monitor", "ESMM_OPT_FIT_MONITOR", T_ENUM, 0, 6, 0, 0, 3, monitor_names},
    {ESMM_OPT_FIT_PATIENCE, "patience", "ESMM_OPT_FIT_PATIENCE", T_INT, 0, 1000000, 0, 0, 0, NULL},
    {ESMM_OPT_FIT_MIN_DELTA, "min_delta", "ESMM_OPT_FIT_MIN_DELTA", T_FLOAT, 0, 1, 0, 0, 0, NULL},
    {ESMM_OPT_FIT_KEEP_BEST, "keep_best", "ESMM_OPT_FIT_KEEP_BEST", T_INT, 0, 1, 0, 0, 1, NULL},
    /* distributed options */
    {ESMM_OPT_DIST_CHECK_EVERY, "dist_check_every", "ESMM_OPT_DIST_CHECK_EVERY", T_INT, 0, 2147483647.0, 0, 0,
     100, NULL},
};
#define N_OPTS ((int)(sizeof config_table / sizeof config_table[0]))
static const char *const extra_keys[] = {"fields", NULL};
static const esmm__opttab config_opts = {config_table, sizeof config_table / sizeof config_table[0], "option", extra_keys};

/* Options added after 1.0: the config section of model files omits them
 * while they hold their default, so that such files stay readable by the
 * libraries that predate them (docs/model-format.md, "Evolution"). A new
 * option joins this list with its table row. ESMM_OPT_NUM_THREADS is here
 * too: its default became 0 (the usable CPUs) in 1.1, a value 1.0 refuses;
 * a loaded model takes its threads from the loading call anyway. */
static const esmm_opt added_after_1_0[] = {ESMM_OPT_FIT_EVAL_EVERY, ESMM_OPT_FIT_MONITOR, ESMM_OPT_FIT_PATIENCE,
                                           ESMM_OPT_FIT_MIN_DELTA,  ESMM_OPT_FIT_KEEP_BEST, ESMM_OPT_BATCH_SLICES,
                                           ESMM_OPT_NUM_THREADS,    ESMM_OPT_ESCM2_FORM,    ESMM_OPT_PROPENSITY_SOURCE,
                                           ESMM_OPT_DCMT_LAMBDA};

static int omit_at_default(int r) {
  for (size_t i = 0; i < sizeof added_after_1_0 / sizeof added_after_1_0[0]; i++)
    if ((int)added_after_1_0[i] == config_table[r].opt)
      return 1;
  return 0;
}
_Static_assert(sizeof config_table / sizeof config_table[0] <= ESMM__MAX_OPTS, "raise ESMM__MAX_OPTS");

static const char *const default_fields[] = {"101",    "121",    "122",    "124",    "125",   "126",
                                             "127",    "128",    "129",    "109_14", "110_14", "127_14",
                                             "150_14", "205",    "206",    "207",    "210",   "216",
                                             "508",    "509",    "702",    "853",    "301"};
#define N_DEFAULT_FIELDS (sizeof default_fields / sizeof default_fields[0])

static int row_of(esmm_opt opt) { return esmm__opt_find(&config_opts, (int)opt); }

int64_t esmm__config_int(const esmm_config *c, esmm_opt opt) {
  int r = row_of(opt);
  if (r < 0)
    return 0;
  return config_table[r].type == T_FLOAT ? (int64_t)c->v[r].f : c->v[r].i;
}

double esmm__config_float(const esmm_config *c, esmm_opt opt) {
  int r = row_of(opt);
  if (r < 0)
    return 0;
  return config_table[r].type == T_FLOAT ? c->v[r].f : (double)c->v[r].i;
}

const int64_t *esmm__config_tower(const esmm_config *c, esmm_opt opt, size_t *n) {
  if (opt == ESMM_OPT_CTR_TOWER) {
    *n = c->n_ctr;
    return c->ctr_tower;
  }
  *n = c->n_cvr;
  return c->cvr_tower;
}

int64_t esmm__config_buckets(const esmm_config *c, size_t f) {
  return c->buckets[f] ? c->buckets[f] : esmm__config_int(c, ESMM_OPT_HASH_BUCKETS);
}

int esmm__config_same_fields(const esmm_config *a, const esmm_config *b) {
  if (a->n_fields != b->n_fields)
    return 0;
  for (size_t i = 0; i < a->n_fields; i++)
    if (strcmp(a->names[i], b->names[i]) != 0)
      return 0;
  return 1;
}

static int set_fields_raw(esmm_config *cfg, size_t n, const char *const *names, const int64_t *buckets,
                          const char *func) {
  char(*nn)[ESMM_MAX_FIELD_NAME + 1];
  int64_t *nb;
  if (n == 0 || n > ESMM_MAX_FIELDS)
    return esmm__error(ESMM_EINVAL, func, "the field count must be in [1, %d], got %zu", ESMM_MAX_FIELDS,
                       n);
  for (size_t i = 0; i < n; i++) {
    size_t len;
    if (!names[i])
      return esmm__error(ESMM_EINVAL, func, "field %zu has a NULL name", i);
    len = strlen(names[i]);
    if (len == 0 || len > ESMM_MAX_FIELD_NAME)
      return esmm__error(ESMM_EINVAL, func, "field %zu: name length must be in [1, %d], got %zu", i,
                         ESMM_MAX_FIELD_NAME, len);
    for (size_t k = 0; k < len; k++) {
      char ch = names[i][k];
      if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_'))
        return esmm__error(ESMM_EINVAL, func, "field %zu: name \"%s\" has a character outside [A-Za-z0-9_]",
                           i, names[i]);
    }
    for (size_t j = 0; j < i; j++)
      if (strcmp(names[j], names[i]) == 0)
        return esmm__error(ESMM_EINVAL, func, "field name \"%s\" appears twice", names[i]);
    if (buckets && (buckets[i] < 0 || buckets[i] > 2147483647))
      return esmm__error(ESMM_EINVAL, func, "field \"%s\": buckets must be in [0, 2147483647], got %lld",
                         names[i], (long long)buckets[i]);
  }
  nn = calloc(n, sizeof *nn);
  nb = calloc(n, sizeof *nb);
  if (!nn || !nb) {
    free(nn);
    free(nb);
    return esmm__error(ESMM_ENOMEM, func, "out of memory for %zu fields", n);
  }
  for (size_t i = 0; i < n; i++) {
    memcpy(nn[i], names[i], strlen(names[i]) + 1);
    nb[i] = buckets ? buckets[i] : 0;
  }
  free(cfg->names);
  free(cfg->buckets);
  cfg->names = nn;
  cfg->buckets = nb;
  cfg->n_fields = n;
  return ESMM_OK;
}

int esmm_config_new(esmm_config **out) {
  esmm_config *c;
  int rc;
  ESMM__CHECK_ARG(out);
  *out = NULL;
  /* Configs use the C heap: they exist before any allocator hook is set. */
  c = calloc(1, sizeof *c);
  if (!c)
    return ESMM__ERR(ESMM_ENOMEM, "out of memory");
  for (int i = 0; i < N_OPTS; i++) {
    if (config_table[i].type == T_FLOAT)
      c->v[i].f = config_table[i].def;
    else
      c->v[i].i = (int64_t)config_table[i].def;
  }
  c->ctr_tower[0] = c->cvr_tower[0] = 200;
  c->ctr_tower[1] = c->cvr_tower[1] = 80;
  c->n_ctr = c->n_cvr = 2;
  c->alloc = esmm__allocator_default();
  rc = set_fields_raw(c, N_DEFAULT_FIELDS, default_fields, NULL, __func__);
  if (rc) {
    free(c);
    return rc;
  }
  *out = c;
  return ESMM_OK;
}

void esmm_config_free(esmm_config *cfg) {
  if (!cfg)
    return;
  esmm__meta_clear(cfg);
  free(cfg->names);
  free(cfg->buckets);
  free(cfg);
}

int esmm_config_clone(const esmm_config *cfg, esmm_config **out) {
  esmm_config *c;
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(cfg);
  c = malloc(sizeof *c);
  if (!c)
    return ESMM__ERR(ESMM_ENOMEM, "out of memory");
  *c = *cfg;
  c->names = calloc(cfg->n_fields, sizeof *c->names);
  c->buckets = calloc(cfg->n_fields, sizeof *c->buckets);
  if (!c->names || !c->buckets) {
    free(c->names);
    free(c->buckets);
    free(c);
    return ESMM__ERR(ESMM_ENOMEM, "out of memory");
  }
  memcpy(c->names, cfg->names, cfg->n_fields * sizeof *c->names);
  memcpy(c->buckets, cfg->buckets, cfg->n_fields * sizeof *c->buckets);
  if (esmm__meta_copy(c, cfg) != ESMM_OK) {
    free(c->names);
    free(c->buckets);
    free(c);
    return ESMM__ERR(ESMM_ENOMEM, "out of memory");
  }
  *out = c;
  return ESMM_OK;
}

/* What messages call an option: the by-name key when the caller used it
 * (esmm_config_set_by_name, model files), else the enumerator. */
static const char *opt_label(int r, int by_name) { return by_name ? config_table[r].name : config_table[r].ident; }

static void config_store(esmm_config *cfg, int r, const esmm__optvalue *v) {
  if (config_table[r].type == T_FLOAT)
    cfg->v[r].f = v->f;
  else
    cfg->v[r].i = v->i;
}

static int set_scalar(esmm_config *cfg, esmm_opt opt, esmm__optvalue v, int by_name, const char *func) {
  esmm__optvalue ok;
  int r;
  if (!cfg)
    return esmm__error(ESMM_EINVAL, func, "invalid argument: cfg is NULL");
  r = row_of(opt);
  if (r < 0)
    return esmm__opt_unknown(&config_opts, (int)opt, func);
  if (config_table[r].type == T_LIST)
    return esmm__error(ESMM_EINVAL, func, "%s is a list option: use esmm_config_set_ints", opt_label(r, by_name));
  ESMM__TRY(esmm__opt_check(&config_opts, r, by_name, v, &ok, func));
  config_store(cfg, r, &ok);
  return ESMM_OK;
}

int esmm_config_set_int(esmm_config *cfg, esmm_opt opt, int64_t value) {
  esmm__optvalue v = {1, value, 0.0};
  return set_scalar(cfg, opt, v, 0, __func__);
}

int esmm_config_set_float(esmm_config *cfg, esmm_opt opt, double value) {
  esmm__optvalue v = {0, 0, value};
  return set_scalar(cfg, opt, v, 0, __func__);
}

static int set_list(esmm_config *cfg, esmm_opt opt, const int64_t *values, size_t n, int by_name,
                    const char *func) {
  int r;
  if (!cfg)
    return esmm__error(ESMM_EINVAL, func, "invalid argument: cfg is NULL");
  r = row_of(opt);
  if (r < 0 || config_table[r].type != T_LIST)
    return esmm__error(ESMM_EINVAL, func, "option %d is not a list option", (int)opt);
  if (n > ESMM__MAX_LAYERS)
    return esmm__error(ESMM_EINVAL, func, "%s takes at most %d values, got %zu", opt_label(r, by_name),
                       ESMM__MAX_LAYERS, n);
  if (n && !values)
    return esmm__error(ESMM_EINVAL, func, "invalid argument: values is NULL");
  for (size_t i = 0; i < n; i++)
    if (values[i] < 1 || values[i] > 65536)
      return esmm__error(ESMM_EINVAL, func, "%s values must be in [1, 65536], got %lld at %zu",
                         opt_label(r, by_name), (long long)values[i], i);
  if (opt == ESMM_OPT_CTR_TOWER) {
    if (n) /* values may be NULL when n == 0 */
      memcpy(cfg->ctr_tower, values, n * sizeof *values);
    cfg->n_ctr = n;
  } else {
    if (n)
      memcpy(cfg->cvr_tower, values, n * sizeof *values);
    cfg->n_cvr = n;
  }
  return ESMM_OK;
}

int esmm_config_set_ints(esmm_config *cfg, esmm_opt opt, const int64_t *values, size_t n) {
  return set_list(cfg, opt, values, n, 0, __func__);
}

int esmm_config_get_int(const esmm_config *cfg, esmm_opt opt, int64_t *out) {
  int r;
  ESMM__CHECK_ARG(cfg && out);
  r = row_of(opt);
  if (r < 0 || config_table[r].type == T_LIST)
    return ESMM__ERR(ESMM_EINVAL, "option %d is not a scalar option", (int)opt);
  *out = esmm__config_int(cfg, opt);
  return ESMM_OK;
}

int esmm_config_get_float(const esmm_config *cfg, esmm_opt opt, double *out) {
  int r;
  ESMM__CHECK_ARG(cfg && out);
  r = row_of(opt);
  if (r < 0 || config_table[r].type == T_LIST)
    return ESMM__ERR(ESMM_EINVAL, "option %d is not a scalar option", (int)opt);
  *out = esmm__config_float(cfg, opt);
  return ESMM_OK;
}

int esmm_config_get_ints(const esmm_config *cfg, esmm_opt opt, int64_t *values, size_t cap, size_t *n_out) {
  const int64_t *v;
  size_t n;
  ESMM__CHECK_ARG(cfg && n_out);
  if (opt != ESMM_OPT_CTR_TOWER && opt != ESMM_OPT_CVR_TOWER)
    return ESMM__ERR(ESMM_EINVAL, "option %d is not a list option", (int)opt);
  v = esmm__config_tower(cfg, opt, &n);
  *n_out = n;
  if (cap < n)
    return ESMM__ERR(ESMM_EBUFS, "the list has %zu values, the buffer holds %zu", n, cap);
  ESMM__CHECK_ARG(values || n == 0);
  if (n)
    memcpy(values, v, n * sizeof *v);
  return ESMM_OK;
}

int esmm_config_bounds(esmm_opt opt, double *min_out, double *max_out) {
  int r = row_of(opt);
  ESMM__CHECK_ARG(min_out && max_out);
  if (r < 0)
    return ESMM__ERR(ESMM_EINVAL, "unknown option %d", (int)opt);
  *min_out = config_table[r].min;
  *max_out = config_table[r].max;
  return ESMM_OK;
}

const char *esmm_config_option_name(esmm_opt opt) {
  int r = row_of(opt);
  return r < 0 ? NULL : config_table[r].name;
}

int esmm_config_option_list(esmm_opt *out, size_t cap, size_t *n_out) {
  size_t n = 0;
  ESMM__CHECK_ARG(n_out);
  for (int i = 0; i < N_OPTS; i++)
    if (config_table[i].name) {
      if (out && n < cap)
        out[n] = config_table[i].opt;
      n++;
    }
  *n_out = n;
  if (cap < n)
    return ESMM__ERR(ESMM_EBUFS, "there are %zu options, the buffer holds %zu", n, cap);
  return ESMM_OK;
}

int esmm_config_option_lookup(const char *name, esmm_opt *out) {
  int r;
  ESMM__CHECK_ARG(name && out);
  r = esmm__opt_find_name(&config_opts, name, 1);
  if (r < 0)
    return esmm__opt_unknown_name(&config_opts, name, __func__);
  *out = config_table[r].opt;
  return ESMM_OK;
}

int esmm_config_option_type(esmm_opt opt, int *out) {
  int r = row_of(opt);
  ESMM__CHECK_ARG(out);
  if (r < 0)
    return ESMM__ERR(ESMM_EINVAL, "unknown option %d", (int)opt);
  *out = config_table[r].type == T_INT ? ESMM_OPT_TYPE_INT : config_table[r].type == T_FLOAT ? ESMM_OPT_TYPE_FLOAT
         : config_table[r].type == T_ENUM                                             ? ESMM_OPT_TYPE_ENUM
                                                                                : ESMM_OPT_TYPE_LIST;
  return ESMM_OK;
}

const char *esmm_config_option_choice(esmm_opt opt, int64_t value) {
  int r = row_of(opt);
  if (r < 0 || config_table[r].type != T_ENUM || value < 0)
    return NULL;
  for (int64_t k = 0; config_table[r].enum_names[k]; k++)
    if (k == value)
      return config_table[r].enum_names[k];
  return NULL;
}

/* "field[:buckets],field[:buckets],..." */
static int set_fields_text(esmm_config *cfg, const char *value, const char *func) {
  const char *names[ESMM_MAX_FIELDS];
  int64_t buckets[ESMM_MAX_FIELDS];
  char(*store)[ESMM_MAX_FIELD_NAME + 1] = calloc(ESMM_MAX_FIELDS, sizeof *store);
  size_t n = 0;
  const char *p = value;
  int rc;
  if (!store)
    return esmm__error(ESMM_ENOMEM, func, "out of memory");
  while (*p) {
    const char *end = strchr(p, ',');
    const char *colon;
    size_t len = end ? (size_t)(end - p) : strlen(p);
    size_t nlen;
    if (n == ESMM_MAX_FIELDS) {
      free(store);
      return esmm__error(ESMM_EINVAL, func, "fields: more than %d fields", ESMM_MAX_FIELDS);
    }
    colon = memchr(p, ':', len);
    nlen = colon ? (size_t)(colon - p) : len;
    if (nlen == 0 || nlen > ESMM_MAX_FIELD_NAME) {
      free(store);
      return esmm__error(ESMM_EINVAL, func, "fields: entry %zu has a name of %zu bytes (want 1..%d)", n,
                         nlen, ESMM_MAX_FIELD_NAME);
    }
    memcpy(store[n], p, nlen);
    store[n][nlen] = '\0';
    buckets[n] = 0;
    if (colon && esmm__parse_i64(colon + 1, len - nlen - 1, &buckets[n]) != 0) {
      free(store);
      return esmm__error(ESMM_EINVAL, func, "fields: entry \"%.*s\" has a bad bucket count", (int)len, p);
    }
    names[n] = store[n];
    n++;
    p += len;
    if (*p == ',')
      p++;
  }
  rc = set_fields_raw(cfg, n, names, buckets, func);
  free(store);
  return rc;
}

int esmm_config_set_by_name(esmm_config *cfg, const char *name, const char *value) {
  esmm__optvalue v;
  int r;
  ESMM__CHECK_ARG(cfg && name && value);
  if (strcmp(name, "fields") == 0)
    return set_fields_text(cfg, value, __func__);
  r = esmm__opt_find_name(&config_opts, name, 0);
  if (r < 0)
    return esmm__opt_unknown_name(&config_opts, name, __func__);
  if (config_table[r].type == T_LIST) {
    int64_t vals[ESMM__MAX_LAYERS + 1];
    size_t n = 0;
    const char *p = value;
    while (*p) {
      const char *end = strchr(p, ',');
      size_t l = end ? (size_t)(end - p) : strlen(p);
      if (n > ESMM__MAX_LAYERS)
        return ESMM__ERR(ESMM_EINVAL, "%s takes at most %d values", name, ESMM__MAX_LAYERS);
      if (esmm__parse_i64(p, l, &vals[n]) != 0)
        return ESMM__ERR(ESMM_EINVAL, "%s: \"%.*s\" is not an integer", name, (int)l, p);
      n++;
      p += l;
      if (*p == ',')
        p++;
    }
    return set_list(cfg, config_table[r].opt, vals, n, 1, __func__);
  }
  ESMM__TRY(esmm__opt_parse(&config_opts, r, value, &v, __func__));
  config_store(cfg, r, &v);
  return ESMM_OK;
}

int esmm_config_set_fields(esmm_config *cfg, size_t n, const char *const *names, const int64_t *buckets) {
  ESMM__CHECK_ARG(cfg && names);
  return set_fields_raw(cfg, n, names, buckets, __func__);
}

int esmm_config_field_count(const esmm_config *cfg, size_t *out) {
  ESMM__CHECK_ARG(cfg && out);
  *out = cfg->n_fields;
  return ESMM_OK;
}

int esmm_config_field(const esmm_config *cfg, size_t i, const char **name_out, int64_t *buckets_out) {
  ESMM__CHECK_ARG(cfg);
  if (i >= cfg->n_fields)
    return ESMM__ERR(ESMM_EINVAL, "field index %zu out of range [0, %zu)", i, cfg->n_fields);
  if (name_out)
    *name_out = cfg->names[i];
  if (buckets_out)
    *buckets_out = cfg->buckets[i];
  return ESMM_OK;
}

int esmm_config_field_index(const esmm_config *cfg, const char *name, int *out) {
  ESMM__CHECK_ARG(out);
  *out = -1;
  ESMM__CHECK_ARG(cfg && name);
  for (size_t i = 0; i < cfg->n_fields; i++)
    if (strcmp(cfg->names[i], name) == 0) {
      *out = (int)i;
      return ESMM_OK;
    }
  return ESMM__ERR(ESMM_EINVAL, "no field named \"%s\"", name);
}

int esmm_config_set_allocator(esmm_config *cfg, esmm_alloc_fn alloc_fn, esmm_free_fn free_fn, void *payload) {
  ESMM__CHECK_ARG(cfg);
  if ((alloc_fn == NULL) != (free_fn == NULL))
    return ESMM__ERR(ESMM_EINVAL, "alloc_fn and free_fn must both be set or both be NULL");
  if (!alloc_fn) {
    cfg->alloc = esmm__allocator_default();
    return ESMM_OK;
  }
  cfg->alloc.alloc = alloc_fn;
  cfg->alloc.free = free_fn;
  cfg->alloc.payload = payload;
  return ESMM_OK;
}

int esmm_config_set_log(esmm_config *cfg, esmm_log_fn fn, int max_level, void *payload) {
  ESMM__CHECK_ARG(cfg);
  if (max_level < ESMM_LOG_ERROR || max_level > ESMM_LOG_DEBUG)
    return ESMM__ERR(ESMM_EINVAL, "max_level must be in [%d, %d], got %d", ESMM_LOG_ERROR, ESMM_LOG_DEBUG,
                     max_level);
  cfg->log.fn = fn;
  cfg->log.max_level = max_level;
  cfg->log.payload = payload;
  return ESMM_OK;
}

/* Appends to buf when it fits, always counts. */
typedef struct text_sink {
  char *buf;
  size_t cap, len;
} text_sink;

static void sink_put(text_sink *s, const char *text, size_t n) {
  if (s->buf && s->len + n <= s->cap)
    memcpy(s->buf + s->len, text, n);
  s->len += n;
}

static void puts_(text_sink *s, const char *text) { sink_put(s, text, strlen(text)); }

int esmm__config_to_text(const esmm_config *c, char *buf, size_t cap, size_t *len_out) {
  text_sink s = {buf, cap, 0};
  char num[40];
  for (int r = 0; r < N_OPTS; r++) {
    if (!config_table[r].name)
      continue;
    if (config_table[r].type != T_LIST && omit_at_default(r) &&
        (config_table[r].type == T_FLOAT ? c->v[r].f == config_table[r].def : c->v[r].i == (int64_t)config_table[r].def))
      continue;
    puts_(&s, config_table[r].name);
    puts_(&s, "=");
    if (config_table[r].type == T_LIST) {
      size_t n;
      const int64_t *v = esmm__config_tower(c, config_table[r].opt, &n);
      for (size_t i = 0; i < n; i++) {
        snprintf(num, sizeof num, "%s%lld", i ? "," : "", (long long)v[i]);
        puts_(&s, num);
      }
    } else if (config_table[r].type == T_FLOAT) {
      esmm__format_double(c->v[r].f, num);
      puts_(&s, num);
    } else {
      snprintf(num, sizeof num, "%lld", (long long)c->v[r].i);
      puts_(&s, num);
    }
    puts_(&s, "\n");
  }
  puts_(&s, "fields=");
  for (size_t i = 0; i < c->n_fields; i++) {
    snprintf(num, sizeof num, ":%lld", (long long)c->buckets[i]);
    if (i)
      puts_(&s, ",");
    puts_(&s, c->names[i]);
    puts_(&s, num);
  }
  puts_(&s, "\n");
  *len_out = s.len;
  if (!buf || s.len > cap)
    return ESMM__ERR(ESMM_EBUFS, "config text needs %zu bytes, have %zu", s.len, cap);
  return ESMM_OK;
}

int esmm__config_from_text(esmm_config *c, const char *text, size_t len) {
  size_t pos = 0;
  char line[1024 * 72];
  while (pos < len) {
    const char *nl = memchr(text + pos, '\n', len - pos);
    size_t l = nl ? (size_t)(nl - (text + pos)) : len - pos;
    char *eq;
    if (l >= sizeof line)
      return ESMM__ERR(ESMM_EINVAL, "config line of %zu bytes is too long", l);
    memcpy(line, text + pos, l);
    line[l] = '\0';
    pos += l + (nl ? 1 : 0);
    if (l == 0)
      continue;
    eq = strchr(line, '=');
    if (!eq)
      return ESMM__ERR(ESMM_EINVAL, "config line \"%.40s\" has no '='", line);
    *eq = '\0';
    ESMM__TRY(esmm_config_set_by_name(c, line, eq + 1));
  }
  return ESMM_OK;
}

int esmm__config_or_default(const esmm_config *cfg, esmm_config **tmp, const esmm_config **out) {
  *tmp = NULL;
  if (cfg) {
    *out = cfg;
    return ESMM_OK;
  }
  ESMM__TRY(esmm_config_new(tmp));
  *out = *tmp;
  return ESMM_OK;
}
