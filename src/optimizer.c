/* optimizer.c - SGD, Adagrad and Adam over caller-owned parameter blocks,
 * dense or lazily row by row (LazyAdam: only listed rows move, in weights
 * and in state). Updates never allocate: state is sized at add_block. */
#include "optimizer.h"

#include "config.h"

#include <math.h>
#include <string.h>

static void set_constants(esmm_optimizer *o) {
  /* Double pow keeps the bias corrections accurate for large t, where
   * beta2^t in float would lose most of 1 - beta2^t. */
  if (o->t > 0) {
    double bc1 = 1.0 - pow(o->beta1_d, (double)o->t);
    double bc2 = 1.0 - pow(o->beta2_d, (double)o->t);
    o->inv_bc1 = (float)(1.0 / bc1);
    o->inv_bc2 = (float)(1.0 / bc2);
  } else {
    o->inv_bc1 = 1.0f;
    o->inv_bc2 = 1.0f;
  }
}

/* Shared by the internal and the public constructor so that errors name
 * the entry point the caller actually used. */
static int opt_create(esmm_optimizer **out, const esmm_config *cfg, const char *func) {
  esmm_config *tmp = NULL;
  const esmm_config *c;
  esmm_optimizer *o;
  int64_t kind;
  int rc;
  if (!out)
    return esmm__error(ESMM_EINVAL, func, "invalid argument: out");
  *out = NULL;
  rc = esmm__config_or_default(cfg, &tmp, &c);
  if (rc < 0)
    return rc;
  kind = esmm__config_int(c, ESMM_OPT_OPTIMIZER);
  if (kind != ESMM_OPTIMIZER_ADAM && kind != ESMM_OPTIMIZER_ADAGRAD && kind != ESMM_OPTIMIZER_SGD) {
    esmm_config_free(tmp);
    return esmm__error(ESMM_EINVAL, func, "unknown optimizer kind %lld", (long long)kind);
  }
  o = esmm__calloc(&c->alloc, 1, sizeof *o);
  if (!o) {
    esmm_config_free(tmp);
    return esmm__error(ESMM_ENOMEM, func, "out of memory allocating the optimizer");
  }
  o->alloc = c->alloc;
  o->kind = (int)kind;
  o->lr = (float)esmm__config_float(c, ESMM_OPT_LEARNING_RATE);
  o->beta1_d = esmm__config_float(c, ESMM_OPT_ADAM_BETA1);
  o->beta2_d = esmm__config_float(c, ESMM_OPT_ADAM_BETA2);
  o->beta1 = (float)o->beta1_d;
  o->beta2 = (float)o->beta2_d;
  o->one_minus_beta1 = (float)(1.0 - o->beta1_d);
  o->one_minus_beta2 = (float)(1.0 - o->beta2_d);
  o->eps = (float)esmm__config_float(c, ESMM_OPT_ADAM_EPS);
  o->l2 = (float)esmm__config_float(c, ESMM_OPT_L2);
  o->adagrad_init = (float)esmm__config_float(c, ESMM_OPT_ADAGRAD_INIT);
  o->t = 0;
  set_constants(o);
  esmm_config_free(tmp);
  *out = o;
  return ESMM_OK;
}

int esmm__optimizer_create(esmm_optimizer **out, const esmm_config *cfg) {
  return opt_create(out, cfg, __func__);
}

int esmm_optimizer_new(esmm_optimizer **out, const esmm_config *cfg) { return opt_create(out, cfg, __func__); }

void esmm_optimizer_free(esmm_optimizer *opt) {
  if (!opt)
    return;
  esmm__allocator a = opt->alloc;
  for (int i = 0; i < opt->n_blocks; i++) {
    esmm__free(&a, opt->blocks[i].s1);
    esmm__free(&a, opt->blocks[i].s2);
    esmm__free(&a, opt->blocks[i].touched);
  }
  esmm__free(&a, opt);
}

/* Blocks of at least this many rows track which rows were written
 * (esmm__opt_block.touched): embedding tables, not tower layers. */
#define TOUCH_ROWS 4096

/* A row's first update writes its state before reading it (optimizer.h). */
static inline void first_touch(const esmm__opt_block *b, size_t row) {
  if (b->touched && !b->touched[row]) {
    memset(b->s1 + row * b->cols, 0, b->cols * sizeof(float));
    memset(b->s2 + row * b->cols, 0, b->cols * sizeof(float));
    b->touched[row] = 1;
  }
}

/* A dense update writes every row. */
static void all_touched(const esmm__opt_block *b, size_t lo, size_t hi) {
  if (b->touched && lo < hi)
    memset(b->touched + lo / b->cols, 1, (hi - 1) / b->cols - lo / b->cols + 1);
}

int esmm_optimizer_add_block(esmm_optimizer *opt, size_t rows, size_t cols, int *id_out) {
  esmm__opt_block b;
  ESMM__CHECK_ARG(id_out);
  *id_out = -1;
  ESMM__CHECK_ARG(opt);
  if (rows == 0 || cols == 0)
    return ESMM__ERR(ESMM_EINVAL, "block of %zu x %zu floats is empty", rows, cols);
  if (opt->n_blocks >= ESMM__OPT_MAX_BLOCKS)
    return ESMM__ERR(ESMM_EINVAL, "too many blocks (max %d)", ESMM__OPT_MAX_BLOCKS);
  memset(&b, 0, sizeof b);
  b.rows = rows;
  b.cols = cols;
  if (!esmm__mul_ok(rows, cols, &b.n) || b.n > SIZE_MAX / (2 * sizeof(float)))
    return ESMM__ERR(ESMM_EINVAL, "block of %zu x %zu floats is too large", rows, cols);
  switch (opt->kind) {
  case ESMM_OPTIMIZER_ADAM:
    b.s1 = esmm__calloc(&opt->alloc, b.n, sizeof(float));
    b.s2 = esmm__calloc(&opt->alloc, b.n, sizeof(float));
    if (rows >= TOUCH_ROWS)
      b.touched = esmm__calloc(&opt->alloc, rows, 1);
    if (!b.s1 || !b.s2 || (rows >= TOUCH_ROWS && !b.touched)) {
      esmm__free(&opt->alloc, b.s1);
      esmm__free(&opt->alloc, b.s2);
      esmm__free(&opt->alloc, b.touched);
      return ESMM__ERR(ESMM_ENOMEM, "out of memory for Adam state of %zu x %zu", rows, cols);
    }
    break;
  case ESMM_OPTIMIZER_ADAGRAD:
    b.s1 = esmm__alloc(&opt->alloc, b.n * sizeof(float));
    if (!b.s1)
      return ESMM__ERR(ESMM_ENOMEM, "out of memory for Adagrad state of %zu x %zu", rows, cols);
    for (size_t i = 0; i < b.n; i++)
      b.s1[i] = opt->adagrad_init;
    break;
  default: /* SGD keeps no state */
    break;
  }
  opt->blocks[opt->n_blocks] = b;
  *id_out = opt->n_blocks++;
  return ESMM_OK;
}

int esmm_optimizer_begin_step(esmm_optimizer *opt) {
  ESMM__CHECK_ARG(opt);
  if (opt->t == INT64_MAX)
    return ESMM__ERR(ESMM_EINVAL, "step count overflow");
  opt->t++;
  set_constants(opt);
  return ESMM_OK;
}

int esmm_optimizer_steps(const esmm_optimizer *opt, int64_t *out) {
  ESMM__CHECK_ARG(out);
  ESMM__CHECK_ARG(opt);
  *out = opt->t;
  return ESMM_OK;
}

/* One contiguous run of n parameters with their state; the kind switch sits
 * outside the loops so each loop is a plain vectorisable kernel. */
/* The L2 term is folded in before the branch-free loops so they vectorise
 * (with -fno-math-errno, sqrtf is a single instruction). */
ESMM__HOT static void update_span(const esmm_optimizer *o, float *restrict w, const float *restrict g,
                        float *restrict s1, float *restrict s2, size_t n) {
  const float lr = o->lr, l2 = o->l2;
  switch (o->kind) {
  case ESMM_OPTIMIZER_SGD:
    for (size_t i = 0; i < n; i++)
      w[i] -= lr * (g[i] + l2 * w[i]);
    break;
  case ESMM_OPTIMIZER_ADAGRAD:
    for (size_t i = 0; i < n; i++) {
      float gi = g[i] + l2 * w[i];
      s1[i] += gi * gi;
      w[i] -= lr * gi / (sqrtf(s1[i]) + ESMM__ADAGRAD_EPS);
    }
    break;
  default: { /* Adam */
    const float b1 = o->beta1, b2 = o->beta2, eps = o->eps;
    const float c1 = o->one_minus_beta1, c2 = o->one_minus_beta2;
    const float ib1 = o->inv_bc1, ib2 = o->inv_bc2;
    for (size_t i = 0; i < n; i++) {
      float gi = g[i] + l2 * w[i];
      float m = b1 * s1[i] + c1 * gi;
      float v = b2 * s2[i] + c2 * gi * gi;
      s1[i] = m;
      s2[i] = v;
      w[i] -= lr * (m * ib1) / (sqrtf(v * ib2) + eps);
    }
    break;
  }
  }
}

static int check_row_update(const esmm_optimizer *opt, int id, const char *func) {
  if (id < 0 || id >= opt->n_blocks)
    return esmm__error(ESMM_EINVAL, func, "block %d unknown (have %d)", id, opt->n_blocks);
  if (opt->t <= 0)
    return esmm__error(ESMM_ESTATE, func, "no step begun: call esmm_optimizer_begin_step first");
  return ESMM_OK;
}

int esmm_optimizer_update_dense(esmm_optimizer *opt, int id, float *param, const float *grad) {
  const esmm__opt_block *b;
  ESMM__CHECK_ARG(opt);
  ESMM__CHECK_ARG(param);
  ESMM__CHECK_ARG(grad);
  ESMM__TRY(check_row_update(opt, id, __func__));
  b = &opt->blocks[id];
  all_touched(b, 0, b->n);
  update_span(opt, param, grad, b->s1, b->s2, b->n);
  return ESMM_OK;
}

int esmm_optimizer_update_rows(esmm_optimizer *opt, int id, float *param, size_t n_rows,
                               const int64_t *rows, const float *grads) {
  const esmm__opt_block *b;
  size_t cols;
  ESMM__CHECK_ARG(opt);
  ESMM__CHECK_ARG(param);
  ESMM__CHECK_ARG(n_rows == 0 || rows);
  ESMM__CHECK_ARG(n_rows == 0 || grads);
  ESMM__TRY(check_row_update(opt, id, __func__));
  b = &opt->blocks[id];
  cols = b->cols;
  /* Validate everything first: a bad index must leave the block untouched. */
  for (size_t r = 0; r < n_rows; r++)
    if (rows[r] < 0 || (uint64_t)rows[r] >= (uint64_t)b->rows)
      return ESMM__ERR(ESMM_EINVAL, "rows[%zu] = %lld out of range [0, %zu) of block %d", r,
                       (long long)rows[r], b->rows, id);
  /* Rows are documented as distinct; a repeated row is simply updated twice. */
  for (size_t r = 0; r < n_rows; r++) {
    size_t off = (size_t)rows[r] * cols;
    first_touch(b, (size_t)rows[r]);
    update_span(opt, param + off, grads + r * cols, b->s1 ? b->s1 + off : NULL,
                b->s2 ? b->s2 + off : NULL, cols);
  }
  return ESMM_OK;
}

int esmm__optimizer_check(const esmm_optimizer *o, int id, size_t n_rows, const int64_t *rows, const char *func) {
  const esmm__opt_block *b;
  ESMM__TRY(check_row_update(o, id, func));
  b = &o->blocks[id];
  for (size_t r = 0; r < n_rows; r++)
    if (rows[r] < 0 || (uint64_t)rows[r] >= (uint64_t)b->rows)
      return esmm__error(ESMM_EINVAL, func, "rows[%zu] = %lld out of range [0, %zu) of block %d", r,
                         (long long)rows[r], b->rows, id);
  return ESMM_OK;
}

void esmm__optimizer_dense_range(const esmm_optimizer *o, int id, float *param, const float *grad, size_t lo,
                                 size_t hi) {
  const esmm__opt_block *b = &o->blocks[id];
  all_touched(b, lo, hi);
  if (lo < hi)
    update_span(o, param + lo, grad + lo, b->s1 ? b->s1 + lo : NULL, b->s2 ? b->s2 + lo : NULL, hi - lo);
}

void esmm__optimizer_rows_range(const esmm_optimizer *o, int id, float *param, const int64_t *rows,
                                const float *grads, size_t lo, size_t hi) {
  const esmm__opt_block *b = &o->blocks[id];
  size_t cols = b->cols;
  for (size_t r = lo; r < hi; r++) {
    size_t off = (size_t)rows[r] * cols;
    first_touch(b, (size_t)rows[r]);
    update_span(o, param + off, grads + r * cols, b->s1 ? b->s1 + off : NULL, b->s2 ? b->s2 + off : NULL, cols);
  }
}

int esmm__optimizer_state(esmm_optimizer *o, int id, float **s1, float **s2, size_t *n) {
  ESMM__CHECK_ARG(o);
  if (id < 0 || id >= o->n_blocks)
    return ESMM__ERR(ESMM_EINVAL, "block %d unknown (have %d)", id, o->n_blocks);
  if (o->blocks[id].touched)
    memset(o->blocks[id].touched, 1, o->blocks[id].rows);
  if (s1)
    *s1 = o->blocks[id].s1;
  if (s2)
    *s2 = o->blocks[id].s2;
  if (n)
    *n = o->blocks[id].n;
  return ESMM_OK;
}

int esmm__optimizer_block_shape(const esmm_optimizer *o, int id, size_t *rows, size_t *cols) {
  ESMM__CHECK_ARG(o);
  if (id < 0 || id >= o->n_blocks)
    return ESMM__ERR(ESMM_EINVAL, "block %d unknown (have %d)", id, o->n_blocks);
  if (rows)
    *rows = o->blocks[id].rows;
  if (cols)
    *cols = o->blocks[id].cols;
  return ESMM_OK;
}

void esmm__optimizer_set_steps(esmm_optimizer *o, int64_t t) {
  if (!o)
    return;
  o->t = t < 0 ? 0 : t;
  set_constants(o);
}
