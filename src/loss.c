/* loss.c - ESMM loss from logits in log space (see loss.h for why). */
#include "loss.h"

#include "internal.h"

/* log(e^x + e^y), stable for any finite x, y. */
static double log_add_exp(double x, double y) {
  double hi = x > y ? x : y, lo = x > y ? y : x;
  return hi + log1p(exp(lo - hi));
}

/* log(1 - sigmoid(a) sigmoid(b)). For p < 1/2 log1mexp(log p) is accurate
 * to the last bit. For p near 1 it is not: once both logits exceed ~745,
 * log p rounds to exactly 0 and log1mexp gives -inf. There the identity
 * 1 - s(a)s(b) = s(-a) + s(a)s(-b) (two positive terms, no cancellation)
 * keeps the value finite and correct. */
static double log1m_pctcvr(double a, double b, double log_p) {
  if (log_p < -0.6931471805599453)
    return esmm__log1mexp(log_p);
  return log_add_exp(esmm__log_sigmoid(-a), esmm__log_sigmoid(a) + esmm__log_sigmoid(-b));
}

void esmm__loss_esmm_one(double a, double b, int y, int t, double w_ctr, double w_ctcvr, double *l_ctr,
                         double *l_ctcvr, double *g_a, double *g_b) {
  double ls_a = esmm__log_sigmoid(a), ls_b = esmm__log_sigmoid(b);
  double ls_na = esmm__log_sigmoid(-a), ls_nb = esmm__log_sigmoid(-b);
  double log_p = ls_a + ls_b, da, db;
  *l_ctr = y ? -ls_a : -ls_na;
  if (t) {
    *l_ctcvr = -log_p;
    da = -exp(ls_na); /* d(-log p)/da = -sigmoid(-a) */
    db = -exp(ls_nb);
  } else {
    double log_1mp = log1m_pctcvr(a, b, log_p);
    /* p/(1-p) * sigmoid(-a) would overflow or divide 0 by 0: sum the logs first */
    double common = log_p - log_1mp;
    *l_ctcvr = -log_1mp;
    da = exp(common + ls_na);
    db = exp(common + ls_nb);
  }
  *g_a = w_ctr * (esmm__sigmoid(a) - (double)y) + w_ctcvr * da;
  *g_b = w_ctcvr * db;
}

static int check_inputs(const char *func, const float *ctr_logit, const float *cvr_logit, const int *click,
                        const int *conversion, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if ((click[i] != 0 && click[i] != 1) || (conversion[i] != 0 && conversion[i] != 1))
      return esmm__error(ESMM_EINVAL, func,
                         "labels of impression %zu must be 0 or 1, got click %d conversion %d",
                         i, click[i], conversion[i]);
    if (!isfinite(ctr_logit[i]) || !isfinite(cvr_logit[i]))
      return esmm__error(ESMM_ENUMERIC, func, "logits of impression %zu are not finite (%g, %g)", i,
                         (double)ctr_logit[i], (double)cvr_logit[i]);
  }
  return ESMM_OK;
}

int esmm_loss_esmm(const float *ctr_logit, const float *cvr_logit, const int *click, const int *conversion,
                   size_t n, double w_ctr, double w_ctcvr, double *loss_ctr_out, double *loss_ctcvr_out,
                   float *grad_ctr, float *grad_cvr) {
  double sum_ctr = 0.0, sum_ctcvr = 0.0;
  ESMM__CHECK_ARG(ctr_logit != NULL);
  ESMM__CHECK_ARG(cvr_logit != NULL);
  ESMM__CHECK_ARG(click != NULL);
  ESMM__CHECK_ARG(conversion != NULL);
  if (n == 0)
    return ESMM__ERR(ESMM_EINVAL, "n must be >= 1 (the mean of no impressions is undefined)");
  if (!(w_ctr >= 0.0) || !isfinite(w_ctr) || !(w_ctcvr >= 0.0) || !isfinite(w_ctcvr))
    return ESMM__ERR(ESMM_EINVAL, "weights must be finite and >= 0, got w_ctr %g w_ctcvr %g", w_ctr,
                     w_ctcvr);
  ESMM__TRY(check_inputs(__func__, ctr_logit, cvr_logit, click, conversion, n));
  for (size_t i = 0; i < n; i++) {
    double l_ctr, l_ctcvr, g_a, g_b;
    esmm__loss_esmm_one(ctr_logit[i], cvr_logit[i], click[i], click[i] & conversion[i], w_ctr, w_ctcvr,
                        &l_ctr, &l_ctcvr, &g_a, &g_b);
    sum_ctr += l_ctr;
    sum_ctcvr += l_ctcvr;
    if (grad_ctr)
      grad_ctr[i] = (float)(g_a / (double)n);
    if (grad_cvr)
      grad_cvr[i] = (float)(g_b / (double)n);
  }
  if (loss_ctr_out)
    *loss_ctr_out = sum_ctr / (double)n;
  if (loss_ctcvr_out)
    *loss_ctcvr_out = sum_ctcvr / (double)n;
  return ESMM_OK;
}

/* BCE(sigmoid(x), label) from the logit, and its derivative sigmoid(x) - label. */
static double bce_logit(double x, int label, double *d) {
  *d = esmm__sigmoid(x) - (double)label;
  return label ? -esmm__log_sigmoid(x) : -esmm__log_sigmoid(-x);
}

/* softplus(t) = log(1 + e^t) = -log sigmoid(-t); derivative sigmoid(t). */
static double softplus(double t) { return -esmm__log_sigmoid(-t); }

void esmm__loss_variant_one(const esmm__loss_cfg *c, double a, double b, double t, int y, int z,
                            esmm__loss_terms *l, double *g_a, double *g_b, double *g_t, esmm__loss_sg *sg) {
  int yz = y & z;
  double d;
  *g_t = 0.0;
  l->cvr = 0.0;
  switch (c->variant) {
  case ESMM_VARIANT_DIVISION: {
    /* two independent models: CTR and CTCVR, each a plain BCE */
    double dt;
    l->ctr = bce_logit(a, y, &d);
    l->ctcvr = bce_logit(b, yz, &dt);
    *g_a = c->w_ctr * d;
    *g_b = c->w_ctcvr * dt;
    l->total = c->w_ctr * l->ctr + c->w_ctcvr * l->ctcvr;
    return;
  }
  case ESMM_VARIANT_BASE:
    /* the product's BCE is reported but not trained (weight 0): the CVR
     * model learns from clicked rows only */
    esmm__loss_esmm_one(a, b, y, yz, c->w_ctr, 0.0, &l->ctr, &l->ctcvr, g_a, g_b);
    *g_b = 0.0;
    if (y) {
      l->cvr = bce_logit(b, z, &d);
      *g_b = c->w_cvr * d;
    }
    l->total = c->w_ctr * l->ctr + c->w_cvr * l->cvr;
    return;
  default:
    break;
  }
  /* ESMM, ESMM_NS and ESCM2: the entire-space product loss first */
  esmm__loss_esmm_one(a, b, y, yz, c->w_ctr, c->w_ctcvr, &l->ctr, &l->ctcvr, g_a, g_b);
  l->total = c->w_ctr * l->ctr + c->w_ctcvr * l->ctcvr;
  if (c->variant == ESMM_VARIANT_ESMM || c->variant == ESMM_VARIANT_ESMM_NS) {
    if (y && c->w_cvr > 0.0) {
      l->cvr = bce_logit(b, z, &d);
      *g_b += c->w_cvr * d;
      l->total += c->w_cvr * l->cvr;
    }
    return;
  }
  {
    /* ESCM2: propensity p = max(pCTR, clip); dp/da = p(1-p) above the clip */
    double pa = esmm__sigmoid(a), p = pa > c->clip ? pa : c->clip;
    double dp = (!c->stop_grad && pa > c->clip) ? pa * esmm__sigmoid(-a) : 0.0;
    double e = 0.0, de = 0.0, e_sq;
    if (y)
      e = bce_logit(b, z, &de);
    e_sq = e;
    if (sg) {
      if (sg->replay) {
        if (c->stop_grad)
          p = sg->p;
        e_sq = sg->e;
      } else {
        sg->p = p;
        sg->e = e;
      }
    }
    if (c->variant == ESMM_VARIANT_ESCM2_IPS) {
      /* R_IPS = y e / p */
      l->cvr = y ? e / p : 0.0;
      if (y) {
        *g_b += c->w_cvr * de / p;
        *g_a += c->w_cvr * (-e / (p * p)) * dp;
      }
    } else {
      /* R_DR = e^ + y (e - e^)/p,  R_IMP = y (sg(e) - e^)^2 / p,  e^ = softplus(t) */
      double eh = softplus(t), deh = esmm__sigmoid(t), r = e - eh, rs = e_sq - eh;
      l->cvr = eh + (y ? (r + rs * rs) / p : 0.0);
      *g_t = c->w_cvr * deh * (1.0 - (y ? (1.0 + 2.0 * rs) / p : 0.0));
      if (y) {
        *g_b += c->w_cvr * de / p;
        *g_a += c->w_cvr * (-(r + rs * rs) / (p * p)) * dp;
      }
    }
    l->total += c->w_cvr * l->cvr;
  }
}
