/* check_dataset.c - rows, commons, stats, labels, truths, validation with
 * nothing appended on failure, growth (doubling and reserved), allocator
 * hooks; the data report of a dataset built in memory and its (pointer,
 * size) contract; rows added after a read keep the provenance columns
 * aligned. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dataset.h"
#include "support/support.h"

/* A snapshot of everything observable, to prove a failed call changed
 * nothing. */
typedef struct snap {
  int64_t stat[10];
  uint64_t digest;
} snap;

static uint64_t mixin(uint64_t h, uint64_t x) { return (h ^ x) * 1099511628211ULL + 0x9e3779b97f4a7c15ULL; }

static snap take(const esmm_dataset *ds) {
  snap s;
  memset(&s, 0, sizeof s);
  for (int k = 0; k < 10; k++)
    ck_assert_int_eq(esmm_dataset_stat(ds, k, &s.stat[k]), ESMM_OK);
  s.digest = 1469598103934665603ULL;
  for (int64_t i = 0; i < s.stat[ESMM_DS_ROWS]; i++) {
    int y, z;
    int64_t c;
    size_t n;
    const int *f;
    const uint64_t *id;
    const float *v;
    ck_assert_int_eq(esmm_dataset_row(ds, (size_t)i, &y, &z, &c, &n, &f, &id, &v), ESMM_OK);
    s.digest = mixin(mixin(mixin(mixin(s.digest, (uint64_t)y), (uint64_t)z), (uint64_t)c), n);
    for (size_t k = 0; k < n; k++) {
      uint32_t bits;
      memcpy(&bits, &v[k], 4);
      s.digest = mixin(mixin(mixin(s.digest, (uint64_t)f[k]), id[k]), bits);
    }
  }
  for (int64_t c = 0; c < s.stat[ESMM_DS_COMMONS]; c++) {
    size_t n;
    const int *f;
    const uint64_t *id;
    const float *v;
    ck_assert_int_eq(esmm_dataset_common(ds, (size_t)c, &n, &f, &id, &v), ESMM_OK);
    for (size_t k = 0; k < n; k++)
      s.digest = mixin(mixin(s.digest, (uint64_t)f[k]), id[k]);
  }
  return s;
}

static void same(snap a, snap b) {
  for (int k = 0; k < 10; k++)
    ck_assert_int_eq(a.stat[k], b.stat[k]);
  ck_assert(a.digest == b.digest);
}

static esmm_dataset *small(void) {
  /* two commons, four rows */
  esmm_dataset *ds;
  int cf[3] = {0, 1, 9};
  uint64_t cid[3] = {7, 3, 42};
  float cv[3] = {1.0f, 1.0f, 0.6931472f};
  int click[4] = {1, 0, 1, 0}, conv[4] = {1, 0, 0, 1};
  int64_t common[4] = {0, 0, -1, 1};
  int64_t off[5] = {0, 2, 2, 5, 6};
  int f[6] = {13, 14, 13, 16, 16, 22};
  uint64_t id[6] = {100, 5, 101, UINT64_MAX, 4294967296ULL, 3};
  float v[6] = {1, 1, 1, 0.5f, 2.5f, 1};
  int64_t idx;
  ck_assert_int_eq(esmm_dataset_new(&ds, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_add_common(ds, 3, cf, cid, cv, &idx), ESMM_OK);
  ck_assert_int_eq(idx, 0);
  ck_assert_int_eq(esmm_dataset_add_common(ds, 1, cf, cid, NULL, &idx), ESMM_OK);
  ck_assert_int_eq(idx, 1);
  ck_assert_int_eq(esmm_dataset_add_rows(ds, 4, click, conv, common, off, f, id, v), ESMM_OK);
  return ds;
}

START_TEST(stats_rows_commons) {
  esmm_dataset *ds = small();
  int64_t v;
  int y, z, yy[4], zz[4];
  int64_t c;
  size_t n;
  const int *f;
  const uint64_t *id;
  const float *val;
  const char *name;
  const int64_t expect[10] = {4, 2, 2, 1, 1, 2, 6, 4, 3, 23};
  for (int k = 0; k < 10; k++) {
    ck_assert_int_eq(esmm_dataset_stat(ds, k, &v), ESMM_OK);
    ck_assert_int_eq(v, expect[k]);
  }
  ck_assert_int_eq(esmm_dataset_stat(ds, ESMM_DS_SKIPPED_LISTED + 1, &v), ESMM_EINVAL); /* first unknown key */
  ck_assert_int_eq(esmm_dataset_stat(ds, -1, &v), ESMM_EINVAL);
  ck_assert_int_eq(esmm_dataset_stat(NULL, 0, &v), ESMM_EINVAL);
  ck_assert_int_eq(esmm_dataset_stat(ds, 0, NULL), ESMM_EINVAL);

  ck_assert_int_eq(esmm_dataset_row(ds, 2, &y, &z, &c, &n, &f, &id, &val), ESMM_OK);
  ck_assert(y == 1 && z == 0 && c == -1 && n == 3);
  ck_assert(f[0] == 13 && f[1] == 16 && f[2] == 16);
  ck_assert(id[0] == 101 && id[1] == UINT64_MAX && id[2] == 4294967296ULL);
  ck_assert(val[0] == 1.0f && val[1] == 0.5f && val[2] == 2.5f);
  ck_assert_int_eq(esmm_dataset_row(ds, 1, &y, &z, &c, &n, NULL, NULL, NULL), ESMM_OK);
  ck_assert(y == 0 && z == 0 && c == 0 && n == 0);
  ck_assert_int_eq(esmm_dataset_row(ds, 3, NULL, NULL, &c, &n, &f, &id, &val), ESMM_OK);
  ck_assert(c == 1 && n == 1 && f[0] == 22 && id[0] == 3);
  ck_assert_int_eq(esmm_dataset_row(ds, 4, &y, NULL, NULL, NULL, NULL, NULL, NULL), ESMM_EINVAL);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "row 4 out of range"));

  ck_assert_int_eq(esmm_dataset_common(ds, 0, &n, &f, &id, &val), ESMM_OK);
  ck_assert(n == 3 && f[2] == 9 && id[2] == 42 && val[2] == 0.6931472f);
  ck_assert_int_eq(esmm_dataset_common(ds, 1, &n, &f, &id, &val), ESMM_OK);
  ck_assert(n == 1 && f[0] == 0 && id[0] == 7 && val[0] == 1.0f);
  ck_assert_int_eq(esmm_dataset_common(ds, 2, &n, NULL, NULL, NULL), ESMM_EINVAL);

  memset(yy, 0x55, sizeof yy);
  memset(zz, 0x55, sizeof zz);
  ck_assert_int_eq(esmm_dataset_labels(ds, 1, 3, yy, zz), ESMM_OK);
  ck_assert(yy[0] == 0 && yy[1] == 1 && yy[2] == 0 && zz[0] == 0 && zz[1] == 0 && zz[2] == 1);
  ck_assert_int_eq(yy[3], 0x55555555);
  ck_assert_int_eq(esmm_dataset_labels(ds, 0, 4, NULL, zz), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_labels(ds, 2, 3, yy, zz), ESMM_EINVAL);
  ck_assert_int_eq(esmm_dataset_labels(ds, SIZE_MAX, 2, yy, zz), ESMM_EINVAL);
  ck_assert_int_eq(esmm_dataset_labels(ds, 4, 0, yy, zz), ESMM_OK);

  ck_assert_int_eq(esmm_dataset_field_name(ds, 0, &name), ESMM_OK);
  ck_assert_str_eq(name, "101");
  ck_assert_int_eq(esmm_dataset_field_name(ds, 12, &name), ESMM_OK);
  ck_assert_str_eq(name, "150_14");
  ck_assert_int_eq(esmm_dataset_field_name(ds, 22, &name), ESMM_OK);
  ck_assert_str_eq(name, "301");
  ck_assert_int_eq(esmm_dataset_field_name(ds, 23, &name), ESMM_EINVAL);

  /* own 3 + common 3 (row 0: own 2 + common 3 = 5; row 2: 3) */
  ck_assert_uint_eq(esmm__dataset_max_row_nnz(ds), 5);
  esmm_dataset_free(ds);
  esmm_dataset_free(NULL);
}
END_TEST

START_TEST(fields_follow_config) {
  esmm_config *cfg, *other;
  esmm_dataset *ds;
  const char *names[3] = {"a", "b_2", "C"};
  const char *name;
  int64_t v;
  ck_assert_int_eq(esmm_config_new(&cfg), ESMM_OK);
  ck_assert_int_eq(esmm_config_new(&other), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_fields(cfg, 3, names, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_new(&ds, cfg), ESMM_OK);
  esmm_config_free(cfg); /* the dataset keeps its own copy */
  ck_assert_int_eq(esmm_dataset_stat(ds, ESMM_DS_FIELDS, &v), ESMM_OK);
  ck_assert_int_eq(v, 3);
  ck_assert_int_eq(esmm_dataset_field_name(ds, 1, &name), ESMM_OK);
  ck_assert_str_eq(name, "b_2");
  ck_assert(!esmm__dataset_fields_match(ds, other));
  ck_assert_int_eq(esmm_config_set_fields(other, 3, names, NULL), ESMM_OK);
  ck_assert(esmm__dataset_fields_match(ds, other));
  ck_assert_uint_eq(esmm__dataset_max_row_nnz(ds), 0);
  esmm_config_free(other);
  esmm_dataset_free(ds);
  ck_assert_int_eq(esmm_dataset_new(NULL, NULL), ESMM_EINVAL);
}
END_TEST

/* Each bad input: exact status and message, and the dataset unchanged. */
START_TEST(add_rows_validation) {
  esmm_dataset *ds = small();
  snap before = take(ds);
  int click[4] = {1, 0, 1, 0}, conv[4] = {0, 0, 1, 0};
  int64_t common[4] = {-1, 0, 1, -1};
  int64_t off[5] = {0, 1, 2, 4, 5};
  int f[5] = {13, 14, 15, 16, 22};
  uint64_t id[5] = {1, 2, 3, 4, 5};
  float v[5] = {1, 2, 3, 4, 5};

  /* the valid input works on a copy of the same state */
  {
    esmm_dataset *ok = small();
    ck_assert_int_eq(esmm_dataset_add_rows(ok, 4, click, conv, common, off, f, id, v), ESMM_OK);
    esmm_dataset_free(ok);
  }

  click[3] = 2;
  ck_assert_int_eq(esmm_dataset_add_rows(ds, 4, click, conv, common, off, f, id, v), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_dataset_add_rows: row 3: click must be 0 or 1, got 2");
  same(before, take(ds));
  click[3] = 0;

  conv[1] = -1;
  ck_assert_int_eq(esmm_dataset_add_rows(ds, 4, click, conv, common, off, f, id, v), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_dataset_add_rows: row 1: conversion must be 0 or 1, got -1");
  same(before, take(ds));
  conv[1] = 0;

  f[3] = 23; /* row 2 owns features 2..3 */
  ck_assert_int_eq(esmm_dataset_add_rows(ds, 4, click, conv, common, off, f, id, v), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_dataset_add_rows: row 2: field index 23 out of range [0, 23)");
  same(before, take(ds));
  f[3] = -1;
  ck_assert_int_eq(esmm_dataset_add_rows(ds, 4, click, conv, common, off, f, id, v), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_dataset_add_rows: row 2: field index -1 out of range [0, 23)");
  same(before, take(ds));
  f[3] = 16;

  common[2] = 2;
  ck_assert_int_eq(esmm_dataset_add_rows(ds, 4, click, conv, common, off, f, id, v), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_dataset_add_rows: row 2: common index 2 out of range (2 common lists)");
  same(before, take(ds));
  common[2] = -2;
  ck_assert_int_eq(esmm_dataset_add_rows(ds, 4, click, conv, common, off, f, id, v), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_dataset_add_rows: row 2: common index -2 out of range (2 common lists)");
  same(before, take(ds));
  common[2] = 1;

  off[0] = 1;
  ck_assert_int_eq(esmm_dataset_add_rows(ds, 4, click, conv, common, off, f, id, v), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_dataset_add_rows: offsets[0] must be 0, got 1");
  same(before, take(ds));
  off[0] = 0;
  off[2] = 0;
  ck_assert_int_eq(esmm_dataset_add_rows(ds, 4, click, conv, common, off, f, id, v), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_dataset_add_rows: row 1: offsets decrease (0 after 1)");
  same(before, take(ds));
  off[2] = 2;

  v[4] = NAN;
  ck_assert_int_eq(esmm_dataset_add_rows(ds, 4, click, conv, common, off, f, id, v), ESMM_ENUMERIC);
  ck_assert_str_eq(esmm_last_error(), "esmm_dataset_add_rows: row 3: value nan is not finite");
  same(before, take(ds));
  v[4] = -INFINITY;
  ck_assert_int_eq(esmm_dataset_add_rows(ds, 4, click, conv, common, off, f, id, v), ESMM_ENUMERIC);
  ck_assert_str_eq(esmm_last_error(), "esmm_dataset_add_rows: row 3: value -inf is not finite");
  same(before, take(ds));
  v[4] = 5;

  ck_assert_int_eq(esmm_dataset_add_rows(ds, 4, NULL, conv, common, off, f, id, v), ESMM_EINVAL);
  ck_assert_int_eq(esmm_dataset_add_rows(ds, 4, click, conv, common, NULL, f, id, v), ESMM_EINVAL);
  ck_assert_int_eq(esmm_dataset_add_rows(ds, 4, click, conv, common, off, NULL, id, v), ESMM_EINVAL);
  ck_assert_int_eq(esmm_dataset_add_rows(NULL, 4, click, conv, common, off, f, id, v), ESMM_EINVAL);
  same(before, take(ds));
  ck_assert_int_eq(esmm_dataset_add_rows(ds, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL), ESMM_OK);
  same(before, take(ds));

  /* rows without features and without commons: field/id may be NULL */
  {
    int64_t z[3] = {0, 0, 0};
    int64_t rows;
    ck_assert_int_eq(esmm_dataset_add_rows(ds, 2, click, conv, NULL, z, NULL, NULL, NULL), ESMM_OK);
    esmm_dataset_stat(ds, ESMM_DS_ROWS, &rows);
    ck_assert_int_eq(rows, 6);
    esmm_dataset_stat(ds, ESMM_DS_ROWS_WITH_COMMON, &rows);
    ck_assert_int_eq(rows, 3);
  }
  esmm_dataset_free(ds);
}
END_TEST

START_TEST(add_common_validation) {
  esmm_dataset *ds = small();
  snap before = take(ds);
  int f[3] = {0, 99, 1};
  uint64_t id[3] = {1, 2, 3};
  float v[3] = {1, 1, INFINITY};
  int64_t idx = -7;
  ck_assert_int_eq(esmm_dataset_add_common(ds, 3, f, id, v, &idx), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_dataset_add_common: feature 1: field index 99 out of range [0, 23)");
  ck_assert_int_eq(idx, -7);
  same(before, take(ds));
  f[1] = 2;
  ck_assert_int_eq(esmm_dataset_add_common(ds, 3, f, id, v, &idx), ESMM_ENUMERIC);
  ck_assert_str_eq(esmm_last_error(), "esmm_dataset_add_common: feature 2: value inf is not finite");
  same(before, take(ds));
  ck_assert_int_eq(esmm_dataset_add_common(ds, 3, NULL, id, v, &idx), ESMM_EINVAL);
  ck_assert_int_eq(esmm_dataset_add_common(NULL, 0, NULL, NULL, NULL, &idx), ESMM_EINVAL);
  same(before, take(ds));
  /* an empty common list is valid */
  ck_assert_int_eq(esmm_dataset_add_common(ds, 0, NULL, NULL, NULL, &idx), ESMM_OK);
  ck_assert_int_eq(idx, 2);
  {
    size_t n = 9;
    ck_assert_int_eq(esmm_dataset_common(ds, 2, &n, NULL, NULL, NULL), ESMM_OK);
    ck_assert_uint_eq(n, 0);
  }
  esmm_dataset_free(ds);
}
END_TEST

START_TEST(truth_columns) {
  esmm_dataset *ds = small();
  float t[4] = {0.0f, 0.25f, 1.0f, 0.125f}, got[4];
  float bad[4] = {0.1f, 1.5f, 0.2f, 0.3f};
  ck_assert_int_eq(esmm_dataset_truth(ds, ESMM_TRUTH_CTR, 0, 4, got), ESMM_ESTATE);
  ck_assert_int_eq(esmm_dataset_set_truth(ds, ESMM_TRUTH_CTR, t, 3), ESMM_EINVAL);
  ck_assert_int_eq(esmm_dataset_set_truth(ds, ESMM_TRUTH_CTR, bad, 4), ESMM_EINVAL);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "row 1"));
  bad[1] = NAN;
  ck_assert_int_eq(esmm_dataset_set_truth(ds, ESMM_TRUTH_CTR, bad, 4), ESMM_EINVAL);
  bad[1] = -0.01f;
  ck_assert_int_eq(esmm_dataset_set_truth(ds, ESMM_TRUTH_CTR, bad, 4), ESMM_EINVAL);
  ck_assert_int_eq(esmm_dataset_set_truth(ds, ESMM_TRUTH_COUNT, t, 4), ESMM_EINVAL);
  ck_assert_int_eq(esmm_dataset_set_truth(ds, -1, t, 4), ESMM_EINVAL);
  ck_assert_int_eq(esmm_dataset_set_truth(ds, ESMM_TRUTH_CTR, NULL, 4), ESMM_EINVAL);
  ck_assert_int_eq(esmm_dataset_truth(ds, ESMM_TRUTH_CTR, 0, 4, got), ESMM_ESTATE);

  ck_assert_int_eq(esmm_dataset_set_truth(ds, ESMM_TRUTH_CVR_CF, t, 4), ESMM_OK);
  t[0] = 0.5f; /* the column is a copy */
  ck_assert_int_eq(esmm_dataset_truth(ds, ESMM_TRUTH_CVR_CF, 1, 3, got), ESMM_OK);
  ck_assert(got[0] == 0.25f && got[1] == 1.0f && got[2] == 0.125f);
  ck_assert_int_eq(esmm_dataset_truth(ds, ESMM_TRUTH_CVR_CF, 0, 1, got), ESMM_OK);
  ck_assert(got[0] == 0.0f);
  ck_assert_int_eq(esmm_dataset_truth(ds, ESMM_TRUTH_CVR_CF, 2, 3, got), ESMM_EINVAL);
  ck_assert_int_eq(esmm_dataset_truth(ds, 7, 0, 1, got), ESMM_EINVAL);
  ck_assert_int_eq(esmm_dataset_truth(ds, ESMM_TRUTH_CVR, 0, 1, got), ESMM_ESTATE);
  /* replace */
  ck_assert_int_eq(esmm_dataset_set_truth(ds, ESMM_TRUTH_CVR_CF, t, 4), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_truth(ds, ESMM_TRUTH_CVR_CF, 0, 1, got), ESMM_OK);
  ck_assert(got[0] == 0.5f);
  /* appending rows makes the column stale: it is dropped */
  {
    int y = 0, z = 0;
    int64_t off[2] = {0, 0};
    ck_assert_int_eq(esmm_dataset_add_rows(ds, 1, &y, &z, NULL, off, NULL, NULL, NULL), ESMM_OK);
    ck_assert_int_eq(esmm_dataset_truth(ds, ESMM_TRUTH_CVR_CF, 0, 1, got), ESMM_ESTATE);
  }
  esmm_dataset_free(ds);
}
END_TEST

/* Many appends of random sizes (forcing repeated growth) against a plain
 * reference copy kept by the test. */
START_TEST(growth_matches_reference) {
  enum { ROWS = 20000 };
  esmm_dataset *ds;
  int *ry = malloc(ROWS * sizeof *ry), *rz = malloc(ROWS * sizeof *rz);
  int64_t *rc = malloc(ROWS * sizeof *rc);
  size_t *rn = malloc(ROWS * sizeof *rn), done = 0, n_common = 0;
  uint64_t st = 12345;
  ck_assert_int_eq(esmm_dataset_new(&ds, NULL), ESMM_OK);
  while (done < ROWS) {
    int y[64], z[64], f[64 * 8];
    int64_t c[64], off[65];
    uint64_t id[64 * 8];
    float v[64 * 8];
    size_t n, k = 0;
    st = st * 6364136223846793005ULL + 1442695040888963407ULL;
    n = 1 + (st >> 58);
    if (n > ROWS - done)
      n = ROWS - done;
    if ((st >> 20) % 3 == 0) {
      int cf = 5;
      uint64_t cid = n_common;
      ck_assert_int_eq(esmm_dataset_add_common(ds, 1, &cf, &cid, NULL, NULL), ESMM_OK);
      n_common++;
    }
    off[0] = 0;
    for (size_t i = 0; i < n; i++) {
      size_t r = done + i, m = (r * 7) % 9;
      y[i] = ry[r] = (int)(r % 3 == 0);
      z[i] = rz[r] = (int)(r % 5 == 0);
      c[i] = rc[r] = n_common && r % 2 ? (int64_t)(r % n_common) : -1;
      rn[r] = m;
      for (size_t j = 0; j < m; j++, k++) {
        f[k] = (int)((r + j) % 23);
        id[k] = r * 1000003ULL + j;
        v[k] = (float)j * 0.5f;
      }
      off[i + 1] = (int64_t)k;
    }
    ck_assert_int_eq(esmm_dataset_add_rows(ds, n, y, z, c, off, f, id, v), ESMM_OK);
    done += n;
  }
  {
    int64_t clicks = 0, convs = 0, feats = 0, got;
    for (size_t r = 0; r < ROWS; r++) {
      int y, z;
      int64_t c;
      size_t n;
      const int *f;
      const uint64_t *id;
      const float *v;
      ck_assert_int_eq(esmm_dataset_row(ds, r, &y, &z, &c, &n, &f, &id, &v), ESMM_OK);
      ck_assert(y == ry[r] && z == rz[r] && c == rc[r] && n == rn[r]);
      for (size_t j = 0; j < n; j++)
        ck_assert(f[j] == (int)((r + j) % 23) && id[j] == r * 1000003ULL + j && v[j] == (float)j * 0.5f);
      clicks += ry[r];
      convs += rz[r];
      feats += (int64_t)rn[r];
    }
    esmm_dataset_stat(ds, ESMM_DS_CLICKS, &got);
    ck_assert_int_eq(got, clicks);
    esmm_dataset_stat(ds, ESMM_DS_CONVERSIONS, &got);
    ck_assert_int_eq(got, convs);
    esmm_dataset_stat(ds, ESMM_DS_FEATURES, &got);
    ck_assert_int_eq(got, feats);
    esmm_dataset_stat(ds, ESMM_DS_COMMONS, &got);
    ck_assert_int_eq(got, (int64_t)n_common);
    for (size_t c = 0; c < n_common; c++) {
      const uint64_t *id;
      size_t n;
      ck_assert_int_eq(esmm_dataset_common(ds, c, &n, NULL, &id, NULL), ESMM_OK);
      ck_assert(n == 1 && id[0] == c);
    }
  }
  esmm_dataset_free(ds);
  free(ry);
  free(rz);
  free(rc);
  free(rn);
}
END_TEST

START_TEST(allocator_hook_and_enomem) {
  test_counter cnt = TEST_COUNTER_INIT;
  esmm_config *cfg;
  esmm_dataset *ds;
  snap before;
  enum { N = 5000 };
  int *y = calloc(N, sizeof *y), *z = calloc(N, sizeof *z), *f = calloc(N, sizeof *f);
  int64_t *off = calloc(N + 1, sizeof *off);
  uint64_t *id = calloc(N, sizeof *id);
  for (int i = 0; i <= N; i++)
    off[i] = i;
  ck_assert_int_eq(esmm_config_new(&cfg), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_allocator(cfg, test_counting_alloc, test_counting_free, &cnt), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_new(&ds, cfg), ESMM_OK);
  ck_assert_int_gt(cnt.live, 0);
  ck_assert_int_eq(esmm_dataset_add_rows(ds, 10, y, z, NULL, off, f, id, NULL), ESMM_OK);
  before = take(ds);
  cnt.fail_from = cnt.calls; /* growth to N rows needs new arrays */
  ck_assert_int_eq(esmm_dataset_add_rows(ds, N, y, z, NULL, off, f, id, NULL), ESMM_ENOMEM);
  same(before, take(ds));
  cnt.fail_from = -1;
  ck_assert_int_eq(esmm_dataset_add_rows(ds, N, y, z, NULL, off, f, id, NULL), ESMM_OK);
  esmm_dataset_free(ds);
  ck_assert_int_eq(cnt.live, 0);
  cnt.fail_from = cnt.calls;
  ds = (esmm_dataset *)&cnt;
  ck_assert_int_eq(esmm_dataset_new(&ds, cfg), ESMM_ENOMEM);
  ck_assert_ptr_null(ds);
  esmm_config_free(cfg);
  free(y);
  free(z);
  free(f);
  free(off);
  free(id);
}
END_TEST

/* Dense inputs: width from ESMM_OPT_DENSE_FEATURES, kept across growth,
 * 0 for rows not set, stats. */
START_TEST(dense_grows_with_rows) {
  esmm_config *c;
  esmm_dataset *ds;
  int y[1000] = {0}, z[1000] = {0};
  int64_t off[1001] = {0}, v;
  float *d = malloc(1000 * 2 * sizeof *d), got[2];
  ck_assert_int_eq(esmm_config_new(&c), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_DENSE_FEATURES, 2), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_new(&ds, c), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_stat(ds, ESMM_DS_DENSE, &v), ESMM_OK);
  ck_assert_int_eq(v, 2);
  for (int i = 0; i < 2000; i++)
    d[i % 2000] = (float)i;
  ck_assert_int_eq(esmm_dataset_add_rows(ds, 1000, y, z, NULL, off, NULL, NULL, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_set_dense(ds, 0, 1000, d), ESMM_OK);
  for (int k = 0; k < 5; k++) /* several regrowths */
    ck_assert_int_eq(esmm_dataset_add_rows(ds, 1000, y, z, NULL, off, NULL, NULL, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_dense(ds, 999, 1, got), ESMM_OK);
  ck_assert_float_eq(got[0], 1998.0f);
  ck_assert_float_eq(got[1], 1999.0f);
  for (size_t r = 1000; r < 6000; r += 777) {
    ck_assert_int_eq(esmm_dataset_dense(ds, r, 1, got), ESMM_OK);
    ck_assert_float_eq(got[0], 0.0f);
    ck_assert_float_eq(got[1], 0.0f);
  }
  ck_assert_int_eq(esmm_dataset_dense(ds, 5999, 2, got), ESMM_EINVAL);
  ck_assert_int_eq(esmm_dataset_stat(ds, ESMM_DS_MAPPED, &v), ESMM_OK);
  ck_assert_int_eq(v, 0);
  ck_assert_int_eq(esmm_dataset_stat(ds, ESMM_DS_LINES, &v), ESMM_OK);
  ck_assert_int_eq(v, 0);
  free(d);
  esmm_dataset_free(ds);
  esmm_config_free(c);
}
END_TEST

START_TEST(report_in_memory_and_size_contract) {
  esmm_dataset *ds = small();
  esmm_data_report r;
  unsigned char big[sizeof r + 16];
  int64_t line = -1, v;
  const char *id = "x", *m;
  size_t n = 9;
  memset(&r, 0x55, sizeof r);
  ck_assert_int_eq(esmm_dataset_report(ds, &r, sizeof r), ESMM_OK);
  ck_assert_int_eq(r.rows_read, 0); /* no reader */
  ck_assert_int_eq(r.rows_kept, 4);
  ck_assert_int_eq(r.clicks, 2);
  ck_assert_int_eq(r.conversions, 2);
  ck_assert_int_eq(r.clicked_conversions, 1);
  ck_assert_int_eq(r.commons, 2);
  ck_assert_int_eq(r.skipped, 0);
  ck_assert_int_eq(r.messages, 0);
  ck_assert_int_eq(r.conv_no_click_policy, -1);
  ck_assert_int_eq(r.on_error_policy, -1);
  ck_assert_str_eq(r.source, "");
  ck_assert_int_eq(esmm_dataset_report_message(ds, 0, &m), ESMM_EINVAL);
  ck_assert_int_eq(esmm_dataset_row_source(ds, 3, &line, &id, &n), ESMM_OK);
  ck_assert(line == 0 && id == NULL && n == 0);
  ck_assert_int_eq(esmm_dataset_row_source(ds, 4, &line, &id, &n), ESMM_EINVAL);
  ck_assert_int_eq(esmm_dataset_skipped_row(ds, 0, &line, NULL), ESMM_EINVAL);
  for (int k = ESMM_DS_ROW_LINES; k <= ESMM_DS_SKIPPED_LISTED; k++) {
    ck_assert_int_eq(esmm_dataset_stat(ds, k, &v), ESMM_OK);
    ck_assert_int_eq(v, 0);
  }
  /* an older, shorter struct gets its prefix; a newer, longer one zeros beyond */
  memset(big, 0xaa, sizeof big);
  ck_assert_int_eq(esmm_dataset_report(ds, (esmm_data_report *)big, 16), ESMM_OK);
  ck_assert_int_eq(memcmp(big, &r, 16), 0);
  ck_assert_uint_eq(big[16], 0xaa);
  ck_assert_int_eq(esmm_dataset_report(ds, (esmm_data_report *)big, sizeof big), ESMM_OK);
  ck_assert_int_eq(memcmp(big, &r, sizeof r), 0);
  for (size_t k = sizeof r; k < sizeof big; k++)
    ck_assert_uint_eq(big[k], 0);
  ck_assert_int_eq(esmm_dataset_report(ds, &r, 4), ESMM_EINVAL);
  ck_assert_int_eq(esmm_dataset_report(ds, NULL, sizeof r), ESMM_EINVAL);
  ck_assert_int_eq(esmm_dataset_report(NULL, &r, sizeof r), ESMM_EINVAL);
  ck_assert_str_eq(esmm_skip_reason_name(ESMM_SKIP_MALFORMED), "malformed");
  ck_assert_str_eq(esmm_skip_reason_name(ESMM_SKIP_LABEL), "label");
  ck_assert_str_eq(esmm_skip_reason_name(ESMM_SKIP_MISSING_COMMON), "missing_common");
  ck_assert_str_eq(esmm_skip_reason_name(ESMM_SKIP_CONV_NO_CLICK), "conv_no_click");
  ck_assert_ptr_null(esmm_skip_reason_name(4));
  ck_assert_ptr_null(esmm_skip_reason_name(-1));
  esmm_dataset_free(ds);
}
END_TEST

/* A read dataset with ids, then rows added in memory: they have line 0 and
 * an empty id, and the earlier rows keep theirs across the regrowth. */
START_TEST(rows_added_after_a_read) {
  static const char csv[] = "s,y,z,101\nA,1,0,5\nBB,0,0,6\n";
  esmm_dataset *ds;
  int y[100], z[100];
  int64_t off[101];
  for (int i = 0; i < 100; i++)
    y[i] = i & 1, z[i] = 0, off[i] = 0;
  off[100] = 0;
  ck_assert_int_eq(esmm_dataset_read_csv_buffer(&ds, NULL, csv, sizeof csv - 1, NULL, "id=s;click=y;conversion=z;cat=*"),
                   ESMM_OK);
  ck_assert_int_eq(esmm_dataset_add_rows(ds, 100, y, z, NULL, off, NULL, NULL, NULL), ESMM_OK); /* regrows */
  for (size_t i = 0; i < 102; i++) {
    int64_t line;
    const char *id;
    size_t n;
    ck_assert_int_eq(esmm_dataset_row_source(ds, i, &line, &id, &n), ESMM_OK);
    ck_assert_int_eq(line, i < 2 ? (int64_t)i + 2 : 0);
    ck_assert_uint_eq(n, i == 0 ? 1 : i == 1 ? 2 : 0);
    if (i < 2)
      ck_assert_int_eq(memcmp(id, i ? "BB" : "A", n), 0);
  }
  esmm_dataset_free(ds);
}
END_TEST

/* Reserving (what readers do from the input size) changes no content and
 * keeps appends working past the reserved size. */
START_TEST(reserve_keeps_content) {
  esmm_dataset *ds = small(), *ref = small();
  int click[3] = {1, 0, 1}, conv[3] = {0, 0, 1};
  int64_t off[4] = {0, 1, 1, 2};
  int f[2] = {3, 4};
  uint64_t id[2] = {9, 8};
  ck_assert_int_eq(esmm__dataset_reserve(ds, 1000, 5000, 300, 4000), ESMM_OK);
  ck_assert_uint_ge(ds->cap_rows, 1000);
  ck_assert_uint_ge(ds->cap_nnz, 5000);
  ck_assert_uint_ge(ds->cap_common, 300);
  ck_assert_uint_ge(ds->cap_com_nnz, 4000);
  same(take(ds), take(ref));
  ck_assert_int_eq(esmm__dataset_reserve(ds, 1, 1, 1, 1), ESMM_OK); /* never shrinks */
  ck_assert_uint_ge(ds->cap_rows, 1000);
  for (int k = 0; k < 400; k++) {
    ck_assert_int_eq(esmm_dataset_add_rows(ds, 3, click, conv, NULL, off, f, id, NULL), ESMM_OK);
    ck_assert_int_eq(esmm_dataset_add_rows(ref, 3, click, conv, NULL, off, f, id, NULL), ESMM_OK);
  }
  same(take(ds), take(ref));
  esmm_dataset_free(ds);
  esmm_dataset_free(ref);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("dataset");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, stats_rows_commons);
  tcase_add_test(tc, fields_follow_config);
  tcase_add_test(tc, add_rows_validation);
  tcase_add_test(tc, add_common_validation);
  tcase_add_test(tc, truth_columns);
  tcase_add_test(tc, growth_matches_reference);
  tcase_add_test(tc, allocator_hook_and_enomem);
  tcase_add_test(tc, dense_grows_with_rows);
  tcase_add_test(tc, report_in_memory_and_size_contract);
  tcase_add_test(tc, rows_added_after_a_read);
  tcase_add_test(tc, reserve_keeps_content);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return test_main(suite()); }
