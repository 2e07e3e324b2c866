/* io/csv.c - CSV files with a column spec, and PaddleRec token lines
 * (spec "tokens"). Spec grammar and policies in esmm/io.h, docs/data.md.
 *
 * The spec is resolved against the header once, into one role per column;
 * rows are then split on ',' without quoting (none of the published
 * preprocessed files quote, and a quoted cell is reported rather than
 * misread). Categorical cells that are not unsigned decimals are hashed
 * with the pinned FNV-1a 64 of reader.h, so string ids work and never
 * change meaning between releases. */
#include "cache.h"
#include "numparse.h"
#include "reader.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAX_CLAUSE_ITEMS 4096

enum { R_NONE, R_CLICK, R_CONV, R_CAT, R_NUM, R_GROUP, R_USER, R_SKIP, R_IGNORED_CAT };
enum { K_CLICK, K_CONV, K_CAT, K_NUM, K_GROUP, K_USER, K_SKIP, K_COUNT };
static const char *const key_names[K_COUNT] = {"click", "conversion", "cat", "num", "group", "user", "skip"};
static const int key_role[K_COUNT] = {R_CLICK, R_CONV, R_CAT, R_NUM, R_GROUP, R_USER, R_SKIP};

typedef struct colrole {
  int role;
  int field;    /* R_CAT / R_USER: field index */
  size_t dense; /* R_NUM: dense index */
} colrole;

typedef struct csv {
  esmm__rd rd;
  const char *spec;
  int tokens;
  int header_done;
  size_t ncols;
  colrole *col;
  const char **cell; /* per-row scratch: start of each cell */
  size_t *cell_len;
  int has_group;
  char *prev_group; /* key of the current group */
  size_t prev_len, prev_cap;
  int64_t group_idx; /* common list of the current group, -1 none */
} csv;

/* ----------------------------------------------------------- spec */

/* Does pattern pat[0..pn) name column s[0..n)? exact=1: only exact names. */
static int pat_match(const char *pat, size_t pn, const char *s, size_t n, int *prefix) {
  *prefix = pn > 0 && pat[pn - 1] == '*';
  if (*prefix)
    return n >= pn - 1 && memcmp(pat, s, pn - 1) == 0;
  return pn == n && memcmp(pat, s, n) == 0;
}

/* Syntax check of the spec (before any data): ESMM_EINVAL with the clause. */
static int spec_check(const char *func, const char *spec, int *has_group, int *has_user) {
  const char *p = spec;
  int seen[K_COUNT] = {0};
  *has_group = *has_user = 0;
  while (*p) {
    const char *end = strchr(p, ';'), *eq;
    size_t n = end ? (size_t)(end - p) : strlen(p), kn;
    int k;
    eq = memchr(p, '=', n);
    if (n == 0) {
      p += end ? 1 : 0;
      continue;
    }
    if (!eq)
      return esmm__error(ESMM_EINVAL, func, "column spec: clause \"%.*s\" has no '='", (int)n, p);
    kn = (size_t)(eq - p);
    for (k = 0; k < K_COUNT; k++)
      if (strlen(key_names[k]) == kn && memcmp(key_names[k], p, kn) == 0)
        break;
    if (k == K_COUNT)
      return esmm__error(ESMM_EINVAL, func,
                         "column spec: unknown key \"%.*s\" (click, conversion, cat, num, group, user, skip)", (int)kn,
                         p);
    if (eq + 1 == p + n)
      return esmm__error(ESMM_EINVAL, func, "column spec: clause \"%.*s\" names no column", (int)n, p);
    if ((k == K_CLICK || k == K_CONV || k == K_GROUP) && (memchr(eq + 1, ',', (size_t)(p + n - eq - 1)) || seen[k]))
      return esmm__error(ESMM_EINVAL, func, "column spec: \"%s\" takes exactly one column", key_names[k]);
    seen[k] = 1;
    p += n + (end ? 1 : 0);
  }
  if (!seen[K_CLICK] || !seen[K_CONV])
    return esmm__error(ESMM_EINVAL, func, "column spec: \"click=\" and \"conversion=\" are required");
  if (seen[K_GROUP] != seen[K_USER])
    return esmm__error(ESMM_EINVAL, func, "column spec: \"group=\" and \"user=\" go together");
  *has_group = seen[K_GROUP];
  *has_user = seen[K_USER];
  return ESMM_OK;
}

/* Split line p[0..len) on ','; fills C->cell/cell_len up to cap cells.
 * Returns the number of cells. */
static size_t split(csv *C, const char *p, size_t len, size_t cap) {
  size_t n = 0, s = 0;
  for (;;) {
    const char *c = memchr(p + s, ',', len - s);
    size_t e = c ? (size_t)(c - p) : len;
    if (n < cap) {
      C->cell[n] = p + s;
      C->cell_len[n] = e - s;
    }
    n++;
    if (!c)
      return n;
    s = e + 1;
  }
}

/* Assign roles to the header's columns. Pass 1: exact names; pass 2:
 * prefixes "x*"; pass 3: "*". Dense indices follow the spec order. */
static int resolve(csv *C, const char *p, size_t len) {
  esmm__rd *rd = &C->rd;
  char q[4 * ESMM__RD_QUOTE + 4];
  size_t nd = 0;
  size_t n = split(C, p, len, 0);
  const esmm__allocator *a = &rd->alloc;
  C->ncols = n;
  C->col = esmm__calloc(a, n, sizeof *C->col);
  C->cell = esmm__calloc(a, n, sizeof *C->cell);
  C->cell_len = esmm__calloc(a, n, sizeof *C->cell_len);
  if (!C->col || !C->cell || !C->cell_len)
    return esmm__error(ESMM_ENOMEM, rd->func, "out of memory");
  split(C, p, len, n);
  for (int pass = 0; pass < 3; pass++) {
    const char *s = C->spec;
    while (*s) {
      const char *end = strchr(s, ';'), *eq = NULL, *it;
      size_t cn = end ? (size_t)(end - s) : strlen(s);
      int k = 0;
      if (cn)
        eq = memchr(s, '=', cn);
      if (eq) {
        for (k = 0; k < K_COUNT; k++)
          if (strlen(key_names[k]) == (size_t)(eq - s) && memcmp(key_names[k], s, (size_t)(eq - s)) == 0)
            break;
        it = eq + 1;
        while (it < s + cn) {
          const char *ie = memchr(it, ',', (size_t)(s + cn - it));
          size_t in = ie ? (size_t)(ie - it) : (size_t)(s + cn - it);
          int star = in == 1 && it[0] == '*', found = 0;
          for (size_t c = 0; c < n; c++) {
            int prefix, m = pat_match(it, in, C->cell[c], C->cell_len[c], &prefix);
            if (!m || (pass == 0 && (prefix || star)) || (pass == 1 && (!prefix || star)) || (pass == 2 && !star))
              continue;
            if (pass == 0 && C->col[c].role != R_NONE)
              return esmm__error(ESMM_EFORMAT, rd->func, "%s:1: column \"%s\" is named by two spec clauses",
                                 rd->name, esmm__rd_quote(q, C->cell[c], C->cell_len[c]));
            found = 1;
            if (C->col[c].role != R_NONE)
              continue; /* a more specific clause claimed it */
            C->col[c].role = key_role[k];
            if (k == K_NUM)
              C->col[c].dense = nd++;
            if (k == K_CAT || k == K_USER) {
              int f = esmm__rd_field(rd, C->cell[c], C->cell_len[c]);
              if (f < 0 && !rd->unknown_ignore)
                return esmm__error(ESMM_EFORMAT, rd->func,
                                   "%s:1: categorical column \"%s\" is not in the field list "
                                   "(set the fields, or unknown_field=ignore)",
                                   rd->name, esmm__rd_quote(q, C->cell[c], C->cell_len[c]));
              C->col[c].field = f;
              if (f < 0)
                C->col[c].role = R_IGNORED_CAT;
            }
          }
          if (pass == 0 && !star && !(in && it[in - 1] == '*') && !found)
            return esmm__error(ESMM_EFORMAT, rd->func, "%s:1: the spec names column \"%.*s\", which the header lacks",
                               rd->name, (int)in, it);
          it += in + 1;
        }
      }
      s += cn + (end ? 1 : 0);
    }
  }
  for (size_t c = 0; c < n; c++)
    if (C->col[c].role == R_NONE)
      return esmm__error(ESMM_EFORMAT, rd->func, "%s:1:%zu: column \"%s\" is not named by the spec "
                         "(add it to a clause, e.g. skip=...)", rd->name, (size_t)(C->cell[c] - p) + 1,
                         esmm__rd_quote(q, C->cell[c], C->cell_len[c]));
  if (nd != rd->n_dense)
    return esmm__error(ESMM_EFORMAT, rd->func,
                       "%s:1: the spec selects %zu numeric columns but ESMM_OPT_DENSE_FEATURES is %zu", rd->name,
                       nd, rd->n_dense);
  return ESMM_OK;
}

/* ----------------------------------------------------------- rows */

/* A 0/1 label written as an integer or a float ("1", "1.0"). */
static int parse_label(esmm__rd *rd, const char *t, size_t n, size_t col, const char *what, int *out) {
  char q[4 * ESMM__RD_QUOTE + 4];
  double v;
  if (esmm__rd_parse_value(t, n, &v) == 0 && (v == 0.0 || v == 1.0)) {
    *out = v == 1.0;
    return ESMM_OK;
  }
  return esmm__rd_bad(rd, ESMM__RS_LABEL, col, "%s must be 0 or 1, got \"%s\"", what, esmm__rd_quote(q, t, n));
}

/* A categorical id: unsigned decimal below 2^64, else the stable hash. */
static uint64_t cat_id(const char *t, size_t n) {
  uint64_t id;
  if (esmm__parse_u64(t, n, &id) == 0)
    return id;
  return esmm__rd_hash(t, n);
}

static int csv_row(csv *C, const char *p, size_t len) {
  esmm__rd *rd = &C->rd;
  char q[4 * ESMM__RD_QUOTE + 4];
  size_t n = split(C, p, len, C->ncols);
  int click = 0, conv = 0, rc;
  const char *gk = NULL;
  size_t gn = 0;
  int64_t cidx = -1;
  if (n != C->ncols)
    return esmm__rd_bad(rd, ESMM__RS_MALFORMED, 0, "expected %zu comma-separated columns, found %zu", C->ncols, n);
  rd->cnnz = 0;
  for (size_t c = 0; c < n; c++) {
    const char *t = C->cell[c];
    size_t tn = C->cell_len[c], col = (size_t)(t - p) + 1;
    if (tn && t[0] == '"')
      return esmm__rd_bad(rd, ESMM__RS_MALFORMED, col, "quoted cells are not supported");
    switch (C->col[c].role) {
    case R_CLICK:
      if ((rc = parse_label(rd, t, tn, col, "click", &click)) != 0)
        return rc;
      break;
    case R_CONV:
      if ((rc = parse_label(rd, t, tn, col, "conversion", &conv)) != 0)
        return rc;
      break;
    case R_CAT:
    case R_USER:
      if (tn)
        ESMM__TRY(esmm__rd_feature(rd, C->col[c].role == R_USER, C->col[c].field, cat_id(t, tn), 1.0f));
      break;
    case R_IGNORED_CAT:
      if (tn)
        rd->stat[ESMM__RS_IGNORED]++;
      break;
    case R_NUM: {
      double v = 0;
      if (tn && esmm__rd_parse_value(t, tn, &v) < 0)
        return esmm__rd_bad(rd, ESMM__RS_MALFORMED, col, "numeric cell \"%s\" is not a number",
                            esmm__rd_quote(q, t, tn));
      if (!isfinite((float)v))
        return esmm__rd_bad(rd, ESMM__RS_MALFORMED, col, "numeric cell \"%s\" is not a finite float",
                            esmm__rd_quote(q, t, tn));
      esmm__rd_dense(rd, C->col[c].dense, (float)v);
      break;
    }
    case R_GROUP: gk = t, gn = tn; break;
    default: break;
    }
  }
  rc = esmm__rd_labels(rd, click, &conv);
  if (rc <= 0) {
    rd->cnnz = 0;
    return rc;
  }
  if (C->has_group) {
    if (C->group_idx < 0 || gn != C->prev_len || memcmp(gk, C->prev_group, gn) != 0) {
      /* a new group: its common list is this row's user columns */
      if (gn > C->prev_cap) {
        size_t nc = gn < 64 ? 64 : 2 * gn;
        char *nb = esmm__alloc(&rd->alloc, nc);
        if (!nb)
          return esmm__error(ESMM_ENOMEM, rd->func, "out of memory");
        esmm__free(&rd->alloc, C->prev_group);
        C->prev_group = nb;
        C->prev_cap = nc;
      }
      if (gn)
        memcpy(C->prev_group, gk, gn);
      C->prev_len = gn;
      ESMM__TRY(esmm__rd_common(rd, &C->group_idx));
    }
    cidx = C->group_idx;
  }
  rd->cnnz = 0;
  return esmm__rd_row(rd, click, conv, cidx);
}

/* "sample_id,click,conversion,field:id[:value],..." */
static int token_row(csv *C, const char *p, size_t len) {
  esmm__rd *rd = &C->rd;
  char q[4 * ESMM__RD_QUOTE + 4];
  const char *c1, *c2, *c3, *end = p + len, *t;
  int click = 0, conv = 0, rc;
  c1 = memchr(p, ',', len);
  c2 = c1 ? memchr(c1 + 1, ',', (size_t)(end - c1 - 1)) : NULL;
  if (!c2)
    return esmm__rd_bad(rd, ESMM__RS_MALFORMED, 0, "expected sample_id,click,conversion,features...");
  c3 = memchr(c2 + 1, ',', (size_t)(end - c2 - 1));
  if (!c3)
    c3 = end;
  if ((rc = parse_label(rd, c1 + 1, (size_t)(c2 - c1 - 1), (size_t)(c1 - p) + 2, "click", &click)) != 0)
    return rc;
  if ((rc = parse_label(rd, c2 + 1, (size_t)(c3 - c2 - 1), (size_t)(c2 - p) + 2, "conversion", &conv)) != 0)
    return rc;
  for (t = c3 < end ? c3 + 1 : end; t < end;) {
    const char *te = memchr(t, ',', (size_t)(end - t)), *k1, *k2;
    size_t tn, col = (size_t)(t - p) + 1;
    double v = 1.0;
    int f;
    if (!te)
      te = end;
    tn = (size_t)(te - t);
    k1 = memchr(t, ':', tn);
    if (!k1)
      return esmm__rd_bad(rd, ESMM__RS_MALFORMED, col, "token \"%s\" has no ':'", esmm__rd_quote(q, t, tn));
    k2 = memchr(k1 + 1, ':', (size_t)(te - k1 - 1));
    if (!k2)
      k2 = te;
    if (k2 == k1 + 1)
      return esmm__rd_bad(rd, ESMM__RS_MALFORMED, col, "token \"%s\" has an empty id", esmm__rd_quote(q, t, tn));
    f = esmm__rd_field(rd, t, (size_t)(k1 - t));
    if (f < 0 && !rd->unknown_ignore)
      return esmm__rd_bad(rd, ESMM__RS_MALFORMED, col, "unknown field \"%s\"", esmm__rd_quote(q, t, (size_t)(k1 - t)));
    if (k2 < te && !rd->values_ignore) {
      if (esmm__rd_parse_value(k2 + 1, (size_t)(te - k2 - 1), &v) < 0 || !isfinite((float)v))
        return esmm__rd_bad(rd, ESMM__RS_MALFORMED, col + (size_t)(k2 + 1 - t), "value \"%s\" is not a finite number",
                            esmm__rd_quote(q, k2 + 1, (size_t)(te - k2 - 1)));
    }
    if (f < 0)
      rd->stat[ESMM__RS_IGNORED]++;
    else
      ESMM__TRY(esmm__rd_feature(rd, 0, f, cat_id(k1 + 1, (size_t)(k2 - k1 - 1)), (float)v));
    t = te + 1;
  }
  rc = esmm__rd_labels(rd, click, &conv);
  if (rc <= 0)
    return rc;
  return esmm__rd_row(rd, click, conv, -1);
}

static int csv_line(void *ctx, const char *p, size_t len, uint64_t off) {
  csv *C = ctx;
  esmm__rd *rd = &C->rd;
  const char *nul;
  (void)off;
  if (len && p[len - 1] == '\r')
    len--;
  if (len == 0)
    return ESMM_OK;
  if ((nul = memchr(p, '\0', len)) != NULL) {
    if (!C->tokens && !C->header_done)
      return esmm__error(ESMM_EFORMAT, rd->func, "%s:%zu:%zu: NUL byte in the header", rd->name, rd->line,
                         (size_t)(nul - p) + 1);
    rd->stat[ESMM__RS_LINES]++;
    return esmm__rd_bad(rd, ESMM__RS_MALFORMED, (size_t)(nul - p) + 1, "NUL byte");
  }
  if (!C->tokens && !C->header_done) {
    C->header_done = 1;
    return resolve(C, p, len);
  }
  rd->stat[ESMM__RS_LINES]++;
  return C->tokens ? token_row(C, p, len) : csv_row(C, p, len);
}

int esmm__read_csv(esmm_dataset **out, const esmm_config *cfg, const char *func, const esmm__src *in,
                   const char *spec, esmm__cache_writer *cw, int64_t *stat_out) {
  csv C;
  int fd = -1, rc, has_user = 0;
  memset(&C, 0, sizeof C);
  C.tokens = strcmp(spec, "tokens") == 0;
  C.spec = spec;
  C.group_idx = -1;
  if (!C.tokens)
    ESMM__TRY(spec_check(func, spec, &C.has_group, &has_user));
  ESMM__TRY(esmm__rd_init(&C.rd, cfg, func, in->name, cw));
  rc = in->path ? esmm__rd_open(func, in->path, &fd) : ESMM_OK;
  if (rc == ESMM_OK)
    rc = esmm__rd_lines(&C.rd.alloc, func, in->name, fd, in->data, in->len, &C.rd.line, csv_line, &C);
  if (fd >= 0)
    close(fd);
  if (rc == ESMM_OK && !C.tokens && !C.header_done)
    rc = esmm__error(ESMM_EFORMAT, func, "%s: no header line", in->name);
  if (rc == ESMM_OK)
    rc = esmm__rd_flush(&C.rd);
  if (rc == ESMM_OK) {
    if (stat_out)
      memcpy(stat_out, C.rd.stat, sizeof C.rd.stat);
    if (!cw)
      esmm__rd_finish_dataset(&C.rd, out);
  }
  esmm__free(&C.rd.alloc, C.col);
  esmm__free(&C.rd.alloc, C.cell);
  esmm__free(&C.rd.alloc, C.cell_len);
  esmm__free(&C.rd.alloc, C.prev_group);
  esmm__rd_release(&C.rd);
  return rc;
}

int esmm_dataset_read_csv(esmm_dataset **out, const esmm_config *cfg, const char *path, const char *spec) {
  esmm_config *tmp = NULL;
  const esmm_config *c = NULL;
  esmm__src s = {path, NULL, 0, path};
  int rc;
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(path);
  ESMM__CHECK_ARG(spec);
  ESMM__TRY(esmm__config_or_default(cfg, &tmp, &c));
  rc = esmm__read_csv(out, c, __func__, &s, spec, NULL, NULL);
  esmm_config_free(tmp);
  return rc;
}

int esmm_dataset_read_csv_buffer(esmm_dataset **out, const esmm_config *cfg, const void *data, size_t len,
                                 const char *name, const char *spec) {
  esmm_config *tmp = NULL;
  const esmm_config *c = NULL;
  esmm__src s = {NULL, len ? data : "", len, name ? name : "<buffer>"};
  int rc;
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(data || len == 0);
  ESMM__CHECK_ARG(spec);
  ESMM__TRY(esmm__config_or_default(cfg, &tmp, &c));
  rc = esmm__read_csv(out, c, __func__, &s, spec, NULL, NULL);
  esmm_config_free(tmp);
  return rc;
}
