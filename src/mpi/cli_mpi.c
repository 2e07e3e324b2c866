/* cli_mpi.c - makes the unchanged CLI (cli/) data-parallel under
 * mpirun when bin/esmm is built with `make MPI=1`. Host code, not library
 * code: it is linked into bin/esmm with -Wl,--wrap for the calls below, so
 * that `mpirun -np N bin/esmm train ...` trains one model on N ranks:
 *   esmm_model_new, esmm_model_load_checkpoint
 *                          attach the MPI communicator (esmm_mpi_comm_from_env);
 *                          every rank resumes from the same checkpoint file
 *   esmm_model_train_epoch trains on this rank's shard of the dataset
 *                          (ESMM_SHARD_EVEN: equal batch counts on every rank)
 *   esmm_model_evaluate    evaluates on the union of the shards (exact AUC)
 *   esmm_model_save, esmm_model_save_checkpoint
 *                          write the file from rank 0 only
 *   esmm_model_free, esmm_dataset_free  release what was attached / sharded
 * Without an MPI launcher in the environment every call passes through, and
 * bin/esmm behaves exactly as the plain build. Ranks other than 0 send their
 * stdout to /dev/null so that reports and JSON are printed once. The proper
 * place for this is the CLI itself (docs/distributed.md, "CLI"). */
#include "esmm_mpi.h"

#include <stdio.h>
#include <stdlib.h>

int __real_esmm_model_new(esmm_model **out, const esmm_config *cfg);
int __real_esmm_model_train_epoch(esmm_model *m, const esmm_dataset *ds, esmm_progress_fn fn, void *payload);
int __real_esmm_model_evaluate(const esmm_model *m, const esmm_dataset *ds, double *out, size_t n_out);
int __real_esmm_model_save(const esmm_model *m, const char *path);
int __real_esmm_model_save_checkpoint(const esmm_model *m, const char *path);
int __real_esmm_model_load_checkpoint(esmm_model **out, const char *path, const esmm_config *hooks);
int __wrap_esmm_model_save_checkpoint(const esmm_model *m, const char *path);
int __wrap_esmm_model_load_checkpoint(esmm_model **out, const char *path, const esmm_config *hooks);
void __real_esmm_model_free(esmm_model *m);
void __real_esmm_dataset_free(esmm_dataset *ds);
int __wrap_esmm_model_new(esmm_model **out, const esmm_config *cfg);
int __wrap_esmm_model_train_epoch(esmm_model *m, const esmm_dataset *ds, esmm_progress_fn fn, void *payload);
int __wrap_esmm_model_evaluate(const esmm_model *m, const esmm_dataset *ds, double *out, size_t n_out);
int __wrap_esmm_model_save(const esmm_model *m, const char *path);
void __wrap_esmm_model_free(esmm_model *m);
void __wrap_esmm_dataset_free(esmm_dataset *ds);

#define MAX_SHARDS 8
static esmm_comm *comm;
static int comm_tried;
static const esmm_model *attached;
static struct {
  const esmm_dataset *whole;
  int mode;
  esmm_dataset *shard;
} shards[MAX_SHARDS];

static void finish(void) {
  esmm_comm_free(comm); /* finalises MPI when esmm_mpi_comm_from_env initialised it */
  comm = NULL;
}

static esmm_comm *get_comm(void) {
  if (!comm_tried) {
    int rank = 0;
    comm_tried = 1;
    if (esmm_mpi_comm_from_env(&comm) != ESMM_OK) {
      fprintf(stderr, "esmm: MPI initialisation failed; training in a single process\n");
      comm = NULL;
    }
    if (comm) {
      atexit(finish);
      esmm_comm_info(comm, &rank, NULL);
      if (rank != 0 && !freopen("/dev/null", "w", stdout))
        fprintf(stderr, "esmm: rank %d: cannot silence stdout\n", rank);
    }
  }
  return comm;
}

static int shard_of(const esmm_dataset *ds, int mode, const esmm_dataset **out) {
  int rc, free_slot = -1;
  for (int i = 0; i < MAX_SHARDS; i++) {
    if (shards[i].whole == ds && shards[i].mode == mode) {
      *out = shards[i].shard;
      return ESMM_OK;
    }
    if (!shards[i].whole && free_slot < 0)
      free_slot = i;
  }
  if (free_slot < 0)
    return ESMM_ENOMEM;
  rc = esmm_comm_shard(comm, ds, mode, 1, &shards[free_slot].shard);
  if (rc)
    return rc;
  shards[free_slot].whole = ds;
  shards[free_slot].mode = mode;
  *out = shards[free_slot].shard;
  return ESMM_OK;
}

static int attach(esmm_model **out, int rc) {
  if (rc || !get_comm() || attached)
    return rc;
  if ((rc = esmm_model_set_comm(*out, comm)) != ESMM_OK) {
    __real_esmm_model_free(*out);
    *out = NULL;
    return rc;
  }
  attached = *out;
  return ESMM_OK;
}

int __wrap_esmm_model_new(esmm_model **out, const esmm_config *cfg) {
  return attach(out, __real_esmm_model_new(out, cfg));
}

int __wrap_esmm_model_load_checkpoint(esmm_model **out, const char *path, const esmm_config *hooks) {
  return attach(out, __real_esmm_model_load_checkpoint(out, path, hooks));
}

int __wrap_esmm_model_save_checkpoint(const esmm_model *m, const char *path) {
  if (!m || m != attached)
    return __real_esmm_model_save_checkpoint(m, path);
  return esmm_comm_save(comm, m, path, 1);
}

int __wrap_esmm_model_train_epoch(esmm_model *m, const esmm_dataset *ds, esmm_progress_fn fn, void *payload) {
  const esmm_dataset *sh;
  int rc;
  if (!m || m != attached || !ds)
    return __real_esmm_model_train_epoch(m, ds, fn, payload);
  if ((rc = shard_of(ds, ESMM_SHARD_EVEN, &sh)) != ESMM_OK)
    return rc;
  return __real_esmm_model_train_epoch(m, sh, fn, payload);
}

int __wrap_esmm_model_evaluate(const esmm_model *m, const esmm_dataset *ds, double *out, size_t n_out) {
  const esmm_dataset *sh;
  int rc;
  if (!m || m != attached || !ds)
    return __real_esmm_model_evaluate(m, ds, out, n_out);
  if ((rc = shard_of(ds, ESMM_SHARD_ROWS, &sh)) != ESMM_OK) /* every row, once */
    return rc;
  return esmm_comm_evaluate(comm, m, sh, out, n_out);
}

int __wrap_esmm_model_save(const esmm_model *m, const char *path) {
  if (!m || m != attached)
    return __real_esmm_model_save(m, path);
  return esmm_comm_save(comm, m, path, 0);
}

void __wrap_esmm_model_free(esmm_model *m) {
  if (m && m == attached) {
    esmm_model_set_comm(m, NULL);
    attached = NULL;
  }
  __real_esmm_model_free(m);
}

void __wrap_esmm_dataset_free(esmm_dataset *ds) {
  for (int i = 0; ds && i < MAX_SHARDS; i++)
    if (shards[i].whole == ds) {
      __real_esmm_dataset_free(shards[i].shard);
      shards[i].whole = NULL;
      shards[i].shard = NULL;
    }
  __real_esmm_dataset_free(ds);
}
