/* metrics.c - exact AUC (Mann-Whitney with half-counted ties), clipped
 * log-loss and the ESMM metric vector. Everything accumulates in double;
 * the only allocation is the sort scratch, from the default allocator
 * because these functions take no handle. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>

#define LOGLOSS_CLIP 1e-7

typedef struct scored {
  float s;
  int y;
} scored;

static int cmp_scored(const void *a, const void *b) {
  float x = ((const scored *)a)->s, z = ((const scored *)b)->s;
  return (x > z) - (x < z);
}

/* AUC of m pairs (sorted in place); NaN when a class is absent. */
static double auc_pairs(scored *p, size_t m) {
  double pos = 0, neg = 0, u = 0;
  size_t i = 0;
  qsort(p, m, sizeof *p, cmp_scored);
  /* Walk groups of equal score upward: each positive beats every negative
   * strictly below and ties with half of the negatives in its group. */
  while (i < m) {
    size_t j = i;
    double gp = 0, gn = 0;
    while (j < m && p[j].s == p[i].s) {
      if (p[j].y)
        gp++;
      else
        gn++;
      j++;
    }
    u += gp * neg + 0.5 * gp * gn;
    pos += gp;
    neg += gn;
    i = j;
  }
  if (pos == 0 || neg == 0)
    return NAN;
  return u / (pos * neg);
}

static double clipped_bce(float prob, int y) {
  double p = prob;
  if (p < LOGLOSS_CLIP)
    p = LOGLOSS_CLIP;
  if (p > 1.0 - LOGLOSS_CLIP)
    p = 1.0 - LOGLOSS_CLIP;
  return y ? -log(p) : -log1p(-p);
}

static scored *alloc_scratch(size_t n) {
  esmm__allocator a = esmm__allocator_default();
  return esmm__calloc(&a, n, sizeof(scored));
}

static void free_scratch(scored *p) {
  esmm__allocator a = esmm__allocator_default();
  esmm__free(&a, p);
}

int esmm_auc(const float *score, const int *label, size_t n, double *out) {
  size_t pos = 0;
  scored *p;
  ESMM__CHECK_ARG(out);
  *out = NAN;
  ESMM__CHECK_ARG(n == 0 || score);
  ESMM__CHECK_ARG(n == 0 || label);
  for (size_t i = 0; i < n; i++) {
    if (label[i] != 0 && label[i] != 1)
      return ESMM__ERR(ESMM_EINVAL, "label[%zu] = %d is not 0 or 1", i, label[i]);
    if (isnan(score[i]))
      return ESMM__ERR(ESMM_ENUMERIC, "score[%zu] is NaN", i);
    pos += (size_t)label[i];
  }
  if (pos == 0 || pos == n)
    return ESMM_OK; /* one class (or none): undefined, no scratch needed */
  p = alloc_scratch(n);
  if (!p)
    return ESMM__ERR(ESMM_ENOMEM, "out of memory for %zu scored rows", n);
  for (size_t i = 0; i < n; i++) {
    p[i].s = score[i];
    p[i].y = label[i];
  }
  *out = auc_pairs(p, n);
  free_scratch(p);
  return ESMM_OK;
}

int esmm_logloss(const float *p, const int *label, size_t n, double *out) {
  double sum = 0;
  ESMM__CHECK_ARG(out);
  *out = NAN;
  ESMM__CHECK_ARG(n == 0 || p);
  ESMM__CHECK_ARG(n == 0 || label);
  for (size_t i = 0; i < n; i++) {
    if (label[i] != 0 && label[i] != 1)
      return ESMM__ERR(ESMM_EINVAL, "label[%zu] = %d is not 0 or 1", i, label[i]);
    if (!(p[i] >= 0.0f && p[i] <= 1.0f)) /* also catches NaN */
      return ESMM__ERR(ESMM_EINVAL, "p[%zu] = %g is not a probability in [0, 1]", i, (double)p[i]);
    sum += clipped_bce(p[i], label[i]);
  }
  if (n > 0)
    *out = sum / (double)n;
  return ESMM_OK;
}

static int check_probs(const float *p, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++) {
    if (isnan(p[i]))
      return esmm__error(ESMM_ENUMERIC, "esmm_metrics_compute", "%s[%zu] is NaN", name, i);
    if (!(p[i] >= 0.0f && p[i] <= 1.0f))
      return esmm__error(ESMM_EINVAL, "esmm_metrics_compute", "%s[%zu] = %g is not a probability in [0, 1]",
                         name, i, (double)p[i]);
  }
  return ESMM_OK;
}

static double ratio(double num, double den) { return den > 0 ? num / den : NAN; }

int esmm_metrics_compute(const float *pctr, const float *pcvr, const float *pctcvr, const int *click,
                         const int *conversion, size_t n, double *out, size_t n_out) {
  double v[ESMM_METRIC_COUNT];
  double clicks = 0, ctr_ll = 0, cvr_ll = 0, ctcvr_ll = 0;
  double s_pctr = 0, s_y = 0, s_pcvr_c = 0, s_z_c = 0, s_pctcvr = 0, s_yz = 0;
  scored *p = NULL;
  size_t m;
  ESMM__CHECK_ARG(n_out == 0 || out);
  ESMM__CHECK_ARG(n == 0 || (pctr && pcvr && pctcvr));
  ESMM__CHECK_ARG(n == 0 || (click && conversion));
  for (size_t i = 0; i < n; i++) {
    if (click[i] != 0 && click[i] != 1)
      return ESMM__ERR(ESMM_EINVAL, "click[%zu] = %d is not 0 or 1", i, click[i]);
    if (conversion[i] != 0 && conversion[i] != 1)
      return ESMM__ERR(ESMM_EINVAL, "conversion[%zu] = %d is not 0 or 1", i, conversion[i]);
  }
  ESMM__TRY(check_probs(pctr, n, "pctr"));
  ESMM__TRY(check_probs(pcvr, n, "pcvr"));
  ESMM__TRY(check_probs(pctcvr, n, "pctcvr"));

  for (size_t i = 0; i < n; i++) {
    int y = click[i], z = conversion[i], yz = y * z;
    clicks += y;
    s_pctr += pctr[i];
    s_y += y;
    s_pctcvr += pctcvr[i];
    s_yz += yz;
    ctr_ll += clipped_bce(pctr[i], y);
    ctcvr_ll += clipped_bce(pctcvr[i], yz);
    if (y) {
      s_pcvr_c += pcvr[i];
      s_z_c += z;
      cvr_ll += clipped_bce(pcvr[i], z);
    }
  }
  for (int k = 0; k < ESMM_METRIC_COUNT; k++)
    v[k] = NAN;
  if (n > 0) {
    p = alloc_scratch(n);
    if (!p)
      return ESMM__ERR(ESMM_ENOMEM, "out of memory for %zu scored rows", n);
    for (size_t i = 0; i < n; i++)
      p[i] = (scored){pctr[i], click[i]};
    v[ESMM_METRIC_CTR_AUC] = auc_pairs(p, n);
    m = 0;
    for (size_t i = 0; i < n; i++)
      if (click[i])
        p[m++] = (scored){pcvr[i], conversion[i]};
    v[ESMM_METRIC_CVR_AUC_CLICKED] = auc_pairs(p, m);
    for (size_t i = 0; i < n; i++)
      p[i] = (scored){pcvr[i], conversion[i]};
    v[ESMM_METRIC_CVR_AUC_ALL] = auc_pairs(p, n);
    for (size_t i = 0; i < n; i++)
      p[i] = (scored){pctcvr[i], click[i] * conversion[i]};
    v[ESMM_METRIC_CTCVR_AUC] = auc_pairs(p, n);
    free_scratch(p);
  }
  v[ESMM_METRIC_CTR_LOGLOSS] = ratio(ctr_ll, (double)n);
  v[ESMM_METRIC_CVR_LOGLOSS_CLICKED] = ratio(cvr_ll, clicks);
  v[ESMM_METRIC_CTCVR_LOGLOSS] = ratio(ctcvr_ll, (double)n);
  v[ESMM_METRIC_CTR_MEAN] = ratio(s_pctr, (double)n);
  v[ESMM_METRIC_CTR_RATE] = ratio(s_y, (double)n);
  v[ESMM_METRIC_CVR_MEAN_CLICKED] = ratio(s_pcvr_c, clicks);
  v[ESMM_METRIC_CVR_RATE_CLICKED] = ratio(s_z_c, clicks);
  v[ESMM_METRIC_CTCVR_MEAN] = ratio(s_pctcvr, (double)n);
  v[ESMM_METRIC_CTCVR_RATE] = ratio(s_yz, (double)n);
  v[ESMM_METRIC_ROWS] = (double)n;
  v[ESMM_METRIC_CLICKS] = clicks;
  for (size_t k = 0; k < n_out; k++)
    out[k] = k < ESMM_METRIC_COUNT ? v[k] : NAN;
  return ESMM_OK;
}

const char *esmm_metric_name(int metric) {
  static const char *const names[ESMM_METRIC_COUNT] = {
      "ctr_auc",          "cvr_auc_clicked", "cvr_auc_all",   "ctcvr_auc",
      "ctr_logloss",      "cvr_logloss_clicked", "ctcvr_logloss", "ctr_mean",
      "ctr_rate",         "cvr_mean_clicked", "cvr_rate_clicked", "ctcvr_mean",
      "ctcvr_rate",       "rows",            "clicks"};
  if (metric < 0 || metric >= ESMM_METRIC_COUNT)
    return NULL;
  return names[metric];
}
