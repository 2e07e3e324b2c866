/* io/reader.c - shared machinery of the file readers (see reader.h). */
#include "reader.h"

#include "hash.h"
#include "numparse.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK ((size_t)1 << 20)    /* largest read buffer (grows beyond only for longer lines) */
#define PIPE_CHUNK ((size_t)65536) /* first read buffer of a pipe */
#define MIN_BUF ((size_t)4096)     /* first read buffer of a small file */
#define ROWS0 64                   /* first batch capacity, rows */
#define FEATS0 1024                /* first batch capacity, features */
#define HINT_AFTER ((uint64_t)1 << 20) /* bytes read before the sink gets a size hint */

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

/* Grow an array of elem-byte entries from used/cap to at least need
 * entries (doubling). All or nothing. */
static int rd_grow(const esmm__allocator *a, void **p, size_t elem, size_t used, size_t *cap, size_t need) {
  size_t nc = *cap ? *cap : 16, bytes;
  void *q;
  while (nc < need) {
    if (nc > SIZE_MAX / 4)
      return ESMM_ENOMEM;
    nc *= 2;
  }
  if (!esmm__mul_ok(nc, elem, &bytes) || !(q = esmm__alloc(a, bytes)))
    return ESMM_ENOMEM;
  if (used && *p)
    memcpy(q, *p, used * elem);
  esmm__free(a, *p);
  *p = q;
  *cap = nc;
  return ESMM_OK;
}

/* The row arrays of the batch to rcap rows (n_rows + 1 for the offsets). */
static int grow_rows(esmm__rd *rd, size_t rcap) {
  const esmm__allocator *a = &rd->alloc;
  size_t c[7], used = rd->nb, keep = rd->rcap;
  for (int k = 0; k < 7; k++)
    c[k] = keep + (k >= 3 && k != 4 ? 1 : 0);
  if (rd_grow(a, (void **)&rd->click, sizeof *rd->click, used, &c[0], rcap) < 0 ||
      rd_grow(a, (void **)&rd->conv, sizeof *rd->conv, used, &c[1], rcap) < 0 ||
      rd_grow(a, (void **)&rd->common, sizeof *rd->common, used, &c[2], rcap) < 0 ||
      rd_grow(a, (void **)&rd->off, sizeof *rd->off, used + 1, &c[3], rcap + 1) < 0 ||
      rd_grow(a, (void **)&rd->lines, sizeof *rd->lines, used, &c[4], rcap) < 0 ||
      rd_grow(a, (void **)&rd->koff, sizeof *rd->koff, used + 1, &c[5], rcap + 1) < 0)
    return esmm__error(ESMM_ENOMEM, rd->func, "out of memory");
  if (rd->n_dense) {
    size_t bytes;
    float *d;
    if (!esmm__mul_ok(rcap, rd->n_dense * sizeof *d, &bytes) || !(d = esmm__calloc(a, 1, bytes)))
      return esmm__error(ESMM_ENOMEM, rd->func, "out of memory");
    if (rd->dense && used) /* between rows: the next row has no dense input yet */
      memcpy(d, rd->dense, used * rd->n_dense * sizeof *d);
    esmm__free(a, rd->dense);
    rd->dense = d;
  }
  rd->rcap = rcap;
  return ESMM_OK;
}

int esmm__rd_init(esmm__rd *rd, const esmm_config *cfg, const char *func, const char *name, esmm__sink *sink) {
  size_t size = 16;
  memset(rd, 0, sizeof *rd);
  rd->func = func;
  rd->name = name;
  rd->alloc = cfg->alloc;
  rd->sink = sink;
  rd->unknown_ignore = esmm__config_int(cfg, ESMM_OPT_DATA_UNKNOWN_FIELD) == ESMM_UNKNOWN_FIELD_IGNORE;
  rd->values_ignore = esmm__config_int(cfg, ESMM_OPT_DATA_VALUES) == ESMM_VALUES_IGNORE;
  rd->skip = esmm__config_int(cfg, ESMM_OPT_DATA_ON_ERROR) == ESMM_ON_ERROR_SKIP;
  rd->cnc = (int)esmm__config_int(cfg, ESMM_OPT_DATA_CONV_NO_CLICK);
  rd->max_errors = esmm__config_int(cfg, ESMM_OPT_DATA_MAX_ERRORS);
  rd->n_fields = cfg->n_fields;
  rd->names = (const char(*)[ESMM_MAX_FIELD_NAME + 1])cfg->names;
  rd->n_dense = (size_t)esmm__config_int(cfg, ESMM_OPT_DENSE_FEATURES);
  esmm__report_clear(&rd->rep);
  rd->rep.cnc_policy = rd->cnc;
  rd->rep.on_error = rd->skip ? ESMM_ON_ERROR_SKIP : ESMM_ON_ERROR_FAIL;
  snprintf(rd->rep.source, sizeof rd->rep.source, "%s", name);
  while (size < 2 * cfg->n_fields)
    size *= 2;
  rd->mask = size - 1;
  rd->slot = esmm__calloc(&rd->alloc, size, sizeof *rd->slot);
  if (!rd->slot || grow_rows(rd, ROWS0) < 0 ||
      rd_grow(&rd->alloc, (void **)&rd->field, sizeof *rd->field, 0, &rd->cap, FEATS0) < 0 ||
      rd_grow(&rd->alloc, (void **)&rd->id, sizeof *rd->id, 0, &(size_t){0}, FEATS0) < 0 ||
      rd_grow(&rd->alloc, (void **)&rd->value, sizeof *rd->value, 0, &(size_t){0}, FEATS0) < 0) {
    esmm__rd_release(rd);
    return esmm__error(ESMM_ENOMEM, func, "out of memory");
  }
  for (size_t i = 0; i < cfg->n_fields; i++) {
    size_t h = (size_t)esmm__hash_bytes(cfg->names[i], strlen(cfg->names[i])) & rd->mask;
    while (rd->slot[h])
      h = (h + 1) & rd->mask;
    rd->slot[h] = (int)i + 1;
  }
  rd->off[0] = rd->koff[0] = 0;
  return ESMM_OK;
}

void esmm__rd_release(esmm__rd *rd) {
  const esmm__allocator a = rd->alloc;
  void *arrays[] = {rd->slot,  rd->click, rd->conv, rd->common, rd->off,    rd->lines, rd->koff, rd->dense,
                    rd->field, rd->id,    rd->value, rd->key,   rd->skips,   rd->cfield, rd->cid, rd->cvalue};
  for (size_t k = 0; k < sizeof arrays / sizeof *arrays; k++)
    esmm__free(&a, arrays[k]);
  memset(rd, 0, sizeof *rd);
}

int esmm__rd_field(const esmm__rd *rd, const char *s, size_t n) {
  size_t h;
  if (n > ESMM_MAX_FIELD_NAME)
    return -1;
  h = (size_t)esmm__hash_bytes(s, n) & rd->mask;
  while (rd->slot[h]) {
    const char *name = rd->names[rd->slot[h] - 1];
    if (memcmp(name, s, n) == 0 && name[n] == '\0')
      return rd->slot[h] - 1;
    h = (h + 1) & rd->mask;
  }
  return -1;
}

/* ---------------------------------------------------------------- rows */

static int grow3(esmm__rd *rd, size_t used, size_t *cap, int **f, uint64_t **id, float **v) {
  size_t c1 = *cap, c2 = *cap, c3 = *cap;
  if (rd_grow(&rd->alloc, (void **)f, sizeof **f, used, &c1, *cap + 1) < 0 ||
      rd_grow(&rd->alloc, (void **)id, sizeof **id, used, &c2, *cap + 1) < 0 ||
      rd_grow(&rd->alloc, (void **)v, sizeof **v, used, &c3, *cap + 1) < 0)
    return esmm__error(ESMM_ENOMEM, rd->func, "out of memory");
  /* a partial failure leaves some arrays longer: harmless, cap is the least */
  *cap = c1 < c2 ? (c1 < c3 ? c1 : c3) : (c2 < c3 ? c2 : c3);
  return ESMM_OK;
}

int esmm__rd_feature(esmm__rd *rd, int common, int field, uint64_t id, float value) {
  if (common) {
    if (rd->cnnz == rd->ccap)
      ESMM__TRY(grow3(rd, rd->cnnz, &rd->ccap, &rd->cfield, &rd->cid, &rd->cvalue));
    rd->cfield[rd->cnnz] = field;
    rd->cid[rd->cnnz] = id;
    rd->cvalue[rd->cnnz] = value;
    rd->cnnz++;
    return ESMM_OK;
  }
  if (rd->nnz == rd->cap)
    ESMM__TRY(grow3(rd, rd->nnz, &rd->cap, &rd->field, &rd->id, &rd->value));
  rd->field[rd->nnz] = field;
  rd->id[rd->nnz] = id;
  rd->value[rd->nnz] = value;
  rd->nnz++;
  return ESMM_OK;
}

int esmm__rd_key(esmm__rd *rd, const char *s, size_t n) {
  if (rd->klen + n > rd->kcap && rd_grow(&rd->alloc, (void **)&rd->key, 1, rd->klen, &rd->kcap, rd->klen + n) < 0)
    return esmm__error(ESMM_ENOMEM, rd->func, "out of memory");
  if (n)
    memcpy(rd->key + rd->klen, s, n);
  rd->klen += n;
  return ESMM_OK;
}

void esmm__rd_row_abort(esmm__rd *rd) {
  rd->nnz = (size_t)rd->off[rd->nb];
  if (rd->keys)
    rd->klen = (size_t)rd->koff[rd->nb];
  if (rd->n_dense)
    memset(rd->dense + rd->nb * rd->n_dense, 0, rd->n_dense * sizeof *rd->dense);
}

/* Remember a skipped row (line rd->at) for the dataset's list. */
static int note_skip(esmm__rd *rd, int reason) {
  static const int32_t public_reason[ESMM__RS_COUNT] = {
      [ESMM__RS_MALFORMED] = ESMM_SKIP_MALFORMED, [ESMM__RS_LABEL] = ESMM_SKIP_LABEL,
      [ESMM__RS_MISSING_COMMON] = ESMM_SKIP_MISSING_COMMON, [ESMM__RS_CNC_SKIPPED] = ESMM_SKIP_CONV_NO_CLICK};
  if (rd->nskip == rd->scap &&
      rd_grow(&rd->alloc, (void **)&rd->skips, sizeof *rd->skips, rd->nskip, &rd->scap, rd->nskip + 1) < 0)
    return esmm__error(ESMM_ENOMEM, rd->func, "out of memory");
  rd->skips[rd->nskip].line = (int64_t)rd->at;
  rd->skips[rd->nskip].reason = public_reason[reason];
  rd->skips[rd->nskip].zero = 0;
  rd->nskip++;
  return rd->nskip >= ESMM__RD_BATCH ? esmm__rd_flush(rd) : ESMM_OK;
}

int esmm__rd_labels(esmm__rd *rd, int click, int *conv) {
  if (click || !*conv)
    return 1;
  rd->rep.stat[ESMM__RS_CNC_READ]++;
  switch (rd->cnc) {
  case ESMM_CNC_ZERO:
    *conv = 0;
    rd->rep.stat[ESMM__RS_CNC_ZEROED]++;
    return 1;
  case ESMM_CNC_DROP: /* the policy asked for it: counted and listed, no message */
    rd->rep.stat[ESMM__RS_CNC_SKIPPED]++;
    rd->rep.stat[ESMM__RS_SKIPPED]++;
    esmm__rd_row_abort(rd);
    ESMM__TRY(note_skip(rd, ESMM__RS_CNC_SKIPPED));
    return 0;
  case ESMM_CNC_ERROR: {
    int rc = esmm__rd_bad(rd, ESMM__RS_CNC_SKIPPED, 0, "conversion 1 without a click (conv_no_click=error)");
    return rc < 0 ? rc : 0;
  }
  default: return 1;
  }
}

int esmm__rd_row(esmm__rd *rd, int click, int conv, int64_t common) {
  size_t i = rd->nb;
  rd->click[i] = click;
  rd->conv[i] = conv;
  rd->common[i] = common;
  rd->lines[i] = (int64_t)rd->at;
  rd->off[i + 1] = (int64_t)rd->nnz;
  if (rd->keys)
    rd->koff[i + 1] = (int64_t)rd->klen;
  rd->nb++;
  if (rd->nb < rd->rcap)
    return ESMM_OK;
  if (rd->rcap < ESMM__RD_BATCH) /* small inputs cost little: the batch grows with them */
    return grow_rows(rd, 2 * rd->rcap);
  return esmm__rd_flush(rd);
}

int esmm__rd_common(esmm__rd *rd, int64_t *index_out) {
  int rc = rd->sink->common(rd->sink, rd->cnnz, rd->cfield, rd->cid, rd->cvalue, index_out);
  if (rc == ESMM_OK) {
    rd->commons_out++;
    rd->com_nnz_out += rd->cnnz;
  }
  rd->cnnz = 0;
  return rc;
}

/* Once enough of a sized input was read, tell the sink the totals it will
 * hold, extrapolated from what was read: the dataset then grows its arrays
 * once instead of doubling them (less copying, a lower peak). */
static void hint(esmm__rd *rd) {
  double scale, cscale;
  size_t rows = rd->rows_out + rd->nb, nnz = rd->nnz_out + rd->nnz;
  if (rd->hinted || !rd->sink->reserve || rd->in_size == 0 || rd->pos < HINT_AFTER || rd->pos > rd->in_size)
    return;
  rd->hinted = 1;
  scale = 1.02 * (double)rd->in_size / (double)rd->pos;
  cscale = rd->com_size && rd->com_pos ? 1.02 * (double)rd->com_size / (double)rd->com_pos : scale;
  if (cscale > 1e6)
    cscale = 1e6;
  (void)rd->sink->reserve(rd->sink, (size_t)((double)rows * scale) + 64, (size_t)((double)nnz * scale) + 256,
                          (size_t)((double)rd->commons_out * cscale) + 16,
                          (size_t)((double)rd->com_nnz_out * cscale) + 256);
}

int esmm__rd_flush(esmm__rd *rd) {
  esmm__rows b;
  int rc;
  if (rd->nb == 0 && rd->nskip == 0)
    return ESMM_OK;
  hint(rd);
  memset(&b, 0, sizeof b);
  b.n = rd->nb;
  b.click = rd->click, b.conv = rd->conv, b.common = rd->common, b.off = rd->off;
  b.field = rd->field, b.id = rd->id, b.value = rd->value;
  b.dense = rd->n_dense ? rd->dense : NULL;
  b.line = rd->lines;
  b.key_off = rd->keys ? rd->koff : NULL;
  b.key = rd->key;
  b.n_skip = rd->nskip, b.skip = rd->skips;
  rc = rd->sink->rows(rd->sink, &b);
  if (rc < 0)
    return rc;
  rd->rows_out += rd->nb;
  rd->nnz_out += rd->nnz;
  if (rd->n_dense)
    memset(rd->dense, 0, rd->nb * rd->n_dense * sizeof *rd->dense);
  rd->nb = rd->nnz = rd->klen = rd->nskip = 0;
  return ESMM_OK;
}

int esmm__rd_finish(esmm__rd *rd) {
  ESMM__TRY(esmm__rd_flush(rd));
  return rd->sink->finish(rd->sink, &rd->rep);
}

/* "name:where: why" cut to ESMM__MESSAGE_BYTES ("..." at the end when cut). */
static void keep_message(char out[ESMM__MESSAGE_BYTES], const char *name, const char *where, const char *why) {
  const char *part[4] = {name, where, ": ", why};
  size_t k = 0;
  for (int i = 0; i < 4; i++)
    for (const char *c = part[i]; *c; c++) {
      if (k == ESMM__MESSAGE_BYTES - 1) {
        memcpy(out + k - 3, "...", 3);
        out[k] = '\0';
        return;
      }
      out[k++] = *c;
    }
  out[k] = '\0';
}

int esmm__rd_bad(esmm__rd *rd, int reason, size_t col, const char *fmt, ...) {
  char why[512], where[64];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  if (col)
    snprintf(where, sizeof where, ":%zu:%zu", rd->at, col);
  else
    snprintf(where, sizeof where, ":%zu", rd->at);
  if (!rd->skip)
    return esmm__error(ESMM_EFORMAT, rd->func, "%s%s: %s", rd->name, where, why);
  rd->rep.stat[reason]++;
  if (rd->rep.n_msg < ESMM__MESSAGES)
    keep_message(rd->rep.msg[rd->rep.n_msg++], rd->name, where, why);
  if (reason != ESMM__RS_COMMON_SKIPPED) {
    rd->rep.stat[ESMM__RS_SKIPPED]++;
    esmm__rd_row_abort(rd);
    ESMM__TRY(note_skip(rd, reason));
  }
  if (rd->max_errors > 0 &&
      rd->rep.stat[ESMM__RS_SKIPPED] + rd->rep.stat[ESMM__RS_COMMON_SKIPPED] > rd->max_errors)
    return esmm__error(ESMM_EFORMAT, rd->func, "more than %lld bad rows; the last: %s%s: %s",
                       (long long)rd->max_errors, rd->name, where, why);
  return 1;
}

/* ---------------------------------------------------------------- lines */

/* The first line of an input may start with a UTF-8 byte-order mark
 * (spreadsheet exports write one): it is not data. */
static size_t bom(const char *p, size_t len) {
  return len >= 3 && (unsigned char)p[0] == 0xef && (unsigned char)p[1] == 0xbb && (unsigned char)p[2] == 0xbf ? 3
                                                                                                                : 0;
}

/* One line to the callback, with the bookkeeping of esmm__rd_lines. */
static int one_line(esmm__rd *rd, int side, esmm__line_fn fn, void *ctx, const char *p, size_t len, uint64_t off,
                    int first) {
  size_t b = first ? bom(p, len) : 0;
  rd->line++;
  rd->at = rd->line;
  if (!side)
    rd->pos = off + len + 1;
  if (len - b > ESMM__RD_MAX_LINE)
    return esmm__error(ESMM_EFORMAT, rd->func, "%s:%zu: line longer than %zu bytes", rd->name, rd->line,
                       ESMM__RD_MAX_LINE);
  return fn(ctx, p + b, len - b, off + b);
}

int esmm__rd_lines(esmm__rd *rd, const esmm__src *in, int side, esmm__line_fn fn, void *ctx) {
  const esmm__allocator *a = &rd->alloc;
  size_t cap, have = 0, scanned = 0, start;
  uint64_t base = 0; /* input offset of buf[0] */
  char *buf;
  int rc = ESMM_OK, fd = in->fd, first = 1, prefix = in->len > 0;
  struct stat st;
  if (!in->path && fd < 0) {
    const char *data = in->data;
    size_t s = 0, len = in->len;
    if (!side)
      rd->in_size = len;
    while (s < len) {
      const char *nl = memchr(data + s, '\n', len - s);
      size_t e = nl ? (size_t)(nl - data) : len;
      ESMM__TRY(one_line(rd, side, fn, ctx, data + s, e - s, s, first));
      first = 0;
      s = e + 1;
    }
    return ESMM_OK;
  }
  if (in->path)
    ESMM__TRY(esmm__rd_open(rd->func, in->path, &fd));
  /* A regular file's size bounds the buffer (a small file costs little)
   * and lets the sink reserve its arrays; a pipe's is unknown. */
  cap = PIPE_CHUNK;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    uint64_t left = (uint64_t)st.st_size > (uint64_t)in->len ? (uint64_t)st.st_size : in->len;
    if (!side)
      rd->in_size = left;
    cap = left + 1 < CHUNK ? (size_t)left + 1 : CHUNK;
    if (cap < MIN_BUF)
      cap = MIN_BUF;
  }
  while (cap < in->len + 1)
    cap *= 2;
  buf = esmm__alloc(a, cap);
  if (!buf) {
    if (in->path)
      close(fd);
    return esmm__error(ESMM_ENOMEM, rd->func, "out of memory");
  }
  if (prefix) /* bytes already read from fd (format detection): they come first */
    memcpy(buf, in->data, in->len), have = in->len;
  for (;;) {
    ssize_t got = 0;
    if (prefix) {
      prefix = 0; /* scan the prefix before reading more */
    } else {
      got = read(fd, buf + have, cap - have);
      if (got < 0) {
        if (errno == EINTR)
          continue;
        rc = esmm__rd_io_error(rd->func, "cannot read", rd->name, errno);
        break;
      }
      if (got == 0) {
        if (have > 0) /* last line without '\n' (possibly truncated mid-line) */
          rc = one_line(rd, side, fn, ctx, buf, have, base, first);
        break;
      }
    }
    have += (size_t)got;
    start = 0;
    for (;;) {
      const char *nl = memchr(buf + scanned, '\n', have - scanned);
      if (!nl) {
        scanned = have;
        break;
      }
      rc = one_line(rd, side, fn, ctx, buf + start, (size_t)(nl - buf) - start, base + start, first);
      first = 0;
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
      if (cap >= ESMM__RD_MAX_LINE + 4) {
        rc = esmm__error(ESMM_EFORMAT, rd->func, "%s:%zu: line longer than %zu bytes", rd->name, rd->line + 1,
                         ESMM__RD_MAX_LINE);
        break;
      }
      bigger = esmm__alloc(a, cap * 2);
      if (!bigger) {
        rc = esmm__error(ESMM_ENOMEM, rd->func, "out of memory");
        break;
      }
      memcpy(bigger, buf, have);
      esmm__free(a, buf);
      buf = bigger;
      cap *= 2;
    }
  }
  esmm__free(a, buf);
  if (in->path)
    close(fd);
  return rc < 0 ? rc : ESMM_OK;
}
