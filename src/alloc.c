/* alloc.c - allocator indirection; every allocation of the library goes
 * through a handle's esmm__allocator so hosts (and fault-injection tests)
 * can route or fail it. */
#include "internal.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The default allocator keeps the pointer malloc/calloc returned just
 * below the aligned block it hands out. That lets esmm__calloc take large
 * zeroed blocks from calloc, which for fresh mappings skips the memset the
 * kernel already did: an optimizer's moments of a table of millions of
 * rows then cost memory only for the rows a model ever updates, instead of
 * every page being written at construction. */
static void *aligned_in(void *raw, size_t align) {
  uintptr_t p = ((uintptr_t)raw + sizeof(void *) + align - 1) & ~(uintptr_t)(align - 1);
  ((void **)p)[-1] = raw;
  return (void *)p;
}

static void *default_alloc_zeroed(size_t size, size_t align, int zero) {
  void *raw;
  if (align < sizeof(void *))
    align = sizeof(void *);
  if ((align & (align - 1)) != 0 || size > SIZE_MAX - align - sizeof(void *))
    return NULL;
  raw = zero ? calloc(1, size + align + sizeof(void *)) : malloc(size + align + sizeof(void *));
  return raw ? aligned_in(raw, align) : NULL;
}

static void *default_alloc(void *payload, size_t size, size_t align) {
  (void)payload;
  return default_alloc_zeroed(size ? size : 1, align, 0);
}

static void default_free(void *payload, void *p) {
  (void)payload;
  if (p)
    free(((void **)p)[-1]);
}

esmm__allocator esmm__allocator_default(void) {
  esmm__allocator a = {default_alloc, default_free, NULL};
  return a;
}

void *esmm__alloc(const esmm__allocator *a, size_t size) {
  if (!a || !a->alloc)
    return default_alloc(NULL, size, ESMM__ALIGN);
  return a->alloc(a->payload, size ? size : 1, ESMM__ALIGN);
}

int esmm__mul_ok(size_t a, size_t b, size_t *out) {
  if (a && b > SIZE_MAX / a)
    return 0;
  *out = a * b;
  return 1;
}

void *esmm__calloc(const esmm__allocator *a, size_t n, size_t size) {
  size_t total;
  void *p;
  if (!esmm__mul_ok(n, size, &total))
    return NULL;
  if (!a || a->alloc == default_alloc)
    return default_alloc_zeroed(total ? total : 1, ESMM__ALIGN, 1);
  p = esmm__alloc(a, total);
  if (p)
    memset(p, 0, total);
  return p;
}

void esmm__free(const esmm__allocator *a, void *p) {
  if (!p)
    return;
  if (!a || !a->free)
    default_free(NULL, p);
  else
    a->free(a->payload, p);
}

/* Branch-free over blocks (so the compiler vectorises it), with an early
 * exit between blocks. */
ESMM__HOT int esmm__all_finite(const float *x, size_t n) {
  for (size_t i = 0; i < n; i += 1024) {
    size_t e = n - i < 1024 ? n - i : 1024;
    uint32_t bad = 0;
    for (size_t k = 0; k < e; k++) {
      uint32_t u;
      memcpy(&u, &x[i + k], sizeof u);
      bad |= (u & 0x7f800000u) == 0x7f800000u; /* exponent all ones: Inf or NaN */
    }
    if (bad)
      return 0;
  }
  return 1;
}
