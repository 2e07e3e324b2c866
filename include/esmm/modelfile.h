/*
 * esmm/modelfile.h - what a model file holds, read without building the
 * model; metadata a model carries into its file; loading with changed
 * options (resume with another learning rate, warm start). @since 1.1
 *
 * The format is specified in docs/model-format.md. Version 2 of the format
 * adds an optional metadata section (text key/value pairs: how the training
 * data was read, the state of an early-stopping run, anything a host
 * attaches); files without metadata are written as version 1, byte for
 * byte as libesmm 1.0 wrote them. libesmm 1.0 refuses version 2 files with
 * ESMM_EVERSION.
 */
#ifndef ESMM_MODELFILE_H
#define ESMM_MODELFILE_H

#include "common.h"
#include "config.h"
#include "model.h"

ESMM_BEGIN_DECLS

/* Metadata of a model. ----------------------------------------------------- */

/**
 * Set (value NULL: remove) metadata entry key of the model; it is saved
 * with the model (esmm_model_save, checkpoints) and comes back with
 * esmm_model_load and in esmm_model_config's copy. Same rules as
 * esmm_config_set_meta (a model made from a config starts with its
 * metadata).
 * @return ESMM_OK, ESMM_EINVAL (NULL m or key, bad key, value too long, too
 * many entries), ESMM_ENOMEM. Unchanged on failure.
 * Ownership: copied. Thread safety: not concurrent with any other call on
 * m (a const model being served must not be modified). @since 1.1
 */
ESMM_API int esmm_model_set_meta(esmm_model *m, const char *key, const char *value);

/**
 * The value of metadata entry key, or NULL when there is none.
 * @param[out] out  borrowed: valid until the entry is set again or the
 *                  model is freed or loaded into.
 * @return ESMM_OK (also when absent), ESMM_EINVAL (NULL argument).
 * Thread safety: safe on a const model that nothing modifies. @since 1.1
 */
ESMM_API int esmm_model_meta(const esmm_model *m, const char *key, const char **out);

/* Loading with changed options. -------------------------------------------- */

/**
 * esmm_model_load, with the options opts[0 .. n_opts) taken from changes
 * instead of the file: a warm start that trains the saved parameters
 * further with a fresh optimizer (another optimizer, learning rate, batch
 * size, seed, loss weights, epochs, reader options, ...). An option that
 * would change the shape of the saved parameters (embed_dim, a tower,
 * variant, dense_features, hash_buckets of a field without its own count)
 * is refused, as is ESMM_OPT_NUM_THREADS (it comes from hooks).
 * @param changes  the values (may be NULL when n_opts is 0).
 * @return as esmm_model_load, plus ESMM_EINVAL naming an option that cannot
 * change and why. *out is NULL on failure.
 * Ownership: nothing is kept. Thread safety: distinct calls are
 * independent. @since 1.1
 */
ESMM_API int esmm_model_load_v2(esmm_model **out, const char *path, const esmm_config *hooks,
                                const esmm_config *changes, const esmm_opt *opts, size_t n_opts);

/**
 * esmm_model_load_checkpoint, with opts[0 .. n_opts) taken from changes:
 * the options that may change between the runs of one training. These are
 * the ones that say how the remaining steps update (ESMM_OPT_LEARNING_RATE,
 * ESMM_OPT_L2), how long and until what the run goes (ESMM_OPT_EPOCHS and
 * the fit options, 700..), how further data is read (the reader options
 * 501..505) and ESMM_OPT_INIT_SCALE and ESMM_OPT_DIST_CHECK_EVERY. The
 * others are refused with the reason: the shape options define the saved
 * parameters; the optimizer kind and its constants the saved optimizer
 * state; batch size, shuffling and seed the steps that the checkpoint's
 * position in the epoch counts; the loss weights and variant options the
 * objective being minimised (a run with another objective starts from the
 * model: esmm_model_load_v2). With a changed learning rate the run is no
 * longer bit-identical to an uninterrupted one, by design.
 * @return as esmm_model_load_checkpoint, plus ESMM_EINVAL naming an option
 * that cannot change and why. *out is NULL on failure.
 * Thread safety: distinct calls are independent. @since 1.1
 */
ESMM_API int esmm_model_load_checkpoint_v2(esmm_model **out, const char *path, const esmm_config *hooks,
                                           const esmm_config *changes, const esmm_opt *opts, size_t n_opts);

/* Model file information. -------------------------------------------------- */

typedef struct esmm_model_info esmm_model_info;

/* Keys of esmm_model_info_stat. Pinned, append-only. */
typedef enum {
  ESMM_INFO_FORMAT_VERSION = 0, /* the file's format version (1 or 2) */
  ESMM_INFO_BYTES = 1,          /* file size */
  ESMM_INFO_CHECKPOINT = 2,     /* 1 when the file is a checkpoint (sections 4 and 5) */
  ESMM_INFO_SECTIONS = 3,       /* entries of the section table */
  ESMM_INFO_TENSORS = 4,        /* parameter tensors */
  ESMM_INFO_PARAMETERS = 5,     /* floats in them */
  ESMM_INFO_STEP = 6,           /* checkpoints: training steps taken (else 0) */
  ESMM_INFO_EPOCH = 7,          /* checkpoints: epochs completed */
  ESMM_INFO_SAMPLES = 8,        /* checkpoints: impressions trained on */
  ESMM_INFO_EPOCH_POSITION = 9, /* checkpoints: rows of the epoch under way already trained */
  ESMM_INFO_EPOCH_ROWS = 10,    /* checkpoints: rows of that epoch's dataset (0: between epochs) */
  ESMM_INFO_OPTIMIZER_STEPS = 11 /* checkpoints: the optimizer's step count */
} esmm_model_info_key;

/**
 * Read and validate a model file or checkpoint as esmm_model_load does
 * (every section, checksum and parameter), without building the model, and
 * keep what it says: the section table, the config, the tensors, the
 * training position of a checkpoint, the metadata. For tools that show a
 * file (`esmm dump`): the one parser of the format is the library's.
 * @return ESMM_OK, ESMM_EINVAL, ESMM_EIO, ESMM_ECORRUPT, ESMM_EVERSION,
 * ESMM_ENUMERIC, ESMM_ENOMEM (as esmm_model_load). *out is NULL on failure.
 * Ownership: free with esmm_model_info_free. Thread safety: distinct calls
 * are independent; a handle may be read from any number of threads.
 * @since 1.1
 */
ESMM_API int esmm_model_info_open(esmm_model_info **out, const char *path);

/** Same from a memory buffer (no ESMM_EIO). @since 1.1 */
ESMM_API int esmm_model_info_open_buffer(esmm_model_info **out, const void *buf, size_t len);

/** Free; NULL is a no-op. @since 1.1 */
ESMM_API void esmm_model_info_free(esmm_model_info *info);

/**
 * Read a number (esmm_model_info_key).
 * @return ESMM_OK, ESMM_EINVAL (NULL argument, unknown key). @since 1.1
 */
ESMM_API int esmm_model_info_stat(const esmm_model_info *info, int key, int64_t *out);

/**
 * Entry i of the section table, in file order. Any output may be NULL.
 * @return ESMM_OK, ESMM_EINVAL (NULL info, i >= ESMM_INFO_SECTIONS). @since 1.1
 */
ESMM_API int esmm_model_info_section(const esmm_model_info *info, size_t i, uint32_t *kind_out,
                                     uint64_t *offset_out, uint64_t *size_out, uint32_t *crc_out);

/** Name of a section kind ("config", "tensor index", "tensor data",
 * "optimizer state", "training state", "metadata"), NULL for another kind.
 * Static storage. @since 1.1 */
ESMM_API const char *esmm_model_info_section_name(uint32_t kind);

/**
 * Tensor i of the tensor index: name (borrowed, valid until the handle is
 * freed), rows, cols. Any output may be NULL.
 * @return ESMM_OK, ESMM_EINVAL (NULL info, i >= ESMM_INFO_TENSORS). @since 1.1
 */
ESMM_API int esmm_model_info_tensor(const esmm_model_info *info, size_t i, const char **name_out,
                                    uint64_t *rows_out, uint64_t *cols_out);

/**
 * The file's configuration (with its metadata: esmm_config_meta_at) and
 * the config section's text as stored ("name=value" lines). Borrowed, valid
 * until the handle is freed; any output may be NULL.
 * @return ESMM_OK, ESMM_EINVAL (NULL info). @since 1.1
 */
ESMM_API int esmm_model_info_config(const esmm_model_info *info, const esmm_config **cfg_out, const char **text_out,
                                    size_t *len_out);

ESMM_END_DECLS

#endif /* ESMM_MODELFILE_H */
