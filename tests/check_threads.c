/* check_threads.c - ESMM_OPT_NUM_THREADS: training and prediction give
 * bit-identical parameters, optimizer state and predictions for 1, 2 and 3
 * threads, for every variant (ESMM_NS and DIVISION with a second table,
 * ESCM2_DR with the imputation tower), with the row and the group shuffle,
 * on the simulator's grouped data (common lists); the group shuffle runs
 * through the first-layer split. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "model.h"
#include "optimizer.h"

#define MAX_T 64

static esmm_model *new_model(int64_t variant, int shuffle, int threads, int split_all) {
  esmm_config *cfg;
  esmm_model *m;
  ck_assert_int_eq(esmm_config_new(&cfg), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_by_name(cfg, "ctr_tower", "16,8"), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_by_name(cfg, "cvr_tower", "12"), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_by_name(cfg, "hash_buckets", "512"), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(cfg, ESMM_OPT_EMBED_DIM, 6), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(cfg, ESMM_OPT_BATCH_SIZE, 200), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(cfg, ESMM_OPT_VARIANT, variant), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(cfg, ESMM_OPT_SHUFFLE, shuffle), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(cfg, ESMM_OPT_NUM_THREADS, threads), ESMM_OK);
  ck_assert_int_eq(esmm_model_new(&m, cfg), ESMM_OK);
  m->par_split_all = split_all;
  esmm_config_free(cfg);
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

static void check_variant(int64_t variant, int shuffle, int split_all) {
  esmm_sim *sim;
  esmm_dataset *ds;
  esmm_model *m[3];
  int64_t rows;
  float *p[3];
  char what[96];
  ck_assert_int_eq(esmm_sim_new(&sim, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_sim_generate(sim, 1500, 0, &ds), ESMM_OK);
  esmm_dataset_stat(ds, ESMM_DS_ROWS, &rows);
  for (int t = 0; t < 3; t++) {
    m[t] = new_model(variant, shuffle, t + 1, split_all);
    /* 12 steps: an epoch (7.5 batches, the last one short) and then some */
    ck_assert_int_eq(esmm_model_train_steps(m[t], ds, 12, NULL, NULL), ESMM_OK);
    /* grouped batches take the first-layer split (model.c), which must be
     * bit-identical across thread counts too */
    if (shuffle == 2)
      ck_assert(m[t]->fl_on);
    p[t] = malloc(3 * (size_t)rows * sizeof *p[t]);
    predict_all(m[t], ds, (size_t)rows, p[t]);
  }
  for (int t = 1; t < 3; t++) {
    snprintf(what, sizeof what, "variant %lld, shuffle %d, %d threads%s", (long long)variant, shuffle, t + 1,
             split_all ? ", every phase split" : "");
    assert_same_model(m[0], m[t], what);
    if (memcmp(p[0], p[t], 3 * (size_t)rows * sizeof(float)))
      ck_abort_msg("%s: predictions differ", what);
  }
  for (int t = 0; t < 3; t++) {
    esmm_model_free(m[t]);
    free(p[t]);
  }
  esmm_dataset_free(ds);
  esmm_sim_free(sim);
}

START_TEST(training_and_prediction_do_not_depend_on_the_thread_count) {
  for (int64_t v = ESMM_VARIANT_ESMM; v <= ESMM_VARIANT_ESCM2_DR; v++)
    for (int shuffle = 1; shuffle <= 2; shuffle++)
      check_variant(v, shuffle, 0);
}
END_TEST

/* The same with every phase split over the threads whatever its size:
 * uneven and empty ranges, runs of rows at the ends of ranges. */
START_TEST(every_phase_split_gives_the_same_results) {
  check_variant(ESMM_VARIANT_ESMM, 2, 1);
  check_variant(ESMM_VARIANT_ESMM_NS, 2, 1);
  check_variant(ESMM_VARIANT_ESCM2_DR, 1, 1);
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
 * own, each with its workspace, get what one thread gets. */
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
  m1 = new_model(ESMM_VARIANT_ESMM_NS, 2, 1, 0);
  m3 = new_model(ESMM_VARIANT_ESMM_NS, 2, 3, 1);
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
  /* a workspace made for the 1-thread model pools on one thread: same results */
  {
    esmm_workspace *ws;
    float *p = malloc(3 * (size_t)rows * sizeof *p);
    ck_assert_int_eq(esmm_workspace_new(&ws, m1, 100), ESMM_OK);
    ck_assert_uint_eq(ws->n_cpool, 1);
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
  tcase_add_test(tc, every_phase_split_gives_the_same_results);
  tcase_add_test(tc, concurrent_predict_on_a_threaded_model);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(suite());
  int failed;
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
