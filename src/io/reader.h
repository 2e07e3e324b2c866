/*
 * io/reader.h (internal) - what the file readers (text, Ali-CCP, CSV,
 * token lines) share: the input (a file, a descriptor with a prefix already
 * read from it, or a memory buffer) cut into lines, the reader options
 * taken from the config (unknown fields, feature values, bad-row policy,
 * click=0/conversion=1 policy), the report (counts by reason, the first
 * messages, the skipped rows), and a batch of parsed rows that grows with
 * what is read and is flushed into a sink (io/sink.h).
 * Knows nothing of models nor of the sinks behind the interface.
 */
#ifndef ESMM__IO_READER_H
#define ESMM__IO_READER_H

#include "config.h"
#include "sink.h"

#define ESMM__RD_BATCH 4096                            /* most rows per flush */
#define ESMM__RD_MAX_LINE ((size_t)256 * 1024 * 1024) /* longest accepted line (record), bytes */
#define ESMM__RD_QUOTE 48                              /* token bytes quoted in messages */

/* An input: a file to open (path), an open descriptor (fd >= 0; data/len
 * then hold bytes already read from it, which come first), or a memory
 * buffer (path NULL, fd < 0). name is used in messages and the report. */
typedef struct esmm__src {
  const char *path;
  int fd;
  const void *data;
  size_t len;
  const char *name;
} esmm__src;

typedef struct esmm__rd {
  const char *func; /* public function: first part of every message */
  const char *name; /* input name in messages */
  size_t line;      /* physical lines read so far (the line source counts) */
  size_t at;        /* line of the row being parsed (messages, provenance) */
  esmm__allocator alloc;
  esmm__sink *sink;
  /* options */
  int unknown_ignore, values_ignore, skip, cnc;
  int64_t max_errors;
  /* fields */
  size_t n_fields;
  const char (*names)[ESMM_MAX_FIELD_NAME + 1];
  int *slot; /* open addressing: field index + 1, 0 = empty */
  size_t mask;
  size_t n_dense;
  int keys; /* rows carry ids (esmm__rd_key); set by the reader after esmm__rd_init */
  /* batch of rows: grows from a few rows to ESMM__RD_BATCH */
  size_t nb, rcap;
  int *click, *conv;
  int64_t *common, *off, *lines, *koff; /* off, koff: rcap + 1 */
  float *dense;                         /* rcap x n_dense, 0 until set */
  size_t nnz, cap;
  int *field;
  uint64_t *id;
  float *value;
  size_t klen, kcap;
  char *key;
  size_t nskip, scap;
  esmm__skip *skips;
  /* scratch of one common list */
  size_t cnnz, ccap;
  int *cfield;
  uint64_t *cid;
  float *cvalue;
  /* input size for the sink's size hint */
  uint64_t in_size, pos, com_size, com_pos;
  size_t rows_out, nnz_out, commons_out, com_nnz_out;
  int hinted;
  esmm__report rep;
} esmm__rd;

/* Set up from a valid config; rows go to sink. Allocates a few KiB (the
 * batch grows with the input). On failure everything is released. */
int esmm__rd_init(esmm__rd *rd, const esmm_config *cfg, const char *func, const char *name, esmm__sink *sink);
/* Free the reader's buffers (not the sink). */
void esmm__rd_release(esmm__rd *rd);

/* Field index of name s[0..n), -1 when the field list lacks it. */
int esmm__rd_field(const esmm__rd *rd, const char *s, size_t n);

/* Append one feature to the row being parsed (or, common != 0, to the
 * common-list scratch). Only ENOMEM can fail. */
int esmm__rd_feature(esmm__rd *rd, int common, int field, uint64_t id, float value);
/* Dense input k of the row being parsed. */
static inline void esmm__rd_dense(esmm__rd *rd, size_t k, float v) { rd->dense[rd->nb * rd->n_dense + k] = v; }
/* The id of the row being parsed (rd->keys set): s[0..n) is copied. */
int esmm__rd_key(esmm__rd *rd, const char *s, size_t n);

/* Apply the click/conversion policy to labels already known to be 0/1:
 * returns 1 when the row is to be stored (with *conv possibly zeroed), 0
 * when it was dropped (counted), or a negative status (policy error with
 * fail-fast; message set). Call before esmm__rd_row. */
int esmm__rd_labels(esmm__rd *rd, int click, int *conv);

/* Finish the row being parsed with these labels; flushes a full batch. */
int esmm__rd_row(esmm__rd *rd, int click, int conv, int64_t common);
/* Forget the features/dense inputs/id of the row being parsed. */
void esmm__rd_row_abort(esmm__rd *rd);
/* Store the common-list scratch as a new common list; *index_out = its index. */
int esmm__rd_common(esmm__rd *rd, int64_t *index_out);

/* A bad row. Fail-fast: returns ESMM_EFORMAT with "<func>: <name>:<at>[:<col>]:
 * <reason>" (col 0 = none). Skip: counts stat[reason] and the skipped total,
 * keeps the message (the first ESMM__MESSAGES) and the skipped row, forgets
 * the row and returns 1 (continue), unless max_errors is exceeded.
 * reason ESMM__RS_COMMON_SKIPPED counts a common row instead of a sample row. */
int esmm__rd_bad(esmm__rd *rd, int reason, size_t col, const char *fmt, ...) ESMM__PRINTF(4, 5);

/* Flush the batch into the sink. */
int esmm__rd_flush(esmm__rd *rd);
/* The read is complete: flush, then hand the report to the sink. */
int esmm__rd_finish(esmm__rd *rd);

/* Quote s[0..n) for a message: at most ESMM__RD_QUOTE bytes, "..." when cut,
 * control bytes as \xNN. */
const char *esmm__rd_quote(char buf[4 * ESMM__RD_QUOTE + 4], const char *s, size_t n);

/* esmm__parse_double with a fast path for plain decimals ("1.0", "0.69315",
 * "-2"): at most 15 digits and 22 decimals give mantissa / 10^k of two exact
 * doubles, which IEEE division rounds correctly (Clinger); anything else
 * (exponents, inf, nan, long mantissas) goes to esmm__parse_double. Same
 * results, bit for bit. */
int esmm__rd_parse_value(const char *s, size_t n, double *out);

/* Line source: calls fn(ctx, line, len, offset) for each line of in
 * (without '\n'; a final line without '\n' included; a UTF-8 byte-order
 * mark at the start of the input removed), counting rd->line from 1 and
 * setting rd->at to it. Stops at the first negative return. Files and
 * descriptors are read in chunks (memory: the longest line); a path is
 * opened and closed here, a descriptor is left open. Sets rd->in_size (0
 * when unknown: a pipe) and rd->pos (bytes consumed) as it goes, unless
 * side != 0 (a second input, the Ali-CCP common file: nothing recorded). */
typedef int (*esmm__line_fn)(void *ctx, const char *p, size_t len, uint64_t offset);
int esmm__rd_lines(esmm__rd *rd, const esmm__src *in, int side, esmm__line_fn fn, void *ctx);

/* "<func>: <what> \"<path>\": <strerror(err)>" as ESMM_EIO. */
int esmm__rd_io_error(const char *func, const char *what, const char *path, int err);
/* open(path, O_RDONLY) retrying EINTR; ESMM_EIO message on failure. */
int esmm__rd_open(const char *func, const char *path, int *fd_out);

/* The readers behind the public functions and esmm_dataset_convert (cfg
 * must be a valid config): rows go to sink, which gets the report when the
 * read succeeds. */
int esmm__read_text(const esmm_config *cfg, const char *func, const esmm__src *in, esmm__sink *sink);
int esmm__read_aliccp(const esmm_config *cfg, const char *func, const esmm__src *skel, const esmm__src *com,
                      esmm__sink *sink);
int esmm__read_csv(const esmm_config *cfg, const char *func, const esmm__src *in, const char *spec,
                   esmm__sink *sink);
/* Check a CSV spec before any data is read (ESMM_EINVAL naming the clause). */
int esmm__csv_spec_check(const char *func, const char *spec);

#endif /* ESMM__IO_READER_H */
