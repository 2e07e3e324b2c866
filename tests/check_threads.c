/* check_threads.c - ESMM_OPT_NUM_THREADS: training and prediction give
 * bit-identical parameters, optimizer state and predictions for 1, 2, 3
 * and 4 threads at a fixed ESMM_OPT_BATCH_SLICES, for every variant
 * (ESMM_NS and DIVISION with a second table, ESCM2_DR with the imputation
 * tower), with the row and the group shuffle, on the simulator's grouped
 * data (common lists); the group shuffle runs through the first-layer
 * split. Also: more threads than slices, slices that split a user's run,
 * and a last batch with fewer rows than slices. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "model.h"
#include "optimizer.h"
#include "support/support.h"

#define MAX_T 64

/* The shared model of the split and thread tests (support.h), with the
 * thread count it was given. */
static esmm_model *new_model(int64_t variant, int shuffle, int threads, int slices) {
  esmm_model *m = test_sim_model(variant, shuffle, threads, slices);
  double t;
  ck_assert_int_eq(esmm_model_stat(m, ESMM_STAT_THREADS, &t), ESMM_OK);
  ck_assert_int_eq((int)t, threads); /* an explicit count is used as given */
  return m;
}

static void assert_same_model(esmm_model *a, esmm_model *b, const char *what) {
  esmm__tensor ta[MAX_T], tb[MAX_T];
  size_t n = esmm__model_tensors(a, ta, MAX_T);
  ck_assert_uint_eq(n, esmm__model_tensors(b, tb, MAX_T));
  ck_assert_uint_le(n, MAX_T);
  for (size_t k = 0; k < n; k++) {
    float *s1a, *s2a, *s1b, *s2b;
    size_t na, nb;
    if (memcmp(ta[k].data, tb[k].data, ta[k].rows * ta[k].cols * sizeof(float)))
      ck_abort_msg("%s: tensor %s differs", what, ta[k].name);
    ck_assert_int_eq(esmm__optimizer_state(a->opt, (int)k, &s1a, &s2a, &na), ESMM_OK);
    ck_assert_int_eq(esmm__optimizer_state(b->opt, (int)k, &s1b, &s2b, &nb), ESMM_OK);
    ck_assert_uint_eq(na, nb);
    if ((s1a && memcmp(s1a, s1b, na * sizeof(float))) || (s2a && memcmp(s2a, s2b, na * sizeof(float))))
      ck_abort_msg("%s: optimizer state of %s differs", what, ta[k].name);
  }
  ck_assert(a->loss == b->loss);
}

static void predict_all(const esmm_model *m, const esmm_dataset *ds, size_t n, float *p) {
  ck_assert_int_eq(esmm_model_predict(m, NULL, ds, 0, n, p, p + n, p + 2 * n), ESMM_OK);
}

#define N_COUNTS 4
static const int thread_counts[N_COUNTS] = {1, 2, 3, 4};

/* Light mode (valgrind, test_slow_tool), where a simulator's preparation
 * (pilot sample and calibration) takes ~5 s of CPU and every model's 12
 * steps are many times slower than natively:
 *  - one simulator for the whole process instead of one per call (the rows
 *    are the same: same seed, same stream), freed at exit, before
 *    memcheck's leak check;
 *  - 1 and 3 threads only (3 threads on 4 slices: one runs two slices),
 *    which halves the models trained. Memcheck runs one thread at a time
 *    anyway, so 2 and 4 add no interleaving it could see. */
static esmm_sim *light_sim;
static const int light_counts[2] = {1, 3};

static void free_light_sim(void) { esmm_sim_free(light_sim); }

/* rows_total: 1500 rows and batches of 200 give an epoch of 7.5 batches;
 * 1203 rows end an epoch with a batch of 3 rows, fewer than the slices. */
static void check_variant(int64_t variant, int shuffle, int slices, size_t rows_total) {
  const int light = test_slow_tool();
  const int *counts = light ? light_counts : thread_counts;
  const int n_counts = light ? 2 : N_COUNTS;
  esmm_sim *sim = light ? light_sim : NULL;
  esmm_dataset *ds;
  esmm_model *m[N_COUNTS];
  int64_t rows;
  float *p[N_COUNTS];
  char what[128];
  if (!sim)
    ck_assert_int_eq(esmm_sim_new(&sim, NULL), ESMM_OK);
  if (light && !light_sim) {
    light_sim = sim;
    atexit(free_light_sim);
  }
  ck_assert_int_eq(esmm_sim_generate(sim, rows_total, 0, &ds), ESMM_OK);
  esmm_dataset_stat(ds, ESMM_DS_ROWS, &rows);
  for (int t = 0; t < n_counts; t++) {
    m[t] = new_model(variant, shuffle, counts[t], slices);
    /* 12 steps: an epoch (with its short last batch) and then some */
    ck_assert_int_eq(esmm_model_train_steps(m[t], ds, 12, NULL, NULL), ESMM_OK);
    /* grouped batches take the first-layer split, which must be
     * bit-identical across thread counts too */
    if (shuffle == 2)
      ck_assert_uint_gt(esmm__train_split_slices(m[t]), 0);
    p[t] = malloc(3 * (size_t)rows * sizeof *p[t]);
    predict_all(m[t], ds, (size_t)rows, p[t]);
  }
  for (int t = 1; t < n_counts; t++) {
    snprintf(what, sizeof what, "variant %lld, shuffle %d, %d slices, %zu rows, %d threads", (long long)variant,
             shuffle, slices, rows_total, counts[t]);
    assert_same_model(m[0], m[t], what);
    if (memcmp(p[0], p[t], 3 * (size_t)rows * sizeof(float)))
      ck_abort_msg("%s: predictions differ", what);
  }
  for (int t = 0; t < n_counts; t++) {
    esmm_model_free(m[t]);
    free(p[t]);
  }
  esmm_dataset_free(ds);
  if (!light)
    esmm_sim_free(sim);
}

START_TEST(training_and_prediction_do_not_depend_on_the_thread_count) {
  for (int64_t v = ESMM_VARIANT_ESMM; v <= ESMM_VARIANT_DCMT; v++)
    for (int shuffle = 1; shuffle <= 2; shuffle++)
      check_variant(v, shuffle, 4, 1500);
}
END_TEST

/* Uneven slices (200 rows in 7 slices of 29, the last 26), one slice (the
 * whole batch on one thread however many there are), and a last batch of 3
 * rows in 5 slices (two of them empty). */
START_TEST(uneven_single_and_empty_slices) {
  check_variant(ESMM_VARIANT_ESMM, 2, 7, 1500);
  check_variant(ESMM_VARIANT_ESMM_NS, 1, 1, 1500);
  check_variant(ESMM_VARIANT_ESCM2_DR, 2, 5, 1203);
}
END_TEST

typedef struct host_call {
  const esmm_model *m;
  const esmm_dataset *ds;
  size_t n;
  float *p;
  int rc;
} host_call;

static void *host_predict(void *arg) {
  host_call *c = arg;
  esmm_workspace *ws = NULL;
  c->rc = esmm_workspace_new(&ws, c->m, 100);
  for (int rep = 0; rep < 5 && c->rc == ESMM_OK; rep++)
    c->rc = esmm_model_predict(c->m, ws, c->ds, 0, c->n, c->p, c->p + c->n, c->p + 2 * c->n);
  esmm_workspace_free(ws);
  return NULL;
}

/* Several host threads predicting on one const model with 3 threads of its
 * own, each with its workspace, get what one thread gets (the model's
 * threads serve one request at a time; the others run on their callers). */
START_TEST(concurrent_predict_on_a_threaded_model) {
  esmm_sim *sim;
  esmm_dataset *ds;
  esmm_model *m1, *m3;
  int64_t rows;
  host_call c[3];
  pthread_t tid[3];
  float *ref;
  ck_assert_int_eq(esmm_sim_new(&sim, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_sim_generate(sim, 800, 0, &ds), ESMM_OK);
  esmm_dataset_stat(ds, ESMM_DS_ROWS, &rows);
  m1 = new_model(ESMM_VARIANT_ESMM_NS, 2, 1, 3);
  m3 = new_model(ESMM_VARIANT_ESMM_NS, 2, 3, 3);
  ck_assert_int_eq(esmm_model_train_steps(m1, ds, 3, NULL, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_model_train_steps(m3, ds, 3, NULL, NULL), ESMM_OK);
  ref = malloc(3 * (size_t)rows * sizeof *ref);
  /* chunks of 100 rows, as host_predict's: the towers' GEMMs may round
   * differently with the number of rows they are given */
  c[0].m = m1;
  c[0].ds = ds;
  c[0].n = (size_t)rows;
  c[0].p = ref;
  host_predict(&c[0]);
  ck_assert_int_eq(c[0].rc, ESMM_OK);
  for (int k = 0; k < 3; k++) {
    c[k].m = m3;
    c[k].ds = ds;
    c[k].n = (size_t)rows;
    c[k].p = malloc(3 * (size_t)rows * sizeof(float));
    c[k].rc = -1;
    ck_assert_int_eq(pthread_create(&tid[k], NULL, host_predict, &c[k]), 0);
  }
  for (int k = 0; k < 3; k++) {
    pthread_join(tid[k], NULL);
    ck_assert_int_eq(c[k].rc, ESMM_OK);
    ck_assert(memcmp(ref, c[k].p, 3 * (size_t)rows * sizeof(float)) == 0);
    free(c[k].p);
  }
  /* a workspace made for the 1-thread model serves the 3-thread one (same
   * shape), and a request of many blocks goes to m3's threads: same results */
  {
    esmm_workspace *ws;
    float *p = malloc(3 * (size_t)rows * sizeof *p);
    ck_assert_int_eq(esmm_workspace_new(&ws, m1, 100), ESMM_OK);
    ck_assert_int_eq(esmm_model_predict(m3, ws, ds, 0, (size_t)rows, p, p + rows, p + 2 * rows), ESMM_OK);
    ck_assert(memcmp(ref, p, 3 * (size_t)rows * sizeof(float)) == 0);
    esmm_workspace_free(ws);
    free(p);
  }
  free(ref);
  esmm_model_free(m1);
  esmm_model_free(m3);
  esmm_dataset_free(ds);
  esmm_sim_free(sim);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("threads");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, training_and_prediction_do_not_depend_on_the_thread_count);
  tcase_add_test(tc, uneven_single_and_empty_slices);
  tcase_add_test(tc, concurrent_predict_on_a_threaded_model);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return test_main(suite()); }
