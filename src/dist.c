/* dist.c - data-parallel training over a host's collective operations.
 *
 * One step with R ranks, rank r holding a local batch of n_r rows:
 *   header  all-gather of 40 bytes per rank (a tag naming the call): step, n_r, "last batch of the
 *           epoch" flag, parameter checksum (when due). Ranks that disagree
 *           on the step or on the end of the epoch stop with ESMM_ESTATE
 *           (every rank sees the same headers, so every rank stops: no rank
 *           is left waiting in a collective).
 *   weights w_r = n_r / sum n: the global gradient is sum_r w_r * g_r, the
 *           exact mean over the global batch even when the last batches
 *           of an epoch differ in size.
 *   dense   every tower's gw, gb scaled by w_r, packed into one buffer and
 *           all-reduced (sum).
 *   sparse  (row, w_r * gradient) pairs all-gathered (sizes first, then the
 *           buffers) and merged in rank order, then in each rank's order
 *           of first touch, into the model's sparse gradient: the same
 *           float additions in the same order on every rank, so the
 *           replicas apply bit-identical updates.
 * The model's slot scratch (embedding.c) marks the rows of a table's sparse
 * gradient (esmm__train_sparse, train.h): the local rows are unmarked
 * before the merge and the merged rows marked as they are added, so
 * esmm__embedding_scatter_end unmarks exactly the rows it finds.
 *
 * The hook handles every trainable part of every variant: the towers the
 * model lists (esmm__model_towers: CTR, second, imputation) and its tables
 * (the shared one; the second one when the variant has it, variant.h). A
 * part outside those lists would make the replicas diverge - which the
 * parameter checksum then reports. */
#include "dist.h"

#include "config.h"
#include "dataset.h"
#include "embedding.h"
#include "mlp.h"
#include "model.h"
#include "rng.h"

#include <string.h>

/* ---- the communicator -------------------------------------------------- */

int esmm_comm_new(esmm_comm **out, int rank, int size, esmm_comm_allreduce_fn allreduce,
                  esmm_comm_allgatherv_fn allgatherv, esmm_comm_barrier_fn barrier, esmm_comm_destroy_fn destroy,
                  void *payload) {
  esmm__allocator a = esmm__allocator_default();
  esmm_comm *c;
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(allreduce && allgatherv && barrier);
  if (size < 1 || size > (1 << 20) || rank < 0 || rank >= size)
    return ESMM__ERR(ESMM_EINVAL, "rank %d and size %d: need 0 <= rank < size <= 2^20", rank, size);
  c = esmm__calloc(&a, 1, sizeof *c);
  if (!c)
    return ESMM__ERR(ESMM_ENOMEM, "out of memory");
  c->alloc = a;
  c->rank = rank;
  c->size = size;
  c->allreduce = allreduce;
  c->allgatherv = allgatherv;
  c->barrier = barrier;
  c->destroy = destroy;
  c->payload = payload;
  c->counts = esmm__calloc(&a, (size_t)size, sizeof *c->counts);
  c->small = esmm__calloc(&a, (size_t)size, ESMM__DIST_HDR);
  if (!c->counts || !c->small) {
    c->destroy = NULL; /* the payload stays the caller's on failure */
    esmm_comm_free(c);
    return ESMM__ERR(ESMM_ENOMEM, "out of memory for %d ranks", size);
  }
  *out = c;
  return ESMM_OK;
}

void esmm_comm_free(esmm_comm *c) {
  if (!c)
    return;
  if (c->destroy)
    c->destroy(c->payload);
  esmm__free(&c->alloc, c->counts);
  esmm__free(&c->alloc, c->small);
  esmm__free(&c->alloc, c->dense);
  esmm__free(&c->alloc, c->send);
  esmm__free(&c->alloc, c->recv);
  esmm__free(&c->alloc, c);
}

int esmm_comm_info(const esmm_comm *c, int *rank_out, int *size_out) {
  ESMM__CHECK_ARG(c);
  if (rank_out)
    *rank_out = c->rank;
  if (size_out)
    *size_out = c->size;
  return ESMM_OK;
}

int esmm_comm_stats(const esmm_comm *c, uint64_t *bytes_out, uint64_t *calls_out) {
  ESMM__CHECK_ARG(c);
  if (bytes_out)
    *bytes_out = c->bytes;
  if (calls_out)
    *calls_out = c->calls;
  return ESMM_OK;
}

/* Make *p hold at least need bytes (contents not kept). */
static int grow(const esmm__allocator *a, void **p, size_t *cap, size_t need) {
  void *q;
  if (need <= *cap && *p)
    return ESMM_OK;
  if (need < *cap + *cap / 2)
    need = *cap + *cap / 2;
  q = esmm__alloc(a, need ? need : 1);
  if (!q)
    return ESMM_ENOMEM;
  esmm__free(a, *p);
  *p = q;
  *cap = need;
  return ESMM_OK;
}

int esmm__comm_allreduce(esmm_comm *c, float *data, size_t n, const char *func) {
  c->calls++;
  c->bytes += n * sizeof *data;
  if (c->size == 1 || n == 0)
    return ESMM_OK;
  if (c->allreduce(data, n, c->payload) != 0)
    return esmm__error(ESMM_EIO, func, "rank %d: the transport's all-reduce of %zu floats failed", c->rank, n);
  return ESMM_OK;
}

static int raw_gather(esmm_comm *c, const void *send, size_t bytes, void *recv, const size_t *counts,
                      const char *func) {
  c->calls++;
  c->bytes += bytes;
  if (c->size == 1) {
    if (bytes)
      memcpy(recv, send, bytes);
    return ESMM_OK;
  }
  if (c->allgatherv(send, bytes, recv, counts, c->payload) != 0)
    return esmm__error(ESMM_EIO, func, "rank %d: the transport's all-gather of %zu bytes failed", c->rank, bytes);
  return ESMM_OK;
}

/* Operations tagged in every small gather, so that ranks calling different
 * collectives (e.g. one still training, one evaluating) are told so instead
 * of exchanging mismatched buffers. */
enum { OP_SIZES = 1, OP_STEP = 2, OP_CHECKSUM = 3, OP_STATUS_EVAL = 4, OP_STATUS_SAVE = 5 };
static const char *const op_names[] = {"?", "an all-gather", "a training step", "a checksum comparison",
                                       "an evaluation", "a save"};

/* Gather ESMM__DIST_HDR bytes per rank into c->small: a tag word, then
 * bytes (<= ESMM__DIST_HDR - 8) of payload; fails on every rank when the
 * ranks' tags differ. Payloads are read back with small_at. */
static int gather_small(esmm_comm *c, int op, const void *send, size_t bytes, const char *func) {
  unsigned char buf[ESMM__DIST_HDR];
  uint64_t tag = 0x45534d4d00000000ULL | (uint64_t)op;
  memset(buf, 0, sizeof buf);
  memcpy(buf, &tag, sizeof tag);
  memcpy(buf + sizeof tag, send, bytes);
  for (int r = 0; r < c->size; r++)
    c->counts[r] = ESMM__DIST_HDR;
  ESMM__TRY(raw_gather(c, buf, ESMM__DIST_HDR, c->small, c->counts, func));
  for (int r = 0; r < c->size; r++) {
    uint64_t t;
    memcpy(&t, c->small + (size_t)r * ESMM__DIST_HDR, sizeof t);
    if (t != tag) {
      unsigned o = (unsigned)(t & 0xff);
      return esmm__error(ESMM_ESTATE, func, "the ranks are out of step: rank %d is in %s, rank %d in %s", c->rank,
                         op_names[op], r, (t >> 32) == 0x45534d4dULL && o < 6 ? op_names[o] : "an unknown call");
    }
  }
  return ESMM_OK;
}

static void small_at(const esmm_comm *c, int r, void *out, size_t bytes) {
  memcpy(out, c->small + (size_t)r * ESMM__DIST_HDR + sizeof(uint64_t), bytes);
}

int esmm__comm_gather(esmm_comm *c, const void *send, size_t send_bytes, size_t *total_out, const char *func) {
  uint64_t mine = send_bytes;
  size_t total = 0;
  ESMM__TRY(gather_small(c, OP_SIZES, &mine, sizeof mine, func));
  for (int r = 0; r < c->size; r++) {
    uint64_t b;
    small_at(c, r, &b, sizeof b);
    if (b > SIZE_MAX - total)
      return esmm__error(ESMM_EIO, func, "all-gather sizes overflow");
    c->counts[r] = (size_t)b;
    total += (size_t)b;
  }
  if (grow(&c->alloc, (void **)&c->recv, &c->recv_cap, total) != ESMM_OK)
    return esmm__error(ESMM_ENOMEM, func, "out of memory for an all-gather of %zu bytes", total);
  ESMM__TRY(raw_gather(c, send, send_bytes, c->recv, c->counts, func));
  *total_out = total;
  return ESMM_OK;
}

/* ---- checksum ---------------------------------------------------------- */

uint64_t esmm__dist_checksum(esmm_model *m) {
  esmm__tensor t[2 + 6 * ESMM__MLP_MAX_LAYERS + 8]; /* tables, towers of every variant */
  size_t nt = esmm__model_tensors(m, t, sizeof t / sizeof t[0]);
  uint64_t h = 0x9e3779b97f4a7c15ULL;
  if (nt > sizeof t / sizeof t[0])
    nt = sizeof t / sizeof t[0];
  for (size_t k = 0; k < nt; k++) {
    size_t n = t[k].rows * t[k].cols;
    const uint32_t *w = (const uint32_t *)(const void *)t[k].data;
    uint64_t a = 0, b = 0;
    size_t i = 0;
    /* two independent lanes keep the loop fast; the mix is per word */
    for (; i + 1 < n; i += 2) {
      a = (a ^ w[i]) * 0x100000001b3ULL + (a >> 29);
      b = (b ^ w[i + 1]) * 0xff51afd7ed558ccdULL + (b >> 31);
    }
    if (i < n)
      a = (a ^ w[i]) * 0x100000001b3ULL;
    h = esmm__mix64(h ^ esmm__mix64(a ^ (b << 1) ^ (uint64_t)n));
  }
  return h;
}

static int compare_checksums(esmm_comm *c, esmm_model *m, uint64_t mine, const char *func) {
  ESMM__TRY(gather_small(c, OP_CHECKSUM, &mine, sizeof mine, func));
  for (int r = 0; r < c->size; r++) {
    uint64_t v;
    small_at(c, r, &v, sizeof v);
    if (v != mine)
      return esmm__error(ESMM_ESTATE, func,
                         "the replicas' parameters differ before step %lld: rank %d checksum %016llx, rank %d "
                         "%016llx",
                         (long long)m->step + 1, c->rank, (unsigned long long)mine, r, (unsigned long long)v);
  }
  return ESMM_OK;
}

/* ---- the step hook ----------------------------------------------------- */

typedef struct header {
  int64_t step, n;
  uint32_t last, pad;
  uint64_t checksum;
} header; /* 32 bytes: fits a small gather with its tag */

/* dir 0: dst = w * gradients (pack); dir 1: gradients = dst (unpack). */
static float *tower_copy(esmm_mlp *t, float *dst, float w, int dir) {
  for (size_t l = 0; l < t->n_layers; l++) {
    esmm__layer *ly = &t->layer[l];
    size_t nw = ly->n_in * ly->n_out;
    if (dir == 0) {
      for (size_t k = 0; k < nw; k++)
        dst[k] = w * ly->gw[k];
      for (size_t k = 0; k < ly->n_out; k++)
        dst[nw + k] = w * ly->gb[k];
    } else {
      memcpy(ly->gw, dst, nw * sizeof *dst);
      memcpy(ly->gb, dst + nw, ly->n_out * sizeof *dst);
    }
    dst += nw + ly->n_out;
  }
  return dst;
}

static int sync_dense(esmm_comm *c, esmm_model *m, float w, const char *func) {
  esmm_mlp *t[3];
  int nt = (int)esmm__model_towers(m, t);
  size_t n = 0, cap_bytes = c->dense_cap * sizeof(float);
  float *p;
  for (int k = 0; k < nt; k++)
    n += esmm__mlp_param_count(t[k]);
  if (grow(&c->alloc, (void **)&c->dense, &cap_bytes, n * sizeof(float)) != ESMM_OK)
    return esmm__error(ESMM_ENOMEM, func, "out of memory for %zu dense gradients", n);
  c->dense_cap = cap_bytes / sizeof(float);
  p = c->dense;
  for (int k = 0; k < nt; k++)
    p = tower_copy(t[k], p, w, 0);
  ESMM__TRY(esmm__comm_allreduce(c, c->dense, n, func));
  p = c->dense;
  for (int k = 0; k < nt; k++)
    p = tower_copy(t[k], p, w, 1);
  return ESMM_OK;
}

/* Replace sg (local rows of table e) with the union of every rank's, summed in rank order. */
static int sync_sparse(esmm_comm *c, esmm_model *m, int table, float w, const char *func) {
  esmm_embedding *e = table ? m->emb2 : m->emb;
  esmm__sparse_grad *sg = esmm__train_sparse(m, table);
  size_t dim = m->dim, rec = sizeof(int64_t) + dim * sizeof(float), bytes, total, bound = 0;
  unsigned char *p;
  if (!esmm__mul_ok(sg->n, rec, &bytes))
    return esmm__error(ESMM_ENOMEM, func, "sparse gradient too large");
  if (grow(&c->alloc, (void **)&c->send, &c->send_cap, bytes) != ESMM_OK)
    return esmm__error(ESMM_ENOMEM, func, "out of memory for %zu bytes of sparse gradient", bytes);
  memcpy(c->send, sg->rows, sg->n * sizeof(int64_t));
  {
    float *g = (float *)(void *)(c->send + sg->n * sizeof(int64_t));
    for (size_t k = 0; k < sg->n * dim; k++)
      g[k] = w * sg->g[k];
  }
  ESMM__TRY(esmm__comm_gather(c, c->send, bytes, &total, func));
  for (int r = 0; r < c->size; r++) {
    if (c->counts[r] % rec)
      return esmm__error(ESMM_EIO, func, "rank %d sent %zu bytes of sparse gradient, not a multiple of %zu", r,
                         c->counts[r], rec);
    bound += c->counts[r] / rec;
  }
  if (bound > e->rows)
    bound = e->rows;
  /* unmark the local rows: the merge below marks the union */
  esmm__embedding_scatter_end(e, sg);
  if (bound > sg->cap)
    ESMM__TRY(esmm__train_sparse_reserve(m, table, bound));
  p = c->recv;
  for (int r = 0; r < c->size; r++) {
    size_t nr = c->counts[r] / rec;
    const unsigned char *rows = p, *gr = p + nr * sizeof(int64_t);
    for (size_t j = 0; j < nr; j++) {
      int64_t row;
      float *dst;
      memcpy(&row, rows + j * sizeof row, sizeof row);
      if (row < 0 || (uint64_t)row >= (uint64_t)e->rows)
        return esmm__error(ESMM_EIO, func, "rank %d sent embedding row %lld, outside [0, %zu)", r, (long long)row,
                           e->rows);
      if (e->slot[row] < 0) {
        if (sg->n >= sg->cap)
          return esmm__error(ESMM_EIO, func, "rank %d sent a row twice", r);
        e->slot[row] = (int32_t)sg->n;
        sg->rows[sg->n] = row;
        memcpy(sg->g + sg->n * dim, gr + j * dim * sizeof(float), dim * sizeof(float));
        sg->n++;
      } else {
        float tmp[64];
        dst = sg->g + (size_t)e->slot[row] * dim;
        for (size_t d0 = 0; d0 < dim; d0 += 64) {
          size_t k = dim - d0 < 64 ? dim - d0 : 64;
          memcpy(tmp, gr + (j * dim + d0) * sizeof(float), k * sizeof(float));
          for (size_t d = 0; d < k; d++)
            dst[d0 + d] += tmp[d];
        }
      }
    }
    p += c->counts[r];
  }
  return ESMM_OK;
}

static int dist_sync(esmm_model *m, void *payload) {
  static const char func[] = "esmm_model_train";
  esmm_comm *c = payload;
  size_t n_local = m->perm_n - m->cursor;
  int64_t every = esmm__config_int(m->cfg, ESMM_OPT_DIST_CHECK_EVERY), n_all = 0;
  header h;
  float w;
  if (n_local > m->batch)
    n_local = m->batch;
  h.step = m->step;
  h.n = (int64_t)n_local;
  h.last = m->cursor + n_local >= m->perm_n;
  h.pad = 0;
  h.checksum = every > 0 && (m->step + 1) % every == 0 ? esmm__dist_checksum(m) : 0;
  ESMM__TRY(gather_small(c, OP_STEP, &h, sizeof h, func));
  for (int r = 0; r < c->size; r++) {
    header o;
    small_at(c, r, &o, sizeof o);
    if (o.step != h.step || o.last != h.last)
      return esmm__error(ESMM_ESTATE, func,
                         "the ranks are out of step: rank %d is at step %lld%s, rank %d at step %lld%s (shards "
                         "must give every rank the same number of batches per epoch)",
                         c->rank, (long long)h.step + 1, h.last ? " (last of its epoch)" : "", r,
                         (long long)o.step + 1, o.last ? " (last of its epoch)" : "");
    if (o.checksum != h.checksum)
      return esmm__error(ESMM_ESTATE, func,
                         "the replicas' parameters differ before step %lld: rank %d checksum %016llx, rank %d "
                         "%016llx",
                         (long long)h.step + 1, c->rank, (unsigned long long)h.checksum, r,
                         (unsigned long long)o.checksum);
    n_all += o.n;
  }
  if (n_all <= 0)
    return esmm__error(ESMM_ESTATE, func, "step %lld: no rank has rows", (long long)h.step + 1);
  w = (float)((double)n_local / (double)n_all);
  ESMM__TRY(sync_dense(c, m, w, func));
  ESMM__TRY(sync_sparse(c, m, 0, w, func));
  if (m->emb2)
    ESMM__TRY(sync_sparse(c, m, 1, w, func));
  return ESMM_OK;
}

int esmm_model_set_comm(esmm_model *m, esmm_comm *comm) {
  ESMM__CHECK_ARG(m);
  if (!comm) {
    if (m->sync == dist_sync) {
      m->sync = NULL;
      m->sync_payload = NULL;
    }
    return ESMM_OK;
  }
  if (m->sync && m->sync != dist_sync)
    return ESMM__ERR(ESMM_ESTATE, "the model already has another synchronisation hook");
  ESMM__TRY(compare_checksums(comm, m, esmm__dist_checksum(m), __func__));
  m->sync = dist_sync;
  m->sync_payload = comm;
  return ESMM_OK;
}

/* ---- shards ------------------------------------------------------------ */

_Static_assert(sizeof(struct header) + sizeof(uint64_t) <= ESMM__DIST_HDR, "header too large");

/* Rank of row r, or -1 for a row no rank trains on (ESMM_SHARD_EVEN's last round). */
static int rank_of_row(const esmm_dataset *ds, size_t r, int mode, size_t block, int size) {
  if (mode == ESMM_SHARD_EVEN)
    return r < ds->n_rows - ds->n_rows % (size_t)size ? (int)(r % (size_t)size) : -1;
  if (mode == ESMM_SHARD_ROWS)
    return (int)((r / block) % (size_t)size);
  if (ds->common[r] >= 0)
    return (int)(esmm__mix64((uint64_t)ds->common[r] ^ 0x636f6d6d6f6eULL) % (uint64_t)size);
  return (int)(esmm__mix64((uint64_t)r) % (uint64_t)size);
}

typedef struct shard_buf {
  int *click, *conv, *field;
  int64_t *common, *off, *cmap;
  uint64_t *id;
  float *value, *tmp;
} shard_buf;

static void free_shard_buf(const esmm__allocator *a, shard_buf *b) {
  esmm__free(a, b->click);
  esmm__free(a, b->conv);
  esmm__free(a, b->field);
  esmm__free(a, b->common);
  esmm__free(a, b->off);
  esmm__free(a, b->cmap);
  esmm__free(a, b->id);
  esmm__free(a, b->value);
  esmm__free(a, b->tmp);
}

/* Fill o with the rows of ds that go to rank (b sized by the caller). */
static int fill_shard(esmm_dataset *o, const esmm_dataset *ds, shard_buf *b, int rank, int size, int mode,
                      size_t block, size_t n, size_t nnz) {
  size_t k = 0, i = 0, wd = ds->n_dense;
  for (size_t c = 0; c < ds->n_common; c++)
    b->cmap[c] = -1;
  b->off[0] = 0;
  for (size_t r = 0; r < ds->n_rows; r++) {
    int64_t c = ds->common[r], lo = ds->row_off[r], hi = ds->row_off[r + 1];
    if (rank_of_row(ds, r, mode, block, size) != rank)
      continue;
    if (c >= 0 && b->cmap[c] < 0) {
      int64_t clo = ds->com_off[c], chi = ds->com_off[c + 1];
      ESMM__TRY(esmm_dataset_add_common(o, (size_t)(chi - clo), ds->com_field + clo, ds->com_id + clo,
                                        ds->com_value + clo, &b->cmap[c]));
    }
    b->click[i] = ds->click[r];
    b->conv[i] = ds->conv[r];
    b->common[i] = c >= 0 ? b->cmap[c] : -1;
    memcpy(b->field + k, ds->field + lo, (size_t)(hi - lo) * sizeof *b->field);
    memcpy(b->id + k, ds->id + lo, (size_t)(hi - lo) * sizeof *b->id);
    memcpy(b->value + k, ds->value + lo, (size_t)(hi - lo) * sizeof *b->value);
    k += (size_t)(hi - lo);
    b->off[++i] = (int64_t)k;
  }
  (void)nnz;
  ESMM__TRY(esmm_dataset_add_rows(o, n, b->click, b->conv, b->common, b->off, b->field, b->id, b->value));
  if (wd) {
    i = 0;
    for (size_t r = 0; r < ds->n_rows; r++)
      if (rank_of_row(ds, r, mode, block, size) == rank)
        memcpy(b->tmp + (i++) * wd, ds->dense + r * wd, wd * sizeof(float));
    ESMM__TRY(esmm_dataset_set_dense(o, 0, n, b->tmp));
  }
  for (int t = 0; t < ESMM_TRUTH_COUNT; t++) {
    if (!ds->truth[t])
      continue;
    i = 0;
    for (size_t r = 0; r < ds->n_rows; r++)
      if (rank_of_row(ds, r, mode, block, size) == rank)
        b->tmp[i++] = ds->truth[t][r];
    ESMM__TRY(esmm_dataset_set_truth(o, t, b->tmp, n));
  }
  return ESMM_OK;
}

int esmm_comm_shard(const esmm_comm *comm, const esmm_dataset *ds, int mode, size_t block, esmm_dataset **out) {
  const esmm__allocator *a;
  esmm_dataset *o = NULL;
  shard_buf b = {0};
  size_t n = 0, nnz = 0, tmp_n;
  int rc;
  ESMM__CHECK_ARG(out);
  *out = NULL;
  ESMM__CHECK_ARG(comm && ds);
  if (mode != ESMM_SHARD_ROWS && mode != ESMM_SHARD_GROUPS && mode != ESMM_SHARD_EVEN)
    return ESMM__ERR(ESMM_EINVAL, "unknown shard mode %d", mode);
  if (mode == ESMM_SHARD_ROWS && block == 0)
    return ESMM__ERR(ESMM_EINVAL, "block must be >= 1 with ESMM_SHARD_ROWS");
  a = &ds->alloc;
  for (size_t r = 0; r < ds->n_rows; r++)
    if (rank_of_row(ds, r, mode, block, comm->size) == comm->rank) {
      n++;
      nnz += (size_t)(ds->row_off[r + 1] - ds->row_off[r]);
    }
  tmp_n = ds->n_dense > 1 ? ds->n_dense : 1;
  if (!esmm__mul_ok(tmp_n, n ? n : 1, &tmp_n))
    return ESMM__ERR(ESMM_ENOMEM, "shard too large");
  b.click = esmm__alloc(a, (n + 1) * sizeof *b.click);
  b.conv = esmm__alloc(a, (n + 1) * sizeof *b.conv);
  b.common = esmm__alloc(a, (n + 1) * sizeof *b.common);
  b.off = esmm__alloc(a, (n + 1) * sizeof *b.off);
  b.cmap = esmm__alloc(a, (ds->n_common + 1) * sizeof *b.cmap);
  b.field = esmm__alloc(a, (nnz + 1) * sizeof *b.field);
  b.id = esmm__alloc(a, (nnz + 1) * sizeof *b.id);
  b.value = esmm__alloc(a, (nnz + 1) * sizeof *b.value);
  b.tmp = esmm__alloc(a, tmp_n * sizeof *b.tmp);
  if (!b.click || !b.conv || !b.common || !b.off || !b.cmap || !b.field || !b.id || !b.value || !b.tmp) {
    free_shard_buf(a, &b);
    return ESMM__ERR(ESMM_ENOMEM, "out of memory for a shard of %zu rows", n);
  }
  rc = esmm__dataset_create(&o, a, ds->n_fields, (const char(*)[ESMM_MAX_FIELD_NAME + 1])ds->names);
  if (rc == ESMM_OK && ds->n_dense)
    rc = esmm__dataset_set_dense_width(o, ds->n_dense);
  if (rc == ESMM_OK)
    rc = fill_shard(o, ds, &b, comm->rank, comm->size, mode, block, n, nnz);
  free_shard_buf(a, &b);
  if (rc) {
    esmm_dataset_free(o);
    return rc;
  }
  *out = o;
  return ESMM_OK;
}

/* ---- evaluation and saving --------------------------------------------- */

int esmm_comm_evaluate(esmm_comm *comm, const esmm_model *m, const esmm_dataset *shard, double *out,
                       size_t n_out) {
  static const size_t rec = 3 * sizeof(float) + 2 * sizeof(int);
  size_t n, total, n_all;
  unsigned char *buf;
  float *p = NULL;
  int *lab = NULL;
  int rc;
  ESMM__CHECK_ARG(comm && m && shard && out);
  n = shard->n_rows;
  buf = esmm__alloc(&m->alloc, n * rec + 1);
  if (!buf)
    return ESMM__ERR(ESMM_ENOMEM, "out of memory for %zu predictions", n);
  /* pctr, pcvr, pctcvr, click, conversion: five columns of n */
  rc = esmm_model_predict(m, NULL, shard, 0, n, (float *)(void *)buf, (float *)(void *)buf + n,
                          (float *)(void *)buf + 2 * n);
  /* every rank learns whether every rank could predict before anything else moves */
  {
    int64_t st = rc;
    int rc2 = gather_small(comm, OP_STATUS_EVAL, &st, sizeof st, __func__);
    for (int r = 0; rc2 == ESMM_OK && r < comm->size; r++) {
      small_at(comm, r, &st, sizeof st);
      if (st != ESMM_OK && rc == ESMM_OK)
        rc2 = ESMM__ERR((int)st, "rank %d could not predict its shard: %s", r, esmm_strerror((int)st));
    }
    if (rc || rc2) {
      esmm__free(&m->alloc, buf);
      return rc ? rc : rc2;
    }
  }
  memcpy(buf + 3 * n * sizeof(float), shard->click, n * sizeof(int));
  memcpy(buf + 3 * n * sizeof(float) + n * sizeof(int), shard->conv, n * sizeof(int));
  rc = esmm__comm_gather(comm, buf, n * rec, &total, __func__);
  esmm__free(&m->alloc, buf);
  if (rc)
    return rc;
  n_all = total / rec;
  p = esmm__alloc(&m->alloc, 3 * n_all * sizeof *p + 1);
  lab = esmm__alloc(&m->alloc, 2 * n_all * sizeof *lab + 1);
  if (!p || !lab) {
    esmm__free(&m->alloc, p);
    esmm__free(&m->alloc, lab);
    return ESMM__ERR(ESMM_ENOMEM, "out of memory for %zu gathered predictions", n_all);
  }
  {
    const unsigned char *q = comm->recv;
    size_t at = 0;
    for (int r = 0; r < comm->size; r++) {
      size_t nr = comm->counts[r] / rec;
      for (int col = 0; col < 3; col++)
        memcpy(p + col * n_all + at, q + (size_t)col * nr * sizeof(float), nr * sizeof(float));
      for (int col = 0; col < 2; col++)
        memcpy(lab + col * n_all + at, q + 3 * nr * sizeof(float) + (size_t)col * nr * sizeof(int),
               nr * sizeof(int));
      at += nr;
      q += comm->counts[r];
    }
  }
  if (rc == ESMM_OK)
    rc = esmm_metrics_compute(p, p + n_all, p + 2 * n_all, lab, lab + n_all, n_all, out, n_out);
  esmm__free(&m->alloc, p);
  esmm__free(&m->alloc, lab);
  return rc;
}

int esmm_comm_save(esmm_comm *comm, const esmm_model *m, const char *path, int checkpoint) {
  int64_t st = ESMM_OK, st0;
  ESMM__CHECK_ARG(comm && m && path);
  if (comm->rank == 0)
    st = checkpoint ? esmm_model_save_checkpoint(m, path) : esmm_model_save(m, path);
  ESMM__TRY(gather_small(comm, OP_STATUS_SAVE, &st, sizeof st, __func__));
  small_at(comm, 0, &st0, sizeof st0);
  if (comm->rank == 0 || st0 == ESMM_OK)
    return (int)st;
  return ESMM__ERR((int)st0, "rank 0 could not save %s: %s", path, esmm_strerror((int)st0));
}
