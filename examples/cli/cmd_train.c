/* esmm train / eval / predict on dataset files. */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

int cmd_train(const opts *o) {
  esmm_config *cfg = NULL;
  esmm_dataset *train = NULL, *valid = NULL;
  esmm_model *m = NULL;
  int64_t epochs = 1;
  int rc;
  if (!o->data || !o->model)
    return cli_usage("train needs --data FILE and --model FILE");
  if ((rc = cli_make_config(o, &cfg)))
    return rc;
  if ((rc = cli_read_data(o->data, cfg, &train)) || (o->valid && (rc = cli_read_data(o->valid, cfg, &valid))))
    goto done;
  if ((rc = esmm_model_new(&m, cfg))) {
    rc = cli_fail("model", rc);
    goto done;
  }
  esmm_config_get_int(cfg, ESMM_OPT_EPOCHS, &epochs);
  if ((rc = cli_train_epochs(m, train, valid, epochs, o)))
    goto done;
  if ((rc = esmm_model_save(m, o->model))) {
    rc = cli_fail("save", rc);
    goto done;
  }
  if (o->json) {
    double loss, sps;
    esmm_model_stat(m, ESMM_STAT_EPOCH_LOSS, &loss);
    esmm_model_stat(m, ESMM_STAT_SAMPLES_PER_SEC, &sps);
    printf("{\"model\":\"%s\",\"epochs\":%lld,\"train_loss\":%.6g,\"samples_per_sec\":%.0f}\n", o->model,
           (long long)epochs, loss, sps);
  }
done:
  esmm_model_free(m);
  esmm_dataset_free(train);
  esmm_dataset_free(valid);
  esmm_config_free(cfg);
  return rc;
}

static int load_model_and_data(const opts *o, esmm_model **m, esmm_dataset **ds) {
  esmm_config *cfg = NULL;
  int rc;
  if ((rc = esmm_model_load(m, o->model, NULL)) != 0)
    return cli_fail("load", rc);
  if ((rc = esmm_model_config(*m, &cfg)) != 0)
    return cli_fail("config", rc);
  rc = cli_read_data(o->data, cfg, ds);
  esmm_config_free(cfg);
  return rc;
}

int cmd_eval(const opts *o) {
  esmm_model *m = NULL;
  esmm_dataset *ds = NULL;
  double met[ESMM_METRIC_COUNT];
  int rc;
  if (!o->data || !o->model)
    return cli_usage("eval needs --model FILE and --data FILE");
  if ((rc = load_model_and_data(o, &m, &ds)) == 0) {
    if ((rc = esmm_model_evaluate(m, ds, met, ESMM_METRIC_COUNT)) != 0)
      rc = cli_fail("evaluate", rc);
    else if (o->json) {
      printf("{");
      cli_print_json_metrics(stdout, "metrics", met);
      printf("}\n");
    } else
      cli_print_table(met, NULL);
  }
  esmm_dataset_free(ds);
  esmm_model_free(m);
  return rc;
}

int cmd_predict(const opts *o) {
  esmm_model *m = NULL;
  esmm_dataset *ds = NULL;
  float *p = NULL;
  FILE *f = stdout;
  int64_t n = 0;
  int rc;
  if (!o->data || !o->model)
    return cli_usage("predict needs --model FILE and --data FILE");
  if ((rc = load_model_and_data(o, &m, &ds)) != 0)
    goto done;
  esmm_dataset_stat(ds, ESMM_DS_ROWS, &n);
  p = malloc(3 * (size_t)(n ? n : 1) * sizeof *p);
  if (!p) {
    rc = EXIT_LIB;
    fprintf(stderr, "esmm: out of memory\n");
    goto done;
  }
  if ((rc = esmm_model_predict(m, NULL, ds, 0, (size_t)n, p, p + n, p + 2 * n)) != 0) {
    rc = cli_fail("predict", rc);
    goto done;
  }
  if (o->out && !(f = fopen(o->out, "w"))) {
    fprintf(stderr, "esmm: cannot write %s: %s\n", o->out, strerror(errno));
    rc = EXIT_LIB;
    goto done;
  }
  fprintf(f, "pctr\tpcvr\tpctcvr\n");
  for (int64_t i = 0; i < n; i++)
    fprintf(f, "%.9g\t%.9g\t%.9g\n", p[i], p[n + i], p[2 * n + i]);
  if (f != stdout && fclose(f) != 0) {
    fprintf(stderr, "esmm: cannot write %s: %s\n", o->out, strerror(errno));
    rc = EXIT_LIB;
  }
done:
  free(p);
  esmm_dataset_free(ds);
  esmm_model_free(m);
  return rc;
}

