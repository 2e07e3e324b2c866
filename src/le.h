/*
 * le.h (internal) - the one little-endian encoder/decoder of the
 * library's file formats (model files, checkpoints, the binary cache).
 * Byte-wise, so it is correct on any host byte order and any alignment;
 * gcc and clang turn each into a single load or store on x86-64.
 * Owns nothing; knows no format.
 */
#ifndef ESMM__LE_H
#define ESMM__LE_H

#include <stdint.h>
#include <string.h>

static inline void esmm__put_u16(unsigned char *p, uint16_t v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
}

static inline void esmm__put_u32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
  p[2] = (unsigned char)(v >> 16);
  p[3] = (unsigned char)(v >> 24);
}

static inline void esmm__put_u64(unsigned char *p, uint64_t v) {
  esmm__put_u32(p, (uint32_t)v);
  esmm__put_u32(p + 4, (uint32_t)(v >> 32));
}

static inline uint16_t esmm__get_u16(const unsigned char *p) { return (uint16_t)(p[0] | (unsigned)p[1] << 8); }

static inline uint32_t esmm__get_u32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t esmm__get_u64(const unsigned char *p) {
  return (uint64_t)esmm__get_u32(p) | (uint64_t)esmm__get_u32(p + 4) << 32;
}

/* IEEE-754 bits <-> float/double; memcpy is the defined way to pun. */
static inline uint32_t esmm__f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static inline float esmm__bits_f32(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static inline uint64_t esmm__f64_bits(double d) {
  uint64_t u;
  memcpy(&u, &d, sizeof u);
  return u;
}

static inline double esmm__bits_f64(uint64_t u) {
  double d;
  memcpy(&d, &u, sizeof d);
  return d;
}

/* 1 when the host stores integers little-endian (arrays of a mapped cache
 * can then be used in place). */
static inline int esmm__host_little_endian(void) {
  const uint16_t one = 1;
  unsigned char b;
  memcpy(&b, &one, 1);
  return b == 1;
}

#endif /* ESMM__LE_H */
