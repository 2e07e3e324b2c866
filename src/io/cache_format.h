/*
 * io/cache_format.h (internal) - the byte layout of the binary cache, shared
 * by its writer (io/cache_write.c) and its loader (io/cache.c): header
 * offsets, the column table and each column's element size (docs/data.md).
 */
#ifndef ESMM__IO_CACHE_FORMAT_H
#define ESMM__IO_CACHE_FORMAT_H

#include "dataset.h"

#include <stdint.h>

#define ESMM__CACHE_VERSION 2u /* format written; 1 and 2 are read */

#define NCOL1 12 /* columns of format 1, table at OFF_TABLE */
#define NCOL 17  /* columns of format 2: 5 more, table after the names */
#define HDR_FIXED 512
#define NAME_BYTES 64
#define OFF_STATS 72
#define OFF_TABLE 200
#define OFF_CRC 488
#define NSTAT 16
#define REPORT_MAX (ESMM__SOURCE_BYTES + ESMM__MESSAGES * ESMM__MESSAGE_BYTES)

/* The columns, in file order; a dataset array each (io/cache_write.c
 * dataset_columns, io/cache.c attach_columns). */
enum {
  C_CLICK, C_CONV, C_COMMON, C_ROWOFF, C_FIELD, C_ID, C_VALUE, C_COMOFF, C_CFIELD, C_CID, C_CVALUE, C_DENSE,
  C_LINE, C_KEYOFF, C_KEY, C_SKIP, C_REPORT
};

/* Bytes per element of column k. */
static inline size_t esmm__cache_elem(int k) {
  static const unsigned char elem[NCOL] = {4, 4, 8, 8, 4, 8, 4, 8, 4, 8, 4, 4, 8, 8, 1, 16, 1};
  return elem[k];
}

static inline uint64_t esmm__align64(uint64_t x) { return (x + 63) & ~(uint64_t)63; }

/* Bytes of the header: fixed part, names, and (format 2) the table of the
 * columns beyond the first twelve. */
static inline uint64_t esmm__cache_header_bytes(uint32_t version, uint64_t n_fields) {
  uint64_t names_end = HDR_FIXED + (uint64_t)NAME_BYTES * n_fields;
  return version >= 2 ? esmm__align64(names_end + 8 + 24 * (NCOL - NCOL1)) : esmm__align64(names_end);
}

/* Where column k's table entry sits in a header of n_fields names. */
static inline uint64_t esmm__cache_entry(int k, uint64_t n_fields) {
  if (k < NCOL1)
    return OFF_TABLE + 24 * (uint64_t)k;
  return HDR_FIXED + (uint64_t)NAME_BYTES * n_fields + 8 + 24 * (uint64_t)(k - NCOL1);
}

#define ESMM__CACHE_MAGIC "ESMMDATA"

/* The refusal of a big-endian host (the columns are used in place). */
static inline int esmm__cache_big_endian(const char *func) {
  return esmm__error(ESMM_ERROR, func, "the cache format is little-endian; this host is not (unsupported)");
}

#endif /* ESMM__IO_CACHE_FORMAT_H */
