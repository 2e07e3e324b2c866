/* epoch.c - epochs over a dataset: the order of rows (shuffling rows or
 * whole user groups), the cursor through it, the training position that
 * checkpoints save and restore, and the public esmm_model_train* calls.
 * Each batch of the order goes to the training step (train.h). */
#include "model.h"

#include "config.h"
#include "dataset.h"

#include <time.h>

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
static int begin_dataset(esmm_model *m, const esmm_dataset *ds, const char *func) {
  if (m->epoch_ds == ds && m->perm_n == ds->n_rows && !m->resume_n)
    return ESMM_OK;
  if (m->resume_n && m->resume_n != ds->n_rows)
    return esmm__error(ESMM_ESTATE, func,
                       "the restored training state is for a dataset of %zu rows, this one has %zu", m->resume_n,
                       ds->n_rows);
  {
    int rc = esmm__train_reserve(m, ds);
    if (rc < 0)
      return esmm__error_in(rc, func);
  }
  if (m->perm_n != ds->n_rows || !m->perm) {
    size_t *p = esmm__alloc(&m->alloc, (ds->n_rows ? ds->n_rows : 1) * sizeof *p);
    if (!p)
      return esmm__error(ESMM_ENOMEM, func, "out of memory for a permutation of %zu rows", ds->n_rows);
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

/* One step on the next batch of the epoch; *epoch_done set when it ended. */
static int train_one(esmm_model *m, const esmm_dataset *ds, int *epoch_done, const char *func) {
  size_t n;
  if (m->cursor >= m->perm_n) {
    shuffle(m, ds);
    m->cursor = 0;
    m->epoch_steps = 0;
    m->epoch_loss_sum = 0;
  }
  n = m->perm_n - m->cursor;
  if (n > m->batch)
    n = m->batch;
  ESMM__TRY(esmm__train_step(m, ds, m->perm + m->cursor, n, func));
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

/* Train until max_steps steps were taken or (stop_at_epoch) the epoch
 * ended; func is the public call the user made (messages name it). */
static int train_loop(esmm_model *m, const esmm_dataset *ds, int64_t max_steps, int stop_at_epoch,
                      esmm_progress_fn fn, void *payload, const char *func) {
  double t0 = now_sec();
  int64_t s0 = m->samples;
  int rc = ESMM_OK;
  ESMM__TRY(esmm__model_check_dataset(m, ds, func));
  if (ds->n_rows == 0)
    return esmm__error(ESMM_EINVAL, func, "the dataset has no rows");
  ESMM__TRY(begin_dataset(m, ds, func));
  for (int64_t s = 0; s < max_steps; s++) {
    int done = 0;
    rc = train_one(m, ds, &done, func);
    if (rc)
      break;
    if (fn && fn(m, m->step, payload)) {
      rc = esmm__error(ESMM_ECANCELED, func, "the progress callback stopped training at step %lld",
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
  return train_loop(m, ds, INT64_MAX, 1, fn, payload, __func__);
}

int esmm_model_train_steps(esmm_model *m, const esmm_dataset *ds, int64_t n_steps, esmm_progress_fn fn,
                           void *payload) {
  ESMM__CHECK_ARG(m && ds);
  if (n_steps < 0)
    return ESMM__ERR(ESMM_EINVAL, "n_steps must be >= 0, got %lld", (long long)n_steps);
  return train_loop(m, ds, n_steps, 0, fn, payload, __func__);
}

int esmm_model_train(esmm_model *m, const esmm_dataset *ds, esmm_progress_fn fn, void *payload) {
  int64_t epochs;
  ESMM__CHECK_ARG(m && ds);
  epochs = esmm__config_int(m->cfg, ESMM_OPT_EPOCHS);
  for (int64_t e = 0; e < epochs; e++)
    ESMM__TRY(train_loop(m, ds, INT64_MAX, 1, fn, payload, __func__));
  return ESMM_OK;
}
