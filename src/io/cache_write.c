/* io/cache_write.c - writing the binary cache (layout in io/cache_format.h,
 * docs/data.md): from a dataset in memory (esmm_dataset_save_cache) or
 * streamed from a reader as a row sink (esmm__cw_open), whose columns are
 * spooled to temporary files next to the target and concatenated at the
 * end, so a conversion's memory is a few buffers whatever the input size.
 * Either way the file is written atomically (io/atomic.h). */
#include "atomic.h"
#include "cache.h"
#include "cache_format.h"
#include "crc32.h"
#include "le.h"
#include "reader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define COL_BUF ((size_t)256 * 1024) /* largest spool buffer per column */
#define COL_BUF0 ((size_t)4096)      /* first one */

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

/* The report's counts as the NSTAT slots of the header: the counts, then
 * the policies + 1 (0 = unknown, as format 1 files read). */
static void put_stats(unsigned char *p, const esmm__report *rep) {
  for (int i = 0; i < ESMM__RS_COUNT; i++)
    esmm__put_u64(p + 8 * i, (uint64_t)rep->stat[i]);
  esmm__put_u64(p + 8 * ESMM__RS_COUNT, (uint64_t)(rep->cnc_policy + 1));
  esmm__put_u64(p + 8 * (ESMM__RS_COUNT + 1), (uint64_t)(rep->on_error + 1));
}

/* The report's text: source, then each message, NUL-terminated. */
static size_t report_text(const esmm__report *rep, char out[REPORT_MAX]) {
  size_t n = strlen(rep->source) + 1;
  memcpy(out, rep->source, n);
  for (size_t k = 0; k < rep->n_msg; k++) {
    size_t m = strlen(rep->msg[k]) + 1;
    memcpy(out + n, rep->msg[k], m);
    n += m;
  }
  return n;
}

/* Write header + columns to path atomically (io/atomic.h). */
static int assemble(const esmm__allocator *a, const char *func, const char *path, const counts *k,
                    const char (*names)[ESMM_MAX_FIELD_NAME + 1], const esmm__report *rep, colsrc *src) {
  unsigned char *hdr;
  uint64_t hbytes = esmm__cache_header_bytes(ESMM__CACHE_VERSION, k->n_fields), off;
  char *copy = NULL;
  esmm__atomic out;
  int rc = ESMM_OK, err = 0;
  const char *what = NULL;

  if (!esmm__host_little_endian())
    return esmm__cache_big_endian(func);
  hdr = esmm__calloc(a, 1, (size_t)hbytes);
  copy = esmm__alloc(a, COL_BUF);
  if (!hdr || !copy) {
    esmm__free(a, hdr);
    esmm__free(a, copy);
    return esmm__error(ESMM_ENOMEM, func, "out of memory");
  }
  memcpy(hdr, ESMM__CACHE_MAGIC, 8);
  esmm__put_u32(hdr + 8, ESMM__CACHE_VERSION);
  esmm__put_u32(hdr + 12, 0);
  esmm__put_u64(hdr + 16, hbytes);
  esmm__put_u64(hdr + 24, k->n_rows);
  esmm__put_u64(hdr + 32, k->nnz);
  esmm__put_u64(hdr + 40, k->n_common);
  esmm__put_u64(hdr + 48, k->com_nnz);
  esmm__put_u64(hdr + 56, k->n_fields);
  esmm__put_u64(hdr + 64, k->n_dense);
  put_stats(hdr + OFF_STATS, rep);
  esmm__put_u32(hdr + HDR_FIXED + NAME_BYTES * k->n_fields, NCOL - NCOL1);
  off = hbytes;
  for (int c = 0; c < NCOL; c++) {
    unsigned char *e = hdr + esmm__cache_entry(c, k->n_fields);
    if (src[c].mem)
      src[c].crc = esmm__crc32(0, src[c].mem, (size_t)src[c].bytes);
    esmm__put_u64(e, off);
    esmm__put_u64(e + 8, src[c].bytes);
    esmm__put_u32(e + 16, src[c].crc);
    off = esmm__align64(off + src[c].bytes);
  }
  for (uint64_t f = 0; f < k->n_fields; f++)
    memcpy(hdr + HDR_FIXED + NAME_BYTES * f, names[f], strlen(names[f]));
  {
    uint32_t crc = esmm__crc32(0, hdr, OFF_CRC);
    crc = esmm__crc32(crc, hdr + HDR_FIXED, (size_t)(hbytes - HDR_FIXED));
    esmm__put_u32(hdr + OFF_CRC, crc);
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
    uint64_t pad = esmm__align64(off + src[c].bytes) - (off + src[c].bytes);
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

/* A dataset's arrays as the file's columns (element counts in cnt). */
static void dataset_columns(const esmm_dataset *ds, const void *mem[NCOL], uint64_t cnt[NCOL]) {
  const void *m[NCOL] = {ds->click,     ds->conv,   ds->common,  ds->row_off, ds->field,  ds->id,
                         ds->value,     ds->com_off, ds->com_field, ds->com_id, ds->com_value, ds->dense,
                         ds->line,      ds->key_off, ds->key,    ds->skip,    NULL};
  const uint64_t n = ds->n_rows;
  const uint64_t c[NCOL] = {n,           n,           n,           n + 1,      ds->nnz, ds->nnz,
                            ds->nnz,     ds->n_common + 1, ds->com_nnz, ds->com_nnz, ds->com_nnz, n * ds->n_dense,
                            ds->line ? n : 0, ds->key_off ? n + 1 : 0, ds->key_off ? ds->key_len : 0, ds->n_skip, 0};
  memcpy(mem, m, sizeof m);
  memcpy(cnt, c, sizeof c);
}

int esmm_dataset_save_cache(const esmm_dataset *ds, const char *path) {
  colsrc s[NCOL];
  const void *mem[NCOL];
  uint64_t cnt[NCOL];
  char report[REPORT_MAX];
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
  dataset_columns(ds, mem, cnt);
  mem[C_REPORT] = report;
  cnt[C_REPORT] = report_text(&ds->rep, report);
  for (int c = 0; c < NCOL; c++) {
    static const char empty[8];
    s[c].mem = mem[c] ? mem[c] : empty; /* dense is NULL without dense inputs, line/keys/skips when absent */
    s[c].bytes = cnt[c] * esmm__cache_elem(c);
    s[c].fd = -1;
  }
  return assemble(&ds->alloc, __func__, path, &k, (const char(*)[ESMM_MAX_FIELD_NAME + 1])ds->names, &ds->rep, s);
}

/* ------------------------------------------------------ streaming writer */

typedef struct cache_writer {
  esmm__sink base;
  esmm__allocator alloc;
  const char *func;
  char *path;
  char (*names)[ESMM_MAX_FIELD_NAME + 1];
  counts k;
  int lines, keys; /* the rows carry source lines / ids (decided by the first rows) */
  size_t key_len;
  struct {
    int fd;
    char *buf;
    size_t len, cap; /* cap grows from COL_BUF0 to COL_BUF */
    uint64_t bytes;
    uint32_t crc;
    char tmp[4200];
  } col[NCOL];
  int err;     /* errno of the first failed write, 0 = fine */
  int err_col; /* its column */
} cache_writer;

static void col_flush(cache_writer *w, int c) {
  /* checksum whole buffers: the fast CRC pays off on large blocks */
  w->col[c].crc = esmm__crc32(w->col[c].crc, w->col[c].buf, w->col[c].len);
  if (!w->err && w->col[c].len && esmm__write_all(w->col[c].fd, w->col[c].buf, w->col[c].len) < 0) {
    w->err = errno ? errno : EIO;
    w->err_col = c;
  }
  w->col[c].len = 0;
}

static void col_put(cache_writer *w, int c, const void *p, size_t n) {
  const char *s = p;
  w->col[c].bytes += n;
  while (n) {
    size_t room = w->col[c].cap - w->col[c].len, k;
    if (room == 0 && w->col[c].cap < COL_BUF) { /* a small input spools through a small buffer */
      char *b = esmm__alloc(&w->alloc, 2 * w->col[c].cap);
      if (b) {
        memcpy(b, w->col[c].buf, w->col[c].len);
        esmm__free(&w->alloc, w->col[c].buf);
        w->col[c].buf = b;
        w->col[c].cap *= 2;
        continue;
      }
    }
    if (room == 0) {
      col_flush(w, c);
      continue;
    }
    k = n < room ? n : room;
    memcpy(w->col[c].buf + w->col[c].len, s, k);
    w->col[c].len += k;
    s += k;
    n -= k;
  }
}

static void col_fill(cache_writer *w, int c, const void *elem, size_t size, size_t n) {
  for (size_t i = 0; i < n; i++)
    col_put(w, c, elem, size);
}

static int write_error(const cache_writer *w) {
  return esmm__rd_io_error(w->func, "cannot write", w->col[w->err_col].tmp, w->err);
}

void esmm__cw_abort(esmm__sink *s) {
  cache_writer *w = (cache_writer *)s;
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

static int cw_common(esmm__sink *s, size_t nnz, const int *field, const uint64_t *id, const float *value,
                     int64_t *index_out) {
  cache_writer *w = (cache_writer *)s;
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
  return w->err ? write_error(w) : ESMM_OK;
}

static int cw_rows(esmm__sink *s, const esmm__rows *b) {
  cache_writer *w = (cache_writer *)s;
  size_t n = b->n, total = n ? (size_t)b->off[n] : 0;
  static const int64_t none = -1, zero64 = 0;
  static const float zero = 0.0f, one = 1.0f;
  if (n && w->k.n_rows == 0)
    w->lines = b->line != NULL, w->keys = b->key_off != NULL;
  if (b->n_skip)
    col_put(w, C_SKIP, b->skip, b->n_skip * sizeof *b->skip);
  if (n == 0)
    return w->err ? write_error(w) : ESMM_OK;
  col_put(w, C_CLICK, b->click, n * 4);
  col_put(w, C_CONV, b->conv, n * 4);
  if (b->common)
    col_put(w, C_COMMON, b->common, n * 8);
  else
    col_fill(w, C_COMMON, &none, 8, n);
  for (size_t i = 0; i < n; i++) {
    int64_t e = (int64_t)w->k.nnz + b->off[i + 1];
    col_put(w, C_ROWOFF, &e, 8);
  }
  col_put(w, C_FIELD, b->field, total * 4);
  col_put(w, C_ID, b->id, total * 8);
  if (b->value)
    col_put(w, C_VALUE, b->value, total * 4);
  else
    col_fill(w, C_VALUE, &one, 4, total);
  if (w->k.n_dense && b->dense)
    col_put(w, C_DENSE, b->dense, n * w->k.n_dense * 4);
  else /* formats without dense inputs: all 0 */
    col_fill(w, C_DENSE, &zero, 4, n * w->k.n_dense);
  if (w->lines) {
    if (b->line)
      col_put(w, C_LINE, b->line, n * 8);
    else
      col_fill(w, C_LINE, &zero64, 8, n);
  }
  if (w->keys) {
    size_t keys = b->key_off ? (size_t)b->key_off[n] : 0;
    for (size_t i = 0; i < n; i++) {
      int64_t e = (int64_t)w->key_len + (b->key_off ? b->key_off[i + 1] : 0);
      col_put(w, C_KEYOFF, &e, 8);
    }
    col_put(w, C_KEY, b->key, keys);
    w->key_len += keys;
  }
  w->k.n_rows += n;
  w->k.nnz += total;
  return w->err ? write_error(w) : ESMM_OK;
}

/* Write the file (atomically) with this report; the writer stays to be
 * freed by esmm__cw_abort (its temporaries are gone by then). */
static int cw_finish(esmm__sink *s, const esmm__report *rep) {
  cache_writer *w = (cache_writer *)s;
  colsrc src[NCOL];
  char report[REPORT_MAX];
  for (int c = 0; c < NCOL; c++) {
    col_flush(w, c);
    src[c].mem = NULL;
    src[c].fd = w->col[c].fd;
    src[c].bytes = w->col[c].bytes;
    src[c].crc = w->col[c].crc;
  }
  if (!w->keys) { /* no ids: the offsets column is empty too */
    src[C_KEYOFF].bytes = 0;
    src[C_KEYOFF].crc = 0;
  }
  if (w->err)
    return write_error(w);
  src[C_REPORT].mem = report;
  src[C_REPORT].bytes = report_text(rep, report);
  return assemble(&w->alloc, w->func, w->path, &w->k, (const char(*)[ESMM_MAX_FIELD_NAME + 1])w->names, rep, src);
}

int esmm__cw_open(esmm__sink **out, const esmm__allocator *a, const char *func, const char *path, size_t n_fields,
                  const char (*names)[ESMM_MAX_FIELD_NAME + 1], size_t n_dense) {
  cache_writer *w;
  size_t plen = strlen(path);
  int64_t zero = 0;
  *out = NULL;
  if (!esmm__host_little_endian())
    return esmm__cache_big_endian(func);
  if (plen > 4000)
    return esmm__error(ESMM_EINVAL, func, "path longer than 4000 bytes");
  w = esmm__calloc(a, 1, sizeof *w);
  if (!w)
    return esmm__error(ESMM_ENOMEM, func, "out of memory");
  w->base.func = func;
  w->base.rows = cw_rows;
  w->base.common = cw_common;
  w->base.finish = cw_finish;
  w->alloc = *a;
  w->func = func;
  for (int c = 0; c < NCOL; c++)
    w->col[c].fd = -1;
  w->path = esmm__alloc(a, plen + 1);
  w->names = esmm__calloc(a, n_fields, sizeof *w->names);
  if (!w->path || !w->names) {
    esmm__cw_abort(&w->base);
    return esmm__error(ESMM_ENOMEM, func, "out of memory");
  }
  memcpy(w->path, path, plen + 1);
  memcpy(w->names, names, n_fields * sizeof *names);
  w->k.n_fields = n_fields;
  w->k.n_dense = n_dense;
  for (int c = 0; c < NCOL; c++) {
    if (c == C_REPORT) /* built at the end, in memory */
      continue;
    snprintf(w->col[c].tmp, sizeof w->col[c].tmp, "%s.tmp.%ld.c%d", path, (long)getpid(), c);
    do
      w->col[c].fd = open(w->col[c].tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    while (w->col[c].fd < 0 && errno == EINTR);
    if (w->col[c].fd < 0) {
      int rc = esmm__rd_io_error(func, "cannot create", w->col[c].tmp, errno);
      esmm__cw_abort(&w->base);
      return rc;
    }
    if (!(w->col[c].buf = esmm__alloc(a, COL_BUF0))) {
      esmm__cw_abort(&w->base);
      return esmm__error(ESMM_ENOMEM, func, "out of memory");
    }
    w->col[c].cap = COL_BUF0;
  }
  col_put(w, C_ROWOFF, &zero, 8);
  col_put(w, C_COMOFF, &zero, 8);
  col_put(w, C_KEYOFF, &zero, 8); /* dropped at the end when the rows have no ids */
  *out = &w->base;
  return ESMM_OK;
}
