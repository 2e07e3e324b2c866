/* esmm experiment: what does pCVR estimate? The pCVR study
 * (docs/what-pcvr-estimates.md): every variant, two controls and three
 * references on simulated worlds of several confounding strengths and CTR
 * levels (10 seeds where verdicts are close, 5 elsewhere), and sweeps of the
 * settings rankings may depend on
 * (training size, early stopping, propensity clip, lambda_c, click-
 * conversion correlation). The pieces: experiment.h.
 *
 *   esmm experiment [--rows N] [--test-rows N] [--out doc.md] [--set k=v]...
 *
 * Keys given with --set (the others are model options for every model):
 *   quick=1      the check `make check` runs (two worlds, four variants, two
 *                seeds, one sweep arm; under a minute): no page unless --out,
 *                and exit 1 when a main effect has the wrong sign;
 *   seeds=N      seeds of the close worlds (10; quick 2); the others run
 *                min(N, 5)
 *   workers=N    cells trained at once, each model on one thread (1);
 *   raw=PATH     the runs, one line each, appended per finished cell; an
 *                existing file of the same grid is resumed: its cells are
 *                not trained again (default docs/what-pcvr-estimates.raw.tsv;
 *                quick: a temporary file);
 *   from_raw=PATH  train nothing: write the page from such a file;
 *   reading=PATH the hand-written section appended to the page (default:
 *                the raw file's name with .reading.md for .raw.tsv);
 *   img=DIR      where the plots go (default: img next to the page).
 * The page is always written from the raw file, after the runs, so that
 * from_raw gives the same bytes. OPENBLAS_NUM_THREADS=1 is expected (make
 * experiment sets it). */
#include "experiment.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int take_key(const char *kv, const char *key, const char **val) {
  size_t n = strlen(key);
  if (strncmp(kv, key, n) == 0 && kv[n] == '=') {
    *val = kv + n + 1;
    return 1;
  }
  return 0;
}

/* The signs of the main effects (quick mode): each is far outside the
 * noise of two seeds on these worlds. */
static int check_signs(const xplan *p) {
  int fails = 0, a = 0, tower = x_variant_index("tower_yz");
  for (int w = 0; w < p->arm[a].n_world; w++) {
    const xworld *wd = &p->arm[a].world[w];
    for (int v = 0; v < x_n_variants; v++) {
      xsum zy, zx, cf;
      if (x_variants[v].kind != XK_TRAINED || !x_arm_has(p, a, v))
        continue;
      /* 1. pCVR is closer to p(z=1|y=1,x) than to p(z=1|x) */
      x_sum(p, a, w, v, C_ERR(ESMM_DIAG_TRUTH_CVR, ESMM_DIAG_ALL, XM_RMSE), &zy);
      x_sum(p, a, w, v, C_ERR(ESMM_DIAG_TRUTH_CTCVR, ESMM_DIAG_ALL, XM_RMSE), &zx);
      if (!(zy.mean < zx.mean)) {
        fprintf(stderr, "sign check: %s conf %g ctr %g: RMSE vs p(z|y,x) %.4f is not below RMSE vs p(z|x) %.4f\n",
                x_variants[v].label, wd->conf, wd->ctr, zy.mean, zx.mean);
        fails++;
      }
      /* 2. with confounding, on clicked impressions, pCVR sits above p(r=1|x) */
      x_sum(p, a, w, v, C_ERR(ESMM_DIAG_TRUTH_CVR_CF, ESMM_DIAG_CLICKED, XM_BIAS), &cf);
      if (wd->conf >= 2 && !(cf.mean > 0)) {
        fprintf(stderr, "sign check: %s conf %g ctr %g: bias vs p(r|x) on clicks %.4f is not positive\n",
                x_variants[v].label, wd->conf, wd->ctr, cf.mean);
        fails++;
      }
    }
    /* 3. the control fit to y z lands on p(z=1|x) */
    if (tower >= 0 && x_arm_has(p, a, tower)) {
      xsum zy, zx;
      x_sum(p, a, w, tower, C_ERR(ESMM_DIAG_TRUTH_CVR, ESMM_DIAG_ALL, XM_RMSE), &zy);
      x_sum(p, a, w, tower, C_ERR(ESMM_DIAG_TRUTH_CTCVR, ESMM_DIAG_ALL, XM_RMSE), &zx);
      if (!(zx.mean < zy.mean)) {
        fprintf(stderr, "sign check: the y·z tower at conf %g ctr %g: RMSE vs p(z|x) %.4f is not below %.4f\n",
                wd->conf, wd->ctr, zx.mean, zy.mean);
        fails++;
      }
    }
  }
  return fails;
}

static void summary(const xplan *p) {
  int a = 0;
  for (int w = 0; w < p->arm[a].n_world; w++)
    for (int v = 0; v < x_n_variants; v++) {
      xsum m[3], auc;
      if (!x_arm_has(p, a, v))
        continue;
      for (int t = 0; t < 3; t++)
        x_sum(p, a, w, v, C_ERR(t, ESMM_DIAG_ALL, XM_RMSE), &m[t]);
      x_sum(p, a, w, v, C_AUC_CVR_CLICKED, &auc);
      printf("conf %g ctr %g %-22s RMSE(all) vs p(z|y,x) %.4f  p(z|x) %.4f  p(r|x) %.4f  CVR AUC(clicked) %.4f\n",
             p->arm[a].world[w].conf, p->arm[a].world[w].ctr, x_variants[v].key, m[0].mean, m[1].mean, m[2].mean,
             auc.mean);
    }
}

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

int cmd_experiment(const opts *o) {
  xplan p;
  const char *img = NULL, *raw = NULL, *from_raw = NULL, *reading = NULL, *val;
  char img_dir[1024], img_rel[256] = "img", tmp_raw[64] = "", reading_buf[1024];
  int rc = 0, seeds = 0, done, total;
  size_t n_read = 0;
  memset(&p, 0, sizeof p);
  p.workers = 1;
  p.quiet = o->quiet;
  for (int i = 0; i < o->n_cfg; i++) {
    const char *kv = o->cfg_set[i];
    if (take_key(kv, "quick", &val))
      p.quick = atoi(val);
    else if (take_key(kv, "seeds", &val))
      seeds = atoi(val);
    else if (take_key(kv, "workers", &val))
      p.workers = atoi(val);
    else if (take_key(kv, "img", &val))
      img = val;
    else if (take_key(kv, "raw", &val))
      raw = val;
    else if (take_key(kv, "from_raw", &val))
      from_raw = val;
    else if (take_key(kv, "reading", &val))
      reading = val;
    else {
      /* a model option: refuse a typo now rather than after hours */
      esmm_config *cfg;
      int r;
      if (esmm_config_new(&cfg))
        return cli_fail("experiment", ESMM_ENOMEM);
      r = cli_check_set(kv, SET_TRAIN);
      if (!r && strchr(kv, '=')) {
        char name[64];
        size_t len = (size_t)(strchr(kv, '=') - kv);
        if (len < sizeof name) {
          memcpy(name, kv, len);
          name[len] = 0;
          if (esmm_config_set_by_name(cfg, name, strchr(kv, '=') + 1) != ESMM_OK) {
            esmm_config_free(cfg);
            return cli_fail("experiment", ESMM_EINVAL);
          }
        }
      }
      esmm_config_free(cfg);
      if (r)
        return r;
      p.user_set[p.n_user_set++] = kv;
    }
  }
  p.n_seeds = seeds ? seeds : (p.quick ? 2 : 10);
  if (p.n_seeds < 1 || p.n_seeds > X_MAX_SEEDS || p.workers < 1 || p.workers > 16)
    return cli_usage("seeds must be in [1, 32], workers in [1, 16]");
  p.rows = o->rows ? o->rows : (p.quick ? 40000 : 100000);
  p.test_rows = o->test_rows ? o->test_rows : (p.quick ? 10000 : 50000);
  if (x_plan_init(&p) != 0)
    return cli_fail("experiment", ESMM_ENOMEM);

  if (from_raw) {
    raw = from_raw;
    if (x_raw_read(&p, raw, 0, &n_read) != 0) {
      rc = EXIT_LIB;
      goto done;
    }
  } else {
    FILE *f;
    if (!raw && p.quick) {
      int fd;
      snprintf(tmp_raw, sizeof tmp_raw, "/tmp/esmm-experiment-XXXXXX");
      fd = mkstemp(tmp_raw);
      if (fd < 0) {
        fprintf(stderr, "esmm experiment: cannot create a temporary file: %s\n", strerror(errno));
        rc = EXIT_LIB;
        goto done;
      }
      close(fd);
      raw = tmp_raw;
    } else if (!raw) {
      raw = "docs/what-pcvr-estimates.raw.tsv";
    }
    /* resume: the cells already in the file are not trained again */
    if (x_raw_read(&p, raw, 1, &n_read) != 0 || !(f = x_raw_open(&p, raw))) {
      rc = EXIT_LIB;
      goto done;
    }
    x_cells_done(&p, &done, &total);
    if (!p.quiet && done)
      fprintf(stderr, "esmm experiment: %s holds %d of %d cells; running the rest\n", raw, done, total);
    rc = x_run_all(&p, f);
    if (fclose(f) != 0 && !rc) {
      fprintf(stderr, "esmm experiment: cannot write %s\n", raw);
      rc = EXIT_LIB;
    }
    if (rc)
      goto done;
    /* the page comes from the file, exactly as from_raw would read it */
    x_plan_free(&p);
    if (x_plan_init(&p) != 0 || x_raw_read(&p, raw, 0, &n_read) != 0) {
      rc = EXIT_LIB;
      goto done;
    }
  }
  x_cells_done(&p, &done, &total);
  if (done < total)
    fprintf(stderr, "esmm experiment: %s holds %d of the %d cells of this grid; the page shows those\n", raw, done,
            total);

  if (!p.quick || o->out) {
    const char *doc = o->out ? o->out : "docs/what-pcvr-estimates.md";
    if (img) {
      snprintf(img_dir, sizeof img_dir, "%s", img);
      snprintf(img_rel, sizeof img_rel, "%s", img);
    } else {
      const char *slash = strrchr(doc, '/');
      if (slash)
        snprintf(img_dir, sizeof img_dir, "%.*s/img", (int)(slash - doc), doc);
      else
        snprintf(img_dir, sizeof img_dir, "img");
    }
    if (!reading) {
      size_t len = strlen(raw);
      if (len > 8 && strcmp(raw + len - 8, ".raw.tsv") == 0 && len - 8 + 12 < sizeof reading_buf) {
        snprintf(reading_buf, sizeof reading_buf, "%.*s.reading.md", (int)(len - 8), raw);
        reading = reading_buf;
      }
    }
    if (mkdir(img_dir, 0777) != 0 && errno != EEXIST) {
      fprintf(stderr, "esmm experiment: cannot create %s: %s\n", img_dir, strerror(errno));
      rc = EXIT_LIB;
    } else if (x_page_write(&p, doc, img_dir, img_rel, reading, base_name(raw)) != 0) {
      fprintf(stderr, "esmm experiment: cannot write %s or its plots\n", doc);
      rc = EXIT_LIB;
    } else if (!p.quiet) {
      fprintf(stderr, "esmm experiment: wrote %s and plots in %s from %zu runs of %s\n", doc, img_dir, n_read, raw);
    }
  }
  summary(&p);
  if (p.quick) {
    int fails = check_signs(&p);
    printf("esmm experiment (quick): %s (%d sign check(s) failed)\n", fails ? "FAIL" : "ok", fails);
    if (fails)
      rc = EXIT_LIB;
  }
done:
  if (tmp_raw[0])
    unlink(tmp_raw);
  x_plan_free(&p);
  return rc;
}
