/* comm_local.c - an in-process transport: `size` ranks are threads of one
 * process sharing a group object. Each collective publishes this rank's
 * buffer pointer, waits at a barrier, reads every rank's buffer, and waits
 * again before any buffer may change. The all-reduce sums in rank order
 * (0, 1, ..., size-1), so every rank computes the bit-identical result.
 * Used by the tests; also a reference for host transports. Knows nothing
 * of models. */
#include "dist.h"

#include <pthread.h>
#include <string.h>

typedef struct group {
  esmm__allocator alloc;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int size, arrived, refs;
  uint64_t generation;
  const void **ptr; /* size published pointers */
} group;

typedef struct local_rank {
  group *g;
  int rank;
  float *acc; /* all-reduce scratch */
  size_t acc_cap;
} local_rank;

static int group_barrier(group *g) {
  uint64_t gen;
  if (pthread_mutex_lock(&g->mu))
    return -1;
  gen = g->generation;
  if (++g->arrived == g->size) {
    g->arrived = 0;
    g->generation++;
    pthread_cond_broadcast(&g->cv);
  } else {
    while (gen == g->generation)
      pthread_cond_wait(&g->cv, &g->mu);
  }
  pthread_mutex_unlock(&g->mu);
  return 0;
}

static int local_barrier(void *payload) { return group_barrier(((local_rank *)payload)->g); }

static int local_allreduce(float *data, size_t n, void *payload) {
  local_rank *lr = payload;
  group *g = lr->g;
  if (n > lr->acc_cap) {
    float *a = esmm__alloc(&g->alloc, n * sizeof *a);
    if (!a)
      return -1; /* the other ranks still wait: a host transport would abort the job */
    esmm__free(&g->alloc, lr->acc);
    lr->acc = a;
    lr->acc_cap = n;
  }
  g->ptr[lr->rank] = data;
  if (group_barrier(g))
    return -1;
  memcpy(lr->acc, g->ptr[0], n * sizeof *data);
  for (int r = 1; r < g->size; r++) {
    const float *src = g->ptr[r];
    for (size_t k = 0; k < n; k++)
      lr->acc[k] += src[k];
  }
  if (group_barrier(g)) /* every rank has read every input */
    return -1;
  memcpy(data, lr->acc, n * sizeof *data);
  return 0;
}

static int local_allgatherv(const void *send, size_t send_bytes, void *recv, const size_t *recv_bytes,
                            void *payload) {
  local_rank *lr = payload;
  group *g = lr->g;
  unsigned char *dst = recv;
  (void)send_bytes;
  g->ptr[lr->rank] = send;
  if (group_barrier(g))
    return -1;
  for (int r = 0; r < g->size; r++) {
    if (recv_bytes[r])
      memcpy(dst, g->ptr[r], recv_bytes[r]);
    dst += recv_bytes[r];
  }
  return group_barrier(g);
}

static void group_release(group *g) {
  int last;
  esmm__allocator a = g->alloc;
  pthread_mutex_lock(&g->mu);
  last = --g->refs == 0;
  pthread_mutex_unlock(&g->mu);
  if (!last)
    return;
  pthread_mutex_destroy(&g->mu);
  pthread_cond_destroy(&g->cv);
  esmm__free(&a, g->ptr);
  esmm__free(&a, g);
}

static void local_destroy(void *payload) {
  local_rank *lr = payload;
  group *g = lr->g;
  esmm__allocator a = g->alloc;
  esmm__free(&a, lr->acc);
  esmm__free(&a, lr);
  group_release(g);
}

int esmm_comm_local_new(esmm_comm **comms, int size) {
  esmm__allocator a = esmm__allocator_default();
  group *g;
  int rc = ESMM_OK;
  ESMM__CHECK_ARG(comms);
  if (size < 1 || size > 1024)
    return ESMM__ERR(ESMM_EINVAL, "size must be in [1, 1024], got %d", size);
  for (int r = 0; r < size; r++)
    comms[r] = NULL;
  g = esmm__calloc(&a, 1, sizeof *g);
  if (!g)
    return ESMM__ERR(ESMM_ENOMEM, "out of memory");
  g->alloc = a;
  g->size = size;
  g->ptr = esmm__calloc(&a, (size_t)size, sizeof *g->ptr);
  if (!g->ptr) {
    esmm__free(&a, g);
    return ESMM__ERR(ESMM_ENOMEM, "out of memory");
  }
  if (pthread_mutex_init(&g->mu, NULL)) {
    esmm__free(&a, g->ptr);
    esmm__free(&a, g);
    return ESMM__ERR(ESMM_ERROR, "pthread_mutex_init failed");
  }
  if (pthread_cond_init(&g->cv, NULL)) {
    pthread_mutex_destroy(&g->mu);
    esmm__free(&a, g->ptr);
    esmm__free(&a, g);
    return ESMM__ERR(ESMM_ERROR, "pthread_cond_init failed");
  }
  g->refs = 1; /* held by this function until every rank is made */
  for (int r = 0; r < size && rc == ESMM_OK; r++) {
    local_rank *lr = esmm__calloc(&a, 1, sizeof *lr);
    if (!lr) {
      rc = ESMM__ERR(ESMM_ENOMEM, "out of memory");
      break;
    }
    lr->g = g;
    lr->rank = r;
    g->refs++;
    rc = esmm_comm_new(&comms[r], r, size, local_allreduce, local_allgatherv, local_barrier, local_destroy, lr);
    if (rc) {
      g->refs--;
      esmm__free(&a, lr);
    }
  }
  if (rc)
    for (int r = 0; r < size; r++) {
      esmm_comm_free(comms[r]);
      comms[r] = NULL;
    }
  group_release(g);
  return rc;
}
