/*
 * esmm/head.h - parts API: the product head.
 *
 * pCTR = sigmoid(ctr_logit), pCVR = sigmoid(cvr_logit),
 * pCTCVR = pCTR * pCVR, computed as exp(log_sigmoid(a) + log_sigmoid(b))
 * so no intermediate overflows; outputs are finite for any finite logits.
 * Thread safety: safe (no state).
 */
#ifndef ESMM_HEAD_H
#define ESMM_HEAD_H

#include "common.h"

ESMM_BEGIN_DECLS

/**
 * Probabilities for n pairs of logits; each output array may be NULL.
 * @return ESMM_OK, ESMM_EINVAL (NULL logits), ESMM_ENUMERIC (NaN logit).
 * @since 1.0
 */
ESMM_API int esmm_head_forward(const float *ctr_logit, const float *cvr_logit, size_t n, float *pctr,
                               float *pcvr, float *pctcvr);

ESMM_END_DECLS

#endif /* ESMM_HEAD_H */
