/* io/model_load.c - building a model, or a checkpoint's training state,
 * from a validated file, and the esmm_model_load* calls (modelfile.h).
 * Nothing is built until the whole file has been validated
 * (model_check.c): a corrupt file is refused, never half-loaded. */
#include "modelfile.h"

#include "atomic.h"
#include "config.h"
#include "optimizer.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* Copy a validated checkpoint into the freshly built model m: file block
 * i is the state of tensor i, i.e. of optimizer block blk[i]. The shapes
 * were checked against the config in check_ckpt; a mismatch with the built
 * model here would be a bug of ours, not a bad file. */
static int apply_ckpt(const ldctx *c, esmm_model *m, const ckpt_view *v) {
  esmm_optimizer *op = m->opt;
  const unsigned char *q = v->arrays;
  int blk[MAX_TENSORS];
  size_t nb = esmm__model_blocks(m, blk, MAX_TENSORS);
  if (nb != v->n_blocks || op->n_blocks != (int)nb)
    return esmm__mf_fail(c, ESMM_ERROR, "internal: the model has %zu tensor blocks and %d optimizer blocks, the checkpoint %u",
                nb, op->n_blocks, (unsigned)v->n_blocks);
  for (uint32_t k = 0; k < v->n_blocks; k++) {
    const unsigned char *h = v->blocks + (size_t)k * OPT_BLOCK_HEAD;
    size_t rows = 0, cols = 0;
    if (esmm__optimizer_block_shape(op, blk[k], &rows, &cols) != ESMM_OK || esmm__get_u64(h) != rows ||
        esmm__get_u64(h + 8) != cols)
      return esmm__mf_fail(c, ESMM_ERROR, "internal: checkpoint block %u is %llu x %llu, the model's block %d is %zu x %zu",
                  (unsigned)k, (unsigned long long)esmm__get_u64(h), (unsigned long long)esmm__get_u64(h + 8), blk[k], rows, cols);
  }
  for (uint32_t k = 0; k < v->n_blocks; k++) {
    float *s1 = NULL, *s2 = NULL;
    size_t n = 0;
    (void)esmm__optimizer_state(op, blk[k], &s1, &s2, &n);
    for (uint32_t a = 0; a < v->n_arrays; a++) {
      float *dst = a == 0 ? s1 : s2;
      if (!dst)
        return esmm__mf_fail(c, ESMM_ERROR, "internal: optimizer block %u has no array %u", (unsigned)k, (unsigned)a);
      for (size_t i = 0; i < n; i++, q += 4)
        dst[i] = esmm__bits_f32(esmm__get_u32(q));
    }
  }
  esmm__optimizer_set_steps(op, v->t);
  esmm__model_set_train_state(m, &v->st);
  return ESMM_OK;
}

static int load_impl(const ldctx *c, esmm_model **out, const unsigned char *b, size_t len, const esmm_config *hooks,
                     int ckpt, const changes *ch) {
  parsed P;
  esmm__tensor got[MAX_TENSORS];
  esmm_model *m = NULL;
  size_t n_got;
  int rc;

  ESMM__TRY(esmm__mf_parse(c, b, len, ckpt, ch, &P));
  /* Everything is validated: only now build (and allocate) the model. */
  esmm__mf_apply_hooks(P.cfg, hooks);
  rc = esmm__model_create(&m, P.cfg, c->func);
  if (rc != ESMM_OK) {
    char why[512];
    snprintf(why, sizeof why, "%s", esmm_last_error());
    esmm_config_free(P.cfg);
    if (rc == ESMM_ENOMEM)
      return rc;
    return esmm__mf_fail(c, ESMM_ECORRUPT, "the file's configuration cannot build a model: %s", why);
  }
  esmm_config_free(P.cfg);

  n_got = esmm__model_tensors(m, got, MAX_TENSORS);
  if (n_got != P.n_want) {
    esmm_model_free(m);
    return esmm__mf_fail(c, ESMM_ERROR, "internal: the model has %zu tensors, the loader expected %zu", n_got, P.n_want);
  }
  for (size_t i = 0; i < n_got; i++)
    if (strcmp(got[i].name, P.want[i].name) != 0 || got[i].rows != P.want[i].rows || got[i].cols != P.want[i].cols) {
      esmm_model_free(m);
      return esmm__mf_fail(c, ESMM_ERROR, "internal: model tensor %zu (%s %zu x %zu) differs from the loader's %s", i,
                  got[i].name, got[i].rows, got[i].cols, P.want[i].name);
    }
  for (size_t i = 0; i < n_got; i++) {
    const unsigned char *q = b + P.off[i];
    size_t n = got[i].rows * got[i].cols;
    for (size_t k = 0; k < n; k++)
      got[i].data[k] = esmm__bits_f32(esmm__get_u32(q + 4 * k));
  }
  if (ckpt && (rc = apply_ckpt(c, m, &P.cv)) != ESMM_OK) {
    esmm_model_free(m);
    return rc;
  }
  *out = m;
  return ESMM_OK;
}

int esmm_model_load_buffer(esmm_model **out, const void *buf, size_t len, const esmm_config *hooks) {
  ldctx c = {__func__, NULL};
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(buf);
  return load_impl(&c, out, buf, len, hooks, 0, NULL);
}

int esmm_model_load_checkpoint_buffer(esmm_model **out, const void *buf, size_t len, const esmm_config *hooks) {
  ldctx c = {__func__, NULL};
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(buf);
  return load_impl(&c, out, buf, len, hooks, 1, NULL);
}


static int load_file(esmm_model **out, const char *path, const esmm_config *hooks, int ckpt, const changes *ch,
                     const char *func) {
  ldctx c = {func, path};
  const esmm__allocator *a = hooks ? &hooks->alloc : NULL;
  unsigned char *buf;
  size_t len;
  int rc;

  if (!out)
    return esmm__error(ESMM_EINVAL, func, "invalid argument: out");
  *out = NULL;
  if (!path)
    return esmm__error(ESMM_EINVAL, func, "invalid argument: path");
  ESMM__TRY(esmm__mf_read_whole(&c, a, &buf, &len));
  rc = load_impl(&c, out, buf, len, hooks, ckpt, ch);
  esmm__free(a, buf);
  return rc;
}

int esmm_model_load(esmm_model **out, const char *path, const esmm_config *hooks) {
  return load_file(out, path, hooks, 0, NULL, __func__);
}

int esmm_model_load_checkpoint(esmm_model **out, const char *path, const esmm_config *hooks) {
  return load_file(out, path, hooks, 1, NULL, __func__);
}

static int check_changes(const esmm_config *cfg, const esmm_opt *opts, size_t n, const char *func) {
  if (n && (!cfg || !opts))
    return esmm__error(ESMM_EINVAL, func, "invalid argument: %s is NULL with n_opts %zu", !cfg ? "changes" : "opts",
                       n);
  return ESMM_OK;
}

int esmm_model_load_v2(esmm_model **out, const char *path, const esmm_config *hooks, const esmm_config *changes_cfg,
                       const esmm_opt *opts, size_t n_opts) {
  changes ch = {changes_cfg, opts, n_opts};
  if (out)
    *out = NULL;
  ESMM__TRY(check_changes(changes_cfg, opts, n_opts, __func__));
  return load_file(out, path, hooks, 0, &ch, __func__);
}

int esmm_model_load_checkpoint_v2(esmm_model **out, const char *path, const esmm_config *hooks,
                                  const esmm_config *changes_cfg, const esmm_opt *opts, size_t n_opts) {
  changes ch = {changes_cfg, opts, n_opts};
  if (out)
    *out = NULL;
  ESMM__TRY(check_changes(changes_cfg, opts, n_opts, __func__));
  return load_file(out, path, hooks, 1, &ch, __func__);
}

/* ---- metadata of a model ------------------------------------------------------ */

int esmm_model_set_meta(esmm_model *m, const char *key, const char *value) {
  ESMM__CHECK_ARG(m && key);
  return esmm_config_set_meta(m->cfg, key, value);
}

int esmm_model_meta(const esmm_model *m, const char *key, const char **out) {
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(m && key);
  return esmm_config_meta(m->cfg, key, out);
}
