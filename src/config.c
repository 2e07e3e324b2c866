/* config.c - the option table and everything it drives. */
#include "config.h"

#include "numparse.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T_INT, T_FLOAT, T_ENUM, T_LIST };

typedef struct opt_row {
  esmm_opt opt;
  const char *name;  /* by-name key */
  const char *ident; /* enumerator name for messages */
  int type;
  double min, max;
  int min_open, max_open; /* bound excluded */
  double def;
  const char *const *enum_names; /* T_ENUM: names by value, NULL-terminated */
} opt_row;

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

#define I64MAX 9223372036854775807.0
static const opt_row table[] = {
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
    {ESMM_OPT_SEED, "seed", "ESMM_OPT_SEED", T_INT, 0, I64MAX, 0, 0, 42, NULL},
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
#define N_OPTS ((int)(sizeof table / sizeof table[0]))

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
    if (added_after_1_0[i] == table[r].opt)
      return 1;
  return 0;
}
_Static_assert(sizeof table / sizeof table[0] <= ESMM__MAX_OPTS, "raise ESMM__MAX_OPTS");

static const char *const default_fields[] = {"101",    "121",    "122",    "124",    "125",   "126",
                                             "127",    "128",    "129",    "109_14", "110_14", "127_14",
                                             "150_14", "205",    "206",    "207",    "210",   "216",
                                             "508",    "509",    "702",    "853",    "301"};
#define N_DEFAULT_FIELDS (sizeof default_fields / sizeof default_fields[0])

static const char *nearest_name(const char *name);

static int row_of(esmm_opt opt) {
  for (int i = 0; i < N_OPTS; i++)
    if (table[i].name && table[i].opt == opt)
      return i;
  return -1;
}

static int row_of_name(const char *name) {
  for (int i = 0; i < N_OPTS; i++)
    if (table[i].name && strcmp(table[i].name, name) == 0)
      return i;
  return -1;
}

int64_t esmm__config_int(const esmm_config *c, esmm_opt opt) {
  int r = row_of(opt);
  if (r < 0)
    return 0;
  return table[r].type == T_FLOAT ? (int64_t)c->v[r].f : c->v[r].i;
}

double esmm__config_float(const esmm_config *c, esmm_opt opt) {
  int r = row_of(opt);
  if (r < 0)
    return 0;
  return table[r].type == T_FLOAT ? c->v[r].f : (double)c->v[r].i;
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
    if (table[i].type == T_FLOAT)
      c->v[i].f = table[i].def;
    else
      c->v[i].i = (int64_t)table[i].def;
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
static const char *label(int r, int by_name) { return by_name ? table[r].name : table[r].ident; }

static int check_value(int r, double v, int by_name, const char *func) {
  const opt_row *o = &table[r];
  int low = o->min_open ? !(v > o->min) : !(v >= o->min);
  int high = o->max_open ? !(v < o->max) : !(v <= o->max);
  if (isnan(v) || low || high) {
    char a[32], b[32], g[32];
    esmm__format_double(o->min, a);
    esmm__format_double(o->max, b);
    esmm__format_double(v, g);
    return esmm__error(ESMM_EINVAL, func, "%s must be in %c%s, %s%c, got %s", label(r, by_name),
                       o->min_open ? '(' : '[', a, b, o->max_open ? ')' : ']', g);
  }
  return ESMM_OK;
}

static int set_scalar(esmm_config *cfg, esmm_opt opt, double v, int from_int, int64_t iv, int by_name,
                      const char *func) {
  int r;
  if (!cfg)
    return esmm__error(ESMM_EINVAL, func, "invalid argument: cfg is NULL");
  r = row_of(opt);
  if (r < 0)
    return esmm__error(ESMM_EINVAL, func, "unknown option %d", (int)opt);
  if (table[r].type == T_LIST)
    return esmm__error(ESMM_EINVAL, func, "%s is a list option: use esmm_config_set_ints", label(r, by_name));
  if (table[r].type != T_FLOAT) {
    if (!from_int) {
      if (!(v == floor(v)) || fabs(v) > 9.2e18)
        return esmm__error(ESMM_EINVAL, func, "%s takes an integer value", label(r, by_name));
      iv = (int64_t)v;
    }
    if (iv < (int64_t)table[r].min || (double)iv > table[r].max)
      return check_value(r, (double)iv, by_name, func);
    cfg->v[r].i = iv;
    return ESMM_OK;
  }
  ESMM__TRY(check_value(r, v, by_name, func));
  cfg->v[r].f = v;
  return ESMM_OK;
}

int esmm_config_set_int(esmm_config *cfg, esmm_opt opt, int64_t value) {
  return set_scalar(cfg, opt, (double)value, 1, value, 0, __func__);
}

int esmm_config_set_float(esmm_config *cfg, esmm_opt opt, double value) {
  return set_scalar(cfg, opt, value, 0, 0, 0, __func__);
}

static int set_list(esmm_config *cfg, esmm_opt opt, const int64_t *values, size_t n, int by_name,
                    const char *func) {
  int r;
  if (!cfg)
    return esmm__error(ESMM_EINVAL, func, "invalid argument: cfg is NULL");
  r = row_of(opt);
  if (r < 0 || table[r].type != T_LIST)
    return esmm__error(ESMM_EINVAL, func, "option %d is not a list option", (int)opt);
  if (n > ESMM__MAX_LAYERS)
    return esmm__error(ESMM_EINVAL, func, "%s takes at most %d values, got %zu", label(r, by_name),
                       ESMM__MAX_LAYERS, n);
  if (n && !values)
    return esmm__error(ESMM_EINVAL, func, "invalid argument: values is NULL");
  for (size_t i = 0; i < n; i++)
    if (values[i] < 1 || values[i] > 65536)
      return esmm__error(ESMM_EINVAL, func, "%s values must be in [1, 65536], got %lld at %zu",
                         label(r, by_name), (long long)values[i], i);
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
  if (r < 0 || table[r].type == T_LIST)
    return ESMM__ERR(ESMM_EINVAL, "option %d is not a scalar option", (int)opt);
  *out = esmm__config_int(cfg, opt);
  return ESMM_OK;
}

int esmm_config_get_float(const esmm_config *cfg, esmm_opt opt, double *out) {
  int r;
  ESMM__CHECK_ARG(cfg && out);
  r = row_of(opt);
  if (r < 0 || table[r].type == T_LIST)
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
  *min_out = table[r].min;
  *max_out = table[r].max;
  return ESMM_OK;
}

const char *esmm_config_option_name(esmm_opt opt) {
  int r = row_of(opt);
  return r < 0 ? NULL : table[r].name;
}

int esmm_config_option_list(esmm_opt *out, size_t cap, size_t *n_out) {
  size_t n = 0;
  ESMM__CHECK_ARG(n_out);
  for (int i = 0; i < N_OPTS; i++)
    if (table[i].name) {
      if (out && n < cap)
        out[n] = table[i].opt;
      n++;
    }
  *n_out = n;
  if (cap < n)
    return ESMM__ERR(ESMM_EBUFS, "there are %zu options, the buffer holds %zu", n, cap);
  return ESMM_OK;
}

int esmm_config_option_lookup(const char *name, esmm_opt *out) {
  ESMM__CHECK_ARG(name && out);
  for (int i = 0; i < N_OPTS; i++)
    if (table[i].name && (strcmp(table[i].name, name) == 0 || strcmp(table[i].ident, name) == 0)) {
      *out = table[i].opt;
      return ESMM_OK;
    }
  {
    const char *near = nearest_name(name);
    if (near)
      return ESMM__ERR(ESMM_EINVAL, "unknown option name \"%s\" (did you mean %s?)", name, near);
  }
  return ESMM__ERR(ESMM_EINVAL, "unknown option name \"%s\"", name);
}

int esmm_config_option_type(esmm_opt opt, int *out) {
  int r = row_of(opt);
  ESMM__CHECK_ARG(out);
  if (r < 0)
    return ESMM__ERR(ESMM_EINVAL, "unknown option %d", (int)opt);
  *out = table[r].type == T_INT ? ESMM_OPT_TYPE_INT : table[r].type == T_FLOAT ? ESMM_OPT_TYPE_FLOAT
         : table[r].type == T_ENUM                                             ? ESMM_OPT_TYPE_ENUM
                                                                                : ESMM_OPT_TYPE_LIST;
  return ESMM_OK;
}

const char *esmm_config_option_choice(esmm_opt opt, int64_t value) {
  int r = row_of(opt);
  if (r < 0 || table[r].type != T_ENUM || value < 0)
    return NULL;
  for (int64_t k = 0; table[r].enum_names[k]; k++)
    if (k == value)
      return table[r].enum_names[k];
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

/* "x: \"v\" is not one of a, b, c" for a bad enum value. */
static int enum_error(int r, const char *value, const char *func) {
  char list[256];
  size_t at = 0;
  list[0] = '\0';
  for (int k = 0; table[r].enum_names[k] && at < sizeof list; k++)
    at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", k ? ", " : "", table[r].enum_names[k]);
  return esmm__error(ESMM_EINVAL, func, "%s: \"%s\" is not one of %s", table[r].name, value, list);
}

/* Edit distance of two short strings (names of options). */
static size_t edit_distance(const char *a, const char *b) {
  /* optimal string alignment: insertions, deletions, substitutions and
   * transpositions of neighbours ("trian" -> "train") cost 1 */
  size_t la = strlen(a), lb = strlen(b), pp[65], prev[65], cur[65];
  if (la > 64 || lb > 64)
    return 99;
  for (size_t j = 0; j <= lb; j++)
    prev[j] = pp[j] = j;
  for (size_t i = 1; i <= la; i++) {
    cur[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]), del = prev[j] + 1, ins = cur[j - 1] + 1;
      cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && pp[j - 2] + 1 < cur[j])
        cur[j] = pp[j - 2] + 1;
    }
    memcpy(pp, prev, (lb + 1) * sizeof *pp);
    memcpy(prev, cur, (lb + 1) * sizeof *prev);
  }
  return prev[lb];
}

/* The option name closest to a mistyped one, when close enough to be a
 * typo (at most a third of the name's length, at least 1, at most 3). */
static const char *nearest_name(const char *name) {
  const char *best = NULL;
  size_t best_d = 99, limit = strlen(name) / 3;
  limit = limit < 1 ? 1 : limit > 3 ? 3 : limit;
  for (int i = 0; i < N_OPTS; i++) {
    size_t d = table[i].name ? edit_distance(name, table[i].name) : 99;
    if (d < best_d) {
      best_d = d;
      best = table[i].name;
    }
  }
  if (edit_distance(name, "fields") < best_d) {
    best_d = edit_distance(name, "fields");
    best = "fields";
  }
  return best_d <= limit ? best : NULL;
}

int esmm_config_set_by_name(esmm_config *cfg, const char *name, const char *value) {
  int r;
  size_t len;
  ESMM__CHECK_ARG(cfg && name && value);
  len = strlen(value);
  if (strcmp(name, "fields") == 0)
    return set_fields_text(cfg, value, __func__);
  r = row_of_name(name);
  if (r < 0) {
    const char *near = nearest_name(name);
    if (near)
      return ESMM__ERR(ESMM_EINVAL, "unknown option name \"%s\" (did you mean %s?)", name, near);
    return ESMM__ERR(ESMM_EINVAL, "unknown option name \"%s\"", name);
  }
  switch (table[r].type) {
  case T_LIST: {
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
    return set_list(cfg, table[r].opt, vals, n, 1, __func__);
  }
  case T_ENUM:
    for (int k = 0; table[r].enum_names[k]; k++)
      if (strcmp(table[r].enum_names[k], value) == 0)
        return set_scalar(cfg, table[r].opt, k, 1, k, 1, __func__);
    /* numbers are accepted too */
    {
      int64_t iv;
      if (esmm__parse_i64(value, len, &iv) != 0)
        return enum_error(r, value, __func__);
      return set_scalar(cfg, table[r].opt, (double)iv, 1, iv, 1, __func__);
    }
  case T_INT: {
    int64_t iv;
    if (esmm__parse_i64(value, len, &iv) != 0)
      return ESMM__ERR(ESMM_EINVAL, "%s: \"%s\" is not a valid value", name, value);
    return set_scalar(cfg, table[r].opt, (double)iv, 1, iv, 1, __func__);
  }
  default: {
    double d;
    if (esmm__parse_double(value, len, &d) != 0)
      return ESMM__ERR(ESMM_EINVAL, "%s: \"%s\" is not a number", name, value);
    return set_scalar(cfg, table[r].opt, d, 0, 0, 1, __func__);
  }
  }
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
typedef struct sink {
  char *buf;
  size_t cap, len;
} sink;

static void put(sink *s, const char *text, size_t n) {
  if (s->buf && s->len + n <= s->cap)
    memcpy(s->buf + s->len, text, n);
  s->len += n;
}

static void puts_(sink *s, const char *text) { put(s, text, strlen(text)); }

int esmm__config_to_text(const esmm_config *c, char *buf, size_t cap, size_t *len_out) {
  sink s = {buf, cap, 0};
  char num[40];
  for (int r = 0; r < N_OPTS; r++) {
    if (!table[r].name)
      continue;
    if (table[r].type != T_LIST && omit_at_default(r) &&
        (table[r].type == T_FLOAT ? c->v[r].f == table[r].def : c->v[r].i == (int64_t)table[r].def))
      continue;
    puts_(&s, table[r].name);
    puts_(&s, "=");
    if (table[r].type == T_LIST) {
      size_t n;
      const int64_t *v = esmm__config_tower(c, table[r].opt, &n);
      for (size_t i = 0; i < n; i++) {
        snprintf(num, sizeof num, "%s%lld", i ? "," : "", (long long)v[i]);
        puts_(&s, num);
      }
    } else if (table[r].type == T_FLOAT) {
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
