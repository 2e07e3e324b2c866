/*
 * io/reader.h (internal) - what the file readers (Ali-CCP, CSV, token
 * lines) share: a streaming line source (file descriptor or memory buffer),
 * the reader options taken from the config (unknown fields, feature values,
 * bad-row policy, click=0/conversion=1 policy), the per-reason counts, the
 * "file:line[:col]: reason" messages, and a batch of parsed rows that is
 * flushed into a sink: an in-memory dataset or a streaming cache writer
 * (so a conversion never holds more than one batch of rows).
 * Knows nothing of models; knows the dataset layout only through dataset.h.
 */
#ifndef ESMM__IO_READER_H
#define ESMM__IO_READER_H

#include "config.h"
#include "dataset.h"
#include "internal.h"

#define ESMM__RD_BATCH 4096                            /* rows per flush */
#define ESMM__RD_MAX_LINE ((size_t)256 * 1024 * 1024) /* longest accepted line, bytes */
#define ESMM__RD_QUOTE 48                              /* token bytes quoted in messages */

typedef struct esmm__cache_writer esmm__cache_writer; /* io/cache.c */

/* Index into esmm__rd.stat (same order as the ESMM_DS_LINES.. keys). */
enum {
  ESMM__RS_LINES = ESMM_DS_LINES - ESMM__READ_FIRST,
  ESMM__RS_SKIPPED = ESMM_DS_SKIPPED - ESMM__READ_FIRST,
  ESMM__RS_MALFORMED = ESMM_DS_SKIPPED_MALFORMED - ESMM__READ_FIRST,
  ESMM__RS_LABEL = ESMM_DS_SKIPPED_LABEL - ESMM__READ_FIRST,
  ESMM__RS_MISSING_COMMON = ESMM_DS_SKIPPED_MISSING_COMMON - ESMM__READ_FIRST,
  ESMM__RS_CNC_SKIPPED = ESMM_DS_SKIPPED_CONV_NO_CLICK - ESMM__READ_FIRST,
  ESMM__RS_CNC_READ = ESMM_DS_CONV_NO_CLICK_READ - ESMM__READ_FIRST,
  ESMM__RS_IGNORED = ESMM_DS_FEATURES_IGNORED - ESMM__READ_FIRST,
  ESMM__RS_COMMON_LINES = ESMM_DS_COMMON_LINES - ESMM__READ_FIRST,
  ESMM__RS_COMMON_SKIPPED = ESMM_DS_COMMON_SKIPPED - ESMM__READ_FIRST
};

typedef struct esmm__rd {
  const char *func; /* public function: first part of every message */
  const char *name; /* file name in messages */
  size_t line;      /* 1-based line being parsed */
  esmm__allocator alloc;
  /* options */
  int unknown_ignore, values_ignore, skip, cnc;
  int64_t max_errors;
  /* fields */
  size_t n_fields;
  const char (*names)[ESMM_MAX_FIELD_NAME + 1];
  int *slot; /* open addressing: field index + 1, 0 = empty */
  size_t mask;
  size_t n_dense;
  /* sink */
  esmm_dataset *ds;
  esmm__cache_writer *cw;
  /* batch of rows */
  size_t nb;
  int *click, *conv;
  int64_t *common, *off; /* off: ESMM__RD_BATCH + 1 */
  size_t nnz, cap;
  int *field;
  uint64_t *id;
  float *value;
  float *dense; /* ESMM__RD_BATCH x n_dense */
  /* scratch of one common list */
  size_t cnnz, ccap;
  int *cfield;
  uint64_t *cid;
  float *cvalue;
  int64_t stat[ESMM__READ_STATS];
} esmm__rd;

/* Set up from a valid config; the sink is a new dataset (cw == NULL) or
 * the given cache writer. On failure everything is released. */
int esmm__rd_init(esmm__rd *rd, const esmm_config *cfg, const char *func, const char *name, esmm__cache_writer *cw);
/* Free everything, the dataset too unless it was taken (rd->ds = NULL). */
void esmm__rd_release(esmm__rd *rd);

/* Field index of name s[0..n), -1 when the field list lacks it. */
int esmm__rd_field(const esmm__rd *rd, const char *s, size_t n);

/* Append one feature to the row being parsed (or, common != 0, to the
 * common-list scratch). Only ENOMEM can fail. */
int esmm__rd_feature(esmm__rd *rd, int common, int field, uint64_t id, float value);
/* Dense input k of the row being parsed. */
void esmm__rd_dense(esmm__rd *rd, size_t k, float v);

/* Apply the click/conversion policy to labels already known to be 0/1:
 * returns 1 when the row is to be stored (with *conv possibly zeroed), 0
 * when it was dropped (counted), or a negative status (policy error with
 * fail-fast; message set). Call before esmm__rd_row. */
int esmm__rd_labels(esmm__rd *rd, int click, int *conv);

/* Finish the row being parsed with these labels; flushes a full batch. */
int esmm__rd_row(esmm__rd *rd, int click, int conv, int64_t common);
/* Forget the features/dense inputs of the row being parsed. */
void esmm__rd_row_abort(esmm__rd *rd);
/* Store the common-list scratch as a new common list; *index_out = its index. */
int esmm__rd_common(esmm__rd *rd, int64_t *index_out);

/* A bad row. Fail-fast: returns ESMM_EFORMAT with "<func>: <name>:<line>[:<col>]:
 * <reason>" (col 0 = none). Skip: counts stat[reason] and the skipped total,
 * forgets the row and returns 1 (continue), unless max_errors is exceeded.
 * reason ESMM__RS_COMMON_SKIPPED counts a common row instead of a sample row. */
int esmm__rd_bad(esmm__rd *rd, int reason, size_t col, const char *fmt, ...) ESMM__PRINTF(4, 5);

/* Flush the batch into the sink. */
int esmm__rd_flush(esmm__rd *rd);

/* Quote s[0..n) for a message: at most ESMM__RD_QUOTE bytes, "..." when cut,
 * control bytes as \xNN. */
const char *esmm__rd_quote(char buf[4 * ESMM__RD_QUOTE + 4], const char *s, size_t n);

/* esmm__parse_double with a fast path for plain decimals ("1.0", "0.69315",
 * "-2"): at most 15 digits and 22 decimals give mantissa / 10^k of two exact
 * doubles, which IEEE division rounds correctly (Clinger); anything else
 * (exponents, inf, nan, long mantissas) goes to esmm__parse_double. Same
 * results, bit for bit. */
int esmm__rd_parse_value(const char *s, size_t n, double *out);

/* Stable 64-bit hash (FNV-1a) of a byte string. Pinned: ids hashed from
 * strings must not change between releases. */
uint64_t esmm__rd_hash(const char *s, size_t n);

/* Line source: calls fn(ctx, line, len, offset) for each line (without
 * '\n'; a final line without '\n' included), with *lineno counting lines
 * from 1. Stops at the first negative return. fd >= 0 reads the file in
 * chunks (memory: the longest line); otherwise data[0..len). */
typedef int (*esmm__line_fn)(void *ctx, const char *p, size_t len, uint64_t offset);
int esmm__rd_lines(const esmm__allocator *a, const char *func, const char *name, int fd, const char *data,
                   size_t len, size_t *lineno, esmm__line_fn fn, void *ctx);

/* "<func>: <what> \"<path>\": <strerror(err)>" as ESMM_EIO. */
int esmm__rd_io_error(const char *func, const char *what, const char *path, int err);
/* open(path, O_RDONLY) retrying EINTR; ESMM_EIO message on failure. */
int esmm__rd_open(const char *func, const char *path, int *fd_out);

/* Move the finished dataset's counts in and hand it over. */
void esmm__rd_finish_dataset(esmm__rd *rd, esmm_dataset **out);

/* An input: a file (path != NULL) or a memory buffer; name for messages. */
typedef struct esmm__src {
  const char *path;
  const void *data;
  size_t len;
  const char *name;
} esmm__src;

/* The readers behind the public functions and esmm_dataset_convert: rows go
 * to *out (cw == NULL) or to cw; stat_out (ESMM__READ_STATS counts) is
 * filled when not NULL. cfg must be a valid config. */
int esmm__read_aliccp(esmm_dataset **out, const esmm_config *cfg, const char *func, const esmm__src *skel,
                      const esmm__src *com, esmm__cache_writer *cw, int64_t *stat_out);
int esmm__read_csv(esmm_dataset **out, const esmm_config *cfg, const char *func, const esmm__src *in,
                   const char *spec, esmm__cache_writer *cw, int64_t *stat_out);
int esmm__read_text_to(const esmm_config *cfg, const char *func, const char *path, esmm__cache_writer *cw);

#endif /* ESMM__IO_READER_H */
