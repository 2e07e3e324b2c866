/*
 * io/cache.h (internal) - the binary dataset cache (docs/data.md): a
 * little-endian, versioned, checksummed image of the dataset's columns,
 * laid out so that a memory mapping can be used in place. Owns the byte
 * layout, the streaming writer used by conversions (columns spooled to
 * temporary files next to the target, then concatenated: memory is a few
 * buffers whatever the input size) and the validating loader.
 */
#ifndef ESMM__IO_CACHE_H
#define ESMM__IO_CACHE_H

#include "dataset.h"
#include "internal.h"

#define ESMM__CACHE_VERSION 1u

typedef struct esmm__cache_writer esmm__cache_writer;

int esmm__cw_open(esmm__cache_writer **out, const esmm__allocator *a, const char *func, const char *path,
                  size_t n_fields, const char (*names)[ESMM_MAX_FIELD_NAME + 1], size_t n_dense);
int esmm__cw_common(esmm__cache_writer *w, size_t nnz, const int *field, const uint64_t *id, const float *value,
                    int64_t *index_out);
/* n rows in CSR form as for esmm_dataset_add_rows, already validated;
 * dense is n x n_dense (NULL when n_dense is 0). */
int esmm__cw_rows(esmm__cache_writer *w, size_t n, const int *click, const int *conv, const int64_t *common,
                  const int64_t *off, const int *field, const uint64_t *id, const float *value, const float *dense);
/* Write the file (atomically) with these reader counts; frees w. */
int esmm__cw_finish(esmm__cache_writer *w, const int64_t *read_stat);

/* Discard everything (temporary files included); frees w. NULL-safe. */
void esmm__cw_abort(esmm__cache_writer *w);

#endif /* ESMM__IO_CACHE_H */
