/* check_csv.c - CSV with a column spec and PaddleRec token lines: every
 * file in ../shared/data loads; counts against independent reads of the
 * files; the token and CSV Ali-CCP samples agree on which cross fields each
 * row has; groups become common lists; spec and row errors have exact
 * messages; non-decimal ids are hashed with the pinned FNV-1a 64. */
#include "support/shared_data.h"
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dataset.h"

#define RH shared_data("ali-ccp/torch-rechub/ali_ccp_train_sample.csv")
#define PD shared_data("ali-ccp/paddlerec-esmm/test/small.txt")
#define RH_SPEC "click=click;conversion=purchase;num=D*;cat=*"

static esmm_config *cfg_dense(int64_t nd) {
  esmm_config *c;
  ck_assert_int_eq(esmm_config_new(&c), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_DENSE_FEATURES, nd), ESMM_OK);
  return c;
}

static esmm_config *cfg_aliexpress(void) {
  esmm_config *c = cfg_dense(63);
  char f[400] = "categorical_1";
  for (int i = 2; i <= 16; i++)
    snprintf(f + strlen(f), sizeof f - strlen(f), ",categorical_%d", i);
  ck_assert_int_eq(esmm_config_set_by_name(c, "fields", f), ESMM_OK);
  return c;
}

static int64_t st(const esmm_dataset *ds, int key) {
  int64_t v = -1;
  ck_assert_int_eq(esmm_dataset_stat(ds, key, &v), ESMM_OK);
  return v;
}

static int has_field(const esmm_dataset *ds, size_t r, int f) {
  size_t n;
  const int *fl;
  esmm_dataset_row(ds, r, NULL, NULL, NULL, &n, &fl, NULL, NULL);
  for (size_t k = 0; k < n; k++)
    if (fl[k] == f)
      return 1;
  return 0;
}

START_TEST(torch_rechub_aliccp) {
  esmm_config *c = cfg_dense(8);
  esmm_dataset *ds, *tok;
  float d[8];
  int fi;
  ck_assert_int_eq(esmm_dataset_read_csv(&ds, c, RH, RH_SPEC), ESMM_OK);
  ck_assert_int_eq(st(ds, ESMM_DS_ROWS), 100); /* the last row has no final newline */
  ck_assert_int_eq(st(ds, ESMM_DS_CLICKS), 7);
  ck_assert_int_eq(st(ds, ESMM_DS_CONVERSIONS), 1);
  ck_assert_int_eq(st(ds, ESMM_DS_FEATURES), 2300);
  ck_assert_int_eq(st(ds, ESMM_DS_DENSE), 8);
  ck_assert_int_eq(esmm_dataset_dense(ds, 0, 1, d), ESMM_OK);
  ck_assert_float_eq(d[0], 0.4734f);
  ck_assert_float_eq(d[4], 0.07556f);
  ck_assert_float_eq(d[5], 0.0f);
  /* tokens: the same 10 impressions; cross field f present <=> D<f> != 0 */
  ck_assert_int_eq(esmm_dataset_read_csv(&tok, NULL, PD, "tokens"), ESMM_OK);
  ck_assert_int_eq(st(tok, ESMM_DS_ROWS), 10);
  ck_assert_int_eq(st(tok, ESMM_DS_CLICKS), 1);
  {
    static const char *const cross[4] = {"508", "509", "702", "853"};
    for (size_t r = 0; r < 10; r++) {
      ck_assert_int_eq(esmm_dataset_dense(ds, r, 1, d), ESMM_OK);
      for (int k = 0; k < 4; k++) {
        ck_assert_int_eq(esmm_config_field_index(c, cross[k], &fi), ESMM_OK);
        ck_assert_int_eq(has_field(tok, r, fi), d[4 + k] != 0.0f);
      }
    }
  }
  esmm_dataset_free(tok);
  esmm_dataset_free(ds);
  esmm_config_free(c);
}
END_TEST

/* Runs of equal consecutive first-column values, read independently. */
static int64_t runs(const char *path, int64_t *rows) {
  FILE *f = fopen(path, "r");
  char line[65536], prev[64] = "";
  int64_t n = 0;
  ck_assert_ptr_nonnull(f);
  ck_assert_ptr_nonnull(fgets(line, sizeof line, f)); /* header */
  *rows = 0;
  while (fgets(line, sizeof line, f)) {
    char *comma = strchr(line, ',');
    *comma = '\0';
    if (*rows == 0 || strcmp(prev, line) != 0)
      n++;
    memcpy(prev, line, strlen(line) < sizeof prev ? strlen(line) + 1 : sizeof prev); /* ids are short */
    (*rows)++;
  }
  fclose(f);
  return n;
}

START_TEST(aliexpress_groups) {
  const char *const files[] = {shared_data("aliexpress/torch-rechub/aliexpress_train_sample.csv"),
                                      shared_data("aliexpress/torch-rechub/aliexpress_test_sample.csv"),
                                      shared_data("aliexpress/fuxictr-tiny_mtl/train.csv"),
                                      shared_data("aliexpress/fuxictr-tiny_mtl/test.csv")};
  esmm_config *c = cfg_aliexpress();
  for (int i = 0; i < 4; i++) {
    esmm_dataset *ds;
    int64_t rows, groups = runs(files[i], &rows);
    ck_assert_int_eq(esmm_dataset_read_csv(&ds, c, files[i],
                                           "click=click;conversion=conversion;num=numerical_*;group=search_id;"
                                           "user=categorical_1;cat=*"),
                     ESMM_OK);
    ck_assert_int_eq(st(ds, ESMM_DS_ROWS), rows);
    ck_assert_int_eq(st(ds, ESMM_DS_COMMONS), groups);
    ck_assert_int_eq(st(ds, ESMM_DS_COMMON_FEATURES), groups);
    ck_assert_int_eq(st(ds, ESMM_DS_ROWS_WITH_COMMON), rows);
    ck_assert_int_eq(st(ds, ESMM_DS_FEATURES), rows * 15);
    esmm_dataset_free(ds);
  }
  esmm_config_free(c);
}
END_TEST

static void fail_csv(const esmm_config *c, const char *data, const char *spec, int rc, const char *msg) {
  esmm_dataset *ds = (esmm_dataset *)1;
  ck_assert_int_eq(esmm_dataset_read_csv_buffer(&ds, c, data, strlen(data), "t.csv", spec), rc);
  ck_assert_ptr_null(ds);
  ck_assert_str_eq(esmm_last_error(), msg);
}

#define P "esmm_dataset_read_csv_buffer: "

START_TEST(spec_and_row_errors) {
  esmm_config *c = cfg_dense(1);
  const char *hdr = "y,z,101,n\n";
  char buf[256];
  fail_csv(c, hdr, "click=y", ESMM_EINVAL, P "column spec: \"click=\" and \"conversion=\" are required");
  fail_csv(c, hdr, "click=y;conversion=z;bogus=n", ESMM_EINVAL,
           P "column spec: unknown key \"bogus\" (click, conversion, cat, num, group, user, skip, id, columns, sep)");
  fail_csv(c, hdr, "click=y,z;conversion=z", ESMM_EINVAL, P "column spec: \"click\" takes exactly one column");
  fail_csv(c, hdr, "click=y;conversion=z;group=101", ESMM_EINVAL,
           P "column spec: \"group=\" and \"user=\" go together");
  fail_csv(c, hdr, "click=y;conversion=z;cat=101", ESMM_EFORMAT,
           P "t.csv:1:9: column \"n\" is not named by the spec (add it to a clause, e.g. skip=...)");
  fail_csv(c, hdr, "click=y;conversion=z;cat=101;num=n,m", ESMM_EFORMAT,
           P "t.csv:1: the spec names column \"m\", which the header lacks");
  fail_csv(c, hdr, "click=y;conversion=z;num=*", ESMM_EFORMAT,
           P "t.csv:1: the spec selects 2 numeric columns but ESMM_OPT_DENSE_FEATURES is 1");
  fail_csv(c, "y,z,999,n\n", "click=y;conversion=z;num=n;cat=*", ESMM_EFORMAT,
           P "t.csv:1: categorical column \"999\" is not in the field list (set the fields, or unknown_field=ignore)");
  snprintf(buf, sizeof buf, "%s1,0,5,0.5\n1,0,5\n", hdr);
  fail_csv(c, buf, "click=y;conversion=z;num=n;cat=*", ESMM_EFORMAT,
           P "t.csv:3: expected 4 comma-separated columns, found 3");
  snprintf(buf, sizeof buf, "%s1,2,5,0.5\n", hdr);
  fail_csv(c, buf, "click=y;conversion=z;num=n;cat=*", ESMM_EFORMAT, P "t.csv:2:3: conversion must be 0 or 1, got \"2\"");
  snprintf(buf, sizeof buf, "%s1,0,5,nan\n", hdr);
  fail_csv(c, buf, "click=y;conversion=z;num=n;cat=*", ESMM_EFORMAT,
           P "t.csv:2:7: numeric cell \"nan\" is not a finite float");
  snprintf(buf, sizeof buf, "%s1,0,5,0.5x\n", hdr);
  fail_csv(c, buf, "click=y;conversion=z;num=n;cat=*", ESMM_EFORMAT,
           P "t.csv:2:7: numeric cell \"0.5x\" is not a number");
  snprintf(buf, sizeof buf, "%s1,0,\"5\"x,1\n", hdr);
  fail_csv(c, buf, "click=y;conversion=z;num=n;cat=*", ESMM_EFORMAT, P "t.csv:2:8: text after a closing quote");
  fail_csv(c, "", "click=y;conversion=z", ESMM_EFORMAT,
           P "t.csv: no header line (for a file without one, name the columns with columns=NAME,...)");
  fail_csv(NULL, "1,1,0,101:1,bad\n", "tokens", ESMM_EFORMAT, P "t.csv:1:13: token \"bad\" has no ':'");
  fail_csv(NULL, "1,1\n", "tokens", ESMM_EFORMAT, P "t.csv:1: expected sample_id,click,conversion,features...");
  esmm_config_free(c);
}
END_TEST

START_TEST(layout_hashing_and_skips) {
  /* CRLF, empty lines, float labels, empty cells, a string id, 1.0 label */
  static const char data[] = "y,z,101,121,n\r\n\r\n1.0,0,abc,,2.5\r\n0,0,18446744073709551615,7,\r\n1,1,x,y,oops\n";
  esmm_config *c = cfg_dense(1);
  esmm_dataset *ds;
  const uint64_t *id;
  size_t n;
  float d[2];
  uint64_t h = 1469598103934665603ULL;
  for (const char *p = "abc"; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ULL;
  ck_assert_int_eq(esmm_config_set_by_name(c, "on_error", "skip"), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_read_csv_buffer(&ds, c, data, sizeof data - 1, NULL, "click=y;conversion=z;num=n;cat=*"),
                   ESMM_OK);
  ck_assert_int_eq(st(ds, ESMM_DS_ROWS), 2);
  ck_assert_int_eq(st(ds, ESMM_DS_LINES), 3);
  ck_assert_int_eq(st(ds, ESMM_DS_SKIPPED_MALFORMED), 1);
  esmm_dataset_row(ds, 0, NULL, NULL, NULL, &n, NULL, &id, NULL);
  ck_assert_uint_eq(n, 1); /* the empty 121 cell is no feature */
  ck_assert_uint_eq(id[0], h);
  esmm_dataset_row(ds, 1, NULL, NULL, NULL, &n, NULL, &id, NULL);
  ck_assert_uint_eq(n, 2);
  ck_assert_uint_eq(id[0], UINT64_MAX);
  ck_assert_int_eq(esmm_dataset_dense(ds, 0, 2, d), ESMM_OK);
  ck_assert_float_eq(d[0], 2.5f);
  ck_assert_float_eq(d[1], 0.0f); /* empty numeric cell */
  esmm_dataset_free(ds);
  esmm_config_free(c);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("csv");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, torch_rechub_aliccp);
  tcase_add_test(tc, aliexpress_groups);
  tcase_add_test(tc, spec_and_row_errors);
  tcase_add_test(tc, layout_hashing_and_skips);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(suite());
  int failed;
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
