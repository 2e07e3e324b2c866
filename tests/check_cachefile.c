/* check_cachefile.c - the binary dataset cache file under damage, through
 * the public API only (as check_faults.c does for model files): a small
 * cache written by esmm_dataset_save_cache and one written by
 * esmm_dataset_convert are loaded truncated at every offset and with every
 * byte flipped (all bits, then the lowest bit), from a buffer
 * (esmm_dataset_open_cache_buffer) and from a file (esmm_dataset_open_cache,
 * the memory-mapped path). Each load must be refused with ESMM_ECORRUPT
 * (ESMM_EVERSION when the flip makes the version field larger) and leave
 * *out NULL, or, where the format cannot see the flip, give a dataset equal
 * to the original in every observable respect. Never a crash, never a
 * half-loaded dataset; buffers are exact-size heap copies, so that an
 * overread is caught under ASan and valgrind.
 *
 * No offset of the format is written here: the layout (docs/data.md) will
 * change. Which bytes turn out to be unchecked is measured and printed; at
 * the time of writing they are the header's bytes between its CRC and the
 * field names and the zero padding that aligns each column to 64 bytes. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <esmm/esmm.h>
#include <esmm/io.h>

#include "support/support.h"

static char dir[64];

static void setup(void) { test_tmpdir_new(dir, sizeof dir, "check_cachefile"); }

static void teardown(void) { test_tmpdir_remove(dir); }

/* Rewrite the file open on fd in place to b[0..len): cheaper than a new
 * file per variant, and the loader opens it afresh each time. */
static void rewrite(int fd, const unsigned char *b, size_t len) {
  ck_assert_int_eq(ftruncate(fd, (off_t)len), 0);
  ck_assert_int_eq(pwrite(fd, b, len, 0), (ssize_t)len);
}

/* Three fields, two dense inputs, two common lists, rows with and without
 * a common list, empty rows, every label pair, extreme ids and values:
 * every column of the format has content. Built with the public API. */
static esmm_config *small_config(void) {
  esmm_config *cfg;
  const char *names[] = {"user", "item", "ctx"};
  int64_t buckets[] = {101, 103, 107};
  ck_assert_int_eq(esmm_config_new(&cfg), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_fields(cfg, 3, names, buckets), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(cfg, ESMM_OPT_DENSE_FEATURES, 2), ESMM_OK);
  return cfg;
}

static esmm_dataset *small_dataset(const esmm_config *cfg) {
  esmm_dataset *ds;
  const int cf[3] = {0, 0, 2};
  const uint64_t cid[3] = {42, UINT64_MAX, 1ULL << 63};
  const float cv[3] = {1, 0.25f, -3.5f};
  const int y[6] = {1, 0, 1, 0, 1, 0}, z[6] = {1, 0, 0, 1, 1, 0};
  const int64_t common[6] = {0, -1, 1, 0, -1, -1}, off[7] = {0, 2, 3, 3, 6, 7, 7};
  const int f[7] = {1, 2, 1, 0, 1, 2, 2};
  const uint64_t id[7] = {7, 8, 9, 10, 11, 12, 0};
  const float v[7] = {1, 2, 0.5f, -1, 1e-30f, 3e38f, 1};
  const float dense[12] = {0, 1, -1, 0.5f, 2, 3, 1e-3f, -1e3f, 0, 0, 7, 8};
  int64_t ci;
  ck_assert_int_eq(esmm_dataset_new(&ds, cfg), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_add_common(ds, 2, cf, cid, cv, &ci), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_add_common(ds, 1, cf + 2, cid + 2, cv + 2, &ci), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_add_rows(ds, 6, y, z, common, off, f, id, v), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_set_dense(ds, 0, 6, dense), ESMM_OK);
  return ds;
}

/* Text input for esmm_dataset_convert: comments, blank lines, values, a
 * conversion without a click; read back, it carries reader counts. */
static const char small_text[] = "# label click, label conversion, field:id[:value] ...\n"
                                 "1 1 user:1 item:2 ctx:3\n"
                                 "0 0 user:4:0.5 item:5\n"
                                 "\n"
                                 "1 0 ctx:6 user:7:2\n"
                                 "0 1 item:8\n"
                                 "1 1 user:9 item:10 ctx:11:0.25\n"
                                 "0 0\n";

typedef struct sweep {
  long loads, refused, version, undetected; /* undetected: flips that loaded (buffer loads) */
  unsigned char *unchecked;                 /* per byte: a flip of it loaded */
} sweep;

/* Load one damaged image both ways and check the outcome. */
static void load_damaged(sweep *s, const esmm_config *cfg, const esmm_dataset *want, const unsigned char *img,
                         size_t len, int fd, const char *file, const char *what, size_t at) {
  for (int from_file = 0; from_file < 2; from_file++) {
    esmm_dataset *got = (esmm_dataset *)1;
    unsigned char *copy = NULL;
    int rc;
    if (from_file) {
      rewrite(fd, img, len);
      rc = esmm_dataset_open_cache(&got, cfg, file);
    } else {
      copy = malloc(len ? len : 1);
      ck_assert_ptr_nonnull(copy);
      memcpy(copy, img, len);
      rc = esmm_dataset_open_cache_buffer(&got, cfg, copy, len);
    }
    s->loads++;
    if (rc == ESMM_OK) {
      const char *d;
      ck_assert_ptr_nonnull(got);
      free(copy); /* a buffer load must not keep the caller's bytes */
      copy = NULL;
      d = test_ds_differs(want, got);
      ck_assert_msg(d == NULL, "%s at %zu (%s): loaded, but %s differs from the original", what, at,
                    from_file ? "file" : "buffer", d);
      esmm_dataset_free(got);
      if (!from_file) {
        s->undetected++;
        s->unchecked[at] = 1;
      }
    } else {
      const char *msg = esmm_last_error();
      const char *func = from_file ? "esmm_dataset_open_cache: " : "esmm_dataset_open_cache_buffer: ";
      ck_assert_msg(got == NULL, "%s at %zu (%s): status %d with *out set", what, at, from_file ? "file" : "buffer",
                    rc);
      ck_assert_msg(rc == ESMM_ECORRUPT || (rc == ESMM_EVERSION && strstr(msg, "newer")),
                    "%s at %zu (%s): status %d (%s), expected ESMM_ECORRUPT", what, at, from_file ? "file" : "buffer",
                    rc, msg);
      ck_assert_msg(strncmp(msg, func, strlen(func)) == 0, "%s at %zu: message \"%s\"", what, at, msg);
      if (from_file)
        ck_assert_msg(strstr(msg, file) != NULL, "%s at %zu: message \"%s\" lacks the path", what, at, msg);
      s->refused += rc == ESMM_ECORRUPT;
      s->version += rc == ESMM_EVERSION;
      free(copy);
    }
  }
}

/* Truncate the cache at path at every offset and flip each of its bytes;
 * want is the dataset it must load as when it loads at all. */
static void damage_every_byte(const char *label, const esmm_config *cfg, const esmm_dataset *want, const char *path) {
  size_t len;
  unsigned char *img = test_slurp(path, &len), *bad = malloc(len);
  char file[128];
  sweep s = {0, 0, 0, 0, calloc(len, 1)};
  esmm_dataset *got;
  int passes = test_slow_tool() ? 1 : 2;
  long unchecked = 0, runs = 0;
  int fd;
  ck_assert_ptr_nonnull(bad);
  ck_assert_ptr_nonnull(s.unchecked);
  snprintf(file, sizeof file, "%s/damaged.cache", dir);
  fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ck_assert_int_ge(fd, 0);
  /* the pristine file loads, and equals the original */
  ck_assert_int_eq(esmm_dataset_open_cache(&got, cfg, path), ESMM_OK);
  ck_assert_ptr_null(test_ds_differs(want, got));
  esmm_dataset_free(got);
  for (size_t cut = 0; cut < len; cut++)
    load_damaged(&s, cfg, want, img, cut, fd, file, "truncated", cut);
  ck_assert_int_eq(s.undetected, 0); /* every truncation is refused */
  ck_assert_int_eq(s.version, 0);
  for (int pass = 0; pass < passes; pass++) {
    unsigned char mask = pass ? 0x01 : 0xff;
    for (size_t i = 0; i < len; i++) {
      memcpy(bad, img, len);
      bad[i] ^= mask;
      load_damaged(&s, cfg, want, bad, len, fd, file, mask == 0xff ? "byte ^ 0xff" : "byte ^ 0x01", i);
    }
  }
  for (size_t i = 0; i < len; i++) {
    unchecked += s.unchecked[i];
    runs += s.unchecked[i] && (i == 0 || !s.unchecked[i - 1]);
  }
  /* (In this small file most columns hold a few bytes, so their 64-byte
   * alignment padding is a large share of it: no ratio is asserted.) */
  printf("cachefile: %s: %zu-byte cache, %ld damaged loads (buffer and file): %ld refused with ESMM_ECORRUPT, %ld "
         "with ESMM_EVERSION, %ld flips of %ld bytes in %ld runs undetected (each loaded equal to the original)\n",
         label, len, s.loads, s.refused, s.version, s.undetected, unchecked, runs);
  close(fd);
  unlink(file);
  free(s.unchecked);
  free(bad);
  free(img);
}

/* A cache written by esmm_dataset_save_cache from a dataset built in memory. */
START_TEST(saved_cache_damaged) {
  esmm_config *cfg = small_config();
  esmm_dataset *ds = small_dataset(cfg);
  char path[128];
  snprintf(path, sizeof path, "%s/saved.cache", dir);
  ck_assert_int_eq(esmm_dataset_save_cache(ds, path), ESMM_OK);
  damage_every_byte("esmm_dataset_save_cache", cfg, ds, path);
  esmm_dataset_free(ds);
  esmm_config_free(cfg);
}
END_TEST

/* A cache written by esmm_dataset_convert from a text file; it must load as
 * the text file reads. */
START_TEST(converted_cache_damaged) {
  esmm_config *cfg = small_config();
  esmm_dataset *ds;
  char text[128], path[128];
  ck_assert_int_eq(esmm_config_set_int(cfg, ESMM_OPT_DENSE_FEATURES, 0), ESMM_OK); /* text has none */
  snprintf(text, sizeof text, "%s/small.txt", dir);
  snprintf(path, sizeof path, "%s/converted.cache", dir);
  test_write_file(text, (const unsigned char *)small_text, sizeof small_text - 1);
  ck_assert_int_eq(esmm_dataset_read_text(&ds, cfg, text), ESMM_OK);
  ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_ROWS), 6);
  ck_assert_int_eq(esmm_dataset_convert(cfg, ESMM_FORMAT_TEXT, text, NULL, path), ESMM_OK);
  damage_every_byte("esmm_dataset_convert", cfg, ds, path);
  esmm_dataset_free(ds);
  esmm_config_free(cfg);
}
END_TEST

/* A damaged file never replaces anything: loading it into a variable that
 * holds a dataset leaves NULL there (never a partly built dataset), and
 * the earlier dataset, owned by the caller, is untouched and still usable. */
START_TEST(failed_load_keeps_nothing) {
  esmm_config *cfg = small_config();
  esmm_dataset *ds = small_dataset(cfg), *good, *out;
  char path[128];
  size_t len;
  unsigned char *img;
  snprintf(path, sizeof path, "%s/saved.cache", dir);
  ck_assert_int_eq(esmm_dataset_save_cache(ds, path), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_open_cache(&good, cfg, path), ESMM_OK);
  img = test_slurp(path, &len);
  out = good;
  ck_assert_int_eq(esmm_dataset_open_cache_buffer(&out, cfg, img, len / 2), ESMM_ECORRUPT);
  ck_assert_ptr_null(out);
  ck_assert_ptr_null(test_ds_differs(ds, good));
  free(img);
  esmm_dataset_free(good);
  esmm_dataset_free(ds);
  esmm_config_free(cfg);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("cachefile");
  TCase *tc = tcase_create("damage");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, saved_cache_damaged);
  tcase_add_test(tc, converted_cache_damaged);
  tcase_add_test(tc, failed_load_keeps_nothing);
  tcase_set_timeout(tc, 300); /* sanitizer and valgrind builds */
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return test_main(suite()); }
