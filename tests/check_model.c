/* check_model.c - the whole model: gradients against finite differences,
 * training on the simulator against the oracle, determinism, cancellation,
 * numeric failures and argument checks. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "model.h"
#include "support/support.h"

/* The shared small model (support.h) with the activation under test. */
static esmm_config *small_config(int act) {
  esmm_config *c = test_small_config();
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_ACTIVATION, act), ESMM_OK);
  return c;
}

/* 3 fields a, b, c; rows in 4 user groups sharing a common list. */
static esmm_dataset *small_data(const esmm_config *cfg, size_t n_rows) { return test_small_data(cfg, n_rows, 0); }

/* Central difference of the batch loss w.r.t. *w. */
static double fd(esmm_model *m, esmm_dataset *ds, const size_t *idx, size_t n, float *w, float eps) {
  float keep = *w;
  double lp, lm;
  *w = keep + eps;
  ck_assert_int_eq(esmm__train_loss(m, ds, idx, n, NULL, &lp), ESMM_OK);
  *w = keep - eps;
  ck_assert_int_eq(esmm__train_loss(m, ds, idx, n, NULL, &lm), ESMM_OK);
  *w = keep;
  return (lp - lm) / (2.0 * (double)eps);
}

static void assert_close(double analytic, double numeric, const char *what, size_t i) {
  double tol = 2e-3 + 3e-2 * fabs(numeric);
  if (fabs(analytic - numeric) > tol)
    ck_abort_msg("%s[%zu]: analytic %.6g vs finite difference %.6g", what, i, analytic, numeric);
}

/* grouped: the batch rows in order of common list (runs of a user's rows,
 * as the group shuffle makes them), which takes the first-layer split */
static void check_whole_model_gradients(int grouped, int slices) {
  esmm_config *cfg = small_config(ESMM_ACT_TANH);
  esmm_dataset *ds = small_data(cfg, 24);
  esmm_model *m;
  esmm__tensor t[16];
  size_t idx[24], nt, checked = 0, k = 0;
  double loss;
  for (size_t i = 0; i < 24; i++)
    idx[i] = i;
  if (grouped) /* rows of common list 0, 1, 2, 3, then those without (common[r] = r % 4, -1 when r % 5 == 4) */
    for (int64_t c = 0; c <= 4; c++)
      for (size_t r = 0; r < 24; r++)
        if (c == 4 ? r % 5 == 4 : r % 5 != 4 && (int64_t)(r % 4) == c)
          idx[k++] = r;
  if (grouped)
    ck_assert_uint_eq(k, 24);
  esmm_config_set_float(cfg, ESMM_OPT_LOSS_WEIGHT_CTCVR, 2.0);
  esmm_config_set_int(cfg, ESMM_OPT_BATCH_SLICES, slices);
  ck_assert_int_eq(esmm_model_new(&m, cfg), ESMM_OK);
  nt = esmm__model_tensors(m, t, 16);
  ck_assert_uint_eq(nt, 1 + 2 * 3 + 2 * 2);
  ck_assert_int_eq(esmm__train_grads(m, ds, idx, 24, NULL, &loss), ESMM_OK);
  /* grouped rows take the first-layer split in every slice, the others never */
  ck_assert_uint_eq(esmm__train_split_slices(m), grouped ? (size_t)slices : 0);
  ck_assert(isfinite(loss) && loss > 0);
  /* copy the analytic gradients before finite differences overwrite them */
  {
    const esmm__sparse_grad *sg = esmm__train_sparse(m, 0);
    size_t ns = sg->n;
    int64_t *rows = malloc(ns * sizeof *rows);
    float *g = malloc(ns * m->dim * sizeof *g);
    memcpy(rows, sg->rows, ns * sizeof *rows);
    memcpy(g, sg->g, ns * m->dim * sizeof *g);
    esmm__train_end(m);
    ck_assert_uint_gt(ns, 10);
    for (size_t r = 0; r < ns; r++)
      for (size_t d = 0; d < m->dim; d++, checked++)
        assert_close(g[r * m->dim + d], fd(m, ds, idx, 24, &m->emb->w[rows[r] * m->dim + d], 1e-2f), "embedding",
                     r);
    free(rows);
    free(g);
  }
  for (int tw = 0; tw < 2; tw++) {
    esmm_mlp *tower = tw ? m->cvr : m->ctr;
    for (size_t l = 0; l < tower->n_layers; l++) {
      esmm__layer *ly = &tower->layer[l];
      size_t nw = ly->n_in * ly->n_out;
      float *gw = malloc(nw * sizeof *gw), *gb = malloc(ly->n_out * sizeof *gb);
      memcpy(gw, ly->gw, nw * sizeof *gw);
      memcpy(gb, ly->gb, ly->n_out * sizeof *gb);
      for (size_t i = 0; i < nw; i += 3, checked++)
        assert_close(gw[i], fd(m, ds, idx, 24, &ly->w[i], 1e-2f), tw ? "cvr.w" : "ctr.w", i);
      for (size_t i = 0; i < ly->n_out; i++, checked++)
        assert_close(gb[i], fd(m, ds, idx, 24, &ly->b[i], 1e-2f), tw ? "cvr.b" : "ctr.b", i);
      free(gw);
      free(gb);
    }
  }
  ck_assert_uint_gt(checked, 100);
  esmm_model_free(m);
  esmm_dataset_free(ds);
  esmm_config_free(cfg);
}

START_TEST(whole_model_gradients_match_finite_differences) {
  check_whole_model_gradients(0, 1);
  check_whole_model_gradients(0, 3);
}
END_TEST

START_TEST(whole_model_gradients_match_finite_differences_first_layer_split) {
  check_whole_model_gradients(1, 1);
  check_whole_model_gradients(1, 3);
}
END_TEST

static void snapshot(esmm_model *m, float **out, size_t *n_out) {
  esmm__tensor t[32];
  size_t nt = esmm__model_tensors(m, t, 32), total = 0, k = 0;
  for (size_t i = 0; i < nt; i++)
    total += t[i].rows * t[i].cols;
  *out = malloc(total * sizeof **out);
  for (size_t i = 0; i < nt; i++) {
    memcpy(*out + k, t[i].data, t[i].rows * t[i].cols * sizeof(float));
    k += t[i].rows * t[i].cols;
  }
  *n_out = total;
}

START_TEST(deterministic_with_one_thread_and_a_seed) {
  esmm_config *cfg = small_config(ESMM_ACT_RELU);
  esmm_dataset *ds = small_data(cfg, 64);
  esmm_model *a, *b, *c;
  float *pa, *pb, *pc;
  size_t na, nb, nc;
  esmm_config_set_int(cfg, ESMM_OPT_BATCH_SIZE, 10);
  ck_assert_int_eq(esmm_model_new(&a, cfg), ESMM_OK);
  ck_assert_int_eq(esmm_model_new(&b, cfg), ESMM_OK);
  esmm_config_set_int(cfg, ESMM_OPT_SEED, 43);
  ck_assert_int_eq(esmm_model_new(&c, cfg), ESMM_OK);
  ck_assert_int_eq(esmm_model_train_steps(a, ds, 25, NULL, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_model_train_steps(b, ds, 11, NULL, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_model_train_steps(b, ds, 14, NULL, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_model_train_steps(c, ds, 25, NULL, NULL), ESMM_OK);
  snapshot(a, &pa, &na);
  snapshot(b, &pb, &nb);
  snapshot(c, &pc, &nc);
  ck_assert_uint_eq(na, nb);
  ck_assert_msg(memcmp(pa, pb, na * sizeof *pa) == 0, "same seed, same steps: parameters differ");
  ck_assert_msg(memcmp(pa, pc, na * sizeof *pa) != 0, "another seed gave identical parameters");
  {
    double step, epoch;
    esmm_model_stat(a, ESMM_STAT_STEP, &step);
    esmm_model_stat(a, ESMM_STAT_EPOCH, &epoch);
    ck_assert(step == 25 && epoch == 3); /* 64 rows / 10 = 7 steps an epoch */
  }
  free(pa), free(pb), free(pc);
  esmm_model_free(a), esmm_model_free(b), esmm_model_free(c);
  esmm_dataset_free(ds);
  esmm_config_free(cfg);
}
END_TEST

static int stop_at_3(const esmm_model *m, int64_t step, void *payload) {
  ++*(int *)payload;
  return step >= 3;
}

START_TEST(callback_cancels) {
  esmm_config *cfg = small_config(ESMM_ACT_RELU);
  esmm_dataset *ds = small_data(cfg, 64);
  esmm_model *m;
  int calls = 0;
  double step;
  esmm_config_set_int(cfg, ESMM_OPT_BATCH_SIZE, 4);
  ck_assert_int_eq(esmm_model_new(&m, cfg), ESMM_OK);
  ck_assert_int_eq(esmm_model_train_epoch(m, ds, stop_at_3, &calls), ESMM_ECANCELED);
  esmm_model_stat(m, ESMM_STAT_STEP, &step);
  ck_assert(step == 3 && calls == 3);
  ck_assert_int_eq(esmm_model_train_epoch(m, ds, NULL, NULL), ESMM_OK); /* resumes the epoch */
  esmm_model_stat(m, ESMM_STAT_STEP, &step);
  ck_assert(step == 16);
  esmm_model_free(m);
  esmm_dataset_free(ds);
  esmm_config_free(cfg);
}
END_TEST

START_TEST(non_finite_loss_is_reported_and_not_applied) {
  esmm_config *cfg = small_config(ESMM_ACT_RELU);
  esmm_dataset *ds = small_data(cfg, 20);
  esmm_model *m;
  float *before, *after;
  size_t nb, na;
  ck_assert_int_eq(esmm_model_new(&m, cfg), ESMM_OK);
  /* a poisoned parameter (as a bad update or a bit flip would leave) */
  m->ctr->layer[0].b[0] = INFINITY;
  m->ctr->layer[1].w[0] = -1.0f;
  snapshot(m, &before, &nb);
  ck_assert_int_eq(esmm_model_train_steps(m, ds, 1, NULL, NULL), ESMM_ENUMERIC);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "not finite"));
  snapshot(m, &after, &na);
  ck_assert(memcmp(before, after, nb * sizeof *before) == 0);
  {
    double step;
    esmm_model_stat(m, ESMM_STAT_STEP, &step);
    ck_assert(step == 0);
  }
  free(before), free(after);
  esmm_model_free(m);
  esmm_dataset_free(ds);
  esmm_config_free(cfg);
}
END_TEST

START_TEST(predict_matches_between_workspaces_and_chunks) {
  esmm_config *cfg = small_config(ESMM_ACT_RELU);
  esmm_dataset *ds = small_data(cfg, 50);
  esmm_model *m;
  esmm_workspace *ws;
  float a[3][50], b[3][50];
  ck_assert_int_eq(esmm_model_new(&m, cfg), ESMM_OK);
  ck_assert_int_eq(esmm_model_train_steps(m, ds, 5, NULL, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_model_predict(m, NULL, ds, 0, 50, a[0], a[1], a[2]), ESMM_OK);
  ck_assert_int_eq(esmm_workspace_new(&ws, m, 7), ESMM_OK);
  ck_assert_int_eq(esmm_model_predict(m, ws, ds, 0, 50, b[0], b[1], b[2]), ESMM_OK);
  for (int i = 0; i < 50; i++) {
    ck_assert_float_eq_tol(a[0][i], b[0][i], 1e-6);
    ck_assert_float_eq_tol(a[2][i], b[2][i], 1e-6);
    ck_assert_float_eq_tol(a[2][i], a[0][i] * a[1][i], 1e-6);
    ck_assert(a[0][i] > 0 && a[0][i] < 1);
  }
  ck_assert_int_eq(esmm_model_predict(m, ws, ds, 45, 6, b[0], NULL, NULL), ESMM_EINVAL);
  ck_assert_int_eq(esmm_model_predict(m, ws, ds, 50, 0, NULL, NULL, NULL), ESMM_OK);
  esmm_workspace_free(ws);
  esmm_model_free(m);
  esmm_dataset_free(ds);
  esmm_config_free(cfg);
}
END_TEST

START_TEST(bad_arguments) {
  esmm_config *cfg = small_config(ESMM_ACT_RELU), *other;
  esmm_dataset *ds = small_data(cfg, 10), *ds2;
  esmm_model *m = (esmm_model *)1;
  esmm_workspace *ws = (esmm_workspace *)1;
  double v, met[4];
  float p[10];
  ck_assert_int_eq(esmm_model_new(NULL, cfg), ESMM_EINVAL);
  /* every variant the headers name is implemented; values past them are refused by the config */
  ck_assert_int_eq(esmm_config_set_int(cfg, ESMM_OPT_VARIANT, ESMM_VARIANT_DCMT + 1), ESMM_EINVAL);
  esmm_config_set_int(cfg, ESMM_OPT_VARIANT, ESMM_VARIANT_DIVISION);
  ck_assert_int_eq(esmm_model_new(&m, cfg), ESMM_OK);
  esmm_model_free(m);
  esmm_config_set_int(cfg, ESMM_OPT_VARIANT, ESMM_VARIANT_ESMM);
  ck_assert_int_eq(esmm_model_new(&m, cfg), ESMM_OK);
  ck_assert_int_eq(esmm_model_train(NULL, ds, NULL, NULL), ESMM_EINVAL);
  ck_assert_int_eq(esmm_model_train_epoch(m, NULL, NULL, NULL), ESMM_EINVAL);
  ck_assert_int_eq(esmm_model_train_steps(m, ds, -1, NULL, NULL), ESMM_EINVAL);
  ck_assert_int_eq(esmm_model_stat(m, 999, &v), ESMM_EINVAL);
  ck_assert_int_eq(esmm_model_stat(m, ESMM_STAT_STEP, NULL), ESMM_EINVAL);
  ck_assert_int_eq(esmm_model_predict(NULL, NULL, ds, 0, 1, p, p, p), ESMM_EINVAL);
  ck_assert_int_eq(esmm_model_evaluate(m, ds, NULL, 4), ESMM_EINVAL);
  ck_assert_int_eq(esmm_workspace_new(&ws, NULL, 0), ESMM_EINVAL);
  ck_assert_ptr_null(ws);
  ck_assert_int_eq(esmm_model_config(m, NULL), ESMM_EINVAL);
  /* a dataset with another field list */
  esmm_config_new(&other);
  esmm_dataset_new(&ds2, other);
  ck_assert_int_eq(esmm_model_train_epoch(m, ds2, NULL, NULL), ESMM_ESHAPE);
  ck_assert_int_eq(esmm_model_predict(m, NULL, ds2, 0, 0, p, p, p), ESMM_ESHAPE);
  /* empty dataset of the right shape */
  esmm_dataset_free(ds2);
  esmm_dataset_new(&ds2, cfg);
  ck_assert_int_eq(esmm_model_train_epoch(m, ds2, NULL, NULL), ESMM_EINVAL);
  ck_assert_int_eq(esmm_model_evaluate(m, ds2, met, 4), ESMM_OK);
  ck_assert(isnan(met[ESMM_METRIC_CTR_AUC]));
  esmm_model_free(NULL);
  esmm_workspace_free(NULL);
  esmm_dataset_free(ds2);
  esmm_config_free(other);
  esmm_model_free(m);
  esmm_dataset_free(ds);
  esmm_config_free(cfg);
}
END_TEST

/* The same rows with the common features stored once per group and with
 * them copied into every row: pooling once per group must not change what
 * the model computes (up to float reordering in the summed gradients). */
static esmm_dataset *inline_commons(const esmm_config *cfg, const esmm_dataset *g) {
  esmm_dataset *ds;
  int64_t n = 0;
  ck_assert_int_eq(esmm_dataset_new(&ds, cfg), ESMM_OK);
  esmm_dataset_stat(g, ESMM_DS_ROWS, &n);
  for (int64_t r = 0; r < n; r++) {
    int y, z, f[64];
    int64_t c, off[2] = {0, 0};
    size_t nnz, cn = 0;
    const int *fl, *cfl;
    const uint64_t *il, *cil;
    const float *vl, *cvl;
    uint64_t id[64];
    float v[64];
    ck_assert_int_eq(esmm_dataset_row(g, (size_t)r, &y, &z, &c, &nnz, &fl, &il, &vl), ESMM_OK);
    if (c >= 0)
      ck_assert_int_eq(esmm_dataset_common(g, (size_t)c, &cn, &cfl, &cil, &cvl), ESMM_OK);
    for (size_t k = 0; k < nnz; k++)
      f[k] = fl[k], id[k] = il[k], v[k] = vl[k];
    for (size_t k = 0; k < cn; k++)
      f[nnz + k] = cfl[k], id[nnz + k] = cil[k], v[nnz + k] = cvl[k];
    off[1] = (int64_t)(nnz + cn);
    ck_assert_int_eq(esmm_dataset_add_rows(ds, 1, &y, &z, NULL, off, f, id, v), ESMM_OK);
  }
  return ds;
}

START_TEST(grouped_pooling_equals_ungrouped) {
  esmm_config *cfg = small_config(ESMM_ACT_TANH);
  esmm_dataset *g, *u;
  esmm_model *a, *b;
  float *pa, *pb, ga[3][40], gb[3][40];
  size_t na, nb;
  esmm_config_set_int(cfg, ESMM_OPT_SHUFFLE, 0); /* same order in both */
  esmm_config_set_int(cfg, ESMM_OPT_BATCH_SIZE, 8);
  g = small_data(cfg, 40);
  u = inline_commons(cfg, g);
  {
    int64_t commons;
    esmm_dataset_stat(g, ESMM_DS_COMMONS, &commons);
    ck_assert_int_gt(commons, 0);
    esmm_dataset_stat(u, ESMM_DS_COMMONS, &commons);
    ck_assert_int_eq(commons, 0);
  }
  ck_assert_int_eq(esmm_model_new(&a, cfg), ESMM_OK);
  ck_assert_int_eq(esmm_model_new(&b, cfg), ESMM_OK);
  ck_assert_int_eq(esmm_model_predict(a, NULL, g, 0, 40, ga[0], ga[1], ga[2]), ESMM_OK);
  ck_assert_int_eq(esmm_model_predict(b, NULL, u, 0, 40, gb[0], gb[1], gb[2]), ESMM_OK);
  for (int i = 0; i < 40; i++)
    ck_assert_float_eq_tol(ga[2][i], gb[2][i], 1e-6);
  ck_assert_int_eq(esmm_model_train_steps(a, g, 12, NULL, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_model_train_steps(b, u, 12, NULL, NULL), ESMM_OK);
  snapshot(a, &pa, &na);
  snapshot(b, &pb, &nb);
  ck_assert_uint_eq(na, nb);
  for (size_t i = 0; i < na; i++)
    ck_assert_msg(fabsf(pa[i] - pb[i]) <= 1e-4f + 1e-3f * fabsf(pb[i]), "parameter %zu: %g vs %g", i, pa[i], pb[i]);
  ck_assert_int_eq(esmm_model_predict(a, NULL, g, 0, 40, ga[0], ga[1], ga[2]), ESMM_OK);
  ck_assert_int_eq(esmm_model_predict(b, NULL, u, 0, 40, gb[0], gb[1], gb[2]), ESMM_OK);
  for (int i = 0; i < 40; i++) {
    ck_assert_float_eq_tol(ga[0][i], gb[0][i], 1e-4);
    ck_assert_float_eq_tol(ga[1][i], gb[1][i], 1e-4);
  }
  free(pa), free(pb);
  esmm_model_free(a), esmm_model_free(b);
  esmm_dataset_free(g), esmm_dataset_free(u);
  esmm_config_free(cfg);
}
END_TEST

/* ESMM_OPT_SHUFFLE = groups: every row once, each group's rows together. */
START_TEST(group_shuffle_keeps_groups_together) {
  esmm_config *cfg = small_config(ESMM_ACT_RELU);
  esmm_sim *sim;
  esmm_dataset *ds;
  esmm_model *m;
  int64_t n;
  ck_assert_int_eq(esmm_sim_new(&sim, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_sim_generate(sim, 2000, 0, &ds), ESMM_OK);
  esmm_config_free(cfg);
  cfg = test_config_named("shuffle", "groups", "ctr_tower", "8", "cvr_tower", "8", "hash_buckets", "1000", NULL);
  ck_assert_int_eq(esmm_model_new(&m, cfg), ESMM_OK);
  ck_assert_int_eq(esmm_model_train_steps(m, ds, 1, NULL, NULL), ESMM_OK);
  esmm_dataset_stat(ds, ESMM_DS_ROWS, &n);
  {
    char *seen = calloc((size_t)n, 1);
    size_t runs = 0, breaks = 0;
    int64_t prev = -2;
    for (size_t i = 0; i < m->perm_n; i++) {
      size_t r = m->perm[i];
      int64_t c = ds->common[r];
      ck_assert(r < (size_t)n && !seen[r]);
      seen[r] = 1;
      if (c != prev)
        runs++;
      /* within a run the rows are consecutive in the dataset */
      if (i && c == prev && c >= 0)
        breaks += m->perm[i - 1] + 1 != r;
      prev = c;
    }
    ck_assert_uint_eq(breaks, 0);
    ck_assert_uint_lt(runs, (size_t)n / 5); /* ~20 rows a group */
    ck_assert(m->perm[0] != 0 || m->perm[n - 1] != (size_t)n - 1); /* shuffled */
    free(seen);
  }
  esmm_model_free(m);
  esmm_dataset_free(ds);
  esmm_sim_free(sim);
  esmm_config_free(cfg);
}
END_TEST

/* A restored training state regenerates the epoch's permutation and
 * continues where it was: the parameters equal an uninterrupted run. */
START_TEST(restored_train_state_continues_the_epoch) {
  esmm_config *cfg = small_config(ESMM_ACT_RELU);
  esmm_dataset *ds = small_data(cfg, 64);
  esmm_model *a, *b;
  esmm__train_state st;
  float *pa, *pb;
  size_t na, nb;
  esmm_config_set_int(cfg, ESMM_OPT_BATCH_SIZE, 5);
  ck_assert_int_eq(esmm_model_new(&a, cfg), ESMM_OK);
  ck_assert_int_eq(esmm_model_new(&b, cfg), ESMM_OK);
  ck_assert_int_eq(esmm_model_train_steps(a, ds, 30, NULL, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_model_train_steps(b, ds, 17, NULL, NULL), ESMM_OK);
  esmm__model_get_train_state(b, &st);
  ck_assert_int_eq(st.step, 17);
  ck_assert_uint_eq(st.perm_n, 64);
  ck_assert_uint_eq(st.cursor, (17 % 13) * 5); /* 13 steps an epoch */
  esmm__model_set_train_state(b, &st); /* drops the permutation */
  ck_assert_ptr_null(b->epoch_ds);
  ck_assert_int_eq(esmm_model_train_steps(b, ds, 13, NULL, NULL), ESMM_OK);
  snapshot(a, &pa, &na);
  snapshot(b, &pb, &nb);
  ck_assert(na == nb && memcmp(pa, pb, na * sizeof *pa) == 0);
  {
    esmm_dataset *other = small_data(cfg, 10);
    esmm__model_get_train_state(b, &st);
    esmm__model_set_train_state(b, &st);
    ck_assert_int_eq(esmm_model_train_steps(b, other, 1, NULL, NULL), ESMM_ESTATE);
    esmm_dataset_free(other);
  }
  free(pa), free(pb);
  esmm_model_free(a), esmm_model_free(b);
  esmm_dataset_free(ds);
  esmm_config_free(cfg);
}
END_TEST

/* Train on the simulator and compare with the oracle (the true
 * probabilities). Conversions are scarce at Ali-CCP's rates (0.2% of
 * impressions), so a test that must finish in seconds uses a denser world:
 * CTR 15%, CVR 25% of clicks, 2000 users, 5000 items, 400k impressions. */
START_TEST(training_on_the_simulator_approaches_the_oracle) {
  esmm_config *cfg;
  esmm_sim *sim;
  esmm_dataset *train, *test;
  esmm_model *m;
  double met[ESMM_METRIC_COUNT], orc[ESMM_METRIC_COUNT];
  /* Light mode (valgrind, test_slow_tool): 20k training rows in batches of
   * 128 and 5k test rows instead of 400k in batches of 256 and 50k (the
   * full test ran over 17 minutes under memcheck). One such epoch cannot
   * come within 0.02 of the oracle's AUCs (0.034 below on CTR, 0.046 on
   * CTCVR measured; 40k rows did no better), so the allowed gap is 0.06
   * there; the CVR and calibration checks are as in the full test (0.68
   * and 9% off measured). */
  const int light = test_slow_tool();
  const double gap = light ? 0.06 : 0.02;
  size_t n = light ? 5000 : 50000;
  float *p = malloc(3 * n * sizeof *p);
  int *y = malloc(n * sizeof *y), *z = malloc(n * sizeof *z);
  ck_assert_int_eq(esmm_sim_new(&sim, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_sim_set_float(sim, ESMM_SIM_CTR, 0.15), ESMM_OK);
  ck_assert_int_eq(esmm_sim_set_float(sim, ESMM_SIM_CVR, 0.25), ESMM_OK);
  ck_assert_int_eq(esmm_sim_set_int(sim, ESMM_SIM_USERS, 2000), ESMM_OK);
  ck_assert_int_eq(esmm_sim_set_int(sim, ESMM_SIM_ITEMS, 5000), ESMM_OK);
  ck_assert_int_eq(esmm_sim_generate(sim, light ? 20000 : 400000, 0, &train), ESMM_OK);
  ck_assert_int_eq(esmm_sim_generate(sim, n, 1, &test), ESMM_OK);
  cfg = test_config_named("ctr_tower", "32,16", "cvr_tower", "32,16", "learning_rate", "0.003", "batch_size", "256",
                          NULL);
  if (light)
    ck_assert_int_eq(esmm_config_set_by_name(cfg, "batch_size", "128"), ESMM_OK);
  ck_assert_int_eq(esmm_model_new(&m, cfg), ESMM_OK);
  ck_assert_int_eq(esmm_model_train_epoch(m, train, NULL, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_model_evaluate(m, test, met, ESMM_METRIC_COUNT), ESMM_OK);
  /* the oracle: metrics of the true probabilities, computed independently */
  ck_assert_int_eq(esmm_dataset_truth(test, ESMM_TRUTH_CTR, 0, n, p), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_truth(test, ESMM_TRUTH_CVR, 0, n, p + n), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_truth(test, ESMM_TRUTH_CTCVR, 0, n, p + 2 * n), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_labels(test, 0, n, y, z), ESMM_OK);
  ck_assert_int_eq(esmm_metrics_compute(p, p + n, p + 2 * n, y, z, n, orc, ESMM_METRIC_COUNT), ESMM_OK);
  ck_assert_msg(met[ESMM_METRIC_CTR_AUC] > orc[ESMM_METRIC_CTR_AUC] - gap, "CTR AUC %.4f vs oracle %.4f",
                met[ESMM_METRIC_CTR_AUC], orc[ESMM_METRIC_CTR_AUC]);
  ck_assert_msg(met[ESMM_METRIC_CTCVR_AUC] > orc[ESMM_METRIC_CTCVR_AUC] - gap, "CTCVR AUC %.4f vs oracle %.4f",
                met[ESMM_METRIC_CTCVR_AUC], orc[ESMM_METRIC_CTCVR_AUC]);
  ck_assert_msg(met[ESMM_METRIC_CVR_AUC_CLICKED] > 0.62, "CVR AUC on clicks %.4f is not clearly above chance",
                met[ESMM_METRIC_CVR_AUC_CLICKED]);
  /* calibration after one epoch: mean pCTR within 25% of the observed rate
   * (the last batches' drift moves it by ~10%) */
  ck_assert_double_eq_tol(met[ESMM_METRIC_CTR_MEAN], met[ESMM_METRIC_CTR_RATE], 0.25 * met[ESMM_METRIC_CTR_RATE]);
  free(p), free(y), free(z);
  esmm_model_free(m);
  esmm_config_free(cfg);
  esmm_dataset_free(train);
  esmm_dataset_free(test);
  esmm_sim_free(sim);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("model");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, whole_model_gradients_match_finite_differences);
  tcase_add_test(tc, whole_model_gradients_match_finite_differences_first_layer_split);
  tcase_add_test(tc, deterministic_with_one_thread_and_a_seed);
  tcase_add_test(tc, callback_cancels);
  tcase_add_test(tc, non_finite_loss_is_reported_and_not_applied);
  tcase_add_test(tc, predict_matches_between_workspaces_and_chunks);
  tcase_add_test(tc, bad_arguments);
  tcase_add_test(tc, grouped_pooling_equals_ungrouped);
  tcase_add_test(tc, group_shuffle_keeps_groups_together);
  tcase_add_test(tc, restored_train_state_continues_the_epoch);
  tcase_add_test(tc, training_on_the_simulator_approaches_the_oracle);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return test_main(suite()); }
