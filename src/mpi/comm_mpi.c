/* comm_mpi.c - esmm/comm.h's collectives on Open MPI. The all-reduce is a
 * reduce to rank 0 followed by a broadcast, so that every rank holds the
 * very same sums whatever reduction algorithm MPI picks (MPI_Allreduce does
 * not promise bit-identical results on every rank); the all-gather of
 * variable-size buffers is MPI_Allgatherv on bytes. Buffers above 2^31
 * bytes per call are refused (MPI's int counts). */
#include "esmm_mpi.h"

#include <limits.h>
#include <mpi.h>
#include <stdlib.h>

typedef struct mpi_payload {
  MPI_Comm comm;
  int size, finalize;
  float *acc;
  size_t acc_cap;
  int *counts, *displs;
} mpi_payload;

static int mpi_allreduce(float *data, size_t n, void *payload) {
  mpi_payload *p = payload;
  int rank;
  if (n > INT_MAX)
    return -1;
  MPI_Comm_rank(p->comm, &rank);
  if (rank == 0) {
    if (MPI_Reduce(MPI_IN_PLACE, data, (int)n, MPI_FLOAT, MPI_SUM, 0, p->comm) != MPI_SUCCESS)
      return -1;
  } else if (MPI_Reduce(data, NULL, (int)n, MPI_FLOAT, MPI_SUM, 0, p->comm) != MPI_SUCCESS) {
    return -1;
  }
  return MPI_Bcast(data, (int)n, MPI_FLOAT, 0, p->comm) == MPI_SUCCESS ? 0 : -1;
}

static int mpi_allgatherv(const void *send, size_t send_bytes, void *recv, const size_t *recv_bytes,
                          void *payload) {
  mpi_payload *p = payload;
  size_t off = 0;
  for (int r = 0; r < p->size; r++) {
    if (recv_bytes[r] > INT_MAX || off > INT_MAX)
      return -1;
    p->counts[r] = (int)recv_bytes[r];
    p->displs[r] = (int)off;
    off += recv_bytes[r];
  }
  return MPI_Allgatherv(send, (int)send_bytes, MPI_BYTE, recv, p->counts, p->displs, MPI_BYTE, p->comm) ==
                 MPI_SUCCESS
             ? 0
             : -1;
}

static int mpi_barrier(void *payload) {
  return MPI_Barrier(((mpi_payload *)payload)->comm) == MPI_SUCCESS ? 0 : -1;
}

static void mpi_destroy(void *payload) {
  mpi_payload *p = payload;
  int fin = 0;
  MPI_Finalized(&fin);
  if (!fin)
    MPI_Comm_free(&p->comm);
  if (p->finalize && !fin)
    MPI_Finalize();
  free(p->counts);
  free(p->displs);
  free(p);
}

static int make(esmm_comm **out, MPI_Comm base, int finalize) {
  mpi_payload *p = calloc(1, sizeof *p);
  int rank, size, rc;
  *out = NULL;
  if (!p)
    return ESMM_ENOMEM;
  if (MPI_Comm_dup(base, &p->comm) != MPI_SUCCESS) {
    free(p);
    return ESMM_EIO;
  }
  MPI_Comm_rank(p->comm, &rank);
  MPI_Comm_size(p->comm, &size);
  p->size = size;
  p->finalize = finalize;
  p->counts = calloc((size_t)size, sizeof *p->counts);
  p->displs = calloc((size_t)size, sizeof *p->displs);
  if (!p->counts || !p->displs) {
    p->finalize = 0;
    mpi_destroy(p);
    return ESMM_ENOMEM;
  }
  rc = esmm_comm_new(out, rank, size, mpi_allreduce, mpi_allgatherv, mpi_barrier, mpi_destroy, p);
  if (rc) {
    p->finalize = 0;
    mpi_destroy(p);
  }
  return rc;
}

int esmm_mpi_comm_new(esmm_comm **out, const void *mpi_comm) {
  int init = 0;
  if (!out)
    return ESMM_EINVAL;
  *out = NULL;
  MPI_Initialized(&init);
  if (!init)
    return ESMM_ESTATE;
  return make(out, mpi_comm ? *(const MPI_Comm *)mpi_comm : MPI_COMM_WORLD, 0);
}

static int launched_size(void) {
  const char *v = getenv("OMPI_COMM_WORLD_SIZE");
  if (!v)
    v = getenv("PMI_SIZE");
  if (v)
    return atoi(v);
  return getenv("PMIX_RANK") ? 2 : 1; /* PMIx without a size: ask MPI */
}

int esmm_mpi_comm_from_env(esmm_comm **out) {
  int init = 0, size, prov, rc;
  if (!out)
    return ESMM_EINVAL;
  *out = NULL;
  MPI_Initialized(&init);
  if (!init && launched_size() <= 1)
    return ESMM_OK;
  if (!init && MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &prov) != MPI_SUCCESS)
    return ESMM_EIO;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size <= 1) {
    if (!init)
      MPI_Finalize();
    return ESMM_OK;
  }
  rc = make(out, MPI_COMM_WORLD, !init);
  if (rc && !init)
    MPI_Finalize();
  return rc;
}
