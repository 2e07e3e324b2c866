/* dump_rows.c - what libesmm makes of a text file, row by row, for the
 * cross-check of bench/torch/esmm_torch.py (`make bench-torch-check`).
 *
 *   dump_rows FILE BUCKETS [MAX_ROWS]
 *
 * reads FILE with esmm_dataset_read_text (default config: the 23 default
 * fields) and prints, for each row, "click conversion" then " row:value"
 * for each feature, where row is the embedding table row libesmm trains
 * (esmm__embedding_row of a table with BUCKETS rows per field), features
 * ordered by field, then by their order in the line; values as %.9g.
 * esmm_torch.py --dump-rows prints the same for its own reader and hash.
 * Exit status 0 on success. */
#include <stdio.h>
#include <stdlib.h>

#include <esmm/esmm.h>

#include "embedding.h"

static int fail(const char *what, int rc) {
  fprintf(stderr, "dump_rows: %s: %s (%s)\n", what, esmm_strerror(rc), esmm_last_error());
  return 1;
}

int main(int argc, char **argv) {
  esmm_config *cfg = NULL;
  esmm_dataset *ds = NULL;
  esmm_embedding *emb = NULL;
  int64_t buckets[ESMM_MAX_FIELDS], rows = 0, max_rows;
  size_t nf = 0;
  int rc, status = 1;
  esmm__allocator a = esmm__allocator_default();

  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: dump_rows FILE BUCKETS [MAX_ROWS]\n");
    return 2;
  }
  max_rows = argc == 4 ? strtoll(argv[3], NULL, 10) : INT64_MAX;
  if ((rc = esmm_config_new(&cfg)) || (rc = esmm_config_set_by_name(cfg, "hash_buckets", argv[2])))
    return fail("config", rc);
  if ((rc = esmm_config_field_count(cfg, &nf))) {
    status = fail("config", rc);
    goto done;
  }
  for (size_t f = 0; f < nf; f++)
    buckets[f] = strtoll(argv[2], NULL, 10);
  /* dim 1: only the row function is used */
  if ((rc = esmm__embedding_create(&emb, &a, nf, buckets, 1, 0.0, 1))) {
    status = fail("embedding", rc);
    goto done;
  }
  if ((rc = esmm_dataset_read_text(&ds, cfg, argv[1]))) {
    status = fail("read", rc);
    goto done;
  }
  esmm_dataset_stat(ds, ESMM_DS_ROWS, &rows);
  if (rows > max_rows)
    rows = max_rows;
  for (int64_t i = 0; i < rows; i++) {
    int click, conv;
    int64_t common;
    size_t nnz;
    const int *field;
    const uint64_t *id;
    const float *value;
    if ((rc = esmm_dataset_row(ds, (size_t)i, &click, &conv, &common, &nnz, &field, &id, &value))) {
      status = fail("row", rc);
      goto done;
    }
    printf("%d %d", click, conv);
    for (size_t f = 0; f < nf; f++)
      for (size_t k = 0; k < nnz; k++)
        if ((size_t)field[k] == f)
          printf(" %lld:%.9g", (long long)esmm__embedding_row(emb, field[k], id[k]), (double)value[k]);
    printf("\n");
  }
  status = ferror(stdout) ? 1 : 0;
done:
  esmm_embedding_free(emb);
  esmm_dataset_free(ds);
  esmm_config_free(cfg);
  return status;
}
