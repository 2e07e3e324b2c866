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
  ESMM_DS_MAPPED = 21                     /* 1 when the dataset is a read-only mapped cache */
} esmm_dataset_stat_key;

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

ESMM_END_DECLS

#endif /* ESMM_DATASET_H */
