/* check_head_loss.c - the product head and the ESMM loss against
 * closed forms computed independently in the test (naive double formulas
 * where they are accurate, rearranged exact identities at the extremes). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <esmm/esmm.h>

#include "loss.h"
#include "support/support.h"

#define LN2 0.6931471805599453

#define ck_assert_close(x, want, rel)                                                           \
  do {                                                                                           \
    double x_ = (x), w_ = (want);                                                                \
    ck_assert_msg(isfinite(x_) && fabs(x_ - w_) <= (rel) * fmax(fabs(w_), 1e-300),               \
                  "%s = %.17g, want %.17g (rel %g)", #x, x_, w_, (double)(rel));                 \
  } while (0)

static double naive_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* ---- head ---- */

START_TEST(head_at_zero) {
  float a = 0.0f, b = 0.0f, p1, p2, p3;
  ck_assert_int_eq(esmm_head_forward(&a, &b, 1, &p1, &p2, &p3), ESMM_OK);
  ck_assert_float_eq(p1, 0.5f);
  ck_assert_float_eq(p2, 0.5f);
  ck_assert_float_eq(p3, 0.25f);
}
END_TEST

START_TEST(head_matches_naive_and_null_outputs) {
  float a[5] = {-3.0f, -0.5f, 0.25f, 2.0f, 7.5f}, b[5] = {1.0f, -2.0f, 4.0f, -6.0f, 0.0f};
  float p1[5], p2[5], p3[5];
  ck_assert_int_eq(esmm_head_forward(a, b, 5, p1, p2, p3), ESMM_OK);
  for (int i = 0; i < 5; i++) {
    double sa = naive_sigmoid(a[i]), sb = naive_sigmoid(b[i]);
    ck_assert_close(p1[i], sa, 1e-6);
    ck_assert_close(p2[i], sb, 1e-6);
    ck_assert_close(p3[i], sa * sb, 1e-6);
  }
  ck_assert_int_eq(esmm_head_forward(a, b, 5, NULL, NULL, p3), ESMM_OK);
  ck_assert_int_eq(esmm_head_forward(a, b, 5, NULL, NULL, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_head_forward(a, b, 0, NULL, NULL, NULL), ESMM_OK);
}
END_TEST

START_TEST(head_extremes) {
  float a[6] = {100.0f, -100.0f, 1e4f, -1e4f, 1e4f, -30.0f};
  float b[6] = {100.0f, -100.0f, 1e4f, -1e4f, -1e4f, -30.0f};
  float p1[6], p2[6], p3[6];
  ck_assert_int_eq(esmm_head_forward(a, b, 6, p1, p2, p3), ESMM_OK);
  for (int i = 0; i < 6; i++) {
    ck_assert(isfinite(p1[i]) && p1[i] >= 0.0f && p1[i] <= 1.0f);
    ck_assert(isfinite(p2[i]) && p2[i] >= 0.0f && p2[i] <= 1.0f);
    ck_assert(isfinite(p3[i]) && p3[i] >= 0.0f && p3[i] <= 1.0f);
  }
  ck_assert_float_eq(p1[0], 1.0f);
  ck_assert_float_eq(p3[0], 1.0f);
  ck_assert(fabs(p1[1] - exp(-100.0)) <= 1.5e-45); /* a float denormal: within one ulp */
  ck_assert_float_eq(p3[1], 0.0f);           /* e^-200 underflows float */
  ck_assert_float_eq(p3[2], 1.0f);
  ck_assert_float_eq(p1[3], 0.0f);
  ck_assert_float_eq(p3[4], 0.0f);
  ck_assert_close(p3[5], exp(-60.0), 1e-5); /* product of two tiny sigmoids stays accurate */
}
END_TEST

START_TEST(head_bad_args) {
  float a[2] = {0.0f, NAN}, b[2] = {0.0f, 0.0f}, p[2] = {-1.0f, -1.0f};
  ck_assert_fails(esmm_head_forward(NULL, b, 1, p, p, p), ESMM_EINVAL, "esmm_head_forward");
  ck_assert_fails(esmm_head_forward(a, NULL, 1, p, p, p), ESMM_EINVAL, "esmm_head_forward");
  ck_assert_fails(esmm_head_forward(a, b, 2, p, NULL, NULL), ESMM_ENUMERIC, "esmm_head_forward");
  ck_assert_float_eq(p[0], -1.0f); /* nothing written on failure */
  ck_assert_fails(esmm_head_forward(b, a, 2, NULL, NULL, NULL), ESMM_ENUMERIC, "esmm_head_forward");
}
END_TEST

/* ---- loss: exact points ---- */

static void loss1(float a, float b, int y, int z, double w1, double w2, double *l1, double *l2, float *ga,
                  float *gb) {
  ck_assert_int_eq(esmm_loss_esmm(&a, &b, &y, &z, 1, w1, w2, l1, l2, ga, gb), ESMM_OK);
}

START_TEST(loss_at_zero) {
  double l1, l2;
  float ga, gb;
  loss1(0, 0, 1, 1, 1, 1, &l1, &l2, &ga, &gb);
  ck_assert_close(l1, LN2, 1e-14);
  ck_assert_close(l2, -log(0.25), 1e-14);
  ck_assert_close(ga, (0.5 - 1.0) + (-0.5), 1e-7);
  ck_assert_close(gb, -0.5, 1e-7);
  loss1(0, 0, 1, 0, 1, 1, &l1, &l2, &ga, &gb);
  ck_assert_close(l1, LN2, 1e-14);
  ck_assert_close(l2, -log(0.75), 1e-14);
  ck_assert_close(ga, -0.5 + 0.25 / 0.75 * 0.5, 1e-7);
  ck_assert_close(gb, 0.25 / 0.75 * 0.5, 1e-7);
  /* y=0, z=1: the CTCVR label is y*z = 0, not z */
  loss1(0, 0, 0, 1, 1, 1, &l1, &l2, &ga, &gb);
  ck_assert_close(l1, LN2, 1e-14);
  ck_assert_close(l2, -log(0.75), 1e-14);
  ck_assert_close(ga, 0.5 + 0.25 / 0.75 * 0.5, 1e-7);
  loss1(0, 0, 0, 0, 1, 1, &l1, &l2, &ga, &gb);
  ck_assert_close(l2, -log(0.75), 1e-14);
}
END_TEST

/* Independent closed forms for t = 0, exact rearrangements valid for large
 * positive logits (no 1 - p is ever formed):
 * -log(1-p) = log1p(e^-a) + log1p(e^-b) + a - log(1 + e^(a-b) + e^-b)
 * d/da      = 1 / ((1 + e^-a)(1 + e^(a-b) + e^-b)) */
static double ref_l_t0_big(double a, double b) {
  return log1p(exp(-a)) + log1p(exp(-b)) + a - log(1.0 + exp(a - b) + exp(-b));
}
static double ref_g_t0_big(double a, double b) { return 1.0 / ((1.0 + exp(-a)) * (1.0 + exp(a - b) + exp(-b))); }

START_TEST(loss_one_extremes_big_positive) {
  const double pts[][2] = {{100, 100}, {1e4, 1e4}, {100, 50}, {30, 100}, {800, 790}, {1e4, 9990}};
  for (size_t i = 0; i < sizeof pts / sizeof pts[0]; i++) {
    double a = pts[i][0], b = pts[i][1], l1, l2, ga, gb;
    esmm__loss_esmm_one(a, b, 1, 0, 1.0, 1.0, &l1, &l2, &ga, &gb);
    ck_assert_close(l2, ref_l_t0_big(a, b), 1e-12);
    ck_assert_close(ga, (naive_sigmoid(a) - 1.0) + ref_g_t0_big(a, b), 1e-12);
    ck_assert_close(gb, ref_g_t0_big(b, a), 1e-12);
    ck_assert(isfinite(l1) && l1 >= 0.0 && l1 < 1e-12);
  }
  {
    double l1, l2, ga, gb;
    esmm__loss_esmm_one(100, 100, 1, 0, 0.0, 1.0, &l1, &l2, &ga, &gb);
    ck_assert_close(l2, 100.0 - LN2, 1e-13);
    ck_assert_close(ga, 0.5, 1e-13);
    ck_assert_close(gb, 0.5, 1e-13);
  }
}
END_TEST

START_TEST(loss_one_extremes_big_negative) {
  double l1, l2, ga, gb, s = exp(-100.0) / (1.0 + exp(-100.0)), p = s * s;
  /* t = 1 with tiny probabilities: -log p = 2 softplus(100) */
  esmm__loss_esmm_one(-100, -100, 1, 1, 1.0, 1.0, &l1, &l2, &ga, &gb);
  ck_assert_close(l1, 100.0, 1e-14);
  ck_assert_close(l2, 200.0, 1e-14);
  ck_assert_close(ga, (s - 1.0) - (1.0 - s), 1e-14);
  ck_assert_close(gb, -(1.0 - s), 1e-14);
  /* t = 0: -log(1-p) ~ p ~ e^-200 and its gradients ~ p, relative accuracy kept */
  esmm__loss_esmm_one(-100, -100, 0, 0, 1.0, 1.0, &l1, &l2, &ga, &gb);
  ck_assert_close(l1, s, 1e-12);
  ck_assert_close(l2, p, 1e-12);
  ck_assert_close(ga, s + p * (1.0 - s) / (1.0 - p), 1e-12);
  ck_assert_close(gb, p * (1.0 - s), 1e-12);
  /* far apart logits, both labels */
  esmm__loss_esmm_one(1e4, -1e4, 1, 1, 1.0, 1.0, &l1, &l2, &ga, &gb);
  ck_assert_close(l2, 1e4, 1e-14);
  ck_assert_close(gb, -1.0, 1e-14);
  ck_assert(fabs(ga) < 1e-300);
  esmm__loss_esmm_one(1e4, -1e4, 1, 0, 1.0, 1.0, &l1, &l2, &ga, &gb);
  ck_assert(l2 >= 0.0 && l2 < 1e-300 && fabs(ga) < 1e-300 && fabs(gb) < 1e-300);
  esmm__loss_esmm_one(-1e4, -1e4, 1, 1, 1.0, 1.0, &l1, &l2, &ga, &gb);
  ck_assert_close(l1, 1e4, 1e-14);
  ck_assert_close(l2, 2e4, 1e-14);
  ck_assert_close(ga, -2.0, 1e-14);
  ck_assert_close(gb, -1.0, 1e-14);
}
END_TEST

START_TEST(log_kernels) {
  ck_assert_close(esmm__log_sigmoid(0.0), -LN2, 1e-15);
  ck_assert_close(esmm__log_sigmoid(-1e4), -1e4, 1e-15);
  ck_assert_close(esmm__log_sigmoid(40.0), -exp(-40.0), 1e-12);
  ck_assert_close(esmm__log_sigmoid(3.0), log(1.0 / (1.0 + exp(-3.0))), 1e-14);
  ck_assert_close(esmm__log1mexp(-1e-20), log(1e-20), 1e-12);
  ck_assert_close(esmm__log1mexp(-50.0), -exp(-50.0), 1e-12);
  ck_assert_close(esmm__log1mexp(-1.0), log(1.0 - exp(-1.0)), 1e-14);
  ck_assert_close(esmm__log1mexp(-0.5), log(1.0 - exp(-0.5)), 1e-14);
}
END_TEST

START_TEST(loss_public_extremes_finite) {
  float a[4] = {1e4f, -1e4f, 100.0f, -100.0f}, b[4] = {1e4f, -1e4f, 100.0f, -100.0f};
  int y[4] = {1, 1, 0, 1}, z[4] = {0, 1, 1, 1};
  float ga[4], gb[4];
  double l1, l2;
  ck_assert_int_eq(esmm_loss_esmm(a, b, y, z, 4, 1.0, 1.0, &l1, &l2, ga, gb), ESMM_OK);
  ck_assert_close(l1, (0.0 + 1e4 + 100.0 + 100.0) / 4.0, 1e-12);
  ck_assert_close(l2, ((1e4 - LN2) + 2e4 + (100.0 - LN2) + 200.0) / 4.0, 1e-12);
  for (int i = 0; i < 4; i++)
    ck_assert(isfinite(ga[i]) && isfinite(gb[i]));
  ck_assert_close(ga[0], 0.5 / 4.0, 1e-6);
  ck_assert_close(gb[0], 0.5 / 4.0, 1e-6);
  ck_assert_close(ga[1], -2.0 / 4.0, 1e-6);
  ck_assert_close(gb[1], -1.0 / 4.0, 1e-6);
  ck_assert_close(ga[2], (1.0 + 0.5) / 4.0, 1e-6);
  ck_assert_close(ga[3], -2.0 / 4.0, 1e-6);
}
END_TEST

/* ---- loss: finite differences and naive formulas on moderate logits ---- */

static double uniform(unsigned *state) {
  *state = *state * 1103515245u + 12345u;
  return (double)((*state >> 8) & 0xffffff) / 16777216.0;
}

static double total_one(double a, double b, int y, int t, double w1, double w2) {
  double l1, l2, ga, gb;
  esmm__loss_esmm_one(a, b, y, t, w1, w2, &l1, &l2, &ga, &gb);
  return w1 * l1 + w2 * l2;
}

START_TEST(loss_one_finite_differences) {
  const double weights[][2] = {{1.0, 1.0}, {0.3, 2.5}, {0.0, 1.0}, {1.0, 0.0}};
  const double h = 1e-5;
  unsigned st = 12345;
  for (int trial = 0; trial < 200; trial++) {
    double a = 16.0 * uniform(&st) - 8.0, b = 16.0 * uniform(&st) - 8.0;
    for (int lab = 0; lab < 4; lab++) {
      int y = lab >> 1, z = lab & 1, t = y * z;
      const double *w = weights[trial % 4];
      double l1, l2, ga, gb, fa, fb;
      esmm__loss_esmm_one(a, b, y, t, w[0], w[1], &l1, &l2, &ga, &gb);
      fa = (total_one(a + h, b, y, t, w[0], w[1]) - total_one(a - h, b, y, t, w[0], w[1])) / (2 * h);
      fb = (total_one(a, b + h, y, t, w[0], w[1]) - total_one(a, b - h, y, t, w[0], w[1])) / (2 * h);
      ck_assert_msg(fabs(ga - fa) <= 1e-6 * fmax(1.0, fabs(fa)), "a=%g b=%g y=%d z=%d: g_a %.12g fd %.12g", a,
                    b, y, z, ga, fa);
      ck_assert_msg(fabs(gb - fb) <= 1e-6 * fmax(1.0, fabs(fb)), "a=%g b=%g y=%d z=%d: g_b %.12g fd %.12g", a,
                    b, y, z, gb, fb);
    }
  }
}
END_TEST

START_TEST(loss_public_matches_naive) {
  enum { N = 64 };
  float a[N], b[N], ga[N], gb[N];
  int y[N], z[N];
  unsigned st = 777;
  const double w1 = 0.7, w2 = 1.9;
  double l1, l2, s1 = 0.0, s2 = 0.0;
  for (int i = 0; i < N; i++) {
    a[i] = (float)(16.0 * uniform(&st) - 8.0);
    b[i] = (float)(16.0 * uniform(&st) - 8.0);
    y[i] = (i >> 1) & 1;
    z[i] = i & 1;
  }
  ck_assert_int_eq(esmm_loss_esmm(a, b, y, z, N, w1, w2, &l1, &l2, ga, gb), ESMM_OK);
  for (int i = 0; i < N; i++) {
    double sa = naive_sigmoid(a[i]), sb = naive_sigmoid(b[i]), p = sa * sb;
    int t = y[i] * z[i];
    double da = t ? -(1.0 - sa) : p * (1.0 - sa) / (1.0 - p);
    double db = t ? -(1.0 - sb) : p * (1.0 - sb) / (1.0 - p);
    s1 += y[i] ? -log(sa) : -log(1.0 - sa);
    s2 += t ? -log(p) : -log(1.0 - p);
    ck_assert_close(ga[i], (w1 * (sa - y[i]) + w2 * da) / N, 1e-5);
    ck_assert_close(gb[i], w2 * db / N, 1e-5);
  }
  ck_assert_close(l1, s1 / N, 1e-10);
  ck_assert_close(l2, s2 / N, 1e-10);
}
END_TEST

START_TEST(loss_weights_scale) {
  float a[3] = {0.5f, -1.0f, 2.0f}, b[3] = {-0.25f, 1.5f, 0.0f};
  int y[3] = {1, 0, 1}, z[3] = {1, 1, 0};
  float g1a[3], g1b[3], g2a[3], g2b[3], g3a[3], g3b[3];
  double l1, l2, m1, m2;
  ck_assert_int_eq(esmm_loss_esmm(a, b, y, z, 3, 1.0, 0.0, &l1, &l2, g1a, g1b), ESMM_OK);
  ck_assert_int_eq(esmm_loss_esmm(a, b, y, z, 3, 0.0, 1.0, &m1, &m2, g2a, g2b), ESMM_OK);
  ck_assert_int_eq(esmm_loss_esmm(a, b, y, z, 3, 3.0, 0.5, NULL, NULL, g3a, g3b), ESMM_OK);
  ck_assert_close(l1, m1, 1e-15); /* the reported terms are unweighted */
  ck_assert_close(l2, m2, 1e-15);
  for (int i = 0; i < 3; i++) {
    ck_assert_float_eq(g1b[i], 0.0f);
    ck_assert_close(g3a[i], 3.0 * g1a[i] + 0.5 * g2a[i], 1e-6);
    ck_assert_close(g3b[i], 0.5 * g2b[i], 1e-6);
  }
}
END_TEST

START_TEST(loss_bad_args) {
  float a[2] = {0.0f, 1.0f}, b[2] = {0.0f, 1.0f}, bad[2] = {0.0f, NAN}, inf[2] = {INFINITY, 0.0f};
  int y[2] = {1, 0}, z[2] = {0, 1}, two[2] = {0, 2}, neg[2] = {-1, 0};
  const char *fn = "esmm_loss_esmm";
  ck_assert_fails(esmm_loss_esmm(a, b, y, z, 0, 1, 1, NULL, NULL, NULL, NULL), ESMM_EINVAL, fn);
  ck_assert_fails(esmm_loss_esmm(NULL, b, y, z, 2, 1, 1, NULL, NULL, NULL, NULL), ESMM_EINVAL, fn);
  ck_assert_fails(esmm_loss_esmm(a, NULL, y, z, 2, 1, 1, NULL, NULL, NULL, NULL), ESMM_EINVAL, fn);
  ck_assert_fails(esmm_loss_esmm(a, b, NULL, z, 2, 1, 1, NULL, NULL, NULL, NULL), ESMM_EINVAL, fn);
  ck_assert_fails(esmm_loss_esmm(a, b, y, NULL, 2, 1, 1, NULL, NULL, NULL, NULL), ESMM_EINVAL, fn);
  ck_assert_fails(esmm_loss_esmm(a, b, two, z, 2, 1, 1, NULL, NULL, NULL, NULL), ESMM_EINVAL, fn);
  ck_assert_fails(esmm_loss_esmm(a, b, y, two, 2, 1, 1, NULL, NULL, NULL, NULL), ESMM_EINVAL, fn);
  ck_assert_fails(esmm_loss_esmm(a, b, neg, z, 2, 1, 1, NULL, NULL, NULL, NULL), ESMM_EINVAL, fn);
  ck_assert_fails(esmm_loss_esmm(a, b, y, z, 2, -1, 1, NULL, NULL, NULL, NULL), ESMM_EINVAL, fn);
  ck_assert_fails(esmm_loss_esmm(a, b, y, z, 2, 1, -0.5, NULL, NULL, NULL, NULL), ESMM_EINVAL, fn);
  ck_assert_fails(esmm_loss_esmm(a, b, y, z, 2, NAN, 1, NULL, NULL, NULL, NULL), ESMM_EINVAL, fn);
  ck_assert_fails(esmm_loss_esmm(bad, b, y, z, 2, 1, 1, NULL, NULL, NULL, NULL), ESMM_ENUMERIC, fn);
  ck_assert_fails(esmm_loss_esmm(a, bad, y, z, 2, 1, 1, NULL, NULL, NULL, NULL), ESMM_ENUMERIC, fn);
  ck_assert_fails(esmm_loss_esmm(inf, b, y, z, 2, 1, 1, NULL, NULL, NULL, NULL), ESMM_ENUMERIC, fn);
  {
    double l = -7.0;
    float g[2] = {-7.0f, -7.0f};
    ck_assert_fails(esmm_loss_esmm(bad, b, y, z, 2, 1, 1, &l, NULL, g, NULL), ESMM_ENUMERIC, fn);
    ck_assert(l == -7.0 && g[0] == -7.0f); /* nothing written on failure */
  }
}
END_TEST

static Suite *head_loss_suite(void) {
  Suite *s = suite_create("head_loss");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, head_at_zero);
  tcase_add_test(tc, head_matches_naive_and_null_outputs);
  tcase_add_test(tc, head_extremes);
  tcase_add_test(tc, head_bad_args);
  tcase_add_test(tc, loss_at_zero);
  tcase_add_test(tc, loss_one_extremes_big_positive);
  tcase_add_test(tc, loss_one_extremes_big_negative);
  tcase_add_test(tc, log_kernels);
  tcase_add_test(tc, loss_public_extremes_finite);
  tcase_add_test(tc, loss_one_finite_differences);
  tcase_add_test(tc, loss_public_matches_naive);
  tcase_add_test(tc, loss_weights_scale);
  tcase_add_test(tc, loss_bad_args);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return test_main(head_loss_suite()); }
