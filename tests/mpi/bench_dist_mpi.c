/* bench_dist_mpi.c - throughput and communication volume of data-parallel
 * training on Open MPI (`make MPI=1 mpi-bench`; run it with -np 1 and -np 2).
 * Every rank simulates the same Ali-CCP-shaped data (default config: 23
 * fields, dim 18, towers 414->200->80->1), trains one epoch on its
 * ESMM_SHARD_EVEN shard and reports: global samples/s (wall time of the
 * epoch on the slowest rank), bytes this rank contributed per step, and the
 * mean number of distinct embedding rows per local batch.
 * Usage: bench_dist_mpi [rows] [per-rank batch] */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "esmm_mpi.h"
#include "mlp.h"
#include "model.h"

/* floats of every tower gradient: the dense all-reduce of a step */
static double dense_floats(const esmm_model *m) {
  double n = 0;
  const esmm_mlp *t[2] = {m->ctr, m->cvr};
  for (int k = 0; k < 2; k++)
    for (size_t l = 0; l < t[k]->n_layers; l++)
      n += (double)(t[k]->layer[l].n_in * t[k]->layer[l].n_out + t[k]->layer[l].n_out);
  return n;
}

int main(int argc, char **argv) {
  esmm_comm *comm = NULL;
  esmm_config *cfg;
  esmm_sim *sim;
  esmm_dataset *ds, *shard;
  esmm_model *m;
  int rank = 0, size = 1;
  size_t rows = argc > 1 ? (size_t)atoll(argv[1]) : 200000;
  int64_t batch = argc > 2 ? atoll(argv[2]) : 1024;
  uint64_t b0, b1;
  double t0, t1, steps, dt, dtmax;
  MPI_Init(&argc, &argv);
  if (esmm_mpi_comm_new(&comm, NULL))
    return 1;
  esmm_comm_info(comm, &rank, &size);
  esmm_config_new(&cfg);
  esmm_config_set_int(cfg, ESMM_OPT_BATCH_SIZE, batch);
  esmm_sim_new(&sim, NULL);
  if (esmm_sim_generate(sim, rows, 0, &ds) || esmm_comm_shard(comm, ds, ESMM_SHARD_EVEN, 1, &shard) ||
      esmm_model_new(&m, cfg) || (size > 1 && esmm_model_set_comm(m, comm))) {
    fprintf(stderr, "rank %d: %s\n", rank, esmm_last_error());
    return 1;
  }
  esmm_comm_stats(comm, &b0, NULL);
  MPI_Barrier(MPI_COMM_WORLD);
  t0 = MPI_Wtime();
  if (esmm_model_train_epoch(m, shard, NULL, NULL)) {
    fprintf(stderr, "rank %d: %s\n", rank, esmm_last_error());
    return 1;
  }
  t1 = MPI_Wtime();
  dt = t1 - t0;
  MPI_Allreduce(&dt, &dtmax, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  esmm_comm_stats(comm, &b1, NULL);
  esmm_model_stat(m, ESMM_STAT_STEP, &steps);
  printf("{\"ranks\":%d,\"rank\":%d,\"rows\":%zu,\"batch_per_rank\":%lld,\"steps\":%.0f,\"seconds\":%.3f,"
         "\"global_samples_per_sec\":%.0f,\"bytes_per_step\":%.0f,\"dense_bytes\":%.0f,"
         "\"local_rows_per_step\":%.1f}\n",
         size, rank, rows, (long long)batch, steps, dtmax, (double)(rows - rows % (size_t)size) / dtmax,
         size > 1 ? (double)(b1 - b0) / steps : 0.0, 4 * dense_floats(m),
         size > 1 ? ((double)(b1 - b0) / steps - 2 * 40 - 4 * dense_floats(m)) / (8 + 4 * (double)m->dim) : 0.0);
  esmm_model_set_comm(m, NULL);
  esmm_model_free(m);
  esmm_dataset_free(shard);
  esmm_dataset_free(ds);
  esmm_sim_free(sim);
  esmm_config_free(cfg);
  esmm_comm_free(comm);
  MPI_Finalize();
  return 0;
}
