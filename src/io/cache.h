/*
 * io/cache.h (internal) - the binary dataset cache (docs/data.md): a
 * little-endian, versioned, checksummed image of the dataset's columns,
 * laid out so that a memory mapping can be used in place. Owns the byte
 * layout, the streaming writer (a row sink, io/sink.h: columns spooled to
 * temporary files next to the target, then concatenated; memory is a few
 * buffers whatever the input size) and the validating loader.
 */
#ifndef ESMM__IO_CACHE_H
#define ESMM__IO_CACHE_H

#include "sink.h"

/* A cache writer for path, as a sink: its finish writes the file
 * atomically. Free it with esmm__cw_abort in every case (after a finish it
 * only releases memory; before, it also removes the temporaries). */
int esmm__cw_open(esmm__sink **out, const esmm__allocator *a, const char *func, const char *path, size_t n_fields,
                  const char (*names)[ESMM_MAX_FIELD_NAME + 1], size_t n_dense);
void esmm__cw_abort(esmm__sink *w);

/* Open a cache from a descriptor of a regular file (mapped) or from bytes
 * (copied); messages name func and name. */
int esmm__cache_open_fd(esmm_dataset **out, const esmm_config *cfg, const char *func, const char *name, int fd);
int esmm__cache_open_buffer(esmm_dataset **out, const esmm_config *cfg, const char *func, const char *name,
                            const void *data, size_t len);

#endif /* ESMM__IO_CACHE_H */
