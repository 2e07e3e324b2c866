/* check_firstlayer.c - the first-layer split (docs/performance.md, plan
 * item 1): with grouped batches the user-side part of each tower's first
 * layer is computed once per run of rows. Training with it on gives the
 * parameters of training with it forced off, up to float reordering, for
 * ESMM, ESMM_NS (a second table) and ESCM2_DR (the imputation tower), with
 * 1 and 2 threads; datasets that do not qualify (an own feature in a common
 * field) and row-shuffled batches take the old path. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "model.h"

#define MAX_T 64

static esmm_model *new_model(int64_t variant, int shuffle, int threads, int force) {
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
  m->fl_force = force;
  esmm_config_free(cfg);
  return m;
}

/* Every parameter within the tolerance of grouped_pooling_equals_ungrouped. */
static void assert_close_models(esmm_model *a, esmm_model *b, const char *what) {
  esmm__tensor ta[MAX_T], tb[MAX_T];
  size_t n = esmm__model_tensors(a, ta, MAX_T);
  ck_assert_uint_eq(n, esmm__model_tensors(b, tb, MAX_T));
  for (size_t k = 0; k < n; k++)
    for (size_t i = 0; i < ta[k].rows * ta[k].cols; i++) {
      float x = ta[k].data[i], y = tb[k].data[i];
      if (!(fabsf(x - y) <= 1e-4f + 1e-3f * fabsf(y)))
        ck_abort_msg("%s: %s[%zu] %g vs %g", what, ta[k].name, i, x, y);
    }
  ck_assert_double_eq_tol(a->loss, b->loss, 1e-4);
}

static int64_t variants[] = {ESMM_VARIANT_ESMM, ESMM_VARIANT_ESMM_NS, ESMM_VARIANT_ESCM2_DR};

START_TEST(split_equals_the_plain_first_layer) {
  esmm_sim *sim;
  esmm_dataset *ds;
  ck_assert_int_eq(esmm_sim_new(&sim, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_sim_generate(sim, 1500, 0, &ds), ESMM_OK);
  for (size_t v = 0; v < sizeof variants / sizeof *variants; v++)
    for (int threads = 1; threads <= 2; threads++) {
      char what[64];
      esmm_model *on = new_model(variants[v], 2, threads, 0), *off = new_model(variants[v], 2, threads, -1);
      snprintf(what, sizeof what, "variant %lld, %d threads", (long long)variants[v], threads);
      ck_assert_int_eq(esmm_model_train_steps(on, ds, 12, NULL, NULL), ESMM_OK);
      ck_assert_int_eq(esmm_model_train_steps(off, ds, 12, NULL, NULL), ESMM_OK);
      ck_assert_msg(on->fl_ok && on->fl_on, "%s: the simulator's grouped batches must take the split", what);
      ck_assert_msg(on->fl_uhi > on->fl_ulo, "%s: empty user block", what);
      ck_assert(!off->fl_on);
      assert_close_models(on, off, what);
      esmm_model_free(on);
      esmm_model_free(off);
    }
  esmm_dataset_free(ds);
  esmm_sim_free(sim);
}
END_TEST

/* A row shuffle gives runs of ~1 row: the plain path. */
START_TEST(row_shuffle_takes_the_plain_path) {
  esmm_sim *sim;
  esmm_dataset *ds;
  esmm_model *m;
  ck_assert_int_eq(esmm_sim_new(&sim, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_sim_generate(sim, 1500, 0, &ds), ESMM_OK);
  m = new_model(ESMM_VARIANT_ESMM, 1, 1, 0);
  ck_assert_int_eq(esmm_model_train_steps(m, ds, 3, NULL, NULL), ESMM_OK);
  ck_assert(m->fl_ok);
  ck_assert(!m->fl_on);
  esmm_model_free(m);
  esmm_dataset_free(ds);
  esmm_sim_free(sim);
}
END_TEST

/* An own feature in a field the common lists use: the dataset does not qualify. */
START_TEST(mixed_fields_do_not_qualify) {
  esmm_config *cfg;
  esmm_dataset *ds;
  esmm_model *m;
  const char *names[] = {"u", "i"};
  int64_t buckets[] = {13, 17};
  int cf[1] = {0}, click[8] = {0}, conv[8] = {0}, field[8];
  int64_t common[8], off[9];
  uint64_t cid[1] = {3}, id[8];
  float cv[1] = {1.0f}, val[8];
  ck_assert_int_eq(esmm_config_new(&cfg), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_fields(cfg, 2, names, buckets), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(cfg, ESMM_OPT_BATCH_SIZE, 8), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(cfg, ESMM_OPT_SHUFFLE, 0), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_new(&ds, cfg), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_add_common(ds, 1, cf, cid, cv, NULL), ESMM_OK);
  off[0] = 0;
  for (int r = 0; r < 8; r++) {
    common[r] = 0;
    field[r] = r == 5 ? 0 : 1; /* row 5 has an own feature of the user field */
    id[r] = (uint64_t)r;
    val[r] = 1.0f;
    off[r + 1] = r + 1;
    click[r] = r % 2;
  }
  ck_assert_int_eq(esmm_dataset_add_rows(ds, 8, click, conv, common, off, field, id, val), ESMM_OK);
  ck_assert_int_eq(esmm_model_new(&m, cfg), ESMM_OK);
  m->fl_force = 1;
  ck_assert_int_eq(esmm_model_train_steps(m, ds, 2, NULL, NULL), ESMM_OK);
  ck_assert(!m->fl_ok);
  ck_assert(!m->fl_on);
  esmm_model_free(m);
  esmm_dataset_free(ds);
  esmm_config_free(cfg);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("firstlayer");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, split_equals_the_plain_first_layer);
  tcase_add_test(tc, row_shuffle_takes_the_plain_path);
  tcase_add_test(tc, mixed_fields_do_not_qualify);
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
