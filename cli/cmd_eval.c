/* esmm eval / predict: a saved model on a data file.
 *
 * Both read --data as the model's training data was read (its field list,
 * the spec it remembers, its label and feature policies; not its on_error:
 * data.c, cli_model_and_data), print the data report, and account for every
 * row read: eval says how many rows it evaluated out of how many were read
 * and refuses data with no row or no click (exit 1) rather than print NaN;
 * predict writes one line per input row, skipped rows included, with the
 * row's line (and id) so that the output joins back to the input.
 * --data - reads standard input, --out - (or no --out) writes standard
 * output. Exit status: 0, 1 library/data error, 2 usage. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t stat_ds(const esmm_dataset *ds, int key) {
  int64_t v = 0;
  esmm_dataset_stat(ds, key, &v);
  return v;
}

static int64_t rows_read(const esmm_dataset *ds) {
  esmm_data_report r;
  memset(&r, 0, sizeof r);
  (void)esmm_dataset_report(ds, &r, sizeof r);
  return r.rows_read > r.rows_kept ? r.rows_read : r.rows_kept;
}

/* "evaluated N of M rows read" and the rows skipped. */
static void say_counted(FILE *f, const char *verb, const esmm_dataset *ds) {
  int64_t kept = stat_ds(ds, ESMM_DS_ROWS), read = rows_read(ds);
  fprintf(f, "%s %lld of %lld rows read", verb, (long long)kept, (long long)read);
  if (read > kept)
    fprintf(f, " (%lld skipped: see the data report)", (long long)(read - kept));
  fprintf(f, "\n");
}

/* The format the report names: what the arguments say, else the cache magic. */
static int format_of(const opts *o, const esmm_config *cfg) {
  cli_input in;
  if (cli_input_of(o, o->data, cfg, &in) != 0)
    return -1;
  return in.known;
}

int cmd_eval(const opts *o) {
  esmm_model *m = NULL;
  esmm_dataset *ds = NULL;
  esmm_config *cfg = NULL;
  double met[ESMM_METRIC_COUNT];
  int64_t model_on_error = 0;
  int rc, fmt;
  if (!o->data || !o->model)
    return cli_usage("eval needs --model FILE and --data FILE");
  if ((rc = cli_model_and_data(o, &m, &cfg, &ds, &model_on_error)) != 0)
    goto done;
  fmt = format_of(o, cfg);
  if (stat_ds(ds, ESMM_DS_ROWS) == 0 || stat_ds(ds, ESMM_DS_CLICKS) == 0) {
    cli_report_data(stderr, 0, "eval", o->data, ds, fmt);
    if (stat_ds(ds, ESMM_DS_ROWS) == 0)
      fprintf(stderr, "esmm: eval: no row to evaluate in %s (%lld rows read)\n",
              strcmp(o->data, "-") == 0 ? "standard input" : o->data, (long long)rows_read(ds));
    else
      fprintf(stderr, "esmm: eval: %s has no click: the CTR AUC and every click-space metric are undefined\n",
              strcmp(o->data, "-") == 0 ? "standard input" : o->data);
    rc = EXIT_LIB;
    goto done;
  }
  if ((rc = esmm_model_evaluate(m, ds, met, ESMM_METRIC_COUNT)) != 0) {
    rc = cli_fail("evaluate", rc);
    goto done;
  }
  if (o->json) {
    printf("{\"model\":");
    cli_json_str(stdout, o->model);
    printf(",\"data\":");
    cli_report_data(stdout, 1, "eval", o->data, ds, fmt);
    printf(",\"evaluated\":%lld,\"read\":%lld,\"model_on_error\":\"%s\",", (long long)stat_ds(ds, ESMM_DS_ROWS),
           (long long)rows_read(ds), esmm_config_option_choice(ESMM_OPT_DATA_ON_ERROR, model_on_error));
    cli_print_json_metrics(stdout, "metrics", met);
    printf("}\n");
  } else {
    if (!o->quiet) {
      cli_report_data(stdout, 0, "eval", o->data, ds, fmt);
      cli_note_policy(stdout, "eval", ds, model_on_error);
      say_counted(stdout, "evaluated", ds);
    }
    cli_print_table(met, NULL);
    if (isnan(met[ESMM_METRIC_CTCVR_AUC]) && !o->quiet)
      printf("(undefined: the data has no conversion after a click, or only such rows)\n");
  }
done:
  esmm_dataset_free(ds);
  esmm_config_free(cfg);
  esmm_model_free(m);
  return rc;
}

int cmd_predict(const opts *o) {
  esmm_model *m = NULL;
  esmm_dataset *ds = NULL;
  esmm_config *cfg = NULL;
  float *p = NULL;
  FILE *f = stdout;
  int64_t n = 0, model_on_error = 0;
  int rc, to_stdout = !o->out || strcmp(o->out, "-") == 0;
  if (!o->data || !o->model)
    return cli_usage("predict needs --model FILE and --data FILE");
  if ((rc = cli_model_and_data(o, &m, &cfg, &ds, &model_on_error)) != 0)
    goto done;
  n = stat_ds(ds, ESMM_DS_ROWS);
  p = malloc(3 * (size_t)(n ? n : 1) * sizeof *p);
  if (!p) {
    rc = EXIT_LIB;
    fprintf(stderr, "esmm: out of memory\n");
    goto done;
  }
  if (n && (rc = esmm_model_predict(m, NULL, ds, 0, (size_t)n, p, p + n, p + 2 * n)) != 0) {
    rc = cli_fail("predict", rc);
    goto done;
  }
  if (!to_stdout && !(f = fopen(o->out, "w"))) {
    fprintf(stderr, "esmm: cannot write %s: %s\n", o->out, strerror(errno));
    rc = EXIT_LIB;
    goto done;
  }
  cli_write_predictions(f, o->json, ds, p, (size_t)n);
  if (f != stdout ? fclose(f) != 0 : fflush(f) != 0) {
    fprintf(stderr, "esmm: cannot write %s: %s\n", to_stdout ? "standard output" : o->out, strerror(errno));
    rc = EXIT_LIB;
    goto done;
  }
  if (!o->quiet) {
    cli_report_data(stderr, 0, "predict", o->data, ds, format_of(o, cfg));
    cli_note_policy(stderr, "predict", ds, model_on_error);
    say_counted(stderr, "scored", ds);
    if (stat_ds(ds, ESMM_DS_SKIPPED) > stat_ds(ds, ESMM_DS_SKIPPED_LISTED))
      fprintf(stderr, "warning: %lld skipped rows are not in the output: the cache was written by libesmm 1.0, "
                      "which kept no list of them\n",
              (long long)(stat_ds(ds, ESMM_DS_SKIPPED) - stat_ds(ds, ESMM_DS_SKIPPED_LISTED)));
  }
done:
  free(p);
  esmm_dataset_free(ds);
  esmm_config_free(cfg);
  esmm_model_free(m);
  return rc;
}
