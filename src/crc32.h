/*
 * crc32.h - CRC-32 as in zlib's crc32(): start with crc = 0 and pass the
 * previous result to continue over more bytes;
 * esmm__crc32(0, "123456789", 9) == 0xCBF43926. Owns nothing.
 */
#ifndef ESMM__CRC32_H
#define ESMM__CRC32_H

#include <stddef.h>
#include <stdint.h>

uint32_t esmm__crc32(uint32_t crc, const void *buf, size_t n);

#endif /* ESMM__CRC32_H */
