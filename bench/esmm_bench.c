/* esmm_bench.c - the libesmm benchmark (`make bench`, `make bench QUICK=1`).
 *
 * The parent process runs itself three times as a child:
 *   --child with OPENBLAS_NUM_THREADS=1, then with OPENBLAS_NUM_THREADS=2
 *     (OpenBLAS reads the variable once, when it is loaded, and the library
 *     never changes it: only a fresh process can run with another count), and
 *   --mem: peak memory of a training run on 1 M impressions, in a process of
 *     its own so that ru_maxrss is the high-water mark of that run alone.
 * It echoes the children's lines and prints, last, one JSON object holding
 * the children's JSON objects.
 *
 * A child builds its workload with the simulator (Ali-CCP-shaped: 23
 * fields, several multi-valued, ~20 impressions per user with the user
 * fields in a common list) and measures, for the default towers (200,80)
 * and the wide ones (360,200,80):
 *   training samples/s (batch 1024, Adam) on grouped data (and, wide
 *   towers, on ungrouped data: one impression per user), batch prediction
 *   samples/s (esmm_model_predict with a workspace, chunks of 1024),
 *   single-impression latency p50/p99, one-user-100-items latency p50/p99,
 *   the achieved tower GFLOP/s (FLOPs counted from the layer shapes:
 *   forward 2*n*in*out per layer per tower, backward 4*n*in*out) and the
 *   SGEMM GFLOP/s of exactly the GEMMs a training step makes, measured by
 *   calling cblas_sgemm here, in the same process, and their ratio.
 * Every figure is the median of several repetitions.
 */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <esmm/esmm.h>

#define MAX_LAYERS 8

/* ---- small helpers ---------------------------------------------------- */

static double now_sec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die_esmm(const char *what, int rc) {
  fprintf(stderr, "esmm_bench: %s failed: %s (%s)\n", what, esmm_strerror(rc), esmm_last_error());
  exit(1);
}

#define OK(call)                  \
  do {                            \
    int rc_ = (call);             \
    if (rc_ != ESMM_OK)           \
      die_esmm(#call, rc_);       \
  } while (0)

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "esmm_bench: out of memory (%zu bytes)\n", n);
    exit(1);
  }
  return p;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* q-quantile (0..1) of v[0..n), nearest rank; sorts v. */
static double quantile(double *v, size_t n, double q) {
  size_t k;
  qsort(v, n, sizeof *v, cmp_double);
  k = (size_t)ceil(q * (double)n);
  if (k > 0)
    k--;
  if (k >= n)
    k = n - 1;
  return v[k];
}

static double median(double *v, size_t n) { return quantile(v, n, 0.5); }

static double peak_rss_mb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_maxrss / 1024.0; /* Linux: kilobytes */
}

/* ---- workload --------------------------------------------------------- */

typedef struct plan {
  int quick;
  int reps;            /* repetitions of every throughput figure */
  size_t train_rows;   /* simulated training impressions */
  int64_t train_steps; /* steps per training repetition */
  size_t predict_rows; /* rows per batch-prediction repetition */
  size_t lat_calls;    /* calls per latency repetition */
  size_t users;        /* one-user-100-items calls per repetition */
} plan;

static esmm_dataset *simulate(size_t rows, double rows_per_user, uint64_t stream) {
  esmm_sim *sim;
  esmm_dataset *ds;
  OK(esmm_sim_new(&sim, NULL));
  OK(esmm_sim_set_float(sim, ESMM_SIM_ROWS_PER_USER, rows_per_user));
  OK(esmm_sim_generate(sim, rows, stream, &ds));
  esmm_sim_free(sim);
  return ds;
}

/* A dataset of n_users x 100 rows: each block of 100 rows shares one common
 * list (a user's fields, taken from src), the rows' own features (items,
 * context, crosses) taken from src's rows in turn: what a ranking service
 * sees when it scores 100 candidate items for one user. */
static esmm_dataset *user_blocks(const esmm_dataset *src, size_t n_users) {
  esmm_dataset *ds;
  int64_t src_rows, src_commons;
  size_t r = 0;
  OK(esmm_dataset_new(&ds, NULL));
  OK(esmm_dataset_stat(src, ESMM_DS_ROWS, &src_rows));
  OK(esmm_dataset_stat(src, ESMM_DS_COMMONS, &src_commons));
  for (size_t u = 0; u < n_users; u++) {
    size_t cn;
    const int *cf;
    const uint64_t *ci;
    const float *cv;
    int64_t cidx;
    OK(esmm_dataset_common(src, (size_t)((int64_t)(u * 7919) % src_commons), &cn, &cf, &ci, &cv));
    OK(esmm_dataset_add_common(ds, cn, cf, ci, cv, &cidx));
    for (int i = 0; i < 100; i++, r++) {
      int y, z;
      int64_t com, off[2] = {0, 0};
      size_t nnz;
      const int *f;
      const uint64_t *id;
      const float *v;
      OK(esmm_dataset_row(src, r % (size_t)src_rows, &y, &z, &com, &nnz, &f, &id, &v));
      off[1] = (int64_t)nnz;
      OK(esmm_dataset_add_rows(ds, 1, &y, &z, &cidx, off, f, id, v));
    }
  }
  return ds;
}

/* ---- FLOP model and SGEMM reference ---------------------------------- */

typedef struct shape {
  size_t n_layers;
  size_t in[MAX_LAYERS + 1], out[MAX_LAYERS + 1];
} shape;

static shape tower_shape(size_t in_dim, const int64_t *hidden, size_t n_hidden) {
  shape s;
  size_t w = in_dim;
  s.n_layers = n_hidden + 1;
  for (size_t l = 0; l < s.n_layers; l++) {
    s.in[l] = w;
    s.out[l] = l < n_hidden ? (size_t)hidden[l] : 1;
    w = s.out[l];
  }
  return s;
}

/* sum over layers of in*out (multiply-adds per row per pass). */
static double macs(const shape *s) {
  double t = 0;
  for (size_t l = 0; l < s->n_layers; l++)
    t += (double)s->in[l] * (double)s->out[l];
  return t;
}

/* Time the GEMMs of one training step of both towers (forward X W, the
 * weight gradient X^T D and the input gradient D W^T, row-major, the calls
 * the library makes), or of forward only; returns GFLOP/s, median of reps. */
static double sgemm_gflops(const shape *s, size_t n, int with_backward, int reps) {
  size_t wide = 0;
  float *x, *w, *c, *d, *gw;
  double flops = 0, *t = xmalloc((size_t)reps * sizeof *t);
  for (size_t l = 0; l < s->n_layers; l++) {
    if (s->in[l] > wide)
      wide = s->in[l];
    if (s->out[l] > wide)
      wide = s->out[l];
  }
  x = xmalloc(n * wide * sizeof *x);
  c = xmalloc(n * wide * sizeof *c);
  d = xmalloc(n * wide * sizeof *d);
  w = xmalloc(wide * wide * sizeof *w);
  gw = xmalloc(wide * wide * sizeof *gw);
  for (size_t i = 0; i < n * wide; i++)
    x[i] = d[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
  for (size_t i = 0; i < wide * wide; i++)
    w[i] = (float)((i * 40503u) % 1000) * 1e-3f - 0.5f;
  for (size_t l = 0; l < s->n_layers; l++)
    flops += 2.0 * (with_backward ? 3.0 : 1.0) * (double)n * (double)s->in[l] * (double)s->out[l];
  flops *= 2; /* two towers */
  for (int r = -1; r < reps; r++) { /* r = -1: warm-up (thread start, caches) */
    double t0 = now_sec();
    for (int tower = 0; tower < 2; tower++)
      for (size_t l = 0; l < s->n_layers; l++) {
        int i = (int)s->in[l], o = (int)s->out[l], nn = (int)n;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nn, o, i, 1.0f, x, i, w, o, 1.0f, c, o);
        if (!with_backward)
          continue;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, i, o, nn, 1.0f, x, i, d, o, 0.0f, gw, o);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nn, i, o, 1.0f, d, o, w, o, 0.0f, c, i);
      }
    if (r >= 0)
      t[r] = now_sec() - t0;
  }
  double best = median(t, (size_t)reps);
  free(x), free(c), free(d), free(w), free(gw), free(t);
  return flops / best * 1e-9;
}

/* ---- measurements ----------------------------------------------------- */

/* shuffle: ESMM_OPT_SHUFFLE (1 rows in random order, 2 user groups in
 * random order with their rows together: the model then pools and
 * scatters each common list once per run of rows). */
static esmm_model *new_model(const int64_t *hidden, size_t n_hidden, int shuffle) {
  esmm_config *cfg;
  esmm_model *m;
  OK(esmm_config_new(&cfg));
  OK(esmm_config_set_ints(cfg, ESMM_OPT_CTR_TOWER, hidden, n_hidden));
  OK(esmm_config_set_ints(cfg, ESMM_OPT_CVR_TOWER, hidden, n_hidden));
  OK(esmm_config_set_int(cfg, ESMM_OPT_BATCH_SIZE, 1024));
  OK(esmm_config_set_int(cfg, ESMM_OPT_OPTIMIZER, ESMM_OPTIMIZER_ADAM));
  OK(esmm_config_set_int(cfg, ESMM_OPT_SHUFFLE, shuffle));
  /* ESMM_BENCH_THREADS: the model's own worker threads (ESMM_OPT_NUM_THREADS;
   * OpenBLAS's are OPENBLAS_NUM_THREADS) */
  if (getenv("ESMM_BENCH_THREADS"))
    OK(esmm_config_set_int(cfg, ESMM_OPT_NUM_THREADS, atoll(getenv("ESMM_BENCH_THREADS"))));
  OK(esmm_model_new(&m, cfg));
  esmm_config_free(cfg);
  return m;
}

static double train_sps(esmm_model *m, const esmm_dataset *ds, const plan *p) {
  double *v = xmalloc((size_t)p->reps * sizeof *v), med;
  OK(esmm_model_train_steps(m, ds, 2, NULL, NULL)); /* warm-up: first touch of scratch, BLAS threads */
  for (int r = 0; r < p->reps; r++) {
    double t0 = now_sec();
    OK(esmm_model_train_steps(m, ds, p->train_steps, NULL, NULL));
    v[r] = (double)p->train_steps * 1024.0 / (now_sec() - t0);
  }
  med = median(v, (size_t)p->reps);
  free(v);
  return med;
}

static double predict_sps(const esmm_model *m, const esmm_dataset *ds, size_t rows, const plan *p) {
  esmm_workspace *ws;
  float *out = xmalloc(3 * rows * sizeof *out);
  double *v = xmalloc((size_t)p->reps * sizeof *v), med;
  OK(esmm_workspace_new(&ws, m, 1024));
  OK(esmm_model_predict(m, ws, ds, 0, 1024, out, out + rows, out + 2 * rows)); /* warm-up */
  for (int r = 0; r < p->reps; r++) {
    double t0 = now_sec();
    OK(esmm_model_predict(m, ws, ds, 0, rows, out, out + rows, out + 2 * rows));
    v[r] = (double)rows / (now_sec() - t0);
  }
  med = median(v, (size_t)p->reps);
  esmm_workspace_free(ws);
  free(out), free(v);
  return med;
}

/* Latency of esmm_model_predict on `block` consecutive rows, calls spread
 * over the dataset: medians over reps of the per-rep p50 and p99, in us. */
static void latency(const esmm_model *m, const esmm_dataset *ds, size_t block, size_t calls, const plan *p,
                    double *p50, double *p99) {
  esmm_workspace *ws;
  int64_t rows;
  float out[3 * 128];
  double *t = xmalloc(calls * sizeof *t), *a = xmalloc((size_t)p->reps * sizeof *a),
         *b = xmalloc((size_t)p->reps * sizeof *b);
  OK(esmm_dataset_stat(ds, ESMM_DS_ROWS, &rows));
  OK(esmm_workspace_new(&ws, m, block));
  for (int r = 0; r < p->reps; r++) {
    for (size_t c = 0; c < calls; c++) {
      size_t first = block == 1 ? (c * 7919) % (size_t)rows : (c % ((size_t)rows / block)) * block;
      double t0 = now_sec();
      OK(esmm_model_predict(m, ws, ds, first, block, out, out + 128, out + 256));
      t[c] = (now_sec() - t0) * 1e6;
    }
    a[r] = quantile(t, calls, 0.50);
    b[r] = quantile(t, calls, 0.99);
  }
  *p50 = median(a, (size_t)p->reps);
  *p99 = median(b, (size_t)p->reps);
  esmm_workspace_free(ws);
  free(t), free(a), free(b);
}

/* One user x 100 items through esmm_model_predict_user (the serving call:
 * the user's common features pooled once per call): p50/p99 in us,
 * medians over reps. Inputs are laid out before the clock starts. */
static void latency_user(const esmm_model *m, const esmm_dataset *users, size_t calls, const plan *p, double *p50,
                         double *p99) {
  esmm_workspace *ws;
  int64_t n_users;
  float out[3 * 100];
  double *t = xmalloc(calls * sizeof *t), *a = xmalloc((size_t)p->reps * sizeof *a),
         *b = xmalloc((size_t)p->reps * sizeof *b);
  OK(esmm_dataset_stat(users, ESMM_DS_COMMONS, &n_users));
  size_t cap = 0;
  for (size_t r = 0; r < (size_t)n_users * 100; r++) {
    size_t nnz;
    OK(esmm_dataset_row(users, r, NULL, NULL, NULL, &nnz, NULL, NULL, NULL));
    cap += nnz;
  }
  int64_t *off = xmalloc((size_t)n_users * 101 * sizeof *off);
  int *field = xmalloc(cap * sizeof *field);
  uint64_t *id = xmalloc(cap * sizeof *id);
  float *value = xmalloc(cap * sizeof *value);
  size_t k = 0;
  for (size_t u = 0; u < (size_t)n_users; u++) {
    off[u * 101] = 0;
    for (size_t i = 0; i < 100; i++) {
      size_t nnz;
      const int *f;
      const uint64_t *ids;
      const float *v;
      OK(esmm_dataset_row(users, u * 100 + i, NULL, NULL, NULL, &nnz, &f, &ids, &v));
      for (size_t j = 0; j < nnz; j++, k++) {
        field[k] = f[j];
        id[k] = ids[j];
        value[k] = v ? v[j] : 1.0f;
      }
      off[u * 101 + i + 1] = off[u * 101 + i] + (int64_t)nnz;
    }
  }
  size_t *start = xmalloc((size_t)n_users * sizeof *start); /* user u's items in field/id/value */
  start[0] = 0;
  for (size_t u = 1; u < (size_t)n_users; u++)
    start[u] = start[u - 1] + (size_t)off[(u - 1) * 101 + 100];
  OK(esmm_workspace_new(&ws, m, 100));
  for (int r = 0; r < p->reps; r++) {
    for (size_t c = 0; c < calls; c++) {
      size_t u = c % (size_t)n_users, base = start[u];
      size_t cn;
      const int *cf;
      const uint64_t *ci;
      const float *cv;
      OK(esmm_dataset_common(users, u, &cn, &cf, &ci, &cv));
      double t0 = now_sec();
      OK(esmm_model_predict_user(m, ws, cn, cf, ci, cv, 100, off + u * 101, field + base, id + base,
                                 value + base, NULL, out, out + 100, out + 200));
      t[c] = (now_sec() - t0) * 1e6;
    }
    a[r] = quantile(t, calls, 0.50);
    b[r] = quantile(t, calls, 0.99);
  }
  *p50 = median(a, (size_t)p->reps);
  *p99 = median(b, (size_t)p->reps);
  esmm_workspace_free(ws);
  free(t), free(a), free(b), free(start), free(off), free(field), free(id), free(value);
}

typedef struct tower_result {
  const char *name;
  double train_sps, train_sps_ungrouped, train_sps_groups, predict_sps;
  double single_p50, single_p99, user100_p50, user100_p99, rows100_p50, rows100_p99;
  double train_gflops, predict_gflops, sgemm_train_gflops, sgemm_predict_gflops;
  double flops_per_train_sample, flops_per_predict_sample, gemm_limit_train_sps, gemm_limit_predict_sps;
} tower_result;

static void run_tower(tower_result *res, const char *name, const int64_t *hidden, size_t n_hidden,
                      size_t in_dim, const esmm_dataset *grouped, const esmm_dataset *ungrouped,
                      const esmm_dataset *users, const plan *p) {
  shape s = tower_shape(in_dim, hidden, n_hidden);
  esmm_model *m = new_model(hidden, n_hidden, 1);
  memset(res, 0, sizeof *res);
  res->name = name;
  res->flops_per_train_sample = 2 /* towers */ * 6.0 * macs(&s);
  res->flops_per_predict_sample = 2 * 2.0 * macs(&s);
  res->sgemm_train_gflops = sgemm_gflops(&s, 1024, 1, p->reps + 2);
  res->sgemm_predict_gflops = sgemm_gflops(&s, 1024, 0, p->reps + 2);
  res->train_sps = train_sps(m, grouped, p);
  if (ungrouped)
    res->train_sps_ungrouped = train_sps(m, ungrouped, p);
  {
    esmm_model *mg = new_model(hidden, n_hidden, 2);
    res->train_sps_groups = train_sps(mg, grouped, p);
    esmm_model_free(mg);
  }
  res->predict_sps = predict_sps(m, grouped, p->predict_rows, p);
  latency(m, grouped, 1, p->lat_calls, p, &res->single_p50, &res->single_p99);
  latency(m, users, 100, p->users, p, &res->rows100_p50, &res->rows100_p99);
  latency_user(m, users, p->users, p, &res->user100_p50, &res->user100_p99);
  res->train_gflops = res->train_sps * res->flops_per_train_sample * 1e-9;
  res->predict_gflops = res->predict_sps * res->flops_per_predict_sample * 1e-9;
  res->gemm_limit_train_sps = res->sgemm_train_gflops * 1e9 / res->flops_per_train_sample;
  res->gemm_limit_predict_sps = res->sgemm_predict_gflops * 1e9 / res->flops_per_predict_sample;
  esmm_model_free(m);

  printf("%-8s train %8.0f samples/s grouped", name, res->train_sps);
  if (ungrouped)
    printf(", %8.0f ungrouped", res->train_sps_ungrouped);
  printf(", %8.0f grouped with group shuffle", res->train_sps_groups);
  printf("  (GEMM-bound limit %.0f; tower %.2f GFLOP/s vs SGEMM %.2f: %.0f%%)\n", res->gemm_limit_train_sps,
         res->train_gflops, res->sgemm_train_gflops, 100 * res->train_gflops / res->sgemm_train_gflops);
  printf("%-8s predict %8.0f samples/s  (tower %.2f GFLOP/s vs SGEMM %.2f: %.0f%%)\n", name, res->predict_sps,
         res->predict_gflops, res->sgemm_predict_gflops, 100 * res->predict_gflops / res->sgemm_predict_gflops);
  printf("%-8s single impression p50 %.1f us p99 %.1f us; one user x 100 items p50 %.1f us p99 %.1f us "
         "(esmm_model_predict_user; as 100 dataset rows: p50 %.1f us p99 %.1f us)\n",
         name, res->single_p50, res->single_p99, res->user100_p50, res->user100_p99, res->rows100_p50,
         res->rows100_p99);
  fflush(stdout);
}

static void json_tower(const tower_result *r) {
  printf("\"%s\":{\"train_samples_per_sec\":%.0f,", r->name, r->train_sps);
  if (r->train_sps_ungrouped > 0)
    printf("\"train_samples_per_sec_ungrouped\":%.0f,", r->train_sps_ungrouped);
  printf("\"train_samples_per_sec_group_shuffle\":%.0f,", r->train_sps_groups);
  printf("\"predict_samples_per_sec\":%.0f,\"single_p50_us\":%.1f,\"single_p99_us\":%.1f,"
         "\"user100_p50_us\":%.1f,\"user100_p99_us\":%.1f,\"rows100_p50_us\":%.1f,\"rows100_p99_us\":%.1f,"
         "\"train_tower_gflops\":%.3f,\"sgemm_train_gflops\":%.3f,\"train_gflops_ratio\":%.3f,"
         "\"predict_tower_gflops\":%.3f,\"sgemm_predict_gflops\":%.3f,\"predict_gflops_ratio\":%.3f,"
         "\"flops_per_train_sample\":%.0f,\"gemm_limit_train_samples_per_sec\":%.0f,"
         "\"gemm_limit_predict_samples_per_sec\":%.0f}",
         r->predict_sps, r->single_p50, r->single_p99, r->user100_p50, r->user100_p99, r->rows100_p50,
         r->rows100_p99, r->train_gflops,
         r->sgemm_train_gflops, r->train_gflops / r->sgemm_train_gflops, r->predict_gflops,
         r->sgemm_predict_gflops, r->predict_gflops / r->sgemm_predict_gflops, r->flops_per_train_sample,
         r->gemm_limit_train_sps, r->gemm_limit_predict_sps);
}

static int run_child(const plan *p) {
  static const int64_t deflt[] = {200, 80}, wide[] = {360, 200, 80};
  const char *env = getenv("OPENBLAS_NUM_THREADS");
  esmm_config *cfg;
  size_t n_fields;
  int64_t dim;
  double t0 = now_sec();
  tower_result r[2];
  esmm_dataset *grouped, *ungrouped, *users;

  OK(esmm_config_new(&cfg));
  OK(esmm_config_field_count(cfg, &n_fields));
  OK(esmm_config_get_int(cfg, ESMM_OPT_EMBED_DIM, &dim));
  esmm_config_free(cfg);
  grouped = simulate(p->train_rows, 20, 0);
  ungrouped = simulate(p->train_rows, 1, 0);
  users = user_blocks(grouped, 64);
  printf("libesmm %s, OPENBLAS_NUM_THREADS=%s, %zu fields x %lld dims, %zu rows, %d reps (workload %.1f s)\n",
         esmm_version_string(), env ? env : "(unset)", n_fields, (long long)dim, p->train_rows, p->reps,
         now_sec() - t0);
  run_tower(&r[0], "default", deflt, 2, n_fields * (size_t)dim, grouped, NULL, users, p);
  run_tower(&r[1], "wide", wide, 3, n_fields * (size_t)dim, grouped, ungrouped, users, p);
  esmm_dataset_free(grouped);
  esmm_dataset_free(ungrouped);
  esmm_dataset_free(users);
  printf("peak RSS %.1f MB\n", peak_rss_mb());
  printf("{\"openblas_threads\":\"%s\",\"reps\":%d,\"train_steps_per_rep\":%lld,\"peak_rss_mb\":%.1f,",
         env ? env : "", p->reps, (long long)p->train_steps, peak_rss_mb());
  json_tower(&r[0]);
  printf(",");
  json_tower(&r[1]);
  printf("}\n");
  return 0;
}

/* Peak memory of a training run on 1 M impressions, wide towers, Adam:
 * data, then model (parameters + Adam state + scratch), then steps (the
 * sparse gradient is sized at the first one; later steps allocate nothing). */
static int run_mem(const plan *p) {
  static const int64_t wide[] = {360, 200, 80};
  size_t rows = 1000000;
  double t0 = now_sec(), rss_data, params;
  esmm_dataset *ds = simulate(rows, 20, 0);
  esmm_model *m;
  rss_data = peak_rss_mb();
  m = new_model(wide, 3, 1);
  OK(esmm_model_stat(m, ESMM_STAT_PARAMS, &params));
  OK(esmm_model_train_steps(m, ds, p->quick ? 5 : 50, NULL, NULL));
  printf("1M impressions: data %.1f MB peak RSS; after training (wide towers, Adam, %.0f parameters) %.1f MB "
         "(%.1f s)\n",
         rss_data, params, peak_rss_mb(), now_sec() - t0);
  printf("{\"rows\":%zu,\"params\":%.0f,\"rss_after_data_mb\":%.1f,\"train_peak_rss_mb\":%.1f}\n", rows, params,
         rss_data, peak_rss_mb());
  esmm_model_free(m);
  esmm_dataset_free(ds);
  return 0;
}

/* Training only, for profilers (perf record, valgrind --tool=callgrind):
 * `esmm_bench --profile default|wide [steps]`. */
static int run_profile(const char *which, int64_t steps) {
  static const int64_t deflt[] = {200, 80}, wide[] = {360, 200, 80};
  int w = !strcmp(which, "wide");
  esmm_dataset *ds = simulate(40000, 20, 0);
  esmm_model *m = new_model(w ? wide : deflt, w ? 3 : 2, getenv("ESMM_BENCH_SHUFFLE") ? atoi(getenv("ESMM_BENCH_SHUFFLE")) : 1);
  double t0 = now_sec();
  OK(esmm_model_train_steps(m, ds, steps, NULL, NULL));
  printf("%s: %lld steps, %.0f samples/s\n", which, (long long)steps, (double)steps * 1024 / (now_sec() - t0));
  esmm_model_free(m);
  esmm_dataset_free(ds);
  return 0;
}

/* ---- parent ----------------------------------------------------------- */

/* Run `self mode` with OPENBLAS_NUM_THREADS=threads (0: inherited), echo its
 * output and keep its last line (a JSON object) in json[cap]. */
static int run_self(const char *self, const char *mode, int threads, int quick, char *json, size_t cap) {
  char cmd[4096], line[16384];
  FILE *f;
  int st;
  if (threads > 0)
    snprintf(cmd, sizeof cmd, "OPENBLAS_NUM_THREADS=%d '%s' %s%s", threads, self, mode, quick ? " --quick" : "");
  else
    snprintf(cmd, sizeof cmd, "'%s' %s%s", self, mode, quick ? " --quick" : "");
  f = popen(cmd, "r");
  if (!f) {
    fprintf(stderr, "esmm_bench: cannot run %s: %s\n", cmd, strerror(errno));
    return 1;
  }
  json[0] = 0;
  while (fgets(line, sizeof line, f)) {
    fputs(line, stdout);
    fflush(stdout);
    if (line[0] == '{') {
      line[strcspn(line, "\n")] = 0;
      snprintf(json, cap, "%s", line);
    }
  }
  st = pclose(f);
  if (st != 0 || !json[0]) {
    fprintf(stderr, "esmm_bench: %s failed (status %d)\n", cmd, st);
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  plan p;
  const char *mode = NULL;
  int quick = 0;
  if (argc >= 3 && !strcmp(argv[1], "--profile"))
    return run_profile(argv[2], argc >= 4 ? atoll(argv[3]) : 200);
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick"))
      quick = 1;
    else if (!strcmp(argv[i], "--child") || !strcmp(argv[i], "--mem"))
      mode = argv[i];
    else {
      fprintf(stderr, "usage: %s [--quick] [--child | --mem]\n"
                      "       %s --profile default|wide [steps]\n"
                      "  no mode: run --child with OPENBLAS_NUM_THREADS=1 and 2, then --mem\n",
              argv[0],
              argv[0]);
      return 2;
    }
  }
  memset(&p, 0, sizeof p);
  p.quick = quick;
  p.reps = quick ? 3 : 5;
  p.train_rows = quick ? 40000 : 200000;
  p.train_steps = quick ? 6 : 30;
  p.predict_rows = quick ? 8192 : 32768;
  p.lat_calls = quick ? 300 : 2000;
  p.users = quick ? 30 : 200;
  if (mode && !strcmp(mode, "--child"))
    return run_child(&p);
  if (mode)
    return run_mem(&p);
  {
    static char j1[16384], j2[16384], jm[4096];
    double t0 = now_sec();
    if (run_self(argv[0], "--child", 1, quick, j1, sizeof j1) ||
        run_self(argv[0], "--child", 2, quick, j2, sizeof j2) ||
        run_self(argv[0], "--mem", 2, quick, jm, sizeof jm))
      return 1;
    printf("{\"bench\":\"esmm_bench\",\"version\":\"%s\",\"quick\":%d,\"seconds\":%.1f,"
           "\"openblas_threads_1\":%s,\"openblas_threads_2\":%s,\"train_1m\":%s}\n",
           esmm_version_string(), quick, now_sec() - t0, j1, j2, jm);
  }
  return 0;
}
