/*
 * embedding.h (internal) - hashed embedding tables. Owns the weights of
 * every field (one contiguous table, field f at rows [base[f], base[f+1])),
 * the id -> row hash and the per-row scratch used to deduplicate sparse
 * gradients. Knows nothing of towers, datasets or optimizers.
 */
#ifndef ESMM__EMBEDDING_H
#define ESMM__EMBEDDING_H

#include "internal.h"
#include "rng.h"

struct esmm_embedding {
  esmm__allocator alloc;
  size_t n_fields, dim, rows;
  int64_t *base; /* n_fields + 1 entries; base[f+1] - base[f] = buckets of f */
  float *w;      /* rows x dim */
  int32_t *slot; /* rows entries, -1 when the row is not in the sparse gradient being built */
};

/* Create with an explicit allocator (the public constructor uses the default). */
int esmm__embedding_create(esmm_embedding **out, const esmm__allocator *a, size_t n_fields,
                           const int64_t *buckets, size_t dim, double init_scale, uint64_t seed);

/* Row of feature (f, id). The hash is salted by nothing: ids are mixed by
 * splitmix64 and reduced modulo the field's bucket count. */
static inline int64_t esmm__embedding_row(const esmm_embedding *e, int f, uint64_t id) {
  uint64_t b = (uint64_t)(e->base[f + 1] - e->base[f]);
  uint64_t h = esmm__mix64(id);
  /* A power-of-two bucket count (the default, 32768) takes a mask instead
   * of a 64-bit division (tens of cycles, twice per feature per training
   * step: gather and scatter). h & (b-1) == h % b exactly, so rows, and
   * model files, are unchanged. */
  return e->base[f] + (int64_t)((b & (b - 1)) == 0 ? h & (b - 1) : h % b);
}

/* out[f*dim .. f*dim+dim) += value * row(f, id) for each of the nnz
 * features (value NULL = 1). out is one sample's pooled vector. Features
 * must have valid field indices (checked by the dataset). */
void esmm__embedding_pool(const esmm_embedding *e, size_t nnz, const int *field, const uint64_t *id,
                          const float *value, float *out);

/* A sparse gradient being accumulated: distinct rows and their summed
 * gradients (dim floats each). Buffers are owned by the caller and sized
 * for the largest batch it will see. */
typedef struct esmm__sparse_grad {
  size_t n, cap;
  int64_t *rows; /* cap */
  float *g;      /* cap x dim */
} esmm__sparse_grad;

/* For each of the nnz features of one sample: grad row(f,id) += value *
 * grad_pooled[f*dim ..]. Returns ESMM_EBUFS when sg is full (the caller
 * sized it too small: a bug, as the capacity is the feature count). */
int esmm__embedding_scatter(esmm_embedding *e, size_t nnz, const int *field, const uint64_t *id,
                            const float *value, const float *grad_pooled, esmm__sparse_grad *sg);

/* A feature of a training batch as its scatter sees it: the embedding row
 * it pooled, its value, and where the gradient of its field's pooled input
 * is: src floats into the step's gradient buffer (the pooled field starts
 * there; the same offset serves the second table's buffer, whose layout is
 * the same). Recorded while pooling, so the hash runs once per feature. */
typedef struct esmm__feat {
  int64_t row;
  float value;
  uint32_t src;
} esmm__feat;

/* esmm__embedding_pool that also records each feature in items[0..nnz):
 * row, value, src = src_base + field * dim. */
void esmm__embedding_pool_rec(const esmm_embedding *e, size_t nnz, const int *field, const uint64_t *id,
                              const float *value, float *out, esmm__feat *items, uint32_t src_base);

/* Pooling of recorded features through another table of the same shape
 * (a variant's second table): out[src - src_base ..] += value * row. */
void esmm__embedding_pool_feats(const esmm_embedding *e, const esmm__feat *items, size_t n, float *out,
                                uint32_t src_base);

/* Part p of n_parts of a batch's sparse gradient: for every item, in item
 * order, whose row falls in part p (esmm__embedding_part), claim its slot
 * in sg and add value * grad[src ..] to it. Parts are disjoint sets of
 * rows, so calls for different parts may run concurrently (each with its
 * own sg), and each row sums its terms in item order whatever n_parts is:
 * results are bit-identical for any number of parts. Returns ESMM_EBUFS
 * when sg is full (a caller bug: its capacity is the item count). */
int esmm__embedding_scatter_part(esmm_embedding *e, const esmm__feat *items, size_t n, const float *grad,
                                 size_t p, size_t n_parts, esmm__sparse_grad *sg);

/* The part of row r among n_parts: blocks of 64 consecutive rows go to one
 * part, the blocks spread by a multiply-shift of their index. Blocks, not
 * single rows: the parts run on different threads and write the rows'
 * slot entries (4 bytes), weights and optimizer state (dim floats each);
 * rows of different parts on one cache line would bounce it between the
 * cores (measured: the scatter took as long on two threads as on one).
 * Ids are hashed into a field's rows, so blocks are evenly loaded. No
 * division per item. */
static inline size_t esmm__embedding_part(int64_t r, size_t n_parts) {
  uint32_t h = (uint32_t)(((uint64_t)(r >> 6) * 0x9E3779B97F4A7C15ULL) >> 32);
  return (size_t)(((uint64_t)h * n_parts) >> 32);
}

/* Forget the rows of sg in the table's scratch and empty sg. Must follow
 * every sequence of scatters before the next one begins. */
void esmm__embedding_scatter_end(esmm_embedding *e, esmm__sparse_grad *sg);

#endif /* ESMM__EMBEDDING_H */
