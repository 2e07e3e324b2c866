/* score.c - serving from host memory: batch prediction on CSR rows and
 * one-user-many-items scoring, both on a const model with a caller-owned
 * workspace, so any number of threads can score one model at once and no
 * call allocates (when a workspace is given).
 *
 * Pooling is a sum, so for a request of one user and N items
 *   x_i = pool(item_i) + pool(user)   [+ the item's numeric inputs]
 * and pool(user) is computed once per call into the workspace's common-list
 * buffer(s). The pooling and the towers are the model's own
 * (esmm__model_pool_common / esmm__model_pool_row, then esmm__model_infer),
 * never re-implemented here: a variant with a second embedding table
 * (ESMM_NS, BASE, DIVISION) pools every row through both tables, and
 * DIVISION's head divides, exactly as esmm_model_predict does. Hence
 * esmm_model_predict_user on (user, items) equals esmm_model_predict on a
 * dataset whose rows are the items with the user as their common list, bit
 * for bit, for every variant (tests/check_serving.c). */
#include "score.h"

#include "model.h"

#include <math.h>

int esmm__score_check_features(size_t n_fields, size_t nnz, const int *field, const float *value,
                               const char *what, const char *func) {
  for (size_t k = 0; k < nnz; k++) {
    if (field[k] < 0 || (size_t)field[k] >= n_fields)
      return esmm__error(ESMM_EINVAL, func, "%s: feature %zu has field index %d, the model has %zu fields", what,
                         k, field[k], n_fields);
    if (value && !isfinite(value[k]))
      return esmm__error(ESMM_ENUMERIC, func, "%s: feature %zu has a non-finite value", what, k);
  }
  return ESMM_OK;
}

/* Numeric inputs: the model's n_dense per row, or none. */
static int check_dense(const esmm_model *m, const float *dense, size_t n, const char *func) {
  size_t total;
  if (m->n_dense == 0)
    return ESMM_OK;
  if (!dense)
    return esmm__error(ESMM_EINVAL, func, "the model takes %zu numeric inputs per row; dense must not be NULL",
                       m->n_dense);
  if (!esmm__mul_ok(n, m->n_dense, &total))
    return esmm__error(ESMM_EINVAL, func, "%zu rows x %zu numeric inputs overflows", n, m->n_dense);
  for (size_t k = 0; k < total; k++)
    if (!isfinite(dense[k]))
      return esmm__error(ESMM_ENUMERIC, func, "numeric input %zu of row %zu is not finite", k % m->n_dense,
                         k / m->n_dense);
  return ESMM_OK;
}

static int check_offsets(const int64_t *off, size_t n, const char *name, const char *func) {
  if (off[0] != 0)
    return esmm__error(ESMM_EINVAL, func, "%s[0] must be 0, got %lld", name, (long long)off[0]);
  for (size_t i = 0; i < n; i++)
    if (off[i + 1] < off[i])
      return esmm__error(ESMM_EINVAL, func, "%s decrease at %zu (%lld after %lld)", name, i, (long long)off[i + 1],
                         (long long)off[i]);
  return ESMM_OK;
}

static int workspace_for(const esmm_model *m, esmm_workspace **ws, esmm_workspace **own, size_t want,
                         const char *func) {
  *own = NULL;
  if (*ws) {
    if (!esmm__model_workspace_fits(m, *ws))
      return esmm__error(ESMM_ESHAPE, func, "the workspace was made for another model shape");
    return ESMM_OK;
  }
  ESMM__TRY(esmm_workspace_new(own, m, want));
  *ws = *own;
  return ESMM_OK;
}

int esmm_model_predict_csr(const esmm_model *m, esmm_workspace *ws, size_t n, const int64_t *offsets,
                           const int *field, const uint64_t *id, const float *value, const float *dense,
                           float *pctr, float *pcvr, float *pctcvr) {
  esmm_workspace *own;
  size_t nnz;
  int rc = ESMM_OK;
  ESMM__CHECK_ARG(m);
  ESMM__CHECK_ARG(offsets);
  ESMM__TRY(check_offsets(offsets, n, "offsets", __func__));
  nnz = (size_t)offsets[n];
  if (nnz > 0 && (!field || !id))
    return ESMM__ERR(ESMM_EINVAL, "invalid argument: field and id must not be NULL when rows have features");
  ESMM__TRY(esmm__score_check_features(m->n_fields, nnz, field, value, "rows", __func__));
  ESMM__TRY(check_dense(m, dense, n, __func__));
  if (n == 0)
    return ESMM_OK;
  ESMM__TRY(workspace_for(m, &ws, &own, n < m->batch ? n : m->batch, __func__));
  for (size_t done = 0; done < n;) {
    size_t k = n - done < ws->max_batch ? n - done : ws->max_batch;
    for (size_t i = 0; i < k; i++) {
      size_t r = done + i;
      size_t lo = (size_t)offsets[r], cnt = (size_t)(offsets[r + 1] - offsets[r]);
      esmm__model_pool_row(m, ws, i, cnt, field + lo, id + lo, value ? value + lo : NULL, 0,
                           m->n_dense ? dense + r * m->n_dense : NULL);
    }
    rc = esmm__model_infer(m, ws, k, pctr ? pctr + done : NULL, pcvr ? pcvr + done : NULL,
                           pctcvr ? pctcvr + done : NULL);
    if (rc)
      break;
    done += k;
  }
  esmm_workspace_free(own);
  return rc;
}

int esmm_model_predict_user(const esmm_model *m, esmm_workspace *ws, size_t user_nnz, const int *user_field,
                            const uint64_t *user_id, const float *user_value, size_t n_items,
                            const int64_t *item_offsets, const int *item_field, const uint64_t *item_id,
                            const float *item_value, const float *item_dense, float *pctr, float *pcvr,
                            float *pctcvr) {
  esmm_workspace *own;
  size_t nnz;
  int rc = ESMM_OK;
  ESMM__CHECK_ARG(m);
  ESMM__CHECK_ARG(item_offsets);
  ESMM__CHECK_ARG(user_nnz == 0 || (user_field && user_id));
  ESMM__TRY(esmm__score_check_features(m->n_fields, user_nnz, user_field, user_value, "user features", __func__));
  ESMM__TRY(check_offsets(item_offsets, n_items, "item_offsets", __func__));
  nnz = (size_t)item_offsets[n_items];
  if (nnz > 0 && (!item_field || !item_id))
    return ESMM__ERR(ESMM_EINVAL,
                     "invalid argument: item_field and item_id must not be NULL when items have features");
  ESMM__TRY(esmm__score_check_features(m->n_fields, nnz, item_field, item_value, "item features", __func__));
  ESMM__TRY(check_dense(m, item_dense, n_items, __func__));
  if (n_items == 0)
    return ESMM_OK;
  ESMM__TRY(workspace_for(m, &ws, &own, n_items < m->batch ? n_items : m->batch, __func__));
  /* the user part, once per call (through every table of the model) */
  esmm__model_pool_common(m, ws, user_nnz, user_field, user_id, user_value);
  for (size_t done = 0; done < n_items;) {
    size_t k = n_items - done < ws->max_batch ? n_items - done : ws->max_batch;
    for (size_t i = 0; i < k; i++) {
      size_t it = done + i;
      size_t lo = (size_t)item_offsets[it], cnt = (size_t)(item_offsets[it + 1] - item_offsets[it]);
      esmm__model_pool_row(m, ws, i, cnt, item_field + lo, item_id + lo, item_value ? item_value + lo : NULL, 1,
                           m->n_dense ? item_dense + it * m->n_dense : NULL);
    }
    rc = esmm__model_infer(m, ws, k, pctr ? pctr + done : NULL, pcvr ? pcvr + done : NULL,
                           pctcvr ? pctcvr + done : NULL);
    if (rc)
      break;
    done += k;
  }
  esmm_workspace_free(own);
  return rc;
}
