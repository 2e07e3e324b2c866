/* blas.c - the only includer of <cblas.h>. Wraps row-major SGEMM so the
 * rest of the library never sees BLAS types and degenerate shapes never
 * reach the BLAS (whose xerbla would print to stderr on a 0 leading
 * dimension). */
#include "blas.h"

#include <cblas.h>

/* OpenBLAS's query functions, weak so that another CBLAS links too. */
#pragma weak openblas_get_num_threads
#pragma weak openblas_get_corename
#include <stdlib.h>
#include <string.h>

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
  /* A single row or column is a matrix-vector product. OpenBLAS's SGEMM
   * packs both operands into blocks before its kernel runs; for one row the
   * packing of B (the whole weight matrix) dominates: scoring one
   * impression took 34.5 us (default towers) / 84.8 us (wide) through
   * SGEMM and 8.5 / 21.1 us through GEMV (make bench, 1 OpenBLAS thread,
   * docs/performance.md). Same sums; only the float rounding of the
   * reduction order can differ. */
  if ((m == 1 || n == 1) && beta == 0.0f)
    scale_c(m, n, 0.0f, c, ldc); /* GEMV scales y by beta: 0 * NaN must not survive in y */
  if (m == 1) {
    /* c[0, :] = alpha * a_row * op(B) + beta * c: op(B) is k x n */
    size_t inc_a = trans_a ? lda : 1;
    if (trans_b) /* B stored n x k: c = B a */
      cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n, (int)k, alpha, b, (int)ldb, a, (int)inc_a, beta, c, 1);
    else /* B stored k x n: c = B^T a */
      cblas_sgemv(CblasRowMajor, CblasTrans, (int)k, (int)n, alpha, b, (int)ldb, a, (int)inc_a, beta, c, 1);
    return;
  }
  if (n == 1) {
    /* c[:, 0] = alpha * op(A) * b_col + beta * c: op(A) is m x k */
    size_t inc_b = trans_b ? 1 : ldb;
    if (trans_a) /* A stored k x m */
      cblas_sgemv(CblasRowMajor, CblasTrans, (int)k, (int)m, alpha, a, (int)lda, b, (int)inc_b, beta, c, (int)ldc);
    else
      cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)m, (int)k, alpha, a, (int)lda, b, (int)inc_b, beta, c, (int)ldc);
    return;
  }
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              /* callers (mlp creation) keep every dimension below INT_MAX */
              (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c,
              (int)ldc);
}

size_t esmm__blas_threads(void) {
  int n = openblas_get_num_threads ? openblas_get_num_threads() : 1;
  return n > 1 ? (size_t)n : 1;
}


const char *esmm__blas_hint(void) {
#if defined(__x86_64__) && defined(__GNUC__)
  const char *core = openblas_get_corename ? openblas_get_corename() : NULL;
  __builtin_cpu_init(); /* idempotent; the CPU model may not be filled in yet for this object */
  if (core && (!strcmp(core, "Haswell") || !strcmp(core, "Zen")) && __builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq"))
    return getenv("OPENBLAS_CORETYPE")
               ? "OpenBLAS runs its AVX2 kernels on this AVX-512 CPU because OPENBLAS_CORETYPE pins them; without it "
                 "(or with OPENBLAS_CORETYPE=SkylakeX) its AVX-512 kernels run the towers ~1.6-1.8x faster"
               : "OpenBLAS runs its AVX2 kernels on this AVX-512 CPU: OPENBLAS_CORETYPE=SkylakeX in the environment "
                 "selects its AVX-512 kernels (~1.6-1.8x the towers' GEMM throughput where measured)";
#endif
  return NULL;
}
