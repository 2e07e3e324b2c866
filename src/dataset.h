/*
 * dataset.h (internal) - the layout of esmm_dataset, read directly by the
 * model's batch assembly and by the readers. Owns row storage (labels,
 * CSR features, common lists, truths); knows nothing of models.
 *
 * Storage is columnar and CSR: row r owns features
 * [row_off[r], row_off[r+1]) of field/id/value and references common list
 * common[r] (-1 none), whose features are [com_off[c], com_off[c+1]) of
 * com_field/com_id/com_value. Arrays grow geometrically while rows are
 * added (amortised; never during training or prediction).
 */
#ifndef ESMM__DATASET_H
#define ESMM__DATASET_H

#include "internal.h"

/* Reader counts: esmm_dataset_stat keys ESMM__READ_FIRST + k. */
#define ESMM__READ_FIRST ESMM_DS_LINES
#define ESMM__READ_STATS (ESMM_DS_COMMON_SKIPPED - ESMM_DS_LINES + 1)

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

  /* Counts kept by the readers (esmm_dataset_stat keys ESMM_DS_LINES ..
   * ESMM_DS_COMMON_SKIPPED, in that order); 0 for datasets built in memory. */
  int64_t read_stat[ESMM__READ_STATS];

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

/* Field lists equal (same names, same order) between a dataset and a config. */
int esmm__dataset_fields_match(const esmm_dataset *ds, const esmm_config *cfg);

/* Largest number of features (own + common) of any single row. */
size_t esmm__dataset_max_row_nnz(const esmm_dataset *ds);

#endif /* ESMM__DATASET_H */
