/* check_embedding.c - hashed tables: pooling against a hand computation,
 * field isolation under collisions, sparse backward against finite
 * differences, the EBUFS two-call path and argument checking. Rows are
 * recomputed here from the documented hash (splitmix64 mod buckets). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <esmm/esmm.h>

#include "embedding.h"
#include "rng.h"
#include "support/support.h"

enum { NF = 3, DIM = 4 };
static const int64_t BUCKETS[NF] = {7, 3, 5};

/* Independent row computation: fields laid out in order, splitmix64 mod buckets. */
static int64_t ref_row(int f, uint64_t id) {
  int64_t base = 0;
  for (int g = 0; g < f; g++)
    base += BUCKETS[g];
  return base + (int64_t)(esmm__mix64(id) % (uint64_t)BUCKETS[f]);
}

static esmm_embedding *make_table(uint64_t seed) {
  esmm_embedding *e;
  ck_assert_int_eq(esmm_embedding_new(&e, NF, BUCKETS, DIM, 0.5, seed), ESMM_OK);
  return e;
}

static void assert_scratch_clean(const esmm_embedding *e) {
  for (size_t r = 0; r < e->rows; r++)
    ck_assert_msg(e->slot[r] == -1, "slot[%zu] = %d after backward", r, e->slot[r]);
}

/* A batch of 4 samples with multi-valued fields, a repeated id within a
 * field, ids shared across samples, an empty field and an empty sample;
 * offsets start at 5 to test the relative indexing. */
static const int64_t OFFS[5] = {5, 10, 10, 13, 16};
static const int FIELD[11] = {0, 0, 2, 0, 2, /* sample 1 empty */ 1, 0, 1, 2, 2, 0};
static const uint64_t ID[11] = {11, 12, 40, 11, 41, 900, 12, 901, 40, 40, 11};
static const float VALUE[11] = {1.0f, 0.5f, 2.0f, -1.5f, 0.25f, 1.0f, 3.0f, 0.75f, 1.0f, -0.5f, 2.0f};
#define NS 4
#define NNZ 11

START_TEST(shape_and_rows) {
  esmm_embedding *e = make_table(1);
  size_t nf, dim, rows;
  int64_t r;
  ck_assert_int_eq(esmm_embedding_shape(e, &nf, &dim, &rows), ESMM_OK);
  ck_assert_uint_eq(nf, NF);
  ck_assert_uint_eq(dim, DIM);
  ck_assert_uint_eq(rows, 7 + 3 + 5);
  ck_assert_int_eq(esmm_embedding_shape(e, NULL, NULL, NULL), ESMM_OK);
  for (int f = 0; f < NF; f++)
    for (uint64_t id = 0; id < 50; id++) {
      ck_assert_int_eq(esmm_embedding_row(e, f, id, &r), ESMM_OK);
      ck_assert_int_eq(r, ref_row(f, id));
    }
  esmm_embedding_free(e);
}
END_TEST

START_TEST(collisions_stay_in_field) {
  const int64_t buckets[3] = {5, 3, 4};
  esmm_embedding *e;
  int64_t r;
  ck_assert_int_eq(esmm_embedding_new(&e, 3, buckets, 2, 0.1, 3), ESMM_OK);
  for (int f = 0; f < 3; f++) {
    int64_t base = f == 0 ? 0 : f == 1 ? 5 : 8;
    int hits[5] = {0};
    for (uint64_t id = 0; id < 1000; id++) {
      ck_assert_int_eq(esmm_embedding_row(e, f, id * 7919u + (uint64_t)f, &r), ESMM_OK);
      ck_assert_msg(r >= base && r < base + buckets[f], "field %d id %llu -> row %lld", f,
                    (unsigned long long)id, (long long)r);
      hits[r - base]++;
    }
    for (int b = 0; b < buckets[f]; b++)
      ck_assert_msg(hits[b] > 100, "field %d bucket %d got %d of 1000 ids", f, b, hits[b]);
  }
  /* extreme ids too */
  ck_assert_int_eq(esmm_embedding_row(e, 1, UINT64_MAX, &r), ESMM_OK);
  ck_assert(r >= 5 && r < 8);
  esmm_embedding_free(e);
}
END_TEST

/* Hand pooling in double from the borrowed weights. */
static void ref_pool(esmm_embedding *e, const float *value, double *out) {
  float *w;
  ck_assert_int_eq(esmm_embedding_weights(e, &w), ESMM_OK);
  memset(out, 0, NS * NF * DIM * sizeof *out);
  for (int i = 0; i < NS; i++)
    for (int64_t j = OFFS[i] - OFFS[0]; j < OFFS[i + 1] - OFFS[0]; j++) {
      int64_t r = ref_row(FIELD[j], ID[j]);
      double v = value ? value[j] : 1.0;
      for (int d = 0; d < DIM; d++)
        out[(i * NF + FIELD[j]) * DIM + d] += v * w[r * DIM + d];
    }
}

START_TEST(forward_matches_hand_pooling) {
  esmm_embedding *e = make_table(2);
  float out[NS * NF * DIM];
  double ref[NS * NF * DIM];
  for (int pass = 0; pass < 2; pass++) {
    const float *value = pass == 0 ? VALUE : NULL;
    for (size_t i = 0; i < NS * NF * DIM; i++)
      out[i] = NAN; /* forward must overwrite, not accumulate */
    ck_assert_int_eq(esmm_embedding_forward(e, NS, OFFS, FIELD, ID, value, out), ESMM_OK);
    ref_pool(e, value, ref);
    for (size_t i = 0; i < NS * NF * DIM; i++)
      ck_assert_msg(fabs(out[i] - ref[i]) <= 1e-6, "pass %d out[%zu] = %g, want %g", pass, i, out[i], ref[i]);
  }
  /* empty sample and empty field pool to exact zeros */
  for (int k = 0; k < NF * DIM; k++)
    ck_assert_float_eq(out[1 * NF * DIM + k], 0.0f);
  for (int d = 0; d < DIM; d++)
    ck_assert_float_eq(out[(0 * NF + 1) * DIM + d], 0.0f); /* sample 0 has no field-1 feature */
  ck_assert_int_eq(esmm_embedding_forward(e, 0, OFFS, NULL, NULL, NULL, NULL), ESMM_OK);
  esmm_embedding_free(e);
}
END_TEST

START_TEST(init_distribution_and_seed) {
  const int64_t buckets[2] = {3000, 2000};
  esmm_embedding *a, *b, *c;
  float *wa, *wb, *wc;
  double s = 0.0, s2 = 0.0;
  const size_t n = 5000 * 8;
  ck_assert_int_eq(esmm_embedding_new(&a, 2, buckets, 8, 0.3, 9), ESMM_OK);
  ck_assert_int_eq(esmm_embedding_new(&b, 2, buckets, 8, 0.3, 9), ESMM_OK);
  ck_assert_int_eq(esmm_embedding_new(&c, 2, buckets, 8, 0.3, 10), ESMM_OK);
  esmm_embedding_weights(a, &wa);
  esmm_embedding_weights(b, &wb);
  esmm_embedding_weights(c, &wc);
  ck_assert_mem_eq(wa, wb, n * sizeof(float));
  ck_assert(memcmp(wa, wc, n * sizeof(float)) != 0);
  for (size_t i = 0; i < n; i++) {
    s += wa[i];
    s2 += (double)wa[i] * wa[i];
  }
  ck_assert(fabs(s / n) < 0.01);
  ck_assert_double_eq_tol(sqrt(s2 / n), 0.3, 0.01);
  assert_scratch_clean(a);
  esmm_embedding_free(a);
  esmm_embedding_free(b);
  esmm_embedding_free(c);
}
END_TEST

static double loss_of(esmm_embedding *e, const float *c, float *out) {
  double l = 0.0;
  ck_assert_int_eq(esmm_embedding_forward(e, NS, OFFS, FIELD, ID, VALUE, out), ESMM_OK);
  for (size_t i = 0; i < NS * NF * DIM; i++)
    l += (double)c[i] * out[i];
  return l;
}

static void fill_c(float *c) {
  unsigned st = 17;
  for (size_t i = 0; i < NS * NF * DIM; i++) {
    st = st * 1103515245u + 12345u;
    c[i] = (float)((st >> 8) & 0xffff) / 65536.0f - 0.5f;
  }
}

START_TEST(backward_finite_differences) {
  esmm_embedding *e = make_table(4);
  float c[NS * NF * DIM], out[NS * NF * DIM], grads[NNZ * DIM], *w;
  int64_t rows[NNZ];
  size_t n_rows, rows_total;
  const float eps = 1e-2f;
  fill_c(c);
  ck_assert_int_eq(esmm_embedding_backward(e, NS, OFFS, FIELD, ID, VALUE, c, rows, grads, NNZ, &n_rows),
                   ESMM_OK);
  assert_scratch_clean(e);
  esmm_embedding_weights(e, &w);
  esmm_embedding_shape(e, NULL, NULL, &rows_total);
  for (size_t r = 0; r < rows_total; r++) {
    int64_t k = -1;
    for (size_t s = 0; s < n_rows; s++)
      if (rows[s] == (int64_t)r)
        k = (int64_t)s;
    for (int d = 0; d < DIM; d++) {
      float save = w[r * DIM + d];
      double up, down, fd, got = k >= 0 ? grads[k * DIM + d] : 0.0;
      w[r * DIM + d] = save + eps;
      up = loss_of(e, c, out);
      w[r * DIM + d] = save - eps;
      down = loss_of(e, c, out);
      w[r * DIM + d] = save;
      fd = (up - down) / (2.0 * eps);
      ck_assert_msg(fabs(got - fd) <= 1e-3 * fmax(1.0, fabs(fd)), "row %zu dim %d: backward %g fd %g", r, d,
                    got, fd);
    }
  }
  esmm_embedding_free(e);
}
END_TEST

/* Distinct rows of the batch in order of first appearance, computed here. */
static size_t ref_distinct(int64_t *rows) {
  size_t n = 0;
  for (int j = 0; j < NNZ; j++) {
    int64_t r = ref_row(FIELD[j], ID[j]);
    size_t k = 0;
    while (k < n && rows[k] != r)
      k++;
    if (k == n)
      rows[n++] = r;
  }
  return n;
}

START_TEST(backward_rows_distinct_and_summed) {
  esmm_embedding *e = make_table(5);
  float c[NS * NF * DIM], grads[NNZ * DIM];
  int64_t rows[NNZ], want_rows[NNZ];
  size_t n_rows, want_n = ref_distinct(want_rows);
  fill_c(c);
  ck_assert_int_eq(esmm_embedding_backward(e, NS, OFFS, FIELD, ID, VALUE, c, rows, grads, NNZ, &n_rows),
                   ESMM_OK);
  ck_assert_uint_eq(n_rows, want_n);
  ck_assert_uint_lt(n_rows, NNZ); /* the batch does repeat rows */
  for (size_t k = 0; k < n_rows; k++) {
    ck_assert_int_eq(rows[k], want_rows[k]);
    for (int d = 0; d < DIM; d++) {
      double sum = 0.0;
      for (int i = 0; i < NS; i++)
        for (int64_t j = OFFS[i] - OFFS[0]; j < OFFS[i + 1] - OFFS[0]; j++)
          if (ref_row(FIELD[j], ID[j]) == rows[k])
            sum += (double)VALUE[j] * c[(i * NF + FIELD[j]) * DIM + d];
      ck_assert_msg(fabs(grads[k * DIM + d] - sum) <= 1e-5, "row %lld dim %d: %g want %g", (long long)rows[k],
                    d, grads[k * DIM + d], sum);
    }
  }
  esmm_embedding_free(e);
}
END_TEST

START_TEST(backward_ebufs_and_clean_scratch) {
  esmm_embedding *e = make_table(6);
  float c[NS * NF * DIM], g1[NNZ * DIM], g2[NNZ * DIM], small_g[2 * DIM];
  int64_t r1[NNZ], r2[NNZ], small_r[2], want_rows[NNZ];
  size_t n1, n2, need = 0, want_n = ref_distinct(want_rows);
  fill_c(c);
  ck_assert_int_eq(esmm_embedding_backward(e, NS, OFFS, FIELD, ID, VALUE, c, r1, g1, NNZ, &n1), ESMM_OK);
  /* query with no buffer, then with one too small: the needed count either way */
  ck_assert_fails(esmm_embedding_backward(e, NS, OFFS, FIELD, ID, VALUE, c, NULL, NULL, 0, &need), ESMM_EBUFS,
                  "esmm_embedding_backward");
  ck_assert_uint_eq(need, want_n);
  assert_scratch_clean(e);
  need = 0;
  ck_assert_fails(esmm_embedding_backward(e, NS, OFFS, FIELD, ID, VALUE, c, small_r, small_g, 2, &need),
                  ESMM_EBUFS, "esmm_embedding_backward");
  ck_assert_uint_eq(need, want_n);
  assert_scratch_clean(e);
  /* exactly enough room */
  ck_assert_int_eq(esmm_embedding_backward(e, NS, OFFS, FIELD, ID, VALUE, c, r2, g2, want_n, &n2), ESMM_OK);
  ck_assert_uint_eq(n2, n1);
  ck_assert_mem_eq(r1, r2, n1 * sizeof *r1);
  ck_assert_mem_eq(g1, g2, n1 * DIM * sizeof *g1);
  assert_scratch_clean(e);
  /* an empty batch needs no room */
  ck_assert_int_eq(esmm_embedding_backward(e, 0, OFFS, NULL, NULL, NULL, NULL, NULL, NULL, 0, &n2), ESMM_OK);
  ck_assert_uint_eq(n2, 0);
  esmm_embedding_free(e);
}
END_TEST

START_TEST(internal_scatter) {
  esmm_embedding *e = make_table(7);
  const int field[3] = {0, 0, 2};
  const uint64_t id[3] = {5, 5, 6};
  float gp[NF * DIM], g[DIM];
  int64_t rows[1];
  esmm__sparse_grad sg = {0, 1, rows, g};
  for (int k = 0; k < NF * DIM; k++)
    gp[k] = (float)k;
  ck_assert_int_eq(esmm__embedding_scatter(e, 2, field, id, NULL, gp, &sg), ESMM_OK);
  ck_assert_uint_eq(sg.n, 1);
  ck_assert_int_eq(rows[0], ref_row(0, 5));
  for (int d = 0; d < DIM; d++)
    ck_assert_float_eq(g[d], 2.0f * (float)d);
  ck_assert_int_eq(esmm__embedding_scatter(e, 3, field, id, NULL, gp, &sg), ESMM_EBUFS);
  esmm__embedding_scatter_end(e, &sg);
  ck_assert_uint_eq(sg.n, 0);
  assert_scratch_clean(e);
  esmm_embedding_free(e);
}
END_TEST

START_TEST(bad_args_new_and_accessors) {
  const int64_t zero[2] = {3, 0}, neg[2] = {3, -1}, huge[2] = {(int64_t)1 << 40, 1};
  const char *fn = "esmm_embedding_new";
  esmm_embedding *e = (esmm_embedding *)&e;
  float *w;
  int64_t r;
  size_t sz;
  ck_assert_fails(esmm_embedding_new(NULL, NF, BUCKETS, DIM, 0.1, 1), ESMM_EINVAL, fn);
  ck_assert_fails(esmm_embedding_new(&e, NF, NULL, DIM, 0.1, 1), ESMM_EINVAL, fn);
  ck_assert_ptr_null(e);
  ck_assert_fails(esmm_embedding_new(&e, 0, BUCKETS, DIM, 0.1, 1), ESMM_EINVAL, fn);
  ck_assert_fails(esmm_embedding_new(&e, 2, zero, DIM, 0.1, 1), ESMM_EINVAL, fn);
  ck_assert_fails(esmm_embedding_new(&e, 2, neg, DIM, 0.1, 1), ESMM_EINVAL, fn);
  ck_assert_fails(esmm_embedding_new(&e, 2, huge, DIM, 0.1, 1), ESMM_EINVAL, fn);
  ck_assert_fails(esmm_embedding_new(&e, NF, BUCKETS, 0, 0.1, 1), ESMM_EINVAL, fn);
  ck_assert_fails(esmm_embedding_new(&e, NF, BUCKETS, DIM, -0.1, 1), ESMM_EINVAL, fn);
  ck_assert_fails(esmm_embedding_new(&e, NF, BUCKETS, DIM, NAN, 1), ESMM_EINVAL, fn);
  ck_assert_fails(esmm_embedding_new(&e, NF, BUCKETS, DIM, INFINITY, 1), ESMM_EINVAL, fn);
  e = make_table(8);
  ck_assert_fails(esmm_embedding_shape(NULL, &sz, &sz, &sz), ESMM_EINVAL, "esmm_embedding_shape");
  ck_assert_fails(esmm_embedding_row(NULL, 0, 1, &r), ESMM_EINVAL, "esmm_embedding_row");
  ck_assert_fails(esmm_embedding_row(e, 0, 1, NULL), ESMM_EINVAL, "esmm_embedding_row");
  ck_assert_fails(esmm_embedding_row(e, -1, 1, &r), ESMM_EINVAL, "esmm_embedding_row");
  ck_assert_fails(esmm_embedding_row(e, NF, 1, &r), ESMM_EINVAL, "esmm_embedding_row");
  ck_assert(strstr(esmm_last_error(), "field 3 out of range [0, 3)") != NULL);
  ck_assert_fails(esmm_embedding_weights(NULL, &w), ESMM_EINVAL, "esmm_embedding_weights");
  ck_assert_fails(esmm_embedding_weights(e, NULL), ESMM_EINVAL, "esmm_embedding_weights");
  esmm_embedding_free(e);
  esmm_embedding_free(NULL);
}
END_TEST

START_TEST(bad_args_forward_backward) {
  esmm_embedding *e = make_table(9);
  const int64_t decreasing[3] = {0, 2, 1}, negative[2] = {-1, 1}, ok2[2] = {0, 2};
  const int bad_field[2] = {0, 3}, neg_field[2] = {-1, 0}, good_field[2] = {0, 1};
  const uint64_t id2[2] = {1, 2};
  const float nan_value[2] = {1.0f, NAN}, inf_value[2] = {INFINITY, 1.0f};
  float out[2 * NF * DIM], grad[2 * NF * DIM] = {0}, g[2 * DIM];
  int64_t rows[2];
  size_t n_rows;
  const char *ff = "esmm_embedding_forward", *fb = "esmm_embedding_backward";
  ck_assert_fails(esmm_embedding_forward(NULL, 1, ok2, good_field, id2, NULL, out), ESMM_EINVAL, ff);
  ck_assert_fails(esmm_embedding_forward(e, 1, NULL, good_field, id2, NULL, out), ESMM_EINVAL, ff);
  ck_assert_fails(esmm_embedding_forward(e, 1, ok2, NULL, id2, NULL, out), ESMM_EINVAL, ff);
  ck_assert_fails(esmm_embedding_forward(e, 1, ok2, good_field, NULL, NULL, out), ESMM_EINVAL, ff);
  ck_assert_fails(esmm_embedding_forward(e, 1, ok2, good_field, id2, NULL, NULL), ESMM_EINVAL, ff);
  ck_assert_fails(esmm_embedding_forward(e, 2, decreasing, good_field, id2, NULL, out), ESMM_EINVAL, ff);
  ck_assert_fails(esmm_embedding_forward(e, 1, negative, good_field, id2, NULL, out), ESMM_EINVAL, ff);
  ck_assert_fails(esmm_embedding_forward(e, 1, ok2, bad_field, id2, NULL, out), ESMM_EINVAL, ff);
  ck_assert(strstr(esmm_last_error(), "out of range [0, 3)") != NULL);
  ck_assert_fails(esmm_embedding_forward(e, 1, ok2, neg_field, id2, NULL, out), ESMM_EINVAL, ff);
  ck_assert_fails(esmm_embedding_forward(e, 1, ok2, good_field, id2, nan_value, out), ESMM_EINVAL, ff);
  ck_assert_fails(esmm_embedding_forward(e, 1, ok2, good_field, id2, inf_value, out), ESMM_EINVAL, ff);

  ck_assert_fails(esmm_embedding_backward(NULL, 1, ok2, good_field, id2, NULL, grad, rows, g, 2, &n_rows),
                  ESMM_EINVAL, fb);
  ck_assert_fails(esmm_embedding_backward(e, 1, NULL, good_field, id2, NULL, grad, rows, g, 2, &n_rows),
                  ESMM_EINVAL, fb);
  ck_assert_fails(esmm_embedding_backward(e, 1, ok2, NULL, id2, NULL, grad, rows, g, 2, &n_rows), ESMM_EINVAL,
                  fb);
  ck_assert_fails(esmm_embedding_backward(e, 1, ok2, good_field, NULL, NULL, grad, rows, g, 2, &n_rows),
                  ESMM_EINVAL, fb);
  ck_assert_fails(esmm_embedding_backward(e, 1, ok2, good_field, id2, NULL, NULL, rows, g, 2, &n_rows),
                  ESMM_EINVAL, fb);
  ck_assert_fails(esmm_embedding_backward(e, 1, ok2, good_field, id2, NULL, grad, NULL, g, 2, &n_rows),
                  ESMM_EINVAL, fb);
  ck_assert_fails(esmm_embedding_backward(e, 1, ok2, good_field, id2, NULL, grad, rows, NULL, 2, &n_rows),
                  ESMM_EINVAL, fb);
  ck_assert_fails(esmm_embedding_backward(e, 1, ok2, good_field, id2, NULL, grad, rows, g, 2, NULL),
                  ESMM_EINVAL, fb);
  ck_assert_fails(esmm_embedding_backward(e, 2, decreasing, good_field, id2, NULL, grad, rows, g, 2, &n_rows),
                  ESMM_EINVAL, fb);
  ck_assert_fails(esmm_embedding_backward(e, 1, ok2, bad_field, id2, NULL, grad, rows, g, 2, &n_rows),
                  ESMM_EINVAL, fb);
  ck_assert_fails(esmm_embedding_backward(e, 1, ok2, good_field, id2, nan_value, grad, rows, g, 2, &n_rows),
                  ESMM_EINVAL, fb);
  grad[5] = NAN;
  ck_assert_fails(esmm_embedding_backward(e, 1, ok2, good_field, id2, NULL, grad, rows, g, 2, &n_rows),
                  ESMM_EINVAL, fb);
  assert_scratch_clean(e);
  esmm_embedding_free(e);
}
END_TEST

/* One creation with the counting allocator (test_enomem_walk). */
static int create_counted(test_counter *cnt, void *ctx) {
  esmm__allocator a = {test_counting_alloc, test_counting_free, cnt};
  esmm_embedding *e = (esmm_embedding *)ctx;
  int rc = esmm__embedding_create(&e, &a, NF, BUCKETS, DIM, 0.1, 1);
  if (rc == ESMM_OK)
    esmm_embedding_free(e);
  else
    ck_assert_ptr_null(e);
  return rc;
}

START_TEST(allocation_failures_clean_up) {
  int poison; /* the output starts non-NULL: a failure must set it NULL */
  test_enomem_walk(create_counted, &poison, 15, "esmm__embedding_create");
}
END_TEST

static Suite *embedding_suite(void) {
  Suite *s = suite_create("embedding");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, shape_and_rows);
  tcase_add_test(tc, collisions_stay_in_field);
  tcase_add_test(tc, forward_matches_hand_pooling);
  tcase_add_test(tc, init_distribution_and_seed);
  tcase_add_test(tc, backward_finite_differences);
  tcase_add_test(tc, backward_rows_distinct_and_summed);
  tcase_add_test(tc, backward_ebufs_and_clean_scratch);
  tcase_add_test(tc, internal_scatter);
  tcase_add_test(tc, bad_args_new_and_accessors);
  tcase_add_test(tc, bad_args_forward_backward);
  tcase_add_test(tc, allocation_failures_clean_up);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return test_main(embedding_suite()); }
