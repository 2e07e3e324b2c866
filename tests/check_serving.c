/* check_serving.c - serving and checkpoints: CSR and one-user-many-items
 * prediction against the dataset path and against an independent double
 * precision forward pass, bit-exact results from several threads on one
 * model, no allocation per call (counting allocator), argument errors;
 * checkpoints: bit-identical resume (buffer, file, and after kill -9 of a
 * training child), every truncation and byte flip of a checkpoint refused.
 *
 * Why one file of this length: the serving cases share one independent double-precision
 * reference forward pass and its fixtures.
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "model.h"
#include "optimizer.h"
#include "support/support.h"

#define MAXT 64
#define NF 4

/* ---- fixtures ------------------------------------------------------------ */

static esmm_config *cfg_small(int optimizer, esmm_alloc_fn af, esmm_free_fn ff, void *payload) {
  esmm_config *c = NULL;
  const char *names[NF] = {"user", "age", "item", "cat"};
  const int64_t buckets[NF] = {64, 8, 97, 16};
  const int64_t ctr[2] = {16, 8}, cvr[1] = {12};
  ck_assert_int_eq(esmm_config_new(&c), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_fields(c, NF, names, buckets), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_EMBED_DIM, 6), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_ints(c, ESMM_OPT_CTR_TOWER, ctr, 2), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_ints(c, ESMM_OPT_CVR_TOWER, cvr, 1), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_BATCH_SIZE, 16), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_OPTIMIZER, optimizer), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_float(c, ESMM_OPT_LEARNING_RATE, 0.05), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_SEED, 7), ESMM_OK);
  if (af)
    ck_assert_int_eq(esmm_config_set_allocator(c, af, ff, payload), ESMM_OK);
  return c;
}

static uint64_t lcg(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return *s >> 17;
}

/* A grouped dataset: `users` users (common list: user id, age), each with
 * `per` impressions (own features: item id, category; some with a second
 * item id and a value), labels with a signal so training moves. */
static esmm_dataset *make_data(const esmm_config *c, int users, int per, uint64_t seed) {
  esmm_dataset *ds = NULL;
  uint64_t s = seed;
  ck_assert_int_eq(esmm_dataset_new(&ds, c), ESMM_OK);
  for (int u = 0; u < users; u++) {
    int cf[2] = {0, 1};
    uint64_t cid[2] = {lcg(&s) % 1000, lcg(&s) % 7};
    float cv[2] = {1.0f, 0.5f};
    int64_t ci;
    ck_assert_int_eq(esmm_dataset_add_common(ds, 2, cf, cid, cv, &ci), ESMM_OK);
    for (int r = 0; r < per; r++) {
      int f[3] = {2, 3, 2};
      uint64_t id[3] = {lcg(&s) % 5000, lcg(&s) % 20, lcg(&s) % 5000};
      float v[3] = {1.0f, 1.0f, 0.25f};
      int64_t off[2] = {0, (lcg(&s) & 1) ? 3 : 2};
      int y = (id[0] % 3 == 0) || (lcg(&s) % 10 == 0);
      int z = y && (id[1] % 2 == 0);
      ck_assert_int_eq(esmm_dataset_add_rows(ds, 1, &y, &z, &ci, off, f, id, v), ESMM_OK);
    }
  }
  return ds;
}

static esmm_model *trained_model(int steps) {
  esmm_config *c = cfg_small(ESMM_OPTIMIZER_ADAM, NULL, NULL, NULL);
  esmm_dataset *ds = make_data(c, 20, 8, 1);
  esmm_model *m = NULL;
  ck_assert_int_eq(esmm_model_new(&m, c), ESMM_OK);
  ck_assert_int_eq(esmm_model_train_steps(m, ds, steps, NULL, NULL), ESMM_OK);
  esmm_dataset_free(ds);
  esmm_config_free(c);
  return m;
}

static int same_bits(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof *a) == 0; }

/* Every parameter and optimizer array of two models, bitwise. */
static void assert_models_identical(esmm_model *a, esmm_model *b) {
  esmm__tensor ta[MAXT], tb[MAXT];
  size_t na = esmm__model_tensors(a, ta, MAXT), nb = esmm__model_tensors(b, tb, MAXT);
  ck_assert_uint_eq(na, nb);
  for (size_t i = 0; i < na; i++)
    if (!same_bits(ta[i].data, tb[i].data, ta[i].rows * ta[i].cols))
      ck_abort_msg("tensor %s differs", ta[i].name);
  ck_assert_int_eq(a->opt->n_blocks, b->opt->n_blocks);
  ck_assert_int_eq(a->opt->t, b->opt->t);
  for (int k = 0; k < a->opt->n_blocks; k++) {
    const esmm__opt_block *x = &a->opt->blocks[k], *y = &b->opt->blocks[k];
    if ((x->s1 && !same_bits(x->s1, y->s1, x->n)) || (x->s2 && !same_bits(x->s2, y->s2, x->n)))
      ck_abort_msg("optimizer block %d differs", k);
  }
  ck_assert_int_eq(a->step, b->step);
  ck_assert_int_eq(a->epoch, b->epoch);
  ck_assert_int_eq(a->samples, b->samples);
}

/* ---- prediction ------------------------------------------------------------ */

/* Independent forward pass in double: pool by hand from the table, then
 * dense layers with ReLU, then the head. */
static void reference(esmm_model *m, size_t nnz, const int *f, const uint64_t *id, const float *v, double out[3]) {
  esmm__tensor t[MAXT];
  size_t nt = esmm__model_tensors(m, t, MAXT), dim = m->dim, in = m->in_dim;
  double x[1024], y[1024], logit[2];
  size_t k = 1;
  ck_assert_uint_le(in, 1024);
  memset(x, 0, sizeof x);
  for (size_t j = 0; j < nnz; j++) {
    int64_t row = esmm__embedding_row(m->emb, f[j], id[j]);
    for (size_t d = 0; d < dim; d++)
      x[(size_t)f[j] * dim + d] += (double)(v ? v[j] : 1.0f) * t[0].data[(size_t)row * dim + d];
  }
  for (int tw = 0; tw < 2; tw++) {
    double cur[1024];
    size_t w = in;
    memcpy(cur, x, sizeof cur);
    for (; k < nt && strncmp(t[k].name, tw ? "cvr" : "ctr", 3) == 0; k += 2) {
      const esmm__tensor *W = &t[k], *B = &t[k + 1];
      int last = k + 2 >= nt || strncmp(t[k + 2].name, tw ? "cvr" : "ctr", 3) != 0 ||
                 strcmp(t[k + 2].name + 4, "0.w") == 0;
      ck_assert_uint_eq(W->rows, w);
      for (size_t o = 0; o < W->cols; o++) {
        double a = B->data[o];
        for (size_t i = 0; i < w; i++)
          a += cur[i] * W->data[i * W->cols + o];
        y[o] = last ? a : (a > 0 ? a : 0);
      }
      w = W->cols;
      memcpy(cur, y, w * sizeof *y);
    }
    logit[tw] = cur[0];
  }
  out[0] = 1 / (1 + exp(-logit[0]));
  out[1] = 1 / (1 + exp(-logit[1]));
  out[2] = out[0] * out[1];
}

START_TEST(test_user_items_match_dataset_and_reference) {
  esmm_model *m = trained_model(30);
  esmm_config *c = NULL;
  esmm_dataset *ds;
  esmm_workspace *ws = NULL;
  enum { N = 100 };
  int uf[2] = {0, 1}, itf[2 * N];
  uint64_t uid[2] = {123, 4}, iid[2 * N];
  float uv[2] = {1.0f, 0.5f};
  int64_t ioff[N + 1];
  float a[3][N], b[3][N];
  int64_t ci;
  int y[N], z[N];
  ck_assert_int_eq(esmm_model_config(m, &c), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_new(&ds, c), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_add_common(ds, 2, uf, uid, uv, &ci), ESMM_OK);
  ioff[0] = 0;
  for (int i = 0; i < N; i++) {
    itf[2 * i] = 2;
    itf[2 * i + 1] = 3;
    iid[2 * i] = (uint64_t)i * 7919u;
    iid[2 * i + 1] = (uint64_t)i % 13;
    ioff[i + 1] = 2 * (i + 1);
    y[i] = z[i] = 0;
  }
  {
    int64_t com[N];
    for (int i = 0; i < N; i++)
      com[i] = ci;
    ck_assert_int_eq(esmm_dataset_add_rows(ds, N, y, z, com, ioff, itf, iid, NULL), ESMM_OK);
  }
  ck_assert_int_eq(esmm_workspace_new(&ws, m, 32), ESMM_OK);
  ck_assert_int_eq(esmm_model_predict(m, ws, ds, 0, N, a[0], a[1], a[2]), ESMM_OK);
  ck_assert_int_eq(esmm_model_predict_user(m, ws, 2, uf, uid, uv, N, ioff, itf, iid, NULL, NULL, b[0], b[1], b[2]),
                   ESMM_OK);
  for (int k = 0; k < 3; k++)
    ck_assert_msg(same_bits(a[k], b[k], N), "output %d differs from the dataset path", k);
  /* and an independent computation (float vs double: 1e-5) */
  for (int i = 0; i < N; i++) {
    int f[4] = {2, 3, 0, 1};
    uint64_t id[4] = {iid[2 * i], iid[2 * i + 1], uid[0], uid[1]};
    float v[4] = {1, 1, uv[0], uv[1]};
    double r[3];
    reference(m, 4, f, id, v, r);
    for (int k = 0; k < 3; k++)
      ck_assert_msg(fabs(r[k] - b[k][i]) < 1e-5, "item %d output %d: %.9g vs reference %.9g", i, k, b[k][i], r[k]);
  }
  /* NULL workspace and NULL outputs are fine; a one-row workspace too */
  ck_assert_int_eq(esmm_model_predict_user(m, NULL, 2, uf, uid, uv, N, ioff, itf, iid, NULL, NULL, NULL, b[1], NULL),
                   ESMM_OK);
  for (int i = 0; i < N; i++) /* another chunking: SGEMM may round differently */
    ck_assert_msg(fabsf(a[1][i] - b[1][i]) <= 1e-6f, "NULL workspace item %d", i);
  esmm_workspace_free(ws);
  ck_assert_int_eq(esmm_workspace_new(&ws, m, 1), ESMM_OK);
  ck_assert_int_eq(esmm_model_predict_user(m, ws, 2, uf, uid, uv, N, ioff, itf, iid, NULL, NULL, b[0], b[1], b[2]),
                   ESMM_OK);
  for (int i = 0; i < N; i++)
    for (int k = 0; k < 3; k++)
      ck_assert_msg(fabsf(a[k][i] - b[k][i]) <= 1e-6f, "batch-1 item %d output %d", i, k);
  esmm_workspace_free(ws);
  esmm_dataset_free(ds);
  esmm_config_free(c);
  esmm_model_free(m);
}
END_TEST

START_TEST(test_csr_matches_dataset) {
  esmm_model *m = trained_model(20);
  esmm_config *c = NULL;
  esmm_dataset *ds;
  enum { N = 50 };
  int f[3 * N], y[N] = {0}, z[N] = {0};
  uint64_t id[3 * N];
  float v[3 * N], a[3][N], b[3][N];
  int64_t off[N + 1];
  esmm_workspace *ws = NULL;
  size_t k = 0;
  off[0] = 0;
  for (int i = 0; i < N; i++) {
    for (int j = 0; j < 1 + i % 3; j++, k++) {
      f[k] = (i + j) % NF;
      id[k] = (uint64_t)(i * 31 + j * 1000003);
      v[k] = 0.5f + (float)j;
    }
    off[i + 1] = (int64_t)k;
  }
  ck_assert_int_eq(esmm_model_config(m, &c), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_new(&ds, c), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_add_rows(ds, N, y, z, NULL, off, f, id, v), ESMM_OK);
  ck_assert_int_eq(esmm_workspace_new(&ws, m, 16), ESMM_OK);
  ck_assert_int_eq(esmm_model_predict(m, ws, ds, 0, N, a[0], a[1], a[2]), ESMM_OK);
  ck_assert_int_eq(esmm_model_predict_csr(m, ws, N, off, f, id, v, NULL, b[0], b[1], b[2]), ESMM_OK);
  for (int o = 0; o < 3; o++)
    ck_assert_msg(same_bits(a[o], b[o], N), "output %d differs from the dataset path", o);
  for (int i = 0; i < N; i++) {
    double r[3];
    reference(m, (size_t)(off[i + 1] - off[i]), f + off[i], id + off[i], v + off[i], r);
    for (int o = 0; o < 3; o++)
      ck_assert_msg(fabs(r[o] - b[o][i]) < 1e-5, "row %d output %d: %.9g vs %.9g", i, o, b[o][i], r[o]);
  }
  esmm_workspace_free(ws);
  esmm_dataset_free(ds);
  esmm_config_free(c);
  esmm_model_free(m);
}
END_TEST

START_TEST(test_no_allocation_per_call) {
  test_counter cnt = TEST_COUNTER_INIT;
  esmm_config *c = cfg_small(ESMM_OPTIMIZER_ADAM, test_counting_alloc, test_counting_free, &cnt);
  esmm_model *m = NULL;
  esmm_workspace *ws = NULL;
  int uf[1] = {0}, itf[4] = {2, 3, 2, 3};
  uint64_t uid[1] = {5}, iid[4] = {1, 2, 3, 4};
  int64_t ioff[3] = {0, 2, 4};
  float p[3][2];
  long before;
  ck_assert_int_eq(esmm_model_new(&m, c), ESMM_OK);
  ck_assert_int_eq(esmm_workspace_new(&ws, m, 8), ESMM_OK);
  ck_assert_int_gt(cnt.allocs, 0); /* the hook is in use */
  before = cnt.allocs;
  for (int r = 0; r < 200; r++) {
    ck_assert_int_eq(esmm_model_predict_user(m, ws, 1, uf, uid, NULL, 2, ioff, itf, iid, NULL, NULL, p[0], p[1], p[2]),
                     ESMM_OK);
    ck_assert_int_eq(esmm_model_predict_csr(m, ws, 2, ioff, itf, iid, NULL, NULL, p[0], p[1], p[2]), ESMM_OK);
  }
  ck_assert_int_eq(cnt.allocs, before);
  /* without a workspace the call allocates one and frees it */
  ck_assert_int_eq(esmm_model_predict_csr(m, NULL, 2, ioff, itf, iid, NULL, NULL, p[0], p[1], p[2]), ESMM_OK);
  ck_assert_int_gt(cnt.allocs, before);
  esmm_workspace_free(ws);
  esmm_model_free(m);
  esmm_config_free(c);
  ck_assert_int_eq(cnt.allocs, cnt.frees);
}
END_TEST

/* Several threads, one model, one workspace each, against the results of
 * one thread. */
enum { USERS = 40, ITEMS = 37 };
typedef struct job {
  const esmm_model *m;
  int first, step;
  float out[USERS][3][ITEMS];
  int rc;
} job;

static void request(int u, int *uf, uint64_t *uid, int64_t *ioff, int *itf, uint64_t *iid) {
  uf[0] = 0;
  uf[1] = 1;
  uid[0] = (uint64_t)u * 101u;
  uid[1] = (uint64_t)u % 5;
  ioff[0] = 0;
  for (int i = 0; i < ITEMS; i++) {
    itf[2 * i] = 2;
    itf[2 * i + 1] = 3;
    iid[2 * i] = (uint64_t)(u * 7 + i * 13);
    iid[2 * i + 1] = (uint64_t)i % 9;
    ioff[i + 1] = 2 * (i + 1);
  }
}

static void *worker(void *arg) {
  job *j = arg;
  esmm_workspace *ws = NULL;
  j->rc = esmm_workspace_new(&ws, j->m, 16);
  for (int rep = 0; rep < 5 && j->rc == ESMM_OK; rep++)
    for (int u = j->first; u < USERS && j->rc == ESMM_OK; u += j->step) {
      int uf[2], itf[2 * ITEMS];
      uint64_t uid[2], iid[2 * ITEMS];
      int64_t ioff[ITEMS + 1];
      request(u, uf, uid, ioff, itf, iid);
      j->rc = esmm_model_predict_user(j->m, ws, 2, uf, uid, NULL, ITEMS, ioff, itf, iid, NULL, NULL, j->out[u][0],
                                      j->out[u][1], j->out[u][2]);
    }
  esmm_workspace_free(ws);
  return NULL;
}

START_TEST(test_threads_bit_exact) {
  esmm_model *m = trained_model(25);
  static job single, par[4];
  pthread_t th[4];
  single.m = m;
  single.first = 0;
  single.step = 1;
  worker(&single);
  ck_assert_int_eq(single.rc, ESMM_OK);
  for (int t = 0; t < 4; t++) {
    par[t].m = m;
    par[t].first = t;
    par[t].step = 4;
    ck_assert_int_eq(pthread_create(&th[t], NULL, worker, &par[t]), 0);
  }
  for (int t = 0; t < 4; t++) {
    ck_assert_int_eq(pthread_join(th[t], NULL), 0);
    ck_assert_int_eq(par[t].rc, ESMM_OK);
  }
  for (int u = 0; u < USERS; u++)
    ck_assert_msg(same_bits(&single.out[u][0][0], &par[u % 4].out[u][0][0], 3 * ITEMS), "user %d differs", u);
  esmm_model_free(m);
}
END_TEST

START_TEST(test_bad_arguments) {
  esmm_model *m = trained_model(1);
  esmm_workspace *ws = NULL, *other = NULL;
  esmm_model *m2 = NULL;
  esmm_config *c2 = NULL;
  int f[2] = {2, 9};
  uint64_t id[2] = {1, 2};
  float v[2] = {1, NAN}, p[2] = {-1, -1};
  int64_t off[3] = {0, 1, 2}, bad[3] = {0, 2, 1}, nz[2] = {1, 1};
  ck_assert_int_eq(esmm_model_predict_csr(NULL, NULL, 1, off, f, id, NULL, NULL, p, NULL, NULL), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_model_predict_csr: invalid argument: m");
  ck_assert_int_eq(esmm_model_predict_csr(m, NULL, 2, bad, f, id, NULL, NULL, p, NULL, NULL), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_model_predict_csr: offsets decrease at 1 (1 after 2)");
  ck_assert_int_eq(esmm_model_predict_csr(m, NULL, 1, nz, f, id, NULL, NULL, p, NULL, NULL), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_model_predict_csr: offsets[0] must be 0, got 1");
  ck_assert_int_eq(esmm_model_predict_csr(m, NULL, 2, off, f, id, NULL, NULL, p, NULL, NULL), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(),
                   "esmm_model_predict_csr: rows: feature 1 has field index 9, the model has 4 fields");
  f[1] = 3;
  ck_assert_int_eq(esmm_model_predict_csr(m, NULL, 2, off, f, id, v, NULL, p, NULL, NULL), ESMM_ENUMERIC);
  ck_assert_str_eq(esmm_last_error(), "esmm_model_predict_csr: rows: feature 1 has a non-finite value");
  ck_assert_int_eq(esmm_model_predict_csr(m, NULL, 2, off, NULL, id, NULL, NULL, p, NULL, NULL), ESMM_EINVAL);
  ck_assert(p[0] == -1 && p[1] == -1); /* outputs untouched on failure */
  ck_assert_int_eq(esmm_model_predict_user(m, NULL, 1, NULL, id, NULL, 1, off, f, id, NULL, NULL, p, NULL, NULL),
                   ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(),
                   "esmm_model_predict_user: invalid argument: user_nnz == 0 || (user_field && user_id)");
  ck_assert_int_eq(esmm_model_predict_user(m, NULL, 1, f, id, v + 1, 1, off, f, id, NULL, NULL, p, NULL, NULL),
                   ESMM_ENUMERIC);
  ck_assert_str_eq(esmm_last_error(), "esmm_model_predict_user: user features: feature 0 has a non-finite value");
  /* a workspace of another shape */
  c2 = cfg_small(ESMM_OPTIMIZER_SGD, NULL, NULL, NULL);
  ck_assert_int_eq(esmm_config_set_int(c2, ESMM_OPT_EMBED_DIM, 3), ESMM_OK);
  ck_assert_int_eq(esmm_model_new(&m2, c2), ESMM_OK);
  ck_assert_int_eq(esmm_workspace_new(&other, m2, 4), ESMM_OK);
  ck_assert_int_eq(esmm_model_predict_csr(m, other, 2, off, f, id, NULL, NULL, p, NULL, NULL), ESMM_ESHAPE);
  ck_assert_str_eq(esmm_last_error(), "esmm_model_predict_csr: the workspace was made for another model shape");
  /* zero rows: nothing to do, nothing touched */
  ck_assert_int_eq(esmm_model_predict_csr(m, ws, 0, off, NULL, NULL, NULL, NULL, NULL, NULL, NULL), ESMM_OK);
  esmm_workspace_free(other);
  esmm_model_free(m2);
  esmm_config_free(c2);
  esmm_model_free(m);
}
END_TEST

/* ---- checkpoints --------------------------------------------------------- */

static void resume_case(int optimizer, int total, int k, int via_file) {
  esmm_config *c = cfg_small(optimizer, NULL, NULL, NULL);
  esmm_dataset *ds = make_data(c, 13, 9, 3); /* 117 rows: epochs of 8 batches, the last one short */
  esmm_dataset *ds2 = make_data(c, 13, 9, 3); /* the same rows, another object (as after a restart) */
  esmm_model *straight = NULL, *part = NULL, *resumed = NULL;
  char path[] = "/tmp/esmm_ckpt_XXXXXX";
  ck_assert_int_eq(esmm_model_new(&straight, c), ESMM_OK);
  ck_assert_int_eq(esmm_model_train_steps(straight, ds, total, NULL, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_model_new(&part, c), ESMM_OK);
  ck_assert_int_eq(esmm_model_train_steps(part, ds, k, NULL, NULL), ESMM_OK);
  if (via_file) {
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(esmm_model_save_checkpoint(part, path), ESMM_OK);
    if (esmm_model_load_checkpoint(&resumed, path, NULL) != ESMM_OK)
      ck_abort_msg("%s", esmm_last_error());
    unlink(path);
  } else {
    size_t n = 0;
    unsigned char *buf;
    ck_assert_int_eq(esmm_model_save_checkpoint_buffer(part, NULL, 0, &n), ESMM_EBUFS);
    buf = malloc(n);
    ck_assert_int_eq(esmm_model_save_checkpoint_buffer(part, buf, n, &n), ESMM_OK);
    if (esmm_model_load_checkpoint_buffer(&resumed, buf, n, NULL) != ESMM_OK)
      ck_abort_msg("%s", esmm_last_error());
    free(buf);
  }
  esmm_model_free(part);
  ck_assert_int_eq(esmm_model_train_steps(resumed, ds2, total - k, NULL, NULL), ESMM_OK);
  assert_models_identical(straight, resumed);
  esmm_model_free(straight);
  esmm_model_free(resumed);
  esmm_dataset_free(ds);
  esmm_dataset_free(ds2);
  esmm_config_free(c);
}

START_TEST(test_resume_bit_identical) {
  resume_case(ESMM_OPTIMIZER_ADAM, 30, 11, 0); /* mid-epoch */
  resume_case(ESMM_OPTIMIZER_ADAM, 30, 8, 1);  /* at an epoch boundary */
  resume_case(ESMM_OPTIMIZER_ADAGRAD, 25, 3, 0);
  resume_case(ESMM_OPTIMIZER_SGD, 25, 17, 1);
  resume_case(ESMM_OPTIMIZER_ADAM, 10, 0, 0); /* before any step */
}
END_TEST

/* A child trains forever, writing a checkpoint every 3 steps and telling
 * the parent the step of each over a pipe; the parent kill -9's it after a
 * few, at an arbitrary point (possibly mid-save), then resumes from the
 * file and must match a straight run at the same step. */
START_TEST(test_kill9_resume) {
  esmm_config *c = cfg_small(ESMM_OPTIMIZER_ADAM, NULL, NULL, NULL);
  char path[] = "/tmp/esmm_kill_XXXXXX";
  int fds[2], fd = mkstemp(path);
  pid_t pid;
  int64_t seen = 0, got = 0;
  esmm_model *resumed = NULL, *straight = NULL;
  esmm_dataset *ds;
  double step;
  ck_assert_int_ge(fd, 0);
  close(fd);
  ck_assert_int_eq(pipe(fds), 0);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    esmm_model *m = NULL;
    esmm_dataset *d = make_data(c, 13, 9, 3);
    close(fds[0]);
    if (esmm_model_new(&m, c) != ESMM_OK)
      _exit(2);
    for (;;) {
      int64_t s;
      double st;
      if (esmm_model_train_steps(m, d, 3, NULL, NULL) != ESMM_OK || esmm_model_save_checkpoint(m, path) != ESMM_OK)
        _exit(3);
      esmm_model_stat(m, ESMM_STAT_STEP, &st);
      s = (int64_t)st;
      if (write(fds[1], &s, sizeof s) != (ssize_t)sizeof s)
        _exit(4);
    }
  }
  close(fds[1]);
  while (seen < 4 && read(fds[0], &got, sizeof got) == (ssize_t)sizeof got)
    seen++;
  ck_assert_int_eq(seen, 4);
  /* the child is training (or saving) again right now */
  ck_assert_int_eq(kill(pid, SIGKILL), 0);
  {
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  }
  close(fds[0]);
  ck_assert_int_eq(esmm_model_load_checkpoint(&resumed, path, NULL), ESMM_OK);
  unlink(path);
  esmm_model_stat(resumed, ESMM_STAT_STEP, &step);
  ck_assert_int_ge((int64_t)step, 12); /* the 4th checkpoint or a later one */
  ck_assert_int_eq((int64_t)step % 3, 0);
  ds = make_data(c, 13, 9, 3);
  ck_assert_int_eq(esmm_model_train_steps(resumed, ds, 40 - (int64_t)step, NULL, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_model_new(&straight, c), ESMM_OK);
  ck_assert_int_eq(esmm_model_train_steps(straight, ds, 40, NULL, NULL), ESMM_OK);
  assert_models_identical(straight, resumed);
  esmm_model_free(straight);
  esmm_model_free(resumed);
  esmm_dataset_free(ds);
  esmm_config_free(c);
}
END_TEST

START_TEST(test_checkpoint_corruption) {
  esmm_config *c = cfg_small(ESMM_OPTIMIZER_ADAM, NULL, NULL, NULL);
  esmm_dataset *ds;
  esmm_model *m = NULL, *l = NULL;
  unsigned char *buf, *plain;
  size_t n = 0, pn = 0;
  /* a tiny model so that every offset and every byte can be tried */
  const char *names[2] = {"u", "i"};
  const int64_t buckets[2] = {3, 4}, ctr[1] = {2};
  ck_assert_int_eq(esmm_config_set_fields(c, 2, names, buckets), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_EMBED_DIM, 2), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_ints(c, ESMM_OPT_CTR_TOWER, ctr, 1), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_ints(c, ESMM_OPT_CVR_TOWER, NULL, 0), ESMM_OK);
  ck_assert_int_eq(esmm_model_new(&m, c), ESMM_OK);
  {
    int f[2] = {0, 1}, y[3] = {1, 0, 1}, z[3] = {1, 0, 0};
    uint64_t id[6] = {1, 2, 3, 4, 5, 6};
    int fl[6] = {0, 1, 0, 1, 0, 1};
    int64_t off[4] = {0, 2, 4, 6};
    (void)f;
    ck_assert_int_eq(esmm_dataset_new(&ds, c), ESMM_OK);
    ck_assert_int_eq(esmm_dataset_add_rows(ds, 3, y, z, NULL, off, fl, id, NULL), ESMM_OK);
  }
  ck_assert_int_eq(esmm_model_train_steps(m, ds, 1, NULL, NULL), ESMM_OK);
  esmm_model_save_checkpoint_buffer(m, NULL, 0, &n);
  buf = malloc(n);
  ck_assert_int_eq(esmm_model_save_checkpoint_buffer(m, buf, n, &n), ESMM_OK);
  /* a checkpoint is also a model file */
  ck_assert_int_eq(esmm_model_load_buffer(&l, buf, n, NULL), ESMM_OK);
  esmm_model_free(l);
  /* a model file is not a checkpoint */
  esmm_model_save_buffer(m, NULL, 0, &pn);
  plain = malloc(pn);
  ck_assert_int_eq(esmm_model_save_buffer(m, plain, pn, &pn), ESMM_OK);
  ck_assert_int_eq(esmm_model_load_checkpoint_buffer(&l, plain, pn, NULL), ESMM_ECORRUPT);
  ck_assert_str_eq(esmm_last_error(), "esmm_model_load_checkpoint_buffer: not a checkpoint: the optimizer section is "
                                      "missing (a plain model file? load it with esmm_model_load)");
  ck_assert_ptr_null(l);
  for (size_t k = 0; k < n; k++) {
    int rc = esmm_model_load_checkpoint_buffer(&l, buf, k, NULL);
    if (rc != ESMM_ECORRUPT || l)
      ck_abort_msg("truncated to %zu of %zu: status %d", k, n, rc);
  }
  for (size_t i = 0; i < n; i++)
    for (int b = 0; b < 8; b++) {
      int rc;
      buf[i] ^= (unsigned char)(1u << b);
      rc = esmm_model_load_checkpoint_buffer(&l, buf, n, NULL);
      buf[i] ^= (unsigned char)(1u << b);
      if (rc == ESMM_OK || l)
        ck_abort_msg("byte %zu bit %d flipped: accepted", i, b);
    }
  ck_assert_int_eq(esmm_model_load_checkpoint_buffer(&l, buf, n, NULL), ESMM_OK);
  esmm_model_free(l);
  free(buf);
  free(plain);
  esmm_dataset_free(ds);
  esmm_model_free(m);
  esmm_config_free(c);
}
END_TEST

/* ---- every variant ---------------------------------------------------------- */

/* Each variant (and ESMM with the click-space CVR loss): the variants with a
 * second embedding table (ESMM_NS, BASE, DIVISION) pool every row through
 * both tables, DIVISION's head divides, ESCM2_DR has a third tower; serving
 * and checkpoints must follow all of it. */
typedef struct vcase {
  const char *label;
  int variant;
  double click_weight;
} vcase;

static const vcase vcases[] = {
    {"esmm", ESMM_VARIANT_ESMM, 0},          {"esmm+click", ESMM_VARIANT_ESMM, 0.7},
    {"esmm_ns", ESMM_VARIANT_ESMM_NS, 0},    {"base", ESMM_VARIANT_BASE, 0},
    {"division", ESMM_VARIANT_DIVISION, 0},  {"escm2_ips", ESMM_VARIANT_ESCM2_IPS, 0},
    {"escm2_dr", ESMM_VARIANT_ESCM2_DR, 0},
};
#define N_VCASES ((int)(sizeof vcases / sizeof vcases[0]))
#define VDENSE 2

/* 3 fields, dim 4, towers 8,4 / 6, batch 16, n_dense numeric inputs. */
static esmm_config *cfg_variant(const vcase *vc, int n_dense) {
  const char *names[3] = {"u", "i", "k"};
  const int64_t buckets[3] = {31, 67, 13};
  esmm_config *c = test_tower_config(names, buckets, 16);
  ck_assert_int_eq(esmm_config_set_float(c, ESMM_OPT_LEARNING_RATE, 0.05), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_float(c, ESMM_OPT_INIT_SCALE, 0.3), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_DENSE_FEATURES, n_dense), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_VARIANT, vc->variant), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_float(c, ESMM_OPT_CVR_CLICK_WEIGHT, vc->click_weight), ESMM_OK);
  return c;
}

/* n rows in 4 user groups (every fifth row without a common list), own
 * features of fields 1 and 2 (sometimes a weighted second one of field 0),
 * numeric inputs when the config has them, labels with a signal. */
static esmm_dataset *vdata(const esmm_config *c, int n, uint64_t seed) {
  esmm_dataset *ds = NULL;
  uint64_t s = seed;
  int64_t ci[4], nd = 0;
  ck_assert_int_eq(esmm_config_get_int(c, ESMM_OPT_DENSE_FEATURES, &nd), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_new(&ds, c), ESMM_OK);
  for (int g = 0; g < 4; g++) {
    int cf[2] = {0, 0};
    uint64_t cid[2] = {lcg(&s) % 500, lcg(&s) % 500};
    float cv[2] = {1.0f, 0.5f};
    ck_assert_int_eq(esmm_dataset_add_common(ds, 2, cf, cid, cv, &ci[g]), ESMM_OK);
  }
  for (int r = 0; r < n; r++) {
    int f[3] = {1, 2, 0};
    uint64_t id[3] = {lcg(&s) % 3000, lcg(&s) % 40, lcg(&s) % 500};
    float v[3] = {1.0f, 0.75f, 2.0f};
    int64_t off[2] = {0, (r & 1) ? 3 : 2};
    int64_t com = r % 5 == 4 ? -1 : ci[r % 4];
    int y = (id[0] % 3 == 0) || (lcg(&s) % 7 == 0);
    int z = y && (id[1] % 2 == 0);
    ck_assert_int_eq(esmm_dataset_add_rows(ds, 1, &y, &z, &com, off, f, id, v), ESMM_OK);
    if (nd > 0) {
      float d[VDENSE];
      ck_assert_int_le(nd, VDENSE);
      for (int k = 0; k < nd; k++)
        d[k] = (float)(lcg(&s) % 200) / 100.0f - 1.0f;
      ck_assert_int_eq(esmm_dataset_set_dense(ds, (size_t)r, 1, d), ESMM_OK);
    }
  }
  return ds;
}

static esmm_model *trained_variant(const vcase *vc, int n_dense, int steps) {
  esmm_config *c = cfg_variant(vc, n_dense);
  esmm_dataset *ds = vdata(c, 48, 11);
  esmm_model *m = NULL;
  ck_assert_int_eq(esmm_model_new(&m, c), ESMM_OK);
  ck_assert_int_eq(esmm_model_train_steps(m, ds, steps, NULL, NULL), ESMM_OK);
  esmm_dataset_free(ds);
  esmm_config_free(c);
  return m;
}

/* (b) checkpoint after k steps -> load -> train to N == N straight, bit for
 * bit (one thread), at several k: before any step, mid-epoch (48 rows =
 * 3 batches per epoch), at an epoch boundary; Adam and Adagrad. */
static void variant_resume(const vcase *vc, int optimizer, int total, int k) {
  esmm_config *c = cfg_variant(vc, VDENSE);
  esmm_dataset *ds, *ds2;
  esmm_model *straight = NULL, *part = NULL, *resumed = NULL;
  size_t n = 0;
  unsigned char *buf;
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_OPTIMIZER, optimizer), ESMM_OK);
  ds = vdata(c, 48, 5);
  ds2 = vdata(c, 48, 5);
  ck_assert_int_eq(esmm_model_new(&straight, c), ESMM_OK);
  ck_assert_int_eq(esmm_model_train_steps(straight, ds, total, NULL, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_model_new(&part, c), ESMM_OK);
  ck_assert_int_eq(esmm_model_train_steps(part, ds, k, NULL, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_model_save_checkpoint_buffer(part, NULL, 0, &n), ESMM_EBUFS);
  buf = malloc(n);
  ck_assert_ptr_nonnull(buf);
  ck_assert_int_eq(esmm_model_save_checkpoint_buffer(part, buf, n, &n), ESMM_OK);
  if (esmm_model_load_checkpoint_buffer(&resumed, buf, n, NULL) != ESMM_OK)
    ck_abort_msg("%s: %s", vc->label, esmm_last_error());
  free(buf);
  /* the restored model is the saved one, optimizer state included */
  assert_models_identical(part, resumed);
  esmm_model_free(part);
  ck_assert_int_eq(esmm_model_train_steps(resumed, ds2, total - k, NULL, NULL), ESMM_OK);
  assert_models_identical(straight, resumed);
  esmm_model_free(straight);
  esmm_model_free(resumed);
  esmm_dataset_free(ds);
  esmm_dataset_free(ds2);
  esmm_config_free(c);
}

START_TEST(test_variant_resume_bit_identical) {
  const vcase *vc = &vcases[_i];
  variant_resume(vc, ESMM_OPTIMIZER_ADAM, 14, 7); /* mid-epoch */
  variant_resume(vc, ESMM_OPTIMIZER_ADAM, 10, 6); /* at an epoch boundary */
  variant_resume(vc, ESMM_OPTIMIZER_ADAGRAD, 9, 4);
  variant_resume(vc, ESMM_OPTIMIZER_ADAM, 5, 0); /* before any step */
}
END_TEST

/* (c) esmm_model_predict_csr and esmm_model_predict_user equal
 * esmm_model_predict on the same rows: bit for bit with the same chunking
 * (a 16-row workspace, or none: then one of the model's batch size, 16),
 * within 1e-6 with another (a 5-row workspace). With and without numeric
 * inputs. */
static void variant_serving(const vcase *vc, int n_dense) {
  enum { N = 40 };
  esmm_model *m = trained_variant(vc, n_dense, 9);
  esmm_config *c = NULL;
  esmm_dataset *dcsr = NULL, *duser = NULL;
  esmm_workspace *ws = NULL, *ws5 = NULL;
  int uf[3] = {0, 0, 2}, itf[2 * N], y[N] = {0}, z[N] = {0};
  uint64_t uid[3] = {17, 230, 9}, iid[2 * N];
  float uv[3] = {1.0f, 0.5f, 1.5f}, iv[2 * N], dense[N * VDENSE], a[3][N], b[3][N];
  int64_t ioff[N + 1], com[N], ci;
  uint64_t s = 99;
  ck_assert_int_eq(esmm_model_config(m, &c), ESMM_OK);
  ioff[0] = 0;
  for (int i = 0; i < N; i++) {
    itf[2 * i] = 1;
    itf[2 * i + 1] = 2;
    iid[2 * i] = lcg(&s) % 3000;
    iid[2 * i + 1] = lcg(&s) % 40;
    iv[2 * i] = 1.0f;
    iv[2 * i + 1] = 0.25f + (float)(i % 3);
    ioff[i + 1] = 2 * (i + 1);
    for (int k = 0; k < VDENSE; k++)
      dense[i * VDENSE + k] = (float)(lcg(&s) % 200) / 100.0f - 1.0f;
  }
  /* the dataset rows: the items (own features, numeric inputs), alone for
   * the CSR path and with the user as their common list for the user path */
  ck_assert_int_eq(esmm_dataset_new(&dcsr, c), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_add_rows(dcsr, N, y, z, NULL, ioff, itf, iid, iv), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_new(&duser, c), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_add_common(duser, 3, uf, uid, uv, &ci), ESMM_OK);
  for (int i = 0; i < N; i++)
    com[i] = ci;
  ck_assert_int_eq(esmm_dataset_add_rows(duser, N, y, z, com, ioff, itf, iid, iv), ESMM_OK);
  if (n_dense) {
    ck_assert_int_eq(esmm_dataset_set_dense(dcsr, 0, N, dense), ESMM_OK);
    ck_assert_int_eq(esmm_dataset_set_dense(duser, 0, N, dense), ESMM_OK);
  }
  ck_assert_int_eq(esmm_workspace_new(&ws, m, 16), ESMM_OK);
  ck_assert_int_eq(esmm_workspace_new(&ws5, m, 5), ESMM_OK);

  ck_assert_int_eq(esmm_model_predict(m, ws, dcsr, 0, N, a[0], a[1], a[2]), ESMM_OK);
  for (int pass = 0; pass < 3; pass++) {
    esmm_workspace *w = pass == 0 ? ws : pass == 1 ? NULL : ws5;
    memset(b, 0xff, sizeof b);
    if (esmm_model_predict_csr(m, w, N, ioff, itf, iid, iv, n_dense ? dense : NULL, b[0], b[1], b[2]) != ESMM_OK)
      ck_abort_msg("%s: %s", vc->label, esmm_last_error());
    for (int o = 0; o < 3; o++)
      for (int i = 0; i < N; i++)
        if (pass < 2 ? memcmp(&a[o][i], &b[o][i], sizeof(float)) != 0 : !(fabsf(a[o][i] - b[o][i]) <= 1e-6f))
          ck_abort_msg("%s dense %d csr pass %d: row %d output %d is %.9g, esmm_model_predict %.9g", vc->label,
                       n_dense, pass, i, o, b[o][i], a[o][i]);
  }

  ck_assert_int_eq(esmm_model_predict(m, ws, duser, 0, N, a[0], a[1], a[2]), ESMM_OK);
  for (int pass = 0; pass < 3; pass++) {
    esmm_workspace *w = pass == 0 ? ws : pass == 1 ? NULL : ws5;
    memset(b, 0xff, sizeof b);
    if (esmm_model_predict_user(m, w, 3, uf, uid, uv, N, ioff, itf, iid, iv, n_dense ? dense : NULL, b[0], b[1],
                                b[2]) != ESMM_OK)
      ck_abort_msg("%s: %s", vc->label, esmm_last_error());
    for (int o = 0; o < 3; o++)
      for (int i = 0; i < N; i++)
        if (pass < 2 ? memcmp(&a[o][i], &b[o][i], sizeof(float)) != 0 : !(fabsf(a[o][i] - b[o][i]) <= 1e-6f))
          ck_abort_msg("%s dense %d user pass %d: item %d output %d is %.9g, esmm_model_predict %.9g", vc->label,
                       n_dense, pass, i, o, b[o][i], a[o][i]);
  }
  /* the head of the variant: pCTCVR = pCTR pCVR, except DIVISION (pCVR
   * clipped at 1); checked so that a path mixing heads cannot pass */
  for (int i = 0; i < N; i++)
    if (vc->variant != ESMM_VARIANT_DIVISION)
      ck_assert_msg(fabs((double)b[2][i] - (double)b[0][i] * b[1][i]) <= 1e-6, "%s item %d: product head", vc->label, i);
    else
      ck_assert_msg(b[1][i] <= 1.0f && fabs((double)b[1][i] - fmin(1.0, (double)b[2][i] / b[0][i])) <= 1e-5,
                    "%s item %d: division head", vc->label, i);
  esmm_workspace_free(ws);
  esmm_workspace_free(ws5);
  esmm_dataset_free(dcsr);
  esmm_dataset_free(duser);
  esmm_config_free(c);
  esmm_model_free(m);
}

START_TEST(test_variant_serving_matches_predict) {
  variant_serving(&vcases[_i], 0);
  variant_serving(&vcases[_i], VDENSE);
}
END_TEST

/* A workspace of a model with one table does not fit a same-shaped model
 * with two (it lacks the second pooling buffers): ESMM_ESHAPE, not a
 * crash. */
START_TEST(test_variant_workspace_shape) {
  esmm_model *m1 = trained_variant(&vcases[0], VDENSE, 1), *m2 = trained_variant(&vcases[2], VDENSE, 1);
  esmm_workspace *ws1 = NULL;
  int64_t off[2] = {0, 1};
  int f[1] = {1};
  uint64_t id[1] = {5};
  float dense[VDENSE] = {0.5f, -0.5f}, p[1];
  ck_assert_int_eq(esmm_workspace_new(&ws1, m1, 4), ESMM_OK);
  ck_assert_int_eq(esmm_model_predict_csr(m2, ws1, 1, off, f, id, NULL, dense, p, NULL, NULL), ESMM_ESHAPE);
  ck_assert_int_eq(esmm_model_predict_user(m2, ws1, 0, NULL, NULL, NULL, 1, off, f, id, NULL, dense, p, NULL, NULL),
                   ESMM_ESHAPE);
  ck_assert_int_eq(esmm_model_predict_csr(m1, ws1, 1, off, f, id, NULL, dense, p, NULL, NULL), ESMM_OK);
  esmm_workspace_free(ws1);
  esmm_model_free(m1);
  esmm_model_free(m2);
}
END_TEST

static Suite *serving_suite(void) {
  Suite *s = suite_create("serving");
  TCase *tp = tcase_create("predict"), *tc = tcase_create("checkpoint");
  tcase_add_test(tp, test_user_items_match_dataset_and_reference);
  tcase_add_test(tp, test_csr_matches_dataset);
  tcase_add_test(tp, test_no_allocation_per_call);
  tcase_add_test(tp, test_threads_bit_exact);
  tcase_add_test(tp, test_bad_arguments);
  tcase_add_test(tc, test_resume_bit_identical);
  tcase_add_test(tc, test_kill9_resume);
  tcase_add_test(tc, test_checkpoint_corruption);
  tcase_add_loop_test(tp, test_variant_serving_matches_predict, 0, N_VCASES);
  tcase_add_test(tp, test_variant_workspace_shape);
  tcase_add_loop_test(tc, test_variant_resume_bit_identical, 0, N_VCASES);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tp);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return test_main(serving_suite()); }
