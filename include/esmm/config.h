/*
 * esmm/config.h - model and training options.
 *
 * An esmm_config is an opaque bag of validated options keyed by esmm_opt.
 * Every option has a type (int, float or int list), bounds and a documented
 * default; setters refuse out-of-range values (never clamp). Options can also
 * be set by name ("embed_dim", "learning_rate", ...) for CLIs and bindings.
 * Consumers (esmm_model_new, esmm_dataset_new, ...) copy what they need, so
 * a config may be freed right after it was used. Cross-option checks run in
 * the consumer (e.g. esmm_model_new).
 *
 * Thread safety: a config is not thread-safe; distinct configs are
 * independent. Reading one config from several threads at once is safe as
 * long as no thread modifies it.
 */
#ifndef ESMM_CONFIG_H
#define ESMM_CONFIG_H

#include "common.h"

ESMM_BEGIN_DECLS

typedef struct esmm_config esmm_config;

/* Option keys. Pinned, append-only, grouped by hundreds. The by-name key
 * is given in brackets; the default in parentheses. */
typedef enum {
  /* model shape */
  ESMM_OPT_EMBED_DIM = 100,    /* int [embed_dim] (18) embedding width, [1,4096] */
  ESMM_OPT_HASH_BUCKETS = 101, /* int [hash_buckets] (32768) buckets of a field
                                  whose own count was not given, [1,2^31) */
  ESMM_OPT_CTR_TOWER = 102,    /* ints [ctr_tower] (200,80) hidden sizes of the
                                  CTR tower; 0..8 layers of [1,65536] */
  ESMM_OPT_CVR_TOWER = 103,    /* ints [cvr_tower] (200,80) same for CVR */
  ESMM_OPT_VARIANT = 104,      /* int [variant] (ESMM_VARIANT_ESMM) esmm_variant */
  ESMM_OPT_ACTIVATION = 105,   /* int [activation] (ESMM_ACT_RELU) esmm_activation */
  ESMM_OPT_INIT_SCALE = 106,   /* float [init_scale] (0.01) std of the normal
                                  embedding initialisation, [0,1] */
  /* optimizer */
  ESMM_OPT_OPTIMIZER = 200,     /* int [optimizer] (ESMM_OPTIMIZER_ADAM) */
  ESMM_OPT_LEARNING_RATE = 201, /* float [learning_rate] (1e-3), (0,10] */
  ESMM_OPT_ADAM_BETA1 = 202,    /* float [adam_beta1] (0.9), [0,1) */
  ESMM_OPT_ADAM_BETA2 = 203,    /* float [adam_beta2] (0.999), [0,1) */
  ESMM_OPT_ADAM_EPS = 204,      /* float [adam_eps] (1e-8), (0,1] */
  ESMM_OPT_L2 = 205,            /* float [l2] (0) L2 penalty added to the
                                   gradient of every updated parameter, [0,1e3] */
  ESMM_OPT_ADAGRAD_INIT = 206,  /* float [adagrad_init] (0.1) initial Adagrad
                                   accumulator, [0,1e3] */
  /* training */
  ESMM_OPT_BATCH_SIZE = 300,        /* int [batch_size] (1024), [1,1048576] */
  ESMM_OPT_EPOCHS = 301,            /* int [epochs] (1) for esmm_model_train, [1,1e6] */
  ESMM_OPT_LOSS_WEIGHT_CTR = 302,   /* float [loss_weight_ctr] (1) weight of
                                       BCE(pCTR, y), [0,1e3] */
  ESMM_OPT_LOSS_WEIGHT_CTCVR = 303, /* float [loss_weight_ctcvr] (1) weight of
                                       BCE(pCTCVR, y*z), [0,1e3] */
  ESMM_OPT_SHUFFLE = 304,           /* int [shuffle] (1) order of rows in an
                                       epoch: 0 "none" file order, 1 "rows" a
                                       random permutation of rows, 2 "groups" a
                                       random order of user groups (runs of rows
                                       sharing a common list) with each group's
                                       rows together, so a batch pools each
                                       user once */
  ESMM_OPT_BATCH_SLICES = 305,     /* int [batch_slices] (0) a training batch is
                                       cut into this many slices of consecutive
                                       rows, each trained as a unit on one
                                       thread, their gradients summed in slice
                                       order, [0,4096]; 0 = as many as the CPUs
                                       this process may use. A model's results
                                       depend on it and never on
                                       ESMM_OPT_NUM_THREADS (threads beyond the
                                       slices idle in that phase); each slice
                                       costs a pass over the towers'
                                       gradients, so more slices than threads
                                       only slow a step down. @since 1.1 */
  /* execution */
  ESMM_OPT_SEED = 400,        /* int [seed] (42) seeds every random choice
                                 (initialisation, shuffling), [0,2^63) */
  ESMM_OPT_NUM_THREADS = 401, /* int [threads] (0) the library's own worker
                                 threads, [0,256]; 0 = as many as the CPUs
                                 this process may run on
                                 (sched_getaffinity). A training step runs
                                 data-parallel on them (each thread a slice
                                 of the batch, see ESMM_OPT_BATCH_SLICES:
                                 pooling, towers, loss, backward; then the
                                 embedding rows' gradients and the update
                                 split by parts), and esmm_model_predict /
                                 esmm_model_evaluate score blocks of rows
                                 on them. Each thread calls the BLAS on its
                                 own, so the BLAS must not start threads of
                                 its own: with 0, when OpenBLAS reports more
                                 than one (OPENBLAS_NUM_THREADS unset or
                                 > 1), the model uses 1 thread and lets
                                 OpenBLAS parallelise each GEMM instead (an
                                 info log line says so; ESMM_STAT_THREADS
                                 tells); an explicit count is used as given
                                 (a warning is logged when the BLAS has
                                 threads too). Hosts that train should run
                                 OPENBLAS_NUM_THREADS=1 (the esmm CLI and
                                 the Python binding do).
                                 Threads are started on first use, sleep
                                 when idle and are joined by
                                 esmm_model_free. Results are bit-identical
                                 for any value. Changed in 1.1: the default
                                 was 1. */
  /* data (readers) 500.. */
  ESMM_OPT_DENSE_FEATURES = 500, /* int [dense_features] (0) numeric inputs per
                                    row, fed to both towers after the pooled
                                    embeddings, [0,4096]; datasets made from the
                                    config carry as many */
  ESMM_OPT_DATA_UNKNOWN_FIELD = 501, /* int [unknown_field] (ESMM_UNKNOWN_FIELD_ERROR)
                                        what readers do with a feature of a field
                                        the field list lacks: esmm_unknown_field */
  ESMM_OPT_DATA_VALUES = 502,        /* int [feature_values] (ESMM_VALUES_WEIGHT)
                                        feature values as pooling weights, or
                                        ignored (every weight 1): esmm_values */
  ESMM_OPT_DATA_ON_ERROR = 503,      /* int [on_error] (ESMM_ON_ERROR_FAIL) a bad
                                        row stops the read, or is skipped and
                                        counted: esmm_on_error */
  ESMM_OPT_DATA_CONV_NO_CLICK = 504, /* int [conv_no_click] (ESMM_CNC_KEEP) rows with
                                        click 0 and conversion 1: esmm_conv_no_click */
  ESMM_OPT_DATA_MAX_ERRORS = 505,    /* int [max_errors] (0 = unlimited) with
                                        ESMM_ON_ERROR_SKIP, fail once more rows
                                        than this were skipped, [0,2^62] */
  /* variants 600.. (see docs/what-pcvr-estimates.md for every loss) */
  ESMM_OPT_CVR_CLICK_WEIGHT = 600, /* float [cvr_click_weight] (0) ESMM, ESMM_NS:
                                      weight w of an added click-space CVR loss
                                      w * (1/B) sum_i y_i BCE(pCVR_i, z_i) over a
                                      batch of B impressions, [0,1e3] */
  ESMM_OPT_LAMBDA_C = 601,         /* float [lambda_c] (1) ESCM2_IPS, ESCM2_DR (and
                                      MULTI_IPW, MULTI_DR, DCMT since 1.1):
                                      weight of the counterfactual CVR risk;
                                      the CTCVR term keeps the weight
                                      ESMM_OPT_LOSS_WEIGHT_CTCVR (ESCM2's lambda_g),
                                      [0,1e3] */
  ESMM_OPT_PROPENSITY_CLIP = 602,  /* float [propensity_clip] (0.01) ESCM2_IPS,
                                      ESCM2_DR (MULTI_*, DCMT: the same; DCMT
                                      also floors 1 - pCTR by it): the
                                      propensity is max(pCTR, clip),
                                      [1e-6,1] */
  ESMM_OPT_PROPENSITY_STOP_GRAD = 603, /* int [propensity_stop_grad] (1) ESCM2_IPS,
                                      ESCM2_DR (MULTI_*, DCMT: the same): 1 = no
                                      gradient flows from the
                                      counterfactual risk into the CTR tower
                                      through the propensity, 0 = it does, [0,1] */
  ESMM_OPT_ESCM2_FORM = 604,       /* int [escm2_form] (ESMM_ESCM2_FORM_PAPER) ESCM2_IPS,
                                      ESCM2_DR: the counterfactual risk as the
                                      paper writes it, or as the authors' code
                                      computes it (esmm_escm2_form). @since 1.1 */
  ESMM_OPT_PROPENSITY_SOURCE = 605, /* int [propensity] (ESMM_PROPENSITY_MODEL)
                                      ESCM2_*, MULTI_*, DCMT: where the propensity
                                      comes from: pCTR, or the dataset's true
                                      p(y=1|x) (simulated data only; a control
                                      for studies): esmm_propensity_source.
                                      @since 1.1 */
  ESMM_OPT_DCMT_LAMBDA = 606,      /* float [dcmt_lambda] (0.001) DCMT: weight of
                                      the soft constraint |1 - (pCVR + pCVR*)|
                                      within the counterfactual risk, [0,1e3].
                                      @since 1.1 */
  /* fit options 700.. (esmm/fit.h, @since 1.1): how esmm_model_fit evaluates
   * and when it stops. They do not change the model; a model file records
   * them only when they differ from the default. */
  ESMM_OPT_FIT_EVAL_EVERY = 700,  /* int [eval_every] (0) evaluate the validation
                                     set every this many steps; 0 = after every
                                     epoch, [0,2^31) */
  ESMM_OPT_FIT_MONITOR = 701,     /* int [monitor] (3 "ctcvr_auc") the validation
                                     metric that decides the best model and early
                                     stopping: an esmm_metric in [0,6] by its name
                                     ("ctr_auc", "cvr_auc_clicked", "cvr_auc_all",
                                     "ctcvr_auc": higher is better; "ctr_logloss",
                                     "cvr_logloss_clicked", "ctcvr_logloss": lower
                                     is better) */
  ESMM_OPT_FIT_PATIENCE = 702,    /* int [patience] (0) stop after this many
                                     evaluations in a row without improvement of
                                     the monitored metric; 0 = never stop early,
                                     [0,1e6] */
  ESMM_OPT_FIT_MIN_DELTA = 703,   /* float [min_delta] (0) an improvement must
                                     exceed this, [0,1] */
  ESMM_OPT_FIT_KEEP_BEST = 704,   /* int [keep_best] (1) keep a copy of the model
                                     at its best evaluation (esmm_fit_best_model),
                                     [0,1] */
  /* distributed options 800.. (esmm/comm.h) */
  ESMM_OPT_DIST_CHECK_EVERY = 800,   /* int [dist_check_every] (100) compare a checksum
                                        of the parameters across ranks every this
                                        many steps (0 = never), [0,2^31) */
  ESMM_OPT__RESERVED = 0x7fffffff /* keeps the enum int-sized; not an option */
} esmm_opt;

/* Values of ESMM_OPT_VARIANT. Pinned. ESMM_VARIANT_ESMM is the model of
 * Ma et al. (2018). Per impression (a = CTR logit, o = click y, z =
 * conversion, B = batch size, BCE natural-log cross-entropy, sums over the
 * batch; w_ctr, w_ctcvr = ESMM_OPT_LOSS_WEIGHT_CTR/_CTCVR):
 *   ESMM      shared embedding; w_ctr BCE(pCTR,y) + w_ctcvr BCE(pCTR pCVR, y z)
 *             (+ ESMM_OPT_CVR_CLICK_WEIGHT * y BCE(pCVR, z)), all / B.
 *   ESMM_NS   the same loss; the CVR tower has its own embedding table.
 *   BASE      two independent models: CTR tower + table 1 with w_ctr BCE(pCTR,y);
 *             CVR tower + table 2 with y BCE(pCVR, z) (clicked rows only, / B);
 *             pCTCVR = pCTR pCVR.
 *   DIVISION  two independent models: CTR (w_ctr BCE(pCTR,y)) and CTCVR
 *             (w_ctcvr BCE(pCTCVR,yz)), each with its own table;
 *             pCVR = min(1, pCTCVR/pCTR) (ESMM_STAT_CVR_CLIPS counts clips).
 *   ESCM2_IPS ESMM + lambda_c y BCE(pCVR,z)/max(pCTR, clip)   (ESCM2, Wang et al.
 *             SIGIR 2022, normalised by the batch size B as in its eq. for R_IPS).
 *   ESCM2_DR  ESMM + lambda_c [ e^ + y (e - e^)/p + y (e - e^)^2/p ], e = BCE(pCVR,z),
 *             e^ = softplus(imputation tower), p = max(pCTR, clip); the
 *             imputation tower (hidden sizes of ESMM_OPT_CVR_TOWER) shares the
 *             embedding; no gradient flows from the squared imputation term into
 *             the CVR tower (e is its target there). So the CVR tower's gradient
 *             is exactly ESCM2_IPS's, y e'/p: a consequence of that stop-gradient,
 *             not of DR (without it the tower also gets 2 y (e - e^) e'/p).
 *   ESCM2 with ESMM_OPT_ESCM2_FORM = ESMM_ESCM2_FORM_CODE (the authors' released
 *             code): IPS's risk is sum_i y e min(1/max(p C, 1e-6), 15) over the
 *             batch (C = its clicks; no division by B, so it is the paper's risk
 *             times B/C), DR's is (1/B) sum [ e^ + y (e - e^) w + y (e - e^)^2 w ]
 *             with w = min(1/max(p, 1e-6), 15), e^ = sigmoid(imputation logit) and
 *             no stop-gradient on e; p = pCTR unclipped (ESMM_OPT_PROPENSITY_CLIP
 *             is not used) and never differentiated. The code weighs the risk and
 *             the CTCVR term by 0.5 each: set ESMM_OPT_LAMBDA_C and
 *             ESMM_OPT_LOSS_WEIGHT_CTCVR to 0.5 for the code's whole objective.
 *   MULTI_IPW (Zhang et al., WWW 2020) w_ctr BCE(pCTR,y) + lambda_c y BCE(pCVR,z)/p,
 *             p = max(pCTR, clip), shared embedding, all / B: ESCM2_IPS without
 *             the CTCVR term (its BCE is reported, not trained).
 *   MULTI_DR  (Zhang et al., WWW 2020) ESCM2_DR without the CTCVR term.
 *   DCMT      (Zhu et al., ICDE 2023) ESMM + lambda_c [ y BCE(pCVR,z)/p
 *             + (1-y) BCE(pCVR*, 1)/q + dcmt_lambda |1 - (pCVR + pCVR*)| ],
 *             p = max(pCTR, clip), q = max(1 - pCTR, clip), pCVR* = sigmoid of a
 *             counterfactual tower (hidden sizes of ESMM_OPT_CVR_TOWER, on the
 *             shared embedding) that learns the inverted label 1 - y z on
 *             non-clicked rows; pCVR is the factual tower. */
typedef enum {
  ESMM_VARIANT_ESMM = 0,
  ESMM_VARIANT_ESMM_NS = 1,
  ESMM_VARIANT_BASE = 2,
  ESMM_VARIANT_DIVISION = 3,
  ESMM_VARIANT_ESCM2_IPS = 4,
  ESMM_VARIANT_ESCM2_DR = 5,
  ESMM_VARIANT_MULTI_IPW = 6, /* @since 1.1 */
  ESMM_VARIANT_MULTI_DR = 7,  /* @since 1.1 */
  ESMM_VARIANT_DCMT = 8       /* @since 1.1 */
} esmm_variant;

/* Values of ESMM_OPT_ESCM2_FORM (by name: "paper", "code"). @since 1.1 */
typedef enum { ESMM_ESCM2_FORM_PAPER = 0, ESMM_ESCM2_FORM_CODE = 1 } esmm_escm2_form;

/* Values of ESMM_OPT_PROPENSITY_SOURCE (by name: "model", "truth"): pCTR, or
 * the dataset's ESMM_TRUTH_CTR (training on a dataset without it fails with
 * ESMM_ESTATE). With "truth" no gradient flows through the propensity, and
 * ESMM_OPT_PROPENSITY_CLIP still floors it. @since 1.1 */
typedef enum { ESMM_PROPENSITY_MODEL = 0, ESMM_PROPENSITY_TRUTH = 1 } esmm_propensity_source;

/* Values of ESMM_OPT_ACTIVATION (hidden layers; output layers are linear). */
typedef enum { ESMM_ACT_RELU = 0, ESMM_ACT_TANH = 1, ESMM_ACT_SIGMOID = 2 } esmm_activation;

/* Values of ESMM_OPT_DATA_UNKNOWN_FIELD (by name: "error", "ignore"). */
typedef enum { ESMM_UNKNOWN_FIELD_ERROR = 0, ESMM_UNKNOWN_FIELD_IGNORE = 1 } esmm_unknown_field;

/* Values of ESMM_OPT_DATA_VALUES (by name: "weight", "ignore"). */
typedef enum { ESMM_VALUES_WEIGHT = 0, ESMM_VALUES_IGNORE = 1 } esmm_values;

/* Values of ESMM_OPT_DATA_ON_ERROR (by name: "fail", "skip"). */
typedef enum { ESMM_ON_ERROR_FAIL = 0, ESMM_ON_ERROR_SKIP = 1 } esmm_on_error;

/* Values of ESMM_OPT_DATA_CONV_NO_CLICK (by name: "keep", "zero", "drop",
 * "error"): keep the labels as read (the ESMM loss uses y*z, so such a row
 * already counts as a non-conversion there), set the conversion label to 0,
 * drop the row, or treat the row as bad input (ESMM_OPT_DATA_ON_ERROR
 * decides between failing and skipping). Every policy counts the rows
 * (ESMM_DS_CONV_NO_CLICK_READ). */
typedef enum {
  ESMM_CNC_KEEP = 0,
  ESMM_CNC_ZERO = 1,
  ESMM_CNC_DROP = 2,
  ESMM_CNC_ERROR = 3
} esmm_conv_no_click;

/* Values of ESMM_OPT_OPTIMIZER. */
typedef enum {
  ESMM_OPTIMIZER_ADAM = 0,
  ESMM_OPTIMIZER_ADAGRAD = 1,
  ESMM_OPTIMIZER_SGD = 2
} esmm_optimizer_kind;

/* Limits of the field list. */
#define ESMM_MAX_FIELDS 1024
#define ESMM_MAX_FIELD_NAME 63 /* bytes, without the terminating NUL */

/**
 * Create a config holding every default. The default field list is the 23
 * Ali-CCP fields (101 121 122 124 125 126 127 128 129 109_14 110_14 127_14
 * 150_14 205 206 207 210 216 508 509 702 853 301), each with
 * ESMM_OPT_HASH_BUCKETS buckets; the simulator generates the same fields.
 * @param[out] out new config, or NULL on failure.
 * @return ESMM_OK, ESMM_EINVAL (out is NULL), ESMM_ENOMEM.
 * Ownership: the caller frees *out with esmm_config_free.
 * @since 1.0
 */
ESMM_API int esmm_config_new(esmm_config **out);

/** Free a config; NULL is a no-op. @since 1.0 */
ESMM_API void esmm_config_free(esmm_config *cfg);

/**
 * Deep copy of a config (fields, hooks, every option).
 * @return ESMM_OK, ESMM_EINVAL, ESMM_ENOMEM. @since 1.0
 */
ESMM_API int esmm_config_clone(const esmm_config *cfg, esmm_config **out);

/**
 * Set an int option (also accepted for float options).
 * @return ESMM_OK; ESMM_EINVAL for a NULL cfg, an unknown option, a list
 * option or a value outside the option's bounds (the message names the
 * option, the bounds and the value). On failure the config is unchanged.
 * @since 1.0
 */
ESMM_API int esmm_config_set_int(esmm_config *cfg, esmm_opt opt, int64_t value);

/**
 * Set a float option. NaN and values outside the bounds are refused
 * (ESMM_EINVAL); int options are refused unless value is integral.
 * @since 1.0
 */
ESMM_API int esmm_config_set_float(esmm_config *cfg, esmm_opt opt, double value);

/**
 * Set an int-list option (ESMM_OPT_CTR_TOWER, ESMM_OPT_CVR_TOWER). n may be
 * 0 (no hidden layer: a logistic model on the embeddings).
 * @return ESMM_OK, ESMM_EINVAL (bad option, too many values, value out of
 * bounds, values NULL with n > 0). @since 1.0
 */
ESMM_API int esmm_config_set_ints(esmm_config *cfg, esmm_opt opt, const int64_t *values, size_t n);

/** Read an int option. @return ESMM_OK, ESMM_EINVAL. @since 1.0 */
ESMM_API int esmm_config_get_int(const esmm_config *cfg, esmm_opt opt, int64_t *out);

/** Read a float (or int, converted) option. @return ESMM_OK, ESMM_EINVAL. @since 1.0 */
ESMM_API int esmm_config_get_float(const esmm_config *cfg, esmm_opt opt, double *out);

/**
 * Read an int-list option with the two-call pattern: *n_out receives the
 * length; values may be NULL when cap is 0.
 * @return ESMM_OK, ESMM_EINVAL, ESMM_EBUFS (cap too small; *n_out is set).
 * @since 1.0
 */
ESMM_API int esmm_config_get_ints(const esmm_config *cfg, esmm_opt opt, int64_t *values, size_t cap,
                                  size_t *n_out);

/**
 * Bounds of a numeric option (for list options, of each element).
 * @return ESMM_OK, ESMM_EINVAL (unknown option or NULL outputs). @since 1.0
 */
ESMM_API int esmm_config_bounds(esmm_opt opt, double *min_out, double *max_out);

/**
 * Set an option from text, for CLIs and bindings: name is the bracketed
 * key above; value is parsed independently of the process locale. Enum
 * options take their names ("relu", "adam", "esmm", "esmm_ns", ...) or
 * numbers; lists are comma-separated ("360,200,80"; "" for none). The name
 * "fields" takes "101:100000,121,122:5000" (field[:buckets], ...).
 * @return ESMM_OK, ESMM_EINVAL (unknown name, unparsable or out-of-range
 * value; the message says which). @since 1.0
 */
ESMM_API int esmm_config_set_by_name(esmm_config *cfg, const char *name, const char *value);

/**
 * Replace the field list. names[i] is a non-empty name of at most
 * ESMM_MAX_FIELD_NAME bytes from [A-Za-z0-9_]; names must be distinct.
 * buckets may be NULL (every field gets ESMM_OPT_HASH_BUCKETS at the time
 * the model is created); a bucket count of 0 means the same.
 * @return ESMM_OK, ESMM_EINVAL (n == 0, n > ESMM_MAX_FIELDS, bad or duplicate
 * name, bucket count out of [0, 2^31)), ESMM_ENOMEM. Unchanged on failure.
 * Ownership: the strings are copied. @since 1.0
 */
ESMM_API int esmm_config_set_fields(esmm_config *cfg, size_t n, const char *const *names,
                                    const int64_t *buckets);

/** Number of fields. @return ESMM_OK, ESMM_EINVAL. @since 1.0 */
ESMM_API int esmm_config_field_count(const esmm_config *cfg, size_t *out);

/**
 * Name and bucket count of field i (0 = "use ESMM_OPT_HASH_BUCKETS").
 * Either output may be NULL. The name is borrowed, valid until the config
 * is modified or freed.
 * @return ESMM_OK, ESMM_EINVAL (i out of range). @since 1.0
 */
ESMM_API int esmm_config_field(const esmm_config *cfg, size_t i, const char **name_out,
                               int64_t *buckets_out);

/**
 * Index of the field called name.
 * @return ESMM_OK, ESMM_EINVAL (NULL argument or no such field; *out = -1).
 * @since 1.0
 */
ESMM_API int esmm_config_field_index(const esmm_config *cfg, const char *name, int *out);

/**
 * Name of an option for esmm_config_set_by_name, or NULL for an unknown
 * option. Static storage. Thread safety: safe. @since 1.0
 */
ESMM_API const char *esmm_config_option_name(esmm_opt opt);

/* Options as data (1.1): for CLIs and bindings that list, check and explain
 * options without a copy of the table. ------------------------------------ */

/* Types of options (esmm_config_option_type). Pinned. */
typedef enum {
  ESMM_OPT_TYPE_INT = 0,   /* esmm_config_set_int */
  ESMM_OPT_TYPE_FLOAT = 1, /* esmm_config_set_float */
  ESMM_OPT_TYPE_ENUM = 2,  /* an int with named values (esmm_config_option_choice) */
  ESMM_OPT_TYPE_LIST = 3   /* esmm_config_set_ints */
} esmm_opt_type;

/**
 * Every option this library knows, in the order of its table (grouped by
 * hundreds), with the two-call pattern. The field list ("fields" by name)
 * is not an esmm_opt and is not listed.
 * @param[out] out    cap entries (may be NULL when cap is 0).
 * @param[out] n_out  the number of options.
 * @return ESMM_OK, ESMM_EINVAL (n_out NULL), ESMM_EBUFS (cap too small;
 * *n_out is set and the first cap entries are written).
 * Thread safety: safe (static table). @since 1.1
 */
ESMM_API int esmm_config_option_list(esmm_opt *out, size_t cap, size_t *n_out);

/**
 * The option called name: its by-name key ("batch_size") or its
 * enumerator's name ("ESMM_OPT_BATCH_SIZE", as library messages about
 * esmm_config_set_int print it), so that a host can translate messages
 * into its own vocabulary (with esmm_config_option_name).
 * @return ESMM_OK; ESMM_EINVAL (NULL argument, or no such option: the
 * message suggests the closest name when one is a likely typo).
 * Thread safety: safe. @since 1.1
 */
ESMM_API int esmm_config_option_lookup(const char *name, esmm_opt *out);

/**
 * The type of an option (esmm_opt_type).
 * @return ESMM_OK, ESMM_EINVAL (unknown option, NULL out).
 * Thread safety: safe. @since 1.1
 */
ESMM_API int esmm_config_option_type(esmm_opt opt, int *out);

/**
 * The name of value `value` of an enum option ("adam" for
 * ESMM_OPT_OPTIMIZER, 0), or NULL when opt is not an enum option or value
 * is not one of its values. Iterating value from 0 until NULL lists the
 * valid choices. Static storage. Thread safety: safe. @since 1.1
 */
ESMM_API const char *esmm_config_option_choice(esmm_opt opt, int64_t value);

/* Metadata (1.1): text a host attaches to a config, hence to the models made
 * from it; model files keep it (docs/model-format.md, section 6). libesmm
 * never reads it. Keys starting with "input." and "fit." are used by
 * esmm_model_fit and the esmm program (docs/guide.md). -------------------- */

/**
 * Set (or, with value NULL, remove) the metadata entry key. Keys are 1 to 63
 * bytes of [A-Za-z0-9_.-]; values are NUL-terminated text of at most 65536
 * bytes; a config holds at most 256 entries.
 * @return ESMM_OK, ESMM_EINVAL (NULL cfg or key, bad key, value too long,
 * too many entries), ESMM_ENOMEM. Unchanged on failure.
 * Ownership: key and value are copied. Thread safety: as the config.
 * @since 1.1
 */
ESMM_API int esmm_config_set_meta(esmm_config *cfg, const char *key, const char *value);

/**
 * The value of metadata entry key, or NULL when there is none.
 * @param[out] out  borrowed, valid until the entry is set again or the
 *                  config is freed.
 * @return ESMM_OK (also when absent: *out = NULL), ESMM_EINVAL (NULL argument).
 * Thread safety: as the config. @since 1.1
 */
ESMM_API int esmm_config_meta(const esmm_config *cfg, const char *key, const char **out);

/**
 * Entry i of the metadata (in the order the keys were first set) and the
 * number of entries: n_out may be given alone (key_out and value_out NULL,
 * any i) to count them.
 * @param[out] key_out, value_out  borrowed as for esmm_config_meta (may be NULL).
 * @param[out] n_out  the number of entries (may be NULL).
 * @return ESMM_OK, ESMM_EINVAL (NULL cfg, i out of range while key_out or
 * value_out is given). Thread safety: as the config. @since 1.1
 */
ESMM_API int esmm_config_meta_at(const esmm_config *cfg, size_t i, const char **key_out, const char **value_out,
                                 size_t *n_out);

/* Hooks. ------------------------------------------------------------------ */

/** Allocation hook: return size bytes aligned to align (a power of two,
 * at most 4096), or NULL. */
typedef void *(*esmm_alloc_fn)(void *payload, size_t size, size_t align);
/** Release hook for memory from the matching esmm_alloc_fn; p may be NULL. */
typedef void (*esmm_free_fn)(void *payload, void *p);

/**
 * Route every allocation of the handles created from this config (models,
 * datasets, workspaces, optimizers) through the given functions. Both
 * NULL restores the default (posix_memalign/free). payload is passed back
 * untouched and must outlive those handles.
 * @return ESMM_OK, ESMM_EINVAL (cfg NULL, or exactly one function NULL).
 * @since 1.0
 */
ESMM_API int esmm_config_set_allocator(esmm_config *cfg, esmm_alloc_fn alloc_fn, esmm_free_fn free_fn,
                                       void *payload);

/* Log levels. */
typedef enum { ESMM_LOG_ERROR = 0, ESMM_LOG_WARN = 1, ESMM_LOG_INFO = 2, ESMM_LOG_DEBUG = 3 } esmm_log_level;

/** Log sink: message is NUL-terminated, without a trailing newline, valid
 * only during the call. */
typedef void (*esmm_log_fn)(int level, const char *message, void *payload);

/**
 * Send the messages of handles created from this config to fn (NULL: no
 * logging, the default). The library never prints by itself. fn may be
 * called from the thread that calls into the handle.
 * @return ESMM_OK, ESMM_EINVAL (cfg NULL, level out of range). @since 1.0
 */
ESMM_API int esmm_config_set_log(esmm_config *cfg, esmm_log_fn fn, int max_level, void *payload);

ESMM_END_DECLS

#endif /* ESMM_CONFIG_H */
