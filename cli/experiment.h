/* experiment.h - what the pieces of `esmm experiment` share (the pCVR
 * study, docs/what-pcvr-estimates.md):
 *   experiment_plan.c   the variants, the arms (the main grid and the
 *                       sweeps), the run store and its lookups;
 *   experiment_run.c    one cell (a world, a seed, an arm): data, training,
 *                       diagnosis; the raw file (appended per cell, read
 *                       back to resume or to write the page);
 *   experiment_stats.c  means, t intervals, paired differences;
 *   experiment_page.c   the page and its plots, written from the runs alone;
 *   cmd_experiment.c    the command.
 * A "run" is one model (or reference) of one cell; the page is a function of
 * the raw file (and the hand-written reading next to it) only, so that
 * `--set from_raw=` rewrites it byte for byte. */
#ifndef ESMM_CLI_EXPERIMENT_H
#define ESMM_CLI_EXPERIMENT_H

#include "cli.h"

#include <stdint.h>

#define X_MAX_SEEDS 32
#define X_MAX_ARMS 12
#define X_MAX_WORLDS 6
#define X_MAX_OPTS 6

/* ---- variants ------------------------------------------------------------- */

/* What a row of the tables is. */
enum {
  XK_TRAINED = 0,   /* a model trained with the variant's options */
  XK_TOWER_YZ = 1,  /* control: DIVISION's CTCVR tower (fit to y z on all impressions) read as pCVR */
  XK_CONST = 2,     /* reference: pCVR = the training rows' conversions per click, everywhere */
  XK_TRUTH_CVR = 3, /* reference: p(z=1|y=1,x) itself */
  XK_TRUTH_CF = 4   /* reference: p(r=1|x) itself */
};

typedef struct xvariant {
  const char *key;   /* the raw file's name of it */
  const char *label; /* the tables' */
  int kind;
  const char *opts[X_MAX_OPTS]; /* model options "name=value" (XK_TRAINED), NULL-terminated */
  const char *loss;             /* what it minimises or is (Markdown) */
} xvariant;

extern const xvariant x_variants[];
extern const int x_n_variants;
int x_variant_index(const char *key); /* -1 when unknown */

/* ---- plan ----------------------------------------------------------------- */

typedef struct xworld {
  double conf, ctr;
  int seeds; /* seeds run in this world: 0 = the plan's n_seeds (its maximum) */
} xworld;

typedef struct xarm {
  const char *key, *label;
  size_t rows;               /* training rows; 0 = the plan's */
  int early_stop;            /* train on 80 % with esmm_model_fit, early stopping on the other 20 % */
  const char *sim[4];        /* simulator options "name=value", NULL-terminated */
  const char *model[4];      /* model options after the variant's, NULL-terminated */
  int base;                  /* arm whose runs stand for the variants this one does not train, or -1 */
  int n_world;
  xworld world[X_MAX_WORLDS];
  uint32_t trained;          /* bit v: x_variants[v] is trained in this arm */
} xarm;

/* Columns of a run: every number the page uses. */
enum {
  C_AUC_CTR,
  C_AUC_CVR_CLICKED,
  C_AUC_CVR_ALL,
  C_AUC_CTCVR,
  C_ORACLE_CVR_CLICKED, /* the true probabilities' AUCs on the same test set */
  C_ORACLE_CTCVR,
  C_MEAN_PCVR_ALL,
  C_MEAN_PCVR_CLICKED,
  C_CPC_TEST, /* conversions per click, test rows */
  C_CPC_TRAIN,
  C_CLIPS,
  C_SECONDS, /* training wall time */
  C_EPOCHS,  /* epochs trained (early stopping: at the kept model) */
  C_ERR0     /* C_ERR(t, s, m) */
};
/* measures of pCVR against truth t (esmm_diag_truth) over subset s (esmm_diag_subset) */
enum { XM_RMSE, XM_BIAS, XM_TRUTH, XM_CAL, XM_CORR, XM_COUNT };
#define C_ERR(t, s, m) (C_ERR0 + ((t) * 2 + (s)) * XM_COUNT + (m))
#define C_BIN_PRED0 (C_ERR0 + ESMM_DIAG_TRUTH_COUNT * 2 * XM_COUNT)
#define C_BIN_TRUTH(t, b) (C_BIN_PRED0 + ESMM_DIAG_BINS + (t) * ESMM_DIAG_BINS + (b))
#define N_COL (C_BIN_PRED0 + ESMM_DIAG_BINS * (1 + ESMM_DIAG_TRUTH_COUNT))

/* The column's name in the raw file (static storage). */
const char *x_col_name(int c);

typedef struct xrun {
  int have;
  double v[N_COL];
} xrun;

typedef struct xplan {
  int quick, n_seeds, workers, quiet; /* n_seeds: the most any world runs */
  size_t rows, test_rows;
  int n_arm;
  xarm arm[X_MAX_ARMS];
  const char *user_set[CLI_MAX_SET]; /* model options of --set, applied to every model last */
  int n_user_set;
  size_t world_off[X_MAX_ARMS + 1]; /* arm a's worlds are slots world_off[a] .. world_off[a+1] */
  xrun *runs;                       /* [world slot][seed][variant] */
  char signature[2048];             /* what the runs depend on; the raw file must match it */
} xplan;

/* Fill p for the full study or the quick check (p->quick), the seeds,
 * rows and user options already set; allocate the runs. 0, or -1 (out of
 * memory). */
int x_plan_init(xplan *p);
void x_plan_free(xplan *p);

/* This arm's own run of (world w, seed s, variant v). */
xrun *x_run(const xplan *p, int a, int w, int s, int v);
/* The run that stands for (a, w, s, v): its own, or for a variant the arm
 * does not train, the base arm's in the same world; NULL when none holds. */
const xrun *x_get(const xplan *p, int a, int w, int s, int v);
/* Does a cell of arm a compute variant v itself (trained there, a
 * reference, DIVISION's tower with DIVISION)? */
int x_arm_own(const xplan *p, int a, int v);
/* Does arm a have rows of variant v (its own or inherited)? */
int x_arm_has(const xplan *p, int a, int v);
/* The world of arm a with (conf, ctr), or -1. */
int x_world_of(const xplan *p, int a, double conf, double ctr);
int x_arm_index(const xplan *p, const char *key);
/* Seeds run in world w of arm a (1 .. p->n_seeds). */
int x_seeds(const xplan *p, int a, int w);

/* ---- running, raw file ---------------------------------------------------- */

/* Train every cell not yet in the runs, appending each finished cell's runs
 * to raw (already open for appending). 0, or EXIT_LIB after a message. */
int x_run_all(xplan *p, FILE *raw);
/* Read a raw file into the runs (lines of other grids refused: -1 with a
 * message); n_out: the runs read. A missing file is 0 runs when
 * missing_ok. */
int x_raw_read(xplan *p, const char *path, int missing_ok, size_t *n_out);
/* Open path for appending runs: write the header when the file is new or
 * empty, drop a torn last line. NULL after a message. */
FILE *x_raw_open(const xplan *p, const char *path);
/* Cells whose runs are all present, and all cells. */
void x_cells_done(const xplan *p, int *done, int *total);

/* ---- statistics ----------------------------------------------------------- */

typedef struct xsum {
  int n;        /* seeds with a finite value */
  double mean, sd;
  double half;  /* half-width of the 95 % t interval of the mean (0 when n < 2) */
  int tie;      /* a difference that is exactly 0 in every seed */
} xsum;

double x_t975(int df);
/* Column c of (a, w, v) over the seeds. */
void x_sum(const xplan *p, int a, int w, int v, int c, xsum *out);
/* Paired by seed: column ca of (a1, w1, v1) minus column cb of (a2, w2, v2). */
void x_diff(const xplan *p, int a1, int w1, int v1, int ca, int a2, int w2, int v2, int cb, xsum *out);
/* +1 when the interval lies above 0, -1 below, 0 when it contains 0 (or n < 2). */
int x_sign(const xsum *s);

/* ---- page ----------------------------------------------------------------- */

/* Write the page to doc (plots into img_dir, linked as img_rel/NAME.svg),
 * appending the hand-written reading when the file exists. raw_name is
 * how the page names its raw file. 0, or -1. */
int x_page_write(const xplan *p, const char *doc, const char *img_dir, const char *img_rel, const char *reading,
                 const char *raw_name);

#endif /* ESMM_CLI_EXPERIMENT_H */
