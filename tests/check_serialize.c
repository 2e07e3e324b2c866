/* check_serialize.c - model files: round trips, every truncation, every
 * byte flip, version refusal, NaN refusal, the atomic save and bad args.
 *
 * Why one file of this length: every case reads the same model-file fixtures (byte
 * offsets of sections, the truncation and flip loops).
 */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "io/modelfile.h"
#include "model.h"
#include "support/support.h"

#define MAXT 64

/* 3 fields of 50 buckets, dim 4, towers 8,4 / 6, batch 16. */
static esmm_config *small_config(void) {
  const char *names[3] = {"a", "b", "c"};
  const int64_t buckets[3] = {50, 50, 50};
  return test_tower_config(names, buckets, 16);
}

/* Deterministic values unlike any initialisation; salt tells models apart. */
static void perturb(esmm_model *m, unsigned salt) {
  esmm__tensor t[MAXT];
  size_t n = esmm__model_tensors(m, t, MAXT);
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < t[i].rows * t[i].cols; k++)
      t[i].data[k] = (float)((int)((i * 131u + k * 7919u + salt * 104729u) % 2001u) - 1000) / 337.0f;
}

static esmm_model *small_model(unsigned salt) {
  esmm_config *c = small_config();
  esmm_model *m = NULL;
  ck_assert_int_eq(esmm_model_new(&m, c), ESMM_OK);
  esmm_config_free(c);
  perturb(m, salt);
  return m;
}

static unsigned char *to_buffer(const esmm_model *m, size_t *len) {
  size_t need = 0, got = 0;
  unsigned char *buf;
  ck_assert_int_eq(esmm_model_save_buffer(m, NULL, 0, &need), ESMM_EBUFS);
  ck_assert_uint_gt(need, 0);
  buf = malloc(need);
  ck_assert_ptr_nonnull(buf);
  ck_assert_int_eq(esmm_model_save_buffer(m, buf, need, &got), ESMM_OK);
  ck_assert_uint_eq(got, need);
  *len = need;
  return buf;
}

/* Tensors bit-identical; config text identical when cfg_too. */
static void assert_same_(esmm_model *a, esmm_model *b, int cfg_too) {
  esmm__tensor ta[MAXT], tb[MAXT];
  size_t na = esmm__model_tensors(a, ta, MAXT), nb = esmm__model_tensors(b, tb, MAXT);
  char *xa, *xb;
  size_t la = 0, lb = 0;
  ck_assert_uint_eq(na, nb);
  for (size_t i = 0; i < na; i++) {
    ck_assert_str_eq(ta[i].name, tb[i].name);
    ck_assert_uint_eq(ta[i].rows, tb[i].rows);
    ck_assert_uint_eq(ta[i].cols, tb[i].cols);
    ck_assert_int_eq(memcmp(ta[i].data, tb[i].data, ta[i].rows * ta[i].cols * sizeof(float)), 0);
  }
  if (!cfg_too)
    return;
  esmm__config_to_text(a->cfg, NULL, 0, &la);
  esmm__config_to_text(b->cfg, NULL, 0, &lb);
  ck_assert_uint_eq(la, lb);
  xa = malloc(la);
  xb = malloc(lb);
  ck_assert_int_eq(esmm__config_to_text(a->cfg, xa, la, &la), ESMM_OK);
  ck_assert_int_eq(esmm__config_to_text(b->cfg, xb, lb, &lb), ESMM_OK);
  ck_assert_int_eq(memcmp(xa, xb, la), 0);
  free(xa);
  free(xb);
}

static void assert_same(esmm_model *a, esmm_model *b) { assert_same_(a, b, 1); }

/* memmem is a GNU extension. */
static char *find_bytes(unsigned char *hay, size_t n, const char *needle) {
  size_t k = strlen(needle);
  for (size_t i = 0; i + k <= n; i++)
    if (memcmp(hay + i, needle, k) == 0)
      return (char *)hay + i;
  return NULL;
}

/* Recompute every section CRC and the header CRC after a deliberate edit. */
static void refix_crcs(unsigned char *b, size_t len) {
  uint32_t n = test_le32(b + 12);
  size_t hdr = 24 + 32 * (size_t)n;
  for (uint32_t i = 0; i < n; i++) {
    unsigned char *e = b + 24 + 32 * i;
    uint64_t off = test_le64(e + 8), size = test_le64(e + 16);
    ck_assert_uint_le(off + size, len);
    test_put32(e + 24, esmm__crc32(0, b + off, (size_t)size));
  }
  test_put32(b + hdr, esmm__crc32(0, b, hdr));
}

/* Offset and size of the section of the given kind. */
static void find_section(const unsigned char *b, uint32_t kind, size_t *off, size_t *size) {
  uint32_t n = test_le32(b + 12);
  for (uint32_t i = 0; i < n; i++) {
    const unsigned char *e = b + 24 + 32 * i;
    if (test_le32(e) == kind) {
      *off = (size_t)test_le64(e + 8);
      *size = (size_t)test_le64(e + 16);
      return;
    }
  }
  ck_abort_msg("section %u not found", (unsigned)kind);
}

static int load_copy(const unsigned char *b, size_t len, esmm_model **out) {
  /* An exact-size copy so that an over-read would hit the heap redzone
   * under ASan/valgrind. */
  unsigned char *c = malloc(len ? len : 1);
  int rc;
  memcpy(c, b, len);
  *out = (esmm_model *)0x1;
  rc = esmm_model_load_buffer(out, c, len, NULL);
  free(c);
  return rc;
}

static char tmpdir[256];

static void make_tmpdir(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/check_serialize.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void) {
  DIR *d = opendir(tmpdir);
  struct dirent *de;
  char p[512];
  if (!d)
    return;
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    snprintf(p, sizeof p, "%s/%s", tmpdir, de->d_name);
    if (remove(p) != 0) {
      /* a sub-directory made by a test */
      rmdir(p);
    }
  }
  closedir(d);
  rmdir(tmpdir);
}

static int count_temps(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *de;
  int n = 0;
  ck_assert_ptr_nonnull(d);
  while ((de = readdir(d)) != NULL)
    if (strstr(de->d_name, ".tmp."))
      n++;
  closedir(d);
  return n;
}

/* ---- tests ----------------------------------------------------------------- */

START_TEST(test_crc32) {
  const char *s = "123456789";
  ck_assert_uint_eq(esmm__crc32(0, s, 9), 0xCBF43926u);
  ck_assert_uint_eq(esmm__crc32(esmm__crc32(0, s, 4), s + 4, 5), 0xCBF43926u);
  ck_assert_uint_eq(esmm__crc32(0, "", 0), 0u);
}
END_TEST

START_TEST(test_roundtrip_buffer) {
  esmm_model *m = small_model(1), *l = NULL;
  size_t len;
  unsigned char *b = to_buffer(m, &len);
  size_t off, size;
  ck_assert_uint_lt(len, 16384); /* keeps the byte-flip test fast */
  ck_assert_int_eq(memcmp(b, "ESMM", 4), 0);
  ck_assert_uint_eq(test_le32(b + 4), 1);
  ck_assert_uint_eq(test_le64(b + 16), len);
  find_section(b, 3, &off, &size);
  ck_assert_uint_eq(off % 64, 0);
  ck_assert_int_eq(esmm_model_load_buffer(&l, b, len, NULL), ESMM_OK);
  ck_assert_ptr_nonnull(l);
  assert_same(m, l);
  /* saving the loaded model gives the same bytes */
  {
    size_t len2;
    unsigned char *b2 = to_buffer(l, &len2);
    ck_assert_uint_eq(len, len2);
    ck_assert_int_eq(memcmp(b, b2, len), 0);
    free(b2);
  }
  esmm_model_free(l);
  esmm_model_free(m);
  free(b);
}
END_TEST

START_TEST(test_buffer_size_query) {
  esmm_model *m = small_model(2);
  size_t need = 0, sz = 0;
  unsigned char *b;
  ck_assert_int_eq(esmm_model_save_buffer(m, NULL, 0, &need), ESMM_EBUFS);
  b = malloc(need);
  memset(b, 0xAB, need);
  ck_assert_int_eq(esmm_model_save_buffer(m, b, need - 1, &sz), ESMM_EBUFS);
  ck_assert_uint_eq(sz, need);
  ck_assert_uint_eq(b[0], 0xAB); /* nothing written */
  ck_assert_int_eq(esmm_model_save_buffer(m, b, need, &sz), ESMM_OK);
  ck_assert_uint_eq(sz, need);
  free(b);
  esmm_model_free(m);
}
END_TEST

START_TEST(test_roundtrip_file) {
  esmm_model *m = small_model(3), *l = NULL;
  char path[512];
  make_tmpdir();
  snprintf(path, sizeof path, "%s/model.esmm", tmpdir);
  ck_assert_int_eq(esmm_model_save(m, path), ESMM_OK);
  ck_assert_int_eq(count_temps(tmpdir), 0);
  ck_assert_int_eq(esmm_model_load(&l, path, NULL), ESMM_OK);
  assert_same(m, l);
  esmm_model_free(l);
  /* the file equals the buffer form */
  {
    size_t fl, bl;
    unsigned char *fb = test_slurp(path, &fl), *bb = to_buffer(m, &bl);
    ck_assert_uint_eq(fl, bl);
    ck_assert_int_eq(memcmp(fb, bb, fl), 0);
    free(fb);
    free(bb);
  }
  esmm_model_free(m);
  remove_tmpdir();
}
END_TEST

START_TEST(test_truncation_every_offset) {
  esmm_model *m = small_model(4), *l;
  size_t len;
  unsigned char *b = to_buffer(m, &len);
  for (size_t k = 0; k < len; k++) {
    int rc = load_copy(b, k, &l);
    if (rc != ESMM_ECORRUPT)
      ck_abort_msg("truncated to %zu of %zu bytes: status %d (%s)", k, len, rc, esmm_last_error());
    ck_assert_ptr_null(l);
  }
  /* one trailing byte too many */
  {
    unsigned char *x = calloc(len + 1, 1);
    memcpy(x, b, len);
    ck_assert_int_eq(load_copy(x, len + 1, &l), ESMM_ECORRUPT);
    ck_assert_ptr_null(l);
    free(x);
  }
  /* the message names both sizes */
  ck_assert_int_eq(load_copy(b, 100, &l), ESMM_ECORRUPT);
  {
    char want[128];
    snprintf(want, sizeof want, "esmm_model_load_buffer: truncated: 100 bytes, header says %zu", len);
    ck_assert_str_eq(esmm_last_error(), want);
  }
  free(b);
  esmm_model_free(m);
}
END_TEST

START_TEST(test_byte_flips) {
  esmm_model *m = small_model(5), *l;
  size_t len;
  unsigned char *b = to_buffer(m, &len);
  for (size_t i = 0; i < len; i++) {
    static const unsigned char masks[2] = {0xFF, 0x01};
    for (int k = 0; k < 2; k++) {
      int rc;
      if (k == 1 && i % 3 != 0)
        continue; /* xor 0x01 on a third of the bytes */
      b[i] ^= masks[k];
      rc = load_copy(b, len, &l);
      b[i] ^= masks[k];
      if (rc != ESMM_ECORRUPT && rc != ESMM_EVERSION)
        ck_abort_msg("byte %zu ^ 0x%02x: status %d (%s)", i, masks[k], rc, esmm_last_error());
      if (rc == ESMM_EVERSION)
        ck_assert_msg(i >= 4 && i < 8, "EVERSION from a flip outside the version field (byte %zu)", i);
      ck_assert_ptr_null(l);
    }
  }
  ck_assert_int_eq(esmm_model_load_buffer(&l, b, len, NULL), ESMM_OK); /* restored */
  esmm_model_free(l);
  free(b);
  esmm_model_free(m);
}
END_TEST

START_TEST(test_bad_magic) {
  esmm_model *l;
  const unsigned char junk[64] = "not a model at all, just some bytes of text";
  ck_assert_int_eq(load_copy(junk, sizeof junk, &l), ESMM_ECORRUPT);
  ck_assert_ptr_null(l);
  ck_assert_str_eq(esmm_last_error(), "esmm_model_load_buffer: not a libesmm model file (bad magic)");
}
END_TEST

START_TEST(test_newer_version) {
  esmm_model *m = small_model(6), *l;
  size_t len;
  unsigned char *b = to_buffer(m, &len);
  test_put32(b + 4, 3);
  refix_crcs(b, len);
  ck_assert_int_eq(load_copy(b, len, &l), ESMM_EVERSION);
  ck_assert_ptr_null(l);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "version 3"));
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "up to 2"));
  /* a newer version is refused even if the rest of the header is unknown */
  test_put32(b + 4, 7);
  test_put32(b + 12, 0xFFFFFFFFu);
  ck_assert_int_eq(load_copy(b, len, &l), ESMM_EVERSION);
  ck_assert_ptr_null(l);
  free(b);
  esmm_model_free(m);
}
END_TEST

/* Edits with valid checksums reach the semantic checks. */
START_TEST(test_semantic_checks) {
  esmm_model *m = small_model(7), *l;
  size_t len, off, size;
  unsigned char *b = to_buffer(m, &len), *x = malloc(len);
  char *p;

  /* embed_dim=4 -> 5: the index no longer matches */
  memcpy(x, b, len);
  find_section(x, 1, &off, &size);
  p = find_bytes(x + off, size, "embed_dim=4\n");
  ck_assert_ptr_nonnull(p);
  p[10] = '5';
  refix_crcs(x, len);
  ck_assert_int_eq(load_copy(x, len, &l), ESMM_ECORRUPT);
  ck_assert_ptr_null(l);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "embedding"));

  /* an unparsable config value */
  memcpy(x, b, len);
  p = find_bytes(x + off, size, "embed_dim=4\n");
  p[10] = 'x';
  refix_crcs(x, len);
  ck_assert_int_eq(load_copy(x, len, &l), ESMM_ECORRUPT);
  ck_assert_ptr_null(l);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "config section"));

  /* a NaN and an Inf parameter */
  for (int k = 0; k < 2; k++) {
    float bad = k ? INFINITY : NAN;
    uint32_t u;
    memcpy(&u, &bad, 4);
    memcpy(x, b, len);
    find_section(x, 3, &off, &size);
    test_put32(x + off + size - 4, u); /* last float of the last tensor */
    refix_crcs(x, len);
    ck_assert_int_eq(load_copy(x, len, &l), ESMM_ENUMERIC);
    ck_assert_ptr_null(l);
  }

  /* non-zero padding between the index and the data */
  memcpy(x, b, len);
  find_section(x, 3, &off, &size);
  {
    size_t ioff, isize;
    find_section(x, 2, &ioff, &isize);
    if (ioff + isize < off) {
      x[off - 1] = 1;
      refix_crcs(x, len);
      ck_assert_int_eq(load_copy(x, len, &l), ESMM_ECORRUPT);
      ck_assert_ptr_null(l);
    }
  }

  /* unknown flags */
  memcpy(x, b, len);
  test_put32(x + 8, 1);
  refix_crcs(x, len);
  ck_assert_int_eq(load_copy(x, len, &l), ESMM_ECORRUPT);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "flags"));

  /* overlapping sections: point the index at the config */
  memcpy(x, b, len);
  {
    size_t coff, csize;
    find_section(x, 1, &coff, &csize);
    for (uint32_t i = 0; i < 3; i++)
      if (test_le32(x + 24 + 32 * i) == 2)
        test_put32(x + 24 + 32 * i + 8, (uint32_t)coff);
  }
  refix_crcs(x, len);
  ck_assert_int_eq(load_copy(x, len, &l), ESMM_ECORRUPT);
  ck_assert_ptr_null(l);

  free(x);
  free(b);
  esmm_model_free(m);
}
END_TEST

START_TEST(test_nan_refused_on_save) {
  esmm_model *m = small_model(8);
  esmm__tensor t[MAXT];
  char path[512];
  size_t before_len, after_len, need = 0;
  unsigned char *before, *after;
  make_tmpdir();
  snprintf(path, sizeof path, "%s/model.esmm", tmpdir);
  ck_assert_int_eq(esmm_model_save(m, path), ESMM_OK);
  before = test_slurp(path, &before_len);
  esmm__model_tensors(m, t, MAXT);
  t[1].data[3] = NAN;
  ck_assert_int_eq(esmm_model_save(m, path), ESMM_ENUMERIC);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "ctr.0.w[3]"));
  ck_assert_int_eq(esmm_model_save_buffer(m, NULL, 0, &need), ESMM_ENUMERIC);
  t[1].data[3] = INFINITY;
  ck_assert_int_eq(esmm_model_save(m, path), ESMM_ENUMERIC);
  after = test_slurp(path, &after_len);
  ck_assert_uint_eq(before_len, after_len);
  ck_assert_int_eq(memcmp(before, after, before_len), 0);
  ck_assert_int_eq(count_temps(tmpdir), 0);
  free(before);
  free(after);
  esmm_model_free(m);
  remove_tmpdir();
}
END_TEST

START_TEST(test_save_failures) {
  esmm_model *m = small_model(9), *l;
  char path[512], dpath[512];
  struct stat st;
  make_tmpdir();
  /* a directory that does not exist */
  snprintf(path, sizeof path, "%s/nope/model.esmm", tmpdir);
  ck_assert_int_eq(esmm_model_save(m, path), ESMM_EIO);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), path));
  ck_assert_int_eq(count_temps(tmpdir), 0);
  snprintf(dpath, sizeof dpath, "%s/nope", tmpdir);
  ck_assert_int_ne(stat(dpath, &st), 0);
  /* the path is a directory: the rename fails, the temp is removed */
  snprintf(dpath, sizeof dpath, "%s/adir", tmpdir);
  ck_assert_int_eq(mkdir(dpath, 0700), 0);
  ck_assert_int_eq(esmm_model_save(m, dpath), ESMM_EIO);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "rename"));
  ck_assert_int_eq(count_temps(tmpdir), 0);
  ck_assert_int_eq(stat(dpath, &st), 0);
  ck_assert(S_ISDIR(st.st_mode));
  /* loading what is not there, or not a file */
  l = (esmm_model *)0x1;
  ck_assert_int_eq(esmm_model_load(&l, path, NULL), ESMM_EIO);
  ck_assert_ptr_null(l);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), path));
  l = (esmm_model *)0x1;
  ck_assert_int_eq(esmm_model_load(&l, dpath, NULL), ESMM_EIO);
  ck_assert_ptr_null(l);
  /* a truncated file on disk */
  {
    size_t len;
    unsigned char *b = to_buffer(m, &len);
    FILE *f;
    snprintf(path, sizeof path, "%s/short.esmm", tmpdir);
    f = fopen(path, "wb");
    fwrite(b, 1, len / 2, f);
    fclose(f);
    l = (esmm_model *)0x1;
    ck_assert_int_eq(esmm_model_load(&l, path, NULL), ESMM_ECORRUPT);
    ck_assert_ptr_null(l);
    ck_assert_ptr_nonnull(strstr(esmm_last_error(), "truncated"));
    free(b);
  }
  esmm_model_free(m);
  remove_tmpdir();
}
END_TEST

START_TEST(test_overwrite) {
  esmm_model *a = small_model(10), *b = small_model(11), *l = NULL;
  char path[512];
  make_tmpdir();
  snprintf(path, sizeof path, "%s/model.esmm", tmpdir);
  ck_assert_int_eq(esmm_model_save(a, path), ESMM_OK);
  ck_assert_int_eq(esmm_model_save(b, path), ESMM_OK);
  ck_assert_int_eq(count_temps(tmpdir), 0);
  ck_assert_int_eq(esmm_model_load(&l, path, NULL), ESMM_OK);
  assert_same(b, l);
  esmm_model_free(l);
  /* a relative path (no directory part) works too */
  {
    char cwd[512];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(tmpdir), 0);
    ck_assert_int_eq(esmm_model_save(a, "rel.esmm"), ESMM_OK);
    ck_assert_int_eq(esmm_model_load(&l, "rel.esmm", NULL), ESMM_OK);
    assert_same(a, l);
    esmm_model_free(l);
    ck_assert_int_eq(chdir(cwd), 0);
  }
  ck_assert_int_eq(count_temps(tmpdir), 0);
  esmm_model_free(a);
  esmm_model_free(b);
  remove_tmpdir();
}
END_TEST

START_TEST(test_hooks_and_enomem) {
  esmm_model *m = small_model(12), *l = NULL;
  esmm_config *hooks = NULL;
  test_counter cnt = TEST_COUNTER_INIT;
  size_t len;
  unsigned char *b = to_buffer(m, &len);
  int64_t threads = 0;
  ck_assert_int_eq(esmm_config_new(&hooks), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_allocator(hooks, test_counting_alloc, test_counting_free, &cnt), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(hooks, ESMM_OPT_NUM_THREADS, 3), ESMM_OK);
  ck_assert_int_eq(esmm_model_load_buffer(&l, b, len, hooks), ESMM_OK);
  ck_assert_int_gt(cnt.live, 0); /* the model lives in the hook's memory */
  ck_assert_int_eq(esmm_config_get_int(l->cfg, ESMM_OPT_NUM_THREADS, &threads), ESMM_OK);
  ck_assert_int_eq(threads, 3);
  esmm_model_free(l);
  ck_assert_int_eq(cnt.live, 0);
  /* every allocation failure is reported, with nothing leaked */
  for (long k = 0;; k++) {
    int rc;
    cnt.calls = 0;
    cnt.fail_from = k;
    l = (esmm_model *)0x1;
    rc = esmm_model_load_buffer(&l, b, len, hooks);
    if (rc == ESMM_OK) {
      esmm_model_free(l);
      break;
    }
    ck_assert_int_eq(rc, ESMM_ENOMEM);
    ck_assert_ptr_null(l);
    ck_assert_int_eq(cnt.live, 0);
    ck_assert_int_lt(k, 10000);
  }
  ck_assert_int_eq(cnt.live, 0);
  /* the file loader uses the hook's allocator for its buffer too */
  {
    char path[512];
    make_tmpdir();
    snprintf(path, sizeof path, "%s/model.esmm", tmpdir);
    ck_assert_int_eq(esmm_model_save(m, path), ESMM_OK);
    cnt.fail_from = -1;
    ck_assert_int_eq(esmm_model_load(&l, path, hooks), ESMM_OK);
    assert_same_(m, l, 0); /* threads differ by design */
    esmm_model_free(l);
    ck_assert_int_eq(cnt.live, 0);
    cnt.calls = 0;
    cnt.fail_from = 0; /* the file buffer */
    ck_assert_int_eq(esmm_model_load(&l, path, hooks), ESMM_ENOMEM);
    ck_assert_ptr_null(l);
    ck_assert_int_eq(cnt.live, 0);
    remove_tmpdir();
  }
  esmm_config_free(hooks);
  free(b);
  esmm_model_free(m);
}
END_TEST

START_TEST(test_bad_args) {
  esmm_model *m = small_model(13), *l;
  size_t sz = 7;
  unsigned char buf[16];
  ck_assert_int_eq(esmm_model_save(NULL, "/tmp/x"), ESMM_EINVAL);
  ck_assert_int_eq(esmm_model_save(m, NULL), ESMM_EINVAL);
  ck_assert_int_eq(esmm_model_save(m, ""), ESMM_EINVAL);
  ck_assert_int_eq(esmm_model_save_buffer(NULL, buf, sizeof buf, &sz), ESMM_EINVAL);
  ck_assert_int_eq(esmm_model_save_buffer(m, buf, sizeof buf, NULL), ESMM_EINVAL);
  ck_assert_int_eq(esmm_model_save_buffer(m, NULL, 10, &sz), ESMM_EINVAL);
  ck_assert_int_eq(esmm_model_load(NULL, "/tmp/x", NULL), ESMM_EINVAL);
  l = (esmm_model *)0x1;
  ck_assert_int_eq(esmm_model_load(&l, NULL, NULL), ESMM_EINVAL);
  ck_assert_ptr_null(l);
  ck_assert_int_eq(esmm_model_load_buffer(NULL, buf, sizeof buf, NULL), ESMM_EINVAL);
  l = (esmm_model *)0x1;
  ck_assert_int_eq(esmm_model_load_buffer(&l, NULL, 10, NULL), ESMM_EINVAL);
  ck_assert_ptr_null(l);
  l = (esmm_model *)0x1;
  ck_assert_int_eq(esmm_model_load_buffer(&l, buf, 0, NULL), ESMM_ECORRUPT);
  ck_assert_ptr_null(l);
  esmm_model_free(m);
}
END_TEST

/* ---- every variant -------------------------------------------------------- */

/* Each variant (and ESMM with the click-space CVR loss), with the tensor
 * list docs/model-format.md gives for it (towers 8,4 / 6). */
typedef struct vcase {
  const char *label;
  int variant;
  double click_weight;
  const char *tensors; /* space-separated, in file order */
} vcase;

#define T_ESMM "embedding ctr.0.w ctr.0.b ctr.1.w ctr.1.b ctr.2.w ctr.2.b "
#define T_CVR "cvr.0.w cvr.0.b cvr.1.w cvr.1.b"
static const vcase vcases[] = {
    {"esmm", ESMM_VARIANT_ESMM, 0, T_ESMM T_CVR},
    {"esmm+click", ESMM_VARIANT_ESMM, 0.7, T_ESMM T_CVR},
    {"esmm_ns", ESMM_VARIANT_ESMM_NS, 0, T_ESMM T_CVR " embedding_cvr"},
    {"base", ESMM_VARIANT_BASE, 0, T_ESMM T_CVR " embedding_cvr"},
    {"division", ESMM_VARIANT_DIVISION, 0, T_ESMM "ctcvr.0.w ctcvr.0.b ctcvr.1.w ctcvr.1.b embedding_ctcvr"},
    {"escm2_ips", ESMM_VARIANT_ESCM2_IPS, 0, T_ESMM T_CVR},
    {"escm2_dr", ESMM_VARIANT_ESCM2_DR, 0, T_ESMM T_CVR " imp.0.w imp.0.b imp.1.w imp.1.b"},
};
#define N_VCASES ((int)(sizeof vcases / sizeof vcases[0]))

static uint64_t vlcg(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return *s >> 17;
}

/* small_config's shape (3 fields, dim 4, towers 8,4 / 6, batch 16) plus the
 * variant and 2 numeric inputs, trained a few steps with Adam on 48 rows
 * in user groups: every part of the model has moved from its start. */
static esmm_model *variant_model(const vcase *vc, esmm_dataset **ds_out) {
  esmm_config *c = small_config();
  esmm_dataset *ds = NULL;
  esmm_model *m = NULL;
  uint64_t s = 3;
  int64_t ci[3];
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_VARIANT, vc->variant), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_float(c, ESMM_OPT_CVR_CLICK_WEIGHT, vc->click_weight), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_DENSE_FEATURES, 2), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_float(c, ESMM_OPT_LEARNING_RATE, 0.05), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_new(&ds, c), ESMM_OK);
  for (int g = 0; g < 3; g++) {
    int cf[1] = {0};
    uint64_t cid[1] = {vlcg(&s) % 200};
    ck_assert_int_eq(esmm_dataset_add_common(ds, 1, cf, cid, NULL, &ci[g]), ESMM_OK);
  }
  for (int r = 0; r < 48; r++) {
    int f[2] = {1, 2};
    uint64_t id[2] = {vlcg(&s) % 300, vlcg(&s) % 30};
    float v[2] = {1.0f, 0.5f}, d[2] = {(float)(r % 7) / 7.0f, -(float)(r % 3)};
    int64_t off[2] = {0, 2}, com = r % 4 == 3 ? -1 : ci[r % 3];
    int y = id[0] % 3 == 0 || r % 5 == 0, z = y && id[1] % 2 == 0;
    ck_assert_int_eq(esmm_dataset_add_rows(ds, 1, &y, &z, &com, off, f, id, v), ESMM_OK);
    ck_assert_int_eq(esmm_dataset_set_dense(ds, (size_t)r, 1, d), ESMM_OK);
  }
  ck_assert_int_eq(esmm_model_new(&m, c), ESMM_OK);
  ck_assert_int_eq(esmm_model_train_steps(m, ds, 5, NULL, NULL), ESMM_OK);
  esmm_config_free(c);
  *ds_out = ds;
  return m;
}

/* (a) save_buffer -> load_buffer: every tensor bit-identical (names and
 * shapes as documented), the config identical, the same bytes when saved
 * again, bit-identical predictions; the checkpoint of the model loads as a
 * plain model too, and as a checkpoint. */
START_TEST(test_variant_roundtrip) {
  const vcase *vc = &vcases[_i];
  esmm_dataset *ds;
  esmm_model *m = variant_model(vc, &ds), *l = NULL, *k = NULL;
  esmm__tensor t[MAXT];
  size_t len, len2, n, nt, ckl = 0;
  unsigned char *b = to_buffer(m, &len), *b2, *ck;
  char names[1024] = "";
  float pa[3][48], pb[3][48];
  nt = esmm__model_tensors(m, t, MAXT);
  for (size_t i = 0; i < nt; i++) {
    strcat(names, i ? " " : "");
    strcat(names, t[i].name);
  }
  ck_assert_str_eq(names, vc->tensors);
  if (esmm_model_load_buffer(&l, b, len, NULL) != ESMM_OK)
    ck_abort_msg("%s: %s", vc->label, esmm_last_error());
  assert_same(m, l);
  b2 = to_buffer(l, &len2);
  ck_assert_uint_eq(len, len2);
  ck_assert_int_eq(memcmp(b, b2, len), 0);
  n = 48;
  ck_assert_int_eq(esmm_model_predict(m, NULL, ds, 0, n, pa[0], pa[1], pa[2]), ESMM_OK);
  ck_assert_int_eq(esmm_model_predict(l, NULL, ds, 0, n, pb[0], pb[1], pb[2]), ESMM_OK);
  ck_assert_int_eq(memcmp(pa, pb, sizeof pa), 0);
  esmm_model_free(l);
  l = NULL;

  ck_assert_int_eq(esmm_model_save_checkpoint_buffer(m, NULL, 0, &ckl), ESMM_EBUFS);
  ck = malloc(ckl);
  ck_assert_int_eq(esmm_model_save_checkpoint_buffer(m, ck, ckl, &ckl), ESMM_OK);
  if (esmm_model_load_buffer(&l, ck, ckl, NULL) != ESMM_OK)
    ck_abort_msg("%s: checkpoint as a model: %s", vc->label, esmm_last_error());
  assert_same(m, l);
  if (esmm_model_load_checkpoint_buffer(&k, ck, ckl, NULL) != ESMM_OK)
    ck_abort_msg("%s: checkpoint: %s", vc->label, esmm_last_error());
  assert_same(m, k);
  esmm_model_free(k);
  esmm_model_free(l);
  esmm_model_free(m);
  esmm_dataset_free(ds);
  free(ck);
  free(b2);
  free(b);
}
END_TEST

/* The optimizer section is checked against the tensors the file's config
 * implies before anything is built: a checkpoint whose block of the
 * variant's extra part (ESMM_NS's second table, ESCM2_DR's imputation
 * tower) has the wrong shape is refused with ECORRUPT naming the tensor. */
START_TEST(test_variant_checkpoint_block_shapes) {
  const int which[2] = {2, 6}; /* esmm_ns, escm2_dr */
  for (int w = 0; w < 2; w++) {
    const vcase *vc = &vcases[which[w]];
    esmm_dataset *ds;
    esmm_model *m = variant_model(vc, &ds), *l = NULL;
    esmm__tensor t[MAXT];
    size_t nt = esmm__model_tensors(m, t, MAXT), ckl = 0, off, size, j;
    unsigned char *ck, *h;
    uint32_t nb;
    ck_assert_int_eq(esmm_model_save_checkpoint_buffer(m, NULL, 0, &ckl), ESMM_EBUFS);
    ck = malloc(ckl);
    ck_assert_int_eq(esmm_model_save_checkpoint_buffer(m, ck, ckl, &ckl), ESMM_OK);
    find_section(ck, 4, &off, &size);
    nb = test_le32(ck + off + 4);
    ck_assert_uint_eq(nb, nt); /* one block per tensor */
    /* the variant's last non-square tensor (embedding_cvr, imp.1.w): swap
     * rows and cols of its block, same size, wrong shape */
    j = nt - 1;
    while (t[j].rows == t[j].cols)
      j--;
    ck_assert(j >= nt - 2);
    h = ck + off + 16 + j * 24;
    ck_assert_uint_eq(test_le64(h), t[j].rows);
    ck_assert_uint_eq(test_le64(h + 8), t[j].cols);
    test_put32(h, (uint32_t)t[j].cols);
    test_put32(h + 8, (uint32_t)t[j].rows);
    refix_crcs(ck, ckl);
    ck_assert_int_eq(esmm_model_load_checkpoint_buffer(&l, ck, ckl, NULL), ESMM_ECORRUPT);
    ck_assert_ptr_null(l);
    ck_assert_msg(strstr(esmm_last_error(), t[j].name) != NULL, "%s", esmm_last_error());
    free(ck);
    esmm_model_free(m);
    esmm_dataset_free(ds);
  }
}
END_TEST


/* ---- 1.1: metadata (format version 2), file information, changed options ---- */

/* A model without metadata is written as version 1, byte for byte as
 * before; with metadata as version 2 with a metadata section that round
 * trips, in order, through files, buffers, checkpoints and configs. */
START_TEST(test_meta_roundtrip) {
  esmm_model *m = small_model(11), *l = NULL;
  esmm_config *c = NULL;
  size_t len1, len2, n = 0;
  unsigned char *b1 = to_buffer(m, &len1), *b2;
  const char *k, *v;
  ck_assert_uint_eq(test_le32(b1 + 4), 1);
  ck_assert_int_eq(esmm_model_set_meta(m, "input.format", "csv"), ESMM_OK);
  ck_assert_int_eq(esmm_model_set_meta(m, "input.spec", "click=click;conversion=purchase;num=D*;cat=*"), ESMM_OK);
  ck_assert_int_eq(esmm_model_set_meta(m, "empty", ""), ESMM_OK);
  b2 = to_buffer(m, &len2);
  ck_assert_uint_eq(test_le32(b2 + 4), 2);
  ck_assert_uint_eq(test_le32(b2 + 12), 4);
  ck_assert_uint_eq(test_le32(b2 + 24 + 32 * 3), 6);     /* the metadata section, last */
  ck_assert_uint_eq(test_le32(b2 + 24 + 32 * 3 + 4), 1); /* flagged optional */
  ck_assert_int_eq(load_copy(b2, len2, &l), ESMM_OK);
  assert_same(m, l);
  ck_assert_int_eq(esmm_model_meta(l, "input.spec", &v), ESMM_OK);
  ck_assert_str_eq(v, "click=click;conversion=purchase;num=D*;cat=*");
  ck_assert_int_eq(esmm_model_meta(l, "absent", &v), ESMM_OK);
  ck_assert_ptr_null(v);
  ck_assert_int_eq(esmm_model_config(l, &c), ESMM_OK);
  ck_assert_int_eq(esmm_config_meta_at(c, 0, NULL, NULL, &n), ESMM_OK);
  ck_assert_uint_eq(n, 3);
  ck_assert_int_eq(esmm_config_meta_at(c, 2, &k, &v, NULL), ESMM_OK);
  ck_assert_str_eq(k, "empty");
  ck_assert_str_eq(v, "");
  ck_assert_int_eq(esmm_config_meta_at(c, 3, &k, NULL, NULL), ESMM_EINVAL);
  esmm_config_free(c);
  esmm_model_free(l);
  /* removing every entry gives the version 1 file back */
  ck_assert_int_eq(esmm_model_set_meta(m, "input.format", NULL), ESMM_OK);
  ck_assert_int_eq(esmm_model_set_meta(m, "input.spec", NULL), ESMM_OK);
  ck_assert_int_eq(esmm_model_set_meta(m, "empty", NULL), ESMM_OK);
  free(b2);
  b2 = to_buffer(m, &len2);
  ck_assert_uint_eq(len1, len2);
  ck_assert_int_eq(memcmp(b1, b2, len1), 0);
  /* checkpoints keep it too */
  ck_assert_int_eq(esmm_model_set_meta(m, "fit.wait", "2"), ESMM_OK);
  {
    size_t need = 0;
    unsigned char *ck;
    ck_assert_int_eq(esmm_model_save_checkpoint_buffer(m, NULL, 0, &need), ESMM_EBUFS);
    ck = malloc(need);
    ck_assert_int_eq(esmm_model_save_checkpoint_buffer(m, ck, need, &need), ESMM_OK);
    ck_assert_int_eq(esmm_model_load_checkpoint_buffer(&l, ck, need, NULL), ESMM_OK);
    ck_assert_int_eq(esmm_model_meta(l, "fit.wait", &v), ESMM_OK);
    ck_assert_str_eq(v, "2");
    esmm_model_free(l);
    /* every truncation and every byte flip of a version 2 checkpoint is refused */
    for (size_t cut = 0; cut < need; cut++) {
      ck_assert_int_ne(esmm_model_load_checkpoint_buffer(&l, ck, cut, NULL), ESMM_OK);
      ck_assert_ptr_null(l);
    }
    for (size_t i = 0; i < need; i++) {
      ck[i] ^= 0x20;
      ck_assert_int_ne(esmm_model_load_checkpoint_buffer(&l, ck, need, NULL), ESMM_OK);
      ck_assert_ptr_null(l);
      ck[i] ^= 0x20;
    }
    free(ck);
  }
  free(b1);
  free(b2);
  esmm_model_free(m);
}
END_TEST

START_TEST(test_meta_rules) {
  esmm_config *c = small_config();
  char big[65538];
  const char *v;
  ck_assert_int_eq(esmm_config_set_meta(c, "", "x"), ESMM_EINVAL);
  ck_assert_int_eq(esmm_config_set_meta(c, "a key", "x"), ESMM_EINVAL);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "[A-Za-z0-9_.-]"));
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  ck_assert_int_eq(esmm_config_set_meta(c, "k", big), ESMM_EINVAL);
  ck_assert_int_eq(esmm_config_set_meta(c, "k", "1"), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_meta(c, "k", "2"), ESMM_OK); /* replaced */
  ck_assert_int_eq(esmm_config_meta(c, "k", &v), ESMM_OK);
  ck_assert_str_eq(v, "2");
  ck_assert_int_eq(esmm_config_set_meta(c, "gone", NULL), ESMM_OK); /* removing nothing */
  for (int i = 1; i < 256; i++) {
    char key[16];
    snprintf(key, sizeof key, "k%d", i);
    ck_assert_int_eq(esmm_config_set_meta(c, key, "v"), ESMM_OK);
  }
  ck_assert_int_eq(esmm_config_set_meta(c, "one_more", "v"), ESMM_EINVAL);
  ck_assert_int_eq(esmm_config_meta(NULL, "k", &v), ESMM_EINVAL);
  ck_assert_ptr_null(v);
  esmm_config_free(c);
}
END_TEST

/* Version 2 readers skip unknown sections flagged optional and refuse the
 * others (ESMM_EVERSION); a version 1 file may not hold a metadata section. */
START_TEST(test_meta_section_kinds) {
  esmm_model *m = small_model(12), *l;
  size_t len;
  unsigned char *b;
  ck_assert_int_eq(esmm_model_set_meta(m, "a", "b"), ESMM_OK);
  b = to_buffer(m, &len);
  test_put32(b + 24 + 32 * 3, 9); /* a kind this reader does not know, still optional */
  refix_crcs(b, len);
  ck_assert_int_eq(load_copy(b, len, &l), ESMM_OK);
  esmm_model_free(l);
  test_put32(b + 24 + 32 * 3 + 4, 0); /* now required */
  refix_crcs(b, len);
  ck_assert_int_eq(load_copy(b, len, &l), ESMM_EVERSION);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "kind 9"));
  test_put32(b + 24 + 32 * 3, 6);
  test_put32(b + 24 + 32 * 3 + 4, 2); /* an unknown flag */
  refix_crcs(b, len);
  ck_assert_int_eq(load_copy(b, len, &l), ESMM_ECORRUPT);
  test_put32(b + 24 + 32 * 3 + 4, 1);
  test_put32(b + 4, 1); /* version 1 has no kind 6 */
  refix_crcs(b, len);
  ck_assert_int_eq(load_copy(b, len, &l), ESMM_ECORRUPT);
  free(b);
  esmm_model_free(m);
}
END_TEST

/* esmm_model_info: everything the file says, without building the model. */
START_TEST(test_model_info) {
  esmm_model *m = small_model(13);
  esmm_model_info *info = NULL;
  size_t len, need = 0, tlen = 0;
  unsigned char *b, *ck;
  int64_t v;
  uint32_t kind, crc;
  uint64_t off, size, rows, cols;
  const char *name, *text, *meta;
  const esmm_config *cfg;
  ck_assert_int_eq(esmm_model_set_meta(m, "input.format", "text"), ESMM_OK);
  b = to_buffer(m, &len);
  ck_assert_int_eq(esmm_model_info_open_buffer(&info, b, len), ESMM_OK);
  ck_assert_int_eq(esmm_model_info_stat(info, ESMM_INFO_FORMAT_VERSION, &v), ESMM_OK);
  ck_assert_int_eq(v, 2);
  ck_assert_int_eq(esmm_model_info_stat(info, ESMM_INFO_BYTES, &v), ESMM_OK);
  ck_assert_int_eq(v, (int64_t)len);
  ck_assert_int_eq(esmm_model_info_stat(info, ESMM_INFO_CHECKPOINT, &v), ESMM_OK);
  ck_assert_int_eq(v, 0);
  ck_assert_int_eq(esmm_model_info_stat(info, ESMM_INFO_SECTIONS, &v), ESMM_OK);
  ck_assert_int_eq(v, 4);
  ck_assert_int_eq(esmm_model_info_section(info, 3, &kind, &off, &size, &crc), ESMM_OK);
  ck_assert_uint_eq(kind, 6);
  ck_assert_uint_eq(off + size, len);
  ck_assert_uint_eq(crc, esmm__crc32(0, b + off, (size_t)size));
  ck_assert_str_eq(esmm_model_info_section_name(kind), "metadata");
  ck_assert_ptr_null(esmm_model_info_section_name(7));
  ck_assert_int_eq(esmm_model_info_stat(info, ESMM_INFO_PARAMETERS, &v), ESMM_OK);
  {
    double p;
    ck_assert_int_eq(esmm_model_stat(m, ESMM_STAT_PARAMS, &p), ESMM_OK);
    ck_assert_int_eq(v, (int64_t)p);
  }
  ck_assert_int_eq(esmm_model_info_tensor(info, 0, &name, &rows, &cols), ESMM_OK);
  ck_assert_str_eq(name, "embedding");
  ck_assert_uint_eq(rows, 150);
  ck_assert_uint_eq(cols, 4);
  ck_assert_int_eq(esmm_model_info_tensor(info, 99, &name, NULL, NULL), ESMM_EINVAL);
  ck_assert_int_eq(esmm_model_info_config(info, &cfg, &text, &tlen), ESMM_OK);
  ck_assert_ptr_nonnull(strstr(text, "embed_dim=4\n"));
  ck_assert_uint_eq(strlen(text), tlen);
  ck_assert_int_eq(esmm_config_meta(cfg, "input.format", &meta), ESMM_OK);
  ck_assert_str_eq(meta, "text");
  ck_assert_int_eq(esmm_model_info_stat(info, 99, &v), ESMM_EINVAL);
  esmm_model_info_free(info);
  /* a checkpoint: the training position */
  ck_assert_int_eq(esmm_model_save_checkpoint_buffer(m, NULL, 0, &need), ESMM_EBUFS);
  ck = malloc(need);
  ck_assert_int_eq(esmm_model_save_checkpoint_buffer(m, ck, need, &need), ESMM_OK);
  ck_assert_int_eq(esmm_model_info_open_buffer(&info, ck, need), ESMM_OK);
  ck_assert_int_eq(esmm_model_info_stat(info, ESMM_INFO_CHECKPOINT, &v), ESMM_OK);
  ck_assert_int_eq(v, 1);
  ck_assert_int_eq(esmm_model_info_stat(info, ESMM_INFO_SECTIONS, &v), ESMM_OK);
  ck_assert_int_eq(v, 6);
  esmm_model_info_free(info);
  /* refusals are the loader's */
  ck[need / 2] ^= 1;
  ck_assert_int_eq(esmm_model_info_open_buffer(&info, ck, need), ESMM_ECORRUPT);
  ck_assert_ptr_null(info);
  ck_assert_int_eq(esmm_model_info_open(&info, "/nonexistent/model.esmm"), ESMM_EIO);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "esmm_model_info_open: /nonexistent/model.esmm"));
  ck_assert_int_eq(esmm_model_info_open(NULL, "x"), ESMM_EINVAL);
  esmm_model_info_free(NULL);
  free(ck);
  free(b);
  esmm_model_free(m);
}
END_TEST

/* Loading with changed options: a warm start may change anything but the
 * parameters' shapes; a resume only what may change between runs. */
START_TEST(test_load_with_changes) {
  esmm_model *m = small_model(14), *l = NULL;
  esmm_config *ch = small_config();
  char path[300];
  double lr;
  esmm_config *lc;
  esmm_opt opts[2] = {ESMM_OPT_LEARNING_RATE, ESMM_OPT_BATCH_SIZE};
  make_tmpdir();
  snprintf(path, sizeof path, "%s/m.esmm", tmpdir);
  ck_assert_int_eq(esmm_model_save(m, path), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_float(ch, ESMM_OPT_LEARNING_RATE, 0.0005), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(ch, ESMM_OPT_BATCH_SIZE, 7), ESMM_OK);
  ck_assert_int_eq(esmm_model_load_v2(&l, path, NULL, ch, opts, 2), ESMM_OK);
  assert_same_(m, l, 0);
  ck_assert_int_eq(esmm_model_config(l, &lc), ESMM_OK);
  ck_assert_int_eq(esmm_config_get_float(lc, ESMM_OPT_LEARNING_RATE, &lr), ESMM_OK);
  ck_assert(lr == 0.0005);
  esmm_config_free(lc);
  esmm_model_free(l);
  /* shapes are fixed */
  opts[0] = ESMM_OPT_EMBED_DIM;
  ck_assert_int_eq(esmm_config_set_int(ch, ESMM_OPT_EMBED_DIM, 5), ESMM_OK);
  ck_assert_int_eq(esmm_model_load_v2(&l, path, NULL, ch, opts, 1), ESMM_EINVAL);
  ck_assert_ptr_null(l);
  ck_assert_str_eq(esmm_last_error(), "esmm_model_load_v2: embed_dim cannot change when a model is loaded: it "
                                      "changes the shape of the saved parameters");
  /* resume: the learning rate may change, the batch size may not */
  ck_assert_int_eq(esmm_model_save_checkpoint(m, path), ESMM_OK);
  opts[0] = ESMM_OPT_LEARNING_RATE;
  ck_assert_int_eq(esmm_model_load_checkpoint_v2(&l, path, NULL, ch, opts, 1), ESMM_OK);
  esmm_model_free(l);
  ck_assert_int_eq(esmm_model_load_checkpoint_v2(&l, path, NULL, ch, opts, 2), ESMM_EINVAL);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "batch_size cannot change when a checkpoint is resumed"));
  ck_assert_int_eq(esmm_model_load_checkpoint_v2(&l, path, NULL, NULL, opts, 1), ESMM_EINVAL);
  ck_assert_int_eq(esmm_model_load_checkpoint_v2(&l, path, NULL, NULL, NULL, 0), ESMM_OK);
  esmm_model_free(l);
  remove_tmpdir();
  esmm_config_free(ch);
  esmm_model_free(m);
}
END_TEST

/* New options are left out of the config text at their default, so that
 * files stay readable by the libraries that predate them. */
START_TEST(test_new_options_omitted_at_default) {
  esmm_model *m = small_model(15);
  esmm_config *c = small_config();
  size_t len;
  unsigned char *b = to_buffer(m, &len);
  ck_assert_ptr_null(find_bytes(b, len, "patience="));
  ck_assert_ptr_null(find_bytes(b, len, "monitor="));
  free(b);
  esmm_model_free(m);
  ck_assert_int_eq(esmm_config_set_by_name(c, "patience", "3"), ESMM_OK);
  ck_assert_int_eq(esmm_model_new(&m, c), ESMM_OK);
  b = to_buffer(m, &len);
  ck_assert_ptr_nonnull(find_bytes(b, len, "patience=3\n"));
  free(b);
  esmm_model_free(m);
  esmm_config_free(c);
}
END_TEST

static Suite *serialize_suite(void) {
  Suite *s = suite_create("serialize");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_crc32);
  tcase_add_test(tc, test_roundtrip_buffer);
  tcase_add_test(tc, test_buffer_size_query);
  tcase_add_test(tc, test_roundtrip_file);
  tcase_add_test(tc, test_truncation_every_offset);
  tcase_add_test(tc, test_byte_flips);
  tcase_add_test(tc, test_bad_magic);
  tcase_add_test(tc, test_newer_version);
  tcase_add_test(tc, test_semantic_checks);
  tcase_add_test(tc, test_nan_refused_on_save);
  tcase_add_test(tc, test_save_failures);
  tcase_add_test(tc, test_overwrite);
  tcase_add_test(tc, test_hooks_and_enomem);
  tcase_add_test(tc, test_bad_args);
  tcase_add_loop_test(tc, test_variant_roundtrip, 0, N_VCASES);
  tcase_add_test(tc, test_variant_checkpoint_block_shapes);
  tcase_add_test(tc, test_meta_roundtrip);
  tcase_add_test(tc, test_meta_rules);
  tcase_add_test(tc, test_meta_section_kinds);
  tcase_add_test(tc, test_model_info);
  tcase_add_test(tc, test_load_with_changes);
  tcase_add_test(tc, test_new_options_omitted_at_default);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return test_main(serialize_suite()); }
