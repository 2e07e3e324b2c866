/* io/aliccp.c - the raw Ali-CCP pair (sample_skeleton + common_features):
 * reader, writer. Format and policies in esmm/io.h and docs/data.md.
 *
 * Join design (bounded memory): the common file is scanned once to build an
 * index key -> (file offset, length, line), about 40 bytes + the key per
 * common row, never its features. The skeleton is then streamed; the first
 * sample that references a key makes the reader fetch that one common line
 * again (pread, or a pointer into the buffer), parse it and store it as a
 * common list; later samples reuse its index. The real files come grouped
 * (a user's samples are consecutive), so each common line is read about
 * twice in total. Memory: the index, plus the stored common lists when the
 * sink is a dataset (they are part of the dataset), plus one batch of rows;
 * with a cache writer as the sink the common lists are spooled to disk too. */
#include "atomic.h"
#include "hash.h"
#include "numparse.h"
#include "reader.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEP_FEAT '\x01'
#define SEP_ID '\x02'
#define SEP_VAL '\x03'

typedef struct centry {
  uint64_t hash, off, kpos;
  uint32_t len, klen;
  size_t line;
  int64_t idx; /* common list index; -1 not parsed yet; -2 malformed */
} centry;

typedef struct ali {
  esmm__rd rd;
  const char *sname, *cname;
  int cfd;
  const char *cdata;
  centry *e;
  size_t n, cap;
  size_t *slot; /* entry + 1, 0 empty */
  size_t mask;
  char *keys;
  size_t klen, kcap;
  char *lbuf; /* one common line fetched with pread */
  size_t lcap;
  size_t last; /* entry + 1 the previous sample referenced (files come grouped), 0 none */
} ali;


/* -------------------------------------------------------------- index */

static centry *ix_find(const ali *A, const char *k, size_t n, uint64_t h) {
  size_t i = (size_t)h & A->mask;
  if (!A->slot)
    return NULL;
  while (A->slot[i]) {
    centry *e = &A->e[A->slot[i] - 1];
    if (e->hash == h && e->klen == n && memcmp(A->keys + e->kpos, k, n) == 0)
      return e;
    i = (i + 1) & A->mask;
  }
  return NULL;
}

static int ix_add(ali *A, const char *k, size_t n, uint64_t h, uint64_t off, size_t len, size_t line) {
  const esmm__allocator *a = &A->rd.alloc;
  if (A->n == A->cap) {
    size_t nc = A->cap ? 2 * A->cap : 1024;
    centry *ne = esmm__alloc(a, nc * sizeof *ne);
    if (!ne)
      return ESMM_ENOMEM;
    if (A->n)
      memcpy(ne, A->e, A->n * sizeof *ne);
    esmm__free(a, A->e);
    A->e = ne;
    A->cap = nc;
  }
  if (A->klen + n > A->kcap) {
    size_t nc = A->kcap ? 2 * A->kcap : 65536;
    char *nk;
    while (nc < A->klen + n)
      nc *= 2;
    if (!(nk = esmm__alloc(a, nc)))
      return ESMM_ENOMEM;
    if (A->klen)
      memcpy(nk, A->keys, A->klen);
    esmm__free(a, A->keys);
    A->keys = nk;
    A->kcap = nc;
  }
  if (2 * (A->n + 1) > A->mask + 1 || !A->slot) { /* keep the load under 1/2 */
    size_t size = A->slot ? 2 * (A->mask + 1) : 2048;
    size_t *ns = esmm__calloc(a, size, sizeof *ns);
    if (!ns)
      return ESMM_ENOMEM;
    for (size_t j = 0; j < A->n; j++) {
      size_t i = (size_t)A->e[j].hash & (size - 1);
      while (ns[i])
        i = (i + 1) & (size - 1);
      ns[i] = j + 1;
    }
    esmm__free(a, A->slot);
    A->slot = ns;
    A->mask = size - 1;
  }
  memcpy(A->keys + A->klen, k, n);
  A->e[A->n] = (centry){h, off, A->klen, (uint32_t)len, (uint32_t)n, line, -1};
  A->klen += n;
  {
    size_t i = (size_t)h & A->mask;
    while (A->slot[i])
      i = (i + 1) & A->mask;
    A->slot[i] = ++A->n;
  }
  return ESMM_OK;
}

static size_t strip_cr(const char *p, size_t len) { return len && p[len - 1] == '\r' ? len - 1 : len; }

static int com_index_line(void *ctx, const char *p, size_t len, uint64_t off) {
  ali *A = ctx;
  esmm__rd *rd = &A->rd;
  char q[4 * ESMM__RD_QUOTE + 4];
  const char *comma;
  centry *e;
  uint64_t h;
  size_t k;
  len = strip_cr(p, len);
  if (len == 0)
    return ESMM_OK;
  rd->rep.stat[ESMM__RS_COMMON_LINES]++;
  comma = memchr(p, ',', len);
  if (!comma)
    return esmm__rd_bad(rd, ESMM__RS_COMMON_SKIPPED, 0, "expected 3 comma-separated columns, found 1");
  k = (size_t)(comma - p);
  if (k == 0)
    return esmm__rd_bad(rd, ESMM__RS_COMMON_SKIPPED, 1, "empty common_feature_index");
  if (memchr(p, '\0', k))
    return esmm__rd_bad(rd, ESMM__RS_COMMON_SKIPPED, (size_t)((const char *)memchr(p, '\0', k) - p) + 1,
                        "NUL byte");
  h = esmm__hash_bytes(p, k);
  if ((e = ix_find(A, p, k, h)) != NULL)
    return esmm__rd_bad(rd, ESMM__RS_COMMON_SKIPPED, 1, "duplicate common_feature_index \"%s\" (first on line %zu)",
                        esmm__rd_quote(q, p, k), e->line);
  if (ix_add(A, p, k, h, off, len, rd->at) < 0)
    return esmm__error(ESMM_ENOMEM, rd->func, "out of memory");
  return ESMM_OK;
}

/* ------------------------------------------------------- feature lists */

/* One feature t[0..rest) the careful way (every check, every message); the
 * reference for feature_fast. *next = the byte after its 0x01, or NULL when
 * it is the last one. Returns ESMM_OK, or what esmm__rd_bad / ENOMEM gave. */
static int feature_slow(esmm__rd *rd, int common, int reason, const char *t, size_t rest, size_t col,
                        uint64_t *count, const char **next) {
  char q[4 * ESMM__RD_QUOTE + 4];
  const char *end = memchr(t, SEP_FEAT, rest), *x2, *x3;
  size_t n = end ? (size_t)(end - t) : rest;
  uint64_t id;
  double v = 1.0;
  int f, rc;
  if (n == 0)
    return esmm__rd_bad(rd, reason, col, "empty feature");
  x2 = memchr(t, SEP_ID, n);
  if (!x2)
    return esmm__rd_bad(rd, reason, col, "feature \"%s\" has no 0x02 separator", esmm__rd_quote(q, t, n));
  x3 = memchr(x2 + 1, SEP_VAL, (size_t)(t + n - x2 - 1));
  if (!x3 && !rd->values_ignore)
    return esmm__rd_bad(rd, reason, col, "feature \"%s\" has no 0x03 separator", esmm__rd_quote(q, t, n));
  if (!x3)
    x3 = t + n;
  f = esmm__rd_field(rd, t, (size_t)(x2 - t));
  if (f < 0 && !rd->unknown_ignore)
    return esmm__rd_bad(rd, reason, col, "unknown field \"%s\"", esmm__rd_quote(q, t, (size_t)(x2 - t)));
  rc = esmm__parse_u64(x2 + 1, (size_t)(x3 - x2 - 1), &id);
  if (rc == -2)
    return esmm__rd_bad(rd, reason, col + (size_t)(x2 + 1 - t), "id \"%s\" overflows 64 bits",
                        esmm__rd_quote(q, x2 + 1, (size_t)(x3 - x2 - 1)));
  if (rc < 0)
    return esmm__rd_bad(rd, reason, col + (size_t)(x2 + 1 - t), "id \"%s\" is not an unsigned integer",
                        esmm__rd_quote(q, x2 + 1, (size_t)(x3 - x2 - 1)));
  if (!rd->values_ignore) {
    size_t vn = (size_t)(t + n - x3 - 1);
    if (esmm__rd_parse_value(x3 + 1, vn, &v) < 0)
      return esmm__rd_bad(rd, reason, col + (size_t)(x3 + 1 - t), "value \"%s\" is not a number",
                          esmm__rd_quote(q, x3 + 1, vn));
    if (!isfinite((float)v)) /* also refuses finite doubles beyond the float range */
      return esmm__rd_bad(rd, reason, col + (size_t)(x3 + 1 - t), "value \"%s\" is not a finite float",
                          esmm__rd_quote(q, x3 + 1, vn));
  }
  (*count)++;
  if (f < 0)
    rd->rep.stat[ESMM__RS_IGNORED]++;
  else
    ESMM__TRY(esmm__rd_feature(rd, common, f, id, (float)v));
  *next = end ? end + 1 : NULL;
  return ESMM_OK;
}

/* name (NUL-terminated) == s[0..n)? Field names are short: a plain loop
 * beats a call to memcmp. */
static int name_is(const char *name, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (name[i] != s[i])
      return 0;
  return name[n] == '\0';
}

/* Field index of the name s[0..n) whose FNV-1a hash is h (esmm__rd_field
 * without hashing again); -1 when unknown. */
static int field_hashed(const esmm__rd *rd, const char *s, size_t n, uint64_t h) {
  size_t i = (size_t)h & rd->mask;
  if (n > ESMM_MAX_FIELD_NAME)
    return -1;
  while (rd->slot[i]) {
    const char *name = rd->names[rd->slot[i] - 1];
    if (name_is(name, s, n))
      return rd->slot[i] - 1;
    i = (i + 1) & rd->mask;
  }
  return -1;
}

/* Parse feature_list p[0..len) (col0 = 1-based byte column of p[0]) into the
 * row (common == 0) or the common scratch; *count = number of features.
 * reason: the skip counter for errors. Returns >= 0 to go on (1 = the line
 * was skipped), < 0 to stop.
 *
 * One scan per feature: field name (hashed on the way, the last field's
 * name compared first), id digits and value, straight into the batch. The
 * fast path takes only what it can decide exactly like feature_slow: a known
 * field, an id of 1..20 digits below 2^64, and (values read) a plain decimal
 * of at most 15 digits and 22 decimals, which esmm__rd_parse_value would
 * also compute as mantissa / 10^k. Anything else (errors, unknown fields,
 * exponents, long numbers, values ignored) goes to feature_slow for that
 * feature, so results, counts and messages are those of feature_slow. */
static int parse_list(esmm__rd *rd, int common, int reason, const char *p, size_t len, size_t col0,
                      uint64_t *count) {
  static const double p10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  const char *e = p + len, *t = p;
  int lastf = -1;
  size_t lastn = 0;
  *count = 0;
  if (len == 0)
    return ESMM_OK;
  for (;;) {
    const char *s = t, *name;
    uint64_t h = ESMM__FNV_OFFSET, id = 0, m = 0;
    size_t nn, digits = 0, frac = 0;
    int f, neg = 0, dot = 0;
    float fv = 1.0f;
    /* field name up to 0x02; hashed (FNV-1a, as esmm__hash_bytes) on the way */
    while (s < e && *s != SEP_ID && *s != SEP_FEAT) {
      h = (h ^ (unsigned char)*s) * ESMM__FNV_PRIME;
      s++;
    }
    if (s == e || *s != SEP_ID || s == t)
      goto slow;
    nn = (size_t)(s - t);
    name = t;
    if (lastf >= 0 && nn == lastn && name_is(rd->names[lastf], name, nn)) {
      f = lastf;
    } else {
      f = field_hashed(rd, name, nn, h);
      if (f < 0)
        goto slow;
      lastf = f;
      lastn = nn;
    }
    /* id: 1..20 digits; the 20th only when no overflow (else slow: message) */
    s++;
    while (s < e && (unsigned)(*s - '0') <= 9 && digits < 19) {
      id = id * 10 + (uint64_t)(*s - '0');
      s++, digits++;
    }
    if (s < e && (unsigned)(*s - '0') <= 9) {
      unsigned d = (unsigned)(*s - '0');
      if (id > (UINT64_MAX - d) / 10)
        goto slow;
      id = id * 10 + d;
      s++, digits++;
    }
    if (digits == 0 || s == e)
      goto slow;
    if (*s != SEP_VAL && *s != SEP_FEAT)
      goto slow;
    if (rd->values_ignore) {
      /* id ends at the first 0x03 (if any) before 0x01; the value is not read */
      if (*s == SEP_VAL) {
        const char *x = memchr(s, SEP_FEAT, (size_t)(e - s));
        s = x ? x : e;
      }
    } else {
      if (*s != SEP_VAL)
        goto slow;
      /* value: [+-]digits[.digits] ending at 0x01 or the end of the list */
      s++;
      if (s < e && (*s == '-' || *s == '+'))
        neg = *s == '-', s++;
      if (s < e && *s == '1' && (s + 1 == e || s[1] == SEP_FEAT)) {
        s++; /* "1", the most common value */
        fv = neg ? -1.0f : 1.0f;
      } else {
        size_t vd = 0;
        double v;
        for (; s < e; s++) {
          char c = *s;
          if ((unsigned)(c - '0') <= 9) {
            m = m * 10 + (uint64_t)(c - '0');
            vd++;
            frac += (size_t)dot;
          } else if (c == '.' && !dot) {
            dot = 1;
          } else {
            break;
          }
        }
        if (vd == 0 || vd > 15 || frac > 22)
          goto slow;
        v = (double)m / p10[frac]; /* exact operands, one rounding: as esmm__rd_parse_value */
        fv = (float)(neg ? -v : v);
      }
    }
    if (s < e && *s != SEP_FEAT)
      goto slow;
    (*count)++;
    {
      size_t k;
      if (common) {
        if (rd->cnnz == rd->ccap) {
          ESMM__TRY(esmm__rd_feature(rd, 1, f, id, fv));
        } else {
          k = rd->cnnz++;
          rd->cfield[k] = f, rd->cid[k] = id, rd->cvalue[k] = fv;
        }
      } else if (rd->nnz == rd->cap) {
        ESMM__TRY(esmm__rd_feature(rd, 0, f, id, fv));
      } else {
        k = rd->nnz++;
        rd->field[k] = f, rd->id[k] = id, rd->value[k] = fv;
      }
    }
    if (s == e)
      return ESMM_OK;
    t = s + 1;
    continue;
  slow: {
    const char *next = NULL;
    int rc = feature_slow(rd, common, reason, t, (size_t)(e - t), col0 + (size_t)(t - p), count, &next);
    if (rc != ESMM_OK)
      return rc;
    if (!next)
      return ESMM_OK;
    t = next;
  }
  }
}

/* Parse "feature_num,feature_list" at p[0..len) (col0 its column). */
static int parse_counted(esmm__rd *rd, int common, int reason, const char *p, size_t len, size_t col0) {
  char q[4 * ESMM__RD_QUOTE + 4];
  const char *comma = memchr(p, ',', len);
  uint64_t fnum, got;
  int rc;
  if (!comma)
    return esmm__rd_bad(rd, reason, 0, "missing ',' after feature_num");
  if (esmm__parse_u64(p, (size_t)(comma - p), &fnum) < 0)
    return esmm__rd_bad(rd, reason, col0, "feature_num \"%s\" is not an unsigned integer",
                        esmm__rd_quote(q, p, (size_t)(comma - p)));
  rc = parse_list(rd, common, reason, comma + 1, len - (size_t)(comma + 1 - p), col0 + (size_t)(comma + 1 - p), &got);
  if (rc != ESMM_OK)
    return rc;
  if (got != fnum)
    return esmm__rd_bad(rd, reason, col0, "feature_num is %llu but the list has %llu features",
                        (unsigned long long)fnum, (unsigned long long)got);
  return ESMM_OK;
}

/* Parse common row e now (first reference). Sets e->idx to the stored index
 * or -2 (malformed, skip policy). */
static int load_common(ali *A, centry *e) {
  esmm__rd *rd = &A->rd;
  const char *p, *saved_name = rd->name;
  size_t saved_at = rd->at, k;
  int rc;
  if (A->cfd >= 0) {
    size_t done = 0;
    if (e->len > A->lcap) {
      size_t nc = A->lcap ? A->lcap : 65536;
      while (nc < e->len)
        nc *= 2;
      esmm__free(&rd->alloc, A->lbuf);
      if (!(A->lbuf = esmm__alloc(&rd->alloc, nc))) {
        A->lcap = 0;
        return esmm__error(ESMM_ENOMEM, rd->func, "out of memory");
      }
      A->lcap = nc;
    }
    while (done < e->len) {
      ssize_t got = pread(A->cfd, A->lbuf + done, e->len - done, (off_t)(e->off + done));
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0)
        return esmm__rd_io_error(rd->func, "cannot read", A->cname, got < 0 ? errno : EIO);
      done += (size_t)got;
    }
    p = A->lbuf;
  } else {
    p = A->cdata + e->off;
  }
  rd->name = A->cname;
  rd->at = e->line;
  rd->com_pos += e->len + 1;
  rd->cnnz = 0;
  k = e->klen;
  if (memchr(p, '\0', e->len))
    rc = esmm__rd_bad(rd, ESMM__RS_COMMON_SKIPPED, (size_t)((const char *)memchr(p, '\0', e->len) - p) + 1,
                      "NUL byte");
  else
    rc = parse_counted(rd, 1, ESMM__RS_COMMON_SKIPPED, p + k + 1, e->len - k - 1, k + 2);
  if (rc == ESMM_OK)
    rc = esmm__rd_common(rd, &e->idx);
  else if (rc > 0)
    e->idx = -2;
  rd->cnnz = 0;
  rd->name = saved_name;
  rd->at = saved_at;
  return rc < 0 ? rc : ESMM_OK;
}

/* -------------------------------------------------------------- samples */

static int ali_label(esmm__rd *rd, const char *t, size_t n, size_t col, const char *what, int *out) {
  char q[4 * ESMM__RD_QUOTE + 4];
  if (n == 1 && (t[0] == '0' || t[0] == '1')) {
    *out = t[0] - '0';
    return ESMM_OK;
  }
  return esmm__rd_bad(rd, ESMM__RS_LABEL, col, "%s must be 0 or 1, got \"%s\"", what, esmm__rd_quote(q, t, n));
}

static int skel_line(void *ctx, const char *p, size_t len, uint64_t off) {
  ali *A = ctx;
  esmm__rd *rd = &A->rd;
  char q[4 * ESMM__RD_QUOTE + 4];
  const char *c[4];
  const char *nul;
  int click = 0, conv = 0, rc, ncol = 1;
  int64_t cidx = -1;
  size_t pos = 0;
  (void)off;
  len = strip_cr(p, len);
  if (len == 0)
    return ESMM_OK;
  rd->rep.stat[ESMM__RS_LINES]++;
  if ((nul = memchr(p, '\0', len)) != NULL)
    return esmm__rd_bad(rd, ESMM__RS_MALFORMED, (size_t)(nul - p) + 1, "NUL byte");
  for (int k = 0; k < 4; k++) {
    c[k] = memchr(p + pos, ',', len - pos);
    if (!c[k])
      break;
    pos = (size_t)(c[k] - p) + 1;
    ncol++;
  }
  if (ncol < 5 || !memchr(p + pos, ',', len - pos))
    return esmm__rd_bad(rd, ESMM__RS_MALFORMED, 0, "expected 6 comma-separated columns, found %d",
                        ncol < 5 ? ncol : 5);
  /* c[0]: end of sample_id, c[1]: end of click, c[2]: end of conversion,
   * c[3]: end of common_feature_index; then feature_num,feature_list. */
  if ((rc = ali_label(rd, c[0] + 1, (size_t)(c[1] - c[0] - 1), (size_t)(c[0] - p) + 2, "click", &click)) != 0)
    return rc;
  if ((rc = ali_label(rd, c[1] + 1, (size_t)(c[2] - c[1] - 1), (size_t)(c[1] - p) + 2, "conversion", &conv)) != 0)
    return rc;
  rc = parse_counted(rd, 0, ESMM__RS_MALFORMED, c[3] + 1, len - (size_t)(c[3] + 1 - p), (size_t)(c[3] - p) + 2);
  if (rc != ESMM_OK)
    return rc;
  if (c[3] > c[2] + 1) {
    const char *k = c[2] + 1;
    size_t kn = (size_t)(c[3] - k);
    centry *e = A->last ? &A->e[A->last - 1] : NULL;
    if (!e || e->klen != kn || memcmp(A->keys + e->kpos, k, kn) != 0) {
      e = ix_find(A, k, kn, esmm__hash_bytes(k, kn));
      A->last = e ? (size_t)(e - A->e) + 1 : 0;
    }
    if (!e)
      return esmm__rd_bad(rd, ESMM__RS_MISSING_COMMON, (size_t)(k - p) + 1,
                          "common_feature_index \"%s\" is not in %s", esmm__rd_quote(q, k, kn),
                          A->cname ? A->cname : "the (absent) common file");
    if (e->idx == -1)
      ESMM__TRY(load_common(A, e));
    if (e->idx == -2)
      return esmm__rd_bad(rd, ESMM__RS_MISSING_COMMON, (size_t)(k - p) + 1,
                          "common_feature_index \"%s\" refers to the malformed %s:%zu", esmm__rd_quote(q, k, kn),
                          A->cname, e->line);
    cidx = e->idx;
  }
  rc = esmm__rd_labels(rd, click, &conv);
  if (rc <= 0)
    return rc;
  return esmm__rd_row(rd, click, conv, cidx);
}

static void ali_release(ali *A) {
  const esmm__allocator a = A->rd.alloc;
  esmm__free(&a, A->e);
  esmm__free(&a, A->slot);
  esmm__free(&a, A->keys);
  esmm__free(&a, A->lbuf);
  if (A->cfd >= 0)
    close(A->cfd);
  esmm__rd_release(&A->rd);
}

/* Index the common file: a path is opened and kept open (common rows are
 * fetched again with pread), a buffer is indexed in place. A pipe cannot
 * be read twice: refused with a message. */
static int index_commons(ali *A, const esmm__src *com) {
  esmm__rd *rd = &A->rd;
  esmm__src in = *com;
  struct stat st;
  int rc;
  rd->name = com->name;
  if (com->path || com->fd >= 0) {
    if (com->path)
      ESMM__TRY(esmm__rd_open(rd->func, com->path, &A->cfd));
    else if ((A->cfd = dup(com->fd)) < 0)
      return esmm__rd_io_error(rd->func, "cannot duplicate the descriptor of", com->name, errno);
    if (fstat(A->cfd, &st) != 0 || !S_ISREG(st.st_mode) || com->len)
      return esmm__error(ESMM_EINVAL, rd->func, "%s: the common-features file must be a regular file (it is "
                         "read twice: indexed, then fetched row by row)", com->name);
    rd->com_size = (uint64_t)st.st_size;
    in.path = NULL;
    in.fd = A->cfd;
  } else {
    A->cdata = com->data;
    rd->com_size = com->len;
  }
  rc = esmm__rd_lines(rd, &in, 1, com_index_line, A);
  rd->name = A->sname;
  rd->line = rd->at = 0;
  return rc;
}

int esmm__read_aliccp(const esmm_config *cfg, const char *func, const esmm__src *skel, const esmm__src *com,
                      esmm__sink *sink) {
  ali A;
  int rc;
  memset(&A, 0, sizeof A);
  A.cfd = -1;
  ESMM__TRY(esmm__rd_init(&A.rd, cfg, func, skel->name, sink));
  A.sname = skel->name;
  A.cname = com ? com->name : NULL;
  rc = com ? index_commons(&A, com) : ESMM_OK;
  if (rc == ESMM_OK)
    rc = esmm__rd_lines(&A.rd, skel, 0, skel_line, &A);
  if (rc == ESMM_OK)
    rc = esmm__rd_finish(&A.rd);
  ali_release(&A);
  return rc;
}

typedef struct ali_call {
  const esmm__src *skel, *com;
} ali_call;

static int ali_read(const esmm_config *cfg, const char *func, const void *arg, esmm__sink *sink) {
  const ali_call *a = arg;
  return esmm__read_aliccp(cfg, func, a->skel, a->com, sink);
}

static int ali_read_into(esmm_dataset **out, const esmm_config *cfg, const char *func, const esmm__src *skel,
                         const esmm__src *com) {
  ali_call a = {skel, com};
  return esmm__read_to_dataset(out, cfg, func, ali_read, &a);
}

int esmm_dataset_read_aliccp(esmm_dataset **out, const esmm_config *cfg, const char *skeleton_path,
                             const char *common_path) {
  esmm__src s = {skeleton_path, -1, NULL, 0, skeleton_path}, k = {common_path, -1, NULL, 0, common_path};
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(skeleton_path);
  return ali_read_into(out, cfg, __func__, &s, common_path ? &k : NULL);
}

int esmm_dataset_read_aliccp_buffer(esmm_dataset **out, const esmm_config *cfg, const void *skeleton,
                                    size_t skeleton_len, const void *common, size_t common_len) {
  esmm__src s = {NULL, -1, skeleton_len ? skeleton : "", skeleton_len, "<skeleton>"};
  esmm__src k = {NULL, -1, common_len ? common : "", common_len, "<common>"};
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(skeleton || skeleton_len == 0);
  ESMM__CHECK_ARG(common || common_len == 0);
  return ali_read_into(out, cfg, __func__, &s, common ? &k : NULL);
}

/* --------------------------------------------------------------- writer */

#define OUT_CAP ((size_t)1 << 20)

static void w_list(esmm__abuf *w, const esmm_dataset *ds, const int *f, const uint64_t *id, const float *v, size_t n) {
  char num[40];
  esmm__abuf_u64(w, n);
  esmm__abuf_put(w, ",", 1);
  for (size_t k = 0; k < n; k++) {
    const char *name = ds->names[f[k]];
    int len;
    if (k)
      esmm__abuf_put(w, "\x01", 1);
    esmm__abuf_put(w, name, strlen(name));
    esmm__abuf_put(w, "\x02", 1);
    esmm__abuf_u64(w, id[k]);
    esmm__abuf_put(w, "\x03", 1);
    len = esmm__format_float(v[k], num);
    esmm__abuf_put(w, num, (size_t)len);
  }
  esmm__abuf_put(w, "\n", 1);
}

static void key_of(uint64_t c, char out[17]) {
  static const char hex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; i--, c >>= 4)
    out[i] = hex[c & 15];
  out[16] = '\0';
}

/* Write one file atomically (io/atomic.h). which: 0 common, 1 skeleton. */
static int write_one(const esmm_dataset *ds, const char *func, const char *path, int which) {
  char key[17];
  esmm__abuf w;
  ESMM__TRY(esmm__abuf_open(&w, &ds->alloc, func, path, OUT_CAP));
  if (which == 0) {
    for (size_t c = 0; c < ds->n_common && !w.f.err; c++) {
      size_t b = (size_t)ds->com_off[c], e = (size_t)ds->com_off[c + 1];
      key_of(c, key);
      esmm__abuf_put(&w, key, 16);
      esmm__abuf_put(&w, ",", 1);
      w_list(&w, ds, ds->com_field + b, ds->com_id + b, ds->com_value + b, e - b);
    }
  } else {
    for (size_t i = 0; i < ds->n_rows && !w.f.err; i++) {
      size_t b = (size_t)ds->row_off[i], e = (size_t)ds->row_off[i + 1];
      esmm__abuf_u64(&w, (uint64_t)i + 1);
      esmm__abuf_put(&w, ds->click[i] ? ",1" : ",0", 2);
      esmm__abuf_put(&w, ds->conv[i] ? ",1," : ",0,", 3);
      if (ds->common[i] >= 0) {
        key_of((uint64_t)ds->common[i], key);
        esmm__abuf_put(&w, key, 16);
      }
      esmm__abuf_put(&w, ",", 1);
      w_list(&w, ds, ds->field + b, ds->id + b, ds->value + b, e - b);
    }
  }
  return esmm__abuf_commit(&w);
}

int esmm_dataset_write_aliccp(const esmm_dataset *ds, const char *skeleton_path, const char *common_path) {
  ESMM__CHECK_ARG(ds);
  ESMM__CHECK_ARG(skeleton_path && skeleton_path[0]);
  ESMM__CHECK_ARG(common_path && common_path[0]);
  if (ds->n_dense)
    return ESMM__ERR(ESMM_ESHAPE, "the dataset has %zu dense inputs per row; Ali-CCP files cannot hold them",
                     ds->n_dense);
  /* Common file first: a reader never sees samples whose commons are not yet there. */
  ESMM__TRY(write_one(ds, __func__, common_path, 0));
  return write_one(ds, __func__, skeleton_path, 1);
}
