/*
 * esmm/diag.h - what does pCVR estimate? Diagnostics of a model's pCVR
 * against each candidate truth of a simulated dataset, and the bias test
 * that also works on real data.
 *
 * The candidate truths (esmm_diag_truth) are the three quantities the
 * literature reads ESMM's CVR tower as: p(z=1|y=1,x) (the paper's pCVR),
 * p(z=1|x) = p(y=1,z=1|x) (the critique's reading: a conversion implies a
 * click) and p(r=1|x), the counterfactual conversion rate had the impression
 * been clicked (ESCM2's target). Each is compared with pCVR over all
 * impressions and over the clicked ones (esmm_diag_subset): RMSE, mean bias
 * (mean of pCVR - truth), and a reliability table over the deciles of pCVR.
 * Datasets from esmm_sim_generate carry the truths; a dataset without them
 * (real data) still gives the scalar statistics (esmm_diag_stat), among
 * them ESCM2's bias test: the mean pCVR over every impression against the
 * conversions per click sum(z)/sum(y). A pCVR that estimates p(z=1|y=1,x)
 * or p(r=1|x) on an unconfounded world averages near sum(z)/sum(y) over the
 * clicked impressions, not necessarily over all of them.
 *
 * Thread safety: an esmm_diag is immutable once made; reading one from
 * several threads is safe. Distinct calls are independent.
 */
#ifndef ESMM_DIAG_H
#define ESMM_DIAG_H

#include "common.h"
#include "dataset.h"
#include "model.h"

ESMM_BEGIN_DECLS

typedef struct esmm_diag esmm_diag;

/* Candidate truths of pCVR. Pinned, append-only. */
typedef enum {
  ESMM_DIAG_TRUTH_CVR = 0,    /* p(z=1 | y=1, x)  (ESMM_TRUTH_CVR) */
  ESMM_DIAG_TRUTH_CTCVR = 1,  /* p(z=1 | x) = p(y=1, z=1 | x)  (ESMM_TRUTH_CTCVR) */
  ESMM_DIAG_TRUTH_CVR_CF = 2  /* p(r=1 | x), counterfactual  (ESMM_TRUTH_CVR_CF) */
} esmm_diag_truth;
#define ESMM_DIAG_TRUTH_COUNT 3

/* Which impressions a measure covers. Pinned. */
typedef enum { ESMM_DIAG_ALL = 0, ESMM_DIAG_CLICKED = 1 } esmm_diag_subset;

/* Error measures of pCVR against a truth over a subset. Pinned, append-only. */
typedef enum {
  ESMM_DIAG_RMSE = 0,       /* sqrt(mean (pCVR - truth)^2) */
  ESMM_DIAG_BIAS = 1,       /* mean (pCVR - truth) */
  ESMM_DIAG_MEAN_PRED = 2,  /* mean pCVR */
  ESMM_DIAG_MEAN_TRUTH = 3, /* mean truth */
  ESMM_DIAG_CAL_ERROR = 4,  /* sum over the deciles of pCVR of (rows/n) |mean pCVR - mean truth| */
  ESMM_DIAG_CORR = 5        /* Pearson correlation of pCVR and the truth */
} esmm_diag_measure;
#define ESMM_DIAG_MEASURE_COUNT 6
#define ESMM_DIAG_BINS 10 /* reliability bins: deciles of pCVR within the subset */

/* Scalar statistics (need no truths). Pinned, append-only. */
typedef enum {
  ESMM_DIAG_STAT_ROWS = 0,           /* impressions */
  ESMM_DIAG_STAT_CLICKS = 1,         /* sum y */
  ESMM_DIAG_STAT_CONVERSIONS = 2,    /* sum y z */
  ESMM_DIAG_STAT_MEAN_PCVR_ALL = 3,  /* mean pCVR over every impression (ESCM2's bias test) */
  ESMM_DIAG_STAT_MEAN_PCVR_CLICKED = 4, /* mean pCVR over clicked impressions */
  ESMM_DIAG_STAT_CONV_PER_CLICK = 5, /* sum(y z) / sum(y) (NaN without clicks) */
  ESMM_DIAG_STAT_BIAS_TEST = 6,      /* MEAN_PCVR_ALL - CONV_PER_CLICK */
  ESMM_DIAG_STAT_CVR_CLIPS = 7,      /* rows with pCTCVR > pCTR (pCVR would exceed 1:
                                        DIVISION clips them); NaN when pCTR or pCTCVR
                                        were not given */
  ESMM_DIAG_STAT_HAS_TRUTH = 8       /* 1 when the dataset carries the three truths */
} esmm_diag_stat_key;

/**
 * Diagnose given predictions of the n = rows of ds impressions.
 * @param ds      labels (and, when present, the truths) of the impressions.
 * @param pctr    n floats or NULL; @param pcvr n floats (required);
 * @param pctcvr  n floats or NULL (pCTR and pCTCVR serve only the clip count).
 * @param[out] out  the diagnosis, or NULL on failure.
 * @return ESMM_OK; ESMM_EINVAL (NULL out, ds or pcvr; an empty dataset);
 * ESMM_ENUMERIC (a non-finite pCVR); ESMM_ENOMEM.
 * Ownership: nothing is kept past the call; free *out with esmm_diag_free.
 * Thread safety: distinct calls are independent; ds and the arrays are only
 * read. @since 1.0
 */
ESMM_API int esmm_diag_new(esmm_diag **out, const esmm_dataset *ds, const float *pctr, const float *pcvr,
                           const float *pctcvr);

/**
 * Predict every row of ds with m (esmm_model_predict) and diagnose the
 * predictions (esmm_diag_new).
 * @return ESMM_OK; ESMM_EINVAL; ESMM_ESHAPE (the dataset's fields differ from
 * the model's); ESMM_ENUMERIC; ESMM_ENOMEM. *out is NULL on failure.
 * Ownership: free *out with esmm_diag_free.
 * Thread safety: as esmm_model_predict (a const model, no workspace kept).
 * @since 1.0
 */
ESMM_API int esmm_diag_model(esmm_diag **out, const esmm_model *m, const esmm_dataset *ds);

/** Free a diagnosis; NULL is a no-op. @since 1.0 */
ESMM_API void esmm_diag_free(esmm_diag *d);

/**
 * An error measure of pCVR against a truth over a subset.
 * @param truth  esmm_diag_truth; @param subset esmm_diag_subset;
 * @param measure esmm_diag_measure.
 * @return ESMM_OK; ESMM_EINVAL (NULL argument, unknown key); ESMM_ESTATE
 * (the dataset had no truths). NaN for an empty subset (no clicks).
 * Thread safety: safe. @since 1.0
 */
ESMM_API int esmm_diag_error(const esmm_diag *d, int truth, int subset, int measure, double *out);

/**
 * Bin `bin` (0 .. ESMM_DIAG_BINS-1, by increasing pCVR) of the reliability
 * table of pCVR against a truth over a subset: the mean pCVR, the mean truth
 * and the number of rows of the bin (deciles of the subset's rows sorted by
 * pCVR; ties split by row order). Any output may be NULL.
 * @return ESMM_OK; ESMM_EINVAL (NULL d, unknown key, bin out of range);
 * ESMM_ESTATE (no truths). Thread safety: safe. @since 1.0
 */
ESMM_API int esmm_diag_calibration(const esmm_diag *d, int truth, int subset, size_t bin, double *mean_pred_out,
                                   double *mean_truth_out, double *rows_out);

/**
 * A scalar statistic (esmm_diag_stat_key).
 * @return ESMM_OK; ESMM_EINVAL (NULL argument, unknown key).
 * Thread safety: safe. @since 1.0
 */
ESMM_API int esmm_diag_stat(const esmm_diag *d, int key, double *out);

ESMM_END_DECLS

#endif /* ESMM_DIAG_H */
