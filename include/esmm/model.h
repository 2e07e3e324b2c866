/*
 * esmm/model.h - the ESMM model: training, prediction, evaluation, files.
 *
 * A model owns shared embedding tables (one row per hashed feature id,
 * sum-pooled per field), a CTR tower and a CVR tower fed by the same
 * pooled embeddings, the product head (pCTCVR = pCTR * pCVR) and an
 * optimizer. Training minimises
 *   w_ctr * BCE(pCTR, y) + w_ctcvr * BCE(pCTCVR, y*z)
 * over every impression of the dataset; pCVR is never fitted directly.
 * That is the default variant; ESMM_OPT_VARIANT selects the others
 * (ESMM-NS, BASE, DIVISION, ESCM2-IPS, ESCM2-DR: esmm_variant in config.h
 * gives each loss), which esmm/diag.h and `esmm experiment` compare.
 *
 * Thread safety: a model is not thread-safe, with one stated exception:
 * esmm_model_predict and esmm_model_evaluate take a const model and may run
 * concurrently on one model from any number of threads, each with its own
 * workspace, as long as no thread trains, loads into or frees the model.
 */
#ifndef ESMM_MODEL_H
#define ESMM_MODEL_H

#include "common.h"
#include "config.h"
#include "dataset.h"

ESMM_BEGIN_DECLS

typedef struct esmm_model esmm_model;
typedef struct esmm_workspace esmm_workspace;

/**
 * Training progress callback, called after every step. Return 0 to go on,
 * non-zero to stop: the training call then returns ESMM_ECANCELED with the
 * model in the state after that step (it can be trained further).
 */
typedef int (*esmm_progress_fn)(const esmm_model *m, int64_t step, void *payload);

/* Keys of esmm_model_stat. Pinned, append-only. */
typedef enum {
  ESMM_STAT_STEP = 0,           /* optimizer steps taken */
  ESMM_STAT_EPOCH = 1,          /* epochs completed */
  ESMM_STAT_LOSS = 2,           /* weighted loss of the last step's batch */
  ESMM_STAT_LOSS_CTR = 3,       /* mean BCE(pCTR, y) of the last batch */
  ESMM_STAT_LOSS_CTCVR = 4,     /* mean BCE(pCTCVR, y*z) of the last batch */
  ESMM_STAT_SAMPLES = 5,        /* impressions trained on so far */
  ESMM_STAT_SAMPLES_PER_SEC = 6,/* throughput of the last training call */
  ESMM_STAT_PARAMS = 7,         /* number of trainable floats */
  ESMM_STAT_EPOCH_LOSS = 8,     /* mean weighted loss over the current/last epoch */
  ESMM_STAT_CVR_CLIPS = 9,      /* ESMM_VARIANT_DIVISION: training impressions (summed
                                   over every step so far) whose pCTCVR exceeded pCTR,
                                   so that pCVR = pCTCVR/pCTR was clipped to 1; 0 for
                                   the other variants (their pCTCVR <= pCTR by
                                   construction). @since 1.0 */
  ESMM_STAT_LOSS_CVR = 10,      /* mean unweighted CVR term of the last batch: the
                                   click-space BCE (ESMM with ESMM_OPT_CVR_CLICK_WEIGHT,
                                   BASE), the IPS or DR risk (ESCM2_*); 0 otherwise.
                                   @since 1.0 */
  ESMM_STAT_THREADS = 11,       /* threads the model trains and scores on: ESMM_OPT_NUM_THREADS
                                   resolved (0 = the usable CPUs), or 1 when OpenBLAS runs
                                   threads of its own (see ESMM_OPT_NUM_THREADS). @since 1.1 */
  ESMM_STAT_SPLIT_SLICES = 12   /* slices of the last training step that took the first-layer
                                   split (grouped rows: each user's part of layer 0 once per
                                   run of rows). @since 1.1 */
} esmm_model_stat_key;

/**
 * Create a model from cfg (NULL = defaults), parameters initialised from
 * ESMM_OPT_SEED. Cross-option checks happen here (e.g. an unimplemented
 * variant, a table too large to address).
 * @return ESMM_OK, ESMM_EINVAL, ESMM_ENOMEM. *out is NULL on failure.
 * Ownership: the config is copied; free the model with esmm_model_free.
 * @since 1.0
 */
ESMM_API int esmm_model_new(esmm_model **out, const esmm_config *cfg);

/** Free a model; NULL is a no-op. @since 1.0 */
ESMM_API void esmm_model_free(esmm_model *m);

/**
 * Train ESMM_OPT_EPOCHS epochs over ds (see esmm_model_train_epoch).
 * @since 1.0
 */
ESMM_API int esmm_model_train(esmm_model *m, const esmm_dataset *ds, esmm_progress_fn fn, void *payload);

/**
 * Train on the remaining batches of the current epoch over ds (a whole
 * epoch when none is under way). The dataset's field list must equal the
 * model's. Rows are visited in a per-epoch permutation drawn from the
 * model's own RNG (ESMM_OPT_SHUFFLE), in batches of ESMM_OPT_BATCH_SIZE
 * (the last one smaller). Training a different dataset restarts the epoch.
 * @param fn  progress callback or NULL.
 * @return ESMM_OK; ESMM_EINVAL; ESMM_ESHAPE (field lists differ);
 * ESMM_ECANCELED (fn asked to stop); ESMM_ENUMERIC (the loss or a gradient
 * became NaN/Inf: the step is not applied and the model keeps the
 * parameters of the step before).
 * @since 1.0
 */
ESMM_API int esmm_model_train_epoch(esmm_model *m, const esmm_dataset *ds, esmm_progress_fn fn,
                                    void *payload);

/**
 * Train exactly n_steps batches, continuing the current epoch and starting
 * new ones as needed. Same statuses as esmm_model_train_epoch. @since 1.0
 */
ESMM_API int esmm_model_train_steps(esmm_model *m, const esmm_dataset *ds, int64_t n_steps,
                                    esmm_progress_fn fn, void *payload);

/**
 * Read a statistic (esmm_model_stat_key).
 * @return ESMM_OK, ESMM_EINVAL. @since 1.0
 */
ESMM_API int esmm_model_stat(const esmm_model *m, int key, double *out);

/**
 * A copy of the model's configuration.
 * @return ESMM_OK, ESMM_EINVAL, ESMM_ENOMEM. Ownership: caller frees *out.
 * @since 1.0
 */
ESMM_API int esmm_model_config(const esmm_model *m, esmm_config **out);

/**
 * Create a workspace: the scratch one thread needs to predict with m, for
 * batches of up to max_batch rows (0 = ESMM_OPT_BATCH_SIZE). A workspace
 * fits any model of the same shape.
 * @return ESMM_OK, ESMM_EINVAL, ESMM_ENOMEM. @since 1.0
 */
ESMM_API int esmm_workspace_new(esmm_workspace **out, const esmm_model *m, size_t max_batch);

/** Free a workspace; NULL is a no-op. @since 1.0 */
ESMM_API void esmm_workspace_free(esmm_workspace *ws);

/**
 * Predict rows [first, first+n) of ds into pctr, pcvr, pctcvr (n floats
 * each; any may be NULL). Rows are processed in chunks of the workspace's
 * batch size. ws may be NULL: a temporary workspace is then allocated for
 * the call.
 * @return ESMM_OK, ESMM_EINVAL (range, NULL), ESMM_ESHAPE (field lists or
 * workspace shape differ), ESMM_ENOMEM (only when ws is NULL),
 * ESMM_ENUMERIC (a logit is NaN: finite parameters or inputs that overflow
 * float; the outputs are then unspecified).
 * Thread safety: concurrent calls on one model are safe with distinct
 * workspaces. @since 1.0
 */
ESMM_API int esmm_model_predict(const esmm_model *m, esmm_workspace *ws, const esmm_dataset *ds,
                                size_t first, size_t n, float *pctr, float *pcvr, float *pctcvr);

/**
 * Predict every row of ds and compute the esmm_metric vector (see
 * esmm_metrics_compute) into out[0 .. n_out).
 * @return ESMM_OK, ESMM_EINVAL, ESMM_ESHAPE, ESMM_ENOMEM.
 * Thread safety: as esmm_model_predict. @since 1.0
 */
ESMM_API int esmm_model_evaluate(const esmm_model *m, const esmm_dataset *ds, double *out, size_t n_out);

/**
 * Save the model (config and parameters; not the optimizer state) to path,
 * atomically: a temporary file in the same directory is written, synced
 * and renamed over path, so path always holds a complete old or new model.
 * @return ESMM_OK, ESMM_EINVAL, ESMM_EIO (nothing at path changed),
 * ESMM_ENUMERIC (a parameter is NaN/Inf; nothing written). @since 1.0
 */
ESMM_API int esmm_model_save(const esmm_model *m, const char *path);

/**
 * Serialise to a caller buffer (two-call pattern): *size_out receives the
 * size needed; buf may be NULL when cap is 0.
 * @return ESMM_OK, ESMM_EINVAL, ESMM_EBUFS, ESMM_ENUMERIC. @since 1.0
 */
ESMM_API int esmm_model_save_buffer(const esmm_model *m, void *buf, size_t cap, size_t *size_out);

/**
 * Load a model saved by esmm_model_save. Everything is validated before the
 * model is built. hooks (may be NULL) supplies only the allocator, log sink
 * and thread count for the new model; the rest comes from the file.
 * @return ESMM_OK, ESMM_EINVAL, ESMM_EIO, ESMM_ECORRUPT (bad magic,
 * checksum, truncation, inconsistent shapes), ESMM_EVERSION (newer format),
 * ESMM_ENUMERIC (NaN/Inf parameter), ESMM_ENOMEM. *out is NULL on failure.
 * @since 1.0
 */
ESMM_API int esmm_model_load(esmm_model **out, const char *path, const esmm_config *hooks);

/** Same from a memory buffer. @since 1.0 */
ESMM_API int esmm_model_load_buffer(esmm_model **out, const void *buf, size_t len, const esmm_config *hooks);

/* Serving from host memory (1.0). --------------------------------------- */

/**
 * Predict n rows given in CSR form, without a dataset: row i has features
 * [offsets[i], offsets[i+1]) of field/id/value (field = index into the
 * model's field list, see esmm_model_config and esmm_config_field_index;
 * id = any 64-bit feature id; value NULL = all 1.0) and, when the model
 * takes ESMM_OPT_DENSE_FEATURES numeric inputs, dense[i*D .. i*D+D) (D =
 * that count; dense may be NULL when D is 0). Writes n floats to each
 * of pctr, pcvr, pctcvr (any may be NULL). Rows go through the towers in
 * chunks of the workspace's batch size; the same rows in the same chunks
 * give bit-identical results (as esmm_model_predict on a dataset of those
 * rows with a workspace of the same batch size), while another chunking may
 * differ in the last bits (SGEMM's blocking depends on the row count).
 * @param ws  a workspace made for a model of this shape, or NULL (a
 *            temporary one is then allocated for the call).
 * @param offsets  n+1 entries, offsets[0] == 0, never decreasing.
 * @return ESMM_OK; ESMM_EINVAL (NULL m or offsets, offsets[0] != 0,
 * decreasing offsets, NULL field/id with features, a field index outside
 * the model's fields, dense NULL while D > 0; the message names it);
 * ESMM_ENUMERIC (a non-finite value or numeric input, or a NaN logit from
 * overflowing parameters); ESMM_ESHAPE (ws was
 * made for another model shape); ESMM_ENOMEM (only when ws is NULL). Outputs are untouched on failure.
 * Ownership: nothing is kept past the call.
 * Thread safety: safe on one model from any number of threads, each with
 * its own workspace, while no thread trains, loads into or frees the
 * model. With a workspace the call allocates nothing.
 * @since 1.0
 */
ESMM_API int esmm_model_predict_csr(const esmm_model *m, esmm_workspace *ws, size_t n, const int64_t *offsets,
                                    const int *field, const uint64_t *id, const float *value,
                                    const float *dense, float *pctr, float *pcvr, float *pctcvr);

/**
 * Score n_items candidate items for one user: the user's (common) features
 * user_field/user_id/user_value[0 .. user_nnz) are pooled once per call,
 * then each item i adds its own features [item_offsets[i],
 * item_offsets[i+1]) of item_field/item_id/item_value (and its numeric
 * inputs item_dense[i*D .. i*D+D) when the model takes D > 0 of them).
 * Writes n_items floats to each of pctr, pcvr, pctcvr (any may be NULL).
 * The result for item i equals, bit for bit, esmm_model_predict on a
 * dataset row with item i's features that references the user's features
 * as its common list (own and common parts are pooled apart, then added).
 * @param user_value, item_value  NULL = all 1.0.
 * @param item_offsets  n_items+1 entries, [0] == 0, never decreasing.
 * @return ESMM_OK; ESMM_EINVAL (NULL m or item_offsets, NULL feature arrays
 * with features, bad offsets, field index outside the model's fields,
 * item_dense NULL while D > 0); ESMM_ENUMERIC (non-finite value, or a NaN
 * logit from overflowing parameters);
 * ESMM_ESHAPE (workspace of another shape); ESMM_ENOMEM (only when ws is
 * NULL). Outputs are untouched on failure.
 * Ownership: nothing is kept past the call.
 * Thread safety: as esmm_model_predict_csr; no allocation with a workspace.
 * @since 1.0
 */
ESMM_API int esmm_model_predict_user(const esmm_model *m, esmm_workspace *ws, size_t user_nnz,
                                     const int *user_field, const uint64_t *user_id, const float *user_value,
                                     size_t n_items, const int64_t *item_offsets, const int *item_field,
                                     const uint64_t *item_id, const float *item_value, const float *item_dense,
                                     float *pctr, float *pcvr, float *pctcvr);

/* Checkpoints (1.0). ----------------------------------------------------- */

/**
 * Save a checkpoint to path, atomically (as esmm_model_save): a model file
 * (docs/model-format.md) plus the optimizer state (section 4: the step
 * count and every block's moments/accumulators) and the training state
 * (section 5: step, epoch, samples, the RNG state the current epoch's
 * permutation was drawn from, the position in that permutation and the
 * dataset's row count). esmm_model_load reads a checkpoint as a plain model
 * (ignoring the extra sections); esmm_model_load_checkpoint restores
 * everything, so that training resumes exactly where it stopped.
 * @return ESMM_OK, ESMM_EINVAL (NULL argument, empty path), ESMM_EIO
 * (nothing at path changed), ESMM_ENUMERIC (a parameter or optimizer value
 * is NaN/Inf; nothing written), ESMM_ENOMEM.
 * Ownership: nothing is kept. Thread safety: reads the model; do not train
 * it at the same time. May be called from a progress callback. @since 1.0
 */
ESMM_API int esmm_model_save_checkpoint(const esmm_model *m, const char *path);

/**
 * Serialise a checkpoint to a caller buffer (two-call pattern, as
 * esmm_model_save_buffer).
 * @return ESMM_OK, ESMM_EINVAL, ESMM_EBUFS (*size_out holds the size
 * needed), ESMM_ENUMERIC. Thread safety: as esmm_model_save_checkpoint.
 * @since 1.0
 */
ESMM_API int esmm_model_save_checkpoint_buffer(const esmm_model *m, void *buf, size_t cap, size_t *size_out);

/**
 * Load a checkpoint written by esmm_model_save_checkpoint: the model and
 * its optimizer and training state. Everything (both extra sections too)
 * is validated before the model is built. With one thread and the same
 * training data, training the loaded model continues bit-identically to a
 * run that never stopped. hooks as for esmm_model_load.
 * @return ESMM_OK, ESMM_EINVAL, ESMM_EIO, ESMM_ECORRUPT (as
 * esmm_model_load, plus: a plain model file without the checkpoint
 * sections, or sections that do not match the model), ESMM_EVERSION,
 * ESMM_ENUMERIC, ESMM_ENOMEM. *out is NULL on failure.
 * Ownership: the caller frees *out with esmm_model_free.
 * Thread safety: distinct calls are independent. @since 1.0
 */
ESMM_API int esmm_model_load_checkpoint(esmm_model **out, const char *path, const esmm_config *hooks);

/** Same from a memory buffer (len bytes). Statuses as
 * esmm_model_load_checkpoint (no ESMM_EIO). @since 1.0 */
ESMM_API int esmm_model_load_checkpoint_buffer(esmm_model **out, const void *buf, size_t len,
                                               const esmm_config *hooks);

ESMM_END_DECLS

#endif /* ESMM_MODEL_H */
