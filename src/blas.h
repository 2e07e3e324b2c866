/*
 * blas.h - the only door to BLAS. blas.c is the only file that includes
 * <cblas.h>; everything else calls these wrappers (row-major). The library
 * never changes OpenBLAS's process-wide thread count: hosts set
 * OPENBLAS_NUM_THREADS.
 */
#ifndef ESMM__BLAS_H
#define ESMM__BLAS_H

#include <stddef.h>

/* C = alpha * op(A) * op(B) + beta * C, row-major; op(X) = X or X^T.
 * op(A) is m x k, op(B) is k x n, C is m x n. */
void esmm__sgemm(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha, const float *a,
                 size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc);

/* Threads the BLAS itself runs a GEMM on: OpenBLAS's current count
 * (openblas_get_num_threads, a read; the library never sets it), or 1 for a
 * BLAS that does not say. The model's worker threads call the BLAS from
 * several threads at once; a BLAS with threads of its own would then run
 * threads x threads on the cores (measured: two single-threaded streams
 * reach ~235 GFLOP/s on the bench machine, two streams of two OpenBLAS
 * threads each ~115), so the model trains on one thread of its own when
 * this is above 1 (model.c). */
size_t esmm__blas_threads(void);

/* A hint for hosts, or NULL: when OpenBLAS runs its AVX2 kernels on a CPU
 * with AVX-512 (an environment that pins OPENBLAS_CORETYPE=Haswell, as the
 * bench machine's does, or a CPU that version of OpenBLAS does not know),
 * its AVX-512 kernels would run the towers' GEMMs ~1.6-1.8x faster
 * (docs/performance.md). Static text. */
const char *esmm__blas_hint(void);

#endif /* ESMM__BLAS_H */
