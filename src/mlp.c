/* mlp.c - one dense tower through esmm__sgemm. A pass keeps its
 * activations in a caller's context (mlp.h), sized once, so forward and
 * backward never allocate and a const tower serves many passes at once:
 * the model's workers each train a slice of a batch through it, and any
 * number of threads infer through it. */
#include "mlp.h"

#include "blas.h"
#include "rng.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#define MAX_WIDTH 65536 /* the config's tower bound */

size_t esmm__mlp_widest_hidden(const esmm_mlp *m) {
  size_t w = 0;
  for (size_t l = 0; l + 1 < m->n_layers; l++)
    if (m->layer[l].n_out > w)
      w = m->layer[l].n_out;
  return w;
}

void esmm__mlp_ctx_free(esmm__mlp_ctx *c, const esmm__allocator *a) {
  for (size_t l = 0; l < ESMM__MLP_MAX_LAYERS; l++)
    esmm__free(a, c->act[l]);
  esmm__free(a, c->delta[0]);
  esmm__free(a, c->delta[1]);
  memset(c, 0, sizeof *c);
}

int esmm__mlp_ctx_init(esmm__mlp_ctx *c, const esmm_mlp *m, const esmm__allocator *a, size_t max_rows) {
  size_t wide = esmm__mlp_widest_hidden(m);
  int ok = 1;
  memset(c, 0, sizeof *c);
  c->max_rows = max_rows;
  for (size_t l = 0; l < m->n_layers; l++)
    ok &= (c->act[l] = esmm__calloc(a, max_rows ? max_rows : 1, m->layer[l].n_out * sizeof(float))) != NULL;
  ok &= (c->delta[0] = esmm__calloc(a, max_rows ? max_rows : 1, (wide ? wide : 1) * sizeof(float))) != NULL;
  ok &= (c->delta[1] = esmm__calloc(a, max_rows ? max_rows : 1, (wide ? wide : 1) * sizeof(float))) != NULL;
  if (!ok) {
    esmm__mlp_ctx_free(c, a);
    return ESMM__ERR(ESMM_ENOMEM, "out of memory for a tower pass of %zu rows", max_rows);
  }
  return ESMM_OK;
}

void esmm__mlp_grads_at(const esmm_mlp *m, float *base, esmm__mlp_grads *g) {
  memset(g, 0, sizeof *g);
  for (size_t l = 0; l < m->n_layers; l++) {
    const esmm__layer *ly = &m->layer[l];
    g->gw[l] = base;
    base += ly->n_in * ly->n_out;
    g->gb[l] = base;
    base += ly->n_out;
  }
}

static void mlp_destroy(esmm_mlp *m) {
  esmm__allocator a;
  if (!m)
    return;
  a = m->alloc;
  for (size_t l = 0; l < ESMM__MLP_MAX_LAYERS; l++) {
    esmm__free(&a, m->layer[l].w);
    esmm__free(&a, m->layer[l].b);
  }
  esmm__free(&a, m->grad);
  esmm__mlp_ctx_free(&m->own, &a);
  esmm__free(&a, m);
}

static int mlp_check_shape(const char *func, size_t n_in, const int64_t *hidden, size_t n_hidden, size_t n_out,
                       int activation, size_t max_batch, int allow_zero_batch) {
  if (n_in < 1 || n_in > (size_t)INT_MAX)
    return esmm__error(ESMM_EINVAL, func, "n_in must be in [1, %d], got %zu", INT_MAX, n_in);
  if (n_out < 1 || n_out > MAX_WIDTH)
    return esmm__error(ESMM_EINVAL, func, "n_out must be in [1, %d], got %zu", MAX_WIDTH, n_out);
  if (n_hidden > ESMM__MLP_MAX_LAYERS - 1)
    return esmm__error(ESMM_EINVAL, func, "n_hidden must be in [0, %d], got %zu", ESMM__MLP_MAX_LAYERS - 1,
                       n_hidden);
  if (n_hidden > 0 && !hidden)
    return esmm__error(ESMM_EINVAL, func, "hidden must not be NULL when n_hidden = %zu", n_hidden);
  for (size_t l = 0; l < n_hidden; l++)
    if (hidden[l] < 1 || hidden[l] > MAX_WIDTH)
      return esmm__error(ESMM_EINVAL, func, "hidden[%zu] must be in [1, %d], got %lld", l, MAX_WIDTH,
                         (long long)hidden[l]);
  if (activation != ESMM_ACT_RELU && activation != ESMM_ACT_TANH && activation != ESMM_ACT_SIGMOID)
    return esmm__error(ESMM_EINVAL, func, "activation %d is not an esmm_activation", activation);
  if ((max_batch < 1 && !allow_zero_batch) || max_batch > (size_t)INT_MAX)
    return esmm__error(ESMM_EINVAL, func, "max_batch must be in [1, %d], got %zu", INT_MAX, max_batch);
  return ESMM_OK;
}

static void init_layer(esmm__layer *ly, int activation, esmm__rng *rng) {
  /* He keeps the variance of ReLU outputs constant; Xavier suits the saturating activations */
  double var = activation == ESMM_ACT_RELU ? 2.0 / (double)ly->n_in : 2.0 / (double)(ly->n_in + ly->n_out);
  double std = sqrt(var);
  size_t count = ly->n_in * ly->n_out;
  for (size_t i = 0; i < count; i++)
    ly->w[i] = (float)(std * esmm__rng_normal(rng));
}

static int build(esmm_mlp *m, const int64_t *hidden, size_t n_hidden, uint64_t seed) {
  esmm__rng rng;
  esmm__mlp_grads g;
  size_t width = m->n_in;
  esmm__rng_seed(&rng, seed);
  for (size_t l = 0; l < m->n_layers; l++) {
    esmm__layer *ly = &m->layer[l];
    ly->n_in = width;
    ly->n_out = l < n_hidden ? (size_t)hidden[l] : m->n_out;
    ly->w = esmm__calloc(&m->alloc, ly->n_in * ly->n_out, sizeof(float));
    ly->b = esmm__calloc(&m->alloc, ly->n_out, sizeof(float));
    if (!ly->w || !ly->b)
      return 0;
    init_layer(ly, m->activation, &rng);
    width = ly->n_out;
  }
  m->grad = esmm__calloc(&m->alloc, esmm__mlp_param_count(m), sizeof(float));
  if (!m->grad)
    return 0;
  esmm__mlp_grads_at(m, m->grad, &g);
  for (size_t l = 0; l < m->n_layers; l++) {
    m->layer[l].gw = g.gw[l];
    m->layer[l].gb = g.gb[l];
  }
  return m->max_batch == 0 || esmm__mlp_ctx_init(&m->own, m, &m->alloc, m->max_batch) == ESMM_OK;
}

static int mlp_create(const char *func, esmm_mlp **out, const esmm__allocator *a, size_t n_in,
                  const int64_t *hidden, size_t n_hidden, size_t n_out, int activation, size_t max_batch,
                  uint64_t seed, int internal) {
  esmm_mlp *m;
  if (!out)
    return esmm__error(ESMM_EINVAL, func, "invalid argument: out != NULL");
  *out = NULL;
  ESMM__TRY(mlp_check_shape(func, n_in, hidden, n_hidden, n_out, activation, max_batch, internal));
  m = esmm__calloc(a, 1, sizeof *m);
  if (!m)
    return esmm__error(ESMM_ENOMEM, func, "cannot allocate the tower handle");
  m->alloc = a ? *a : esmm__allocator_default();
  m->n_layers = n_hidden + 1;
  m->n_in = n_in;
  m->n_out = n_out;
  m->max_batch = max_batch;
  m->activation = activation;
  if (!build(m, hidden, n_hidden, seed)) {
    mlp_destroy(m);
    return esmm__error(ESMM_ENOMEM, func, "cannot allocate the tower's layers");
  }
  *out = m;
  return ESMM_OK;
}

int esmm__mlp_create(esmm_mlp **out, const esmm__allocator *a, size_t n_in, const int64_t *hidden,
                     size_t n_hidden, size_t n_out, int activation, size_t max_batch, uint64_t seed) {
  return mlp_create(__func__, out, a, n_in, hidden, n_hidden, n_out, activation, max_batch, seed, 1);
}

int esmm_mlp_new(esmm_mlp **out, size_t n_in, const int64_t *hidden, size_t n_hidden, size_t n_out,
                 int activation, size_t max_batch, uint64_t seed) {
  esmm__allocator a = esmm__allocator_default();
  return mlp_create(__func__, out, &a, n_in, hidden, n_hidden, n_out, activation, max_batch, seed, 0);
}

void esmm_mlp_free(esmm_mlp *m) { mlp_destroy(m); }

static float sigmoidf_stable(float x) {
  if (x >= 0.0f)
    return 1.0f / (1.0f + expf(-x));
  float e = expf(x);
  return e / (1.0f + e);
}

/* The element-wise passes below are plain loops in functions compiled per
 * instruction set (ESMM__HOT, internal.h). */

/* row = max(row + b, 0) */
static inline void bias_relu_row(const float *restrict b, float *restrict row, size_t w) {
  for (size_t j = 0; j < w; j++) {
    float z = row[j] + b[j];
    row[j] = z > 0.0f ? z : 0.0f;
  }
}

/* acc += x */
static inline void add_row(const float *restrict x, float *restrict acc, size_t w) {
  for (size_t j = 0; j < w; j++)
    acc[j] += x[j];
}

/* d = y > 0 ? d : 0 (ReLU' from the stored output); gb += d */
static inline void relu_back_row(const float *restrict y, float *restrict d, float *restrict gb, size_t w) {
  for (size_t j = 0; j < w; j++) {
    float dj = y[j] > 0.0f ? d[j] : 0.0f;
    d[j] = dj;
    gb[j] += dj;
  }
}

/* delta *= act'(z), written in terms of the stored output y = act(z), and
 * gb = column sums of the result: the bias gradient of the layer below.
 * Before, that was a separate pass over the same n x w block, and the
 * column sums ran row by row over the whole of gb per row anyway. */
ESMM__HOT static void act_backward_colsum(int activation, const float *restrict y, float *restrict delta,
                                float *restrict gb, size_t n, size_t w) {
  memset(gb, 0, w * sizeof *gb);
  for (size_t i = 0; i < n; i++) {
    const float *restrict yr = y + i * w;
    float *restrict dr = delta + i * w;
    if (activation == ESMM_ACT_RELU) {
      relu_back_row(yr, dr, gb, w);
    } else if (activation == ESMM_ACT_TANH) {
      for (size_t j = 0; j < w; j++) {
        float d = dr[j] * (1.0f - yr[j] * yr[j]);
        dr[j] = d;
        gb[j] += d;
      }
    } else {
      for (size_t j = 0; j < w; j++) {
        float d = dr[j] * (yr[j] * (1.0f - yr[j]));
        dr[j] = d;
        gb[j] += d;
      }
    }
  }
}

/* gb = column sums of d (n x w). */
ESMM__HOT static void colsum(const float *restrict d, float *restrict gb, size_t n, size_t w) {
  memset(gb, 0, w * sizeof *gb);
  for (size_t i = 0; i < n; i++)
    add_row(d + i * w, gb, w);
}

/* y[i, :] = act(y[i, :] + b) for n rows of width w, one pass after the
 * GEMM (its epilogue). Before: b was copied into every row of y, the GEMM
 * accumulated onto it (beta 1) and a third pass applied the activation;
 * now the GEMM writes y (beta 0) and bias + activation is one
 * read-modify-write of y. */
ESMM__HOT static void bias_act(int activation, int linear, const float *restrict b, float *restrict y, size_t n,
                     size_t w) {
  for (size_t i = 0; i < n; i++) {
    float *restrict row = y + i * w;
    if (linear) {
      add_row(b, row, w);
    } else if (activation == ESMM_ACT_RELU) {
      bias_relu_row(b, row, w);
    } else if (activation == ESMM_ACT_TANH) {
      for (size_t j = 0; j < w; j++)
        row[j] = tanhf(row[j] + b[j]);
    } else {
      for (size_t j = 0; j < w; j++)
        row[j] = sigmoidf_stable(row[j] + b[j]);
    }
  }
}

/* y = act(x W + b) for n rows (linear when last). */
static void layer_forward(const esmm__layer *ly, int activation, int last, const float *x, size_t n,
                          float *y) {
  esmm__sgemm(0, 0, n, ly->n_out, ly->n_in, 1.0f, x, ly->n_in, ly->w, ly->n_out, 0.0f, y, ly->n_out);
  bias_act(activation, last, ly->b, y, n, ly->n_out);
}

/* The column blocks of the input outside [lo, hi): [0, lo) and [hi, n_in). */
static void rest_blocks(const esmm_mlp *m, const esmm__mlp_split *sp, size_t off[2], size_t len[2]) {
  off[0] = 0;
  len[0] = sp->lo;
  off[1] = sp->hi;
  len[1] = m->n_in - sp->hi;
}

/* y_i += h_run(i) for every row with a run. */
ESMM__HOT static void add_runs(const esmm__mlp_split *sp, float *y, size_t n, size_t h) {
  for (size_t i = 0; i < n; i++)
    if (sp->run[i] >= 0)
      add_row(sp->scratch + (size_t)sp->run[i] * h, y + i * h, h);
}

/* s_r = sum of d_i over run r's rows, in row order. */
ESMM__HOT static void sum_runs(const esmm__mlp_split *sp, const float *d, size_t n, size_t h) {
  memset(sp->scratch, 0, sp->n_runs * h * sizeof *sp->scratch);
  for (size_t i = 0; i < n; i++)
    if (sp->run[i] >= 0)
      add_row(d + i * h, sp->scratch + (size_t)sp->run[i] * h, h);
}

/* Layer 0 of a split forward: y = in[R] W[R] (one GEMM per block of R),
 * h_r = c_r[U] W[U] once per run into scratch, y_i += h_run(i), then the
 * bias and activation. */
static void layer0_split(const esmm_mlp *m, const esmm__mlp_split *sp, const float *in, size_t n, float *y) {
  const esmm__layer *ly = &m->layer[0];
  size_t off[2], len[2], h = ly->n_out, u = sp->hi - sp->lo;
  float beta = 0.0f;
  rest_blocks(m, sp, off, len);
  for (int k = 0; k < 2; k++) {
    if (!len[k])
      continue;
    esmm__sgemm(0, 0, n, h, len[k], 1.0f, in + off[k], ly->n_in, ly->w + off[k] * h, h, beta, y, h);
    beta = 1.0f;
  }
  if (beta == 0.0f)
    memset(y, 0, n * h * sizeof *y);
  if (sp->n_runs && u) {
    esmm__sgemm(0, 0, sp->n_runs, h, u, 1.0f, sp->c + sp->lo, sp->ldc, ly->w + sp->lo * h, h, 0.0f, sp->scratch,
                h);
    add_runs(sp, y, n, h);
  }
  bias_act(m->activation, m->n_layers == 1, ly->b, y, n, h);
}

void esmm__mlp_fwd(const esmm_mlp *m, esmm__mlp_ctx *c, const float *in, size_t n, float *out,
                   const esmm__mlp_split *sp) {
  const float *x = in;
  for (size_t l = 0; l < m->n_layers; l++) {
    if (l == 0 && sp)
      layer0_split(m, sp, x, n, c->act[0]);
    else
      layer_forward(&m->layer[l], m->activation, l + 1 == m->n_layers, x, n, c->act[l]);
    x = c->act[l];
  }
  if (out)
    memcpy(out, x, n * m->n_out * sizeof *out);
  c->input = in;
  c->n = n;
  c->have_forward = 1;
  c->have_split = sp != NULL;
  if (sp)
    c->split = *sp;
}

/* Layer 0 of a split backward, d = its delta (n x h): gW[R] = in[R]^T d;
 * the run sums s_r = sum_{i in r} d_i (row order) into scratch; gW[U] =
 * C[U]^T s; grad_in[R] = d W[R]^T; gcom[U] = s W[U]^T. */
static void layer0_split_back(const esmm_mlp *m, const esmm__mlp_ctx *c, float *gw, const float *d, size_t n,
                              float *grad_in, float beta, float *gcom, size_t ldg) {
  const esmm__layer *ly = &m->layer[0];
  const esmm__mlp_split *sp = &c->split;
  size_t off[2], len[2], h = ly->n_out, u = sp->hi - sp->lo;
  rest_blocks(m, sp, off, len);
  for (int k = 0; k < 2; k++)
    if (len[k])
      esmm__sgemm(1, 0, len[k], h, n, 1.0f, c->input + off[k], ly->n_in, d, h, 0.0f, gw + off[k] * h, h);
  if (!u)
    goto rest;
  if (!sp->n_runs) {
    memset(gw + sp->lo * h, 0, u * h * sizeof *gw);
    goto rest;
  }
  sum_runs(sp, d, n, h);
  esmm__sgemm(1, 0, u, h, sp->n_runs, 1.0f, sp->c + sp->lo, sp->ldc, sp->scratch, h, 0.0f, gw + sp->lo * h, h);
  if (gcom)
    esmm__sgemm(0, 1, sp->n_runs, u, h, 1.0f, sp->scratch, h, ly->w + sp->lo * h, h, beta, gcom + sp->lo, ldg);
rest:
  if (grad_in)
    for (int k = 0; k < 2; k++)
      if (len[k])
        esmm__sgemm(0, 1, n, len[k], h, 1.0f, d, h, ly->w + off[k] * h, h, beta, grad_in + off[k], ly->n_in);
}

void esmm__mlp_bwd(const esmm_mlp *m, esmm__mlp_ctx *c, const esmm__mlp_grads *g, const float *grad_out,
                   float *grad_in, float beta_in, float *gcom, size_t ldg) {
  const float *d = grad_out;
  size_t n = c->n;
  /* the output layer's bias gradient; every lower layer's comes out of the
   * activation pass that forms its delta */
  colsum(d, g->gb[m->n_layers - 1], n, m->n_out);
  for (size_t l = m->n_layers; l-- > 0;) {
    const esmm__layer *ly = &m->layer[l];
    const float *x = l == 0 ? c->input : c->act[l - 1];
    float *prev = l == 0 ? grad_in : c->delta[l % 2];
    if (l == 0 && c->have_split) {
      layer0_split_back(m, c, g->gw[0], d, n, grad_in, beta_in, gcom, ldg);
      break;
    }
    /* gw = x^T d */
    esmm__sgemm(1, 0, ly->n_in, ly->n_out, n, 1.0f, x, ly->n_in, d, ly->n_out, 0.0f, g->gw[l], ly->n_out);
    if (!prev)
      continue;
    esmm__sgemm(0, 1, n, ly->n_in, ly->n_out, 1.0f, d, ly->n_out, ly->w, ly->n_out, l == 0 ? beta_in : 0.0f,
                prev, ly->n_in);
    if (l > 0)
      act_backward_colsum(m->activation, c->act[l - 1], prev, g->gb[l - 1], n, ly->n_in);
    d = prev;
  }
}

int esmm_mlp_forward(esmm_mlp *m, const float *in, size_t n, float *out) {
  ESMM__CHECK_ARG(m != NULL);
  ESMM__CHECK_ARG(in != NULL);
  ESMM__CHECK_ARG(out != NULL);
  if (m->max_batch == 0)
    return ESMM__ERR(ESMM_ESTATE, "this tower belongs to a model; it has no pass of its own");
  if (n > m->max_batch)
    return ESMM__ERR(ESMM_ESHAPE, "batch of %zu rows exceeds max_batch %zu", n, m->max_batch);
  esmm__mlp_fwd(m, &m->own, in, n, out, NULL);
  return ESMM_OK;
}

int esmm_mlp_backward(esmm_mlp *m, const float *grad_out, float *grad_in) {
  esmm__mlp_grads g;
  if (!m || !grad_out)
    return ESMM__ERR(ESMM_EINVAL, "invalid argument: %s", !m ? "m != NULL" : "grad_out != NULL");
  if (!m->own.have_forward)
    return ESMM__ERR(ESMM_ESTATE, "backward called before any forward");
  esmm__mlp_grads_at(m, m->grad, &g);
  esmm__mlp_bwd(m, &m->own, &g, grad_out, grad_in, 0.0f, NULL, 0);
  return ESMM_OK;
}

int esmm_mlp_layer_count(const esmm_mlp *m, size_t *out) {
  ESMM__CHECK_ARG(m != NULL);
  ESMM__CHECK_ARG(out != NULL);
  *out = m->n_layers;
  return ESMM_OK;
}

int esmm_mlp_layer(esmm_mlp *m, size_t l, float **w_out, float **b_out, float **grad_w_out,
                   float **grad_b_out, size_t *n_in_out, size_t *n_out_out) {
  const esmm__layer *ly;
  ESMM__CHECK_ARG(m != NULL);
  if (l >= m->n_layers)
    return ESMM__ERR(ESMM_EINVAL, "layer %zu out of range [0, %zu)", l, m->n_layers);
  ly = &m->layer[l];
  if (w_out)
    *w_out = ly->w;
  if (b_out)
    *b_out = ly->b;
  if (grad_w_out)
    *grad_w_out = ly->gw;
  if (grad_b_out)
    *grad_b_out = ly->gb;
  if (n_in_out)
    *n_in_out = ly->n_in;
  if (n_out_out)
    *n_out_out = ly->n_out;
  return ESMM_OK;
}

size_t esmm__mlp_infer_scratch(const esmm_mlp *m, size_t n) { return 2 * n * esmm__mlp_widest_hidden(m); }

void esmm__mlp_infer(const esmm_mlp *m, const float *in, size_t n, float *out, float *scratch,
                     const esmm__mlp_split *sp) {
  const float *x = in;
  size_t wide = esmm__mlp_widest_hidden(m);
  for (size_t l = 0; l < m->n_layers; l++) {
    int last = l + 1 == m->n_layers;
    float *y = last ? out : scratch + (l % 2) * n * wide;
    if (l == 0 && sp)
      layer0_split(m, sp, x, n, y);
    else
      layer_forward(&m->layer[l], m->activation, last, x, n, y);
    x = y;
  }
}

size_t esmm__mlp_param_count(const esmm_mlp *m) {
  size_t total = 0;
  for (size_t l = 0; l < m->n_layers; l++)
    total += m->layer[l].n_in * m->layer[l].n_out + m->layer[l].n_out;
  return total;
}
