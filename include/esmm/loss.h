/*
 * esmm/loss.h - parts API: the ESMM loss over the entire impression space.
 *
 * L = w_ctr * mean BCE(pCTR, y) + w_ctcvr * mean BCE(pCTCVR, y*z), with
 * pCTCVR = sigmoid(a) * sigmoid(b), a = CTR logit, b = CVR logit. Computed
 * from the logits in double precision: log pCTCVR = -softplus(-a) -
 * softplus(-b) and log(1 - pCTCVR) = log1mexp(log pCTCVR), so values and
 * gradients stay finite and accurate for logits in [-100, 100] (a naive
 * product of two float sigmoids underflows to 0 and its log to -inf).
 * Thread safety: safe (no state).
 */
#ifndef ESMM_LOSS_H
#define ESMM_LOSS_H

#include "common.h"

ESMM_BEGIN_DECLS

/**
 * Loss terms and gradients for n impressions.
 * @param click, conversion  labels in {0,1}; the CTCVR label is click*conversion.
 * @param[out] loss_ctr_out, loss_ctcvr_out  the unweighted means (may be NULL).
 * @param[out] grad_ctr, grad_cvr  dL/da and dL/db per impression for the
 *             weighted total L (may be NULL).
 * @return ESMM_OK, ESMM_EINVAL (NULL inputs, n == 0, bad label, negative or
 * NaN weight), ESMM_ENUMERIC (NaN or infinite logit). @since 1.0
 */
ESMM_API int esmm_loss_esmm(const float *ctr_logit, const float *cvr_logit, const int *click,
                            const int *conversion, size_t n, double w_ctr, double w_ctcvr,
                            double *loss_ctr_out, double *loss_ctcvr_out, float *grad_ctr, float *grad_cvr);

ESMM_END_DECLS

#endif /* ESMM_LOSS_H */
