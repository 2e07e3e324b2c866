/*
 * internal.h - what every library source file needs: the public headers,
 * the error helper, the allocator indirection and argument checks.
 * Owns no state. Internal non-static symbols are named esmm__<module>_<verb>
 * so that the static library cannot clash with host code.
 */
#ifndef ESMM__INTERNAL_H
#define ESMM__INTERNAL_H

#include <esmm/esmm.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define ESMM__PRINTF(a, b) __attribute__((format(printf, a, b)))
#define ESMM__UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define ESMM__PRINTF(a, b)
#define ESMM__UNLIKELY(x) (x)
#endif

/* Hot element-wise loops (pooling and scattering embedding rows, the
 * optimizer update, the towers' bias/activation passes, gradient sums and
 * finiteness scans) are compiled three times, for AVX-512, AVX2 and the
 * baseline x86-64, and the dynamic loader picks one for the CPU it runs on
 * (GCC's target_clones, an ifunc): the library stays one binary for any
 * x86-64 while these loops run 16 floats at a time where the CPU can. The
 * library is built with -ffp-contract=off, so every clone does exactly the
 * baseline's arithmetic (no fused multiply-adds), element by element:
 * results do not depend on the clone. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__) && !defined(ESMM_NO_CLONES)
#define ESMM__HOT __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define ESMM__HOT
#endif

/* Record "<func>: <message>" as this thread's last error and return status. */
int esmm__error(int status, const char *func, const char *fmt, ...) ESMM__PRINTF(3, 4);
int esmm__verror(int status, const char *func, const char *fmt, va_list ap);
#define ESMM__ERR(status, ...) esmm__error((status), __func__, __VA_ARGS__)

/* A failure reported by an internal function (its message begins with its
 * own name: "esmm__mlp_create: ...", "sg_reserve: ...") as the failure of
 * the public call func: the message keeps its text, its first word becomes
 * func (a message that names another public function - a call func made -
 * stays as it is, with func in front). Returns status. */
int esmm__error_in(int status, const char *func);

/* Refuse a NULL or otherwise invalid argument with a message naming it. */
#define ESMM__CHECK_ARG(cond)                                                      \
  do {                                                                             \
    if (ESMM__UNLIKELY(!(cond)))                                                   \
      return esmm__error(ESMM_EINVAL, __func__, "invalid argument: %s", #cond);    \
  } while (0)

/* Propagate a failing status. */
#define ESMM__TRY(expr)          \
  do {                           \
    int esmm__rc_ = (expr);      \
    if (esmm__rc_ < 0)           \
      return esmm__rc_;          \
  } while (0)

/* Allocator: copied by value into every handle from its config. */
typedef struct esmm__allocator {
  esmm_alloc_fn alloc;
  esmm_free_fn free;
  void *payload;
} esmm__allocator;

#define ESMM__ALIGN 64 /* GEMM operands and tables start on cache lines */

/* The default allocator (posix_memalign/free). */
esmm__allocator esmm__allocator_default(void);
/* size bytes aligned to ESMM__ALIGN, or NULL (size 0 gives a valid pointer). */
void *esmm__alloc(const esmm__allocator *a, size_t size);
/* n*size zeroed bytes with overflow check, or NULL. */
void *esmm__calloc(const esmm__allocator *a, size_t n, size_t size);
void esmm__free(const esmm__allocator *a, void *p);
/* Overflow-checked a*b; returns 0 on overflow (and *out untouched). */
int esmm__mul_ok(size_t a, size_t b, size_t *out);

/* Logging helper: formats and calls the sink when level <= max_level. */
typedef struct esmm__logger {
  esmm_log_fn fn;
  int max_level;
  void *payload;
} esmm__logger;
void esmm__log(const esmm__logger *lg, int level, const char *fmt, ...) ESMM__PRINTF(3, 4);

/* True when every float in x[0..n) is finite. */
int esmm__all_finite(const float *x, size_t n);

#endif /* ESMM__INTERNAL_H */
