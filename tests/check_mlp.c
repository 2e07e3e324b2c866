/* check_mlp.c - one tower against a naive double-precision reference and
 * central finite differences of a scalar loss. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <esmm/esmm.h>

#include "mlp.h"
#include "support/support.h"

static double uniform(unsigned *state) {
  *state = *state * 1103515245u + 12345u;
  return (double)((*state >> 8) & 0xffffff) / 16777216.0;
}

static void fill(float *x, size_t n, double lo, double hi, unsigned *st) {
  for (size_t i = 0; i < n; i++)
    x[i] = (float)(lo + (hi - lo) * uniform(st));
}

static double act_ref(int activation, double z) {
  if (activation == ESMM_ACT_RELU)
    return z > 0 ? z : 0;
  if (activation == ESMM_ACT_TANH)
    return tanh(z);
  return 1.0 / (1.0 + exp(-z));
}

/* Naive double forward from the tower's own parameters (read through the
 * public accessors). Records min |pre-activation| of hidden layers so
 * ReLU tests can stay away from kinks. */
static void ref_forward(esmm_mlp *m, int activation, const float *in, size_t n, double *out, double *min_abs_z) {
  size_t layers, width, n_in, n_out;
  double *x, *y;
  ck_assert_int_eq(esmm_mlp_layer_count(m, &layers), ESMM_OK);
  ck_assert_int_eq(esmm_mlp_layer(m, 0, NULL, NULL, NULL, NULL, &width, NULL), ESMM_OK);
  x = malloc(n * 65536 * sizeof *x);
  y = malloc(n * 65536 * sizeof *y);
  for (size_t i = 0; i < n * width; i++)
    x[i] = in[i];
  if (min_abs_z)
    *min_abs_z = INFINITY;
  for (size_t l = 0; l < layers; l++) {
    float *w, *b;
    ck_assert_int_eq(esmm_mlp_layer(m, l, &w, &b, NULL, NULL, &n_in, &n_out), ESMM_OK);
    ck_assert_uint_eq(n_in, width);
    for (size_t r = 0; r < n; r++)
      for (size_t j = 0; j < n_out; j++) {
        double z = b[j];
        for (size_t k = 0; k < n_in; k++)
          z += x[r * n_in + k] * (double)w[k * n_out + j];
        if (l + 1 < layers && min_abs_z && fabs(z) < *min_abs_z)
          *min_abs_z = fabs(z);
        y[r * n_out + j] = l + 1 < layers ? act_ref(activation, z) : z;
      }
    memcpy(x, y, n * n_out * sizeof *x);
    width = n_out;
  }
  memcpy(out, x, n * width * sizeof *out);
  free(x);
  free(y);
}

/* Give biases non-zero values so that they are exercised. */
static void randomize_biases(esmm_mlp *m, unsigned *st) {
  size_t layers, n_out;
  float *b;
  ck_assert_int_eq(esmm_mlp_layer_count(m, &layers), ESMM_OK);
  for (size_t l = 0; l < layers; l++) {
    ck_assert_int_eq(esmm_mlp_layer(m, l, NULL, &b, NULL, NULL, NULL, &n_out), ESMM_OK);
    fill(b, n_out, -0.5, 0.5, st);
  }
}

START_TEST(forward_matches_naive) {
  const int acts[3] = {ESMM_ACT_RELU, ESMM_ACT_TANH, ESMM_ACT_SIGMOID};
  const int64_t hidden[2] = {6, 5};
  unsigned st = 99;
  for (int k = 0; k < 3; k++) {
    esmm_mlp *m;
    float in[7 * 4], out[7 * 3];
    double ref[7 * 3];
    ck_assert_int_eq(esmm_mlp_new(&m, 4, hidden, 2, 3, acts[k], 8, 42), ESMM_OK);
    randomize_biases(m, &st);
    fill(in, 7 * 4, -2, 2, &st);
    ck_assert_int_eq(esmm_mlp_forward(m, in, 7, out), ESMM_OK);
    ref_forward(m, acts[k], in, 7, ref, NULL);
    for (int i = 0; i < 7 * 3; i++)
      ck_assert_msg(fabs(out[i] - ref[i]) <= 1e-5 * fmax(1.0, fabs(ref[i])), "act %d out[%d] = %g, want %g",
                    acts[k], i, out[i], ref[i]);
    esmm_mlp_free(m);
  }
}
END_TEST

static double loss_of(esmm_mlp *m, const float *in, size_t n, const float *c, size_t n_out, float *out) {
  double s = 0.0;
  ck_assert_int_eq(esmm_mlp_forward(m, in, n, out), ESMM_OK);
  for (size_t i = 0; i < n * n_out; i++)
    s += (double)c[i] * out[i];
  return s;
}

static void check_close(const char *what, size_t l, size_t i, double got, double want) {
  ck_assert_msg(fabs(got - want) <= 1e-2 * fabs(want) + 2e-3, "%s layer %zu [%zu]: backward %.6g, fd %.6g", what,
                l, i, got, want);
}

/* Central differences of L = sum(c .* tower(in)) for every parameter and input. */
static void check_gradients(esmm_mlp *m, float *in, size_t n, size_t n_in, size_t n_out, const float *c) {
  const float eps = 1e-3f;
  size_t layers, li, lo;
  float *out = malloc(n * n_out * sizeof *out), *gin = malloc(n * n_in * sizeof *gin);
  ck_assert_int_eq(esmm_mlp_layer_count(m, &layers), ESMM_OK);
  loss_of(m, in, n, c, n_out, out);
  ck_assert_int_eq(esmm_mlp_backward(m, c, gin), ESMM_OK);
  for (size_t l = 0; l < layers; l++) {
    float *w, *b, *gw, *gb;
    ck_assert_int_eq(esmm_mlp_layer(m, l, &w, &b, &gw, &gb, &li, &lo), ESMM_OK);
    for (size_t i = 0; i < li * lo + lo; i++) {
      float *p = i < li * lo ? &w[i] : &b[i - li * lo];
      float g = i < li * lo ? gw[i] : gb[i - li * lo], save = *p;
      double up, down;
      *p = save + eps;
      up = loss_of(m, in, n, c, n_out, out);
      *p = save - eps;
      down = loss_of(m, in, n, c, n_out, out);
      *p = save;
      check_close(i < li * lo ? "w" : "b", l, i, g, (up - down) / (2.0 * eps));
    }
  }
  for (size_t i = 0; i < n * n_in; i++) {
    float save = in[i];
    double up, down;
    in[i] = save + eps;
    up = loss_of(m, in, n, c, n_out, out);
    in[i] = save - eps;
    down = loss_of(m, in, n, c, n_out, out);
    in[i] = save;
    check_close("grad_in", 0, i, gin[i], (up - down) / (2.0 * eps));
  }
  free(out);
  free(gin);
}

/* A ReLU tower whose pre-activations on in all stay 0.05 away from the kink. */
static esmm_mlp *relu_away_from_kinks(const int64_t *hidden, size_t nh, float *in, size_t n, size_t n_in,
                                      size_t n_out, unsigned *st) {
  double *ref = malloc(n * n_out * sizeof *ref);
  for (uint64_t seed = 1; seed < 200; seed++) {
    esmm_mlp *m;
    double min_z;
    ck_assert_int_eq(esmm_mlp_new(&m, n_in, hidden, nh, n_out, ESMM_ACT_RELU, n, seed), ESMM_OK);
    randomize_biases(m, st);
    fill(in, n * n_in, -1.5, 1.5, st);
    ref_forward(m, ESMM_ACT_RELU, in, n, ref, &min_z);
    if (min_z > 0.05) {
      free(ref);
      return m;
    }
    esmm_mlp_free(m);
  }
  ck_abort_msg("no seed keeps ReLU pre-activations away from 0");
  return NULL;
}

START_TEST(backward_finite_differences) {
  const int64_t hidden[2] = {5, 4};
  const size_t n = 4, n_in = 3, n_out = 2;
  unsigned st = 2024;
  float in[4 * 3], c[4 * 2];
  fill(c, n * n_out, -1, 1, &st);
  for (int act = ESMM_ACT_RELU; act <= ESMM_ACT_SIGMOID; act++) {
    esmm_mlp *m;
    if (act == ESMM_ACT_RELU) {
      m = relu_away_from_kinks(hidden, 2, in, n, n_in, n_out, &st);
    } else {
      ck_assert_int_eq(esmm_mlp_new(&m, n_in, hidden, 2, n_out, act, n, 7), ESMM_OK);
      randomize_biases(m, &st);
      fill(in, n * n_in, -1.5, 1.5, &st);
    }
    check_gradients(m, in, n, n_in, n_out, c);
    esmm_mlp_free(m);
  }
}
END_TEST

START_TEST(zero_hidden_layers) {
  esmm_mlp *m;
  unsigned st = 5;
  float in[3 * 4], out[3 * 2], c[3 * 2];
  double ref[3 * 2];
  size_t layers;
  ck_assert_int_eq(esmm_mlp_new(&m, 4, NULL, 0, 2, ESMM_ACT_RELU, 3, 1), ESMM_OK);
  ck_assert_int_eq(esmm_mlp_layer_count(m, &layers), ESMM_OK);
  ck_assert_uint_eq(layers, 1);
  ck_assert_uint_eq(esmm__mlp_infer_scratch(m, 3), 0);
  randomize_biases(m, &st);
  fill(in, 12, -1, 1, &st);
  ck_assert_int_eq(esmm_mlp_forward(m, in, 3, out), ESMM_OK);
  ref_forward(m, ESMM_ACT_RELU, in, 3, ref, NULL);
  for (int i = 0; i < 6; i++)
    ck_assert(fabs(out[i] - ref[i]) <= 1e-5);
  fill(c, 6, -1, 1, &st);
  check_gradients(m, in, 3, 4, 2, c);
  esmm__mlp_infer(m, in, 3, out, NULL, NULL);
  for (int i = 0; i < 6; i++)
    ck_assert(fabs(out[i] - ref[i]) <= 1e-5);
  esmm_mlp_free(m);
}
END_TEST

START_TEST(backward_overwrites_and_null_grad_in) {
  const int64_t hidden[1] = {6};
  esmm_mlp *m;
  unsigned st = 11;
  float in[5 * 3], out[5 * 2], c[5 * 2], gw_first[3 * 6], gb_first[6], *gw, *gb;
  ck_assert_int_eq(esmm_mlp_new(&m, 3, hidden, 1, 2, ESMM_ACT_TANH, 5, 3), ESMM_OK);
  fill(in, 15, -1, 1, &st);
  fill(c, 10, -1, 1, &st);
  ck_assert_int_eq(esmm_mlp_forward(m, in, 5, out), ESMM_OK);
  ck_assert_int_eq(esmm_mlp_backward(m, c, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_mlp_layer(m, 0, NULL, NULL, &gw, &gb, NULL, NULL), ESMM_OK);
  memcpy(gw_first, gw, sizeof gw_first);
  memcpy(gb_first, gb, sizeof gb_first);
  ck_assert_int_eq(esmm_mlp_backward(m, c, NULL), ESMM_OK); /* a second call must not accumulate */
  ck_assert_mem_eq(gw, gw_first, sizeof gw_first);
  ck_assert_mem_eq(gb, gb_first, sizeof gb_first);
  esmm_mlp_free(m);
}
END_TEST

START_TEST(infer_matches_forward) {
  const int64_t hidden[3] = {7, 3, 9};
  const size_t max_batch = 6, n_in = 5, n_out = 2;
  esmm_mlp *m;
  unsigned st = 31;
  float in[18 * 5], fwd[18 * 2], inf_out[18 * 2], *scratch;
  ck_assert_int_eq(esmm_mlp_new(&m, n_in, hidden, 3, n_out, ESMM_ACT_SIGMOID, max_batch, 9), ESMM_OK);
  randomize_biases(m, &st);
  fill(in, 18 * n_in, -2, 2, &st);
  for (size_t r = 0; r < 18; r += max_batch)
    ck_assert_int_eq(esmm_mlp_forward(m, in + r * n_in, max_batch, fwd + r * n_out), ESMM_OK);
  /* infer takes any row count, here three times max_batch */
  scratch = malloc(esmm__mlp_infer_scratch(m, 18) * sizeof *scratch);
  esmm__mlp_infer(m, in, 18, inf_out, scratch, NULL);
  for (size_t i = 0; i < 18 * n_out; i++)
    ck_assert_msg(fabs(inf_out[i] - fwd[i]) <= 1e-6, "infer[%zu] %g forward %g", i, inf_out[i], fwd[i]);
  free(scratch);
  esmm_mlp_free(m);
}
END_TEST

START_TEST(param_count_and_shapes) {
  const int64_t hidden[2] = {7, 3};
  esmm_mlp *m;
  size_t n_in, n_out;
  ck_assert_int_eq(esmm_mlp_new(&m, 5, hidden, 2, 2, ESMM_ACT_RELU, 4, 9), ESMM_OK);
  ck_assert_uint_eq(esmm__mlp_param_count(m), 5 * 7 + 7 + 7 * 3 + 3 + 3 * 2 + 2);
  ck_assert_int_eq(esmm_mlp_layer(m, 1, NULL, NULL, NULL, NULL, &n_in, &n_out), ESMM_OK);
  ck_assert_uint_eq(n_in, 7);
  ck_assert_uint_eq(n_out, 3);
  esmm_mlp_free(m);
}
END_TEST

static double sample_std(const float *x, size_t n) {
  double s = 0.0, s2 = 0.0;
  for (size_t i = 0; i < n; i++) {
    s += x[i];
    s2 += (double)x[i] * x[i];
  }
  return sqrt(s2 / n - (s / n) * (s / n));
}

START_TEST(init_scales) {
  const int64_t hidden[1] = {300};
  esmm_mlp *m;
  float *w, *b;
  ck_assert_int_eq(esmm_mlp_new(&m, 400, hidden, 1, 1, ESMM_ACT_RELU, 1, 5), ESMM_OK);
  ck_assert_int_eq(esmm_mlp_layer(m, 0, &w, &b, NULL, NULL, NULL, NULL), ESMM_OK);
  ck_assert_double_eq_tol(sample_std(w, 400 * 300), sqrt(2.0 / 400), 0.02 * sqrt(2.0 / 400));
  for (int j = 0; j < 300; j++)
    ck_assert_float_eq(b[j], 0.0f);
  esmm_mlp_free(m);
  ck_assert_int_eq(esmm_mlp_new(&m, 400, hidden, 1, 1, ESMM_ACT_TANH, 1, 5), ESMM_OK);
  ck_assert_int_eq(esmm_mlp_layer(m, 0, &w, NULL, NULL, NULL, NULL, NULL), ESMM_OK);
  ck_assert_double_eq_tol(sample_std(w, 400 * 300), sqrt(2.0 / 700), 0.02 * sqrt(2.0 / 700));
  esmm_mlp_free(m);
}
END_TEST

START_TEST(seed_determinism) {
  const int64_t hidden[1] = {8};
  esmm_mlp *a, *b, *c;
  float *wa, *wb, *wc;
  ck_assert_int_eq(esmm_mlp_new(&a, 4, hidden, 1, 1, ESMM_ACT_RELU, 1, 77), ESMM_OK);
  ck_assert_int_eq(esmm_mlp_new(&b, 4, hidden, 1, 1, ESMM_ACT_RELU, 1, 77), ESMM_OK);
  ck_assert_int_eq(esmm_mlp_new(&c, 4, hidden, 1, 1, ESMM_ACT_RELU, 1, 78), ESMM_OK);
  esmm_mlp_layer(a, 0, &wa, NULL, NULL, NULL, NULL, NULL);
  esmm_mlp_layer(b, 0, &wb, NULL, NULL, NULL, NULL, NULL);
  esmm_mlp_layer(c, 0, &wc, NULL, NULL, NULL, NULL, NULL);
  ck_assert_mem_eq(wa, wb, 32 * sizeof(float));
  ck_assert(memcmp(wa, wc, 32 * sizeof(float)) != 0);
  esmm_mlp_free(a);
  esmm_mlp_free(b);
  esmm_mlp_free(c);
}
END_TEST

START_TEST(shape_and_state_errors) {
  const int64_t hidden[1] = {3};
  esmm_mlp *m;
  float in[5 * 2] = {0}, out[5], g[5] = {0};
  ck_assert_int_eq(esmm_mlp_new(&m, 2, hidden, 1, 1, ESMM_ACT_RELU, 4, 1), ESMM_OK);
  ck_assert_fails(esmm_mlp_backward(m, g, NULL), ESMM_ESTATE, "esmm_mlp_backward");
  ck_assert_fails(esmm_mlp_forward(m, in, 5, out), ESMM_ESHAPE, "esmm_mlp_forward");
  ck_assert_fails(esmm_mlp_backward(m, g, NULL), ESMM_ESTATE, "esmm_mlp_backward");
  ck_assert_int_eq(esmm_mlp_forward(m, in, 4, out), ESMM_OK);
  ck_assert_int_eq(esmm_mlp_backward(m, g, NULL), ESMM_OK);
  esmm_mlp_free(m);
}
END_TEST

START_TEST(bad_args) {
  const int64_t hidden[2] = {3, 4}, zero[1] = {0}, huge[1] = {1 << 20};
  const int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  const char *fn = "esmm_mlp_new";
  esmm_mlp *m = (esmm_mlp *)&m;
  float x[8] = {0}, *p;
  size_t sz;
  ck_assert_fails(esmm_mlp_new(NULL, 2, hidden, 2, 1, ESMM_ACT_RELU, 4, 1), ESMM_EINVAL, fn);
  ck_assert_fails(esmm_mlp_new(&m, 0, hidden, 2, 1, ESMM_ACT_RELU, 4, 1), ESMM_EINVAL, fn);
  ck_assert_ptr_null(m); /* *out cleared on failure */
  ck_assert_fails(esmm_mlp_new(&m, 2, hidden, 2, 0, ESMM_ACT_RELU, 4, 1), ESMM_EINVAL, fn);
  ck_assert_fails(esmm_mlp_new(&m, 2, NULL, 2, 1, ESMM_ACT_RELU, 4, 1), ESMM_EINVAL, fn);
  ck_assert_fails(esmm_mlp_new(&m, 2, zero, 1, 1, ESMM_ACT_RELU, 4, 1), ESMM_EINVAL, fn);
  ck_assert_fails(esmm_mlp_new(&m, 2, huge, 1, 1, ESMM_ACT_RELU, 4, 1), ESMM_EINVAL, fn);
  ck_assert_fails(esmm_mlp_new(&m, 2, nine, 9, 1, ESMM_ACT_RELU, 4, 1), ESMM_EINVAL, fn);
  ck_assert_fails(esmm_mlp_new(&m, 2, hidden, 2, 1, 7, 4, 1), ESMM_EINVAL, fn);
  ck_assert_fails(esmm_mlp_new(&m, 2, hidden, 2, 1, -1, 4, 1), ESMM_EINVAL, fn);
  ck_assert_fails(esmm_mlp_new(&m, 2, hidden, 2, 1, ESMM_ACT_RELU, 0, 1), ESMM_EINVAL, fn);
  ck_assert_int_eq(esmm_mlp_new(&m, 2, hidden, 2, 1, ESMM_ACT_RELU, 4, 1), ESMM_OK);
  ck_assert_fails(esmm_mlp_forward(NULL, x, 1, x), ESMM_EINVAL, "esmm_mlp_forward");
  ck_assert_fails(esmm_mlp_forward(m, NULL, 1, x), ESMM_EINVAL, "esmm_mlp_forward");
  ck_assert_fails(esmm_mlp_forward(m, x, 1, NULL), ESMM_EINVAL, "esmm_mlp_forward");
  ck_assert_fails(esmm_mlp_backward(NULL, x, NULL), ESMM_EINVAL, "esmm_mlp_backward");
  ck_assert_fails(esmm_mlp_backward(m, NULL, NULL), ESMM_EINVAL, "esmm_mlp_backward");
  ck_assert_fails(esmm_mlp_layer_count(NULL, &sz), ESMM_EINVAL, "esmm_mlp_layer_count");
  ck_assert_fails(esmm_mlp_layer_count(m, NULL), ESMM_EINVAL, "esmm_mlp_layer_count");
  ck_assert_fails(esmm_mlp_layer(NULL, 0, &p, NULL, NULL, NULL, NULL, NULL), ESMM_EINVAL, "esmm_mlp_layer");
  ck_assert_fails(esmm_mlp_layer(m, 3, &p, NULL, NULL, NULL, NULL, NULL), ESMM_EINVAL, "esmm_mlp_layer");
  esmm_mlp_free(m);
  esmm_mlp_free(NULL);
}
END_TEST

/* One creation with the counting allocator (test_enomem_walk). */
static int create_counted(test_counter *cnt, void *ctx) {
  const int64_t hidden[2] = {3, 4};
  esmm__allocator a = {test_counting_alloc, test_counting_free, cnt};
  esmm_mlp *m = (esmm_mlp *)ctx;
  int rc = esmm__mlp_create(&m, &a, 2, hidden, 2, 1, ESMM_ACT_RELU, 4, 1);
  if (rc == ESMM_OK)
    esmm_mlp_free(m);
  else
    ck_assert_ptr_null(m);
  return rc;
}

START_TEST(allocation_failures_clean_up) {
  int poison; /* the output starts non-NULL: a failure must set it NULL */
  test_enomem_walk(create_counted, &poison, 63, "esmm__mlp_create");
}
END_TEST

static Suite *mlp_suite(void) {
  Suite *s = suite_create("mlp");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, forward_matches_naive);
  tcase_add_test(tc, backward_finite_differences);
  tcase_add_test(tc, zero_hidden_layers);
  tcase_add_test(tc, backward_overwrites_and_null_grad_in);
  tcase_add_test(tc, infer_matches_forward);
  tcase_add_test(tc, param_count_and_shapes);
  tcase_add_test(tc, init_scales);
  tcase_add_test(tc, seed_determinism);
  tcase_add_test(tc, shape_and_state_errors);
  tcase_add_test(tc, bad_args);
  tcase_add_test(tc, allocation_failures_clean_up);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return test_main(mlp_suite()); }
