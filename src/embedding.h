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

/* A scatter in two parts, so that the accumulation can run on several
 * threads with results bit-identical to esmm__embedding_scatter's:
 * esmm__embedding_scatter_plan claims the slots of nnz features in sg
 * exactly as esmm__embedding_scatter would (same slot numbers, in the same
 * order; the slots' gradients are not written) and appends one item per
 * feature to items[*n_items .. cap) (ESMM_EBUFS when sg or items is full).
 * The items keep a pointer to grad_pooled, which must stay unchanged until
 * the items are applied. esmm__embedding_scatter_apply then zeroes the
 * slots [lo, hi) of sg and adds every item of a slot in [lo, hi) to it, in
 * item order: each slot sums the same terms in the same order as
 * esmm__embedding_scatter would, whatever the split. Calls with disjoint
 * [lo, hi) may run concurrently; it allocates nothing and cannot fail. */
typedef struct esmm__scatter_item {
  int32_t slot;
  float value;
  const float *src; /* dim floats: the pooled gradient of the feature's field */
} esmm__scatter_item;
int esmm__embedding_scatter_plan(esmm_embedding *e, size_t nnz, const int *field, const uint64_t *id,
                                 const float *value, const float *grad_pooled, esmm__sparse_grad *sg,
                                 esmm__scatter_item *items, size_t cap, size_t *n_items);
void esmm__embedding_scatter_apply(const esmm_embedding *e, const esmm__scatter_item *items, size_t n_items,
                                   esmm__sparse_grad *sg, size_t lo, size_t hi);

/* Forget the rows of sg in the table's scratch and empty sg. Must follow
 * every sequence of scatters before the next one begins. */
void esmm__embedding_scatter_end(esmm_embedding *e, esmm__sparse_grad *sg);

#endif /* ESMM__EMBEDDING_H */
