/* meta.c - the metadata a config (and so a model) carries: text key/value
 * pairs that hosts attach and model files keep (section 6 of
 * docs/model-format.md). The library stores them and never interprets them. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

int esmm__meta_key_ok(const char *key, size_t len) {
  if (len == 0 || len > ESMM__META_KEY_MAX)
    return 0;
  for (size_t i = 0; i < len; i++) {
    char c = key[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
          c == '-'))
      return 0;
  }
  return 1;
}

void esmm__meta_clear(esmm_config *dst) {
  for (size_t i = 0; i < dst->n_meta; i++) {
    free(dst->meta[i].key);
    free(dst->meta[i].value);
  }
  free(dst->meta);
  dst->meta = NULL;
  dst->n_meta = 0;
}

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

int esmm__meta_copy(esmm_config *dst, const esmm_config *src) {
  dst->meta = NULL;
  dst->n_meta = 0;
  if (src->n_meta == 0)
    return ESMM_OK;
  dst->meta = calloc(src->n_meta, sizeof *dst->meta);
  if (!dst->meta)
    return ESMM_ENOMEM;
  for (size_t i = 0; i < src->n_meta; i++) {
    dst->meta[i].key = dup_str(src->meta[i].key);
    dst->meta[i].value = dup_str(src->meta[i].value);
    dst->n_meta = i + 1;
    if (!dst->meta[i].key || !dst->meta[i].value) {
      esmm__meta_clear(dst);
      return ESMM_ENOMEM;
    }
  }
  return ESMM_OK;
}

static size_t find(const esmm_config *cfg, const char *key) {
  for (size_t i = 0; i < cfg->n_meta; i++)
    if (strcmp(cfg->meta[i].key, key) == 0)
      return i;
  return (size_t)-1;
}

int esmm_config_set_meta(esmm_config *cfg, const char *key, const char *value) {
  size_t i, vlen;
  char *v;
  ESMM__CHECK_ARG(cfg && key);
  if (!esmm__meta_key_ok(key, strlen(key)))
    return ESMM__ERR(ESMM_EINVAL, "metadata key \"%.80s\" must be 1 to %d bytes of [A-Za-z0-9_.-]", key,
                     ESMM__META_KEY_MAX);
  i = find(cfg, key);
  if (!value) {
    if (i == (size_t)-1)
      return ESMM_OK;
    free(cfg->meta[i].key);
    free(cfg->meta[i].value);
    memmove(cfg->meta + i, cfg->meta + i + 1, (cfg->n_meta - i - 1) * sizeof *cfg->meta);
    cfg->n_meta--;
    return ESMM_OK;
  }
  vlen = strlen(value);
  if (vlen > ESMM__META_VALUE_MAX)
    return ESMM__ERR(ESMM_EINVAL, "metadata %s: a value of %zu bytes is longer than %d", key, vlen,
                     ESMM__META_VALUE_MAX);
  if (!(v = dup_str(value)))
    return ESMM__ERR(ESMM_ENOMEM, "out of memory");
  if (i != (size_t)-1) {
    free(cfg->meta[i].value);
    cfg->meta[i].value = v;
    return ESMM_OK;
  }
  if (cfg->n_meta == ESMM__META_MAX) {
    free(v);
    return ESMM__ERR(ESMM_EINVAL, "a config holds at most %d metadata entries", ESMM__META_MAX);
  }
  {
    esmm__meta_entry *grown = realloc(cfg->meta, (cfg->n_meta + 1) * sizeof *grown);
    char *k = dup_str(key);
    if (!grown || !k) {
      free(k);
      free(v);
      if (grown)
        cfg->meta = grown;
      return ESMM__ERR(ESMM_ENOMEM, "out of memory");
    }
    cfg->meta = grown;
    cfg->meta[cfg->n_meta].key = k;
    cfg->meta[cfg->n_meta].value = v;
    cfg->n_meta++;
  }
  return ESMM_OK;
}

int esmm_config_meta(const esmm_config *cfg, const char *key, const char **out) {
  size_t i;
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(cfg && key);
  i = find(cfg, key);
  if (i != (size_t)-1)
    *out = cfg->meta[i].value;
  return ESMM_OK;
}

int esmm_config_meta_at(const esmm_config *cfg, size_t i, const char **key_out, const char **value_out,
                        size_t *n_out) {
  ESMM__CHECK_ARG(cfg);
  if (n_out)
    *n_out = cfg->n_meta;
  if (!key_out && !value_out)
    return ESMM_OK;
  if (i >= cfg->n_meta)
    return ESMM__ERR(ESMM_EINVAL, "metadata entry %zu out of range [0, %zu)", i, cfg->n_meta);
  if (key_out)
    *key_out = cfg->meta[i].key;
  if (value_out)
    *value_out = cfg->meta[i].value;
  return ESMM_OK;
}
