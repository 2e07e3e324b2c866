/*
 * dataset.h (internal) - the layout of esmm_dataset, read directly by the
 * model's batch assembly. Owns row storage (labels, CSR features, common
 * lists, dense inputs, truths) and what a reader found (report, source
 * lines, row ids, skipped rows); knows nothing of models nor of file
 * formats: readers hand rows in as esmm__rows batches. dataset.c stores,
 * dataset_report.c reads back what a reader found.
 *
 * Storage is columnar and CSR: row r owns features
 * [row_off[r], row_off[r+1]) of field/id/value and references common list
 * common[r] (-1 none), whose features are [com_off[c], com_off[c+1]) of
 * com_field/com_id/com_value. Arrays grow geometrically while rows are
 * added (amortised; never during training or prediction).
 *
 * Every write into the feature arrays goes through esmm__dataset_append and
 * esmm__dataset_append_common (esmm_dataset_add_rows/_add_common validate
 * and call them); io/cache.c maps a cache file onto them in one function.
 */
#ifndef ESMM__DATASET_H
#define ESMM__DATASET_H

#include "internal.h"

/* Reader counts, esmm__report.stat[ESMM__RS_*]. The first ten are the
 * esmm_dataset_stat keys ESMM_DS_LINES .. ESMM_DS_COMMON_SKIPPED in that
 * order (and the first ten count slots of a cache file). */
enum {
  ESMM__RS_LINES,          /* ESMM_DS_LINES */
  ESMM__RS_SKIPPED,        /* ESMM_DS_SKIPPED */
  ESMM__RS_MALFORMED,      /* ESMM_DS_SKIPPED_MALFORMED */
  ESMM__RS_LABEL,          /* ESMM_DS_SKIPPED_LABEL */
  ESMM__RS_MISSING_COMMON, /* ESMM_DS_SKIPPED_MISSING_COMMON */
  ESMM__RS_CNC_SKIPPED,    /* ESMM_DS_SKIPPED_CONV_NO_CLICK */
  ESMM__RS_CNC_READ,       /* ESMM_DS_CONV_NO_CLICK_READ */
  ESMM__RS_IGNORED,        /* ESMM_DS_FEATURES_IGNORED */
  ESMM__RS_COMMON_LINES,   /* ESMM_DS_COMMON_LINES */
  ESMM__RS_COMMON_SKIPPED, /* ESMM_DS_COMMON_SKIPPED */
  ESMM__RS_CNC_ZEROED,     /* ESMM_DS_CONV_NO_CLICK_ZEROED */
  ESMM__RS_COUNT
};
#define ESMM__READ_FIRST ESMM_DS_LINES /* stat key of ESMM__RS_LINES */

#define ESMM__MESSAGES 5          /* messages kept per read (ESMM_DS_MESSAGES) */
#define ESMM__MESSAGE_BYTES 320   /* per message, NUL included (longer ones are cut) */
#define ESMM__SOURCE_BYTES 1024   /* name of the input, NUL included */

/* What a reader found: kept by the dataset it filled and by a cache. */
typedef struct esmm__report {
  int64_t stat[ESMM__RS_COUNT];
  int cnc_policy, on_error; /* esmm_conv_no_click / esmm_on_error in force; -1 = not read by a reader */
  size_t n_msg;             /* messages kept, <= ESMM__MESSAGES */
  char msg[ESMM__MESSAGES][ESMM__MESSAGE_BYTES]; /* "file:line[:col]: reason" */
  char source[ESMM__SOURCE_BYTES];               /* input name ("" = none) */
} esmm__report;

/* A row a reader did not keep: its source line and esmm_skip_reason.
 * 16 bytes, the layout of a cache file's skipped-rows column. */
typedef struct esmm__skip {
  int64_t line;
  int32_t reason;
  int32_t zero;
} esmm__skip;

/* A batch of rows in CSR form, already valid (labels 0/1, field indices in
 * range, finite values, existing common lists): what readers hand to a sink. */
typedef struct esmm__rows {
  size_t n;
  const int *click, *conv;
  const int64_t *common;  /* n entries, -1 = none; NULL = none at all */
  const int64_t *off;     /* n + 1 offsets, off[0] == 0 */
  const int *field;       /* off[n] features */
  const uint64_t *id;
  const float *value;     /* NULL = all 1 */
  const float *dense;     /* n x n_dense, or NULL = all 0 */
  const int64_t *line;    /* n source lines, or NULL (unknown) */
  const int64_t *key_off; /* n + 1 offsets into key (key_off[0] == 0), or NULL (no row ids) */
  const char *key;
  size_t n_skip;          /* rows skipped before these (in line order) */
  const esmm__skip *skip;
} esmm__rows;

struct esmm_dataset {
  esmm__allocator alloc;
  size_t n_fields;
  char (*names)[ESMM_MAX_FIELD_NAME + 1];

  size_t n_rows, cap_rows;
  int *click, *conv;
  int64_t *common;  /* n_rows entries, -1 = none */
  int64_t *row_off; /* n_rows + 1 entries */

  size_t nnz, cap_nnz;
  int *field;
  uint64_t *id;
  float *value;

  size_t n_common, cap_common;
  int64_t *com_off; /* n_common + 1 entries */
  size_t com_nnz, cap_com_nnz;
  int *com_field;
  uint64_t *com_id;
  float *com_value;

  float *truth[ESMM_TRUTH_COUNT]; /* NULL when absent; n_rows floats */

  /* Numeric inputs fed to the towers next to the pooled embeddings:
   * n_dense floats per row (ESMM_OPT_DENSE_FEATURES of the creating
   * config), row-major, 0 until set. dense is NULL when n_dense == 0. */
  size_t n_dense;
  float *dense; /* cap_rows x n_dense */

  int64_t n_clicks, n_conv, n_clicked_conv, n_conv_no_click, n_rows_with_common;

  /* Where the rows came from (readers): the source line of each row (0 =
   * unknown), NULL until a row with a line is added; the row ids (bytes
   * [key_off[r], key_off[r+1]) of key), NULL until a row with an id is
   * added; the rows the reader skipped; the report. */
  int64_t *line;    /* cap_rows */
  int64_t *key_off; /* cap_rows + 1 */
  char *key;
  size_t key_len, cap_key;
  esmm__skip *skip;
  size_t n_skip, cap_skip;
  esmm__report rep;

  /* Set when the arrays above (not truth) point into a read-only mapping
   * of a cache file (esmm_dataset_open_cache): they are never grown, written
   * or freed; esmm_dataset_free unmaps map_base/map_len instead (map_len 0:
   * map_base is one block from the allocator, a copied cache buffer). */
  int mapped;
  void *map_base;
  size_t map_len;
};

/* Create an empty dataset with the given field list and allocator. */
int esmm__dataset_create(esmm_dataset **out, const esmm__allocator *a, size_t n_fields,
                         const char (*names)[ESMM_MAX_FIELD_NAME + 1]);

/* Give an empty dataset n_dense dense inputs per row (zero-filled as rows
 * are added). ESMM_ESTATE when it already has rows or is mapped. */
int esmm__dataset_set_dense_width(esmm_dataset *ds, size_t n_dense);

/* Append a valid batch (nothing is checked but memory; all or nothing).
 * ESMM_ENOMEM without a message (the caller names the function). */
int esmm__dataset_append(esmm_dataset *ds, const esmm__rows *b);
/* Append a valid common list; *index_out = its index. ENOMEM as above. */
int esmm__dataset_append_common(esmm_dataset *ds, size_t nnz, const int *field, const uint64_t *id,
                                const float *value, int64_t *index_out);
/* Grow the arrays to hold at least these totals (a hint from a reader that
 * knows its input size: fewer reallocations, lower peak). ENOMEM as above. */
int esmm__dataset_reserve(esmm_dataset *ds, size_t rows, size_t nnz, size_t commons, size_t com_nnz);
/* Free the (empty) owned arrays before io/cache.c points them into a mapping. */
void esmm__dataset_drop_arrays(esmm_dataset *ds);

/* An empty report (no reader: policies -1). */
void esmm__report_clear(esmm__report *r);

/* Field lists equal (same names, same order) between a dataset and a config. */
int esmm__dataset_fields_match(const esmm_dataset *ds, const esmm_config *cfg);

/* Largest number of features (own + common) of any single row. */
size_t esmm__dataset_max_row_nnz(const esmm_dataset *ds);

#endif /* ESMM__DATASET_H */
