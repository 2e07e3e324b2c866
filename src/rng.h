/*
 * rng.h - per-handle random numbers (xoshiro256** seeded by splitmix64) and
 * the stateless 64-bit mixer used for feature hashing. No global state:
 * every handle that needs randomness owns an esmm__rng.
 */
#ifndef ESMM__RNG_H
#define ESMM__RNG_H

#include <stdint.h>

typedef struct esmm__rng {
  uint64_t s[4];
} esmm__rng;

void esmm__rng_seed(esmm__rng *r, uint64_t seed);
uint64_t esmm__rng_next(esmm__rng *r);
/* Uniform double in [0, 1). */
double esmm__rng_uniform(esmm__rng *r);
/* Standard normal (Box-Muller, both draws consumed for reproducibility). */
double esmm__rng_normal(esmm__rng *r);
/* Uniform integer in [0, n), n > 0, without modulo bias. */
uint64_t esmm__rng_below(esmm__rng *r, uint64_t n);

/* splitmix64 finaliser: a bijective, well-mixed hash of x. */
static inline uint64_t esmm__mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

#endif /* ESMM__RNG_H */
