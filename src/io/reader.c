/* io/reader.c - shared machinery of the file readers (see reader.h). */
#include "reader.h"

#include "cache.h"
#include "numparse.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CHUNK ((size_t)1 << 20) /* first read buffer; grows for longer lines */

uint64_t esmm__rd_hash(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a 64 */
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
  return h;
}

int esmm__rd_parse_value(const char *s, size_t n, double *out) {
  static const double p10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  uint64_t m = 0;
  size_t i = 0, digits = 0, frac = 0;
  int neg = 0, dot = 0;
  if (n && (s[0] == '-' || s[0] == '+'))
    neg = s[0] == '-', i = 1;
  for (; i < n; i++) {
    char c = s[i];
    if (c >= '0' && c <= '9') {
      m = m * 10 + (uint64_t)(c - '0');
      digits++;
      frac += dot;
    } else if (c == '.' && !dot) {
      dot = 1;
    } else {
      break;
    }
  }
  if (i == n && digits > 0 && digits <= 15 && frac <= 22) {
    double v = (double)m / p10[frac];
    *out = neg ? -v : v;
    return 0;
  }
  return esmm__parse_double(s, n, out);
}

const char *esmm__rd_quote(char buf[4 * ESMM__RD_QUOTE + 4], const char *s, size_t n) {
  size_t k = 0, m = n > ESMM__RD_QUOTE ? ESMM__RD_QUOTE : n;
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < m; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      /* separators 0x01..0x03 and NULs would make messages unreadable */
      buf[k++] = '\\';
      buf[k++] = 'x';
      buf[k++] = hex[c >> 4];
      buf[k++] = hex[c & 15];
    } else {
      buf[k++] = (char)c;
    }
  }
  if (m < n)
    memcpy(buf + k, "...", 3), k += 3;
  buf[k] = '\0';
  return buf;
}

int esmm__rd_io_error(const char *func, const char *what, const char *path, int err) {
  char msg[256];
  if (strerror_r(err, msg, sizeof msg) != 0)
    snprintf(msg, sizeof msg, "error %d", err);
  return esmm__error(ESMM_EIO, func, "%s \"%s\": %s", what, path, msg);
}

int esmm__rd_open(const char *func, const char *path, int *fd_out) {
  int fd;
  do
    fd = open(path, O_RDONLY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return esmm__rd_io_error(func, "cannot open", path, errno);
  *fd_out = fd;
  return ESMM_OK;
}

/* ---------------------------------------------------------------- setup */

int esmm__rd_init(esmm__rd *rd, const esmm_config *cfg, const char *func, const char *name,
                  esmm__cache_writer *cw) {
  size_t size = 16;
  memset(rd, 0, sizeof *rd);
  rd->func = func;
  rd->name = name;
  rd->alloc = cfg->alloc;
  rd->unknown_ignore = esmm__config_int(cfg, ESMM_OPT_DATA_UNKNOWN_FIELD) == ESMM_UNKNOWN_FIELD_IGNORE;
  rd->values_ignore = esmm__config_int(cfg, ESMM_OPT_DATA_VALUES) == ESMM_VALUES_IGNORE;
  rd->skip = esmm__config_int(cfg, ESMM_OPT_DATA_ON_ERROR) == ESMM_ON_ERROR_SKIP;
  rd->cnc = (int)esmm__config_int(cfg, ESMM_OPT_DATA_CONV_NO_CLICK);
  rd->max_errors = esmm__config_int(cfg, ESMM_OPT_DATA_MAX_ERRORS);
  rd->n_fields = cfg->n_fields;
  rd->names = (const char(*)[ESMM_MAX_FIELD_NAME + 1])cfg->names;
  rd->n_dense = (size_t)esmm__config_int(cfg, ESMM_OPT_DENSE_FEATURES);
  rd->cw = cw;
  while (size < 2 * cfg->n_fields)
    size *= 2;
  rd->mask = size - 1;
  rd->cap = rd->ccap = 16 * ESMM__RD_BATCH;
  rd->slot = esmm__calloc(&rd->alloc, size, sizeof *rd->slot);
  rd->click = esmm__alloc(&rd->alloc, ESMM__RD_BATCH * sizeof *rd->click);
  rd->conv = esmm__alloc(&rd->alloc, ESMM__RD_BATCH * sizeof *rd->conv);
  rd->common = esmm__alloc(&rd->alloc, ESMM__RD_BATCH * sizeof *rd->common);
  rd->off = esmm__alloc(&rd->alloc, (ESMM__RD_BATCH + 1) * sizeof *rd->off);
  rd->field = esmm__alloc(&rd->alloc, rd->cap * sizeof *rd->field);
  rd->id = esmm__alloc(&rd->alloc, rd->cap * sizeof *rd->id);
  rd->value = esmm__alloc(&rd->alloc, rd->cap * sizeof *rd->value);
  rd->cfield = esmm__alloc(&rd->alloc, rd->ccap * sizeof *rd->cfield);
  rd->cid = esmm__alloc(&rd->alloc, rd->ccap * sizeof *rd->cid);
  rd->cvalue = esmm__alloc(&rd->alloc, rd->ccap * sizeof *rd->cvalue);
  rd->dense = esmm__calloc(&rd->alloc, ESMM__RD_BATCH, (rd->n_dense ? rd->n_dense : 1) * sizeof *rd->dense);
  if (!rd->slot || !rd->click || !rd->conv || !rd->common || !rd->off || !rd->field || !rd->id || !rd->value ||
      !rd->cfield || !rd->cid || !rd->cvalue || !rd->dense) {
    esmm__rd_release(rd);
    return esmm__error(ESMM_ENOMEM, func, "out of memory");
  }
  for (size_t i = 0; i < cfg->n_fields; i++) {
    size_t h = (size_t)esmm__rd_hash(cfg->names[i], strlen(cfg->names[i])) & rd->mask;
    while (rd->slot[h])
      h = (h + 1) & rd->mask;
    rd->slot[h] = (int)i + 1;
  }
  rd->off[0] = 0;
  if (!cw) {
    int rc = esmm__dataset_create(&rd->ds, &cfg->alloc, cfg->n_fields, rd->names);
    if (rc == ESMM_OK)
      rc = esmm__dataset_set_dense_width(rd->ds, rd->n_dense);
    if (rc < 0) {
      esmm__rd_release(rd);
      return esmm__error(ESMM_ENOMEM, func, "out of memory");
    }
  }
  return ESMM_OK;
}

void esmm__rd_release(esmm__rd *rd) {
  const esmm__allocator *a = &rd->alloc;
  esmm__free(a, rd->slot);
  esmm__free(a, rd->click);
  esmm__free(a, rd->conv);
  esmm__free(a, rd->common);
  esmm__free(a, rd->off);
  esmm__free(a, rd->field);
  esmm__free(a, rd->id);
  esmm__free(a, rd->value);
  esmm__free(a, rd->cfield);
  esmm__free(a, rd->cid);
  esmm__free(a, rd->cvalue);
  esmm__free(a, rd->dense);
  esmm_dataset_free(rd->ds);
  memset(rd, 0, sizeof *rd);
}

int esmm__rd_field(const esmm__rd *rd, const char *s, size_t n) {
  size_t h;
  if (n > ESMM_MAX_FIELD_NAME)
    return -1;
  h = (size_t)esmm__rd_hash(s, n) & rd->mask;
  while (rd->slot[h]) {
    const char *name = rd->names[rd->slot[h] - 1];
    if (memcmp(name, s, n) == 0 && name[n] == '\0')
      return rd->slot[h] - 1;
    h = (h + 1) & rd->mask;
  }
  return -1;
}

/* ---------------------------------------------------------------- rows */

static int grow3(const esmm__allocator *a, size_t used, size_t *cap, int **f, uint64_t **id, float **v) {
  size_t nc = *cap * 2;
  int *nf = esmm__alloc(a, nc * sizeof *nf);
  uint64_t *ni = esmm__alloc(a, nc * sizeof *ni);
  float *nv = esmm__alloc(a, nc * sizeof *nv);
  if (!nf || !ni || !nv || nc < *cap) {
    esmm__free(a, nf);
    esmm__free(a, ni);
    esmm__free(a, nv);
    return ESMM_ENOMEM;
  }
  memcpy(nf, *f, used * sizeof *nf);
  memcpy(ni, *id, used * sizeof *ni);
  memcpy(nv, *v, used * sizeof *nv);
  esmm__free(a, *f);
  esmm__free(a, *id);
  esmm__free(a, *v);
  *f = nf;
  *id = ni;
  *v = nv;
  *cap = nc;
  return ESMM_OK;
}

int esmm__rd_feature(esmm__rd *rd, int common, int field, uint64_t id, float value) {
  if (common) {
    if (rd->cnnz == rd->ccap && grow3(&rd->alloc, rd->cnnz, &rd->ccap, &rd->cfield, &rd->cid, &rd->cvalue) < 0)
      return esmm__error(ESMM_ENOMEM, rd->func, "out of memory");
    rd->cfield[rd->cnnz] = field;
    rd->cid[rd->cnnz] = id;
    rd->cvalue[rd->cnnz] = value;
    rd->cnnz++;
    return ESMM_OK;
  }
  if (rd->nnz == rd->cap && grow3(&rd->alloc, rd->nnz, &rd->cap, &rd->field, &rd->id, &rd->value) < 0)
    return esmm__error(ESMM_ENOMEM, rd->func, "out of memory");
  rd->field[rd->nnz] = field;
  rd->id[rd->nnz] = id;
  rd->value[rd->nnz] = value;
  rd->nnz++;
  return ESMM_OK;
}

void esmm__rd_dense(esmm__rd *rd, size_t k, float v) { rd->dense[rd->nb * rd->n_dense + k] = v; }

void esmm__rd_row_abort(esmm__rd *rd) {
  rd->nnz = (size_t)rd->off[rd->nb];
  if (rd->n_dense)
    memset(rd->dense + rd->nb * rd->n_dense, 0, rd->n_dense * sizeof *rd->dense);
}

int esmm__rd_labels(esmm__rd *rd, int click, int *conv) {
  if (click || !*conv)
    return 1;
  rd->stat[ESMM__RS_CNC_READ]++;
  switch (rd->cnc) {
  case ESMM_CNC_ZERO: *conv = 0; return 1;
  case ESMM_CNC_DROP:
    rd->stat[ESMM__RS_CNC_SKIPPED]++;
    rd->stat[ESMM__RS_SKIPPED]++;
    esmm__rd_row_abort(rd);
    return 0;
  case ESMM_CNC_ERROR: {
    int rc = esmm__rd_bad(rd, ESMM__RS_CNC_SKIPPED, 0, "conversion 1 without a click");
    return rc < 0 ? rc : 0;
  }
  default: return 1;
  }
}

int esmm__rd_row(esmm__rd *rd, int click, int conv, int64_t common) {
  rd->click[rd->nb] = click;
  rd->conv[rd->nb] = conv;
  rd->common[rd->nb] = common;
  rd->off[rd->nb + 1] = (int64_t)rd->nnz;
  rd->nb++;
  if (rd->nb == ESMM__RD_BATCH)
    return esmm__rd_flush(rd);
  return ESMM_OK;
}

int esmm__rd_common(esmm__rd *rd, int64_t *index_out) {
  int rc;
  if (rd->cw)
    rc = esmm__cw_common(rd->cw, rd->cnnz, rd->cfield, rd->cid, rd->cvalue, index_out);
  else
    rc = esmm_dataset_add_common(rd->ds, rd->cnnz, rd->cfield, rd->cid, rd->cvalue, index_out);
  rd->cnnz = 0;
  if (rc < 0) /* validated while parsing: only memory or the disk can fail */
    return esmm__error(rc, rd->func, "%s:%zu: cannot store a common list (%s)", rd->name, rd->line,
                       esmm_last_error());
  return ESMM_OK;
}

int esmm__rd_flush(esmm__rd *rd) {
  int rc;
  if (rd->nb == 0)
    return ESMM_OK;
  if (rd->cw) {
    rc = esmm__cw_rows(rd->cw, rd->nb, rd->click, rd->conv, rd->common, rd->off, rd->field, rd->id, rd->value,
                       rd->n_dense ? rd->dense : NULL);
  } else {
    size_t first = rd->ds->n_rows;
    rc = esmm_dataset_add_rows(rd->ds, rd->nb, rd->click, rd->conv, rd->common, rd->off, rd->field, rd->id,
                               rd->value);
    if (rc == ESMM_OK && rd->n_dense)
      rc = esmm_dataset_set_dense(rd->ds, first, rd->nb, rd->dense);
  }
  if (rc < 0)
    return esmm__error(rc, rd->func, "%s:%zu: cannot store rows (%s)", rd->name, rd->line, esmm_last_error());
  rd->nb = 0;
  rd->nnz = 0;
  if (rd->n_dense)
    memset(rd->dense, 0, ESMM__RD_BATCH * rd->n_dense * sizeof *rd->dense);
  return ESMM_OK;
}

int esmm__rd_bad(esmm__rd *rd, int reason, size_t col, const char *fmt, ...) {
  char why[512], where[64];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  if (col)
    snprintf(where, sizeof where, ":%zu:%zu", rd->line, col);
  else
    snprintf(where, sizeof where, ":%zu", rd->line);
  if (!rd->skip)
    return esmm__error(ESMM_EFORMAT, rd->func, "%s%s: %s", rd->name, where, why);
  rd->stat[reason]++;
  if (reason != ESMM__RS_COMMON_SKIPPED) {
    rd->stat[ESMM__RS_SKIPPED]++;
    esmm__rd_row_abort(rd);
  }
  if (rd->max_errors > 0 && rd->stat[ESMM__RS_SKIPPED] + rd->stat[ESMM__RS_COMMON_SKIPPED] > rd->max_errors)
    return esmm__error(ESMM_EFORMAT, rd->func, "more than %lld bad rows; the last: %s%s: %s",
                       (long long)rd->max_errors, rd->name, where, why);
  return 1;
}

void esmm__rd_finish_dataset(esmm__rd *rd, esmm_dataset **out) {
  memcpy(rd->ds->read_stat, rd->stat, sizeof rd->stat);
  *out = rd->ds;
  rd->ds = NULL;
}

/* ---------------------------------------------------------------- lines */

int esmm__rd_lines(const esmm__allocator *a, const char *func, const char *name, int fd, const char *data,
                   size_t len, size_t *lineno, esmm__line_fn fn, void *ctx) {
  size_t cap = CHUNK, have = 0, scanned = 0, start;
  uint64_t base = 0; /* file offset of buf[0] */
  char *buf;
  int rc = ESMM_OK;
  if (fd < 0) {
    size_t s = 0;
    while (s < len) {
      const char *nl = memchr(data + s, '\n', len - s);
      size_t e = nl ? (size_t)(nl - data) : len;
      (*lineno)++;
      if (e - s > ESMM__RD_MAX_LINE)
        return esmm__error(ESMM_EFORMAT, func, "%s:%zu: line longer than %zu bytes", name, *lineno,
                           ESMM__RD_MAX_LINE);
      ESMM__TRY(fn(ctx, data + s, e - s, s));
      s = e + 1;
    }
    return ESMM_OK;
  }
  buf = esmm__alloc(a, cap);
  if (!buf)
    return esmm__error(ESMM_ENOMEM, func, "out of memory");
  for (;;) {
    ssize_t got = read(fd, buf + have, cap - have);
    if (got < 0) {
      if (errno == EINTR)
        continue;
      rc = esmm__rd_io_error(func, "cannot read", name, errno);
      break;
    }
    if (got == 0) {
      if (have > 0) { /* last line without '\n' (possibly truncated mid-line) */
        (*lineno)++;
        rc = fn(ctx, buf, have, base);
      }
      break;
    }
    have += (size_t)got;
    start = 0;
    for (;;) {
      const char *nl = memchr(buf + scanned, '\n', have - scanned);
      if (!nl) {
        scanned = have;
        break;
      }
      (*lineno)++;
      rc = fn(ctx, buf + start, (size_t)(nl - buf) - start, base + start);
      if (rc < 0)
        break;
      start = scanned = (size_t)(nl - buf) + 1;
    }
    if (rc < 0)
      break;
    if (start > 0) { /* keep the unfinished line at the front */
      memmove(buf, buf + start, have - start);
      have -= start;
      scanned -= start;
      base += start;
    }
    if (have == cap) {
      char *bigger;
      if (cap >= ESMM__RD_MAX_LINE) {
        rc = esmm__error(ESMM_EFORMAT, func, "%s:%zu: line longer than %zu bytes", name, *lineno + 1,
                         ESMM__RD_MAX_LINE);
        break;
      }
      bigger = esmm__alloc(a, cap * 2);
      if (!bigger) {
        rc = esmm__error(ESMM_ENOMEM, func, "out of memory");
        break;
      }
      memcpy(bigger, buf, have);
      esmm__free(a, buf);
      buf = bigger;
      cap *= 2;
    }
  }
  esmm__free(a, buf);
  return rc < 0 ? rc : ESMM_OK;
}
