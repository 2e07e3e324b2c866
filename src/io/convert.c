/* io/convert.c - the format dispatcher: which reader reads an input, and
 * where its rows go (a dataset, or a cache file through the streaming
 * writer). Owns format detection, which looks at a prefix read from the
 * input and hands that prefix to the reader before the rest (so a pipe
 * loses nothing), and the entries that take a path, "-" (standard input)
 * or a file descriptor. The readers know only their sink; the cache writer
 * knows no reader. */
#include "cache.h"
#include "reader.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEAD ((size_t)65536) /* bytes looked at to detect a format */
#define STDIN_NAME "<stdin>"

/* ------------------------------------------------------------ detection */

static int is_label(const char *s, size_t n) { return n == 1 && (s[0] == '0' || s[0] == '1'); }

/* The first line of head that is not empty nor a '#' comment (a BOM
 * skipped); *complete: it ends with '\n'. NULL when there is none yet. */
static const char *first_line(const char *head, size_t n, size_t *len, int *complete) {
  size_t s = n >= 3 && memcmp(head, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
  while (s < n) {
    const char *nl = memchr(head + s, '\n', n - s);
    size_t e = nl ? (size_t)(nl - head) : n, b = s;
    while (b < e && (head[b] == ' ' || head[b] == '\t' || head[b] == '\r'))
      b++;
    if (b < e && head[b] != '#') {
      *len = e - s;
      *complete = nl != NULL;
      if (*len && head[s + *len - 1] == '\r')
        (*len)--;
      return head + s;
    }
    if (!nl)
      break;
    s = e + 1;
  }
  *len = 0;
  *complete = 0;
  return NULL;
}

/* "1 0 101:5 205:7:0.5": two labels, then name:id tokens, blank-separated. */
static int text_shaped(const char *p, size_t n) {
  size_t i = 0, k = 0;
  while (i < n) {
    size_t b;
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
      i++;
    b = i;
    while (i < n && p[i] != ' ' && p[i] != '\t')
      i++;
    if (i == b)
      break;
    if (k < 2 ? !is_label(p + b, i - b) : !memchr(p + b, ':', i - b) || memchr(p + b, ',', i - b))
      return 0;
    k++;
  }
  return k >= 2;
}

/* "id,1,0,101:5,205:7": sample id, two labels, then name:id tokens. */
static int token_shaped(const char *p, size_t n) {
  size_t i = 0, k = 0;
  for (;;) {
    const char *c = memchr(p + i, ',', n - i);
    size_t e = c ? (size_t)(c - p) : n;
    if (k == 0 ? e == i : k < 3 ? !is_label(p + i, e - i) : !memchr(p + i, ':', e - i) || memchr(p + i, ' ', e - i))
      return 0;
    k++;
    if (!c)
      return k >= 4;
    i = e + 1;
  }
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = s ? strlen(s) : 0, m = strlen(suffix);
  if (n < m)
    return 0;
  for (size_t i = 0; i < m; i++) {
    char c = s[n - m + i];
    if (c >= 'A' && c <= 'Z')
      c = (char)(c - 'A' + 'a');
    if (c != suffix[i])
      return 0;
  }
  return 1;
}

static int detect(const char *head, size_t n, const char *name) {
  size_t len;
  int complete;
  const char *line;
  if (n >= 8 && memcmp(head, "ESMMDATA", 8) == 0)
    return ESMM_FORMAT_CACHE;
  line = first_line(head, n, &len, &complete);
  if (!line)
    return ends_with(name, ".csv") || ends_with(name, ".tsv") ? ESMM_FORMAT_CSV : ESMM_FORMAT_TEXT;
  if (!complete) { /* a line longer than the prefix: judge the tokens that are whole */
    while (len > 0 && line[len - 1] != ' ' && line[len - 1] != '\t' && line[len - 1] != ',')
      len--;
    len -= len > 0; /* and the separator before the cut one */
  }
  if ((memchr(line, '\x02', len) || memchr(line, '\x01', len)) && memchr(line, ',', len))
    return ESMM_FORMAT_ALICCP;
  if (token_shaped(line, len))
    return ESMM_FORMAT_TOKENS;
  if (text_shaped(line, len))
    return ESMM_FORMAT_TEXT;
  if (memchr(line, ',', len) || memchr(line, ';', len) || memchr(line, '\t', len) || ends_with(name, ".csv") ||
      ends_with(name, ".tsv"))
    return ESMM_FORMAT_CSV;
  return ESMM_FORMAT_TEXT;
}

int esmm_dataset_detect_format(const void *head, size_t n, const char *name, int *format_out) {
  ESMM__CHECK_ARG(format_out);
  ESMM__CHECK_ARG(head || n == 0);
  *format_out = detect(n ? head : "", n, name);
  return ESMM_OK;
}

/* --------------------------------------------------------------- inputs */

/* An input being read: its descriptor and the prefix read for detection. */
typedef struct input {
  int fd, own;
  const char *name;
  char *head;
  size_t len;
  int eof;
  const esmm__allocator *a;
} input;

static void input_close(input *inp) {
  esmm__free(inp->a, inp->head);
  if (inp->own && inp->fd >= 0)
    close(inp->fd);
  inp->head = NULL;
  inp->fd = -1;
}

/* Read into inp->head until a line to detect on is complete, HEAD bytes or the end. */
static int input_head(input *inp, const char *func) {
  size_t len, cap = HEAD;
  int complete = 0;
  struct stat st;
  if (fstat(inp->fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size < HEAD)
    cap = (size_t)st.st_size + 1; /* a small file costs little */
  if (!(inp->head = esmm__alloc(inp->a, cap)))
    return esmm__error(ESMM_ENOMEM, func, "out of memory");
  while (inp->len < cap) {
    ssize_t got = read(inp->fd, inp->head + inp->len, cap - inp->len);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      return esmm__rd_io_error(func, "cannot read", inp->name, errno);
    if (got == 0) {
      inp->eof = 1;
      break;
    }
    inp->len += (size_t)got;
    if (inp->len >= 8 && memcmp(inp->head, "ESMMDATA", 8) == 0)
      break;
    if (first_line(inp->head, inp->len, &len, &complete) && complete)
      break;
  }
  return ESMM_OK;
}

/* path ("-": standard input) or fd; the descriptor is ours only when we opened it. */
static int input_open(input *inp, const esmm__allocator *a, const char *func, const char *path, int fd,
                      const char *name) {
  memset(inp, 0, sizeof *inp);
  inp->a = a;
  inp->fd = -1;
  if (path && strcmp(path, "-") == 0) {
    inp->fd = 0;
    inp->name = STDIN_NAME;
  } else if (path) {
    ESMM__TRY(esmm__rd_open(func, path, &inp->fd));
    inp->own = 1;
    inp->name = path;
  } else {
    inp->fd = fd;
    inp->name = name ? name : "<fd>";
  }
  return input_head(inp, func);
}

/* Everything left of a cache input, in memory after its prefix (a pipe
 * cannot be mapped); opened from the copy. */
static int cache_from_stream(esmm_dataset **out, const esmm_config *cfg, const char *func, input *inp) {
  size_t cap = inp->len < HEAD ? HEAD : inp->len;
  char *buf;
  if (inp->len < cap && !inp->eof) { /* the prefix buffer may be smaller than HEAD */
    char *b = esmm__alloc(inp->a, cap);
    if (!b)
      return esmm__error(ESMM_ENOMEM, func, "out of memory");
    memcpy(b, inp->head, inp->len);
    esmm__free(inp->a, inp->head);
    inp->head = b;
  }
  buf = inp->head;
  while (!inp->eof) {
    ssize_t got;
    if (inp->len == cap) {
      char *b = cap > SIZE_MAX / 2 ? NULL : esmm__alloc(inp->a, cap * 2);
      if (!b)
        return esmm__error(ESMM_ENOMEM, func, "out of memory");
      memcpy(b, buf, inp->len);
      esmm__free(inp->a, buf);
      inp->head = buf = b;
      cap *= 2;
    }
    got = read(inp->fd, buf + inp->len, cap - inp->len);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      return esmm__rd_io_error(func, "cannot read", inp->name, errno);
    if (got == 0)
      inp->eof = 1;
    inp->len += (size_t)got;
  }
  return esmm__cache_open_buffer(out, cfg, func, inp->name, buf, inp->len);
}

/* ------------------------------------------------------------- dispatch */

/* The format to read, from the caller's choice or the prefix, with its
 * arguments checked: ESMM_EINVAL names what is missing or out of place. */
static int resolve_format(const char *func, const input *inp, int format, const char *common, const char *spec,
                          int *fmt_out) {
  int fmt = format;
  if (format == ESMM_FORMAT_AUTO) {
    int seen = detect(inp->head, inp->len, inp->name);
    fmt = seen == ESMM_FORMAT_CACHE ? seen
          : common                 ? ESMM_FORMAT_ALICCP
          : spec                   ? (strcmp(spec, "tokens") == 0 ? ESMM_FORMAT_TOKENS : ESMM_FORMAT_CSV)
                                   : seen;
    if (fmt == ESMM_FORMAT_CSV && !spec) {
      size_t len;
      int complete;
      const char *line = first_line(inp->head, inp->len, &len, &complete);
      char q[4 * ESMM__RD_QUOTE + 4];
      return esmm__error(ESMM_EINVAL, func,
                         "%s looks like CSV (first line \"%s\"), which needs a column spec (\"click=COL;"
                         "conversion=COL;cat=...\", see esmm/io.h); not read as the text format",
                         inp->name, line ? esmm__rd_quote(q, line, len) : "");
    }
    *fmt_out = fmt;
    return ESMM_OK; /* arguments that do not apply to the detected format are ignored */
  }
  switch (format) {
  case ESMM_FORMAT_TEXT:
  case ESMM_FORMAT_TOKENS:
  case ESMM_FORMAT_CACHE:
    if (common || (spec && !(format == ESMM_FORMAT_TOKENS && strcmp(spec, "tokens") == 0)))
      return esmm__error(ESMM_EINVAL, func, "this format takes no common file and no column spec");
    break;
  case ESMM_FORMAT_ALICCP:
    if (spec)
      return esmm__error(ESMM_EINVAL, func, "ESMM_FORMAT_ALICCP takes no column spec");
    break;
  case ESMM_FORMAT_CSV:
    if (!spec)
      return esmm__error(ESMM_EINVAL, func, "ESMM_FORMAT_CSV needs a column spec");
    if (common)
      return esmm__error(ESMM_EINVAL, func, "ESMM_FORMAT_CSV takes no common file");
    break;
  default: return esmm__error(ESMM_EINVAL, func, "unknown input format %d", format);
  }
  *fmt_out = fmt;
  return ESMM_OK;
}

/* Rows of in, read as fmt, into sink. */
static int dispatch(const esmm_config *c, const char *func, int fmt, const esmm__src *in, const char *common,
                    const char *spec, esmm__sink *sink) {
  esmm__src com = {common, -1, NULL, 0, common && strcmp(common, "-") == 0 ? STDIN_NAME : common};
  if (common && strcmp(common, "-") == 0)
    com.path = NULL, com.fd = 0;
  switch (fmt) {
  case ESMM_FORMAT_TEXT: return esmm__read_text(c, func, in, sink);
  case ESMM_FORMAT_ALICCP: return esmm__read_aliccp(c, func, in, common ? &com : NULL, sink);
  case ESMM_FORMAT_CSV: return esmm__read_csv(c, func, in, spec, sink);
  case ESMM_FORMAT_TOKENS: return esmm__read_csv(c, func, in, "tokens", sink);
  default: return esmm__error(ESMM_EINVAL, func, "unknown input format %d", fmt);
  }
}

/* The readers' source for an opened input: its prefix, then the rest. */
static esmm__src src_of(const input *inp) {
  esmm__src s = {NULL, inp->fd, inp->head, inp->len, inp->name};
  if (inp->eof) /* all of it is in the prefix: read it as a buffer */
    s.fd = -1;
  return s;
}

static int read_input(esmm_dataset **out, const esmm_config *cfg, const char *func, const char *path, int fd,
                      const char *name, int format, const char *common, const char *spec) {
  esmm_config *tmp = NULL;
  const esmm_config *c = NULL;
  input inp;
  int fmt = 0, rc;
  ESMM__TRY(esmm__config_or_default(cfg, &tmp, &c));
  rc = input_open(&inp, &c->alloc, func, path, fd, name);
  if (rc == ESMM_OK)
    rc = resolve_format(func, &inp, format, common, spec, &fmt);
  if (rc == ESMM_OK && fmt == ESMM_FORMAT_CACHE) {
    struct stat st;
    off_t at = lseek(inp.fd, 0, SEEK_CUR);
    /* A regular file read from its start is mapped; anything else is copied. */
    if (fstat(inp.fd, &st) == 0 && S_ISREG(st.st_mode) && at >= 0 && (size_t)at == inp.len)
      rc = esmm__cache_open_fd(out, c, func, inp.name, inp.fd);
    else
      rc = cache_from_stream(out, c, func, &inp);
  } else if (rc == ESMM_OK) {
    esmm__ds_sink s;
    esmm__src in = src_of(&inp);
    rc = esmm__ds_sink_init(&s, c, func);
    if (rc == ESMM_OK) {
      rc = dispatch(c, func, fmt, &in, common, spec, &s.base);
      if (rc == ESMM_OK)
        *out = esmm__ds_sink_take(&s);
      esmm__ds_sink_release(&s);
    }
  }
  input_close(&inp);
  esmm_config_free(tmp);
  return rc;
}

int esmm_dataset_read(esmm_dataset **out, const esmm_config *cfg, const char *path, int format, const char *common,
                      const char *spec) {
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(path);
  return read_input(out, cfg, __func__, path, -1, NULL, format, common, spec);
}

int esmm_dataset_read_fd(esmm_dataset **out, const esmm_config *cfg, int fd, const char *name, int format,
                         const char *common, const char *spec) {
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(fd >= 0);
  return read_input(out, cfg, __func__, NULL, fd, name, format, common, spec);
}

/* ------------------------------------------------------------ conversion */

static int convert_input(const esmm_config *cfg, const char *func, const char *path, int format, const char *common,
                         const char *spec, const char *cache_path) {
  esmm_config *tmp = NULL;
  const esmm_config *c = NULL;
  esmm__sink *w = NULL;
  input inp;
  int fmt = 0, rc;
  ESMM__TRY(esmm__config_or_default(cfg, &tmp, &c));
  rc = input_open(&inp, &c->alloc, func, path, -1, NULL);
  if (rc == ESMM_OK)
    rc = resolve_format(func, &inp, format, common, spec, &fmt);
  if (rc == ESMM_OK && fmt == ESMM_FORMAT_CACHE)
    rc = esmm__error(ESMM_EINVAL, func, "%s is already a cache", inp.name);
  if (rc == ESMM_OK)
    rc = esmm__cw_open(&w, &c->alloc, func, cache_path, c->n_fields, (const char(*)[ESMM_MAX_FIELD_NAME + 1])c->names,
                       (size_t)esmm__config_int(c, ESMM_OPT_DENSE_FEATURES));
  if (rc == ESMM_OK) {
    esmm__src in = src_of(&inp);
    rc = dispatch(c, func, fmt, &in, common, spec, w); /* the writer's finish writes the file */
    esmm__cw_abort(w);
  }
  input_close(&inp);
  esmm_config_free(tmp);
  return rc;
}

int esmm_dataset_convert(const esmm_config *cfg, int format, const char *path, const char *aux,
                         const char *cache_path) {
  ESMM__CHECK_ARG(path);
  ESMM__CHECK_ARG(cache_path && cache_path[0]);
  if (format != ESMM_FORMAT_TEXT && format != ESMM_FORMAT_ALICCP && format != ESMM_FORMAT_CSV)
    return ESMM__ERR(ESMM_EINVAL, "unknown input format %d", format);
  if (format == ESMM_FORMAT_CSV && !aux)
    return ESMM__ERR(ESMM_EINVAL, "ESMM_FORMAT_CSV needs a column spec in aux");
  if (format == ESMM_FORMAT_TEXT && aux)
    return ESMM__ERR(ESMM_EINVAL, "ESMM_FORMAT_TEXT takes no aux argument");
  if (format == ESMM_FORMAT_CSV)
    ESMM__TRY(esmm__csv_spec_check(__func__, aux));
  /* 1.0 meaning kept: path is a file name ("-" included), aux per format */
  if (strcmp(path, "-") == 0)
    path = "./-";
  return convert_input(cfg, __func__, path, format, format == ESMM_FORMAT_ALICCP ? aux : NULL,
                       format == ESMM_FORMAT_CSV ? aux : NULL, cache_path);
}

int esmm_dataset_convert_v2(const esmm_config *cfg, const char *path, int format, const char *common,
                            const char *spec, const char *cache_path) {
  ESMM__CHECK_ARG(path);
  ESMM__CHECK_ARG(cache_path && cache_path[0]);
  if (spec && strcmp(spec, "tokens") != 0)
    ESMM__TRY(esmm__csv_spec_check(__func__, spec));
  return convert_input(cfg, __func__, path, format, common, spec, cache_path);
}
