/*
 * model.h (internal) - the layout of esmm_model. The model composes the
 * parts: it owns the embedding table(s), the towers of its variant (CTR,
 * the second tower, an imputation tower), the optimizer, a worker pool, and
 * the training and prediction scratch. Three files implement it:
 *   model.c      construction from a config (the variant table, variant.h),
 *                parameter tensors and optimizer blocks, statistics;
 *   train.c,     the training step (train.h) and train_slice.c, one slice
 *   train_slice.c   of it; epoch.c: epochs, shuffling, the training state of
 *   epoch.c         checkpoints and the public esmm_model_train* calls;
 *   infer.c      workspaces and every prediction entry point (infer.h).
 * It knows the dataset layout, not file formats: model files
 * (io/model_*.c) reach the parameters through esmm__model_tensors.
 */
#ifndef ESMM__MODEL_H
#define ESMM__MODEL_H

#include "embedding.h"
#include "internal.h"
#include "loss.h"
#include "mlp.h"
#include "pool.h"
#include "rows.h"
#include "rng.h"
#include "train.h"
#include "variant.h"

struct esmm__infer_shared; /* infer.c: the pool's prediction workspaces */

struct esmm_model {
  esmm_config *cfg; /* owned copy */
  esmm__allocator alloc;
  esmm__logger log;
  const esmm__variant *var; /* what the variant changes (variant.h) */
  size_t n_fields, dim, batch;
  size_t pool_dim; /* n_fields * dim: the pooled embeddings */
  size_t n_dense;  /* numeric inputs appended after them */
  size_t in_dim;   /* tower input width: pool_dim + n_dense */
  size_t n_workers; /* threads of the pool: ESMM_OPT_NUM_THREADS (0 = the CPUs this process may use), or
                       1 when the BLAS runs threads of its own (see blas.h) */
  esmm__loss_cfg lcfg;

  esmm_embedding *emb;  /* feeds the CTR tower (and the second tower unless var->own_table) */
  esmm_mlp *ctr;
  esmm_mlp *cvr;        /* the second tower: pCVR's logit; pCTCVR's for a division head */
  esmm_embedding *emb2; /* var->own_table: the second tower's own table, else NULL */
  esmm_mlp *imp;        /* var->imputation: the imputation tower (reads emb's pooling), else NULL */
  esmm_optimizer *opt;
  /* optimizer blocks, registered in esmm__model_tensors order (block id k
   * = tensor k): emb, ctr, cvr, emb2, imp */
  int blk_emb, blk_emb2;
  int blk_ctr[2 * ESMM__MLP_MAX_LAYERS], blk_cvr[2 * ESMM__MLP_MAX_LAYERS], blk_imp[2 * ESMM__MLP_MAX_LAYERS];

  esmm__pool *pool;                /* created with the model; threads start on first use */
  esmm__train tr;                  /* training scratch (train.h) */
  struct esmm__infer_shared *inf;  /* prediction scratch of the pool's workers (infer.c) */

  /* epoch state (epoch.c) */
  esmm__rng rng;       /* advances with every permutation drawn */
  esmm__rng rng_epoch; /* rng as it was before the current epoch's permutation */
  size_t *perm, perm_n, cursor;
  const esmm_dataset *epoch_ds;
  size_t resume_n; /* > 0: a restored state waits for a dataset of this many rows */
  size_t resume_cursor;

  /* Data-parallel hook (dist.c): called after a step's gradients are
   * computed and before they are applied, to make every replica apply the
   * same, globally reduced gradients (esmm__train_sparse gives the sparse
   * ones, the towers' own gradient blocks the dense ones). NULL in a single
   * process. */
  int (*sync)(esmm_model *m, void *payload);
  void *sync_payload;

  /* statistics */
  int64_t step, epoch, samples, epoch_steps;
  double loss, loss_ctr, loss_ctcvr, loss_cvr, samples_per_sec, epoch_loss_sum;
  int64_t cvr_clips; /* division head: training rows whose pCTCVR exceeded pCTR */
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
 * the argument checks); func names the public call in messages. */
int esmm__model_create(esmm_model **out, const esmm_config *cfg, const char *func);

/* List the model's parameter tensors in a fixed order, the same for every
 * variant up to the parts it lacks:
 *   "embedding"                            (m->emb: rows x dim)
 *   "ctr.<l>.w", "ctr.<l>.b"  per layer    (m->ctr)
 *   "<second>.<l>.w", ".b"    per layer    (m->cvr; "cvr", or "ctcvr" for DIVISION)
 *   "<table2>"                             (m->emb2: "embedding_cvr", or "embedding_ctcvr")
 *   "<third>.<l>.w", ".b"     per layer    (m->imp: "imp" for ESCM2_DR, MULTI_DR; "cf" for DCMT)
 * so ESMM's list is unchanged from 1.0 and every variant's starts with it.
 * Returns the count; fills out[0 .. min(count, cap)). */
size_t esmm__model_tensors(esmm_model *m, esmm__tensor *out, size_t cap);

/* Names and shapes (data NULL) of the tensors esmm__model_tensors would list
 * for a model built from cfg (a valid config; any variant), in the same
 * order, computed without allocating. For model-file loaders. */
size_t esmm__model_tensor_shapes(const esmm_config *cfg, esmm__tensor *out, size_t cap);

/* Optimizer block of each tensor: out[k] = the block id of tensor k of
 * esmm__model_tensors (== k by construction; checkpoint code may rely on
 * it, it is tested). Returns the tensor count. */
size_t esmm__model_blocks(const esmm_model *m, int *out, size_t cap);

/* The trainable towers in tensor order (ctr, cvr, then imp when present);
 * returns their count (2 or 3). */
size_t esmm__model_towers(const esmm_model *m, esmm_mlp **out);

/* Number of embedding tables rows are pooled through (1, or 2 with emb2). */
static inline size_t esmm__model_tables(const esmm_model *m) { return m->emb2 ? 2 : 1; }

/* The dataset can be trained on / scored by m (fields and dense width); func
 * names the public call. */
int esmm__model_check_dataset(const esmm_model *m, const esmm_dataset *ds, const char *func);

/* Rows of a dataset as a block (rows.h): idx[k] of ds, or first + k when
 * idx is NULL, for k < n. src holds what the callbacks read; it must
 * outlive b's use. */
typedef struct esmm__ds_rows {
  const esmm_dataset *ds;
  const size_t *idx;
  size_t first;
} esmm__ds_rows;
void esmm__ds_block(esmm__block *b, esmm__ds_rows *src, const esmm_dataset *ds, const size_t *idx, size_t first,
                    size_t n);

/* Free the prediction scratch (infer.c; esmm_model_free calls it). */
void esmm__infer_shared_free(esmm_model *m);

#endif /* ESMM__MODEL_H */
