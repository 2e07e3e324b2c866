/* hash.c - the public face of the readers' id derivation (esmm/hash.h). */
#include "hash.h"

#include "internal.h"

int esmm_hash_string(const char *s, size_t n, uint64_t *out) {
  ESMM__CHECK_ARG(out);
  ESMM__CHECK_ARG(s || n == 0);
  *out = esmm__hash_bytes(n ? s : "", n);
  return ESMM_OK;
}

int esmm_hash_category(const char *s, size_t n, uint64_t *out) {
  ESMM__CHECK_ARG(out);
  ESMM__CHECK_ARG(s);
  if (n == 0)
    return ESMM__ERR(ESMM_EINVAL, "an empty category is no feature (the readers store none)");
  *out = esmm__category_id(s, n);
  return ESMM_OK;
}
