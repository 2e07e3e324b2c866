/* check_optimizer.c - SGD, Adagrad and Adam against double-precision
 * references written here from the formulas of include/esmm/optimizer.h,
 * lazy row semantics, step counting and argument checking. */
#include <check.h>
#include <esmm/esmm.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "optimizer.h"
#include "support/support.h"

static uint64_t lcg_state;
static double urand(void) { /* uniform in [-1, 1) */
  lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(lcg_state >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

typedef struct hyper {
  int kind;
  double lr, b1, b2, eps, l2, init;
} hyper;

static esmm_optimizer *make_opt(const hyper *h) {
  esmm_config *cfg;
  esmm_optimizer *o = NULL;
  ck_assert_int_eq(esmm_config_new(&cfg), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(cfg, ESMM_OPT_OPTIMIZER, h->kind), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_float(cfg, ESMM_OPT_LEARNING_RATE, h->lr), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_float(cfg, ESMM_OPT_ADAM_BETA1, h->b1), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_float(cfg, ESMM_OPT_ADAM_BETA2, h->b2), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_float(cfg, ESMM_OPT_ADAM_EPS, h->eps), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_float(cfg, ESMM_OPT_L2, h->l2), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_float(cfg, ESMM_OPT_ADAGRAD_INIT, h->init), ESMM_OK);
  ck_assert_int_eq(esmm_optimizer_new(&o, cfg), ESMM_OK);
  esmm_config_free(cfg); /* the optimizer copied what it needs */
  ck_assert_ptr_nonnull(o);
  return o;
}

/* Reference state for one parameter, in double, straight from the doc. */
typedef struct ref {
  double w, m, v, s;
} ref;

static void ref_init(ref *r, double w, const hyper *h) {
  r->w = w;
  r->m = r->v = 0;
  r->s = h->init;
}

static void ref_step(ref *r, double g, int64_t t, const hyper *h) {
  g += h->l2 * r->w;
  switch (h->kind) {
  case ESMM_OPTIMIZER_SGD:
    r->w -= h->lr * g;
    break;
  case ESMM_OPTIMIZER_ADAGRAD:
    r->s += g * g;
    r->w -= h->lr * g / (sqrt(r->s) + 1e-10);
    break;
  default:
    r->m = h->b1 * r->m + (1 - h->b1) * g;
    r->v = h->b2 * r->v + (1 - h->b2) * g * g;
    r->w -= h->lr * (r->m / (1 - pow(h->b1, (double)t))) / (sqrt(r->v / (1 - pow(h->b2, (double)t))) + h->eps);
    break;
  }
}

/* Relative tolerance, measured against max(|want|, floor): Adam's m can be
 * a small difference of large gradients, where float rounding of the
 * gradient scale, not of m, sets the achievable accuracy. */
static void assert_close_floor(double got, double want, double rel, double floor, const char *what, int i) {
  ck_assert_msg(fabs(got - want) <= rel * fmax(fabs(want), floor), "%s[%d] = %.10g, reference %.10g", what, i,
                got, want);
}

static void assert_close(double got, double want, double rel, const char *what, int i) {
  assert_close_floor(got, want, rel, 1e-3, what, i);
}

static const hyper HYPERS[] = {
    {ESMM_OPTIMIZER_SGD, 0.05, 0.9, 0.999, 1e-8, 0.0, 0.1},
    {ESMM_OPTIMIZER_SGD, 0.05, 0.9, 0.999, 1e-8, 0.3, 0.1},
    {ESMM_OPTIMIZER_ADAGRAD, 0.05, 0.9, 0.999, 1e-8, 0.0, 0.1},
    {ESMM_OPTIMIZER_ADAGRAD, 0.05, 0.9, 0.999, 1e-8, 0.3, 0.5},
    {ESMM_OPTIMIZER_ADAM, 0.01, 0.9, 0.999, 1e-8, 0.0, 0.1},
    {ESMM_OPTIMIZER_ADAM, 0.01, 0.8, 0.99, 1e-6, 0.3, 0.1},
};
#define N_HYPERS (int)(sizeof HYPERS / sizeof HYPERS[0])

/* Dense update of a 3x5 block over several steps vs the reference. */
START_TEST(dense_matches_reference) {
  enum { R = 3, C = 5, N = R * C, STEPS = 12 };
  const hyper *h = &HYPERS[_i];
  esmm_optimizer *o = make_opt(h);
  float w[N], g[N], w_init[N];
  ref r[N];
  int id;
  lcg_state = 1000 + (uint64_t)_i;
  for (int i = 0; i < N; i++) {
    w[i] = w_init[i] = (float)urand();
    ref_init(&r[i], w[i], h);
  }
  ck_assert_int_eq(esmm_optimizer_add_block(o, R, C, &id), ESMM_OK);
  for (int64_t t = 1; t <= STEPS; t++) {
    for (int i = 0; i < N; i++) {
      g[i] = (float)(urand() * (i % 3 == 0 ? 5.0 : 0.2)); /* mixed scales */
      ref_step(&r[i], g[i], t, h);
    }
    ck_assert_int_eq(esmm_optimizer_begin_step(o), ESMM_OK);
    ck_assert_int_eq(esmm_optimizer_update_dense(o, id, w, g), ESMM_OK);
  }
  float *s1, *s2;
  size_t n;
  ck_assert_int_eq(esmm__optimizer_state(o, id, &s1, &s2, &n), ESMM_OK);
  ck_assert_uint_eq(n, N);
  for (int i = 0; i < N; i++) {
    assert_close(w[i], r[i].w, 1e-6, "w", i);
    /* w must have moved, or the comparison above proves little */
    ck_assert(fabs(r[i].w - w_init[i]) > 1e-6);
    if (h->kind == ESMM_OPTIMIZER_ADAM) {
      assert_close_floor(s1[i], r[i].m, 1e-6, 1.0, "m", i);
      assert_close_floor(s2[i], r[i].v, 1e-6, 0.01, "v", i);
    } else if (h->kind == ESMM_OPTIMIZER_ADAGRAD) {
      assert_close(s1[i], r[i].s, 1e-6, "s", i);
      ck_assert_ptr_null(s2);
    } else {
      ck_assert_ptr_null(s1);
      ck_assert_ptr_null(s2);
    }
  }
  esmm_optimizer_free(o);
}
END_TEST

/* Row updates: listed rows follow the reference, the others stay
 * bit-identical in weights and state. */
START_TEST(rows_lazy_and_exact) {
  enum { R = 6, C = 3, N = R * C, STEPS = 8 };
  const hyper *h = &HYPERS[_i];
  esmm_optimizer *o = make_opt(h);
  float w[N], w_before[N], s1_before[N], s2_before[N], g[R * C];
  ref r[N];
  int64_t t_of_row[R] = {0};
  int id, dummy;
  lcg_state = 2000 + (uint64_t)_i;
  /* A second block first, so the tested block is not id 0. */
  ck_assert_int_eq(esmm_optimizer_add_block(o, 2, 2, &dummy), ESMM_OK);
  ck_assert_int_eq(esmm_optimizer_add_block(o, R, C, &id), ESMM_OK);
  ck_assert_int_eq(id, dummy + 1);
  for (int i = 0; i < N; i++) {
    w[i] = (float)urand();
    ref_init(&r[i], w[i], h);
  }
  float *s1, *s2;
  size_t n;
  ck_assert_int_eq(esmm__optimizer_state(o, id, &s1, &s2, &n), ESMM_OK);
  for (int64_t t = 1; t <= STEPS; t++) {
    /* rows 1 and 4 every step, row 2 on even steps; 0, 3, 5 never */
    int64_t rows[3] = {4, 1, 2};
    size_t nr = t % 2 == 0 ? 3 : 2;
    memcpy(w_before, w, sizeof w);
    if (s1)
      memcpy(s1_before, s1, sizeof s1_before);
    if (s2)
      memcpy(s2_before, s2, sizeof s2_before);
    for (size_t k = 0; k < nr; k++)
      for (int c = 0; c < C; c++) {
        g[k * C + (size_t)c] = (float)urand();
        ref_step(&r[rows[k] * C + c], g[k * C + (size_t)c], t, h);
      }
    ck_assert_int_eq(esmm_optimizer_begin_step(o), ESMM_OK);
    ck_assert_int_eq(esmm_optimizer_update_rows(o, id, w, nr, rows, g), ESMM_OK);
    for (size_t k = 0; k < nr; k++)
      t_of_row[rows[k]] = t;
    for (int row = 0; row < R; row++) {
      size_t off = (size_t)row * C;
      int touched = t_of_row[row] == t;
      int same_w = memcmp(w + off, w_before + off, C * sizeof(float)) == 0;
      ck_assert_msg(touched ? !same_w : same_w, "step %lld row %d: weights %s", (long long)t, row,
                    touched ? "did not move" : "moved");
      if (!touched && s1)
        ck_assert(memcmp(s1 + off, s1_before + off, C * sizeof(float)) == 0);
      if (!touched && s2)
        ck_assert(memcmp(s2 + off, s2_before + off, C * sizeof(float)) == 0);
    }
  }
  /* Untouched rows still hold their initial values and initial state. */
  static const int never[3] = {0, 3, 5};
  for (int k = 0; k < 3; k++) {
    for (int c = 0; c < C; c++) {
      int i = never[k] * C + c;
      ck_assert(w[i] == (float)r[i].w);
      if (h->kind == ESMM_OPTIMIZER_ADAM)
        ck_assert(s1[i] == 0.0f && s2[i] == 0.0f);
      if (h->kind == ESMM_OPTIMIZER_ADAGRAD)
        ck_assert(s1[i] == (float)h->init);
    }
  }
  for (int i = 0; i < N; i++)
    assert_close(w[i], r[i].w, 1e-6, "w", i);
  esmm_optimizer_free(o);
}
END_TEST

/* LazyAdam semantics: a row updated at steps 1 and 5 only has its moments
 * decayed once (at step 5, not four times), and step 5 uses the global
 * bias correction 1 - beta^5 even though the row saw only two updates. */
START_TEST(lazy_adam_bias_correction) {
  const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  const hyper h = {ESMM_OPTIMIZER_ADAM, lr, b1, b2, eps, 0.0, 0.1};
  esmm_optimizer *o = make_opt(&h);
  float w[4 * 2] = {0.5f, -0.25f, 0.125f, 1.0f, -1.0f, 2.0f, 0.75f, -0.5f};
  const float g1[2] = {0.3f, -2.0f}, g5[2] = {-0.7f, 0.05f}, gother[2] = {1.0f, 1.0f};
  const int64_t row2 = 2, row0 = 0;
  int id;
  ck_assert_int_eq(esmm_optimizer_add_block(o, 4, 2, &id), ESMM_OK);
  ck_assert_int_eq(esmm_optimizer_begin_step(o), ESMM_OK);
  ck_assert_int_eq(esmm_optimizer_update_rows(o, id, w, 1, &row2, g1), ESMM_OK);
  for (int t = 2; t <= 4; t++) { /* other rows move meanwhile */
    ck_assert_int_eq(esmm_optimizer_begin_step(o), ESMM_OK);
    ck_assert_int_eq(esmm_optimizer_update_rows(o, id, w, 1, &row0, gother), ESMM_OK);
  }
  ck_assert_int_eq(esmm_optimizer_begin_step(o), ESMM_OK);
  ck_assert_int_eq(esmm_optimizer_update_rows(o, id, w, 1, &row2, g5), ESMM_OK);

  const double w0[2] = {-1.0, 2.0};
  for (int c = 0; c < 2; c++) {
    double m = (1 - b1) * g1[c], v = (1 - b2) * g1[c] * g1[c];
    double wc = w0[c] - lr * (m / (1 - b1)) / (sqrt(v / (1 - b2)) + eps);
    double w_step1 = wc;
    m = b1 * m + (1 - b1) * g5[c]; /* decayed once */
    v = b2 * v + (1 - b2) * g5[c] * g5[c];
    wc -= lr * (m / (1 - pow(b1, 5))) / (sqrt(v / (1 - pow(b2, 5))) + eps);
    assert_close(w[2 * 2 + c], wc, 1e-6, "w_row2", c);

    /* The test can tell the semantics apart: dense Adam (moments decayed
     * at every step with zero gradient) would land elsewhere, and so would
     * a per-row step count (t = 2). */
    double md = (1 - b1) * g1[c], vd = (1 - b2) * g1[c] * g1[c];
    for (int t = 2; t <= 5; t++) {
      double gg = t == 5 ? g5[c] : 0.0;
      md = b1 * md + (1 - b1) * gg;
      vd = b2 * vd + (1 - b2) * gg * gg;
    }
    double w_dense = w_step1 - lr * (md / (1 - pow(b1, 5))) / (sqrt(vd / (1 - pow(b2, 5))) + eps);
    ck_assert_msg(fabs(w_dense - wc) > 1e-4, "dense and lazy references coincide");
    ck_assert(fabs(w[4 + c] - w_dense) > 1e-4);
    m = b1 * ((1 - b1) * g1[c]) + (1 - b1) * g5[c];
    v = b2 * ((1 - b2) * g1[c] * g1[c]) + (1 - b2) * g5[c] * g5[c];
    double w_local = w_step1 - lr * (m / (1 - pow(b1, 2))) / (sqrt(v / (1 - pow(b2, 2))) + eps);
    ck_assert(fabs(w[4 + c] - w_local) > 1e-4);
  }
  /* Rows 1 and 3 were never listed. */
  ck_assert(w[2] == 0.125f && w[3] == 1.0f && w[6] == 0.75f && w[7] == -0.5f);
  int64_t steps;
  ck_assert_int_eq(esmm_optimizer_steps(o, &steps), ESMM_OK);
  ck_assert_int_eq(steps, 5);
  esmm_optimizer_free(o);
}
END_TEST

START_TEST(steps_and_state_lifecycle) {
  esmm_optimizer *o = NULL;
  int64_t steps = -1;
  int id;
  float w[4] = {1, 2, 3, 4}, g[4] = {1, 1, 1, 1};
  ck_assert_int_eq(esmm_optimizer_new(&o, NULL), ESMM_OK); /* defaults: Adam, lr 1e-3 */
  ck_assert_int_eq(esmm_optimizer_steps(o, &steps), ESMM_OK);
  ck_assert_int_eq(steps, 0);
  ck_assert_int_eq(esmm_optimizer_add_block(o, 2, 2, &id), ESMM_OK);
  ck_assert_int_eq(id, 0);
  size_t rows = 0, cols = 0;
  ck_assert_int_eq(esmm__optimizer_block_shape(o, id, &rows, &cols), ESMM_OK);
  ck_assert_uint_eq(rows, 2);
  ck_assert_uint_eq(cols, 2);

  /* No step begun: refused, nothing changed. */
  const int64_t r1 = 1;
  ck_assert_int_eq(esmm_optimizer_update_dense(o, id, w, g), ESMM_ESTATE);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "esmm_optimizer_update_dense"));
  ck_assert_int_eq(esmm_optimizer_update_rows(o, id, w, 1, &r1, g), ESMM_ESTATE);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "esmm_optimizer_update_rows"));
  ck_assert(w[0] == 1 && w[3] == 4);

  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(esmm_optimizer_begin_step(o), ESMM_OK);
  ck_assert_int_eq(esmm_optimizer_steps(o, &steps), ESMM_OK);
  ck_assert_int_eq(steps, 3);
  ck_assert_int_eq(esmm_optimizer_update_dense(o, id, w, g), ESMM_OK);
  /* Default Adam, first update of a fresh block at t = 3: m = 0.1, v = 0.001,
   * w -= 1e-3 * (0.1 / (1 - .9^3)) / (sqrt(0.001 / (1 - .999^3)) + 1e-8). */
  double expect = 1.0 - 1e-3 * (0.1 / (1 - pow(0.9, 3))) / (sqrt(0.001 / (1 - pow(0.999, 3))) + 1e-8);
  assert_close(w[0], expect, 1e-6, "w", 0);

  /* Checkpoint restore of the step count. */
  esmm__optimizer_set_steps(o, 40);
  ck_assert_int_eq(esmm_optimizer_steps(o, &steps), ESMM_OK);
  ck_assert_int_eq(steps, 40);
  ck_assert_int_eq(esmm_optimizer_begin_step(o), ESMM_OK);
  ck_assert_int_eq(esmm_optimizer_steps(o, &steps), ESMM_OK);
  ck_assert_int_eq(steps, 41);
  esmm__optimizer_set_steps(o, 0);
  ck_assert_int_eq(esmm_optimizer_update_dense(o, id, w, g), ESMM_ESTATE);
  esmm_optimizer_free(o);
  esmm_optimizer_free(NULL);
}
END_TEST

START_TEST(adagrad_state_starts_at_init) {
  const hyper h = {ESMM_OPTIMIZER_ADAGRAD, 0.1, 0.9, 0.999, 1e-8, 0.0, 0.25};
  esmm_optimizer *o = make_opt(&h);
  int id;
  float *s1, *s2;
  size_t n;
  ck_assert_int_eq(esmm_optimizer_add_block(o, 3, 7, &id), ESMM_OK);
  ck_assert_int_eq(esmm__optimizer_state(o, id, &s1, &s2, &n), ESMM_OK);
  ck_assert_uint_eq(n, 21);
  ck_assert_ptr_null(s2);
  for (size_t i = 0; i < n; i++)
    ck_assert(s1[i] == 0.25f);
  esmm_optimizer_free(o);
}
END_TEST

START_TEST(bad_args) {
  esmm_optimizer *o = (esmm_optimizer *)&o; /* must be reset to NULL */
  int id = 7;
  int64_t steps;
  float w[6] = {0, 1, 2, 3, 4, 5}, g[6] = {1, 1, 1, 1, 1, 1}, w_copy[6];
  ck_assert_int_eq(esmm_optimizer_new(NULL, NULL), ESMM_EINVAL);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "esmm_optimizer_new"));
  ck_assert_int_eq(esmm__optimizer_create(NULL, NULL), ESMM_EINVAL);
  ck_assert_int_eq(esmm_optimizer_new(&o, NULL), ESMM_OK);

  ck_assert_int_eq(esmm_optimizer_add_block(NULL, 2, 3, &id), ESMM_EINVAL);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "esmm_optimizer_add_block"));
  ck_assert_int_eq(id, -1);
  ck_assert_int_eq(esmm_optimizer_add_block(o, 2, 3, NULL), ESMM_EINVAL);
  ck_assert_int_eq(esmm_optimizer_add_block(o, 0, 3, &id), ESMM_EINVAL);
  ck_assert_int_eq(esmm_optimizer_add_block(o, 2, 0, &id), ESMM_EINVAL);
  ck_assert_int_eq(esmm_optimizer_add_block(o, SIZE_MAX / 2, 4, &id), ESMM_EINVAL);
  ck_assert_int_eq(esmm_optimizer_add_block(o, 2, 3, &id), ESMM_OK);
  ck_assert_int_eq(id, 0);

  ck_assert_int_eq(esmm_optimizer_begin_step(NULL), ESMM_EINVAL);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "esmm_optimizer_begin_step"));
  ck_assert_int_eq(esmm_optimizer_steps(NULL, &steps), ESMM_EINVAL);
  ck_assert_int_eq(esmm_optimizer_steps(o, NULL), ESMM_EINVAL);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "esmm_optimizer_steps"));
  ck_assert_int_eq(esmm_optimizer_begin_step(o), ESMM_OK);

  ck_assert_int_eq(esmm_optimizer_update_dense(NULL, 0, w, g), ESMM_EINVAL);
  ck_assert_int_eq(esmm_optimizer_update_dense(o, 0, NULL, g), ESMM_EINVAL);
  ck_assert_int_eq(esmm_optimizer_update_dense(o, 0, w, NULL), ESMM_EINVAL);
  ck_assert_int_eq(esmm_optimizer_update_dense(o, 1, w, g), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_optimizer_update_dense: block 1 unknown (have 1)");
  ck_assert_int_eq(esmm_optimizer_update_dense(o, -1, w, g), ESMM_EINVAL);

  const int64_t rows_ok[2] = {1, 0}, rows_bad[2] = {1, 2}, rows_neg[1] = {-1};
  memcpy(w_copy, w, sizeof w);
  float *s1, *s2;
  size_t n;
  ck_assert_int_eq(esmm__optimizer_state(o, 0, &s1, &s2, &n), ESMM_OK);
  ck_assert_int_eq(esmm_optimizer_update_rows(NULL, 0, w, 2, rows_ok, g), ESMM_EINVAL);
  ck_assert_int_eq(esmm_optimizer_update_rows(o, 0, NULL, 2, rows_ok, g), ESMM_EINVAL);
  ck_assert_int_eq(esmm_optimizer_update_rows(o, 0, w, 2, NULL, g), ESMM_EINVAL);
  ck_assert_int_eq(esmm_optimizer_update_rows(o, 0, w, 2, rows_ok, NULL), ESMM_EINVAL);
  ck_assert_int_eq(esmm_optimizer_update_rows(o, 3, w, 2, rows_ok, g), ESMM_EINVAL);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "esmm_optimizer_update_rows: block 3 unknown"));
  /* A bad index after a good one: nothing is applied. */
  ck_assert_int_eq(esmm_optimizer_update_rows(o, 0, w, 2, rows_bad, g), ESMM_EINVAL);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "esmm_optimizer_update_rows: rows[1] = 2"));
  ck_assert_int_eq(esmm_optimizer_update_rows(o, 0, w, 1, rows_neg, g), ESMM_EINVAL);
  ck_assert(memcmp(w, w_copy, sizeof w) == 0);
  for (size_t i = 0; i < n; i++)
    ck_assert(s1[i] == 0.0f && s2[i] == 0.0f);
  /* Zero rows is a valid no-op. */
  ck_assert_int_eq(esmm_optimizer_update_rows(o, 0, w, 0, NULL, NULL), ESMM_OK);
  ck_assert(memcmp(w, w_copy, sizeof w) == 0);

  ck_assert_int_eq(esmm__optimizer_state(NULL, 0, &s1, &s2, &n), ESMM_EINVAL);
  ck_assert_int_eq(esmm__optimizer_state(o, 1, &s1, &s2, &n), ESMM_EINVAL);
  ck_assert_int_eq(esmm__optimizer_block_shape(o, 5, NULL, NULL), ESMM_EINVAL);

  /* The block table is bounded. */
  for (int i = 1; i < ESMM__OPT_MAX_BLOCKS; i++)
    ck_assert_int_eq(esmm_optimizer_add_block(o, 1, 1, &id), ESMM_OK);
  ck_assert_int_eq(id, ESMM__OPT_MAX_BLOCKS - 1);
  ck_assert_int_eq(esmm_optimizer_add_block(o, 1, 1, &id), ESMM_EINVAL);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "too many blocks"));
  esmm_optimizer_free(o);
}
END_TEST

/* Allocator that fails once its budget of successful calls is spent. */
typedef struct budget {
  int left, live;
} budget;
static void *budget_alloc(void *payload, size_t size, size_t align) {
  budget *b = payload;
  void *p = NULL;
  if (b->left-- <= 0)
    return NULL;
  if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size) != 0)
    return NULL;
  b->live++;
  return p;
}
static void budget_free(void *payload, void *p) {
  budget *b = payload;
  if (p)
    b->live--;
  free(p);
}

START_TEST(out_of_memory) {
  budget b = {0, 0};
  esmm_config *cfg;
  esmm_optimizer *o = NULL;
  int id;
  ck_assert_int_eq(esmm_config_new(&cfg), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_allocator(cfg, budget_alloc, budget_free, &b), ESMM_OK);
  ck_assert_int_eq(esmm_optimizer_new(&o, cfg), ESMM_ENOMEM);
  ck_assert_ptr_null(o);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "esmm_optimizer_new"));
  for (int budget_n = 1; budget_n <= 3; budget_n++) { /* handle, m, v */
    b.left = budget_n;
    ck_assert_int_eq(esmm_optimizer_new(&o, cfg), ESMM_OK);
    int rc = esmm_optimizer_add_block(o, 10, 10, &id);
    ck_assert_int_eq(rc, budget_n == 3 ? ESMM_OK : ESMM_ENOMEM);
    if (rc == ESMM_ENOMEM) {
      ck_assert_int_eq(id, -1);
      ck_assert_int_eq(esmm__optimizer_state(o, 0, NULL, NULL, NULL), ESMM_EINVAL);
    }
    esmm_optimizer_free(o);
    ck_assert_int_eq(b.live, 0);
  }
  /* SGD needs no state: a block costs no allocation. */
  ck_assert_int_eq(esmm_config_set_int(cfg, ESMM_OPT_OPTIMIZER, ESMM_OPTIMIZER_SGD), ESMM_OK);
  b.left = 1;
  ck_assert_int_eq(esmm_optimizer_new(&o, cfg), ESMM_OK);
  ck_assert_int_eq(esmm_optimizer_add_block(o, 10, 10, &id), ESMM_OK);
  esmm_optimizer_free(o);
  ck_assert_int_eq(b.live, 0);
  esmm_config_free(cfg);
}
END_TEST

static Suite *optimizer_suite(void) {
  Suite *s = suite_create("optimizer");
  TCase *tc = tcase_create("core");
  tcase_add_loop_test(tc, dense_matches_reference, 0, N_HYPERS);
  tcase_add_loop_test(tc, rows_lazy_and_exact, 0, N_HYPERS);
  tcase_add_test(tc, lazy_adam_bias_correction);
  tcase_add_test(tc, steps_and_state_lifecycle);
  tcase_add_test(tc, adagrad_state_starts_at_init);
  tcase_add_test(tc, bad_args);
  tcase_add_test(tc, out_of_memory);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return test_main(optimizer_suite()); }
