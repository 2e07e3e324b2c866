/* io/ds_sink.c - the in-memory dataset as a row sink (io/sink.h): every
 * write goes through dataset.c's append functions. */
#include "sink.h"

#include "config.h"

#include <string.h>

static esmm_dataset *ds_of(esmm__sink *s) { return ((esmm__ds_sink *)s)->ds; }

static int oom(const esmm__sink *s, int rc) {
  return esmm__error(rc, s->func, "%s", rc == ESMM_ENOMEM ? "out of memory" : "cannot store rows");
}

static int ds_rows(esmm__sink *s, const esmm__rows *b) {
  int rc = esmm__dataset_append(ds_of(s), b);
  return rc < 0 ? oom(s, rc) : ESMM_OK;
}

static int ds_common(esmm__sink *s, size_t nnz, const int *field, const uint64_t *id, const float *value,
                     int64_t *index_out) {
  int rc = esmm__dataset_append_common(ds_of(s), nnz, field, id, value, index_out);
  return rc < 0 ? oom(s, rc) : ESMM_OK;
}

static int ds_reserve(esmm__sink *s, size_t rows, size_t nnz, size_t commons, size_t com_nnz) {
  /* A hint: failing to reserve is not an error, the arrays grow anyway. */
  (void)esmm__dataset_reserve(ds_of(s), rows, nnz, commons, com_nnz);
  return ESMM_OK;
}

static int ds_finish(esmm__sink *s, const esmm__report *rep) {
  ds_of(s)->rep = *rep;
  return ESMM_OK;
}

int esmm__ds_sink_init(esmm__ds_sink *s, const esmm_config *cfg, const char *func) {
  int rc;
  memset(s, 0, sizeof *s);
  s->base.func = func;
  s->base.rows = ds_rows;
  s->base.common = ds_common;
  s->base.reserve = ds_reserve;
  s->base.finish = ds_finish;
  rc = esmm__dataset_create(&s->ds, &cfg->alloc, cfg->n_fields, (const char(*)[ESMM_MAX_FIELD_NAME + 1])cfg->names);
  if (rc == ESMM_OK)
    rc = esmm__dataset_set_dense_width(s->ds, (size_t)esmm__config_int(cfg, ESMM_OPT_DENSE_FEATURES));
  if (rc < 0) {
    esmm_dataset_free(s->ds);
    s->ds = NULL;
    return esmm__error(ESMM_ENOMEM, func, "out of memory");
  }
  return ESMM_OK;
}

esmm_dataset *esmm__ds_sink_take(esmm__ds_sink *s) {
  esmm_dataset *ds = s->ds;
  s->ds = NULL;
  return ds;
}

void esmm__ds_sink_release(esmm__ds_sink *s) {
  esmm_dataset_free(s->ds);
  s->ds = NULL;
}

int esmm__read_to_dataset(esmm_dataset **out, const esmm_config *cfg, const char *func, esmm__read_fn read,
                          const void *arg) {
  esmm_config *tmp = NULL;
  const esmm_config *c = NULL;
  esmm__ds_sink s;
  int rc = esmm__config_or_default(cfg, &tmp, &c);
  if (rc < 0)
    return esmm__error(rc, func, "cannot create the default config (%s)", esmm_strerror(rc));
  rc = esmm__ds_sink_init(&s, c, func);
  if (rc == ESMM_OK) {
    rc = read(c, func, arg, &s.base);
    if (rc == ESMM_OK)
      *out = esmm__ds_sink_take(&s);
    esmm__ds_sink_release(&s);
  }
  esmm_config_free(tmp);
  return rc;
}
