/* pool.c - persistent worker threads (pool.h). */
#ifndef _GNU_SOURCE /* sched_getaffinity, CPU_COUNT; set once in the amalgamation */
#define _GNU_SOURCE
#endif
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#define MAX_WORKERS 256 /* ESMM_OPT_NUM_THREADS' bound (config.c) */

/* Idle workers poll the job counter this many times before they sleep.
 * A training step has three parallel phases a few milliseconds apart with
 * a short serial part between them; waking a sleeping thread costs tens of
 * microseconds, a poll loop of this length about 10 us. Beyond it the
 * worker sleeps, so an idle model costs nothing. */
#define SPIN_POLLS 2000

struct esmm__pool {
  esmm__allocator alloc;
  size_t n_workers;
  pthread_mutex_t mu;
  pthread_cond_t wake, done;
  pthread_mutex_t owner; /* esmm__pool_try_acquire */
  int started;           /* threads were started (first run) */
  size_t n_threads;      /* threads actually running */
  pthread_t tid[MAX_WORKERS];
  /* the current job */
  atomic_ulong gen;       /* bumped for every job; workers wait for a change */
  atomic_size_t next;     /* next task index to hand out */
  size_t n_tasks;
  esmm__pool_fn fn;
  void *ctx;
  atomic_size_t busy;     /* threads still inside the job */
  int stop;
};

typedef struct worker_arg {
  esmm__pool *p;
  size_t id;
} worker_arg;

static void run_tasks(esmm__pool *p, size_t worker) {
  for (;;) {
    size_t t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
    if (t >= p->n_tasks)
      break;
    p->fn(p->ctx, t, worker);
  }
}

static void *worker_main(void *arg) {
  esmm__pool *p = ((worker_arg *)arg)->p;
  size_t id = ((worker_arg *)arg)->id;
  unsigned long seen = 0;
  esmm__free(&p->alloc, arg);
  for (;;) {
    unsigned long g = atomic_load_explicit(&p->gen, memory_order_acquire);
    for (int k = 0; k < SPIN_POLLS && g == seen; k++)
      g = atomic_load_explicit(&p->gen, memory_order_acquire);
    if (g == seen) {
      pthread_mutex_lock(&p->mu);
      while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen && !p->stop)
        pthread_cond_wait(&p->wake, &p->mu);
      pthread_mutex_unlock(&p->mu);
    }
    if (p->stop && g == seen)
      return NULL;
    seen = g;
    run_tasks(p, id);
    if (atomic_fetch_sub_explicit(&p->busy, 1, memory_order_acq_rel) == 1) {
      pthread_mutex_lock(&p->mu);
      pthread_cond_signal(&p->done);
      pthread_mutex_unlock(&p->mu);
    }
  }
}

int esmm__pool_create(esmm__pool **out, const esmm__allocator *a, size_t n_workers) {
  esmm__pool *p;
  *out = NULL;
  if (n_workers < 1)
    n_workers = 1;
  if (n_workers > MAX_WORKERS)
    n_workers = MAX_WORKERS;
  p = esmm__calloc(a, 1, sizeof *p);
  if (!p)
    return ESMM__ERR(ESMM_ENOMEM, "out of memory for a thread pool");
  p->alloc = *a;
  p->n_workers = n_workers;
  pthread_mutex_init(&p->mu, NULL);
  pthread_mutex_init(&p->owner, NULL);
  pthread_cond_init(&p->wake, NULL);
  pthread_cond_init(&p->done, NULL);
  atomic_init(&p->gen, 0);
  atomic_init(&p->next, 0);
  atomic_init(&p->busy, 0);
  *out = p;
  return ESMM_OK;
}

/* Start the threads, with every signal blocked in them (the host's handlers
 * run on its own threads). Threads that cannot be started are left out:
 * their share of every job goes to the others. */
static void start(esmm__pool *p) {
  sigset_t all, old;
  p->started = 1;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  for (size_t k = 1; k < p->n_workers; k++) {
    worker_arg *arg = esmm__alloc(&p->alloc, sizeof *arg);
    if (!arg)
      break;
    arg->p = p;
    arg->id = p->n_threads + 1;
    if (pthread_create(&p->tid[p->n_threads], NULL, worker_main, arg) != 0) {
      esmm__free(&p->alloc, arg);
      break;
    }
    p->n_threads++;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void esmm__pool_run(esmm__pool *p, size_t n_tasks, esmm__pool_fn fn, void *ctx) {
  if (n_tasks == 0)
    return;
  if (p->n_workers > 1 && !p->started)
    start(p);
  if (p->n_threads == 0 || n_tasks == 1) {
    for (size_t t = 0; t < n_tasks; t++)
      fn(ctx, t, 0);
    return;
  }
  p->fn = fn;
  p->ctx = ctx;
  p->n_tasks = n_tasks;
  atomic_store_explicit(&p->next, 0, memory_order_relaxed);
  atomic_store_explicit(&p->busy, p->n_threads, memory_order_relaxed);
  pthread_mutex_lock(&p->mu);
  atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  run_tasks(p, 0);
  /* the job's memory (fn, ctx, next) must outlive every worker's last look at it */
  for (int k = 0; k < SPIN_POLLS && atomic_load_explicit(&p->busy, memory_order_acquire); k++)
    ;
  if (atomic_load_explicit(&p->busy, memory_order_acquire)) {
    pthread_mutex_lock(&p->mu);
    while (atomic_load_explicit(&p->busy, memory_order_acquire))
      pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
  }
}

void esmm__pool_free(esmm__pool *p) {
  if (!p)
    return;
  pthread_mutex_lock(&p->mu);
  p->stop = 1;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  for (size_t k = 0; k < p->n_threads; k++)
    pthread_join(p->tid[k], NULL);
  pthread_cond_destroy(&p->wake);
  pthread_cond_destroy(&p->done);
  pthread_mutex_destroy(&p->mu);
  pthread_mutex_destroy(&p->owner);
  esmm__free(&p->alloc, p);
}

size_t esmm__pool_workers(const esmm__pool *p) { return p->n_workers; }

int esmm__pool_try_acquire(esmm__pool *p) { return pthread_mutex_trylock(&p->owner) == 0; }

void esmm__pool_release(esmm__pool *p) { pthread_mutex_unlock(&p->owner); }

size_t esmm__cpu_count(void) {
  cpu_set_t set;
  long n;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
    return (size_t)CPU_COUNT(&set);
  n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (size_t)n : 1;
}
