/* esmm_bench.c - the libesmm benchmark (`make bench`, `make bench QUICK=1`).
 *
 * What a training step can reach on this machine is measured in the same
 * run as the step itself: the per-core-stream limit is t single-threaded
 * SGEMM streams, one per core, run at the same time, each making exactly
 * the GEMMs of one batch slice's training step (forward X W, weight
 * gradient X^T D, input gradient D W^T, every layer of both towers, the
 * slice's rows); its GFLOP/s over the FLOPs per training sample is the
 * samples/s a step would reach if nothing but GEMMs took time. Training
 * samples/s is reported as a share of it, for 1, 2, ... threads.
 *
 * The parent runs itself as two children:
 *   --child       with OPENBLAS_NUM_THREADS=1: the library's data-parallel
 *                 step (each model thread calls the BLAS on its own), for
 *                 1 .. CPUs threads: the limit, training on ungrouped data
 *                 (one impression per user, ~35 ids a row, row shuffle) and
 *                 on grouped data (~20 impressions per user, group shuffle:
 *                 the first-layer split), batch prediction, latencies;
 *   --child-blas  with OPENBLAS_NUM_THREADS=CPUs: the way 1.0 trained (one
 *                 model thread, OpenBLAS threading each GEMM) and the
 *                 OpenBLAS-threaded SGEMM at the full batch, for comparison.
 * (OpenBLAS reads the variable when it loads, so only a fresh process can
 * run with another count.) The last line is one JSON object with every
 * figure. Figures are medians of several repetitions.
 *
 *   build/bench/esmm_bench [--quick]
 *   build/bench/esmm_bench --profile default|wide [steps]   training only, for perf/callgrind
 *     (environment: ESMM_BENCH_SHUFFLE=2 group shuffle, ESMM_BENCH_THREADS=T)
 */
#define _GNU_SOURCE /* sched_getaffinity */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <esmm/esmm.h>

#define MAX_LAYERS 8
#define MAX_CPUS 64
#define BATCH 1024

char *openblas_get_corename(void);

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

#define OK(call)              \
  do {                        \
    int rc_ = (call);         \
    if (rc_ != ESMM_OK)       \
      die_esmm(#call, rc_);   \
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

static int cpu_count(void) {
  cpu_set_t set;
  int n = 1;
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    n = CPU_COUNT(&set);
  return n < 1 ? 1 : n > MAX_CPUS ? MAX_CPUS : n;
}

typedef struct plan {
  int quick, reps;
  size_t train_rows;   /* simulated training impressions per dataset */
  int64_t train_steps; /* steps per training repetition */
  size_t predict_rows; /* rows per batch-prediction repetition */
  size_t lat_calls;    /* calls per latency repetition */
  double gemm_seconds; /* per limit repetition */
} plan;

/* ---- workload --------------------------------------------------------- */

/* Every row's common list folded into its own features: what a text file
 * written from the simulator holds (no common lists). */
static esmm_dataset *flatten(const esmm_dataset *src) {
  esmm_dataset *ds;
  int64_t rows;
  OK(esmm_dataset_new(&ds, NULL));
  OK(esmm_dataset_stat(src, ESMM_DS_ROWS, &rows));
  for (size_t r = 0; r < (size_t)rows; r++) {
    int y, z, f[1024];
    int64_t c, off[2] = {0, 0}, none = -1;
    size_t n, cn = 0;
    const int *rf, *cf = NULL;
    const uint64_t *ri, *ci = NULL;
    const float *rv, *cv = NULL;
    uint64_t id[1024];
    float v[1024];
    OK(esmm_dataset_row(src, r, &y, &z, &c, &n, &rf, &ri, &rv));
    if (c >= 0)
      OK(esmm_dataset_common(src, (size_t)c, &cn, &cf, &ci, &cv));
    if (n + cn > 1024) {
      fprintf(stderr, "esmm_bench: a row of %zu features\n", n + cn);
      exit(1);
    }
    for (size_t k = 0; k < cn; k++)
      f[k] = cf[k], id[k] = ci[k], v[k] = cv ? cv[k] : 1.0f;
    for (size_t k = 0; k < n; k++)
      f[cn + k] = rf[k], id[cn + k] = ri[k], v[cn + k] = rv ? rv[k] : 1.0f;
    off[1] = (int64_t)(n + cn);
    OK(esmm_dataset_add_rows(ds, 1, &y, &z, &none, off, f, id, v));
  }
  return ds;
}

/* Ungrouped: issue 13's 1 M-row text file's shape (23 fields, 5
 * multi-valued, ~35 ids a row, one impression per user, no common lists).
 * Grouped: the simulator's default (~20 impressions per user, the user
 * fields in a common list). */
static esmm_dataset *simulate(size_t rows, int grouped, uint64_t stream) {
  esmm_sim *sim;
  esmm_dataset *ds, *flat;
  OK(esmm_sim_new(&sim, NULL));
  if (!grouped) {
    OK(esmm_sim_set_float(sim, ESMM_SIM_ROWS_PER_USER, 1));
    OK(esmm_sim_set_int(sim, ESMM_SIM_HIST_MAX, 5));
  }
  OK(esmm_sim_generate(sim, rows, stream, &ds));
  esmm_sim_free(sim);
  if (grouped)
    return ds;
  flat = flatten(ds);
  esmm_dataset_free(ds);
  return flat;
}

/* ---- FLOP model and the per-core-stream limit -------------------------- */

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

/* FLOPs per sample of a training step of both towers: forward 2*in*out per
 * layer, backward 4*in*out (weight gradient and input gradient, which the
 * model computes for layer 0 too: the embeddings need it). */
static double train_flops(const shape *s) {
  double t = 0;
  for (size_t l = 0; l < s->n_layers; l++)
    t += 6.0 * (double)s->in[l] * (double)s->out[l];
  return 2.0 * t;
}

static double predict_flops(const shape *s) { return train_flops(s) / 3.0; }

typedef struct stream {
  const shape *s;
  size_t rows;
  double seconds, flops, elapsed;
  pthread_barrier_t *start;
} stream;

/* One single-threaded SGEMM stream: the GEMMs of one slice's training step,
 * repeated for `seconds`, started with the others at a barrier. */
static void *stream_main(void *arg) {
  stream *st = arg;
  const shape *s = st->s;
  size_t wide = 0, n = st->rows;
  float *x, *w, *c, *d, *gw;
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
  pthread_barrier_wait(st->start);
  double t0 = now_sec(), flops = 0;
  do {
    for (int tower = 0; tower < 2; tower++)
      for (size_t l = 0; l < s->n_layers; l++) {
        int i = (int)s->in[l], o = (int)s->out[l], nn = (int)n;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nn, o, i, 1.0f, x, i, w, o, 0.0f, c, o);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, i, o, nn, 1.0f, x, i, d, o, 0.0f, gw, o);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nn, i, o, 1.0f, d, o, w, o, 0.0f, c, i);
        flops += 6.0 * (double)n * (double)i * (double)o;
      }
  } while (now_sec() - t0 < st->seconds);
  st->elapsed = now_sec() - t0;
  st->flops = flops;
  free(x), free(c), free(d), free(w), free(gw);
  return NULL;
}

/* GFLOP/s of t concurrent streams on slices of `rows` rows: median over reps
 * of (total FLOPs / the longest stream's time). */
static double stream_gflops(const shape *s, size_t rows, int t, const plan *p) {
  double *v = xmalloc((size_t)p->reps * sizeof *v), med;
  for (int r = 0; r < p->reps; r++) {
    pthread_t tid[MAX_CPUS];
    stream st[MAX_CPUS];
    pthread_barrier_t b;
    double flops = 0, longest = 0;
    pthread_barrier_init(&b, NULL, (unsigned)t);
    for (int k = 0; k < t; k++) {
      st[k] = (stream){s, rows, p->gemm_seconds, 0, 0, &b};
      if (k > 0)
        pthread_create(&tid[k], NULL, stream_main, &st[k]);
    }
    stream_main(&st[0]);
    for (int k = 1; k < t; k++)
      pthread_join(tid[k], NULL);
    for (int k = 0; k < t; k++) {
      flops += st[k].flops;
      longest = st[k].elapsed > longest ? st[k].elapsed : longest;
    }
    pthread_barrier_destroy(&b);
    v[r] = flops / longest * 1e-9;
  }
  med = median(v, (size_t)p->reps);
  free(v);
  return med;
}

/* ---- measurements ----------------------------------------------------- */

static esmm_model *new_model(const int64_t *hidden, size_t n_hidden, int shuffle, int threads) {
  esmm_config *cfg;
  esmm_model *m;
  OK(esmm_config_new(&cfg));
  OK(esmm_config_set_ints(cfg, ESMM_OPT_CTR_TOWER, hidden, n_hidden));
  OK(esmm_config_set_ints(cfg, ESMM_OPT_CVR_TOWER, hidden, n_hidden));
  OK(esmm_config_set_int(cfg, ESMM_OPT_BATCH_SIZE, BATCH));
  OK(esmm_config_set_int(cfg, ESMM_OPT_HASH_BUCKETS, 131072));
  OK(esmm_config_set_int(cfg, ESMM_OPT_SHUFFLE, shuffle));
  OK(esmm_config_set_int(cfg, ESMM_OPT_NUM_THREADS, threads));
  OK(esmm_model_new(&m, cfg));
  esmm_config_free(cfg);
  return m;
}

static double train_sps(esmm_model *m, const esmm_dataset *ds, const plan *p) {
  double *v = xmalloc((size_t)p->reps * sizeof *v), med;
  OK(esmm_model_train_steps(m, ds, 3, NULL, NULL)); /* warm-up: first touch of scratch, threads start */
  for (int r = 0; r < p->reps; r++) {
    double t0 = now_sec();
    OK(esmm_model_train_steps(m, ds, p->train_steps, NULL, NULL));
    v[r] = (double)p->train_steps * BATCH / (now_sec() - t0);
  }
  med = median(v, (size_t)p->reps);
  free(v);
  return med;
}

/* esmm_model_predict without a workspace: blocks on the model's threads. */
static double predict_sps(const esmm_model *m, const esmm_dataset *ds, size_t rows, const plan *p) {
  float *out = xmalloc(3 * rows * sizeof *out);
  double *v = xmalloc((size_t)p->reps * sizeof *v), med;
  OK(esmm_model_predict(m, NULL, ds, 0, rows, out, out + rows, out + 2 * rows)); /* warm-up */
  for (int r = 0; r < p->reps; r++) {
    double t0 = now_sec();
    OK(esmm_model_predict(m, NULL, ds, 0, rows, out, out + rows, out + 2 * rows));
    v[r] = (double)rows / (now_sec() - t0);
  }
  med = median(v, (size_t)p->reps);
  free(out), free(v);
  return med;
}

/* Single impressions through esmm_model_predict with a 1-row workspace:
 * p50/p99 in us, medians over reps. */
static void latency_single(const esmm_model *m, const esmm_dataset *ds, const plan *p, double *p50, double *p99) {
  esmm_workspace *ws;
  int64_t rows;
  float out[3];
  double *t = xmalloc(p->lat_calls * sizeof *t), *a = xmalloc((size_t)p->reps * sizeof *a),
         *b = xmalloc((size_t)p->reps * sizeof *b);
  OK(esmm_dataset_stat(ds, ESMM_DS_ROWS, &rows));
  OK(esmm_workspace_new(&ws, m, 1));
  for (int r = 0; r < p->reps; r++) {
    for (size_t c = 0; c < p->lat_calls; c++) {
      size_t first = (c * 7919) % (size_t)rows;
      double t0 = now_sec();
      OK(esmm_model_predict(m, ws, ds, first, 1, out, out + 1, out + 2));
      t[c] = (now_sec() - t0) * 1e6;
    }
    a[r] = quantile(t, p->lat_calls, 0.50);
    b[r] = quantile(t, p->lat_calls, 0.99);
  }
  *p50 = median(a, (size_t)p->reps);
  *p99 = median(b, (size_t)p->reps);
  esmm_workspace_free(ws);
  free(t), free(a), free(b);
}

/* One user x 100 candidate items through esmm_model_predict_user (the user
 * pooled once and taken through layer 0 once: the first-layer split), the
 * inputs laid out before the clock starts: users are the grouped set's
 * common lists, items the own features of its rows. p50/p99 in us. */
static void latency_user(const esmm_model *m, const esmm_dataset *src, const plan *p, double *p50, double *p99) {
  esmm_workspace *ws;
  int64_t n_rows, n_users;
  float out[3 * 100];
  size_t calls = p->lat_calls, cap = 0, k = 0;
  double *t = xmalloc(calls * sizeof *t), *a = xmalloc((size_t)p->reps * sizeof *a),
         *b = xmalloc((size_t)p->reps * sizeof *b);
  OK(esmm_dataset_stat(src, ESMM_DS_ROWS, &n_rows));
  OK(esmm_dataset_stat(src, ESMM_DS_COMMONS, &n_users));
  for (size_t r = 0; r < (size_t)n_rows; r++) {
    size_t nnz;
    OK(esmm_dataset_row(src, r, NULL, NULL, NULL, &nnz, NULL, NULL, NULL));
    cap += nnz;
  }
  int64_t *off = xmalloc(((size_t)n_rows + 1) * sizeof *off);
  int *field = xmalloc(cap * sizeof *field);
  uint64_t *id = xmalloc(cap * sizeof *id);
  float *value = xmalloc(cap * sizeof *value);
  off[0] = 0;
  for (size_t r = 0; r < (size_t)n_rows; r++) {
    size_t nnz;
    const int *f;
    const uint64_t *ids;
    const float *v;
    OK(esmm_dataset_row(src, r, NULL, NULL, NULL, &nnz, &f, &ids, &v));
    for (size_t j = 0; j < nnz; j++, k++) {
      field[k] = f[j];
      id[k] = ids[j];
      value[k] = v ? v[j] : 1.0f;
    }
    off[r + 1] = (int64_t)k;
  }
  OK(esmm_workspace_new(&ws, m, 100));
  for (int r = 0; r < p->reps; r++) {
    for (size_t c = 0; c < calls; c++) {
      size_t u = (c * 7919) % (size_t)n_users, first = (c * 104729) % ((size_t)n_rows - 100);
      size_t cn;
      const int *cf;
      const uint64_t *ci;
      const float *cv;
      int64_t ioff[101];
      for (size_t i = 0; i <= 100; i++)
        ioff[i] = off[first + i] - off[first];
      OK(esmm_dataset_common(src, u, &cn, &cf, &ci, &cv));
      double t0 = now_sec();
      OK(esmm_model_predict_user(m, ws, cn, cf, ci, cv, 100, ioff, field + off[first], id + off[first],
                                 value + off[first], NULL, out, out + 100, out + 200));
      t[c] = (now_sec() - t0) * 1e6;
    }
    a[r] = quantile(t, calls, 0.50);
    b[r] = quantile(t, calls, 0.99);
  }
  *p50 = median(a, (size_t)p->reps);
  *p99 = median(b, (size_t)p->reps);
  esmm_workspace_free(ws);
  free(t), free(a), free(b), free(off), free(field), free(id), free(value);
}

/* ---- the children ----------------------------------------------------- */

typedef struct tower_cfg {
  const char *name;
  int64_t hidden[3];
  size_t n_hidden;
} tower_cfg;

static const tower_cfg towers[2] = {{"default", {200, 80, 0}, 2}, {"wide", {360, 200, 80}, 3}};

static int run_child(const plan *p) {
  int ncpu = cpu_count();
  size_t rows = (BATCH + (size_t)ncpu - 1) / (size_t)ncpu; /* a slice at the default batch_slices */
  esmm_dataset *ungrouped = simulate(p->train_rows, 0, 0), *grouped = simulate(p->train_rows, 1, 0);
  char json[16384];
  size_t jn = 0;
  jn += (size_t)snprintf(json + jn, sizeof json - jn, "{\"cpus\":%d,\"blas\":\"OpenBLAS %s\",\"slice_rows\":%zu",
                         ncpu, openblas_get_corename(), rows);
  printf("data-parallel step (OPENBLAS_NUM_THREADS=1, OpenBLAS %s kernels), %d CPUs, batch %d in %d slices of %zu rows\n",
         openblas_get_corename(), ncpu, BATCH, ncpu, rows);
  for (int tc = 0; tc < 2; tc++) {
    const tower_cfg *tw = &towers[tc];
    esmm_config *cfg;
    size_t nf;
    OK(esmm_config_new(&cfg));
    OK(esmm_config_field_count(cfg, &nf));
    esmm_config_free(cfg);
    shape s = tower_shape(nf * 18, tw->hidden, tw->n_hidden);
    double fl = train_flops(&s);
    jn += (size_t)snprintf(json + jn, sizeof json - jn, ",\"%s\":{\"train_mflop_per_sample\":%.3f,\"threads\":[", tw->name,
                           fl * 1e-6);
    printf("%s towers (%zu", tw->name, s.in[0]);
    for (size_t l = 0; l < s.n_layers; l++)
      printf("-%zu", s.out[l]);
    printf("), %.3f MFLOP per training sample\n", fl * 1e-6);
    printf("  threads  limit GFLOP/s  limit samples/s  ungrouped samples/s (share)  grouped+split samples/s (share)\n");
    double first_u = 0;
    for (int t = 1; t <= ncpu; t++) {
      double g = stream_gflops(&s, rows, t, p), lim = g * 1e9 / fl;
      esmm_model *mu = new_model(tw->hidden, tw->n_hidden, 1, t), *mg = new_model(tw->hidden, tw->n_hidden, 2, t);
      double su = train_sps(mu, ungrouped, p), sg = train_sps(mg, grouped, p);
      if (t == 1)
        first_u = su;
      printf("  %7d  %13.1f  %15.0f  %13.0f (%.2f)  x%.2f  %18.0f (%.2f)\n", t, g, lim, su, su / lim, su / first_u,
             sg, sg / lim);
      jn += (size_t)snprintf(json + jn, sizeof json - jn,
                             "%s{\"threads\":%d,\"limit_gflops\":%.1f,\"limit_samples_per_sec\":%.0f,"
                             "\"train_samples_per_sec_ungrouped\":%.0f,\"share_ungrouped\":%.3f,"
                             "\"train_samples_per_sec_grouped\":%.0f,\"share_grouped\":%.3f}",
                             t > 1 ? "," : "", t, g, lim, su, su / lim, sg, sg / lim);
      esmm_model_free(mu);
      esmm_model_free(mg);
    }
    {
      esmm_model *m = new_model(tw->hidden, tw->n_hidden, 1, 0);
      double sp, s50, s99, u50, u99;
      OK(esmm_model_train_steps(m, grouped, 20, NULL, NULL));
      sp = predict_sps(m, ungrouped, p->predict_rows, p);
      latency_single(m, ungrouped, p, &s50, &s99);
      latency_user(m, grouped, p, &u50, &u99);
      printf("  prediction: %.0f samples/s (all threads, %.1f GFLOP/s); single impression p50 %.1f us p99 %.1f us; "
             "one user x 100 items p50 %.0f us p99 %.0f us (1 thread)\n",
             sp, sp * predict_flops(&s) * 1e-9, s50, s99, u50, u99);
      jn += (size_t)snprintf(json + jn, sizeof json - jn,
                             "],\"predict_samples_per_sec\":%.0f,\"single_p50_us\":%.1f,\"single_p99_us\":%.1f,"
                             "\"user100_p50_us\":%.0f,\"user100_p99_us\":%.0f}",
                             sp, s50, s99, u50, u99);
      esmm_model_free(m);
    }
  }
  printf("  peak RSS of this process: %.0f MB\n", peak_rss_mb());
  snprintf(json + jn, sizeof json - jn, ",\"peak_rss_mb\":%.0f}", peak_rss_mb());
  puts(json);
  esmm_dataset_free(ungrouped);
  esmm_dataset_free(grouped);
  return 0;
}

/* The 1.0 way, for comparison: one model thread, OpenBLAS's threads in
 * each GEMM; and OpenBLAS's own SGEMM at the full batch. */
static int run_child_blas(const plan *p) {
  int ncpu = cpu_count();
  esmm_dataset *ungrouped = simulate(p->train_rows, 0, 0), *grouped = simulate(p->train_rows, 1, 0);
  char json[4096];
  size_t jn = 0;
  stream st;
  pthread_barrier_t b;
  jn += (size_t)snprintf(json + jn, sizeof json - jn, "{\"blas_threads\":%d", ncpu);
  printf("OpenBLAS-threaded (OPENBLAS_NUM_THREADS=%d, one model thread, as in 1.0)\n", ncpu);
  for (int tc = 0; tc < 2; tc++) {
    const tower_cfg *tw = &towers[tc];
    shape s = tower_shape(23 * 18, tw->hidden, tw->n_hidden);
    double fl = train_flops(&s);
    esmm_model *mu = new_model(tw->hidden, tw->n_hidden, 1, 1), *mg = new_model(tw->hidden, tw->n_hidden, 2, 1);
    double su = train_sps(mu, ungrouped, p), sg = train_sps(mg, grouped, p), g;
    pthread_barrier_init(&b, NULL, 1);
    st = (stream){&s, BATCH, p->gemm_seconds, 0, 0, &b};
    stream_main(&st);
    pthread_barrier_destroy(&b);
    g = st.flops / st.elapsed * 1e-9;
    printf("  %s towers: SGEMM at batch %d %.1f GFLOP/s (limit %.0f samples/s); training ungrouped %.0f, grouped %.0f "
           "samples/s\n",
           tw->name, BATCH, g, g * 1e9 / fl, su, sg);
    jn += (size_t)snprintf(json + jn, sizeof json - jn,
                           ",\"%s\":{\"sgemm_gflops\":%.1f,\"limit_samples_per_sec\":%.0f,"
                           "\"train_samples_per_sec_ungrouped\":%.0f,\"train_samples_per_sec_grouped\":%.0f}",
                           tw->name, g, g * 1e9 / fl, su, sg);
    esmm_model_free(mu);
    esmm_model_free(mg);
  }
  snprintf(json + jn, sizeof json - jn, "}");
  puts(json);
  esmm_dataset_free(ungrouped);
  esmm_dataset_free(grouped);
  return 0;
}

/* Training only, for profilers (perf record, valgrind --tool=callgrind). */
static int run_profile(const char *which, int64_t steps) {
  const tower_cfg *tw = &towers[!strcmp(which, "wide")];
  int shuffle = getenv("ESMM_BENCH_SHUFFLE") ? atoi(getenv("ESMM_BENCH_SHUFFLE")) : 1;
  int threads = getenv("ESMM_BENCH_THREADS") ? atoi(getenv("ESMM_BENCH_THREADS")) : 0;
  esmm_dataset *ds = simulate(60000, shuffle == 2, 0);
  esmm_model *m = new_model(tw->hidden, tw->n_hidden, shuffle, threads);
  OK(esmm_model_train_steps(m, ds, 3, NULL, NULL));
  double t0 = now_sec();
  OK(esmm_model_train_steps(m, ds, steps, NULL, NULL));
  printf("%s: %lld steps, %.0f samples/s\n", tw->name, (long long)steps, (double)steps * BATCH / (now_sec() - t0));
  esmm_model_free(m);
  esmm_dataset_free(ds);
  return 0;
}

/* ---- parent ----------------------------------------------------------- */

/* Run `self mode` with OPENBLAS_NUM_THREADS=threads, echo its output and
 * keep its last line (a JSON object) in json[cap]. */
static int run_self(const char *env, const char *self, const char *mode, int threads, int quick, char *json,
                    size_t cap) {
  char cmd[4096], line[16384];
  FILE *f;
  int st;
  snprintf(cmd, sizeof cmd, "%s OPENBLAS_NUM_THREADS=%d '%s' %s%s", env, threads, self, mode, quick ? " --quick" : "");
  f = popen(cmd, "r");
  if (!f) {
    fprintf(stderr, "esmm_bench: cannot run %s: %s\n", cmd, strerror(errno));
    return 1;
  }
  json[0] = 0;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '{') {
      line[strcspn(line, "\n")] = 0;
      snprintf(json, cap, "%s", line);
      continue;
    }
    fputs(line, stdout);
    fflush(stdout);
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
  p.quick = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick"))
      p.quick = 1;
    else if (!strcmp(argv[i], "--profile") && i + 1 < argc)
      return run_profile(argv[i + 1], i + 2 < argc ? atoll(argv[i + 2]) : 200);
    else if (!strcmp(argv[i], "--child") || !strcmp(argv[i], "--child-blas"))
      mode = argv[i];
    else {
      fprintf(stderr, "usage: %s [--quick]\n       %s --profile default|wide [steps]\n", argv[0], argv[0]);
      return 2;
    }
  }
  p.reps = p.quick ? 3 : 5;
  p.train_rows = p.quick ? 60000 : 200000;
  p.train_steps = p.quick ? 10 : 30;
  p.predict_rows = p.quick ? 16384 : 65536;
  p.lat_calls = p.quick ? 300 : 2000;
  p.gemm_seconds = p.quick ? 0.3 : 1.0;
  if (mode && !strcmp(mode, "--child"))
    return run_child(&p);
  if (mode)
    return run_child_blas(&p);
  {
    static char a[16384], b[4096], c[16384];
    double t0 = now_sec();
    const char *core = openblas_get_corename(), *pinned = getenv("OPENBLAS_CORETYPE");
    __builtin_cpu_init(); /* needed here: libgcc's own initialiser may not have run for this object */
    /* OpenBLAS runs its AVX2 kernels here although the CPU has AVX-512
     * (the environment may pin them: this machine class sets
     * OPENBLAS_CORETYPE=Haswell): measure its AVX-512 kernels as well, the
     * way a host selects them, by the environment of a fresh process */
    int avx512 = (!strcmp(core, "Haswell") || !strcmp(core, "Zen")) && __builtin_cpu_supports("avx512f") &&
                 __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                 __builtin_cpu_supports("avx512dq");
    if (run_self("", argv[0], "--child", 1, p.quick, a, sizeof a) ||
        run_self("", argv[0], "--child-blas", cpu_count(), p.quick, b, sizeof b))
      return 1;
    if (avx512) {
      printf("\nthe same with OpenBLAS's AVX-512 kernels (%s)\n",
             pinned ? "OPENBLAS_CORETYPE unset: OpenBLAS's own choice" : "OPENBLAS_CORETYPE=SkylakeX");
      if (run_self(pinned ? "env -u OPENBLAS_CORETYPE" : "OPENBLAS_CORETYPE=SkylakeX", argv[0], "--child", 1, p.quick,
                   c, sizeof c))
        return 1;
    }
    printf("bench: %.0f s\n", now_sec() - t0);
    printf("{\"data_parallel\":%s,\"openblas_threaded\":%s%s%s}\n", a, b, avx512 ? ",\"data_parallel_avx512\":" : "",
           avx512 ? c : "");
  }
  return 0;
}
