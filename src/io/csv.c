/* io/csv.c - CSV files with a column spec, and PaddleRec token lines
 * (spec "tokens"). Spec grammar and policies in esmm/io.h, docs/data.md.
 *
 * The spec is resolved once, against the header line or the names of its
 * columns= clause, into one role per column. Records are cut into cells on
 * the separator (sep=, ',' by default) with RFC 4180 quoting: a cell may be
 * quoted ("a,b"), a quote inside a quoted cell is doubled (""), and a quoted
 * cell may hold line breaks, so a record may span lines (it is numbered by
 * its first line). Lines without a quote take a fast path (memchr on the
 * separator, no copy). Categorical cells are turned into ids by the pinned
 * rule of esmm/hash.h, so string ids work and never change meaning.
 *
 * Over 700 lines on purpose: one format, whose spec clauses, quoting rules
 * and row parsing explain each other; split, the meaning of a clause would
 * live in two files.
 *
 * Why one file of this length: one format: the spec resolver, the RFC 4180 cell cutter and the
 * PaddleRec token lines share the column roles and the record loop.
 */
#include "hash.h"
#include "numparse.h"
#include "reader.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { R_NONE, R_CLICK, R_CONV, R_CAT, R_NUM, R_GROUP, R_USER, R_SKIP, R_IGNORED_CAT, R_ID };
enum { K_CLICK, K_CONV, K_CAT, K_NUM, K_GROUP, K_USER, K_SKIP, K_ID, K_COLUMNS, K_SEP, K_COUNT };
#define K_ROLES K_COLUMNS /* clauses before this one give columns a role */
static const char *const key_names[K_COUNT] = {"click", "conversion", "cat", "num", "group",
                                               "user",  "skip",       "id",  "columns", "sep"};
static const int key_role[K_ROLES] = {R_CLICK, R_CONV, R_CAT, R_NUM, R_GROUP, R_USER, R_SKIP, R_ID};

typedef struct colrole {
  int role;
  int field;    /* R_CAT / R_USER: field index */
  size_t dense; /* R_NUM: dense index */
} colrole;

/* What the spec says beyond the roles. */
typedef struct spec_info {
  int has_group, has_id;
  char sep;
  const char *columns; /* the list of columns=, NULL when the file has a header */
  size_t columns_len;
} spec_info;

typedef struct csv {
  esmm__rd rd;
  const char *spec;
  spec_info si;
  int tokens;
  int header_done;
  size_t ncols;
  colrole *col;
  const char **cell; /* per record: each cell's bytes (unquoted), length, 1-based byte column */
  size_t *cell_len, *cell_col, ccap;
  char *unq; /* unquoted cells of a record with quotes */
  size_t unq_cap;
  char *pend; /* a record whose quoted cell runs on to the next line */
  size_t pend_len, pend_cap, pend_line;
  int pending;
  char *prev_group; /* key of the current group */
  size_t prev_len, prev_cap;
  int64_t group_idx; /* common list of the current group, -1 none */
} csv;

/* ----------------------------------------------------------- spec */

/* Does pattern pat[0..pn) name column s[0..n)? *prefix: the pattern ends in '*'. */
static int pat_match(const char *pat, size_t pn, const char *s, size_t n, int *prefix) {
  *prefix = pn > 0 && pat[pn - 1] == '*';
  if (*prefix)
    return n >= pn - 1 && memcmp(pat, s, pn - 1) == 0;
  return pn == n && memcmp(pat, s, n) == 0;
}

/* The separator a sep= value names: a name, "\t", or one byte that cannot
 * be confused with the spec's own syntax or with quoting. 0 when invalid. */
static char sep_of(const char *v, size_t n) {
  static const struct {
    const char *name;
    char c;
  } names[] = {{"comma", ','}, {"tab", '\t'}, {"\\t", '\t'}, {"semicolon", ';'}, {"pipe", '|'}, {"space", ' '}};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (strlen(names[i].name) == n && memcmp(names[i].name, v, n) == 0)
      return names[i].c;
  if (n == 1 && v[0] != '"' && v[0] != '=' && v[0] != '\r' && v[0] != '\n' && v[0] != '*' &&
      (unsigned char)v[0] >= 0x09 && (unsigned char)v[0] != 0x7f)
    return v[0];
  return 0;
}

/* Key index of clause key p[0..n), K_COUNT when unknown. */
static int clause_key(const char *p, size_t n) {
  int k;
  for (k = 0; k < K_COUNT; k++)
    if (strlen(key_names[k]) == n && memcmp(key_names[k], p, n) == 0)
      break;
  return k;
}

/* Syntax check of the spec (before any data): ESMM_EINVAL with the clause. */
static int spec_parse(const char *func, const char *spec, spec_info *si) {
  const char *p = spec;
  int seen[K_COUNT] = {0};
  memset(si, 0, sizeof *si);
  si->sep = ',';
  while (*p) {
    const char *end = strchr(p, ';'), *eq, *v;
    size_t n = end ? (size_t)(end - p) : strlen(p), vn;
    int k;
    if (n == 0) {
      p += end ? 1 : 0;
      continue;
    }
    eq = memchr(p, '=', n);
    if (!eq)
      return esmm__error(ESMM_EINVAL, func, "column spec: clause \"%.*s\" has no '='", (int)n, p);
    k = clause_key(p, (size_t)(eq - p));
    if (k == K_COUNT)
      return esmm__error(ESMM_EINVAL, func,
                         "column spec: unknown key \"%.*s\" (click, conversion, cat, num, group, user, skip, id, "
                         "columns, sep)",
                         (int)(eq - p), p);
    v = eq + 1;
    vn = (size_t)(p + n - v);
    if (vn == 0)
      return esmm__error(ESMM_EINVAL, func, "column spec: clause \"%.*s\" names no column", (int)n, p);
    if ((k == K_CLICK || k == K_CONV || k == K_GROUP || k == K_ID) && memchr(v, ',', vn))
      return esmm__error(ESMM_EINVAL, func, "column spec: \"%s\" takes exactly one column", key_names[k]);
    if (seen[k] && k != K_CAT && k != K_NUM && k != K_USER && k != K_SKIP)
      return esmm__error(ESMM_EINVAL, func, "column spec: \"%s\" appears twice", key_names[k]);
    seen[k] = 1;
    if (k == K_SEP && !(si->sep = sep_of(v, vn)))
      return esmm__error(ESMM_EINVAL, func,
                         "column spec: sep=%.*s is not a separator (comma, tab, semicolon, pipe, space, or one "
                         "character other than '\"', '=', '*')",
                         (int)vn, v);
    if (k == K_COLUMNS) {
      const char *it = v;
      si->columns = v;
      si->columns_len = vn;
      while (it <= v + vn) { /* every item non-empty, no pattern, no repeat */
        const char *ie = memchr(it, ',', (size_t)(v + vn - it));
        size_t in = ie ? (size_t)(ie - it) : (size_t)(v + vn - it);
        if (in == 0 || memchr(it, '*', in))
          return esmm__error(ESMM_EINVAL, func, "column spec: columns= needs plain names, got \"%.*s\"", (int)in, it);
        for (const char *o = v; o < it;) {
          const char *oe = memchr(o, ',', (size_t)(it - o));
          size_t on = (size_t)(oe - o);
          if (on == in && memcmp(o, it, in) == 0)
            return esmm__error(ESMM_EINVAL, func, "column spec: columns= names \"%.*s\" twice", (int)in, it);
          o = oe + 1;
        }
        it += in + 1;
      }
    }
    p += n + (end ? 1 : 0);
  }
  if (!seen[K_CLICK] || !seen[K_CONV])
    return esmm__error(ESMM_EINVAL, func, "column spec: \"click=\" and \"conversion=\" are required");
  if (seen[K_GROUP] != seen[K_USER])
    return esmm__error(ESMM_EINVAL, func, "column spec: \"group=\" and \"user=\" go together");
  si->has_group = seen[K_GROUP];
  si->has_id = seen[K_ID];
  return ESMM_OK;
}

int esmm__csv_spec_check(const char *func, const char *spec) {
  spec_info si;
  if (strcmp(spec, "tokens") == 0)
    return ESMM_OK;
  return spec_parse(func, spec, &si);
}

/* ----------------------------------------------------------- records */

/* Room for n cells and an n-byte record's unquoted text. */
static int room(csv *C, size_t cells, size_t bytes) {
  const esmm__allocator *a = &C->rd.alloc;
  if (cells > C->ccap) {
    size_t nc = C->ccap ? C->ccap : 16;
    while (nc < cells)
      nc *= 2;
    esmm__free(a, C->cell), esmm__free(a, C->cell_len), esmm__free(a, C->cell_col);
    C->cell = esmm__calloc(a, nc, sizeof *C->cell);
    C->cell_len = esmm__calloc(a, nc, sizeof *C->cell_len);
    C->cell_col = esmm__calloc(a, nc, sizeof *C->cell_col);
    C->ccap = C->cell && C->cell_len && C->cell_col ? nc : 0;
    if (!C->ccap)
      return esmm__error(ESMM_ENOMEM, C->rd.func, "out of memory");
  }
  if (bytes > C->unq_cap) {
    size_t nc = C->unq_cap ? C->unq_cap : 256;
    while (nc < bytes)
      nc *= 2;
    esmm__free(a, C->unq);
    if (!(C->unq = esmm__alloc(a, nc))) {
      C->unq_cap = 0;
      return esmm__error(ESMM_ENOMEM, C->rd.func, "out of memory");
    }
    C->unq_cap = nc;
  }
  return ESMM_OK;
}

/* Cut record p[0..len) into cells (the first cap are stored) and return
 * their number; 0 with *why and *bad_col set for bad quoting. A quoted cell
 * is unquoted into C->unq (which must hold len bytes). */
static size_t cells(csv *C, const char *p, size_t len, size_t cap, const char **why, size_t *bad_col) {
  const char sep = C->si.sep;
  size_t i = 0, n = 0, u = 0;
  if (!memchr(p, '"', len)) { /* fast path: no quoting */
    for (;;) {
      const char *c = memchr(p + i, sep, len - i);
      size_t e = c ? (size_t)(c - p) : len;
      if (n < cap)
        C->cell[n] = p + i, C->cell_len[n] = e - i, C->cell_col[n] = i + 1;
      n++;
      if (!c)
        return n;
      i = e + 1;
    }
  }
  for (;;) {
    size_t start = i, b;
    const char *cs;
    size_t cl;
    if (i < len && p[i] == '"') {
      b = u;
      for (i++;; i++) {
        if (i >= len) {
          *why = "unterminated quote (the quoted cell runs to the end of the input)";
          *bad_col = start + 1;
          return 0;
        }
        if (p[i] == '"') {
          if (i + 1 < len && p[i + 1] == '"') {
            C->unq[u++] = '"';
            i++;
            continue;
          }
          i++;
          break;
        }
        C->unq[u++] = p[i];
      }
      if (i < len && p[i] != sep) {
        *why = "text after a closing quote";
        *bad_col = i + 1;
        return 0;
      }
      cs = C->unq + b;
      cl = u - b;
    } else { /* unquoted: a quote inside it is an ordinary byte */
      const char *c = memchr(p + i, sep, len - i);
      size_t e = c ? (size_t)(c - p) : len;
      cs = p + i;
      cl = e - i;
      i = e;
    }
    if (n < cap)
      C->cell[n] = cs, C->cell_len[n] = cl, C->cell_col[n] = start + 1;
    n++;
    if (i >= len)
      return n;
    i++; /* the separator; a trailing one ends an empty last cell */
  }
}

/* 1 when line p[0..len) ends inside a quoted cell (in: it starts inside one). */
static int ends_in_quotes(const char *p, size_t len, char sep, int in) {
  enum { START, UNQ, QUOTED, QQ, AFTER } s = in ? QUOTED : START;
  for (size_t i = 0; i < len; i++) {
    char c = p[i];
    switch (s) {
    case START: s = c == '"' ? QUOTED : c == sep ? START : UNQ; break;
    case UNQ:
    case AFTER: s = c == sep ? START : s; break;
    case QUOTED: {
      const char *q = memchr(p + i, '"', len - i);
      if (!q)
        return 1;
      i = (size_t)(q - p);
      s = QQ;
      break;
    }
    case QQ: s = c == '"' ? QUOTED : c == sep ? START : AFTER; break;
    }
  }
  return s == QUOTED;
}

/* Assign roles to the columns named C->cell[0..n) (the header, or the
 * columns= list: from_spec). Pass 1: exact names; pass 2: prefixes "x*";
 * pass 3: "*". Dense indices follow the spec order. */
/* Where a spec problem shows: the header line, or the spec itself (columns=). */
static const char *where(const csv *C, char loc[ESMM__SOURCE_BYTES + 32], int from_spec) {
  if (from_spec)
    return "column spec";
  snprintf(loc, ESMM__SOURCE_BYTES + 32, "%s:%zu", C->rd.name, C->rd.at);
  return loc;
}

static int resolve(csv *C, size_t n, int from_spec) {
  esmm__rd *rd = &C->rd;
  char q[4 * ESMM__RD_QUOTE + 4], loc[ESMM__SOURCE_BYTES + 32];
  size_t nd = 0;
  C->ncols = n;
  C->col = esmm__calloc(&rd->alloc, n, sizeof *C->col);
  if (!C->col)
    return esmm__error(ESMM_ENOMEM, rd->func, "out of memory");
  for (int pass = 0; pass < 3; pass++) {
    const char *s = C->spec;
    while (*s) {
      const char *end = strchr(s, ';'), *eq = NULL, *it;
      size_t cn = end ? (size_t)(end - s) : strlen(s);
      int k = K_COUNT;
      if (cn)
        eq = memchr(s, '=', cn);
      if (eq)
        k = clause_key(s, (size_t)(eq - s));
      if (k < K_ROLES) {
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
              return from_spec ? esmm__error(ESMM_EINVAL, rd->func, "column spec: column \"%s\" is named by two "
                                             "clauses", esmm__rd_quote(q, C->cell[c], C->cell_len[c]))
                               : esmm__error(ESMM_EFORMAT, rd->func, "%s:%zu: column \"%s\" is named by two spec "
                                             "clauses", rd->name, rd->at,
                                             esmm__rd_quote(q, C->cell[c], C->cell_len[c]));
            found = 1;
            if (C->col[c].role != R_NONE)
              continue; /* a more specific clause claimed it */
            C->col[c].role = key_role[k];
            if (k == K_NUM)
              C->col[c].dense = nd++;
            if (k == K_CAT || k == K_USER) {
              int f = esmm__rd_field(rd, C->cell[c], C->cell_len[c]);
              if (f < 0 && !rd->unknown_ignore)
                return esmm__error(from_spec ? ESMM_EINVAL : ESMM_EFORMAT, rd->func,
                                   "%s: categorical column \"%s\" is not in the field list "
                                   "(set the fields, or unknown_field=ignore)",
                                   where(C, loc, from_spec), esmm__rd_quote(q, C->cell[c], C->cell_len[c]));
              C->col[c].field = f;
              if (f < 0)
                C->col[c].role = R_IGNORED_CAT;
            }
          }
          if (pass == 0 && !star && !(in && it[in - 1] == '*') && !found) {
            if (from_spec)
              return esmm__error(ESMM_EINVAL, rd->func, "column spec: \"%.*s\" is not in columns=", (int)in, it);
            /* a number where a name should be: the first line is data */
            double v;
            if (n && esmm__rd_parse_value(C->cell[0], C->cell_len[0], &v) == 0)
              return esmm__error(ESMM_EFORMAT, rd->func,
                                 "%s:%zu: the spec names column \"%.*s\", which the header lacks; the first line "
                                 "looks like data (\"%s\"): for a file without a header line, name the columns "
                                 "in order with columns=NAME,...",
                                 rd->name, rd->at, (int)in, it, esmm__rd_quote(q, C->cell[0], C->cell_len[0]));
            return esmm__error(ESMM_EFORMAT, rd->func, "%s:%zu: the spec names column \"%.*s\", which the header lacks",
                               rd->name, rd->at, (int)in, it);
          }
          it += in + 1;
        }
      }
      s += cn + (end ? 1 : 0);
    }
  }
  for (size_t c = 0; c < n; c++)
    if (C->col[c].role == R_NONE)
      return from_spec ? esmm__error(ESMM_EINVAL, rd->func, "column spec: column \"%s\" of columns= is not named by "
                                     "a clause (add it to one, e.g. skip=...)",
                                     esmm__rd_quote(q, C->cell[c], C->cell_len[c]))
                       : esmm__error(ESMM_EFORMAT, rd->func, "%s:%zu:%zu: column \"%s\" is not named by the spec "
                                     "(add it to a clause, e.g. skip=...)", rd->name, rd->at, C->cell_col[c],
                                     esmm__rd_quote(q, C->cell[c], C->cell_len[c]));
  if (nd != rd->n_dense)
    return esmm__error(from_spec ? ESMM_EINVAL : ESMM_EFORMAT, rd->func,
                       "%s: the spec selects %zu numeric columns but ESMM_OPT_DENSE_FEATURES is %zu",
                       where(C, loc, from_spec), nd, rd->n_dense);
  return ESMM_OK;
}

/* The columns= list as the column names. */
static int resolve_columns(csv *C) {
  const char *v = C->si.columns, *e = v + C->si.columns_len;
  size_t n = 1;
  for (const char *x = v; x < e; x++)
    n += *x == ',';
  ESMM__TRY(room(C, n, 0));
  n = 0;
  for (const char *it = v; it <= e;) {
    const char *ie = memchr(it, ',', (size_t)(e - it));
    size_t in = ie ? (size_t)(ie - it) : (size_t)(e - it);
    C->cell[n] = it, C->cell_len[n] = in, C->cell_col[n] = 0;
    n++;
    it += in + 1;
  }
  return resolve(C, n, 1);
}

/* ----------------------------------------------------------- rows */

/* A 0/1 label written as an integer or a float ("1", "1.0"). */
static int csv_label(esmm__rd *rd, const char *t, size_t n, size_t col, const char *what, int *out) {
  char q[4 * ESMM__RD_QUOTE + 4];
  double v;
  if (esmm__rd_parse_value(t, n, &v) == 0 && (v == 0.0 || v == 1.0)) {
    *out = v == 1.0;
    return ESMM_OK;
  }
  return esmm__rd_bad(rd, ESMM__RS_LABEL, col, "%s must be 0 or 1, got \"%s\"", what, esmm__rd_quote(q, t, n));
}

static const char *sep_name(char sep) {
  return sep == ',' ? "comma" : sep == '\t' ? "tab" : sep == ';' ? "semicolon" : "separator";
}

static int csv_row(csv *C, const char *p, size_t len) {
  esmm__rd *rd = &C->rd;
  char q[4 * ESMM__RD_QUOTE + 4];
  const char *why = NULL;
  size_t bad_col = 0, n;
  int click = 0, conv = 0, rc;
  const char *gk = NULL;
  size_t gn = 0;
  int64_t cidx = -1;
  n = cells(C, p, len, C->ncols, &why, &bad_col);
  if (n == 0)
    return esmm__rd_bad(rd, ESMM__RS_MALFORMED, bad_col, "%s", why);
  if (n != C->ncols)
    return esmm__rd_bad(rd, ESMM__RS_MALFORMED, 0, "expected %zu %s-separated columns%s, found %zu", C->ncols,
                        sep_name(C->si.sep), C->si.columns ? " (columns=)" : "", n);
  rd->cnnz = 0;
  for (size_t c = 0; c < n; c++) {
    const char *t = C->cell[c];
    size_t tn = C->cell_len[c], col = C->cell_col[c];
    switch (C->col[c].role) {
    case R_CLICK:
      if ((rc = csv_label(rd, t, tn, col, "click", &click)) != 0)
        return rc;
      break;
    case R_CONV:
      if ((rc = csv_label(rd, t, tn, col, "conversion", &conv)) != 0)
        return rc;
      break;
    case R_CAT:
    case R_USER:
      if (tn)
        ESMM__TRY(esmm__rd_feature(rd, C->col[c].role == R_USER, C->col[c].field, esmm__category_id(t, tn), 1.0f));
      break;
    case R_IGNORED_CAT:
      if (tn)
        rd->rep.stat[ESMM__RS_IGNORED]++;
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
    case R_ID: ESMM__TRY(esmm__rd_key(rd, t, tn)); break;
    default: break;
    }
  }
  rc = esmm__rd_labels(rd, click, &conv);
  if (rc <= 0) {
    rd->cnnz = 0;
    return rc;
  }
  if (C->si.has_group) {
    if (C->group_idx < 0 || gn != C->prev_len || (gn && memcmp(gk, C->prev_group, gn) != 0)) {
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
  if ((rc = csv_label(rd, c1 + 1, (size_t)(c2 - c1 - 1), (size_t)(c1 - p) + 2, "click", &click)) != 0)
    return rc;
  if ((rc = csv_label(rd, c2 + 1, (size_t)(c3 - c2 - 1), (size_t)(c2 - p) + 2, "conversion", &conv)) != 0)
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
      rd->rep.stat[ESMM__RS_IGNORED]++;
    else
      ESMM__TRY(esmm__rd_feature(rd, 0, f, esmm__category_id(k1 + 1, (size_t)(k2 - k1 - 1)), (float)v));
    t = te + 1;
  }
  rc = esmm__rd_labels(rd, click, &conv);
  if (rc <= 0)
    return rc;
  return esmm__rd_row(rd, click, conv, -1);
}

/* A complete record (a line, or lines joined by a quoted line break). */
static int take_record(csv *C, const char *p, size_t len) {
  esmm__rd *rd = &C->rd;
  const char *nul = memchr(p, '\0', len);
  if (!C->tokens && !C->header_done) {
    const char *why = NULL;
    size_t bad_col = 0, n;
    if (nul)
      return esmm__error(ESMM_EFORMAT, rd->func, "%s:%zu:%zu: NUL byte in the header", rd->name, rd->at,
                         (size_t)(nul - p) + 1);
    C->header_done = 1;
    ESMM__TRY(room(C, 0, len));
    n = cells(C, p, len, 0, &why, &bad_col);
    if (n == 0)
      return esmm__error(ESMM_EFORMAT, rd->func, "%s:%zu:%zu: header: %s", rd->name, rd->at, bad_col, why);
    ESMM__TRY(room(C, n, len));
    cells(C, p, len, n, &why, &bad_col);
    return resolve(C, n, 0);
  }
  rd->rep.stat[ESMM__RS_LINES]++;
  if (nul)
    return esmm__rd_bad(rd, ESMM__RS_MALFORMED, (size_t)(nul - p) + 1, "NUL byte");
  if (C->tokens)
    return token_row(C, p, len);
  ESMM__TRY(room(C, 0, len));
  return csv_row(C, p, len);
}

/* Append "\n" + p[0..len) to the pending record. */
static int pend_add(csv *C, const char *p, size_t len, int newline) {
  size_t need = C->pend_len + (size_t)newline + len;
  if (need > ESMM__RD_MAX_LINE)
    return esmm__error(ESMM_EFORMAT, C->rd.func, "%s:%zu: record longer than %zu bytes (an unterminated quote?)",
                       C->rd.name, C->pend_line, ESMM__RD_MAX_LINE);
  if (need > C->pend_cap) {
    size_t nc = C->pend_cap ? C->pend_cap : 4096;
    char *b;
    while (nc < need)
      nc *= 2;
    if (!(b = esmm__alloc(&C->rd.alloc, nc)))
      return esmm__error(ESMM_ENOMEM, C->rd.func, "out of memory");
    if (C->pend_len)
      memcpy(b, C->pend, C->pend_len);
    esmm__free(&C->rd.alloc, C->pend);
    C->pend = b;
    C->pend_cap = nc;
  }
  if (newline)
    C->pend[C->pend_len++] = '\n';
  memcpy(C->pend + C->pend_len, p, len);
  C->pend_len += len;
  return ESMM_OK;
}

static int csv_line(void *ctx, const char *p, size_t len, uint64_t off) {
  csv *C = ctx;
  (void)off;
  if (len && p[len - 1] == '\r') /* CRLF; inside a quoted cell the line break reads as "\n" */
    len--;
  if (C->pending) {
    ESMM__TRY(pend_add(C, p, len, 1));
    if (ends_in_quotes(p, len, C->si.sep, 1))
      return ESMM_OK;
    C->pending = 0;
    C->rd.at = C->pend_line;
    return take_record(C, C->pend, C->pend_len);
  }
  if (len == 0)
    return ESMM_OK;
  if (!C->tokens && memchr(p, '"', len) && ends_in_quotes(p, len, C->si.sep, 0)) {
    C->pending = 1;
    C->pend_len = 0;
    C->pend_line = C->rd.line;
    return pend_add(C, p, len, 0);
  }
  return take_record(C, p, len);
}

int esmm__read_csv(const esmm_config *cfg, const char *func, const esmm__src *in, const char *spec,
                   esmm__sink *sink) {
  csv C;
  int rc;
  memset(&C, 0, sizeof C);
  C.tokens = strcmp(spec, "tokens") == 0;
  C.spec = spec;
  C.group_idx = -1;
  C.si.sep = ',';
  if (!C.tokens)
    ESMM__TRY(spec_parse(func, spec, &C.si));
  ESMM__TRY(esmm__rd_init(&C.rd, cfg, func, in->name, sink));
  C.rd.keys = C.si.has_id;
  rc = ESMM_OK;
  if (C.si.columns) {
    C.header_done = 1;
    rc = resolve_columns(&C);
  }
  if (rc == ESMM_OK)
    rc = esmm__rd_lines(&C.rd, in, 0, csv_line, &C);
  if (rc == ESMM_OK && C.pending) { /* the input ends inside a quoted cell */
    C.pending = 0;
    C.rd.at = C.pend_line;
    rc = take_record(&C, C.pend, C.pend_len);
    rc = rc > 0 ? ESMM_OK : rc;
  }
  if (rc == ESMM_OK && !C.tokens && !C.header_done)
    rc = esmm__error(ESMM_EFORMAT, func, "%s: no header line (for a file without one, name the columns with "
                     "columns=NAME,...)", in->name);
  if (rc == ESMM_OK)
    rc = esmm__rd_finish(&C.rd);
  esmm__free(&C.rd.alloc, C.col);
  esmm__free(&C.rd.alloc, C.cell);
  esmm__free(&C.rd.alloc, C.cell_len);
  esmm__free(&C.rd.alloc, C.cell_col);
  esmm__free(&C.rd.alloc, C.unq);
  esmm__free(&C.rd.alloc, C.pend);
  esmm__free(&C.rd.alloc, C.prev_group);
  esmm__rd_release(&C.rd);
  return rc;
}

typedef struct csv_call {
  const esmm__src *in;
  const char *spec;
} csv_call;

static int csv_read(const esmm_config *cfg, const char *func, const void *arg, esmm__sink *sink) {
  const csv_call *a = arg;
  return esmm__read_csv(cfg, func, a->in, a->spec, sink);
}

static int csv_read_into(esmm_dataset **out, const esmm_config *cfg, const char *func, const esmm__src *in,
                         const char *spec) {
  csv_call a = {in, spec};
  return esmm__read_to_dataset(out, cfg, func, csv_read, &a);
}

int esmm_dataset_read_csv(esmm_dataset **out, const esmm_config *cfg, const char *path, const char *spec) {
  esmm__src in = {path, -1, NULL, 0, path};
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(path);
  ESMM__CHECK_ARG(spec);
  return csv_read_into(out, cfg, __func__, &in, spec);
}

int esmm_dataset_read_csv_buffer(esmm_dataset **out, const esmm_config *cfg, const void *data, size_t len,
                                 const char *name, const char *spec) {
  esmm__src in = {NULL, -1, len ? data : "", len, name ? name : "<buffer>"};
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(data || len == 0);
  ESMM__CHECK_ARG(spec);
  return csv_read_into(out, cfg, __func__, &in, spec);
}
