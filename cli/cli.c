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

/* ---- data files ------------------------------------------------------------------ */

static int ends_with_ci(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

static const char *const formats[] = {"text", "aliccp", "csv", "tokens", "cache"};

/* Format of a data file: --format, else the cache magic "ESMMDATA", else
 * --common (Ali-CCP) or --spec (CSV/tokens), else how the model's training
 * data was read (cfg's metadata), else a first line holding the 0x01/0x02
 * separators (an Ali-CCP skeleton without common file), else the text
 * format, except for a .csv file, which needs a spec. */
const char *cli_detect_format(const char *path, const char *common, const char *spec, const char *format,
                              const esmm_config *cfg, const char **spec_out) {
  char head[4096];
  size_t n = 0;
  FILE *f;
  const char *mfmt = NULL, *mspec = NULL;
  *spec_out = spec;
  if (cfg) {
    (void)esmm_config_meta(cfg, "input.format", &mfmt);
    (void)esmm_config_meta(cfg, "input.spec", &mspec);
  }
  if (format) {
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
      if (strcmp(format, formats[i]) == 0) {
        if (!spec && (strcmp(format, "csv") == 0) && mspec)
          *spec_out = mspec;
        if (strcmp(format, "tokens") == 0)
          *spec_out = "tokens";
        return formats[i];
      }
    {
      const char *near = cli_nearest(format, formats, sizeof formats / sizeof formats[0]);
      cli_usagef("unknown --format \"%s\"%s%s%s (text, aliccp, csv, tokens, cache)", format,
                 near ? " (did you mean " : "", near ? near : "", near ? "?)" : "");
    }
    return NULL;
  }
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
  if (mfmt && (strcmp(mfmt, "csv") == 0 || strcmp(mfmt, "tokens") == 0) && mspec) {
    *spec_out = mspec;
    return strcmp(mspec, "tokens") == 0 ? "tokens" : "csv";
  }
  if (memchr(head, '\x02', n) && memchr(head, ',', n))
    return "aliccp";
  if (mfmt && strcmp(mfmt, "text") == 0)
    return "text";
  if (ends_with_ci(path, ".csv")) {
    char first[200];
    size_t k = 0;
    while (k < n && k + 1 < sizeof first && head[k] != '\n' && head[k] != '\r')
      first[k] = head[k], k++;
    first[k] = '\0';
    cli_usagef("%s is a CSV file: give its column spec with --spec, e.g.\n"
               "  --spec \"click=click;conversion=purchase;num=D*;cat=*\"   (docs/data.md)\n"
               "its first line: %s%s",
               path, first, k + 1 == sizeof first ? "..." : "");
    return NULL;
  }
  return "text";
}

int cli_input_of(const opts *o, const char *path, const esmm_config *cfg, const char **fmt_out, const char **spec_out) {
  const char *common = path == o->data ? o->common : path == o->valid ? o->valid_common : NULL;
  *fmt_out = cli_detect_format(path, common, o->spec, o->format, cfg, spec_out);
  return *fmt_out ? 0 : EXIT_USAGE;
}

int cli_read_data(const opts *o, const char *path, const esmm_config *cfg, esmm_dataset **out) {
  const char *common = path == o->data ? o->common : path == o->valid ? o->valid_common : NULL, *fmt, *spec;
  char what[64];
  int rc;
  *out = NULL;
  if ((rc = cli_input_of(o, path, cfg, &fmt, &spec)) != 0)
    return rc;
  if (strcmp(fmt, "cache") == 0)
    rc = esmm_dataset_open_cache(out, cfg, path);
  else if (strcmp(fmt, "aliccp") == 0)
    rc = esmm_dataset_read_aliccp(out, cfg, path, common);
  else if (strcmp(fmt, "csv") == 0 || strcmp(fmt, "tokens") == 0) {
    if (!spec)
      return cli_usagef("reading %s as CSV needs --spec", path);
    rc = esmm_dataset_read_csv(out, cfg, path, spec);
  } else
    rc = esmm_dataset_read_text(out, cfg, path);
  snprintf(what, sizeof what, "reading %s data", fmt);
  return rc ? cli_fail(what, rc) : 0;
}

static int64_t ds_stat(const esmm_dataset *ds, int key) {
  int64_t v = 0;
  (void)esmm_dataset_stat(ds, key, &v);
  return v;
}

static const struct {
  int key;
  const char *name;
} skip_reasons[] = {
    {ESMM_DS_SKIPPED_MALFORMED, "malformed"},
    {ESMM_DS_SKIPPED_LABEL, "label"},
    {ESMM_DS_SKIPPED_MISSING_COMMON, "missing_common"},
    {ESMM_DS_SKIPPED_CONV_NO_CLICK, "conv_no_click"},
};
#define N_SKIP (sizeof skip_reasons / sizeof skip_reasons[0])

void cli_report_data(FILE *f, int json, const char *label, const char *path, const esmm_dataset *ds,
                     const esmm_config *cfg) {
  int64_t kept = ds_stat(ds, ESMM_DS_ROWS), lines = ds_stat(ds, ESMM_DS_LINES), skipped = ds_stat(ds, ESMM_DS_SKIPPED);
  int64_t read = lines ? lines : kept; /* datasets made in memory count no lines */
  int64_t cnc = lines ? ds_stat(ds, ESMM_DS_CONV_NO_CLICK_READ) : ds_stat(ds, ESMM_DS_CONVERSIONS_WITHOUT_CLICK);
  int64_t stored = ds_stat(ds, ESMM_DS_CONVERSIONS_WITHOUT_CLICK); /* kept with click 0, conversion 1 */
  int64_t policy = 0;
  const char *pname;
  if (cfg)
    (void)esmm_config_get_int(cfg, ESMM_OPT_DATA_CONV_NO_CLICK, &policy);
  pname = esmm_config_option_choice(ESMM_OPT_DATA_CONV_NO_CLICK, policy);
  if (json) {
    fprintf(f, "{\"file\":");
    cli_json_str(f, path);
    fprintf(f, ",\"role\":\"%s\",\"rows\":%lld,\"kept\":%lld,\"clicks\":%lld,\"conversions\":%lld,"
               "\"clicked_conversions\":%lld,\"conv_no_click\":%lld,\"conv_no_click_policy\":\"%s\",\"skipped\":{",
            label, (long long)read, (long long)kept, (long long)ds_stat(ds, ESMM_DS_CLICKS),
            (long long)ds_stat(ds, ESMM_DS_CONVERSIONS), (long long)ds_stat(ds, ESMM_DS_CLICKED_CONVERSIONS),
            (long long)cnc, pname ? pname : "?");
    for (size_t i = 0; i < N_SKIP; i++)
      fprintf(f, "%s\"%s\":%lld", i ? "," : "", skip_reasons[i].name, (long long)ds_stat(ds, skip_reasons[i].key));
    fprintf(f, "},\"features_ignored\":%lld,\"commons\":%lld,\"common_lines\":%lld,\"common_skipped\":%lld}",
            (long long)ds_stat(ds, ESMM_DS_FEATURES_IGNORED), (long long)ds_stat(ds, ESMM_DS_COMMONS),
            (long long)ds_stat(ds, ESMM_DS_COMMON_LINES), (long long)ds_stat(ds, ESMM_DS_COMMON_SKIPPED));
    return;
  }
  fprintf(f, "%s data %s: %lld rows read, %lld kept; %lld clicks, %lld conversions (%lld after a click)", label,
          path, (long long)read, (long long)kept, (long long)ds_stat(ds, ESMM_DS_CLICKS),
          (long long)ds_stat(ds, ESMM_DS_CONVERSIONS), (long long)ds_stat(ds, ESMM_DS_CLICKED_CONVERSIONS));
  if (ds_stat(ds, ESMM_DS_COMMONS))
    fprintf(f, "; %lld common lists", (long long)ds_stat(ds, ESMM_DS_COMMONS));
  fprintf(f, "\n");
  if (skipped) {
    fprintf(f, "  skipped %lld:", (long long)skipped);
    for (size_t i = 0; i < N_SKIP; i++)
      if (ds_stat(ds, skip_reasons[i].key))
        fprintf(f, " %s %lld", skip_reasons[i].name, (long long)ds_stat(ds, skip_reasons[i].key));
    fprintf(f, "\n");
  }
  if (ds_stat(ds, ESMM_DS_FEATURES_IGNORED))
    fprintf(f, "  %lld features of fields outside the field list ignored\n",
            (long long)ds_stat(ds, ESMM_DS_FEATURES_IGNORED));
  if (stored && policy == ESMM_CNC_KEEP)
    fprintf(f, "  warning: %lld row%s with a conversion but no click, kept as read (--set conv_no_click="
               "zero|drop|error changes that)\n",
            (long long)stored, stored == 1 ? "" : "s");
  else if (stored) /* a reader that does not apply the policy (docs/data.md) */
    fprintf(f, "  warning: %lld row%s with a conversion but no click, kept as read: this reader does not apply "
               "conv_no_click=%s\n",
            (long long)stored, stored == 1 ? "" : "s", pname ? pname : "?");
  else if (cnc)
    fprintf(f, "  %lld row%s with a conversion but no click (conv_no_click=%s)\n", (long long)cnc, cnc == 1 ? "" : "s",
            pname ? pname : "?");
}
