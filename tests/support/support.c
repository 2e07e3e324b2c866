/* support.c - the shared test fixtures (support.h). */
#include "support/support.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int test_main(Suite *s) {
  SRunner *sr = srunner_create(s);
  int failed;
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

void test_one_blas_thread(char **argv) {
  if (!getenv("OPENBLAS_NUM_THREADS") && setenv("OPENBLAS_NUM_THREADS", "1", 1) == 0)
    execv("/proc/self/exe", argv); /* on failure, run as is */
}

int test_slow_tool(void) { return getenv("ESMM_TEST_UNDER_TOOL") != NULL; }

void test_tmpdir_new(char *dir, size_t cap, const char *tag) {
  ck_assert_int_lt(snprintf(dir, cap, "/tmp/%s.XXXXXX", tag), (int)cap);
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

void test_tmpdir_remove(const char *dir) {
  char cmd[4200];
  ck_assert_ptr_nonnull(strstr(dir, "/tmp/")); /* never anything else */
  ck_assert_int_lt(snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir), (int)sizeof cmd);
  ck_assert_int_eq(system(cmd), 0);
}

unsigned char *test_slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  unsigned char *buf;
  long n;
  ck_assert_msg(f != NULL, "cannot open %s", path);
  ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
  n = ftell(f);
  ck_assert_int_ge(n, 0);
  ck_assert_int_eq(fseek(f, 0, SEEK_SET), 0);
  buf = malloc((size_t)n + 1);
  ck_assert_ptr_nonnull(buf);
  ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  buf[n] = 0;
  *len = (size_t)n;
  return buf;
}

void test_write_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  ck_assert_msg(f != NULL, "cannot create %s", path);
  ck_assert_uint_eq(fwrite(data, 1, len, f), len);
  ck_assert_int_eq(fclose(f), 0);
}

void test_write_text(const char *path, const char *text) { test_write_file(path, text, strlen(text)); }

uint32_t test_le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t test_le64(const unsigned char *p) { return (uint64_t)test_le32(p) | (uint64_t)test_le32(p + 4) << 32; }

void test_put32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

void *test_counting_alloc(void *counter, size_t size, size_t align) {
  test_counter *c = counter;
  void *p = NULL;
  long k = c->calls++;
  if (c->fail_from >= 0 && (c->fail_once ? k == c->fail_from : k >= c->fail_from)) {
    c->failed++;
    return NULL;
  }
  if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size ? size : 1) != 0)
    return NULL;
  c->allocs++;
  c->live++;
  return p;
}

void test_counting_free(void *counter, void *p) {
  test_counter *c = counter;
  if (p) {
    c->frees++;
    c->live--;
  }
  free(p);
}

void test_enomem_walk(int (*attempt)(test_counter *cnt, void *ctx), void *ctx, int max_fails, const char *func) {
  test_counter cnt = TEST_COUNTER_INIT;
  for (int b = 0; b <= max_fails; b++) {
    int rc;
    cnt.fail_from = cnt.calls + b; /* every ENOMEM path must free what it took */
    rc = attempt(&cnt, ctx);
    ck_assert_int_eq(cnt.live, 0);
    if (rc == ESMM_OK)
      return;
    ck_assert_int_eq(rc, ESMM_ENOMEM);
    ck_assert_msg(strstr(esmm_last_error(), func) != NULL, "last error '%s' does not name %s", esmm_last_error(),
                  func);
  }
  ck_abort_msg("%s still fails after %d allocation failures", func, max_fails);
}

esmm_config *test_tower_config(const char *const *names, const int64_t *buckets, int64_t batch) {
  esmm_config *c;
  int64_t ct[] = {8, 4}, vt[] = {6};
  ck_assert_int_eq(esmm_config_new(&c), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_fields(c, 3, names, buckets), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_EMBED_DIM, 4), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_ints(c, ESMM_OPT_CTR_TOWER, ct, 2), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_ints(c, ESMM_OPT_CVR_TOWER, vt, 1), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_BATCH_SIZE, batch), ESMM_OK);
  return c;
}

esmm_config *test_small_config(void) {
  const char *names[] = {"a", "b", "c"};
  const int64_t buckets[] = {7, 11, 5};
  esmm_config *c = test_tower_config(names, buckets, 32);
  ck_assert_int_eq(esmm_config_set_float(c, ESMM_OPT_INIT_SCALE, 0.5), ESMM_OK);
  return c;
}

esmm_config *test_config_named(const char *name, ...) {
  esmm_config *c;
  va_list ap;
  ck_assert_int_eq(esmm_config_new(&c), ESMM_OK);
  va_start(ap, name);
  for (; name; name = va_arg(ap, const char *)) {
    const char *value = va_arg(ap, const char *);
    ck_assert_msg(esmm_config_set_by_name(c, name, value) == ESMM_OK, "%s = %s: %s", name, value, esmm_last_error());
  }
  va_end(ap);
  return c;
}

esmm_model *test_sim_model(int64_t variant, int shuffle, int threads, int slices) {
  esmm_config *cfg = test_config_named("ctr_tower", "16,8", "cvr_tower", "12", "hash_buckets", "512", NULL);
  esmm_model *m;
  ck_assert_int_eq(esmm_config_set_int(cfg, ESMM_OPT_EMBED_DIM, 6), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(cfg, ESMM_OPT_BATCH_SIZE, 200), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(cfg, ESMM_OPT_VARIANT, variant), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(cfg, ESMM_OPT_SHUFFLE, shuffle), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(cfg, ESMM_OPT_NUM_THREADS, threads), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(cfg, ESMM_OPT_BATCH_SLICES, slices), ESMM_OK);
  ck_assert_int_eq(esmm_model_new(&m, cfg), ESMM_OK);
  esmm_config_free(cfg);
  return m;
}

esmm_dataset *test_small_data(const esmm_config *cfg, size_t n_rows, int conv_shift) {
  esmm_dataset *ds;
  int click[64], conv[64];
  int64_t common[64], off[65];
  int field[64 * 3];
  uint64_t id[64 * 3];
  float val[64 * 3];
  size_t k = 0;
  ck_assert(n_rows <= 64);
  ck_assert_int_eq(esmm_dataset_new(&ds, cfg), ESMM_OK);
  for (int g = 0; g < 4; g++) {
    int cf[2] = {0, 0};
    uint64_t cid[2] = {(uint64_t)g, (uint64_t)g + 100};
    float cv[2] = {1.0f, 0.5f};
    ck_assert_int_eq(esmm_dataset_add_common(ds, 2, cf, cid, cv, NULL), ESMM_OK);
  }
  off[0] = 0;
  for (size_t r = 0; r < n_rows; r++) {
    click[r] = (r % 3) == 0;
    conv[r] = click[r] && ((r + (size_t)conv_shift) % 2 == 0);
    common[r] = (r % 5 == 4) ? -1 : (int64_t)(r % 4);
    field[k] = 1, id[k] = r % 9, val[k] = 1.0f, k++;
    field[k] = 2, id[k] = (r * 7) % 13, val[k] = 0.75f, k++;
    if (r % 2) /* a multi-valued second field-1 feature */
      field[k] = 1, id[k] = 1000 + r, val[k] = 2.0f, k++;
    off[r + 1] = (int64_t)k;
  }
  ck_assert_int_eq(esmm_dataset_add_rows(ds, n_rows, click, conv, common, off, field, id, val), ESMM_OK);
  return ds;
}

int64_t test_ds_stat(const esmm_dataset *ds, int key) {
  int64_t v = -1;
  ck_assert_int_eq(esmm_dataset_stat(ds, key, &v), ESMM_OK);
  return v;
}

const char *test_ds_differs(const esmm_dataset *a, const esmm_dataset *b) {
  int64_t n, nc, nd, nf;
  for (int k = ESMM_DS_ROWS; k <= ESMM_DS_COMMON_SKIPPED; k++)
    if (test_ds_stat(a, k) != test_ds_stat(b, k))
      return "a count";
  n = test_ds_stat(a, ESMM_DS_ROWS);
  nc = test_ds_stat(a, ESMM_DS_COMMONS);
  nd = test_ds_stat(a, ESMM_DS_DENSE);
  nf = test_ds_stat(a, ESMM_DS_FIELDS);
  for (int64_t f = 0; f < nf; f++) {
    const char *x, *y;
    ck_assert_int_eq(esmm_dataset_field_name(a, (size_t)f, &x), ESMM_OK);
    ck_assert_int_eq(esmm_dataset_field_name(b, (size_t)f, &y), ESMM_OK);
    if (strcmp(x, y) != 0)
      return "a field name";
  }
  for (int64_t i = 0; i < n; i++) {
    int y1, z1, y2, z2;
    int64_t c1, c2;
    size_t k1, k2;
    const int *f1, *f2;
    const uint64_t *i1, *i2;
    const float *v1, *v2;
    ck_assert_int_eq(esmm_dataset_row(a, (size_t)i, &y1, &z1, &c1, &k1, &f1, &i1, &v1), ESMM_OK);
    ck_assert_int_eq(esmm_dataset_row(b, (size_t)i, &y2, &z2, &c2, &k2, &f2, &i2, &v2), ESMM_OK);
    if (y1 != y2 || z1 != z2 || c1 != c2 || k1 != k2)
      return "a row's labels, common index or length";
    if (k1 && (memcmp(f1, f2, k1 * sizeof *f1) || memcmp(i1, i2, k1 * sizeof *i1) || memcmp(v1, v2, k1 * sizeof *v1)))
      return "a row's features";
  }
  for (int64_t c = 0; c < nc; c++) {
    size_t k1, k2;
    const int *f1, *f2;
    const uint64_t *i1, *i2;
    const float *v1, *v2;
    ck_assert_int_eq(esmm_dataset_common(a, (size_t)c, &k1, &f1, &i1, &v1), ESMM_OK);
    ck_assert_int_eq(esmm_dataset_common(b, (size_t)c, &k2, &f2, &i2, &v2), ESMM_OK);
    if (k1 != k2 ||
        (k1 && (memcmp(f1, f2, k1 * sizeof *f1) || memcmp(i1, i2, k1 * sizeof *i1) || memcmp(v1, v2, k1 * sizeof *v1))))
      return "a common list";
  }
  if (nd && n) {
    size_t cnt = (size_t)(n * nd);
    float *d1 = malloc(cnt * sizeof *d1), *d2 = malloc(cnt * sizeof *d2);
    int same;
    ck_assert(d1 && d2);
    ck_assert_int_eq(esmm_dataset_dense(a, 0, (size_t)n, d1), ESMM_OK);
    ck_assert_int_eq(esmm_dataset_dense(b, 0, (size_t)n, d2), ESMM_OK);
    same = memcmp(d1, d2, cnt * sizeof *d1) == 0;
    free(d1);
    free(d2);
    if (!same)
      return "the dense inputs";
  }
  return NULL;
}
