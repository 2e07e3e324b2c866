/* esmm train on dataset files (eval and predict: cmd_eval.c).
 *
 * train runs the library's training loop (esmm_model_fit, esmm/fit.h):
 * evaluation of --valid at every evaluation point, the best model kept and
 * written to --model at every improvement, early stopping (patience), the
 * history in --json, --log and the --curve SVG, checkpoints every N steps,
 * --resume (with the options that may change) and --init (warm start).
 * Progress: a live bar on a terminal, else a line every --progress seconds.
 * Exit status: 0 done, 1 library/data error, 2 usage, 3 interrupted (Ctrl-C
 * or SIGTERM; a checkpoint is written first when one was asked for).
 *
 * Why one file of this length: one command; its option checks, the fit callbacks (progress,
 * history, --log, --curve) and the resume rules read the same run state.
 */
#include "cli.h"
#include "svg.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- hash tables sized from the data ------------------------------------------ */

#define SIZE_MIN 16
#define SIZE_MAX_BUCKETS 32768 /* the library default (ESMM_OPT_HASH_BUCKETS) */

typedef struct idset {
  uint64_t *key; /* 0 = empty; keys are mixed (field, id) + 1 */
  size_t cap, n;
} idset;

static uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/* Add a key; 1 when it was new, -1 out of memory. */
static int idset_add(idset *s, uint64_t k) {
  size_t i;
  if (2 * (s->n + 1) > s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 4096;
    uint64_t *nk = calloc(cap, sizeof *nk);
    if (!nk)
      return -1;
    for (size_t j = 0; j < s->cap; j++)
      if (s->key[j])
        for (i = mix(s->key[j]) & (cap - 1);; i = (i + 1) & (cap - 1))
          if (!nk[i]) {
            nk[i] = s->key[j];
            break;
          }
    free(s->key);
    s->key = nk;
    s->cap = cap;
  }
  for (i = mix(k) & (s->cap - 1); s->key[i]; i = (i + 1) & (s->cap - 1))
    if (s->key[i] == k)
      return 0;
  s->key[i] = k;
  s->n++;
  return 1;
}

static void count_ids(idset *s, int64_t *distinct, size_t nnz, const int *field, const uint64_t *id, int *oom) {
  for (size_t k = 0; k < nnz && !*oom; k++) {
    int r;
    if (distinct[field[k]] >= SIZE_MAX_BUCKETS / 2) /* enough to take the cap */
      continue;
    r = idset_add(s, mix(id[k] ^ mix((uint64_t)field[k] + 1)) | 1);
    if (r < 0)
      *oom = 1;
    distinct[field[k]] += r > 0;
  }
}

static int given(const opts *o, const char *key) {
  size_t n = strlen(key);
  for (int i = 0; i < o->n_cfg; i++)
    if (strncmp(o->cfg_set[i], key, n) == 0 && o->cfg_set[i][n] == '=')
      return i + 1;
  return 0;
}

/* Unless hash_buckets or per-field counts were given: each field gets the
 * smallest power of two >= 2 x its distinct ids in the training data, in
 * [16, 32768] (32768 is the library default, which a 100-row file does not
 * need: 23 fields x 32768 rows x 18 floats = 54 MB). */
static int size_tables(const opts *o, esmm_config *cfg, const esmm_dataset *ds, FILE *say) {
  size_t nf = 0, n_rows, n_common;
  int64_t *distinct, *buckets, rows64 = 0, commons = 0, dim = 0;
  const char **names;
  idset s = {NULL, 0, 0};
  int oom = 0, rc = 0, g = given(o, "fields");
  double table_rows = 0;
  if (given(o, "hash_buckets") || (g && strchr(o->cfg_set[g - 1], ':')))
    return 0;
  esmm_config_field_count(cfg, &nf);
  esmm_dataset_stat(ds, ESMM_DS_ROWS, &rows64);
  esmm_dataset_stat(ds, ESMM_DS_COMMONS, &commons);
  n_rows = (size_t)rows64;
  n_common = (size_t)commons;
  distinct = calloc(nf, sizeof *distinct);
  buckets = calloc(nf, sizeof *buckets);
  names = calloc(nf, sizeof *names);
  if (!distinct || !buckets || !names)
    oom = 1;
  for (size_t i = 0; i < n_rows && !oom; i++) {
    size_t nnz;
    const int *field;
    const uint64_t *id;
    esmm_dataset_row(ds, i, NULL, NULL, NULL, &nnz, &field, &id, NULL);
    count_ids(&s, distinct, nnz, field, id, &oom);
  }
  for (size_t c = 0; c < n_common && !oom; c++) {
    size_t nnz;
    const int *field;
    const uint64_t *id;
    esmm_dataset_common(ds, c, &nnz, &field, &id, NULL);
    count_ids(&s, distinct, nnz, field, id, &oom);
  }
  if (oom) {
    fprintf(stderr, "esmm: out of memory while counting ids (--set hash_buckets=N avoids it)\n");
    rc = EXIT_LIB;
    goto done;
  }
  for (size_t f = 0; f < nf; f++) {
    int64_t b = SIZE_MIN;
    while (b < 2 * distinct[f] && b < SIZE_MAX_BUCKETS)
      b *= 2;
    buckets[f] = b;
    table_rows += (double)b;
    esmm_config_field(cfg, f, &names[f], NULL);
  }
  if ((rc = esmm_config_set_fields(cfg, nf, names, buckets)) != ESMM_OK) {
    rc = cli_fail("sizing the hash tables", rc);
    goto done;
  }
  esmm_config_get_int(cfg, ESMM_OPT_EMBED_DIM, &dim);
  if (say)
    fprintf(say,
            "hash tables sized from the data: %zu distinct ids in %zu fields -> %.0f embedding rows (%.1f MB at "
            "embed_dim %lld; the default 32768 per field would take %.1f MB); --set hash_buckets=N or "
            "fields=NAME:N,... to choose\n",
            s.n, nf, table_rows, table_rows * (double)dim * 4 / 1e6, (long long)dim,
            32768.0 * (double)nf * (double)dim * 4 / 1e6);
done:
  free(s.key);
  free(distinct);
  free(buckets);
  free(names);
  return rc;
}

/* ---- the training run ------------------------------------------------------------- */

typedef struct train_run {
  const opts *o;
  const char *ckpt, *model_path, *log_path;
  int64_t every, last_ckpt_step;
  int stop_after_ckpt; /* ESMM_CLI_TEST_STOP_AFTER_CHECKPOINT: see on_fit */
  double progress_every; /* seconds between lines when not on a terminal; 0 none */
  int bar, lines, text, main_rank, have_valid, keep_best;
  double t0, last_draw, samples0;
  int ckpt_rc, save_rc; /* first failing save, reported after training */
  int best_saved;       /* --model holds a best evaluation of this run */
  FILE *log;
  int log_json, log_records;
  int64_t monitor;
} train_run;

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static double fit_stat(const esmm_fit *f, int key) {
  double v = 0;
  esmm_fit_stat(f, key, &v);
  return v;
}

static double fit_rec(const esmm_fit *f, size_t i, int key) {
  double v = NAN;
  esmm_fit_record(f, i, key, &v);
  return v;
}

static void draw_progress(const esmm_model *m, const esmm_fit *f, train_run *r, int bar) {
  double step, samples, loss, t = cli_now(), frac, left, start = fit_stat(f, ESMM_FIT_STAT_START_STEP),
                             total = fit_stat(f, ESMM_FIT_STAT_TOTAL_STEPS),
                             spe = fit_stat(f, ESMM_FIT_STAT_STEPS_PER_EPOCH);
  esmm_model_stat(m, ESMM_STAT_STEP, &step);
  esmm_model_stat(m, ESMM_STAT_SAMPLES, &samples);
  esmm_model_stat(m, ESMM_STAT_EPOCH_LOSS, &loss);
  frac = total > start ? (step - start) / (total - start) : 1;
  frac = frac > 1 ? 1 : frac < 0 ? 0 : frac;
  left = frac > 0 ? (t - r->t0) * (1 - frac) / frac : 0;
  if (bar) {
    char b[31];
    int fill = (int)(frac * 30);
    memset(b, '#', (size_t)fill);
    memset(b + fill, '.', (size_t)(30 - fill));
    b[30] = '\0';
    fprintf(stderr, "\r[%s] %3.0f%%  epoch %.0f/%.0f  step %.0f/%.0f  loss %.5f  %.0f/s  ETA %d:%02d ", b,
            100 * frac, floor(step / spe) + 1 > total / spe ? total / spe : floor(step / spe) + 1, total / spe, step,
            total, loss, t > r->t0 ? (samples - r->samples0) / (t - r->t0) : 0, (int)(left / 60),
            (int)fmod(left, 60));
  } else
    fprintf(stderr, "progress: step %.0f of %.0f (%.1f%%, epoch %.2f), loss %.5f, %.0f samples/s, ETA %d:%02d\n",
            step, total, 100 * frac, step / spe, loss, t > r->t0 ? (samples - r->samples0) / (t - r->t0) : 0,
            (int)(left / 60), (int)fmod(left, 60));
  r->last_draw = t;
}

static void clear_bar(train_run *r) {
  if (r->bar)
    fprintf(stderr, "\r%*s\r", 118, "");
}

static const int shown[] = {ESMM_METRIC_CTR_AUC, ESMM_METRIC_CVR_AUC_CLICKED, ESMM_METRIC_CTCVR_AUC};

static void log_record(train_run *r, const esmm_fit *f, size_t i) {
  if (!r->log)
    return;
  if (r->log_json) {
    /* the file is a JSON array at every moment: rewrite its end */
    if (r->log_records)
      fseek(r->log, -2, SEEK_END), fprintf(r->log, ",\n");
    else
      fprintf(r->log, "[\n");
    fprintf(r->log, "{\"epoch\":%.6g,\"step\":%.0f,\"samples\":%.0f,\"seconds\":%.3f,\"train_loss\":%.9g",
            fit_rec(f, i, ESMM_FIT_EPOCH), fit_rec(f, i, ESMM_FIT_STEP), fit_rec(f, i, ESMM_FIT_SAMPLES),
            fit_rec(f, i, ESMM_FIT_SECONDS), fit_rec(f, i, ESMM_FIT_TRAIN_LOSS));
    if (r->have_valid) {
      double met[ESMM_METRIC_COUNT];
      for (int k = 0; k < ESMM_METRIC_COUNT; k++)
        met[k] = fit_rec(f, i, ESMM_FIT_VALID + k);
      fprintf(r->log, ",");
      cli_print_json_metrics(r->log, "valid", met);
      fprintf(r->log, ",\"improved\":%s", fit_rec(f, i, ESMM_FIT_IMPROVED) > 0 ? "true" : "false");
    }
    fprintf(r->log, "}\n]\n");
  } else {
    fprintf(r->log, "%.6g,%.0f,%.0f,%.3f,%.9g", fit_rec(f, i, ESMM_FIT_EPOCH), fit_rec(f, i, ESMM_FIT_STEP),
            fit_rec(f, i, ESMM_FIT_SAMPLES), fit_rec(f, i, ESMM_FIT_SECONDS), fit_rec(f, i, ESMM_FIT_TRAIN_LOSS));
    for (int k = 0; k < ESMM_METRIC_COUNT; k++) {
      double v = fit_rec(f, i, ESMM_FIT_VALID + k);
      if (isnan(v))
        fprintf(r->log, ",");
      else
        fprintf(r->log, ",%.9g", v);
    }
    fprintf(r->log, ",%d\n", fit_rec(f, i, ESMM_FIT_IMPROVED) > 0);
  }
  fflush(r->log);
  r->log_records++;
}

static int on_fit(const esmm_model *m, const esmm_fit *f, int event, void *payload) {
  train_run *r = payload;
  if (event == ESMM_FIT_EVENT_STEP) {
    double step;
    esmm_model_stat(m, ESMM_STAT_STEP, &step);
    if (r->ckpt && r->every > 0 && (int64_t)step - r->last_ckpt_step >= r->every) {
      int rc = cli_dist_save(m, r->ckpt, 1);
      if (rc && !r->ckpt_rc) {
        r->ckpt_rc = cli_fail("checkpoint", rc);
        return 1; /* a run that cannot be resumed is not worth continuing silently */
      }
      r->last_ckpt_step = (int64_t)step;
      /* For the kill -9/resume test (mk/serving.mk, check-serving-resume):
       * stop here, after the first complete checkpoint, so that the test's
       * SIGKILL lands mid-run whatever the machine's load. Polling for the
       * file instead could find a run that had already finished. */
      if (r->stop_after_ckpt) {
        r->stop_after_ckpt = 0;
        raise(SIGSTOP);
      }
    }
    if (r->bar && cli_now() - r->last_draw >= 0.1)
      draw_progress(m, f, r, 1);
    else if (r->lines && cli_now() - r->last_draw >= r->progress_every)
      draw_progress(m, f, r, 0);
    return stop_requested ? 1 : 0;
  }
  if (event == ESMM_FIT_EVENT_EVAL) {
    size_t i = (size_t)fit_stat(f, ESMM_FIT_STAT_RECORDS) - 1;
    if (r->main_rank)
      log_record(r, f, i);
    if (r->text) {
      clear_bar(r);
      fprintf(stderr, "epoch %.4g (step %.0f): train loss %.5f", fit_rec(f, i, ESMM_FIT_EPOCH),
              fit_rec(f, i, ESMM_FIT_STEP), fit_rec(f, i, ESMM_FIT_TRAIN_LOSS));
      if (r->have_valid) {
        fprintf(stderr, "  valid");
        for (size_t k = 0; k < sizeof shown / sizeof shown[0]; k++)
          fprintf(stderr, " %s %.4f", esmm_metric_name(shown[k]), fit_rec(f, i, ESMM_FIT_VALID + shown[k]));
        if (r->monitor != ESMM_METRIC_CTR_AUC && r->monitor != ESMM_METRIC_CVR_AUC_CLICKED &&
            r->monitor != ESMM_METRIC_CTCVR_AUC)
          fprintf(stderr, " %s %.5f", esmm_metric_name((int)r->monitor), fit_rec(f, i, ESMM_FIT_MONITOR));
        if (fit_rec(f, i, ESMM_FIT_IMPROVED) > 0)
          fprintf(stderr, "  * best %s", esmm_metric_name((int)r->monitor));
        else if (!isnan(fit_rec(f, i, ESMM_FIT_MONITOR)))
          fprintf(stderr, "  (no improvement for %.0f)", fit_stat(f, ESMM_FIT_STAT_WAIT));
      }
      fprintf(stderr, "\n");
    }
    return stop_requested ? 1 : 0;
  }
  /* ESMM_FIT_EVENT_BEST: --model always holds the best model so far */
  if (r->keep_best) {
    int rc = cli_dist_save(m, r->model_path, 0);
    if (rc) {
      r->save_rc = cli_fail("saving the best model", rc);
      return 1;
    }
    r->best_saved = 1;
  }
  return stop_requested ? 1 : 0;
}

/* The training curve: train loss and the validation loss (ctr + ctcvr
 * log-loss, comparable to the training loss) on the left, the validation
 * AUCs on the right, against epochs; a dashed line at the best point. */
static int write_curve(const char *path, const esmm_fit *f, int have_valid) {
  size_t n = (size_t)fit_stat(f, ESMM_FIT_STAT_RECORDS);
  double *x = calloc(n + 1, sizeof *x), *y[5];
  const char *labels[5] = {"train loss", "valid loss (ctr + ctcvr log-loss)", "valid ctr_auc", "valid cvr_auc_clicked",
                           "valid ctcvr_auc"};
  double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY}, xmax = 0;
  int best = (int)fit_stat(f, ESMM_FIT_STAT_BEST), rc;
  FILE *o;
  for (int s = 0; s < 5; s++)
    y[s] = calloc(n + 1, sizeof **y);
  for (size_t i = 0; i < n; i++) {
    x[i] = fit_rec(f, i, ESMM_FIT_EPOCH);
    xmax = x[i] > xmax ? x[i] : xmax;
    y[0][i] = fit_rec(f, i, ESMM_FIT_TRAIN_LOSS);
    y[1][i] = fit_rec(f, i, ESMM_FIT_VALID + ESMM_METRIC_CTR_LOGLOSS) +
              fit_rec(f, i, ESMM_FIT_VALID + ESMM_METRIC_CTCVR_LOGLOSS);
    y[2][i] = fit_rec(f, i, ESMM_FIT_VALID + ESMM_METRIC_CTR_AUC);
    y[3][i] = fit_rec(f, i, ESMM_FIT_VALID + ESMM_METRIC_CVR_AUC_CLICKED);
    y[4][i] = fit_rec(f, i, ESMM_FIT_VALID + ESMM_METRIC_CTCVR_AUC);
    for (int s = 0; s < 5; s++)
      if (isfinite(y[s][i])) {
        int p = s < 2 ? 0 : 1;
        lo[p] = y[s][i] < lo[p] ? y[s][i] : lo[p];
        hi[p] = y[s][i] > hi[p] ? y[s][i] : hi[p];
      }
  }
  o = svg_open(path, have_valid ? 980 : 520, 490);
  if (!o) {
    fprintf(stderr, "esmm: cannot write %s: %s\n", path, strerror(errno));
    rc = EXIT_LIB;
    goto done;
  }
  for (int p = 0; p < (have_valid ? 2 : 1); p++) {
    svg_axes a = {70.0 + 460.0 * p, 40, 380, 300, svg_nice_max(xmax > 0 ? xmax : 1), 1, 0, 0};
    double span;
    if (!isfinite(lo[p])) /* nothing defined to plot */
      lo[p] = 0, hi[p] = 1;
    span = hi[p] - lo[p] > 1e-9 ? hi[p] - lo[p] : 0.01;
    a.ymin = lo[p] - 0.1 * span;
    a.ymax = hi[p] + 0.1 * span;
    if (p == 1) { /* AUCs: a readable fixed grid when the range allows */
      a.ymin = floor(a.ymin * 20) / 20;
      a.ymax = ceil(a.ymax * 20) / 20;
    }
    svg_axes_draw(o, &a, "epoch", p ? "AUC" : "loss", p ? "validation AUCs" : "loss per epoch");
    if (best >= 0)
      fprintf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\" stroke-dasharray=\"3 3\"/>\n",
              svg_x(&a, x[best]), a.y0, svg_x(&a, x[best]), a.y0 + a.h);
    for (int s = p ? 2 : 0; s < (p ? 5 : have_valid ? 2 : 1); s++) {
      svg_line(o, &a, x, y[s], n, svg_palette[s], s == 1);
      svg_legend(o, a.x0 + 10, a.y0 + a.h + 50, s - (p ? 2 : 0), svg_palette[s], s == 1, labels[s]);
    }
  }
  if (best >= 0)
    fprintf(o, "<text x=\"70\" y=\"%d\" font-size=\"11\" fill=\"#666\">dotted: the best evaluation (epoch %.4g), "
               "the model saved</text>\n",
            482, x[best]);
  rc = svg_close(o) == 0 ? 0 : EXIT_LIB;
  if (rc)
    fprintf(stderr, "esmm: cannot write %s\n", path);
done:
  free(x);
  for (int s = 0; s < 5; s++)
    free(y[s]);
  return rc;
}

/* Split --set into config options and train's own legacy keys. */
static int parse_every(const char *s, int64_t *out) {
  char *end;
  long long v;
  errno = 0;
  v = strtoll(s, &end, 10);
  if (errno || *end || end == s || v < 0)
    return cli_usagef("--checkpoint-every needs a number of steps >= 0, got \"%s\"", s);
  *out = v;
  return 0;
}

/* The --set keys given (for --resume / --init: which options change). */
static int changed_options(const opts *o, esmm_opt *opts_out, size_t *n_out, int *threads_given) {
  *n_out = 0;
  *threads_given = 0;
  for (int i = 0; i < o->n_cfg; i++) {
    char key[96];
    const char *eq = strchr(o->cfg_set[i], '=');
    size_t len = (size_t)(eq - o->cfg_set[i]);
    esmm_opt opt;
    memcpy(key, o->cfg_set[i], len < sizeof key ? len : sizeof key - 1);
    key[len < sizeof key ? len : sizeof key - 1] = '\0';
    if (strcmp(key, "fields") == 0)
      return cli_usagef("--set fields cannot change with --%s: the field list defines the saved parameters",
                        o->resume ? "resume" : "init");
    if (esmm_config_option_lookup(key, &opt) != ESMM_OK)
      return cli_usagef("unknown --set key \"%s\"", key);
    if (opt == ESMM_OPT_NUM_THREADS)
      *threads_given = 1; /* goes through the hooks config */
    else
      opts_out[(*n_out)++] = opt;
  }
  return 0;
}

static void json_history(const esmm_fit *f, int have_valid) {
  size_t n = (size_t)fit_stat(f, ESMM_FIT_STAT_RECORDS);
  printf("\"history\":[");
  for (size_t i = 0; i < n; i++) {
    printf("%s{\"epoch\":%.6g,\"step\":%.0f,\"samples\":%.0f,\"seconds\":%.3f,\"train_loss\":%.9g", i ? "," : "",
           fit_rec(f, i, ESMM_FIT_EPOCH), fit_rec(f, i, ESMM_FIT_STEP), fit_rec(f, i, ESMM_FIT_SAMPLES),
           fit_rec(f, i, ESMM_FIT_SECONDS), fit_rec(f, i, ESMM_FIT_TRAIN_LOSS));
    if (have_valid) {
      double met[ESMM_METRIC_COUNT];
      for (int k = 0; k < ESMM_METRIC_COUNT; k++)
        met[k] = fit_rec(f, i, ESMM_FIT_VALID + k);
      printf(",");
      cli_print_json_metrics(stdout, "valid", met);
      printf(",\"improved\":%s", fit_rec(f, i, ESMM_FIT_IMPROVED) > 0 ? "true" : "false");
    }
    printf("}");
  }
  printf("]");
}

/* The model remembers how its training data was read (metadata
 * input.format, input.spec): eval and predict read files the same way.
 * Nothing for a cache (its reader's spec is not known) or a stream whose
 * format only the library's detection saw. */
static void remember_input(esmm_config *cfg, esmm_model *m, const cli_input *in) {
  const char *fmt = cli_format_name(in->known);
  if (!fmt || in->known == ESMM_FORMAT_CACHE)
    return;
  if (cfg)
    esmm_config_set_meta(cfg, "input.format", fmt);
  else
    esmm_model_set_meta(m, "input.format", fmt);
  if (in->spec && in->known == ESMM_FORMAT_CSV) {
    if (cfg)
      esmm_config_set_meta(cfg, "input.spec", in->spec);
    else
      esmm_model_set_meta(m, "input.spec", in->spec);
  }
}

int cmd_train(const opts *o) {
  esmm_config *cfg = NULL, *changes = NULL, *hooks = NULL;
  esmm_dataset *train = NULL, *valid = NULL;
  const esmm_dataset *shard = NULL;
  esmm_model *m = NULL;
  esmm_fit *fit = NULL;
  opts co = *o;
  train_run r;
  cli_input in, vin;
  int rc, interrupted = 0, fit_rc;
  double d;
  FILE *say = NULL;

  memset(&r, 0, sizeof r);
  memset(&in, 0, sizeof in);
  memset(&vin, 0, sizeof vin);
  r.o = o;
  r.every = 1000;
  r.progress_every = 30;
  r.ckpt = o->checkpoint;
  /* train's own keys as --set (1.0 snapshots): taken out of the config options */
  co.n_cfg = 0;
  for (int i = 0; i < o->n_cfg; i++) {
    const char *kv = o->cfg_set[i];
    if (strncmp(kv, "checkpoint=", 11) == 0)
      r.ckpt = kv + 11;
    else if (strncmp(kv, "resume=", 7) == 0)
      co.resume = kv + 7;
    else if (strncmp(kv, "checkpoint_every=", 17) == 0)
      co.checkpoint_every = kv + 17;
    else
      co.cfg_set[co.n_cfg++] = kv;
  }
  o = &co;
  if (!o->data || !o->model)
    return cli_usage("train needs --data FILE and --model FILE");
  if ((r.ckpt && !*r.ckpt) || (o->resume && !*o->resume))
    return cli_usage("--checkpoint and --resume need a file name");
  if (o->checkpoint_every && !r.ckpt)
    return cli_usage("--checkpoint-every needs --checkpoint FILE (where to write the checkpoints)");
  if (o->checkpoint_every && parse_every(o->checkpoint_every, &r.every) != 0)
    return EXIT_USAGE;
  if (o->resume && o->init)
    return cli_usage("--resume continues a run, --init starts a new one from a model: give one of them");
  if (o->progress) {
    char *end;
    r.progress_every = strtod(o->progress, &end);
    if (*end || end == o->progress || !(r.progress_every >= 0))
      return cli_usagef("--progress needs a number of seconds >= 0, got \"%s\"", o->progress);
  }
  if (o->log && !(strlen(o->log) > 4 && (strcasecmp(o->log + strlen(o->log) - 4, ".csv") == 0 ||
                                        strcasecmp(o->log + strlen(o->log) - 5, ".json") == 0)))
    return cli_usagef("--log takes a .csv or a .json file name, got \"%s\"", o->log);
#ifndef ESMM_CLI_MPI
  if (o->mpi)
    return cli_usage("--mpi: this esmm was built without MPI; build with `make MPI=1` and run "
                     "`mpirun -np N esmm-mpi train ...`");
#endif
  r.main_rank = cli_rank() == 0;
  r.text = !o->quiet && !o->json && r.main_rank;
  say = r.text ? stderr : NULL;
  if (say) /* the BLAS and its threads, as the program runs with them (host.c) */
    cli_report_blas(say, 0, NULL);

  /* the model: new, resumed from a checkpoint, or started from a saved model */
  if (o->resume || o->init) {
    esmm_opt chg[CLI_MAX_SET];
    size_t n_chg = 0;
    int threads = 0;
    if ((rc = changed_options(o, chg, &n_chg, &threads)) != 0 || (rc = cli_make_config(o, SET_TRAIN, &changes)) != 0)
      goto done;
    if (threads)
      hooks = changes; /* only its thread count (and default hooks) are used */
    rc = o->resume ? esmm_model_load_checkpoint_v2(&m, o->resume, hooks, changes, chg, n_chg)
                   : esmm_model_load_v2(&m, o->init, hooks, changes, chg, n_chg);
    if (rc) {
      rc = cli_fail(o->resume ? "--resume" : "--init", rc);
      goto done;
    }
    if ((rc = esmm_model_config(m, &cfg)) != 0) {
      rc = cli_fail("config", rc);
      goto done;
    }
  } else if ((rc = cli_make_config(o, SET_TRAIN, &cfg)) != 0)
    goto done;

  /* the data */
  if ((rc = cli_input_of(o, o->data, cfg, &in)) != 0 || (o->valid && (rc = cli_input_of(o, o->valid, cfg, &vin)) != 0))
    goto done;
  if ((rc = cli_read_data(o, o->data, cfg, &train)) || (o->valid && (rc = cli_read_data(o, o->valid, cfg, &valid))))
    goto done;
  if (say) {
    cli_report_data(say, 0, "train", o->data, train, in.known);
    if (valid)
      cli_report_data(say, 0, "valid", o->valid, valid, vin.known);
  }
  {
    int64_t n = 0;
    esmm_dataset_stat(train, ESMM_DS_ROWS, &n);
    if (n == 0) {
      fprintf(stderr, "esmm: train: %s holds no row to train on\n", o->data);
      rc = EXIT_LIB;
      goto done;
    }
    if (valid && (esmm_dataset_stat(valid, ESMM_DS_ROWS, &n), n == 0)) {
      fprintf(stderr, "esmm: train: %s holds no row to validate on\n", o->valid);
      rc = EXIT_LIB;
      goto done;
    }
  }
  if (!m) {
    if ((rc = size_tables(o, cfg, train, say)) != 0)
      goto done;
    /* the model remembers how its data was read (eval, predict use it) */
    remember_input(cfg, NULL, &in);
    if ((rc = esmm_model_new(&m, cfg)) != 0) {
      rc = cli_fail("model", rc);
      goto done;
    }
  } else
    remember_input(NULL, m, &in);
  if (say) {
    double params;
    int64_t dim = 0, ep = 0;
    esmm_model_stat(m, ESMM_STAT_PARAMS, &params);
    esmm_config_get_int(cfg, ESMM_OPT_EMBED_DIM, &dim);
    esmm_config_get_int(cfg, ESMM_OPT_EPOCHS, &ep);
    double threads = 0;
    esmm_model_stat(m, ESMM_STAT_THREADS, &threads);
    fprintf(say, "model: %.0f parameters (%.1f MB), embed_dim %lld, %lld epoch%s, %.0f training thread%s%s%s\n",
            params, params * 4 / 1e6, (long long)dim, (long long)ep, ep == 1 ? "" : "s", threads,
            threads == 1 ? "" : "s", o->resume ? ", resumed from " : "",
            o->resume ? o->resume : o->init ? ", started from the parameters of " : "");
    if (o->init)
      fprintf(say, "%s\n", o->init);
  }
  {
    int64_t patience = 0;
    esmm_config_get_int(cfg, ESMM_OPT_FIT_PATIENCE, &patience);
    if (patience > 0 && !valid) {
      rc = o->resume ? cli_usagef("the checkpoint was trained with early stopping (patience %lld): give --valid "
                                  "again, or --set patience=0", (long long)patience)
                     : cli_usage("--set patience (early stopping) needs --valid FILE");
      goto done;
    }
  }
  esmm_config_get_int(cfg, ESMM_OPT_FIT_MONITOR, &r.monitor);
  {
    int64_t kb = 1;
    esmm_config_get_int(cfg, ESMM_OPT_FIT_KEEP_BEST, &kb);
    r.keep_best = valid && kb;
  }
  r.have_valid = valid != NULL;
  r.model_path = o->model;

  /* distributed: join the group, train on this rank's shard */
  if ((rc = cli_dist_attach(m)) != 0 || (rc = cli_dist_shard(train, &shard)) != 0)
    goto done;

  if (o->log && r.main_rank) {
    r.log_json = strcasecmp(o->log + strlen(o->log) - 5, ".json") == 0;
    if (!r.log_json && o->resume && access(o->log, F_OK) == 0)
      r.log = fopen(o->log, "a"); /* a resumed run continues its CSV */
    else if ((r.log = fopen(o->log, r.log_json ? "w+" : "w")) != NULL && !r.log_json) {
      fprintf(r.log, "epoch,step,samples,seconds,train_loss");
      for (int k = 0; k < ESMM_METRIC_COUNT; k++)
        fprintf(r.log, ",valid_%s", esmm_metric_name(k));
      fprintf(r.log, ",improved\n");
    }
    if (!r.log) {
      fprintf(stderr, "esmm: cannot write %s: %s\n", o->log, strerror(errno));
      rc = EXIT_LIB;
      goto done;
    }
  }

  esmm_model_stat(m, ESMM_STAT_STEP, &d);
  r.last_ckpt_step = (int64_t)d;
  r.stop_after_ckpt = getenv("ESMM_CLI_TEST_STOP_AFTER_CHECKPOINT") != NULL;
  esmm_model_stat(m, ESMM_STAT_SAMPLES, &r.samples0);
  r.bar = isatty(STDERR_FILENO) && r.text;
  r.lines = !r.bar && !o->quiet && r.main_rank && r.progress_every > 0;
  r.t0 = r.last_draw = cli_now();
  stop_requested = 0;
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);

  fit_rc = esmm_model_fit(m, shard, valid, NULL, on_fit, &r, &fit);
  clear_bar(&r);
  if (fit_rc == ESMM_ECANCELED && (r.ckpt_rc || r.save_rc)) {
    rc = r.ckpt_rc ? r.ckpt_rc : r.save_rc;
    goto done;
  }
  if (fit_rc == ESMM_ECANCELED)
    interrupted = 1;
  else if (fit_rc) {
    rc = cli_fail("train", fit_rc);
    goto done;
  }
  if (r.ckpt && (rc = cli_dist_save(m, r.ckpt, 1)) != 0) {
    rc = cli_fail("checkpoint", rc);
    goto done;
  }
  if (o->curve && r.main_rank && fit && (rc = write_curve(o->curve, fit, r.have_valid)) != 0)
    goto done;
  if (interrupted) {
    fprintf(stderr, "esmm: interrupted%s%s%s\n", r.ckpt ? "; resume with --resume " : "", r.ckpt ? r.ckpt : "",
            r.best_saved ? "; the best model so far is in --model" : "");
    rc = EXIT_INTERRUPTED;
    goto done;
  }

  /* the model file: the best evaluation (already written when it happened),
   * else the last state */
  {
    int best_before = fit_stat(fit, ESMM_FIT_STAT_BEST) < 0 && fit_stat(fit, ESMM_FIT_STAT_BEST_STEP) >= 0;
    struct stat st;
    if (!r.best_saved && !(r.keep_best && best_before && stat(o->model, &st) == 0)) {
      if (r.keep_best && say)
        fprintf(say, "warning: the monitored metric %s was never defined on --valid (too few clicks or "
                     "conversions?); the last model is saved (--set monitor=ctr_auc picks another)\n",
                esmm_metric_name((int)r.monitor));
      if ((rc = cli_dist_save(m, o->model, 0)) != 0) {
        rc = cli_fail("save", rc);
        goto done;
      }
    }
    if (say) {
      if (fit_stat(fit, ESMM_FIT_STAT_STOPPED_EARLY) > 0)
        fprintf(say, "early stopping: %s did not improve for %.0f evaluations\n", esmm_metric_name((int)r.monitor),
                fit_stat(fit, ESMM_FIT_STAT_WAIT));
      if (r.best_saved) {
        int b = (int)fit_stat(fit, ESMM_FIT_STAT_BEST);
        fprintf(say, "saved the best model (%s %.4f at epoch %.4g, step %.0f) to %s\n",
                esmm_metric_name((int)r.monitor), fit_stat(fit, ESMM_FIT_STAT_BEST_VALUE),
                fit_rec(fit, (size_t)b, ESMM_FIT_EPOCH), fit_stat(fit, ESMM_FIT_STAT_BEST_STEP), o->model);
      } else if (r.keep_best && best_before)
        fprintf(say, "the best model (step %.0f, before the resume) stays in %s\n",
                fit_stat(fit, ESMM_FIT_STAT_BEST_STEP), o->model);
      else
        fprintf(say, "saved the model to %s\n", o->model);
    }
  }
  if (o->json) {
    double loss, sps, step, ep, met[ESMM_METRIC_COUNT];
    size_t n = (size_t)fit_stat(fit, ESMM_FIT_STAT_RECORDS);
    int b = (int)fit_stat(fit, ESMM_FIT_STAT_BEST), have = valid && n > 0;
    size_t at = b >= 0 ? (size_t)b : n - 1; /* the metrics of the model saved */
    esmm_model_stat(m, ESMM_STAT_EPOCH_LOSS, &loss);
    esmm_model_stat(m, ESMM_STAT_SAMPLES_PER_SEC, &sps);
    esmm_model_stat(m, ESMM_STAT_STEP, &step);
    esmm_model_stat(m, ESMM_STAT_EPOCH, &ep);
    printf("{\"model\":");
    cli_json_str(stdout, o->model);
    printf(",\"data\":");
    if (valid)
      printf("[");
    cli_report_data(stdout, 1, "train", o->data, train, in.known);
    if (valid) {
      printf(",");
      cli_report_data(stdout, 1, "valid", o->valid, valid, vin.known);
      printf("]");
    }
    printf(",\"blas\":");
    cli_report_blas(stdout, 1, m);
    printf(",\"epochs\":%.0f,\"steps\":%.0f,\"train_loss\":%.6g,\"samples_per_sec\":%.0f,", ep, step, loss, sps);
    json_history(fit, r.have_valid);
    printf(",\"monitor\":\"%s\",\"best\":", esmm_metric_name((int)r.monitor));
    if (b >= 0)
      printf("{\"epoch\":%.6g,\"step\":%.0f,\"value\":%.9g}", fit_rec(fit, (size_t)b, ESMM_FIT_EPOCH),
             fit_stat(fit, ESMM_FIT_STAT_BEST_STEP), fit_stat(fit, ESMM_FIT_STAT_BEST_VALUE));
    else
      printf("null");
    printf(",\"stopped_early\":%s,", fit_stat(fit, ESMM_FIT_STAT_STOPPED_EARLY) > 0 ? "true" : "false");
    if (have) {
      for (int k = 0; k < ESMM_METRIC_COUNT; k++)
        met[k] = fit_rec(fit, at, ESMM_FIT_VALID + k);
      cli_print_json_metrics(stdout, "valid", met);
    } else
      printf("\"valid\":null");
    printf(",\"checkpoint\":");
    if (r.ckpt)
      cli_json_str(stdout, r.ckpt);
    else
      printf("null");
    printf("}\n");
  }
  rc = 0;
done:
  if (r.log && fclose(r.log) != 0 && rc == 0) {
    fprintf(stderr, "esmm: cannot write %s\n", o->log);
    rc = EXIT_LIB;
  }
  esmm_fit_free(fit);
  cli_dist_free_shard(train, shard);
  cli_dist_detach(m);
  esmm_model_free(m);
  esmm_dataset_free(train);
  esmm_dataset_free(valid);
  esmm_config_free(cfg);
  esmm_config_free(changes);
  return rc;
}
