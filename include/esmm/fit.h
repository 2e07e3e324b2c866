/*
 * esmm/fit.h - the training loop a practitioner expects: epochs over a
 * training set, a validation set evaluated every epoch (or every N steps),
 * early stopping on a chosen metric with patience, the best model kept, and
 * the history of every evaluation. @since 1.1
 *
 * esmm_model_fit is built on the public model API (esmm_model_train_epoch,
 * esmm_model_evaluate, esmm_model_save_buffer); the esmm program, the
 * Python binding and the C++ header all train through it. Its options are
 * config options (esmm/config.h, 700..): ESMM_OPT_FIT_EVAL_EVERY,
 * ESMM_OPT_FIT_MONITOR, ESMM_OPT_FIT_PATIENCE, ESMM_OPT_FIT_MIN_DELTA,
 * ESMM_OPT_FIT_KEEP_BEST, with ESMM_OPT_EPOCHS.
 *
 * Resuming: a fit records the state of early stopping in the model's
 * metadata (keys "fit.monitor", "fit.best_value", "fit.best_step",
 * "fit.wait"; esmm/modelfile.h), which checkpoints keep. A
 * fit of a model that has trained (ESMM_STAT_STEP > 0: a loaded
 * checkpoint, or a model fitted before in this process) with the same
 * monitored metric continues that state; a new or loaded plain model
 * (ESMM_STAT_STEP == 0) starts afresh. The best parameters of the earlier
 * run are not in the checkpoint: a host that needs them saves the model at
 * each ESMM_FIT_EVENT_BEST (as `esmm train` does).
 *
 * Thread safety: a fit handle is not thread-safe; esmm_model_fit has the
 * thread safety of esmm_model_train_epoch.
 */
#ifndef ESMM_FIT_H
#define ESMM_FIT_H

#include "common.h"
#include "config.h"
#include "dataset.h"
#include "metrics.h"
#include "model.h"

ESMM_BEGIN_DECLS

/** The history of one esmm_model_fit call. */
typedef struct esmm_fit esmm_fit;

/* Events of esmm_fit_fn. Pinned. */
typedef enum {
  ESMM_FIT_EVENT_STEP = 0, /* after every training step */
  ESMM_FIT_EVENT_EVAL = 1, /* a record was appended (an evaluation point: the end of an
                              epoch, or ESMM_OPT_FIT_EVAL_EVERY steps) */
  ESMM_FIT_EVENT_BEST = 2  /* right after ESMM_FIT_EVENT_EVAL, when that record improved
                              the monitored metric: the model is at its best now */
} esmm_fit_event;

/**
 * Callback of esmm_model_fit. m is the model being trained (read it, save
 * it, save a checkpoint of it; do not train it), fit the history so far.
 * Return 0 to go on, non-zero to stop: esmm_model_fit then returns
 * ESMM_ECANCELED.
 */
typedef int (*esmm_fit_fn)(const esmm_model *m, const esmm_fit *fit, int event, void *payload);

/* Keys of esmm_fit_record: the numbers of one evaluation point. Pinned. */
typedef enum {
  ESMM_FIT_EPOCH = 0,      /* epochs of training data seen: samples / training rows */
  ESMM_FIT_STEP = 1,       /* ESMM_STAT_STEP at that point */
  ESMM_FIT_SAMPLES = 2,    /* ESMM_STAT_SAMPLES */
  ESMM_FIT_TRAIN_LOSS = 3, /* mean ESMM_STAT_LOSS of the steps since the previous point */
  ESMM_FIT_SECONDS = 4,    /* wall time since the fit started */
  ESMM_FIT_MONITOR = 5,    /* the monitored validation metric (NaN without validation) */
  ESMM_FIT_IMPROVED = 6,   /* 1 when this point improved the monitored metric, else 0 */
  ESMM_FIT_VALID = 100     /* ESMM_FIT_VALID + m (an esmm_metric): validation metric m,
                              NaN without a validation set */
} esmm_fit_key;

/* Keys of esmm_fit_stat. Pinned. */
typedef enum {
  ESMM_FIT_STAT_RECORDS = 0,         /* records so far */
  ESMM_FIT_STAT_BEST = 1,            /* index of the best record of this call, -1 when none */
  ESMM_FIT_STAT_BEST_STEP = 2,       /* step of the best evaluation (this call or, resumed, before), -1 none */
  ESMM_FIT_STAT_BEST_VALUE = 3,      /* its monitored value (NaN when none) */
  ESMM_FIT_STAT_STOPPED_EARLY = 4,   /* 1 when patience ran out */
  ESMM_FIT_STAT_STEPS_PER_EPOCH = 5, /* batches in an epoch of the training set */
  ESMM_FIT_STAT_TOTAL_STEPS = 6,     /* ESMM_OPT_EPOCHS x steps per epoch (the end, unless stopped early) */
  ESMM_FIT_STAT_START_STEP = 7,      /* ESMM_STAT_STEP when the fit started */
  ESMM_FIT_STAT_WAIT = 8,            /* evaluations since the best one */
  ESMM_FIT_STAT_MONITOR = 9,         /* the monitored esmm_metric */
  ESMM_FIT_STAT_HIGHER_BETTER = 10   /* 1 for an AUC, 0 for a log-loss */
} esmm_fit_stat_key;

/**
 * Train m on train until ESMM_STAT_EPOCH reaches ESMM_OPT_EPOCHS (a total:
 * a resumed model goes on from where it is), evaluating valid (when given)
 * after every epoch, or every ESMM_OPT_FIT_EVAL_EVERY steps and at the end.
 * Each evaluation point appends a record (also without valid: the training
 * loss). With valid, the metric ESMM_OPT_FIT_MONITOR decides the best
 * record (an improvement must exceed ESMM_OPT_FIT_MIN_DELTA; NaN never
 * improves); with ESMM_OPT_FIT_KEEP_BEST a copy of the model at its best
 * is kept (esmm_fit_best_model; it costs a model file's size of memory);
 * with ESMM_OPT_FIT_PATIENCE > 0 training stops after that many
 * evaluations in a row without improvement (ESMM_FIT_STAT_STOPPED_EARLY).
 * m itself ends in its last state (which a checkpoint can continue).
 * @param opts  the fit options and ESMM_OPT_EPOCHS are read from it; NULL =
 *              the model's own config. Nothing else of it is used.
 * @param valid validation rows (may be NULL; required when patience > 0).
 * @param fn    callback (may be NULL).
 * @param[out] out  the history, or NULL when not wanted. Set on every return
 *              once training has started (ESMM_OK, ESMM_ECANCELED and any
 *              training or evaluation failure: the records so far), NULL on
 *              an argument error.
 * @return ESMM_OK (also after an early stop); ESMM_EINVAL (NULL m or train,
 * patience without valid, an empty training set); ESMM_ECANCELED (fn asked
 * to stop); ESMM_ENOMEM; and the statuses of esmm_model_train_epoch and
 * esmm_model_evaluate (ESMM_ESHAPE, ESMM_ENUMERIC, ...).
 * Ownership: free *out with esmm_fit_free. train and valid are only read.
 * Thread safety: as esmm_model_train_epoch. @since 1.1
 */
ESMM_API int esmm_model_fit(esmm_model *m, const esmm_dataset *train, const esmm_dataset *valid,
                            const esmm_config *opts, esmm_fit_fn fn, void *payload, esmm_fit **out);

/** Free a history; NULL is a no-op. @since 1.1 */
ESMM_API void esmm_fit_free(esmm_fit *fit);

/**
 * Number i of record i (esmm_fit_key).
 * @return ESMM_OK, ESMM_EINVAL (NULL argument, i out of range, unknown key).
 * @since 1.1
 */
ESMM_API int esmm_fit_record(const esmm_fit *fit, size_t i, int key, double *out);

/**
 * A number about the whole fit (esmm_fit_stat_key).
 * @return ESMM_OK, ESMM_EINVAL. @since 1.1
 */
ESMM_API int esmm_fit_stat(const esmm_fit *fit, int key, double *out);

/**
 * A new model holding the parameters of the best record (loaded from the
 * kept copy, with the allocator, log sink and threads of hooks as in
 * esmm_model_load).
 * @return ESMM_OK; ESMM_EINVAL (NULL argument); ESMM_ESTATE (no copy: no
 * validation set, ESMM_OPT_FIT_KEEP_BEST 0, no record improved, or the best
 * evaluation was before a resume; the message says which); ESMM_ENOMEM.
 * Ownership: free *out with esmm_model_free. @since 1.1
 */
ESMM_API int esmm_fit_best_model(const esmm_fit *fit, const esmm_config *hooks, esmm_model **out);

ESMM_END_DECLS

#endif /* ESMM_FIT_H */
