/* check_fit.c - esmm_model_fit (esmm/fit.h): records per epoch and every N
 * steps, early stopping with patience, the best model kept, the state that
 * carries over a checkpoint, cancellation and bad arguments; and the
 * options-as-data calls (esmm/config.h, 1.1) that the esmm program and the
 * bindings build their messages and checks on. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <esmm/esmm.h>
#include "support/support.h"

static esmm_config *fit_config(int epochs) {
  esmm_config *c = NULL;
  const int64_t tower[1] = {8};
  ck_assert_int_eq(esmm_config_new(&c), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_HASH_BUCKETS, 500), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_EMBED_DIM, 4), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_ints(c, ESMM_OPT_CTR_TOWER, tower, 1), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_ints(c, ESMM_OPT_CVR_TOWER, tower, 1), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_BATCH_SIZE, 100), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_EPOCHS, epochs), ESMM_OK);
  return c;
}

/* Light mode (valgrind, test_slow_tool): one simulator for the whole
 * process instead of one per call. Preparing one (its pilot sample and
 * calibration) takes ~5 s of CPU under memcheck, and the nine calls were
 * most of this binary's 174 s there. The rows are the same (same seed,
 * same stream). It is freed at exit, before memcheck's leak check. */
static esmm_sim *light_sim;

static void free_light_sim(void) { esmm_sim_free(light_sim); }

static esmm_dataset *sim_rows(size_t n, uint64_t stream) {
  esmm_sim *sim = light_sim;
  esmm_dataset *ds = NULL;
  if (!sim)
    ck_assert_int_eq(esmm_sim_new(&sim, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_sim_generate(sim, n, stream, &ds), ESMM_OK);
  if (!test_slow_tool())
    esmm_sim_free(sim);
  else if (!light_sim) {
    light_sim = sim;
    atexit(free_light_sim);
  }
  return ds;
}

static double rec(const esmm_fit *f, size_t i, int key) {
  double v = -1;
  ck_assert_int_eq(esmm_fit_record(f, i, key, &v), ESMM_OK);
  return v;
}

static double fstat(const esmm_fit *f, int key) {
  double v = -1;
  ck_assert_int_eq(esmm_fit_stat(f, key, &v), ESMM_OK);
  return v;
}

/* Counts events; at the best one, keeps the model's bytes. */
typedef struct probe {
  int steps, evals, bests, stop_at_step;
  unsigned char *best;
  size_t best_len;
} probe;

static int on_event(const esmm_model *m, const esmm_fit *f, int event, void *payload) {
  probe *p = payload;
  (void)f;
  if (event == ESMM_FIT_EVENT_STEP && ++p->steps == p->stop_at_step)
    return 1;
  if (event == ESMM_FIT_EVENT_EVAL)
    p->evals++;
  if (event == ESMM_FIT_EVENT_BEST) {
    size_t need = 0;
    p->bests++;
    ck_assert_int_eq(esmm_model_save_buffer(m, NULL, 0, &need), ESMM_EBUFS);
    free(p->best);
    p->best = malloc(need);
    ck_assert_int_eq(esmm_model_save_buffer(m, p->best, need, &p->best_len), ESMM_OK);
  }
  return 0;
}

START_TEST(test_history_per_epoch) {
  esmm_config *c = fit_config(3);
  esmm_dataset *tr = sim_rows(1000, 0), *va = sim_rows(500, 1);
  esmm_model *m = NULL;
  esmm_fit *f = NULL;
  probe p = {0};
  ck_assert_int_eq(esmm_model_new(&m, c), ESMM_OK);
  /* the default monitor, ctcvr_auc, is NaN on 500 simulated rows (too few
   * conversions): ctr_auc is defined */
  ck_assert_int_eq(esmm_config_set_by_name(c, "monitor", "ctr_auc"), ESMM_OK);
  ck_assert_int_eq(esmm_model_fit(m, tr, va, c, on_event, &p, &f), ESMM_OK);
  ck_assert_int_eq((int)fstat(f, ESMM_FIT_STAT_RECORDS), 3);
  ck_assert_int_eq(p.steps, 30);
  ck_assert_int_eq(p.evals, 3);
  ck_assert_int_eq((int)fstat(f, ESMM_FIT_STAT_STEPS_PER_EPOCH), 10);
  ck_assert_int_eq((int)fstat(f, ESMM_FIT_STAT_TOTAL_STEPS), 30);
  ck_assert_int_eq((int)fstat(f, ESMM_FIT_STAT_MONITOR), ESMM_METRIC_CTR_AUC);
  ck_assert_int_eq((int)fstat(f, ESMM_FIT_STAT_HIGHER_BETTER), 1);
  for (size_t i = 0; i < 3; i++) {
    double met[ESMM_METRIC_COUNT];
    ck_assert(rec(f, i, ESMM_FIT_EPOCH) == (double)(i + 1));
    ck_assert(rec(f, i, ESMM_FIT_STEP) == 10.0 * (double)(i + 1));
    ck_assert(rec(f, i, ESMM_FIT_SAMPLES) == 1000.0 * (double)(i + 1));
    ck_assert(isfinite(rec(f, i, ESMM_FIT_TRAIN_LOSS)) && rec(f, i, ESMM_FIT_TRAIN_LOSS) > 0);
    ck_assert(rec(f, i, ESMM_FIT_MONITOR) == rec(f, i, ESMM_FIT_VALID + ESMM_METRIC_CTR_AUC));
    ck_assert(rec(f, i, ESMM_FIT_VALID + ESMM_METRIC_ROWS) == 500.0);
    if (i == 2) { /* the last record is the model as it stands */
      ck_assert_int_eq(esmm_model_evaluate(m, va, met, ESMM_METRIC_COUNT), ESMM_OK);
      ck_assert(met[ESMM_METRIC_CTR_AUC] == rec(f, i, ESMM_FIT_VALID + ESMM_METRIC_CTR_AUC));
    }
  }
  /* the best record is the one with the highest monitored value, and the
   * kept copy is the model as it was then */
  {
    int best = (int)fstat(f, ESMM_FIT_STAT_BEST);
    esmm_model *b = NULL;
    size_t need = 0;
    unsigned char *bytes;
    ck_assert_int_ge(best, 0);
    for (size_t i = 0; i < 3; i++)
      ck_assert(rec(f, i, ESMM_FIT_MONITOR) <= rec(f, (size_t)best, ESMM_FIT_MONITOR));
    ck_assert(rec(f, (size_t)best, ESMM_FIT_IMPROVED) == 1);
    ck_assert_int_eq(esmm_fit_best_model(f, NULL, &b), ESMM_OK);
    ck_assert_int_eq(esmm_model_save_buffer(b, NULL, 0, &need), ESMM_EBUFS);
    ck_assert_uint_eq(need, p.best_len);
    bytes = malloc(need);
    ck_assert_int_eq(esmm_model_save_buffer(b, bytes, need, &need), ESMM_OK);
    ck_assert_int_eq(memcmp(bytes, p.best, need), 0);
    free(bytes);
    esmm_model_free(b);
  }
  free(p.best);
  esmm_fit_free(f);
  esmm_model_free(m);
  esmm_dataset_free(tr);
  esmm_dataset_free(va);
  esmm_config_free(c);
}
END_TEST

START_TEST(test_eval_every_steps) {
  esmm_config *c = fit_config(2);
  esmm_dataset *tr = sim_rows(1000, 0);
  esmm_model *m = NULL;
  esmm_fit *f = NULL;
  ck_assert_int_eq(esmm_config_set_by_name(c, "eval_every", "7"), ESMM_OK);
  ck_assert_int_eq(esmm_model_new(&m, c), ESMM_OK);
  /* no validation set: records hold the training loss, NaN metrics */
  ck_assert_int_eq(esmm_model_fit(m, tr, NULL, NULL, NULL, NULL, &f), ESMM_OK);
  /* steps 7 14 and the end (20) */
  ck_assert_int_eq((int)fstat(f, ESMM_FIT_STAT_RECORDS), 3);
  ck_assert(rec(f, 0, ESMM_FIT_STEP) == 7);
  ck_assert(rec(f, 1, ESMM_FIT_STEP) == 14);
  ck_assert(rec(f, 2, ESMM_FIT_STEP) == 20);
  ck_assert(rec(f, 0, ESMM_FIT_EPOCH) == 0.7);
  ck_assert(isnan(rec(f, 0, ESMM_FIT_MONITOR)));
  ck_assert(isnan(rec(f, 0, ESMM_FIT_VALID + ESMM_METRIC_CTR_AUC)));
  ck_assert_int_eq((int)fstat(f, ESMM_FIT_STAT_BEST), -1);
  {
    esmm_model *b = NULL;
    ck_assert_int_eq(esmm_fit_best_model(f, NULL, &b), ESMM_ESTATE);
    ck_assert_ptr_null(b);
  }
  esmm_fit_free(f);
  esmm_model_free(m);
  esmm_dataset_free(tr);
  esmm_config_free(c);
}
END_TEST

/* min_delta 1: no AUC can improve by more than 1, so only the first
 * evaluation is ever the best, and training stops after 1 + patience. */
START_TEST(test_early_stopping_and_resume) {
  esmm_config *c = fit_config(20);
  esmm_dataset *tr = sim_rows(1000, 0), *va = sim_rows(300, 1);
  esmm_model *m = NULL, *r = NULL;
  esmm_fit *f = NULL;
  const char *v;
  char dir[] = "/tmp/esmm-fit-XXXXXX", path[64];
  ck_assert_int_eq(esmm_config_set_by_name(c, "patience", "3"), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_by_name(c, "min_delta", "1"), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_by_name(c, "monitor", "ctr_auc"), ESMM_OK);
  ck_assert_int_eq(esmm_model_new(&m, c), ESMM_OK);
  ck_assert_int_eq(esmm_model_fit(m, tr, va, NULL, NULL, NULL, &f), ESMM_OK);
  ck_assert_int_eq((int)fstat(f, ESMM_FIT_STAT_STOPPED_EARLY), 1);
  ck_assert_int_eq((int)fstat(f, ESMM_FIT_STAT_RECORDS), 4);
  ck_assert_int_eq((int)fstat(f, ESMM_FIT_STAT_BEST), 0);
  ck_assert_int_eq((int)fstat(f, ESMM_FIT_STAT_BEST_STEP), 10);
  ck_assert_int_eq((int)fstat(f, ESMM_FIT_STAT_WAIT), 3);
  ck_assert_int_eq(esmm_model_meta(m, "fit.wait", &v), ESMM_OK);
  ck_assert_str_eq(v, "3");
  ck_assert_int_eq(esmm_model_meta(m, "fit.monitor", &v), ESMM_OK);
  ck_assert_str_eq(v, "ctr_auc");
  esmm_fit_free(f);
  esmm_model_free(m);

  /* the same run in two parts: 2 epochs, a checkpoint, then the rest; the
   * resumed fit counts from the saved state and stops at the same point */
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/ck.esmm", dir);
  ck_assert_int_eq(esmm_model_new(&m, c), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_EPOCHS, 2), ESMM_OK);
  ck_assert_int_eq(esmm_model_fit(m, tr, va, c, NULL, NULL, &f), ESMM_OK);
  ck_assert_int_eq((int)fstat(f, ESMM_FIT_STAT_WAIT), 1);
  esmm_fit_free(f);
  ck_assert_int_eq(esmm_model_save_checkpoint(m, path), ESMM_OK);
  ck_assert_int_eq(esmm_model_load_checkpoint(&r, path, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_EPOCHS, 20), ESMM_OK);
  ck_assert_int_eq(esmm_model_fit(r, tr, va, c, NULL, NULL, &f), ESMM_OK);
  ck_assert_int_eq((int)fstat(f, ESMM_FIT_STAT_RECORDS), 2);
  ck_assert_int_eq((int)fstat(f, ESMM_FIT_STAT_STOPPED_EARLY), 1);
  ck_assert_int_eq((int)fstat(f, ESMM_FIT_STAT_BEST), -1); /* the best came before the resume */
  ck_assert_int_eq((int)fstat(f, ESMM_FIT_STAT_BEST_STEP), 10);
  {
    esmm_model *b = NULL;
    ck_assert_int_eq(esmm_fit_best_model(f, NULL, &b), ESMM_ESTATE);
    ck_assert_ptr_nonnull(strstr(esmm_last_error(), "before this fit resumed"));
  }
  esmm_fit_free(f);
  esmm_model_free(r);
  /* a plain model file (warm start) starts afresh */
  ck_assert_int_eq(esmm_model_save(m, path), ESMM_OK);
  ck_assert_int_eq(esmm_model_load(&r, path, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_EPOCHS, 1), ESMM_OK);
  ck_assert_int_eq(esmm_model_fit(r, tr, va, c, NULL, NULL, &f), ESMM_OK);
  ck_assert_int_eq((int)fstat(f, ESMM_FIT_STAT_BEST), 0);
  esmm_fit_free(f);
  esmm_model_free(r);
  unlink(path);
  rmdir(dir);
  esmm_model_free(m);
  esmm_dataset_free(tr);
  esmm_dataset_free(va);
  esmm_config_free(c);
}
END_TEST

START_TEST(test_logloss_monitor) {
  esmm_config *c = fit_config(2);
  esmm_dataset *tr = sim_rows(1000, 0), *va = sim_rows(300, 1);
  esmm_model *m = NULL;
  esmm_fit *f = NULL;
  ck_assert_int_eq(esmm_config_set_by_name(c, "monitor", "ctr_logloss"), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_by_name(c, "keep_best", "0"), ESMM_OK);
  ck_assert_int_eq(esmm_model_new(&m, c), ESMM_OK);
  ck_assert_int_eq(esmm_model_fit(m, tr, va, NULL, NULL, NULL, &f), ESMM_OK);
  ck_assert_int_eq((int)fstat(f, ESMM_FIT_STAT_HIGHER_BETTER), 0);
  ck_assert(isfinite(rec(f, 0, ESMM_FIT_MONITOR)));
  {
    int best = (int)fstat(f, ESMM_FIT_STAT_BEST);
    esmm_model *b = NULL;
    ck_assert_int_ge(best, 0);
    for (size_t i = 0; i < 2; i++)
      ck_assert(rec(f, i, ESMM_FIT_MONITOR) >= rec(f, (size_t)best, ESMM_FIT_MONITOR));
    ck_assert_int_eq(esmm_fit_best_model(f, NULL, &b), ESMM_ESTATE);
    ck_assert_ptr_nonnull(strstr(esmm_last_error(), "keep_best is 0"));
  }
  esmm_fit_free(f);
  esmm_model_free(m);
  esmm_dataset_free(tr);
  esmm_dataset_free(va);
  esmm_config_free(c);
}
END_TEST

START_TEST(test_cancel_and_bad_args) {
  esmm_config *c = fit_config(2);
  esmm_dataset *tr = sim_rows(1000, 0), *empty = NULL;
  esmm_model *m = NULL;
  esmm_fit *f = NULL;
  probe p = {0};
  double step;
  p.stop_at_step = 13;
  ck_assert_int_eq(esmm_model_new(&m, c), ESMM_OK);
  ck_assert_int_eq(esmm_model_fit(m, tr, NULL, NULL, on_event, &p, &f), ESMM_ECANCELED);
  ck_assert_ptr_nonnull(f); /* the history up to the stop */
  ck_assert_int_eq((int)fstat(f, ESMM_FIT_STAT_RECORDS), 1);
  ck_assert_int_eq(esmm_model_stat(m, ESMM_STAT_STEP, &step), ESMM_OK);
  ck_assert(step == 13);
  esmm_fit_free(f);
  ck_assert_int_eq(esmm_model_fit(NULL, tr, NULL, NULL, NULL, NULL, &f), ESMM_EINVAL);
  ck_assert_ptr_null(f);
  ck_assert_int_eq(esmm_config_set_by_name(c, "patience", "2"), ESMM_OK);
  ck_assert_int_eq(esmm_model_fit(m, tr, NULL, c, NULL, NULL, &f), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_model_fit: early stopping (patience 2) needs a validation set");
  ck_assert_int_eq(esmm_dataset_new(&empty, c), ESMM_OK);
  ck_assert_int_eq(esmm_model_fit(m, empty, NULL, NULL, NULL, NULL, NULL), ESMM_EINVAL);
  esmm_fit_free(NULL);
  esmm_dataset_free(empty);
  esmm_model_free(m);
  esmm_dataset_free(tr);
  esmm_config_free(c);
}
END_TEST

/* ---- options as data ---------------------------------------------------------- */

START_TEST(test_option_introspection) {
  esmm_opt all[128], o;
  size_t n = 0;
  int type, found = 0;
  ck_assert_int_eq(esmm_config_option_list(NULL, 0, &n), ESMM_EBUFS);
  ck_assert_uint_gt(n, 30);
  ck_assert_int_eq(esmm_config_option_list(all, 128, &n), ESMM_OK);
  for (size_t i = 0; i < n; i++) {
    const char *name = esmm_config_option_name(all[i]);
    ck_assert_ptr_nonnull(name);
    ck_assert_int_eq(esmm_config_option_lookup(name, &o), ESMM_OK);
    ck_assert_int_eq(o, all[i]);
    found |= all[i] == ESMM_OPT_FIT_PATIENCE;
  }
  ck_assert(found);
  ck_assert_int_eq(esmm_config_option_lookup("ESMM_OPT_BATCH_SIZE", &o), ESMM_OK);
  ck_assert_int_eq(o, ESMM_OPT_BATCH_SIZE);
  ck_assert_int_eq(esmm_config_option_lookup("bach_size", &o), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_config_option_lookup: unknown option name \"bach_size\" (did you mean "
                                      "batch_size?)");
  ck_assert_int_eq(esmm_config_option_type(ESMM_OPT_OPTIMIZER, &type), ESMM_OK);
  ck_assert_int_eq(type, ESMM_OPT_TYPE_ENUM);
  ck_assert_int_eq(esmm_config_option_type(ESMM_OPT_CTR_TOWER, &type), ESMM_OK);
  ck_assert_int_eq(type, ESMM_OPT_TYPE_LIST);
  ck_assert_int_eq(esmm_config_option_type(ESMM_OPT_LEARNING_RATE, &type), ESMM_OK);
  ck_assert_int_eq(type, ESMM_OPT_TYPE_FLOAT);
  ck_assert_int_eq(esmm_config_option_type((esmm_opt)12345, &type), ESMM_EINVAL);
  ck_assert_str_eq(esmm_config_option_choice(ESMM_OPT_OPTIMIZER, 1), "adagrad");
  ck_assert_ptr_null(esmm_config_option_choice(ESMM_OPT_OPTIMIZER, 3));
  ck_assert_ptr_null(esmm_config_option_choice(ESMM_OPT_BATCH_SIZE, 0));
  ck_assert_str_eq(esmm_config_option_choice(ESMM_OPT_FIT_MONITOR, ESMM_METRIC_CTCVR_AUC), "ctcvr_auc");
  for (int k = 0; k <= ESMM_METRIC_CTCVR_LOGLOSS; k++) /* the monitor's names are the metrics' */
    ck_assert_str_eq(esmm_config_option_choice(ESMM_OPT_FIT_MONITOR, k), esmm_metric_name(k));
}
END_TEST

/* Messages of esmm_config_set_by_name speak the names its caller used. */
START_TEST(test_messages_by_name) {
  esmm_config *c = NULL;
  ck_assert_int_eq(esmm_config_new(&c), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_by_name(c, "batch_size", "0"), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_config_set_by_name: batch_size must be in [1, 1048576], got 0");
  ck_assert_int_eq(esmm_config_set_by_name(c, "optimizer", "adamw"), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_config_set_by_name: optimizer: \"adamw\" is not one of adam, adagrad, sgd");
  ck_assert_int_eq(esmm_config_set_by_name(c, "optimizer", "7"), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_config_set_by_name: optimizer must be in [0, 2], got 7");
  ck_assert_int_eq(esmm_config_set_by_name(c, "optimizer", "2"), ESMM_OK); /* numbers still work */
  ck_assert_int_eq(esmm_config_set_by_name(c, "learning_rat", "0.1"), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_config_set_by_name: unknown option name \"learning_rat\" (did you mean "
                                      "learning_rate?)");
  ck_assert_int_eq(esmm_config_set_by_name(c, "feilds", "a,b"), ESMM_EINVAL);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "did you mean fields?"));
  ck_assert_int_eq(esmm_config_set_by_name(c, "ctr_tower", "0"), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_config_set_by_name: ctr_tower values must be in [1, 65536], got 0 at 0");
  /* the enum-keyed setters keep naming the enumerator */
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_BATCH_SIZE, 0), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_config_set_int: ESMM_OPT_BATCH_SIZE must be in [1, 1048576], got 0");
  esmm_config_free(c);
}
END_TEST

static Suite *fit_suite(void) {
  Suite *s = suite_create("fit");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_history_per_epoch);
  tcase_add_test(tc, test_eval_every_steps);
  tcase_add_test(tc, test_early_stopping_and_resume);
  tcase_add_test(tc, test_logloss_monitor);
  tcase_add_test(tc, test_cancel_and_bad_args);
  tcase_add_test(tc, test_option_introspection);
  tcase_add_test(tc, test_messages_by_name);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return test_main(fit_suite()); }
