/* cli.c - shared plumbing of the esmm commands (see cli.h). */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* ---- messages ---------------------------------------------------------------- */

/* The library names options by their enumerator in some messages
 * ("ESMM_OPT_DENSE_FEATURES is 0"); a CLI user typed "--set dense_features". */
static void print_in_cli_words(FILE *f, const char *msg) {
  const char *p = msg;
  while (*p) {
    const char *q = strstr(p, "ESMM_OPT_");
    esmm_opt opt;
    char ident[96];
    size_t n = 0;
    if (!q) {
      fputs(p, f);
      return;
    }
    fwrite(p, 1, (size_t)(q - p), f);
    while ((isupper((unsigned char)q[n]) || isdigit((unsigned char)q[n]) || q[n] == '_') && n + 1 < sizeof ident)
      n++;
    memcpy(ident, q, n);
    ident[n] = '\0';
    if (esmm_config_option_lookup(ident, &opt) == ESMM_OK)
      fprintf(f, "--set %s", esmm_config_option_name(opt));
    else
      fputs(ident, f);
    p = q + n;
  }
}

int cli_fail(const char *what, int rc) {
  char msg[1100];
  snprintf(msg, sizeof msg, "%s", esmm_last_error());
  fprintf(stderr, "esmm: %s: ", what);
  print_in_cli_words(stderr, msg);
  fprintf(stderr, " (%s)\n", esmm_strerror(rc));
  return EXIT_LIB;
}

void cli_json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

/* ---- config and simulator ---------------------------------------------------------- */

static int set_sim(void *s, const char *n, const char *v);
static int (*const set_sim_fn)(void *, const char *, const char *) = set_sim;

/* "name=value" -> setter(name, value) */
static int apply_kv(const char *kv, void *obj, int (*set)(void *, const char *, const char *)) {
  char name[128];
  const char *eq = strchr(kv, '=');
  size_t n = eq ? (size_t)(eq - kv) : 0;
  if (!eq || n == 0 || n >= sizeof name)
    return cli_usagef("expected KEY=VALUE, got \"%s\"", kv);
  memcpy(name, kv, n);
  name[n] = '\0';
  int rc = set(obj, name, eq + 1);
  if (rc == ESMM_EINVAL && strncmp(esmm_last_error(), "esmm_config_set_by_name: ", 25) == 0) {
    /* a bad value: say it as the user wrote it ("--set batch_size must be ...") */
    fprintf(stderr, "esmm: --set ");
    print_in_cli_words(stderr, esmm_last_error() + 25);
    fprintf(stderr, "\n");
    return EXIT_USAGE;
  }
  return rc ? cli_fail(set == set_sim_fn ? "--sim" : "--set", rc) : 0;
}

static int set_cfg(void *c, const char *n, const char *v) { return esmm_config_set_by_name(c, n, v); }
static int set_sim(void *s, const char *n, const char *v) { return esmm_sim_set_by_name(s, n, v); }

int cli_apply_sets(const opts *o, int use, esmm_config *cfg) {
  int rc;
  for (int i = 0; i < o->n_cfg; i++)
    if ((rc = cli_check_set(o->cfg_set[i], use)) != 0 || (rc = apply_kv(o->cfg_set[i], cfg, set_cfg)) != 0)
      return rc;
  return 0;
}

int cli_make_config(const opts *o, int use, esmm_config **out) {
  int rc = esmm_config_new(out);
  if (rc)
    return cli_fail("config", rc);
  if ((rc = cli_apply_sets(o, use, *out)) != 0) {
    esmm_config_free(*out);
    *out = NULL;
  }
  return rc;
}

int cli_make_sim(const opts *o, esmm_sim **out) {
  int rc = esmm_sim_new(out, NULL);
  if (rc)
    return cli_fail("simulator", rc);
  for (int i = 0; i < o->n_sim; i++)
    if ((rc = apply_kv(o->sim_set[i], *out, set_sim)) != 0) {
      esmm_sim_free(*out);
      *out = NULL;
      return rc;
    }
  return 0;
}

/* ---- progress (demo, diagnose) ------------------------------------------------------- */

typedef struct progress {
  int tty;
  double t0, last;
} progress;

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
}

double cli_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int on_progress(const esmm_model *m, int64_t step, void *payload) {
  progress *p = payload;
  if (interrupted)
    return 1;
  if (p->tty) {
    double t = cli_now();
    if (t - p->last >= 0.2) {
      double loss, ep, samples;
      esmm_model_stat(m, ESMM_STAT_EPOCH_LOSS, &loss);
      esmm_model_stat(m, ESMM_STAT_EPOCH, &ep);
      esmm_model_stat(m, ESMM_STAT_SAMPLES, &samples);
      fprintf(stderr, "\r  epoch %.0f  step %lld  loss %.5f  %.0f samples/s   ", ep + 1, (long long)step, loss,
              samples / (t - p->t0));
      p->last = t;
    }
  }
  return 0;
}

int cli_train_epochs(esmm_model *m, const esmm_dataset *train, const esmm_dataset *valid, int64_t epochs,
                     const opts *o) {
  progress p = {isatty(STDERR_FILENO) && !o->quiet, cli_now(), 0};
  signal(SIGINT, on_sigint);
  for (int64_t e = 0; e < epochs; e++) {
    double loss, met[ESMM_METRIC_COUNT];
    int rc = esmm_model_train_epoch(m, train, on_progress, &p);
    if (rc == ESMM_ECANCELED) {
      fprintf(stderr, "\nesmm: interrupted\n");
      return EXIT_INTERRUPTED;
    }
    if (rc)
      return cli_fail("train", rc);
    esmm_model_stat(m, ESMM_STAT_EPOCH_LOSS, &loss);
    if (p.tty)
      fprintf(stderr, "\r%*s\r", 70, "");
    if (!o->quiet && !o->json) {
      fprintf(stderr, "epoch %lld: train loss %.5f", (long long)e + 1, loss);
      if (valid) {
        if ((rc = esmm_model_evaluate(m, valid, met, ESMM_METRIC_COUNT)) != 0)
          return cli_fail("evaluate", rc);
        fprintf(stderr, "  valid ctr_auc %.4f cvr_auc_clicked %.4f ctcvr_auc %.4f", met[ESMM_METRIC_CTR_AUC],
                met[ESMM_METRIC_CVR_AUC_CLICKED], met[ESMM_METRIC_CTCVR_AUC]);
      }
      fprintf(stderr, "\n");
    }
  }
  return 0;
}

/* ---- metric reports ------------------------------------------------------------ */

void cli_print_json_metrics(FILE *f, const char *key, const double *met) {
  fprintf(f, "\"%s\":{", key);
  for (int i = 0; i < ESMM_METRIC_COUNT; i++)
    if (isnan(met[i]))
      fprintf(f, "%s\"%s\":null", i ? "," : "", esmm_metric_name(i));
    else
      fprintf(f, "%s\"%s\":%.6g", i ? "," : "", esmm_metric_name(i), met[i]);
  fprintf(f, "}");
}

void cli_print_table(const double *model, const double *oracle) {
  printf("%-22s %10s", "metric", "model");
  if (oracle)
    printf(" %10s %10s", "oracle", "gap");
  printf("\n");
  for (int i = 0; i < ESMM_METRIC_COUNT; i++) {
    /* counts print as integers, rates and scores with 4 decimals */
    int count = i == ESMM_METRIC_ROWS || i == ESMM_METRIC_CLICKS;
    if (isnan(model[i]))
      printf("%-22s %10s", esmm_metric_name(i), "undefined");
    else
      printf("%-22s %10.*f", esmm_metric_name(i), count ? 0 : 4, model[i]);
    if (oracle && !count)
      printf(" %10.4f %+10.4f", oracle[i], model[i] - oracle[i]);
    printf("\n");
  }
}

int cli_oracle_metrics(const esmm_dataset *ds, double *met) {
  int64_t n64;
  size_t n;
  float *p;
  int *y, *z, rc;
  esmm_dataset_stat(ds, ESMM_DS_ROWS, &n64);
  n = (size_t)n64;
  p = malloc(3 * n * sizeof *p);
  y = malloc(n * sizeof *y);
  z = malloc(n * sizeof *z);
  if (!p || !y || !z) {
    free(p), free(y), free(z);
    fprintf(stderr, "esmm: out of memory\n");
    return EXIT_LIB;
  }
  rc = esmm_dataset_truth(ds, ESMM_TRUTH_CTR, 0, n, p);
  if (!rc)
    rc = esmm_dataset_truth(ds, ESMM_TRUTH_CVR, 0, n, p + n);
  if (!rc)
    rc = esmm_dataset_truth(ds, ESMM_TRUTH_CTCVR, 0, n, p + 2 * n);
  if (!rc)
    rc = esmm_dataset_labels(ds, 0, n, y, z);
  if (!rc)
    rc = esmm_metrics_compute(p, p + n, p + 2 * n, y, z, n, met, ESMM_METRIC_COUNT);
  free(p), free(y), free(z);
  return rc ? cli_fail("oracle metrics", rc) : 0;
}
