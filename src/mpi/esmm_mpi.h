/*
 * esmm_mpi.h - the Open MPI transport for esmm/comm.h, built only with
 * `make MPI=1` into lib/libesmm_mpi.a (link it with mpicc, or with
 * $(mpicc --showme:link)). Not part of libesmm: libesmm never includes or
 * links MPI. This header does not include <mpi.h> either: a communicator
 * is passed by address.
 */
#ifndef ESMM_MPI_H
#define ESMM_MPI_H

#include <esmm/comm.h>

ESMM_BEGIN_DECLS

/**
 * Wrap an MPI communicator (MPI must be initialised by the caller).
 * @param[out] out the new handle, NULL on failure.
 * @param mpi_comm the address of an MPI_Comm, or NULL for MPI_COMM_WORLD;
 *        the communicator is duplicated (MPI_Comm_dup): the caller's stays
 *        free for its own messages, and is not needed after the call.
 * @return ESMM_OK, ESMM_ESTATE (MPI not initialised), ESMM_EIO (an MPI call
 *         failed), ESMM_ENOMEM.
 * Ownership: free with esmm_comm_free (frees the duplicate, not MPI).
 * Thread safety: as MPI's thread level; one thread per handle.
 */
int esmm_mpi_comm_new(esmm_comm **out, const void *mpi_comm);

/**
 * For programs that may run under mpirun: when the environment shows an MPI
 * launcher (OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK) with more than one
 * process, initialise MPI if needed and return a handle on MPI_COMM_WORLD
 * whose esmm_comm_free also finalises MPI when this call initialised it;
 * otherwise *out = NULL and ESMM_OK (a single process: train as usual).
 * @return ESMM_OK, ESMM_EIO, ESMM_ENOMEM.
 */
int esmm_mpi_comm_from_env(esmm_comm **out);

ESMM_END_DECLS

#endif /* ESMM_MPI_H */
