/* io/cache.c - the binary dataset cache (layout in docs/data.md).
 *
 * The file is the dataset's columns as they are in memory, each at a
 * 64-byte aligned offset, behind a header with counts, the field list,
 * the reader counts and a table of (offset, bytes, CRC-32) per column.
 * That makes loading a memory mapping plus one validating pass: nothing is
 * copied, and repeated epochs re-read nothing from text. The validation is
 * complete (checksums, then every index, offset, label and value), because
 * the model indexes the arrays without further checks; a crafted file with
 * correct checksums must still be refused, not read out of bounds.
 *
 * Little-endian only: the columns are used in place, so a big-endian host
 * would need a converting loader; until one exists such hosts get
 * ESMM_ERROR rather than garbage. */
#include "cache.h"

#include "atomic.h"
#include "config.h"
#include "reader.h"
#include "serialize.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define NCOL 12
#define HDR_FIXED 512
#define NAME_BYTES 64
#define OFF_TABLE 200
#define OFF_CRC 488
#define NSTAT 16
#define COL_BUF ((size_t)256 * 1024)

enum { C_CLICK, C_CONV, C_COMMON, C_ROWOFF, C_FIELD, C_ID, C_VALUE, C_COMOFF, C_CFIELD, C_CID, C_CVALUE, C_DENSE };
static const size_t col_elem[NCOL] = {4, 4, 8, 8, 4, 8, 4, 8, 4, 8, 4, 4};

static const unsigned char magic[8] = {'E', 'S', 'M', 'M', 'D', 'A', 'T', 'A'};

static int little_endian(void) {
  const uint16_t one = 1;
  unsigned char b;
  memcpy(&b, &one, 1);
  return b == 1;
}

static void put32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}
static void put64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get32(const unsigned char *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}
static uint64_t get64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static uint64_t align64(uint64_t x) { return (x + 63) & ~(uint64_t)63; }

/* ------------------------------------------------------------ CRC-32 */

/* ------------------------------------------------------------ assembly */

typedef struct colsrc {
  const void *mem; /* in-memory column, or */
  int fd;          /* a spooled temporary file (read from its start) */
  uint64_t bytes;
  uint32_t crc;
} colsrc;

typedef struct counts {
  uint64_t n_rows, nnz, n_common, com_nnz, n_fields, n_dense;
} counts;

/* Write header + columns to path atomically (io/atomic.h). */
static int assemble(const esmm__allocator *a, const char *func, const char *path, const counts *k,
                    const char (*names)[ESMM_MAX_FIELD_NAME + 1], const int64_t *read_stat, colsrc *src) {
  unsigned char *hdr;
  uint64_t hbytes = align64(HDR_FIXED + (uint64_t)NAME_BYTES * k->n_fields), off;
  char *copy = NULL;
  esmm__atomic out;
  int rc = ESMM_OK, err = 0;
  const char *what = NULL;

  if (!little_endian())
    return esmm__error(ESMM_ERROR, func, "the cache format is little-endian; this host is not (unsupported)");
  hdr = esmm__calloc(a, 1, (size_t)hbytes);
  copy = esmm__alloc(a, COL_BUF);
  if (!hdr || !copy) {
    esmm__free(a, hdr);
    esmm__free(a, copy);
    return esmm__error(ESMM_ENOMEM, func, "out of memory");
  }
  memcpy(hdr, magic, 8);
  put32(hdr + 8, ESMM__CACHE_VERSION);
  put32(hdr + 12, 0);
  put64(hdr + 16, hbytes);
  put64(hdr + 24, k->n_rows);
  put64(hdr + 32, k->nnz);
  put64(hdr + 40, k->n_common);
  put64(hdr + 48, k->com_nnz);
  put64(hdr + 56, k->n_fields);
  put64(hdr + 64, k->n_dense);
  for (int i = 0; i < ESMM__READ_STATS && i < NSTAT; i++)
    put64(hdr + 72 + 8 * i, read_stat ? (uint64_t)read_stat[i] : 0);
  off = hbytes;
  for (int c = 0; c < NCOL; c++) {
    if (src[c].mem)
      src[c].crc = esmm__crc32(0, src[c].mem, (size_t)src[c].bytes);
    put64(hdr + OFF_TABLE + 24 * c, off);
    put64(hdr + OFF_TABLE + 24 * c + 8, src[c].bytes);
    put32(hdr + OFF_TABLE + 24 * c + 16, src[c].crc);
    off = align64(off + src[c].bytes);
  }
  for (uint64_t f = 0; f < k->n_fields; f++)
    memcpy(hdr + HDR_FIXED + NAME_BYTES * f, names[f], strlen(names[f]));
  {
    uint32_t crc = esmm__crc32(0, hdr, OFF_CRC);
    crc = esmm__crc32(crc, hdr + HDR_FIXED, (size_t)(hbytes - HDR_FIXED));
    put32(hdr + OFF_CRC, crc);
  }

  rc = esmm__atomic_open(&out, a, func, path);
  if (rc != ESMM_OK)
    goto done;
  /* A failed write is remembered by out and reported by the commit; only the
   * read-back of a spooled column fails here with its own message. */
  (void)esmm__atomic_write(&out, hdr, (size_t)hbytes);
  off = hbytes;
  for (int c = 0; c < NCOL && !what && !out.err; c++) {
    static const char zeros[64];
    uint64_t pad = align64(off + src[c].bytes) - (off + src[c].bytes);
    if (src[c].mem) {
      if (src[c].bytes)
        (void)esmm__atomic_write(&out, src[c].mem, (size_t)src[c].bytes);
    } else if (src[c].bytes) {
      uint64_t left = src[c].bytes;
      if (lseek(src[c].fd, 0, SEEK_SET) < 0)
        what = "cannot rewind a temporary column of", err = errno;
      while (!what && !out.err && left) {
        ssize_t got = read(src[c].fd, copy, left < COL_BUF ? (size_t)left : COL_BUF);
        if (got < 0 && errno == EINTR)
          continue;
        if (got <= 0) {
          what = "cannot read back a temporary column of", err = got < 0 ? errno : EIO;
          break;
        }
        (void)esmm__atomic_write(&out, copy, (size_t)got);
        left -= (uint64_t)got;
      }
    }
    if (pad && !what)
      (void)esmm__atomic_write(&out, zeros, (size_t)pad);
    off += src[c].bytes + pad;
  }
  if (what) {
    esmm__atomic_abort(&out);
    rc = esmm__rd_io_error(func, what, path, err);
  } else {
    rc = esmm__atomic_commit(&out);
  }
done:
  esmm__free(a, hdr);
  esmm__free(a, copy);
  return rc;
}

int esmm_dataset_save_cache(const esmm_dataset *ds, const char *path) {
  colsrc s[NCOL];
  counts k;
  ESMM__CHECK_ARG(ds);
  ESMM__CHECK_ARG(path && path[0]);
  memset(s, 0, sizeof s);
  k.n_rows = ds->n_rows;
  k.nnz = ds->nnz;
  k.n_common = ds->n_common;
  k.com_nnz = ds->com_nnz;
  k.n_fields = ds->n_fields;
  k.n_dense = ds->n_dense;
  const void *mem[NCOL] = {ds->click,  ds->conv,      ds->common,   ds->row_off, ds->field,     ds->id,
                           ds->value,  ds->com_off,   ds->com_field, ds->com_id, ds->com_value, ds->dense};
  const uint64_t len[NCOL] = {k.n_rows, k.n_rows, k.n_rows, k.n_rows + 1, k.nnz, k.nnz, k.nnz,
                              k.n_common + 1, k.com_nnz, k.com_nnz, k.com_nnz, k.n_rows * k.n_dense};
  static const char empty[8];
  for (int c = 0; c < NCOL; c++) {
    s[c].mem = mem[c] ? mem[c] : empty; /* dense is NULL without dense inputs */
    s[c].bytes = len[c] * col_elem[c];
    s[c].fd = -1;
  }
  return assemble(&ds->alloc, __func__, path, &k, (const char(*)[ESMM_MAX_FIELD_NAME + 1])ds->names,
                  ds->read_stat, s);
}

/* ------------------------------------------------------ streaming writer */

struct esmm__cache_writer {
  esmm__allocator alloc;
  const char *func;
  char *path;
  char (*names)[ESMM_MAX_FIELD_NAME + 1];
  counts k;
  struct {
    int fd;
    char *buf;
    size_t len;
    uint64_t bytes;
    uint32_t crc;
    char tmp[4200];
  } col[NCOL];
  int err;           /* errno of the first failed write, 0 = fine */
  int err_col;       /* its column */
};

static void col_flush(esmm__cache_writer *w, int c) {
  /* checksum whole buffers: the fast CRC pays off on large blocks */
  w->col[c].crc = esmm__crc32(w->col[c].crc, w->col[c].buf, w->col[c].len);
  if (!w->err && w->col[c].len && esmm__write_all(w->col[c].fd, w->col[c].buf, w->col[c].len) < 0) {
    w->err = errno ? errno : EIO;
    w->err_col = c;
  }
  w->col[c].len = 0;
}

static void col_put(esmm__cache_writer *w, int c, const void *p, size_t n) {
  const char *s = p;
  w->col[c].bytes += n;
  while (n) {
    size_t room = COL_BUF - w->col[c].len, k = n < room ? n : room;
    memcpy(w->col[c].buf + w->col[c].len, s, k);
    w->col[c].len += k;
    s += k;
    n -= k;
    if (w->col[c].len == COL_BUF)
      col_flush(w, c);
  }
}

void esmm__cw_abort(esmm__cache_writer *w) {
  esmm__allocator a;
  if (!w)
    return;
  a = w->alloc;
  for (int c = 0; c < NCOL; c++) {
    if (w->col[c].fd >= 0) {
      close(w->col[c].fd);
      unlink(w->col[c].tmp);
    }
    esmm__free(&a, w->col[c].buf);
  }
  esmm__free(&a, w->names);
  esmm__free(&a, w->path);
  esmm__free(&a, w);
}

int esmm__cw_open(esmm__cache_writer **out, const esmm__allocator *a, const char *func, const char *path,
                  size_t n_fields, const char (*names)[ESMM_MAX_FIELD_NAME + 1], size_t n_dense) {
  esmm__cache_writer *w;
  size_t plen = strlen(path);
  int64_t zero = 0;
  *out = NULL;
  if (!little_endian())
    return esmm__error(ESMM_ERROR, func, "the cache format is little-endian; this host is not (unsupported)");
  if (plen > 4000)
    return esmm__error(ESMM_EINVAL, func, "path longer than 4000 bytes");
  w = esmm__calloc(a, 1, sizeof *w);
  if (!w)
    return esmm__error(ESMM_ENOMEM, func, "out of memory");
  w->alloc = *a;
  w->func = func;
  for (int c = 0; c < NCOL; c++)
    w->col[c].fd = -1;
  w->path = esmm__alloc(a, plen + 1);
  w->names = esmm__calloc(a, n_fields, sizeof *w->names);
  if (!w->path || !w->names) {
    esmm__cw_abort(w);
    return esmm__error(ESMM_ENOMEM, func, "out of memory");
  }
  memcpy(w->path, path, plen + 1);
  memcpy(w->names, names, n_fields * sizeof *names);
  w->k.n_fields = n_fields;
  w->k.n_dense = n_dense;
  for (int c = 0; c < NCOL; c++) {
    snprintf(w->col[c].tmp, sizeof w->col[c].tmp, "%s.tmp.%ld.c%d", path, (long)getpid(), c);
    do
      w->col[c].fd = open(w->col[c].tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    while (w->col[c].fd < 0 && errno == EINTR);
    if (w->col[c].fd < 0) {
      int rc = esmm__rd_io_error(func, "cannot create", w->col[c].tmp, errno);
      esmm__cw_abort(w);
      return rc;
    }
    if (!(w->col[c].buf = esmm__alloc(a, COL_BUF))) {
      esmm__cw_abort(w);
      return esmm__error(ESMM_ENOMEM, func, "out of memory");
    }
  }
  col_put(w, C_ROWOFF, &zero, 8);
  col_put(w, C_COMOFF, &zero, 8);
  *out = w;
  return ESMM_OK;
}

int esmm__cw_common(esmm__cache_writer *w, size_t nnz, const int *field, const uint64_t *id, const float *value,
                    int64_t *index_out) {
  int64_t end;
  col_put(w, C_CFIELD, field, nnz * 4);
  col_put(w, C_CID, id, nnz * 8);
  col_put(w, C_CVALUE, value, nnz * 4);
  w->k.com_nnz += nnz;
  end = (int64_t)w->k.com_nnz;
  col_put(w, C_COMOFF, &end, 8);
  if (index_out)
    *index_out = (int64_t)w->k.n_common;
  w->k.n_common++;
  if (w->err)
    return esmm__rd_io_error(w->func, "cannot write", w->col[w->err_col].tmp, w->err);
  return ESMM_OK;
}

int esmm__cw_rows(esmm__cache_writer *w, size_t n, const int *click, const int *conv, const int64_t *common,
                  const int64_t *off, const int *field, const uint64_t *id, const float *value, const float *dense) {
  size_t total = (size_t)off[n];
  static const int64_t none = -1;
  static const float zero = 0.0f;
  col_put(w, C_CLICK, click, n * 4);
  col_put(w, C_CONV, conv, n * 4);
  if (common)
    col_put(w, C_COMMON, common, n * 8);
  else
    for (size_t i = 0; i < n; i++)
      col_put(w, C_COMMON, &none, 8);
  for (size_t i = 0; i < n; i++) {
    int64_t e = (int64_t)w->k.nnz + off[i + 1];
    col_put(w, C_ROWOFF, &e, 8);
  }
  col_put(w, C_FIELD, field, total * 4);
  col_put(w, C_ID, id, total * 8);
  col_put(w, C_VALUE, value, total * 4);
  if (w->k.n_dense && dense)
    col_put(w, C_DENSE, dense, n * w->k.n_dense * 4);
  else
    for (size_t i = 0; i < n * w->k.n_dense; i++) /* formats without dense inputs: all 0 */
      col_put(w, C_DENSE, &zero, 4);
  w->k.n_rows += n;
  w->k.nnz += total;
  if (w->err)
    return esmm__rd_io_error(w->func, "cannot write", w->col[w->err_col].tmp, w->err);
  return ESMM_OK;
}

int esmm__cw_finish(esmm__cache_writer *w, const int64_t *read_stat) {
  colsrc s[NCOL];
  int rc;
  for (int c = 0; c < NCOL; c++) {
    col_flush(w, c);
    s[c].mem = NULL;
    s[c].fd = w->col[c].fd;
    s[c].bytes = w->col[c].bytes;
    s[c].crc = w->col[c].crc;
  }
  if (w->err) {
    rc = esmm__rd_io_error(w->func, "cannot write", w->col[w->err_col].tmp, w->err);
    esmm__cw_abort(w);
    return rc;
  }
  rc = assemble(&w->alloc, w->func, w->path, &w->k, (const char(*)[ESMM_MAX_FIELD_NAME + 1])w->names, read_stat,
                s);
  esmm__cw_abort(w); /* closes and unlinks the spooled columns */
  return rc;
}

/* ------------------------------------------------------------- loading */

#define BAD(...) esmm__error(ESMM_ECORRUPT, func, __VA_ARGS__)

static int valid_name(const unsigned char *p, char *out) {
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

/* Validate p[0..len) completely and build a dataset whose arrays point into
 * it. The dataset is marked mapped; the caller sets map_base/map_len. */
static int load_image(esmm_dataset **out, const esmm_config *cfg, const char *func, const char *name,
                      const unsigned char *p, size_t len) {
  esmm_config *tmpc = NULL;
  const esmm_config *c = NULL;
  esmm_dataset *ds = NULL;
  uint64_t hbytes, n, nnz, nc, cnnz, nf, nd, ver;
  uint64_t off[NCOL], bytes[NCOL];
  const void *col[NCOL];
  int rc;

  *out = NULL;
  if (!little_endian())
    return esmm__error(ESMM_ERROR, func, "the cache format is little-endian; this host is not (unsupported)");
  if (len < HDR_FIXED || memcmp(p, magic, 8) != 0)
    return BAD("%s: not a libesmm dataset cache (bad magic or shorter than %d bytes)", name, HDR_FIXED);
  ver = get32(p + 8);
  if (ver > ESMM__CACHE_VERSION)
    return esmm__error(ESMM_EVERSION, func, "%s: cache format version %llu is newer than this library's (%u)",
                       name, (unsigned long long)ver, ESMM__CACHE_VERSION);
  if (ver == 0 || get32(p + 12) != 0)
    return BAD("%s: bad version or flags", name);
  hbytes = get64(p + 16);
  nf = get64(p + 56);
  if (nf == 0 || nf > ESMM_MAX_FIELDS || hbytes != align64(HDR_FIXED + NAME_BYTES * nf) || hbytes > len)
    return BAD("%s: header truncated or field count %llu invalid", name, (unsigned long long)nf);
  {
    uint32_t crc = esmm__crc32(0, p, OFF_CRC);
    crc = esmm__crc32(crc, p + HDR_FIXED, (size_t)(hbytes - HDR_FIXED));
    if (crc != get32(p + OFF_CRC))
      return BAD("%s: header checksum mismatch", name);
  }
  n = get64(p + 24);
  nnz = get64(p + 32);
  nc = get64(p + 40);
  cnnz = get64(p + 48);
  nd = get64(p + 64);
  if (nd > 4096 || n > len || nnz > len || nc > len || cnnz > len || (nd && n > len / nd))
    return BAD("%s: counts larger than the file", name);
  {
    const uint64_t cnt[NCOL] = {n, n, n, n + 1, nnz, nnz, nnz, nc + 1, cnnz, cnnz, cnnz, n * nd};
    for (int k = 0; k < NCOL; k++) {
      off[k] = get64(p + OFF_TABLE + 24 * k);
      bytes[k] = get64(p + OFF_TABLE + 24 * k + 8);
      /* counts are below len (checked above), so cnt * 8 cannot overflow */
      if (bytes[k] != cnt[k] * col_elem[k] || off[k] % 64 || off[k] < hbytes || off[k] > len ||
          bytes[k] > len - off[k])
        return BAD("%s: column %d: bad extent (offset %llu, %llu bytes; file of %zu bytes)", name, k,
                   (unsigned long long)off[k], (unsigned long long)bytes[k], len);
      if (esmm__crc32(0, p + off[k], (size_t)bytes[k]) != get32(p + OFF_TABLE + 24 * k + 16))
        return BAD("%s: column %d: checksum mismatch", name, k);
      col[k] = p + off[k];
    }
    /* The file ends exactly after the last column's padding: a cut in the
     * padding or appended bytes are damage too. */
    if (len != align64(off[NCOL - 1] + bytes[NCOL - 1]))
      return BAD("%s: file of %zu bytes, the columns end at %llu", name, len,
                 (unsigned long long)align64(off[NCOL - 1] + bytes[NCOL - 1]));
  }
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
      if (!valid_name(p + HDR_FIXED + NAME_BYTES * f, names[f])) {
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

  /* Semantic validation: everything the model will index. */
  {
    const int *click = col[C_CLICK], *conv = col[C_CONV], *field = col[C_FIELD], *cfield = col[C_CFIELD];
    const int64_t *common = col[C_COMMON], *ro = col[C_ROWOFF], *co = col[C_COMOFF];
    const float *value = col[C_VALUE], *cvalue = col[C_CVALUE], *dense = col[C_DENSE];
    int64_t ncl = 0, ncv = 0, ncc = 0, nnc = 0, nwc = 0;
    const char *why = NULL;
    uint64_t at = 0;
    if (ro[0] != 0 || (uint64_t)ro[n] != nnz)
      why = "row offsets do not span the features";
    for (uint64_t i = 0; !why && i < n; i++) {
      if ((click[i] | conv[i]) & ~1)
        why = "label outside {0,1}", at = i;
      else if (common[i] < -1 || (common[i] >= 0 && (uint64_t)common[i] >= nc))
        why = "common index out of range", at = i;
      else if (ro[i + 1] < ro[i])
        why = "row offsets decrease", at = i;
      ncl += click[i];
      ncv += conv[i];
      ncc += click[i] & conv[i];
      nnc += (!click[i]) & conv[i];
      nwc += common[i] >= 0;
    }
    if (!why && (co[0] != 0 || (uint64_t)co[nc] != cnnz))
      why = "common offsets do not span the common features";
    for (uint64_t i = 0; !why && i < nc; i++)
      if (co[i + 1] < co[i])
        why = "common offsets decrease", at = i;
    for (uint64_t i = 0; !why && i < nnz; i++)
      if (field[i] < 0 || (uint64_t)field[i] >= nf || !isfinite(value[i]))
        why = "feature field out of range or value not finite", at = i;
    for (uint64_t i = 0; !why && i < cnnz; i++)
      if (cfield[i] < 0 || (uint64_t)cfield[i] >= nf || !isfinite(cvalue[i]))
        why = "common feature field out of range or value not finite", at = i;
    for (uint64_t i = 0; !why && i < n * nd; i++)
      if (!isfinite(dense[i]))
        why = "dense input not finite", at = i;
    if (why) {
      esmm_dataset_free(ds);
      return BAD("%s: %s (element %llu)", name, why, (unsigned long long)at);
    }
    /* Swap the empty arrays for views of the image. */
    {
      esmm__allocator a = ds->alloc;
      esmm__free(&a, ds->click), esmm__free(&a, ds->conv), esmm__free(&a, ds->common);
      esmm__free(&a, ds->row_off), esmm__free(&a, ds->field), esmm__free(&a, ds->id);
      esmm__free(&a, ds->value), esmm__free(&a, ds->com_off), esmm__free(&a, ds->com_field);
      esmm__free(&a, ds->com_id), esmm__free(&a, ds->com_value), esmm__free(&a, ds->dense);
    }
    ds->mapped = 1;
    ds->click = (int *)click, ds->conv = (int *)conv, ds->common = (int64_t *)common;
    ds->row_off = (int64_t *)ro, ds->field = (int *)field, ds->id = (uint64_t *)col[C_ID];
    ds->value = (float *)value, ds->com_off = (int64_t *)co, ds->com_field = (int *)cfield;
    ds->com_id = (uint64_t *)col[C_CID], ds->com_value = (float *)cvalue;
    ds->dense = nd ? (float *)dense : NULL;
    ds->n_rows = ds->cap_rows = (size_t)n;
    ds->nnz = ds->cap_nnz = (size_t)nnz;
    ds->n_common = ds->cap_common = (size_t)nc;
    ds->com_nnz = ds->cap_com_nnz = (size_t)cnnz;
    ds->n_dense = (size_t)nd;
    ds->n_clicks = ncl, ds->n_conv = ncv, ds->n_clicked_conv = ncc, ds->n_conv_no_click = nnc;
    ds->n_rows_with_common = nwc;
    for (int i = 0; i < ESMM__READ_STATS && i < NSTAT; i++)
      ds->read_stat[i] = (int64_t)get64(p + 72 + 8 * i);
  }
  *out = ds;
  return ESMM_OK;
}

int esmm_dataset_open_cache(esmm_dataset **out, const esmm_config *cfg, const char *path) {
  struct stat st;
  void *map;
  int fd, rc;
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(path);
  ESMM__TRY(esmm__rd_open(__func__, path, &fd));
  if (fstat(fd, &st) != 0) {
    rc = esmm__rd_io_error(__func__, "cannot stat", path, errno);
    close(fd);
    return rc;
  }
  if (st.st_size < HDR_FIXED) {
    close(fd);
    return ESMM__ERR(ESMM_ECORRUPT, "%s: not a libesmm dataset cache (%lld bytes)", path, (long long)st.st_size);
  }
  map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd); /* the mapping keeps the file */
  if (map == MAP_FAILED)
    return esmm__rd_io_error(__func__, "cannot map", path, errno);
  rc = load_image(out, cfg, __func__, path, map, (size_t)st.st_size);
  if (rc < 0) {
    munmap(map, (size_t)st.st_size);
    return rc;
  }
  (*out)->map_base = map;
  (*out)->map_len = (size_t)st.st_size;
  return ESMM_OK;
}

int esmm_dataset_open_cache_buffer(esmm_dataset **out, const esmm_config *cfg, const void *data, size_t len) {
  esmm_config *tmpc = NULL;
  const esmm_config *c = NULL;
  esmm__allocator a;
  unsigned char *copy;
  int rc;
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(data || len == 0);
  ESMM__TRY(esmm__config_or_default(cfg, &tmpc, &c));
  a = c->alloc;
  esmm_config_free(tmpc);
  /* A private aligned copy: the caller's buffer may be unaligned and need
   * not outlive the call. */
  copy = esmm__alloc(&a, len ? len : 1);
  if (!copy)
    return ESMM__ERR(ESMM_ENOMEM, "out of memory");
  if (len)
    memcpy(copy, data, len);
  rc = load_image(out, cfg, __func__, "<buffer>", copy, len);
  if (rc < 0) {
    esmm__free(&a, copy);
    return rc;
  }
  (*out)->map_base = copy;
  (*out)->map_len = 0;
  return ESMM_OK;
}

int esmm_dataset_convert(const esmm_config *cfg, int format, const char *path, const char *aux,
                         const char *cache_path) {
  esmm_config *tmp = NULL;
  const esmm_config *c = NULL;
  esmm__cache_writer *w = NULL;
  int64_t stat[ESMM__READ_STATS];
  int rc;
  ESMM__CHECK_ARG(path);
  ESMM__CHECK_ARG(cache_path && cache_path[0]);
  if (format != ESMM_FORMAT_TEXT && format != ESMM_FORMAT_ALICCP && format != ESMM_FORMAT_CSV)
    return ESMM__ERR(ESMM_EINVAL, "unknown input format %d", format);
  if (format == ESMM_FORMAT_CSV && !aux)
    return ESMM__ERR(ESMM_EINVAL, "ESMM_FORMAT_CSV needs a column spec in aux");
  if (format == ESMM_FORMAT_TEXT && aux)
    return ESMM__ERR(ESMM_EINVAL, "ESMM_FORMAT_TEXT takes no aux argument");
  ESMM__TRY(esmm__config_or_default(cfg, &tmp, &c));
  memset(stat, 0, sizeof stat);
  rc = esmm__cw_open(&w, &c->alloc, __func__, cache_path, c->n_fields,
                     (const char(*)[ESMM_MAX_FIELD_NAME + 1])c->names,
                     (size_t)esmm__config_int(c, ESMM_OPT_DENSE_FEATURES));
  if (rc == ESMM_OK) {
    esmm__src in = {path, NULL, 0, path}, com = {aux, NULL, 0, aux};
    if (format == ESMM_FORMAT_ALICCP)
      rc = esmm__read_aliccp(NULL, c, __func__, &in, aux ? &com : NULL, w, stat);
    else if (format == ESMM_FORMAT_CSV)
      rc = esmm__read_csv(NULL, c, __func__, &in, aux, w, stat);
    else
      rc = esmm__read_text_to(c, __func__, path, w);
    if (rc == ESMM_OK)
      rc = esmm__cw_finish(w, stat);
    else
      esmm__cw_abort(w);
  }
  esmm_config_free(tmp);
  return rc;
}
