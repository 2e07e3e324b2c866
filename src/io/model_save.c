/* io/model_save.c - writing model files and checkpoints (modelfile.h):
 * the layout of a model's file, the streaming writer, the atomic save. */
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

/* ---- layout of a model's file ------------------------------------------------ */

typedef struct layout {
  esmm__tensor t[MAX_TENSORS];
  size_t n_t;
  uint64_t t_off[MAX_TENSORS]; /* within the data section */
  int blk[MAX_TENSORS];        /* checkpoints: optimizer block of tensor i */
  uint64_t cfg_off, cfg_len, idx_off, idx_len, data_off, data_len, total;
  int ckpt; /* 1: also the optimizer (4) and training (5) sections */
  uint64_t opt_off, opt_len, train_off, train_len;
  uint64_t meta_off, meta_len; /* metadata (6), when the config has any */
  int n_sec;
} layout;



/* Sizes and offsets of every part of m's file (docs/model-format.md). */
static int plan(const esmm_model *m, layout *L, int ckpt, const char *func) {
  size_t cfg_len = 0;
  uint64_t o;
  memset(L, 0, sizeof *L);
  L->ckpt = ckpt;
  /* esmm__model_tensors takes a mutable model because loading writes
   * through the returned pointers; saving only reads them. */
  L->n_t = esmm__model_tensors((esmm_model *)m, L->t, MAX_TENSORS);
  if (L->n_t == 0 || L->n_t > MAX_TENSORS) /* a new part added to the model without raising MAX_TENSORS */
    return esmm__error(ESMM_ERROR, func, "internal: the model lists %zu tensors (at most %d supported)",
                       L->n_t, MAX_TENSORS);
  /* Size query: the config module answers ESMM_EBUFS with the length. */
  (void)esmm__config_to_text(m->cfg, NULL, 0, &cfg_len);
  L->n_sec = (ckpt ? 5 : 3) + (m->cfg->n_meta ? 1 : 0);
  L->cfg_off = header_size((size_t)L->n_sec);
  L->cfg_len = cfg_len;
  L->idx_off = L->cfg_off + L->cfg_len;
  L->idx_len = 4;
  for (size_t i = 0; i < L->n_t; i++) {
    size_t nl = strlen(L->t[i].name);
    if (nl == 0 || nl > NAME_MAX_LEN)
      return esmm__error(ESMM_ERROR, func, "internal: tensor %zu has a name of %zu bytes", i, nl);
    L->idx_len += 4 + nl + 4 + 4 + 8 * TENSOR_RANK + 8;
  }
  L->data_off = align_up(L->idx_off + L->idx_len, DATA_ALIGN);
  o = 0;
  for (size_t i = 0; i < L->n_t; i++) {
    o = align_up(o, DATA_ALIGN);
    L->t_off[i] = o;
    o += tensor_bytes(L->t[i].rows, L->t[i].cols);
  }
  L->data_len = o;
  L->total = L->data_off + L->data_len;
  if (ckpt) {
    /* One optimizer block per tensor, in tensor order (block i = the state
     * of tensor i, whatever id the model registered it under): the loader
     * can then check every block's shape against the tensor shapes the
     * file's config implies, before it builds anything, for every variant. */
    const esmm_optimizer *op = m->opt;
    uint32_t na = opt_arrays(op->kind);
    size_t nb = esmm__model_blocks(m, L->blk, MAX_TENSORS);
    if (nb != L->n_t || op->n_blocks != (int)nb)
      return esmm__error(ESMM_ERROR, func, "internal: the model lists %zu tensors, %zu tensor blocks and %d optimizer "
                         "blocks", L->n_t, nb, op->n_blocks);
    L->opt_off = L->total;
    L->opt_len = OPT_HEAD;
    for (size_t i = 0; i < nb; i++) {
      size_t rows = 0, cols = 0;
      if (esmm__optimizer_block_shape(op, L->blk[i], &rows, &cols) != ESMM_OK || rows != L->t[i].rows ||
          cols != L->t[i].cols)
        return esmm__error(ESMM_ERROR, func, "internal: optimizer block %d (%zu x %zu) does not match tensor %s",
                           L->blk[i], rows, cols, L->t[i].name);
      L->opt_len += OPT_BLOCK_HEAD + (uint64_t)na * tensor_bytes(rows, cols);
    }
    L->train_off = L->opt_off + L->opt_len;
    L->train_len = TRAIN_SIZE;
    L->total = L->train_off + L->train_len;
  }
  if (m->cfg->n_meta) {
    L->meta_off = L->total;
    L->meta_len = 4;
    for (size_t i = 0; i < m->cfg->n_meta; i++)
      L->meta_len += 8 + strlen(m->cfg->meta[i].key) + strlen(m->cfg->meta[i].value);
    L->total += L->meta_len;
  }
  if (L->total > SIZE_MAX)
    return esmm__error(ESMM_ENOMEM, func, "the model file would take %llu bytes, more than this host can address",
                       (unsigned long long)L->total);
  return ESMM_OK;
}

/* Refuse NaN/Inf before anything is written: a file must load back. */
static int check_finite(const layout *L, const char *func) {
  for (size_t i = 0; i < L->n_t; i++) {
    size_t n = L->t[i].rows * L->t[i].cols;
    const float *x = L->t[i].data;
    if (esmm__all_finite(x, n))
      continue;
    for (size_t k = 0; k < n; k++)
      if (!isfinite(x[k]))
        return esmm__error(ESMM_ENUMERIC, func, "parameter %s[%zu] is %s; nothing was written", L->t[i].name,
                           k, isnan(x[k]) ? "NaN" : "infinite");
  }
  return ESMM_OK;
}

static int check_finite_opt(const esmm_model *m, const char *func) {
  for (int b = 0; b < m->opt->n_blocks; b++) {
    const esmm__opt_block *bl = &m->opt->blocks[b];
    if ((bl->s1 && !esmm__all_finite(bl->s1, bl->n)) || (bl->s2 && !esmm__all_finite(bl->s2, bl->n)))
      return esmm__error(ESMM_ENUMERIC, func, "optimizer block %d holds a NaN or infinite value; nothing was written",
                         b);
  }
  return ESMM_OK;
}

/* ---- writing: one sequential pass, twice ----------------------------------
 *
 * A file is produced strictly in file order by stream_file: the header,
 * then each section with the zero padding the layout puts before it. The
 * parameters and optimizer arrays go from the model's memory to the output
 * in bounded pieces, so saving a model never holds a second copy of it
 * (1.0 built the whole file in a buffer first: +217 MB at the wide
 * benchmark model's size, the peak of a training run). Since the header
 * holds each section's CRC, the sections are first streamed through the
 * CRCs alone (pass "crc"), then the header and the sections to the file or
 * the caller's buffer. */

enum { OUT_CRC, OUT_FILE, OUT_BUF };

typedef struct sink_out {
  int mode;
  esmm__atomic *f;     /* OUT_FILE */
  unsigned char *buf;  /* OUT_BUF: L->total bytes */
  uint64_t pos;        /* bytes produced so far (file offset) */
  int sec;             /* section the bytes belong to, -1 = none (header, padding between sections) */
  uint32_t crc[6];     /* per section, in layout order */
  unsigned char *small; /* OUT_FILE: scratch for the small parts (see part_at) */
  size_t small_cap;
  unsigned char tmp[4096];
} stream_out;

static void put(stream_out *o, const void *p, size_t n) {
  if (n == 0)
    return;
  if (o->mode == OUT_CRC) {
    if (o->sec >= 0)
      o->crc[o->sec] = esmm__crc32(o->crc[o->sec], p, n);
  } else if (o->mode == OUT_FILE) {
    (void)esmm__atomic_write(o->f, p, n); /* a failure is reported by the commit */
  } else if (p != o->buf + o->pos) { /* small parts are built in place (part_at) */
    memcpy(o->buf + o->pos, p, n);
  }
  o->pos += n;
}

static void put_zeros(stream_out *o, uint64_t n) {
  memset(o->tmp, 0, sizeof o->tmp);
  while (n > 0) {
    size_t k = n < sizeof o->tmp ? (size_t)n : sizeof o->tmp;
    put(o, o->tmp, k);
    n -= k;
  }
}

/* Pad with zeros up to file offset at (the padding belongs to the section
 * being written, if any), then count bytes towards section sec. */
static void seek(stream_out *o, uint64_t at, int sec) {
  put_zeros(o, at - o->pos);
  o->sec = sec;
}

/* n floats, little-endian: straight from memory on a little-endian host. */
static void put_floats(stream_out *o, const float *x, size_t n) {
  if (esmm__host_little_endian()) {
    put(o, x, n * sizeof *x);
    return;
  }
  while (n > 0) {
    size_t k = n < sizeof o->tmp / 4 ? n : sizeof o->tmp / 4;
    for (size_t i = 0; i < k; i++)
      esmm__put_u32(o->tmp + 4 * i, esmm__f32_bits(x[i]));
    put(o, o->tmp, 4 * k);
    x += k;
    n -= k;
  }
}

/* Where a small part of the file (config text, index, optimizer heads,
 * training section, metadata) at file offset off is built: in place when
 * the output is the caller's buffer (so that saving into a buffer
 * allocates nothing), else in the mf_writer's scratch. */
static unsigned char *part_at(const stream_out *o, uint64_t off) { return o->buf ? o->buf + off : o->small; }

static size_t part_cap(const stream_out *o, const layout *L, uint64_t off) {
  return o->buf ? (size_t)(L->total - off) : o->small_cap;
}

/* A small section part built with the bounds-checked mf_writer. */
static int put_small(stream_out *o, const unsigned char *p, const mf_writer *w, size_t want, const char *func) {
  if (!w->ok || w->pos != want)
    return esmm__error(ESMM_ERROR, func, "internal: a section does not match its planned size");
  put(o, p, want);
  return ESMM_OK;
}

/* Sections in layout order: kind, offset, length. */
static int section_list(const layout *L, uint32_t *kinds, uint64_t *offs, uint64_t *lens) {
  int n = 0;
  kinds[n] = ESMM__SECTION_CONFIG, offs[n] = L->cfg_off, lens[n++] = L->cfg_len;
  kinds[n] = ESMM__SECTION_TENSOR_INDEX, offs[n] = L->idx_off, lens[n++] = L->idx_len;
  kinds[n] = ESMM__SECTION_TENSOR_DATA, offs[n] = L->data_off, lens[n++] = L->data_len;
  if (L->ckpt) {
    kinds[n] = ESMM__SECTION_OPTIMIZER, offs[n] = L->opt_off, lens[n++] = L->opt_len;
    kinds[n] = ESMM__SECTION_TRAINING, offs[n] = L->train_off, lens[n++] = L->train_len;
  }
  if (L->meta_len) /* metadata right after the model (or checkpoint) sections */
    kinds[n] = ESMM__SECTION_META, offs[n] = L->meta_off, lens[n++] = L->meta_len;
  return n;
}

/* Everything after the header, in file order. small: a scratch of at least
 * the largest small part (the config text, the index, the optimizer heads,
 * the training section, the metadata). */
static int stream_sections(const esmm_model *m, const layout *L, stream_out *o, const char *func) {
  unsigned char *small;
  mf_writer w;
  size_t cfg_len = 0;
  int sec = 0;
  /* config */
  seek(o, L->cfg_off, sec);
  small = part_at(o, L->cfg_off);
  if (esmm__config_to_text(m->cfg, (char *)small, part_cap(o, L, L->cfg_off), &cfg_len) != ESMM_OK || cfg_len != L->cfg_len)
    return esmm__error(ESMM_ERROR, func, "internal: the config text changed size (%zu, planned %llu)", cfg_len,
                       (unsigned long long)L->cfg_len);
  put(o, small, cfg_len);
  /* tensor index */
  seek(o, L->idx_off, ++sec);
  small = part_at(o, L->idx_off);
  w = (mf_writer){small, part_cap(o, L, L->idx_off), 0, 1};
  wr_u32(&w, (uint32_t)L->n_t);
  for (size_t i = 0; i < L->n_t; i++) {
    size_t nl = strlen(L->t[i].name);
    unsigned char *q;
    wr_u32(&w, (uint32_t)nl);
    if ((q = wr_take(&w, nl)) != NULL)
      memcpy(q, L->t[i].name, nl);
    wr_u32(&w, DTYPE_F32);
    wr_u32(&w, TENSOR_RANK);
    wr_u64(&w, L->t[i].rows);
    wr_u64(&w, L->t[i].cols);
    wr_u64(&w, L->t_off[i]);
  }
  ESMM__TRY(put_small(o, small, &w, (size_t)L->idx_len, func));
  /* tensor data: padding inside the section belongs to it */
  seek(o, L->idx_off + L->idx_len, -1);
  seek(o, L->data_off, ++sec);
  for (size_t i = 0; i < L->n_t; i++) {
    seek(o, L->data_off + L->t_off[i], sec);
    put_floats(o, L->t[i].data, L->t[i].rows * L->t[i].cols);
  }
  if (L->ckpt) {
    const esmm_optimizer *op = m->opt;
    uint32_t na = opt_arrays(op->kind);
    esmm__train_state st;
    seek(o, L->opt_off, ++sec);
    small = part_at(o, L->opt_off);
    w = (mf_writer){small, part_cap(o, L, L->opt_off), 0, 1};
    wr_u32(&w, (uint32_t)op->kind);
    wr_u32(&w, (uint32_t)L->n_t);
    wr_u64(&w, (uint64_t)op->t);
    for (size_t i = 0; i < L->n_t; i++) {
      wr_u64(&w, op->blocks[L->blk[i]].rows);
      wr_u64(&w, op->blocks[L->blk[i]].cols);
      wr_u32(&w, na);
      wr_u32(&w, 0);
    }
    ESMM__TRY(put_small(o, small, &w, OPT_HEAD + OPT_BLOCK_HEAD * L->n_t, func));
    for (size_t i = 0; i < L->n_t; i++) {
      const esmm__opt_block *bl = &op->blocks[L->blk[i]];
      for (uint32_t a = 0; a < na; a++)
        put_floats(o, a == 0 ? bl->s1 : bl->s2, bl->n);
    }
    esmm__model_get_train_state(m, &st);
    /* Between epochs (the permutation is used up, or none was drawn yet
     * for the dataset just attached) the next epoch's permutation comes
     * from the RNG as it stands, so store that with no epoch under way.
     * Without this, a model attached to a dataset by a zero-step call
     * would store an RNG state that was never set (all zero). */
    if (st.cursor >= st.perm_n) {
      st.rng_epoch = m->rng;
      st.cursor = 0;
      st.perm_n = 0;
    }
    seek(o, L->train_off, ++sec);
    small = part_at(o, L->train_off);
    w = (mf_writer){small, part_cap(o, L, L->train_off), 0, 1};
    wr_u64(&w, (uint64_t)st.step);
    wr_u64(&w, (uint64_t)st.epoch);
    wr_u64(&w, (uint64_t)st.samples);
    wr_u64(&w, (uint64_t)st.epoch_steps);
    wr_u64(&w, esmm__f64_bits(st.epoch_loss_sum));
    for (int k = 0; k < 4; k++)
      wr_u64(&w, st.rng_epoch.s[k]);
    wr_u64(&w, st.cursor);
    wr_u64(&w, st.perm_n);
    ESMM__TRY(put_small(o, small, &w, TRAIN_SIZE, func));
  }
  if (L->meta_len) {
    const esmm_config *cfg = m->cfg;
    seek(o, L->meta_off, ++sec);
    small = part_at(o, L->meta_off);
    w = (mf_writer){small, part_cap(o, L, L->meta_off), 0, 1};
    wr_u32(&w, (uint32_t)cfg->n_meta);
    for (size_t i = 0; i < cfg->n_meta; i++)
      for (int kv = 0; kv < 2; kv++) {
        const char *t = kv ? cfg->meta[i].value : cfg->meta[i].key;
        size_t n = strlen(t);
        unsigned char *q;
        wr_u32(&w, (uint32_t)n);
        if ((q = wr_take(&w, n)) != NULL)
          memcpy(q, t, n);
      }
    ESMM__TRY(put_small(o, small, &w, (size_t)L->meta_len, func));
  }
  if (o->pos != L->total)
    return esmm__error(ESMM_ERROR, func, "internal: %llu bytes produced, %llu planned", (unsigned long long)o->pos,
                       (unsigned long long)L->total);
  return ESMM_OK;
}

/* The header, given the sections' CRCs. */
static int header_bytes(const layout *L, const uint32_t *crc, unsigned char *h, size_t cap, const char *func) {
  mf_writer w = {h, cap, 0, 1};
  uint32_t kinds[6];
  uint64_t offs[6], lens[6];
  int n_sec = section_list(L, kinds, offs, lens);
  unsigned char *q = wr_take(&w, 4);
  if (q)
    memcpy(q, "ESMM", 4);
  /* version 1 unless the file needs version 2's metadata section */
  wr_u32(&w, L->meta_len ? ESMM__FORMAT_VERSION : ESMM__FORMAT_VERSION_1);
  wr_u32(&w, 0); /* flags */
  wr_u32(&w, (uint32_t)n_sec);
  wr_u64(&w, L->total);
  for (int s = 0; s < n_sec; s++) {
    wr_u32(&w, kinds[s]);
    wr_u32(&w, kinds[s] == ESMM__SECTION_META ? ESMM__SECTION_OPTIONAL : 0u);
    wr_u64(&w, offs[s]);
    wr_u64(&w, lens[s]);
    wr_u32(&w, crc[s]);
    wr_u32(&w, 0);
  }
  wr_u32(&w, esmm__crc32(0, h, w.pos));
  if (!w.ok || w.pos != L->cfg_off || n_sec != L->n_sec)
    return esmm__error(ESMM_ERROR, func, "internal: the header does not match its planned size");
  return ESMM_OK;
}

/* The largest small part of the file (config text, index, optimizer heads,
 * training section, metadata). */
static size_t small_size(const layout *L) {
  uint64_t n = L->cfg_len;
  if (L->idx_len > n)
    n = L->idx_len;
  if (L->ckpt && OPT_HEAD + OPT_BLOCK_HEAD * L->n_t > n)
    n = OPT_HEAD + OPT_BLOCK_HEAD * L->n_t;
  if (TRAIN_SIZE > n)
    n = TRAIN_SIZE;
  if (L->meta_len > n)
    n = L->meta_len;
  return (size_t)n;
}

/* Produce the file into the atomic file f or the buffer buf (one of them;
 * into a buffer nothing is allocated). */
static int produce(const esmm_model *m, const layout *L, esmm__atomic *f, unsigned char *buf, const char *func) {
  stream_out o;
  unsigned char h[FIXED_HEADER + ENTRY_SIZE * MAX_SECTIONS + 4];
  int rc;
  memset(&o, 0, offsetof(stream_out, tmp));
  o.buf = buf;
  if (!buf) {
    o.small_cap = small_size(L);
    o.small = esmm__alloc(&m->alloc, o.small_cap);
    if (!o.small)
      return esmm__error(ESMM_ENOMEM, func, "out of memory for the mf_writer");
  }
  o.mode = OUT_CRC;
  o.pos = L->cfg_off; /* the header is not part of any section */
  o.sec = -1;
  rc = stream_sections(m, L, &o, func);
  if (rc == ESMM_OK)
    rc = header_bytes(L, o.crc, h, sizeof h, func);
  if (rc == ESMM_OK) {
    o.mode = f ? OUT_FILE : OUT_BUF;
    o.f = f;
    o.pos = 0;
    o.sec = -1;
    put(&o, h, (size_t)L->cfg_off);
    rc = stream_sections(m, L, &o, func);
  }
  esmm__free(&m->alloc, o.small);
  return rc;
}

static int save_buffer(const esmm_model *m, void *buf, size_t cap, size_t *size_out, int ckpt, const char *func) {
  layout L;
  if (!size_out)
    return esmm__error(ESMM_EINVAL, func, "invalid argument: size_out");
  *size_out = 0;
  if (!m || (!buf && cap != 0))
    return esmm__error(ESMM_EINVAL, func, "invalid argument: %s", !m ? "m" : "buf || cap == 0");
  ESMM__TRY(plan(m, &L, ckpt, func));
  *size_out = (size_t)L.total;
  ESMM__TRY(check_finite(&L, func));
  if (ckpt)
    ESMM__TRY(check_finite_opt(m, func));
  if (cap < L.total)
    return esmm__error(ESMM_EBUFS, func, "the %s needs %zu bytes, the buffer holds %zu",
                       ckpt ? "checkpoint" : "model", (size_t)L.total, cap);
  return produce(m, &L, NULL, buf, func);
}

int esmm_model_save_buffer(const esmm_model *m, void *buf, size_t cap, size_t *size_out) {
  return save_buffer(m, buf, cap, size_out, 0, __func__);
}

int esmm_model_save_checkpoint_buffer(const esmm_model *m, void *buf, size_t cap, size_t *size_out) {
  return save_buffer(m, buf, cap, size_out, 1, __func__);
}

/* ---- atomic save ------------------------------------------------------------- */

/* Stream the file into path's temporary and put it in place atomically
 * (docs/model-format.md, "Saving"; io/atomic.h). */
static int save_file(const esmm_model *m, const char *path, int ckpt, const char *func) {
  layout L;
  esmm__atomic f;
  int rc;
  if (!m || !path || path[0] == '\0')
    return esmm__error(ESMM_EINVAL, func, "invalid argument: %s", !m ? "m" : !path ? "path" : "path is empty");
  ESMM__TRY(plan(m, &L, ckpt, func));
  ESMM__TRY(check_finite(&L, func));
  if (ckpt)
    ESMM__TRY(check_finite_opt(m, func));
  ESMM__TRY(esmm__atomic_open(&f, &m->alloc, func, path));
  rc = produce(m, &L, &f, NULL, func);
  if (rc != ESMM_OK) {
    esmm__atomic_abort(&f);
    return rc;
  }
  return esmm__atomic_commit(&f);
}

int esmm_model_save(const esmm_model *m, const char *path) { return save_file(m, path, 0, __func__); }

int esmm_model_save_checkpoint(const esmm_model *m, const char *path) { return save_file(m, path, 1, __func__); }
