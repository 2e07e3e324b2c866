/* support.c - the shared test fixtures (support.h). */
#include "support/support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int test_main(Suite *s) {
  SRunner *sr = srunner_create(s);
  int failed;
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

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

void *test_counting_alloc(void *counter, size_t size, size_t align) {
  test_counter *c = counter;
  void *p = NULL;
  long k = c->calls++;
  if (c->fail_from >= 0 && k >= c->fail_from)
    return NULL;
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

esmm_config *test_small_config(void) {
  esmm_config *c;
  const char *names[] = {"a", "b", "c"};
  int64_t buckets[] = {7, 11, 5}, ct[] = {8, 4}, vt[] = {6};
  ck_assert_int_eq(esmm_config_new(&c), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_fields(c, 3, names, buckets), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_EMBED_DIM, 4), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_ints(c, ESMM_OPT_CTR_TOWER, ct, 2), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_ints(c, ESMM_OPT_CVR_TOWER, vt, 1), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_BATCH_SIZE, 32), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_float(c, ESMM_OPT_INIT_SCALE, 0.5), ESMM_OK);
  return c;
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
