/* embedding.c - hashed per-field tables: sum-pool gather and sparse
 * scatter-add of gradients. The slot scratch (one int32 per row) turns
 * deduplication of touched rows into O(nnz) without any allocation. */
#include "embedding.h"

#include <math.h>
#include <string.h>

/* The header promises fewer than 2^40 floats overall. */
#define MAX_FLOATS ((size_t)1 << 40)

static void embedding_destroy(esmm_embedding *e) {
  esmm__allocator a;
  if (!e)
    return;
  a = e->alloc;
  esmm__free(&a, e->base);
  esmm__free(&a, e->w);
  esmm__free(&a, e->slot);
  esmm__free(&a, e);
}

/* Errors are reported under func, the entry point the caller used. */
static int emb_check_shape(const char *func, size_t n_fields, const int64_t *buckets, size_t dim,
                       double init_scale, size_t *rows_out) {
  size_t rows = 0, floats;
  if (n_fields < 1 || n_fields > (size_t)INT32_MAX)
    return esmm__error(ESMM_EINVAL, func, "n_fields must be in [1, %d], got %zu", INT32_MAX, n_fields);
  if (dim < 1)
    return esmm__error(ESMM_EINVAL, func, "dim must be >= 1, got 0");
  if (!(init_scale >= 0.0) || !isfinite(init_scale))
    return esmm__error(ESMM_EINVAL, func, "init_scale must be finite and >= 0, got %g", init_scale);
  for (size_t f = 0; f < n_fields; f++) {
    if (buckets[f] < 1 || (uint64_t)buckets[f] >= MAX_FLOATS)
      return esmm__error(ESMM_EINVAL, func, "buckets[%zu] must be in [1, 2^40), got %lld", f,
                         (long long)buckets[f]);
    rows += (size_t)buckets[f];
    if (rows >= MAX_FLOATS)
      return esmm__error(ESMM_EINVAL, func, "total bucket count exceeds 2^40");
  }
  if (!esmm__mul_ok(rows, dim, &floats) || floats >= MAX_FLOATS)
    return esmm__error(ESMM_EINVAL, func, "table of %zu rows x %zu exceeds 2^40 floats", rows, dim);
  *rows_out = rows;
  return ESMM_OK;
}

static void embedding_init(esmm_embedding *e, const int64_t *buckets, double init_scale, uint64_t seed) {
  esmm__rng rng;
  size_t count = e->rows * e->dim;
  e->base[0] = 0;
  for (size_t f = 0; f < e->n_fields; f++)
    e->base[f + 1] = e->base[f] + buckets[f];
  esmm__rng_seed(&rng, seed);
  for (size_t i = 0; i < count; i++)
    e->w[i] = (float)(init_scale * esmm__rng_normal(&rng));
  for (size_t r = 0; r < e->rows; r++)
    e->slot[r] = -1;
}

static int emb_create(const char *func, esmm_embedding **out, const esmm__allocator *a, size_t n_fields,
                  const int64_t *buckets, size_t dim, double init_scale, uint64_t seed) {
  esmm_embedding *e;
  size_t rows = 0; /* set by emb_check_shape; initialised for -Wmaybe-uninitialized */
  if (!out)
    return esmm__error(ESMM_EINVAL, func, "invalid argument: out != NULL");
  *out = NULL;
  if (!buckets)
    return esmm__error(ESMM_EINVAL, func, "invalid argument: buckets != NULL");
  ESMM__TRY(emb_check_shape(func, n_fields, buckets, dim, init_scale, &rows));
  e = esmm__calloc(a, 1, sizeof *e);
  if (!e)
    return esmm__error(ESMM_ENOMEM, func, "cannot allocate the table handle");
  e->alloc = a ? *a : esmm__allocator_default();
  e->n_fields = n_fields;
  e->dim = dim;
  e->rows = rows;
  e->base = esmm__calloc(a, n_fields + 1, sizeof *e->base);
  e->w = esmm__calloc(a, rows * dim, sizeof *e->w);
  e->slot = esmm__calloc(a, rows, sizeof *e->slot);
  if (!e->base || !e->w || !e->slot) {
    embedding_destroy(e);
    return esmm__error(ESMM_ENOMEM, func, "cannot allocate a table of %zu rows x %zu", rows, dim);
  }
  embedding_init(e, buckets, init_scale, seed);
  *out = e;
  return ESMM_OK;
}

int esmm__embedding_create(esmm_embedding **out, const esmm__allocator *a, size_t n_fields,
                           const int64_t *buckets, size_t dim, double init_scale, uint64_t seed) {
  return emb_create(__func__, out, a, n_fields, buckets, dim, init_scale, seed);
}

int esmm_embedding_new(esmm_embedding **out, size_t n_fields, const int64_t *buckets, size_t dim,
                       double init_scale, uint64_t seed) {
  esmm__allocator a = esmm__allocator_default();
  return emb_create(__func__, out, &a, n_fields, buckets, dim, init_scale, seed);
}

void esmm_embedding_free(esmm_embedding *e) { embedding_destroy(e); }

int esmm_embedding_shape(const esmm_embedding *e, size_t *n_fields_out, size_t *dim_out, size_t *rows_out) {
  ESMM__CHECK_ARG(e != NULL);
  if (n_fields_out)
    *n_fields_out = e->n_fields;
  if (dim_out)
    *dim_out = e->dim;
  if (rows_out)
    *rows_out = e->rows;
  return ESMM_OK;
}

int esmm_embedding_row(const esmm_embedding *e, int field, uint64_t id, int64_t *out) {
  ESMM__CHECK_ARG(e != NULL);
  ESMM__CHECK_ARG(out != NULL);
  if (field < 0 || (size_t)field >= e->n_fields)
    return ESMM__ERR(ESMM_EINVAL, "field %d out of range [0, %zu)", field, e->n_fields);
  *out = esmm__embedding_row(e, field, id);
  return ESMM_OK;
}

int esmm_embedding_weights(esmm_embedding *e, float **out) {
  ESMM__CHECK_ARG(e != NULL);
  ESMM__CHECK_ARG(out != NULL);
  *out = e->w;
  return ESMM_OK;
}

/* y += a * x over one embedding row: the gather and scatter of every
 * feature of every impression. A plain loop; the functions that call it are
 * compiled per instruction set (ESMM__HOT), where it becomes one or two
 * vector operations for the usual widths. */
static inline void axpy(size_t n, float a, const float *restrict x, float *restrict y) {
  for (size_t d = 0; d < n; d++)
    y[d] += a * x[d];
}

ESMM__HOT void esmm__embedding_pool(const esmm_embedding *e, size_t nnz, const int *field, const uint64_t *id,
                          const float *value, float *out) {
  size_t dim = e->dim;
  for (size_t j = 0; j < nnz; j++) {
    const float *row = e->w + (size_t)esmm__embedding_row(e, field[j], id[j]) * dim;
    axpy(dim, value ? value[j] : 1.0f, row, out + (size_t)field[j] * dim);
  }
}

ESMM__HOT void esmm__embedding_pool_rec(const esmm_embedding *e, size_t nnz, const int *field, const uint64_t *id,
                              const float *value, float *out, esmm__feat *items, uint32_t src_base) {
  size_t dim = e->dim;
  for (size_t j = 0; j < nnz; j++) {
    int64_t r = esmm__embedding_row(e, field[j], id[j]);
    float v = value ? value[j] : 1.0f;
    uint32_t off = (uint32_t)((size_t)field[j] * dim);
    axpy(dim, v, e->w + (size_t)r * dim, out + off);
    items[j].row = r;
    items[j].value = v;
    items[j].src = src_base + off;
  }
}

ESMM__HOT void esmm__embedding_pool_feats(const esmm_embedding *e, const esmm__feat *items, size_t n, float *out,
                                uint32_t src_base) {
  size_t dim = e->dim;
  for (size_t j = 0; j < n; j++)
    axpy(dim, items[j].value, e->w + (size_t)items[j].row * dim, out + (items[j].src - src_base));
}

/* Slot of row r in sg, claiming a fresh one (its gradient zeroed) on first
 * sight; -1 when sg is full. */
static int32_t claim_slot(esmm_embedding *e, int64_t r, esmm__sparse_grad *sg) {
  int32_t s = e->slot[r];
  if (s >= 0)
    return s;
  if (sg->n >= sg->cap || sg->n >= (size_t)INT32_MAX)
    return -1;
  s = (int32_t)sg->n++;
  e->slot[r] = s;
  sg->rows[s] = r;
  memset(sg->g + (size_t)s * e->dim, 0, e->dim * sizeof *sg->g);
  return s;
}

ESMM__HOT int esmm__embedding_scatter(esmm_embedding *e, size_t nnz, const int *field, const uint64_t *id,
                            const float *value, const float *grad_pooled, esmm__sparse_grad *sg) {
  size_t dim = e->dim;
  for (size_t j = 0; j < nnz; j++) {
    int32_t s = claim_slot(e, esmm__embedding_row(e, field[j], id[j]), sg);
    float v = value ? value[j] : 1.0f;
    const float *src = grad_pooled + (size_t)field[j] * dim;
    float *dst;
    if (s < 0)
      return ESMM__ERR(ESMM_EBUFS, "sparse gradient full at %zu rows", sg->cap);
    dst = sg->g + (size_t)s * dim;
    axpy(dim, v, src, dst);
  }
  return ESMM_OK;
}

ESMM__HOT int esmm__embedding_scatter_part(esmm_embedding *e, const esmm__feat *items, size_t n, const float *grad,
                                 size_t p, size_t n_parts, esmm__sparse_grad *sg) {
  size_t dim = e->dim;
  for (size_t j = 0; j < n; j++) {
    const esmm__feat *it = &items[j];
    int32_t s;
    if (n_parts > 1 && esmm__embedding_part(it->row, n_parts) != p)
      continue;
    s = claim_slot(e, it->row, sg);
    if (s < 0)
      return ESMM__ERR(ESMM_EBUFS, "sparse gradient full at %zu rows", sg->cap);
    axpy(dim, it->value, grad + it->src, sg->g + (size_t)s * dim);
  }
  return ESMM_OK;
}

void esmm__embedding_scatter_end(esmm_embedding *e, esmm__sparse_grad *sg) {
  for (size_t i = 0; i < sg->n; i++)
    e->slot[sg->rows[i]] = -1;
  sg->n = 0;
}

/* Validate a CSR batch on behalf of the public function func. */
static int check_batch(const char *func, const esmm_embedding *e, size_t n, const int64_t *offsets,
                       const int *field, const uint64_t *id, const float *value, size_t *nnz_out) {
  size_t nnz;
  if (offsets[0] < 0)
    return esmm__error(ESMM_EINVAL, func, "offsets[0] must be >= 0, got %lld", (long long)offsets[0]);
  for (size_t i = 0; i < n; i++)
    if (offsets[i + 1] < offsets[i])
      return esmm__error(ESMM_EINVAL, func, "offsets must be non-decreasing: offsets[%zu] = %lld < %lld",
                         i + 1, (long long)offsets[i + 1], (long long)offsets[i]);
  nnz = (size_t)(offsets[n] - offsets[0]);
  if (nnz > 0 && (!field || !id))
    return esmm__error(ESMM_EINVAL, func, "field and id must not be NULL when there are features");
  for (size_t j = 0; j < nnz; j++) {
    if (field[j] < 0 || (size_t)field[j] >= e->n_fields)
      return esmm__error(ESMM_EINVAL, func, "field[%zu] = %d out of range [0, %zu)", j, field[j],
                         e->n_fields);
    if (value && !isfinite(value[j]))
      return esmm__error(ESMM_EINVAL, func, "value[%zu] is not finite", j);
  }
  *nnz_out = nnz;
  return ESMM_OK;
}

int esmm_embedding_forward(const esmm_embedding *e, size_t n, const int64_t *offsets, const int *field,
                           const uint64_t *id, const float *value, float *out) {
  size_t nnz, width;
  ESMM__CHECK_ARG(e != NULL);
  ESMM__CHECK_ARG(offsets != NULL);
  ESMM__CHECK_ARG(out != NULL || n == 0);
  ESMM__TRY(check_batch(__func__, e, n, offsets, field, id, value, &nnz));
  width = e->n_fields * e->dim;
  if (n > 0)
    memset(out, 0, n * width * sizeof *out);
  for (size_t i = 0; i < n; i++) {
    size_t start = (size_t)(offsets[i] - offsets[0]);
    size_t count = (size_t)(offsets[i + 1] - offsets[i]);
    esmm__embedding_pool(e, count, field + start, id + start, value ? value + start : NULL, out + i * width);
  }
  return ESMM_OK;
}

/* Distinct rows of the batch not yet in sg, marking them -2 in the scratch. */
static size_t count_unstored(esmm_embedding *e, size_t nnz, const int *field, const uint64_t *id) {
  size_t extra = 0;
  for (size_t j = 0; j < nnz; j++) {
    int64_t r = esmm__embedding_row(e, field[j], id[j]);
    if (e->slot[r] == -1) {
      e->slot[r] = -2;
      extra++;
    }
  }
  return extra;
}

/* Put every row the batch may have marked back to -1 (stored or counted). */
static void reset_rows(esmm_embedding *e, size_t nnz, const int *field, const uint64_t *id) {
  for (size_t j = 0; j < nnz; j++)
    e->slot[esmm__embedding_row(e, field[j], id[j])] = -1;
}

static int scatter_batch(esmm_embedding *e, size_t n, const int64_t *offsets, const int *field,
                         const uint64_t *id, const float *value, const float *grad, esmm__sparse_grad *sg) {
  size_t width = e->n_fields * e->dim;
  for (size_t i = 0; i < n; i++) {
    size_t start = (size_t)(offsets[i] - offsets[0]);
    size_t count = (size_t)(offsets[i + 1] - offsets[i]);
    int rc = esmm__embedding_scatter(e, count, field + start, id + start, value ? value + start : NULL,
                                     grad + i * width, sg);
    if (rc < 0)
      return rc;
  }
  return ESMM_OK;
}

int esmm_embedding_backward(esmm_embedding *e, size_t n, const int64_t *offsets, const int *field,
                            const uint64_t *id, const float *value, const float *grad, int64_t *rows_out,
                            float *grads_out, size_t cap, size_t *n_rows_out) {
  esmm__sparse_grad sg;
  size_t nnz;
  int rc;
  ESMM__CHECK_ARG(e != NULL);
  ESMM__CHECK_ARG(offsets != NULL);
  ESMM__CHECK_ARG(n_rows_out != NULL);
  ESMM__CHECK_ARG(grad != NULL || n == 0);
  ESMM__CHECK_ARG(cap == 0 || (rows_out != NULL && grads_out != NULL));
  ESMM__TRY(check_batch(__func__, e, n, offsets, field, id, value, &nnz));
  if (!esmm__all_finite(grad, n * e->n_fields * e->dim))
    return ESMM__ERR(ESMM_EINVAL, "grad contains a non-finite value");
  sg.n = 0;
  sg.cap = cap;
  sg.rows = rows_out;
  sg.g = grads_out;
  rc = scatter_batch(e, n, offsets, field, id, value, grad, &sg);
  if (rc == ESMM_OK) {
    *n_rows_out = sg.n;
    esmm__embedding_scatter_end(e, &sg);
    return ESMM_OK;
  }
  *n_rows_out = sg.n + count_unstored(e, nnz, field, id);
  reset_rows(e, nnz, field, id);
  return ESMM__ERR(ESMM_EBUFS, "cap %zu is too small: %zu distinct rows needed", cap, *n_rows_out);
}
