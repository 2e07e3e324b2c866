/* fit.c - esmm_model_fit (esmm/fit.h): epochs, evaluation points, early
 * stopping, the best model kept, the history. Built on the public model
 * API only (training calls, evaluation, save/load to memory, metadata), so
 * it knows nothing of how a model trains; what it keeps across a resume
 * travels in the model's metadata ("fit.*"). Memory: the C heap (the
 * history and the copy of the best model are the host's data, like a
 * config). */
#include "internal.h"

#include "numparse.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N_KEYS 7 /* ESMM_FIT_EPOCH .. ESMM_FIT_IMPROVED */

typedef struct record {
  double v[N_KEYS];
  double valid[ESMM_METRIC_COUNT];
} record;

struct esmm_fit {
  record *rec;
  size_t n, cap;
  /* best: this call's best record (-1 none); best_step/value may predate
   * the call (a resumed run) */
  int64_t best, best_step, wait;
  double best_value;
  int stopped, monitor, higher;
  int64_t steps_per_epoch, total_steps, start_step;
  unsigned char *best_buf; /* esmm_model_save_buffer of the best state */
  size_t best_len;
};

/* What a running fit needs in its callbacks. */
typedef struct fit_run {
  esmm_model *m;
  const esmm_dataset *valid;
  esmm_fit *fit;
  esmm_fit_fn fn;
  void *payload;
  int64_t eval_every, patience, keep_best, train_rows, last_rec_step;
  double min_delta, t0, loss_sum;
  int64_t loss_n;
  int user_stop, early_stop; /* why a training call was cancelled */
  int err;                   /* a failure inside a callback (status) */
} fit_run;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double stat_of(const esmm_model *m, int key) {
  double v = 0;
  (void)esmm_model_stat(m, key, &v);
  return v;
}

/* ---- early-stopping state in the model's metadata ------------------------- */

static void save_state(fit_run *r) {
  const esmm_fit *f = r->fit;
  char num[40];
  if (!r->valid)
    return;
  /* best-effort: metadata that cannot be stored (out of memory) only costs
   * a resumed run its early-stopping memory */
  (void)esmm_model_set_meta(r->m, "fit.monitor", esmm_metric_name(f->monitor));
  esmm__format_double(f->best_value, num);
  (void)esmm_model_set_meta(r->m, "fit.best_value", num);
  snprintf(num, sizeof num, "%lld", (long long)f->best_step);
  (void)esmm_model_set_meta(r->m, "fit.best_step", num);
  snprintf(num, sizeof num, "%lld", (long long)f->wait);
  (void)esmm_model_set_meta(r->m, "fit.wait", num);
}

static int meta_number(const esmm_model *m, const char *key, double *out) {
  const char *v = NULL;
  if (esmm_model_meta(m, key, &v) != ESMM_OK || !v)
    return -1;
  return esmm__parse_double(v, strlen(v), out);
}

/* A model that has trained, fitted with the same metric: continue. */
static void restore_state(fit_run *r) {
  const char *mon = NULL;
  double bv, bs, w;
  if (stat_of(r->m, ESMM_STAT_STEP) <= 0 || esmm_model_meta(r->m, "fit.monitor", &mon) != ESMM_OK || !mon ||
      strcmp(mon, esmm_metric_name(r->fit->monitor)) != 0)
    return;
  if (meta_number(r->m, "fit.best_value", &bv) != 0 || meta_number(r->m, "fit.best_step", &bs) != 0 ||
      meta_number(r->m, "fit.wait", &w) != 0 || w < 0)
    return;
  r->fit->best_value = bv;
  r->fit->best_step = (int64_t)bs;
  r->fit->wait = (int64_t)w;
}

/* ---- evaluation points ------------------------------------------------------ */

static int improved(const esmm_fit *f, double v, double min_delta) {
  if (isnan(v))
    return 0;
  if (isnan(f->best_value))
    return 1;
  return f->higher ? v > f->best_value + min_delta : v < f->best_value - min_delta;
}

static int keep_copy(fit_run *r) {
  esmm_fit *f = r->fit;
  size_t need = 0;
  int rc = esmm_model_save_buffer(r->m, NULL, 0, &need);
  if (rc != ESMM_EBUFS && rc != ESMM_OK)
    return rc;
  if (need > f->best_len || !f->best_buf) {
    unsigned char *nb = realloc(f->best_buf, need);
    if (!nb)
      return ESMM__ERR(ESMM_ENOMEM, "out of memory for a copy of the best model (%zu bytes; keep_best=0 avoids it)",
                       need);
    f->best_buf = nb;
  }
  f->best_len = need;
  return esmm_model_save_buffer(r->m, f->best_buf, need, &need);
}

/* Append a record for the model as it stands, tell the callback. Returns
 * 0, or 1 when training must stop (r->err, r->user_stop or r->early_stop
 * say why). */
static int add_record(fit_run *r) {
  esmm_fit *f = r->fit;
  record *rec;
  int rc, better = 0;
  if (f->n == f->cap) {
    size_t cap = f->cap ? 2 * f->cap : 16;
    record *nr = realloc(f->rec, cap * sizeof *nr);
    if (!nr) {
      r->err = ESMM__ERR(ESMM_ENOMEM, "out of memory for the history");
      return 1;
    }
    f->rec = nr;
    f->cap = cap;
  }
  rec = &f->rec[f->n];
  rec->v[ESMM_FIT_STEP] = stat_of(r->m, ESMM_STAT_STEP);
  rec->v[ESMM_FIT_SAMPLES] = stat_of(r->m, ESMM_STAT_SAMPLES);
  rec->v[ESMM_FIT_EPOCH] = rec->v[ESMM_FIT_SAMPLES] / (double)r->train_rows;
  rec->v[ESMM_FIT_TRAIN_LOSS] = r->loss_n ? r->loss_sum / (double)r->loss_n : NAN;
  rec->v[ESMM_FIT_SECONDS] = now() - r->t0;
  rec->v[ESMM_FIT_MONITOR] = NAN;
  rec->v[ESMM_FIT_IMPROVED] = 0;
  for (int k = 0; k < ESMM_METRIC_COUNT; k++)
    rec->valid[k] = NAN;
  if (r->valid) {
    if ((rc = esmm_model_evaluate(r->m, r->valid, rec->valid, ESMM_METRIC_COUNT)) != ESMM_OK) {
      r->err = rc;
      return 1;
    }
    rec->v[ESMM_FIT_MONITOR] = rec->valid[f->monitor];
    if ((better = improved(f, rec->v[ESMM_FIT_MONITOR], r->min_delta)) != 0) {
      f->best = (int64_t)f->n;
      f->best_step = (int64_t)rec->v[ESMM_FIT_STEP];
      f->best_value = rec->v[ESMM_FIT_MONITOR];
      f->wait = 0;
      rec->v[ESMM_FIT_IMPROVED] = 1;
    } else
      f->wait++;
    save_state(r);
    /* after save_state: the copy carries the state of its own point */
    if (better && r->keep_best && (rc = keep_copy(r)) != ESMM_OK) {
      r->err = rc;
      return 1;
    }
  }
  f->n++;
  r->loss_sum = 0;
  r->loss_n = 0;
  r->last_rec_step = (int64_t)rec->v[ESMM_FIT_STEP];
  if (r->fn && (r->fn(r->m, f, ESMM_FIT_EVENT_EVAL, r->payload) != 0 ||
                (better && r->fn(r->m, f, ESMM_FIT_EVENT_BEST, r->payload) != 0))) {
    r->user_stop = 1;
    return 1;
  }
  if (r->valid && r->patience > 0 && f->wait >= r->patience) {
    f->stopped = 1;
    r->early_stop = 1;
    return 1;
  }
  return 0;
}

static int on_step(const esmm_model *m, int64_t step, void *payload) {
  fit_run *r = payload;
  r->loss_sum += stat_of(m, ESMM_STAT_LOSS);
  r->loss_n++;
  if (r->fn && r->fn(m, r->fit, ESMM_FIT_EVENT_STEP, r->payload) != 0) {
    r->user_stop = 1;
    return 1;
  }
  if (r->eval_every > 0 && step - r->last_rec_step >= r->eval_every)
    return add_record(r);
  return 0;
}

/* ---- the loop ------------------------------------------------------------------ */

int esmm_model_fit(esmm_model *m, const esmm_dataset *train, const esmm_dataset *valid, const esmm_config *opts,
                   esmm_fit_fn fn, void *payload, esmm_fit **out) {
  esmm_config *own = NULL;
  const esmm_config *o;
  esmm_fit *f;
  fit_run r;
  int64_t epochs = 1, batch = 1, monitor = 3, rows = 0;
  int rc = ESMM_OK;

  if (out)
    *out = NULL;
  ESMM__CHECK_ARG(m && train);
  memset(&r, 0, sizeof r);
  if (!opts) {
    ESMM__TRY(esmm_model_config(m, &own));
    opts = own;
  }
  o = opts;
  (void)esmm_config_get_int(o, ESMM_OPT_EPOCHS, &epochs);
  (void)esmm_config_get_int(o, ESMM_OPT_FIT_EVAL_EVERY, &r.eval_every);
  (void)esmm_config_get_int(o, ESMM_OPT_FIT_MONITOR, &monitor);
  (void)esmm_config_get_int(o, ESMM_OPT_FIT_PATIENCE, &r.patience);
  (void)esmm_config_get_int(o, ESMM_OPT_FIT_KEEP_BEST, &r.keep_best);
  (void)esmm_config_get_float(o, ESMM_OPT_FIT_MIN_DELTA, &r.min_delta);
  esmm_config_free(own);
  {
    esmm_config *mc = NULL;
    ESMM__TRY(esmm_model_config(m, &mc));
    (void)esmm_config_get_int(mc, ESMM_OPT_BATCH_SIZE, &batch);
    esmm_config_free(mc);
  }
  (void)esmm_dataset_stat(train, ESMM_DS_ROWS, &rows);
  if (rows <= 0)
    return ESMM__ERR(ESMM_EINVAL, "the training set has no rows");
  if (r.patience > 0 && !valid)
    return ESMM__ERR(ESMM_EINVAL, "early stopping (patience %lld) needs a validation set", (long long)r.patience);

  f = calloc(1, sizeof *f);
  if (!f)
    return ESMM__ERR(ESMM_ENOMEM, "out of memory");
  f->best = -1;
  f->best_step = -1;
  f->best_value = NAN;
  f->monitor = (int)monitor;
  f->higher = monitor <= ESMM_METRIC_CTCVR_AUC;
  f->steps_per_epoch = (rows + batch - 1) / batch;
  f->total_steps = epochs * f->steps_per_epoch;
  f->start_step = (int64_t)stat_of(m, ESMM_STAT_STEP);
  r.m = m;
  r.valid = valid;
  r.fit = f;
  r.fn = fn;
  r.payload = payload;
  r.train_rows = rows;
  r.t0 = now();
  r.last_rec_step = f->start_step;
  if (valid)
    restore_state(&r);
  if (out)
    *out = f;

  while (rc == ESMM_OK && stat_of(m, ESMM_STAT_EPOCH) < (double)epochs) {
    rc = esmm_model_train_epoch(m, train, on_step, &r);
    if (rc == ESMM_OK && r.eval_every == 0 && add_record(&r) != 0)
      rc = ESMM_ECANCELED;
  }
  /* the end of a run evaluated every N steps: a last point unless one was just made */
  if (rc == ESMM_OK && r.eval_every > 0 && (int64_t)stat_of(m, ESMM_STAT_STEP) != r.last_rec_step &&
      add_record(&r) != 0)
    rc = ESMM_ECANCELED;
  if (rc == ESMM_ECANCELED || r.err) {
    if (r.err)
      rc = r.err; /* its message is the last error */
    else if (r.early_stop)
      rc = ESMM_OK;
    else if (r.user_stop)
      rc = ESMM__ERR(ESMM_ECANCELED, "the callback asked to stop at step %.0f", stat_of(m, ESMM_STAT_STEP));
  }
  if (!out)
    esmm_fit_free(f);
  return rc;
}

void esmm_fit_free(esmm_fit *fit) {
  if (!fit)
    return;
  free(fit->rec);
  free(fit->best_buf);
  free(fit);
}

int esmm_fit_record(const esmm_fit *fit, size_t i, int key, double *out) {
  ESMM__CHECK_ARG(fit && out);
  if (i >= fit->n)
    return ESMM__ERR(ESMM_EINVAL, "record %zu out of range [0, %zu)", i, fit->n);
  if (key >= 0 && key < N_KEYS)
    *out = fit->rec[i].v[key];
  else if (key >= ESMM_FIT_VALID && key < ESMM_FIT_VALID + ESMM_METRIC_COUNT)
    *out = fit->rec[i].valid[key - ESMM_FIT_VALID];
  else
    return ESMM__ERR(ESMM_EINVAL, "unknown key %d", key);
  return ESMM_OK;
}

int esmm_fit_stat(const esmm_fit *fit, int key, double *out) {
  ESMM__CHECK_ARG(fit && out);
  switch (key) {
  case ESMM_FIT_STAT_RECORDS: *out = (double)fit->n; break;
  case ESMM_FIT_STAT_BEST: *out = (double)fit->best; break;
  case ESMM_FIT_STAT_BEST_STEP: *out = (double)fit->best_step; break;
  case ESMM_FIT_STAT_BEST_VALUE: *out = fit->best_value; break;
  case ESMM_FIT_STAT_STOPPED_EARLY: *out = fit->stopped; break;
  case ESMM_FIT_STAT_STEPS_PER_EPOCH: *out = (double)fit->steps_per_epoch; break;
  case ESMM_FIT_STAT_TOTAL_STEPS: *out = (double)fit->total_steps; break;
  case ESMM_FIT_STAT_START_STEP: *out = (double)fit->start_step; break;
  case ESMM_FIT_STAT_WAIT: *out = (double)fit->wait; break;
  case ESMM_FIT_STAT_MONITOR: *out = fit->monitor; break;
  case ESMM_FIT_STAT_HIGHER_BETTER: *out = fit->higher; break;
  default: return ESMM__ERR(ESMM_EINVAL, "unknown key %d", key);
  }
  return ESMM_OK;
}

int esmm_fit_best_model(const esmm_fit *fit, const esmm_config *hooks, esmm_model **out) {
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(fit);
  if (!fit->best_buf) {
    if (fit->best_step >= 0 && fit->best < 0)
      return ESMM__ERR(ESMM_ESTATE, "the best evaluation (step %lld) was made before this fit resumed; this fit "
                       "kept no better one", (long long)fit->best_step);
    return ESMM__ERR(ESMM_ESTATE, "no copy of a best model: %s",
                     fit->best >= 0 ? "keep_best is 0" : "no validated evaluation improved (no validation set?)");
  }
  return esmm_model_load_buffer(out, fit->best_buf, fit->best_len, hooks);
}
