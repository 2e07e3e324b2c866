/* check_dist.c - data-parallel training with the in-process transport:
 * 2 ranks with batch b equal 1 process with batch 2b; replicas stay
 * bit-identical; ranks out of step and diverged replicas are reported on
 * every rank (no hang); shards; gathered evaluation; saving from rank 0. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <esmm/comm.h>

#include "dataset.h"
#include "dist.h"
#include "model.h"

#define FIX_ASSERT ck_assert
#include "dist_fixture.h"
#include "support/support.h"

typedef struct job {
  esmm_comm *comm;
  const esmm_config *cfg;
  const esmm_dataset *ds;
  int shard_mode;
  size_t block;
  int perturb;           /* add to one parameter after attaching */
  const char *save_path; /* esmm_comm_save at the end when set */
  esmm_model *m;         /* out */
  int rc;                /* out: first failure */
  char err[1024];
  double met[ESMM_METRIC_COUNT];
} job;

static void *run_rank(void *arg) {
  job *j = arg;
  esmm_dataset *shard = NULL;
  int rc = esmm_comm_shard(j->comm, j->ds, j->shard_mode, j->block, &shard);
  if (!rc)
    rc = esmm_model_new(&j->m, j->cfg);
  if (!rc)
    rc = esmm_model_set_comm(j->m, j->comm);
  if (!rc && j->perturb)
    j->m->ctr->layer[0].w[3] += 1e-3f;
  if (!rc)
    rc = esmm_model_train(j->m, shard, NULL, NULL);
  if (!rc)
    rc = esmm_comm_evaluate(j->comm, j->m, shard, j->met, ESMM_METRIC_COUNT);
  if (!rc && j->save_path)
    rc = esmm_comm_save(j->comm, j->m, j->save_path, 0);
  if (rc)
    snprintf(j->err, sizeof j->err, "%s", esmm_last_error());
  j->rc = rc;
  esmm_dataset_free(shard);
  return NULL;
}

/* Run R ranks on threads; jobs[r] filled by the caller except comm. */
static void run_ranks(job *jobs, int R) {
  esmm_comm *comms[8];
  pthread_t th[8];
  ck_assert_int_eq(esmm_comm_local_new(comms, R), ESMM_OK);
  for (int r = 0; r < R; r++) {
    jobs[r].comm = comms[r];
    ck_assert_int_eq(pthread_create(&th[r], NULL, run_rank, &jobs[r]), 0);
  }
  for (int r = 0; r < R; r++)
    pthread_join(th[r], NULL);
  for (int r = 0; r < R; r++) {
    if (jobs[r].m)
      esmm_model_set_comm(jobs[r].m, NULL);
    esmm_comm_free(comms[r]);
  }
}

static void check_equivalence(int64_t optimizer, int64_t variant) {
  /* 216 rows: 6 global batches of 2B and a last one of 24 = 16 (rank 0) + 8 (rank 1) */
  esmm_config *c1 = cfg_new(2 * B, optimizer), *c2 = cfg_new(B, optimizer);
  ck_assert_int_eq(esmm_config_set_int(c1, ESMM_OPT_VARIANT, variant), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(c2, ESMM_OPT_VARIANT, variant), ESMM_OK);
  esmm_dataset *ds = data_new(c1, 216);
  esmm_model *single, *other;
  job jobs[2];
  int bitwise;
  double d, met1[ESMM_METRIC_COUNT];
  memset(jobs, 0, sizeof jobs);
  for (int r = 0; r < 2; r++)
    jobs[r].cfg = c2, jobs[r].ds = ds, jobs[r].shard_mode = ESMM_SHARD_ROWS, jobs[r].block = B;
  run_ranks(jobs, 2);
  ck_assert_msg(jobs[0].rc == 0 && jobs[1].rc == 0, "rank errors: %s | %s", jobs[0].err, jobs[1].err);

  ck_assert_int_eq(esmm_model_new(&single, c1), ESMM_OK);
  ck_assert_int_eq(esmm_model_train(single, ds, NULL, NULL), ESMM_OK);
  d = param_diff(jobs[1].m, jobs[0].m, &bitwise);
  ck_assert_msg(bitwise, "replicas differ (%g)", d);
  d = param_diff(jobs[0].m, single, &bitwise);
  ck_assert_msg(d < 1e-4, "2 ranks x batch %d vs 1 x %d: relative difference %g", B, 2 * B, d);

  /* not trivially equal: 1 rank trained on rank 0's shard alone is far off */
  ck_assert_int_eq(esmm_model_new(&other, c2), ESMM_OK);
  {
    esmm_comm *solo;
    esmm_dataset *half;
    ck_assert_int_eq(esmm_comm_new(&solo, 0, 2, (esmm_comm_allreduce_fn)1, (esmm_comm_allgatherv_fn)1,
                                   (esmm_comm_barrier_fn)1, NULL, NULL),
                     ESMM_OK);
    ck_assert_int_eq(esmm_comm_shard(solo, ds, ESMM_SHARD_ROWS, B, &half), ESMM_OK);
    ck_assert_int_eq(esmm_model_train(other, half, NULL, NULL), ESMM_OK);
    ck_assert(param_diff(other, single, &bitwise) > 100 * d);
    esmm_dataset_free(half);
    esmm_comm_free(solo);
  }

  /* gathered evaluation = one process evaluating everything (AUC exact) */
  ck_assert_int_eq(esmm_model_evaluate(jobs[0].m, ds, met1, ESMM_METRIC_COUNT), ESMM_OK);
  for (int k = 0; k < ESMM_METRIC_COUNT; k++) {
    if (isnan(met1[k])) {
      ck_assert(isnan(jobs[0].met[k]) && isnan(jobs[1].met[k]));
      continue;
    }
    ck_assert_msg(fabs(jobs[0].met[k] - met1[k]) <= 1e-9 * (1 + fabs(met1[k])), "metric %s: %.12g vs %.12g",
                  esmm_metric_name(k), jobs[0].met[k], met1[k]);
    ck_assert(jobs[0].met[k] == jobs[1].met[k]);
  }
  esmm_model_free(other);
  esmm_model_free(single);
  esmm_model_free(jobs[0].m);
  esmm_model_free(jobs[1].m);
  esmm_dataset_free(ds);
  esmm_config_free(c1);
  esmm_config_free(c2);
}

START_TEST(two_ranks_equal_one_with_double_batch_adam) {
  check_equivalence(ESMM_OPTIMIZER_ADAM, ESMM_VARIANT_ESMM);
}
END_TEST

START_TEST(two_ranks_equal_one_with_double_batch_sgd) { check_equivalence(ESMM_OPTIMIZER_SGD, ESMM_VARIANT_ESMM); }
END_TEST

/* variants with a second table (ESMM_NS) and a third tower (ESCM2_DR) */
START_TEST(two_ranks_equal_one_with_double_batch_variants) {
  check_equivalence(ESMM_OPTIMIZER_ADAM, ESMM_VARIANT_ESMM_NS);
  check_equivalence(ESMM_OPTIMIZER_ADAM, ESMM_VARIANT_ESCM2_DR);
}
END_TEST

START_TEST(four_ranks_stay_identical_and_save) {
  esmm_config *c = cfg_new(8, ESMM_OPTIMIZER_ADAGRAD);
  esmm_dataset *ds = data_new(c, 256);
  esmm_model *loaded;
  job jobs[4];
  char path[64];
  int bitwise;
  snprintf(path, sizeof path, "/tmp/check_dist_%d.esmm", (int)getpid());
  memset(jobs, 0, sizeof jobs);
  for (int r = 0; r < 4; r++)
    jobs[r].cfg = c, jobs[r].ds = ds, jobs[r].shard_mode = ESMM_SHARD_ROWS, jobs[r].block = 8,
    jobs[r].save_path = path;
  run_ranks(jobs, 4);
  for (int r = 0; r < 4; r++)
    ck_assert_msg(jobs[r].rc == 0, "rank %d: %s", r, jobs[r].err);
  for (int r = 1; r < 4; r++) {
    param_diff(jobs[r].m, jobs[0].m, &bitwise);
    ck_assert(bitwise);
  }
  /* rank 0's file loads in a single process, with the replicas' parameters */
  ck_assert_int_eq(esmm_model_load(&loaded, path, NULL), ESMM_OK);
  param_diff(loaded, jobs[3].m, &bitwise);
  ck_assert(bitwise);
  unlink(path);
  esmm_model_free(loaded);
  for (int r = 0; r < 4; r++)
    esmm_model_free(jobs[r].m);
  esmm_dataset_free(ds);
  esmm_config_free(c);
}
END_TEST

START_TEST(ranks_out_of_step_fail_everywhere) {
  /* blocks of 16 over 200 rows: rank 0 gets 7 batches, rank 1 six */
  esmm_config *c = cfg_new(B, ESMM_OPTIMIZER_ADAM);
  esmm_dataset *ds = data_new(c, 200);
  job jobs[2];
  memset(jobs, 0, sizeof jobs);
  for (int r = 0; r < 2; r++)
    jobs[r].cfg = c, jobs[r].ds = ds, jobs[r].shard_mode = ESMM_SHARD_ROWS, jobs[r].block = B;
  run_ranks(jobs, 2);
  for (int r = 0; r < 2; r++) {
    ck_assert_int_eq(jobs[r].rc, ESMM_ESTATE);
    ck_assert_msg(strstr(jobs[r].err, "out of step"), "%s", jobs[r].err);
    esmm_model_free(jobs[r].m);
  }
  esmm_dataset_free(ds);
  esmm_config_free(c);
}
END_TEST

START_TEST(divergence_is_detected) {
  esmm_config *c = cfg_new(B, ESMM_OPTIMIZER_ADAM);
  esmm_dataset *ds = data_new(c, 256);
  job jobs[2];
  memset(jobs, 0, sizeof jobs);
  for (int r = 0; r < 2; r++)
    jobs[r].cfg = c, jobs[r].ds = ds, jobs[r].shard_mode = ESMM_SHARD_ROWS, jobs[r].block = B;
  jobs[1].perturb = 1;
  run_ranks(jobs, 2);
  for (int r = 0; r < 2; r++) {
    ck_assert_int_eq(jobs[r].rc, ESMM_ESTATE);
    ck_assert_msg(strstr(jobs[r].err, "parameters differ before step 3"), "%s", jobs[r].err);
    esmm_model_free(jobs[r].m);
  }
  esmm_dataset_free(ds);
  esmm_config_free(c);
}
END_TEST

START_TEST(different_replicas_refused_at_attach) {
  esmm_config *c0 = cfg_new(B, ESMM_OPTIMIZER_ADAM), *c1 = cfg_new(B, ESMM_OPTIMIZER_ADAM);
  esmm_dataset *ds = data_new(c0, 64);
  job jobs[2];
  esmm_config_set_int(c1, ESMM_OPT_SEED, 7);
  memset(jobs, 0, sizeof jobs);
  for (int r = 0; r < 2; r++)
    jobs[r].ds = ds, jobs[r].shard_mode = ESMM_SHARD_GROUPS;
  jobs[0].cfg = c0;
  jobs[1].cfg = c1;
  run_ranks(jobs, 2);
  for (int r = 0; r < 2; r++) {
    ck_assert_int_eq(jobs[r].rc, ESMM_ESTATE);
    esmm_model_free(jobs[r].m);
  }
  esmm_dataset_free(ds);
  esmm_config_free(c0);
  esmm_config_free(c1);
}
END_TEST

START_TEST(group_shards_partition_rows_and_keep_users_together) {
  esmm_config *c = cfg_new(B, ESMM_OPTIMIZER_ADAM);
  esmm_dataset *ds = data_new(c, 300), *sh[3];
  esmm_comm *comms[3];
  size_t total = 0;
  ck_assert_int_eq(esmm_comm_local_new(comms, 3), ESMM_OK);
  for (int r = 0; r < 3; r++) {
    ck_assert_int_eq(esmm_comm_shard(comms[r], ds, ESMM_SHARD_GROUPS, 0, &sh[r]), ESMM_OK);
    total += sh[r]->n_rows;
    ck_assert(sh[r]->n_rows > 50);
  }
  ck_assert_uint_eq(total, 300);
  /* a user's rows all land on one rank: the users of the shards are disjoint
   * (common lists are copied with their features: compare those) */
  for (int a = 0; a < 3; a++)
    for (int b = a + 1; b < 3; b++)
      for (size_t i = 0; i < sh[a]->n_common; i++)
        for (size_t j = 0; j < sh[b]->n_common; j++)
          ck_assert(sh[a]->com_id[sh[a]->com_off[i]] != sh[b]->com_id[sh[b]->com_off[j]]);
  for (int r = 0; r < 3; r++) {
    esmm_dataset_free(sh[r]);
    ck_assert_int_eq(esmm_comm_shard(comms[r], ds, ESMM_SHARD_EVEN, 0, &sh[r]), ESMM_OK);
    ck_assert_uint_eq(sh[r]->n_rows, 100);
    ck_assert_int_eq(sh[r]->click[7], ds->click[7 * 3 + r]);
  }
  esmm_dataset_free(sh[0]);
  ck_assert_int_eq(esmm_comm_shard(comms[0], ds, 9, 0, &sh[0]), ESMM_EINVAL);
  ck_assert_ptr_null(sh[0]);
  esmm_dataset_free(sh[1]);
  esmm_dataset_free(sh[2]);
  for (int r = 0; r < 3; r++) {
    esmm_comm_free(comms[r]);
  }
  esmm_dataset_free(ds);
  esmm_config_free(c);
}
END_TEST

typedef struct mixed {
  esmm_comm *comm;
  esmm_model *m;
  esmm_dataset *ds;
  int rc;
  char err[1024];
} mixed;

static void *mixed_rank(void *arg) {
  mixed *x = arg;
  double met[ESMM_METRIC_COUNT];
  int rank;
  esmm_comm_info(x->comm, &rank, NULL);
  x->rc = rank == 0 ? esmm_comm_save(x->comm, x->m, "/nonexistent/x.esmm", 0)
                    : esmm_comm_evaluate(x->comm, x->m, x->ds, met, ESMM_METRIC_COUNT);
  snprintf(x->err, sizeof x->err, "%s", esmm_last_error());
  return NULL;
}

START_TEST(different_collectives_are_reported) {
  esmm_config *c = cfg_new(B, ESMM_OPTIMIZER_ADAM);
  esmm_dataset *ds = data_new(c, 32);
  esmm_comm *comms[2];
  mixed x[2];
  pthread_t th[2];
  ck_assert_int_eq(esmm_comm_local_new(comms, 2), ESMM_OK);
  for (int r = 0; r < 2; r++) {
    x[r].comm = comms[r], x[r].ds = ds;
    ck_assert_int_eq(esmm_model_new(&x[r].m, c), ESMM_OK);
    pthread_create(&th[r], NULL, mixed_rank, &x[r]);
  }
  for (int r = 0; r < 2; r++)
    pthread_join(th[r], NULL);
  ck_assert_int_eq(x[1].rc, ESMM_ESTATE);
  ck_assert_msg(strstr(x[1].err, "rank 1 is in an evaluation, rank 0 in a save"), "%s", x[1].err);
  /* rank 0 failed to save first (bad path): its own status */
  ck_assert_int_lt(x[0].rc, 0);
  for (int r = 0; r < 2; r++) {
    esmm_model_free(x[r].m);
    esmm_comm_free(comms[r]);
  }
  esmm_dataset_free(ds);
  esmm_config_free(c);
}
END_TEST

START_TEST(arguments) {
  esmm_comm *c = (esmm_comm *)1, *cs[2];
  int rank, size;
  ck_assert_int_eq(esmm_comm_new(&c, 2, 2, (esmm_comm_allreduce_fn)1, (esmm_comm_allgatherv_fn)1,
                                 (esmm_comm_barrier_fn)1, NULL, NULL),
                   ESMM_EINVAL);
  ck_assert_ptr_null(c);
  ck_assert_int_eq(esmm_comm_new(&c, 0, 1, NULL, NULL, NULL, NULL, NULL), ESMM_EINVAL);
  ck_assert_int_eq(esmm_comm_local_new(cs, 0), ESMM_EINVAL);
  ck_assert_int_eq(esmm_comm_local_new(cs, 2), ESMM_OK);
  ck_assert_int_eq(esmm_comm_info(cs[1], &rank, &size), ESMM_OK);
  ck_assert_int_eq(rank, 1);
  ck_assert_int_eq(size, 2);
  ck_assert_int_eq(esmm_comm_info(NULL, &rank, &size), ESMM_EINVAL);
  ck_assert_int_eq(esmm_model_set_comm(NULL, cs[0]), ESMM_EINVAL);
  esmm_comm_free(cs[0]);
  esmm_comm_free(cs[1]);
  esmm_comm_free(NULL);
}
END_TEST

static Suite *dist_suite(void) {
  Suite *s = suite_create("dist");
  TCase *t = tcase_create("core");
  tcase_set_timeout(t, 60);
  tcase_add_test(t, two_ranks_equal_one_with_double_batch_adam);
  tcase_add_test(t, two_ranks_equal_one_with_double_batch_sgd);
  tcase_add_test(t, two_ranks_equal_one_with_double_batch_variants);
  tcase_add_test(t, four_ranks_stay_identical_and_save);
  tcase_add_test(t, ranks_out_of_step_fail_everywhere);
  tcase_add_test(t, divergence_is_detected);
  tcase_add_test(t, different_replicas_refused_at_attach);
  tcase_add_test(t, group_shards_partition_rows_and_keep_users_together);
  tcase_add_test(t, different_collectives_are_reported);
  tcase_add_test(t, arguments);
  suite_add_tcase(s, t);
  return s;
}

int main(void) { return test_main(dist_suite()); }
