/* hot_swap.c - serving while the model is replaced: a C host that uses only
 * the installed libesmm (headers, shared library, pkg-config):
 *
 *   cc -std=c11 hot_swap.c $(pkg-config --cflags --libs esmm) -pthread -o hot_swap
 *   OPENBLAS_NUM_THREADS=1 ./hot_swap [-s SECONDS | -n SWAPS] [-t THREADS] [-r MAX_RSS_GROWTH_KIB] [-d DIR]
 *
 * THREADS predicting threads (default 4) score one user against 64 items
 * over and over, for SECONDS (default 10; or, with -n, until SWAPS swaps
 * are done and both versions have served), while one more thread loads a
 * new model file from disk and swaps it in, as fast as it can. The library
 * leaves this to the host: esmm_model_predict_* may run on one model from
 * many threads, but never while that model is freed. So the host owns the
 * pointer to the live model, and decides when an old one can be freed.
 *
 * The pattern (the part to copy):
 *   - the live model sits behind one C11 atomic pointer, `current`;
 *   - a predicting thread announces itself in its own slot with the global
 *     epoch before it reads `current`, and clears the slot when its call
 *     returns (it holds no lock, and takes no reference count);
 *   - the swapping thread publishes the new model with atomic_exchange,
 *     advances the epoch, then waits for a grace period: until every slot
 *     is clear or shows the new epoch. No thread can still be using the old
 *     model then (the argument is at publish()), and it is freed.
 * Predictions never wait for a load or a swap; the swapper waits at most
 * for the calls in flight. One swapper at a time (serialise several with a
 * mutex). A workspace fits any model of the same shape, so each thread
 * keeps its own across swaps; a new shape would need new workspaces.
 * (A model's own worker threads, ESMM_OPT_NUM_THREADS, start on first use
 * by esmm_model_predict/evaluate or training: a host that predicts with
 * its own workspaces, as here, never starts them.)
 *
 * The example checks itself: the two model files it alternates between
 * (two models of one shape, built and saved at start) have known outputs
 * for the request, computed once; every prediction must equal, bit for bit,
 * the outputs of the model version it ran on (run with
 * OPENBLAS_NUM_THREADS=1: OpenBLAS's threaded SGEMM may split sums
 * differently). The resident set size (Linux: /proc/self/statm) is sampled
 * every 0.1 s after a warm-up; with -r, a growth of its peak from the first
 * tenth of the rest of the run to the last beyond that many KiB fails the
 * run. Exit status: 0 ok, 1 a wrong answer, an error or RSS
 * growth, 2 usage. */
#define _POSIX_C_SOURCE 200809L /* getopt, nanosleep, clock_gettime, sysconf */

#include <esmm/esmm.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ITEMS 64
#define WARM_SWAPS 20
#define MAX_THREADS 64

/* ---- the host-owned pointer and its reclamation ---------------------------- */

typedef struct served {
  esmm_model *model;
  int version; /* which file it was loaded from: 0 or 1 */
} served;

/* One slot per predicting thread, each on its own cache line: 0 = not in a
 * call, else the epoch the thread saw when it entered. */
typedef struct slot {
  _Alignas(64) atomic_uint_fast64_t active;
} slot;

static _Atomic(served *) current;
static atomic_uint_fast64_t epoch = 1;
static slot slots[MAX_THREADS];
static int n_slots;

/* Enter: announce, then read the pointer (both sequentially consistent). */
static served *reader_enter(slot *s) {
  atomic_store(&s->active, atomic_load(&epoch));
  return atomic_load(&current);
}

static void reader_exit(slot *s) { atomic_store_explicit(&s->active, 0, memory_order_release); }

/* Publish fresh and return the model it replaced, once no reader can still
 * be using it. Why the wait is enough: with sequentially consistent
 * operations all threads agree on one order of them. The exchange comes
 * before the epoch becomes e. A reader whose slot shows e or more read the
 * epoch after that, so its read of `current` (later still) returns fresh
 * or newer. A reader whose slot shows 0 when we look either is not in a
 * call, or stores its slot after our look and so reads `current` after
 * the exchange. Only a slot below e may hold the old model: we wait until
 * it changes (the call returned). And the free comes after everything
 * that call did with the old model: the reader clears its slot with a
 * release store, our load that sees the 0 (or a later epoch, stored after
 * it) acquires it. */
static served *publish(served *fresh) {
  served *old = atomic_exchange(&current, fresh);
  uint_fast64_t e = atomic_fetch_add(&epoch, 1) + 1;
  for (int i = 0; i < n_slots; i++) {
    uint_fast64_t a;
    while ((a = atomic_load(&slots[i].active)) != 0 && a < e)
      sched_yield();
  }
  return old;
}

static void served_free(served *s) {
  if (s) {
    esmm_model_free(s->model);
    free(s);
  }
}

/* ---- the request, and what each model version must answer ------------------ */

static size_t n_fields, user_nnz;
static int user_field[ESMM_MAX_FIELDS], item_field[ITEMS * ESMM_MAX_FIELDS];
static uint64_t user_id[ESMM_MAX_FIELDS], item_id[ITEMS * ESMM_MAX_FIELDS];
static int64_t item_off[ITEMS + 1];
static float want[2][3 * ITEMS];

static void build_request(void) {
  size_t k = 0;
  user_nnz = n_fields / 2;
  for (size_t f = 0; f < user_nnz; f++) {
    user_field[f] = (int)f;
    user_id[f] = 1000 + f;
  }
  item_off[0] = 0;
  for (size_t i = 0; i < ITEMS; i++) {
    for (size_t f = user_nnz; f < n_fields; f++, k++) {
      item_field[k] = (int)f;
      item_id[k] = i * 7919u + f;
    }
    item_off[i + 1] = (int64_t)k;
  }
}

static int score(const esmm_model *m, esmm_workspace *ws, float *out) {
  return esmm_model_predict_user(m, ws, user_nnz, user_field, user_id, NULL, ITEMS, item_off, item_field, item_id,
                                 NULL, NULL, out, out + ITEMS, out + 2 * ITEMS);
}

/* ---- threads -------------------------------------------------------------------- */

static atomic_bool stop, served_version[2];
static atomic_long swaps, swap_errors;
static char paths[2][4096];

typedef struct reader {
  slot *slot;
  esmm_workspace *ws; /* this thread's scratch, made before it starts */
  long calls, wrong, errors, per_version[2];
} reader;

static void *reader_main(void *arg) {
  reader *r = arg;
  esmm_workspace *ws = r->ws;
  float got[3 * ITEMS];
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    served *s = reader_enter(r->slot);
    int rc = score(s->model, ws, got);
    int version = s->version;
    reader_exit(r->slot); /* s must not be touched after this */
    r->calls++;
    if (rc != ESMM_OK)
      r->errors++;
    else if (memcmp(got, want[version], sizeof got) != 0)
      r->wrong++;
    else if (r->per_version[version]++ == 0)
      atomic_store(&served_version[version], 1);
  }
  return NULL;
}

/* Load the other file, swap it in, free the replaced model. */
static void *swapper_main(void *arg) {
  int next = 1;
  (void)arg;
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    served *fresh = malloc(sizeof *fresh);
    if (!fresh || esmm_model_load(&fresh->model, paths[next], NULL) != ESMM_OK) {
      free(fresh);
      atomic_fetch_add(&swap_errors, 1);
      continue;
    }
    fresh->version = next;
    served_free(publish(fresh));
    atomic_fetch_add(&swaps, 1);
    next ^= 1;
  }
  return NULL;
}

/* ---- main ----------------------------------------------------------------------- */

static long rss_kib(void) {
  long size, pages = -1;
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f)
    return -1;
  if (fscanf(f, "%ld %ld", &size, &pages) != 2)
    pages = -1;
  fclose(f);
  return pages < 0 ? -1 : pages * (sysconf(_SC_PAGESIZE) / 1024);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0)
    ;
}

static int fail(const char *what, int rc) {
  fprintf(stderr, "hot_swap: %s: %s (%s)\n", what, esmm_last_error(), esmm_strerror(rc));
  return 1;
}

/* Two models of one shape (different seeds), saved as the files to swap. */
static int make_models(const char *dir) {
  esmm_config *cfg;
  int rc;
  if ((rc = esmm_config_new(&cfg)) != ESMM_OK)
    return fail("config", rc);
  if ((rc = esmm_config_set_int(cfg, ESMM_OPT_HASH_BUCKETS, 1000)) != ESMM_OK || /* ~0.8 MB files */
      (rc = esmm_config_set_int(cfg, ESMM_OPT_EMBED_DIM, 8)) != ESMM_OK) {
    esmm_config_free(cfg);
    return fail("config", rc);
  }
  for (int v = 0; v < 2; v++) {
    esmm_model *m;
    snprintf(paths[v], sizeof paths[v], "%s/hot_swap_%c.esmm", dir, 'a' + v);
    if ((rc = esmm_config_set_int(cfg, ESMM_OPT_SEED, 1 + v)) != ESMM_OK ||
        (rc = esmm_model_new(&m, cfg)) != ESMM_OK) {
      esmm_config_free(cfg);
      return fail("model", rc);
    }
    rc = esmm_model_save(m, paths[v]);
    esmm_model_free(m);
    if (rc != ESMM_OK) {
      esmm_config_free(cfg);
      return fail("save", rc);
    }
  }
  esmm_config_free(cfg);
  return 0;
}

int main(int argc, char **argv) {
  double seconds = 10, started;
  long n_swaps = 0;
  int threads = 4, opt, rc, status = 1, warm;
  long max_growth = -1, rss0, rss1, trace[10], calls = 0, wrong = 0, errors = 0, per_version[2] = {0, 0};
  const char *dir = ".";
  pthread_t th[MAX_THREADS], sw;
  reader rd[MAX_THREADS];
  served *first = NULL;
  esmm_config *cfg = NULL;

  while ((opt = getopt(argc, argv, "s:n:t:r:d:")) != -1) {
    if (opt == 's')
      seconds = atof(optarg);
    else if (opt == 'n')
      n_swaps = atol(optarg);
    else if (opt == 't')
      threads = atoi(optarg);
    else if (opt == 'r')
      max_growth = atol(optarg);
    else if (opt == 'd')
      dir = optarg;
    else
      threads = -1;
  }
  if (threads < 1 || threads > MAX_THREADS || !(seconds > 0) || n_swaps < 0 || optind != argc ||
      (n_swaps && max_growth >= 0)) {
    fprintf(stderr, "usage: hot_swap [-s SECONDS | -n SWAPS] [-t THREADS (1-%d)] [-r MAX_RSS_GROWTH_KIB] [-d DIR]\n"
                    "  (-r only with a run of SECONDS)\n",
            MAX_THREADS);
    return 2;
  }
  if (esmm_version_number() / 10000 != ESMM_VERSION_MAJOR || esmm_version_number() < ESMM_VERSION_NUMBER) {
    fprintf(stderr, "hot_swap: built for libesmm %s, running with %s\n", ESMM_VERSION_STRING, esmm_version_string());
    return 1;
  }
  if (make_models(dir) != 0)
    return 1;

  /* The known answers of each version, one thread, a workspace of the same
   * batch size as the readers' (so the same SGEMM blocking). The readers'
   * workspaces are made here too, from a model this thread owns (a
   * workspace fits any model of the same shape). */
  for (int v = 0; v < 2; v++) {
    esmm_model *m;
    esmm_workspace *ws = NULL;
    if ((rc = esmm_model_load(&m, paths[v], NULL)) != ESMM_OK)
      return fail("load", rc);
    if (v == 0 && ((rc = esmm_model_config(m, &cfg)) != ESMM_OK ||
                   (rc = esmm_config_field_count(cfg, &n_fields)) != ESMM_OK)) {
      esmm_model_free(m);
      return fail("config", rc);
    }
    if (v == 0)
      build_request();
    if ((rc = esmm_workspace_new(&ws, m, ITEMS)) != ESMM_OK || (rc = score(m, ws, want[v])) != ESMM_OK) {
      esmm_workspace_free(ws);
      esmm_model_free(m);
      esmm_config_free(cfg);
      return fail("predict", rc);
    }
    esmm_workspace_free(ws);
    for (int t = 0; v == 0 && t < threads; t++) {
      rd[t] = (reader){&slots[t], NULL, 0, 0, 0, {0, 0}};
      if ((rc = esmm_workspace_new(&rd[t].ws, m, ITEMS)) != ESMM_OK) {
        esmm_model_free(m);
        esmm_config_free(cfg);
        return fail("workspace", rc);
      }
    }
    esmm_model_free(m);
  }
  esmm_config_free(cfg);
  if (memcmp(want[0], want[1], sizeof want[0]) == 0) {
    fprintf(stderr, "hot_swap: the two models answer alike: wrong answers could not be told\n");
    return 1;
  }

  /* Serve version 0, start the readers and the swapper. */
  if (!(first = malloc(sizeof *first)) || (rc = esmm_model_load(&first->model, paths[0], NULL)) != ESMM_OK) {
    free(first);
    return fail("load", first ? rc : ESMM_ENOMEM);
  }
  first->version = 0;
  atomic_store(&current, first);
  n_slots = threads;
  for (int t = 0; t < threads; t++) {
    if (pthread_create(&th[t], NULL, reader_main, &rd[t]) != 0) {
      fprintf(stderr, "hot_swap: cannot start thread %d\n", t);
      return 1;
    }
  }
  if (pthread_create(&sw, NULL, swapper_main, NULL) != 0) {
    fprintf(stderr, "hot_swap: cannot start the swapper\n");
    return 1;
  }
  started = now();
  if (n_swaps) {
    /* A run measured in work, not time (for make check): at least n swaps,
     * and both versions served, however slow the machine. */
    while ((atomic_load(&swaps) < n_swaps || !atomic_load(&served_version[0]) || !atomic_load(&served_version[1])) &&
           !atomic_load(&swap_errors))
      sleep_s(0.01);
    warm = 0;
    rss0 = rss1 = rss_kib();
    for (int i = 0; i < 10; i++)
      trace[i] = rss1;
  } else {
    /* Warm-up: the allocator reaches its steady state (old and new model
     * both live during a swap; glibc raises its mmap threshold after the
     * first frees) after WARM_SWAPS swaps and a tenth of the run. */
    double t0 = now(), end = t0 + seconds;
    while (now() < end && (atomic_load(&swaps) < WARM_SWAPS || now() < t0 + 0.1 * seconds))
      sleep_s(0.05);
    double tw = now();
    warm = atomic_load(&swaps) >= WARM_SWAPS;
    /* The trace: the peak of each tenth of the rest, sampled every 0.1 s
     * (a single sample would land on either side of a swap, which holds
     * two models and a file image for a moment). The growth is the last
     * tenth's peak minus the first's: a model leaked per swap raises every
     * later peak. */
    for (int i = 0; i < 10; i++) {
      double at = tw + (end - tw) * (i + 1) / 10, left;
      trace[i] = -1;
      for (;;) {
        long r = rss_kib();
        if (r < 0) { /* no /proc: no figure (and -r fails the run) */
          trace[i] = -1;
          break;
        }
        if (r > trace[i])
          trace[i] = r;
        if ((left = at - now()) <= 0)
          break;
        sleep_s(left < 0.1 ? left : 0.1);
      }
    }
    rss0 = trace[0];
    rss1 = trace[9];
  }
  atomic_store(&stop, 1);
  for (int t = 0; t < threads; t++) {
    pthread_join(th[t], NULL);
    calls += rd[t].calls;
    wrong += rd[t].wrong;
    errors += rd[t].errors;
    per_version[0] += rd[t].per_version[0];
    per_version[1] += rd[t].per_version[1];
    esmm_workspace_free(rd[t].ws);
  }
  pthread_join(sw, NULL);
  served_free(atomic_exchange(&current, NULL));

  printf("hot_swap: %.1f s, %d predicting threads: %ld calls (%ld on version a, %ld on version b), %ld wrong, "
         "%ld failed; %ld swaps (%ld failed loads)\n",
         now() - started, threads, calls, per_version[0], per_version[1], wrong, errors, atomic_load(&swaps),
         atomic_load(&swap_errors));
  if (!n_swaps) {
    printf("hot_swap: RSS peak %ld KiB in the first tenth after warm-up, %ld KiB in the last (%+ld KiB); "
           "peaks of each tenth (KiB):", rss0, rss1, rss1 - rss0);
    for (int i = 0; i < 10; i++)
      printf(" %ld", trace[i]);
    printf("\n");
  }
  status = wrong || errors || atomic_load(&swap_errors) || atomic_load(&swaps) == 0 || !per_version[0] ||
           !per_version[1];
  if (max_growth >= 0 && !warm) {
    fprintf(stderr, "hot_swap: fewer than %d swaps before the end: RSS growth not measured\n", WARM_SWAPS);
    status = 1;
  } else if (max_growth >= 0 && (rss0 < 0 || rss1 < 0 || rss1 - rss0 > max_growth)) {
    fprintf(stderr, "hot_swap: RSS grew by %ld KiB (bound %ld KiB)\n", rss1 - rss0, max_growth);
    status = 1;
  }
  remove(paths[0]);
  remove(paths[1]);
  return status;
}
