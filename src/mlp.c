/* mlp.c - one dense tower through esmm__sgemm. Every buffer is sized at
 * creation for max_batch rows so forward/backward never allocate, and
 * inference runs on caller scratch so a const tower serves many threads. */
#include "mlp.h"

#include "blas.h"
#include "rng.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#define MAX_WIDTH 65536 /* the config's tower bound */

static void mlp_destroy(esmm_mlp *m) {
  esmm__allocator a;
  if (!m)
    return;
  a = m->alloc;
  for (size_t l = 0; l < ESMM__MLP_MAX_LAYERS; l++) {
    esmm__free(&a, m->layer[l].w);
    esmm__free(&a, m->layer[l].b);
    esmm__free(&a, m->layer[l].gw);
    esmm__free(&a, m->layer[l].gb);
    esmm__free(&a, m->act[l]);
  }
  esmm__free(&a, m->delta[0]);
  esmm__free(&a, m->delta[1]);
  esmm__free(&a, m);
}

static int check_shape(const char *func, size_t n_in, const int64_t *hidden, size_t n_hidden, size_t n_out,
                       int activation, size_t max_batch) {
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
  if (max_batch < 1 || max_batch > (size_t)INT_MAX)
    return esmm__error(ESMM_EINVAL, func, "max_batch must be in [1, %d], got %zu", INT_MAX, max_batch);
  return ESMM_OK;
}

/* Widest hidden layer (0 when there is none): the size of inter-layer scratch rows. */
static size_t widest_hidden(const esmm_mlp *m) {
  size_t w = 0;
  for (size_t l = 0; l + 1 < m->n_layers; l++)
    if (m->layer[l].n_out > w)
      w = m->layer[l].n_out;
  return w;
}

static int alloc_layer(esmm_mlp *m, esmm__layer *ly, size_t l) {
  const esmm__allocator *a = &m->alloc;
  ly->w = esmm__calloc(a, ly->n_in * ly->n_out, sizeof(float));
  ly->gw = esmm__calloc(a, ly->n_in * ly->n_out, sizeof(float));
  ly->b = esmm__calloc(a, ly->n_out, sizeof(float));
  ly->gb = esmm__calloc(a, ly->n_out, sizeof(float));
  m->act[l] = esmm__calloc(a, m->max_batch * ly->n_out, sizeof(float));
  return ly->w && ly->gw && ly->b && ly->gb && m->act[l];
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
  size_t width = m->n_in, wide;
  esmm__rng_seed(&rng, seed);
  for (size_t l = 0; l < m->n_layers; l++) {
    esmm__layer *ly = &m->layer[l];
    ly->n_in = width;
    ly->n_out = l < n_hidden ? (size_t)hidden[l] : m->n_out;
    if (!alloc_layer(m, ly, l))
      return 0;
    init_layer(ly, m->activation, &rng);
    width = ly->n_out;
  }
  wide = widest_hidden(m);
  m->delta[0] = esmm__calloc(&m->alloc, m->max_batch * (wide ? wide : 1), sizeof(float));
  m->delta[1] = esmm__calloc(&m->alloc, m->max_batch * (wide ? wide : 1), sizeof(float));
  return m->delta[0] && m->delta[1];
}

static int create(const char *func, esmm_mlp **out, const esmm__allocator *a, size_t n_in,
                  const int64_t *hidden, size_t n_hidden, size_t n_out, int activation, size_t max_batch,
                  uint64_t seed) {
  esmm_mlp *m;
  if (!out)
    return esmm__error(ESMM_EINVAL, func, "invalid argument: out != NULL");
  *out = NULL;
  ESMM__TRY(check_shape(func, n_in, hidden, n_hidden, n_out, activation, max_batch));
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
  return create(__func__, out, a, n_in, hidden, n_hidden, n_out, activation, max_batch, seed);
}

int esmm_mlp_new(esmm_mlp **out, size_t n_in, const int64_t *hidden, size_t n_hidden, size_t n_out,
                 int activation, size_t max_batch, uint64_t seed) {
  esmm__allocator a = esmm__allocator_default();
  return create(__func__, out, &a, n_in, hidden, n_hidden, n_out, activation, max_batch, seed);
}

void esmm_mlp_free(esmm_mlp *m) { mlp_destroy(m); }

static float sigmoidf_stable(float x) {
  if (x >= 0.0f)
    return 1.0f / (1.0f + expf(-x));
  float e = expf(x);
  return e / (1.0f + e);
}

/* The element-wise passes below are written four lanes at a time: GCC 12
 * at -O2 (the default CFLAGS) uses the "very cheap" vectoriser cost model,
 * which leaves a plain loop of unknown trip count scalar but does vectorise
 * this form (checked with -fopt-info-vec). Every lane computes exactly what
 * the scalar loop did, so results are bit-identical to it. */

/* row = max(row + b, 0) */
static void bias_relu_row(const float *restrict b, float *restrict row, size_t w) {
  size_t j = 0;
  for (; j + 4 <= w; j += 4) {
    float z0 = row[j] + b[j], z1 = row[j + 1] + b[j + 1], z2 = row[j + 2] + b[j + 2], z3 = row[j + 3] + b[j + 3];
    row[j] = z0 > 0.0f ? z0 : 0.0f;
    row[j + 1] = z1 > 0.0f ? z1 : 0.0f;
    row[j + 2] = z2 > 0.0f ? z2 : 0.0f;
    row[j + 3] = z3 > 0.0f ? z3 : 0.0f;
  }
  for (; j < w; j++) {
    float z = row[j] + b[j];
    row[j] = z > 0.0f ? z : 0.0f;
  }
}

/* acc += x */
static void add_row(const float *restrict x, float *restrict acc, size_t w) {
  size_t j = 0;
  for (; j + 4 <= w; j += 4) {
    acc[j] += x[j];
    acc[j + 1] += x[j + 1];
    acc[j + 2] += x[j + 2];
    acc[j + 3] += x[j + 3];
  }
  for (; j < w; j++)
    acc[j] += x[j];
}

/* d = y > 0 ? d : 0 (ReLU' from the stored output); gb += d */
static void relu_back_row(const float *restrict y, float *restrict d, float *restrict gb, size_t w) {
  size_t j = 0;
  for (; j + 4 <= w; j += 4) {
    float d0 = y[j] > 0.0f ? d[j] : 0.0f, d1 = y[j + 1] > 0.0f ? d[j + 1] : 0.0f;
    float d2 = y[j + 2] > 0.0f ? d[j + 2] : 0.0f, d3 = y[j + 3] > 0.0f ? d[j + 3] : 0.0f;
    d[j] = d0;
    d[j + 1] = d1;
    d[j + 2] = d2;
    d[j + 3] = d3;
    gb[j] += d0;
    gb[j + 1] += d1;
    gb[j + 2] += d2;
    gb[j + 3] += d3;
  }
  for (; j < w; j++) {
    float dj = y[j] > 0.0f ? d[j] : 0.0f;
    d[j] = dj;
    gb[j] += dj;
  }
}

/* delta *= act'(z), written in terms of the stored output y = act(z), and
 * gb = column sums of the result: the bias gradient of the layer below.
 * Before, that was a separate pass over the same n x w block, and the
 * column sums ran row by row over the whole of gb per row anyway. */
static void act_backward_colsum(int activation, const float *restrict y, float *restrict delta,
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
static void colsum(const float *restrict d, float *restrict gb, size_t n, size_t w) {
  memset(gb, 0, w * sizeof *gb);
  for (size_t i = 0; i < n; i++)
    add_row(d + i * w, gb, w);
}

/* y[i, :] = act(y[i, :] + b) for n rows of width w, one pass after the
 * GEMM (its epilogue). Before: b was copied into every row of y, the GEMM
 * accumulated onto it (beta 1) and a third pass applied the activation;
 * now the GEMM writes y (beta 0) and bias + activation is one
 * read-modify-write of y. */
static void bias_act(int activation, int linear, const float *restrict b, float *restrict y, size_t n,
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

int esmm_mlp_forward(esmm_mlp *m, const float *in, size_t n, float *out) {
  const float *x = in;
  ESMM__CHECK_ARG(m != NULL);
  ESMM__CHECK_ARG(in != NULL);
  ESMM__CHECK_ARG(out != NULL);
  if (n > m->max_batch)
    return ESMM__ERR(ESMM_ESHAPE, "batch of %zu rows exceeds max_batch %zu", n, m->max_batch);
  for (size_t l = 0; l < m->n_layers; l++) {
    layer_forward(&m->layer[l], m->activation, l + 1 == m->n_layers, x, n, m->act[l]);
    x = m->act[l];
  }
  memcpy(out, x, n * m->n_out * sizeof *out);
  m->input = in;
  m->batch = n;
  m->have_forward = 1;
  m->have_split = 0;
  return ESMM_OK;
}

/* The column blocks of the input outside [lo, hi): [0, lo) and [hi, n_in). */
static void rest_blocks(const esmm_mlp *m, size_t off[2], size_t len[2]) {
  off[0] = 0;
  len[0] = m->split.lo;
  off[1] = m->split.hi;
  len[1] = m->n_in - m->split.hi;
}

/* Layer 0 of a split forward: y = in[R] W[R] (one GEMM per block of R),
 * h_r = c_r[U] W[U] once per run into scratch, y_i += h_run(i), then the
 * bias and activation. */
static void layer0_split(esmm_mlp *m, const float *in, size_t n, float *y) {
  const esmm__layer *ly = &m->layer[0];
  const esmm__mlp_split *sp = &m->split;
  size_t off[2], len[2], h = ly->n_out, u = sp->hi - sp->lo;
  float beta = 0.0f;
  rest_blocks(m, off, len);
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
    for (size_t i = 0; i < n; i++)
      if (sp->run[i] >= 0)
        add_row(sp->scratch + (size_t)sp->run[i] * h, y + i * h, h);
  }
  bias_act(m->activation, m->n_layers == 1, ly->b, y, n, h);
}

int esmm__mlp_forward_split(esmm_mlp *m, const float *in, size_t n, float *out, const esmm__mlp_split *sp) {
  const float *x;
  ESMM__CHECK_ARG(m != NULL && in != NULL && out != NULL && sp != NULL);
  ESMM__CHECK_ARG(sp->lo <= sp->hi && sp->hi <= m->n_in);
  if (n > m->max_batch)
    return ESMM__ERR(ESMM_ESHAPE, "batch of %zu rows exceeds max_batch %zu", n, m->max_batch);
  m->split = *sp;
  layer0_split(m, in, n, m->act[0]);
  x = m->act[0];
  for (size_t l = 1; l < m->n_layers; l++) {
    layer_forward(&m->layer[l], m->activation, l + 1 == m->n_layers, x, n, m->act[l]);
    x = m->act[l];
  }
  memcpy(out, x, n * m->n_out * sizeof *out);
  m->input = in;
  m->batch = n;
  m->have_forward = 1;
  m->have_split = 1;
  return ESMM_OK;
}

/* Layer 0 of a split backward, d = its delta (n x h): gW[R] = in[R]^T d;
 * the run sums s_r = sum_{i in r} d_i (row order) into scratch; gW[U] =
 * C[U]^T s; grad_in[R] = d W[R]^T; gcom[U] = s W[U]^T. */
static void layer0_split_back(esmm_mlp *m, const float *d, size_t n, float *grad_in, float beta, float *gcom,
                              size_t ldg) {
  esmm__layer *ly = &m->layer[0];
  const esmm__mlp_split *sp = &m->split;
  size_t off[2], len[2], h = ly->n_out, u = sp->hi - sp->lo;
  rest_blocks(m, off, len);
  for (int k = 0; k < 2; k++)
    if (len[k])
      esmm__sgemm(1, 0, len[k], h, n, 1.0f, m->input + off[k], ly->n_in, d, h, 0.0f, ly->gw + off[k] * h, h);
  if (!u)
    goto rest;
  if (!sp->n_runs) {
    memset(ly->gw + sp->lo * h, 0, u * h * sizeof *ly->gw);
    goto rest;
  }
  memset(sp->scratch, 0, sp->n_runs * h * sizeof *sp->scratch);
  for (size_t i = 0; i < n; i++)
    if (sp->run[i] >= 0)
      add_row(d + i * h, sp->scratch + (size_t)sp->run[i] * h, h);
  esmm__sgemm(1, 0, u, h, sp->n_runs, 1.0f, sp->c + sp->lo, sp->ldc, sp->scratch, h, 0.0f, ly->gw + sp->lo * h, h);
  if (gcom)
    esmm__sgemm(0, 1, sp->n_runs, u, h, 1.0f, sp->scratch, h, ly->w + sp->lo * h, h, beta, gcom + sp->lo, ldg);
rest:
  if (grad_in)
    for (int k = 0; k < 2; k++)
      if (len[k])
        esmm__sgemm(0, 1, n, len[k], h, 1.0f, d, h, ly->w + off[k] * h, h, beta, grad_in + off[k], ly->n_in);
}

/* Backward; the input gradient is written (beta_in 0) or added (1). */
static int backward(const char *func, esmm_mlp *m, const float *grad_out, float *grad_in, float beta_in,
                    float *gcom, size_t ldg) {
  const float *d = grad_out;
  size_t n;
  if (!m || !grad_out)
    return esmm__error(ESMM_EINVAL, func, "invalid argument: %s", !m ? "m != NULL" : "grad_out != NULL");
  if (!m->have_forward)
    return esmm__error(ESMM_ESTATE, func, "backward called before any forward");
  n = m->batch;
  /* the output layer's bias gradient; every lower layer's comes out of the
   * activation pass that forms its delta */
  colsum(d, m->layer[m->n_layers - 1].gb, n, m->n_out);
  for (size_t l = m->n_layers; l-- > 0;) {
    esmm__layer *ly = &m->layer[l];
    const float *x = l == 0 ? m->input : m->act[l - 1];
    float *prev = l == 0 ? grad_in : m->delta[l % 2];
    if (l == 0 && m->have_split) {
      layer0_split_back(m, d, n, grad_in, beta_in, gcom, ldg);
      break;
    }
    /* gw = x^T d */
    esmm__sgemm(1, 0, ly->n_in, ly->n_out, n, 1.0f, x, ly->n_in, d, ly->n_out, 0.0f, ly->gw, ly->n_out);
    if (!prev)
      continue;
    esmm__sgemm(0, 1, n, ly->n_in, ly->n_out, 1.0f, d, ly->n_out, ly->w, ly->n_out, l == 0 ? beta_in : 0.0f,
                prev, ly->n_in);
    if (l > 0)
      act_backward_colsum(m->activation, m->act[l - 1], prev, m->layer[l - 1].gb, n, ly->n_in);
    d = prev;
  }
  return ESMM_OK;
}

int esmm_mlp_backward(esmm_mlp *m, const float *grad_out, float *grad_in) {
  return backward(__func__, m, grad_out, grad_in, 0.0f, NULL, 0);
}

int esmm__mlp_backward_accumulate(esmm_mlp *m, const float *grad_out, float *grad_in) {
  return backward(__func__, m, grad_out, grad_in, 1.0f, NULL, 0);
}

int esmm__mlp_backward_split(esmm_mlp *m, const float *grad_out, float *grad_in, float beta, float *gcom,
                             size_t ldg) {
  return backward(__func__, m, grad_out, grad_in, beta, gcom, ldg);
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

size_t esmm__mlp_infer_scratch(const esmm_mlp *m, size_t n) { return 2 * n * widest_hidden(m); }

void esmm__mlp_infer(const esmm_mlp *m, const float *in, size_t n, float *out, float *scratch) {
  const float *x = in;
  size_t wide = widest_hidden(m);
  for (size_t l = 0; l < m->n_layers; l++) {
    int last = l + 1 == m->n_layers;
    float *y = last ? out : scratch + (l % 2) * n * wide;
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
