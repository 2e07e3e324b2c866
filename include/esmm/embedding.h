/*
 * esmm/embedding.h - parts API: hashed embedding tables with per-field
 * sum pooling.
 *
 * One table holds the rows of every field; field f owns rows
 * [base_f, base_f + buckets_f), so hash collisions within a field never
 * reach another field's rows. A feature (f, id, value) maps to row
 * base_f + hash(id) mod buckets_f. Pooling sums value * row over the
 * features of each field of a sample; the pooled sample is the
 * concatenation of its fields' sums (n_fields * dim floats; a field with
 * no feature pools to zeros).
 *
 * Every function works on caller buffers; nothing is allocated after
 * esmm_embedding_new. Thread safety: forward and row lookups may run
 * concurrently on one table; backward and weight updates may not.
 */
#ifndef ESMM_EMBEDDING_H
#define ESMM_EMBEDDING_H

#include "common.h"

ESMM_BEGIN_DECLS

typedef struct esmm_embedding esmm_embedding;

/**
 * Create a table of n_fields fields, buckets[f] rows each (>= 1, sum below
 * 2^40 floats overall), width dim, rows initialised N(0, init_scale^2) from
 * seed. The table also keeps one int32 per row of scratch for backward.
 * @return ESMM_OK, ESMM_EINVAL, ESMM_ENOMEM. @since 1.0
 */
ESMM_API int esmm_embedding_new(esmm_embedding **out, size_t n_fields, const int64_t *buckets, size_t dim,
                                double init_scale, uint64_t seed);

/** Free a table; NULL is a no-op. @since 1.0 */
ESMM_API void esmm_embedding_free(esmm_embedding *e);

/** Shape of the table; any output may be NULL. @return ESMM_OK, ESMM_EINVAL. @since 1.0 */
ESMM_API int esmm_embedding_shape(const esmm_embedding *e, size_t *n_fields_out, size_t *dim_out,
                                  size_t *rows_out);

/**
 * The table row that feature (field, id) reads.
 * @return ESMM_OK, ESMM_EINVAL (field out of range). @since 1.0
 */
ESMM_API int esmm_embedding_row(const esmm_embedding *e, int field, uint64_t id, int64_t *out);

/**
 * Borrow the weights, rows x dim row-major, writable (for optimizers and
 * tests). Valid until the table is freed.
 * @return ESMM_OK, ESMM_EINVAL. @since 1.0
 */
ESMM_API int esmm_embedding_weights(esmm_embedding *e, float **out);

/**
 * Pool n samples given in CSR form (offsets has n+1 entries; sample i owns
 * features [offsets[i], offsets[i+1]) - offsets[0]). value may be NULL
 * (weights 1). out receives n x (n_fields*dim) floats, overwritten.
 * @return ESMM_OK, ESMM_EINVAL (NULL pointer, bad offsets, field out of
 * range). @since 1.0
 */
ESMM_API int esmm_embedding_forward(const esmm_embedding *e, size_t n, const int64_t *offsets,
                                    const int *field, const uint64_t *id, const float *value, float *out);

/**
 * Sparse gradient of a loss with respect to the table, given grad (n x
 * n_fields*dim, the gradient with respect to forward's out) for the same
 * samples: the distinct rows touched, in order of first appearance, and for
 * each the summed value-weighted gradient (dim floats). cap is the capacity
 * of rows_out in rows (grads_out holds cap*dim floats); the number of
 * distinct rows never exceeds the number of features.
 * @param[out] n_rows_out  number of distinct rows (also set on ESMM_EBUFS).
 * @return ESMM_OK, ESMM_EINVAL, ESMM_EBUFS (cap too small).
 * Thread safety: uses the table's scratch; not concurrent with itself.
 * @since 1.0
 */
ESMM_API int esmm_embedding_backward(esmm_embedding *e, size_t n, const int64_t *offsets, const int *field,
                                     const uint64_t *id, const float *value, const float *grad,
                                     int64_t *rows_out, float *grads_out, size_t cap, size_t *n_rows_out);

ESMM_END_DECLS

#endif /* ESMM_EMBEDDING_H */
