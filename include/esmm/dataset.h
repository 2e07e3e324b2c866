/*
 * esmm/dataset.h - impressions in memory.
 *
 * A dataset is a list of rows (impressions). Each row has a click label y,
 * a conversion label z and a sparse feature list of (field, 64-bit id,
 * float value) triples; field is an index into the dataset's field list,
 * which is copied from the config it was created with. A row may also
 * reference one "common" feature list, stored once and shared by many rows
 * (Ali-CCP's user features: one common row per user, tens of impressions
 * each). A row's features are its own list plus its common list.
 *
 * Rows are appended from host memory in CSR form (esmm_dataset_add_rows);
 * readers for files live in the data module. Datasets built by the
 * simulator also carry per-row ground truths (esmm_dataset_truth).
 *
 * Thread safety: not thread-safe while rows are being added; once built, a
 * dataset may be read (trained on, predicted on) from any number of threads.
 */
#ifndef ESMM_DATASET_H
#define ESMM_DATASET_H

#include "common.h"
#include "config.h"

ESMM_BEGIN_DECLS

typedef struct esmm_dataset esmm_dataset;

/* Keys of esmm_dataset_stat. Pinned, append-only. */
typedef enum {
  ESMM_DS_ROWS = 0,                       /* impressions */
  ESMM_DS_CLICKS = 1,                     /* rows with y = 1 */
  ESMM_DS_CONVERSIONS = 2,                /* rows with z = 1 */
  ESMM_DS_CLICKED_CONVERSIONS = 3,        /* rows with y = 1 and z = 1 */
  ESMM_DS_CONVERSIONS_WITHOUT_CLICK = 4,  /* rows with y = 0 and z = 1 (dirty data) */
  ESMM_DS_COMMONS = 5,                    /* common feature lists */
  ESMM_DS_FEATURES = 6,                   /* features stored in rows */
  ESMM_DS_COMMON_FEATURES = 7,            /* features stored in common lists */
  ESMM_DS_ROWS_WITH_COMMON = 8,           /* rows that reference a common list */
  ESMM_DS_FIELDS = 9,                     /* fields in the field list */
  /* @since 1.0: dense inputs and the counts of the file readers (esmm/io.h);
   * the reader counts are 0 for datasets built in memory. A "row" below is
   * one data line of a sample file (Ali-CCP skeleton, CSV, text). */
  ESMM_DS_DENSE = 10,                     /* dense (numeric) inputs per row */
  ESMM_DS_LINES = 11,                     /* data rows read (blank/comment/header lines excluded) */
  ESMM_DS_SKIPPED = 12,                   /* rows not stored, all reasons below together */
  ESMM_DS_SKIPPED_MALFORMED = 13,         /* syntax: separators, numbers, NUL bytes, feature_num, ... */
  ESMM_DS_SKIPPED_LABEL = 14,             /* a label outside {0,1} */
  ESMM_DS_SKIPPED_MISSING_COMMON = 15,    /* reference to an absent common row */
  ESMM_DS_SKIPPED_CONV_NO_CLICK = 16,     /* click 0, conversion 1, policy drop or error+skip */
  ESMM_DS_CONV_NO_CLICK_READ = 17,        /* rows read with click 0, conversion 1 (any policy) */
  ESMM_DS_FEATURES_IGNORED = 18,          /* features of fields the field list lacks, ignored */
  ESMM_DS_COMMON_LINES = 19,              /* common-feature rows read */
  ESMM_DS_COMMON_SKIPPED = 20,            /* common-feature rows skipped as malformed */
  ESMM_DS_MAPPED = 21,                    /* 1 when the dataset is a read-only mapped cache */
  /* @since 1.1: the rest of the data report (esmm_dataset_report) and
   * where the rows came from (esmm_dataset_row_source). */
  ESMM_DS_CONV_NO_CLICK_ZEROED = 22,      /* rows read with click 0, conversion 1 and kept with
                                             the conversion set to 0 (conv_no_click=zero) */
  ESMM_DS_CONV_NO_CLICK_POLICY = 23,      /* the esmm_conv_no_click in force when the rows were
                                             read; -1 when no reader filled the dataset */
  ESMM_DS_ON_ERROR_POLICY = 24,           /* the esmm_on_error in force; -1 likewise */
  ESMM_DS_MESSAGES = 25,                  /* messages kept (esmm_dataset_report_message) */
  ESMM_DS_ROW_LINES = 26,                 /* 1 when the rows know their source line */
  ESMM_DS_ROW_IDS = 27,                   /* 1 when the rows carry ids (CSV spec clause id=) */
  ESMM_DS_SKIPPED_LISTED = 28             /* skipped rows listed with their line
                                             (esmm_dataset_skipped_row); equals ESMM_DS_SKIPPED
                                             for a dataset a 1.1 reader filled */
} esmm_dataset_stat_key;

/* Why a reader skipped a row (esmm_dataset_skipped_row). Pinned,
 * append-only; names from esmm_skip_reason_name. */
typedef enum {
  ESMM_SKIP_MALFORMED = 0,      /* "malformed": syntax, numbers, column count, quotes, NUL bytes */
  ESMM_SKIP_LABEL = 1,          /* "label": a label outside {0,1} */
  ESMM_SKIP_MISSING_COMMON = 2, /* "missing_common": an absent or malformed common row */
  ESMM_SKIP_CONV_NO_CLICK = 3   /* "conv_no_click": click 0, conversion 1 under conv_no_click=drop,
                                   or =error with on_error=skip */
} esmm_skip_reason;

/* Messages a read keeps (the first ones, in file order). */
#define ESMM_REPORT_MESSAGES 5

/**
 * What a read found: every row of the input accounted for. Filled by
 * esmm_dataset_report; passed as (pointer, sizeof), so the struct only
 * grows at its end and a caller built against an older header keeps
 * working. A "row" is one data line of the input (one record of a CSV with
 * quoted line breaks); header, blank and comment lines are not rows.
 * rows_read = rows_kept + skipped for a dataset a reader filled. Counts of
 * a dataset built in memory are 0 except the ones computed from its rows
 * (rows_kept, clicks, conversions, clicked_conversions, commons); the
 * policies are then -1 and source is "".
 * @since 1.1
 */
typedef struct esmm_data_report {
  int64_t rows_read;              /* data rows read (ESMM_DS_LINES) */
  int64_t rows_kept;              /* rows in the dataset (ESMM_DS_ROWS) */
  int64_t clicks;                 /* kept rows with click 1 */
  int64_t conversions;            /* kept rows with conversion 1 */
  int64_t clicked_conversions;    /* kept rows with click 1 and conversion 1 */
  int64_t conv_no_click_read;     /* rows read with click 0 and conversion 1, whatever the
                                     policy (ESMM_DS_CONV_NO_CLICK_READ) */
  int64_t conv_no_click_kept;     /* of those: kept as read (conv_no_click=keep) */
  int64_t conv_no_click_zeroed;   /* kept with the conversion set to 0 (=zero) */
  int64_t conv_no_click_skipped;  /* not kept (=drop, or =error with on_error=skip) */
  int64_t skipped;                /* rows read and not kept, every reason */
  int64_t skipped_malformed;      /* by reason (esmm_skip_reason) ... */
  int64_t skipped_label;
  int64_t skipped_missing_common;
  int64_t skipped_conv_no_click;
  int64_t commons;                /* common lists stored (ESMM_DS_COMMONS) */
  int64_t common_lines;           /* common-feature rows read (Ali-CCP common file) */
  int64_t common_skipped;         /* common-feature rows skipped as malformed */
  int64_t features_ignored;       /* features of fields the field list lacks (unknown_field=ignore) */
  int64_t messages;               /* messages kept (at most ESMM_REPORT_MESSAGES) */
  int64_t conv_no_click_policy;   /* esmm_conv_no_click in force, -1 when no reader filled the dataset */
  int64_t on_error_policy;        /* esmm_on_error in force, -1 likewise */
  const char *source;             /* the input's name ("-" for standard input, "" for none);
                                     borrowed from the dataset */
} esmm_data_report;

/* Per-row ground truths known to the simulator. Pinned, append-only. */
typedef enum {
  ESMM_TRUTH_CTR = 0,   /* p(y=1 | x) */
  ESMM_TRUTH_CVR = 1,   /* p(z=1 | y=1, x): the paper's pCVR */
  ESMM_TRUTH_CTCVR = 2, /* p(y=1, z=1 | x) = p(z=1 | x) */
  ESMM_TRUTH_CVR_CF = 3 /* p(r=1 | x): conversion if the impression were clicked */
} esmm_truth;
#define ESMM_TRUTH_COUNT 4

/**
 * Create an empty dataset whose field list and allocator are copied from
 * cfg (NULL = defaults).
 * @return ESMM_OK, ESMM_EINVAL, ESMM_ENOMEM. *out is NULL on failure.
 * Ownership: free with esmm_dataset_free. @since 1.0
 */
ESMM_API int esmm_dataset_new(esmm_dataset **out, const esmm_config *cfg);

/** Free a dataset; NULL is a no-op. @since 1.0 */
ESMM_API void esmm_dataset_free(esmm_dataset *ds);

/**
 * Append one common feature list (shared by the rows that reference it).
 * @param nnz     number of features (may be 0).
 * @param field   nnz field indices in [0, fields).
 * @param id      nnz feature ids (any 64-bit value).
 * @param value   nnz finite values, or NULL for all 1.0.
 * @param[out] index_out  index of the new list (may be NULL).
 * @return ESMM_OK, ESMM_EINVAL (bad field index, NULL arrays with nnz > 0),
 * ESMM_ENUMERIC (non-finite value), ESMM_ENOMEM. Unchanged on failure.
 * @since 1.0
 */
ESMM_API int esmm_dataset_add_common(esmm_dataset *ds, size_t nnz, const int *field, const uint64_t *id,
                                     const float *value, int64_t *index_out);

/**
 * Append n rows in CSR form. Row i has labels click[i], conversion[i]
 * (each 0 or 1), features [offsets[i], offsets[i+1]) of field/id/value,
 * and references common list common[i] (-1 for none; common may be NULL
 * for none at all). offsets has n+1 entries, starts at 0 and never
 * decreases. value may be NULL (all 1.0).
 * @return ESMM_OK; ESMM_EINVAL (labels outside {0,1}, bad field index, bad
 * offsets, unknown common index; the message names the row),
 * ESMM_ENUMERIC (non-finite value), ESMM_ENOMEM. Nothing is appended on
 * failure.
 * @since 1.0
 */
ESMM_API int esmm_dataset_add_rows(esmm_dataset *ds, size_t n, const int *click, const int *conversion,
                                   const int64_t *common, const int64_t *offsets, const int *field,
                                   const uint64_t *id, const float *value);

/**
 * Read a count (esmm_dataset_stat_key).
 * @return ESMM_OK, ESMM_EINVAL (NULL argument or unknown key). @since 1.0
 */
ESMM_API int esmm_dataset_stat(const esmm_dataset *ds, int key, int64_t *out);

/**
 * Copy the labels of rows [first, first+n) to click/conversion (either may
 * be NULL).
 * @return ESMM_OK, ESMM_EINVAL (range outside the dataset). @since 1.0
 */
ESMM_API int esmm_dataset_labels(const esmm_dataset *ds, size_t first, size_t n, int *click,
                                 int *conversion);

/**
 * Borrow row i: its labels, its common index (-1 = none) and its own
 * features (the common list is read with esmm_dataset_common). Any output
 * may be NULL. Pointers stay valid until rows are added or the dataset is
 * freed.
 * @return ESMM_OK, ESMM_EINVAL (i out of range). @since 1.0
 */
ESMM_API int esmm_dataset_row(const esmm_dataset *ds, size_t i, int *click_out, int *conversion_out,
                              int64_t *common_out, size_t *nnz_out, const int **field_out,
                              const uint64_t **id_out, const float **value_out);

/**
 * Borrow common list c. Same conventions as esmm_dataset_row.
 * @return ESMM_OK, ESMM_EINVAL (c out of range). @since 1.0
 */
ESMM_API int esmm_dataset_common(const esmm_dataset *ds, size_t c, size_t *nnz_out, const int **field_out,
                                 const uint64_t **id_out, const float **value_out);

/**
 * Name of field i of the dataset's field list (borrowed).
 * @return ESMM_OK, ESMM_EINVAL. @since 1.0
 */
ESMM_API int esmm_dataset_field_name(const esmm_dataset *ds, size_t i, const char **out);

/**
 * Attach a ground-truth column (n = rows of the dataset) of probabilities
 * in [0, 1]; replaces an earlier one of the same kind.
 * @return ESMM_OK, ESMM_EINVAL (unknown kind, n != rows, value outside
 * [0,1] or NaN), ESMM_ENOMEM. @since 1.0
 */
ESMM_API int esmm_dataset_set_truth(esmm_dataset *ds, int kind, const float *values, size_t n);

/**
 * Copy rows [first, first+n) of a ground-truth column to out.
 * @return ESMM_OK, ESMM_EINVAL (bad kind or range), ESMM_ESTATE (the
 * dataset has no such column). @since 1.0
 */
ESMM_API int esmm_dataset_truth(const esmm_dataset *ds, int kind, size_t first, size_t n, float *out);

/**
 * Set the dense (numeric) inputs of rows [first, first+n): values holds n
 * rows of ESMM_DS_DENSE floats each, row-major. Rows start with all dense
 * inputs 0; a dataset gets ESMM_OPT_DENSE_FEATURES of its config.
 * @param ds      the dataset.
 * @param first   first row.
 * @param n       number of rows (0 is a no-op).
 * @param values  n * ESMM_DS_DENSE finite floats (may be NULL when n == 0
 *                or the dataset has no dense inputs).
 * @return ESMM_OK; ESMM_EINVAL (NULL ds or values, range outside the
 * dataset), ESMM_ESHAPE (the dataset has no dense inputs and n > 0),
 * ESMM_ENUMERIC (a value is NaN or infinite; the message names row and
 * column; nothing is written), ESMM_ESTATE (the dataset is a read-only
 * mapped cache).
 * Ownership: values are copied. Thread safety: not with any other call on
 * the same dataset. @since 1.0
 */
ESMM_API int esmm_dataset_set_dense(esmm_dataset *ds, size_t first, size_t n, const float *values);

/**
 * Copy the dense inputs of rows [first, first+n) to out (n * ESMM_DS_DENSE
 * floats, row-major).
 * @return ESMM_OK; ESMM_EINVAL (NULL ds, NULL out with n > 0 and dense
 * inputs, range outside the dataset).
 * Thread safety: concurrent reads are safe. @since 1.0
 */
ESMM_API int esmm_dataset_dense(const esmm_dataset *ds, size_t first, size_t n, float *out);

/**
 * The data report of a dataset: what the reader that filled it read, kept
 * and skipped (by reason), the policies in force, common lists, ignored
 * features. Travels with the dataset into a cache file (esmm_dataset_convert,
 * esmm_dataset_save_cache) and out of it (esmm_dataset_open_cache); caches
 * written by 1.0 give the counts of 1.0 and no messages.
 * @param ds    the dataset.
 * @param[out] out   the report (source is borrowed: valid until ds is freed).
 * @param size  sizeof *out as the caller was compiled (>= 8): the library
 *              writes min(size, its own size) bytes and zero-fills the rest.
 * @return ESMM_OK; ESMM_EINVAL (NULL argument, size below 8).
 * Thread safety: concurrent reads of ds are safe. @since 1.1
 */
ESMM_API int esmm_dataset_report(const esmm_dataset *ds, esmm_data_report *out, size_t size);

/**
 * Message k (0 <= k < ESMM_DS_MESSAGES) of the read: the first
 * ESMM_REPORT_MESSAGES bad rows in file order, each
 * "<file>:<line>[:<byte column>]: <reason>" (as esmm_last_error gives them
 * under on_error=fail, without the function name; cut at 319 bytes).
 * @param[out] out  borrowed, NUL-terminated, valid until ds is freed.
 * @return ESMM_OK; ESMM_EINVAL (NULL argument, k out of range).
 * Thread safety: concurrent reads of ds are safe. @since 1.1
 */
ESMM_API int esmm_dataset_report_message(const esmm_dataset *ds, size_t k, const char **out);

/**
 * Short name of an esmm_skip_reason ("malformed", "label",
 * "missing_common", "conv_no_click"), NULL when unknown. Static storage.
 * Thread safety: safe. @since 1.1
 */
ESMM_API const char *esmm_skip_reason_name(int reason);

/**
 * Where row i came from, so that outputs join back to inputs: its line in
 * the file it was read from (1-based, the first line of a record that
 * spans lines; 0 when unknown: rows built in memory, caches written by
 * 1.0) and its id (the cell of the CSV spec's id= column, unquoted; NULL
 * and 0 when the rows carry none). Any output may be NULL.
 * @param[out] id_out      borrowed, NOT NUL-terminated: id_len_out bytes;
 *                         valid until rows are added or ds is freed.
 * @return ESMM_OK; ESMM_EINVAL (NULL ds, i out of range).
 * Thread safety: concurrent reads of ds are safe. @since 1.1
 */
ESMM_API int esmm_dataset_row_source(const esmm_dataset *ds, size_t i, int64_t *line_out, const char **id_out,
                                     size_t *id_len_out);

/**
 * Skipped row k (0 <= k < ESMM_DS_SKIPPED_LISTED) in file order: its line
 * (as for esmm_dataset_row_source) and its esmm_skip_reason. With the
 * kept rows' lines this gives one entry per input row, so that a
 * prediction file can show the skipped rows too.
 * @return ESMM_OK; ESMM_EINVAL (NULL ds, k out of range). Any output may
 * be NULL. Thread safety: concurrent reads of ds are safe. @since 1.1
 */
ESMM_API int esmm_dataset_skipped_row(const esmm_dataset *ds, size_t k, int64_t *line_out, int *reason_out);

ESMM_END_DECLS

#endif /* ESMM_DATASET_H */
