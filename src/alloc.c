/* alloc.c - allocator indirection; every allocation of the library goes
 * through a handle's esmm__allocator so hosts (and fault-injection tests)
 * can route or fail it. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void *default_alloc(void *payload, size_t size, size_t align) {
  void *p = NULL;
  (void)payload;
  if (align < sizeof(void *))
    align = sizeof(void *);
  if (posix_memalign(&p, align, size ? size : 1) != 0)
    return NULL;
  return p;
}

static void default_free(void *payload, void *p) {
  (void)payload;
  free(p);
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

int esmm__all_finite(const float *x, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(x[i]))
      return 0;
  return 1;
}
