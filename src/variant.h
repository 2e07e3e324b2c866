/*
 * variant.h (internal) - what distinguishes the model variants
 * (esmm_variant, include/esmm/config.h), as data. Every part of the library
 * that depends on the variant - construction, the training step, prediction,
 * model files, data-parallel training - asks this table instead of testing
 * the variant itself, so a new variant is a row here plus, when its loss is
 * of a new kind, that kind in loss.c. Owns nothing; knows nothing of models
 * or files. It also turns a config into the loss's settings
 * (esmm__variant_loss_cfg), so that a variant option is read in one place.
 */
#ifndef ESMM__VARIANT_H
#define ESMM__VARIANT_H

#include "internal.h"
#include "loss.h"

/* How the two tower logits become pCTR, pCVR, pCTCVR. */
typedef enum {
  ESMM__HEAD_PRODUCT = 0, /* pCTCVR = pCTR x pCVR (every ESMM-type variant) */
  ESMM__HEAD_DIVISION = 1 /* the second tower is pCTCVR; pCVR = min(1, pCTCVR / pCTR) */
} esmm__head_kind;

/* Which option weighs the per-impression CVR term of the loss. */
typedef enum {
  ESMM__WCVR_CLICK_WEIGHT = 0, /* ESMM_OPT_CVR_CLICK_WEIGHT (0 by default: pure ESMM) */
  ESMM__WCVR_ONE = 1,          /* 1: the click-space loss is the whole CVR objective (BASE) */
  ESMM__WCVR_LAMBDA_C = 2,     /* ESMM_OPT_LAMBDA_C (the counterfactual CVR risk) */
  ESMM__WCVR_NONE = 3          /* no CVR term (DIVISION) */
} esmm__wcvr_source;

typedef struct esmm__variant {
  int id;              /* esmm_variant */
  const char *name;    /* as ESMM_OPT_VARIANT is spelled by name ("esmm", ...) */
  int own_table;       /* the second tower reads a table of its own (emb2), not the shared one */
  int imputation;      /* a third tower on the shared table's pooling: ESCM2-DR's and
                          Multi-DR's error imputation, DCMT's counterfactual CVR tower */
  esmm__head_kind head;
  esmm__wcvr_source wcvr;
  const char *second;  /* tensor name prefix of the second tower ("cvr", "ctcvr") */
  const char *table2;  /* tensor name of the second table (own_table only) */
  const char *third;   /* tensor name prefix of the third tower ("imp", "cf"; imputation only) */
  esmm__loss_kind loss;
  int ctcvr_trained;   /* the product's BCE(pCTCVR, y z) is part of the objective (else reported) */
  int escm2;           /* ESMM_OPT_ESCM2_FORM applies */
} esmm__variant;

/* The row of variant v, or NULL when this library does not implement it. */
const esmm__variant *esmm__variant_get(int64_t v);

/* The loss settings of a model of variant var built from cfg (a valid
 * config). */
esmm__loss_cfg esmm__variant_loss_cfg(const esmm__variant *var, const esmm_config *cfg);

#endif /* ESMM__VARIANT_H */
