/* io/text.c - the line-per-impression text format of esmm/io.h: reader
 * (on the shared line source, batches and policies of io/reader.h, like
 * every other format) and writer.
 *
 * Writing goes through io/atomic.h: a temporary in the same directory,
 * fsync'ed and renamed over path, so readers never see a half-written file
 * and a failure leaves any old file intact. */
#include "atomic.h"
#include "numparse.h"
#include "reader.h"
#include "rng.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- reader */

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

/* A label: exactly "0" or "1" (1.0 messages, without a column). */
static int text_label(esmm__rd *rd, const char *t, size_t n, const char *what, int *out) {
  char q[4 * ESMM__RD_QUOTE + 4];
  if (n == 1 && (t[0] == '0' || t[0] == '1')) {
    *out = t[0] - '0';
    return ESMM_OK;
  }
  return esmm__rd_bad(rd, ESMM__RS_LABEL, 0, "%s must be 0 or 1, got \"%s\"", what, esmm__rd_quote(q, t, n));
}

/* One line (without its '\n'): a row, or nothing for blank and comment
 * lines. Returns >= 0 to go on, < 0 to stop. */
static int text_line(void *ctx, const char *p, size_t len, uint64_t off) {
  esmm__rd *rd = ctx;
  char q[4 * ESMM__RD_QUOTE + 4];
  size_t pos = 0, n;
  const char *t;
  int click = 0, conv = 0, rc;
  (void)off;
  if (len && p[len - 1] == '\r')
    len--;
  while (pos < len && is_blank(p[pos]))
    pos++;
  if (pos == len || p[pos] == '#')
    return ESMM_OK;
  rd->rep.stat[ESMM__RS_LINES]++;
  if (memchr(p, '\0', len))
    return esmm__rd_bad(rd, ESMM__RS_MALFORMED, 0, "NUL byte");

  n = next_token(p, len, &pos, &t);
  if ((rc = text_label(rd, t, n, "click", &click)) != 0)
    return rc;
  n = next_token(p, len, &pos, &t);
  if (n == 0)
    return esmm__rd_bad(rd, ESMM__RS_MALFORMED, 0, "missing conversion label");
  if ((rc = text_label(rd, t, n, "conversion", &conv)) != 0)
    return rc;

  while ((n = next_token(p, len, &pos, &t)) != 0) {
    const char *c1 = memchr(t, ':', n), *c2, *end = t + n;
    uint64_t id;
    double v = 1.0;
    int f;
    if (!c1)
      return esmm__rd_bad(rd, ESMM__RS_MALFORMED, 0, "token \"%s\" has no ':'", esmm__rd_quote(q, t, n));
    f = esmm__rd_field(rd, t, (size_t)(c1 - t));
    if (f < 0 && !rd->unknown_ignore)
      return esmm__rd_bad(rd, ESMM__RS_MALFORMED, 0, "unknown field \"%s\"", esmm__rd_quote(q, t, (size_t)(c1 - t)));
    c2 = memchr(c1 + 1, ':', (size_t)(end - c1 - 1));
    if (!c2)
      c2 = end;
    rc = esmm__parse_u64(c1 + 1, (size_t)(c2 - c1 - 1), &id);
    if (rc == -2)
      return esmm__rd_bad(rd, ESMM__RS_MALFORMED, 0, "id overflows 64 bits");
    if (rc < 0)
      return esmm__rd_bad(rd, ESMM__RS_MALFORMED, 0, "id \"%s\" is not an unsigned integer",
                          esmm__rd_quote(q, c1 + 1, (size_t)(c2 - c1 - 1)));
    if (c2 < end && !rd->values_ignore) {
      if (esmm__rd_parse_value(c2 + 1, (size_t)(end - c2 - 1), &v) < 0)
        return esmm__rd_bad(rd, ESMM__RS_MALFORMED, 0, "value \"%s\" is not a number",
                            esmm__rd_quote(q, c2 + 1, (size_t)(end - c2 - 1)));
      if (!isfinite((float)v)) /* also refuses finite doubles beyond the float range */
        return esmm__rd_bad(rd, ESMM__RS_MALFORMED, 0, "value \"%s\" is not finite",
                            esmm__rd_quote(q, c2 + 1, (size_t)(end - c2 - 1)));
    }
    if (f < 0)
      rd->rep.stat[ESMM__RS_IGNORED]++;
    else
      ESMM__TRY(esmm__rd_feature(rd, 0, f, id, (float)v));
  }
  rc = esmm__rd_labels(rd, click, &conv);
  if (rc <= 0)
    return rc;
  return esmm__rd_row(rd, click, conv, -1);
}

int esmm__read_text(const esmm_config *cfg, const char *func, const esmm__src *in, esmm__sink *sink) {
  esmm__rd rd;
  int rc;
  ESMM__TRY(esmm__rd_init(&rd, cfg, func, in->name, sink));
  rc = esmm__rd_lines(&rd, in, 0, text_line, &rd);
  if (rc == ESMM_OK)
    rc = esmm__rd_finish(&rd);
  esmm__rd_release(&rd);
  return rc;
}

static int text_read(const esmm_config *cfg, const char *func, const void *arg, esmm__sink *sink) {
  return esmm__read_text(cfg, func, arg, sink);
}

static int text_read_into(esmm_dataset **out, const esmm_config *cfg, const char *func, const esmm__src *in) {
  return esmm__read_to_dataset(out, cfg, func, text_read, in);
}

int esmm_dataset_read_text(esmm_dataset **out, const esmm_config *cfg, const char *path) {
  esmm__src in = {path, -1, NULL, 0, path};
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(path);
  return text_read_into(out, cfg, __func__, &in);
}

int esmm_dataset_read_text_buffer(esmm_dataset **out, const esmm_config *cfg, const void *data, size_t len,
                                  const char *name) {
  esmm__src in = {NULL, -1, len ? data : "", len, name ? name : "<buffer>"};
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(data || len == 0);
  return text_read_into(out, cfg, __func__, &in);
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
