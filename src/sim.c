/* sim.c - Ali-CCP-shaped impressions with known click and conversion
 * probabilities (esmm/sim.h).
 *
 * The generative model. Everything hidden is a pure function of a "world"
 * key W = mix(ESMM_SIM_SEED); nothing is tabulated except small Zipf CDFs,
 * so a world of 1e9 users costs no memory.
 *
 *   Ids. Popularity ranks are Zipf(ESMM_SIM_ZIPF) distributed: users over
 *   ESMM_SIM_USERS and items over ESMM_SIM_ITEMS by rejection-inversion
 *   (Hoermann & Derflinger 1996; O(1), no table), small vocabularies by a
 *   CDF table. An id is its rank (1-based for users/items, 0-based else).
 *
 *   User u (common list, stored once per group, as in raw Ali-CCP):
 *     101 = u; 121 122 124 125 126 127 128 129 = attributes a_f drawn from
 *     the field's vocabulary (97 13 2 8 3 3 2 5 values) with the uniform
 *     hash(W, f, u); histories 109_14 (categories, 300), 110_14 (shops,
 *     2000), 127_14 (brands, 1500), 150_14 (tags/intentions, 1000): 5..40
 *     Zipf draws each from an rng keyed by (W, f, u), duplicates merged,
 *     count = 1 + Geometric(0.35) per draw capped at 20, value log(1+count).
 *   Item i (row): 205 = i; 206 category, 207 shop, 216 brand, 210 1..4
 *     distinct tags, each a Zipf draw with the uniform hash(W, f, i): a
 *     fixed function of the item.
 *   Cross (row, only when the overlap is non-empty; Ali-CCP's 508/509/702/
 *     853 are user-history x item-attribute crosses): 508 = the item's
 *     category if it is in 109_14, 509 = shop in 110_14, 702 = brand in
 *     127_14, 853 = each tag in 150_14; id = hash(field, element), value =
 *     log(1 + the user's count of that element).
 *   Context (row): 301 from a vocabulary of 10.
 *   Groups: a user (Zipf) gets 1 + Poisson(ESMM_SIM_ROWS_PER_USER - 1)
 *     impressions of independently drawn items and contexts.
 *
 *   Hidden logits. Every (field f, id) has effects
 *     wc = s_f (m_f + n1),  wv = s_f (m_f + rho n1 + sqrt(1 - rho^2) n2),
 *   n1, n2 approximately standard normal from hash(W, f, id) (sum of four
 *   uniforms), rho = ESMM_SIM_CVR_CTR_CORR. s_f is 0.12 for the huge id
 *   fields 101 and 205, 0.25..0.45 for attributes, category, shop, brand,
 *   tag, context and cross fields, so most signal sits in ids that recur;
 *   m_f = 0.5 for cross fields (interest in what one browses), else 0.
 *   A field's part is sum(value * w) / sqrt(number of its features in the
 *   impression). Plus a rank-4 user x item term on both logits:
 *   g * <p_u, q_c> / 2, p_u = sum of per-attribute normal vectors / sqrt(8),
 *   q_c (click) and q'_c (conversion, correlated by rho) normal vectors of
 *   the item's category.
 *     lc = b_c + SIGNAL * (sum of click parts + interaction)
 *     lv = b_v + SIGNAL * (sum of conversion parts + interaction')
 *   pCTR = sigmoid(lc), pCVR = sigmoid(lv), y ~ B(pCTR), z = y ? B(pCVR) : 0.
 *   b_c, b_v are found by bisection on 20000 pilot impressions from their
 *   own stream: mean p(y=1|x) = ESMM_SIM_CTR and E[p(y=1,z=1|x)] /
 *   E[p(y=1|x)] = ESMM_SIM_CVR.
 *
 *   Confounding (ESMM_SIM_CONF_CLICK = a, ESMM_SIM_CONF_CONV = b, both 0 by
 *   default): each impression has a latent u ~ N(0,1), unseen by any model,
 *   that enters both logits: y ~ B(s(lc + a u)), r ~ B(s(lv + b u)) (would
 *   convert if clicked), z = y r. With a, b > 0 a click is evidence of a
 *   high u, so p(z=1|y=1,x) > p(r=1|x): the clicked population converts
 *   more than the same x would if everyone clicked. The truths integrate u
 *   out exactly (40-node Gauss-Hermite; src/sim.h):
 *     p(y=1|x) = E_u s(lc + a u),  p(r=1|x) = E_u s(lv + b u),
 *     p(y=1,z=1|x) = E_u s(lc + a u) s(lv + b u),  p(z=1|y=1,x) = the ratio.
 *   With a = b = 0 nothing changes (no u is drawn, the rows and labels are
 *   those of earlier releases) and p(r=1|x) = p(z=1|y=1,x).
 *
 * Determinism: generate(n, stream) uses its own rng keyed by (W, stream),
 * the world and intercepts depend only on the options, so the same call
 * gives the same rows on every platform with IEEE doubles and a
 * correctly rounded libm for exp/log (glibc).
 *
 * Why one file of this length: the sampler and the exact truths it reports (p(y|x), p(z|y=1,x),
 * p(r|x), p(z|x)) read the same hidden functions; kept together so that a
 * change to one is seen beside the other. Sections: numbers, options, world,
 * generate.
 */
#include "internal.h"

#include "config.h"
#include "dataset.h"
#include "numparse.h"
#include "opttab.h"
#include "rng.h"
#include "sim.h"

#include <math.h>
#include <string.h>

/* Field indices: the order of the config's default field list. */
enum {
  F_USER = 0, /* 101 */
  F_ATTR0 = 1, /* 121 122 124 125 126 127 128 129 */
  F_H109 = 9,
  F_H110 = 10,
  F_H127 = 11,
  F_H150 = 12,
  F_ITEM = 13, /* 205 */
  F_CAT = 14,  /* 206 */
  F_SHOP = 15, /* 207 */
  F_TAG = 16,  /* 210 */
  F_BRAND = 17, /* 216 */
  F_X508 = 18,
  F_X509 = 19,
  F_X702 = 20,
  F_X853 = 21,
  F_CTX = 22, /* 301 */
  N_FIELDS = 23
};
#define N_ATTR 8
#define N_HIST 4

static const char *const field_names[N_FIELDS] = {"101",    "121",    "122",    "124",    "125",   "126",
                                                  "127",    "128",    "129",    "109_14", "110_14", "127_14",
                                                  "150_14", "205",    "206",    "207",    "210",   "216",
                                                  "508",    "509",    "702",    "853",    "301"};

/* Vocabularies of the table-sampled kinds. */
enum { T_ATTR0 = 0, T_CAT = 8, T_SHOP = 9, T_BRAND = 10, T_TAG = 11, T_CTX = 12, N_TABLES = 13 };
static const size_t table_size[N_TABLES] = {97, 13, 2, 8, 3, 3, 2, 5, 300, 2000, 1500, 1000, 10};
/* The table each history draws from, and the row field it crosses with. */
static const int hist_table[N_HIST] = {T_CAT, T_SHOP, T_BRAND, T_TAG};

/* Effect scales s_f (see the comment at the top). */
static const double field_scale[N_FIELDS] = {
    0.12,                                           /* 101 user id */
    0.17, 0.17, 0.17, 0.17, 0.17, 0.17, 0.17, 0.17, /* user attributes */
    0.13, 0.13, 0.13, 0.13,                         /* histories (values ~1.5) */
    0.12,                                           /* 205 item id */
    0.30, 0.22, 0.22, 0.22,                         /* 206 207 210 216 */
    0.25, 0.25, 0.25, 0.25,                         /* crosses */
    0.25                                            /* 301 context */
};
/* Conversion effect scales: purchase intent lives mostly in what recurs
 * (attributes, category, crosses), little in individual user and item ids,
 * so ESMM can learn it from the few conversions a realistic CVR gives. */
static const double cvr_scale[N_FIELDS] = {
    0.05,                                           /* 101 user id */
    0.22, 0.22, 0.22, 0.22, 0.22, 0.22, 0.22, 0.22, /* user attributes */
    0.06, 0.06, 0.06, 0.06,                         /* histories */
    0.05,                                           /* 205 item id */
    0.35, 0.15, 0.15, 0.15,                         /* 206 207 210 216 */
    0.25, 0.25, 0.25, 0.25,                         /* crosses */
    0.25                                            /* 301 context */
};
#define CROSS_MEAN 0.5
#define DIM 4
#define INTERACTION 0.25
#define MAX_HIST_LEN 40
#define MAX_TAGS 4
#define MAX_COMMON (1 + N_ATTR + N_HIST * MAX_HIST_LEN)
#define MAX_ROW (5 + MAX_TAGS + 3 + MAX_TAGS + 1)
#define BATCH 4096
#define PILOT 20000

/* Salt purposes per field. */
enum { P_WEIGHT = 0, P_DRAW = 1, P_VEC = 2, P_VEC2 = 3, P_CROSS = 4, N_PURPOSE = 5 };

/* Rejection-inversion Zipf sampler over 1..n with exponent e >= 0. */
typedef struct zipf_ri {
  double n, e, hx1, hxn, s;
} zipf_ri;

struct esmm_sim {
  esmm__allocator alloc;
  int64_t seed, users, items;
  double rows_per_user, zipf, ctr, cvr, signal, corr;
  double conf_click, conf_conv; /* loadings a, b of the latent u */
  int hist_max;                 /* ESMM_SIM_HIST_MAX: behaviour-history draws cap */
  double gh_x[ESMM__SIM_GH_NODES], gh_w[ESMM__SIM_GH_NODES];

  int ready; /* world, tables and intercepts match the options */
  uint64_t world;
  uint64_t salt[N_FIELDS][N_PURPOSE];
  zipf_ri zu, zi;
  double *cdf[N_TABLES];
  double bc, bv;
  char (*names)[ESMM_MAX_FIELD_NAME + 1];
};

/* ---------------------------------------------------------------- numbers */

static double unit(uint64_t h) { return (double)(h >> 11) * 0x1.0p-53; }

/* Approximately N(0,1): sum of four 16-bit uniforms, centred and scaled.
 * Cheap and deterministic; the tails stop at +-3.46, which hidden
 * effects do not need. */
static double hnormal(uint64_t h) {
  double s = (double)(h & 0xffff) + (double)((h >> 16) & 0xffff) + (double)((h >> 32) & 0xffff) +
             (double)(h >> 48);
  return (s / 65535.0 - 2.0) * 1.7320508075688772;
}

static double sigmoid(double x) {
  if (x >= 0)
    return 1.0 / (1.0 + exp(-x));
  double e = exp(x);
  return e / (1.0 + e);
}

static double h_fn(double x, double e) { return exp(-e * log(x)); }
static double helper1(double x) { return fabs(x) > 1e-8 ? log1p(x) / x : 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x)); }
static double helper2(double x) {
  return fabs(x) > 1e-8 ? expm1(x) / x : 1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x));
}
static double h_int(double x, double e) {
  double lx = log(x);
  return helper2((1.0 - e) * lx) * lx;
}
static double h_int_inv(double x, double e) {
  double t = x * (1.0 - e);
  if (t < -1.0)
    t = -1.0;
  return exp(helper1(t) * x);
}

static void zipf_init(zipf_ri *z, double n, double e) {
  z->n = n;
  z->e = e;
  z->hx1 = h_int(1.5, e) - 1.0;
  z->hxn = h_int(n + 0.5, e);
  z->s = 2.0 - h_int_inv(h_int(2.5, e) - h_fn(2.0, e), e);
}

static uint64_t zipf_draw(const zipf_ri *z, esmm__rng *r) {
  if (z->n <= 1.0)
    return 1;
  for (;;) {
    double u = z->hxn + esmm__rng_uniform(r) * (z->hx1 - z->hxn);
    double x = h_int_inv(u, z->e);
    double k = floor(x + 0.5);
    if (k < 1.0)
      k = 1.0;
    else if (k > z->n)
      k = z->n;
    if (k - x <= z->s || u >= h_int(k + 0.5, z->e) - h_fn(k, z->e))
      return (uint64_t)k;
  }
}

/* Rank in [0, size) of table t for the uniform u. */
static uint64_t table_draw(const esmm_sim *s, int t, double u) {
  const double *c = s->cdf[t];
  size_t lo = 0, hi = table_size[t] - 1;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (c[mid] > u)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

/* Click and conversion effects of (f, id), unscaled by SIGNAL. */
static void effect(const esmm_sim *s, int f, uint64_t id, double *wc, double *wv) {
  uint64_t h = esmm__mix64(s->salt[f][P_WEIGHT] ^ id);
  double n1 = hnormal(h), n2 = hnormal(esmm__mix64(h));
  double m = (f >= F_X508 && f <= F_X853) ? CROSS_MEAN : 0.0;
  *wc = field_scale[f] * (m + n1);
  *wv = cvr_scale[f] * (m + s->corr * n1 + sqrt(1.0 - s->corr * s->corr) * n2);
}

/* ---------------------------------------------------------------- options */

/* The shared option engine (opttab.h) validates and parses; store() puts
 * a checked value where it belongs. */
#define SIM_ROW(id, name, type, lo, hi) {id, name, #id, type, lo, hi, 0, 0, 0, NULL}
static const esmm__optrow sim_table[] = {
    SIM_ROW(ESMM_SIM_SEED, "seed", ESMM__OT_INT, 0, ESMM__OT_I64_END),
    SIM_ROW(ESMM_SIM_USERS, "users", ESMM__OT_INT, 1, 1e9),
    SIM_ROW(ESMM_SIM_ITEMS, "items", ESMM__OT_INT, 1, 1e9),
    SIM_ROW(ESMM_SIM_ROWS_PER_USER, "rows_per_user", ESMM__OT_FLOAT, 1, 1e4),
    SIM_ROW(ESMM_SIM_ZIPF, "zipf", ESMM__OT_FLOAT, 0, 4),
    SIM_ROW(ESMM_SIM_CTR, "ctr", ESMM__OT_FLOAT, 1e-4, 0.9),
    SIM_ROW(ESMM_SIM_CVR, "cvr", ESMM__OT_FLOAT, 1e-4, 0.9),
    SIM_ROW(ESMM_SIM_SIGNAL, "signal", ESMM__OT_FLOAT, 0, 10),
    SIM_ROW(ESMM_SIM_CVR_CTR_CORR, "cvr_ctr_corr", ESMM__OT_FLOAT, -1, 1),
    SIM_ROW(ESMM_SIM_CONF_CLICK, "conf_click", ESMM__OT_FLOAT, 0, 5),
    SIM_ROW(ESMM_SIM_CONF_CONV, "conf_conv", ESMM__OT_FLOAT, 0, 5),
    SIM_ROW(ESMM_SIM_HIST_MAX, "hist_max", ESMM__OT_INT, 1, MAX_HIST_LEN),
};
static const esmm__opttab sim_opts = {sim_table, sizeof sim_table / sizeof sim_table[0], "simulator option", NULL};

static void sim_store(esmm_sim *s, int opt, const esmm__optvalue *v) {
  switch (opt) {
  case ESMM_SIM_SEED: s->seed = v->i; break;
  case ESMM_SIM_USERS: s->users = v->i; break;
  case ESMM_SIM_ITEMS: s->items = v->i; break;
  case ESMM_SIM_ROWS_PER_USER: s->rows_per_user = v->f; break;
  case ESMM_SIM_ZIPF: s->zipf = v->f; break;
  case ESMM_SIM_CTR: s->ctr = v->f; break;
  case ESMM_SIM_CVR: s->cvr = v->f; break;
  case ESMM_SIM_SIGNAL: s->signal = v->f; break;
  case ESMM_SIM_CVR_CTR_CORR: s->corr = v->f; break;
  case ESMM_SIM_CONF_CLICK: s->conf_click = v->f; break;
  case ESMM_SIM_CONF_CONV: s->conf_conv = v->f; break;
  case ESMM_SIM_HIST_MAX: s->hist_max = (int)v->i; break;
  default: break;
  }
  s->ready = 0;
}

static int set_value(esmm_sim *s, int opt, esmm__optvalue v, const char *func) {
  esmm__optvalue ok;
  int r = esmm__opt_find(&sim_opts, opt);
  if (r < 0)
    return esmm__opt_unknown(&sim_opts, opt, func);
  ESMM__TRY(esmm__opt_check(&sim_opts, r, 0, v, &ok, func));
  sim_store(s, opt, &ok);
  return ESMM_OK;
}

int esmm_sim_set_int(esmm_sim *sim, int opt, int64_t value) {
  esmm__optvalue v = {1, value, 0.0};
  ESMM__CHECK_ARG(sim);
  return set_value(sim, opt, v, __func__);
}

int esmm_sim_set_float(esmm_sim *sim, int opt, double value) {
  esmm__optvalue v = {0, 0, value};
  ESMM__CHECK_ARG(sim);
  return set_value(sim, opt, v, __func__);
}

int esmm_sim_set_by_name(esmm_sim *sim, const char *name, const char *value) {
  esmm__optvalue v;
  int r;
  ESMM__CHECK_ARG(sim);
  ESMM__CHECK_ARG(name);
  ESMM__CHECK_ARG(value);
  r = esmm__opt_find_name(&sim_opts, name, 0);
  if (r < 0)
    return esmm__opt_unknown_name(&sim_opts, name, __func__);
  ESMM__TRY(esmm__opt_parse(&sim_opts, r, value, &v, __func__));
  sim_store(sim, sim_table[r].opt, &v);
  return ESMM_OK;
}

int esmm_sim_new(esmm_sim **out, const esmm_config *cfg) {
  esmm__allocator a;
  esmm_sim *s;
  ESMM__CHECK_ARG(out);
  *out = NULL;
  a = cfg ? cfg->alloc : esmm__allocator_default();
  s = esmm__calloc(&a, 1, sizeof *s);
  if (!s)
    return ESMM__ERR(ESMM_ENOMEM, "out of memory");
  s->alloc = a;
  s->seed = 1;
  s->users = 5000;
  s->items = 20000;
  s->rows_per_user = 20.0;
  s->zipf = 1.1;
  s->ctr = 0.04;
  s->cvr = 0.05;
  s->signal = 1.0;
  s->corr = 0.3;
  s->hist_max = MAX_HIST_LEN;
  s->names = esmm__calloc(&a, N_FIELDS, sizeof *s->names);
  for (int t = 0; t < N_TABLES && s->names; t++) {
    s->cdf[t] = esmm__calloc(&a, table_size[t], sizeof(double));
    if (!s->cdf[t]) {
      esmm_sim_free(s);
      return ESMM__ERR(ESMM_ENOMEM, "out of memory");
    }
  }
  if (!s->names) {
    esmm_sim_free(s);
    return ESMM__ERR(ESMM_ENOMEM, "out of memory");
  }
  for (int f = 0; f < N_FIELDS; f++)
    memcpy(s->names[f], field_names[f], strlen(field_names[f]) + 1);
  *out = s;
  return ESMM_OK;
}

void esmm_sim_free(esmm_sim *sim) {
  esmm__allocator a;
  if (!sim)
    return;
  a = sim->alloc;
  for (int t = 0; t < N_TABLES; t++)
    esmm__free(&a, sim->cdf[t]);
  esmm__free(&a, sim->names);
  esmm__free(&a, sim);
}

/* ---------------------------------------------------------------- world */

typedef struct hist {
  int n;
  uint64_t id[MAX_HIST_LEN];
  int count[MAX_HIST_LEN];
  float value[MAX_HIST_LEN];
} hist;

typedef struct user_ctx {
  uint64_t user;
  hist h[N_HIST];
  double lc, lv;  /* user fields' parts of the logits */
  double p[DIM];  /* interaction vector */
  size_t nnz;
  int field[MAX_COMMON];
  uint64_t id[MAX_COMMON];
  float value[MAX_COMMON];
} user_ctx;

typedef struct row_ctx {
  size_t nnz;
  int field[MAX_ROW];
  uint64_t id[MAX_ROW];
  float value[MAX_ROW];
  double lc, lv; /* raw logits: no intercept, no SIGNAL */
} row_ctx;

static void push(size_t *nnz, int *field, uint64_t *id, float *value, int f, uint64_t i, float v) {
  field[*nnz] = f;
  id[*nnz] = i;
  value[*nnz] = v;
  (*nnz)++;
}

static void make_user(const esmm_sim *s, uint64_t user, user_ctx *uc) {
  double wc, wv;
  uc->user = user;
  uc->nnz = 0;
  uc->lc = uc->lv = 0.0;
  for (int k = 0; k < DIM; k++)
    uc->p[k] = 0.0;

  push(&uc->nnz, uc->field, uc->id, uc->value, F_USER, user, 1.0f);
  effect(s, F_USER, user, &wc, &wv);
  uc->lc += wc;
  uc->lv += wv;

  for (int j = 0; j < N_ATTR; j++) {
    int f = F_ATTR0 + j;
    uint64_t a = table_draw(s, T_ATTR0 + j, unit(esmm__mix64(s->salt[f][P_DRAW] ^ user)));
    uint64_t hv = esmm__mix64(s->salt[f][P_VEC] ^ a);
    push(&uc->nnz, uc->field, uc->id, uc->value, f, a, 1.0f);
    effect(s, f, a, &wc, &wv);
    uc->lc += wc;
    uc->lv += wv;
    for (int k = 0; k < DIM; k++)
      uc->p[k] += hnormal(esmm__mix64(hv + (uint64_t)k)) / sqrt((double)N_ATTR);
  }

  for (int j = 0; j < N_HIST; j++) {
    int f = F_H109 + j;
    hist *h = &uc->h[j];
    esmm__rng r;
    int len;
    double sc = 0.0, sv = 0.0;
    esmm__rng_seed(&r, esmm__mix64(s->salt[f][P_DRAW] ^ user));
    /* 5..hist_max draws (5 + below(36) at the default 40, as before the
     * option existed; shorter caps give the lighter rows of a benchmark) */
    {
      int lo = s->hist_max < 5 ? s->hist_max : 5;
      len = lo + (int)esmm__rng_below(&r, (uint64_t)(s->hist_max - lo + 1));
    }
    h->n = 0;
    for (int d = 0; d < len; d++) {
      uint64_t id = table_draw(s, hist_table[j], esmm__rng_uniform(&r));
      /* 1 + Geometric(0.35): log(1 - u) / log(0.65) */
      int c = 1 + (int)floor(log(1.0 - esmm__rng_uniform(&r)) / -0.43078291609245423);
      int k;
      for (k = 0; k < h->n && h->id[k] != id; k++)
        ;
      if (k == h->n) {
        h->id[k] = id;
        h->count[k] = 0;
        h->n++;
      }
      h->count[k] += c;
      if (h->count[k] > 20)
        h->count[k] = 20;
    }
    for (int k = 0; k < h->n; k++) {
      h->value[k] = (float)log1p((double)h->count[k]);
      push(&uc->nnz, uc->field, uc->id, uc->value, f, h->id[k], h->value[k]);
      effect(s, f, h->id[k], &wc, &wv);
      sc += (double)h->value[k] * wc;
      sv += (double)h->value[k] * wv;
    }
    uc->lc += sc / sqrt((double)h->n);
    uc->lv += sv / sqrt((double)h->n);
  }
}

/* Count of id in the history, 0 when absent. */
static int hist_count(const hist *h, uint64_t id) {
  for (int k = 0; k < h->n; k++)
    if (h->id[k] == id)
      return h->count[k];
  return 0;
}

/* A cross feature when elem is in history j; returns 1 when emitted. */
static int cross(const esmm_sim *s, const user_ctx *uc, row_ctx *rc, int j, uint64_t elem, double *sc,
                 double *sv) {
  int f = F_X508 + j, c = hist_count(&uc->h[j], elem);
  uint64_t id;
  float v;
  double wc, wv;
  if (!c)
    return 0;
  id = esmm__mix64(s->salt[f][P_CROSS] ^ elem);
  v = (float)log1p((double)c);
  push(&rc->nnz, rc->field, rc->id, rc->value, f, id, v);
  effect(s, f, id, &wc, &wv);
  *sc += (double)v * wc;
  *sv += (double)v * wv;
  return 1;
}

static void make_row(const esmm_sim *s, const user_ctx *uc, esmm__rng *r, row_ctx *rc) {
  uint64_t item = zipf_draw(&s->zi, r), tags[MAX_TAGS], hi;
  uint64_t cat, shop, brand, ctx;
  int ntags = 0, nt, n853 = 0;
  double wc, wv, lc = uc->lc, lv = uc->lv, sc = 0.0, sv = 0.0, dc = 0.0, dv = 0.0;

  rc->nnz = 0;
  cat = table_draw(s, T_CAT, unit(esmm__mix64(s->salt[F_CAT][P_DRAW] ^ item)));
  shop = table_draw(s, T_SHOP, unit(esmm__mix64(s->salt[F_SHOP][P_DRAW] ^ item)));
  brand = table_draw(s, T_BRAND, unit(esmm__mix64(s->salt[F_BRAND][P_DRAW] ^ item)));
  hi = esmm__mix64(s->salt[F_TAG][P_DRAW] ^ item);
  nt = 1 + (int)(hi >> 62);
  for (int k = 0; k < nt; k++) {
    uint64_t t = table_draw(s, T_TAG, unit(esmm__mix64(hi + (uint64_t)k)));
    int dup = 0;
    for (int q = 0; q < ntags; q++)
      dup |= tags[q] == t;
    if (!dup)
      tags[ntags++] = t;
  }
  ctx = table_draw(s, T_CTX, esmm__rng_uniform(r));

  push(&rc->nnz, rc->field, rc->id, rc->value, F_ITEM, item, 1.0f);
  effect(s, F_ITEM, item, &wc, &wv);
  lc += wc, lv += wv;
  push(&rc->nnz, rc->field, rc->id, rc->value, F_CAT, cat, 1.0f);
  effect(s, F_CAT, cat, &wc, &wv);
  lc += wc, lv += wv;
  push(&rc->nnz, rc->field, rc->id, rc->value, F_SHOP, shop, 1.0f);
  effect(s, F_SHOP, shop, &wc, &wv);
  lc += wc, lv += wv;
  for (int k = 0; k < ntags; k++) {
    push(&rc->nnz, rc->field, rc->id, rc->value, F_TAG, tags[k], 1.0f);
    effect(s, F_TAG, tags[k], &wc, &wv);
    sc += wc, sv += wv;
  }
  lc += sc / sqrt((double)ntags);
  lv += sv / sqrt((double)ntags);
  push(&rc->nnz, rc->field, rc->id, rc->value, F_BRAND, brand, 1.0f);
  effect(s, F_BRAND, brand, &wc, &wv);
  lc += wc, lv += wv;

  sc = sv = 0.0;
  cross(s, uc, rc, 0, cat, &lc, &lv);
  cross(s, uc, rc, 1, shop, &lc, &lv);
  cross(s, uc, rc, 2, brand, &lc, &lv);
  for (int k = 0; k < ntags; k++)
    n853 += cross(s, uc, rc, 3, tags[k], &sc, &sv);
  if (n853) {
    lc += sc / sqrt((double)n853);
    lv += sv / sqrt((double)n853);
  }

  push(&rc->nnz, rc->field, rc->id, rc->value, F_CTX, ctx, 1.0f);
  effect(s, F_CTX, ctx, &wc, &wv);
  lc += wc, lv += wv;

  {
    uint64_t hq = esmm__mix64(s->salt[F_CAT][P_VEC] ^ cat), hq2 = esmm__mix64(s->salt[F_CAT][P_VEC2] ^ cat);
    double rho = s->corr, rr = sqrt(1.0 - rho * rho);
    for (int k = 0; k < DIM; k++) {
      double q1 = hnormal(esmm__mix64(hq + (uint64_t)k)), q2 = hnormal(esmm__mix64(hq2 + (uint64_t)k));
      dc += uc->p[k] * q1;
      dv += uc->p[k] * (rho * q1 + rr * q2);
    }
  }
  rc->lc = lc + INTERACTION * dc / sqrt((double)DIM);
  rc->lv = lv + INTERACTION * dv / sqrt((double)DIM);
}

/* Impressions of one group: 1 + Poisson(rows_per_user - 1). */
static size_t group_size(const esmm_sim *s, esmm__rng *r) {
  double lambda = s->rows_per_user - 1.0;
  if (lambda <= 0.0)
    return 1;
  if (lambda < 30.0) { /* Knuth: exact, O(lambda) */
    double limit = exp(-lambda), p = 1.0;
    size_t k = 0;
    for (;;) {
      p *= esmm__rng_uniform(r);
      if (p <= limit)
        return 1 + k;
      k++;
    }
  }
  { /* normal approximation: group sizes only need the right mean and spread */
    double x = floor(lambda + sqrt(lambda) * esmm__rng_normal(r) + 0.5);
    return 1 + (size_t)(x < 0.0 ? 0.0 : x);
  }
}

/* Physicists' Gauss-Hermite rule by Newton's method on the orthonormal
 * recurrence (Numerical Recipes' gauher, with Golub's initial guesses),
 * turned into the probabilists' rule for u ~ N(0,1). */
void esmm__sim_gauss_hermite(int n, double *x, double *w) {
  const double pim4 = 0.7511255444649425; /* pi^(-1/4) */
  double z = 0.0, pp = 0.0;
  int m = (n + 1) / 2;
  for (int i = 0; i < m; i++) {
    if (i == 0)
      z = sqrt((double)(2 * n + 1)) - 1.85575 * pow((double)(2 * n + 1), -0.16667);
    else if (i == 1)
      z -= 1.14 * pow((double)n, 0.426) / z;
    else if (i == 2)
      z = 1.86 * z - 0.86 * x[0] / 1.4142135623730951;
    else if (i == 3)
      z = 1.91 * z - 0.91 * x[1] / 1.4142135623730951;
    else
      z = 2.0 * z - x[i - 2] / 1.4142135623730951;
    for (int it = 0; it < 100; it++) {
      double p1 = pim4, p2 = 0.0, p3, z1;
      for (int j = 0; j < n; j++) {
        p3 = p2;
        p2 = p1;
        p1 = z * sqrt(2.0 / (double)(j + 1)) * p2 - sqrt((double)j / (double)(j + 1)) * p3;
      }
      pp = sqrt(2.0 * (double)n) * p2;
      z1 = z;
      z = z1 - p1 / pp;
      if (fabs(z - z1) <= 1e-15 * (1.0 + fabs(z)))
        break;
    }
    /* x holds sqrt(2) t: the guesses above divide it back */
    x[i] = 1.4142135623730951 * z;
    x[n - 1 - i] = -x[i];
    w[i] = 2.0 / (pp * pp) / 1.7724538509055159; /* omega / sqrt(pi) */
    w[n - 1 - i] = w[i];
  }
}

void esmm__sim_truths(double lc, double lv, double a, double b, const double *x, const double *w,
                      double *p_click, double *p_cf, double *p_both) {
  double pc = 0.0, pv = 0.0, pb = 0.0;
  if (a == 0.0 && b == 0.0) {
    *p_click = sigmoid(lc);
    *p_cf = sigmoid(lv);
    *p_both = *p_click * *p_cf;
    return;
  }
  for (int k = 0; k < ESMM__SIM_GH_NODES; k++) {
    double c = sigmoid(lc + a * x[k]), v = sigmoid(lv + b * x[k]);
    pc += w[k] * c;
    pv += w[k] * v;
    pb += w[k] * c * v;
  }
  *p_click = pc;
  *p_cf = pv;
  *p_both = pb;
}

static double mean_ctr(const esmm_sim *s, const double *lc, size_t n, double b, double sig) {
  double acc = 0.0, pc, pv, pb;
  for (size_t i = 0; i < n; i++) {
    esmm__sim_truths(b + sig * lc[i], 0.0, s->conf_click, 0.0, s->gh_x, s->gh_w, &pc, &pv, &pb);
    acc += pc;
  }
  return acc / (double)n;
}

/* E[p(y=1,z=1|x)] / E[p(y=1|x)] for the conversion intercept b. */
static double mean_cvr(const esmm_sim *s, const double *lc, const double *lv, size_t n, double b, double sig) {
  double num = 0.0, den = 0.0, pc, pv, pb;
  for (size_t i = 0; i < n; i++) {
    esmm__sim_truths(s->bc + sig * lc[i], b + sig * lv[i], s->conf_click, s->conf_conv, s->gh_x, s->gh_w, &pc,
                     &pv, &pb);
    num += pb;
    den += pc;
  }
  return num / den;
}

/* Solve f(b) = target for an increasing f on [-50, 50]. */
static double bisect_ctr(const esmm_sim *s, const double *lc, size_t n, double sig, double target) {
  double lo = -50.0, hi = 50.0;
  for (int it = 0; it < 80; it++) {
    double mid = 0.5 * (lo + hi);
    if (mean_ctr(s, lc, n, mid, sig) < target)
      lo = mid;
    else
      hi = mid;
  }
  return 0.5 * (lo + hi);
}

static double bisect_cvr(const esmm_sim *s, const double *lc, const double *lv, size_t n, double sig,
                         double target) {
  double lo = -50.0, hi = 50.0;
  for (int it = 0; it < 80; it++) {
    double mid = 0.5 * (lo + hi);
    if (mean_cvr(s, lc, lv, n, mid, sig) < target)
      lo = mid;
    else
      hi = mid;
  }
  return 0.5 * (lo + hi);
}

static int prepare(esmm_sim *s) {
  esmm__rng r;
  double *lc, *lv;
  size_t n = 0;
  user_ctx *uc;
  row_ctx rc;
  if (s->ready)
    return ESMM_OK;
  s->world = esmm__mix64((uint64_t)s->seed ^ 0x45534d4d53494d31ULL); /* "ESMMSIM1" */
  for (int f = 0; f < N_FIELDS; f++)
    for (int p = 0; p < N_PURPOSE; p++)
      s->salt[f][p] = esmm__mix64(s->world ^ esmm__mix64((uint64_t)(f * N_PURPOSE + p + 1)));
  for (int t = 0; t < N_TABLES; t++) {
    double acc = 0.0;
    for (size_t k = 0; k < table_size[t]; k++)
      s->cdf[t][k] = acc += pow((double)(k + 1), -s->zipf);
    for (size_t k = 0; k < table_size[t]; k++)
      s->cdf[t][k] /= acc;
    s->cdf[t][table_size[t] - 1] = 2.0; /* every u < 1 lands in the table */
  }
  zipf_init(&s->zu, (double)s->users, s->zipf);
  zipf_init(&s->zi, (double)s->items, s->zipf);

  lc = esmm__calloc(&s->alloc, 3 * PILOT, sizeof *lc);
  uc = esmm__alloc(&s->alloc, sizeof *uc);
  if (!lc || !uc) {
    esmm__free(&s->alloc, lc);
    esmm__free(&s->alloc, uc);
    return ESMM_ENOMEM;
  }
  lv = lc + PILOT;
  esmm__rng_seed(&r, esmm__mix64(s->world ^ 0x50494c4f54ULL)); /* "PILOT" */
  /* One impression per pilot user: impressions of a group share the user
   * (and the heaviest Zipf users own a large share of all groups), so
   * independent users estimate the population means far more precisely
   * for the same number of impressions. The mean is the same because the
   * group size does not depend on the user. */
  for (n = 0; n < PILOT; n++) {
    make_user(s, zipf_draw(&s->zu, &r), uc);
    make_row(s, uc, &r, &rc);
    lc[n] = rc.lc;
    lv[n] = rc.lv;
  }
  esmm__sim_gauss_hermite(ESMM__SIM_GH_NODES, s->gh_x, s->gh_w);
  s->bc = bisect_ctr(s, lc, PILOT, s->signal, s->ctr);
  s->bv = bisect_cvr(s, lc, lv, PILOT, s->signal, s->cvr);
  esmm__free(&s->alloc, lc);
  esmm__free(&s->alloc, uc);
  s->ready = 1;
  return ESMM_OK;
}

/* ---------------------------------------------------------------- generate */

typedef struct batch {
  size_t n, nnz;
  int click[BATCH], conv[BATCH];
  int64_t common[BATCH], off[BATCH + 1];
  int field[BATCH * MAX_ROW];
  uint64_t id[BATCH * MAX_ROW];
  float value[BATCH * MAX_ROW];
} batch;

static int flush(esmm_dataset *ds, batch *b) {
  int rc = esmm_dataset_add_rows(ds, b->n, b->click, b->conv, b->common, b->off, b->field, b->id, b->value);
  b->n = b->nnz = 0;
  b->off[0] = 0;
  return rc;
}

int esmm_sim_generate(esmm_sim *sim, size_t n_rows, uint64_t stream, esmm_dataset **out) {
  esmm__rng r;
  esmm_dataset *ds = NULL;
  user_ctx *uc = NULL;
  batch *b = NULL;
  float *truth = NULL;
  row_ctx rc;
  size_t done = 0;
  int status = ESMM_OK;

  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(sim);
  if (n_rows == 0)
    return ESMM__ERR(ESMM_EINVAL, "n_rows must be at least 1");
  if (prepare(sim) < 0)
    return ESMM__ERR(ESMM_ENOMEM, "out of memory");
  if (esmm__dataset_create(&ds, &sim->alloc, N_FIELDS, (const char(*)[ESMM_MAX_FIELD_NAME + 1])sim->names) < 0)
    return ESMM__ERR(ESMM_ENOMEM, "out of memory");
  uc = esmm__alloc(&sim->alloc, sizeof *uc);
  b = esmm__alloc(&sim->alloc, sizeof *b);
  truth = esmm__calloc(&sim->alloc, n_rows, 4 * sizeof *truth);
  if (!uc || !b || !truth) {
    status = ESMM__ERR(ESMM_ENOMEM, "out of memory");
    goto done;
  }
  b->n = b->nnz = 0;
  b->off[0] = 0;

  esmm__rng_seed(&r, esmm__mix64(esmm__mix64(sim->world + 1) ^ stream));
  while (done < n_rows) {
    size_t m = group_size(sim, &r);
    int64_t ci;
    make_user(sim, zipf_draw(&sim->zu, &r), uc);
    if (m > n_rows - done)
      m = n_rows - done;
    if ((status = esmm_dataset_add_common(ds, uc->nnz, uc->field, uc->id, uc->value, &ci)) < 0)
      goto failed;
    for (size_t k = 0; k < m; k++, done++) {
      double lc, lv, pc, pcf, pb, u1, u2, qc, qv;
      int y, z;
      make_row(sim, uc, &r, &rc);
      lc = sim->bc + sim->signal * rc.lc;
      lv = sim->bv + sim->signal * rc.lv;
      esmm__sim_truths(lc, lv, sim->conf_click, sim->conf_conv, sim->gh_x, sim->gh_w, &pc, &pcf, &pb);
      /* the latent u only when confounded, so that unconfounded worlds
       * draw exactly the rows and labels of earlier releases */
      if (sim->conf_click != 0.0 || sim->conf_conv != 0.0) {
        double u = esmm__rng_normal(&r);
        qc = sigmoid(lc + sim->conf_click * u);
        qv = sigmoid(lv + sim->conf_conv * u);
      } else {
        qc = pc;
        qv = pcf;
      }
      /* both uniforms always drawn: a label never shifts later draws */
      u1 = esmm__rng_uniform(&r);
      u2 = esmm__rng_uniform(&r);
      y = u1 < qc;
      z = y && u2 < qv;
      truth[done] = (float)pc;
      /* unconfounded: exactly the earlier pCVR (pb / pc could differ in the last bit) */
      truth[n_rows + done] = (float)(sim->conf_click != 0.0 || sim->conf_conv != 0.0 ? pb / pc : pcf);
      truth[2 * n_rows + done] = (float)pb;
      truth[3 * n_rows + done] = (float)pcf;
      b->click[b->n] = y;
      b->conv[b->n] = z;
      b->common[b->n] = ci;
      memcpy(b->field + b->nnz, rc.field, rc.nnz * sizeof *rc.field);
      memcpy(b->id + b->nnz, rc.id, rc.nnz * sizeof *rc.id);
      memcpy(b->value + b->nnz, rc.value, rc.nnz * sizeof *rc.value);
      b->nnz += rc.nnz;
      b->n++;
      b->off[b->n] = (int64_t)b->nnz;
      if (b->n == BATCH && (status = flush(ds, b)) < 0)
        goto failed;
    }
  }
  if (b->n && (status = flush(ds, b)) < 0)
    goto failed;
  if ((status = esmm_dataset_set_truth(ds, ESMM_TRUTH_CTR, truth, n_rows)) < 0 ||
      (status = esmm_dataset_set_truth(ds, ESMM_TRUTH_CVR, truth + n_rows, n_rows)) < 0 ||
      (status = esmm_dataset_set_truth(ds, ESMM_TRUTH_CTCVR, truth + 2 * n_rows, n_rows)) < 0 ||
      (status = esmm_dataset_set_truth(ds, ESMM_TRUTH_CVR_CF, truth + 3 * n_rows, n_rows)) < 0)
    goto failed;
  *out = ds;
  ds = NULL;
  goto done;
failed:
  /* only allocation can fail: every row is valid by construction */
  status = ESMM__ERR(status, "cannot store rows (%s)", esmm_strerror(status));
done:
  esmm__free(&sim->alloc, truth);
  esmm__free(&sim->alloc, b);
  esmm__free(&sim->alloc, uc);
  esmm_dataset_free(ds);
  return status;
}
