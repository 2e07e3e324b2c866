/* esmm experiment: what does pCVR estimate? Trains every variant on
 * simulated worlds of several confounding strengths and CTR levels, several
 * seeds each, diagnoses pCVR against each candidate truth (esmm/diag.h) and
 * writes docs/what-pcvr-estimates.md with mean +- std tables and SVG plots
 * (written here: no plotting dependency).
 *
 *   esmm experiment [--rows N] [--test-rows N] [--out doc.md] [--set k=v]...
 *
 * Experiment keys, given with --set next to model options: quick=1 (the
 * under-two-minutes check run by `make check`: it writes no doc unless --out
 * is given and exits 1 when a main effect has the wrong sign), seeds=N,
 * workers=N (training threads, each model single-threaded; default 2),
 * img=DIR (SVG directory, default: "img" next to the doc), raw=PATH (every
 * run's numbers as TSV), from_raw=PATH (no training: rewrite the page from
 * such a file, made with the same grid); other keys (epochs=...) go to every
 * model. OPENBLAS_NUM_THREADS=1 is expected (make experiment sets it).
 *
 * Each (confounding, CTR level, seed) cell draws one world (sim seed =
 * seed), a training and a test set; every variant trains on the same rows
 * with the same model seed, so differences between variants within a cell
 * are the variants' own. */
#include "cli.h"
#include "svg.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct variant_def {
  const char *key, *label;
  int variant;
  double click_weight;
} variant_def;

static const variant_def all_variants[] = {
    {"esmm", "ESMM", ESMM_VARIANT_ESMM, 0.0},
    {"esmm_ns", "ESMM-NS", ESMM_VARIANT_ESMM_NS, 0.0},
    {"esmm_click", "ESMM + click CVR loss", ESMM_VARIANT_ESMM, 1.0},
    {"base", "BASE", ESMM_VARIANT_BASE, 0.0},
    {"division", "DIVISION", ESMM_VARIANT_DIVISION, 0.0},
    {"escm2_ips", "ESCM2-IPS", ESMM_VARIANT_ESCM2_IPS, 0.0},
    {"escm2_dr", "ESCM2-DR", ESMM_VARIANT_ESCM2_DR, 0.0},
};
#define MAX_VARIANTS 7
#define MAX_LEVELS 4
#define MAX_SEEDS 32

static const char *const truth_label[ESMM_DIAG_TRUTH_COUNT] = {"p(z=1|y=1,x)", "p(z=1|x)", "p(r=1|x)"};
static const char *const truth_short[ESMM_DIAG_TRUTH_COUNT] = {"cvr", "ctcvr", "cf"};
/* the same inside Markdown table cells, where a bare | ends the cell */
static const char *const truth_md[ESMM_DIAG_TRUTH_COUNT] = {"p(z=1\\|y=1,x)", "p(z=1\\|x)", "p(r=1\\|x)"};
static const char *const subset_label[2] = {"all impressions", "clicked impressions"};

/* Per run: every number the doc uses. */
enum {
  V_AUC_CTR,
  V_AUC_CVR_CLICKED,
  V_AUC_CVR_ALL,
  V_AUC_CTCVR,
  V_MEAN_PCVR_ALL,
  V_MEAN_PCVR_CLICKED,
  V_CONV_PER_CLICK,
  V_CLIPS,
  V_SECONDS,
  V_ORACLE_AUC_CVR_CLICKED,
  V_ORACLE_AUC_CTCVR,
  V_FIXED
};
#define V_ERR(t, s, meas) (V_FIXED + ((t) * 2 + (s)) * ESMM_DIAG_MEASURE_COUNT + (meas))
#define N_VALUES (V_FIXED + ESMM_DIAG_TRUTH_COUNT * 2 * ESMM_DIAG_MEASURE_COUNT)

typedef struct run {
  double v[N_VALUES];
  double bin_pred[ESMM_DIAG_TRUTH_COUNT][ESMM_DIAG_BINS], bin_truth[ESMM_DIAG_TRUTH_COUNT][ESMM_DIAG_BINS];
  int done, failed;
} run;

typedef struct plan {
  int quick, n_seeds, workers;
  size_t rows, test_rows;
  int n_var;
  const variant_def *var[MAX_VARIANTS];
  int n_conf, n_ctr;
  double conf[MAX_LEVELS], ctr[MAX_LEVELS], cvr;
  const opts *o;
  const char *model_set[64];
  int n_model_set;
  run *runs; /* [conf][ctr][seed][variant] */
  /* work queue */
  pthread_mutex_t mu;
  int next_cell, cells_done, error;
  double t0;
} plan;

static run *run_at(plan *p, int c, int l, int s, int v) {
  return &p->runs[((c * p->n_ctr + l) * p->n_seeds + s) * p->n_var + v];
}

/* ---- one cell ------------------------------------------------------------ */

static int make_model_config(const plan *p, const variant_def *vd, int seed, esmm_config **out) {
  esmm_config *cfg;
  /* the experiment's model: small towers (the worlds are small and there are
   * 7 x levels x seeds models to train); --set overrides any of it */
  static const char *const defaults[][2] = {{"embed_dim", "8"},      {"hash_buckets", "16384"},
                                            {"ctr_tower", "32,16"},  {"cvr_tower", "32,16"},
                                            {"batch_size", "512"},   {"learning_rate", "0.002"},
                                            {"epochs", "2"},         {"shuffle", "rows"}};
  char sv[32];
  int rc = esmm_config_new(&cfg);
  if (rc)
    return rc;
  for (size_t i = 0; i < sizeof defaults / sizeof defaults[0] && !rc; i++)
    rc = esmm_config_set_by_name(cfg, defaults[i][0], defaults[i][1]);
  for (int i = 0; i < p->n_model_set && !rc; i++) {
    char name[64];
    const char *eq = strchr(p->model_set[i], '=');
    size_t len = eq ? (size_t)(eq - p->model_set[i]) : 0;
    if (!eq || len >= sizeof name) {
      rc = ESMM_EINVAL;
      break;
    }
    memcpy(name, p->model_set[i], len);
    name[len] = 0;
    rc = esmm_config_set_by_name(cfg, name, eq + 1);
  }
  snprintf(sv, sizeof sv, "%d", 1000 + seed);
  if (!rc)
    rc = esmm_config_set_by_name(cfg, "seed", sv);
  if (!rc)
    rc = esmm_config_set_int(cfg, ESMM_OPT_VARIANT, vd->variant);
  if (!rc)
    rc = esmm_config_set_float(cfg, ESMM_OPT_CVR_CLICK_WEIGHT, vd->click_weight);
  if (rc) {
    esmm_config_free(cfg);
    return rc;
  }
  *out = cfg;
  return ESMM_OK;
}

static int oracle_aucs(const esmm_dataset *test, double *cvr_clicked, double *ctcvr) {
  int64_t n64;
  size_t n, m = 0;
  float *t, *tc;
  int *y, *z, *yz;
  int rc;
  esmm_dataset_stat(test, ESMM_DS_ROWS, &n64);
  n = (size_t)n64;
  t = malloc(n * sizeof *t);
  tc = malloc(n * sizeof *tc);
  y = malloc(n * sizeof *y);
  z = malloc(n * sizeof *z);
  yz = malloc(n * sizeof *yz);
  if (!t || !tc || !y || !z || !yz) {
    rc = ESMM_ENOMEM;
    goto done;
  }
  if ((rc = esmm_dataset_truth(test, ESMM_TRUTH_CVR, 0, n, t)) ||
      (rc = esmm_dataset_truth(test, ESMM_TRUTH_CTCVR, 0, n, tc)) || (rc = esmm_dataset_labels(test, 0, n, y, z)))
    goto done;
  for (size_t i = 0; i < n; i++)
    yz[i] = y[i] && z[i];
  if ((rc = esmm_auc(tc, yz, n, ctcvr)))
    goto done;
  for (size_t i = 0; i < n; i++)
    if (y[i]) {
      t[m] = t[i];
      z[m] = z[i];
      m++;
    }
  rc = esmm_auc(t, z, m, cvr_clicked);
done:
  free(t), free(tc), free(y), free(z), free(yz);
  return rc;
}

static int run_variant(plan *p, const esmm_dataset *train, const esmm_dataset *test, const variant_def *vd, int seed,
                       run *r) {
  esmm_config *cfg = NULL;
  esmm_model *m = NULL;
  esmm_diag *d = NULL;
  double met[ESMM_METRIC_COUNT], t0 = cli_now();
  int rc;
  if ((rc = make_model_config(p, vd, seed, &cfg)) || (rc = esmm_model_new(&m, cfg)) ||
      (rc = esmm_model_train(m, train, NULL, NULL)))
    goto done;
  r->v[V_SECONDS] = cli_now() - t0;
  if ((rc = esmm_model_evaluate(m, test, met, ESMM_METRIC_COUNT)) || (rc = esmm_diag_model(&d, m, test)))
    goto done;
  r->v[V_AUC_CTR] = met[ESMM_METRIC_CTR_AUC];
  r->v[V_AUC_CVR_CLICKED] = met[ESMM_METRIC_CVR_AUC_CLICKED];
  r->v[V_AUC_CVR_ALL] = met[ESMM_METRIC_CVR_AUC_ALL];
  r->v[V_AUC_CTCVR] = met[ESMM_METRIC_CTCVR_AUC];
  esmm_diag_stat(d, ESMM_DIAG_STAT_MEAN_PCVR_ALL, &r->v[V_MEAN_PCVR_ALL]);
  esmm_diag_stat(d, ESMM_DIAG_STAT_MEAN_PCVR_CLICKED, &r->v[V_MEAN_PCVR_CLICKED]);
  esmm_diag_stat(d, ESMM_DIAG_STAT_CONV_PER_CLICK, &r->v[V_CONV_PER_CLICK]);
  esmm_diag_stat(d, ESMM_DIAG_STAT_CVR_CLIPS, &r->v[V_CLIPS]);
  for (int t = 0; t < ESMM_DIAG_TRUTH_COUNT; t++) {
    for (int s = 0; s < 2; s++)
      for (int k = 0; k < ESMM_DIAG_MEASURE_COUNT; k++)
        if ((rc = esmm_diag_error(d, t, s, k, &r->v[V_ERR(t, s, k)])))
          goto done;
    for (size_t b = 0; b < ESMM_DIAG_BINS; b++)
      esmm_diag_calibration(d, t, ESMM_DIAG_ALL, b, &r->bin_pred[t][b], &r->bin_truth[t][b], NULL);
  }
  r->done = 1;
done:
  if (rc) {
    fprintf(stderr, "esmm experiment: %s (seed %d): %s (%s)\n", vd->label, seed, esmm_last_error(),
            esmm_strerror(rc));
    r->failed = 1;
  }
  esmm_diag_free(d);
  esmm_model_free(m);
  esmm_config_free(cfg);
  return rc;
}

static int run_cell(plan *p, int cell) {
  int s = cell % p->n_seeds, l = (cell / p->n_seeds) % p->n_ctr, c = cell / (p->n_seeds * p->n_ctr);
  esmm_sim *sim = NULL;
  esmm_dataset *train = NULL, *test = NULL;
  double oc = NAN, ot = NAN;
  int rc;
  if ((rc = esmm_sim_new(&sim, NULL)) || (rc = esmm_sim_set_int(sim, ESMM_SIM_SEED, 1 + s)) ||
      (rc = esmm_sim_set_float(sim, ESMM_SIM_CTR, p->ctr[l])) || (rc = esmm_sim_set_float(sim, ESMM_SIM_CVR, p->cvr)) ||
      (rc = esmm_sim_set_float(sim, ESMM_SIM_CONF_CLICK, p->conf[c])) ||
      (rc = esmm_sim_set_float(sim, ESMM_SIM_CONF_CONV, p->conf[c])))
    goto done;
  for (int i = 0; i < p->o->n_sim && !rc; i++) {
    char name[64];
    const char *eq = strchr(p->o->sim_set[i], '=');
    size_t len = eq ? (size_t)(eq - p->o->sim_set[i]) : 0;
    if (!eq || len >= sizeof name) {
      rc = ESMM_EINVAL;
      break;
    }
    memcpy(name, p->o->sim_set[i], len);
    name[len] = 0;
    rc = esmm_sim_set_by_name(sim, name, eq + 1);
  }
  if (rc || (rc = esmm_sim_generate(sim, p->rows, 0, &train)) || (rc = esmm_sim_generate(sim, p->test_rows, 1, &test)))
    goto done;
  if ((rc = oracle_aucs(test, &oc, &ot)))
    goto done;
  for (int v = 0; v < p->n_var; v++) {
    run *r = run_at(p, c, l, s, v);
    r->v[V_ORACLE_AUC_CVR_CLICKED] = oc;
    r->v[V_ORACLE_AUC_CTCVR] = ot;
    if ((rc = run_variant(p, train, test, p->var[v], s, r)))
      goto done;
  }
done:
  if (rc && !run_at(p, c, l, s, 0)->failed)
    fprintf(stderr, "esmm experiment: cell conf %g ctr %g seed %d: %s (%s)\n", p->conf[c], p->ctr[l], s,
            esmm_last_error(), esmm_strerror(rc));
  esmm_dataset_free(train);
  esmm_dataset_free(test);
  esmm_sim_free(sim);
  return rc;
}

static void *worker(void *arg) {
  plan *p = arg;
  int n_cells = p->n_conf * p->n_ctr * p->n_seeds;
  for (;;) {
    int cell, rc;
    pthread_mutex_lock(&p->mu);
    cell = p->error ? n_cells : p->next_cell++;
    pthread_mutex_unlock(&p->mu);
    if (cell >= n_cells)
      return NULL;
    rc = run_cell(p, cell);
    pthread_mutex_lock(&p->mu);
    p->cells_done++;
    if (rc)
      p->error = rc;
    if (!p->o->quiet)
      fprintf(stderr, "esmm experiment: %d/%d worlds done (%.0f s)\n", p->cells_done, n_cells, cli_now() - p->t0);
    pthread_mutex_unlock(&p->mu);
  }
}

/* ---- aggregation --------------------------------------------------------- */

/* Mean and sample std over seeds of value k of (conf c, level l, variant v). */
static void stat_of(plan *p, int c, int l, int v, int k, double *mean, double *sd) {
  double s = 0, q = 0;
  int n = p->n_seeds;
  for (int i = 0; i < n; i++)
    s += run_at(p, c, l, i, v)->v[k];
  s /= n;
  for (int i = 0; i < n; i++) {
    double d = run_at(p, c, l, i, v)->v[k] - s;
    q += d * d;
  }
  *mean = s;
  *sd = n > 1 ? sqrt(q / (n - 1)) : 0.0;
}

static void cell_ms(FILE *f, plan *p, int c, int l, int v, int k, int digits, double scale) {
  double m, sd;
  stat_of(p, c, l, v, k, &m, &sd);
  fprintf(f, " %.*f ± %.*f |", digits, m * scale, digits, sd * scale);
}

/* ---- SVG ----------------------------------------------------------------- */

/* Reliability diagram: mean truth against mean pCVR per decile of pCVR,
 * averaged over seeds, one line per variant, the diagonal for reference. */
static int svg_reliability(plan *p, const char *path, int c, int l, int t) {
  FILE *f = svg_open(path, 620, 440);
  svg_axes a = {70, 40, 360, 340, 0, 0, 0, 0};
  char title[160];
  double mx = 0;
  if (!f)
    return -1;
  /* the axes span the plotted (seed-averaged) points, not single seeds' */
  for (int v = 0; v < p->n_var; v++)
    for (int b = 0; b < ESMM_DIAG_BINS; b++) {
      double xp = 0, yt = 0;
      for (int s = 0; s < p->n_seeds; s++) {
        xp += run_at(p, c, l, s, v)->bin_pred[t][b];
        yt += run_at(p, c, l, s, v)->bin_truth[t][b];
      }
      mx = fmax(mx, fmax(xp, yt) / p->n_seeds);
    }
  a.xmax = a.ymax = svg_nice_max(mx);
  snprintf(title, sizeof title, "%s vs pCVR (confounding %g, CTR %g)", truth_label[t], p->conf[c], p->ctr[l]);
  svg_axes_draw(f, &a, "mean pCVR in the decile", truth_label[t], title);
  fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>\n",
          svg_x(&a, 0), svg_y(&a, 0), svg_x(&a, a.xmax), svg_y(&a, a.ymax));
  for (int v = 0; v < p->n_var; v++) {
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", svg_palette[v % 7]);
    for (int b = 0; b < ESMM_DIAG_BINS; b++) {
      double xp = 0, yt = 0;
      for (int s = 0; s < p->n_seeds; s++) {
        xp += run_at(p, c, l, s, v)->bin_pred[t][b];
        yt += run_at(p, c, l, s, v)->bin_truth[t][b];
      }
      fprintf(f, "%.1f,%.1f ", svg_x(&a, xp / p->n_seeds), svg_y(&a, yt / p->n_seeds));
    }
    fprintf(f, "\"/>\n");
    fprintf(f, "<line x1=\"445\" y1=\"%d\" x2=\"465\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"/>", 60 + 20 * v,
            60 + 20 * v, svg_palette[v % 7]);
    fprintf(f, "<text x=\"470\" y=\"%d\" font-size=\"12\">%s</text>\n", 64 + 20 * v, p->var[v]->label);
  }
  fprintf(f, "<text x=\"445\" y=\"%d\" font-size=\"11\" fill=\"#666\">dashed: perfect calibration</text>\n",
          64 + 20 * p->n_var);
  return svg_close(f);
}

/* Grouped bars of a value per variant, one group per confounding level. */
static int svg_bars(plan *p, const char *path, int l, int k, const char *what, double lo, double hi) {
  FILE *f = svg_open(path, 640, 420);
  svg_axes a = {70, 40, 400, 320, 1, hi - lo, 0, 0};
  char title[160];
  double gw;
  if (!f)
    return -1;
  snprintf(title, sizeof title, "%s (CTR %g; mean ± std over %d seeds)", what, p->ctr[l], p->n_seeds);
  fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444\"/>\n", a.x0,
          a.y0, a.w, a.h);
  for (int i = 0; i <= 5; i++) {
    double vy = (hi - lo) * i / 5;
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", a.x0, svg_y(&a, vy),
            a.x0 + a.w, svg_y(&a, vy));
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.3g</text>\n", a.x0 - 5,
            svg_y(&a, vy) + 4, lo + vy);
  }
  fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\" text-anchor=\"middle\" font-weight=\"bold\">%s</text>\n",
          a.x0 + a.w / 2, a.y0 - 10, title);
  gw = a.w / p->n_conf;
  for (int c = 0; c < p->n_conf; c++) {
    double bw = gw * 0.8 / p->n_var;
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\">confounding %g</text>\n",
            a.x0 + gw * (c + 0.5), a.y0 + a.h + 16, p->conf[c]);
    for (int v = 0; v < p->n_var; v++) {
      double m, sd, x = a.x0 + gw * c + gw * 0.1 + bw * v, top;
      stat_of(p, c, l, v, k, &m, &sd);
      top = svg_y(&a, fmax(0.0, fmin(m - lo, hi - lo)));
      fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n", x, top, bw * 0.9,
              a.y0 + a.h - top, svg_palette[v % 7]);
      fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", x + bw * 0.45,
              svg_y(&a, fmin(hi - lo, fmax(0.0, m - sd - lo))), x + bw * 0.45,
              svg_y(&a, fmin(hi - lo, fmax(0.0, m + sd - lo))));
    }
  }
  for (int v = 0; v < p->n_var; v++) {
    fprintf(f, "<rect x=\"485\" y=\"%d\" width=\"14\" height=\"10\" fill=\"%s\"/>", 52 + 20 * v, svg_palette[v % 7]);
    fprintf(f, "<text x=\"504\" y=\"%d\" font-size=\"12\">%s</text>\n", 62 + 20 * v, p->var[v]->label);
  }
  return svg_close(f);
}

/* ---- the document -------------------------------------------------------- */

/* Index of the truth with the smallest mean RMSE for (c, l, v, subset). */
static int closest_truth(plan *p, int c, int l, int v, int s) {
  int best = 0;
  double bm = INFINITY;
  for (int t = 0; t < ESMM_DIAG_TRUTH_COUNT; t++) {
    double m, sd;
    stat_of(p, c, l, v, V_ERR(t, s, ESMM_DIAG_RMSE), &m, &sd);
    if (m < bm)
      bm = m, best = t;
  }
  return best;
}

static int var_index(const plan *p, const char *key) {
  for (int v = 0; v < p->n_var; v++)
    if (strcmp(p->var[v]->key, key) == 0)
      return v;
  return -1;
}

static void table_header(FILE *f, const char *first, plan *p) {
  fprintf(f, "| %s |", first);
  for (int v = 0; v < p->n_var; v++)
    fprintf(f, " %s |", p->var[v]->label);
  fprintf(f, "\n|---|");
  for (int v = 0; v < p->n_var; v++)
    fprintf(f, "---|");
  fprintf(f, "\n");
}

/* One table per CTR level: a row per (confounding, truth), a column per
 * variant, mean ± std of measure over the seeds, on subset s (0 all, 1 clicked). */
static void truth_tables(FILE *f, plan *p, int s, int measure) {
  for (int l = 0; l < p->n_ctr; l++) {
    fprintf(f, "CTR %g:\n\n", p->ctr[l]);
    table_header(f, "confounding: truth", p);
    for (int c = 0; c < p->n_conf; c++)
      for (int t = 0; t < ESMM_DIAG_TRUTH_COUNT; t++) {
        fprintf(f, "| %g: %s |", p->conf[c], truth_md[t]);
        for (int v = 0; v < p->n_var; v++)
          cell_ms(f, p, c, l, v, V_ERR(t, s, measure), 4, 1.0);
        fprintf(f, "\n");
      }
    fprintf(f, "\n");
  }
}


static int write_doc(plan *p, const char *path, const char *img_dir, const char *img_rel, double seconds) {
  FILE *f = fopen(path, "w");
  char svg[1400];
  int cmax = p->n_conf - 1;
  if (!f)
    return -1;
  fprintf(f, "# What does pCVR estimate?\n\n");
  if (seconds >= 0)
    fprintf(f, "*Generated by `esmm experiment` (`make experiment`) in %.0f s on this machine with %d worker "
               "thread(s); rerun it to regenerate this page and its plots. Do not edit by hand: edit "
               "`cli/cmd_experiment.c`; the last section is `what-pcvr-estimates.reading.md`.*\n\n",
            seconds, p->workers);
  else
    fprintf(f, "*Generated by `esmm experiment` (`make experiment`; this copy rewritten from its saved per-run "
               "results with `--set from_raw=`). Do not edit by hand: edit `cli/cmd_experiment.c`; the "
               "last section is `what-pcvr-estimates.reading.md`.*\n\n");
  fprintf(f,
          "ESMM's paper reads the CVR tower as p(z=1|y=1,x); a widely read critique (the seed of this "
          "library) says that, trained on the entire impression space, it learns p(z=1|x) instead; ESCM2 "
          "(SIGIR 2022) says it is biased against the counterfactual p(r=1|x), the conversion rate an "
          "impression would have if it were clicked. The simulator (`esmm/sim.h`) knows all three for every "
          "impression, so this page measures, for every variant the library implements, how far pCVR is from "
          "each of them.\n\n");
  fprintf(f, "## Setup\n\n");
  fprintf(f, "- Worlds: the Ali-CCP-shaped simulator (23 fields, users with common features); conversions per "
             "click E[p(y=1,z=1|x)]/E[p(y=1|x)] = %g; mean CTR ",
          p->cvr);
  for (int l = 0; l < p->n_ctr; l++)
    fprintf(f, "%s%g", l ? " or " : "", p->ctr[l]);
  fprintf(f, "; a latent u ~ N(0,1) per impression, unseen by the models, added to the click and the conversion "
             "logit with equal loadings a = b = ");
  for (int c = 0; c < p->n_conf; c++)
    fprintf(f, "%s%g", c ? ", " : "", p->conf[c]);
  fprintf(f, " (\"confounding\"; 0 = clicks select on observed features only, and then p(r=1|x) = "
             "p(z=1|y=1,x)). With a, b > 0 a click is evidence of a high u, so p(z=1|y=1,x) > p(r=1|x).\n");
  fprintf(f, "- Data: %zu training and %zu test impressions per world; %d seeds (a seed changes the world, the "
             "draws and the model initialisation). All variants of a world train on the same rows.\n",
          p->rows, p->test_rows, p->n_seeds);
  fprintf(f, "- Models: small on purpose (so that the whole grid runs in minutes on 2 cores): embedding dimension "
             "8, 16384 buckets per field, towers input→32→16→1, Adam lr 0.002, batch 512, 2 epochs");
  if (p->n_model_set) {
    fprintf(f, ", with overrides");
    for (int i = 0; i < p->n_model_set; i++)
      fprintf(f, " `%s`", p->model_set[i]);
  }
  fprintf(f, ". ESCM2: λ_c = 1, λ_g = 1 (`loss_weight_ctcvr`), propensity clip 0.01, no gradient through the "
             "propensity. \"ESMM + click CVR loss\" adds BCE(pCVR, z) over clicked rows with weight 1. Every loss "
             "is written out in `include/esmm/config.h` (esmm_variant) and in the table below.\n");
  fprintf(f, "- Metrics (`esmm/diag.h`): RMSE and mean bias (mean of pCVR − truth) of pCVR against each truth, "
             "over all test impressions and over the clicked ones; reliability by deciles of pCVR; AUCs; "
             "ESCM2's bias test (mean pCVR over all impressions vs Σz/Σy). Tables give mean ± std over seeds.\n\n");
  fprintf(f, "| variant | loss per impression (÷ batch size) | pCVR |\n|---|---|---|\n");
  fprintf(f, "| ESMM | BCE(pCTR,y) + BCE(pCTR·pCVR, y·z); one shared embedding | CVR tower |\n");
  fprintf(f, "| ESMM-NS | same; the CVR tower has its own embedding table | CVR tower |\n");
  fprintf(f, "| ESMM + click CVR loss | ESMM + w·y·BCE(pCVR, z) | CVR tower |\n");
  fprintf(f, "| BASE | CTR model: BCE(pCTR,y); CVR model (own table): y·BCE(pCVR,z) | CVR model; pCTCVR = product |\n");
  fprintf(f, "| DIVISION | CTR model: BCE(pCTR,y); CTCVR model (own table): BCE(pCTCVR, y·z) | min(1, pCTCVR/pCTR) |\n");
  fprintf(f, "| ESCM2-IPS | ESMM + λ_c·y·BCE(pCVR,z)/max(pCTR, clip) | CVR tower |\n");
  fprintf(f, "| ESCM2-DR | ESMM + λ_c·[ê + y(e−ê)/p + y(sg(e)−ê)²/p], e = BCE(pCVR,z), ê = softplus(imputation "
             "tower), p = max(pCTR, clip) | CVR tower |\n\n");

  fprintf(f, "## Which truth is pCVR closest to?\n\n");
  fprintf(f, "The truth with the smallest mean RMSE, per variant and world (all impressions / clicked impressions):\n\n");
  table_header(f, "confounding, CTR", p);
  for (int c = 0; c < p->n_conf; c++)
    for (int l = 0; l < p->n_ctr; l++) {
      fprintf(f, "| %g, %g |", p->conf[c], p->ctr[l]);
      for (int v = 0; v < p->n_var; v++)
        fprintf(f, " %s / %s |", truth_md[closest_truth(p, c, l, v, 0)], truth_md[closest_truth(p, c, l, v, 1)]);
      fprintf(f, "\n");
    }
  fprintf(f, "\n");

  for (int s = 0; s < 2; s++) {
    fprintf(f, "## RMSE of pCVR against each truth, %s\n\n", subset_label[s]);
    truth_tables(f, p, s, ESMM_DIAG_RMSE);
  }
  for (int s = 0; s < 2; s++) {
    fprintf(f, "## Mean bias (pCVR − truth), %s\n\n", subset_label[s]);
    truth_tables(f, p, s, ESMM_DIAG_BIAS);
  }
  fprintf(f, "## Calibration error by deciles of pCVR, all impressions\n\n"
             "Σ over deciles of (rows/n)·|mean pCVR − mean truth|:\n\n");
  truth_tables(f, p, 0, ESMM_DIAG_CAL_ERROR);
  fprintf(f, "Reliability diagrams (deciles of pCVR over all test impressions, averaged over seeds; x: mean "
             "pCVR of the decile, y: mean truth), strongest confounding (%g) and none, each CTR level:\n\n",
          p->conf[cmax]);
  for (int l = 0; l < p->n_ctr; l++)
    for (int c = cmax; c >= 0; c -= cmax > 0 ? cmax : 1) {
      fprintf(f, "Confounding %g, CTR %g:\n\n", p->conf[c], p->ctr[l]);
      for (int t = 0; t < ESMM_DIAG_TRUTH_COUNT; t++) {
        char name[128];
        snprintf(name, sizeof name, "reliability-%s-conf%g-ctr%g.svg", truth_short[t], p->conf[c], p->ctr[l]);
        snprintf(svg, sizeof svg, "%s/%s", img_dir, name);
        if (svg_reliability(p, svg, c, l, t) != 0) {
          fclose(f);
          return -1;
        }
        fprintf(f, "![%s against pCVR, confounding %g, CTR %g](%s/%s)\n", truth_label[t], p->conf[c], p->ctr[l],
                img_rel, name);
      }
      fprintf(f, "\n");
      if (c == 0)
        break;
    }

  fprintf(f, "## ESCM2's bias test\n\n"
             "On real data only labels are known; ESCM2 compares the mean pCVR over all impressions with Σz/Σy "
             "(conversions per click). Mean pCVR over all impressions, over clicked impressions, and Σz/Σy:\n\n");
  for (int l = 0; l < p->n_ctr; l++) {
    fprintf(f, "CTR %g:\n\n", p->ctr[l]);
    table_header(f, "confounding: quantity", p);
    for (int c = 0; c < p->n_conf; c++) {
      /* the truths' own means, next to the model's: what a perfect
       * estimator of each truth would show in this test */
      const int keys[6] = {V_MEAN_PCVR_ALL,
                           V_MEAN_PCVR_CLICKED,
                           V_CONV_PER_CLICK,
                           V_ERR(ESMM_DIAG_TRUTH_CVR, 0, ESMM_DIAG_MEAN_TRUTH),
                           V_ERR(ESMM_DIAG_TRUTH_CVR, 1, ESMM_DIAG_MEAN_TRUTH),
                           V_ERR(ESMM_DIAG_TRUTH_CVR_CF, 0, ESMM_DIAG_MEAN_TRUTH)};
      const char *names[6] = {"mean pCVR, all",
                              "mean pCVR, clicked",
                              "Σz/Σy",
                                 "truth: mean p(z=1\\|y=1,x), all",
                              "truth: mean p(z=1\\|y=1,x), clicked",
                              "truth: mean p(r=1\\|x), all"};
      for (int k = 0; k < 6; k++) {
        fprintf(f, "| %g: %s |", p->conf[c], names[k]);
        for (int v = 0; v < p->n_var; v++)
          cell_ms(f, p, c, l, v, keys[k], 4, 1.0);
        fprintf(f, "\n");
      }
    }
    fprintf(f, "\n");
  }

  fprintf(f, "## AUC\n\n");
  for (int l = 0; l < p->n_ctr; l++) {
    fprintf(f, "CTR %g (oracle = the true probabilities' AUC on the same test set):\n\n", p->ctr[l]);
    fprintf(f, "| confounding: AUC | oracle |");
    for (int v = 0; v < p->n_var; v++)
      fprintf(f, " %s |", p->var[v]->label);
    fprintf(f, "\n|---|---|");
    for (int v = 0; v < p->n_var; v++)
      fprintf(f, "---|");
    fprintf(f, "\n");
    for (int c = 0; c < p->n_conf; c++) {
      const int keys[4] = {V_AUC_CTR, V_AUC_CVR_CLICKED, V_AUC_CVR_ALL, V_AUC_CTCVR};
      const char *names[4] = {"CTR", "CVR (clicked)", "CVR (all)", "CTCVR"};
      for (int k = 0; k < 4; k++) {
        double om = NAN, osd = 0;
        if (keys[k] == V_AUC_CVR_CLICKED)
          stat_of(p, c, l, 0, V_ORACLE_AUC_CVR_CLICKED, &om, &osd);
        if (keys[k] == V_AUC_CTCVR)
          stat_of(p, c, l, 0, V_ORACLE_AUC_CTCVR, &om, &osd);
        if (isnan(om))
          fprintf(f, "| %g: %s | |", p->conf[c], names[k]);
        else
          fprintf(f, "| %g: %s | %.4f ± %.4f |", p->conf[c], names[k], om, osd);
        for (int v = 0; v < p->n_var; v++)
          cell_ms(f, p, c, l, v, keys[k], 4, 1.0);
        fprintf(f, "\n");
      }
    }
    fprintf(f, "\n");
    snprintf(svg, sizeof svg, "%s/auc-cvr-clicked-ctr%g.svg", img_dir, p->ctr[l]);
    if (svg_bars(p, svg, l, V_AUC_CVR_CLICKED, "CVR AUC on clicked impressions", 0.5, 0.8) != 0) {
      fclose(f);
      return -1;
    }
    fprintf(f, "![CVR AUC on clicked impressions, CTR %g](%s/auc-cvr-clicked-ctr%g.svg)\n\n", p->ctr[l], img_rel,
            p->ctr[l]);
  }

  {
    int vb = var_index(p, "base"), vn = var_index(p, "esmm_ns"), ve = var_index(p, "esmm");
    if (vb >= 0 && vn >= 0 && ve >= 0) {
      fprintf(f, "## The shape of the paper's Table 2, on simulated Ali-CCP-like data\n\n"
                 "Ma et al. (2018), Table 2, compares CVR AUC on clicked impressions and CTCVR AUC on Ali-CCP. "
                 "The same columns here (mean ± std over %d seeds):\n\n",
              p->n_seeds);
      fprintf(f, "| world | model | CVR AUC (clicked) | CTCVR AUC |\n|---|---|---|---|\n");
      for (int c = 0; c < p->n_conf; c++)
        for (int l = 0; l < p->n_ctr; l++) {
          int vs[3] = {vb, vn, ve};
          for (int k = 0; k < 3; k++) {
            fprintf(f, "| confounding %g, CTR %g | %s |", p->conf[c], p->ctr[l], p->var[vs[k]]->label);
            cell_ms(f, p, c, l, vs[k], V_AUC_CVR_CLICKED, 4, 1.0);
            cell_ms(f, p, c, l, vs[k], V_AUC_CTCVR, 4, 1.0);
            fprintf(f, "\n");
          }
        }
      fprintf(f, "\n");
    }
  }
  {
    int vd = var_index(p, "division");
    if (vd >= 0) {
      fprintf(f, "## DIVISION's clips\n\nTest impressions whose pCTCVR exceeded pCTR (pCVR clipped to 1), "
                 "out of %zu:\n\n| confounding, CTR | clipped rows |\n|---|---|\n",
              p->test_rows);
      for (int c = 0; c < p->n_conf; c++)
        for (int l = 0; l < p->n_ctr; l++) {
          fprintf(f, "| %g, %g |", p->conf[c], p->ctr[l]);
          cell_ms(f, p, c, l, vd, V_CLIPS, 1, 1.0);
          fprintf(f, "\n");
        }
      fprintf(f, "\n");
    }
  }
  fprintf(f, "## Training time\n\nSeconds per model (mean over worlds and seeds; the machine is shared):\n\n");
  table_header(f, "", p);
  fprintf(f, "| seconds |");
  for (int v = 0; v < p->n_var; v++) {
    double s = 0;
    for (int c = 0; c < p->n_conf; c++)
      for (int l = 0; l < p->n_ctr; l++) {
        double m, sd;
        stat_of(p, c, l, v, V_SECONDS, &m, &sd);
        s += m;
      }
    fprintf(f, " %.1f |", s / (p->n_conf * p->n_ctr));
  }
  fprintf(f, "\n\n");
  {
    FILE *nf;
    char npath[1024];
    /* the hand-written reading of the numbers lives next to the generated
     * page so that regenerating does not erase it */
    snprintf(npath, sizeof npath, "%s", path);
    {
      char *dot = strrchr(npath, '.');
      if (dot)
        *dot = 0;
    }
    strncat(npath, ".reading.md", sizeof npath - strlen(npath) - 1);
    nf = fopen(npath, "r");
    if (nf) {
      char buf[4096];
      size_t k;
      fprintf(f, "\n");
      while ((k = fread(buf, 1, sizeof buf, nf)) > 0)
        fwrite(buf, 1, k, f);
      fclose(nf);
    }
  }
  return fclose(f);
}

/* Every run's values, one line per run (raw=PATH), for analyses the page
 * does not make. */
static int write_raw(plan *p, const char *path) {
  FILE *f = fopen(path, "w");
  if (!f)
    return -1;
  fprintf(f, "conf\tctr\tseed\tvariant");
  for (int k = 0; k < N_VALUES; k++)
    fprintf(f, "\tv%d", k);
  for (int t = 0; t < ESMM_DIAG_TRUTH_COUNT; t++)
    for (int b = 0; b < ESMM_DIAG_BINS; b++)
      fprintf(f, "\tbin_%s_%d_pred\tbin_%s_%d_truth", truth_short[t], b, truth_short[t], b);
  fprintf(f, "\n");
  for (int c = 0; c < p->n_conf; c++)
    for (int l = 0; l < p->n_ctr; l++)
      for (int s = 0; s < p->n_seeds; s++)
        for (int v = 0; v < p->n_var; v++) {
          run *r = run_at(p, c, l, s, v);
          fprintf(f, "%g\t%g\t%d\t%s", p->conf[c], p->ctr[l], s, p->var[v]->key);
          for (int k = 0; k < N_VALUES; k++)
            fprintf(f, "\t%.9g", r->v[k]);
          for (int t = 0; t < ESMM_DIAG_TRUTH_COUNT; t++)
            for (int b = 0; b < ESMM_DIAG_BINS; b++)
              fprintf(f, "\t%.9g\t%.9g", r->bin_pred[t][b], r->bin_truth[t][b]);
          fprintf(f, "\n");
        }
  return fclose(f);
}

/* Fill the runs from a raw=PATH file of the same grid (from_raw=PATH): the
 * page can be rewritten without training again. */
static int read_raw(plan *p, const char *path) {
  FILE *f = fopen(path, "r");
  char line[65536];
  int n = 0;
  if (!f)
    return -1;
  if (!fgets(line, sizeof line, f)) {
    fclose(f);
    return -1;
  }
  while (fgets(line, sizeof line, f)) {
    double conf, ctr;
    int seed, c = -1, l = -1, v = -1, pos;
    char key[64];
    char *q;
    run *r;
    if (sscanf(line, "%lf\t%lf\t%d\t%63s%n", &conf, &ctr, &seed, key, &pos) != 4)
      break;
    for (int i = 0; i < p->n_conf; i++)
      if (fabs(p->conf[i] - conf) < 1e-9)
        c = i;
    for (int i = 0; i < p->n_ctr; i++)
      if (fabs(p->ctr[i] - ctr) < 1e-9)
        l = i;
    for (int i = 0; i < p->n_var; i++)
      if (strcmp(p->var[i]->key, key) == 0)
        v = i;
    if (c < 0 || l < 0 || v < 0 || seed < 0 || seed >= p->n_seeds)
      break;
    r = run_at(p, c, l, seed, v);
    q = line + pos;
    for (int k = 0; k < N_VALUES; k++)
      r->v[k] = strtod(q, &q);
    for (int t = 0; t < ESMM_DIAG_TRUTH_COUNT; t++)
      for (int b = 0; b < ESMM_DIAG_BINS; b++) {
        r->bin_pred[t][b] = strtod(q, &q);
        r->bin_truth[t][b] = strtod(q, &q);
      }
    r->done = 1;
    n++;
  }
  fclose(f);
  return n == p->n_conf * p->n_ctr * p->n_seeds * p->n_var ? 0 : -1;
}

/* ---- quick mode: signs of the main effects ------------------------------- */

static int check_signs(plan *p) {
  int fails = 0, cmax = p->n_conf - 1;
  for (int v = 0; v < p->n_var; v++) {
    for (int l = 0; l < p->n_ctr; l++) {
      double rc, rt, sd;
      /* 1. pCVR is much closer to p(z=1|y=1,x) than to p(z=1|x) over all
       *    impressions (whatever the critique reads it as), in every world */
      for (int c = 0; c < p->n_conf; c++) {
        stat_of(p, c, l, v, V_ERR(ESMM_DIAG_TRUTH_CVR, 0, ESMM_DIAG_RMSE), &rc, &sd);
        stat_of(p, c, l, v, V_ERR(ESMM_DIAG_TRUTH_CTCVR, 0, ESMM_DIAG_RMSE), &rt, &sd);
        if (!(rc < rt)) {
          fprintf(stderr, "sign check: %s conf %g ctr %g: RMSE vs p(z|y,x) %.4f is not below RMSE vs p(z|x) %.4f\n",
                  p->var[v]->label, p->conf[c], p->ctr[l], rc, rt);
          fails++;
        }
      }
      /* 2. under strong confounding, on clicked impressions, pCVR sits above
       *    the counterfactual p(r=1|x) (no variant sees u) */
      if (p->conf[cmax] > 0) {
        stat_of(p, cmax, l, v, V_ERR(ESMM_DIAG_TRUTH_CVR_CF, 1, ESMM_DIAG_BIAS), &rc, &sd);
        if (!(rc > 0)) {
          fprintf(stderr, "sign check: %s conf %g ctr %g: bias vs p(r|x) on clicks %.4f is not positive\n",
                  p->var[v]->label, p->conf[cmax], p->ctr[l], rc);
          fails++;
        }
      }
    }
  }
  return fails;
}

/* ---- command ------------------------------------------------------------- */

static int take_key(const char *kv, const char *key, const char **val) {
  size_t n = strlen(key);
  if (strncmp(kv, key, n) == 0 && kv[n] == '=') {
    *val = kv + n + 1;
    return 1;
  }
  return 0;
}

int cmd_experiment(const opts *o) {
  plan p;
  pthread_t th[16];
  const char *img = NULL, *raw = NULL, *from_raw = NULL, *val;
  char img_dir[1024], img_rel[256] = "img";
  int rc = 0, fails = 0;
  memset(&p, 0, sizeof p);
  p.o = o;
  p.n_seeds = 5;
  p.workers = 2;
  for (int i = 0; i < o->n_cfg; i++) {
    const char *kv = o->cfg_set[i];
    if (take_key(kv, "quick", &val))
      p.quick = atoi(val);
    else if (take_key(kv, "seeds", &val))
      p.n_seeds = atoi(val);
    else if (take_key(kv, "workers", &val))
      p.workers = atoi(val);
    else if (take_key(kv, "img", &val))
      img = val;
    else if (take_key(kv, "raw", &val))
      raw = val;
    else if (take_key(kv, "from_raw", &val))
      from_raw = val;
    else
      p.model_set[p.n_model_set++] = kv;
  }
  if (p.n_seeds < 1 || p.n_seeds > MAX_SEEDS || p.workers < 1 || p.workers > 16)
    return cli_usage("seeds must be in [1, 32], workers in [1, 16]");
  p.cvr = 0.1;
  if (p.quick) {
    /* the two worlds where the main effects are largest, the variants whose
     * losses differ most, one seed */
    static const char *const keys[] = {"esmm", "base", "escm2_ips"};
    p.n_seeds = 1;
    p.n_conf = 2, p.conf[0] = 0.0, p.conf[1] = 2.0;
    p.n_ctr = 1, p.ctr[0] = 0.2;
    p.rows = o->rows ? o->rows : 60000;
    p.test_rows = o->test_rows ? o->test_rows : 20000;
    for (int k = 0; k < 3; k++)
      for (size_t v = 0; v < sizeof all_variants / sizeof all_variants[0]; v++)
        if (strcmp(all_variants[v].key, keys[k]) == 0)
          p.var[p.n_var++] = &all_variants[v];
  } else {
    p.n_conf = 3, p.conf[0] = 0.0, p.conf[1] = 1.0, p.conf[2] = 2.0;
    p.n_ctr = 2, p.ctr[0] = 0.2, p.ctr[1] = 0.04;
    p.rows = o->rows ? o->rows : 200000;
    p.test_rows = o->test_rows ? o->test_rows : 50000;
    for (size_t v = 0; v < sizeof all_variants / sizeof all_variants[0]; v++)
      p.var[p.n_var++] = &all_variants[v];
  }
  p.runs = calloc((size_t)(p.n_conf * p.n_ctr * p.n_seeds * p.n_var), sizeof *p.runs);
  if (!p.runs)
    return cli_fail("experiment", ESMM_ENOMEM);
  pthread_mutex_init(&p.mu, NULL);
  p.t0 = cli_now();
  if (!o->quiet)
    fprintf(stderr, "esmm experiment: %d variants x %d confounding x %d CTR levels x %d seeds, %zu+%zu rows, %d workers\n",
            p.n_var, p.n_conf, p.n_ctr, p.n_seeds, p.rows, p.test_rows, p.workers);
  if (from_raw) {
    if (read_raw(&p, from_raw) != 0) {
      fprintf(stderr, "esmm experiment: %s does not hold every run of this grid\n", from_raw);
      free(p.runs);
      return EXIT_LIB;
    }
  } else {
    for (int w = 0; w < p.workers; w++)
      if (pthread_create(&th[w], NULL, worker, &p) != 0) {
        p.workers = w;
        break;
      }
    for (int w = 0; w < p.workers; w++)
      pthread_join(th[w], NULL);
  }
  pthread_mutex_destroy(&p.mu);
  if (p.error || p.workers == 0) {
    free(p.runs);
    return EXIT_LIB;
  }
  if (!p.quick || o->out) {
    const char *doc = o->out ? o->out : "docs/what-pcvr-estimates.md";
    if (img) {
      snprintf(img_dir, sizeof img_dir, "%s", img);
      snprintf(img_rel, sizeof img_rel, "%s", img);
    } else {
      const char *slash = strrchr(doc, '/');
      if (slash)
        snprintf(img_dir, sizeof img_dir, "%.*s/img", (int)(slash - doc), doc);
      else
        snprintf(img_dir, sizeof img_dir, "img");
    }
    if (mkdir(img_dir, 0777) != 0 && errno != EEXIST) {
      fprintf(stderr, "esmm experiment: cannot create %s: %s\n", img_dir, strerror(errno));
      rc = EXIT_LIB;
    } else if (write_doc(&p, doc, img_dir, img_rel, from_raw ? -1.0 : cli_now() - p.t0) != 0) {
      fprintf(stderr, "esmm experiment: cannot write %s or its plots\n", doc);
      rc = EXIT_LIB;
    } else if (!o->quiet) {
      fprintf(stderr, "esmm experiment: wrote %s and plots in %s (%.0f s)\n", doc, img_dir, cli_now() - p.t0);
    }
  }
  if (raw && write_raw(&p, raw) != 0) {
    fprintf(stderr, "esmm experiment: cannot write %s\n", raw);
    rc = EXIT_LIB;
  }
  /* a compact summary on stdout, and in quick mode the sign checks */
  for (int c = 0; c < p.n_conf; c++)
    for (int l = 0; l < p.n_ctr; l++)
      for (int v = 0; v < p.n_var; v++) {
        double m[3], sd, auc;
        for (int t = 0; t < 3; t++)
          stat_of(&p, c, l, v, V_ERR(t, 0, ESMM_DIAG_RMSE), &m[t], &sd);
        stat_of(&p, c, l, v, V_AUC_CVR_CLICKED, &auc, &sd);
        printf("conf %g ctr %g %-22s RMSE(all) vs p(z|y,x) %.4f  p(z|x) %.4f  p(r|x) %.4f  CVR AUC(clicked) %.4f\n",
               p.conf[c], p.ctr[l], p.var[v]->label, m[0], m[1], m[2], auc);
      }
  if (p.quick) {
    fails = check_signs(&p);
    printf("esmm experiment (quick): %s (%d sign check(s) failed)\n", fails ? "FAIL" : "ok", fails);
    if (fails)
      rc = EXIT_LIB;
  }
  free(p.runs);
  return rc;
}
