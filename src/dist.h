/*
 * dist.h (internal) - the layout of esmm_comm and the data-parallel step.
 * Owns the communicator handle (a rank's end of a host transport), its
 * exchange scratch and the model hook (esmm_model.sync) that averages a
 * step's gradients across ranks before the optimizer applies them. Knows
 * the model's gradient layout (towers, sparse embedding gradient); knows
 * nothing of any transport (MPI lives in src/mpi/, threads in comm_local.c).
 */
#ifndef ESMM__DIST_H
#define ESMM__DIST_H

#include <esmm/comm.h>

#include "internal.h"

struct esmm_comm {
  esmm__allocator alloc; /* the default allocator: a comm exists before any model */
  int rank, size;
  esmm_comm_allreduce_fn allreduce;
  esmm_comm_allgatherv_fn allgatherv;
  esmm_comm_barrier_fn barrier;
  esmm_comm_destroy_fn destroy;
  void *payload;
  uint64_t bytes, calls; /* contributed by this rank */
  esmm_model *model;     /* attached model, or NULL */

  /* exchange scratch, grown (never shrunk) to the largest step seen */
  size_t *counts;        /* size entries: bytes per rank of an all-gather */
  unsigned char *small;  /* size * ESMM__DIST_HDR bytes: headers, checksums */
  float *dense;          /* packed tower gradients */
  size_t dense_cap;      /* floats */
  unsigned char *send, *recv;
  size_t send_cap, recv_cap; /* bytes */
};

#define ESMM__DIST_HDR 40 /* bytes per rank of a small gather: tag + a step's header */

/* Collectives with byte accounting; transport failures become ESMM_EIO
 * with a message naming func. */
int esmm__comm_allreduce(esmm_comm *c, float *data, size_t n, const char *func);
/* Gather send_bytes from every rank into c->recv (grown), counts in c->counts,
 * total in *total_out. */
int esmm__comm_gather(esmm_comm *c, const void *send, size_t send_bytes, size_t *total_out, const char *func);

/* A 64-bit checksum of every parameter tensor of m (bit patterns). */
uint64_t esmm__dist_checksum(esmm_model *m);

#endif /* ESMM__DIST_H */
