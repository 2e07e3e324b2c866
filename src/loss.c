/* loss.c - ESMM loss from logits in log space (see loss.h for why). */
#include "loss.h"

#include "internal.h"

#include "dataset.h"

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

/* ESCM2's code form: the weight cap and the floor under the propensity
 * (PaddleRec models/multitask/escm2, counterfact_ipw / counterfact_dr). */
#define CODE_CAP 15.0
#define CODE_FLOOR 1e-6

const float *esmm__loss_batch_init(const esmm__loss_cfg *c, const esmm_dataset *ds, const size_t *idx, size_t n,
                                   esmm__loss_batch *out) {
  out->rows = (double)n;
  out->clicks = 0.0;
  if (c->code_form && c->kind == ESMM__LOSS_IPS)
    for (size_t i = 0; i < n; i++)
      out->clicks += ds->click[idx[i]] != 0;
  return c->true_prop ? ds->truth[ESMM_TRUTH_CTR] : NULL;
}

int esmm__loss_check_dataset(const esmm__loss_cfg *c, const esmm_dataset *ds, const char *func) {
  if (c->true_prop && !ds->truth[ESMM_TRUTH_CTR])
    return esmm__error(ESMM_ESTATE, func,
                       "ESMM_OPT_PROPENSITY_SOURCE is \"truth\" but the dataset carries no true p(y=1|x) (only "
                       "simulated data does)");
  return ESMM_OK;
}

/* The propensity weight of a row and its derivative with respect to a:
 * 1/p for a clicked row (DCMT: 1/q, q = max(1 - pCTR, clip), for a row
 * without click), p = max(pCTR, clip); or the code form's weights. */
static double row_weight(const esmm__loss_cfg *c, const esmm__loss_batch *bt, double a, double prop, int y,
                         double *dw) {
  double pa = c->true_prop ? prop : esmm__sigmoid(a);
  int grad = !c->stop_grad && !c->true_prop;
  *dw = 0.0;
  if (c->code_form) {
    /* never differentiated; IPS: min(1/max(p C, floor), cap) B, so that the
     * batch mean is sum_i y e min(...): normalised by the clicks C */
    double ps = c->kind == ESMM__LOSS_IPS ? pa * bt->clicks : pa, w;
    w = 1.0 / (ps > CODE_FLOOR ? ps : CODE_FLOOR);
    w = w < CODE_CAP ? w : CODE_CAP;
    return c->kind == ESMM__LOSS_IPS ? w * bt->rows : w;
  }
  if (c->kind == ESMM__LOSS_DCMT && !y) {
    double qa = c->true_prop ? 1.0 - prop : esmm__sigmoid(-a), q = qa > c->clip ? qa : c->clip;
    if (grad && qa > c->clip)
      *dw = pa * qa / (q * q); /* d(1/q)/da = -q'/q^2, q' = -pa (1 - pa) */
    return 1.0 / q;
  }
  {
    double p = pa > c->clip ? pa : c->clip;
    if (grad && pa > c->clip)
      *dw = -(pa * esmm__sigmoid(-a)) / (p * p);
    return 1.0 / p;
  }
}

void esmm__loss_variant_one(const esmm__loss_cfg *c, const esmm__loss_batch *bt, double a, double b, double t,
                            double prop, int y, int z, esmm__loss_terms *l, double *g_a, double *g_b, double *g_t,
                            esmm__loss_sg *sg) {
  int yz = y & z;
  double d, w_ctcvr = c->ctcvr_trained ? c->w_ctcvr : 0.0;
  *g_t = 0.0;
  l->cvr = 0.0;
  switch (c->kind) {
  case ESMM__LOSS_DIVISION: {
    /* two independent models: CTR and CTCVR, each a plain BCE */
    double dt;
    l->ctr = bce_logit(a, y, &d);
    l->ctcvr = bce_logit(b, yz, &dt);
    *g_a = c->w_ctr * d;
    *g_b = c->w_ctcvr * dt;
    l->total = c->w_ctr * l->ctr + c->w_ctcvr * l->ctcvr;
    return;
  }
  case ESMM__LOSS_BASE:
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
  /* every other kind: the entire-space product loss first (its CTCVR term
   * weighted 0 for MULTI_*) */
  esmm__loss_esmm_one(a, b, y, yz, c->w_ctr, w_ctcvr, &l->ctr, &l->ctcvr, g_a, g_b);
  l->total = c->w_ctr * l->ctr + w_ctcvr * l->ctcvr;
  if (c->kind == ESMM__LOSS_PRODUCT) {
    if (y && c->w_cvr > 0.0) {
      l->cvr = bce_logit(b, z, &d);
      *g_b += c->w_cvr * d;
      l->total += c->w_cvr * l->cvr;
    }
    return;
  }
  {
    /* the counterfactual risks: e = BCE(pCVR, z) of a clicked row, w its
     * propensity weight (dw = dw/da, 0 when stopped) */
    double dw, w = row_weight(c, bt, a, prop, y, &dw), e = 0.0, de = 0.0, e_sq;
    int w_stopped = c->stop_grad || c->true_prop || c->code_form;
    double ga = 0.0, gb = 0.0, gt = 0.0, r;
    if (y)
      e = bce_logit(b, z, &de);
    e_sq = e;
    if (sg) {
      if (sg->replay) {
        if (w_stopped)
          w = sg->w;
        e_sq = sg->e;
      } else {
        sg->w = w;
        sg->e = e;
      }
    }
    switch (c->kind) {
    case ESMM__LOSS_IPS:
      /* R_IPS = y e w */
      r = y ? e * w : 0.0;
      if (y) {
        gb = de * w;
        ga = e * dw;
      }
      break;
    case ESMM__LOSS_DR: {
      /* R_DR = e^ + y (e - e^) w,  R_IMP = y (sg(e) - e^)^2 w; the code form:
       * e^ = sigmoid(t), no stop-gradient on e */
      double eh, deh, res, rs;
      if (c->code_form) {
        eh = esmm__sigmoid(t);
        deh = eh * esmm__sigmoid(-t);
        e_sq = e;
      } else {
        eh = softplus(t);
        deh = esmm__sigmoid(t);
      }
      res = e - eh;
      rs = e_sq - eh;
      r = eh + (y ? (res + rs * rs) * w : 0.0);
      gt = deh * (1.0 - (y ? (1.0 + 2.0 * rs) * w : 0.0));
      if (y) {
        gb = de * w * (c->code_form ? 1.0 + 2.0 * res : 1.0);
        ga = (res + rs * rs) * dw;
      }
      break;
    }
    default: {
      /* DCMT: factual BCE on clicked rows, the counterfactual tower's BCE
       * against the inverted label 1 - y z on the others, and the soft
       * constraint pCVR + pCVR* = 1 on every row */
      double sb = esmm__sigmoid(b), st = esmm__sigmoid(t), gap = 1.0 - sb - st;
      double sgn = gap > 0.0 ? 1.0 : (gap < 0.0 ? -1.0 : 0.0), lam = c->dcmt_lambda;
      r = lam * fabs(gap);
      gb = -lam * sgn * sb * esmm__sigmoid(-b);
      gt = -lam * sgn * st * esmm__sigmoid(-t);
      if (y) {
        r += e * w;
        gb += de * w;
        ga = e * dw;
      } else {
        double ds, es = bce_logit(t, 1 - yz, &ds);
        r += es * w;
        gt += ds * w;
        ga = es * dw;
      }
      break;
    }
    }
    l->cvr = r;
    l->total += c->w_cvr * r;
    *g_a += c->w_cvr * ga;
    *g_b += c->w_cvr * gb;
    *g_t = c->w_cvr * gt;
  }
}
