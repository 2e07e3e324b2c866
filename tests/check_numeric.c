/* check_numeric.c - numerics under attack: NaN/Inf in input data, in the
 * weights of a model file, in a model's parameters at save time, and a
 * learning rate that makes training diverge. The promise (docs/reliability.md):
 * non-finite numbers are refused where they enter, reported as
 * ESMM_ENUMERIC (ESMM_EFORMAT for text input), and never written into a
 * saved model. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <esmm/esmm.h>
#include <esmm/io.h>

#include "crc32.h"        /* esmm__crc32: re-seal a file after planting a NaN */
#include "model.h"        /* esmm__model_tensors: plant a NaN in a live model */
#include "support/support.h"

/* ---- inputs ------------------------------------------------------------------- */

static void assert_text_refused(const char *text, const char *msg) {
  esmm_dataset *ds = (esmm_dataset *)1;
  ck_assert_int_eq(esmm_dataset_read_text_buffer(&ds, NULL, text, strlen(text), "t"), ESMM_EFORMAT);
  ck_assert_ptr_null(ds);
  ck_assert_str_eq(esmm_last_error(), msg);
}

/* Every spelling of NaN and Inf the number parser knows, and finite decimals
 * beyond the float range (they would become Inf when stored as float). */
START_TEST(text_reader_refuses_non_finite) {
  esmm_dataset *ds = NULL;
  int64_t rows = 0;
  assert_text_refused("1 0 101:5:nan\n", "esmm_dataset_read_text_buffer: t:1: value \"nan\" is not finite");
  assert_text_refused("1 0 101:5:NaN\n", "esmm_dataset_read_text_buffer: t:1: value \"NaN\" is not finite");
  assert_text_refused("0 0 101:1\n1 0 101:5:inf\n", "esmm_dataset_read_text_buffer: t:2: value \"inf\" is not finite");
  assert_text_refused("1 0 101:5:-Infinity\n",
                      "esmm_dataset_read_text_buffer: t:1: value \"-Infinity\" is not finite");
  assert_text_refused("1 0 101:5:1e39\n", "esmm_dataset_read_text_buffer: t:1: value \"1e39\" is not finite");
  assert_text_refused("1 0 101:5:-3.5e38\n", "esmm_dataset_read_text_buffer: t:1: value \"-3.5e38\" is not finite");
  /* the largest finite floats are data, not errors */
  ck_assert_int_eq(esmm_dataset_read_text_buffer(&ds, NULL, "1 0 101:5:3.4e38 121:1:-3.4e38\n", 31, "t"), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_stat(ds, ESMM_DS_ROWS, &rows), ESMM_OK);
  ck_assert_int_eq(rows, 1);
  esmm_dataset_free(ds);
}
END_TEST

START_TEST(aliccp_reader_refuses_non_finite) {
  static const char *const vals[] = {"nan", "inf", "-inf", "1e39"};
  for (int i = 0; i < 4; i++) {
    char sk[128], want[256];
    esmm_dataset *ds = (esmm_dataset *)1;
    int n = snprintf(sk, sizeof sk, "1,1,0,,1,101\x02" "5\x03%s\n", vals[i]);
    ck_assert_int_eq(esmm_dataset_read_aliccp_buffer(&ds, NULL, sk, (size_t)n, NULL, 0), ESMM_EFORMAT);
    ck_assert_ptr_null(ds);
    snprintf(want, sizeof want,
             "esmm_dataset_read_aliccp_buffer: <skeleton>:1:16: value \"%s\" is not a finite float", vals[i]);
    ck_assert_str_eq(esmm_last_error(), want);
  }
  /* in a common-features row too: a bad common row makes its samples bad */
  {
    static const char sk[] = "1,1,0,u1,1,101\x02" "5\x03" "1\n";
    static const char co[] = "u1,1,121\x02" "7\x03nan\n";
    esmm_dataset *ds = (esmm_dataset *)1;
    ck_assert_int_eq(esmm_dataset_read_aliccp_buffer(&ds, NULL, sk, sizeof sk - 1, co, sizeof co - 1), ESMM_EFORMAT);
    ck_assert_ptr_null(ds);
    ck_assert_ptr_nonnull(strstr(esmm_last_error(), "esmm_dataset_read_aliccp_buffer: "));
  }
}
END_TEST

START_TEST(csv_reader_refuses_non_finite) {
  static const char *const vals[] = {"nan", "-inf", "1e39"};
  esmm_config *cfg;
  ck_assert_int_eq(esmm_config_new(&cfg), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(cfg, ESMM_OPT_DENSE_FEATURES, 1), ESMM_OK);
  for (int i = 0; i < 3; i++) {
    char csv[128], want[256];
    esmm_dataset *ds = (esmm_dataset *)1;
    int n = snprintf(csv, sizeof csv, "click,conv,D1\n1,0,%s\n", vals[i]);
    ck_assert_int_eq(esmm_dataset_read_csv_buffer(&ds, cfg, csv, (size_t)n, "c", "click=click;conversion=conv;num=D1"),
                     ESMM_EFORMAT);
    ck_assert_ptr_null(ds);
    snprintf(want, sizeof want, "esmm_dataset_read_csv_buffer: c:2:5: numeric cell \"%s\" is not a finite float",
             vals[i]);
    ck_assert_str_eq(esmm_last_error(), want);
  }
  {
    static const char tok[] = "1,1,0,101:5:nan\n";
    esmm_dataset *ds = (esmm_dataset *)1;
    ck_assert_int_eq(esmm_dataset_read_csv_buffer(&ds, NULL, tok, sizeof tok - 1, "c", "tokens"), ESMM_EFORMAT);
    ck_assert_ptr_null(ds);
    ck_assert_str_eq(esmm_last_error(), "esmm_dataset_read_csv_buffer: c:1:13: value \"nan\" is not a finite number");
  }
  esmm_config_free(cfg);
}
END_TEST

/* The API entry for host data refuses NaN/Inf and appends nothing. */
START_TEST(add_rows_refuses_non_finite) {
  esmm_dataset *ds;
  int click[2] = {1, 0}, conv[2] = {0, 0}, field[2] = {0, 1};
  int64_t off[3] = {0, 1, 2}, rows = -1;
  uint64_t id[2] = {1, 2};
  const float bad[][2] = {{1.0f, NAN}, {INFINITY, 1.0f}, {1.0f, -INFINITY}};
  ck_assert_int_eq(esmm_dataset_new(&ds, NULL), ESMM_OK);
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(esmm_dataset_add_rows(ds, 2, click, conv, NULL, off, field, id, bad[i]), ESMM_ENUMERIC);
    ck_assert_ptr_nonnull(strstr(esmm_last_error(), "esmm_dataset_add_rows: row "));
    ck_assert_int_eq(esmm_dataset_add_common(ds, 2, field, id, bad[i], NULL), ESMM_ENUMERIC);
    ck_assert_ptr_nonnull(strstr(esmm_last_error(), "esmm_dataset_add_common: "));
  }
  ck_assert_int_eq(esmm_dataset_stat(ds, ESMM_DS_ROWS, &rows), ESMM_OK);
  ck_assert_int_eq(rows, 0);
  ck_assert_int_eq(esmm_dataset_stat(ds, ESMM_DS_COMMONS, &rows), ESMM_OK);
  ck_assert_int_eq(rows, 0);
  esmm_dataset_free(ds);
}
END_TEST

/* ---- model files ----------------------------------------------------------------- */

/* 3 fields of 16 buckets, dim 4, towers 8,4 / 6, batch 16. */
static esmm_config *small_config(void) {
  const char *names[] = {"a", "b", "c"};
  esmm_config *c = test_tower_config(names, NULL, 16);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_HASH_BUCKETS, 16), ESMM_OK);
  return c;
}

/* Recompute every checksum (docs/model-format.md), so that only the planted
 * value is wrong with the file. */
static void reseal(unsigned char *b, size_t len) {
  uint32_t n = test_le32(b + 12);
  size_t hdr = 24 + 32 * (size_t)n;
  ck_assert_uint_le(hdr + 4, len);
  for (uint32_t i = 0; i < n; i++) {
    unsigned char *e = b + 24 + 32 * i;
    test_put32(e + 24, esmm__crc32(0, b + test_le64(e + 8), (size_t)test_le64(e + 16)));
  }
  test_put32(b + hdr, esmm__crc32(0, b, hdr));
}

/* Find the tensor-index and data sections; fill name/offset/count of each
 * tensor. Returns the number of tensors. */
typedef struct tinfo {
  char name[64];
  size_t off, count;
} tinfo;

static size_t tensors_of(const unsigned char *b, tinfo *t, size_t cap) {
  uint32_t n = test_le32(b + 12), count;
  uint64_t idx_off = 0, data_off = 0;
  const unsigned char *q;
  for (uint32_t i = 0; i < n; i++) {
    const unsigned char *e = b + 24 + 32 * i;
    if (test_le32(e) == 2)
      idx_off = test_le64(e + 8);
    if (test_le32(e) == 3)
      data_off = test_le64(e + 8);
  }
  ck_assert(idx_off && data_off);
  q = b + idx_off;
  count = test_le32(q);
  q += 4;
  ck_assert_uint_le(count, cap);
  for (uint32_t i = 0; i < count; i++) {
    uint32_t nl = test_le32(q);
    ck_assert_uint_lt(nl, sizeof t[i].name);
    memcpy(t[i].name, q + 4, nl);
    t[i].name[nl] = '\0';
    q += 4 + nl + 8; /* name, dtype, rank */
    t[i].count = (size_t)(test_le64(q) * test_le64(q + 8));
    t[i].off = (size_t)(data_off + test_le64(q + 16));
    q += 24;
  }
  return count;
}

/* A NaN, +Inf or -Inf in any tensor of a file with valid checksums is
 * refused as ESMM_ENUMERIC, naming the parameter. */
START_TEST(load_refuses_non_finite_weights) {
  esmm_config *cfg = small_config();
  esmm_model *m, *got = (esmm_model *)1;
  size_t len = 0, nt;
  unsigned char *b;
  tinfo t[64];
  const uint32_t bits[3] = {0x7fc00000u, 0x7f800000u, 0xff800000u}; /* NaN, +Inf, -Inf */
  ck_assert_int_eq(esmm_model_new(&m, cfg), ESMM_OK);
  ck_assert_int_eq(esmm_model_save_buffer(m, NULL, 0, &len), ESMM_EBUFS);
  b = malloc(len);
  ck_assert_ptr_nonnull(b);
  ck_assert_int_eq(esmm_model_save_buffer(m, b, len, &len), ESMM_OK);
  nt = tensors_of(b, t, 64);
  ck_assert_uint_eq(nt, 1 + 2 * 3 + 2 * 2); /* embedding + (w, b) x (3 + 2 layers) */
  for (size_t i = 0; i < nt; i++) {
    size_t where[2] = {0, t[i].count - 1};
    for (int w = 0; w < 2; w++)
      for (int k = 0; k < 3; k++) {
        unsigned char *p = b + t[i].off + 4 * where[w], saved[4];
        char want[8192];
        memcpy(saved, p, 4);
        test_put32(p, bits[k]);
        reseal(b, len);
        ck_assert_int_eq(esmm_model_load_buffer(&got, b, len, NULL), ESMM_ENUMERIC);
        ck_assert_ptr_null(got);
        snprintf(want, sizeof want, "esmm_model_load_buffer: parameter %s[%zu] is NaN or infinite", t[i].name,
                 where[w]);
        ck_assert_str_eq(esmm_last_error(), want);
        memcpy(p, saved, 4);
      }
  }
  reseal(b, len);
  ck_assert_int_eq(esmm_model_load_buffer(&got, b, len, NULL), ESMM_OK);
  esmm_model_free(got);
  free(b);
  esmm_model_free(m);
  esmm_config_free(cfg);
}
END_TEST

/* A model holding a NaN is never saved: save and save_buffer refuse with
 * ESMM_ENUMERIC and the file at the path keeps its old content. */
START_TEST(save_refuses_non_finite_weights) {
  esmm_config *cfg = small_config();
  esmm_model *m, *back = NULL;
  esmm__tensor t[64];
  size_t nt, len = 0;
  char dir[] = "/tmp/esmm-numeric-XXXXXX", path[64], want[8192];
  unsigned char *before, *after;
  FILE *f;
  ck_assert_int_eq(esmm_model_new(&m, cfg), ESMM_OK);
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/m.esmm", dir);
  ck_assert_int_eq(esmm_model_save(m, path), ESMM_OK);
  ck_assert_int_eq(esmm_model_save_buffer(m, NULL, 0, &len), ESMM_EBUFS);
  before = malloc(len);
  after = malloc(len + 1);
  ck_assert_int_eq(esmm_model_save_buffer(m, before, len, &len), ESMM_OK);
  nt = esmm__model_tensors(m, t, 64);
  ck_assert_uint_ge(nt, 3);
  for (size_t i = 0; i < nt; i++) {
    size_t k = (t[i].rows * t[i].cols) / 2;
    float keep = t[i].data[k];
    t[i].data[k] = i % 2 ? INFINITY : NAN;
    ck_assert_int_eq(esmm_model_save(m, path), ESMM_ENUMERIC);
    snprintf(want, sizeof want, "esmm_model_save: parameter %s[%zu] is %s; nothing was written", t[i].name, k,
             i % 2 ? "infinite" : "NaN");
    ck_assert_str_eq(esmm_last_error(), want);
    ck_assert_int_eq(esmm_model_save_buffer(m, after, len, &len), ESMM_ENUMERIC);
    t[i].data[k] = keep;
  }
  /* the file is the first save, byte for byte, and nothing else is there */
  f = fopen(path, "rb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fread(after, 1, len + 1, f), len);
  fclose(f);
  ck_assert_int_eq(memcmp(before, after, len), 0);
  ck_assert_int_eq(esmm_model_load(&back, path, NULL), ESMM_OK);
  esmm_model_free(back);
  unlink(path);
  ck_assert_int_eq(rmdir(dir), 0); /* fails if a temporary was left behind */
  free(before);
  free(after);
  esmm_model_free(m);
  esmm_config_free(cfg);
}
END_TEST

/* ---- divergence ------------------------------------------------------------------- */

/* Fields a, b, c with the default towers (200, 80): the shape in which
 * these divergence scenarios were found. */
static esmm_config *diverge_config(const char *optimizer, double lr) {
  esmm_config *c;
  const char *names[] = {"a", "b", "c"};
  ck_assert_int_eq(esmm_config_new(&c), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_fields(c, 3, names, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_HASH_BUCKETS, 16), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_EMBED_DIM, 4), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_BATCH_SIZE, 16), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_by_name(c, "optimizer", optimizer), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_float(c, ESMM_OPT_LEARNING_RATE, lr), ESMM_OK);
  return c;
}

/* 64 rows, 3 features each, every value v. */
static esmm_dataset *valued_data(const esmm_config *cfg, float v) {
  esmm_dataset *ds;
  int click[64], conv[64], f[192];
  int64_t off[65];
  uint64_t id[192];
  float val[192];
  off[0] = 0;
  for (int r = 0; r < 64; r++) {
    click[r] = r % 3 == 0;
    conv[r] = click[r] && r % 2 == 0;
    for (int k = 0; k < 3; k++) {
      f[3 * r + k] = k;
      id[3 * r + k] = (uint64_t)((r * 7 + k) % 11);
      val[3 * r + k] = v;
    }
    off[r + 1] = 3 * r + 3;
  }
  ck_assert_int_eq(esmm_dataset_new(&ds, cfg), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_add_rows(ds, 64, click, conv, NULL, off, f, id, val), ESMM_OK);
  return ds;
}

/* SGD at the largest learning rate on inputs of magnitude 100 diverges
 * within a few steps. Training must stop with ESMM_ENUMERIC, the failed
 * step must not be applied (the parameters are those after the last good
 * step, bit for bit), the model still saves (its parameters are finite)
 * and the file loads back; nothing non-finite is ever written. */
START_TEST(divergence_detected) {
  esmm_config *cfg = diverge_config("sgd", 10.0);
  esmm_dataset *ds;
  esmm_model *m, *back = NULL;
  size_t len = 0, len2 = 0;
  unsigned char *last = NULL, *now = NULL;
  char dir[] = "/tmp/esmm-numeric-XXXXXX", path[64];
  int rc = ESMM_OK, steps = 0;
  double stat_steps = -1;
  ds = valued_data(cfg, 100.0f);
  ck_assert_int_eq(esmm_model_new(&m, cfg), ESMM_OK);
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/m.esmm", dir);
  for (steps = 0; steps < 100; steps++) {
    free(last);
    ck_assert_int_eq(esmm_model_save_buffer(m, NULL, 0, &len), ESMM_EBUFS);
    last = malloc(len);
    ck_assert_int_eq(esmm_model_save_buffer(m, last, len, &len), ESMM_OK);
    rc = esmm_model_train_steps(m, ds, 1, NULL, NULL);
    if (rc != ESMM_OK)
      break;
  }
  ck_assert_int_eq(rc, ESMM_ENUMERIC);
  ck_assert_int_lt(steps, 20); /* it does diverge, and fast */
  ck_assert_msg(strncmp(esmm_last_error(), "esmm_model_train", 16) == 0 && strstr(esmm_last_error(), "not finite") &&
                    strstr(esmm_last_error(), "not applied"),
                "message \"%s\"", esmm_last_error());
  ck_assert_int_eq(esmm_model_stat(m, ESMM_STAT_STEP, &stat_steps), ESMM_OK);
  ck_assert_int_eq((int)stat_steps, steps);
  now = malloc(len);
  ck_assert_int_eq(esmm_model_save_buffer(m, now, len, &len2), ESMM_OK);
  ck_assert_uint_eq(len2, len);
  ck_assert_msg(memcmp(now, last, len) == 0, "the failed step changed the model");
  /* training on goes on failing the same way, changing nothing */
  ck_assert_int_eq(esmm_model_train_steps(m, ds, 1, NULL, NULL), ESMM_ENUMERIC);
  ck_assert_int_eq(esmm_model_save(m, path), ESMM_OK);
  ck_assert_int_eq(esmm_model_load(&back, path, NULL), ESMM_OK);
  esmm_model_free(back);
  unlink(path);
  rmdir(dir);
  free(last);
  free(now);
  esmm_model_free(m);
  esmm_dataset_free(ds);
  esmm_config_free(cfg);
}
END_TEST

/* Inputs at the edge of the float range overflow the first forward pass:
 * the first step is refused, not applied. (Values up to 1e38 take this
 * path; see the known-bug test below for 3e38.) */
START_TEST(huge_inputs_detected) {
  esmm_config *cfg = diverge_config("sgd", 0.001);
  esmm_dataset *ds = valued_data(cfg, 1e38f);
  esmm_model *m;
  double steps = -1;
  int rc = ESMM_OK;
  ck_assert_int_eq(esmm_model_new(&m, cfg), ESMM_OK);
  for (int s = 0; s < 10 && rc == ESMM_OK; s++)
    rc = esmm_model_train_steps(m, ds, 1, NULL, NULL);
  ck_assert_int_eq(rc, ESMM_ENUMERIC);
  ck_assert_int_eq(esmm_model_stat(m, ESMM_STAT_STEP, &steps), ESMM_OK);
  /* whatever was applied is finite: the model saves */
  {
    size_t len = 0;
    unsigned char *b;
    ck_assert_int_eq(esmm_model_save_buffer(m, NULL, 0, &len), ESMM_EBUFS);
    b = malloc(len);
    ck_assert_int_eq(esmm_model_save_buffer(m, b, len, &len), ESMM_OK);
    free(b);
  }
  esmm_model_free(m);
  esmm_dataset_free(ds);
  esmm_config_free(cfg);
}
END_TEST

/* With inputs of 3e38 and SGD at learning rate 10 the update itself
 * overflows an embedding weight: the step must report ESMM_ENUMERIC (the
 * model then refuses to be saved). */
START_TEST(update_overflow_detected) {
  esmm_config *cfg = diverge_config("sgd", 10.0);
  esmm_dataset *ds;
  esmm_model *m;
  size_t len = 0;
  int rc;
  ds = valued_data(cfg, 3e38f);
  ck_assert_int_eq(esmm_model_new(&m, cfg), ESMM_OK);
  rc = esmm_model_train_steps(m, ds, 1, NULL, NULL);
  ck_assert_int_eq(rc, ESMM_ENUMERIC);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "overflowed"));
  ck_assert_int_eq(esmm_model_save_buffer(m, NULL, 0, &len), ESMM_ENUMERIC);
  esmm_model_free(m);
  esmm_dataset_free(ds);
  esmm_config_free(cfg);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("numeric");
  TCase *in = tcase_create("inputs"), *files = tcase_create("files"), *train = tcase_create("training");
  tcase_add_test(in, text_reader_refuses_non_finite);
  tcase_add_test(in, aliccp_reader_refuses_non_finite);
  tcase_add_test(in, csv_reader_refuses_non_finite);
  tcase_add_test(in, add_rows_refuses_non_finite);
  tcase_add_test(files, load_refuses_non_finite_weights);
  tcase_add_test(files, save_refuses_non_finite_weights);
  tcase_add_test(train, divergence_detected);
  tcase_add_test(train, huge_inputs_detected);
  tcase_add_test(train, update_overflow_detected);
  tcase_set_timeout(in, 60);
  tcase_set_timeout(files, 60);
  tcase_set_timeout(train, 60);
  suite_add_tcase(s, in);
  suite_add_tcase(s, files);
  suite_add_tcase(s, train);
  return s;
}

int main(void) { return test_main(suite()); }
