/* diag.c - pCVR against each candidate truth (esmm/diag.h). Reads datasets
 * and predictions; knows nothing of how a model makes them (esmm_diag_model
 * goes through the public esmm_model_predict). Sums in double. */
#include "internal.h"

#include "dataset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const int truth_kind[ESMM_DIAG_TRUTH_COUNT] = {ESMM_TRUTH_CVR, ESMM_TRUTH_CTCVR, ESMM_TRUTH_CVR_CF};

typedef struct diag_cell {
  double m[ESMM_DIAG_MEASURE_COUNT];
  double bin_pred[ESMM_DIAG_BINS], bin_truth[ESMM_DIAG_BINS], bin_rows[ESMM_DIAG_BINS];
} diag_cell;

struct esmm_diag {
  esmm__allocator alloc;
  int has_truth;
  double stat[ESMM_DIAG_STAT_HAS_TRUTH + 1];
  diag_cell cell[ESMM_DIAG_TRUTH_COUNT][2];
};

typedef struct keyed {
  float p;
  uint32_t row;
} keyed;

static int by_pred(const void *a, const void *b) {
  const keyed *x = a, *y = b;
  if (x->p != y->p)
    return x->p < y->p ? -1 : 1;
  return (x->row > y->row) - (x->row < y->row); /* ties by row order: deterministic */
}

/* Measures and deciles over the rows k[0..n) (sorted by pCVR). */
static void fill_cell(diag_cell *c, const keyed *k, size_t n, const float *truth) {
  double sp = 0, st = 0, se = 0, sq = 0, spp = 0, stt = 0, spt = 0, cal = 0;
  for (int j = 0; j < ESMM_DIAG_MEASURE_COUNT; j++)
    c->m[j] = NAN;
  for (int b = 0; b < ESMM_DIAG_BINS; b++)
    c->bin_pred[b] = c->bin_truth[b] = NAN, c->bin_rows[b] = 0;
  if (n == 0)
    return;
  for (int b = 0; b < ESMM_DIAG_BINS; b++) {
    size_t lo = n * (size_t)b / ESMM_DIAG_BINS, hi = n * (size_t)(b + 1) / ESMM_DIAG_BINS;
    double bp = 0, bt = 0;
    for (size_t i = lo; i < hi; i++) {
      double p = k[i].p, t = truth[k[i].row];
      bp += p;
      bt += t;
      se += p - t;
      sq += (p - t) * (p - t);
      spp += p * p;
      stt += t * t;
      spt += p * t;
    }
    sp += bp;
    st += bt;
    c->bin_rows[b] = (double)(hi - lo);
    if (hi > lo) {
      c->bin_pred[b] = bp / (double)(hi - lo);
      c->bin_truth[b] = bt / (double)(hi - lo);
      cal += fabs(bp - bt);
    }
  }
  c->m[ESMM_DIAG_RMSE] = sqrt(sq / (double)n);
  c->m[ESMM_DIAG_BIAS] = se / (double)n;
  c->m[ESMM_DIAG_MEAN_PRED] = sp / (double)n;
  c->m[ESMM_DIAG_MEAN_TRUTH] = st / (double)n;
  c->m[ESMM_DIAG_CAL_ERROR] = cal / (double)n;
  {
    double vp = spp / (double)n - (sp / (double)n) * (sp / (double)n);
    double vt = stt / (double)n - (st / (double)n) * (st / (double)n);
    double cv = spt / (double)n - (sp / (double)n) * (st / (double)n);
    c->m[ESMM_DIAG_CORR] = vp > 0 && vt > 0 ? cv / sqrt(vp * vt) : NAN;
  }
}

int esmm_diag_new(esmm_diag **out, const esmm_dataset *ds, const float *pctr, const float *pcvr,
                  const float *pctcvr) {
  esmm_diag *d;
  keyed *all, *clicked;
  size_t n, nc = 0;
  double clicks = 0, conv = 0, sum_all = 0, sum_clicked = 0, clips = 0;
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(ds && pcvr);
  n = ds->n_rows;
  if (n == 0)
    return ESMM__ERR(ESMM_EINVAL, "the dataset has no rows");
  if (n > UINT32_MAX)
    return ESMM__ERR(ESMM_EINVAL, "%zu rows: at most 2^32-1 are supported", n);
  for (size_t i = 0; i < n; i++)
    if (!isfinite(pcvr[i]))
      return ESMM__ERR(ESMM_ENUMERIC, "pCVR of row %zu is not finite", i);
  d = esmm__calloc(&ds->alloc, 1, sizeof *d);
  all = esmm__alloc(&ds->alloc, 2 * n * sizeof *all);
  if (!d || !all) {
    esmm__free(&ds->alloc, d);
    esmm__free(&ds->alloc, all);
    return ESMM__ERR(ESMM_ENOMEM, "out of memory for %zu rows", n);
  }
  d->alloc = ds->alloc;
  clicked = all + n;
  for (size_t i = 0; i < n; i++) {
    int y = ds->click[i] != 0, yz = y && ds->conv[i];
    all[i].p = pcvr[i];
    all[i].row = (uint32_t)i;
    sum_all += pcvr[i];
    clicks += y;
    conv += yz;
    if (y) {
      clicked[nc++] = all[i];
      sum_clicked += pcvr[i];
    }
    if (pctr && pctcvr)
      clips += pctcvr[i] > pctr[i];
  }
  d->stat[ESMM_DIAG_STAT_ROWS] = (double)n;
  d->stat[ESMM_DIAG_STAT_CLICKS] = clicks;
  d->stat[ESMM_DIAG_STAT_CONVERSIONS] = conv;
  d->stat[ESMM_DIAG_STAT_MEAN_PCVR_ALL] = sum_all / (double)n;
  d->stat[ESMM_DIAG_STAT_MEAN_PCVR_CLICKED] = nc ? sum_clicked / (double)nc : NAN;
  d->stat[ESMM_DIAG_STAT_CONV_PER_CLICK] = clicks > 0 ? conv / clicks : NAN;
  d->stat[ESMM_DIAG_STAT_BIAS_TEST] = d->stat[ESMM_DIAG_STAT_MEAN_PCVR_ALL] - d->stat[ESMM_DIAG_STAT_CONV_PER_CLICK];
  d->stat[ESMM_DIAG_STAT_CVR_CLIPS] = pctr && pctcvr ? clips : NAN;
  d->has_truth = ds->truth[ESMM_TRUTH_CVR] && ds->truth[ESMM_TRUTH_CTCVR] && ds->truth[ESMM_TRUTH_CVR_CF];
  d->stat[ESMM_DIAG_STAT_HAS_TRUTH] = d->has_truth;
  if (d->has_truth) {
    qsort(all, n, sizeof *all, by_pred);
    qsort(clicked, nc, sizeof *clicked, by_pred);
    for (int t = 0; t < ESMM_DIAG_TRUTH_COUNT; t++) {
      fill_cell(&d->cell[t][ESMM_DIAG_ALL], all, n, ds->truth[truth_kind[t]]);
      fill_cell(&d->cell[t][ESMM_DIAG_CLICKED], clicked, nc, ds->truth[truth_kind[t]]);
    }
  }
  esmm__free(&ds->alloc, all);
  *out = d;
  return ESMM_OK;
}

int esmm_diag_model(esmm_diag **out, const esmm_model *m, const esmm_dataset *ds) {
  float *p;
  size_t n;
  int rc;
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(m && ds);
  n = ds->n_rows;
  if (n == 0)
    return ESMM__ERR(ESMM_EINVAL, "the dataset has no rows");
  p = esmm__calloc(&ds->alloc, n, 3 * sizeof *p);
  if (!p)
    return ESMM__ERR(ESMM_ENOMEM, "out of memory for %zu predictions", n);
  rc = esmm_model_predict(m, NULL, ds, 0, n, p, p + n, p + 2 * n);
  if (rc == ESMM_OK)
    rc = esmm_diag_new(out, ds, p, p + n, p + 2 * n);
  esmm__free(&ds->alloc, p);
  return rc;
}

void esmm_diag_free(esmm_diag *d) {
  esmm__allocator a;
  if (!d)
    return;
  a = d->alloc;
  esmm__free(&a, d);
}

static int cell_of(const esmm_diag *d, int truth, int subset, const diag_cell **c, const char *func) {
  if (truth < 0 || truth >= ESMM_DIAG_TRUTH_COUNT)
    return esmm__error(ESMM_EINVAL, func, "unknown truth %d", truth);
  if (subset != ESMM_DIAG_ALL && subset != ESMM_DIAG_CLICKED)
    return esmm__error(ESMM_EINVAL, func, "unknown subset %d", subset);
  if (!d->has_truth)
    return esmm__error(ESMM_ESTATE, func, "the dataset carries no ground truth (only simulated data does)");
  *c = &d->cell[truth][subset];
  return ESMM_OK;
}

int esmm_diag_error(const esmm_diag *d, int truth, int subset, int measure, double *out) {
  const diag_cell *c = NULL;
  ESMM__CHECK_ARG(d && out);
  if (measure < 0 || measure >= ESMM_DIAG_MEASURE_COUNT)
    return ESMM__ERR(ESMM_EINVAL, "unknown measure %d", measure);
  ESMM__TRY(cell_of(d, truth, subset, &c, __func__));
  *out = c->m[measure];
  return ESMM_OK;
}

int esmm_diag_calibration(const esmm_diag *d, int truth, int subset, size_t bin, double *mean_pred_out,
                          double *mean_truth_out, double *rows_out) {
  const diag_cell *c = NULL;
  ESMM__CHECK_ARG(d);
  if (bin >= ESMM_DIAG_BINS)
    return ESMM__ERR(ESMM_EINVAL, "bin %zu is outside [0, %d)", bin, ESMM_DIAG_BINS);
  ESMM__TRY(cell_of(d, truth, subset, &c, __func__));
  if (mean_pred_out)
    *mean_pred_out = c->bin_pred[bin];
  if (mean_truth_out)
    *mean_truth_out = c->bin_truth[bin];
  if (rows_out)
    *rows_out = c->bin_rows[bin];
  return ESMM_OK;
}

int esmm_diag_stat(const esmm_diag *d, int key, double *out) {
  ESMM__CHECK_ARG(d && out);
  if (key < 0 || key > ESMM_DIAG_STAT_HAS_TRUTH)
    return ESMM__ERR(ESMM_EINVAL, "unknown statistic %d", key);
  *out = d->stat[key];
  return ESMM_OK;
}
