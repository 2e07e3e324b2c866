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

#endif /* ESMM__LOSS_H */
