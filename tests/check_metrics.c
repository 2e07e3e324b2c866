/* check_metrics.c - exact AUC, clipped log-loss and the metric vector,
 * checked against independent brute-force computations in this file. */
#include <check.h>
#include <esmm/esmm.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "support/support.h"

/* Small deterministic generator so failures reproduce. */
static uint64_t lcg_state;
static uint32_t lcg(void) {
  lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (uint32_t)(lcg_state >> 33);
}

/* O(n^2) definition of AUC: fraction of (positive, negative) pairs ranked
 * correctly, ties counting one half. NaN when a class is missing. */
static double brute_auc(const float *s, const int *y, size_t n) {
  double good = 0, pairs = 0;
  for (size_t i = 0; i < n; i++) {
    if (!y[i])
      continue;
    for (size_t j = 0; j < n; j++) {
      if (y[j])
        continue;
      pairs += 1;
      if ((double)s[i] > (double)s[j])
        good += 1;
      else if ((double)s[i] == (double)s[j])
        good += 0.5;
    }
  }
  return pairs > 0 ? good / pairs : NAN;
}

static double brute_logloss(const float *p, const int *y, size_t n) {
  double sum = 0;
  if (n == 0)
    return NAN;
  for (size_t i = 0; i < n; i++) {
    double q = (double)p[i];
    q = q < 1e-7 ? 1e-7 : q > 1 - 1e-7 ? 1 - 1e-7 : q;
    sum += y[i] ? -log(q) : -log(1 - q);
  }
  return sum / (double)n;
}

#define ASSERT_CLOSE(a, b, tol)                                                                   \
  do {                                                                                            \
    double a_ = (a), b_ = (b);                                                                    \
    ck_assert_msg(fabs(a_ - b_) <= (tol) * fmax(1.0, fabs(b_)), "%s = %.17g, expected %.17g", #a, \
                  a_, b_);                                                                        \
  } while (0)

#define ASSERT_SAME(a, b)                                                                          \
  do {                                                                                             \
    double sa_ = (a), sb_ = (b);                                                                   \
    if (isnan(sb_))                                                                                \
      ck_assert_msg(isnan(sa_), "%s = %.17g, expected NaN", #a, sa_);                              \
    else                                                                                           \
      ASSERT_CLOSE(sa_, sb_, 1e-12);                                                                 \
  } while (0)

START_TEST(auc_matches_brute_force) {
  enum { MAXN = 40 };
  float s[MAXN];
  int y[MAXN];
  lcg_state = 12345;
  for (int trial = 0; trial < 3000; trial++) {
    size_t n = (size_t)(lcg() % MAXN) + (trial < 100 ? 0 : 1);
    if (trial < 50)
      n = (size_t)(trial % 3); /* n = 0, 1, 2 explicitly */
    int mode = trial % 3;
    for (size_t i = 0; i < n; i++) {
      if (mode == 0)
        s[i] = (float)(lcg() % 3) * 0.5f; /* heavy ties: {0, .5, 1} */
      else if (mode == 1)
        s[i] = (float)(lcg() % 1000) / 1000.0f;
      else
        s[i] = (float)((int)(lcg() % 7) - 3); /* negatives, few values */
      y[i] = (int)(lcg() % 2);
    }
    double got = -1;
    ck_assert_int_eq(esmm_auc(s, y, n, &got), ESMM_OK);
    ASSERT_SAME(got, brute_auc(s, y, n));
  }
}
END_TEST

START_TEST(auc_large_against_brute_force) {
  enum { N = 3000 };
  float *s = malloc(N * sizeof *s);
  int *y = malloc(N * sizeof *y);
  lcg_state = 99;
  for (int i = 0; i < N; i++) {
    s[i] = (float)(lcg() % 200) / 200.0f;
    y[i] = (lcg() % 100) < (uint32_t)(20 + s[i] * 50);
  }
  double got;
  ck_assert_int_eq(esmm_auc(s, y, N, &got), ESMM_OK);
  ASSERT_CLOSE(got, brute_auc(s, y, N), 1e-12);
  ck_assert(got > 0.5);
  free(s);
  free(y);
}
END_TEST

START_TEST(auc_known_values) {
  float s[] = {0.1f, 0.4f, 0.35f, 0.8f};
  int y[] = {0, 0, 1, 1}; /* classic example: 0.75 */
  double got;
  ck_assert_int_eq(esmm_auc(s, y, 4, &got), ESMM_OK);
  ck_assert(got == 0.75);
  /* All tied: 0.5 exactly. */
  float t[] = {0.3f, 0.3f, 0.3f};
  int ty[] = {1, 0, 1};
  ck_assert_int_eq(esmm_auc(t, ty, 3, &got), ESMM_OK);
  ck_assert(got == 0.5);
  /* -0 and +0 are the same score. */
  float z[] = {-0.0f, 0.0f};
  int zy[] = {1, 0};
  ck_assert_int_eq(esmm_auc(z, zy, 2, &got), ESMM_OK);
  ck_assert(got == 0.5);
  /* Infinite scores are ordered, not refused. */
  float inf[] = {-INFINITY, INFINITY};
  int iy[] = {0, 1};
  ck_assert_int_eq(esmm_auc(inf, iy, 2, &got), ESMM_OK);
  ck_assert(got == 1.0);
  /* Perfectly wrong. */
  int wy[] = {1, 0};
  ck_assert_int_eq(esmm_auc(inf, wy, 2, &got), ESMM_OK);
  ck_assert(got == 0.0);
}
END_TEST

START_TEST(auc_one_class_is_nan) {
  float s[] = {0.2f, 0.7f, 0.5f};
  int ones[] = {1, 1, 1}, zeros[] = {0, 0, 0};
  double got = 0;
  ck_assert_int_eq(esmm_auc(s, ones, 3, &got), ESMM_OK);
  ck_assert(isnan(got));
  got = 0;
  ck_assert_int_eq(esmm_auc(s, zeros, 3, &got), ESMM_OK);
  ck_assert(isnan(got));
  got = 0;
  ck_assert_int_eq(esmm_auc(s, zeros, 0, &got), ESMM_OK);
  ck_assert(isnan(got));
  got = 0; /* n == 0 needs no arrays */
  ck_assert_int_eq(esmm_auc(NULL, NULL, 0, &got), ESMM_OK);
  ck_assert(isnan(got));
}
END_TEST

START_TEST(auc_bad_args) {
  float s[] = {0.2f, 0.7f, NAN};
  int y[] = {0, 1, 1}, bad[] = {0, 2, 1};
  double got;
  ck_assert_int_eq(esmm_auc(s, y, 2, NULL), ESMM_EINVAL);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "esmm_auc"));
  ck_assert_int_eq(esmm_auc(NULL, y, 2, &got), ESMM_EINVAL);
  ck_assert_int_eq(esmm_auc(s, NULL, 2, &got), ESMM_EINVAL);
  ck_assert_int_eq(esmm_auc(s, bad, 2, &got), ESMM_EINVAL);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "esmm_auc: label[1]"));
  ck_assert_int_eq(esmm_auc(s, y, 3, &got), ESMM_ENUMERIC);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "esmm_auc: score[2]"));
  int neg[] = {0, -1};
  ck_assert_int_eq(esmm_auc(s, neg, 2, &got), ESMM_EINVAL);
}
END_TEST

START_TEST(logloss_matches_formula) {
  enum { MAXN = 30 };
  float p[MAXN];
  int y[MAXN];
  lcg_state = 7;
  for (int trial = 0; trial < 500; trial++) {
    size_t n = (size_t)(lcg() % MAXN) + 1;
    for (size_t i = 0; i < n; i++) {
      uint32_t r = lcg() % 10;
      p[i] = r == 0 ? 0.0f : r == 1 ? 1.0f : (float)(lcg() % 10001) / 10000.0f;
      y[i] = (int)(lcg() % 2);
    }
    double got;
    ck_assert_int_eq(esmm_logloss(p, y, n, &got), ESMM_OK);
    ASSERT_CLOSE(got, brute_logloss(p, y, n), 1e-12);
  }
}
END_TEST

START_TEST(logloss_clipping_and_edges) {
  float p[] = {0.0f, 1.0f, 1.0f, 0.0f, 0.5f};
  int y[] = {1, 0, 1, 0, 1};
  double got;
  /* A confident mistake costs -log(1e-7) ~ 16.118 nats, not infinity. */
  ck_assert_int_eq(esmm_logloss(p, y, 1, &got), ESMM_OK);
  ASSERT_CLOSE(got, -log(1e-7), 1e-12);
  ck_assert_int_eq(esmm_logloss(p + 1, y + 1, 1, &got), ESMM_OK);
  ASSERT_CLOSE(got, -log(1e-7), 1e-9);
  /* Confident and right: tiny but positive. */
  ck_assert_int_eq(esmm_logloss(p + 2, y + 2, 2, &got), ESMM_OK);
  ASSERT_CLOSE(got, -log(1 - 1e-7), 1e-9);
  ck_assert(got > 0);
  ck_assert_int_eq(esmm_logloss(p + 4, y + 4, 1, &got), ESMM_OK);
  ASSERT_CLOSE(got, log(2.0), 1e-12);
  ck_assert_int_eq(esmm_logloss(p, y, 5, &got), ESMM_OK);
  ASSERT_CLOSE(got, (2 * -log(1e-7) + 2 * -log(1 - 1e-7) + log(2.0)) / 5, 1e-9);
  got = 0;
  ck_assert_int_eq(esmm_logloss(p, y, 0, &got), ESMM_OK);
  ck_assert(isnan(got));
}
END_TEST

START_TEST(logloss_bad_args) {
  float p[] = {0.5f, 1.5f, NAN, -0.1f};
  int y[] = {1, 1, 1, 0}, bad[] = {3};
  double got;
  ck_assert_int_eq(esmm_logloss(p, y, 1, NULL), ESMM_EINVAL);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "esmm_logloss"));
  ck_assert_int_eq(esmm_logloss(NULL, y, 1, &got), ESMM_EINVAL);
  ck_assert_int_eq(esmm_logloss(p, NULL, 1, &got), ESMM_EINVAL);
  ck_assert_int_eq(esmm_logloss(p, bad, 1, &got), ESMM_EINVAL);
  ck_assert_int_eq(esmm_logloss(p, y, 2, &got), ESMM_EINVAL);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "esmm_logloss: p[1]"));
  ck_assert_int_eq(esmm_logloss(p + 2, y, 1, &got), ESMM_EINVAL);
  ck_assert_int_eq(esmm_logloss(p + 3, y, 1, &got), ESMM_EINVAL);
}
END_TEST

/* Hand-made example; predictions need not be consistent (pCTCVR is given
 * independently of pCTR*pCVR) and row 5 converts without a click, which
 * the CTCVR label (click*conversion) must ignore. */
static const float H_PCTR[8] = {.9f, .8f, .7f, .6f, .5f, .4f, .2f, .2f};
static const float H_PCVR[8] = {.8f, .3f, .6f, .6f, .2f, .9f, .1f, .5f};
static const float H_PCTCVR[8] = {.72f, .24f, .42f, .36f, .10f, .50f, .02f, .42f};
static const int H_Y[8] = {1, 1, 1, 0, 1, 0, 0, 0};
static const int H_Z[8] = {1, 0, 1, 0, 0, 1, 0, 0};

static void hand_expected(double e[ESMM_METRIC_COUNT]) {
  /* CTR: positives .9 .8 .7 .5 vs negatives .6 .4 .2 .2 -> 15 of 16 pairs. */
  e[ESMM_METRIC_CTR_AUC] = 15.0 / 16.0;
  /* Clicked rows 0,1,2,4: positives .8 .6 beat negatives .3 .2. */
  e[ESMM_METRIC_CVR_AUC_CLICKED] = 1.0;
  /* All rows: positives .8 .6 .9 vs .3 .6 .2 .1 .5 -> 5 + 4.5 + 5 of 15. */
  e[ESMM_METRIC_CVR_AUC_ALL] = 14.5 / 15.0;
  /* y*z positives .72 .42 vs .24 .36 .10 .50 .02 .42 -> 6 + 4.5 of 12. */
  e[ESMM_METRIC_CTCVR_AUC] = 10.5 / 12.0;
  e[ESMM_METRIC_CTR_LOGLOSS] =
      -(log(.9) + log(.8) + log(.7) + log(1 - .6) + log(.5) + log(1 - .4) + log(1 - .2) + log(1 - .2)) / 8;
  e[ESMM_METRIC_CVR_LOGLOSS_CLICKED] = -(log(.8) + log(1 - .3) + log(.6) + log(1 - .2)) / 4;
  e[ESMM_METRIC_CTCVR_LOGLOSS] = -(log(.72) + log(1 - .24) + log(.42) + log(1 - .36) + log(1 - .10) +
                                   log(1 - .50) + log(1 - .02) + log(1 - .42)) /
                                 8;
  e[ESMM_METRIC_CTR_MEAN] = 4.3 / 8;
  e[ESMM_METRIC_CTR_RATE] = 0.5;
  e[ESMM_METRIC_CVR_MEAN_CLICKED] = 1.9 / 4;
  e[ESMM_METRIC_CVR_RATE_CLICKED] = 0.5;
  e[ESMM_METRIC_CTCVR_MEAN] = 2.78 / 8;
  e[ESMM_METRIC_CTCVR_RATE] = 0.25;
  e[ESMM_METRIC_ROWS] = 8;
  e[ESMM_METRIC_CLICKS] = 4;
}

START_TEST(compute_hand_example) {
  double e[ESMM_METRIC_COUNT], out[ESMM_METRIC_COUNT + 5];
  hand_expected(e);
  for (size_t k = 0; k < ESMM_METRIC_COUNT + 5; k++)
    out[k] = 12345.0;
  ck_assert_int_eq(esmm_metrics_compute(H_PCTR, H_PCVR, H_PCTCVR, H_Y, H_Z, 8, out, ESMM_METRIC_COUNT + 5),
                   ESMM_OK);
  for (int k = 0; k < ESMM_METRIC_COUNT; k++) {
    /* Inputs are floats, the expectations use the decimal values. */
    double tol = k <= ESMM_METRIC_CTCVR_AUC || k >= ESMM_METRIC_ROWS ? 1e-12 : 1e-6;
    ck_assert_msg(fabs(out[k] - e[k]) <= tol, "%s = %.17g, expected %.17g", esmm_metric_name(k), out[k],
                  e[k]);
  }
  for (int k = ESMM_METRIC_COUNT; k < ESMM_METRIC_COUNT + 5; k++)
    ck_assert_msg(isnan(out[k]), "entry %d past the known metrics must be NaN", k);
}
END_TEST

START_TEST(compute_short_vector) {
  double e[ESMM_METRIC_COUNT], out[6];
  hand_expected(e);
  for (int k = 0; k < 6; k++)
    out[k] = -7.0;
  ck_assert_int_eq(esmm_metrics_compute(H_PCTR, H_PCVR, H_PCTCVR, H_Y, H_Z, 8, out, 3), ESMM_OK);
  for (int k = 0; k < 3; k++)
    ASSERT_CLOSE(out[k], e[k], 1e-12);
  for (int k = 3; k < 6; k++)
    ck_assert(out[k] == -7.0); /* nothing written past n_out */
  ck_assert_int_eq(esmm_metrics_compute(H_PCTR, H_PCVR, H_PCTCVR, H_Y, H_Z, 8, NULL, 0), ESMM_OK);
}
END_TEST

/* Random inputs: every entry against brute-force helpers on subsets. */
START_TEST(compute_random_against_brute_force) {
  enum { N = 60 };
  float pctr[N], pcvr[N], pctcvr[N], sub_p[N];
  int y[N], z[N], yz[N], sub_z[N];
  double out[ESMM_METRIC_COUNT];
  lcg_state = 2024;
  for (int trial = 0; trial < 200; trial++) {
    size_t n = (size_t)(lcg() % N) + 1, m = 0;
    double sp = 0, sy = 0, spc = 0, szc = 0, spt = 0, syz = 0;
    for (size_t i = 0; i < n; i++) {
      pctr[i] = (float)(lcg() % 5) / 4.0f;
      pcvr[i] = (float)(lcg() % 11) / 10.0f;
      pctcvr[i] = pctr[i] * pcvr[i];
      y[i] = (int)(lcg() % 2);
      z[i] = (int)(lcg() % 3 == 0);
      yz[i] = y[i] && z[i];
      sp += pctr[i];
      sy += y[i];
      spt += pctcvr[i];
      syz += yz[i];
      if (y[i]) {
        sub_p[m] = pcvr[i];
        sub_z[m] = z[i];
        spc += pcvr[i];
        szc += z[i];
        m++;
      }
    }
    ck_assert_int_eq(esmm_metrics_compute(pctr, pcvr, pctcvr, y, z, n, out, ESMM_METRIC_COUNT), ESMM_OK);
    ASSERT_SAME(out[ESMM_METRIC_CTR_AUC], brute_auc(pctr, y, n));
    ASSERT_SAME(out[ESMM_METRIC_CVR_AUC_CLICKED], brute_auc(sub_p, sub_z, m));
    ASSERT_SAME(out[ESMM_METRIC_CVR_AUC_ALL], brute_auc(pcvr, z, n));
    ASSERT_SAME(out[ESMM_METRIC_CTCVR_AUC], brute_auc(pctcvr, yz, n));
    ASSERT_SAME(out[ESMM_METRIC_CTR_LOGLOSS], brute_logloss(pctr, y, n));
    ASSERT_SAME(out[ESMM_METRIC_CVR_LOGLOSS_CLICKED], brute_logloss(sub_p, sub_z, m));
    ASSERT_SAME(out[ESMM_METRIC_CTCVR_LOGLOSS], brute_logloss(pctcvr, yz, n));
    ASSERT_SAME(out[ESMM_METRIC_CTR_MEAN], sp / (double)n);
    ASSERT_SAME(out[ESMM_METRIC_CTR_RATE], sy / (double)n);
    ASSERT_SAME(out[ESMM_METRIC_CVR_MEAN_CLICKED], m ? spc / (double)m : NAN);
    ASSERT_SAME(out[ESMM_METRIC_CVR_RATE_CLICKED], m ? szc / (double)m : NAN);
    ASSERT_SAME(out[ESMM_METRIC_CTCVR_MEAN], spt / (double)n);
    ASSERT_SAME(out[ESMM_METRIC_CTCVR_RATE], syz / (double)n);
    ck_assert(out[ESMM_METRIC_ROWS] == (double)n);
    ck_assert(out[ESMM_METRIC_CLICKS] == (double)m);
  }
}
END_TEST

START_TEST(compute_undefined_is_nan) {
  /* No clicks: every clicked-only metric is NaN, counts are exact. */
  float p[3] = {.1f, .5f, .9f};
  int y0[3] = {0, 0, 0}, z[3] = {0, 0, 1};
  double out[ESMM_METRIC_COUNT];
  ck_assert_int_eq(esmm_metrics_compute(p, p, p, y0, z, 3, out, ESMM_METRIC_COUNT), ESMM_OK);
  ck_assert(isnan(out[ESMM_METRIC_CTR_AUC]));
  ck_assert(isnan(out[ESMM_METRIC_CVR_AUC_CLICKED]));
  ck_assert(out[ESMM_METRIC_CVR_AUC_ALL] == 1.0); /* z over all rows is defined */
  ck_assert(isnan(out[ESMM_METRIC_CTCVR_AUC]));
  ck_assert(isnan(out[ESMM_METRIC_CVR_LOGLOSS_CLICKED]));
  ck_assert(isnan(out[ESMM_METRIC_CVR_MEAN_CLICKED]));
  ck_assert(isnan(out[ESMM_METRIC_CVR_RATE_CLICKED]));
  ck_assert(out[ESMM_METRIC_CTR_RATE] == 0.0);
  ck_assert(out[ESMM_METRIC_CTCVR_RATE] == 0.0);
  ck_assert(out[ESMM_METRIC_ROWS] == 3.0);
  ck_assert(out[ESMM_METRIC_CLICKS] == 0.0);

  /* n == 0: counts are 0, everything else NaN. */
  ck_assert_int_eq(esmm_metrics_compute(NULL, NULL, NULL, NULL, NULL, 0, out, ESMM_METRIC_COUNT), ESMM_OK);
  for (int k = 0; k < ESMM_METRIC_COUNT; k++) {
    if (k == ESMM_METRIC_ROWS || k == ESMM_METRIC_CLICKS)
      ck_assert(out[k] == 0.0);
    else
      ck_assert_msg(isnan(out[k]), "%s should be NaN for n == 0", esmm_metric_name(k));
  }
}
END_TEST

START_TEST(compute_bad_args) {
  double out[ESMM_METRIC_COUNT];
  float nanp[8];
  int bad[8];
  memcpy(nanp, H_PCVR, sizeof nanp);
  nanp[6] = NAN;
  memcpy(bad, H_Z, sizeof bad);
  bad[3] = 2;
#define CALL(a, b, c, d, e, o, k) esmm_metrics_compute(a, b, c, d, e, 8, o, k)
  ck_assert_int_eq(CALL(NULL, H_PCVR, H_PCTCVR, H_Y, H_Z, out, 15), ESMM_EINVAL);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "esmm_metrics_compute"));
  ck_assert_int_eq(CALL(H_PCTR, NULL, H_PCTCVR, H_Y, H_Z, out, 15), ESMM_EINVAL);
  ck_assert_int_eq(CALL(H_PCTR, H_PCVR, NULL, H_Y, H_Z, out, 15), ESMM_EINVAL);
  ck_assert_int_eq(CALL(H_PCTR, H_PCVR, H_PCTCVR, NULL, H_Z, out, 15), ESMM_EINVAL);
  ck_assert_int_eq(CALL(H_PCTR, H_PCVR, H_PCTCVR, H_Y, NULL, out, 15), ESMM_EINVAL);
  ck_assert_int_eq(CALL(H_PCTR, H_PCVR, H_PCTCVR, H_Y, H_Z, NULL, 15), ESMM_EINVAL);
  ck_assert_int_eq(CALL(H_PCTR, H_PCVR, H_PCTCVR, H_Y, bad, out, 15), ESMM_EINVAL);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "esmm_metrics_compute: conversion[3]"));
  ck_assert_int_eq(CALL(H_PCTR, H_PCVR, H_PCTCVR, bad, H_Z, out, 15), ESMM_EINVAL);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "esmm_metrics_compute: click[3]"));
  ck_assert_int_eq(CALL(H_PCTR, nanp, H_PCTCVR, H_Y, H_Z, out, 15), ESMM_ENUMERIC);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "esmm_metrics_compute: pcvr[6]"));
  nanp[6] = 1.25f;
  ck_assert_int_eq(CALL(H_PCTR, H_PCVR, nanp, H_Y, H_Z, out, 15), ESMM_EINVAL);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "pctcvr[6]"));
#undef CALL
}
END_TEST

START_TEST(metric_names) {
  static const char *const want[ESMM_METRIC_COUNT] = {
      "ctr_auc",    "cvr_auc_clicked",  "cvr_auc_all",      "ctcvr_auc",  "ctr_logloss",
      "cvr_logloss_clicked", "ctcvr_logloss", "ctr_mean", "ctr_rate", "cvr_mean_clicked",
      "cvr_rate_clicked", "ctcvr_mean", "ctcvr_rate", "rows", "clicks"};
  for (int k = 0; k < ESMM_METRIC_COUNT; k++) {
    ck_assert_ptr_nonnull(esmm_metric_name(k));
    ck_assert_str_eq(esmm_metric_name(k), want[k]);
  }
  ck_assert_str_eq(esmm_metric_name(ESMM_METRIC_CVR_AUC_CLICKED), "cvr_auc_clicked");
  ck_assert_ptr_null(esmm_metric_name(-1));
  ck_assert_ptr_null(esmm_metric_name(ESMM_METRIC_COUNT));
  ck_assert_ptr_null(esmm_metric_name(1000));
}
END_TEST

static Suite *metrics_suite(void) {
  Suite *s = suite_create("metrics");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, auc_matches_brute_force);
  tcase_add_test(tc, auc_large_against_brute_force);
  tcase_add_test(tc, auc_known_values);
  tcase_add_test(tc, auc_one_class_is_nan);
  tcase_add_test(tc, auc_bad_args);
  tcase_add_test(tc, logloss_matches_formula);
  tcase_add_test(tc, logloss_clipping_and_edges);
  tcase_add_test(tc, logloss_bad_args);
  tcase_add_test(tc, compute_hand_example);
  tcase_add_test(tc, compute_short_vector);
  tcase_add_test(tc, compute_random_against_brute_force);
  tcase_add_test(tc, compute_undefined_is_nan);
  tcase_add_test(tc, compute_bad_args);
  tcase_add_test(tc, metric_names);
  tcase_set_timeout(tc, 30);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return test_main(metrics_suite()); }
