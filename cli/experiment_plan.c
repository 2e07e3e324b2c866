/* experiment_plan.c - the pCVR study's variants and arms (experiment.h).
 *
 * The main arm trains every variant on 3 confounding strengths x 2 CTR
 * levels; each sweep arm changes one setting of the main arm on the
 * confounded worlds, for the variants whose ranking is in question. An arm
 * that changes only a setting some variants ignore (the propensity clip,
 * lambda_c) trains only the variants that read it: the others' runs would
 * be bit-identical to the main arm's, which stand for them. */
#include "experiment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const xvariant x_variants[] = {
    {"esmm", "ESMM", XK_TRAINED, {"variant=esmm"}, "BCE(pCTR,y) + BCE(pCTR·pCVR, y·z); one shared embedding"},
    {"esmm_ns", "ESMM-NS", XK_TRAINED, {"variant=esmm_ns"}, "the same; the CVR tower has its own embedding table"},
    {"esmm_click",
     "ESMM + click loss",
     XK_TRAINED,
     {"variant=esmm", "cvr_click_weight=1"},
     "ESMM + y·BCE(pCVR, z)"},
    {"base",
     "BASE",
     XK_TRAINED,
     {"variant=base"},
     "CTR model: BCE(pCTR,y); CVR model (own table): y·BCE(pCVR,z); pCTCVR = product"},
    {"division",
     "DIVISION",
     XK_TRAINED,
     {"variant=division"},
     "CTR model: BCE(pCTR,y); CTCVR model (own table): BCE(pCTCVR, y·z); pCVR = min(1, pCTCVR/pCTR)"},
    {"escm2_ips",
     "ESCM2-IPS",
     XK_TRAINED,
     {"variant=escm2_ips"},
     "ESMM + λ_c·y·e/p; e = BCE(pCVR,z), p = max(pCTR, clip), no gradient through p (the paper's R_IPS, ÷ B)"},
    {"escm2_dr",
     "ESCM2-DR",
     XK_TRAINED,
     {"variant=escm2_dr"},
     "ESMM + λ_c·[ê + y(e−ê)/p + y(sg(e)−ê)²/p], ê = softplus(imputation tower), sg = stop-gradient"},
    {"escm2_ips_code",
     "ESCM2-IPS (code)",
     XK_TRAINED,
     {"variant=escm2_ips", "escm2_form=code", "lambda_c=0.5", "loss_weight_ctcvr=0.5"},
     "the authors' code: BCE(pCTR,y) + 0.5·BCE(pCTR·pCVR, y·z) + 0.5·B·y·e·min(1/(pCTR·C), 15), C = clicks "
     "in the batch (the paper's risk × B/C), no clip"},
    {"escm2_dr_code",
     "ESCM2-DR (code)",
     XK_TRAINED,
     {"variant=escm2_dr", "escm2_form=code", "lambda_c=0.5", "loss_weight_ctcvr=0.5"},
     "the authors' code: BCE(pCTR,y) + 0.5·BCE(pCTR·pCVR, y·z) + 0.5·[ê + y(e−ê)w + y(e−ê)²w], w = "
     "min(1/pCTR, 15), ê = sigmoid(imputation tower), no stop-gradient on e"},
    {"multi_ipw",
     "Multi-IPW",
     XK_TRAINED,
     {"variant=multi_ipw"},
     "BCE(pCTR,y) + λ_c·y·e/p (Zhang et al. 2020; ESCM2-IPS without the CTCVR term)"},
    {"multi_dr",
     "Multi-DR",
     XK_TRAINED,
     {"variant=multi_dr"},
     "BCE(pCTR,y) + λ_c·[ê + y(e−ê)/p + y(sg(e)−ê)²/p] (Zhang et al. 2020)"},
    {"dcmt",
     "DCMT",
     XK_TRAINED,
     {"variant=dcmt"},
     "ESMM + λ_c·[y·e/p + (1−y)·BCE(pCVR*, 1)/q + 0.001·|1 − pCVR − pCVR*|], q = max(1 − pCTR, clip), "
     "pCVR* = counterfactual tower (Zhu et al. 2023)"},
    {"escm2_ips_true",
     "ESCM2-IPS, true p",
     XK_TRAINED,
     {"variant=escm2_ips", "propensity=truth"},
     "control: ESCM2-IPS with p = max(p(y=1|x), clip), the simulator's true click probability"},
    {"tower_yz",
     "tower fit to y·z",
     XK_TOWER_YZ,
     {NULL},
     "control: DIVISION's CTCVR tower (own table, BCE(σ(t), y·z) over all impressions) read as pCVR; it "
     "should land on p(z=1|x)"},
    {"const", "constant Σz/Σy", XK_CONST, {NULL}, "reference: pCVR = the training rows' conversions per click"},
    {"truth_cvr", "p(z=1\\|y=1,x) itself", XK_TRUTH_CVR, {NULL}, "reference: the truth p(z=1|y=1,x) as pCVR"},
    {"truth_cf", "p(r=1\\|x) itself", XK_TRUTH_CF, {NULL}, "reference: the truth p(r=1|x) as pCVR"},
};
const int x_n_variants = (int)(sizeof x_variants / sizeof x_variants[0]);

int x_variant_index(const char *key) {
  for (int v = 0; v < x_n_variants; v++)
    if (strcmp(x_variants[v].key, key) == 0)
      return v;
  return -1;
}

static uint32_t bits_of(const char *const *keys) {
  uint32_t b = 0;
  for (; *keys; keys++) {
    int v = x_variant_index(*keys);
    if (v >= 0)
      b |= 1u << v;
  }
  return b;
}

static const char *const cols_measure[XM_COUNT] = {"rmse", "bias", "truth", "cal", "corr"};
static const char *const cols_truth[ESMM_DIAG_TRUTH_COUNT] = {"cvr", "ctcvr", "cf"};
static const char *const cols_subset[2] = {"all", "clicked"};

const char *x_col_name(int c) {
  static const char *const fixed[C_ERR0] = {"auc_ctr",        "auc_cvr_clicked", "auc_cvr_all",        "auc_ctcvr",
                                            "oracle_cvr_clicked", "oracle_ctcvr", "mean_pcvr_all",
                                            "mean_pcvr_clicked",  "cpc_test",     "cpc_train",
                                            "clips",              "seconds",      "epochs"};
  static char names[N_COL][32];
  if (c < 0 || c >= N_COL)
    return "?";
  if (c < C_ERR0)
    return fixed[c];
  if (!names[c][0]) { /* filled on first use; the CLI calls this from one thread before the workers start */
    if (c < C_BIN_PRED0) {
      int k = c - C_ERR0, m = k % XM_COUNT, ts = k / XM_COUNT;
      snprintf(names[c], sizeof names[c], "%s_%s_%s", cols_measure[m], cols_subset[ts % 2], cols_truth[ts / 2]);
    } else if (c < C_BIN_PRED0 + ESMM_DIAG_BINS) {
      snprintf(names[c], sizeof names[c], "bin%d_pred", c - C_BIN_PRED0);
    } else {
      int k = c - C_BIN_PRED0 - ESMM_DIAG_BINS;
      snprintf(names[c], sizeof names[c], "bin%d_%s", k % ESMM_DIAG_BINS, cols_truth[k / ESMM_DIAG_BINS]);
    }
  }
  return names[c];
}

static xarm *add_arm(xplan *p, const char *key, const char *label) {
  xarm *a = &p->arm[p->n_arm++];
  memset(a, 0, sizeof *a);
  a->key = key;
  a->label = label;
  a->base = -1;
  return a;
}

static void add_world(xarm *a, double conf, double ctr, int seeds) {
  a->world[a->n_world].conf = conf;
  a->world[a->n_world].ctr = ctr;
  a->world[a->n_world].seeds = seeds;
  a->n_world++;
}

int x_plan_init(xplan *p) {
  /* the variants whose ranking the sweeps follow (the critique's three and
   * the authors' code form of ESCM2-IPS), and those that read the
   * propensity clip or lambda_c */
  static const char *const sweep[] = {"esmm", "base", "escm2_ips", "escm2_ips_code", NULL};
  static const char *const clip_readers[] = {"escm2_ips", "escm2_dr", "dcmt", NULL};
  static const char *const lambda_readers[] = {"escm2_ips", "escm2_dr", NULL};
  static const char *const quick_main[] = {"esmm", "base", "division", "escm2_ips", NULL};
  static const char *const quick_sweep[] = {"escm2_ips", NULL};
  uint32_t all = 0;
  xarm *a;
  size_t slots;
  /* the seeds of the worlds without close verdicts (confounding 0: the
   * truths are equal; 1: between the other two) */
  int few = p->n_seeds > 5 ? 5 : p->n_seeds;
  for (int v = 0; v < x_n_variants; v++)
    if (x_variants[v].kind == XK_TRAINED)
      all |= 1u << v;
  p->n_arm = 0;
  if (p->quick) {
    /* two worlds where the main effects are largest, the variants whose
     * losses differ most, and one sweep arm, to exercise every path */
    a = add_arm(p, "main", "main");
    add_world(a, 0, 0.2, 0);
    add_world(a, 2, 0.2, 0);
    a->trained = bits_of(quick_main);
    a = add_arm(p, "clip_0.05", "propensity clip 0.05");
    a->model[0] = "propensity_clip=0.05";
    a->base = 0;
    add_world(a, 2, 0.2, 0);
    a->trained = bits_of(quick_sweep);
  } else {
    /* the sweeps run on the world where the rankings are in question
     * (confounding 2, CTR 0.04: the constant and BASE against the rest) */
    const double sc = 2, sr = 0.04;
    a = add_arm(p, "main", "baseline");
    for (int c = 0; c < 3; c++) {
      add_world(a, c, 0.2, c == 2 ? 0 : few);
      add_world(a, c, 0.04, c == 2 ? 0 : few);
    }
    a->trained = all;
    a = add_arm(p, "rows_4x", "4 × training rows");
    a->rows = 4 * p->rows;
    add_world(a, sc, sr, 0);
    a->trained = bits_of(sweep);
    a = add_arm(p, "early_stop", "early stopping");
    a->early_stop = 1;
    add_world(a, sc, sr, 0);
    a->trained = bits_of(sweep);
    a = add_arm(p, "clip_0.05", "clip 0.05");
    a->model[0] = "propensity_clip=0.05";
    a->base = 0;
    add_world(a, sc, sr, 0);
    a->trained = bits_of(clip_readers);
    a = add_arm(p, "lambda_0.1", "λ_c 0.1");
    a->model[0] = "lambda_c=0.1";
    a->base = 0;
    add_world(a, sc, sr, 0);
    a->trained = bits_of(lambda_readers);
    a = add_arm(p, "lambda_3", "λ_c 3");
    a->model[0] = "lambda_c=3";
    a->base = 0;
    add_world(a, sc, sr, 0);
    a->trained = bits_of(lambda_readers);
    a = add_arm(p, "corr_0", "click–conversion corr. 0");
    a->sim[0] = "cvr_ctr_corr=0";
    add_world(a, sc, sr, 0);
    a->trained = bits_of(sweep);
  }
  slots = 0;
  for (int k = 0; k < p->n_arm; k++) {
    p->world_off[k] = slots;
    slots += (size_t)p->arm[k].n_world;
  }
  p->world_off[p->n_arm] = slots;
  for (int c = 0; c < N_COL; c++) /* the column names, before any worker thread */
    (void)x_col_name(c);
  if (x_n_variants > 32)
    return -1; /* the arms' bit masks and a cell's runs hold 32 */
  p->runs = calloc(slots * (size_t)p->n_seeds * (size_t)x_n_variants, sizeof *p->runs);
  if (!p->runs)
    return -1;
  {
    /* the signature: everything a run's numbers depend on besides the code */
    size_t k = 0;
    k += (size_t)snprintf(p->signature + k, sizeof p->signature - k, "%s seeds=%d rows=%zu test_rows=%zu",
                          p->quick ? "quick" : "full", p->n_seeds, p->rows, p->test_rows);
    for (int i = 0; i < p->n_user_set && k < sizeof p->signature; i++)
      k += (size_t)snprintf(p->signature + k, sizeof p->signature - k, " %s", p->user_set[i]);
  }
  return 0;
}

void x_plan_free(xplan *p) {
  free(p->runs);
  p->runs = NULL;
}

xrun *x_run(const xplan *p, int a, int w, int s, int v) {
  size_t slot = p->world_off[a] + (size_t)w;
  return &p->runs[(slot * (size_t)p->n_seeds + (size_t)s) * (size_t)x_n_variants + (size_t)v];
}

int x_world_of(const xplan *p, int a, double conf, double ctr) {
  for (int w = 0; w < p->arm[a].n_world; w++)
    if (fabs(p->arm[a].world[w].conf - conf) < 1e-9 && fabs(p->arm[a].world[w].ctr - ctr) < 1e-9)
      return w;
  return -1;
}

int x_seeds(const xplan *p, int a, int w) {
  int n = p->arm[a].world[w].seeds;
  return n > 0 && n < p->n_seeds ? n : p->n_seeds;
}

int x_arm_index(const xplan *p, const char *key) {
  for (int a = 0; a < p->n_arm; a++)
    if (strcmp(p->arm[a].key, key) == 0)
      return a;
  return -1;
}

/* The variants a cell of arm a computes itself: the trained ones, the
 * references, and DIVISION's tower with DIVISION. */
int x_arm_own(const xplan *p, int a, int v) {
  int kind = x_variants[v].kind, div = x_variant_index("division");
  if (kind == XK_TRAINED)
    return (p->arm[a].trained >> v) & 1;
  if (kind == XK_TOWER_YZ)
    return div >= 0 && ((p->arm[a].trained >> div) & 1);
  return 1;
}

int x_arm_has(const xplan *p, int a, int v) {
  if (x_arm_own(p, a, v))
    return 1;
  return p->arm[a].base >= 0 && x_variants[v].kind <= XK_TOWER_YZ && x_arm_own(p, p->arm[a].base, v);
}

const xrun *x_get(const xplan *p, int a, int w, int s, int v) {
  const xrun *r;
  if (x_arm_own(p, a, v)) {
    r = x_run(p, a, w, s, v);
    return r->have ? r : NULL;
  }
  if (p->arm[a].base >= 0 && x_variants[v].kind <= XK_TOWER_YZ) {
    int b = p->arm[a].base, wb = x_world_of(p, b, p->arm[a].world[w].conf, p->arm[a].world[w].ctr);
    if (wb >= 0 && x_arm_own(p, b, v)) {
      r = x_run(p, b, wb, s, v);
      return r->have ? r : NULL;
    }
  }
  return NULL;
}

void x_cells_done(const xplan *p, int *done, int *total) {
  *done = *total = 0;
  for (int a = 0; a < p->n_arm; a++)
    for (int w = 0; w < p->arm[a].n_world; w++)
      for (int s = 0; s < x_seeds(p, a, w); s++) {
        int ok = 1;
        for (int v = 0; v < x_n_variants; v++)
          if (x_arm_own(p, a, v) && !x_run(p, a, w, s, v)->have)
            ok = 0;
        *done += ok;
        (*total)++;
      }
}
