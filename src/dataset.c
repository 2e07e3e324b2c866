/* dataset.c - in-memory impressions: labels, CSR feature lists, shared
 * common lists, simulator truths and what a reader found (layout in
 * dataset.h).
 *
 * Appends validate the whole input before touching anything (the public
 * functions; readers validate while parsing), and reserve every array
 * before copying, so a failing call leaves the dataset exactly as it was.
 * Arrays grow geometrically through the dataset's allocator, or to the
 * totals a reader predicts from its input size (esmm__dataset_reserve);
 * the allocator is a host hook without a realloc, so growth is alloc +
 * copy + free. */
#include "dataset.h"

#include "config.h"

#include <math.h>
#include <string.h>
#include <sys/mman.h>

#define MIN_ROWS 64
#define MIN_NNZ 256
#define MIN_COMMONS 16
#define MIN_KEY 1024
#define MIN_SKIP 16

/* Capacity that holds need elements: doubling from cur (or a floor) so that
 * n appends cost O(n) copies in total. */
static size_t grown_cap(size_t cur, size_t need, size_t floor_cap) {
  size_t c = cur ? cur : floor_cap;
  while (c < need) {
    if (c > SIZE_MAX / 2)
      return need;
    c *= 2;
  }
  return c;
}

/* Allocate k arrays of new_cap (+extra) elements of the given sizes, copy
 * used (+extra) elements of each old array, free the old ones. NULL slots
 * of arrays[] are skipped. All or nothing: on failure the old arrays are
 * untouched. */
static int regrow(const esmm__allocator *a, size_t k, void **arrays[], const size_t elem[], size_t used,
                  size_t new_cap, size_t extra) {
  void *fresh[8] = {NULL};
  size_t bytes;
  for (size_t j = 0; j < k; j++) {
    if (!arrays[j])
      continue;
    if (new_cap + extra < new_cap || !esmm__mul_ok(new_cap + extra, elem[j], &bytes) ||
        !(fresh[j] = esmm__alloc(a, bytes))) {
      for (size_t t = 0; t < j; t++)
        esmm__free(a, fresh[t]);
      return ESMM_ENOMEM;
    }
  }
  for (size_t j = 0; j < k; j++) {
    if (!arrays[j])
      continue;
    if (*arrays[j] && used + extra)
      memcpy(fresh[j], *arrays[j], (used + extra) * elem[j]);
    esmm__free(a, *arrays[j]);
    *arrays[j] = fresh[j];
  }
  return ESMM_OK;
}

/* Row arrays (labels, common, offsets, source lines and id offsets when
 * present, dense inputs) to exactly cap rows. */
static int resize_rows(esmm_dataset *ds, size_t cap) {
  /* row_off and key_off hold one more entry than there are rows: the regrow
   * copies n_rows + 1 of each array, harmless extra for the others. */
  void **arr[6] = {(void **)&ds->click, (void **)&ds->conv, (void **)&ds->common, (void **)&ds->row_off,
                   ds->line ? (void **)&ds->line : NULL, ds->key_off ? (void **)&ds->key_off : NULL};
  const size_t elem[6] = {sizeof(int), sizeof(int), sizeof(int64_t), sizeof(int64_t), sizeof(int64_t),
                          sizeof(int64_t)};
  if (ds->n_dense) {
    /* Dense first and separately: its rows are n_dense floats wide and the
     * part beyond n_rows must read as 0 ("0 until set"). If the label
     * regrow below fails, the bigger dense array is harmless. */
    size_t bytes, used;
    float *d;
    if (!esmm__mul_ok(cap, ds->n_dense * sizeof(float), &bytes) || !(d = esmm__alloc(&ds->alloc, bytes)))
      return ESMM_ENOMEM;
    used = ds->n_rows * ds->n_dense * sizeof(float);
    if (used)
      memcpy(d, ds->dense, used);
    memset((char *)d + used, 0, bytes - used);
    esmm__free(&ds->alloc, ds->dense);
    ds->dense = d;
  }
  ESMM__TRY(regrow(&ds->alloc, 6, arr, elem, ds->n_rows, cap, 1));
  ds->cap_rows = cap;
  return ESMM_OK;
}

static int reserve_rows(esmm_dataset *ds, size_t need) {
  if (need <= ds->cap_rows && ds->row_off)
    return ESMM_OK;
  return resize_rows(ds, grown_cap(ds->cap_rows, need, MIN_ROWS));
}

static int resize_nnz(esmm_dataset *ds, size_t cap) {
  void **arr[3] = {(void **)&ds->field, (void **)&ds->id, (void **)&ds->value};
  const size_t elem[3] = {sizeof(int), sizeof(uint64_t), sizeof(float)};
  ESMM__TRY(regrow(&ds->alloc, 3, arr, elem, ds->nnz, cap, 0));
  ds->cap_nnz = cap;
  return ESMM_OK;
}

static int reserve_nnz(esmm_dataset *ds, size_t need) {
  if (need <= ds->cap_nnz && ds->field)
    return ESMM_OK;
  return resize_nnz(ds, grown_cap(ds->cap_nnz, need, MIN_NNZ));
}

static int resize_commons(esmm_dataset *ds, size_t cap) {
  void **arr[1] = {(void **)&ds->com_off};
  const size_t elem[1] = {sizeof(int64_t)};
  ESMM__TRY(regrow(&ds->alloc, 1, arr, elem, ds->n_common, cap, 1));
  ds->cap_common = cap;
  return ESMM_OK;
}

static int reserve_commons(esmm_dataset *ds, size_t need) {
  if (need <= ds->cap_common && ds->com_off)
    return ESMM_OK;
  return resize_commons(ds, grown_cap(ds->cap_common, need, MIN_COMMONS));
}

static int resize_com_nnz(esmm_dataset *ds, size_t cap) {
  void **arr[3] = {(void **)&ds->com_field, (void **)&ds->com_id, (void **)&ds->com_value};
  const size_t elem[3] = {sizeof(int), sizeof(uint64_t), sizeof(float)};
  ESMM__TRY(regrow(&ds->alloc, 3, arr, elem, ds->com_nnz, cap, 0));
  ds->cap_com_nnz = cap;
  return ESMM_OK;
}

static int reserve_com_nnz(esmm_dataset *ds, size_t need) {
  if (need <= ds->cap_com_nnz && ds->com_field)
    return ESMM_OK;
  return resize_com_nnz(ds, grown_cap(ds->cap_com_nnz, need, MIN_NNZ));
}

/* Byte arrays (row ids) and skipped-row records. */
static int reserve_bytes(const esmm__allocator *a, void **p, size_t *cap, size_t used, size_t need, size_t elem,
                         size_t floor_cap) {
  void **arr[1] = {p};
  const size_t el[1] = {elem};
  size_t c;
  if (need <= *cap && *p)
    return ESMM_OK;
  c = grown_cap(*cap, need, floor_cap);
  ESMM__TRY(regrow(a, 1, arr, el, used, c, 0));
  *cap = c;
  return ESMM_OK;
}

int esmm__dataset_reserve(esmm_dataset *ds, size_t rows, size_t nnz, size_t commons, size_t com_nnz) {
  if (ds->mapped)
    return ESMM_ESTATE;
  if (rows > ds->cap_rows)
    ESMM__TRY(resize_rows(ds, rows));
  if (nnz > ds->cap_nnz)
    ESMM__TRY(resize_nnz(ds, nnz));
  if (commons > ds->cap_common)
    ESMM__TRY(resize_commons(ds, commons));
  if (com_nnz > ds->cap_com_nnz)
    ESMM__TRY(resize_com_nnz(ds, com_nnz));
  return ESMM_OK;
}

void esmm__report_clear(esmm__report *r) {
  memset(r, 0, sizeof *r);
  r->cnc_policy = -1;
  r->on_error = -1;
}

int esmm__dataset_create(esmm_dataset **out, const esmm__allocator *a, size_t n_fields,
                         const char (*names)[ESMM_MAX_FIELD_NAME + 1]) {
  esmm_dataset *ds;
  esmm__allocator al = a ? *a : esmm__allocator_default();
  *out = NULL;
  if (n_fields == 0 || n_fields > ESMM_MAX_FIELDS || !names)
    return ESMM__ERR(ESMM_EINVAL, "field list of %zu fields (need 1..%d)", n_fields, ESMM_MAX_FIELDS);
  ds = esmm__calloc(&al, 1, sizeof *ds);
  if (!ds)
    return ESMM__ERR(ESMM_ENOMEM, "out of memory");
  ds->alloc = al;
  esmm__report_clear(&ds->rep);
  ds->names = esmm__calloc(&al, n_fields, sizeof *ds->names);
  if (!ds->names) {
    esmm__free(&al, ds);
    return ESMM__ERR(ESMM_ENOMEM, "out of memory");
  }
  memcpy(ds->names, names, n_fields * sizeof *ds->names);
  ds->n_fields = n_fields;
  /* Non-NULL offset arrays from the start: the model indexes row_off[n_rows]
   * and com_off[n_common] without special cases for an empty dataset. */
  if (reserve_rows(ds, MIN_ROWS) < 0 || reserve_nnz(ds, MIN_NNZ) < 0 || reserve_commons(ds, MIN_COMMONS) < 0 ||
      reserve_com_nnz(ds, MIN_NNZ) < 0) {
    esmm_dataset_free(ds);
    return ESMM__ERR(ESMM_ENOMEM, "out of memory");
  }
  ds->row_off[0] = 0;
  ds->com_off[0] = 0;
  *out = ds;
  return ESMM_OK;
}

int esmm_dataset_new(esmm_dataset **out, const esmm_config *cfg) {
  esmm_config *tmp = NULL;
  const esmm_config *c = NULL;
  int rc;
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__TRY(esmm__config_or_default(cfg, &tmp, &c));
  rc = esmm__dataset_create(out, &c->alloc, c->n_fields, (const char(*)[ESMM_MAX_FIELD_NAME + 1])c->names);
  if (rc == ESMM_OK && (rc = esmm__dataset_set_dense_width(*out, (size_t)esmm__config_int(c, ESMM_OPT_DENSE_FEATURES))) < 0) {
    esmm_dataset_free(*out);
    *out = NULL;
  }
  esmm_config_free(tmp);
  if (rc < 0)
    return esmm__error(rc, __func__, "%s", rc == ESMM_ENOMEM ? "out of memory" : "invalid field list");
  return ESMM_OK;
}

void esmm__dataset_drop_arrays(esmm_dataset *ds) {
  const esmm__allocator *a = &ds->alloc;
  esmm__free(a, ds->dense);
  esmm__free(a, ds->click);
  esmm__free(a, ds->conv);
  esmm__free(a, ds->common);
  esmm__free(a, ds->row_off);
  esmm__free(a, ds->field);
  esmm__free(a, ds->id);
  esmm__free(a, ds->value);
  esmm__free(a, ds->com_off);
  esmm__free(a, ds->com_field);
  esmm__free(a, ds->com_id);
  esmm__free(a, ds->com_value);
  esmm__free(a, ds->line);
  esmm__free(a, ds->key_off);
  esmm__free(a, ds->key);
  esmm__free(a, ds->skip);
  ds->dense = NULL, ds->click = ds->conv = NULL, ds->common = ds->row_off = NULL;
  ds->field = NULL, ds->id = NULL, ds->value = NULL, ds->com_off = NULL, ds->com_field = NULL;
  ds->com_id = NULL, ds->com_value = NULL, ds->line = ds->key_off = NULL, ds->key = NULL, ds->skip = NULL;
  ds->cap_rows = ds->cap_nnz = ds->cap_common = ds->cap_com_nnz = ds->cap_key = ds->cap_skip = 0;
}

void esmm_dataset_free(esmm_dataset *ds) {
  esmm__allocator a;
  if (!ds)
    return;
  a = ds->alloc;
  esmm__free(&a, ds->names);
  for (int k = 0; k < ESMM_TRUTH_COUNT; k++)
    esmm__free(&a, ds->truth[k]);
  if (ds->mapped) {
    /* The arrays live in the mapping (or a caller's buffer, map_len 0). */
    if (ds->map_len)
      munmap(ds->map_base, ds->map_len);
    else
      esmm__free(&a, ds->map_base);
  } else {
    esmm__dataset_drop_arrays(ds);
  }
  esmm__free(&a, ds);
}

/* A truth column covers exactly the rows present when it was set; rows
 * appended later have no truth, so the columns are dropped rather than
 * left silently shorter than the dataset. */
static void drop_truths(esmm_dataset *ds) {
  for (int k = 0; k < ESMM_TRUTH_COUNT; k++) {
    esmm__free(&ds->alloc, ds->truth[k]);
    ds->truth[k] = NULL;
  }
}

/* The optional per-row arrays, created when the first row that has them
 * arrives: earlier rows get line 0 (unknown) and an empty id. */
static int start_optional(esmm_dataset *ds, const esmm__rows *b) {
  if (b->line && !ds->line) {
    ds->line = esmm__calloc(&ds->alloc, ds->cap_rows ? ds->cap_rows : 1, sizeof *ds->line);
    if (!ds->line)
      return ESMM_ENOMEM;
  }
  if (b->key_off && !ds->key_off) {
    ds->key_off = esmm__calloc(&ds->alloc, ds->cap_rows + 1, sizeof *ds->key_off);
    if (!ds->key_off)
      return ESMM_ENOMEM;
  }
  return ESMM_OK;
}

int esmm__dataset_append(esmm_dataset *ds, const esmm__rows *b) {
  size_t n = b->n, total = n ? (size_t)b->off[n] : 0, keys = b->key_off && n ? (size_t)b->key_off[n] : 0;
  if (ds->mapped)
    return ESMM_ESTATE;
  if (ds->nnz + total < ds->nnz || ds->n_rows + n < ds->n_rows || ds->nnz + total > (size_t)INT64_MAX ||
      ds->key_len + keys < ds->key_len || ds->n_skip + b->n_skip < ds->n_skip)
    return ESMM_ENOMEM;
  ESMM__TRY(start_optional(ds, b));
  ESMM__TRY(reserve_rows(ds, ds->n_rows + n));
  ESMM__TRY(reserve_nnz(ds, ds->nnz + total));
  if (keys)
    ESMM__TRY(reserve_bytes(&ds->alloc, (void **)&ds->key, &ds->cap_key, ds->key_len, ds->key_len + keys, 1, MIN_KEY));
  if (b->n_skip)
    ESMM__TRY(reserve_bytes(&ds->alloc, (void **)&ds->skip, &ds->cap_skip, ds->n_skip, ds->n_skip + b->n_skip,
                            sizeof *ds->skip, MIN_SKIP));

  if (b->n_skip)
    memcpy(ds->skip + ds->n_skip, b->skip, b->n_skip * sizeof *b->skip);
  ds->n_skip += b->n_skip;
  if (n == 0)
    return ESMM_OK;
  if (total) {
    memcpy(ds->field + ds->nnz, b->field, total * sizeof *b->field);
    memcpy(ds->id + ds->nnz, b->id, total * sizeof *b->id);
    if (b->value)
      memcpy(ds->value + ds->nnz, b->value, total * sizeof *b->value);
    else
      for (size_t k = 0; k < total; k++)
        ds->value[ds->nnz + k] = 1.0f;
  }
  if (ds->n_dense && b->dense)
    memcpy(ds->dense + ds->n_rows * ds->n_dense, b->dense, n * ds->n_dense * sizeof *b->dense);
  if (ds->line) {
    if (b->line)
      memcpy(ds->line + ds->n_rows, b->line, n * sizeof *b->line);
    else
      memset(ds->line + ds->n_rows, 0, n * sizeof *ds->line);
  }
  if (ds->key_off) {
    for (size_t i = 0; i < n; i++)
      ds->key_off[ds->n_rows + i + 1] = (int64_t)ds->key_len + (b->key_off ? b->key_off[i + 1] : 0);
    if (keys)
      memcpy(ds->key + ds->key_len, b->key, keys);
    ds->key_len += keys;
  }
  for (size_t i = 0; i < n; i++) {
    size_t r = ds->n_rows + i;
    int64_t c = b->common ? b->common[i] : -1;
    int y = b->click[i], z = b->conv[i];
    ds->click[r] = y;
    ds->conv[r] = z;
    ds->common[r] = c;
    ds->row_off[r + 1] = (int64_t)ds->nnz + b->off[i + 1];
    ds->n_clicks += y;
    ds->n_conv += z;
    ds->n_clicked_conv += y & z;
    ds->n_conv_no_click += (!y) & z;
    ds->n_rows_with_common += c >= 0;
  }
  ds->n_rows += n;
  ds->nnz += total;
  drop_truths(ds);
  return ESMM_OK;
}

int esmm__dataset_append_common(esmm_dataset *ds, size_t nnz, const int *field, const uint64_t *id,
                                const float *value, int64_t *index_out) {
  if (ds->mapped)
    return ESMM_ESTATE;
  if (ds->com_nnz + nnz < ds->com_nnz)
    return ESMM_ENOMEM;
  ESMM__TRY(reserve_commons(ds, ds->n_common + 1));
  ESMM__TRY(reserve_com_nnz(ds, ds->com_nnz + nnz));
  if (nnz) {
    memcpy(ds->com_field + ds->com_nnz, field, nnz * sizeof *field);
    memcpy(ds->com_id + ds->com_nnz, id, nnz * sizeof *id);
    if (value)
      memcpy(ds->com_value + ds->com_nnz, value, nnz * sizeof *value);
    else
      for (size_t k = 0; k < nnz; k++)
        ds->com_value[ds->com_nnz + k] = 1.0f;
  }
  ds->com_nnz += nnz;
  ds->n_common++;
  ds->com_off[ds->n_common] = (int64_t)ds->com_nnz;
  if (index_out)
    *index_out = (int64_t)ds->n_common - 1;
  return ESMM_OK;
}

int esmm_dataset_add_common(esmm_dataset *ds, size_t nnz, const int *field, const uint64_t *id,
                            const float *value, int64_t *index_out) {
  int rc;
  ESMM__CHECK_ARG(ds);
  if (ds->mapped)
    return ESMM__ERR(ESMM_ESTATE, "the dataset is a read-only mapped cache");
  if (nnz > 0 && (!field || !id))
    return ESMM__ERR(ESMM_EINVAL, "invalid argument: field and id must not be NULL when nnz > 0");
  for (size_t k = 0; k < nnz; k++) {
    if (field[k] < 0 || (size_t)field[k] >= ds->n_fields)
      return ESMM__ERR(ESMM_EINVAL, "feature %zu: field index %d out of range [0, %zu)", k, field[k],
                       ds->n_fields);
    if (value && !isfinite(value[k]))
      return ESMM__ERR(ESMM_ENUMERIC, "feature %zu: value %g is not finite", k, (double)value[k]);
  }
  rc = esmm__dataset_append_common(ds, nnz, field, id, value, index_out);
  return rc < 0 ? ESMM__ERR(rc, "out of memory") : ESMM_OK;
}

int esmm_dataset_add_rows(esmm_dataset *ds, size_t n, const int *click, const int *conversion,
                          const int64_t *common, const int64_t *offsets, const int *field, const uint64_t *id,
                          const float *value) {
  esmm__rows b;
  int64_t prev;
  ESMM__CHECK_ARG(ds);
  if (ds->mapped)
    return ESMM__ERR(ESMM_ESTATE, "the dataset is a read-only mapped cache");
  if (n == 0)
    return ESMM_OK;
  if (!click || !conversion || !offsets)
    return ESMM__ERR(ESMM_EINVAL, "invalid argument: click, conversion and offsets must not be NULL");
  if (offsets[0] != 0)
    return ESMM__ERR(ESMM_EINVAL, "offsets[0] must be 0, got %lld", (long long)offsets[0]);
  /* Offsets first: the feature checks below index field/id through them. */
  for (size_t i = 0; i < n; i++)
    if (offsets[i + 1] < offsets[i])
      return ESMM__ERR(ESMM_EINVAL, "row %zu: offsets decrease (%lld after %lld)", i, (long long)offsets[i + 1],
                       (long long)offsets[i]);
  if (offsets[n] > 0 && (!field || !id))
    return ESMM__ERR(ESMM_EINVAL, "invalid argument: field and id must not be NULL when there are features");
  prev = 0;
  for (size_t i = 0; i < n; i++) {
    if (click[i] != 0 && click[i] != 1)
      return ESMM__ERR(ESMM_EINVAL, "row %zu: click must be 0 or 1, got %d", i, click[i]);
    if (conversion[i] != 0 && conversion[i] != 1)
      return ESMM__ERR(ESMM_EINVAL, "row %zu: conversion must be 0 or 1, got %d", i, conversion[i]);
    if (common && (common[i] < -1 || (common[i] >= 0 && (uint64_t)common[i] >= ds->n_common)))
      return ESMM__ERR(ESMM_EINVAL, "row %zu: common index %lld out of range (%zu common lists)", i,
                       (long long)common[i], ds->n_common);
    for (int64_t k = prev; k < offsets[i + 1]; k++) {
      if (field[k] < 0 || (size_t)field[k] >= ds->n_fields)
        return ESMM__ERR(ESMM_EINVAL, "row %zu: field index %d out of range [0, %zu)", i, field[k], ds->n_fields);
      if (value && !isfinite(value[k]))
        return ESMM__ERR(ESMM_ENUMERIC, "row %zu: value %g is not finite", i, (double)value[k]);
    }
    prev = offsets[i + 1];
  }
  if ((uint64_t)offsets[n] > SIZE_MAX)
    return ESMM__ERR(ESMM_ENOMEM, "out of memory: too many features");
  memset(&b, 0, sizeof b);
  b.n = n, b.click = click, b.conv = conversion, b.common = common, b.off = offsets;
  b.field = field, b.id = id, b.value = value;
  if (esmm__dataset_append(ds, &b) < 0)
    return ESMM__ERR(ESMM_ENOMEM, "out of memory");
  return ESMM_OK;
}

int esmm_dataset_stat(const esmm_dataset *ds, int key, int64_t *out) {
  ESMM__CHECK_ARG(ds);
  ESMM__CHECK_ARG(out);
  switch (key) {
  case ESMM_DS_ROWS: *out = (int64_t)ds->n_rows; break;
  case ESMM_DS_CLICKS: *out = ds->n_clicks; break;
  case ESMM_DS_CONVERSIONS: *out = ds->n_conv; break;
  case ESMM_DS_CLICKED_CONVERSIONS: *out = ds->n_clicked_conv; break;
  case ESMM_DS_CONVERSIONS_WITHOUT_CLICK: *out = ds->n_conv_no_click; break;
  case ESMM_DS_COMMONS: *out = (int64_t)ds->n_common; break;
  case ESMM_DS_FEATURES: *out = (int64_t)ds->nnz; break;
  case ESMM_DS_COMMON_FEATURES: *out = (int64_t)ds->com_nnz; break;
  case ESMM_DS_ROWS_WITH_COMMON: *out = ds->n_rows_with_common; break;
  case ESMM_DS_FIELDS: *out = (int64_t)ds->n_fields; break;
  case ESMM_DS_DENSE: *out = (int64_t)ds->n_dense; break;
  case ESMM_DS_MAPPED: *out = ds->mapped; break;
  case ESMM_DS_LINES:
  case ESMM_DS_SKIPPED:
  case ESMM_DS_SKIPPED_MALFORMED:
  case ESMM_DS_SKIPPED_LABEL:
  case ESMM_DS_SKIPPED_MISSING_COMMON:
  case ESMM_DS_SKIPPED_CONV_NO_CLICK:
  case ESMM_DS_CONV_NO_CLICK_READ:
  case ESMM_DS_FEATURES_IGNORED:
  case ESMM_DS_COMMON_LINES:
  case ESMM_DS_COMMON_SKIPPED: *out = ds->rep.stat[key - ESMM__READ_FIRST]; break;
  case ESMM_DS_CONV_NO_CLICK_ZEROED: *out = ds->rep.stat[ESMM__RS_CNC_ZEROED]; break;
  case ESMM_DS_CONV_NO_CLICK_POLICY: *out = ds->rep.cnc_policy; break;
  case ESMM_DS_ON_ERROR_POLICY: *out = ds->rep.on_error; break;
  case ESMM_DS_MESSAGES: *out = (int64_t)ds->rep.n_msg; break;
  case ESMM_DS_ROW_LINES: *out = ds->line != NULL; break;
  case ESMM_DS_ROW_IDS: *out = ds->key_off != NULL; break;
  case ESMM_DS_SKIPPED_LISTED: *out = (int64_t)ds->n_skip; break;
  default: return ESMM__ERR(ESMM_EINVAL, "unknown statistic key %d", key);
  }
  return ESMM_OK;
}

/* [first, first+n) inside [0, total) without overflowing. */
static int range_ok(size_t first, size_t n, size_t total) { return first <= total && n <= total - first; }

int esmm_dataset_labels(const esmm_dataset *ds, size_t first, size_t n, int *click, int *conversion) {
  ESMM__CHECK_ARG(ds);
  if (!range_ok(first, n, ds->n_rows))
    return ESMM__ERR(ESMM_EINVAL, "rows [%zu, %zu + %zu) outside the dataset of %zu rows", first, first, n,
                     ds->n_rows);
  if (click && n)
    memcpy(click, ds->click + first, n * sizeof *click);
  if (conversion && n)
    memcpy(conversion, ds->conv + first, n * sizeof *conversion);
  return ESMM_OK;
}

int esmm_dataset_row(const esmm_dataset *ds, size_t i, int *click_out, int *conversion_out, int64_t *common_out,
                     size_t *nnz_out, const int **field_out, const uint64_t **id_out, const float **value_out) {
  size_t b;
  ESMM__CHECK_ARG(ds);
  if (i >= ds->n_rows)
    return ESMM__ERR(ESMM_EINVAL, "row %zu out of range (%zu rows)", i, ds->n_rows);
  b = (size_t)ds->row_off[i];
  if (click_out)
    *click_out = ds->click[i];
  if (conversion_out)
    *conversion_out = ds->conv[i];
  if (common_out)
    *common_out = ds->common[i];
  if (nnz_out)
    *nnz_out = (size_t)ds->row_off[i + 1] - b;
  if (field_out)
    *field_out = ds->field + b;
  if (id_out)
    *id_out = ds->id + b;
  if (value_out)
    *value_out = ds->value + b;
  return ESMM_OK;
}

int esmm_dataset_common(const esmm_dataset *ds, size_t c, size_t *nnz_out, const int **field_out,
                        const uint64_t **id_out, const float **value_out) {
  size_t b;
  ESMM__CHECK_ARG(ds);
  if (c >= ds->n_common)
    return ESMM__ERR(ESMM_EINVAL, "common list %zu out of range (%zu common lists)", c, ds->n_common);
  b = (size_t)ds->com_off[c];
  if (nnz_out)
    *nnz_out = (size_t)ds->com_off[c + 1] - b;
  if (field_out)
    *field_out = ds->com_field + b;
  if (id_out)
    *id_out = ds->com_id + b;
  if (value_out)
    *value_out = ds->com_value + b;
  return ESMM_OK;
}

int esmm_dataset_field_name(const esmm_dataset *ds, size_t i, const char **out) {
  ESMM__CHECK_ARG(ds);
  ESMM__CHECK_ARG(out);
  if (i >= ds->n_fields)
    return ESMM__ERR(ESMM_EINVAL, "field %zu out of range (%zu fields)", i, ds->n_fields);
  *out = ds->names[i];
  return ESMM_OK;
}

int esmm_dataset_set_truth(esmm_dataset *ds, int kind, const float *values, size_t n) {
  float *col;
  ESMM__CHECK_ARG(ds);
  if (kind < 0 || kind >= ESMM_TRUTH_COUNT)
    return ESMM__ERR(ESMM_EINVAL, "unknown truth kind %d", kind);
  if (n != ds->n_rows)
    return ESMM__ERR(ESMM_EINVAL, "truth column of %zu values for a dataset of %zu rows", n, ds->n_rows);
  if (n && !values)
    return ESMM__ERR(ESMM_EINVAL, "invalid argument: values is NULL");
  for (size_t i = 0; i < n; i++)
    if (!(values[i] >= 0.0f && values[i] <= 1.0f))
      return ESMM__ERR(ESMM_EINVAL, "row %zu: truth %g is not a probability in [0, 1]", i, (double)values[i]);
  col = esmm__calloc(&ds->alloc, n ? n : 1, sizeof *col);
  if (!col)
    return ESMM__ERR(ESMM_ENOMEM, "out of memory");
  if (n)
    memcpy(col, values, n * sizeof *col);
  esmm__free(&ds->alloc, ds->truth[kind]);
  ds->truth[kind] = col;
  return ESMM_OK;
}

int esmm_dataset_truth(const esmm_dataset *ds, int kind, size_t first, size_t n, float *out) {
  ESMM__CHECK_ARG(ds);
  if (kind < 0 || kind >= ESMM_TRUTH_COUNT)
    return ESMM__ERR(ESMM_EINVAL, "unknown truth kind %d", kind);
  if (!range_ok(first, n, ds->n_rows))
    return ESMM__ERR(ESMM_EINVAL, "rows [%zu, %zu + %zu) outside the dataset of %zu rows", first, first, n,
                     ds->n_rows);
  if (n && !out)
    return ESMM__ERR(ESMM_EINVAL, "invalid argument: out is NULL");
  if (!ds->truth[kind])
    return ESMM__ERR(ESMM_ESTATE, "the dataset has no truth column of kind %d", kind);
  if (n)
    memcpy(out, ds->truth[kind] + first, n * sizeof *out);
  return ESMM_OK;
}

int esmm__dataset_set_dense_width(esmm_dataset *ds, size_t n_dense) {
  float *d = NULL;
  if (ds->n_rows || ds->mapped)
    return ESMM__ERR(ESMM_ESTATE, "the dense width can only be set on an empty in-memory dataset");
  if (n_dense == ds->n_dense)
    return ESMM_OK;
  if (n_dense) {
    d = esmm__calloc(&ds->alloc, ds->cap_rows ? ds->cap_rows : 1, n_dense * sizeof *d);
    if (!d)
      return ESMM__ERR(ESMM_ENOMEM, "out of memory");
  }
  esmm__free(&ds->alloc, ds->dense);
  ds->dense = d;
  ds->n_dense = n_dense;
  return ESMM_OK;
}

int esmm_dataset_set_dense(esmm_dataset *ds, size_t first, size_t n, const float *values) {
  size_t k;
  ESMM__CHECK_ARG(ds);
  if (ds->mapped)
    return ESMM__ERR(ESMM_ESTATE, "the dataset is a read-only mapped cache");
  if (!range_ok(first, n, ds->n_rows))
    return ESMM__ERR(ESMM_EINVAL, "rows [%zu, %zu + %zu) outside the dataset of %zu rows", first, first, n,
                     ds->n_rows);
  if (n == 0)
    return ESMM_OK;
  if (ds->n_dense == 0)
    return ESMM__ERR(ESMM_ESHAPE, "the dataset has no dense inputs (ESMM_OPT_DENSE_FEATURES was 0)");
  if (!values)
    return ESMM__ERR(ESMM_EINVAL, "invalid argument: values is NULL");
  /* Validate everything first: a failing call writes nothing. */
  for (k = 0; k < n * ds->n_dense; k++)
    if (!isfinite(values[k]))
      return ESMM__ERR(ESMM_ENUMERIC, "row %zu, dense input %zu: value %g is not finite", first + k / ds->n_dense,
                       k % ds->n_dense, (double)values[k]);
  memcpy(ds->dense + first * ds->n_dense, values, n * ds->n_dense * sizeof *values);
  return ESMM_OK;
}

int esmm_dataset_dense(const esmm_dataset *ds, size_t first, size_t n, float *out) {
  ESMM__CHECK_ARG(ds);
  if (!range_ok(first, n, ds->n_rows))
    return ESMM__ERR(ESMM_EINVAL, "rows [%zu, %zu + %zu) outside the dataset of %zu rows", first, first, n,
                     ds->n_rows);
  if (n == 0 || ds->n_dense == 0)
    return ESMM_OK;
  if (!out)
    return ESMM__ERR(ESMM_EINVAL, "invalid argument: out is NULL");
  memcpy(out, ds->dense + first * ds->n_dense, n * ds->n_dense * sizeof *out);
  return ESMM_OK;
}

int esmm__dataset_fields_match(const esmm_dataset *ds, const esmm_config *cfg) {
  if (!ds || !cfg || ds->n_fields != cfg->n_fields)
    return 0;
  for (size_t i = 0; i < ds->n_fields; i++)
    if (strcmp(ds->names[i], cfg->names[i]) != 0)
      return 0;
  return 1;
}

size_t esmm__dataset_max_row_nnz(const esmm_dataset *ds) {
  size_t best = 0;
  if (!ds)
    return 0;
  for (size_t i = 0; i < ds->n_rows; i++) {
    size_t k = (size_t)(ds->row_off[i + 1] - ds->row_off[i]);
    int64_t c = ds->common[i];
    if (c >= 0)
      k += (size_t)(ds->com_off[c + 1] - ds->com_off[c]);
    if (k > best)
      best = k;
  }
  return best;
}
