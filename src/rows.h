/*
 * rows.h (internal) - turning feature lists into tower inputs, shared by the
 * training step (train_slice.c) and prediction (infer.c) so that both pool
 * bit-identically:
 *   - a row's input: its own features pooled into a zeroed row, its common
 *     list's pooling (pooled on its own, once per run of rows that share it)
 *     added, then its numeric inputs;
 *   - the first-layer split plan of a block of rows: when the fields of the
 *     block's common lists form one contiguous block U of columns that no
 *     row's own features touch, layer 0 takes each run's common part once
 *     (mlp.h, esmm__mlp_split). Decided per block from the block's own rows,
 *     so training and serving make the same choice for the same rows.
 * Knows the embedding and the feature-list shape; nothing of datasets,
 * models or towers.
 */
#ifndef ESMM__ROWS_H
#define ESMM__ROWS_H

#include "embedding.h"

#include <string.h>

/* A list of features: field indices, ids, values (NULL = all 1). */
typedef struct esmm__flist {
  size_t nnz;
  const int *field;
  const uint64_t *id;
  const float *value;
} esmm__flist;

/* A common list pooled on its own into cp (pool_dim floats). */
static inline void esmm__rows_pool_list(const esmm_embedding *e, size_t pool_dim, const esmm__flist *l, float *cp) {
  memset(cp, 0, pool_dim * sizeof *cp);
  esmm__embedding_pool(e, l->nnz, l->field, l->id, l->value, cp);
}

/* One tower input x (pool_dim + n_dense floats): the own features into a
 * zeroed row, the common part cp added (NULL: none), the numeric inputs
 * copied after the pooled fields. */
static inline void esmm__rows_pool(const esmm_embedding *e, size_t pool_dim, size_t n_dense, float *x,
                                   const esmm__flist *own, const float *cp, const float *dense) {
  memset(x, 0, pool_dim * sizeof *x);
  esmm__embedding_pool(e, own->nnz, own->field, own->id, own->value, x);
  if (cp)
    for (size_t k = 0; k < pool_dim; k++)
      x[k] += cp[k];
  if (n_dense)
    memcpy(x + pool_dim, dense, n_dense * sizeof *x);
}

/* A block of rows, however they are stored (dataset rows, host CSR rows,
 * one user's candidate items): row k's own features, common list id (-1 =
 * none; consecutive rows with the same id share the list) and numeric
 * inputs (NULL when the model has none), and the features of a common
 * list. */
typedef struct esmm__block {
  size_t n;
  void (*row)(const void *ctx, size_t k, esmm__flist *own, int64_t *common, const float **dense);
  void (*common)(const void *ctx, int64_t c, esmm__flist *list);
  const void *ctx;
} esmm__block;

/* Number the runs of the block into run[0..n) (-1: no common list);
 * returns the run count, *with = rows that have a common list. */
size_t esmm__rows_runs(const esmm__block *b, int64_t *run, size_t *with);

/* The first-layer split of a block whose runs are numbered: 1 with the
 * column block [*ulo, *uhi) when want >= 0, the pooled width is not 0, the
 * block has runs that average 2+ rows (or want > 0), its common lists'
 * fields span one block of fields and no own feature of its rows has a
 * field there; else 0. The same rows give the same answer in training and
 * in serving. */
int esmm__rows_split(const esmm__block *b, const int64_t *run, size_t runs, size_t with, size_t dim,
                     size_t pool_dim, int want, size_t *ulo, size_t *uhi);

#endif /* ESMM__ROWS_H */
