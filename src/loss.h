/*
 * loss.h (internal) - the ESMM loss of one impression in log space, and
 * the stable log-sigmoid kernels the head shares. Double precision
 * throughout: the product of two float sigmoids underflows long before
 * the logits leave [-100, 100]. Knows nothing of towers or batches.
 */
#ifndef ESMM__LOSS_H
#define ESMM__LOSS_H

#include <math.h>

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

/* The loss of one impression for any variant (include/esmm/config.h,
 * esmm_variant, gives every formula). a = CTR logit; b = CVR logit (the
 * CTCVR logit for DIVISION); t = imputation logit (ESCM2_DR only; the
 * imputed error is softplus(t) >= 0, like the BCE it imputes). */
typedef struct esmm__loss_cfg {
  int variant;
  double w_ctr, w_ctcvr;
  double w_cvr;    /* weight of the CVR term: cvr_click_weight, 1 (BASE), lambda_c (ESCM2) */
  double clip;     /* propensity floor (ESCM2) */
  int stop_grad;   /* 1: no gradient through the propensity (ESCM2) */
} esmm__loss_cfg;

typedef struct esmm__loss_terms {
  double ctr;   /* BCE(pCTR, y) */
  double ctcvr; /* BCE(pCTCVR, y z) (DIVISION: of its CTCVR tower; BASE: reported, not trained) */
  double cvr;   /* the unweighted CVR term (0 when the variant has none) */
  double total; /* the weighted sum that is minimised */
} esmm__loss_terms;

/* The stop-gradient quantities of ESCM2 (the propensity p, when
 * stop_grad is set, and the error e that the imputation term targets).
 * Gradients treat them as constants, so the loss *value* has a different
 * derivative; to check gradients against finite differences a test
 * records them at the reference point (replay 0) and replays them (replay
 * 1) while it perturbs parameters: the replayed loss is the surrogate whose
 * exact derivative the returned gradients are. Training passes NULL. */
typedef struct esmm__loss_sg {
  int replay;
  double p, e;
} esmm__loss_sg;

/* Loss terms and the derivatives of l->total with respect to a, b, t
 * (*g_t is 0 unless ESCM2_DR). Finite for any finite logits. sg: NULL, or
 * see esmm__loss_sg. */
void esmm__loss_variant_one(const esmm__loss_cfg *c, double a, double b, double t, int y, int z,
                            esmm__loss_terms *l, double *g_a, double *g_b, double *g_t, esmm__loss_sg *sg);

#endif /* ESMM__LOSS_H */
