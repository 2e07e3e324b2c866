/*
 * esmm/model.h - the ESMM model: training, prediction, evaluation, files.
 *
 * A model owns shared embedding tables (one row per hashed feature id,
 * sum-pooled per field), a CTR tower and a CVR tower fed by the same
 * pooled embeddings, the product head (pCTCVR = pCTR * pCVR) and an
 * optimizer. Training minimises
 *   w_ctr * BCE(pCTR, y) + w_ctcvr * BCE(pCTCVR, y*z)
 * over every impression of the dataset; pCVR is never fitted directly.
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
  ESMM_STAT_EPOCH_LOSS = 8      /* mean weighted loss over the current/last epoch */
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
 * workspace shape differ), ESMM_ENOMEM (only when ws is NULL).
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

ESMM_END_DECLS

#endif /* ESMM_MODEL_H */
