/* variant.c - the variant table (variant.h). */
#include "variant.h"

static const esmm__variant table[] = {
    {ESMM_VARIANT_ESMM, "esmm", 0, 0, ESMM__HEAD_PRODUCT, ESMM__WCVR_CLICK_WEIGHT, "cvr", NULL},
    {ESMM_VARIANT_ESMM_NS, "esmm_ns", 1, 0, ESMM__HEAD_PRODUCT, ESMM__WCVR_CLICK_WEIGHT, "cvr", "embedding_cvr"},
    {ESMM_VARIANT_BASE, "base", 1, 0, ESMM__HEAD_PRODUCT, ESMM__WCVR_ONE, "cvr", "embedding_cvr"},
    {ESMM_VARIANT_DIVISION, "division", 1, 0, ESMM__HEAD_DIVISION, ESMM__WCVR_NONE, "ctcvr", "embedding_ctcvr"},
    {ESMM_VARIANT_ESCM2_IPS, "escm2_ips", 0, 0, ESMM__HEAD_PRODUCT, ESMM__WCVR_LAMBDA_C, "cvr", NULL},
    {ESMM_VARIANT_ESCM2_DR, "escm2_dr", 0, 1, ESMM__HEAD_PRODUCT, ESMM__WCVR_LAMBDA_C, "cvr", NULL},
};

const esmm__variant *esmm__variant_get(int64_t v) {
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (table[i].id == v)
      return &table[i];
  return NULL;
}
