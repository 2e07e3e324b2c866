/* dist_fixture.h - the data and comparisons shared by tests/check_dist.c
 * (in-process transport) and tests/mpi/check_dist_mpi.c (Open MPI): a small
 * grouped dataset, the configs of the "2 ranks x b = 1 x 2b" test and a
 * parameter comparison. Static functions: include once per program. */
#ifndef DIST_FIXTURE_H
#define DIST_FIXTURE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <esmm/comm.h>

#include "model.h"

#ifndef FIX_ASSERT
#define FIX_ASSERT(x)                                                    \
  do {                                                                   \
    if (!(x)) {                                                          \
      fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #x);    \
      exit(1);                                                           \
    }                                                                    \
  } while (0)
#endif
#define FIX_EQ(a, b) FIX_ASSERT((a) == (b))

#define B 16 /* per-rank batch */

static esmm_config *cfg_new(int64_t batch, int64_t optimizer) {
  esmm_config *c;
  const char *names[] = {"a", "b", "c"};
  int64_t buckets[] = {37, 53, 29}, ct[] = {16, 8}, vt[] = {12};
  FIX_EQ(esmm_config_new(&c), ESMM_OK);
  FIX_EQ(esmm_config_set_fields(c, 3, names, buckets), ESMM_OK);
  esmm_config_set_int(c, ESMM_OPT_EMBED_DIM, 6);
  esmm_config_set_ints(c, ESMM_OPT_CTR_TOWER, ct, 2);
  esmm_config_set_ints(c, ESMM_OPT_CVR_TOWER, vt, 1);
  esmm_config_set_int(c, ESMM_OPT_BATCH_SIZE, batch);
  esmm_config_set_int(c, ESMM_OPT_SHUFFLE, 0);
  esmm_config_set_int(c, ESMM_OPT_OPTIMIZER, optimizer);
  esmm_config_set_float(c, ESMM_OPT_LEARNING_RATE, 0.01);
  esmm_config_set_float(c, ESMM_OPT_INIT_SCALE, 0.3);
  esmm_config_set_int(c, ESMM_OPT_EPOCHS, 2);
  esmm_config_set_int(c, ESMM_OPT_DIST_CHECK_EVERY, 3);
  return c;
}

/* n rows in runs of 1..4 rows sharing a user (common) list; some rows have none. */
static esmm_dataset *data_new(const esmm_config *cfg, size_t n) {
  esmm_dataset *ds;
  int *click = calloc(n, sizeof *click), *conv = calloc(n, sizeof *conv), *field = calloc(3 * n, sizeof *field);
  int64_t *common = calloc(n, sizeof *common), *off = calloc(n + 1, sizeof *off);
  uint64_t *id = calloc(3 * n, sizeof *id);
  float *val = calloc(3 * n, sizeof *val);
  size_t k = 0, r = 0;
  uint64_t s = 12345;
  int64_t users = 0;
  FIX_EQ(esmm_dataset_new(&ds, cfg), ESMM_OK);
  while (r < n) {
    size_t run = 1 + (size_t)(s % 4);
    int cf[2] = {0, 0};
    uint64_t cid[2] = {(uint64_t)users * 7 + 1, (uint64_t)users % 5 + 500};
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    FIX_EQ(esmm_dataset_add_common(ds, 2, cf, cid, NULL, NULL), ESMM_OK);
    for (size_t j = 0; j < run && r < n; j++, r++) {
      s = s * 6364136223846793005ULL + 1442695040888963407ULL;
      click[r] = (s >> 33) % 3 == 0;
      conv[r] = click[r] && (s >> 40) % 2 == 0;
      common[r] = (s >> 20) % 7 == 0 ? -1 : users;
      field[k] = 1, id[k] = (s >> 24) % 40, val[k] = 1.0f, k++;
      field[k] = 2, id[k] = (s >> 30) % 25, val[k] = 0.5f, k++;
      if (r % 2)
        field[k] = 1, id[k] = 1000 + (s >> 45) % 9, val[k] = 2.0f, k++;
      off[r + 1] = (int64_t)k;
    }
    users++;
  }
  FIX_EQ(esmm_dataset_add_rows(ds, n, click, conv, common, off, field, id, val), ESMM_OK);
  free(click), free(conv), free(field), free(common), free(off), free(id), free(val);
  return ds;
}

/* max |a - b| / (1e-3 + |b|) over every parameter; *bitwise set when identical */
static double param_diff(esmm_model *a, esmm_model *b, int *bitwise) {
  esmm__tensor ta[32], tb[32];
  size_t na = esmm__model_tensors(a, ta, 32), nb = esmm__model_tensors(b, tb, 32);
  double worst = 0;
  FIX_EQ(na, nb);
  *bitwise = 1;
  for (size_t k = 0; k < na; k++) {
    size_t n = ta[k].rows * ta[k].cols;
    FIX_EQ(n, tb[k].rows * tb[k].cols);
    if (memcmp(ta[k].data, tb[k].data, n * sizeof(float)))
      *bitwise = 0;
    for (size_t i = 0; i < n; i++) {
      double d = fabs((double)ta[k].data[i] - tb[k].data[i]) / (1e-3 + fabs((double)tb[k].data[i]));
      if (d > worst)
        worst = d;
    }
  }
  return worst;
}

#endif /* DIST_FIXTURE_H */
