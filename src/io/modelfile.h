/*
 * io/modelfile.h (internal) - the model file format (docs/model-format.md):
 * its constants, the bounds-checked byte cursors, and what the four parts
 * of its implementation share:
 *   model_save.c   the layout of a model's file and the streaming writer
 *                  (atomic save, save into a buffer);
 *   model_check.c  validation of a file's bytes before anything is built:
 *                  container, CRCs, config, tensors, checkpoint sections,
 *                  metadata, options changed at load;
 *   model_load.c   building a model (or a checkpoint's training state) from
 *                  a validated file, and the esmm_model_load* calls;
 *   model_info.c   esmm_model_info_*: a file described without a model.
 * Reaches parameters only through esmm__model_tensors and the config only
 * through esmm__config_to_text / esmm__config_from_text. Every multi-byte
 * value is encoded explicitly little-endian (le.h), never by copying
 * structs, so files are identical on every host. Knows nothing of
 * training, datasets or how the parts compute.
 */
#ifndef ESMM__MODELFILE_H
#define ESMM__MODELFILE_H

#include "crc32.h"
#include "internal.h"
#include "le.h"
#include "model.h"
#include "optimizer.h"

#include <stdio.h>
#include <string.h>

/* The newest format version this library reads and writes. Files without
 * metadata are written as version 1 (byte for byte as by libesmm 1.0);
 * version 2 adds section flags and the metadata section. */
#define ESMM__FORMAT_VERSION 2u
#define ESMM__FORMAT_VERSION_1 1u

/* Section kinds (pinned; 4 and 5 reserved for the checkpoint format). */
#define ESMM__SECTION_CONFIG 1u
#define ESMM__SECTION_TENSOR_INDEX 2u
#define ESMM__SECTION_TENSOR_DATA 3u
#define ESMM__SECTION_OPTIMIZER 4u
#define ESMM__SECTION_TRAINING 5u
#define ESMM__SECTION_META 6u /* version 2: metadata (esmm_config_set_meta) */
#define ESMM__SECTION_KINDS 6u /* kinds this library knows: 1 .. ESMM__SECTION_KINDS */

/* Version 2 section flags (the u32 at +4 of a table entry; 0 in version 1). */
#define ESMM__SECTION_OPTIONAL 1u /* a reader that does not know the kind may ignore the section */

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

static inline size_t header_size(size_t n_sections) { return FIXED_HEADER + ENTRY_SIZE * n_sections + 4u; }

static inline uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* Bounds-checked cursor over untrusted bytes. Once a read would pass the
 * end, ok drops to 0 and every later read yields zeros, so a parser checks
 * ok once after a group of reads. */
typedef struct mf_reader {
  const unsigned char *p;
  size_t len, pos;
  int ok;
} mf_reader;

static inline const unsigned char *rd_take(mf_reader *r, size_t n) {
  const unsigned char *q;
  if (!r->ok || n > r->len - r->pos) {
    r->ok = 0;
    return NULL;
  }
  q = r->p + r->pos;
  r->pos += n;
  return q;
}

static inline uint32_t rd_u32(mf_reader *r) {
  const unsigned char *q = rd_take(r, 4);
  return q ? esmm__get_u32(q) : 0;
}

static inline uint64_t rd_u64(mf_reader *r) {
  const unsigned char *q = rd_take(r, 8);
  return q ? esmm__get_u64(q) : 0;
}

/* Bounds-checked cursor for the mf_writer: a layout bug fails loudly instead
 * of scribbling past the caller's buffer. */
typedef struct mf_writer {
  unsigned char *p;
  size_t cap, pos;
  int ok;
} mf_writer;

static inline unsigned char *wr_take(mf_writer *w, size_t n) {
  unsigned char *q;
  if (!w->ok || n > w->cap - w->pos) {
    w->ok = 0;
    return NULL;
  }
  q = w->p + w->pos;
  w->pos += n;
  return q;
}

static inline void wr_u32(mf_writer *w, uint32_t v) {
  unsigned char *q = wr_take(w, 4);
  if (q)
    esmm__put_u32(q, v);
}

static inline void wr_u64(mf_writer *w, uint64_t v) {
  unsigned char *q = wr_take(w, 8);
  if (q)
    esmm__put_u64(q, v);
}

/* strerror is not thread-safe; the XSI strerror_r is (POSIX 2008). */
static inline const char *errtext(int e, char *buf, size_t n) {
  if (strerror_r(e, buf, n) != 0)
    snprintf(buf, n, "errno %d", e);
  return buf;
}

/* Optimizer arrays per block for each kind (Adam: m and v; Adagrad: the
 * accumulator; SGD: none). */
static inline uint32_t opt_arrays(int kind) {
  return kind == ESMM_OPTIMIZER_ADAM ? 2u : kind == ESMM_OPTIMIZER_ADAGRAD ? 1u : 0u;
}

static inline uint64_t tensor_bytes(uint64_t rows, uint64_t cols) { return rows * cols * 4u; }

/* Who is loading (for messages): the public function and, for files, the path. */
typedef struct ldctx {
  const char *func;
  const char *path;
} ldctx;

/* "<func>: [<path>: ]<message>" with status. */
int esmm__mf_fail(const ldctx *c, int status, const char *fmt, ...) ESMM__PRINTF(3, 4);

typedef struct section {
  uint32_t kind, crc;
  uint64_t off, size;
} section;

typedef struct ckpt_view {
  uint32_t kind, n_blocks, n_arrays;
  int64_t t;
  const unsigned char *blocks; /* n_blocks headers of OPT_BLOCK_HEAD bytes */
  const unsigned char *arrays; /* then the arrays, block by block */
  esmm__train_state st;
} ckpt_view;

typedef struct changes {
  const esmm_config *cfg;
  const esmm_opt *opts;
  size_t n;
} changes;

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

/* Validate the file b[0 .. len) (model_check.c): container, config (+
 * metadata; options changed by ch applied), the tensors the config implies,
 * and with ckpt 1 the checkpoint sections (which must be there); with ckpt
 * -1 they are validated when present. On success P->cfg is owned by the
 * caller. */
int esmm__mf_parse(const ldctx *c, const unsigned char *b, size_t len, int ckpt, const changes *ch, parsed *P);

/* The hooks config supplies only how a loaded model runs on this host. */
void esmm__mf_apply_hooks(esmm_config *cfg, const esmm_config *hooks);

/* Read the whole file c->path into memory from allocator a (NULL = default). */
int esmm__mf_read_whole(const ldctx *c, const esmm__allocator *a, unsigned char **buf_out, size_t *len_out);

#endif /* ESMM__MODELFILE_H */
