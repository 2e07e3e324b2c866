/* blas.c - the only includer of <cblas.h>. Wraps row-major SGEMM so the
 * rest of the library never sees BLAS types and degenerate shapes never
 * reach the BLAS (whose xerbla would print to stderr on a 0 leading
 * dimension). */
#include "blas.h"

#include <cblas.h>

/* BLAS semantics for an empty inner dimension: C = beta * C, and beta 0
 * overwrites (NaN in C must not survive). */
static void scale_c(size_t m, size_t n, float beta, float *c, size_t ldc) {
  for (size_t i = 0; i < m; i++) {
    float *row = c + i * ldc;
    for (size_t j = 0; j < n; j++)
      row[j] = beta == 0.0f ? 0.0f : beta * row[j];
  }
}

void esmm__sgemm(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha, const float *a,
                 size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc) {
  if (m == 0 || n == 0)
    return;
  if (k == 0 || alpha == 0.0f) {
    scale_c(m, n, beta, c, ldc);
    return;
  }
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              /* callers (mlp creation) keep every dimension below INT_MAX */
              (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c,
              (int)ldc);
}
