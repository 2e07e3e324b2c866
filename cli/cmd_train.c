/* esmm train / eval / predict on dataset files.
 *
 * train takes three options of its own (also accepted as --set key=value
 * for scripts written against 1.0 snapshots):
 *   --checkpoint FILE            write a checkpoint (model + optimizer +
 *                                training position) to FILE, atomically,
 *   --checkpoint-every N         every N steps (default 1000; 0 = only at
 *                                the end and on interruption),
 *   --resume FILE                continue from a checkpoint: the model, its
 *                                optimizer and its place in the epoch come
 *                                from FILE, so the run ends exactly as an
 *                                uninterrupted one would (same data, one
 *                                thread); other --set options are refused,
 *                                except epochs (the total to reach).
 * On a terminal (stderr) a progress bar shows the epoch, step, loss,
 * throughput and the time left; --quiet or --json turn it off.
 * Exit status: 0 done, 1 library/data error, 2 usage, 3 interrupted (Ctrl-C;
 * a checkpoint is written first when one was asked for). */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- train ------------------------------------------------------------- */

typedef struct train_run {
  const char *ckpt, *resume;
  int64_t every, epochs, steps_per_epoch, last_ckpt_step;
  int bar;
  double t0, last_draw, samples0;
  int ckpt_rc; /* first failing checkpoint save, reported after training */
} train_run;

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

/* Split --set into config options and train's own keys. */
static int parse_every(const char *s, train_run *r) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || end == s || v < 0)
    return cli_usage("--checkpoint-every needs a number of steps >= 0");
  r->every = v;
  return 0;
}

static int split_sets(const opts *o, opts *cfg_only, train_run *r) {
  *cfg_only = *o;
  cfg_only->n_cfg = 0;
  if (o->checkpoint)
    r->ckpt = o->checkpoint;
  if (o->resume)
    r->resume = o->resume;
  if (o->checkpoint_every && parse_every(o->checkpoint_every, r) != 0)
    return EXIT_USAGE;
  for (int i = 0; i < o->n_cfg; i++) {
    const char *kv = o->cfg_set[i];
    if (strncmp(kv, "checkpoint=", 11) == 0)
      r->ckpt = kv + 11;
    else if (strncmp(kv, "resume=", 7) == 0)
      r->resume = kv + 7;
    else if (strncmp(kv, "checkpoint_every=", 17) == 0) {
      if (parse_every(kv + 17, r) != 0)
        return EXIT_USAGE;
    } else
      cfg_only->cfg_set[cfg_only->n_cfg++] = kv;
  }
  if ((r->ckpt && !*r->ckpt) || (r->resume && !*r->resume))
    return cli_usage("checkpoint= and resume= need a file name");
  return 0;
}

static void draw_bar(const esmm_model *m, train_run *r, int64_t step) {
  double loss, ep, samples, t = cli_now(), frac, left;
  int64_t in_epoch, total = r->steps_per_epoch * r->epochs;
  char bar[31];
  int fill;
  esmm_model_stat(m, ESMM_STAT_EPOCH_LOSS, &loss);
  esmm_model_stat(m, ESMM_STAT_EPOCH, &ep);
  esmm_model_stat(m, ESMM_STAT_SAMPLES, &samples);
  in_epoch = step - (int64_t)ep * r->steps_per_epoch;
  frac = total > 0 ? (double)step / (double)total : 0;
  if (frac > 1)
    frac = 1;
  fill = (int)(frac * 30);
  memset(bar, '#', (size_t)fill);
  memset(bar + fill, '.', (size_t)(30 - fill));
  bar[30] = '\0';
  left = frac > 0 ? (t - r->t0) * (1 - frac) / frac : 0;
  /* throughput of this run so far (ESMM_STAT_SAMPLES_PER_SEC is set when a
   * training call returns) */
  fprintf(stderr, "\r[%s] %3.0f%%  epoch %.0f/%lld  step %lld/%lld  loss %.5f  %.0f/s  ETA %d:%02d ", bar,
          100 * frac, ep + 1 > (double)r->epochs ? (double)r->epochs : ep + 1, (long long)r->epochs,
          (long long)(in_epoch < 0 ? 0 : in_epoch), (long long)r->steps_per_epoch, loss,
          t > r->t0 ? (samples - r->samples0) / (t - r->t0) : 0, (int)(left / 60), (int)fmod(left, 60));
  r->last_draw = t;
}

static int on_step(const esmm_model *m, int64_t step, void *payload) {
  train_run *r = payload;
  if (r->ckpt && r->every > 0 && step - r->last_ckpt_step >= r->every) {
    int rc = esmm_model_save_checkpoint(m, r->ckpt);
    if (rc && !r->ckpt_rc) {
      r->ckpt_rc = cli_fail("checkpoint", rc);
      return 1; /* a run that cannot be resumed is not worth continuing silently */
    }
    r->last_ckpt_step = step;
  }
  if (r->bar && cli_now() - r->last_draw >= 0.1)
    draw_bar(m, r, step);
  return stop_requested ? 1 : 0;
}

static void json_metrics_or_null(const char *key, const double *met, int have) {
  if (have)
    cli_print_json_metrics(stdout, key, met);
  else
    printf("\"%s\":null", key);
}

int cmd_train(const opts *o) {
  esmm_config *cfg = NULL;
  esmm_dataset *train = NULL, *valid = NULL;
  esmm_model *m = NULL;
  opts co;
  train_run r;
  double met[ESMM_METRIC_COUNT], d;
  int have_met = 0, rc, interrupted = 0;
  int64_t rows = 0, batch = 1, epochs_set = -1;

  memset(&r, 0, sizeof r);
  r.every = 1000;
  if (!o->data || !o->model)
    return cli_usage("train needs --data FILE and --model FILE");
  if ((rc = split_sets(o, &co, &r)) != 0)
    return rc;
  if (r.resume) {
    /* the checkpoint fixes everything but the number of epochs to reach */
    for (int i = 0; i < co.n_cfg; i++) {
      char *end;
      if (strncmp(co.cfg_set[i], "epochs=", 7) != 0 || (epochs_set = strtoll(co.cfg_set[i] + 7, &end, 10)) < 1 ||
          *end)
        return cli_usage("with resume=, the only config option accepted is epochs=N (N >= 1)");
    }
    if ((rc = esmm_model_load_checkpoint(&m, r.resume, NULL)) != 0)
      return cli_fail("resume", rc);
    if ((rc = esmm_model_config(m, &cfg)) != 0) {
      rc = cli_fail("config", rc);
      goto done;
    }
  } else if ((rc = cli_make_config(&co, &cfg)) != 0)
    return rc;
  if ((rc = cli_read_data(o->data, cfg, &train)) || (o->valid && (rc = cli_read_data(o->valid, cfg, &valid))))
    goto done;
  if (!m && (rc = esmm_model_new(&m, cfg)) != 0) {
    rc = cli_fail("model", rc);
    goto done;
  }
  esmm_config_get_int(cfg, ESMM_OPT_EPOCHS, &r.epochs);
  if (epochs_set > 0)
    r.epochs = epochs_set;
  esmm_config_get_int(cfg, ESMM_OPT_BATCH_SIZE, &batch);
  esmm_dataset_stat(train, ESMM_DS_ROWS, &rows);
  r.steps_per_epoch = (rows + batch - 1) / batch;
  esmm_model_stat(m, ESMM_STAT_STEP, &d);
  r.last_ckpt_step = (int64_t)d;
  esmm_model_stat(m, ESMM_STAT_SAMPLES, &r.samples0);
  r.bar = isatty(STDERR_FILENO) && !o->quiet && !o->json;
  r.t0 = cli_now();
  stop_requested = 0;
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);

  for (;;) {
    double ep, loss;
    esmm_model_stat(m, ESMM_STAT_EPOCH, &ep);
    if ((int64_t)ep >= r.epochs)
      break;
    rc = esmm_model_train_epoch(m, train, on_step, &r);
    if (rc == ESMM_ECANCELED && r.ckpt_rc) {
      rc = r.ckpt_rc;
      goto done;
    }
    if (rc == ESMM_ECANCELED) {
      interrupted = 1;
      break;
    }
    if (rc) {
      rc = cli_fail("train", rc);
      goto done;
    }
    if (r.bar)
      fprintf(stderr, "\r%*s\r", 110, "");
    esmm_model_stat(m, ESMM_STAT_EPOCH_LOSS, &loss);
    have_met = 0;
    if (valid) {
      if ((rc = esmm_model_evaluate(m, valid, met, ESMM_METRIC_COUNT)) != 0) {
        rc = cli_fail("evaluate", rc);
        goto done;
      }
      have_met = 1;
    }
    if (!o->quiet && !o->json) {
      fprintf(stderr, "epoch %.0f: train loss %.5f", ep + 1, loss);
      if (have_met)
        fprintf(stderr, "  valid ctr_auc %.4f cvr_auc_clicked %.4f ctcvr_auc %.4f", met[ESMM_METRIC_CTR_AUC],
                met[ESMM_METRIC_CVR_AUC_CLICKED], met[ESMM_METRIC_CTCVR_AUC]);
      fprintf(stderr, "\n");
    }
  }
  if (r.bar)
    fprintf(stderr, "\r%*s\r", 110, "");
  if (r.ckpt && (rc = esmm_model_save_checkpoint(m, r.ckpt)) != 0) {
    rc = cli_fail("checkpoint", rc);
    goto done;
  }
  if (interrupted) {
    fprintf(stderr, "esmm: interrupted%s%s\n", r.ckpt ? "; resume with --resume " : "", r.ckpt ? r.ckpt : "");
    rc = EXIT_INTERRUPTED;
    goto done;
  }
  if ((rc = esmm_model_save(m, o->model)) != 0) {
    rc = cli_fail("save", rc);
    goto done;
  }
  if (o->json) {
    double loss, sps, step, ep;
    esmm_model_stat(m, ESMM_STAT_EPOCH_LOSS, &loss);
    esmm_model_stat(m, ESMM_STAT_SAMPLES_PER_SEC, &sps);
    esmm_model_stat(m, ESMM_STAT_STEP, &step);
    esmm_model_stat(m, ESMM_STAT_EPOCH, &ep);
    printf("{\"model\":\"%s\",\"epochs\":%.0f,\"steps\":%.0f,\"train_loss\":%.6g,\"samples_per_sec\":%.0f,", o->model,
           ep, step, loss, sps);
    json_metrics_or_null("valid", met, have_met);
    printf(",\"checkpoint\":");
    if (r.ckpt)
      printf("\"%s\"", r.ckpt);
    else
      printf("null");
    printf("}\n");
  }
done:
  esmm_model_free(m);
  esmm_dataset_free(train);
  esmm_dataset_free(valid);
  esmm_config_free(cfg);
  return rc;
}

/* ---- eval / predict ------------------------------------------------------ */

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
      printf("{\"model\":\"%s\",\"data\":\"%s\",", o->model, o->data);
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
  /* --json: one object per row (JSON Lines), else a TSV with a header */
  if (!o->json)
    fprintf(f, "pctr\tpcvr\tpctcvr\n");
  for (int64_t i = 0; i < n; i++)
    fprintf(f, o->json ? "{\"pctr\":%.9g,\"pcvr\":%.9g,\"pctcvr\":%.9g}\n" : "%.9g\t%.9g\t%.9g\n", p[i], p[n + i],
            p[2 * n + i]);
  if (f != stdout ? fclose(f) != 0 : fflush(f) != 0) {
    fprintf(stderr, "esmm: cannot write %s: %s\n", o->out ? o->out : "standard output", strerror(errno));
    rc = EXIT_LIB;
  }
done:
  free(p);
  esmm_dataset_free(ds);
  esmm_model_free(m);
  return rc;
}
