/* variant.c - the variant table (variant.h). */
#include "variant.h"

#include "config.h"

static const esmm__variant variant_table[] = {
    /* id, name, own_table, third tower, head, CVR weight, second, table2, third, loss, CTCVR trained, ESCM2 */
    {ESMM_VARIANT_ESMM, "esmm", 0, 0, ESMM__HEAD_PRODUCT, ESMM__WCVR_CLICK_WEIGHT, "cvr", NULL, NULL,
     ESMM__LOSS_PRODUCT, 1, 0},
    {ESMM_VARIANT_ESMM_NS, "esmm_ns", 1, 0, ESMM__HEAD_PRODUCT, ESMM__WCVR_CLICK_WEIGHT, "cvr", "embedding_cvr", NULL,
     ESMM__LOSS_PRODUCT, 1, 0},
    {ESMM_VARIANT_BASE, "base", 1, 0, ESMM__HEAD_PRODUCT, ESMM__WCVR_ONE, "cvr", "embedding_cvr", NULL,
     ESMM__LOSS_BASE, 0, 0},
    {ESMM_VARIANT_DIVISION, "division", 1, 0, ESMM__HEAD_DIVISION, ESMM__WCVR_NONE, "ctcvr", "embedding_ctcvr", NULL,
     ESMM__LOSS_DIVISION, 1, 0},
    {ESMM_VARIANT_ESCM2_IPS, "escm2_ips", 0, 0, ESMM__HEAD_PRODUCT, ESMM__WCVR_LAMBDA_C, "cvr", NULL, NULL,
     ESMM__LOSS_IPS, 1, 1},
    {ESMM_VARIANT_ESCM2_DR, "escm2_dr", 0, 1, ESMM__HEAD_PRODUCT, ESMM__WCVR_LAMBDA_C, "cvr", NULL, "imp",
     ESMM__LOSS_DR, 1, 1},
    /* Multi-IPW and Multi-DR (Zhang et al. 2020): ESCM2's risks without the CTCVR term */
    {ESMM_VARIANT_MULTI_IPW, "multi_ipw", 0, 0, ESMM__HEAD_PRODUCT, ESMM__WCVR_LAMBDA_C, "cvr", NULL, NULL,
     ESMM__LOSS_IPS, 0, 0},
    {ESMM_VARIANT_MULTI_DR, "multi_dr", 0, 1, ESMM__HEAD_PRODUCT, ESMM__WCVR_LAMBDA_C, "cvr", NULL, "imp",
     ESMM__LOSS_DR, 0, 0},
    /* DCMT (Zhu et al. 2023): the third tower is the counterfactual CVR tower */
    {ESMM_VARIANT_DCMT, "dcmt", 0, 1, ESMM__HEAD_PRODUCT, ESMM__WCVR_LAMBDA_C, "cvr", NULL, "cf", ESMM__LOSS_DCMT, 1,
     0},
};

const esmm__variant *esmm__variant_get(int64_t v) {
  for (size_t i = 0; i < sizeof variant_table / sizeof variant_table[0]; i++)
    if (variant_table[i].id == v)
      return &variant_table[i];
  return NULL;
}

esmm__loss_cfg esmm__variant_loss_cfg(const esmm__variant *var, const esmm_config *cfg) {
  esmm__loss_cfg c;
  c.kind = var->loss;
  c.w_ctr = esmm__config_float(cfg, ESMM_OPT_LOSS_WEIGHT_CTR);
  c.w_ctcvr = esmm__config_float(cfg, ESMM_OPT_LOSS_WEIGHT_CTCVR);
  c.ctcvr_trained = var->ctcvr_trained;
  c.clip = esmm__config_float(cfg, ESMM_OPT_PROPENSITY_CLIP);
  c.stop_grad = (int)esmm__config_int(cfg, ESMM_OPT_PROPENSITY_STOP_GRAD);
  c.code_form = var->escm2 && esmm__config_int(cfg, ESMM_OPT_ESCM2_FORM) == ESMM_ESCM2_FORM_CODE;
  c.true_prop = (var->loss == ESMM__LOSS_IPS || var->loss == ESMM__LOSS_DR || var->loss == ESMM__LOSS_DCMT) &&
                esmm__config_int(cfg, ESMM_OPT_PROPENSITY_SOURCE) == ESMM_PROPENSITY_TRUTH;
  c.dcmt_lambda = esmm__config_float(cfg, ESMM_OPT_DCMT_LAMBDA);
  switch (var->wcvr) {
  case ESMM__WCVR_ONE: c.w_cvr = 1.0; break;
  case ESMM__WCVR_LAMBDA_C: c.w_cvr = esmm__config_float(cfg, ESMM_OPT_LAMBDA_C); break;
  case ESMM__WCVR_NONE: c.w_cvr = 0.0; break;
  default: c.w_cvr = esmm__config_float(cfg, ESMM_OPT_CVR_CLICK_WEIGHT); break;
  }
  return c;
}
