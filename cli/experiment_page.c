/* experiment_page.c - docs/what-pcvr-estimates.md and its plots, written
 * from the runs alone (experiment.h): the same raw file gives the same
 * bytes. Every table is numbered; every generated finding names the table
 * it reads and states a difference only where its 95 % interval excludes 0.
 * Nothing here depends on the clock, the locale's decimal point (the
 * program runs in the C locale) or the order runs were appended in.
 *
 * Why one file of this length: one generated document; its tables, findings and plots
 * share the same run index and interval code, and splitting would scatter
 * the page's order over files.
 */
#include "experiment.h"
#include "svg.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T_CVR ESMM_DIAG_TRUTH_CVR
#define T_CTCVR ESMM_DIAG_TRUTH_CTCVR
#define T_CF ESMM_DIAG_TRUTH_CVR_CF
#define S_ALL ESMM_DIAG_ALL
#define S_CLICKED ESMM_DIAG_CLICKED

static const char *const truth_md[ESMM_DIAG_TRUTH_COUNT] = {"p(z=1\\|y=1,x)", "p(z=1\\|x)", "p(r=1\\|x)"};
static const char *const truth_txt[ESMM_DIAG_TRUTH_COUNT] = {"p(z=1|y=1,x)", "p(z=1|x)", "p(r=1|x)"};
static const char *const truth_file[ESMM_DIAG_TRUTH_COUNT] = {"cvr", "ctcvr", "cf"};

typedef struct page {
  const xplan *p;
  FILE *f;
  int table; /* tables written so far */
  int main;  /* the main arm */
} page;

static void out(page *g, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void out(page *g, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(g->f, fmt, ap);
  va_end(ap);
}

static int vi(const char *key) { return x_variant_index(key); }

static const char *world_label(const xworld *w, char *buf, size_t n) {
  snprintf(buf, n, "conf. %g, CTR %g", w->conf, w->ctr);
  return buf;
}

/* "0.0467 ± 0.0021" (an empty cell without runs). */
static void cell_ms(page *g, const xsum *s, int digits) {
  if (s->n == 0)
    out(g, " |");
  else if (s->n == 1)
    out(g, " %.*f |", digits, s->mean);
  else
    out(g, " %.*f ± %.*f |", digits, s->mean, digits, s->half);
}

/* "+0.0040 [-0.0012, +0.0093]", bold when the interval excludes 0; "0
 * (tie)" for a difference that is exactly 0 in every seed. */
static void cell_diff(page *g, const xsum *s, int digits) {
  if (s->n == 0)
    out(g, " |");
  else if (s->tie)
    out(g, " 0 (tie) |");
  else if (s->n == 1)
    out(g, " %+.*f |", digits, s->mean);
  else if (x_sign(s) != 0)
    out(g, " **%+.*f** [%+.*f, %+.*f] |", digits, s->mean, digits, s->mean - s->half, digits, s->mean + s->half);
  else
    out(g, " %+.*f [%+.*f, %+.*f] |", digits, s->mean, digits, s->mean - s->half, digits, s->mean + s->half);
}

static void diff_text(char *buf, size_t n, const xsum *s) {
  snprintf(buf, n, "%+.4f [%+.4f, %+.4f]", s->mean, s->mean - s->half, s->mean + s->half);
}

/* A numbered table's caption. */
static int caption(page *g, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static int caption(page *g, const char *fmt, ...) {
  va_list ap;
  g->table++;
  out(g, "**Table %d.** ", g->table);
  va_start(ap, fmt);
  vfprintf(g->f, fmt, ap);
  va_end(ap);
  out(g, "\n\n");
  return g->table;
}

static void world_header(page *g, int a, const char *corner) {
  char wb[64];
  out(g, "| %s |", corner);
  for (int w = 0; w < g->p->arm[a].n_world; w++)
    out(g, " %s |", world_label(&g->p->arm[a].world[w], wb, sizeof wb));
  out(g, "\n|---|");
  for (int w = 0; w < g->p->arm[a].n_world; w++)
    out(g, "---|");
  out(g, "\n");
}

/* Rows of the main tables: every variant the arm has, in table order;
 * which = 0 every one, 1 models and the control tower only. */
static int row_ok(const page *g, int a, int v, int which) {
  if (!x_arm_has(g->p, a, v))
    return 0;
  return which == 0 || x_variants[v].kind <= XK_TOWER_YZ;
}

/* mean ± interval of column c over the worlds of arm a, a row per variant */
static void table_values(page *g, int a, int c, int digits, int which) {
  world_header(g, a, "variant");
  for (int v = 0; v < x_n_variants; v++) {
    if (!row_ok(g, a, v, which))
      continue;
    out(g, "| %s |", x_variants[v].label);
    for (int w = 0; w < g->p->arm[a].n_world; w++) {
      xsum s;
      x_sum(g->p, a, w, v, c, &s);
      cell_ms(g, &s, digits);
    }
    out(g, "\n");
  }
  out(g, "\n");
}

/* paired column ca - column cb of each variant (vs = -1) or ca of each
 * variant - ca of variant vs */
static void table_diffs(page *g, int a, int ca, int cb, int vs, int which) {
  world_header(g, a, "variant");
  for (int v = 0; v < x_n_variants; v++) {
    if (!row_ok(g, a, v, which) || v == vs)
      continue;
    out(g, "| %s |", x_variants[v].label);
    for (int w = 0; w < g->p->arm[a].n_world; w++) {
      xsum s;
      if (vs < 0)
        x_diff(g->p, a, w, v, ca, a, w, v, cb, &s);
      else
        x_diff(g->p, a, w, v, ca, a, w, vs, ca, &s);
      cell_diff(g, &s, 4);
    }
    out(g, "\n");
  }
  out(g, "\n");
}

/* ---- plots --------------------------------------------------------------- */

static const char *const plot_keys[] = {"esmm", "esmm_ns", "base", "escm2_ips", "escm2_dr", "dcmt", "escm2_ips_true"};
#define N_PLOT ((int)(sizeof plot_keys / sizeof plot_keys[0]))

/* Reliability diagram of arm a, world w, truth t: mean truth against mean
 * pCVR per decile of pCVR, averaged over seeds, one line per variant. */
static int svg_reliability(const page *g, int a, int w, int t, const char *path) {
  const xplan *p = g->p;
  FILE *f = svg_open(path, 620, 440);
  svg_axes ax = {70, 40, 360, 340, 0, 0, 0, 0};
  char title[160];
  double mx = 0, xs[N_PLOT][ESMM_DIAG_BINS], ys[N_PLOT][ESMM_DIAG_BINS];
  int line = 0;
  if (!f)
    return -1;
  for (int k = 0; k < N_PLOT; k++) {
    int v = vi(plot_keys[k]);
    for (int b = 0; b < ESMM_DIAG_BINS; b++) {
      xsum sx, sy;
      x_sum(p, a, w, v, C_BIN_PRED0 + b, &sx);
      x_sum(p, a, w, v, C_BIN_TRUTH(t, b), &sy);
      xs[k][b] = sx.n ? sx.mean : NAN;
      ys[k][b] = sy.n ? sy.mean : NAN;
      if (sx.n && sy.n)
        mx = fmax(mx, fmax(xs[k][b], ys[k][b]));
    }
  }
  ax.xmax = ax.ymax = svg_nice_max(mx > 0 ? mx : 1.0);
  snprintf(title, sizeof title, "%s vs pCVR (confounding %g, CTR %g)", truth_txt[t], p->arm[a].world[w].conf,
           p->arm[a].world[w].ctr);
  svg_axes_draw(f, &ax, "mean pCVR in the decile", truth_txt[t], title);
  fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>\n",
          svg_x(&ax, 0), svg_y(&ax, 0), svg_x(&ax, ax.xmax), svg_y(&ax, ax.ymax));
  for (int k = 0; k < N_PLOT; k++) {
    int v = vi(plot_keys[k]);
    if (v < 0 || !x_arm_has(p, a, v) || !isfinite(xs[k][0]))
      continue;
    svg_line(f, &ax, xs[k], ys[k], ESMM_DIAG_BINS, svg_palette[line % 7], 0);
    svg_legend(f, 445, 60, line, svg_palette[line % 7], 0, x_variants[v].label);
    line++;
  }
  fprintf(f, "<text x=\"445\" y=\"%d\" font-size=\"11\" fill=\"#666\">dashed: perfect calibration</text>\n",
          64 + 20 * line);
  return svg_close(f);
}

/* ---- findings ------------------------------------------------------------ */

/* Counts of the signs of a paired difference over (trained variants and
 * the control) x worlds with confounding > 0 (informative) or = 0. */
static void which_truth_findings(page *g, int t_other, int tab) {
  const xplan *p = g->p;
  int a = g->main, inf = 0, ties = 0, zero_cells = 0, cnt[3] = {0, 0, 0};
  char wb[64], db[96];
  int tower = vi("tower_yz");
  for (int v = 0; v < x_n_variants; v++) {
    if (x_variants[v].kind != XK_TRAINED || !x_arm_has(p, a, v))
      continue;
    for (int w = 0; w < p->arm[a].n_world; w++) {
      xsum s;
      x_diff(p, a, w, v, C_ERR(t_other, S_ALL, XM_RMSE), a, w, v, C_ERR(T_CVR, S_ALL, XM_RMSE), &s);
      if (t_other == T_CF && p->arm[a].world[w].conf == 0) {
        zero_cells++;
        ties += s.tie;
        continue;
      }
      inf++;
      cnt[x_sign(&s) + 1]++;
    }
  }
  if (t_other == T_CF) {
    out(g,
        "- **Which truth (Table %d).** Without confounding the two truths are equal, so the %d cells of the "
        "models at confounding 0 are ties (%d of them exact to the last bit), not evidence. Of the %d "
        "informative cells (models × worlds with confounding 1 or 2), the interval of RMSE against p(r=1|x) "
        "minus RMSE against p(z=1|y=1,x) lies above 0 in **%d** (pCVR is closer to p(z=1|y=1,x)), below 0 in "
        "**%d** (closer to p(r=1|x)) and contains 0 in %d.",
        tab, zero_cells, ties, inf, cnt[2], cnt[0], cnt[1]);
    if (cnt[0] + cnt[1] > 0 && cnt[0] + cnt[1] <= 12) {
      int first = 1;
      out(g, " Those %s:", cnt[0] ? "not above 0" : "containing 0");
      for (int v = 0; v < x_n_variants; v++) {
        if (x_variants[v].kind != XK_TRAINED || !x_arm_has(p, a, v))
          continue;
        for (int w = 0; w < p->arm[a].n_world; w++) {
          xsum s;
          if (p->arm[a].world[w].conf == 0)
            continue;
          x_diff(p, a, w, v, C_ERR(T_CF, S_ALL, XM_RMSE), a, w, v, C_ERR(T_CVR, S_ALL, XM_RMSE), &s);
          if (x_sign(&s) > 0)
            continue;
          diff_text(db, sizeof db, &s);
          out(g, "%s %s at %s, %s", first ? "" : ";", x_variants[v].label,
              world_label(&p->arm[a].world[w], wb, sizeof wb), db);
          first = 0;
        }
      }
      out(g, ".");
    }
    out(g, "\n");
  } else {
    out(g,
        "- **The critique's reading (Table %d).** In %d of the %d model × world cells pCVR is significantly "
        "closer to p(z=1|y=1,x) than to p(z=1|x) (RMSE difference above 0), in %d closer to p(z=1|x), in %d "
        "neither.",
        tab, cnt[2], inf, cnt[0], cnt[1]);
    if (tower >= 0 && x_arm_has(p, a, tower)) {
      int below = 0, n = 0;
      for (int w = 0; w < p->arm[a].n_world; w++) {
        xsum s;
        x_diff(p, a, w, tower, C_ERR(T_CTCVR, S_ALL, XM_RMSE), a, w, tower, C_ERR(T_CVR, S_ALL, XM_RMSE), &s);
        below += x_sign(&s) < 0;
        n += s.n > 0;
      }
      out(g,
          " The control that *is* fit to z over all impressions (%s) lands on p(z=1|x) instead: its RMSE "
          "against p(z=1|x) is the lower one in %d of %d worlds, so the measure can tell the two apart.",
          x_variants[tower].label, below, n);
    }
    out(g, "\n");
  }
}

/* For each model: worlds where it is significantly below / above the
 * reference variant vs (or a truth reference) in RMSE against truth t. */
static void versus_findings(page *g, int vs, int t, int tab, const char *lead) {
  const xplan *p = g->p;
  int a = g->main, first = 1;
  out(g, "- **%s (Table %d).** Worlds (of %d) where the model's RMSE against %s is significantly lower / higher "
         "than %s's:",
      lead, tab, p->arm[a].n_world, truth_txt[t], x_variants[vs].label);
  for (int v = 0; v < x_n_variants; v++) {
    int lo = 0, hi = 0;
    if (v == vs || x_variants[v].kind != XK_TRAINED || !x_arm_has(p, a, v))
      continue;
    for (int w = 0; w < p->arm[a].n_world; w++) {
      xsum s;
      x_diff(p, a, w, v, C_ERR(t, S_ALL, XM_RMSE), a, w, vs, C_ERR(t, S_ALL, XM_RMSE), &s);
      lo += x_sign(&s) < 0;
      hi += x_sign(&s) > 0;
    }
    out(g, "%s %s %d/%d", first ? "" : ";", x_variants[v].label, lo, hi);
    first = 0;
  }
  out(g, ".\n");
}

static void truth_gap_finding(page *g, int tab) {
  const xplan *p = g->p;
  int a = g->main, vt = vi("truth_cvr"), vc = vi("const");
  double lo = INFINITY, hi = -INFINITY, mlo = INFINITY, mhi = -INFINITY;
  if (vt < 0 || !x_arm_has(p, a, vt))
    return;
  for (int w = 0; w < p->arm[a].n_world; w++) {
    xsum s;
    if (p->arm[a].world[w].conf == 0)
      continue;
    x_sum(p, a, w, vt, C_ERR(T_CF, S_ALL, XM_RMSE), &s);
    if (s.n) {
      lo = fmin(lo, s.mean);
      hi = fmax(hi, s.mean);
    }
    for (int v = 0; v < x_n_variants; v++) {
      if (x_variants[v].kind != XK_TRAINED || !x_arm_has(p, a, v))
        continue;
      x_sum(p, a, w, v, C_ERR(T_CF, S_ALL, XM_RMSE), &s);
      if (s.n) {
        mlo = fmin(mlo, s.mean);
        mhi = fmax(mhi, s.mean);
      }
    }
  }
  if (!isfinite(lo))
    return;
  out(g,
      "- **The scale of the question (Table %d).** With confounding, the truths themselves differ by an RMSE of "
      "%.3f–%.3f (row %s against p(r=1|x)); the models' RMSEs against p(r=1|x) span %.3f–%.3f. A model can "
      "beat another against p(r=1|x) by sitting at a lower *level* without tracking p(r=1|x) across x any "
      "better: the correlation tables and the constant reference (%s) separate the two.\n",
      tab, lo, hi, x_variants[vt].label, mlo, mhi, vc >= 0 ? x_variants[vc].label : "none");
}

static void auc_findings(page *g, int tab) {
  const xplan *p = g->p;
  int a = g->main, ve = vi("esmm"), others[2] = {vi("base"), vi("esmm_ns")};
  if (ve < 0 || !x_arm_has(p, a, ve))
    return;
  out(g, "- **The paper's Table 2, in shape (Table %d).** ESMM's CVR AUC on clicked impressions minus", tab);
  for (int k = 0; k < 2; k++) {
    int v = others[k], lo = 0, hi = 0;
    if (v < 0 || !x_arm_has(p, a, v))
      continue;
    for (int w = 0; w < p->arm[a].n_world; w++) {
      xsum s;
      x_diff(p, a, w, ve, C_AUC_CVR_CLICKED, a, w, v, C_AUC_CVR_CLICKED, &s);
      hi += x_sign(&s) > 0;
      lo += x_sign(&s) < 0;
    }
    out(g, "%s %s's: above 0 in %d of %d worlds, below in %d", k ? ";" : "", x_variants[v].label, hi,
        p->arm[a].n_world, lo);
  }
  out(g, ".\n");
}

/* ---- sweeps -------------------------------------------------------------- */

/* Rows of the sweep tables: the variants trained in some sweep arm, the
 * main arm's ESMM and BASE, the constant. */
static int sweep_row(const page *g, int v) {
  const xplan *p = g->p;
  if (x_variants[v].kind == XK_CONST)
    return 1;
  if (x_variants[v].kind != XK_TRAINED)
    return 0;
  if (strcmp(x_variants[v].key, "esmm") == 0 || strcmp(x_variants[v].key, "base") == 0)
    return x_arm_has(p, g->main, v);
  for (int a = 0; a < p->n_arm; a++)
    if (a != g->main && x_arm_own(p, a, v) && x_variants[v].kind == XK_TRAINED)
      return 1;
  return 0;
}

/* Arms with world (conf, ctr), main first; their world indices. */
static int sweep_arms(const page *g, double conf, double ctr, int *arms, int *worlds) {
  int n = 0;
  for (int a = 0; a < g->p->n_arm; a++) {
    int w = x_world_of(g->p, a, conf, ctr);
    if (w >= 0) {
      arms[n] = a;
      worlds[n] = w;
      n++;
    }
  }
  return n;
}

/* Rank (1 = lowest mean) of v among the sweep rows in (a, w) by column c. */
static int rank_of(const page *g, int a, int w, int v, int c) {
  xsum s, o;
  int r = 1;
  x_sum(g->p, a, w, v, c, &s);
  if (s.n == 0)
    return 0;
  for (int u = 0; u < x_n_variants; u++) {
    if (u == v || !sweep_row(g, u) || !x_arm_has(g->p, a, u))
      continue;
    x_sum(g->p, a, w, u, c, &o);
    if (o.n && (o.mean < s.mean || (o.mean == s.mean && u < v)))
      r++;
  }
  return r;
}

static void sweep_table(page *g, int n, const int *arms, const int *worlds, int c) {
  out(g, "| variant |");
  for (int k = 0; k < n; k++)
    out(g, " %s |", g->p->arm[arms[k]].label);
  out(g, "\n|---|");
  for (int k = 0; k < n; k++)
    out(g, "---|");
  out(g, "\n");
  for (int v = 0; v < x_n_variants; v++) {
    if (!sweep_row(g, v))
      continue;
    out(g, "| %s |", x_variants[v].label);
    for (int k = 0; k < n; k++) {
      xsum s;
      if (!x_arm_has(g->p, arms[k], v)) {
        out(g, " |");
        continue;
      }
      x_sum(g->p, arms[k], worlds[k], v, c, &s);
      if (s.n == 0)
        out(g, " |");
      else
        out(g, " %.4f ± %.4f (%d) |", s.mean, s.half, rank_of(g, arms[k], worlds[k], v, c));
    }
    out(g, "\n");
  }
  out(g, "\n");
}

/* The effect of each arm's setting on each variant: arm - main, by seed. */
static void sweep_effect_table(page *g, int n, const int *arms, const int *worlds, int c) {
  out(g, "| variant |");
  for (int k = 1; k < n; k++)
    out(g, " %s − baseline |", g->p->arm[arms[k]].label);
  out(g, "\n|---|");
  for (int k = 1; k < n; k++)
    out(g, "---|");
  out(g, "\n");
  for (int v = 0; v < x_n_variants; v++) {
    if (!sweep_row(g, v))
      continue;
    out(g, "| %s |", x_variants[v].label);
    for (int k = 1; k < n; k++) {
      xsum s;
      if (!x_arm_has(g->p, arms[k], v) || (!x_arm_own(g->p, arms[k], v) && x_variants[v].kind == XK_TRAINED)) {
        out(g, " (not retrained) |");
        continue;
      }
      x_diff(g->p, arms[k], worlds[k], v, c, arms[0], worlds[0], v, c, &s);
      cell_diff(g, &s, 4);
    }
    out(g, "\n");
  }
  out(g, "\n");
}

/* Each row minus ESMM within each arm, paired by seed: where the order
 * against ESMM holds, vanishes or flips. */
static void sweep_vs_table(page *g, int n, const int *arms, const int *worlds, int c, int ref) {
  out(g, "| variant |");
  for (int k = 0; k < n; k++)
    out(g, " %s |", g->p->arm[arms[k]].label);
  out(g, "\n|---|");
  for (int k = 0; k < n; k++)
    out(g, "---|");
  out(g, "\n");
  for (int v = 0; v < x_n_variants; v++) {
    if (!sweep_row(g, v) || v == ref)
      continue;
    out(g, "| %s |", x_variants[v].label);
    for (int k = 0; k < n; k++) {
      xsum s;
      if (!x_arm_has(g->p, arms[k], v) || !x_arm_has(g->p, arms[k], ref)) {
        out(g, " |");
        continue;
      }
      x_diff(g->p, arms[k], worlds[k], v, c, arms[k], worlds[k], ref, c, &s);
      cell_diff(g, &s, 4);
    }
    out(g, "\n");
  }
  out(g, "\n");
}

/* Which orders of two sweep rows an arm changes against the main arm:
 * reversed (significant both times, opposite signs), made significant, lost
 * significance; and whether the point ranking moved. Writes one bullet per
 * arm; returns the arms that reverse an order. */
static int sweep_flips(page *g, int n, const int *arms, const int *worlds, int c, const char *what, int tab,
                       int *reverses) {
  const xplan *p = g->p;
  int rows[32], nr = 0, n_rev_arms = 0;
  char b1[96], b2[96];
  for (int v = 0; v < x_n_variants; v++)
    if (sweep_row(g, v) && x_variants[v].kind == XK_TRAINED)
      rows[nr++] = v;
  for (int k = 1; k < n; k++) {
    int rev = 0, made = 0, lost = 0, moved = 0, a = arms[k], w = worlds[k], a0 = arms[0], w0 = worlds[0];
    out(g, "- %s, against %s (Table %d):", p->arm[a].label, what, tab);
    for (int i = 0; i < nr; i++)
      if (x_arm_has(p, a, rows[i]) && rank_of(g, a, w, rows[i], c) != rank_of(g, a0, w0, rows[i], c))
        moved = 1;
    for (int i = 0; i < nr; i++)
      for (int j = i + 1; j < nr; j++) {
        xsum s0, s1;
        int g0, g1;
        if (!x_arm_has(p, a, rows[i]) || !x_arm_has(p, a, rows[j]))
          continue;
        x_diff(p, a0, w0, rows[i], c, a0, w0, rows[j], c, &s0);
        x_diff(p, a, w, rows[i], c, a, w, rows[j], c, &s1);
        g0 = x_sign(&s0);
        g1 = x_sign(&s1);
        if (g0 * g1 < 0) {
          diff_text(b1, sizeof b1, &s0);
          diff_text(b2, sizeof b2, &s1);
          out(g, "%s **reverses** %s − %s (baseline %s, here %s)", rev ? ";" : "", x_variants[rows[i]].label,
              x_variants[rows[j]].label, b1, b2);
          rev++;
        } else if (g0 == 0 && g1 != 0) {
          made++;
        } else if (g0 != 0 && g1 == 0) {
          lost++;
        }
      }
    if (!rev)
      out(g, " reverses no significant order");
    out(g, "; %d order(s) become significant, %d stop being so; the point ranking %s.\n", made, lost,
        moved ? "changes" : "stays");
    if (rev && reverses)
      reverses[n_rev_arms] = a;
    n_rev_arms += rev > 0;
  }
  return n_rev_arms;
}

static void sweeps(page *g) {
  const xplan *p = g->p;
  double seen[X_MAX_ARMS * X_MAX_WORLDS][2];
  int n_seen = 0;
  if (p->n_arm < 2)
    return;
  out(g, "## Sweeps: where do rankings change?\n\n"
         "Each arm changes one setting of the baseline and trains again, with the same seeds, worlds and test "
         "rows; the baseline column is the main grid's. Arms that change a setting only some variants read "
         "(the propensity clip, λ_c) retrain only those; the others' runs would be identical, and the "
         "baseline's stand for them. The arms: ");
  for (int a = 0; a < p->n_arm; a++) {
    const xarm *ar = &p->arm[a];
    if (a == g->main)
      continue;
    out(g, "%s%s (", a == 1 ? "" : "; ", ar->label);
    if (ar->rows)
      out(g, "%zu training rows", ar->rows);
    else if (ar->early_stop)
      out(g, "train on 80 %% of the rows, up to 8 epochs, keep the best by the CTCVR log-loss on the other 20 %%, "
             "patience 2");
    else if (ar->sim[0])
      out(g, "simulator `%s`", ar->sim[0]);
    else if (ar->model[0])
      out(g, "`%s`", ar->model[0]);
    out(g, ")");
  }
  out(g, ". Cells give mean ± 95 %% interval half-width and, in parentheses, the rank of the mean among the "
         "rows of the column (1 = lowest RMSE).\n\n");
  for (int a = 0; a < p->n_arm; a++)
    for (int w = 0; a != g->main && w < p->arm[a].n_world; w++) {
      double conf = p->arm[a].world[w].conf, ctr = p->arm[a].world[w].ctr;
      int arms[X_MAX_ARMS], worlds[X_MAX_ARMS], n, dup = 0, t_rev[2], rev_arms[2][X_MAX_ARMS];
      static const int truths[2] = {T_CF, T_CVR};
      for (int k = 0; k < n_seen; k++)
        dup |= seen[k][0] == conf && seen[k][1] == ctr;
      if (dup)
        continue;
      seen[n_seen][0] = conf;
      seen[n_seen][1] = ctr;
      n_seen++;
      n = sweep_arms(g, conf, ctr, arms, worlds);
      if (n < 2 || arms[0] != g->main)
        continue;
      out(g, "### Confounding %g, CTR %g\n\n", conf, ctr);
      for (int k = 0; k < 2; k++) {
        int t = truths[k], tab, tab2;
        tab = caption(g, "RMSE of pCVR against %s, all impressions, confounding %g, CTR %g, per arm (rank).",
                      truth_md[t], conf, ctr);
        sweep_table(g, n, arms, worlds, C_ERR(t, S_ALL, XM_RMSE));
        tab2 = caption(g, "The setting's effect: RMSE against %s in the arm minus the baseline's, paired by seed.",
                       truth_md[t]);
        sweep_effect_table(g, n, arms, worlds, C_ERR(t, S_ALL, XM_RMSE));
        (void)tab2;
        if (vi("esmm") >= 0) {
          caption(g, "Each row's RMSE against %s minus ESMM's in the same arm, paired by seed (below 0: closer "
                     "than ESMM there).",
                  truth_md[t]);
          sweep_vs_table(g, n, arms, worlds, C_ERR(t, S_ALL, XM_RMSE), vi("esmm"));
        }
        t_rev[k] = sweep_flips(g, n, arms, worlds, C_ERR(t, S_ALL, XM_RMSE), truth_txt[t], tab, rev_arms[k]);
        out(g, "\n");
      }
      out(g, "Settings that reverse a significant order here: against p(r=1|x) ");
      if (!t_rev[0])
        out(g, "none");
      for (int k = 0; k < t_rev[0]; k++)
        out(g, "%s%s", k ? ", " : "", p->arm[rev_arms[0][k]].label);
      out(g, "; against p(z=1|y=1,x) ");
      if (!t_rev[1])
        out(g, "none");
      for (int k = 0; k < t_rev[1]; k++)
        out(g, "%s%s", k ? ", " : "", p->arm[rev_arms[1][k]].label);
      out(g, ".\n\n");
    }
}

/* ---- the page ------------------------------------------------------------ */

static void setup(page *g, const char *raw_name) {
  const xplan *p = g->p;
  const xarm *m = &p->arm[g->main];
  double secs = 0;
  int models = 0;
  out(g, "# What does pCVR estimate?\n\n"
         "*Generated by `esmm experiment` (`make experiment`) from the runs in `%s`; `esmm experiment --set "
         "from_raw=%s` rewrites this page and its plots byte for byte. Do not edit by hand: edit "
         "`cli/experiment_page.c`; the last section is the hand-written `what-pcvr-estimates.reading.md`.*\n\n",
      raw_name, raw_name);
  out(g, "ESMM's paper reads the CVR tower as p(z=1|y=1,x); a widely read critique (the seed of this library) says "
         "that, trained on the entire impression space, it learns p(z=1|x) instead; ESCM2 (SIGIR 2022) says it is "
         "biased against the counterfactual p(r=1|x), the conversion rate an impression would have if it were "
         "clicked. The simulator (`esmm/sim.h`) knows all three for every impression, so this page measures, for "
         "every variant the library implements, how far pCVR is from each of them, next to references that show "
         "what the numbers can and cannot tell.\n\n");
  out(g, "## Setup\n\n");
  out(g, "- Worlds: the Ali-CCP-shaped simulator (23 fields, users with common features); conversions per click "
         "E[p(y=1,z=1|x)]/E[p(y=1|x)] = 0.1; mean CTR");
  {
    double seen[X_MAX_WORLDS];
    int ns = 0;
    for (int w = 0; w < m->n_world; w++) {
      int d = 0;
      for (int k = 0; k < ns; k++)
        d |= seen[k] == m->world[w].ctr;
      if (!d) {
        out(g, "%s %g", ns ? " or" : "", m->world[w].ctr);
        seen[ns++] = m->world[w].ctr;
      }
    }
  }
  out(g, "; click–conversion correlation of the per-id effects 0.3 (the simulator's default); a latent u ~ N(0,1) "
         "per impression, unseen by the models, added to the click and the conversion logit with equal loadings "
         "a = b =");
  {
    double seen[X_MAX_WORLDS];
    int ns = 0;
    for (int w = 0; w < m->n_world; w++) {
      int d = 0;
      for (int k = 0; k < ns; k++)
        d |= seen[k] == m->world[w].conf;
      if (!d) {
        out(g, "%s %g", ns ? "," : "", m->world[w].conf);
        seen[ns++] = m->world[w].conf;
      }
    }
  }
  out(g, " (\"confounding\"; 0 = clicks select on observed features only, and then p(r=1|x) = p(z=1|y=1,x)). "
         "With a, b > 0 a click is evidence of a high u, so p(z=1|y=1,x) > p(r=1|x).\n");
  out(g, "- Data: %zu training and %zu test impressions per world; seeds per world:", p->rows, p->test_rows);
  for (int w = 0; w < m->n_world; w++)
    out(g, "%s %d at confounding %g, CTR %g", w ? "," : "", x_seeds(p, g->main, w), m->world[w].conf,
        m->world[w].ctr);
  out(g, " (a seed changes the world, the draws and the model initialisation; the most seeds go where verdicts "
         "are close). Every model of a world and seed trains on the same rows from the same initial seed, and "
         "every arm of a world is tested on the same rows.\n");
  out(g, "- Models: small on purpose (hundreds train on one core): embedding dimension 8, 16384 buckets per field, "
         "towers input→32→16→1, Adam lr 0.002, batch 512, 2 epochs, one thread each; λ_c = 1, λ_g "
         "(`loss_weight_ctcvr`) = 1, propensity clip 0.01, no gradient through the propensity, unless a row "
         "below says otherwise.");
  if (p->n_user_set) {
    out(g, " Options given on the command line for every model:");
    for (int i = 0; i < p->n_user_set; i++)
      out(g, " `%s`", p->user_set[i]);
    out(g, ".");
  }
  out(g, "\n");
  out(g, "- Measures (`esmm/diag.h`): RMSE, mean bias (pCVR − truth), Pearson correlation and calibration error "
         "of pCVR against each truth over the test impressions; AUCs. Statistics: each cell is the mean over "
         "seeds ± the half-width of its 95 %% t interval (t(0.975, n−1)·sd/√n); a difference is paired by seed "
         "and shown as mean [95 %% interval], **bold** when the interval excludes 0. The intervals are per "
         "comparison and not adjusted for their number: where nothing differs, about 1 in 20 bold cells is "
         "chance. The generated findings and the reading below state a difference only where its interval "
         "excludes 0.\n");
  for (int a = 0; a < p->n_arm; a++)
    for (int w = 0; w < p->arm[a].n_world; w++)
      for (int s = 0; s < p->n_seeds; s++)
        for (int v = 0; v < x_n_variants; v++) {
          const xrun *r;
          if (x_variants[v].kind != XK_TRAINED || !x_arm_own(p, a, v))
            continue;
          r = x_run(p, a, w, s, v);
          if (r->have && isfinite(r->v[C_SECONDS])) {
            secs += r->v[C_SECONDS];
            models++;
          }
        }
  out(g, "- Cost: %d models trained in %.0f s of training time (%.1f s each on average, one thread, on a shared "
         "machine).\n\n",
      models, secs, models ? secs / models : 0.0);
  out(g, "| row | what it minimises, or what it is |\n|---|---|\n");
  for (int v = 0; v < x_n_variants; v++)
    if (x_arm_has(p, g->main, v))
      out(g, "| %s | %s |\n", x_variants[v].label, x_variants[v].loss);
  out(g, "\nESCM2-DR's CVR tower gets exactly ESCM2-IPS's gradient, y·e′/p, *because* the squared imputation term "
         "stops the gradient of e (the library's choice, `esmm/config.h`): without it, as in the authors' code "
         "form, the tower also gets 2·y·(e − ê)·e′/p, and DR's CVR tower differs from IPS's by more than the "
         "imputation tower's pull on the shared embedding. Multi-IPW, Multi-DR and DCMT fit the variant table "
         "(DCMT's counterfactual tower is the third tower, stored as `cf.*`); none needed a part it cannot "
         "express.\n\n");
}

int x_page_write(const xplan *p, const char *doc, const char *img_dir, const char *img_rel, const char *reading,
                 const char *raw_name) {
  page g;
  int a, t1, t2, t3, t4, t5, t6, t7, t8, t9, tc, ta;
  char path[1400];
  memset(&g, 0, sizeof g);
  g.p = p;
  g.main = 0;
  g.f = fopen(doc, "w");
  if (!g.f)
    return -1;
  a = g.main;
  setup(&g, raw_name);

  out(&g, "## The main grid\n\n");
  t1 = caption(&g, "Which truth is pCVR closer to? RMSE against p(r=1\\|x) minus RMSE against p(z=1\\|y=1,x), all "
                   "test impressions, paired by seed. Above 0: closer to p(z=1\\|y=1,x); below 0: closer to "
                   "p(r=1\\|x). The row %s is the RMSE between the two truths.",
               x_variants[vi("truth_cvr")].label);
  table_diffs(&g, a, C_ERR(T_CF, S_ALL, XM_RMSE), C_ERR(T_CVR, S_ALL, XM_RMSE), -1, 0);
  t2 = caption(&g, "The critique's reading: RMSE against p(z=1\\|x) minus RMSE against p(z=1\\|y=1,x), all "
                   "test impressions. Above 0: closer to p(z=1\\|y=1,x).");
  table_diffs(&g, a, C_ERR(T_CTCVR, S_ALL, XM_RMSE), C_ERR(T_CVR, S_ALL, XM_RMSE), -1, 0);
  t3 = caption(&g, "RMSE of pCVR against p(z=1\\|y=1,x), all test impressions.");
  table_values(&g, a, C_ERR(T_CVR, S_ALL, XM_RMSE), 4, 0);
  t4 = caption(&g, "RMSE of pCVR against p(r=1\\|x), all test impressions.");
  table_values(&g, a, C_ERR(T_CF, S_ALL, XM_RMSE), 4, 0);
  caption(&g, "RMSE of pCVR against p(z=1\\|x), all test impressions.");
  table_values(&g, a, C_ERR(T_CTCVR, S_ALL, XM_RMSE), 4, 0);
  t5 = t6 = t7 = t8 = -1;
  if (vi("esmm") >= 0 && x_arm_has(p, a, vi("esmm"))) {
    t5 = caption(&g, "Each model's RMSE against p(r=1\\|x) minus ESMM's, paired by seed (below 0: closer than "
                     "ESMM).");
    table_diffs(&g, a, C_ERR(T_CF, S_ALL, XM_RMSE), -1, vi("esmm"), 0);
    t6 = caption(&g, "Each model's RMSE against p(z=1\\|y=1,x) minus ESMM's, paired by seed.");
    table_diffs(&g, a, C_ERR(T_CVR, S_ALL, XM_RMSE), -1, vi("esmm"), 0);
  }
  if (vi("const") >= 0) {
    t7 = caption(&g, "Each model's RMSE against p(r=1\\|x) minus the constant pCVR's (the training rows' "
                     "conversions per click), paired by seed. Below 0: the model beats the uninformed baseline.");
    table_diffs(&g, a, C_ERR(T_CF, S_ALL, XM_RMSE), -1, vi("const"), 1);
    t8 = caption(&g, "Each model's RMSE against p(z=1\\|y=1,x) minus the constant pCVR's, paired by seed.");
    table_diffs(&g, a, C_ERR(T_CVR, S_ALL, XM_RMSE), -1, vi("const"), 1);
  }
  caption(&g, "Mean bias (pCVR − truth) against p(r=1\\|x), all test impressions.");
  table_values(&g, a, C_ERR(T_CF, S_ALL, XM_BIAS), 4, 0);
  caption(&g, "Mean bias (pCVR − truth) against p(z=1\\|y=1,x), all test impressions.");
  table_values(&g, a, C_ERR(T_CVR, S_ALL, XM_BIAS), 4, 0);
  tc = caption(&g, "Pearson correlation of pCVR with p(r=1\\|x), all test impressions: how well pCVR tracks the "
                   "truth across x, whatever its level (the constant has none).");
  table_values(&g, a, C_ERR(T_CF, S_ALL, XM_CORR), 3, 1);
  caption(&g, "Pearson correlation of pCVR with p(z=1\\|y=1,x), all test impressions.");
  table_values(&g, a, C_ERR(T_CVR, S_ALL, XM_CORR), 3, 1);
  caption(&g, "RMSE of pCVR against p(z=1\\|y=1,x), clicked test impressions.");
  table_values(&g, a, C_ERR(T_CVR, S_CLICKED, XM_RMSE), 4, 0);
  caption(&g, "RMSE of pCVR against p(r=1\\|x), clicked test impressions.");
  table_values(&g, a, C_ERR(T_CF, S_CLICKED, XM_RMSE), 4, 0);
  caption(&g, "Calibration error against p(z=1\\|y=1,x): Σ over the deciles of pCVR of (rows/n)·\\|mean pCVR − "
              "mean truth\\|, all test impressions.");
  table_values(&g, a, C_ERR(T_CVR, S_ALL, XM_CAL), 4, 0);
  ta = caption(&g, "CVR AUC on clicked test impressions (the paper's measure); the oracle row is the true "
                   "p(z=1\\|y=1,x)'s AUC on the same rows.");
  world_header(&g, a, "variant");
  out(&g, "| oracle |");
  for (int w = 0; w < p->arm[a].n_world; w++) {
    xsum s;
    x_sum(p, a, w, vi("truth_cvr"), C_ORACLE_CVR_CLICKED, &s);
    cell_ms(&g, &s, 4);
  }
  out(&g, "\n");
  for (int v = 0; v < x_n_variants; v++) {
    if (!row_ok(&g, a, v, 1))
      continue;
    out(&g, "| %s |", x_variants[v].label);
    for (int w = 0; w < p->arm[a].n_world; w++) {
      xsum s;
      x_sum(p, a, w, v, C_AUC_CVR_CLICKED, &s);
      cell_ms(&g, &s, 4);
    }
    out(&g, "\n");
  }
  out(&g, "\n");
  t9 = -1;
  if (vi("esmm") >= 0 && x_arm_has(p, a, vi("esmm"))) {
    t9 = caption(&g, "The shape of the paper's Table 2: ESMM's CVR AUC on clicked impressions minus each model's, "
                     "paired by seed.");
    table_diffs(&g, a, C_AUC_CVR_CLICKED, -1, vi("esmm"), 1);
  }
  caption(&g, "CTCVR AUC, all test impressions (DIVISION's and the control's pCTCVR are their CTCVR towers).");
  table_values(&g, a, C_AUC_CTCVR, 4, 1);
  caption(&g, "ESCM2's bias test: mean pCVR over all test impressions minus the test rows' conversions per click "
              "Σz/Σy. The truth rows show what a perfect estimator of each truth would score.");
  table_diffs(&g, a, C_MEAN_PCVR_ALL, C_CPC_TEST, -1, 0);
  if (vi("division") >= 0 && x_arm_has(p, a, vi("division"))) {
    int vd = vi("division");
    caption(&g, "DIVISION: test impressions whose pCTCVR exceeded pCTR (pCVR clipped to 1), of %zu.", p->test_rows);
    world_header(&g, a, "variant");
    out(&g, "| %s |", x_variants[vd].label);
    for (int w = 0; w < p->arm[a].n_world; w++) {
      xsum s;
      x_sum(p, a, w, vd, C_CLIPS, &s);
      cell_ms(&g, &s, 1);
    }
    out(&g, "\n\n");
  }
  caption(&g, "Training time per model, seconds (wall time on a shared machine, one thread).");
  table_values(&g, a, C_SECONDS, 1, 1);

  out(&g, "Reliability diagrams (deciles of pCVR over all test impressions, averaged over seeds; x: mean pCVR of the "
          "decile, y: mean truth):\n\n");
  for (int w = 0; w < p->arm[a].n_world; w++) {
    const xworld *wd = &p->arm[a].world[w];
    if (wd->conf != 0 && wd->conf != 2)
      continue;
    out(&g, "Confounding %g, CTR %g:\n\n", wd->conf, wd->ctr);
    for (int t = 0; t < ESMM_DIAG_TRUTH_COUNT; t++) {
      snprintf(path, sizeof path, "%s/reliability-%s-conf%g-ctr%g.svg", img_dir, truth_file[t], wd->conf, wd->ctr);
      if (svg_reliability(&g, a, w, t, path) != 0) {
        fclose(g.f);
        return -1;
      }
      out(&g, "![%s against pCVR, confounding %g, CTR %g](%s/reliability-%s-conf%g-ctr%g.svg)\n", truth_txt[t],
          wd->conf, wd->ctr, img_rel, truth_file[t], wd->conf, wd->ctr);
    }
    out(&g, "\n");
  }

  out(&g, "## Findings (generated from the intervals above)\n\n");
  which_truth_findings(&g, T_CF, t1);
  which_truth_findings(&g, T_CTCVR, t2);
  truth_gap_finding(&g, t4);
  if (t5 > 0) {
    versus_findings(&g, vi("esmm"), T_CF, t5, "Against ESMM, on p(r=1|x)");
    versus_findings(&g, vi("esmm"), T_CVR, t6, "Against ESMM, on p(z=1|y=1,x)");
  }
  if (t7 > 0) {
    versus_findings(&g, vi("const"), T_CF, t7, "Against the constant, on p(r=1|x)");
    versus_findings(&g, vi("const"), T_CVR, t8, "Against the constant, on p(z=1|y=1,x)");
  }
  if (t9 > 0)
    auc_findings(&g, t9);
  (void)t3;
  (void)tc;
  (void)ta;
  out(&g, "\n");

  sweeps(&g);

  if (reading) {
    FILE *nf = fopen(reading, "r");
    if (nf) {
      char buf[4096];
      size_t k;
      while ((k = fread(buf, 1, sizeof buf, nf)) > 0)
        fwrite(buf, 1, k, g.f);
      fclose(nf);
    }
  }
  return fclose(g.f) == 0 ? 0 : -1;
}
