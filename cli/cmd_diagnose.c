/* esmm diagnose: what does this model's pCVR estimate?
 *
 *   esmm diagnose --model m.esmm --data test.txt      a saved model on a data file
 *   esmm diagnose [--rows N] [--test-rows N] [--set variant=escm2_ips] [--sim conf_click=1.5 ...]
 *                                                     simulate, train, diagnose
 *
 * Prints ESCM2's bias test (needs labels only, so it works on real data)
 * and, when the data carries the simulator's truths (always in the second
 * form), RMSE, bias and calibration error of pCVR against p(z=1|y=1,x),
 * p(z=1|x) and p(r=1|x) over all and over clicked impressions, and the
 * reliability deciles (esmm/diag.h). */
#include "cli.h"

#include <math.h>
#include <stdio.h>

static const char *const truth_names[ESMM_DIAG_TRUTH_COUNT] = {"p(z=1|y=1,x)", "p(z=1|x)", "p(r=1|x)"};

/* data: the file read (--data), NULL for simulated data; its report goes first. */
static void print_diag(const esmm_diag *d, int json, const char *path, const esmm_dataset *data, int fmt) {
  double has, v;
  static const int keys[] = {ESMM_DIAG_STAT_ROWS,          ESMM_DIAG_STAT_CLICKS,       ESMM_DIAG_STAT_CONVERSIONS,
                             ESMM_DIAG_STAT_MEAN_PCVR_ALL, ESMM_DIAG_STAT_MEAN_PCVR_CLICKED,
                             ESMM_DIAG_STAT_CONV_PER_CLICK, ESMM_DIAG_STAT_BIAS_TEST,  ESMM_DIAG_STAT_CVR_CLIPS};
  static const char *const names[] = {"rows", "clicks", "conversions", "mean_pcvr_all", "mean_pcvr_clicked",
                                      "conv_per_click", "bias_test", "cvr_clips"};
  static const char *const meas[] = {"rmse", "bias", "mean_pred", "mean_truth", "cal_error", "corr"};
  esmm_diag_stat(d, ESMM_DIAG_STAT_HAS_TRUTH, &has);
  if (json) {
    printf("{");
    if (data) {
      printf("\"data\":");
      cli_report_data(stdout, 1, "diagnose", path, data, fmt);
      printf(",");
    }
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
      esmm_diag_stat(d, keys[k], &v);
      printf("%s\"%s\":%.9g", k ? "," : "", names[k], isnan(v) ? -1.0 : v);
    }
    if (has)
      for (int t = 0; t < ESMM_DIAG_TRUTH_COUNT; t++)
        for (int s = 0; s < 2; s++)
          for (int m = 0; m < ESMM_DIAG_MEASURE_COUNT; m++) {
            esmm_diag_error(d, t, s, m, &v);
            printf(",\"%s_%s_%s\":%.9g", m == 0 ? "rmse" : meas[m], t == 0 ? "cvr" : t == 1 ? "ctcvr" : "cf",
                   s ? "clicked" : "all", isnan(v) ? -1.0 : v);
          }
    printf("}\n");
    return;
  }
  if (data) {
    cli_report_data(stdout, 0, "diagnose", path, data, fmt);
    printf("\n");
  }
  printf("ESCM2 bias test (labels only):\n");
  for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
    esmm_diag_stat(d, keys[k], &v);
    printf("  %-18s %.6g\n", names[k], v);
  }
  if (!has) {
    printf("(the data carries no ground truth: simulate it to compare pCVR with each candidate truth)\n");
    return;
  }
  printf("\npCVR against each candidate truth:\n%-14s %-8s %9s %9s %9s %9s\n", "truth", "rows", "RMSE", "bias",
         "cal.err", "corr");
  for (int t = 0; t < ESMM_DIAG_TRUTH_COUNT; t++)
    for (int s = 0; s < 2; s++) {
      double r, b, c, q;
      esmm_diag_error(d, t, s, ESMM_DIAG_RMSE, &r);
      esmm_diag_error(d, t, s, ESMM_DIAG_BIAS, &b);
      esmm_diag_error(d, t, s, ESMM_DIAG_CAL_ERROR, &c);
      esmm_diag_error(d, t, s, ESMM_DIAG_CORR, &q);
      printf("%-14s %-8s %9.5f %+9.5f %9.5f %9.4f\n", truth_names[t], s ? "clicked" : "all", r, b, c, q);
    }
  printf("\nreliability over all impressions (deciles of pCVR): mean pCVR -> mean truth\n%-8s", "decile");
  for (int t = 0; t < ESMM_DIAG_TRUTH_COUNT; t++)
    printf(" %22s", truth_names[t]);
  printf("\n");
  for (size_t b = 0; b < ESMM_DIAG_BINS; b++) {
    printf("%-8zu", b + 1);
    for (int t = 0; t < ESMM_DIAG_TRUTH_COUNT; t++) {
      double mp, mt;
      esmm_diag_calibration(d, t, ESMM_DIAG_ALL, b, &mp, &mt, NULL);
      printf("      %.5f -> %.5f", mp, mt);
    }
    printf("\n");
  }
}

int cmd_diagnose(const opts *o) {
  esmm_config *cfg = NULL;
  esmm_sim *sim = NULL;
  esmm_dataset *train = NULL, *test = NULL;
  const esmm_dataset *read = NULL; /* the data read from --data */
  esmm_model *m = NULL;
  esmm_diag *d = NULL;
  int fmt = -1;
  int64_t epochs = 1;
  int rc = 0;
  if (o->model || o->data) {
    if (!o->model || !o->data)
      return cli_usage("diagnose needs both --model FILE and --data FILE, or neither (simulate and train)");
    int64_t model_on_error;
    cli_input in;
    for (int i = 0; i < o->n_cfg; i++)
      if ((rc = cli_check_set(o->cfg_set[i], SET_READ)) != 0)
        return rc;
    if ((rc = cli_model_and_data(o, &m, &cfg, &test, &model_on_error)) != 0)
      goto done;
    fmt = cli_input_of(o, o->data, cfg, &in) == 0 ? in.known : -1;
    read = test;
  } else {
    size_t rows = o->rows ? o->rows : 300000, test_rows = o->test_rows ? o->test_rows : 100000;
    if ((rc = cli_make_config(o, SET_TRAIN, &cfg)) || (rc = cli_make_sim(o, &sim)))
      goto done;
    if ((rc = esmm_sim_generate(sim, rows, 0, &train)) || (rc = esmm_sim_generate(sim, test_rows, 1, &test))) {
      rc = cli_fail("simulate", rc);
      goto done;
    }
    if ((rc = esmm_model_new(&m, cfg))) {
      rc = cli_fail("model", rc);
      goto done;
    }
    esmm_config_get_int(cfg, ESMM_OPT_EPOCHS, &epochs);
    if ((rc = cli_train_epochs(m, train, NULL, epochs, o)))
      goto done;
  }
  if ((rc = esmm_diag_model(&d, m, test))) {
    rc = cli_fail("diagnose", rc);
    goto done;
  }
  print_diag(d, o->json, o->data, o->quiet && !o->json ? NULL : read, fmt); /* --quiet: no report in text */
done:
  esmm_diag_free(d);
  esmm_model_free(m);
  esmm_dataset_free(train);
  esmm_dataset_free(test);
  esmm_sim_free(sim);
  esmm_config_free(cfg);
  return rc;
}
