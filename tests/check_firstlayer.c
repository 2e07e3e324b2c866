/* check_firstlayer.c - the first-layer split (docs/performance.md): with
 * grouped batches the user-side part of each tower's first layer is
 * computed once per run of rows. The loss and every gradient of a batch
 * through the split equal those of the plain path (forced with a step
 * option), up to float reordering, for ESMM, ESMM_NS (a second table) and
 * ESCM2_DR (the imputation tower), with one and with several slices;
 * batches that do not qualify (an own feature in a common field) and
 * row-shuffled batches take the plain path. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "model.h"
#include "support/support.h"

#define MAX_T 64

/* The shared model of the split and thread tests (support.h). */
static esmm_model *new_model(int64_t variant, int shuffle, int threads, int slices) {
  return test_sim_model(variant, shuffle, threads, slices);
}

static int close_to(float x, float y) { return fabsf(x - y) <= 1e-5f + 1e-3f * fabsf(y); }

/* The towers' gradients and each table's sparse gradient of a and b agree. */
static void assert_close_grads(esmm_model *a, esmm_model *b, const char *what) {
  esmm_mlp *ta[3], *tb[3];
  size_t nt = esmm__model_towers(a, ta);
  ck_assert_uint_eq(nt, esmm__model_towers(b, tb));
  for (size_t k = 0; k < nt; k++)
    for (size_t i = 0; i < esmm__mlp_param_count(ta[k]); i++)
      if (!close_to(ta[k]->grad[i], tb[k]->grad[i]))
        ck_abort_msg("%s: tower %zu gradient %zu: %g vs %g", what, k, i, ta[k]->grad[i], tb[k]->grad[i]);
  for (int t = 0; t < (int)esmm__model_tables(a); t++) {
    const esmm__sparse_grad *ga = esmm__train_sparse(a, t), *gb = esmm__train_sparse(b, t);
    esmm_embedding *eb = t ? b->emb2 : b->emb;
    ck_assert_uint_eq(ga->n, gb->n);
    for (size_t r = 0; r < ga->n; r++) {
      int32_t s = eb->slot[ga->rows[r]]; /* b's slot of a's row */
      ck_assert_int_ge(s, 0);
      for (size_t d = 0; d < a->dim; d++)
        if (!close_to(ga->g[r * a->dim + d], gb->g[(size_t)s * a->dim + d]))
          ck_abort_msg("%s: table %d row %lld: %g vs %g", what, t, (long long)ga->rows[r], ga->g[r * a->dim + d],
                       gb->g[(size_t)s * a->dim + d]);
    }
  }
}

static int64_t variants[] = {ESMM_VARIANT_ESMM, ESMM_VARIANT_ESMM_NS, ESMM_VARIANT_ESCM2_DR};

/* 200 rows of the simulator in order: ~20 per user, runs of a user's rows. */
START_TEST(split_equals_the_plain_first_layer) {
  esmm_sim *sim;
  esmm_dataset *ds;
  size_t idx[200];
  ck_assert_int_eq(esmm_sim_new(&sim, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_sim_generate(sim, 1500, 0, &ds), ESMM_OK);
  for (size_t i = 0; i < 200; i++)
    idx[i] = 300 + i;
  for (size_t v = 0; v < sizeof variants / sizeof *variants; v++)
    for (int slices = 1; slices <= 3; slices += 2) {
      char what[64];
      esmm__step_opts split_on = {1, NULL}, split_off = {-1, NULL};
      esmm_model *on = new_model(variants[v], 2, 2, slices), *off = new_model(variants[v], 2, 2, slices);
      double l_on, l_off;
      snprintf(what, sizeof what, "variant %lld, %d slices", (long long)variants[v], slices);
      ck_assert_int_eq(esmm__train_grads(on, ds, idx, 200, &split_on, &l_on), ESMM_OK);
      ck_assert_int_eq(esmm__train_grads(off, ds, idx, 200, &split_off, &l_off), ESMM_OK);
      ck_assert_msg(esmm__train_split_slices(on) == (size_t)slices, "%s: every slice must take the split", what);
      ck_assert_uint_eq(esmm__train_split_slices(off), 0);
      ck_assert_double_eq_tol(l_on, l_off, 1e-6);
      assert_close_grads(on, off, what);
      esmm__train_end(on);
      esmm__train_end(off);
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
  m = new_model(ESMM_VARIANT_ESMM, 1, 1, 2);
  ck_assert_int_eq(esmm_model_train_steps(m, ds, 3, NULL, NULL), ESMM_OK);
  ck_assert_uint_eq(esmm__train_split_slices(m), 0);
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
  ck_assert_int_eq(esmm_config_set_int(cfg, ESMM_OPT_BATCH_SLICES, 1), ESMM_OK); /* row 5 in the only slice */
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
  {
    esmm__step_opts force = {1, NULL};
    size_t idx[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    double loss;
    ck_assert_int_eq(esmm__train_grads(m, ds, idx, 8, &force, &loss), ESMM_OK);
    ck_assert_uint_eq(esmm__train_split_slices(m), 0);
    esmm__train_end(m);
    /* without row 5 the same rows qualify */
    idx[5] = 4;
    ck_assert_int_eq(esmm__train_grads(m, ds, idx, 8, &force, &loss), ESMM_OK);
    ck_assert_uint_gt(esmm__train_split_slices(m), 0);
    esmm__train_end(m);
  }
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

int main(void) { return test_main(suite()); }
