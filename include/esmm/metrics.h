/*
 * esmm/metrics.h - exact evaluation metrics.
 *
 * AUC is exact (sort-based, ties counted one half, i.e. the Mann-Whitney
 * statistic) and NaN when one class is absent. Log-loss clips
 * probabilities to [1e-7, 1 - 1e-7] so a confident mistake costs ~16.1
 * nats instead of infinity. Calibration is reported as mean prediction
 * next to the observed rate.
 *
 * Thread safety: all functions are safe to call concurrently.
 */
#ifndef ESMM_METRICS_H
#define ESMM_METRICS_H

#include "common.h"

ESMM_BEGIN_DECLS

/* Indices of the metrics vector filled by esmm_metrics_compute and
 * esmm_model_evaluate. Pinned, append-only. */
typedef enum {
  ESMM_METRIC_CTR_AUC = 0,              /* pCTR vs y, all impressions */
  ESMM_METRIC_CVR_AUC_CLICKED = 1,      /* pCVR vs z, clicked impressions (the paper's) */
  ESMM_METRIC_CVR_AUC_ALL = 2,          /* pCVR vs z, all impressions */
  ESMM_METRIC_CTCVR_AUC = 3,            /* pCTCVR vs y*z, all impressions */
  ESMM_METRIC_CTR_LOGLOSS = 4,          /* BCE(pCTR, y), all */
  ESMM_METRIC_CVR_LOGLOSS_CLICKED = 5,  /* BCE(pCVR, z), clicked */
  ESMM_METRIC_CTCVR_LOGLOSS = 6,        /* BCE(pCTCVR, y*z), all */
  ESMM_METRIC_CTR_MEAN = 7,             /* mean pCTR, all */
  ESMM_METRIC_CTR_RATE = 8,             /* mean y */
  ESMM_METRIC_CVR_MEAN_CLICKED = 9,     /* mean pCVR over clicked */
  ESMM_METRIC_CVR_RATE_CLICKED = 10,    /* mean z over clicked */
  ESMM_METRIC_CTCVR_MEAN = 11,          /* mean pCTCVR, all */
  ESMM_METRIC_CTCVR_RATE = 12,          /* mean y*z */
  ESMM_METRIC_ROWS = 13,                /* impressions evaluated */
  ESMM_METRIC_CLICKS = 14               /* clicked impressions */
} esmm_metric;
/* Number of metrics in this version; newer versions only append. */
#define ESMM_METRIC_COUNT 15

/**
 * Exact ROC AUC of scores against 0/1 labels.
 * @param[out] out  the AUC, NaN when all labels are equal or n == 0.
 * @return ESMM_OK, ESMM_EINVAL (NULL pointer, label outside {0,1}),
 * ESMM_ENUMERIC (NaN score), ESMM_ENOMEM (scratch of 16*n bytes).
 * @since 1.0
 */
ESMM_API int esmm_auc(const float *score, const int *label, size_t n, double *out);

/**
 * Mean binary cross-entropy of probabilities p against 0/1 labels (NaN for
 * n == 0).
 * @return ESMM_OK, ESMM_EINVAL (NULL pointer, label outside {0,1}, p outside
 * [0,1] or NaN). @since 1.0
 */
ESMM_API int esmm_logloss(const float *p, const int *label, size_t n, double *out);

/**
 * Fill out[0 .. min(n_out, ESMM_METRIC_COUNT)) with the esmm_metric values
 * for the given predictions and labels (the CTCVR label is click*conversion);
 * entries past ESMM_METRIC_COUNT are set to NaN. Undefined metrics (no
 * clicks, one class) are NaN.
 * @return ESMM_OK, ESMM_EINVAL, ESMM_ENUMERIC, ESMM_ENOMEM. @since 1.0
 */
ESMM_API int esmm_metrics_compute(const float *pctr, const float *pcvr, const float *pctcvr,
                                  const int *click, const int *conversion, size_t n, double *out,
                                  size_t n_out);

/**
 * Short name of a metric ("ctr_auc", "cvr_auc_clicked", ...), NULL when
 * unknown. Static storage. @since 1.0
 */
ESMM_API const char *esmm_metric_name(int metric);

ESMM_END_DECLS

#endif /* ESMM_METRICS_H */
