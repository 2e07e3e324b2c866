/* rows.c - runs and the first-layer split of a block of rows (rows.h). */
#include "rows.h"

size_t esmm__rows_runs(const esmm__block *b, int64_t *run, size_t *with) {
  size_t runs = 0;
  int64_t prev = -1;
  *with = 0;
  for (size_t k = 0; k < b->n; k++) {
    esmm__flist own;
    int64_t c;
    const float *dense;
    b->row(b->ctx, k, &own, &c, &dense);
    if (c < 0) {
      run[k] = -1;
      prev = -1;
      continue;
    }
    (*with)++;
    if (k == 0 || c != prev)
      runs++;
    run[k] = (int64_t)runs - 1;
    prev = c;
  }
  return runs;
}

int esmm__rows_split(const esmm__block *b, const int64_t *run, size_t runs, size_t with, size_t dim,
                     size_t pool_dim, int want, size_t *ulo, size_t *uhi) {
  int lo = INT32_MAX, hi = -1;
  /* the split pays when the runs average 2 rows or more: below that the
   * per-run GEMM and the run sums cost more than they save (a row shuffle
   * gives runs of ~1 row) */
  if (want < 0 || runs == 0 || pool_dim == 0 || (want == 0 && 2 * runs > with))
    return 0;
  for (size_t k = 0; k < b->n; k++) {
    esmm__flist own, l;
    int64_t c;
    const float *dense;
    if (run[k] < 0 || (k > 0 && run[k - 1] == run[k]))
      continue;
    b->row(b->ctx, k, &own, &c, &dense);
    b->common(b->ctx, c, &l);
    for (size_t j = 0; j < l.nnz; j++) {
      if (l.field[j] < lo)
        lo = l.field[j];
      if (l.field[j] > hi)
        hi = l.field[j];
    }
  }
  if (hi < 0)
    return 0;
  for (size_t k = 0; k < b->n; k++) {
    esmm__flist own;
    int64_t c;
    const float *dense;
    b->row(b->ctx, k, &own, &c, &dense);
    for (size_t j = 0; j < own.nnz; j++)
      if (own.field[j] >= lo && own.field[j] <= hi)
        return 0;
  }
  *ulo = (size_t)lo * dim;
  *uhi = (size_t)(hi + 1) * dim;
  return 1;
}
