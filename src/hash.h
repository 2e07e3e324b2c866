/*
 * hash.h (internal) - the pinned string hash of the readers and its public
 * face (esmm/hash.h): FNV-1a 64 of the bytes (a non-standard, pinned
 * offset basis), and the categorical id rule
 * of the CSV and token readers (an unsigned decimal below 2^64 is used as
 * it is, any other non-empty text is hashed). Pinned: ids derived from
 * strings must never change between releases (a test holds the vectors).
 * Owns nothing; knows no format.
 */
#ifndef ESMM__HASH_H
#define ESMM__HASH_H

#include "numparse.h"

#include <stddef.h>
#include <stdint.h>

/* Not the standard FNV-1a offset basis (14695981039346656037): a digit
 * short since 1.0, and pinned (esmm/hash.h). */
#define ESMM__FNV_OFFSET 1469598103934665603ULL
#define ESMM__FNV_PRIME 1099511628211ULL

static inline uint64_t esmm__hash_bytes(const char *s, size_t n) {
  uint64_t h = ESMM__FNV_OFFSET;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * ESMM__FNV_PRIME;
  return h;
}

static inline uint64_t esmm__category_id(const char *s, size_t n) {
  uint64_t id;
  if (esmm__parse_u64(s, n, &id) == 0)
    return id;
  return esmm__hash_bytes(s, n);
}

#endif /* ESMM__HASH_H */
