/* io/model_check.c - validation of a model file's bytes before anything
 * is built (modelfile.h). Every read of untrusted bytes goes through the
 * bounds-checked reader: a file of any content and any length is refused
 * with a status, never read out of bounds. */
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

/* ---- loading ----------------------------------------------------------------- */


int esmm__mf_fail(const ldctx *c, int status, const char *fmt, ...) {
  char msg[900];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (c->path)
    return esmm__error(status, c->func, "%s: %s", c->path, msg);
  return esmm__error(status, c->func, "%s", msg);
}


static int valid_name(const unsigned char *s, size_t n) {
  if (n == 0 || n > NAME_MAX_LEN)
    return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned ch = s[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
          ch == '.'))
      return 0;
  }
  return 1;
}

/* Header, section table, section bounds, gaps and checksums. On success
 * sec[k-1] holds the section of kind k and have[k-1] says whether the file
 * has one (kinds 1-3 always; 4 and 5 in checkpoints; 6 with metadata);
 * *version_out is the format version. Sections of unknown kinds that
 * version 2 marks optional are checked (bounds, CRC) and otherwise ignored. */
static int check_container(const ldctx *c, const unsigned char *b, size_t len, section sec[ESMM__SECTION_KINDS],
                           int have[ESMM__SECTION_KINDS], uint32_t *version_out) {
  mf_reader r = {b, len, 0, 1};
  section all[MAX_SECTIONS];
  size_t order[MAX_SECTIONS];
  uint32_t version, flags, n;
  uint64_t declared;
  size_t hdr, prev_end;
  memset(have, 0, ESMM__SECTION_KINDS * sizeof *have);

  if (len < 4)
    return esmm__mf_fail(c, ESMM_ECORRUPT, "truncated: %zu bytes, a model file has at least %zu", len, header_size(0));
  if (memcmp(b, "ESMM", 4) != 0)
    return esmm__mf_fail(c, ESMM_ECORRUPT, "not a libesmm model file (bad magic)");
  if (len < FIXED_HEADER)
    return esmm__mf_fail(c, ESMM_ECORRUPT, "truncated: %zu bytes, a model file has at least %zu", len, header_size(0));
  rd_take(&r, 4);
  version = rd_u32(&r);
  flags = rd_u32(&r);
  n = rd_u32(&r);
  declared = rd_u64(&r);
  /* The version is checked before anything else it could redefine. */
  if (version > ESMM__FORMAT_VERSION)
    return esmm__mf_fail(c, ESMM_EVERSION,
                "the file has model format version %u; this libesmm (%s) reads format versions up to %u",
                (unsigned)version, ESMM_VERSION_STRING, (unsigned)ESMM__FORMAT_VERSION);
  if (version == 0)
    return esmm__mf_fail(c, ESMM_ECORRUPT, "format version 0 is not valid");
  if (declared != (uint64_t)len)
    return esmm__mf_fail(c, ESMM_ECORRUPT, "%s: %zu bytes, header says %llu",
                declared > (uint64_t)len ? "truncated" : "wrong size", len, (unsigned long long)declared);
  if (n < 3 || n > MAX_SECTIONS)
    return esmm__mf_fail(c, ESMM_ECORRUPT, "section count %u is outside [3, %u]", (unsigned)n, MAX_SECTIONS);
  hdr = header_size(n);
  if (hdr > len)
    return esmm__mf_fail(c, ESMM_ECORRUPT, "truncated: %zu bytes, the header of %u sections needs %zu", len, (unsigned)n, hdr);
  if (esmm__get_u32(b + hdr - 4) != esmm__crc32(0, b, hdr - 4) && CRC_FATAL)
    return esmm__mf_fail(c, ESMM_ECORRUPT, "header checksum mismatch (stored %08x, computed %08x)",
                (unsigned)esmm__get_u32(b + hdr - 4), (unsigned)esmm__crc32(0, b, hdr - 4));
  if (flags != 0)
    return esmm__mf_fail(c, ESMM_ECORRUPT, "unknown flags 0x%08x (format versions 1 and 2 define none)", (unsigned)flags);
  *version_out = version;

  for (uint32_t i = 0; i < n; i++) {
    section *s = &all[i];
    uint32_t res1, res2;
    s->kind = rd_u32(&r);
    res1 = rd_u32(&r);
    s->off = rd_u64(&r);
    s->size = rd_u64(&r);
    s->crc = rd_u32(&r);
    res2 = rd_u32(&r);
    if (!r.ok) /* cannot happen: hdr <= len was checked */
      return esmm__mf_fail(c, ESMM_ECORRUPT, "truncated section table");
    /* version 1: the word after the kind is reserved (0); version 2: flags */
    if ((version == 1 ? res1 != 0 : (res1 & ~ESMM__SECTION_OPTIONAL) != 0) || res2 != 0)
      return esmm__mf_fail(c, ESMM_ECORRUPT, "section %u: reserved fields are not zero", (unsigned)i);
    if (s->kind < ESMM__SECTION_CONFIG ||
        s->kind > (version == 1 ? ESMM__SECTION_TRAINING : ESMM__SECTION_KINDS)) {
      if (version == 1 || s->kind == 0)
        return esmm__mf_fail(c, ESMM_ECORRUPT, "section %u has unknown kind %u", (unsigned)i, (unsigned)s->kind);
      if (!(res1 & ESMM__SECTION_OPTIONAL))
        return esmm__mf_fail(c, ESMM_EVERSION, "section %u has kind %u, which this libesmm (%s) does not know and the file "
                    "marks as required", (unsigned)i, (unsigned)s->kind, ESMM_VERSION_STRING);
    }
    if (s->off < hdr || s->off > len || s->size > len - s->off)
      return esmm__mf_fail(c, ESMM_ECORRUPT, "section %u (kind %u) at [%llu, +%llu) lies outside the file body [%zu, %zu)",
                  (unsigned)i, (unsigned)s->kind, (unsigned long long)s->off, (unsigned long long)s->size, hdr,
                  len);
    if (s->kind >= ESMM__SECTION_CONFIG && s->kind <= ESMM__SECTION_KINDS) {
      if (have[s->kind - 1])
        return esmm__mf_fail(c, ESMM_ECORRUPT, "section kind %u appears twice", (unsigned)s->kind);
      have[s->kind - 1] = 1;
      sec[s->kind - 1] = *s;
    }
    /* insertion sort by offset, for the overlap and gap checks */
    {
      size_t j = i;
      while (j > 0 && all[order[j - 1]].off > s->off) {
        order[j] = order[j - 1];
        j--;
      }
      order[j] = i;
    }
  }
  for (int k = 0; k < 3; k++)
    if (!have[k])
      return esmm__mf_fail(c, ESMM_ECORRUPT, "the required section of kind %d is missing", k + 1);

  /* Sections must not overlap, and every byte outside the header and the
   * sections must be zero padding: then no byte of a file escapes both
   * checksums and the checks. */
  prev_end = hdr;
  for (uint32_t i = 0; i <= n; i++) {
    size_t start = i < n ? (size_t)all[order[i]].off : len;
    if (start < prev_end) /* only for i < n: every section ends inside the file */
      return esmm__mf_fail(c, ESMM_ECORRUPT, "section %zu overlaps the one before it", order[i < n ? i : 0]);
    for (size_t k = prev_end; k < start; k++)
      if (b[k] != 0)
        return esmm__mf_fail(c, ESMM_ECORRUPT, "padding byte at offset %zu is not zero", k);
    if (i < n)
      prev_end = start + (size_t)all[order[i]].size;
  }

  for (uint32_t i = 0; i < n; i++) {
    uint32_t crc = esmm__crc32(0, b + all[i].off, (size_t)all[i].size);
    if (crc != all[i].crc && CRC_FATAL)
      return esmm__mf_fail(c, ESMM_ECORRUPT, "section %u (kind %u) checksum mismatch (stored %08x, computed %08x)",
                  (unsigned)i, (unsigned)all[i].kind, (unsigned)all[i].crc, (unsigned)crc);
  }
  return ESMM_OK;
}

/* Parse the config section into a fresh config. */
static int read_config(const ldctx *c, const unsigned char *text, size_t len, esmm_config **out) {
  esmm_config *cfg;
  int rc;
  *out = NULL;
  if (memchr(text, '\0', len))
    return esmm__mf_fail(c, ESMM_ECORRUPT, "config section: contains a NUL byte");
  ESMM__TRY(esmm_config_new(&cfg));
  rc = esmm__config_from_text(cfg, (const char *)text, len);
  if (rc != ESMM_OK) {
    char why[512];
    snprintf(why, sizeof why, "%s", esmm_last_error());
    esmm_config_free(cfg);
    if (rc == ESMM_ENOMEM)
      return rc;
    return esmm__mf_fail(c, ESMM_ECORRUPT, "config section: %s", why);
  }
  *out = cfg;
  return ESMM_OK;
}

/* Check the tensor index against the shapes the config implies, and every
 * float of the data section; off_out[i] receives tensor i's file offset. */
static int check_tensors(const ldctx *c, const unsigned char *b, const section *idx, const section *data,
                         const esmm__tensor *want, size_t n_want, uint64_t *off_out) {
  mf_reader r = {b + idx->off, (size_t)idx->size, 0, 1};
  uint32_t count = rd_u32(&r);
  uint64_t prev_end = 0;
  if (!r.ok)
    return esmm__mf_fail(c, ESMM_ECORRUPT, "tensor index: truncated before the tensor count");
  if (count != n_want)
    return esmm__mf_fail(c, ESMM_ECORRUPT, "tensor index: %u tensors, the file's config implies %zu", (unsigned)count,
                n_want);
  if (data->off % DATA_ALIGN != 0)
    return esmm__mf_fail(c, ESMM_ECORRUPT, "tensor data section at offset %llu is not %u-byte aligned",
                (unsigned long long)data->off, DATA_ALIGN);
  for (size_t i = 0; i < n_want; i++) {
    uint32_t nl = rd_u32(&r), dtype, rank;
    const unsigned char *name = rd_take(&r, nl);
    uint64_t rows, cols, off, nbytes;
    dtype = rd_u32(&r);
    rank = rd_u32(&r);
    if (!r.ok)
      return esmm__mf_fail(c, ESMM_ECORRUPT, "tensor index: truncated in entry %zu", i);
    if (!valid_name(name, nl))
      return esmm__mf_fail(c, ESMM_ECORRUPT, "tensor index: entry %zu has an invalid name", i);
    if (nl != strlen(want[i].name) || memcmp(name, want[i].name, nl) != 0)
      return esmm__mf_fail(c, ESMM_ECORRUPT, "tensor index: entry %zu is \"%.*s\", expected \"%s\"", i, (int)nl,
                  (const char *)name, want[i].name);
    if (dtype != DTYPE_F32)
      return esmm__mf_fail(c, ESMM_ECORRUPT, "tensor %s: unknown dtype %u (1 = f32)", want[i].name, (unsigned)dtype);
    if (rank != TENSOR_RANK)
      return esmm__mf_fail(c, ESMM_ECORRUPT, "tensor %s: rank %u, expected 2", want[i].name, (unsigned)rank);
    rows = rd_u64(&r);
    cols = rd_u64(&r);
    off = rd_u64(&r);
    if (!r.ok)
      return esmm__mf_fail(c, ESMM_ECORRUPT, "tensor index: truncated in entry %zu", i);
    if (rows != want[i].rows || cols != want[i].cols)
      return esmm__mf_fail(c, ESMM_ECORRUPT, "tensor %s is %llu x %llu, the file's config implies %llu x %llu", want[i].name,
                  (unsigned long long)rows, (unsigned long long)cols, (unsigned long long)want[i].rows,
                  (unsigned long long)want[i].cols);
    nbytes = tensor_bytes(rows, cols); /* bounded by the config: no overflow */
    if (off % DATA_ALIGN != 0 || off < prev_end || off > data->size || nbytes > data->size - off)
      return esmm__mf_fail(c, ESMM_ECORRUPT,
                  "tensor %s at [%llu, +%llu) is misaligned, overlaps or lies outside the %llu-byte data section",
                  want[i].name, (unsigned long long)off, (unsigned long long)nbytes, (unsigned long long)data->size);
    prev_end = off + nbytes;
    off_out[i] = data->off + off;
  }
  if (r.pos != r.len)
    return esmm__mf_fail(c, ESMM_ECORRUPT, "tensor index: %zu unexpected bytes after the last entry", r.len - r.pos);
  for (size_t i = 0; i < n_want; i++) {
    const unsigned char *q = b + off_out[i];
    uint64_t n = want[i].rows * want[i].cols;
    for (uint64_t k = 0; k < n; k++)
      if (!isfinite(esmm__bits_f32(esmm__get_u32(q + 4 * k))))
        return esmm__mf_fail(c, ESMM_ENUMERIC, "parameter %s[%llu] is NaN or infinite", want[i].name, (unsigned long long)k);
  }
  return ESMM_OK;
}

/* A validated checkpoint: where the optimizer arrays start and the decoded
 * counters, applied to the model once it is built. */

static int64_t as_i64(uint64_t v) { return v > (uint64_t)INT64_MAX ? -1 : (int64_t)v; }

/* Check the optimizer and training sections (sizes add up, kinds agree
 * with the config, one block per tensor with the tensor's shape, values
 * finite and in range) before any model is built: want[0..n_want) are the
 * tensors the file's config implies, and block i holds tensor i's state. */
static int check_ckpt(const ldctx *c, const unsigned char *b, const section *os, const section *ts,
                      const esmm_config *cfg, const esmm__tensor *want, size_t n_want, ckpt_view *v) {
  mf_reader r = {b + os->off, (size_t)os->size, 0, 1};
  uint64_t need = OPT_HEAD, t64;
  int kind_cfg = (int)esmm__config_int(cfg, ESMM_OPT_OPTIMIZER);
  memset(v, 0, sizeof *v);
  v->kind = rd_u32(&r);
  v->n_blocks = rd_u32(&r);
  t64 = rd_u64(&r);
  if (!r.ok)
    return esmm__mf_fail(c, ESMM_ECORRUPT, "optimizer section: truncated (%llu bytes)", (unsigned long long)os->size);
  if (v->kind != (uint32_t)kind_cfg)
    return esmm__mf_fail(c, ESMM_ECORRUPT, "optimizer section: optimizer kind %u, the file's config says %d", (unsigned)v->kind,
                kind_cfg);
  if (v->n_blocks != n_want)
    return esmm__mf_fail(c, ESMM_ECORRUPT, "optimizer section: %u blocks, the file's config implies %zu tensors (one block "
                "each)", (unsigned)v->n_blocks, n_want);
  v->t = as_i64(t64);
  if (v->t < 0)
    return esmm__mf_fail(c, ESMM_ECORRUPT, "optimizer section: step count %llu out of range", (unsigned long long)t64);
  v->n_arrays = opt_arrays(v->kind);
  v->blocks = b + os->off + OPT_HEAD;
  for (uint32_t k = 0; k < v->n_blocks; k++) {
    uint64_t rows = rd_u64(&r), cols = rd_u64(&r);
    uint32_t na = rd_u32(&r), res = rd_u32(&r);
    if (!r.ok)
      return esmm__mf_fail(c, ESMM_ECORRUPT, "optimizer section: truncated in block %u", (unsigned)k);
    if (na != v->n_arrays || res != 0)
      return esmm__mf_fail(c, ESMM_ECORRUPT, "optimizer section: block %u has %u arrays (expected %u) or a non-zero reserved field",
                  (unsigned)k, (unsigned)na, (unsigned)v->n_arrays);
    /* dims below 2^32 keep rows*cols in 64 bits; with arrays, each one
     * must also lie inside the section (SGD blocks have none) */
    if (rows == 0 || cols == 0 || rows > UINT32_MAX || cols > UINT32_MAX || (na && rows * cols > os->size / 4))
      return esmm__mf_fail(c, ESMM_ECORRUPT, "optimizer section: block %u is %llu x %llu, impossible in %llu bytes", (unsigned)k,
                  (unsigned long long)rows, (unsigned long long)cols, (unsigned long long)os->size);
    if (rows != want[k].rows || cols != want[k].cols)
      return esmm__mf_fail(c, ESMM_ECORRUPT, "optimizer section: block %u is %llu x %llu, tensor %s is %zu x %zu", (unsigned)k,
                  (unsigned long long)rows, (unsigned long long)cols, want[k].name, want[k].rows, want[k].cols);
    need += OPT_BLOCK_HEAD + (uint64_t)na * tensor_bytes(rows, cols);
    if (need > os->size)
      return esmm__mf_fail(c, ESMM_ECORRUPT, "optimizer section: %llu bytes, its blocks need more",
                  (unsigned long long)os->size);
  }
  if (need != os->size)
    return esmm__mf_fail(c, ESMM_ECORRUPT, "optimizer section: %llu bytes, its blocks need %llu", (unsigned long long)os->size,
                (unsigned long long)need);
  v->arrays = b + os->off + OPT_HEAD + (size_t)v->n_blocks * OPT_BLOCK_HEAD;
  {
    const unsigned char *q = v->arrays;
    for (uint32_t k = 0; k < v->n_blocks; k++) {
      const unsigned char *h = v->blocks + (size_t)k * OPT_BLOCK_HEAD;
      uint64_t n = esmm__get_u64(h) * esmm__get_u64(h + 8);
      for (uint32_t a = 0; a < v->n_arrays; a++)
        for (uint64_t i = 0; i < n; i++, q += 4) {
          float f = esmm__bits_f32(esmm__get_u32(q));
          /* Adagrad's accumulator and Adam's v are sums of squares: a
           * negative one would make the update's square root NaN */
          int squares = (v->kind == ESMM_OPTIMIZER_ADAGRAD && a == 0) || (v->kind == ESMM_OPTIMIZER_ADAM && a == 1);
          if (!isfinite(f) || (squares && f < 0))
            return esmm__mf_fail(c, ESMM_ECORRUPT, "optimizer section: block %u array %u value %llu is %g", (unsigned)k,
                        (unsigned)a, (unsigned long long)i, (double)f);
        }
    }
  }

  if (ts->size != TRAIN_SIZE)
    return esmm__mf_fail(c, ESMM_ECORRUPT, "training section: %llu bytes, expected %u", (unsigned long long)ts->size,
                TRAIN_SIZE);
  {
    mf_reader t = {b + ts->off, (size_t)ts->size, 0, 1};
    uint64_t raw[4], bits, cursor, perm_n;
    for (int k = 0; k < 4; k++)
      raw[k] = rd_u64(&t);
    bits = rd_u64(&t);
    for (int k = 0; k < 4; k++)
      v->st.rng_epoch.s[k] = rd_u64(&t);
    cursor = rd_u64(&t);
    perm_n = rd_u64(&t);
    v->st.step = as_i64(raw[0]);
    v->st.epoch = as_i64(raw[1]);
    v->st.samples = as_i64(raw[2]);
    v->st.epoch_steps = as_i64(raw[3]);
    memcpy(&v->st.epoch_loss_sum, &bits, sizeof bits);
    if (v->st.step < 0 || v->st.epoch < 0 || v->st.samples < 0 || v->st.epoch_steps < 0 ||
        v->st.epoch_steps > v->st.step)
      return esmm__mf_fail(c, ESMM_ECORRUPT, "training section: counters out of range (step %lld, epoch %lld, samples %lld, "
                  "epoch steps %lld)", (long long)v->st.step, (long long)v->st.epoch, (long long)v->st.samples,
                  (long long)v->st.epoch_steps);
    if (!isfinite(v->st.epoch_loss_sum))
      return esmm__mf_fail(c, ESMM_ECORRUPT, "training section: the epoch's loss sum is not finite");
    if ((v->st.rng_epoch.s[0] | v->st.rng_epoch.s[1] | v->st.rng_epoch.s[2] | v->st.rng_epoch.s[3]) == 0)
      return esmm__mf_fail(c, ESMM_ECORRUPT, "training section: the RNG state is all zero (not a reachable state)");
    if (cursor > perm_n || perm_n > SIZE_MAX)
      return esmm__mf_fail(c, ESMM_ECORRUPT, "training section: position %llu of %llu rows", (unsigned long long)cursor,
                  (unsigned long long)perm_n);
    v->st.cursor = (size_t)cursor;
    v->st.perm_n = (size_t)perm_n;
  }
  return ESMM_OK;
}


/* Apply the metadata section (kind 6) to cfg: u32 count, then count times
 * u32 key length, key, u32 value length, value. Keys valid and distinct,
 * values without NUL and within the limits, no byte left over. */
static int read_meta(const ldctx *c, const unsigned char *p, size_t len, esmm_config *cfg) {
  mf_reader r = {p, len, 0, 1};
  uint32_t count = rd_u32(&r);
  if (!r.ok || count > ESMM__META_MAX)
    return esmm__mf_fail(c, ESMM_ECORRUPT, "metadata section: %s", !r.ok ? "truncated" : "too many entries");
  for (uint32_t i = 0; i < count; i++) {
    char key[ESMM__META_KEY_MAX + 1], *value;
    uint32_t kl = rd_u32(&r), vl;
    const unsigned char *k = rd_take(&r, kl), *v;
    vl = rd_u32(&r);
    v = rd_take(&r, vl);
    if (!r.ok)
      return esmm__mf_fail(c, ESMM_ECORRUPT, "metadata section: truncated in entry %u", (unsigned)i);
    if (!esmm__meta_key_ok((const char *)k, kl))
      return esmm__mf_fail(c, ESMM_ECORRUPT, "metadata section: entry %u has an invalid key", (unsigned)i);
    memcpy(key, k, kl);
    key[kl] = '\0';
    if (vl > ESMM__META_VALUE_MAX || memchr(v, '\0', vl))
      return esmm__mf_fail(c, ESMM_ECORRUPT, "metadata section: the value of %s is too long or holds a NUL byte", key);
    {
      const char *seen = NULL;
      (void)esmm_config_meta(cfg, key, &seen);
      if (seen)
        return esmm__mf_fail(c, ESMM_ECORRUPT, "metadata section: key %s appears twice", key);
    }
    if (!(value = malloc((size_t)vl + 1)))
      return esmm__mf_fail(c, ESMM_ENOMEM, "out of memory for the metadata");
    memcpy(value, v, vl);
    value[vl] = '\0';
    if (esmm_config_set_meta(cfg, key, value) != ESMM_OK) {
      free(value);
      return esmm__mf_fail(c, ESMM_ENOMEM, "out of memory for the metadata");
    }
    free(value);
  }
  if (r.pos != r.len)
    return esmm__mf_fail(c, ESMM_ECORRUPT, "metadata section: %zu unexpected bytes after the last entry", r.len - r.pos);
  return ESMM_OK;
}

/* ---- loading with changed options ------------------------------------------- */

/* Why an option may not change when a checkpoint is resumed, or NULL when
 * it may. What may change: how the remaining steps update (learning_rate,
 * l2), how long and until what the run goes (epochs, the fit options), how
 * further data is read (the mf_reader options but dense_features) and the
 * distributed check interval. */
static const char *why_fixed_on_resume(esmm_opt o) {
  switch (o) {
  case ESMM_OPT_LEARNING_RATE:
  case ESMM_OPT_L2:
  case ESMM_OPT_EPOCHS:
  case ESMM_OPT_INIT_SCALE:
  case ESMM_OPT_DATA_UNKNOWN_FIELD:
  case ESMM_OPT_DATA_VALUES:
  case ESMM_OPT_DATA_ON_ERROR:
  case ESMM_OPT_DATA_CONV_NO_CLICK:
  case ESMM_OPT_DATA_MAX_ERRORS:
  case ESMM_OPT_DIST_CHECK_EVERY:
    return NULL;
  case ESMM_OPT_OPTIMIZER:
  case ESMM_OPT_ADAM_BETA1:
  case ESMM_OPT_ADAM_BETA2:
  case ESMM_OPT_ADAM_EPS:
  case ESMM_OPT_ADAGRAD_INIT:
    return "it defines the optimizer state the checkpoint holds";
  case ESMM_OPT_BATCH_SIZE:
  case ESMM_OPT_SHUFFLE:
  case ESMM_OPT_SEED:
    return "it defines the order and the size of the steps, which the checkpoint's position in the epoch counts";
  case ESMM_OPT_NUM_THREADS:
    return "the thread count comes from the hooks config";
  case ESMM_OPT_LOSS_WEIGHT_CTR:
  case ESMM_OPT_LOSS_WEIGHT_CTCVR:
  case ESMM_OPT_CVR_CLICK_WEIGHT:
  case ESMM_OPT_LAMBDA_C:
  case ESMM_OPT_PROPENSITY_CLIP:
  case ESMM_OPT_PROPENSITY_STOP_GRAD:
    return "it defines the loss the run minimises (start a new run from the model instead)";
  default:
    if ((int)o >= 700 && (int)o < 800)
      return NULL; /* the fit options */
    return "it defines the shape of the saved parameters";
  }
}

/* Copy option o from src to dst (dst validated it already: same table). */
static int copy_option(esmm_config *dst, const esmm_config *src, esmm_opt o) {
  int type;
  ESMM__TRY(esmm_config_option_type(o, &type));
  if (type == ESMM_OPT_TYPE_LIST) {
    int64_t v[ESMM__MAX_LAYERS];
    size_t n = 0;
    ESMM__TRY(esmm_config_get_ints(src, o, v, ESMM__MAX_LAYERS, &n));
    return esmm_config_set_ints(dst, o, v, n);
  }
  if (type == ESMM_OPT_TYPE_FLOAT) {
    double d;
    ESMM__TRY(esmm_config_get_float(src, o, &d));
    return esmm_config_set_float(dst, o, d);
  }
  {
    int64_t i;
    ESMM__TRY(esmm_config_get_int(src, o, &i));
    return esmm_config_set_int(dst, o, i);
  }
}

/* Options a loader takes from the caller instead of the file. */

static int same_shapes(const esmm__tensor *a, size_t na, const esmm__tensor *b, size_t nb) {
  if (na != nb)
    return 0;
  for (size_t i = 0; i < na; i++)
    if (strcmp(a[i].name, b[i].name) != 0 || a[i].rows != b[i].rows || a[i].cols != b[i].cols)
      return 0;
  return 1;
}

/* Apply ch to the file's config: a checkpoint accepts the options that
 * may change on resume; a model any option that keeps the parameters'
 * shapes (want[0 .. n_want), from the file's config). EINVAL names the
 * option and says why it cannot change. */
static int apply_changes(const ldctx *c, esmm_config *cfg, const changes *ch, int ckpt, const esmm__tensor *want,
                         size_t n_want) {
  esmm__tensor now[MAX_TENSORS];
  if (!ch || ch->n == 0)
    return ESMM_OK;
  for (size_t i = 0; i < ch->n; i++) {
    const char *name = esmm_config_option_name(ch->opts[i]), *why;
    size_t n_now;
    if (!name)
      return esmm__error(ESMM_EINVAL, c->func, "changes: unknown option %d", (int)ch->opts[i]);
    if (ckpt && (why = why_fixed_on_resume(ch->opts[i])) != NULL)
      return esmm__error(ESMM_EINVAL, c->func, "%s cannot change when a checkpoint is resumed: %s", name, why);
    if (!ckpt && ch->opts[i] == ESMM_OPT_NUM_THREADS)
      return esmm__error(ESMM_EINVAL, c->func, "%s cannot be changed here: the thread count comes from the hooks "
                         "config", name);
    ESMM__TRY(copy_option(cfg, ch->cfg, ch->opts[i]));
    n_now = esmm__model_tensor_shapes(cfg, NULL, 0);
    if (n_now <= MAX_TENSORS)
      (void)esmm__model_tensor_shapes(cfg, now, MAX_TENSORS);
    if (n_now > MAX_TENSORS || !same_shapes(now, n_now, want, n_want))
      return esmm__error(ESMM_EINVAL, c->func, "%s cannot change when a model is loaded: it changes the shape of "
                         "the saved parameters", name);
  }
  return ESMM_OK;
}

/* ---- loading ------------------------------------------------------------------ */

/* The hooks config supplies only how the model runs on this host. Without
 * hooks the defaults apply (including 1 thread: the thread count of the
 * machine that saved the file says nothing about this one). */
void esmm__mf_apply_hooks(esmm_config *cfg, const esmm_config *hooks) {
  esmm__allocator da = esmm__allocator_default();
  esmm__logger nolog = {NULL, 0, NULL};
  cfg->alloc = hooks ? hooks->alloc : da;
  cfg->log = hooks ? hooks->log : nolog;
  (void)esmm_config_set_int(cfg, ESMM_OPT_NUM_THREADS, hooks ? esmm__config_int(hooks, ESMM_OPT_NUM_THREADS) : 0);
}

/* Everything a model file says, validated, before any model is built. */

/* Validate the file b[0 .. len): container, config (+ metadata), the
 * tensors the config implies, and with ckpt 1 the checkpoint sections
 * (which must be there); with ckpt -1 they are validated when present. */
int esmm__mf_parse(const ldctx *c, const unsigned char *b, size_t len, int ckpt, const changes *ch,
                      parsed *P) {
  int rc;
  memset(P, 0, sizeof *P);
  ESMM__TRY(check_container(c, b, len, P->sec, P->have, &P->version));
  if (ckpt < 0)
    ckpt = P->have[ESMM__SECTION_OPTIMIZER - 1] && P->have[ESMM__SECTION_TRAINING - 1];
  if (ckpt && (!P->have[ESMM__SECTION_OPTIMIZER - 1] || !P->have[ESMM__SECTION_TRAINING - 1]))
    return esmm__mf_fail(c, ESMM_ECORRUPT, "not a checkpoint: the %s section is missing (a plain model file? load it with "
                "esmm_model_load)", !P->have[ESMM__SECTION_OPTIMIZER - 1] ? "optimizer" : "training");
  ESMM__TRY(read_config(c, b + P->sec[0].off, (size_t)P->sec[0].size, &P->cfg));
  rc = P->have[ESMM__SECTION_META - 1]
           ? read_meta(c, b + P->sec[ESMM__SECTION_META - 1].off, (size_t)P->sec[ESMM__SECTION_META - 1].size, P->cfg)
           : ESMM_OK;
  /* The tensors a model built from this config will have, computed
   * without allocating (the file is not trusted enough yet to allocate a
   * table of the size it declares); the count first, so that no array
   * here can overflow whatever the config says. */
  if (rc == ESMM_OK) {
    P->n_want = esmm__model_tensor_shapes(P->cfg, NULL, 0);
    if (P->n_want == 0 || P->n_want > MAX_TENSORS)
      rc = esmm__mf_fail(c, ESMM_ECORRUPT, "config section: implies %zu tensors, at most %d are supported", P->n_want,
                MAX_TENSORS);
  }
  if (rc == ESMM_OK) {
    (void)esmm__model_tensor_shapes(P->cfg, P->want, MAX_TENSORS);
    rc = check_tensors(c, b, &P->sec[1], &P->sec[2], P->want, P->n_want, P->off);
  }
  if (rc == ESMM_OK && ckpt) {
    rc = check_ckpt(c, b, &P->sec[3], &P->sec[4], P->cfg, P->want, P->n_want, &P->cv);
    P->ckpt = rc == ESMM_OK;
  }
  if (rc == ESMM_OK)
    rc = apply_changes(c, P->cfg, ch, ckpt, P->want, P->n_want);
  if (rc != ESMM_OK) {
    esmm_config_free(P->cfg);
    P->cfg = NULL;
  }
  return rc;
}

/* Read a whole file into memory from allocator a. */
int esmm__mf_read_whole(const ldctx *c, const esmm__allocator *a, unsigned char **buf_out, size_t *len_out) {
  unsigned char *buf;
  struct stat st;
  size_t size, got = 0;
  char eb[128];
  int fd, e;
  do
    fd = open(c->path, O_RDONLY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    e = errno;
    return esmm__mf_fail(c, ESMM_EIO, "open failed: %s", errtext(e, eb, sizeof eb));
  }
  if (fstat(fd, &st) != 0) {
    e = errno;
    close(fd);
    return esmm__mf_fail(c, ESMM_EIO, "fstat failed: %s", errtext(e, eb, sizeof eb));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return esmm__mf_fail(c, ESMM_EIO, "not a regular file");
  }
  if (st.st_size < 0 || (uint64_t)st.st_size > SIZE_MAX) {
    close(fd);
    return esmm__mf_fail(c, ESMM_ENOMEM, "a file of %lld bytes does not fit in memory", (long long)st.st_size);
  }
  size = (size_t)st.st_size;
  buf = esmm__alloc(a, size ? size : 1);
  if (!buf) {
    close(fd);
    return esmm__mf_fail(c, ESMM_ENOMEM, "out of memory for a file of %zu bytes", size);
  }
  /* A file that shrinks while being read gives fewer bytes: the loader then
   * reports the truncation. */
  while (got < size) {
    ssize_t k = read(fd, buf + got, size - got);
    if (k < 0) {
      if (errno == EINTR)
        continue;
      e = errno;
      close(fd);
      esmm__free(a, buf);
      return esmm__mf_fail(c, ESMM_EIO, "read failed: %s", errtext(e, eb, sizeof eb));
    }
    if (k == 0)
      break;
    got += (size_t)k;
  }
  close(fd);
  *buf_out = buf;
  *len_out = got;
  return ESMM_OK;
}
