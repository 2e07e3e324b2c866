/*
 * pool.h (internal) - a persistent pool of worker threads. A model owns one
 * (created with the model, threads started on the first parallel run and
 * joined in esmm_model_free); its training step and large predictions
 * hand it tasks. Idle workers sleep on a condition variable (a short
 * bounded spin first, to catch the next phase of a step), so a host that
 * trains in one thread and serves in others is not slowed by them.
 *
 * Determinism is the callers' business and easy to keep: tasks are handed
 * out dynamically, so which worker runs a task depends on timing, but the
 * worker index only selects scratch memory; every result a task writes
 * depends on the task index alone.
 *
 * Owns its threads and nothing else; knows nothing of models.
 */
#ifndef ESMM__POOL_H
#define ESMM__POOL_H

#include "internal.h"

typedef struct esmm__pool esmm__pool;

/* fn(ctx, task, worker): worker is in [0, workers); 0 is the calling thread. */
typedef void (*esmm__pool_fn)(void *ctx, size_t task, size_t worker);

/* A pool of n_workers workers (the caller counts as one: n_workers - 1
 * threads are started on the first run). Only ENOMEM can fail. */
int esmm__pool_create(esmm__pool **out, const esmm__allocator *a, size_t n_workers);

/* Stop and join the threads, free the pool. NULL is a no-op. Must not run
 * concurrently with esmm__pool_run. */
void esmm__pool_free(esmm__pool *p);

/* Workers of the pool (the size of per-worker scratch). */
size_t esmm__pool_workers(const esmm__pool *p);

/* Run fn for every task in [0, n_tasks) and return when all have run. The
 * pool runs one job at a time: a caller that does not hold it (see
 * esmm__pool_try_acquire) must not race another. Cannot fail: if a thread
 * cannot be started, the threads that exist (at least the caller) run its
 * share. Blocks signals in the threads it starts. */
void esmm__pool_run(esmm__pool *p, size_t n_tasks, esmm__pool_fn fn, void *ctx);

/* For callers that may run on several host threads at once on a const
 * owner (prediction): 1 when this thread now holds the pool (release it
 * with esmm__pool_release), 0 when another run holds it (do the work on
 * the calling thread instead; never blocks). */
int esmm__pool_try_acquire(esmm__pool *p);
void esmm__pool_release(esmm__pool *p);

/* CPUs this process may run on (sched_getaffinity), at least 1. */
size_t esmm__cpu_count(void);

/* Contiguous part t of nt of [0, n): [*lo, *hi). */
static inline void esmm__split_range(size_t n, size_t t, size_t nt, size_t *lo, size_t *hi) {
  /* n * t may overflow size_t on 32-bit hosts; the quotient fits */
  *lo = (size_t)((unsigned long long)n * t / nt);
  *hi = (size_t)((unsigned long long)n * (t + 1) / nt);
}

#endif /* ESMM__POOL_H */
