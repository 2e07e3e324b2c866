/* experiment_run.c - the cells of the pCVR study and its raw file
 * (experiment.h).
 *
 * A cell is (arm, world, seed): it draws one world (simulator seed 1 +
 * seed), a training set (stream 0; with early stopping its first 80 % and a
 * validation set of 20 % from stream 2) and a test set (stream 1, the same
 * for every arm of the world), trains each variant of the arm on the same
 * rows with the same model seed (1000 + seed), so that differences between
 * variants within a cell are the variants' own, and diagnoses pCVR on the
 * test set (esmm/diag.h). Every model runs on one thread; cells run on the
 * experiment's workers. A finished cell's runs are appended to the raw file
 * at once, so an interrupted study continues where it stopped. */
#include "experiment.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RAW_MAGIC "# esmm experiment raw 2"
#define LINE_MAX_BYTES 65536

/* ---- one cell ------------------------------------------------------------ */

typedef struct cell {
  const xplan *p;
  int a, w, s;
  esmm_dataset *train, *valid, *test;
  size_t n; /* test rows */
  float *truth[ESMM_DIAG_TRUTH_COUNT];
  int *y, *z;
  double cpc_train, cpc_test, oracle_cvr_clicked, oracle_ctcvr;
  xrun run[32]; /* by variant */
} cell;

static int set_kv(esmm_config *cfg, const char *kv) {
  char name[64];
  const char *eq = strchr(kv, '=');
  size_t len = eq ? (size_t)(eq - kv) : 0;
  if (!eq || len >= sizeof name)
    return ESMM_EINVAL;
  memcpy(name, kv, len);
  name[len] = 0;
  return esmm_config_set_by_name(cfg, name, eq + 1);
}

static int sim_kv(esmm_sim *sim, const char *kv) {
  char name[64];
  const char *eq = strchr(kv, '=');
  size_t len = eq ? (size_t)(eq - kv) : 0;
  if (!eq || len >= sizeof name)
    return ESMM_EINVAL;
  memcpy(name, kv, len);
  name[len] = 0;
  return esmm_sim_set_by_name(sim, name, eq + 1);
}

/* The study's model: small on purpose (the worlds are small and hundreds
 * of models train); the variant's options, the arm's, then --set. */
static int model_config(const cell *c, int v, esmm_config **out) {
  static const char *const defaults[] = {"embed_dim=8",   "hash_buckets=16384", "ctr_tower=32,16",
                                         "cvr_tower=32,16", "batch_size=512",   "learning_rate=0.002",
                                         "epochs=2",      "shuffle=rows",       "threads=1"};
  static const char *const early[] = {"epochs=8", "patience=2", "monitor=ctcvr_logloss", "keep_best=1"};
  const xarm *arm = &c->p->arm[c->a];
  esmm_config *cfg;
  char sv[32];
  int rc = esmm_config_new(&cfg);
  if (rc)
    return rc;
  for (size_t i = 0; i < sizeof defaults / sizeof defaults[0] && !rc; i++)
    rc = set_kv(cfg, defaults[i]);
  for (int i = 0; i < X_MAX_OPTS && x_variants[v].opts[i] && !rc; i++)
    rc = set_kv(cfg, x_variants[v].opts[i]);
  for (int i = 0; i < 4 && arm->model[i] && !rc; i++)
    rc = set_kv(cfg, arm->model[i]);
  for (size_t i = 0; arm->early_stop && i < sizeof early / sizeof early[0] && !rc; i++)
    rc = set_kv(cfg, early[i]);
  for (int i = 0; i < c->p->n_user_set && !rc; i++)
    rc = set_kv(cfg, c->p->user_set[i]);
  snprintf(sv, sizeof sv, "seed=%d", 1000 + c->s);
  if (!rc)
    rc = set_kv(cfg, sv);
  if (rc) {
    esmm_config_free(cfg);
    return rc;
  }
  *out = cfg;
  return ESMM_OK;
}

/* AUC of score against z on the clicked rows (clicked_only) or all rows. */
static double auc_of(const cell *c, const float *score, int clicked_only) {
  float *s = malloc(c->n * sizeof *s);
  int *l = malloc(c->n * sizeof *l);
  size_t m = 0;
  double auc = NAN;
  if (s && l) {
    for (size_t i = 0; i < c->n; i++)
      if (!clicked_only || c->y[i]) {
        s[m] = score[i];
        l[m] = c->y[i] && c->z[i];
        m++;
      }
    if (esmm_auc(s, l, m, &auc) != ESMM_OK)
      auc = NAN;
  }
  free(s);
  free(l);
  return auc;
}

/* The diagnosis of pcvr on the test rows into r. */
static int diagnose(cell *c, const float *pctr, const float *pcvr, const float *pctcvr, xrun *r) {
  esmm_diag *d = NULL;
  int rc = esmm_diag_new(&d, c->test, pctr, pcvr, pctcvr);
  if (rc)
    return rc;
  esmm_diag_stat(d, ESMM_DIAG_STAT_MEAN_PCVR_ALL, &r->v[C_MEAN_PCVR_ALL]);
  esmm_diag_stat(d, ESMM_DIAG_STAT_MEAN_PCVR_CLICKED, &r->v[C_MEAN_PCVR_CLICKED]);
  esmm_diag_stat(d, ESMM_DIAG_STAT_CVR_CLIPS, &r->v[C_CLIPS]);
  for (int t = 0; t < ESMM_DIAG_TRUTH_COUNT && !rc; t++) {
    static const int measure[XM_COUNT] = {ESMM_DIAG_RMSE, ESMM_DIAG_BIAS, ESMM_DIAG_MEAN_TRUTH, ESMM_DIAG_CAL_ERROR,
                                          ESMM_DIAG_CORR};
    for (int s = 0; s < 2 && !rc; s++)
      for (int k = 0; k < XM_COUNT && !rc; k++)
        rc = esmm_diag_error(d, t, s, measure[k], &r->v[C_ERR(t, s, k)]);
    for (size_t b = 0; b < ESMM_DIAG_BINS && !rc; b++)
      rc = esmm_diag_calibration(d, t, ESMM_DIAG_ALL, b, t == 0 ? &r->v[C_BIN_PRED0 + b] : NULL,
                                 &r->v[C_BIN_TRUTH(t, b)], NULL);
  }
  esmm_diag_free(d);
  return rc;
}

static void init_run(const cell *c, xrun *r) {
  for (int k = 0; k < N_COL; k++)
    r->v[k] = NAN;
  r->v[C_ORACLE_CVR_CLICKED] = c->oracle_cvr_clicked;
  r->v[C_ORACLE_CTCVR] = c->oracle_ctcvr;
  r->v[C_CPC_TEST] = c->cpc_test;
  r->v[C_CPC_TRAIN] = c->cpc_train;
}

/* A reference: a pCVR array that is not a model's. */
static int reference(cell *c, int v, const float *pcvr) {
  xrun *r = &c->run[v];
  int rc;
  init_run(c, r);
  rc = diagnose(c, NULL, pcvr, NULL, r);
  if (rc)
    return rc;
  r->v[C_AUC_CVR_CLICKED] = auc_of(c, pcvr, 1);
  r->v[C_AUC_CVR_ALL] = auc_of(c, pcvr, 0);
  r->have = 1;
  return ESMM_OK;
}

static int train_variant(cell *c, int v) {
  const xarm *arm = &c->p->arm[c->a];
  esmm_config *cfg = NULL, *hooks = NULL;
  esmm_model *m = NULL, *best = NULL;
  esmm_fit *fit = NULL;
  const esmm_model *use;
  float *p = NULL;
  double met[ESMM_METRIC_COUNT], t0 = cli_now();
  xrun *r = &c->run[v];
  int rc;
  init_run(c, r);
  if ((rc = model_config(c, v, &cfg)) || (rc = esmm_model_new(&m, cfg)))
    goto done;
  if (arm->early_stop) {
    if ((rc = esmm_model_fit(m, c->train, c->valid, NULL, NULL, NULL, &fit)))
      goto done;
    if ((rc = esmm_config_new(&hooks)) || (rc = esmm_config_set_int(hooks, ESMM_OPT_NUM_THREADS, 1)))
      goto done;
    rc = esmm_fit_best_model(fit, hooks, &best);
    if (rc == ESMM_OK) {
      double step, per;
      esmm_fit_stat(fit, ESMM_FIT_STAT_BEST_STEP, &step);
      esmm_fit_stat(fit, ESMM_FIT_STAT_STEPS_PER_EPOCH, &per);
      r->v[C_EPOCHS] = per > 0 ? step / per : NAN;
    } else if (rc == ESMM_ESTATE) { /* no evaluation improved on the first: the last model */
      rc = ESMM_OK;
      esmm_model_stat(m, ESMM_STAT_EPOCH, &r->v[C_EPOCHS]);
    } else {
      goto done;
    }
  } else {
    if ((rc = esmm_model_train(m, c->train, NULL, NULL)))
      goto done;
    esmm_model_stat(m, ESMM_STAT_EPOCH, &r->v[C_EPOCHS]);
  }
  r->v[C_SECONDS] = cli_now() - t0;
  use = best ? best : m;
  if ((rc = esmm_model_evaluate(use, c->test, met, ESMM_METRIC_COUNT)))
    goto done;
  r->v[C_AUC_CTR] = met[ESMM_METRIC_CTR_AUC];
  r->v[C_AUC_CVR_CLICKED] = met[ESMM_METRIC_CVR_AUC_CLICKED];
  r->v[C_AUC_CVR_ALL] = met[ESMM_METRIC_CVR_AUC_ALL];
  r->v[C_AUC_CTCVR] = met[ESMM_METRIC_CTCVR_AUC];
  if (!(p = malloc(3 * c->n * sizeof *p))) {
    rc = ESMM_ENOMEM;
    goto done;
  }
  if ((rc = esmm_model_predict(use, NULL, c->test, 0, c->n, p, p + c->n, p + 2 * c->n)) ||
      (rc = diagnose(c, p, p + c->n, p + 2 * c->n, r)))
    goto done;
  r->have = 1;
  if (strcmp(x_variants[v].key, "division") == 0) {
    /* the control: DIVISION's CTCVR tower, fit to y z on every impression */
    int vt = x_variant_index("tower_yz");
    if (vt >= 0 && (rc = reference(c, vt, p + 2 * c->n)) == ESMM_OK) {
      c->run[vt].v[C_SECONDS] = r->v[C_SECONDS];
      c->run[vt].v[C_AUC_CTCVR] = c->run[vt].v[C_AUC_CVR_ALL]; /* its score against y z over all rows */
    }
  }
done:
  if (rc)
    fprintf(stderr, "esmm experiment: %s, arm %s, confounding %g, CTR %g, seed %d: %s (%s)\n", x_variants[v].label,
            arm->key, arm->world[c->w].conf, arm->world[c->w].ctr, c->s, esmm_last_error(), esmm_strerror(rc));
  free(p);
  esmm_fit_free(fit);
  esmm_model_free(best);
  esmm_model_free(m);
  esmm_config_free(hooks);
  esmm_config_free(cfg);
  return rc;
}

static double conv_per_click(const esmm_dataset *ds) {
  int64_t n64;
  size_t n;
  int *y, *z;
  double clicks = 0, conv = 0;
  esmm_dataset_stat(ds, ESMM_DS_ROWS, &n64);
  n = (size_t)n64;
  y = malloc(n * sizeof *y);
  z = malloc(n * sizeof *z);
  if (y && z && esmm_dataset_labels(ds, 0, n, y, z) == ESMM_OK)
    for (size_t i = 0; i < n; i++) {
      clicks += y[i] != 0;
      conv += y[i] && z[i];
    }
  free(y);
  free(z);
  return clicks > 0 ? conv / clicks : NAN;
}

static int cell_data(cell *c) {
  static const int kind[ESMM_DIAG_TRUTH_COUNT] = {ESMM_TRUTH_CVR, ESMM_TRUTH_CTCVR, ESMM_TRUTH_CVR_CF};
  const xarm *arm = &c->p->arm[c->a];
  const xworld *wd = &arm->world[c->w];
  size_t rows = arm->rows ? arm->rows : c->p->rows;
  esmm_sim *sim = NULL;
  int64_t n64;
  float *tctr = NULL;
  int rc;
  if ((rc = esmm_sim_new(&sim, NULL)) || (rc = esmm_sim_set_int(sim, ESMM_SIM_SEED, 1 + c->s)) ||
      (rc = esmm_sim_set_float(sim, ESMM_SIM_CTR, wd->ctr)) || (rc = esmm_sim_set_float(sim, ESMM_SIM_CVR, 0.1)) ||
      (rc = esmm_sim_set_float(sim, ESMM_SIM_CONF_CLICK, wd->conf)) ||
      (rc = esmm_sim_set_float(sim, ESMM_SIM_CONF_CONV, wd->conf)))
    goto done;
  for (int i = 0; i < 4 && arm->sim[i] && !rc; i++)
    rc = sim_kv(sim, arm->sim[i]);
  if (rc)
    goto done;
  if (arm->early_stop) {
    size_t nt = rows / 5 * 4;
    if ((rc = esmm_sim_generate(sim, nt, 0, &c->train)) || (rc = esmm_sim_generate(sim, rows - nt, 2, &c->valid)))
      goto done;
  } else if ((rc = esmm_sim_generate(sim, rows, 0, &c->train))) {
    goto done;
  }
  if ((rc = esmm_sim_generate(sim, c->p->test_rows, 1, &c->test)))
    goto done;
  esmm_dataset_stat(c->test, ESMM_DS_ROWS, &n64);
  c->n = (size_t)n64;
  c->y = malloc(c->n * sizeof *c->y);
  c->z = malloc(c->n * sizeof *c->z);
  tctr = malloc(c->n * sizeof *tctr);
  for (int t = 0; t < ESMM_DIAG_TRUTH_COUNT; t++)
    c->truth[t] = malloc(c->n * sizeof *c->truth[t]);
  if (!c->y || !c->z || !tctr || !c->truth[0] || !c->truth[1] || !c->truth[2]) {
    rc = ESMM_ENOMEM;
    goto done;
  }
  if ((rc = esmm_dataset_labels(c->test, 0, c->n, c->y, c->z)) ||
      (rc = esmm_dataset_truth(c->test, ESMM_TRUTH_CTR, 0, c->n, tctr)))
    goto done;
  for (int t = 0; t < ESMM_DIAG_TRUTH_COUNT && !rc; t++)
    rc = esmm_dataset_truth(c->test, kind[t], 0, c->n, c->truth[t]);
  if (rc)
    goto done;
  c->cpc_train = conv_per_click(c->train);
  c->cpc_test = conv_per_click(c->test);
  c->oracle_cvr_clicked = auc_of(c, c->truth[0], 1);
  {
    int *yz = malloc(c->n * sizeof *yz);
    if (!yz) {
      rc = ESMM_ENOMEM;
      goto done;
    }
    for (size_t i = 0; i < c->n; i++)
      yz[i] = c->y[i] && c->z[i];
    if (esmm_auc(c->truth[1], yz, c->n, &c->oracle_ctcvr) != ESMM_OK)
      c->oracle_ctcvr = NAN;
    free(yz);
  }
done:
  free(tctr);
  esmm_sim_free(sim);
  if (rc)
    fprintf(stderr, "esmm experiment: the data of arm %s, confounding %g, CTR %g, seed %d: %s (%s)\n", arm->key,
            wd->conf, wd->ctr, c->s, esmm_last_error(), esmm_strerror(rc));
  return rc;
}

static void cell_free(cell *c) {
  esmm_dataset_free(c->train);
  esmm_dataset_free(c->valid);
  esmm_dataset_free(c->test);
  for (int t = 0; t < ESMM_DIAG_TRUTH_COUNT; t++)
    free(c->truth[t]);
  free(c->y);
  free(c->z);
}

static int run_cell(cell *c) {
  int rc = cell_data(c);
  for (int v = 0; v < x_n_variants && !rc; v++) {
    if (!x_arm_own(c->p, c->a, v))
      continue;
    switch (x_variants[v].kind) {
    case XK_TRAINED: rc = train_variant(c, v); break;
    case XK_CONST: {
      float *k = malloc(c->n * sizeof *k);
      if (!k) {
        rc = ESMM_ENOMEM;
        break;
      }
      for (size_t i = 0; i < c->n; i++)
        k[i] = (float)c->cpc_train;
      rc = reference(c, v, k);
      free(k);
      break;
    }
    case XK_TRUTH_CVR: rc = reference(c, v, c->truth[ESMM_DIAG_TRUTH_CVR]); break;
    case XK_TRUTH_CF: rc = reference(c, v, c->truth[ESMM_DIAG_TRUTH_CVR_CF]); break;
    default: break; /* XK_TOWER_YZ: with DIVISION */
    }
  }
  cell_free(c);
  return rc;
}

/* ---- raw file ------------------------------------------------------------ */

static void write_line(FILE *f, const xplan *p, int a, int w, int s, int v, const xrun *r) {
  fprintf(f, "%s\t%g\t%g\t%d\t%s", p->arm[a].key, p->arm[a].world[w].conf, p->arm[a].world[w].ctr, s,
          x_variants[v].key);
  for (int k = 0; k < N_COL; k++)
    fprintf(f, "\t%.7g", r->v[k]);
  fputc('\n', f);
}

static void write_header(FILE *f, const xplan *p) {
  fprintf(f, RAW_MAGIC "\n# signature: %s\narm\tconf\tctr\tseed\tvariant", p->signature);
  for (int k = 0; k < N_COL; k++)
    fprintf(f, "\t%s", x_col_name(k));
  fputc('\n', f);
}

FILE *x_raw_open(const xplan *p, const char *path) {
  FILE *f = fopen(path, "r+b");
  long size = 0;
  if (f) {
    /* drop a torn last line (an interrupted write) before appending */
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0) {
      long keep = size;
      int ch;
      while (keep > 0) {
        fseek(f, keep - 1, SEEK_SET);
        ch = fgetc(f);
        if (ch == '\n')
          break;
        keep--;
      }
      if (keep < size) {
        fflush(f);
        if (ftruncate(fileno(f), keep) != 0) {
          fprintf(stderr, "esmm experiment: cannot truncate %s: %s\n", path, strerror(errno));
          fclose(f);
          return NULL;
        }
        size = keep;
      }
    }
    fclose(f);
  }
  f = fopen(path, "ab");
  if (!f) {
    fprintf(stderr, "esmm experiment: cannot open %s: %s\n", path, strerror(errno));
    return NULL;
  }
  if (size == 0) {
    write_header(f, p);
    fflush(f);
  }
  return f;
}

int x_raw_read(xplan *p, const char *path, int missing_ok, size_t *n_out) {
  FILE *f = fopen(path, "rb");
  char *line;
  int rc = 0, header = 0, sig = 0;
  size_t lineno = 0;
  *n_out = 0;
  if (!f) {
    if (missing_ok && errno == ENOENT)
      return 0;
    fprintf(stderr, "esmm experiment: cannot read %s: %s\n", path, strerror(errno));
    return -1;
  }
  line = malloc(LINE_MAX_BYTES);
  if (!line) {
    fclose(f);
    return -1;
  }
  while (fgets(line, LINE_MAX_BYTES, f)) {
    size_t len = strlen(line);
    lineno++;
    if (len == 0 || line[len - 1] != '\n')
      break; /* a torn last line: what an interrupted run leaves */
    line[--len] = 0;
    if (lineno == 1) {
      if (strcmp(line, RAW_MAGIC) != 0) {
        fprintf(stderr, "esmm experiment: %s is not a raw file of this experiment (first line \"%.40s\")\n", path,
                line);
        rc = -1;
        break;
      }
      continue;
    }
    if (strncmp(line, "# signature: ", 13) == 0) {
      if (strcmp(line + 13, p->signature) != 0) {
        fprintf(stderr,
                "esmm experiment: %s holds runs of another grid:\n  file: %s\n  this: %s\n"
                "(use the same --rows/--test-rows/--set, or another raw=PATH, or remove the file)\n",
                path, line + 13, p->signature);
        rc = -1;
        break;
      }
      sig = 1;
      continue;
    }
    if (line[0] == '#')
      continue;
    if (strncmp(line, "arm\t", 4) == 0) {
      /* the columns must be this program's */
      char *q = line, *tab;
      int k = -5, ok = 1;
      while (q) {
        tab = strchr(q, '\t');
        if (tab)
          *tab = 0;
        if (k >= 0 && (k >= N_COL || strcmp(q, x_col_name(k)) != 0))
          ok = 0;
        k++;
        q = tab ? tab + 1 : NULL;
      }
      if (!ok || k != N_COL) {
        fprintf(stderr, "esmm experiment: %s has other columns than this program writes\n", path);
        rc = -1;
        break;
      }
      header = 1;
      continue;
    }
    if (!header || !sig) {
      fprintf(stderr, "esmm experiment: %s:%zu: a run before the header\n", path, lineno);
      rc = -1;
      break;
    }
    {
      char arm[64], var[64];
      double conf, ctr;
      int seed, pos = 0, a, w, v;
      char *q, *end;
      xrun r;
      if (sscanf(line, "%63[^\t]\t%lf\t%lf\t%d\t%63[^\t]%n", arm, &conf, &ctr, &seed, var, &pos) != 5) {
        fprintf(stderr, "esmm experiment: %s:%zu: not a run\n", path, lineno);
        rc = -1;
        break;
      }
      a = x_arm_index(p, arm);
      w = a >= 0 ? x_world_of(p, a, conf, ctr) : -1;
      v = x_variant_index(var);
      if (w < 0 || v < 0 || seed < 0 || seed >= x_seeds(p, a, w) || !x_arm_own(p, a, v)) {
        fprintf(stderr, "esmm experiment: %s:%zu: a run this grid does not have (%s, %g, %g, seed %d, %s)\n", path,
                lineno, arm, conf, ctr, seed, var);
        rc = -1;
        break;
      }
      q = line + pos;
      for (int k = 0; k < N_COL; k++) {
        if (*q != '\t') {
          q = NULL;
          break;
        }
        r.v[k] = strtod(q + 1, &end);
        if (end == q + 1) {
          q = NULL;
          break;
        }
        q = end;
      }
      if (!q || *q) {
        fprintf(stderr, "esmm experiment: %s:%zu: expected %d numbers\n", path, lineno, N_COL);
        rc = -1;
        break;
      }
      r.have = 1;
      *x_run(p, a, w, seed, v) = r; /* a later line of the same run wins (a re-run cell) */
      (*n_out)++;
    }
  }
  free(line);
  if (ferror(f)) {
    fprintf(stderr, "esmm experiment: error reading %s\n", path);
    rc = -1;
  }
  fclose(f);
  if (rc == 0 && lineno > 0 && !header) {
    fprintf(stderr, "esmm experiment: %s has no column header\n", path);
    rc = -1;
  }
  return rc;
}

/* ---- workers ------------------------------------------------------------- */

typedef struct queue {
  xplan *p;
  FILE *raw;
  pthread_mutex_t mu;
  int *cells; /* (a, w, s) triples to run */
  int n_cells, next, done, error;
  double t0;
} queue;

static void *worker(void *arg) {
  queue *q = arg;
  for (;;) {
    cell *c;
    int k, rc;
    pthread_mutex_lock(&q->mu);
    k = q->error ? q->n_cells : q->next++;
    pthread_mutex_unlock(&q->mu);
    if (k >= q->n_cells)
      return NULL;
    c = calloc(1, sizeof *c);
    if (!c) {
      pthread_mutex_lock(&q->mu);
      q->error = 1;
      pthread_mutex_unlock(&q->mu);
      return NULL;
    }
    c->p = q->p;
    c->a = q->cells[3 * k];
    c->w = q->cells[3 * k + 1];
    c->s = q->cells[3 * k + 2];
    rc = run_cell(c);
    pthread_mutex_lock(&q->mu);
    if (rc) {
      q->error = 1;
    } else {
      for (int v = 0; v < x_n_variants; v++)
        if (c->run[v].have) {
          *x_run(q->p, c->a, c->w, c->s, v) = c->run[v];
          write_line(q->raw, q->p, c->a, c->w, c->s, v, &c->run[v]);
        }
      if (fflush(q->raw) != 0) {
        fprintf(stderr, "esmm experiment: cannot write the raw file: %s\n", strerror(errno));
        q->error = 1;
      }
      q->done++;
      if (!q->p->quiet)
        fprintf(stderr, "esmm experiment: %d/%d cells (arm %s, confounding %g, CTR %g, seed %d) %.0f s\n", q->done,
                q->n_cells, q->p->arm[c->a].key, q->p->arm[c->a].world[c->w].conf,
                q->p->arm[c->a].world[c->w].ctr, c->s, cli_now() - q->t0);
    }
    pthread_mutex_unlock(&q->mu);
    free(c);
  }
}

int x_run_all(xplan *p, FILE *raw) {
  queue q;
  pthread_t th[16];
  int total = 0, nw;
  memset(&q, 0, sizeof q);
  q.p = p;
  q.raw = raw;
  for (int a = 0; a < p->n_arm; a++)
    for (int w = 0; w < p->arm[a].n_world; w++)
      total += x_seeds(p, a, w);
  q.cells = malloc((size_t)total * 3 * sizeof *q.cells);
  if (!q.cells)
    return EXIT_LIB;
  /* the missing cells, main arm first, seed by seed so that a partial run
   * has every world */
  for (int a = 0; a < p->n_arm; a++)
    for (int s = 0; s < p->n_seeds; s++)
      for (int w = 0; w < p->arm[a].n_world; w++) {
        int missing = 0;
        if (s >= x_seeds(p, a, w))
          continue;
        for (int v = 0; v < x_n_variants; v++)
          if (x_arm_own(p, a, v) && !x_run(p, a, w, s, v)->have)
            missing = 1;
        if (missing) {
          q.cells[3 * q.n_cells] = a;
          q.cells[3 * q.n_cells + 1] = w;
          q.cells[3 * q.n_cells + 2] = s;
          q.n_cells++;
        }
      }
  if (!p->quiet)
    fprintf(stderr, "esmm experiment: %d of %d cells to run, %d worker(s)\n", q.n_cells, total, p->workers);
  pthread_mutex_init(&q.mu, NULL);
  q.t0 = cli_now();
  nw = p->workers < q.n_cells ? p->workers : q.n_cells;
  for (int i = 0; i < nw; i++)
    if (pthread_create(&th[i], NULL, worker, &q) != 0) {
      nw = i;
      break;
    }
  if (nw == 0 && q.n_cells > 0)
    worker(&q);
  for (int i = 0; i < nw; i++)
    pthread_join(th[i], NULL);
  pthread_mutex_destroy(&q.mu);
  free(q.cells);
  return q.error ? EXIT_LIB : 0;
}
