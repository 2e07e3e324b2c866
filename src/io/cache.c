/* io/cache.c - the binary dataset cache (layout in io/cache_format.h and
 * docs/data.md): the validating loader.
 *
 * The file is the dataset's columns as they are in memory, each at a
 * 64-byte aligned offset, behind a header with counts, the field list, the
 * reader counts and a table of (offset, bytes, CRC-32) per column. That
 * makes loading a memory mapping plus one validating pass: nothing is
 * copied, and repeated epochs re-read nothing from text. The validation is
 * complete (checksums, then every index, offset, label and value), because
 * the model indexes the arrays without further checks; a crafted file with
 * correct checksums must still be refused, not read out of bounds.
 *
 * Format 2 adds five columns after the twelve of format 1 (their table
 * follows the field names): the rows' source lines, their ids (offsets and
 * bytes), the skipped rows and the report's text (source name, messages).
 * Format 1 files still load (without those).
 *
 * Where the dataset's arrays meet the file: the column table
 * (io/cache_format.h), dataset_columns (io/cache_write.c: a dataset's arrays
 * as columns) and attach_columns (here: a validated image's columns as a
 * dataset's arrays). This file loads; io/cache_write.c writes.
 *
 * Little-endian only: the columns are used in place, so a big-endian host
 * would need a converting loader; until one exists such hosts get
 * ESMM_ERROR rather than garbage. */
#include "cache.h"
#include "cache_format.h"
#include "config.h"
#include "crc32.h"
#include "le.h"
#include "reader.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------- loading */

#define BAD(...) esmm__error(ESMM_ECORRUPT, func, __VA_ARGS__)

static int cache_field_name_ok(const unsigned char *p, char *out) {
  size_t n = 0;
  while (n < NAME_BYTES && p[n])
    n++;
  if (n == 0 || n > ESMM_MAX_FIELD_NAME)
    return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = p[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_'))
      return 0;
  }
  for (size_t i = n; i < NAME_BYTES; i++)
    if (p[i])
      return 0;
  memcpy(out, p, n);
  out[n] = '\0';
  return 1;
}

/* The report column: source, then at most ESMM__MESSAGES messages, each
 * NUL-terminated and within its size. 0 when malformed. */
static int parse_report(const unsigned char *p, uint64_t len, esmm__report *rep) {
  uint64_t at = 0;
  size_t k = 0;
  if (len == 0)
    return 1;
  while (at < len) {
    const unsigned char *z = memchr(p + at, '\0', (size_t)(len - at));
    size_t n, cap = k == 0 ? ESMM__SOURCE_BYTES : ESMM__MESSAGE_BYTES;
    if (!z || k > ESMM__MESSAGES)
      return 0;
    n = (size_t)(z - (p + at));
    if (n >= cap)
      return 0;
    memcpy(k == 0 ? rep->source : rep->msg[k - 1], p + at, n + 1);
    at += n + 1;
    k++;
  }
  rep->n_msg = k ? k - 1 : 0;
  return 1;
}

/* The columns of a validated image as the dataset's arrays; the dataset
 * becomes read-only. cnt: element counts (nothing else is checked here). */
static void attach_columns(esmm_dataset *ds, const void *const col[NCOL], const uint64_t cnt[NCOL]) {
  esmm__dataset_drop_arrays(ds);
  ds->mapped = 1;
  ds->click = (int *)col[C_CLICK], ds->conv = (int *)col[C_CONV], ds->common = (int64_t *)col[C_COMMON];
  ds->row_off = (int64_t *)col[C_ROWOFF], ds->field = (int *)col[C_FIELD], ds->id = (uint64_t *)col[C_ID];
  ds->value = (float *)col[C_VALUE], ds->com_off = (int64_t *)col[C_COMOFF], ds->com_field = (int *)col[C_CFIELD];
  ds->com_id = (uint64_t *)col[C_CID], ds->com_value = (float *)col[C_CVALUE];
  ds->dense = ds->n_dense ? (float *)col[C_DENSE] : NULL;
  ds->line = cnt[C_LINE] ? (int64_t *)col[C_LINE] : NULL;
  ds->key_off = cnt[C_KEYOFF] ? (int64_t *)col[C_KEYOFF] : NULL;
  ds->key = ds->key_off ? (char *)col[C_KEY] : NULL;
  ds->skip = cnt[C_SKIP] ? (esmm__skip *)col[C_SKIP] : NULL;
  ds->n_rows = ds->cap_rows = (size_t)cnt[C_CLICK];
  ds->nnz = ds->cap_nnz = (size_t)cnt[C_FIELD];
  ds->n_common = ds->cap_common = (size_t)cnt[C_COMOFF] - 1;
  ds->com_nnz = ds->cap_com_nnz = (size_t)cnt[C_CFIELD];
  ds->key_len = ds->cap_key = (size_t)cnt[C_KEY];
  ds->n_skip = ds->cap_skip = (size_t)cnt[C_SKIP];
}

/* Everything the model and the provenance calls index, checked; NULL or
 * what is wrong (*at: the element). */
static const char *check_content(const void *const col[NCOL], const uint64_t cnt[NCOL], uint64_t nf, uint64_t *at,
                                 int64_t sums[5]) {
  const int *click = col[C_CLICK], *conv = col[C_CONV], *field = col[C_FIELD], *cfield = col[C_CFIELD];
  const int64_t *common = col[C_COMMON], *ro = col[C_ROWOFF], *co = col[C_COMOFF];
  const int64_t *line = col[C_LINE], *ko = col[C_KEYOFF];
  const float *value = col[C_VALUE], *cvalue = col[C_CVALUE], *dense = col[C_DENSE];
  const esmm__skip *skip = col[C_SKIP];
  uint64_t n = cnt[C_CLICK], nnz = cnt[C_FIELD], nc = cnt[C_COMOFF] - 1, cnnz = cnt[C_CFIELD];
  memset(sums, 0, 5 * sizeof *sums);
  *at = 0;
  if (ro[0] != 0 || (uint64_t)ro[n] != nnz)
    return "row offsets do not span the features";
  for (uint64_t i = 0; i < n; i++) {
    *at = i;
    if ((click[i] | conv[i]) & ~1)
      return "label outside {0,1}";
    if (common[i] < -1 || (common[i] >= 0 && (uint64_t)common[i] >= nc))
      return "common index out of range";
    if (ro[i + 1] < ro[i])
      return "row offsets decrease";
    sums[0] += click[i];
    sums[1] += conv[i];
    sums[2] += click[i] & conv[i];
    sums[3] += (!click[i]) & conv[i];
    sums[4] += common[i] >= 0;
  }
  *at = 0;
  if (co[0] != 0 || (uint64_t)co[nc] != cnnz)
    return "common offsets do not span the common features";
  for (uint64_t i = 0; i < nc; i++)
    if (co[i + 1] < co[i])
      return *at = i, "common offsets decrease";
  for (uint64_t i = 0; i < nnz; i++)
    if (field[i] < 0 || (uint64_t)field[i] >= nf || !isfinite(value[i]))
      return *at = i, "feature field out of range or value not finite";
  for (uint64_t i = 0; i < cnnz; i++)
    if (cfield[i] < 0 || (uint64_t)cfield[i] >= nf || !isfinite(cvalue[i]))
      return *at = i, "common feature field out of range or value not finite";
  for (uint64_t i = 0; i < cnt[C_DENSE]; i++)
    if (!isfinite(dense[i]))
      return *at = i, "dense input not finite";
  for (uint64_t i = 0; i < cnt[C_LINE]; i++)
    if (line[i] < 0)
      return *at = i, "negative source line";
  if (cnt[C_KEYOFF]) {
    if (ko[0] != 0 || (uint64_t)ko[n] != cnt[C_KEY])
      return "id offsets do not span the ids";
    for (uint64_t i = 0; i < n; i++)
      if (ko[i + 1] < ko[i])
        return *at = i, "id offsets decrease";
  } else if (cnt[C_KEY]) {
    return "ids without offsets";
  }
  for (uint64_t i = 0; i < cnt[C_SKIP]; i++)
    if (skip[i].line < 0 || skip[i].reason < 0 || skip[i].reason > ESMM_SKIP_CONV_NO_CLICK || skip[i].zero)
      return *at = i, "bad skipped-row record";
  return NULL;
}

/* Validate p[0..len) completely and build a dataset whose arrays point into
 * it. The dataset is marked mapped; the caller sets map_base/map_len. */
static int load_image(esmm_dataset **out, const esmm_config *cfg, const char *func, const char *name,
                      const unsigned char *p, size_t len) {
  esmm_config *tmpc = NULL;
  const esmm_config *c = NULL;
  esmm_dataset *ds = NULL;
  uint64_t hbytes, n, nnz, nc, cnnz, nf, nd, ver, off[NCOL], bytes[NCOL], cnt[NCOL];
  const void *col[NCOL];
  esmm__report rep;
  int64_t sums[5];
  int ncol, rc;

  *out = NULL;
  if (!esmm__host_little_endian())
    return esmm__cache_big_endian(func);
  if (len < HDR_FIXED || memcmp(p, ESMM__CACHE_MAGIC, 8) != 0)
    return BAD("%s: not a libesmm dataset cache (bad magic or shorter than %d bytes)", name, HDR_FIXED);
  ver = esmm__get_u32(p + 8);
  if (ver > ESMM__CACHE_VERSION)
    return esmm__error(ESMM_EVERSION, func, "%s: cache format version %llu is newer than this library's (%u)",
                       name, (unsigned long long)ver, ESMM__CACHE_VERSION);
  if (ver == 0 || esmm__get_u32(p + 12) != 0)
    return BAD("%s: bad version or flags", name);
  ncol = ver >= 2 ? NCOL : NCOL1;
  hbytes = esmm__get_u64(p + 16);
  nf = esmm__get_u64(p + 56);
  if (nf == 0 || nf > ESMM_MAX_FIELDS || hbytes != esmm__cache_header_bytes((uint32_t)ver, nf) || hbytes > len)
    return BAD("%s: header truncated or field count %llu invalid", name, (unsigned long long)nf);
  {
    uint32_t crc = esmm__crc32(0, p, OFF_CRC);
    crc = esmm__crc32(crc, p + HDR_FIXED, (size_t)(hbytes - HDR_FIXED));
    if (crc != esmm__get_u32(p + OFF_CRC))
      return BAD("%s: header checksum mismatch", name);
  }
  if (ver >= 2 && esmm__get_u64(p + HDR_FIXED + NAME_BYTES * nf) != (uint64_t)(NCOL - NCOL1))
    return BAD("%s: %llu extra columns, expected %d", name,
               (unsigned long long)esmm__get_u32(p + HDR_FIXED + NAME_BYTES * nf), NCOL - NCOL1);
  n = esmm__get_u64(p + 24);
  nnz = esmm__get_u64(p + 32);
  nc = esmm__get_u64(p + 40);
  cnnz = esmm__get_u64(p + 48);
  nd = esmm__get_u64(p + 64);
  if (nd > 4096 || n > len || nnz > len || nc > len || cnnz > len || (nd && n > len / nd))
    return BAD("%s: counts larger than the file", name);
  esmm__report_clear(&rep);
  for (int i = 0; i < ESMM__RS_COUNT; i++) {
    rep.stat[i] = (int64_t)esmm__get_u64(p + OFF_STATS + 8 * i);
    if (rep.stat[i] < 0)
      return BAD("%s: negative reader count %d", name, i);
  }
  if (ver >= 2) {
    uint64_t cncp = esmm__get_u64(p + OFF_STATS + 8 * ESMM__RS_COUNT);
    uint64_t onerr = esmm__get_u64(p + OFF_STATS + 8 * (ESMM__RS_COUNT + 1));
    if (cncp > ESMM_CNC_ERROR + 1 || onerr > ESMM_ON_ERROR_SKIP + 1)
      return BAD("%s: unknown reader policy", name);
    rep.cnc_policy = (int)cncp - 1;
    rep.on_error = (int)onerr - 1;
  }
  {
    /* expected element counts; the optional columns are checked by extent */
    const uint64_t want[NCOL] = {n, n, n, n + 1, nnz, nnz, nnz, nc + 1, cnnz, cnnz, cnnz, n * nd, 0, 0, 0, 0, 0};
    uint64_t end = hbytes;
    for (int k = 0; k < NCOL; k++) {
      const unsigned char *e = p + esmm__cache_entry(k, nf);
      if (k >= ncol) { /* format 1: the provenance columns are empty */
        col[k] = p, cnt[k] = 0;
        continue;
      }
      off[k] = esmm__get_u64(e);
      bytes[k] = esmm__get_u64(e + 8);
      cnt[k] = bytes[k] / esmm__cache_elem(k);
      /* counts are below len (checked above), so cnt * 8 cannot overflow */
      if ((k < NCOL1 && bytes[k] != want[k] * esmm__cache_elem(k)) || bytes[k] % esmm__cache_elem(k) ||
          (k == C_LINE && cnt[k] && cnt[k] != n) || (k == C_KEYOFF && cnt[k] && cnt[k] != n + 1) ||
          (k == C_REPORT && bytes[k] > REPORT_MAX) || off[k] != esmm__align64(end) || off[k] > len ||
          bytes[k] > len - off[k])
        return BAD("%s: column %d: bad extent (offset %llu, %llu bytes; file of %zu bytes)", name, k,
                   (unsigned long long)off[k], (unsigned long long)bytes[k], len);
      if (esmm__crc32(0, p + off[k], (size_t)bytes[k]) != esmm__get_u32(e + 16))
        return BAD("%s: column %d: checksum mismatch", name, k);
      col[k] = p + off[k];
      end = off[k] + bytes[k];
    }
    /* The file ends exactly after the last column's padding: a cut in the
     * padding or appended bytes are damage too. */
    if (len != esmm__align64(end))
      return BAD("%s: file of %zu bytes, the columns end at %llu", name, len, (unsigned long long)esmm__align64(end));
  }
  if (!parse_report(col[C_REPORT], cnt[C_REPORT], &rep))
    return BAD("%s: the report column is malformed", name);
  rc = esmm__config_or_default(cfg, &tmpc, &c);
  if (rc < 0)
    return esmm__error(rc, func, "cannot create the default config");
  {
    char(*names)[ESMM_MAX_FIELD_NAME + 1] = esmm__calloc(&c->alloc, (size_t)nf, sizeof *names);
    if (!names) {
      esmm_config_free(tmpc);
      return esmm__error(ESMM_ENOMEM, func, "out of memory");
    }
    for (uint64_t f = 0; f < nf; f++)
      if (!cache_field_name_ok(p + HDR_FIXED + NAME_BYTES * f, names[f])) {
        esmm__free(&c->alloc, names);
        esmm_config_free(tmpc);
        return BAD("%s: field name %llu is invalid", name, (unsigned long long)f);
      }
    rc = esmm__dataset_create(&ds, &c->alloc, (size_t)nf, (const char(*)[ESMM_MAX_FIELD_NAME + 1])names);
    esmm__free(&c->alloc, names);
    if (rc < 0) {
      esmm_config_free(tmpc);
      return esmm__error(ESMM_ENOMEM, func, "out of memory");
    }
  }
  if (!esmm__dataset_fields_match(ds, c)) {
    size_t want = c->n_fields; /* c may be tmpc, freed below */
    esmm_dataset_free(ds);
    esmm_config_free(tmpc);
    return esmm__error(ESMM_EINVAL, func, "%s: the cache's field list (%llu fields) differs from the config's "
                       "(%zu fields); set the same fields", name, (unsigned long long)nf, want);
  }
  if ((int64_t)nd != esmm__config_int(c, ESMM_OPT_DENSE_FEATURES)) {
    long long want = (long long)esmm__config_int(c, ESMM_OPT_DENSE_FEATURES);
    esmm_dataset_free(ds);
    esmm_config_free(tmpc);
    return esmm__error(ESMM_EINVAL, func, "%s: the cache has %llu dense inputs per row, the config %lld", name,
                       (unsigned long long)nd, want);
  }
  esmm_config_free(tmpc);

  {
    uint64_t at;
    const char *why = check_content(col, cnt, nf, &at, sums);
    if (why) {
      esmm_dataset_free(ds);
      return BAD("%s: %s (element %llu)", name, why, (unsigned long long)at);
    }
  }
  ds->n_dense = (size_t)nd;
  attach_columns(ds, col, cnt);
  ds->n_clicks = sums[0], ds->n_conv = sums[1], ds->n_clicked_conv = sums[2], ds->n_conv_no_click = sums[3];
  ds->n_rows_with_common = sums[4];
  ds->rep = rep;
  *out = ds;
  return ESMM_OK;
}

int esmm__cache_open_fd(esmm_dataset **out, const esmm_config *cfg, const char *func, const char *name, int fd) {
  struct stat st;
  void *map;
  int rc;
  if (fstat(fd, &st) != 0)
    return esmm__rd_io_error(func, "cannot stat", name, errno);
  if (!S_ISREG(st.st_mode))
    return esmm__error(ESMM_EINVAL, func, "%s: a cache must be a regular file (it is mapped)", name);
  if (st.st_size < HDR_FIXED)
    return esmm__error(ESMM_ECORRUPT, func, "%s: not a libesmm dataset cache (%lld bytes)", name,
                       (long long)st.st_size);
  map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (map == MAP_FAILED)
    return esmm__rd_io_error(func, "cannot map", name, errno);
  rc = load_image(out, cfg, func, name, map, (size_t)st.st_size);
  if (rc < 0) {
    munmap(map, (size_t)st.st_size);
    return rc;
  }
  (*out)->map_base = map;
  (*out)->map_len = (size_t)st.st_size;
  return ESMM_OK;
}

int esmm_dataset_open_cache(esmm_dataset **out, const esmm_config *cfg, const char *path) {
  int fd, rc;
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(path);
  ESMM__TRY(esmm__rd_open(__func__, path, &fd));
  rc = esmm__cache_open_fd(out, cfg, __func__, path, fd);
  close(fd); /* the mapping keeps the file */
  return rc;
}

int esmm__cache_open_buffer(esmm_dataset **out, const esmm_config *cfg, const char *func, const char *name,
                            const void *data, size_t len) {
  esmm_config *tmpc = NULL;
  const esmm_config *c = NULL;
  esmm__allocator a;
  unsigned char *copy;
  int rc;
  ESMM__TRY(esmm__config_or_default(cfg, &tmpc, &c));
  a = c->alloc;
  esmm_config_free(tmpc);
  /* A private aligned copy: the caller's buffer may be unaligned and need
   * not outlive the call. */
  copy = esmm__alloc(&a, len ? len : 1);
  if (!copy)
    return esmm__error(ESMM_ENOMEM, func, "out of memory");
  if (len)
    memcpy(copy, data, len);
  rc = load_image(out, cfg, func, name, copy, len);
  if (rc < 0) {
    esmm__free(&a, copy);
    return rc;
  }
  (*out)->map_base = copy;
  (*out)->map_len = 0;
  return ESMM_OK;
}

int esmm_dataset_open_cache_buffer(esmm_dataset **out, const esmm_config *cfg, const void *data, size_t len) {
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(data || len == 0);
  return esmm__cache_open_buffer(out, cfg, __func__, "<buffer>", data, len);
}
