/* check_cache.c - the binary cache: save/open round trips (mapped and from
 * a buffer) with commons, dense inputs and reader counts; the data report,
 * source lines, row ids and skipped rows travel with it (format 2); format 1
 * files still open; a streaming conversion byte-identical to saving the
 * loaded dataset; read-only mapped datasets; refusal of every truncation,
 * of a flipped byte anywhere, of crafted files with valid checksums but
 * out-of-range content, of newer versions and of mismatching configs. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "dataset.h"
#include "io/cache.h"
#include "io/modelfile.h"
#include "support/support.h"

static char dir[64];

static void setup(void) { test_tmpdir_new(dir, sizeof dir, "check_cache"); }

static void teardown(void) { test_tmpdir_remove(dir); }

/* Equal observable content (test_ds_differs), or the test fails naming
 * what differs. */
static void same(const esmm_dataset *a, const esmm_dataset *b) {
  const char *d = test_ds_differs(a, b);
  ck_assert_msg(d == NULL, "%s differs", d);
}

/* A small dataset with commons and 3 dense inputs. */
static esmm_dataset *make(esmm_config **cfg_out) {
  esmm_config *c;
  esmm_dataset *ds;
  int f[4] = {0, 13, 22, 5};
  uint64_t id[4] = {1, 1ULL << 40, UINT64_MAX, 7};
  float v[4] = {1, 0.5f, -2, 3};
  int64_t ci, com[3] = {0, -1, 0}, off[4] = {0, 2, 2, 4};
  int y[3] = {1, 0, 0}, z[3] = {1, 0, 1};
  float dense[9] = {0.1f, 0.2f, 0.3f, 0, 0, 0, -1, 1e30f, 2};
  ck_assert_int_eq(esmm_config_new(&c), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_DENSE_FEATURES, 3), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_new(&ds, c), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_add_common(ds, 3, f, id, v, &ci), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_add_rows(ds, 3, y, z, com, off, f, id, v), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_set_dense(ds, 0, 3, dense), ESMM_OK);
  ds->rep.stat[0] = 5; /* reader counts travel with the cache */
  ds->rep.stat[3] = 2;
  *cfg_out = c;
  return ds;
}

START_TEST(round_trip_mapped_and_buffer) {
  esmm_config *c;
  esmm_dataset *ds = make(&c), *m, *b;
  char path[128];
  unsigned char *img;
  size_t len;
  int y = 0, z = 0;
  int64_t off[2] = {0, 0};
  snprintf(path, sizeof path, "%s/a.cache", dir);
  ck_assert_int_eq(esmm_dataset_save_cache(ds, path), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_open_cache(&m, c, path), ESMM_OK);
  same(ds, m);
  ck_assert_int_eq(test_ds_stat(m, ESMM_DS_MAPPED), 1);
  ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_MAPPED), 0);
  ck_assert_int_eq(test_ds_stat(m, ESMM_DS_LINES), 5);
  /* read-only */
  ck_assert_int_eq(esmm_dataset_add_rows(m, 1, &y, &z, NULL, off, NULL, NULL, NULL), ESMM_ESTATE);
  ck_assert_str_eq(esmm_last_error(), "esmm_dataset_add_rows: the dataset is a read-only mapped cache");
  ck_assert_int_eq(esmm_dataset_set_dense(m, 0, 1, (float[3]){0, 0, 0}), ESMM_ESTATE);
  img = test_slurp(path, &len);
  ck_assert_uint_eq(len % 64, 0);
  ck_assert_int_eq(esmm_dataset_open_cache_buffer(&b, c, img, len), ESMM_OK);
  same(ds, b);
  /* the file can go while mapped */
  unlink(path);
  same(ds, m);
  esmm_dataset_free(b);
  esmm_dataset_free(m);
  free(img);
  esmm_dataset_free(ds);
  esmm_config_free(c);
}
END_TEST

START_TEST(convert_equals_save) {
  esmm_sim *sim;
  esmm_dataset *ds, *rd, *m;
  char sk[128], cm[128], c1[128], c2[128], tx[128];
  unsigned char *a, *b;
  size_t la, lb;
  ck_assert_int_eq(esmm_sim_new(&sim, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_sim_generate(sim, 9000, 3, &ds), ESMM_OK); /* > 2 reader batches */
  snprintf(sk, sizeof sk, "%s/s.csv", dir);
  snprintf(cm, sizeof cm, "%s/c.csv", dir);
  snprintf(c1, sizeof c1, "%s/1.cache", dir);
  snprintf(c2, sizeof c2, "%s/2.cache", dir);
  snprintf(tx, sizeof tx, "%s/t.txt", dir);
  ck_assert_int_eq(esmm_dataset_write_aliccp(ds, sk, cm), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_convert(NULL, ESMM_FORMAT_ALICCP, sk, cm, c1), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_read_aliccp(&rd, NULL, sk, cm), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_save_cache(rd, c2), ESMM_OK);
  a = test_slurp(c1, &la);
  b = test_slurp(c2, &lb);
  ck_assert_uint_eq(la, lb);
  ck_assert_int_eq(memcmp(a, b, la), 0);
  ck_assert_int_eq(esmm_dataset_open_cache(&m, NULL, c1), ESMM_OK);
  same(rd, m);
  esmm_dataset_free(m);
  free(a);
  free(b);
  /* text format converts too; no temporary file is left behind */
  ck_assert_int_eq(esmm_dataset_write_text(ds, tx), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_convert(NULL, ESMM_FORMAT_TEXT, tx, NULL, c1), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_open_cache(&m, NULL, c1), ESMM_OK);
  ck_assert_int_eq(test_ds_stat(m, ESMM_DS_ROWS), 9000);
  { /* the text format inlines each row's common list */
    int64_t want = 0;
    for (size_t i = 0; i < 9000; i++) {
      int64_t ci;
      size_t k, ck = 0;
      esmm_dataset_row(ds, i, NULL, NULL, &ci, &k, NULL, NULL, NULL);
      if (ci >= 0)
        esmm_dataset_common(ds, (size_t)ci, &ck, NULL, NULL, NULL);
      want += (int64_t)(k + ck);
    }
    ck_assert_int_eq(test_ds_stat(m, ESMM_DS_FEATURES), want);
    ck_assert_int_eq(test_ds_stat(m, ESMM_DS_COMMONS), 0);
  }
  esmm_dataset_free(m);
  /* a failing conversion leaves nothing */
  ck_assert_int_eq(esmm_dataset_convert(NULL, ESMM_FORMAT_ALICCP, sk, "/nonexistent/c.csv", c2), ESMM_EIO);
  {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "test $(ls %s | wc -l) -eq 5", dir); /* s.csv c.csv 1.cache 2.cache t.txt, no temporaries */
    ck_assert_int_eq(system(cmd), 0);
  }
  ck_assert_int_eq(esmm_dataset_convert(NULL, 7, sk, NULL, c2), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_dataset_convert: unknown input format 7");
  esmm_dataset_free(rd);
  esmm_dataset_free(ds);
  esmm_sim_free(sim);
}
END_TEST

static uint32_t rd32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static void wr32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}
static uint64_t rd64(const unsigned char *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* Re-seal a modified image: column CRCs then the header CRC (independent
 * reimplementation of the layout in docs/data.md). */
static void reseal(unsigned char *img) {
  uint64_t hb = rd64(img + 16), nf = rd64(img + 56);
  int ncol = rd32(img + 8) >= 2 ? 17 : 12;
  uint32_t crc;
  for (int k = 0; k < ncol; k++) {
    unsigned char *e = img + (k < 12 ? 200 + 24 * (uint64_t)k : 512 + 64 * nf + 8 + 24 * (uint64_t)(k - 12));
    wr32(e + 16, esmm__crc32(0, img + rd64(e), (size_t)rd64(e + 8)));
  }
  crc = esmm__crc32(0, img, 488);
  crc = esmm__crc32(crc, img + 512, (size_t)(hb - 512));
  wr32(img + 488, crc);
}

/* Table entry of column k (format 2). */
static unsigned char *entry(unsigned char *img, int k) {
  uint64_t nf = rd64(img + 56);
  return img + (k < 12 ? 200 + 24 * (uint64_t)k : 512 + 64 * nf + 8 + 24 * (uint64_t)(k - 12));
}

/* The same dataset as a format 1 file: version 1, the header without the
 * table of the five format 2 columns, the first twelve columns. */
static unsigned char *as_format1(unsigned char *img, size_t *len) {
  uint64_t nf = rd64(img + 56), hb1 = (512 + 64 * nf + 63) & ~(uint64_t)63, off = hb1;
  unsigned char *v1 = calloc(1, *len);
  memcpy(v1, img, 512 + 64 * nf);
  wr32(v1 + 8, 1);
  v1[16] = (unsigned char)hb1, v1[17] = (unsigned char)(hb1 >> 8);
  memset(v1 + 72 + 8 * 10, 0, 8 * 6); /* format 1 wrote 10 counts */
  for (int k = 0; k < 12; k++) {
    unsigned char *e = entry(img, k), *e1 = v1 + 200 + 24 * k;
    uint64_t b = rd64(e + 8);
    memcpy(v1 + off, img + rd64(e), (size_t)b);
    for (int i = 0; i < 8; i++)
      e1[i] = (unsigned char)(off >> (8 * i));
    off = (off + b + 63) & ~(uint64_t)63;
  }
  *len = (size_t)off;
  reseal(v1);
  return v1;
}

/* A dataset read by the CSV reader with everything a report holds: ids,
 * lines, two skipped rows (a drop and a malformed row), messages. */
static esmm_dataset *read_rich(esmm_config **cfg_out) {
  static const char data[] = "sid,y,z,101,n\nr1,1,0,5,0.5\nr2,0,1,6,1\n\nr3,1,1,x,2,9\n\"r,4\",0,0,7,3\n";
  esmm_config *c;
  esmm_dataset *ds;
  ck_assert_int_eq(esmm_config_new(&c), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_DENSE_FEATURES, 1), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_by_name(c, "on_error", "skip"), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_by_name(c, "conv_no_click", "drop"), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_read_csv_buffer(&ds, c, data, sizeof data - 1, "rich.csv",
                                                "id=sid;click=y;conversion=z;num=n;cat=101"),
                   ESMM_OK);
  *cfg_out = c;
  return ds;
}

/* Reports, messages, sources and skipped rows equal. */
static void same_provenance(const esmm_dataset *a, const esmm_dataset *b) {
  esmm_data_report ra, rb;
  ck_assert_int_eq(esmm_dataset_report(a, &ra, sizeof ra), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_report(b, &rb, sizeof rb), ESMM_OK);
  ck_assert_str_eq(ra.source, rb.source);
  ra.source = rb.source = NULL;
  ck_assert_int_eq(memcmp(&ra, &rb, sizeof ra), 0);
  for (size_t k = 0; k < (size_t)ra.messages; k++) {
    const char *ma, *mb;
    ck_assert_int_eq(esmm_dataset_report_message(a, k, &ma), ESMM_OK);
    ck_assert_int_eq(esmm_dataset_report_message(b, k, &mb), ESMM_OK);
    ck_assert_str_eq(ma, mb);
  }
  for (int key = ESMM_DS_CONV_NO_CLICK_ZEROED; key <= ESMM_DS_SKIPPED_LISTED; key++)
    ck_assert_int_eq(test_ds_stat(a, key), test_ds_stat(b, key));
  for (size_t i = 0; i < (size_t)ra.rows_kept; i++) {
    int64_t la, lb;
    const char *ia, *ib;
    size_t na, nb;
    ck_assert_int_eq(esmm_dataset_row_source(a, i, &la, &ia, &na), ESMM_OK);
    ck_assert_int_eq(esmm_dataset_row_source(b, i, &lb, &ib, &nb), ESMM_OK);
    ck_assert(la == lb && na == nb && (na == 0 || memcmp(ia, ib, na) == 0));
  }
  for (size_t k = 0; k < (size_t)test_ds_stat(a, ESMM_DS_SKIPPED_LISTED); k++) {
    int64_t la, lb;
    int qa, qb;
    ck_assert_int_eq(esmm_dataset_skipped_row(a, k, &la, &qa), ESMM_OK);
    ck_assert_int_eq(esmm_dataset_skipped_row(b, k, &lb, &qb), ESMM_OK);
    ck_assert(la == lb && qa == qb);
  }
}

START_TEST(report_and_provenance_travel) {
  esmm_config *c;
  esmm_dataset *ds = read_rich(&c), *m, *v;
  char path[128], csv[128], conv[128];
  unsigned char *img, *v1, *a, *b;
  size_t len, la, lb;
  esmm_data_report r;
  int64_t line;
  const char *id;
  size_t n;
  ck_assert_int_eq(esmm_dataset_report(ds, &r, sizeof r), ESMM_OK);
  ck_assert_int_eq(r.rows_read, 4);
  ck_assert_int_eq(r.rows_kept, 2);
  ck_assert_int_eq(r.messages, 1);
  snprintf(path, sizeof path, "%s/r.cache", dir);
  ck_assert_int_eq(esmm_dataset_save_cache(ds, path), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_open_cache(&m, c, path), ESMM_OK);
  same(ds, m);
  same_provenance(ds, m);
  ck_assert_int_eq(esmm_dataset_row_source(m, 1, &line, &id, &n), ESMM_OK);
  ck_assert_int_eq(line, 6);
  ck_assert_uint_eq(n, 3);
  ck_assert_int_eq(memcmp(id, "r,4", 3), 0);
  /* the streaming conversion of the same file writes the same bytes */
  {
    static const char data[] = "sid,y,z,101,n\nr1,1,0,5,0.5\nr2,0,1,6,1\n\nr3,1,1,x,2,9\n\"r,4\",0,0,7,3\n";
    FILE *f;
    esmm_dataset *rd;
    snprintf(csv, sizeof csv, "%s/rich.csv", dir);
    snprintf(conv, sizeof conv, "%s/conv.cache", dir);
    f = fopen(csv, "wb");
    ck_assert_uint_eq(fwrite(data, 1, sizeof data - 1, f), sizeof data - 1);
    fclose(f);
    ck_assert_int_eq(esmm_dataset_convert_v2(c, csv, ESMM_FORMAT_CSV, NULL, "id=sid;click=y;conversion=z;num=n;cat=101", conv),
                     ESMM_OK);
    ck_assert_int_eq(esmm_dataset_read(&rd, c, csv, ESMM_FORMAT_CSV, NULL, "id=sid;click=y;conversion=z;num=n;cat=101"),
                     ESMM_OK);
    ck_assert_int_eq(esmm_dataset_save_cache(rd, path), ESMM_OK);
    a = test_slurp(conv, &la);
    b = test_slurp(path, &lb);
    ck_assert_uint_eq(la, lb);
    ck_assert_int_eq(memcmp(a, b, la), 0);
    free(a);
    free(b);
    esmm_dataset_free(rd);
  }
  /* format 1: the same rows, the 1.0 counts, no report text, no provenance */
  img = test_slurp(path, &len);
  v1 = as_format1(img, &len);
  ck_assert_int_eq(esmm_dataset_open_cache_buffer(&v, c, v1, len), ESMM_OK);
  same(m, v);
  ck_assert_int_eq(esmm_dataset_report(v, &r, sizeof r), ESMM_OK);
  ck_assert_int_eq(r.rows_read, 4);
  ck_assert_int_eq(r.skipped_conv_no_click, 1);
  ck_assert_int_eq(r.messages, 0);
  ck_assert_int_eq(r.conv_no_click_policy, -1);
  ck_assert_int_eq(r.on_error_policy, -1);
  ck_assert_str_eq(r.source, "");
  ck_assert_int_eq(test_ds_stat(v, ESMM_DS_ROW_LINES), 0);
  ck_assert_int_eq(test_ds_stat(v, ESMM_DS_ROW_IDS), 0);
  ck_assert_int_eq(test_ds_stat(v, ESMM_DS_SKIPPED_LISTED), 0);
  ck_assert_int_eq(esmm_dataset_row_source(v, 1, &line, &id, &n), ESMM_OK);
  ck_assert(line == 0 && id == NULL && n == 0);
  esmm_dataset_free(v);
  free(v1);
  free(img);
  esmm_dataset_free(m);
  esmm_dataset_free(ds);
  esmm_config_free(c);
}
END_TEST

START_TEST(refuses_bad_provenance) {
  esmm_config *c;
  esmm_dataset *ds = read_rich(&c), *out = (esmm_dataset *)1;
  char path[128];
  unsigned char *img, *bad;
  size_t len;
  snprintf(path, sizeof path, "%s/r.cache", dir);
  ck_assert_int_eq(esmm_dataset_save_cache(ds, path), ESMM_OK);
  img = test_slurp(path, &len);
  bad = malloc(len);
  memcpy(bad, img, len);
  bad[rd64(entry(bad, 12)) + 7] = 0x80; /* line of row 0 negative */
  reseal(bad);
  ck_assert_int_eq(esmm_dataset_open_cache_buffer(&out, c, bad, len), ESMM_ECORRUPT);
  ck_assert_str_eq(esmm_last_error(), "esmm_dataset_open_cache_buffer: <buffer>: negative source line (element 0)");
  memcpy(bad, img, len);
  bad[rd64(entry(bad, 13)) + 8] = 9; /* id offsets past the ids */
  reseal(bad);
  ck_assert_int_eq(esmm_dataset_open_cache_buffer(&out, c, bad, len), ESMM_ECORRUPT);
  memcpy(bad, img, len);
  bad[rd64(entry(bad, 15)) + 8] = 7; /* skipped-row reason 7 */
  reseal(bad);
  ck_assert_int_eq(esmm_dataset_open_cache_buffer(&out, c, bad, len), ESMM_ECORRUPT);
  ck_assert_str_eq(esmm_last_error(), "esmm_dataset_open_cache_buffer: <buffer>: bad skipped-row record (element 0)");
  memcpy(bad, img, len);
  bad[rd64(entry(bad, 16)) + rd64(entry(bad, 16) + 8) - 1] = 'x'; /* report text not terminated */
  reseal(bad);
  ck_assert_int_eq(esmm_dataset_open_cache_buffer(&out, c, bad, len), ESMM_ECORRUPT);
  ck_assert_str_eq(esmm_last_error(), "esmm_dataset_open_cache_buffer: <buffer>: the report column is malformed");
  memcpy(bad, img, len);
  bad[72 + 8 * 11] = 9; /* conv_no_click policy 8 */
  reseal(bad);
  ck_assert_int_eq(esmm_dataset_open_cache_buffer(&out, c, bad, len), ESMM_ECORRUPT);
  ck_assert_str_eq(esmm_last_error(), "esmm_dataset_open_cache_buffer: <buffer>: unknown reader policy");
  memcpy(bad, img, len);
  bad[72 + 8 * 2 + 7] = 0x80; /* a negative count */
  reseal(bad);
  ck_assert_int_eq(esmm_dataset_open_cache_buffer(&out, c, bad, len), ESMM_ECORRUPT);
  ck_assert_ptr_null(out);
  free(bad);
  free(img);
  esmm_dataset_free(ds);
  esmm_config_free(c);
}
END_TEST

START_TEST(refuses_damage) {
  esmm_config *c;
  esmm_dataset *ds = make(&c), *out;
  char path[128];
  unsigned char *img, *bad;
  size_t len;
  snprintf(path, sizeof path, "%s/a.cache", dir);
  ck_assert_int_eq(esmm_dataset_save_cache(ds, path), ESMM_OK);
  img = test_slurp(path, &len);
  bad = malloc(len);
  /* every truncation */
  for (size_t n = 0; n < len; n++) {
    out = (esmm_dataset *)1;
    ck_assert_int_eq(esmm_dataset_open_cache_buffer(&out, c, img, n), ESMM_ECORRUPT);
    ck_assert_ptr_null(out);
  }
  /* every single flipped byte outside padding is caught */
  for (size_t i = 0; i < len; i++) {
    int rc;
    memcpy(bad, img, len);
    bad[i] ^= 0x40;
    rc = esmm_dataset_open_cache_buffer(&out, c, bad, len);
    if (rc == ESMM_OK) { /* only zero padding may change harmlessly: it is outside every checksum */
      ck_assert(img[i] == 0);
      esmm_dataset_free(out);
    } else {
      ck_assert(rc == ESMM_ECORRUPT || rc == ESMM_EVERSION || rc == ESMM_EINVAL);
    }
  }
  /* crafted content with valid checksums */
  {
    const unsigned char *e;
    memcpy(bad, img, len);
    e = bad + 200 + 24 * 4; /* field column */
    wr32(bad + rd64(e), 23);
    reseal(bad);
    ck_assert_int_eq(esmm_dataset_open_cache_buffer(&out, c, bad, len), ESMM_ECORRUPT);
    ck_assert_str_eq(esmm_last_error(), "esmm_dataset_open_cache_buffer: <buffer>: feature field out of range or "
                                        "value not finite (element 0)");
    memcpy(bad, img, len);
    e = bad + 200 + 24 * 2; /* common column: index 5 of 1 common list */
    bad[rd64(e)] = 5;
    reseal(bad);
    ck_assert_int_eq(esmm_dataset_open_cache_buffer(&out, c, bad, len), ESMM_ECORRUPT);
    ck_assert_str_eq(esmm_last_error(), "esmm_dataset_open_cache_buffer: <buffer>: common index out of range (element 0)");
    memcpy(bad, img, len);
    e = bad + 200 + 24 * 3; /* row offsets: past the features */
    bad[rd64(e) + 8] = 200;
    reseal(bad);
    ck_assert_int_eq(esmm_dataset_open_cache_buffer(&out, c, bad, len), ESMM_ECORRUPT);
    memcpy(bad, img, len);
    e = bad + 200 + 24 * 11; /* dense: NaN */
    wr32(bad + rd64(e), 0x7fc00000u);
    reseal(bad);
    ck_assert_int_eq(esmm_dataset_open_cache_buffer(&out, c, bad, len), ESMM_ECORRUPT);
    ck_assert_str_eq(esmm_last_error(), "esmm_dataset_open_cache_buffer: <buffer>: dense input not finite (element 0)");
    memcpy(bad, img, len);
    wr32(bad + 8, 3); /* newer version */
    reseal(bad);
    ck_assert_int_eq(esmm_dataset_open_cache_buffer(&out, c, bad, len), ESMM_EVERSION);
    memcpy(bad, img, len);
    bad[24] = 200; /* row count beyond the columns */
    reseal(bad);
    ck_assert_int_eq(esmm_dataset_open_cache_buffer(&out, c, bad, len), ESMM_ECORRUPT);
  }
  /* config mismatch */
  ck_assert_int_eq(esmm_dataset_open_cache(&out, NULL, path), ESMM_EINVAL);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), ": the cache's field list (23 fields) differs") == NULL
                             ? strstr(esmm_last_error(), "dense inputs per row, the config 0")
                             : esmm_last_error());
  ck_assert_int_eq(esmm_dataset_open_cache(&out, c, "/nonexistent"), ESMM_EIO);
  ck_assert_int_eq(esmm_dataset_open_cache_buffer(&out, c, "ESMMDATA", 8), ESMM_ECORRUPT);
  ck_assert_str_eq(esmm_last_error(), "esmm_dataset_open_cache_buffer: <buffer>: not a libesmm dataset cache (bad "
                                      "magic or shorter than 512 bytes)");
  free(bad);
  free(img);
  esmm_dataset_free(ds);
  esmm_config_free(c);
}
END_TEST

START_TEST(dense_api) {
  esmm_config *c;
  esmm_dataset *ds = make(&c), *plain;
  float out[9], nanrow[3] = {0, NAN, 0};
  ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_DENSE), 3);
  ck_assert_int_eq(esmm_dataset_dense(ds, 1, 2, out), ESMM_OK);
  ck_assert_float_eq(out[0], 0);
  ck_assert_float_eq(out[4], 1e30f);
  ck_assert_int_eq(esmm_dataset_set_dense(ds, 1, 1, nanrow), ESMM_ENUMERIC);
  ck_assert_str_eq(esmm_last_error(), "esmm_dataset_set_dense: row 1, dense input 1: value nan is not finite");
  ck_assert_int_eq(esmm_dataset_set_dense(ds, 2, 2, out), ESMM_EINVAL);
  ck_assert_int_eq(esmm_dataset_new(&plain, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_set_dense(plain, 0, 0, NULL), ESMM_OK);
  {
    int y = 0, z = 0;
    int64_t off[2] = {0, 0};
    ck_assert_int_eq(esmm_dataset_add_rows(plain, 1, &y, &z, NULL, off, NULL, NULL, NULL), ESMM_OK);
    ck_assert_int_eq(esmm_dataset_set_dense(plain, 0, 1, out), ESMM_ESHAPE);
  }
  esmm_dataset_free(plain);
  esmm_dataset_free(ds);
  esmm_config_free(c);
}
END_TEST

/* Bit by bit, straight from the polynomial: the reference for both of
 * esmm__crc32's paths (bytewise below 64 KiB, slicing-by-8 above). */
static uint32_t crc_bitwise(uint32_t crc, const unsigned char *p, size_t n) {
  crc = ~crc;
  while (n--) {
    crc ^= *p++;
    for (int k = 0; k < 8; k++)
      crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

/* The CRC equals the bitwise reference on both paths, chained too. */
START_TEST(fast_crc_matches_reference) {
  size_t n = (1 << 20) + 13;
  unsigned char *b = malloc(n);
  uint64_t x = 88172645463325252ULL;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    b[i] = (unsigned char)x;
  }
  for (size_t len = 65530; len < n; len = len * 3 + 7) {
    uint32_t want = crc_bitwise(0, b, len);
    ck_assert_uint_eq(esmm__crc32(0, b, len), want);
    ck_assert_uint_eq(esmm__crc32(esmm__crc32(0, b, 100), b + 100, len - 100), want);
    if (len > 70000) /* a long tail after a short head */
      ck_assert_uint_eq(esmm__crc32(esmm__crc32(0, b, len - 70000), b + len - 70000, 70000), want);
  }
  ck_assert_uint_eq(esmm__crc32(0, "123456789", 9), 0xCBF43926u);
  free(b);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("cache");
  TCase *tc = tcase_create("core");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, round_trip_mapped_and_buffer);
  tcase_add_test(tc, convert_equals_save);
  tcase_add_test(tc, refuses_damage);
  tcase_add_test(tc, report_and_provenance_travel);
  tcase_add_test(tc, refuses_bad_provenance);
  tcase_add_test(tc, dense_api);
  tcase_add_test(tc, fast_crc_matches_reference);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return test_main(suite()); }
