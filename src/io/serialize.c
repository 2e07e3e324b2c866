/* io/serialize.c - model files: byte layout, CRC32, the validating loader
 * and the atomic save. The byte-by-byte specification is
 * docs/model-format.md; the two must change together.
 *
 * Every multi-byte value is encoded explicitly little-endian by the shared
 * encoders of le.h, never by copying structs, so
 * files are identical on every host. Every read of untrusted bytes goes
 * through the bounds-checked reader below: a file of any content and any
 * length is refused with a status, never read out of bounds. */
#include "serialize.h"

#include "atomic.h"
#include "config.h"
#include "le.h"
#include "model.h"
#include "optimizer.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* A fuzzer cannot forge CRCs, so under ESMM_FUZZING a checksum mismatch is
 * ignored and the validation behind it is exercised. Default builds refuse. */
#ifdef ESMM_FUZZING
#define CRC_FATAL 0
#else
#define CRC_FATAL 1
#endif

#define FIXED_HEADER 24u  /* magic, version, flags, section count, file size */
#define ENTRY_SIZE 32u    /* one section-table entry */
#define MAX_SECTIONS 16u  /* a bound for the table, far above the 5 kinds */
#define DATA_ALIGN 64u    /* tensor data alignment in the file (as gguf) */
#define DTYPE_F32 1u
#define TENSOR_RANK 2u
/* The most tensors any variant has (esmm__model_tensors): two embedding
 * tables (emb, emb2) and three towers (ctr, cvr, imp) of w and b per layer.
 * The loader asks esmm__model_tensor_shapes for the real count of a file's
 * config and refuses one above this bound before filling any array. */
#define MAX_TENSORS (2 + 3 * 2 * ESMM__MLP_MAX_LAYERS)
#define NAME_MAX_LEN (sizeof(((esmm__tensor *)0)->name) - 1)
#define OPT_HEAD 16u        /* optimizer section: kind, block count, step count */
#define OPT_BLOCK_HEAD 24u  /* per block: rows, cols, array count, reserved */
#define TRAIN_SIZE 88u      /* training section: 11 u64 */

/* Checkpoints store one optimizer block per tensor (esmm__model_blocks). */
_Static_assert(MAX_TENSORS <= ESMM__OPT_MAX_BLOCKS, "every tensor of a model must fit an optimizer block");

static size_t header_size(size_t n_sections) { return FIXED_HEADER + ENTRY_SIZE * n_sections + 4u; }

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* Bounds-checked cursor over untrusted bytes. Once a read would pass the
 * end, ok drops to 0 and every later read yields zeros, so a parser checks
 * ok once after a group of reads. */
typedef struct reader {
  const unsigned char *p;
  size_t len, pos;
  int ok;
} reader;

static const unsigned char *rd_take(reader *r, size_t n) {
  const unsigned char *q;
  if (!r->ok || n > r->len - r->pos) {
    r->ok = 0;
    return NULL;
  }
  q = r->p + r->pos;
  r->pos += n;
  return q;
}

static uint32_t rd_u32(reader *r) {
  const unsigned char *q = rd_take(r, 4);
  return q ? esmm__get_u32(q) : 0;
}

static uint64_t rd_u64(reader *r) {
  const unsigned char *q = rd_take(r, 8);
  return q ? esmm__get_u64(q) : 0;
}

/* Bounds-checked cursor for the writer: a layout bug fails loudly instead
 * of scribbling past the caller's buffer. */
typedef struct writer {
  unsigned char *p;
  size_t cap, pos;
  int ok;
} writer;

static unsigned char *wr_take(writer *w, size_t n) {
  unsigned char *q;
  if (!w->ok || n > w->cap - w->pos) {
    w->ok = 0;
    return NULL;
  }
  q = w->p + w->pos;
  w->pos += n;
  return q;
}

static void wr_u32(writer *w, uint32_t v) {
  unsigned char *q = wr_take(w, 4);
  if (q)
    esmm__put_u32(q, v);
}

static void wr_u64(writer *w, uint64_t v) {
  unsigned char *q = wr_take(w, 8);
  if (q)
    esmm__put_u64(q, v);
}

/* strerror is not thread-safe; the XSI strerror_r is (POSIX 2008). */
static const char *errtext(int e, char *buf, size_t n) {
  if (strerror_r(e, buf, n) != 0)
    snprintf(buf, n, "errno %d", e);
  return buf;
}

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

/* Optimizer arrays per block for each kind (Adam: m and v; Adagrad: the
 * accumulator; SGD: none). */
static uint32_t opt_arrays(int kind) {
  return kind == ESMM_OPTIMIZER_ADAM ? 2u : kind == ESMM_OPTIMIZER_ADAGRAD ? 1u : 0u;
}

static uint64_t tensor_bytes(uint64_t rows, uint64_t cols) { return rows * cols * 4u; }

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
 * allocates nothing), else in the writer's scratch. */
static unsigned char *part_at(const stream_out *o, uint64_t off) { return o->buf ? o->buf + off : o->small; }

static size_t part_cap(const stream_out *o, const layout *L, uint64_t off) {
  return o->buf ? (size_t)(L->total - off) : o->small_cap;
}

/* A small section part built with the bounds-checked writer. */
static int put_small(stream_out *o, const unsigned char *p, const writer *w, size_t want, const char *func) {
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
  writer w;
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
  w = (writer){small, part_cap(o, L, L->idx_off), 0, 1};
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
    w = (writer){small, part_cap(o, L, L->opt_off), 0, 1};
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
    w = (writer){small, part_cap(o, L, L->train_off), 0, 1};
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
    w = (writer){small, part_cap(o, L, L->meta_off), 0, 1};
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
  writer w = {h, cap, 0, 1};
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
      return esmm__error(ESMM_ENOMEM, func, "out of memory for the writer");
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

/* ---- loading ----------------------------------------------------------------- */

/* Who is loading (for messages): the public function and, for files, the path. */
typedef struct ldctx {
  const char *func;
  const char *path;
} ldctx;

static int fail(const ldctx *c, int status, const char *fmt, ...) ESMM__PRINTF(3, 4);
static int fail(const ldctx *c, int status, const char *fmt, ...) {
  char msg[900];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (c->path)
    return esmm__error(status, c->func, "%s: %s", c->path, msg);
  return esmm__error(status, c->func, "%s", msg);
}

typedef struct section {
  uint32_t kind, crc;
  uint64_t off, size;
} section;

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
  reader r = {b, len, 0, 1};
  section all[MAX_SECTIONS];
  size_t order[MAX_SECTIONS];
  uint32_t version, flags, n;
  uint64_t declared;
  size_t hdr, prev_end;
  memset(have, 0, ESMM__SECTION_KINDS * sizeof *have);

  if (len < 4)
    return fail(c, ESMM_ECORRUPT, "truncated: %zu bytes, a model file has at least %zu", len, header_size(0));
  if (memcmp(b, "ESMM", 4) != 0)
    return fail(c, ESMM_ECORRUPT, "not a libesmm model file (bad magic)");
  if (len < FIXED_HEADER)
    return fail(c, ESMM_ECORRUPT, "truncated: %zu bytes, a model file has at least %zu", len, header_size(0));
  rd_take(&r, 4);
  version = rd_u32(&r);
  flags = rd_u32(&r);
  n = rd_u32(&r);
  declared = rd_u64(&r);
  /* The version is checked before anything else it could redefine. */
  if (version > ESMM__FORMAT_VERSION)
    return fail(c, ESMM_EVERSION,
                "the file has model format version %u; this libesmm (%s) reads format versions up to %u",
                (unsigned)version, ESMM_VERSION_STRING, (unsigned)ESMM__FORMAT_VERSION);
  if (version == 0)
    return fail(c, ESMM_ECORRUPT, "format version 0 is not valid");
  if (declared != (uint64_t)len)
    return fail(c, ESMM_ECORRUPT, "%s: %zu bytes, header says %llu",
                declared > (uint64_t)len ? "truncated" : "wrong size", len, (unsigned long long)declared);
  if (n < 3 || n > MAX_SECTIONS)
    return fail(c, ESMM_ECORRUPT, "section count %u is outside [3, %u]", (unsigned)n, MAX_SECTIONS);
  hdr = header_size(n);
  if (hdr > len)
    return fail(c, ESMM_ECORRUPT, "truncated: %zu bytes, the header of %u sections needs %zu", len, (unsigned)n, hdr);
  if (esmm__get_u32(b + hdr - 4) != esmm__crc32(0, b, hdr - 4) && CRC_FATAL)
    return fail(c, ESMM_ECORRUPT, "header checksum mismatch (stored %08x, computed %08x)",
                (unsigned)esmm__get_u32(b + hdr - 4), (unsigned)esmm__crc32(0, b, hdr - 4));
  if (flags != 0)
    return fail(c, ESMM_ECORRUPT, "unknown flags 0x%08x (format versions 1 and 2 define none)", (unsigned)flags);
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
      return fail(c, ESMM_ECORRUPT, "truncated section table");
    /* version 1: the word after the kind is reserved (0); version 2: flags */
    if ((version == 1 ? res1 != 0 : (res1 & ~ESMM__SECTION_OPTIONAL) != 0) || res2 != 0)
      return fail(c, ESMM_ECORRUPT, "section %u: reserved fields are not zero", (unsigned)i);
    if (s->kind < ESMM__SECTION_CONFIG ||
        s->kind > (version == 1 ? ESMM__SECTION_TRAINING : ESMM__SECTION_KINDS)) {
      if (version == 1 || s->kind == 0)
        return fail(c, ESMM_ECORRUPT, "section %u has unknown kind %u", (unsigned)i, (unsigned)s->kind);
      if (!(res1 & ESMM__SECTION_OPTIONAL))
        return fail(c, ESMM_EVERSION, "section %u has kind %u, which this libesmm (%s) does not know and the file "
                    "marks as required", (unsigned)i, (unsigned)s->kind, ESMM_VERSION_STRING);
    }
    if (s->off < hdr || s->off > len || s->size > len - s->off)
      return fail(c, ESMM_ECORRUPT, "section %u (kind %u) at [%llu, +%llu) lies outside the file body [%zu, %zu)",
                  (unsigned)i, (unsigned)s->kind, (unsigned long long)s->off, (unsigned long long)s->size, hdr,
                  len);
    if (s->kind >= ESMM__SECTION_CONFIG && s->kind <= ESMM__SECTION_KINDS) {
      if (have[s->kind - 1])
        return fail(c, ESMM_ECORRUPT, "section kind %u appears twice", (unsigned)s->kind);
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
      return fail(c, ESMM_ECORRUPT, "the required section of kind %d is missing", k + 1);

  /* Sections must not overlap, and every byte outside the header and the
   * sections must be zero padding: then no byte of a file escapes both
   * checksums and the checks. */
  prev_end = hdr;
  for (uint32_t i = 0; i <= n; i++) {
    size_t start = i < n ? (size_t)all[order[i]].off : len;
    if (start < prev_end) /* only for i < n: every section ends inside the file */
      return fail(c, ESMM_ECORRUPT, "section %zu overlaps the one before it", order[i < n ? i : 0]);
    for (size_t k = prev_end; k < start; k++)
      if (b[k] != 0)
        return fail(c, ESMM_ECORRUPT, "padding byte at offset %zu is not zero", k);
    if (i < n)
      prev_end = start + (size_t)all[order[i]].size;
  }

  for (uint32_t i = 0; i < n; i++) {
    uint32_t crc = esmm__crc32(0, b + all[i].off, (size_t)all[i].size);
    if (crc != all[i].crc && CRC_FATAL)
      return fail(c, ESMM_ECORRUPT, "section %u (kind %u) checksum mismatch (stored %08x, computed %08x)",
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
    return fail(c, ESMM_ECORRUPT, "config section: contains a NUL byte");
  ESMM__TRY(esmm_config_new(&cfg));
  rc = esmm__config_from_text(cfg, (const char *)text, len);
  if (rc != ESMM_OK) {
    char why[512];
    snprintf(why, sizeof why, "%s", esmm_last_error());
    esmm_config_free(cfg);
    if (rc == ESMM_ENOMEM)
      return rc;
    return fail(c, ESMM_ECORRUPT, "config section: %s", why);
  }
  *out = cfg;
  return ESMM_OK;
}

/* Check the tensor index against the shapes the config implies, and every
 * float of the data section; off_out[i] receives tensor i's file offset. */
static int check_tensors(const ldctx *c, const unsigned char *b, const section *idx, const section *data,
                         const esmm__tensor *want, size_t n_want, uint64_t *off_out) {
  reader r = {b + idx->off, (size_t)idx->size, 0, 1};
  uint32_t count = rd_u32(&r);
  uint64_t prev_end = 0;
  if (!r.ok)
    return fail(c, ESMM_ECORRUPT, "tensor index: truncated before the tensor count");
  if (count != n_want)
    return fail(c, ESMM_ECORRUPT, "tensor index: %u tensors, the file's config implies %zu", (unsigned)count,
                n_want);
  if (data->off % DATA_ALIGN != 0)
    return fail(c, ESMM_ECORRUPT, "tensor data section at offset %llu is not %u-byte aligned",
                (unsigned long long)data->off, DATA_ALIGN);
  for (size_t i = 0; i < n_want; i++) {
    uint32_t nl = rd_u32(&r), dtype, rank;
    const unsigned char *name = rd_take(&r, nl);
    uint64_t rows, cols, off, nbytes;
    dtype = rd_u32(&r);
    rank = rd_u32(&r);
    if (!r.ok)
      return fail(c, ESMM_ECORRUPT, "tensor index: truncated in entry %zu", i);
    if (!valid_name(name, nl))
      return fail(c, ESMM_ECORRUPT, "tensor index: entry %zu has an invalid name", i);
    if (nl != strlen(want[i].name) || memcmp(name, want[i].name, nl) != 0)
      return fail(c, ESMM_ECORRUPT, "tensor index: entry %zu is \"%.*s\", expected \"%s\"", i, (int)nl,
                  (const char *)name, want[i].name);
    if (dtype != DTYPE_F32)
      return fail(c, ESMM_ECORRUPT, "tensor %s: unknown dtype %u (1 = f32)", want[i].name, (unsigned)dtype);
    if (rank != TENSOR_RANK)
      return fail(c, ESMM_ECORRUPT, "tensor %s: rank %u, expected 2", want[i].name, (unsigned)rank);
    rows = rd_u64(&r);
    cols = rd_u64(&r);
    off = rd_u64(&r);
    if (!r.ok)
      return fail(c, ESMM_ECORRUPT, "tensor index: truncated in entry %zu", i);
    if (rows != want[i].rows || cols != want[i].cols)
      return fail(c, ESMM_ECORRUPT, "tensor %s is %llu x %llu, the file's config implies %llu x %llu", want[i].name,
                  (unsigned long long)rows, (unsigned long long)cols, (unsigned long long)want[i].rows,
                  (unsigned long long)want[i].cols);
    nbytes = tensor_bytes(rows, cols); /* bounded by the config: no overflow */
    if (off % DATA_ALIGN != 0 || off < prev_end || off > data->size || nbytes > data->size - off)
      return fail(c, ESMM_ECORRUPT,
                  "tensor %s at [%llu, +%llu) is misaligned, overlaps or lies outside the %llu-byte data section",
                  want[i].name, (unsigned long long)off, (unsigned long long)nbytes, (unsigned long long)data->size);
    prev_end = off + nbytes;
    off_out[i] = data->off + off;
  }
  if (r.pos != r.len)
    return fail(c, ESMM_ECORRUPT, "tensor index: %zu unexpected bytes after the last entry", r.len - r.pos);
  for (size_t i = 0; i < n_want; i++) {
    const unsigned char *q = b + off_out[i];
    uint64_t n = want[i].rows * want[i].cols;
    for (uint64_t k = 0; k < n; k++)
      if (!isfinite(esmm__bits_f32(esmm__get_u32(q + 4 * k))))
        return fail(c, ESMM_ENUMERIC, "parameter %s[%llu] is NaN or infinite", want[i].name, (unsigned long long)k);
  }
  return ESMM_OK;
}

/* A validated checkpoint: where the optimizer arrays start and the decoded
 * counters, applied to the model once it is built. */
typedef struct ckpt_view {
  uint32_t kind, n_blocks, n_arrays;
  int64_t t;
  const unsigned char *blocks; /* n_blocks headers of OPT_BLOCK_HEAD bytes */
  const unsigned char *arrays; /* then the arrays, block by block */
  esmm__train_state st;
} ckpt_view;

static int64_t as_i64(uint64_t v) { return v > (uint64_t)INT64_MAX ? -1 : (int64_t)v; }

/* Check the optimizer and training sections (sizes add up, kinds agree
 * with the config, one block per tensor with the tensor's shape, values
 * finite and in range) before any model is built: want[0..n_want) are the
 * tensors the file's config implies, and block i holds tensor i's state. */
static int check_ckpt(const ldctx *c, const unsigned char *b, const section *os, const section *ts,
                      const esmm_config *cfg, const esmm__tensor *want, size_t n_want, ckpt_view *v) {
  reader r = {b + os->off, (size_t)os->size, 0, 1};
  uint64_t need = OPT_HEAD, t64;
  int kind_cfg = (int)esmm__config_int(cfg, ESMM_OPT_OPTIMIZER);
  memset(v, 0, sizeof *v);
  v->kind = rd_u32(&r);
  v->n_blocks = rd_u32(&r);
  t64 = rd_u64(&r);
  if (!r.ok)
    return fail(c, ESMM_ECORRUPT, "optimizer section: truncated (%llu bytes)", (unsigned long long)os->size);
  if (v->kind != (uint32_t)kind_cfg)
    return fail(c, ESMM_ECORRUPT, "optimizer section: optimizer kind %u, the file's config says %d", (unsigned)v->kind,
                kind_cfg);
  if (v->n_blocks != n_want)
    return fail(c, ESMM_ECORRUPT, "optimizer section: %u blocks, the file's config implies %zu tensors (one block "
                "each)", (unsigned)v->n_blocks, n_want);
  v->t = as_i64(t64);
  if (v->t < 0)
    return fail(c, ESMM_ECORRUPT, "optimizer section: step count %llu out of range", (unsigned long long)t64);
  v->n_arrays = opt_arrays(v->kind);
  v->blocks = b + os->off + OPT_HEAD;
  for (uint32_t k = 0; k < v->n_blocks; k++) {
    uint64_t rows = rd_u64(&r), cols = rd_u64(&r);
    uint32_t na = rd_u32(&r), res = rd_u32(&r);
    if (!r.ok)
      return fail(c, ESMM_ECORRUPT, "optimizer section: truncated in block %u", (unsigned)k);
    if (na != v->n_arrays || res != 0)
      return fail(c, ESMM_ECORRUPT, "optimizer section: block %u has %u arrays (expected %u) or a non-zero reserved field",
                  (unsigned)k, (unsigned)na, (unsigned)v->n_arrays);
    /* dims below 2^32 keep rows*cols in 64 bits; with arrays, each one
     * must also lie inside the section (SGD blocks have none) */
    if (rows == 0 || cols == 0 || rows > UINT32_MAX || cols > UINT32_MAX || (na && rows * cols > os->size / 4))
      return fail(c, ESMM_ECORRUPT, "optimizer section: block %u is %llu x %llu, impossible in %llu bytes", (unsigned)k,
                  (unsigned long long)rows, (unsigned long long)cols, (unsigned long long)os->size);
    if (rows != want[k].rows || cols != want[k].cols)
      return fail(c, ESMM_ECORRUPT, "optimizer section: block %u is %llu x %llu, tensor %s is %zu x %zu", (unsigned)k,
                  (unsigned long long)rows, (unsigned long long)cols, want[k].name, want[k].rows, want[k].cols);
    need += OPT_BLOCK_HEAD + (uint64_t)na * tensor_bytes(rows, cols);
    if (need > os->size)
      return fail(c, ESMM_ECORRUPT, "optimizer section: %llu bytes, its blocks need more",
                  (unsigned long long)os->size);
  }
  if (need != os->size)
    return fail(c, ESMM_ECORRUPT, "optimizer section: %llu bytes, its blocks need %llu", (unsigned long long)os->size,
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
            return fail(c, ESMM_ECORRUPT, "optimizer section: block %u array %u value %llu is %g", (unsigned)k,
                        (unsigned)a, (unsigned long long)i, (double)f);
        }
    }
  }

  if (ts->size != TRAIN_SIZE)
    return fail(c, ESMM_ECORRUPT, "training section: %llu bytes, expected %u", (unsigned long long)ts->size,
                TRAIN_SIZE);
  {
    reader t = {b + ts->off, (size_t)ts->size, 0, 1};
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
      return fail(c, ESMM_ECORRUPT, "training section: counters out of range (step %lld, epoch %lld, samples %lld, "
                  "epoch steps %lld)", (long long)v->st.step, (long long)v->st.epoch, (long long)v->st.samples,
                  (long long)v->st.epoch_steps);
    if (!isfinite(v->st.epoch_loss_sum))
      return fail(c, ESMM_ECORRUPT, "training section: the epoch's loss sum is not finite");
    if ((v->st.rng_epoch.s[0] | v->st.rng_epoch.s[1] | v->st.rng_epoch.s[2] | v->st.rng_epoch.s[3]) == 0)
      return fail(c, ESMM_ECORRUPT, "training section: the RNG state is all zero (not a reachable state)");
    if (cursor > perm_n || perm_n > SIZE_MAX)
      return fail(c, ESMM_ECORRUPT, "training section: position %llu of %llu rows", (unsigned long long)cursor,
                  (unsigned long long)perm_n);
    v->st.cursor = (size_t)cursor;
    v->st.perm_n = (size_t)perm_n;
  }
  return ESMM_OK;
}

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
    return fail(c, ESMM_ERROR, "internal: the model has %zu tensor blocks and %d optimizer blocks, the checkpoint %u",
                nb, op->n_blocks, (unsigned)v->n_blocks);
  for (uint32_t k = 0; k < v->n_blocks; k++) {
    const unsigned char *h = v->blocks + (size_t)k * OPT_BLOCK_HEAD;
    size_t rows = 0, cols = 0;
    if (esmm__optimizer_block_shape(op, blk[k], &rows, &cols) != ESMM_OK || esmm__get_u64(h) != rows ||
        esmm__get_u64(h + 8) != cols)
      return fail(c, ESMM_ERROR, "internal: checkpoint block %u is %llu x %llu, the model's block %d is %zu x %zu",
                  (unsigned)k, (unsigned long long)esmm__get_u64(h), (unsigned long long)esmm__get_u64(h + 8), blk[k], rows, cols);
  }
  for (uint32_t k = 0; k < v->n_blocks; k++) {
    float *s1 = NULL, *s2 = NULL;
    size_t n = 0;
    (void)esmm__optimizer_state(op, blk[k], &s1, &s2, &n);
    for (uint32_t a = 0; a < v->n_arrays; a++) {
      float *dst = a == 0 ? s1 : s2;
      if (!dst)
        return fail(c, ESMM_ERROR, "internal: optimizer block %u has no array %u", (unsigned)k, (unsigned)a);
      for (size_t i = 0; i < n; i++, q += 4)
        dst[i] = esmm__bits_f32(esmm__get_u32(q));
    }
  }
  esmm__optimizer_set_steps(op, v->t);
  esmm__model_set_train_state(m, &v->st);
  return ESMM_OK;
}

/* Apply the metadata section (kind 6) to cfg: u32 count, then count times
 * u32 key length, key, u32 value length, value. Keys valid and distinct,
 * values without NUL and within the limits, no byte left over. */
static int read_meta(const ldctx *c, const unsigned char *p, size_t len, esmm_config *cfg) {
  reader r = {p, len, 0, 1};
  uint32_t count = rd_u32(&r);
  if (!r.ok || count > ESMM__META_MAX)
    return fail(c, ESMM_ECORRUPT, "metadata section: %s", !r.ok ? "truncated" : "too many entries");
  for (uint32_t i = 0; i < count; i++) {
    char key[ESMM__META_KEY_MAX + 1], *value;
    uint32_t kl = rd_u32(&r), vl;
    const unsigned char *k = rd_take(&r, kl), *v;
    vl = rd_u32(&r);
    v = rd_take(&r, vl);
    if (!r.ok)
      return fail(c, ESMM_ECORRUPT, "metadata section: truncated in entry %u", (unsigned)i);
    if (!esmm__meta_key_ok((const char *)k, kl))
      return fail(c, ESMM_ECORRUPT, "metadata section: entry %u has an invalid key", (unsigned)i);
    memcpy(key, k, kl);
    key[kl] = '\0';
    if (vl > ESMM__META_VALUE_MAX || memchr(v, '\0', vl))
      return fail(c, ESMM_ECORRUPT, "metadata section: the value of %s is too long or holds a NUL byte", key);
    {
      const char *seen = NULL;
      (void)esmm_config_meta(cfg, key, &seen);
      if (seen)
        return fail(c, ESMM_ECORRUPT, "metadata section: key %s appears twice", key);
    }
    if (!(value = malloc((size_t)vl + 1)))
      return fail(c, ESMM_ENOMEM, "out of memory for the metadata");
    memcpy(value, v, vl);
    value[vl] = '\0';
    if (esmm_config_set_meta(cfg, key, value) != ESMM_OK) {
      free(value);
      return fail(c, ESMM_ENOMEM, "out of memory for the metadata");
    }
    free(value);
  }
  if (r.pos != r.len)
    return fail(c, ESMM_ECORRUPT, "metadata section: %zu unexpected bytes after the last entry", r.len - r.pos);
  return ESMM_OK;
}

/* ---- loading with changed options ------------------------------------------- */

/* Why an option may not change when a checkpoint is resumed, or NULL when
 * it may. What may change: how the remaining steps update (learning_rate,
 * l2), how long and until what the run goes (epochs, the fit options), how
 * further data is read (the reader options but dense_features) and the
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
typedef struct changes {
  const esmm_config *cfg;
  const esmm_opt *opts;
  size_t n;
} changes;

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
static void apply_hooks(esmm_config *cfg, const esmm_config *hooks) {
  esmm__allocator da = esmm__allocator_default();
  esmm__logger nolog = {NULL, 0, NULL};
  cfg->alloc = hooks ? hooks->alloc : da;
  cfg->log = hooks ? hooks->log : nolog;
  (void)esmm_config_set_int(cfg, ESMM_OPT_NUM_THREADS, hooks ? esmm__config_int(hooks, ESMM_OPT_NUM_THREADS) : 0);
}

/* Everything a model file says, validated, before any model is built. */
typedef struct parsed {
  uint32_t version;
  section sec[ESMM__SECTION_KINDS];
  int have[ESMM__SECTION_KINDS];
  esmm_config *cfg; /* owned */
  esmm__tensor want[MAX_TENSORS];
  size_t n_want;
  uint64_t off[MAX_TENSORS];
  int ckpt; /* the checkpoint sections were validated into cv */
  ckpt_view cv;
} parsed;

/* Validate the file b[0 .. len): container, config (+ metadata), the
 * tensors the config implies, and with ckpt 1 the checkpoint sections
 * (which must be there); with ckpt -1 they are validated when present. */
static int parse_file(const ldctx *c, const unsigned char *b, size_t len, int ckpt, const changes *ch,
                      parsed *P) {
  int rc;
  memset(P, 0, sizeof *P);
  ESMM__TRY(check_container(c, b, len, P->sec, P->have, &P->version));
  if (ckpt < 0)
    ckpt = P->have[ESMM__SECTION_OPTIMIZER - 1] && P->have[ESMM__SECTION_TRAINING - 1];
  if (ckpt && (!P->have[ESMM__SECTION_OPTIMIZER - 1] || !P->have[ESMM__SECTION_TRAINING - 1]))
    return fail(c, ESMM_ECORRUPT, "not a checkpoint: the %s section is missing (a plain model file? load it with "
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
      rc = fail(c, ESMM_ECORRUPT, "config section: implies %zu tensors, at most %d are supported", P->n_want,
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

static int load_impl(const ldctx *c, esmm_model **out, const unsigned char *b, size_t len, const esmm_config *hooks,
                     int ckpt, const changes *ch) {
  parsed P;
  esmm__tensor got[MAX_TENSORS];
  esmm_model *m = NULL;
  size_t n_got;
  int rc;

  ESMM__TRY(parse_file(c, b, len, ckpt, ch, &P));
  /* Everything is validated: only now build (and allocate) the model. */
  apply_hooks(P.cfg, hooks);
  rc = esmm__model_create(&m, P.cfg, c->func);
  if (rc != ESMM_OK) {
    char why[512];
    snprintf(why, sizeof why, "%s", esmm_last_error());
    esmm_config_free(P.cfg);
    if (rc == ESMM_ENOMEM)
      return rc;
    return fail(c, ESMM_ECORRUPT, "the file's configuration cannot build a model: %s", why);
  }
  esmm_config_free(P.cfg);

  n_got = esmm__model_tensors(m, got, MAX_TENSORS);
  if (n_got != P.n_want) {
    esmm_model_free(m);
    return fail(c, ESMM_ERROR, "internal: the model has %zu tensors, the loader expected %zu", n_got, P.n_want);
  }
  for (size_t i = 0; i < n_got; i++)
    if (strcmp(got[i].name, P.want[i].name) != 0 || got[i].rows != P.want[i].rows || got[i].cols != P.want[i].cols) {
      esmm_model_free(m);
      return fail(c, ESMM_ERROR, "internal: model tensor %zu (%s %zu x %zu) differs from the loader's %s", i,
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

/* Read a whole file into memory from allocator a. */
static int read_whole(const ldctx *c, const esmm__allocator *a, unsigned char **buf_out, size_t *len_out) {
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
    return fail(c, ESMM_EIO, "open failed: %s", errtext(e, eb, sizeof eb));
  }
  if (fstat(fd, &st) != 0) {
    e = errno;
    close(fd);
    return fail(c, ESMM_EIO, "fstat failed: %s", errtext(e, eb, sizeof eb));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return fail(c, ESMM_EIO, "not a regular file");
  }
  if (st.st_size < 0 || (uint64_t)st.st_size > SIZE_MAX) {
    close(fd);
    return fail(c, ESMM_ENOMEM, "a file of %lld bytes does not fit in memory", (long long)st.st_size);
  }
  size = (size_t)st.st_size;
  buf = esmm__alloc(a, size ? size : 1);
  if (!buf) {
    close(fd);
    return fail(c, ESMM_ENOMEM, "out of memory for a file of %zu bytes", size);
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
      return fail(c, ESMM_EIO, "read failed: %s", errtext(e, eb, sizeof eb));
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
  ESMM__TRY(read_whole(&c, a, &buf, &len));
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
  ESMM__TRY(parse_file(c, b, len, -1, NULL, &P));
  info = calloc(1, sizeof *info);
  if (info)
    info->cfg_text = malloc((size_t)P.sec[0].size + 1);
  if (!info || !info->cfg_text) {
    free(info);
    esmm_config_free(P.cfg);
    return fail(c, ESMM_ENOMEM, "out of memory");
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
  ESMM__TRY(read_whole(&c, NULL, &buf, &len));
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
