/*
 * config.h (internal) - the layout of esmm_config and typed accessors for
 * the modules that consume a config. Owns the option table (config.c):
 * names, types, bounds and defaults of every option, which drives the
 * setters, the by-name parser and the config section of model files.
 * Knows nothing of models or data.
 */
#ifndef ESMM__CONFIG_H
#define ESMM__CONFIG_H

#include "internal.h"

#define ESMM__MAX_LAYERS 8
#define ESMM__MAX_OPTS 96 /* capacity for the option table's rows */

typedef union esmm__optval {
  int64_t i;
  double f;
} esmm__optval;

struct esmm_config {
  esmm__optval v[ESMM__MAX_OPTS]; /* indexed by table row */
  int64_t ctr_tower[ESMM__MAX_LAYERS];
  size_t n_ctr;
  int64_t cvr_tower[ESMM__MAX_LAYERS];
  size_t n_cvr;
  size_t n_fields;
  char (*names)[ESMM_MAX_FIELD_NAME + 1]; /* n_fields names (malloc) */
  int64_t *buckets;                       /* n_fields counts, 0 = default */
  esmm__allocator alloc;
  esmm__logger log;
  /* metadata (esmm_config_set_meta; meta.c): n_meta key/value strings in
   * the order they were first set, each malloc'd */
  struct esmm__meta_entry *meta;
  size_t n_meta;
};

/* Metadata limits: keys of [A-Za-z0-9_.-], values of any bytes but NUL. */
#define ESMM__META_KEY_MAX 63
#define ESMM__META_VALUE_MAX 65536
#define ESMM__META_MAX 256

typedef struct esmm__meta_entry {
  char *key, *value;
} esmm__meta_entry;

/* Free dst's metadata (meta.c). */
void esmm__meta_clear(esmm_config *dst);
/* Give dst a deep copy of src's metadata; dst's own pointers are
 * overwritten, not freed (dst is a fresh struct copy of a config).
 * ESMM_ENOMEM leaves dst without metadata. */
int esmm__meta_copy(esmm_config *dst, const esmm_config *src);
/* 1 when key is a valid metadata key. */
int esmm__meta_key_ok(const char *key, size_t len);

/* Typed reads of a valid config; opt must be a known scalar option. */
int64_t esmm__config_int(const esmm_config *c, esmm_opt opt);
double esmm__config_float(const esmm_config *c, esmm_opt opt);
/* Hidden sizes of a tower option. */
const int64_t *esmm__config_tower(const esmm_config *c, esmm_opt opt, size_t *n);
/* Bucket count of field f with 0 resolved to ESMM_OPT_HASH_BUCKETS. */
int64_t esmm__config_buckets(const esmm_config *c, size_t f);
/* 1 when the two configs have the same field names in the same order. */
int esmm__config_same_fields(const esmm_config *a, const esmm_config *b);

/* Serialise every option and the field list as "name=value\n" lines (the
 * config section of model files). Two-call: returns the length needed in
 * *len_out; writes only when cap suffices (ESMM_EBUFS otherwise). */
int esmm__config_to_text(const esmm_config *c, char *buf, size_t cap, size_t *len_out);
/* Apply "name=value\n" lines to c (unknown names are an error). */
int esmm__config_from_text(esmm_config *c, const char *text, size_t len);

/* Use cfg when given, else a fresh default config in *tmp (freed by the
 * caller with esmm_config_free). Returns the config to read. */
int esmm__config_or_default(const esmm_config *cfg, esmm_config **tmp, const esmm_config **out);

#endif /* ESMM__CONFIG_H */
