/*
 * model.h (internal) - the layout of esmm_model and esmm_workspace. The
 * model composes the parts: it owns the embedding table, the two towers,
 * the optimizer and the training scratch, assembles batches from datasets
 * and runs forward/backward/update. It knows the dataset layout, not file
 * formats. Model files (io/serialize.c) reach the parameters through
 * esmm__model_tensors.
 */
#ifndef ESMM__MODEL_H
#define ESMM__MODEL_H

#include "embedding.h"
#include "internal.h"
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
  double w_ctr, w_ctcvr;

  esmm_embedding *emb;
  esmm_mlp *ctr, *cvr;
  esmm_optimizer *opt;
  int blk_emb;
  int blk_ctr[2 * ESMM__MLP_MAX_LAYERS], blk_cvr[2 * ESMM__MLP_MAX_LAYERS];

  /* training scratch: sized at construction, except the sparse gradient,
   * which grows (once per dataset, never per step) to the largest batch's
   * feature count */
  float *x, *gx, *lc, *lv, *gc, *gv;
  float *cpool; /* pooled common list of the current group (pool_dim) */
  float *gsum;  /* gradient summed over the current group's rows (pool_dim) */
  esmm__sparse_grad sg;

  /* epoch state */
  esmm__rng rng;       /* advances with every permutation drawn */
  esmm__rng rng_epoch; /* rng as it was before the current epoch's permutation */
  size_t *perm, perm_n, cursor;
  const esmm_dataset *epoch_ds;
  size_t resume_n; /* > 0: a restored state waits for a dataset of this many rows */
  size_t resume_cursor;

  /* statistics */
  int64_t step, epoch, samples, epoch_steps;
  double loss, loss_ctr, loss_ctcvr, samples_per_sec, epoch_loss_sum;
};

struct esmm_workspace {
  esmm__allocator alloc;
  size_t max_batch, in_dim, pool_dim, scratch_n;
  float *x, *lc, *lv, *scratch;
  float *cpool; /* pooled common list of the last group seen (pool_dim) */
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

/* List the model's parameter tensors in a fixed order: "embedding", then
 * "ctr.<l>.w", "ctr.<l>.b" per layer, then "cvr.<l>.w", "cvr.<l>.b".
 * Returns the count; fills out[0 .. min(count, cap)). */
size_t esmm__model_tensors(esmm_model *m, esmm__tensor *out, size_t cap);

/* For tests of the whole model: the weighted loss of batch rows idx[0..n)
 * (n <= batch size) without any update; and the same plus every gradient
 * (towers' gw/gb, the embedding's in m->sg; end it with
 * esmm__embedding_scatter_end(m->emb, &m->sg)). */
int esmm__model_loss(esmm_model *m, const esmm_dataset *ds, const size_t *idx, size_t n, double *loss);
int esmm__model_grads(esmm_model *m, const esmm_dataset *ds, const size_t *idx, size_t n, double *loss);

#endif /* ESMM__MODEL_H */
