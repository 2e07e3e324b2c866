/* head.c - pCTR, pCVR and pCTCVR from logits. The product is formed in
 * log space so it neither underflows to 0 early nor loses precision. */
#include "internal.h"
#include "loss.h"

int esmm_head_forward(const float *ctr_logit, const float *cvr_logit, size_t n, float *pctr, float *pcvr,
                      float *pctcvr) {
  ESMM__CHECK_ARG(ctr_logit != NULL);
  ESMM__CHECK_ARG(cvr_logit != NULL);
  /* validate first so that a failure leaves every output untouched */
  for (size_t i = 0; i < n; i++)
    if (isnan(ctr_logit[i]) || isnan(cvr_logit[i]))
      return ESMM__ERR(ESMM_ENUMERIC, "logit %zu is NaN", i);
  for (size_t i = 0; i < n; i++) {
    double a = ctr_logit[i], b = cvr_logit[i];
    if (pctr)
      pctr[i] = (float)esmm__sigmoid(a);
    if (pcvr)
      pcvr[i] = (float)esmm__sigmoid(b);
    if (pctcvr)
      pctcvr[i] = (float)exp(esmm__log_sigmoid(a) + esmm__log_sigmoid(b));
  }
  return ESMM_OK;
}
