/*
 * model.h (internal) - the layout of esmm_model and esmm_workspace. The
 * model composes the parts: it owns the embedding table(s), the towers of
 * its variant (CTR, CVR or CTCVR, imputation), the optimizer and the
 * training scratch, assembles batches from datasets
 * and runs forward/backward/update. It knows the dataset layout, not file
 * formats. Model files (io/serialize.c) reach the parameters through
 * esmm__model_tensors.
 */
#ifndef ESMM__MODEL_H
#define ESMM__MODEL_H

#include "embedding.h"
#include "internal.h"
#include "loss.h"
#include "mlp.h"
#include "rng.h"

struct esmm_model {
  esmm_config *cfg; /* owned copy */
  esmm__allocator alloc;
  esmm__logger log;
  size_t n_fields, dim, batch;
  size_t pool_dim; /* n_fields * dim: the pooled embeddings */
  size_t n_dense;  /* numeric inputs appended after them */
  size_t in_dim;   /* tower input width: pool_dim + n_dense */
  size_t n_threads; /* ESMM_OPT_NUM_THREADS: threads of the parallel phases (model.c) */
  int par_split_all; /* test-only: 1 = split every parallel phase over n_threads, however small */
  double w_ctr, w_ctcvr;

  /* Variants (esmm_variant in include/esmm/config.h) differ in three
   * places only: which table feeds the second tower (emb2), whether an
   * imputation tower exists (imp), and the per-impression loss (lcfg). */
  int variant;
  esmm__loss_cfg lcfg;
  esmm_embedding *emb; /* feeds the CTR tower (and the second tower when emb2 is NULL) */
  esmm_mlp *ctr;
  esmm_mlp *cvr;        /* the second tower: pCVR's logit; pCTCVR's for DIVISION */
  esmm_embedding *emb2; /* ESMM_NS, BASE, DIVISION: the second tower's own table, else NULL */
  esmm_mlp *imp;        /* ESCM2_DR: the imputation tower (reads emb's pooling), else NULL */
  esmm_optimizer *opt;
  /* optimizer blocks, registered in esmm__model_tensors order (block id k
   * = tensor k): emb, ctr, cvr, emb2, imp */
  int blk_emb, blk_emb2;
  int blk_ctr[2 * ESMM__MLP_MAX_LAYERS], blk_cvr[2 * ESMM__MLP_MAX_LAYERS], blk_imp[2 * ESMM__MLP_MAX_LAYERS];

  /* training scratch: sized at construction, except the sparse gradient,
   * which grows (once per dataset, never per step) to the largest batch's
   * feature count */
  float *x, *gx, *lc, *lv, *gc, *gv;
  float *cpool; /* pooled common list of each thread's current group (n_threads x pool_dim) */
  float *gsum;  /* a run of rows sharing a common list: their gradients summed, at the
                   run's first batch row (batch x pool_dim) */
  esmm__sparse_grad sg;
  esmm__scatter_item *items; /* the scatter plan of emb (embedding.h), as many as sg's cap */
  float *x2, *cpool2, *gsum2; /* emb2's pooling (the second tower's input and then its input gradient) */
  esmm__sparse_grad sg2;      /* emb2's sparse gradient */
  esmm__scatter_item *items2; /* emb2's scatter plan */
  size_t items_cap;           /* entries of items (and items2) */
  float *lt, *gt;             /* imputation logits, their gradients */
  /* test-only: when sg_mode is 1 forward_loss records the ESCM2 stop-gradient
   * quantities of each batch row in sg_rec, when 2 it replays them (loss.h) */
  int sg_mode;
  esmm__loss_sg *sg_rec;

  /* First-layer split (plan item 1, model.c "first-layer split"): for a
   * dataset whose common lists hold only fields [fl_ulo, fl_uhi) / dim that
   * no row's own features use (fl_ds: the dataset it was computed for), a
   * batch made of runs of rows pools each run's common list once into cbat
   * (cbat2 for emb2; row r = run r, batch x pool_dim), and the towers' first
   * layers take it once per run (esmm__mlp_forward_split); the common
   * lists' input gradients then land in gsum/gsum2 row r = run r. */
  const esmm_dataset *fl_ds;
  int fl_ok;       /* fl_ds qualifies */
  int fl_force;    /* test-only: 0 = when it pays (runs of 2+ rows on average), 1 = whenever fl_ok, -1 = never */
  int fl_on;       /* the current batch takes the split path */
  size_t fl_ulo, fl_uhi, fl_runs;
  int64_t *run_id; /* batch: run of each batch row, -1 = no common list */
  float *cbat, *cbat2, *fl_scr; /* batch x pool_dim (x2), batch x widest first layer */

  /* epoch state */
  esmm__rng rng;       /* advances with every permutation drawn */
  esmm__rng rng_epoch; /* rng as it was before the current epoch's permutation */
  size_t *perm, perm_n, cursor;
  const esmm_dataset *epoch_ds;
  size_t resume_n; /* > 0: a restored state waits for a dataset of this many rows */
  size_t resume_cursor;

  /* Data-parallel hook (dist.c): called after a step's gradients are
   * computed and before they are applied, to make every replica apply the
   * same, globally reduced gradients. NULL in a single process. */
  int (*sync)(esmm_model *m, void *payload);
  void *sync_payload;

  /* statistics */
  int64_t step, epoch, samples, epoch_steps;
  double loss, loss_ctr, loss_ctcvr, samples_per_sec, epoch_loss_sum;
  double loss_cvr;
  int64_t cvr_clips; /* DIVISION: training rows whose pCTCVR exceeded pCTR */
};

/* Per-thread inference scratch. Pooled inputs: row i of a batch is pooled
 * from m->emb into x + i*in_dim (dense inputs after the pool_dim pooled
 * floats) and, when the model has a second table (n_tables == 2, i.e.
 * m->emb2 != NULL), from m->emb2 into x2 + i*in_dim the same way (dense
 * inputs copied there too); then esmm__model_infer maps them to outputs. */
struct esmm_workspace {
  esmm__allocator alloc;
  size_t max_batch, in_dim, pool_dim, scratch_n, n_tables;
  float *x, *lc, *lv, *scratch;
  float *cpool;  /* pooled common list of the last group seen (pool_dim), one per
                    thread of esmm_model_predict (n_cpool x pool_dim; thread 0's first) */
  float *x2;     /* n_tables == 2: m->emb2's pooling, else NULL */
  float *cpool2; /* n_tables == 2: the common list pooled from m->emb2, else NULL (n_cpool x pool_dim) */
  size_t n_cpool; /* m->n_threads of the model it was made for: predict pools on at most as many threads */
};

/* Training position, for checkpoints: everything besides the parameters
 * and the optimizer state that a resumed run needs to continue exactly as
 * an uninterrupted one. */
typedef struct esmm__train_state {
  int64_t step, epoch, samples, epoch_steps;
  double epoch_loss_sum;
  esmm__rng rng_epoch; /* before the current epoch's permutation */
  size_t cursor, perm_n;
} esmm__train_state;

void esmm__model_get_train_state(const esmm_model *m, esmm__train_state *out);
/* The next training call on a dataset of st->perm_n rows regenerates the
 * epoch's permutation from st->rng_epoch and continues at st->cursor (a
 * dataset of another size is refused with ESMM_ESTATE). */
void esmm__model_set_train_state(esmm_model *m, const esmm__train_state *st);

/* A named parameter tensor of a model (rows x cols floats, row-major). */
typedef struct esmm__tensor {
  char name[32];
  float *data;
  size_t rows, cols;
} esmm__tensor;

/* Create a model from a validated config (what esmm_model_new does after
 * the argument checks). */
int esmm__model_create(esmm_model **out, const esmm_config *cfg);

/* List the model's parameter tensors in a fixed order, the same for every
 * variant up to the parts it lacks:
 *   "embedding"                            (m->emb: rows x dim)
 *   "ctr.<l>.w", "ctr.<l>.b"  per layer    (m->ctr)
 *   "cvr.<l>.w", "cvr.<l>.b"  per layer    (m->cvr; named "ctcvr.<l>.*" for DIVISION)
 *   "embedding_cvr"                        (m->emb2: ESMM_NS, BASE; "embedding_ctcvr" for DIVISION)
 *   "imp.<l>.w", "imp.<l>.b"  per layer    (m->imp: ESCM2_DR)
 * so ESMM's list is unchanged from 1.0 and every variant's starts with it.
 * Returns the count; fills out[0 .. min(count, cap)). */
size_t esmm__model_tensors(esmm_model *m, esmm__tensor *out, size_t cap);

/* Names and shapes (data NULL) of the tensors esmm__model_tensors would list
 * for a model built from cfg (a valid config; any variant), in the same
 * order, computed without allocating. Returns the count; fills
 * out[0 .. min(count, cap)). For model-file loaders. */
size_t esmm__model_tensor_shapes(const esmm_config *cfg, esmm__tensor *out, size_t cap);

/* Optimizer block of each tensor: out[k] = the block id of tensor k of
 * esmm__model_tensors. By construction blocks are registered in tensor
 * order, so out[k] == k for every variant; checkpoint code may rely on
 * that (it is tested) or read it here. Returns the tensor count; fills
 * out[0 .. min(count, cap)). */
size_t esmm__model_blocks(const esmm_model *m, int *out, size_t cap);

/* Inference on pooled inputs, for any variant: maps the n rows (n <=
 * ws->max_batch) pooled into ws->x (and ws->x2 when ws->n_tables == 2; see
 * struct esmm_workspace) to pCTR, pCVR, pCTCVR (each may be NULL).
 * ESMM-type variants: pCTR = s(ctr), pCVR = s(cvr), pCTCVR = pCTR pCVR (in
 * log space); DIVISION: pCTCVR = s(second tower), pCVR = min(1,
 * pCTCVR/pCTR). ws must fit m (esmm_workspace_new for m or a model of the
 * same variant and shape). Thread-safe on a const model with distinct
 * workspaces; allocates nothing. Returns ESMM_OK, or ESMM_ENUMERIC when a
 * logit is NaN (finite parameters or inputs that overflow float); the
 * outputs are then unspecified. */
int esmm__model_infer(const esmm_model *m, esmm_workspace *ws, size_t n, float *pctr, float *pcvr,
                      float *pctcvr);

/* Pooling features from host memory (serving, score.c) exactly as
 * esmm_model_predict pools a dataset row, for every table of m:
 * esmm__model_pool_common pools a common list (one user's features) into
 * ws->cpool (and ws->cpool2 when m->emb2); esmm__model_pool_row pools row i
 * (i < ws->max_batch) of own features into ws->x (and ws->x2), adds the
 * common pooling last pooled when with_common, and copies m->n_dense numeric
 * inputs from dense (unread when m->n_dense is 0). value NULL = all 1.
 * Field indices must be valid (the caller checks). Then esmm__model_infer.
 * Thread-safe on a const model with distinct workspaces; allocate nothing. */
void esmm__model_pool_common(const esmm_model *m, esmm_workspace *ws, size_t nnz, const int *field,
                             const uint64_t *id, const float *value);
void esmm__model_pool_row(const esmm_model *m, esmm_workspace *ws, size_t i, size_t nnz, const int *field,
                          const uint64_t *id, const float *value, int with_common, const float *dense);

/* 1 when ws fits m (input width, table count, tower scratch at the
 * workspace's batch size): the test esmm_model_predict applies. */
int esmm__model_workspace_fits(const esmm_model *m, const esmm_workspace *ws);

/* Number of embedding tables rows are pooled through (1, or 2 with emb2). */
static inline size_t esmm__model_tables(const esmm_model *m) { return m->emb2 ? 2 : 1; }

/* For tests of the whole model: the weighted loss of batch rows idx[0..n)
 * (n <= batch size) without any update; and the same plus every gradient
 * (towers' gw/gb, the embedding's in m->sg, the second table's in m->sg2;
 * end them with esmm__embedding_scatter_end(m->emb, &m->sg) and, when
 * m->emb2, esmm__embedding_scatter_end(m->emb2, &m->sg2)). */
int esmm__model_loss(esmm_model *m, const esmm_dataset *ds, const size_t *idx, size_t n, double *loss);
int esmm__model_grads(esmm_model *m, const esmm_dataset *ds, const size_t *idx, size_t n, double *loss);

#endif /* ESMM__MODEL_H */
