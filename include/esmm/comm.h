/*
 * esmm/comm.h - data-parallel training over a table of collective
 * operations.
 *
 * An esmm_comm is one rank's end of a group of `size` processes (or
 * threads) that train replicas of one model, each on its own shard of the
 * data. The host supplies the transport as a few plain functions (all-reduce
 * of floats, all-gather of variable-size byte buffers, barrier), as
 * LightGBM's network functions allow; the library never includes or links
 * MPI. Two transports come with libesmm: an in-process one built on threads
 * (esmm_comm_local_new, used by the tests) and an Open MPI adapter built
 * separately with `make MPI=1` (src/mpi/esmm_mpi.h, docs/distributed.md).
 *
 * Training: attach the comm to a model with esmm_model_set_comm. Every step
 * then averages the replicas' gradients (dense towers all-reduced, sparse
 * embedding rows all-gathered and merged in rank order) before the
 * optimizer applies them, so that every replica applies identical updates
 * and stays bit-identical to the others. All ranks must build their models
 * from the same config (same seed) and train the same number of steps: use
 * shards of equal size (esmm_comm_shard with ESMM_SHARD_ROWS), or shards
 * whose epochs have the same number of batches; a mismatch is detected and
 * reported as ESMM_ESTATE on every rank. ESMM_OPT_DIST_CHECK_EVERY sets how
 * often a checksum of the parameters is compared across ranks (divergence:
 * ESMM_ESTATE on every rank).
 *
 * Every function below that communicates is collective: every rank of the
 * group must call it, in the same order, with compatible arguments.
 */
#ifndef ESMM_COMM_H
#define ESMM_COMM_H

#include "common.h"
#include "dataset.h"
#include "errors.h"
#include "model.h"

ESMM_BEGIN_DECLS

typedef struct esmm_comm esmm_comm;

/** Sum data[0..n) element-wise over all ranks, in place: on return every
 * rank holds the same sums (bit-identical: the transport must add in an
 * order that does not depend on the rank). Return 0 on success, non-zero
 * on failure. */
typedef int (*esmm_comm_allreduce_fn)(float *data, size_t n, void *payload);

/** Gather variable-size byte buffers from all ranks: rank r contributes
 * send[0..send_bytes), which equals recv_bytes[r]; on return recv holds the
 * contributions of ranks 0, 1, ..., size-1 back to back. recv_bytes is the
 * same array on every rank. Return 0 on success, non-zero on failure. */
typedef int (*esmm_comm_allgatherv_fn)(const void *send, size_t send_bytes, void *recv, const size_t *recv_bytes,
                                       void *payload);

/** Wait until every rank has called it. Return 0 on success, non-zero on failure. */
typedef int (*esmm_comm_barrier_fn)(void *payload);

/** Called once by esmm_comm_free with the payload (may be NULL). */
typedef void (*esmm_comm_destroy_fn)(void *payload);

/**
 * Create a communicator from a host transport.
 * @param[out] out the new handle, NULL on failure.
 * @param rank this process's rank, in [0, size).
 * @param size the number of ranks, >= 1.
 * @param allreduce, allgatherv, barrier the collective operations (none NULL).
 * @param destroy called with payload by esmm_comm_free (may be NULL).
 * @param payload passed back to every function.
 * @return ESMM_OK, ESMM_EINVAL (out NULL, a function NULL, rank or size out
 *         of range), ESMM_ENOMEM.
 * Ownership: the caller frees the handle with esmm_comm_free; payload stays
 * the caller's until destroy is called.
 * Thread safety: reentrant; the handle is not thread-safe.
 * @since 1.0
 */
ESMM_API int esmm_comm_new(esmm_comm **out, int rank, int size, esmm_comm_allreduce_fn allreduce,
                           esmm_comm_allgatherv_fn allgatherv, esmm_comm_barrier_fn barrier,
                           esmm_comm_destroy_fn destroy, void *payload);

/**
 * Create an in-process group of size ranks that communicate through shared
 * memory: comms[r] is rank r's end, to be used by one thread each (the
 * collectives block until every rank's thread has called them).
 * @param[out] comms an array of size handles, all set to NULL on failure.
 * @param size the number of ranks, in [1, 1024].
 * @return ESMM_OK, ESMM_EINVAL (comms NULL, size out of range), ESMM_ENOMEM,
 *         ESMM_ERROR (a mutex or condition variable could not be created).
 * Ownership: the caller frees each handle with esmm_comm_free (in any
 * order, once no rank uses the group any more).
 * Thread safety: reentrant; each handle is used by one thread at a time.
 * @since 1.0
 */
ESMM_API int esmm_comm_local_new(esmm_comm **comms, int size);

/** Release a communicator (NULL is a no-op). It must not be attached to a
 * model any more (esmm_model_set_comm(m, NULL), or the model freed).
 * Thread safety: not with other calls on the same handle. @since 1.0 */
ESMM_API void esmm_comm_free(esmm_comm *comm);

/**
 * Rank and size of a communicator.
 * @param[out] rank_out, size_out (either may be NULL).
 * @return ESMM_OK, ESMM_EINVAL (comm NULL).
 * Thread safety: safe on a handle no thread modifies. @since 1.0
 */
ESMM_API int esmm_comm_info(const esmm_comm *comm, int *rank_out, int *size_out);

/**
 * Communication statistics of this rank since the comm was created.
 * @param[out] bytes_out bytes this rank contributed to collectives
 *             (all-reduce payload + all-gather payload), may be NULL.
 * @param[out] calls_out collective calls made, may be NULL.
 * @return ESMM_OK, ESMM_EINVAL (comm NULL).
 * Thread safety: safe on a handle no thread modifies. @since 1.0
 */
ESMM_API int esmm_comm_stats(const esmm_comm *comm, uint64_t *bytes_out, uint64_t *calls_out);

/**
 * Attach a communicator to a model for training (NULL detaches). From then
 * on every training step of m averages its gradients with the other ranks'
 * (a collective per step). The replicas must start identical: create them
 * from the same config, or load the same model file on every rank; the
 * parameters are compared (checksum) when attaching.
 * Collective: every rank calls it (detaching is local).
 * @return ESMM_OK, ESMM_EINVAL (m NULL), ESMM_ESTATE (the replicas differ),
 *         ESMM_EIO (the transport failed), ESMM_ENOMEM.
 * Ownership: m keeps the pointer: comm must outlive m or be detached first;
 * a comm serves one model at a time (attaching it to another model detaches
 * it from the first).
 * Thread safety: not with other calls on m or comm. @since 1.0
 */
ESMM_API int esmm_model_set_comm(esmm_model *m, esmm_comm *comm);

/** Values of the mode argument of esmm_comm_shard. */
typedef enum {
  ESMM_SHARD_ROWS = 0,  /* blocks of `block` consecutive rows dealt round-robin to the ranks; with
                           block = batch size, size ranks reproduce one process training with batch
                           size * block (without shuffling) */
  ESMM_SHARD_GROUPS = 1, /* rows sharing a common list (a user) stay together: a group goes to rank
                            hash(common list index) mod size; rows without one, by their index.
                            Shards differ in size: the host must make every rank's epoch have the same
                            number of batches (e.g. drop or repeat rows), or training stops with
                            ESMM_ESTATE at the first epoch end that differs */
  ESMM_SHARD_EVEN = 2    /* row i to rank i mod size, the last n mod size rows to no rank: every rank
                            gets exactly floor(n / size) rows, hence the same number of batches */
} esmm_shard_mode;

/**
 * Copy this rank's shard of a dataset read identically by every rank.
 * Local (no communication). Every rank needs rows: a rank whose shard is
 * empty cannot train (esmm_model_train refuses an empty dataset before the
 * first collective, and the other ranks would wait for it).
 * @param ds the whole dataset.
 * @param mode an esmm_shard_mode.
 * @param block rows per block for ESMM_SHARD_ROWS (>= 1); ignored otherwise.
 * @param[out] out a new dataset with the shard's rows (labels, features,
 *             the common lists they use, dense inputs, truths), NULL on failure.
 * @return ESMM_OK, ESMM_EINVAL, ESMM_ENOMEM.
 * Ownership: the caller frees *out with esmm_dataset_free.
 * Thread safety: safe on a dataset no thread modifies. @since 1.0
 */
ESMM_API int esmm_comm_shard(const esmm_comm *comm, const esmm_dataset *ds, int mode, size_t block,
                             esmm_dataset **out);

/**
 * Evaluate a model on the union of every rank's shard: predictions and
 * labels are gathered to every rank, in rank order, and the metrics
 * (esmm_metrics_compute, exact AUC) computed on the union, so that every
 * rank gets the same values, equal to a single process's evaluation of the
 * concatenated shards. Collective.
 * @param out, n_out as in esmm_model_evaluate.
 * @return ESMM_OK, ESMM_EINVAL, ESMM_ESHAPE, ESMM_ENOMEM, ESMM_EIO.
 * Thread safety: as esmm_model_evaluate; not with other calls on comm.
 * @since 1.0
 */
ESMM_API int esmm_comm_evaluate(esmm_comm *comm, const esmm_model *m, const esmm_dataset *shard, double *out,
                                size_t n_out);

/**
 * Save the model from rank 0 (esmm_model_save, or esmm_model_save_checkpoint
 * when checkpoint is non-zero); the other ranks wait and return rank 0's
 * status, so that every rank learns whether the file was written. The file
 * is an ordinary model file a single process loads. Collective.
 * @return ESMM_OK, the statuses of esmm_model_save, ESMM_EIO (transport).
 * Thread safety: not with other calls on m or comm. @since 1.0
 */
ESMM_API int esmm_comm_save(esmm_comm *comm, const esmm_model *m, const char *path, int checkpoint);

ESMM_END_DECLS

#endif /* ESMM_COMM_H */
