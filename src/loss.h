/*
 * loss.h (internal) - the ESMM loss of one impression in log space, and
 * the stable log-sigmoid kernels the head shares. Double precision
 * throughout: the product of two float sigmoids underflows long before
 * the logits leave [-100, 100]. Knows nothing of towers; of a batch only
 * its row and click counts (esmm__loss_batch) and of a dataset only its
 * labels and true propensities.
 */
#ifndef ESMM__LOSS_H
#define ESMM__LOSS_H

#include <math.h>

#include "internal.h"

/* log sigmoid(x) = -softplus(-x), without overflow for any finite x. */
static inline double esmm__log_sigmoid(double x) {
  return x < 0.0 ? x - log1p(exp(x)) : -log1p(exp(-x));
}

/* log(1 - e^a) for a <= 0 (Maechler 2012): each branch avoids the
 * cancellation the other one suffers. */
static inline double esmm__log1mexp(double a) {
  return a > -0.6931471805599453 ? log(-expm1(a)) : log1p(-exp(a));
}

/* sigmoid(x) without overflow for any finite x. */
static inline double esmm__sigmoid(double x) {
  if (x >= 0.0)
    return 1.0 / (1.0 + exp(-x));
  double e = exp(x);
  return e / (1.0 + e);
}

/* One impression: a = CTR logit, b = CVR logit, y = click, t = y*z the
 * CTCVR label. l_ctr, l_ctcvr receive the unweighted BCE terms; g_a, g_b
 * the derivatives of w_ctr*l_ctr + w_ctcvr*l_ctcvr with respect to a, b.
 * Finite and accurate for any finite logits. */
void esmm__loss_esmm_one(double a, double b, int y, int t, double w_ctr, double w_ctcvr, double *l_ctr,
                         double *l_ctcvr, double *g_a, double *g_b);

/* The kinds of loss a variant has (variant.h maps variants to them). */
typedef enum {
  ESMM__LOSS_PRODUCT = 0,  /* ESMM, ESMM_NS: the product loss (+ a click-space CVR term) */
  ESMM__LOSS_BASE = 1,     /* BASE: BCE(pCTR, y) + y BCE(pCVR, z) */
  ESMM__LOSS_DIVISION = 2, /* DIVISION: BCE(pCTR, y) + BCE(pCTCVR, y z), two models */
  ESMM__LOSS_IPS = 3,      /* ESCM2_IPS, MULTI_IPW: + lambda_c y e w */
  ESMM__LOSS_DR = 4,       /* ESCM2_DR, MULTI_DR: + lambda_c [e^ + y (e - e^) w + y (e - e^)^2 w] */
  ESMM__LOSS_DCMT = 5      /* DCMT: + lambda_c [y e w + (1-y) e* w* + dcmt_lambda |1 - pCVR - pCVR*|] */
} esmm__loss_kind;

/* The loss of one impression for any variant (include/esmm/config.h,
 * esmm_variant, gives every formula). a = CTR logit; b = CVR logit (the
 * CTCVR logit for DIVISION); t = the third tower's logit (ESMM__LOSS_DR:
 * the imputed error is softplus(t) >= 0, like the BCE it imputes, or
 * sigmoid(t) in ESCM2's code form; ESMM__LOSS_DCMT: the counterfactual
 * CVR logit). */
typedef struct esmm__loss_cfg {
  esmm__loss_kind kind;
  double w_ctr, w_ctcvr;
  int ctcvr_trained; /* 0: BCE(pCTCVR, y z) is reported with weight 0 (BASE, MULTI_*) */
  double w_cvr;      /* weight of the CVR term: cvr_click_weight, 1 (BASE), lambda_c */
  double clip;       /* propensity floor */
  int stop_grad;     /* 1: no gradient through the propensity */
  int code_form;     /* ESCM2 as its authors' code computes it (ESMM_ESCM2_FORM_CODE) */
  int true_prop;     /* the propensity is the row's true p(y=1|x) (ESMM_PROPENSITY_TRUTH) */
  double dcmt_lambda; /* DCMT's soft constraint weight */
} esmm__loss_cfg;

/* What the loss of a row needs to know of its batch: the number of rows
 * (the objective is their mean) and of clicked rows (ESCM2's code form
 * normalises by it). */
typedef struct esmm__loss_batch {
  double rows, clicks;
} esmm__loss_batch;

typedef struct esmm__loss_terms {
  double ctr;   /* BCE(pCTR, y) */
  double ctcvr; /* BCE(pCTCVR, y z) (DIVISION: of its CTCVR tower; BASE, MULTI_*: reported, not trained) */
  double cvr;   /* the unweighted CVR term (0 when the variant has none) */
  double total; /* the weighted sum that is minimised */
} esmm__loss_terms;

/* The stop-gradient quantities of the counterfactual losses: the
 * propensity weight w of the row (1/p, or the code form's capped weight)
 * when no gradient flows through it, and the error e that the imputation
 * term targets (ESCM2_DR, MULTI_DR in the paper form). Gradients treat them
 * as constants, so the loss *value* has a different derivative; to check
 * gradients against finite differences a test records them at the
 * reference point (replay 0) and replays them (replay 1) while it perturbs
 * parameters: the replayed loss is the surrogate whose exact derivative the
 * returned gradients are. Training passes NULL. */
typedef struct esmm__loss_sg {
  int replay;
  double w, e;
} esmm__loss_sg;

/* The batch context of rows idx[0..n) of ds, and the true propensities of
 * ds's rows when c asks for them (else NULL): the training step calls it
 * once per slice, before esmm__loss_variant_one. */
const float *esmm__loss_batch_init(const esmm__loss_cfg *c, const esmm_dataset *ds, const size_t *idx, size_t n,
                                   esmm__loss_batch *out);

/* ESMM_ESTATE when c needs what ds lacks (the true propensity); func names
 * the public call in the message. Training calls it before using ds. */
int esmm__loss_check_dataset(const esmm__loss_cfg *c, const esmm_dataset *ds, const char *func);

/* Loss terms and the derivatives of l->total with respect to a, b, t
 * (*g_t is 0 without a third tower). prop: the row's true p(y=1|x) when
 * c->true_prop (else ignored). Finite for any finite logits. sg: NULL, or
 * see esmm__loss_sg. */
void esmm__loss_variant_one(const esmm__loss_cfg *c, const esmm__loss_batch *bt, double a, double b, double t,
                            double prop, int y, int z, esmm__loss_terms *l, double *g_a, double *g_b, double *g_t,
                            esmm__loss_sg *sg);

#endif /* ESMM__LOSS_H */
