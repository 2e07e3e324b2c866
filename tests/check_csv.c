/* check_csv.c - CSV with a column spec and PaddleRec token lines: every
 * file in ../shared/data loads, with its data report; counts against
 * independent reads of the files; the token and CSV Ali-CCP samples agree
 * on which cross fields each row has; groups become common lists; spec and
 * row errors have exact messages; headerless files (columns=), quoted cells
 * (RFC 4180, cells across lines), CRLF + BOM, sep= and id= with every
 * report field; click 0 / conversion 1 rows under every policy; the public
 * id hash (esmm/hash.h) pinned by test vectors and used by the readers. */
#include "support/shared_data.h"
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dataset.h"
#include "support/support.h"

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

/* ---------------------------------------------------------------- 1.1 */

static esmm_data_report report(const esmm_dataset *ds) {
  esmm_data_report r;
  memset(&r, 0x55, sizeof r);
  ck_assert_int_eq(esmm_dataset_report(ds, &r, sizeof r), ESMM_OK);
  return r;
}

/* Every identity a report of a reader-filled dataset keeps. */
static void report_consistent(const esmm_dataset *ds) {
  esmm_data_report r = report(ds);
  int64_t listed = st(ds, ESMM_DS_SKIPPED_LISTED), prev = 0;
  ck_assert_int_eq(r.rows_read, r.rows_kept + r.skipped);
  ck_assert_int_eq(r.skipped, r.skipped_malformed + r.skipped_label + r.skipped_missing_common + r.skipped_conv_no_click);
  ck_assert_int_eq(r.conv_no_click_read, r.conv_no_click_kept + r.conv_no_click_zeroed + r.conv_no_click_skipped);
  ck_assert_int_eq(listed, r.skipped);
  ck_assert_int_eq(r.clicks, st(ds, ESMM_DS_CLICKS));
  ck_assert_int_eq(r.conversions, st(ds, ESMM_DS_CONVERSIONS));
  ck_assert_int_eq(r.clicked_conversions, st(ds, ESMM_DS_CLICKED_CONVERSIONS));
  for (int64_t i = 0; i < r.rows_kept; i++) { /* kept rows in file order */
    int64_t line;
    ck_assert_int_eq(esmm_dataset_row_source(ds, (size_t)i, &line, NULL, NULL), ESMM_OK);
    ck_assert_int_gt(line, prev);
    prev = line;
  }
}

/* The skipped rows as "line:reason,..." */
static void skipped_are(const esmm_dataset *ds, const char *want) {
  char got[512] = "";
  for (int64_t k = 0; k < st(ds, ESMM_DS_SKIPPED_LISTED); k++) {
    int64_t line;
    int reason;
    ck_assert_int_eq(esmm_dataset_skipped_row(ds, (size_t)k, &line, &reason), ESMM_OK);
    snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld:%s", k ? "," : "", (long long)line,
             esmm_skip_reason_name(reason));
  }
  ck_assert_str_eq(got, want);
}

static const char *message(const esmm_dataset *ds, size_t k) {
  const char *m = NULL;
  ck_assert_int_eq(esmm_dataset_report_message(ds, k, &m), ESMM_OK);
  return m;
}

static void row_is(const esmm_dataset *ds, size_t i, int y, int z, int64_t line, const char *id) {
  int gy, gz;
  int64_t gl;
  const char *gid;
  size_t n;
  ck_assert_int_eq(esmm_dataset_row(ds, i, &gy, &gz, NULL, NULL, NULL, NULL, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_row_source(ds, i, &gl, &gid, &n), ESMM_OK);
  ck_assert_int_eq(gy, y);
  ck_assert_int_eq(gz, z);
  ck_assert_int_eq(gl, line);
  if (id) {
    ck_assert_uint_eq(n, strlen(id));
    ck_assert_int_eq(memcmp(gid, id, n), 0);
  } else {
    ck_assert_ptr_null(gid);
    ck_assert_uint_eq(n, 0);
  }
}

static uint64_t cat(const char *s) {
  uint64_t id;
  ck_assert_int_eq(esmm_hash_category(s, strlen(s), &id), ESMM_OK);
  return id;
}

/* Feature ids of row i, own list, in order. */
static void ids_are(const esmm_dataset *ds, size_t i, size_t n, const uint64_t *want) {
  size_t gn;
  const uint64_t *id;
  ck_assert_int_eq(esmm_dataset_row(ds, i, NULL, NULL, NULL, &gn, NULL, &id, NULL), ESMM_OK);
  ck_assert_uint_eq(gn, n);
  for (size_t k = 0; k < n; k++)
    ck_assert_uint_eq(id[k], want[k]);
}

/* The reader's batch grows from a few rows to thousands: dense inputs,
 * ids and lines stay with their rows across every growth and flush. */
START_TEST(batch_growth_keeps_rows) {
  enum { N = 9000 };
  esmm_config *c = cfg_dense(2);
  esmm_dataset *ds;
  char *buf = malloc((size_t)N * 48 + 32);
  size_t len = (size_t)sprintf(buf, "s,y,z,a,b,101\n");
  float d[2];
  for (int i = 0; i < N; i++)
    len += (size_t)sprintf(buf + len, "k%d,%d,0,%d.5,-%d,%d\n", i, i % 2, i, i, i);
  ck_assert_int_eq(esmm_dataset_read_csv_buffer(&ds, c, buf, len, NULL, "id=s;click=y;conversion=z;num=a,b;cat=101"),
                   ESMM_OK);
  ck_assert_int_eq(st(ds, ESMM_DS_ROWS), N);
  for (int i = 0; i < N; i++) {
    char want[16];
    int64_t line;
    const char *id;
    size_t n;
    uint64_t fid = (uint64_t)i;
    ck_assert_int_eq(esmm_dataset_dense(ds, (size_t)i, 1, d), ESMM_OK);
    ck_assert(d[0] == (float)i + 0.5f && d[1] == (float)-i);
    ck_assert_int_eq(esmm_dataset_row_source(ds, (size_t)i, &line, &id, &n), ESMM_OK);
    ck_assert_int_eq(line, i + 2);
    snprintf(want, sizeof want, "k%d", i);
    ck_assert(n == strlen(want) && memcmp(id, want, n) == 0);
    ids_are(ds, (size_t)i, 1, &fid);
  }
  esmm_dataset_free(ds);
  esmm_config_free(c);
  free(buf);
}
END_TEST

START_TEST(hash_vectors) {
  uint64_t h;
  /* pinned since 1.0: FNV-1a 64 with the offset basis 1469598103934665603
   * (not the standard 14695981039346656037); the vectors below must never change */
  ck_assert_int_eq(esmm_hash_string("", 0, &h), ESMM_OK);
  ck_assert_uint_eq(h, 0x14650fb0739d0383ULL);
  ck_assert_int_eq(esmm_hash_string(NULL, 0, &h), ESMM_OK);
  ck_assert_uint_eq(h, 0x14650fb0739d0383ULL);
  ck_assert_int_eq(esmm_hash_string("a", 1, &h), ESMM_OK);
  ck_assert_uint_eq(h, 0x44bd8ad473cd9906ULL);
  ck_assert_int_eq(esmm_hash_string("foobar", 6, &h), ESMM_OK);
  ck_assert_uint_eq(h, 0x88fad7c0a8ff07f2ULL);
  ck_assert_int_eq(esmm_hash_string("a\0b", 3, &h), ESMM_OK); /* bytes, not a C string */
  ck_assert_uint_ne(h, 0x44bd8ad473cd9906ULL);
  /* the category rule */
  ck_assert_uint_eq(cat("42"), 42);
  ck_assert_uint_eq(cat("007"), 7);
  ck_assert_uint_eq(cat("18446744073709551615"), UINT64_MAX);
  ck_assert_uint_eq(cat("18446744073709551616"), 0x66ce41dc3e48b0c7ULL); /* beyond 2^64: hashed */
  ck_assert_uint_eq(cat("a"), 0x44bd8ad473cd9906ULL);
  ck_assert_uint_eq(cat("foobar"), 0x88fad7c0a8ff07f2ULL);
  ck_assert_uint_eq(cat("-1"), 0x9afb2600c5c4c761ULL);
  ck_assert_uint_eq(cat("1.0"), 0x3ffc165020d3c6a8ULL);
  /* argument checks */
  ck_assert_int_eq(esmm_hash_string("a", 1, NULL), ESMM_EINVAL);
  ck_assert_int_eq(esmm_hash_string(NULL, 1, &h), ESMM_EINVAL);
  ck_assert_int_eq(esmm_hash_category("", 0, &h), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_hash_category: an empty category is no feature (the readers store none)");
  ck_assert_int_eq(esmm_hash_category(NULL, 1, &h), ESMM_EINVAL);
  ck_assert_int_eq(esmm_hash_category("1", 1, NULL), ESMM_EINVAL);
  /* the readers use exactly this rule: CSV cells and token ids */
  {
    static const char csv[] = "y,z,101,205\n1,0,foobar,007\n";
    static const char tok[] = "s1,1,0,101:foobar,205:007,206:-1\n";
    esmm_dataset *ds;
    uint64_t want[3] = {0x88fad7c0a8ff07f2ULL, 7, 0};
    ck_assert_int_eq(esmm_dataset_read_csv_buffer(&ds, NULL, csv, sizeof csv - 1, NULL, "click=y;conversion=z;cat=*"),
                     ESMM_OK);
    ids_are(ds, 0, 2, want);
    esmm_dataset_free(ds);
    want[2] = cat("-1");
    ck_assert_int_eq(esmm_dataset_read_csv_buffer(&ds, NULL, tok, sizeof tok - 1, NULL, "tokens"), ESMM_OK);
    ids_are(ds, 0, 3, want);
    esmm_dataset_free(ds);
  }
}
END_TEST

START_TEST(headerless_columns) {
  /* no header: columns= names them; a tab separator; a row with a missing cell */
  static const char data[] = "7\t1\t0\t5\t0.5\n8\t0\t0\t6\t\n9\t1\t1\t7\n10\t0\t0\t8\t1.5\n";
  esmm_config *c = cfg_dense(1);
  esmm_dataset *ds;
  esmm_data_report r;
  float d[3];
  const char *spec = "columns=sid,y,z,101,n;sep=tab;id=sid;click=y;conversion=z;num=n;cat=101";
  ck_assert_int_eq(esmm_config_set_by_name(c, "on_error", "skip"), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_read_csv_buffer(&ds, c, data, sizeof data - 1, "h.tsv", spec), ESMM_OK);
  r = report(ds);
  ck_assert_int_eq(r.rows_read, 4);
  ck_assert_int_eq(r.rows_kept, 3);
  ck_assert_int_eq(r.clicks, 1);
  ck_assert_int_eq(r.skipped, 1);
  ck_assert_int_eq(r.skipped_malformed, 1);
  ck_assert_int_eq(r.messages, 1);
  ck_assert_int_eq(r.on_error_policy, ESMM_ON_ERROR_SKIP);
  ck_assert_int_eq(r.conv_no_click_policy, ESMM_CNC_KEEP);
  ck_assert_str_eq(r.source, "h.tsv");
  ck_assert_str_eq(message(ds, 0), "h.tsv:3: expected 5 tab-separated columns (columns=), found 4");
  skipped_are(ds, "3:malformed");
  row_is(ds, 0, 1, 0, 1, "7");
  row_is(ds, 1, 0, 0, 2, "8");
  row_is(ds, 2, 0, 0, 4, "10");
  ck_assert_int_eq(esmm_dataset_dense(ds, 0, 3, d), ESMM_OK);
  ck_assert(d[0] == 0.5f && d[1] == 0.0f && d[2] == 1.5f);
  ck_assert_int_eq(st(ds, ESMM_DS_ROW_IDS), 1);
  ck_assert_int_eq(st(ds, ESMM_DS_ROW_LINES), 1);
  report_consistent(ds);
  esmm_dataset_free(ds);
  /* fail-fast: the same row is the error */
  ck_assert_int_eq(esmm_config_set_by_name(c, "on_error", "fail"), ESMM_OK);
  fail_csv(c, data, spec, ESMM_EFORMAT, P "t.csv:3: expected 5 tab-separated columns (columns=), found 4");
  /* spec errors of the new clauses */
  fail_csv(c, data, "columns=y,z,y;click=y;conversion=z", ESMM_EINVAL, P "column spec: columns= names \"y\" twice");
  fail_csv(c, data, "columns=y,,z;click=y;conversion=z", ESMM_EINVAL, P "column spec: columns= needs plain names, got \"\"");
  fail_csv(c, data, "columns=y,z,x;click=y;conversion=z", ESMM_EINVAL,
           P "column spec: column \"x\" of columns= is not named by a clause (add it to one, e.g. skip=...)");
  fail_csv(c, data, "columns=y,z;click=y;conversion=q", ESMM_EINVAL, P "column spec: \"q\" is not in columns=");
  fail_csv(c, data, "columns=y,z,n;click=y;conversion=z;num=n;num=n", ESMM_EINVAL,
           P "column spec: column \"n\" is named by two clauses");
  fail_csv(c, data, "columns=y,z,x;click=y;conversion=z;num=x;sep=ab", ESMM_EINVAL,
           P "column spec: sep=ab is not a separator (comma, tab, semicolon, pipe, space, or one character other than "
             "'\"', '=', '*')");
  fail_csv(c, data, "columns=a,b;click=a;conversion=b;id=a,b", ESMM_EINVAL, P "column spec: \"id\" takes exactly one column");
  fail_csv(c, data, "columns=a,b;click=a;conversion=b;sep=tab;sep=tab", ESMM_EINVAL, P "column spec: \"sep\" appears twice");
  fail_csv(c, data, "columns=y,z,d;click=y;conversion=z;cat=d", ESMM_EINVAL,
           P "column spec: categorical column \"d\" is not in the field list (set the fields, or unknown_field=ignore)");
  fail_csv(c, data, "columns=y,z;click=y;conversion=z", ESMM_EINVAL,
           P "column spec: the spec selects 0 numeric columns but ESMM_OPT_DENSE_FEATURES is 1");
  esmm_config_free(c);
  /* ids that are all empty: "" of length 0, not NULL (the rows do carry ids) */
  {
    esmm_dataset *e;
    const char *id = NULL;
    size_t n = 9;
    ck_assert_int_eq(esmm_dataset_read_csv_buffer(&e, NULL, ",1,0\n\"\",0,0\n", 11, NULL,
                                                  "columns=s,y,z;id=s;click=y;conversion=z"),
                     ESMM_OK);
    ck_assert_int_eq(esmm_dataset_row_source(e, 1, NULL, &id, &n), ESMM_OK);
    ck_assert_ptr_nonnull(id);
    ck_assert_uint_eq(n, 0);
    esmm_dataset_free(e);
  }
  /* a file without a header read with a spec that expects one: the hint */
  fail_csv(NULL, "1,0,5\n0,0,6\n", "click=click;conversion=conv;cat=*", ESMM_EFORMAT,
           P "t.csv:1: the spec names column \"click\", which the header lacks; the first line looks like data (\"1\"): "
             "for a file without a header line, name the columns in order with columns=NAME,...");
}
END_TEST

START_TEST(quoted_cells) {
  /* RFC 4180: separators, doubled quotes and a line break inside quoted
   * cells; a quoted header; a quote inside an unquoted cell is a byte;
   * then the errors: text after a closing quote, a label outside {0,1},
   * an open quote at the end */
  static const char data[] = "\"sid\",\"y\",z,101,\"205\"\n"
                             "\"a,1\",1,0,\"x\"\"y\",7\n"
                             "\"b\nc\",0,\"1\",5,\n"
                             "d,1,0,ab\"c,\"\"\n"
                             "\"e\"f,1,0,1,2\n"
                             "g,1,2,1,2\n"
                             "\"h,0,0,1,1\n"
                             "i,0,0,1,1\n";
  esmm_config *c;
  esmm_dataset *ds;
  esmm_data_report r;
  uint64_t want[2];
  ck_assert_int_eq(esmm_config_new(&c), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_by_name(c, "on_error", "skip"), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_read_csv_buffer(&ds, c, data, sizeof data - 1, "q.csv", "id=sid;click=y;conversion=z;cat=*"),
                   ESMM_OK);
  r = report(ds);
  ck_assert_int_eq(r.rows_read, 6); /* the open quote swallows the last line into its record */
  ck_assert_int_eq(r.rows_kept, 3);
  ck_assert_int_eq(r.skipped_malformed, 2);
  ck_assert_int_eq(r.skipped_label, 1);
  ck_assert_int_eq(r.conv_no_click_read, 1);
  ck_assert_int_eq(r.conv_no_click_kept, 1);
  ck_assert_int_eq(r.messages, 3);
  ck_assert_str_eq(message(ds, 0), "q.csv:6:4: text after a closing quote");
  ck_assert_str_eq(message(ds, 1), "q.csv:7:5: conversion must be 0 or 1, got \"2\"");
  ck_assert_str_eq(message(ds, 2), "q.csv:8:1: unterminated quote (the quoted cell runs to the end of the input)");
  skipped_are(ds, "6:malformed,7:label,8:malformed");
  row_is(ds, 0, 1, 0, 2, "a,1");
  row_is(ds, 1, 0, 1, 3, "b\nc"); /* a record spanning lines 3-4 is line 3 */
  row_is(ds, 2, 1, 0, 5, "d");
  want[0] = cat("x\"y"), want[1] = 7;
  ids_are(ds, 0, 2, want);
  want[0] = 5;
  ids_are(ds, 1, 1, want); /* empty 205 cell: no feature */
  want[0] = cat("ab\"c");
  ids_are(ds, 2, 1, want); /* the quoted empty cell "" is empty: no feature */
  report_consistent(ds);
  esmm_dataset_free(ds);
  /* fail-fast messages */
  ck_assert_int_eq(esmm_config_set_by_name(c, "on_error", "fail"), ESMM_OK);
  fail_csv(c, "y,z\n\"1\"x,0\n", "click=y;conversion=z", ESMM_EFORMAT, P "t.csv:2:4: text after a closing quote");
  fail_csv(c, "y,z\n1,\"0\n\n", "click=y;conversion=z", ESMM_EFORMAT,
           P "t.csv:2:3: unterminated quote (the quoted cell runs to the end of the input)");
  fail_csv(c, "\"y,z\n", "click=y;conversion=z", ESMM_EFORMAT,
           P "t.csv:1:1: header: unterminated quote (the quoted cell runs to the end of the input)");
  esmm_config_free(c);
}
END_TEST

START_TEST(crlf_bom_and_separators) {
  /* a UTF-8 BOM before the header, CRLF line ends, a final line without
   * one; then the same rows with ';' and '|' separators */
  static const char bom[] = "\xef\xbb\xbfy,z,101\r\n1,0,5\r\n0,1,6\r\n\r\n0,0,7";
  static const char semi[] = "y;z;101\n1;0;5\n0;1;6\n0;0;7\n";
  static const char pipe_[] = "y|z|101\n1|0|5\n0|1|6\n0|0|7\n";
  const char *spec[3] = {"click=y;conversion=z;cat=*", "sep=semicolon;click=y;conversion=z;cat=*",
                         "sep=|;click=y;conversion=z;cat=*"};
  const char *data[3] = {bom, semi, pipe_};
  for (int k = 0; k < 3; k++) {
    esmm_dataset *ds;
    esmm_data_report r;
    uint64_t want = 6;
    ck_assert_int_eq(esmm_dataset_read_csv_buffer(&ds, NULL, data[k], strlen(data[k]), "b.csv", spec[k]), ESMM_OK);
    r = report(ds);
    ck_assert_int_eq(r.rows_read, 3);
    ck_assert_int_eq(r.rows_kept, 3);
    ck_assert_int_eq(r.clicks, 1);
    ck_assert_int_eq(r.conv_no_click_read, 1);
    ck_assert_int_eq(r.skipped, 0);
    row_is(ds, 1, 0, 1, 3, NULL);
    row_is(ds, 2, 0, 0, k == 0 ? 5 : 4, NULL);
    ids_are(ds, 1, 1, &want);
    report_consistent(ds);
    esmm_dataset_free(ds);
  }
  /* the wrong separator: one column per line, named by nothing */
  fail_csv(NULL, semi, spec[0], ESMM_EFORMAT, P "t.csv:1: the spec names column \"y\", which the header lacks");
}
END_TEST

/* Rows with a conversion but no click under every conv_no_click policy:
 * rows 2 and 4 of 5 (one more row is malformed under skip). */
START_TEST(conv_no_click_every_policy) {
  static const char data[] = "y,z,101\n1,1,5\n0,1,6\n0,0,7\n0,1,8\n1,0,x,9\n";
  static const char *const pol[4] = {"keep", "zero", "drop", "error"};
  for (int p = 0; p < 4; p++)
    for (int skip = 0; skip < 2; skip++) {
      esmm_config *c;
      esmm_dataset *ds = (esmm_dataset *)1;
      esmm_data_report r;
      int rc;
      ck_assert_int_eq(esmm_config_new(&c), ESMM_OK);
      ck_assert_int_eq(esmm_config_set_by_name(c, "conv_no_click", pol[p]), ESMM_OK);
      ck_assert_int_eq(esmm_config_set_by_name(c, "on_error", skip ? "skip" : "fail"), ESMM_OK);
      rc = esmm_dataset_read_csv_buffer(&ds, c, data, sizeof data - 1, "p.csv", "click=y;conversion=z;cat=*");
      if (!skip) { /* fail-fast stops at the first bad row */
        ck_assert_int_eq(rc, ESMM_EFORMAT);
        ck_assert_str_eq(esmm_last_error(), p == 3 ? P "p.csv:3: conversion 1 without a click (conv_no_click=error)"
                                                   : P "p.csv:6: expected 3 comma-separated columns, found 4");
        esmm_config_free(c);
        continue;
      }
      ck_assert_int_eq(rc, ESMM_OK);
      r = report(ds);
      ck_assert_int_eq(r.rows_read, 5);
      ck_assert_int_eq(r.conv_no_click_read, 2);
      ck_assert_int_eq(r.conv_no_click_policy, p);
      ck_assert_int_eq(r.conv_no_click_kept, p == 0 ? 2 : 0);
      ck_assert_int_eq(r.conv_no_click_zeroed, p == 1 ? 2 : 0);
      ck_assert_int_eq(r.conv_no_click_skipped, p >= 2 ? 2 : 0);
      ck_assert_int_eq(r.skipped_conv_no_click, p >= 2 ? 2 : 0);
      ck_assert_int_eq(r.skipped_malformed, 1);
      ck_assert_int_eq(r.rows_kept, p >= 2 ? 2 : 4);
      ck_assert_int_eq(r.conversions, p == 0 ? 3 : 1);
      ck_assert_int_eq(st(ds, ESMM_DS_CONVERSIONS_WITHOUT_CLICK), p == 0 ? 2 : 0);
      ck_assert_int_eq(st(ds, ESMM_DS_CONV_NO_CLICK_ZEROED), r.conv_no_click_zeroed);
      ck_assert_int_eq(r.clicked_conversions, 1);
      /* drop is no error: no message; error+skip is one */
      ck_assert_int_eq(r.messages, p == 3 ? 3 : 1);
      skipped_are(ds, p >= 2 ? "3:conv_no_click,5:conv_no_click,6:malformed" : "6:malformed");
      report_consistent(ds);
      esmm_dataset_free(ds);
      esmm_config_free(c);
    }
}
END_TEST

/* The real files: reports against the counts of ../shared/data/README.md. */
START_TEST(real_files_report) {
  static const struct {
    const char *file, *spec;
    int dense;
    int64_t rows, clicks, conv;
  } f[] = {
      {"ali-ccp/torch-rechub/ali_ccp_train_sample.csv", RH_SPEC, 8, 100, 7, 1},
      {"ali-ccp/torch-rechub/ali_ccp_val_sample.csv", RH_SPEC, 8, 50, 3, 1},
      {"ali-ccp/torch-rechub/ali_ccp_test_sample.csv", RH_SPEC, 8, 50, 2, 1},
      {"ali-ccp/paddlerec-esmm/test/small.txt", "tokens", 0, 10, 1, 0},
      {"aliexpress/torch-rechub/aliexpress_train_sample.csv", NULL, 63, 100, 60, 2},
      {"aliexpress/torch-rechub/aliexpress_test_sample.csv", NULL, 63, 20, 10, 2},
      {"aliexpress/fuxictr-tiny_mtl/train.csv", NULL, 63, 100, 3, 2},
      {"aliexpress/fuxictr-tiny_mtl/test.csv", NULL, 63, 100, 6, 1},
  };
  for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
    esmm_config *c = f[i].dense == 63 ? cfg_aliexpress() : cfg_dense(f[i].dense);
    esmm_dataset *ds;
    esmm_data_report r;
    const char *path = shared_data(f[i].file);
    ck_assert_int_eq(esmm_dataset_read_csv(&ds, c, path,
                                           f[i].spec ? f[i].spec
                                                     : "click=click;conversion=conversion;num=numerical_*;"
                                                       "group=search_id;user=categorical_1;cat=*"),
                     ESMM_OK);
    r = report(ds);
    ck_assert_str_eq(r.source, path);
    ck_assert_int_eq(r.rows_read, f[i].rows);
    ck_assert_int_eq(r.rows_kept, f[i].rows);
    ck_assert_int_eq(r.clicks, f[i].clicks);
    ck_assert_int_eq(r.conversions, f[i].conv);
    ck_assert_int_eq(r.clicked_conversions, f[i].conv); /* z=1 implies y=1 in every file */
    ck_assert_int_eq(r.conv_no_click_read, 0);
    ck_assert_int_eq(r.skipped, 0);
    ck_assert_int_eq(r.messages, 0);
    ck_assert_int_eq(r.features_ignored, 0);
    /* rows join back to lines: data starts after the header (tokens: none) */
    {
      int64_t first, last;
      int tokens = strcmp(f[i].spec ? f[i].spec : "", "tokens") == 0;
      ck_assert_int_eq(esmm_dataset_row_source(ds, 0, &first, NULL, NULL), ESMM_OK);
      ck_assert_int_eq(esmm_dataset_row_source(ds, (size_t)f[i].rows - 1, &last, NULL, NULL), ESMM_OK);
      ck_assert_int_eq(first, tokens ? 1 : 2);
      ck_assert_int_eq(last, tokens ? f[i].rows : f[i].rows + 1);
    }
    report_consistent(ds);
    esmm_dataset_free(ds);
    esmm_config_free(c);
  }
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("csv");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, torch_rechub_aliccp);
  tcase_add_test(tc, aliexpress_groups);
  tcase_add_test(tc, spec_and_row_errors);
  tcase_add_test(tc, layout_hashing_and_skips);
  tcase_add_test(tc, hash_vectors);
  tcase_add_test(tc, batch_growth_keeps_rows);
  tcase_add_test(tc, headerless_columns);
  tcase_add_test(tc, quoted_cells);
  tcase_add_test(tc, crlf_bom_and_separators);
  tcase_add_test(tc, conv_no_click_every_policy);
  tcase_add_test(tc, real_files_report);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return test_main(suite()); }
