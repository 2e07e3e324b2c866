/*
 * io/sink.h (internal) - where parsed rows go. A reader knows only this
 * interface: batches of valid rows (esmm__rows, dataset.h), common lists,
 * an optional size hint, and the report at the end. Two implementations:
 * an in-memory dataset (io/ds_sink.c, through dataset.c's append
 * functions) and the streaming cache writer (io/cache.c). Knows no format.
 */
#ifndef ESMM__IO_SINK_H
#define ESMM__IO_SINK_H

#include "dataset.h"

typedef struct esmm__sink esmm__sink;

/* Every operation returns ESMM_OK or a negative status with the message
 * already set (naming func of the sink). */
struct esmm__sink {
  const char *func; /* public function, first part of every message */
  /* Append a batch of rows (and the rows skipped among them). */
  int (*rows)(esmm__sink *s, const esmm__rows *b);
  /* Append a common list; *index_out = its index. */
  int (*common)(esmm__sink *s, size_t nnz, const int *field, const uint64_t *id, const float *value,
                int64_t *index_out);
  /* Expected totals (a hint; may be wrong either way). May be NULL. */
  int (*reserve)(esmm__sink *s, size_t rows, size_t nnz, size_t commons, size_t com_nnz);
  /* The read is complete: store the report. Called once, after the last rows. */
  int (*finish)(esmm__sink *s, const esmm__report *rep);
};

/* The in-memory dataset sink (io/ds_sink.c). */
typedef struct esmm__ds_sink {
  esmm__sink base;
  esmm_dataset *ds;
} esmm__ds_sink;

/* A new empty dataset with cfg's field list, dense width and allocator
 * (cfg must be valid). On failure nothing is left to release. */
int esmm__ds_sink_init(esmm__ds_sink *s, const esmm_config *cfg, const char *func);
/* The dataset, handed over (NULL after the first call). */
esmm_dataset *esmm__ds_sink_take(esmm__ds_sink *s);
/* Free the dataset unless it was taken. */
void esmm__ds_sink_release(esmm__ds_sink *s);

/* A read into a new dataset, the shared tail of every esmm_dataset_read*
 * call: the default config when cfg is NULL, a dataset sink, read(cfg,
 * func, arg, sink), and the dataset handed to *out only on success. */
typedef int (*esmm__read_fn)(const esmm_config *cfg, const char *func, const void *arg, esmm__sink *sink);
int esmm__read_to_dataset(esmm_dataset **out, const esmm_config *cfg, const char *func, esmm__read_fn read,
                          const void *arg);

#endif /* ESMM__IO_SINK_H */
