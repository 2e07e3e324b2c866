/* mpi.c - data-parallel training for the esmm-mpi program.
 *
 * `make MPI=1` builds the same CLI sources a second time with ESMM_CLI_MPI
 * defined and links them with lib/libesmm_mpi.a (the Open MPI transport,
 * src/mpi/) into bin/esmm-mpi; `mpirun -np N esmm-mpi train ...` then
 * trains one model on N ranks: every rank reads the same files, trains on
 * its shard of --data (ESMM_SHARD_EVEN: the same number of batches on every
 * rank), evaluates the whole --valid (every rank gets the same metrics, so
 * early stopping decides alike everywhere), and rank 0 alone writes models,
 * checkpoints, logs and the output. Without an MPI launcher esmm-mpi is a
 * single process like esmm. bin/esmm itself never links MPI: it runs where
 * Open MPI is not installed (docs/distributed.md). */
#include "cli.h"

#ifdef ESMM_CLI_MPI
#include "esmm_mpi.h"

#include <stdlib.h>

static esmm_comm *comm;
static int tried, rank, size = 1;

static void finish(void) {
  esmm_comm_free(comm); /* finalises MPI when esmm_mpi_comm_from_env initialised it */
  comm = NULL;
}

static esmm_comm *get_comm(void) {
  if (!tried) {
    tried = 1;
    if (esmm_mpi_comm_from_env(&comm) != ESMM_OK) {
      cli_fail("MPI initialisation", ESMM_EIO);
      exit(EXIT_LIB);
    }
    if (comm) {
      atexit(finish);
      esmm_comm_info(comm, &rank, &size);
      /* one copy of the output: rank 0's */
      if (rank != 0 && !freopen("/dev/null", "w", stdout))
        fprintf(stderr, "esmm: rank %d: cannot silence stdout\n", rank);
    }
  }
  return comm;
}

int cli_rank(void) { return get_comm() ? rank : 0; }
int cli_ranks(void) { return get_comm() ? size : 1; }

int cli_dist_attach(esmm_model *m) {
  int rc;
  if (!get_comm())
    return 0;
  if ((rc = esmm_model_set_comm(m, comm)) != ESMM_OK)
    return cli_fail("joining the MPI group", rc);
  return 0;
}

void cli_dist_detach(esmm_model *m) {
  if (comm && m)
    esmm_model_set_comm(m, NULL);
}

int cli_dist_shard(const esmm_dataset *ds, const esmm_dataset **out) {
  esmm_dataset *sh = NULL;
  int rc;
  *out = ds;
  if (!get_comm())
    return 0;
  if ((rc = esmm_comm_shard(comm, ds, ESMM_SHARD_EVEN, 1, &sh)) != ESMM_OK)
    return cli_fail("sharding the training data", rc);
  *out = sh;
  return 0;
}

void cli_dist_free_shard(const esmm_dataset *ds, const esmm_dataset *shard) {
  if (shard != ds)
    esmm_dataset_free((esmm_dataset *)shard);
}

int cli_dist_save(const esmm_model *m, const char *path, int checkpoint) {
  if (!get_comm())
    return checkpoint ? esmm_model_save_checkpoint(m, path) : esmm_model_save(m, path);
  return esmm_comm_save(comm, m, path, checkpoint);
}

#else /* a single process */

int cli_rank(void) { return 0; }
int cli_ranks(void) { return 1; }
int cli_dist_attach(esmm_model *m) {
  (void)m;
  return 0;
}
void cli_dist_detach(esmm_model *m) { (void)m; }
int cli_dist_shard(const esmm_dataset *ds, const esmm_dataset **out) {
  *out = ds;
  return 0;
}
void cli_dist_free_shard(const esmm_dataset *ds, const esmm_dataset *shard) {
  (void)ds;
  (void)shard;
}
int cli_dist_save(const esmm_model *m, const char *path, int checkpoint) {
  return checkpoint ? esmm_model_save_checkpoint(m, path) : esmm_model_save(m, path);
}

#endif
