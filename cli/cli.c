/* cli.c - shared plumbing of the esmm commands (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int cli_fail(const char *what, int rc) {
  fprintf(stderr, "esmm: %s: %s (%s)\n", what, esmm_last_error(), esmm_strerror(rc));
  return EXIT_LIB;
}

int cli_usage(const char *msg) {
  if (msg)
    fprintf(stderr, "esmm: %s\n", msg);
  fprintf(stderr,
          "usage: esmm <command> [options]\n"
          "commands:\n"
          "  demo        [--rows N] [--test-rows N] [--set k=v]... [--sim k=v]... [--json]\n"
          "  simulate    --out FILE [--rows N] [--stream S] [--sim k=v]... [--format aliccp --common FILE]\n"
          "  convert     --data FILE [--common FILE | --spec SPEC | --format F] --out CACHE [--set k=v]... [--json]\n"
          "  train       --data FILE --model FILE [--valid FILE] [--set k=v]... [--json]\n"
          "              [--checkpoint FILE [--checkpoint-every STEPS]] [--resume FILE]\n"
          "  eval        --model FILE --data FILE [--json]\n"
          "  predict     --model FILE --data FILE [--out FILE] [--json]\n"
          "  dump        --model FILE [--json]\n"
          "  diagnose    --model FILE --data FILE | [--rows N] [--set k=v]... [--sim k=v]...  [--json]\n"
          "  experiment  [--rows N] [--test-rows N] [--out DOC.md] [--set quick=1|seeds=N|...]...\n"
          "  version\n"
          "data files (--data/--valid): the text format, a binary cache (detected by its magic), the\n"
          "Ali-CCP pair (--data SKELETON --common COMMON; --valid-common for --valid), a CSV with a\n"
          "column spec (--spec \"click=click;conversion=purchase;num=D*;cat=*\"), PaddleRec token lines\n"
          "(--spec tokens); --format text|aliccp|csv|tokens|cache overrides the detection.\n"
          "--set takes config options by name (embed_dim, ctr_tower=360,200,80, learning_rate,\n"
          "batch_size, epochs, optimizer=adam|adagrad|sgd, variant=esmm|esmm_ns|base|division|\n"
          "escm2_ips|escm2_dr, shuffle=rows|groups, seed, threads, fields=..., ...);\n"
          "--sim takes simulator options (seed, users, items, rows_per_user, ctr, cvr, signal,\n"
          "conf_click, conf_conv, ...). Exit codes: 0 ok, 1 library error, 2 usage, 3 interrupted.\n");
  return EXIT_USAGE;
}

static int parse_size(const char *s, size_t *out) {
  char *end;
  unsigned long long v;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno || *end || end == s || s[0] == '-')
    return -1;
  *out = (size_t)v;
  return 0;
}

/* The parsed options, for cli_read_data (whose signature the commands
 * share): which --common goes with which file. */
static const opts *parsed;

int cli_parse_args(int argc, char **argv, opts *o) {
  parsed = o;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--json") == 0) {
      o->json = 1;
      continue;
    }
    if (strcmp(a, "--quiet") == 0) {
      o->quiet = 1;
      continue;
    }
    if (!v) {
      fprintf(stderr, "esmm: option %s needs a value\n", a);
      return -1;
    }
    i++;
    if (strcmp(a, "--data") == 0)
      o->data = v;
    else if (strcmp(a, "--valid") == 0)
      o->valid = v;
    else if (strcmp(a, "--model") == 0)
      o->model = v;
    else if (strcmp(a, "--out") == 0)
      o->out = v;
    else if (strcmp(a, "--common") == 0)
      o->common = v;
    else if (strcmp(a, "--valid-common") == 0)
      o->valid_common = v;
    else if (strcmp(a, "--spec") == 0)
      o->spec = v;
    else if (strcmp(a, "--format") == 0)
      o->format = v;
    else if (strcmp(a, "--checkpoint") == 0)
      o->checkpoint = v;
    else if (strcmp(a, "--checkpoint-every") == 0)
      o->checkpoint_every = v;
    else if (strcmp(a, "--resume") == 0)
      o->resume = v;
    else if (strcmp(a, "--rows") == 0 || strcmp(a, "--test-rows") == 0 || strcmp(a, "--stream") == 0) {
      size_t n;
      if (parse_size(v, &n) != 0) {
        fprintf(stderr, "esmm: %s needs a non-negative integer, got \"%s\"\n", a, v);
        return -1;
      }
      if (a[2] == 'r')
        o->rows = n;
      else if (a[2] == 't')
        o->test_rows = n;
      else
        o->stream = n;
    } else if (strcmp(a, "--set") == 0 && o->n_cfg < 64)
      o->cfg_set[o->n_cfg++] = v;
    else if (strcmp(a, "--sim") == 0 && o->n_sim < 32)
      o->sim_set[o->n_sim++] = v;
    else {
      fprintf(stderr, "esmm: unknown option %s\n", a);
      return -1;
    }
  }
  return 0;
}

/* "name=value" -> setter(name, value) */
static int apply_kv(const char *kv, void *obj, int (*set)(void *, const char *, const char *)) {
  char name[128];
  const char *eq = strchr(kv, '=');
  size_t n = eq ? (size_t)(eq - kv) : 0;
  if (!eq || n == 0 || n >= sizeof name) {
    fprintf(stderr, "esmm: expected name=value, got \"%s\"\n", kv);
    return EXIT_USAGE;
  }
  memcpy(name, kv, n);
  name[n] = '\0';
  int rc = set(obj, name, eq + 1);
  return rc ? cli_fail("option", rc) : 0;
}

static int set_cfg(void *c, const char *n, const char *v) { return esmm_config_set_by_name(c, n, v); }
static int set_sim(void *s, const char *n, const char *v) { return esmm_sim_set_by_name(s, n, v); }

int cli_make_config(const opts *o, esmm_config **out) {
  int rc = esmm_config_new(out);
  if (rc)
    return cli_fail("config", rc);
  for (int i = 0; i < o->n_cfg; i++)
    if ((rc = apply_kv(o->cfg_set[i], *out, set_cfg)) != 0) {
      esmm_config_free(*out);
      *out = NULL;
      return rc;
    }
  return 0;
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

/* ---- progress ---------------------------------------------------------- */

typedef struct progress {
  int tty;
  int64_t steps_per_epoch;
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
  progress p = {isatty(STDERR_FILENO) && !o->quiet, 0, cli_now(), 0};
  signal(SIGINT, on_sigint);
  for (int64_t e = 0; e < epochs; e++) {
    double loss, met[ESMM_METRIC_COUNT];
    int rc = esmm_model_train_epoch(m, train, on_progress, &p);
    if (rc == ESMM_ECANCELED) {
      fprintf(stderr, "\nesmm: interrupted\n");
      return 3;
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

/* ---- reports ----------------------------------------------------------- */

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

/* Format of a data file: --format, else the cache magic "ESMMDATA", else
 * --common (Ali-CCP) or --spec (CSV/tokens), else a first line holding
 * the 0x01/0x02 separators (an Ali-CCP skeleton without common file), else
 * the text format. Returns "text", "aliccp", "csv", "tokens" or "cache". */
const char *cli_detect_format(const char *path, const char *common, const char *spec, const char *format) {
  char head[4096];
  size_t n = 0;
  FILE *f;
  if (format)
    return format;
  /* The magic first: `train --data x.cache --valid y.csv --spec S` is fine. */
  if ((f = fopen(path, "rb")) != NULL) {
    n = fread(head, 1, sizeof head, f);
    fclose(f);
  }
  if (n >= 8 && memcmp(head, "ESMMDATA", 8) == 0)
    return "cache";
  if (common)
    return "aliccp";
  if (spec)
    return strcmp(spec, "tokens") == 0 ? "tokens" : "csv";
  if (memchr(head, '\x02', n) && memchr(head, ',', n))
    return "aliccp";
  return "text";
}

int cli_read_data(const char *path, const esmm_config *cfg, esmm_dataset **out) {
  const char *common = NULL, *spec = parsed ? parsed->spec : NULL, *fmt;
  int rc;
  if (parsed && path == parsed->data)
    common = parsed->common;
  else if (parsed && path == parsed->valid)
    common = parsed->valid_common;
  fmt = cli_detect_format(path, common, spec, parsed ? parsed->format : NULL);
  if (strcmp(fmt, "cache") == 0)
    rc = esmm_dataset_open_cache(out, cfg, path);
  else if (strcmp(fmt, "aliccp") == 0)
    rc = esmm_dataset_read_aliccp(out, cfg, path, common);
  else if (strcmp(fmt, "csv") == 0 || strcmp(fmt, "tokens") == 0)
    rc = esmm_dataset_read_csv(out, cfg, path, strcmp(fmt, "tokens") == 0 ? "tokens" : spec ? spec : "");
  else if (strcmp(fmt, "text") == 0)
    rc = esmm_dataset_read_text(out, cfg, path);
  else {
    fprintf(stderr, "esmm: unknown --format \"%s\" (text, aliccp, csv, tokens, cache)\n", fmt);
    return EXIT_USAGE;
  }
  return rc ? cli_fail("read", rc) : 0;
}

