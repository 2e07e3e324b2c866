/* check_diag.c - the pCVR diagnostics: every measure against values
 * computed here by hand on small datasets with set truths, the bias test,
 * the clip count, datasets without truths, and a model end to end. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "model.h"
#include "support/support.h"

#define N 40

/* N rows of one field; y = 1 on even rows, z = 1 on rows divisible by 4;
 * truths: cvr_i = 0.01 (i+1), ctcvr_i = cvr_i / 2, cf_i = cvr_i / 4. */
static esmm_dataset *data(esmm_config **cfg_out, int with_truth) {
  esmm_config *cfg;
  esmm_dataset *ds;
  const char *names[] = {"a"};
  int click[N], conv[N], field[N];
  int64_t common[N], off[N + 1];
  uint64_t id[N];
  float val[N], t[3][N];
  ck_assert_int_eq(esmm_config_new(&cfg), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_fields(cfg, 1, names, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_new(&ds, cfg), ESMM_OK);
  off[0] = 0;
  for (int i = 0; i < N; i++) {
    click[i] = i % 2 == 0;
    conv[i] = i % 4 == 0;
    common[i] = -1;
    field[i] = 0, id[i] = (uint64_t)i, val[i] = 1.0f;
    off[i + 1] = i + 1;
    t[0][i] = 0.01f * (float)(i + 1);
    t[1][i] = t[0][i] / 2;
    t[2][i] = t[0][i] / 4;
  }
  ck_assert_int_eq(esmm_dataset_add_rows(ds, N, click, conv, common, off, field, id, val), ESMM_OK);
  if (with_truth) {
    ck_assert_int_eq(esmm_dataset_set_truth(ds, ESMM_TRUTH_CVR, t[0], N), ESMM_OK);
    ck_assert_int_eq(esmm_dataset_set_truth(ds, ESMM_TRUTH_CTCVR, t[1], N), ESMM_OK);
    ck_assert_int_eq(esmm_dataset_set_truth(ds, ESMM_TRUTH_CVR_CF, t[2], N), ESMM_OK);
  }
  *cfg_out = cfg;
  return ds;
}

START_TEST(measures_match_hand_computation) {
  esmm_config *cfg;
  esmm_dataset *ds = data(&cfg, 1);
  esmm_diag *d;
  float pcvr[N];
  double v, mp, mt, rows;
  /* pCVR = cvr truth + 0.02: RMSE and bias 0.02 vs p(z|y,x), exact */
  for (int i = 0; i < N; i++)
    pcvr[i] = 0.01f * (float)(i + 1) + 0.02f;
  ck_assert_int_eq(esmm_diag_new(&d, ds, NULL, pcvr, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_diag_error(d, ESMM_DIAG_TRUTH_CVR, ESMM_DIAG_ALL, ESMM_DIAG_RMSE, &v), ESMM_OK);
  ck_assert_double_eq_tol(v, 0.02, 1e-6);
  ck_assert_int_eq(esmm_diag_error(d, ESMM_DIAG_TRUTH_CVR, ESMM_DIAG_ALL, ESMM_DIAG_BIAS, &v), ESMM_OK);
  ck_assert_double_eq_tol(v, 0.02, 1e-6);
  ck_assert_int_eq(esmm_diag_error(d, ESMM_DIAG_TRUTH_CVR, ESMM_DIAG_ALL, ESMM_DIAG_CORR, &v), ESMM_OK);
  ck_assert_double_eq_tol(v, 1.0, 1e-5);
  ck_assert_int_eq(esmm_diag_error(d, ESMM_DIAG_TRUTH_CVR, ESMM_DIAG_ALL, ESMM_DIAG_CAL_ERROR, &v), ESMM_OK);
  ck_assert_double_eq_tol(v, 0.02, 1e-6);
  /* vs p(z|x) = cvr/2: bias = mean(cvr/2) + 0.02 = 0.205/2 + 0.02; over all rows */
  ck_assert_int_eq(esmm_diag_error(d, ESMM_DIAG_TRUTH_CTCVR, ESMM_DIAG_ALL, ESMM_DIAG_BIAS, &v), ESMM_OK);
  ck_assert_double_eq_tol(v, 0.205 / 2 + 0.02, 1e-6);
  ck_assert_int_eq(esmm_diag_error(d, ESMM_DIAG_TRUTH_CVR_CF, ESMM_DIAG_ALL, ESMM_DIAG_MEAN_TRUTH, &v), ESMM_OK);
  ck_assert_double_eq_tol(v, 0.205 / 4, 1e-6);
  {
    /* RMSE vs cf over clicked rows i = 0, 2, ..., 38: pCVR - cf = 0.75 cvr + 0.02 */
    double s = 0;
    for (int i = 0; i < N; i += 2) {
      double e = 0.75 * 0.01 * (i + 1) + 0.02;
      s += e * e;
    }
    ck_assert_int_eq(esmm_diag_error(d, ESMM_DIAG_TRUTH_CVR_CF, ESMM_DIAG_CLICKED, ESMM_DIAG_RMSE, &v), ESMM_OK);
    ck_assert_double_eq_tol(v, sqrt(s / 20), 1e-6);
  }
  /* deciles over all rows: bin b holds rows 4b..4b+3 (pCVR increases with i) */
  for (size_t b = 0; b < ESMM_DIAG_BINS; b++) {
    ck_assert_int_eq(esmm_diag_calibration(d, ESMM_DIAG_TRUTH_CVR, ESMM_DIAG_ALL, b, &mp, &mt, &rows), ESMM_OK);
    ck_assert_double_eq(rows, 4);
    ck_assert_double_eq_tol(mt, 0.01 * (4.0 * (double)b + 2.5), 1e-6);
    ck_assert_double_eq_tol(mp, mt + 0.02, 1e-6);
  }
  /* bias test: mean pCVR over all = 0.205 + 0.02; conversions per click 10/20 */
  ck_assert_int_eq(esmm_diag_stat(d, ESMM_DIAG_STAT_MEAN_PCVR_ALL, &v), ESMM_OK);
  ck_assert_double_eq_tol(v, 0.225, 1e-6);
  ck_assert_int_eq(esmm_diag_stat(d, ESMM_DIAG_STAT_CONV_PER_CLICK, &v), ESMM_OK);
  ck_assert_double_eq(v, 0.5);
  ck_assert_int_eq(esmm_diag_stat(d, ESMM_DIAG_STAT_BIAS_TEST, &v), ESMM_OK);
  ck_assert_double_eq_tol(v, 0.225 - 0.5, 1e-6);
  ck_assert_int_eq(esmm_diag_stat(d, ESMM_DIAG_STAT_MEAN_PCVR_CLICKED, &v), ESMM_OK);
  ck_assert_double_eq_tol(v, 0.01 * 20.0 + 0.02, 1e-6); /* mean of (i+1)/100 over even i = 0.20 */
  ck_assert_int_eq(esmm_diag_stat(d, ESMM_DIAG_STAT_CVR_CLIPS, &v), ESMM_OK);
  ck_assert(isnan(v));
  ck_assert_int_eq(esmm_diag_stat(d, ESMM_DIAG_STAT_HAS_TRUTH, &v), ESMM_OK);
  ck_assert_double_eq(v, 1);
  /* bad keys */
  ck_assert_int_eq(esmm_diag_error(d, 3, 0, 0, &v), ESMM_EINVAL);
  ck_assert_int_eq(esmm_diag_error(d, 0, 2, 0, &v), ESMM_EINVAL);
  ck_assert_int_eq(esmm_diag_error(d, 0, 0, ESMM_DIAG_MEASURE_COUNT, &v), ESMM_EINVAL);
  ck_assert_int_eq(esmm_diag_calibration(d, 0, 0, ESMM_DIAG_BINS, &mp, &mt, &rows), ESMM_EINVAL);
  ck_assert_int_eq(esmm_diag_stat(d, 99, &v), ESMM_EINVAL);
  esmm_diag_free(d);
  esmm_diag_free(NULL);
  esmm_dataset_free(ds);
  esmm_config_free(cfg);
}
END_TEST

START_TEST(clips_and_missing_truths) {
  esmm_config *cfg;
  esmm_dataset *ds = data(&cfg, 0);
  esmm_diag *d = (esmm_diag *)1;
  float pctr[N], pcvr[N], pctcvr[N];
  double v;
  for (int i = 0; i < N; i++) {
    pctr[i] = 0.5f;
    pctcvr[i] = i < 7 ? 0.6f : 0.1f; /* 7 rows where a ratio would exceed 1 */
    pcvr[i] = 0.2f;
  }
  ck_assert_int_eq(esmm_diag_new(NULL, ds, pctr, pcvr, pctcvr), ESMM_EINVAL);
  ck_assert_int_eq(esmm_diag_new(&d, ds, pctr, NULL, pctcvr), ESMM_EINVAL);
  ck_assert_ptr_null(d);
  pcvr[3] = NAN;
  ck_assert_int_eq(esmm_diag_new(&d, ds, pctr, pcvr, pctcvr), ESMM_ENUMERIC);
  pcvr[3] = 0.2f;
  ck_assert_int_eq(esmm_diag_new(&d, ds, pctr, pcvr, pctcvr), ESMM_OK);
  ck_assert_int_eq(esmm_diag_stat(d, ESMM_DIAG_STAT_CVR_CLIPS, &v), ESMM_OK);
  ck_assert_double_eq(v, 7);
  ck_assert_int_eq(esmm_diag_stat(d, ESMM_DIAG_STAT_HAS_TRUTH, &v), ESMM_OK);
  ck_assert_double_eq(v, 0);
  /* real data: no truth-based measures, the bias test still works */
  ck_assert_int_eq(esmm_diag_error(d, ESMM_DIAG_TRUTH_CVR, ESMM_DIAG_ALL, ESMM_DIAG_RMSE, &v), ESMM_ESTATE);
  ck_assert_int_eq(esmm_diag_calibration(d, 0, 0, 0, NULL, NULL, NULL), ESMM_ESTATE);
  ck_assert_int_eq(esmm_diag_stat(d, ESMM_DIAG_STAT_BIAS_TEST, &v), ESMM_OK);
  ck_assert_double_eq_tol(v, 0.2 - 0.5, 1e-6);
  esmm_diag_free(d);
  esmm_dataset_free(ds);
  esmm_config_free(cfg);
}
END_TEST

/* esmm_diag_model equals esmm_diag_new on the model's own predictions. */
START_TEST(model_diagnosis_equals_prediction_diagnosis) {
  esmm_sim *sim;
  esmm_dataset *ds;
  esmm_config *cfg;
  esmm_model *m;
  esmm_diag *a, *b;
  size_t n = 3000;
  float *p = malloc(3 * n * sizeof *p);
  ck_assert_int_eq(esmm_sim_new(&sim, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_sim_set_float(sim, ESMM_SIM_CONF_CLICK, 1.0), ESMM_OK);
  ck_assert_int_eq(esmm_sim_set_float(sim, ESMM_SIM_CONF_CONV, 1.0), ESMM_OK);
  ck_assert_int_eq(esmm_sim_generate(sim, n, 0, &ds), ESMM_OK);
  cfg = test_config_named("ctr_tower", "8", "cvr_tower", "8", "hash_buckets", "1024", "variant", "division", NULL);
  ck_assert_int_eq(esmm_model_new(&m, cfg), ESMM_OK);
  ck_assert_int_eq(esmm_model_train_steps(m, ds, 3, NULL, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_model_predict(m, NULL, ds, 0, n, p, p + n, p + 2 * n), ESMM_OK);
  ck_assert_int_eq(esmm_diag_model(&a, m, ds), ESMM_OK);
  ck_assert_int_eq(esmm_diag_new(&b, ds, p, p + n, p + 2 * n), ESMM_OK);
  for (int t = 0; t < ESMM_DIAG_TRUTH_COUNT; t++)
    for (int s = 0; s < 2; s++)
      for (int k = 0; k < ESMM_DIAG_MEASURE_COUNT; k++) {
        double x, y;
        ck_assert_int_eq(esmm_diag_error(a, t, s, k, &x), ESMM_OK);
        ck_assert_int_eq(esmm_diag_error(b, t, s, k, &y), ESMM_OK);
        ck_assert(isfinite(x));
        ck_assert_double_eq(x, y);
      }
  esmm_diag_free(a);
  esmm_diag_free(b);
  free(p);
  esmm_model_free(m);
  esmm_config_free(cfg);
  esmm_dataset_free(ds);
  esmm_sim_free(sim);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("diag");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, measures_match_hand_computation);
  tcase_add_test(tc, clips_and_missing_truths);
  tcase_add_test(tc, model_diagnosis_equals_prediction_diagnosis);
  suite_add_tcase(s, tc);
  return s;
}

int main(int argc, char **argv) {
  (void)argc;
  test_one_blas_thread(argv); /* many tiny GEMMs in forked children */
  return test_main(suite());
}
