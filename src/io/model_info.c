/* io/model_info.c - esmm_model_info_*: a model file validated and
 * described (sections, tensors, config, metadata) without building the
 * model (modelfile.h). */
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

/* ---- model file information --------------------------------------------------- */

struct esmm_model_info {
  int64_t stat[ESMM_INFO_OPTIMIZER_STEPS + 1];
  size_t n_sec;
  section sec[MAX_SECTIONS];
  esmm__tensor t[MAX_TENSORS];
  size_t n_t;
  esmm_config *cfg;
  char *cfg_text; /* the config section as stored, NUL-terminated */
  size_t cfg_len;
};

static int info_impl(const ldctx *c, esmm_model_info **out, const unsigned char *b, size_t len) {
  parsed P;
  esmm_model_info *info;
  double params = 0;
  ESMM__TRY(esmm__mf_parse(c, b, len, -1, NULL, &P));
  info = calloc(1, sizeof *info);
  if (info)
    info->cfg_text = malloc((size_t)P.sec[0].size + 1);
  if (!info || !info->cfg_text) {
    free(info);
    esmm_config_free(P.cfg);
    return esmm__mf_fail(c, ESMM_ENOMEM, "out of memory");
  }
  memcpy(info->cfg_text, b + P.sec[0].off, (size_t)P.sec[0].size);
  info->cfg_text[P.sec[0].size] = '\0';
  info->cfg_len = (size_t)P.sec[0].size;
  info->cfg = P.cfg;
  info->n_t = P.n_want;
  memcpy(info->t, P.want, P.n_want * sizeof *P.want);
  for (size_t i = 0; i < P.n_want; i++)
    params += (double)P.want[i].rows * (double)P.want[i].cols;
  /* the table, in file order (check_container validated it) */
  info->n_sec = esmm__get_u32(b + 12);
  for (size_t i = 0; i < info->n_sec; i++) {
    const unsigned char *e = b + FIXED_HEADER + ENTRY_SIZE * i;
    info->sec[i].kind = esmm__get_u32(e);
    info->sec[i].off = esmm__get_u64(e + 8);
    info->sec[i].size = esmm__get_u64(e + 16);
    info->sec[i].crc = esmm__get_u32(e + 24);
  }
  info->stat[ESMM_INFO_FORMAT_VERSION] = P.version;
  info->stat[ESMM_INFO_BYTES] = (int64_t)len;
  info->stat[ESMM_INFO_CHECKPOINT] = P.ckpt;
  info->stat[ESMM_INFO_SECTIONS] = (int64_t)info->n_sec;
  info->stat[ESMM_INFO_TENSORS] = (int64_t)P.n_want;
  info->stat[ESMM_INFO_PARAMETERS] = (int64_t)params;
  if (P.ckpt) {
    info->stat[ESMM_INFO_STEP] = P.cv.st.step;
    info->stat[ESMM_INFO_EPOCH] = P.cv.st.epoch;
    info->stat[ESMM_INFO_SAMPLES] = P.cv.st.samples;
    info->stat[ESMM_INFO_EPOCH_POSITION] = (int64_t)P.cv.st.cursor;
    info->stat[ESMM_INFO_EPOCH_ROWS] = (int64_t)P.cv.st.perm_n;
    info->stat[ESMM_INFO_OPTIMIZER_STEPS] = P.cv.t;
  }
  *out = info;
  return ESMM_OK;
}

int esmm_model_info_open_buffer(esmm_model_info **out, const void *buf, size_t len) {
  ldctx c = {__func__, NULL};
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(buf);
  return info_impl(&c, out, buf, len);
}

int esmm_model_info_open(esmm_model_info **out, const char *path) {
  ldctx c = {__func__, path};
  unsigned char *buf;
  size_t len;
  int rc;
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(path);
  ESMM__TRY(esmm__mf_read_whole(&c, NULL, &buf, &len));
  rc = info_impl(&c, out, buf, len);
  esmm__free(NULL, buf);
  return rc;
}

void esmm_model_info_free(esmm_model_info *info) {
  if (!info)
    return;
  esmm_config_free(info->cfg);
  free(info->cfg_text);
  free(info);
}

int esmm_model_info_stat(const esmm_model_info *info, int key, int64_t *out) {
  ESMM__CHECK_ARG(info && out);
  if (key < 0 || key > ESMM_INFO_OPTIMIZER_STEPS)
    return ESMM__ERR(ESMM_EINVAL, "unknown key %d", key);
  *out = info->stat[key];
  return ESMM_OK;
}

int esmm_model_info_section(const esmm_model_info *info, size_t i, uint32_t *kind_out, uint64_t *offset_out,
                            uint64_t *size_out, uint32_t *crc_out) {
  ESMM__CHECK_ARG(info);
  if (i >= info->n_sec)
    return ESMM__ERR(ESMM_EINVAL, "section %zu out of range [0, %zu)", i, info->n_sec);
  if (kind_out)
    *kind_out = info->sec[i].kind;
  if (offset_out)
    *offset_out = info->sec[i].off;
  if (size_out)
    *size_out = info->sec[i].size;
  if (crc_out)
    *crc_out = info->sec[i].crc;
  return ESMM_OK;
}

const char *esmm_model_info_section_name(uint32_t kind) {
  static const char *const names[] = {"config",          "tensor index",   "tensor data",
                                      "optimizer state", "training state", "metadata"};
  return kind >= 1 && kind <= ESMM__SECTION_KINDS ? names[kind - 1] : NULL;
}

int esmm_model_info_tensor(const esmm_model_info *info, size_t i, const char **name_out, uint64_t *rows_out,
                           uint64_t *cols_out) {
  ESMM__CHECK_ARG(info);
  if (i >= info->n_t)
    return ESMM__ERR(ESMM_EINVAL, "tensor %zu out of range [0, %zu)", i, info->n_t);
  if (name_out)
    *name_out = info->t[i].name;
  if (rows_out)
    *rows_out = info->t[i].rows;
  if (cols_out)
    *cols_out = info->t[i].cols;
  return ESMM_OK;
}

int esmm_model_info_config(const esmm_model_info *info, const esmm_config **cfg_out, const char **text_out,
                           size_t *len_out) {
  ESMM__CHECK_ARG(info);
  if (cfg_out)
    *cfg_out = info->cfg;
  if (text_out)
    *text_out = info->cfg_text;
  if (len_out)
    *len_out = info->cfg_len;
  return ESMM_OK;
}
