/* esmm demo: simulate a train and a test set, train, and print the test
 * metrics next to the oracle's (the simulator's true probabilities). */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

/* The demo's recipe: the library defaults, with a batch of 512 and a
 * learning rate of 2e-3, which reach the oracle more closely in one epoch on
 * a million impressions than 1024 and 1e-3 do (README.md, "Quick start");
 * --set overrides both. */
static int demo_defaults(const opts *o, esmm_config *cfg) {
  static const char *const keys[] = {"batch_size", "learning_rate"};
  static const char *const values[] = {"512", "0.002"};
  for (int k = 0; k < 2; k++) {
    int given = 0;
    for (int i = 0; i < o->n_cfg; i++)
      given |= strncmp(o->cfg_set[i], keys[k], strlen(keys[k])) == 0 && o->cfg_set[i][strlen(keys[k])] == '=';
    if (!given && esmm_config_set_by_name(cfg, keys[k], values[k]) != ESMM_OK)
      return cli_fail("config", ESMM_EINVAL);
  }
  return 0;
}

int cmd_demo(const opts *o) {
  esmm_config *cfg = NULL;
  esmm_sim *sim = NULL;
  esmm_dataset *train = NULL, *test = NULL;
  esmm_model *m = NULL;
  double met[ESMM_METRIC_COUNT], orc[ESMM_METRIC_COUNT];
  size_t rows = o->rows ? o->rows : 1000000, test_rows = o->test_rows ? o->test_rows : 200000;
  int64_t epochs = 0;
  double t0 = cli_now(), t_train;
  int rc;

  if ((rc = cli_make_config(o, SET_TRAIN, &cfg)) || (rc = cli_make_sim(o, &sim)))
    goto done;
  if ((rc = demo_defaults(o, cfg)))
    goto done;
  if (!o->json)
    printf("libesmm %s demo: simulating %zu training and %zu test impressions (Ali-CCP-shaped, 23 fields)\n",
           esmm_version_string(), rows, test_rows);
  fflush(stdout); /* before the progress lines on stderr */
  if ((rc = esmm_sim_generate(sim, rows, 0, &train)) || (rc = esmm_sim_generate(sim, test_rows, 1, &test))) {
    rc = cli_fail("simulate", rc);
    goto done;
  }
  if ((rc = esmm_model_new(&m, cfg))) {
    rc = cli_fail("model", rc);
    goto done;
  }
  esmm_config_get_int(cfg, ESMM_OPT_EPOCHS, &epochs);
  t_train = cli_now();
  if ((rc = cli_train_epochs(m, train, NULL, epochs, o)))
    goto done;
  t_train = cli_now() - t_train;
  if ((rc = esmm_model_evaluate(m, test, met, ESMM_METRIC_COUNT))) {
    rc = cli_fail("evaluate", rc);
    goto done;
  }
  if ((rc = cli_oracle_metrics(test, orc)))
    goto done;
  if (o->json) {
    printf("{\"train_rows\":%zu,\"test_rows\":%zu,\"train_seconds\":%.3f,", rows, test_rows, t_train);
    cli_print_json_metrics(stdout, "model", met);
    printf(",");
    cli_print_json_metrics(stdout, "oracle", orc);
    printf("}\n");
  } else {
    printf("trained %lld epoch(s) in %.1f s (%.0f samples/s); test set metrics:\n", (long long)epochs, t_train,
           (double)rows * (double)epochs / t_train);
    cli_print_table(met, orc);
    printf("oracle = the simulator's true probabilities; total %.1f s\n", cli_now() - t0);
  }
done:
  esmm_model_free(m);
  esmm_dataset_free(train);
  esmm_dataset_free(test);
  esmm_sim_free(sim);
  esmm_config_free(cfg);
  return rc;
}

