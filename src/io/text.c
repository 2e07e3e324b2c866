/* io/text.c - the line-per-impression text format of esmm/io.h.
 *
 * Reading streams the input: files are read in chunks into a buffer that
 * only has to hold the longest line (grown up to MAX_LINE), and parsed rows
 * are collected in CSR batches of BATCH rows that are appended with one
 * esmm_dataset_add_rows call each, so memory is the dataset plus a few
 * megabytes whatever the file size. Field names are resolved through an
 * open-addressing hash map: configs may list up to ESMM_MAX_FIELDS fields
 * and every token needs a lookup.
 *
 * Writing goes through io/atomic.h: a temporary in the same directory,
 * fsync'ed and renamed over path, so readers never see a half-written file
 * and a failure leaves any old file intact. */
#include "atomic.h"
#include "cache.h"
#include "config.h"
#include "dataset.h"
#include "reader.h"
#include "internal.h"
#include "numparse.h"
#include "rng.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CHUNK ((size_t)64 * 1024)          /* first read buffer; grows for longer lines */
#define MAX_LINE ((size_t)64 * 1024 * 1024) /* longest accepted line, bytes */
#define BATCH 4096                          /* rows per esmm_dataset_add_rows call */
#define QUOTE_MAX 48                        /* token bytes quoted in messages */

/* ---------------------------------------------------------------- fields */

typedef struct fieldmap {
  int *slot; /* field index + 1, 0 = empty */
  size_t mask;
  size_t n;
  const char (*names)[ESMM_MAX_FIELD_NAME + 1];
} fieldmap;

static uint64_t hash_bytes(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
  return h;
}

static int fieldmap_init(fieldmap *m, const esmm__allocator *a, const esmm_config *cfg) {
  size_t size = 16;
  while (size < 2 * cfg->n_fields)
    size *= 2;
  m->slot = esmm__calloc(a, size, sizeof *m->slot);
  if (!m->slot)
    return ESMM_ENOMEM;
  m->mask = size - 1;
  m->n = cfg->n_fields;
  m->names = (const char(*)[ESMM_MAX_FIELD_NAME + 1])cfg->names;
  for (size_t i = 0; i < cfg->n_fields; i++) {
    size_t h = (size_t)hash_bytes(cfg->names[i], strlen(cfg->names[i])) & m->mask;
    while (m->slot[h])
      h = (h + 1) & m->mask;
    m->slot[h] = (int)i + 1;
  }
  return ESMM_OK;
}

static int fieldmap_find(const fieldmap *m, const char *s, size_t n) {
  size_t h;
  if (n > ESMM_MAX_FIELD_NAME)
    return -1;
  h = (size_t)hash_bytes(s, n) & m->mask;
  while (m->slot[h]) {
    const char *name = m->names[m->slot[h] - 1];
    if (memcmp(name, s, n) == 0 && name[n] == '\0')
      return m->slot[h] - 1;
    h = (h + 1) & m->mask;
  }
  return -1;
}

/* ---------------------------------------------------------------- reader */

typedef struct reader {
  const char *func; /* public function, first part of every message */
  const char *name; /* file name in messages */
  size_t line;
  esmm__allocator alloc;
  esmm_dataset *ds;
  esmm__cache_writer *cw; /* esmm_dataset_convert: rows go here instead of ds */
  fieldmap map;
  size_t nb; /* rows in the batch */
  int *click, *conv;
  int64_t *off; /* BATCH + 1 */
  size_t nnz, cap;
  int *field;
  uint64_t *id;
  float *value;
} reader;

/* Token text for a message: at most QUOTE_MAX bytes, "..." when cut. */
static const char *quote(char buf[QUOTE_MAX + 4], const char *s, size_t n) {
  size_t k = n > QUOTE_MAX ? QUOTE_MAX : n;
  memcpy(buf, s, k);
  if (k < n)
    memcpy(buf + k, "...", 3), k += 3;
  buf[k] = '\0';
  return buf;
}

static int bad_line(const reader *r, const char *fmt, ...) ESMM__PRINTF(2, 3);
static int bad_line(const reader *r, const char *fmt, ...) {
  char reason[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof reason, fmt, ap);
  va_end(ap);
  return esmm__error(ESMM_EFORMAT, r->func, "%s:%zu: %s", r->name, r->line, reason);
}

static int reader_init(reader *r, const esmm_config *cfg, const char *func, const char *name) {
  memset(r, 0, sizeof *r);
  r->func = func;
  r->name = name;
  r->alloc = cfg->alloc;
  if (esmm__dataset_create(&r->ds, &cfg->alloc, cfg->n_fields,
                           (const char(*)[ESMM_MAX_FIELD_NAME + 1])cfg->names) < 0 ||
      esmm__dataset_set_dense_width(r->ds, (size_t)esmm__config_int(cfg, ESMM_OPT_DENSE_FEATURES)) < 0)
    return esmm__error(ESMM_ENOMEM, func, "out of memory");
  r->cap = 16 * BATCH;
  r->click = esmm__alloc(&r->alloc, BATCH * sizeof *r->click);
  r->conv = esmm__alloc(&r->alloc, BATCH * sizeof *r->conv);
  r->off = esmm__alloc(&r->alloc, (BATCH + 1) * sizeof *r->off);
  r->field = esmm__alloc(&r->alloc, r->cap * sizeof *r->field);
  r->id = esmm__alloc(&r->alloc, r->cap * sizeof *r->id);
  r->value = esmm__alloc(&r->alloc, r->cap * sizeof *r->value);
  if (!r->click || !r->conv || !r->off || !r->field || !r->id || !r->value ||
      fieldmap_init(&r->map, &r->alloc, cfg) < 0)
    return esmm__error(ESMM_ENOMEM, func, "out of memory");
  r->off[0] = 0;
  return ESMM_OK;
}

static void reader_release(reader *r) {
  esmm__free(&r->alloc, r->click);
  esmm__free(&r->alloc, r->conv);
  esmm__free(&r->alloc, r->off);
  esmm__free(&r->alloc, r->field);
  esmm__free(&r->alloc, r->id);
  esmm__free(&r->alloc, r->value);
  esmm__free(&r->alloc, r->map.slot);
  esmm_dataset_free(r->ds);
  r->ds = NULL;
}

static int flush_batch(reader *r) {
  int rc;
  if (r->nb == 0)
    return ESMM_OK;
  if (r->cw) /* dense inputs: the text format has none, the writer stores 0 */
    rc = esmm__cw_rows(r->cw, r->nb, r->click, r->conv, NULL, r->off, r->field, r->id, r->value, NULL);
  else
    rc = esmm_dataset_add_rows(r->ds, r->nb, r->click, r->conv, NULL, r->off, r->field, r->id, r->value);
  if (rc < 0) /* the rows were validated while parsing: only memory can fail */
    return esmm__error(rc, r->func, "%s:%zu: cannot store rows (%s)", r->name, r->line, esmm_strerror(rc));
  r->nb = 0;
  r->nnz = 0;
  return ESMM_OK;
}

static int grow_features(reader *r) {
  size_t cap = r->cap * 2;
  int *f = esmm__alloc(&r->alloc, cap * sizeof *f);
  uint64_t *id = esmm__alloc(&r->alloc, cap * sizeof *id);
  float *v = esmm__alloc(&r->alloc, cap * sizeof *v);
  if (!f || !id || !v || cap < r->cap) {
    esmm__free(&r->alloc, f);
    esmm__free(&r->alloc, id);
    esmm__free(&r->alloc, v);
    return esmm__error(ESMM_ENOMEM, r->func, "out of memory");
  }
  memcpy(f, r->field, r->nnz * sizeof *f);
  memcpy(id, r->id, r->nnz * sizeof *id);
  memcpy(v, r->value, r->nnz * sizeof *v);
  esmm__free(&r->alloc, r->field);
  esmm__free(&r->alloc, r->id);
  esmm__free(&r->alloc, r->value);
  r->field = f;
  r->id = id;
  r->value = v;
  r->cap = cap;
  return ESMM_OK;
}

static int is_blank(char c) { return c == ' ' || c == '\t'; }

/* Next token of p[*pos..len): start and length, 0 when none is left. */
static size_t next_token(const char *p, size_t len, size_t *pos, const char **tok) {
  size_t i = *pos, b;
  while (i < len && is_blank(p[i]))
    i++;
  b = i;
  while (i < len && !is_blank(p[i]))
    i++;
  *pos = i;
  *tok = p + b;
  return i - b;
}

static int parse_label(const reader *r, const char *t, size_t n, const char *what, int *out) {
  char q[QUOTE_MAX + 4];
  if (n == 1 && (t[0] == '0' || t[0] == '1')) {
    *out = t[0] - '0';
    return ESMM_OK;
  }
  return bad_line(r, "%s must be 0 or 1, got \"%s\"", what, quote(q, t, n));
}

/* Parse one line (without its '\n'); append it to the batch. */
static int parse_line(reader *r, const char *p, size_t len) {
  char q[QUOTE_MAX + 4];
  size_t pos = 0, n;
  const char *t;
  int click = 0, conv = 0;

  if (len && p[len - 1] == '\r')
    len--;
  if (memchr(p, '\0', len))
    return bad_line(r, "NUL byte");
  while (pos < len && is_blank(p[pos]))
    pos++;
  if (pos == len || p[pos] == '#')
    return ESMM_OK;

  n = next_token(p, len, &pos, &t);
  ESMM__TRY(parse_label(r, t, n, "click", &click));
  n = next_token(p, len, &pos, &t);
  if (n == 0)
    return bad_line(r, "missing conversion label");
  ESMM__TRY(parse_label(r, t, n, "conversion", &conv));

  while ((n = next_token(p, len, &pos, &t)) != 0) {
    const char *c1 = memchr(t, ':', n), *c2, *end = t + n;
    uint64_t id;
    double v = 1.0;
    int f, rc;
    if (!c1)
      return bad_line(r, "token \"%s\" has no ':'", quote(q, t, n));
    f = fieldmap_find(&r->map, t, (size_t)(c1 - t));
    if (f < 0)
      return bad_line(r, "unknown field \"%s\"", quote(q, t, (size_t)(c1 - t)));
    c2 = memchr(c1 + 1, ':', (size_t)(end - c1 - 1));
    if (!c2)
      c2 = end;
    rc = esmm__parse_u64(c1 + 1, (size_t)(c2 - c1 - 1), &id);
    if (rc == -2)
      return bad_line(r, "id overflows 64 bits");
    if (rc < 0)
      return bad_line(r, "id \"%s\" is not an unsigned integer", quote(q, c1 + 1, (size_t)(c2 - c1 - 1)));
    if (c2 < end) {
      float fv;
      if (esmm__parse_double(c2 + 1, (size_t)(end - c2 - 1), &v) < 0)
        return bad_line(r, "value \"%s\" is not a number", quote(q, c2 + 1, (size_t)(end - c2 - 1)));
      fv = (float)v;
      if (!isfinite(fv)) /* also refuses finite doubles beyond the float range */
        return bad_line(r, "value \"%s\" is not finite", quote(q, c2 + 1, (size_t)(end - c2 - 1)));
    }
    if (r->nnz == r->cap)
      ESMM__TRY(grow_features(r));
    r->field[r->nnz] = f;
    r->id[r->nnz] = id;
    r->value[r->nnz] = (float)v;
    r->nnz++;
  }
  r->click[r->nb] = click;
  r->conv[r->nb] = conv;
  r->off[r->nb + 1] = (int64_t)r->nnz;
  r->nb++;
  if (r->nb == BATCH)
    return flush_batch(r);
  return ESMM_OK;
}

/* Parse every complete line of data[0..len); the last one may lack '\n'. */
static int parse_buffer(reader *r, const char *data, size_t len) {
  size_t start = 0;
  while (start < len) {
    const char *nl = memchr(data + start, '\n', len - start);
    size_t end = nl ? (size_t)(nl - data) : len;
    r->line++;
    ESMM__TRY(parse_line(r, data + start, end - start));
    start = end + 1;
  }
  return ESMM_OK;
}

static int io_error(const char *func, const char *what, const char *path, int err) {
  char msg[256];
  if (strerror_r(err, msg, sizeof msg) != 0)
    snprintf(msg, sizeof msg, "error %d", err);
  return esmm__error(ESMM_EIO, func, "%s \"%s\": %s", what, path, msg);
}

static int parse_fd(reader *r, int fd, const char *path) {
  size_t cap = CHUNK, len = 0, scanned = 0, start;
  char *buf = esmm__alloc(&r->alloc, cap);
  int rc = ESMM_OK;
  if (!buf)
    return esmm__error(ESMM_ENOMEM, r->func, "out of memory");
  for (;;) {
    ssize_t got = read(fd, buf + len, cap - len);
    if (got < 0) {
      if (errno == EINTR)
        continue;
      rc = io_error(r->func, "cannot read", path, errno);
      break;
    }
    if (got == 0) {
      if (len > 0) {
        r->line++;
        rc = parse_line(r, buf, len);
      }
      break;
    }
    len += (size_t)got;
    start = 0;
    for (;;) {
      const char *nl = memchr(buf + scanned, '\n', len - scanned);
      if (!nl) {
        scanned = len;
        break;
      }
      r->line++;
      rc = parse_line(r, buf + start, (size_t)(nl - buf) - start);
      if (rc < 0)
        break;
      start = scanned = (size_t)(nl - buf) + 1;
    }
    if (rc < 0)
      break;
    /* Keep only the unfinished line, at the front. */
    if (start > 0) {
      memmove(buf, buf + start, len - start);
      len -= start;
      scanned -= start;
    }
    if (len == cap) {
      char *bigger;
      if (cap >= MAX_LINE) {
        r->line++;
        rc = esmm__error(ESMM_EFORMAT, r->func, "%s:%zu: line longer than %zu bytes", r->name, r->line, MAX_LINE);
        break;
      }
      bigger = esmm__alloc(&r->alloc, cap * 2);
      if (!bigger) {
        rc = esmm__error(ESMM_ENOMEM, r->func, "out of memory");
        break;
      }
      memcpy(bigger, buf, len);
      esmm__free(&r->alloc, buf);
      buf = bigger;
      cap *= 2;
    }
  }
  esmm__free(&r->alloc, buf);
  return rc;
}

int esmm__read_text_to(const esmm_config *cfg, const char *func, const char *path, esmm__cache_writer *cw) {
  reader r;
  int fd, rc;
  ESMM__TRY(esmm__rd_open(func, path, &fd));
  rc = reader_init(&r, cfg, func, path);
  if (rc == ESMM_OK) {
    r.cw = cw;
    rc = parse_fd(&r, fd, path);
  }
  if (rc == ESMM_OK)
    rc = flush_batch(&r);
  reader_release(&r);
  close(fd);
  return rc;
}

/* Shared tail of both readers: source is a file (fd >= 0) or a buffer. */
static int read_any(esmm_dataset **out, const esmm_config *cfg, const char *func, const char *name, int fd,
                    const char *path, const void *data, size_t len) {
  esmm_config *tmp = NULL;
  const esmm_config *c = NULL;
  reader r;
  int rc;
  rc = esmm__config_or_default(cfg, &tmp, &c);
  if (rc < 0)
    return esmm__error(rc, func, "cannot create the default config (%s)", esmm_strerror(rc));
  rc = reader_init(&r, c, func, name);
  if (rc == ESMM_OK)
    rc = fd >= 0 ? parse_fd(&r, fd, path) : parse_buffer(&r, data, len);
  if (rc == ESMM_OK)
    rc = flush_batch(&r);
  if (rc == ESMM_OK) {
    *out = r.ds;
    r.ds = NULL;
  }
  reader_release(&r);
  esmm_config_free(tmp);
  return rc;
}

int esmm_dataset_read_text(esmm_dataset **out, const esmm_config *cfg, const char *path) {
  int fd, rc;
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(path);
  do
    fd = open(path, O_RDONLY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return io_error(__func__, "cannot open", path, errno);
  rc = read_any(out, cfg, __func__, path, fd, path, NULL, 0);
  close(fd);
  return rc;
}

int esmm_dataset_read_text_buffer(esmm_dataset **out, const esmm_config *cfg, const void *data, size_t len,
                                  const char *name) {
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(data || len == 0);
  return read_any(out, cfg, __func__, name ? name : "<buffer>", -1, NULL, len ? data : "", len);
}

/* ---------------------------------------------------------------- writer */

#define OUT_CAP ((size_t)256 * 1024)
#define VCACHE 256 /* formatted values memo: data values repeat a lot */

typedef struct writer {
  esmm__abuf out; /* out.f remembers the first failed write */
  struct {
    uint32_t bits;
    int len; /* 0 = empty */
    char txt[32];
  } vcache[VCACHE];
} writer;

static void w_put(writer *w, const char *s, size_t n) { esmm__abuf_put(&w->out, s, n); }

static void w_value(writer *w, float v) {
  uint32_t bits;
  size_t slot;
  memcpy(&bits, &v, sizeof bits);
  slot = (size_t)(esmm__mix64(bits) & (VCACHE - 1));
  if (w->vcache[slot].len == 0 || w->vcache[slot].bits != bits) {
    w->vcache[slot].bits = bits;
    w->vcache[slot].len = esmm__format_float(v, w->vcache[slot].txt);
  }
  w_put(w, w->vcache[slot].txt, (size_t)w->vcache[slot].len);
}

static void w_features(writer *w, const esmm_dataset *ds, const int *field, const uint64_t *id, const float *value,
                       size_t n) {
  for (size_t k = 0; k < n; k++) {
    const char *name = ds->names[field[k]];
    w_put(w, " ", 1);
    w_put(w, name, strlen(name));
    w_put(w, ":", 1);
    esmm__abuf_u64(&w->out, id[k]);
    if (value[k] != 1.0f) {
      w_put(w, ":", 1);
      w_value(w, value[k]);
    }
  }
}

int esmm_dataset_write_text(const esmm_dataset *ds, const char *path) {
  writer *w;
  int rc;

  ESMM__CHECK_ARG(ds);
  ESMM__CHECK_ARG(path && path[0]);
  w = esmm__calloc(&ds->alloc, 1, sizeof *w);
  if (!w)
    return ESMM__ERR(ESMM_ENOMEM, "out of memory");
  rc = esmm__abuf_open(&w->out, &ds->alloc, __func__, path, OUT_CAP);
  if (rc != ESMM_OK)
    goto done;
  for (size_t i = 0; i < ds->n_rows && !w->out.f.err; i++) {
    size_t b = (size_t)ds->row_off[i], e = (size_t)ds->row_off[i + 1];
    int64_t c = ds->common[i];
    w_put(w, ds->click[i] ? "1 " : "0 ", 2);
    w_put(w, ds->conv[i] ? "1" : "0", 1);
    w_features(w, ds, ds->field + b, ds->id + b, ds->value + b, e - b);
    if (c >= 0) {
      size_t cb = (size_t)ds->com_off[c], ce = (size_t)ds->com_off[c + 1];
      w_features(w, ds, ds->com_field + cb, ds->com_id + cb, ds->com_value + cb, ce - cb);
    }
    w_put(w, "\n", 1);
  }
  rc = esmm__abuf_commit(&w->out);
done:
  esmm__free(&ds->alloc, w);
  return rc;
}
