/* sgemm_shapes.c - one single-threaded SGEMM stream at the shapes of a
 * training slice (`make bench-blas`): the same program linked against
 * OpenBLAS and against BLIS, to choose the BLAS by measurement
 * (docs/performance.md, "BLAS threading").
 *
 * A stream makes exactly the GEMMs of one slice's training step of both
 * wide towers (414-360-200-80-1 by default): forward X W, weight gradient
 * X^T D and input gradient D W^T per layer. It runs for a fixed time and
 * prints GFLOP/s (median of 5 repetitions). Run it with one BLAS thread
 * (OPENBLAS_NUM_THREADS=1, BLIS_NUM_THREADS=1): the library's workers each
 * call the BLAS single-threaded.
 *
 *   sgemm_shapes [rows [seconds]]     rows of the slice (default 512)
 */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_sec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  static const int width[] = {414, 360, 200, 80, 1};
  const int layers = 4;
  int n = argc > 1 ? atoi(argv[1]) : 512;
  double seconds = argc > 2 ? atof(argv[2]) : 1.0, g[5];
  size_t big = (size_t)n * 414 + 414 * 360;
  /* inputs are never written (outputs go to y, gw, gx): values stay normal
   * numbers, no denormal or Inf slows a run down */
  float *x = calloc(big, sizeof *x), *w = calloc(big, sizeof *w), *y = calloc(big, sizeof *y);
  float *gw = calloc(big, sizeof *gw), *gx = calloc(big, sizeof *gx);
  if (n < 1 || !x || !w || !y || !gw || !gx) {
    fprintf(stderr, "sgemm_shapes: bad rows or out of memory\n");
    return 1;
  }
  for (size_t i = 0; i < big; i++)
    x[i] = (float)(i % 13) * 0.01f, w[i] = (float)(i % 7) * 0.02f;
  for (int r = 0; r < 5; r++) {
    double flops = 0, t0 = now_sec(), t;
    do {
      for (int tower = 0; tower < 2; tower++)
        for (int l = 0; l < layers; l++) {
          int in = width[l], out = width[l + 1];
          /* forward: (n x in)(in x out) */
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, out, in, 1.0f, x, in, w, out, 0.0f, y, out);
          /* weight gradient: (in x n)(n x out) */
          cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in, out, n, 1.0f, x, in, y, out, 0.0f, gw, out);
          /* input gradient: (n x out)(out x in) */
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, in, out, 1.0f, y, out, w, out, 0.0f, gx, in);
          flops += 6.0 * n * in * out;
        }
      t = now_sec() - t0;
    } while (t < seconds);
    g[r] = flops / t * 1e-9;
  }
  qsort(g, 5, sizeof g[0], cmp);
  printf("%.1f GFLOP/s (median of 5), slice of %d rows, both wide towers, one thread\n", g[2], n);
  free(x), free(w), free(y), free(gw), free(gx);
  return 0;
}
