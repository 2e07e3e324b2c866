/* score.c - serving from host memory: batch prediction on CSR rows and
 * one-user-many-items scoring, both on a const model with a caller-owned
 * workspace, so any number of threads can score one model at once and no
 * call allocates (when a workspace is given).
 *
 * Pooling is a sum, so for a request of one user and N items
 *   x_i = pool(user) + pool(item_i)
 * and pool(user) is computed once per call into row 0 of the workspace's
 * input matrix; each item row starts as a copy of it. The floating-point
 * operations per element are then exactly those of a CSR row listing the
 * user's features first and the item's after (a sum started at zero, in
 * the same order), which is what makes the two entry points agree bit for
 * bit (tests/check_serving.c). */
#include "score.h"

#include "embedding.h"
#include "mlp.h"
#include "model.h"

#include <math.h>
#include <string.h>

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

/* Same test as model.c's (static there): the workspace's input width and
 * tower scratch fit m at the workspace's batch size. */
static int fits(const esmm_model *m, const esmm_workspace *ws) {
  return ws->in_dim == m->in_dim && ws->scratch_n >= esmm__mlp_infer_scratch(m->ctr, ws->max_batch) &&
         ws->scratch_n >= esmm__mlp_infer_scratch(m->cvr, ws->max_batch);
}

/* The entry points here feed only pooled embeddings to the towers. A model
 * whose input is wider (numeric inputs next to the embeddings, added by the
 * data module) needs them too, which these signatures cannot carry. */
static int check_model(const esmm_model *m, const char *func) {
  if (m->in_dim != m->n_fields * m->dim)
    return esmm__error(ESMM_ESTATE, func,
                       "the model takes %zu numeric inputs besides the embeddings; this call cannot supply them",
                       m->in_dim - m->n_fields * m->dim);
  return ESMM_OK;
}

/* Towers and head on rows x[0..n) of the workspace (n <= ws->max_batch). */
static void towers(const esmm_model *m, esmm_workspace *ws, const float *x, size_t n, float *pctr, float *pcvr,
                   float *pctcvr) {
  esmm__mlp_infer(m->ctr, x, n, ws->lc, ws->scratch);
  esmm__mlp_infer(m->cvr, x, n, ws->lv, ws->scratch);
  /* finite parameters (checked at load) and finite inputs (checked above)
   * give finite logits: the head cannot fail */
  (void)esmm_head_forward(ws->lc, ws->lv, n, pctr, pcvr, pctcvr);
}

static int workspace_for(const esmm_model *m, esmm_workspace **ws, esmm_workspace **own, size_t want,
                         const char *func) {
  *own = NULL;
  if (*ws) {
    if (!fits(m, *ws))
      return esmm__error(ESMM_ESHAPE, func, "the workspace was made for another model shape");
    return ESMM_OK;
  }
  ESMM__TRY(esmm_workspace_new(own, m, want));
  *ws = *own;
  return ESMM_OK;
}

int esmm_model_predict_csr(const esmm_model *m, esmm_workspace *ws, size_t n, const int64_t *offsets,
                           const int *field, const uint64_t *id, const float *value, float *pctr, float *pcvr,
                           float *pctcvr) {
  esmm_workspace *own;
  size_t nnz;
  ESMM__CHECK_ARG(m);
  ESMM__CHECK_ARG(offsets);
  ESMM__TRY(check_model(m, __func__));
  if (offsets[0] != 0)
    return ESMM__ERR(ESMM_EINVAL, "offsets[0] must be 0, got %lld", (long long)offsets[0]);
  for (size_t i = 0; i < n; i++)
    if (offsets[i + 1] < offsets[i])
      return ESMM__ERR(ESMM_EINVAL, "offsets decrease at row %zu (%lld after %lld)", i, (long long)offsets[i + 1],
                       (long long)offsets[i]);
  nnz = (size_t)offsets[n];
  if (nnz > 0 && (!field || !id))
    return ESMM__ERR(ESMM_EINVAL, "invalid argument: field and id must not be NULL when rows have features");
  ESMM__TRY(esmm__score_check_features(m->n_fields, nnz, field, value, "rows", __func__));
  if (n == 0)
    return ESMM_OK;
  ESMM__TRY(workspace_for(m, &ws, &own, n < m->batch ? n : m->batch, __func__));
  for (size_t done = 0; done < n;) {
    size_t k = n - done < ws->max_batch ? n - done : ws->max_batch;
    for (size_t i = 0; i < k; i++) {
      size_t r = done + i;
      size_t lo = (size_t)offsets[r], cnt = (size_t)(offsets[r + 1] - offsets[r]);
      float *x = ws->x + i * m->in_dim;
      memset(x, 0, m->in_dim * sizeof *x);
      esmm__embedding_pool(m->emb, cnt, field + lo, id + lo, value ? value + lo : NULL, x);
    }
    towers(m, ws, ws->x, k, pctr ? pctr + done : NULL, pcvr ? pcvr + done : NULL,
           pctcvr ? pctcvr + done : NULL);
    done += k;
  }
  esmm_workspace_free(own);
  return ESMM_OK;
}

static void pool_user(const esmm_model *m, float *u, size_t unnz, const int *ufield, const uint64_t *uid,
                      const float *uvalue) {
  memset(u, 0, m->in_dim * sizeof *u);
  esmm__embedding_pool(m->emb, unnz, ufield, uid, uvalue, u);
}

int esmm_model_predict_user(const esmm_model *m, esmm_workspace *ws, size_t user_nnz, const int *user_field,
                            const uint64_t *user_id, const float *user_value, size_t n_items,
                            const int64_t *item_offsets, const int *item_field, const uint64_t *item_id,
                            const float *item_value, float *pctr, float *pcvr, float *pctcvr) {
  esmm_workspace *own;
  size_t nnz, chunk, d;
  float *u, *rows;
  ESMM__CHECK_ARG(m);
  ESMM__CHECK_ARG(item_offsets);
  ESMM__CHECK_ARG(user_nnz == 0 || (user_field && user_id));
  ESMM__TRY(check_model(m, __func__));
  ESMM__TRY(esmm__score_check_features(m->n_fields, user_nnz, user_field, user_value, "user features", __func__));
  if (item_offsets[0] != 0)
    return ESMM__ERR(ESMM_EINVAL, "item_offsets[0] must be 0, got %lld", (long long)item_offsets[0]);
  for (size_t i = 0; i < n_items; i++)
    if (item_offsets[i + 1] < item_offsets[i])
      return ESMM__ERR(ESMM_EINVAL, "item_offsets decrease at item %zu (%lld after %lld)", i,
                       (long long)item_offsets[i + 1], (long long)item_offsets[i]);
  nnz = (size_t)item_offsets[n_items];
  if (nnz > 0 && (!item_field || !item_id))
    return ESMM__ERR(ESMM_EINVAL,
                     "invalid argument: item_field and item_id must not be NULL when items have features");
  ESMM__TRY(esmm__score_check_features(m->n_fields, nnz, item_field, item_value, "item features", __func__));
  if (n_items == 0)
    return ESMM_OK;
  /* one row for the user + the items of a chunk */
  ESMM__TRY(workspace_for(m, &ws, &own, (n_items < m->batch ? n_items : m->batch) + 1, __func__));
  d = m->in_dim;
  u = ws->x;
  if (ws->max_batch >= 2) {
    rows = ws->x + d;
    chunk = ws->max_batch - 1;
    pool_user(m, u, user_nnz, user_field, user_id, user_value);
  } else {
    /* A one-row workspace has no room to keep the user's vector beside an
     * item: it is pooled again for every item (documented). */
    rows = ws->x;
    chunk = 1;
  }
  for (size_t done = 0; done < n_items;) {
    size_t k = n_items - done < chunk ? n_items - done : chunk;
    for (size_t i = 0; i < k; i++) {
      size_t it = done + i;
      size_t lo = (size_t)item_offsets[it], cnt = (size_t)(item_offsets[it + 1] - item_offsets[it]);
      float *x = rows + i * d;
      if (ws->max_batch >= 2)
        memcpy(x, u, d * sizeof *x);
      else
        pool_user(m, x, user_nnz, user_field, user_id, user_value);
      esmm__embedding_pool(m->emb, cnt, item_field + lo, item_id + lo, item_value ? item_value + lo : NULL, x);
    }
    towers(m, ws, rows, k, pctr ? pctr + done : NULL, pcvr ? pcvr + done : NULL, pctcvr ? pctcvr + done : NULL);
    done += k;
  }
  esmm_workspace_free(own);
  return ESMM_OK;
}
