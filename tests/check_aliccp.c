/* check_aliccp.c - the raw Ali-CCP pair: writer -> reader round trip on
 * simulated (grouped) data, path and buffer readers agreeing, the real
 * common_features fragment, and every kind of bad input with its exact
 * message (fail-fast) and its counts (skip-and-count), the click=0 /
 * conversion=1 policies, field and value options. */
#include "support/shared_data.h"
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "dataset.h"
#include "io/reader.h"
#include "numparse.h"
#include "support/support.h"

#define FRAGMENT shared_data("ali-ccp/lhtlht-ali-ccp-notebook/common_features_train.head2.csv")

static char dir[64];

static void setup(void) { test_tmpdir_new(dir, sizeof dir, "check_aliccp"); }

static void teardown(void) { test_tmpdir_remove(dir); }

/* Every row's full feature list (own then common) and labels equal. */
static void same_rows(const esmm_dataset *a, const esmm_dataset *b) {
  int64_t na, nb;
  esmm_dataset_stat(a, ESMM_DS_ROWS, &na);
  esmm_dataset_stat(b, ESMM_DS_ROWS, &nb);
  ck_assert_int_eq(na, nb);
  for (int64_t i = 0; i < na; i++) {
    int ya, za, yb, zb;
    int64_t ca, cb;
    size_t ka, kb, cka = 0, ckb = 0;
    const int *fa, *fb, *cfa = NULL, *cfb = NULL;
    const uint64_t *ia, *ib, *cia = NULL, *cib = NULL;
    const float *va, *vb, *cva = NULL, *cvb = NULL;
    esmm_dataset_row(a, (size_t)i, &ya, &za, &ca, &ka, &fa, &ia, &va);
    esmm_dataset_row(b, (size_t)i, &yb, &zb, &cb, &kb, &fb, &ib, &vb);
    ck_assert_int_eq(ya, yb);
    ck_assert_int_eq(za, zb);
    ck_assert_uint_eq(ka, kb);
    ck_assert_int_eq(ca < 0, cb < 0);
    for (size_t k = 0; k < ka; k++) {
      ck_assert_int_eq(fa[k], fb[k]);
      ck_assert_uint_eq(ia[k], ib[k]);
      ck_assert_int_eq(memcmp(&va[k], &vb[k], 4), 0);
    }
    if (ca >= 0) {
      esmm_dataset_common(a, (size_t)ca, &cka, &cfa, &cia, &cva);
      esmm_dataset_common(b, (size_t)cb, &ckb, &cfb, &cib, &cvb);
      ck_assert_uint_eq(cka, ckb);
      for (size_t k = 0; k < cka; k++) {
        ck_assert_int_eq(cfa[k], cfb[k]);
        ck_assert_uint_eq(cia[k], cib[k]);
        ck_assert_int_eq(memcmp(&cva[k], &cvb[k], 4), 0);
      }
    }
  }
}

/* Light mode (valgrind, test_slow_tool): 1000 rows (some 50 user groups)
 * instead of 3000. */
START_TEST(sim_round_trip) {
  const int64_t n = test_slow_tool() ? 1000 : 3000;
  esmm_sim *sim;
  esmm_dataset *ds, *back, *back2;
  char sk[128], cm[128];
  size_t sl, cl;
  char *sb, *cb;
  ck_assert_int_eq(esmm_sim_new(&sim, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_sim_generate(sim, (size_t)n, 0, &ds), ESMM_OK);
  snprintf(sk, sizeof sk, "%s/skel.csv", dir);
  snprintf(cm, sizeof cm, "%s/com.csv", dir);
  ck_assert_int_eq(esmm_dataset_write_aliccp(ds, sk, cm), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_read_aliccp(&back, NULL, sk, cm), ESMM_OK);
  same_rows(ds, back);
  /* grouped storage kept: every common list stored once */
  ck_assert_int_eq(test_ds_stat(back, ESMM_DS_COMMONS), test_ds_stat(ds, ESMM_DS_COMMONS));
  ck_assert_int_eq(test_ds_stat(back, ESMM_DS_COMMON_FEATURES), test_ds_stat(ds, ESMM_DS_COMMON_FEATURES));
  ck_assert_int_eq(test_ds_stat(back, ESMM_DS_LINES), n);
  ck_assert_int_eq(test_ds_stat(back, ESMM_DS_COMMON_LINES), test_ds_stat(ds, ESMM_DS_COMMONS));
  ck_assert_int_eq(test_ds_stat(back, ESMM_DS_SKIPPED), 0);
  /* the buffer reader gives the same dataset */
  sb = (char *)test_slurp(sk, &sl);
  cb = (char *)test_slurp(cm, &cl);
  ck_assert_int_eq(esmm_dataset_read_aliccp_buffer(&back2, NULL, sb, sl, cb, cl), ESMM_OK);
  same_rows(ds, back2);
  free(sb);
  free(cb);
  esmm_dataset_free(back2);
  esmm_dataset_free(back);
  esmm_dataset_free(ds);
  esmm_sim_free(sim);
}
END_TEST

/* The two real common rows (343 and 811 features), joined with samples
 * we write for them. */
START_TEST(real_common_fragment) {
  esmm_dataset *ds;
  char sk[128];
  size_t n;
  const int *f;
  const uint64_t *id;
  const float *v;
  int64_t c0, c1;
  FILE *fp;
  snprintf(sk, sizeof sk, "%s/skel.csv", dir);
  fp = fopen(sk, "wb");
  fprintf(fp, "1,1,0,0000350f0c2121e7,1,205\x02" "4473723\x03" "1.0\n"
              "2,0,0,84dceed2e3a667f8,2,205\x02" "1\x03" "1.0\x01" "508\x02" "9\x03" "0.69315\n"
              "3,0,0,0000350f0c2121e7,0,\n");
  fclose(fp);
  ck_assert_int_eq(esmm_dataset_read_aliccp(&ds, NULL, sk, FRAGMENT), ESMM_OK);
  ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_ROWS), 3);
  ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_COMMONS), 2); /* line 2 first referenced, stored first */
  ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_COMMON_LINES), 2);
  esmm_dataset_row(ds, 0, NULL, NULL, &c0, NULL, NULL, NULL, NULL);
  esmm_dataset_row(ds, 2, NULL, NULL, &c1, NULL, NULL, NULL, NULL);
  ck_assert_int_eq(c0, 0);
  ck_assert_int_eq(c1, 0); /* the same common row is stored once */
  esmm_dataset_common(ds, 0, &n, &f, &id, &v);
  ck_assert_uint_eq(n, 811);
  esmm_dataset_row(ds, 1, NULL, NULL, &c1, &n, &f, &id, &v);
  ck_assert_int_eq(c1, 1);
  ck_assert_uint_eq(n, 2);
  ck_assert_float_eq(v[1], 0.69315f);
  esmm_dataset_common(ds, 1, &n, &f, &id, &v);
  ck_assert_uint_eq(n, 343);
  ck_assert_uint_eq(id[0], 31319); /* "101\x02" "31319\x03" "1.0" */
  ck_assert_int_eq(f[0], 0);
  ck_assert_float_eq(v[0], 1.0f);
  esmm_dataset_free(ds);
}
END_TEST

/* One skeleton buffer (+ a fixed common buffer) -> status and message. */
static const char COMMON[] = "u1,2,101\x02" "7\x03" "1.0\x01" "109_14\x02" "5\x03" "0.5\n"
                             "u2,1,101\x02" "8\x03" "1.0\n"
                             "bad,3,101\x02" "9\x03" "1.0\n";

static void expect_fail(const char *skel, size_t len, const char *msg) {
  esmm_dataset *ds = (esmm_dataset *)1;
  int rc = esmm_dataset_read_aliccp_buffer(&ds, NULL, skel, len, COMMON, sizeof COMMON - 1);
  ck_assert_int_eq(rc, ESMM_EFORMAT);
  ck_assert_ptr_null(ds);
  ck_assert_str_eq(esmm_last_error(), msg);
}

#define FAIL(s, m) expect_fail(s, sizeof(s) - 1, "esmm_dataset_read_aliccp_buffer: " m)

START_TEST(bad_input_messages) {
  FAIL("1,0,0,u1,1,205\x02" "1\x03" "1\n1,2,0,u1,0,\n", "<skeleton>:2:3: click must be 0 or 1, got \"2\"");
  FAIL("1,0,-1,u1,0,\n", "<skeleton>:1:5: conversion must be 0 or 1, got \"-1\"");
  FAIL("1,0,0,u1,0\n", "<skeleton>:1: expected 6 comma-separated columns, found 5");
  FAIL("1,0,0\n", "<skeleton>:1: expected 6 comma-separated columns, found 3");
  FAIL("1,0,0,u1,2,205\x02" "1\x03" "1\n", "<skeleton>:1:10: feature_num is 2 but the list has 1 features");
  FAIL("1,0,0,u1,x,\n", "<skeleton>:1:10: feature_num \"x\" is not an unsigned integer");
  FAIL("1,0,0,u1,1,2051\x03" "1\n", "<skeleton>:1:12: feature \"2051\\x031\" has no 0x02 separator");
  FAIL("1,0,0,u1,1,205\x02" "1\n", "<skeleton>:1:12: feature \"205\\x021\" has no 0x03 separator");
  FAIL("1,0,0,u1,2,205\x02" "1\x03" "1\x01\n", "<skeleton>:1:20: empty feature");
  FAIL("1,0,0,u1,1,999\x02" "1\x03" "1\n", "<skeleton>:1:12: unknown field \"999\"");
  FAIL("1,0,0,u1,1,205\x02" "18446744073709551616\x03" "1\n",
       "<skeleton>:1:16: id \"18446744073709551616\" overflows 64 bits");
  FAIL("1,0,0,u1,1,205\x02" "ab\x03" "1\n", "<skeleton>:1:16: id \"ab\" is not an unsigned integer");
  FAIL("1,0,0,u1,1,205\x02" "1\x03" "nan\n", "<skeleton>:1:18: value \"nan\" is not a finite float");
  FAIL("1,0,0,u1,1,205\x02" "1\x03" "-inf\n", "<skeleton>:1:18: value \"-inf\" is not a finite float");
  FAIL("1,0,0,u1,1,205\x02" "1\x03" "1e39\n", "<skeleton>:1:18: value \"1e39\" is not a finite float");
  FAIL("1,0,0,u1,1,205\x02" "1\x03" "1,5\n", "<skeleton>:1:18: value \"1,5\" is not a number");
  FAIL("1,0,0,zz,0,\n", "<skeleton>:1:7: common_feature_index \"zz\" is not in <common>");
  FAIL("1,0,0,bad,0,\n", "<common>:3:5: feature_num is 3 but the list has 1 features");
  FAIL("1,0,0,u1,0,\n1,0\0,0,u1,0,\n", "<skeleton>:2:4: NUL byte");
  /* truncated mid-line: the last line stops inside a feature */
  FAIL("1,0,0,u1,1,205\x02" "1\x03" "1\n2,1,0,u1,2,205\x02" "1\x03" "1\x01" "206\x02",
       "<skeleton>:2:20: feature \"206\\x02\" has no 0x03 separator");
}
END_TEST

START_TEST(tolerated_layout) {
  /* CRLF, empty lines, no final newline, ids beyond 32 and up to 64 bits,
   * a line longer than the 1 MiB read chunk (file path) */
  static const char s[] = "\r\n1,1,1,u1,1,205\x02" "18446744073709551615\x03" "1.0\r\n\n"
                          "2,0,0,u2,1,205\x02" "4294967297\x03" "2.5";
  esmm_dataset *ds;
  size_t n;
  const uint64_t *id;
  const float *v;
  int64_t c;
  char sk[128], cm[128];
  FILE *fp;
  ck_assert_int_eq(esmm_dataset_read_aliccp_buffer(&ds, NULL, s, sizeof s - 1, COMMON, sizeof COMMON - 1), ESMM_OK);
  ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_ROWS), 2);
  esmm_dataset_row(ds, 0, NULL, NULL, &c, &n, NULL, &id, &v);
  ck_assert_uint_eq(id[0], UINT64_MAX);
  esmm_dataset_row(ds, 1, NULL, NULL, &c, &n, NULL, &id, &v);
  ck_assert_uint_eq(id[0], 4294967297ULL);
  ck_assert_float_eq(v[0], 2.5f);
  ck_assert_int_eq(c, 1);
  esmm_dataset_free(ds);

  snprintf(sk, sizeof sk, "%s/long.csv", dir);
  snprintf(cm, sizeof cm, "%s/com.csv", dir);
  fp = fopen(cm, "wb");
  fwrite(COMMON, 1, sizeof COMMON - 1, fp);
  fclose(fp);
  fp = fopen(sk, "wb");
  fprintf(fp, "1,0,0,u2,200000,");
  for (int k = 0; k < 200000; k++)
    fprintf(fp, "%s210\x02%d\x03" "1.0", k ? "\x01" : "", k);
  fprintf(fp, "\n2,1,0,u1,0,\n");
  fclose(fp);
  ck_assert_int_eq(esmm_dataset_read_aliccp(&ds, NULL, sk, cm), ESMM_OK);
  ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_FEATURES), 200000);
  ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_ROWS), 2);
  esmm_dataset_free(ds);
}
END_TEST

START_TEST(skip_and_count) {
  static const char s[] = "1,0,0,u1,0,\n"                   /* ok */
                          "2,2,0,u1,0,\n"                   /* label */
                          "3,0,0,u1,1,205\x02" "x\x03" "1\n" /* malformed */
                          "4,0,0,nope,0,\n"                 /* missing common */
                          "5,0,0,bad,0,\n"                  /* malformed common */
                          "6,0,1,u2,0,\n"                   /* click 0 conversion 1 */
                          "7,1,1,u2,1,999\x02" "1\x03" "1\n" /* unknown field */
                          "8,0,\0,u2,0,\n";                 /* NUL */
  esmm_config *c = test_config_named("on_error", "skip", "unknown_field", "ignore", NULL);
  esmm_dataset *ds;
  ck_assert_int_eq(esmm_dataset_read_aliccp_buffer(&ds, c, s, sizeof s - 1, COMMON, sizeof COMMON - 1), ESMM_OK);
  ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_LINES), 8);
  ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_ROWS), 3);
  ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_SKIPPED), 5);
  ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_SKIPPED_LABEL), 1);
  ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_SKIPPED_MALFORMED), 2);
  ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_SKIPPED_MISSING_COMMON), 2);
  ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_COMMON_SKIPPED), 1);
  ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_CONV_NO_CLICK_READ), 1);
  ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_CONVERSIONS_WITHOUT_CLICK), 1); /* policy keep */
  ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_FEATURES_IGNORED), 1);
  ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_FEATURES), 0);
  { /* the report: every row accounted for, the skipped ones by line */
    static const char *const want_skip = "2:label,3:malformed,4:missing_common,5:missing_common,8:malformed";
    static const int64_t kept_lines[3] = {1, 6, 7};
    char got[256] = "";
    esmm_data_report r;
    const char *m;
    ck_assert_int_eq(esmm_dataset_report(ds, &r, sizeof r), ESMM_OK);
    ck_assert_int_eq(r.rows_read, r.rows_kept + r.skipped);
    ck_assert_int_eq(r.common_lines, 3);
    ck_assert_int_eq(r.common_skipped, 1);
    ck_assert_int_eq(r.commons, 2);
    ck_assert_str_eq(r.source, "<skeleton>");
    ck_assert_int_eq(r.messages, 5); /* the first five of six: the common row's comes first */
    ck_assert_int_eq(esmm_dataset_report_message(ds, 0, &m), ESMM_OK);
    ck_assert_str_eq(m, "<skeleton>:2:3: click must be 0 or 1, got \"2\"");
    ck_assert_int_eq(esmm_dataset_report_message(ds, 3, &m), ESMM_OK);
    ck_assert_ptr_nonnull(strstr(m, "<common>:3:"));
    for (int64_t k = 0; k < test_ds_stat(ds, ESMM_DS_SKIPPED_LISTED); k++) {
      int64_t line;
      int reason;
      ck_assert_int_eq(esmm_dataset_skipped_row(ds, (size_t)k, &line, &reason), ESMM_OK);
      snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld:%s", k ? "," : "", (long long)line,
               esmm_skip_reason_name(reason));
    }
    ck_assert_str_eq(got, want_skip);
    for (size_t i = 0; i < 3; i++) {
      int64_t line;
      ck_assert_int_eq(esmm_dataset_row_source(ds, i, &line, NULL, NULL), ESMM_OK);
      ck_assert_int_eq(line, kept_lines[i]);
    }
  }
  esmm_dataset_free(ds);
  /* max_errors: the 6th bad row is one too many with max 4 */
  ck_assert_int_eq(esmm_config_set_by_name(c, "max_errors", "4"), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_read_aliccp_buffer(&ds, c, s, sizeof s - 1, COMMON, sizeof COMMON - 1),
                   ESMM_EFORMAT);
  ck_assert_str_eq(esmm_last_error(), "esmm_dataset_read_aliccp_buffer: more than 4 bad rows; the last: "
                                      "<skeleton>:5:7: common_feature_index \"bad\" refers to the malformed <common>:3");
  esmm_config_free(c);
}
END_TEST

START_TEST(conv_no_click_policies) {
  static const char s[] = "1,0,1,u1,0,\n2,1,1,u1,0,\n3,0,1,,0,\n4,0,0,,0,\n";
  static const char *const pol[] = {"keep", "zero", "drop", "error"};
  static const int64_t rows[] = {4, 4, 2, 0}, conv[] = {3, 1, 1, 0}, cnc[] = {2, 0, 0, 0}, skipped[] = {0, 0, 2, 0};
  for (int p = 0; p < 4; p++) {
    esmm_config *c = test_config_named("conv_no_click", pol[p], NULL);
    esmm_dataset *ds = NULL;
    int rc = esmm_dataset_read_aliccp_buffer(&ds, c, s, sizeof s - 1, COMMON, sizeof COMMON - 1);
    if (p == 3) {
      ck_assert_int_eq(rc, ESMM_EFORMAT);
      ck_assert_str_eq(esmm_last_error(), "esmm_dataset_read_aliccp_buffer: <skeleton>:1: conversion 1 without a click (conv_no_click=error)");
      ck_assert_int_eq(esmm_config_set_by_name(c, "on_error", "skip"), ESMM_OK);
      ck_assert_int_eq(esmm_dataset_read_aliccp_buffer(&ds, c, s, sizeof s - 1, COMMON, sizeof COMMON - 1), ESMM_OK);
      ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_ROWS), 2);
      ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_SKIPPED_CONV_NO_CLICK), 2);
    } else {
      ck_assert_int_eq(rc, ESMM_OK);
      ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_ROWS), rows[p]);
      ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_CONVERSIONS), conv[p]);
      ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_CONVERSIONS_WITHOUT_CLICK), cnc[p]);
      ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_SKIPPED), skipped[p]);
    }
    ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_CONV_NO_CLICK_READ), 2);
    esmm_dataset_free(ds);
    esmm_config_free(c);
  }
}
END_TEST

START_TEST(values_ignored_and_io_errors) {
  static const char s[] = "1,0,0,u1,2,205\x02" "3\x03" "nan\x01" "206\x02" "4\n";
  esmm_config *c = test_config_named("feature_values", "ignore", NULL);
  esmm_dataset *ds;
  const float *v;
  size_t n;
  ck_assert_int_eq(esmm_dataset_read_aliccp_buffer(&ds, c, s, sizeof s - 1, COMMON, sizeof COMMON - 1), ESMM_OK);
  esmm_dataset_row(ds, 0, NULL, NULL, NULL, &n, NULL, NULL, &v);
  ck_assert_uint_eq(n, 2);
  ck_assert_float_eq(v[0], 1.0f);
  ck_assert_float_eq(v[1], 1.0f);
  esmm_dataset_common(ds, 0, &n, NULL, NULL, &v);
  ck_assert_float_eq(v[1], 1.0f); /* 109_14's 0.5 ignored too */
  esmm_dataset_free(ds);
  esmm_config_free(c);
  ck_assert_int_eq(esmm_dataset_read_aliccp(&ds, NULL, "/nonexistent/s.csv", NULL), ESMM_EIO);
  ck_assert_str_eq(esmm_last_error(),
                   "esmm_dataset_read_aliccp: cannot open \"/nonexistent/s.csv\": No such file or directory");
  ck_assert_int_eq(esmm_dataset_read_aliccp(NULL, NULL, "x", NULL), ESMM_EINVAL);
  /* duplicate common key: the common file's line */
  {
    static const char dup[] = "k,0,\nk,0,\n";
    ck_assert_int_eq(esmm_dataset_read_aliccp_buffer(&ds, NULL, "", 0, dup, sizeof dup - 1), ESMM_EFORMAT);
    ck_assert_str_eq(esmm_last_error(),
                     "esmm_dataset_read_aliccp_buffer: <common>:2:1: duplicate common_feature_index \"k\" (first on line 1)");
  }
}
END_TEST

/* The value fast path is bit-identical to the correctly rounded parser.
 * Light mode (valgrind, test_slow_tool): 5000 random values, not 50000. */
START_TEST(value_fast_path_exact) {
  static const char *const fixed[] = {"1.0", "0.69315", "3.28343", "-2", "+7.5", "0.1", "123456789012345",
                                      "1234567890123456", "0.0000000000000000000001", "9007199254740993",
                                      "1e5", "1.", ".5", "-0", "nan", "inf", "1.2.3", "", "-", "."};
  uint64_t x = 0x9E3779B97F4A7C15ULL;
  char buf[64];
  for (size_t k = 0; k < sizeof fixed / sizeof *fixed; k++) {
    double a = -1, b = -1;
    int ra = esmm__rd_parse_value(fixed[k], strlen(fixed[k]), &a), rb = esmm__parse_double(fixed[k], strlen(fixed[k]), &b);
    ck_assert_int_eq(ra, rb);
    if (ra == 0 && !isnan(b))
      ck_assert_int_eq(memcmp(&a, &b, sizeof a), 0);
  }
  for (int t = 0, n = test_slow_tool() ? 5000 : 50000; t < n; t++) {
    double a, b;
    int len;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    len = snprintf(buf, sizeof buf, "%llu.%0*llu", (unsigned long long)(x % 100000), (int)(x >> 60) % 12 + 1,
                   (unsigned long long)((x >> 20) % 1000000000000ULL));
    ck_assert_int_eq(esmm__rd_parse_value(buf, (size_t)len, &a), 0);
    ck_assert_int_eq(esmm__parse_double(buf, (size_t)len, &b), 0);
    ck_assert_msg(memcmp(&a, &b, sizeof a) == 0, "%s", buf);
  }
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("aliccp");
  TCase *tc = tcase_create("core");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, sim_round_trip);
  tcase_add_test(tc, real_common_fragment);
  tcase_add_test(tc, bad_input_messages);
  tcase_add_test(tc, tolerated_layout);
  tcase_add_test(tc, skip_and_count);
  tcase_add_test(tc, conv_no_click_policies);
  tcase_add_test(tc, values_ignored_and_io_errors);
  tcase_add_test(tc, value_fast_path_exact);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return test_main(suite()); }
