/* experiment_stats.c - means over seeds with 95 % t intervals, and paired
 * differences (experiment.h). Seeds are the replicates: a seed draws a
 * world, its rows and the models' initialisation, so the spread over seeds
 * is the spread of the whole procedure. Differences between two variants
 * (or two arms) are paired by seed: both trained on the same rows of the
 * same world from the same model seed. The intervals are per comparison,
 * not adjusted for how many the page shows. */
#include "experiment.h"

#include <math.h>

/* t quantile 0.975 for 1 .. 40 degrees of freedom (then 1.96 is within
 * 0.06 of it and the page never has that many seeds). */
double x_t975(int df) {
  static const double t[41] = {NAN,    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                               2.201,  2.179,  2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080,
                               2.074,  2.069,  2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042, 2.040, 2.037,
                               2.035,  2.032,  2.030, 2.028, 2.026, 2.024, 2.023, 2.021};
  if (df < 1)
    return NAN;
  return df <= 40 ? t[df] : 1.96;
}

static void summarise(const double *x, int n, int all_zero, xsum *out) {
  double s = 0, q = 0;
  out->n = n;
  out->mean = out->sd = out->half = NAN;
  out->tie = n > 0 && all_zero;
  if (n == 0)
    return;
  for (int i = 0; i < n; i++)
    s += x[i];
  s /= n;
  for (int i = 0; i < n; i++)
    q += (x[i] - s) * (x[i] - s);
  out->mean = s;
  out->sd = n > 1 ? sqrt(q / (n - 1)) : 0.0;
  out->half = n > 1 ? x_t975(n - 1) * out->sd / sqrt((double)n) : 0.0;
}

void x_sum(const xplan *p, int a, int w, int v, int c, xsum *out) {
  double x[X_MAX_SEEDS];
  int n = 0;
  for (int s = 0; s < p->n_seeds; s++) {
    const xrun *r = x_get(p, a, w, s, v);
    if (r && isfinite(r->v[c]))
      x[n++] = r->v[c];
  }
  summarise(x, n, 0, out);
}

void x_diff(const xplan *p, int a1, int w1, int v1, int ca, int a2, int w2, int v2, int cb, xsum *out) {
  double x[X_MAX_SEEDS];
  int n = 0, zero = 1;
  for (int s = 0; s < p->n_seeds; s++) {
    const xrun *r1 = x_get(p, a1, w1, s, v1), *r2 = x_get(p, a2, w2, s, v2);
    if (r1 && r2 && isfinite(r1->v[ca]) && isfinite(r2->v[cb])) {
      x[n] = r1->v[ca] - r2->v[cb];
      zero &= x[n] == 0.0;
      n++;
    }
  }
  summarise(x, n, zero, out);
}

int x_sign(const xsum *s) {
  if (s->n < 2 || !isfinite(s->mean) || s->tie)
    return 0;
  if (s->mean - s->half > 0)
    return 1;
  if (s->mean + s->half < 0)
    return -1;
  return 0;
}
