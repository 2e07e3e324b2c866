/* check_dist_mpi.c - the acceptance test on real Open MPI (run by
 * `make MPI=1 mpi-check`, under mpirun -np 2): 2 ranks with batch B give the
 * same parameters as 1 process with batch 2B (rank 0 trains the reference
 * itself), the replicas stay bit-identical (checksum every step), the
 * gathered evaluation equals a single evaluation, and rank 0's file loads
 * in a single process. Also prints the per-step communication volume.
 * Exit status 0 on success on every rank. */
#include <mpi.h>
#include <unistd.h>

#include "dist_fixture.h"
#include "esmm_mpi.h"

int main(int argc, char **argv) {
  esmm_comm *comm;
  esmm_config *c1, *c2;
  esmm_dataset *ds, *shard;
  esmm_model *m, *single, *loaded;
  double met[ESMM_METRIC_COUNT], met1[ESMM_METRIC_COUNT], d, steps;
  int rank, size, bitwise, rc;
  uint64_t bytes0, bytes1, calls;
  char path[] = "/tmp/check_dist_mpi.esmm";
  MPI_Init(&argc, &argv);
  FIX_EQ(esmm_mpi_comm_new(&comm, NULL), ESMM_OK);
  esmm_comm_info(comm, &rank, &size);
  FIX_EQ(size, 2);
  c1 = cfg_new(2 * B, ESMM_OPTIMIZER_ADAM);
  c2 = cfg_new(B, ESMM_OPTIMIZER_ADAM);
  esmm_config_set_int(c2, ESMM_OPT_DIST_CHECK_EVERY, 1);
  ds = data_new(c1, 216);
  FIX_EQ(esmm_comm_shard(comm, ds, ESMM_SHARD_ROWS, B, &shard), ESMM_OK);
  FIX_EQ(esmm_model_new(&m, c2), ESMM_OK);
  FIX_EQ(esmm_model_set_comm(m, comm), ESMM_OK);
  esmm_comm_stats(comm, &bytes0, NULL);
  rc = esmm_model_train(m, shard, NULL, NULL);
  if (rc)
    fprintf(stderr, "rank %d: %s\n", rank, esmm_last_error());
  FIX_EQ(rc, ESMM_OK);
  esmm_comm_stats(comm, &bytes1, &calls);
  esmm_model_stat(m, ESMM_STAT_STEP, &steps);
  FIX_EQ(esmm_comm_evaluate(comm, m, shard, met, ESMM_METRIC_COUNT), ESMM_OK);
  FIX_EQ(esmm_comm_save(comm, m, path, 0), ESMM_OK);
  if (rank == 0) {
    FIX_EQ(esmm_model_new(&single, c1), ESMM_OK);
    FIX_EQ(esmm_model_train(single, ds, NULL, NULL), ESMM_OK);
    d = param_diff(m, single, &bitwise);
    printf("mpi: 2 ranks x batch %d vs 1 x %d after %.0f steps: max relative difference %.3g\n", B, 2 * B, steps,
           d);
    FIX_ASSERT(d < 1e-4);
    FIX_EQ(esmm_model_evaluate(single, ds, met1, ESMM_METRIC_COUNT), ESMM_OK);
    FIX_ASSERT(fabs(met[ESMM_METRIC_CTR_AUC] - met1[ESMM_METRIC_CTR_AUC]) < 1e-4);
    FIX_EQ(esmm_model_load(&loaded, path, NULL), ESMM_OK);
    param_diff(loaded, m, &bitwise);
    FIX_ASSERT(bitwise);
    unlink(path);
    esmm_model_free(loaded);
    esmm_model_free(single);
  }
  printf("mpi: rank %d sent %.0f bytes per step (%llu collectives in all)\n", rank,
         (double)(bytes1 - bytes0) / steps, (unsigned long long)calls);
  esmm_model_set_comm(m, NULL);
  esmm_model_free(m);
  esmm_dataset_free(shard);
  esmm_dataset_free(ds);
  esmm_config_free(c1);
  esmm_config_free(c2);
  esmm_comm_free(comm);
  MPI_Finalize();
  return 0;
}
