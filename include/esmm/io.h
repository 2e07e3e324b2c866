/*
 * esmm/io.h - reading and writing datasets as files.
 *
 * Text format (one impression a line):
 *     click conversion field:id[:value] field:id[:value] ...
 * separated by spaces or tabs; click and conversion are 0 or 1; field is a
 * name from the config's field list; id is an unsigned 64-bit decimal
 * integer; value is a finite decimal float (1 when omitted). Empty lines and
 * lines starting with '#' are skipped; CRLF line ends are accepted. Numbers
 * are parsed independently of the process locale. Features of a field the
 * config does not list are an error.
 *
 * Errors in data are reported as ESMM_EFORMAT with a message
 * "<function>: <file>:<line>: <reason>".
 *
 * Thread safety: distinct calls are independent.
 */
#ifndef ESMM_IO_H
#define ESMM_IO_H

#include "common.h"
#include "config.h"
#include "dataset.h"

ESMM_BEGIN_DECLS

/**
 * Read a text-format file into a new dataset with cfg's field list.
 * @return ESMM_OK, ESMM_EINVAL, ESMM_EIO (cannot open/read; message has the
 * path and the system's reason), ESMM_EFORMAT (first malformed line),
 * ESMM_ENOMEM. *out is NULL on failure. @since 1.0
 */
ESMM_API int esmm_dataset_read_text(esmm_dataset **out, const esmm_config *cfg, const char *path);

/**
 * Same from a memory buffer of len bytes (need not be NUL-terminated).
 * name is used in messages in place of a file name (NULL = "<buffer>").
 * @since 1.0
 */
ESMM_API int esmm_dataset_read_text_buffer(esmm_dataset **out, const esmm_config *cfg, const void *data,
                                           size_t len, const char *name);

/**
 * Write a dataset in the text format, the common features of each row
 * inline after its own; values of 1 are omitted; floats are written with
 * enough digits to read back bit-identical. Written to a temporary file in
 * the same directory and renamed, so a failure never leaves a partial file.
 * @return ESMM_OK, ESMM_EINVAL, ESMM_EIO. @since 1.0
 */
ESMM_API int esmm_dataset_write_text(const esmm_dataset *ds, const char *path);

/* ------------------------------------------------------------------------
 * @since 1.0: the Ali-CCP pair, CSV files, PaddleRec token lines and the
 * binary cache (docs/data.md has the formats, options and figures).
 *
 * Reader options (esmm/config.h): ESMM_OPT_DATA_UNKNOWN_FIELD (a feature of
 * a field the field list lacks: error, or ignored and counted),
 * ESMM_OPT_DATA_VALUES (feature values as pooling weights, or ignored),
 * ESMM_OPT_DATA_ON_ERROR (fail at the first bad row, or skip and count it by
 * reason), ESMM_OPT_DATA_MAX_ERRORS, ESMM_OPT_DATA_CONV_NO_CLICK (rows with
 * click 0 and conversion 1: keep, zero the conversion, drop, or error) and
 * ESMM_OPT_DENSE_FEATURES (numeric CSV columns). The counts are dataset
 * statistics (ESMM_DS_LINES .. ESMM_DS_COMMON_SKIPPED), kept in the cache.
 * Bad input is ESMM_EFORMAT with "<function>: <file>:<line>[:<byte column>]:
 * <reason>" (columns count bytes from 1). Numbers never depend on the
 * process locale. Files are read in chunks: memory is the dataset plus the
 * longest line (at most 256 MiB) plus a batch of rows. The text reader
 * (esmm_dataset_read_text) keeps its 1.0 behaviour and ignores these options.
 * ------------------------------------------------------------------------ */

/* Input formats of esmm_dataset_convert. Pinned, append-only. */
typedef enum {
  ESMM_FORMAT_TEXT = 0,   /* esmm_dataset_read_text */
  ESMM_FORMAT_ALICCP = 1, /* esmm_dataset_read_aliccp */
  ESMM_FORMAT_CSV = 2     /* esmm_dataset_read_csv (spec "tokens": token lines) */
} esmm_format;

/**
 * Read the raw Ali-CCP pair: a sample_skeleton file (lines
 * "sample_id,click,conversion,common_feature_index,feature_num,feature_list")
 * and a common_features file ("common_feature_index,feature_num,feature_list"),
 * where feature_list is features separated by 0x01, each "field 0x02 id
 * 0x03 value". Field names are matched against cfg's field list; ids must
 * be unsigned decimals below 2^64. Each common row referenced by samples is
 * stored once as a common list (ESMM_DS_COMMONS) in order of first
 * reference; a sample's features are its own list plus that common list.
 * The common file is indexed first (key -> file offset: about 40 bytes plus
 * the key length per common row) and a common row is parsed when a sample
 * first references it, so unreferenced common rows are indexed (their key
 * checked) but never parsed. A sample whose common_feature_index is absent
 * from the common file, or names a malformed common row, is a bad row of
 * kind ESMM_DS_SKIPPED_MISSING_COMMON. feature_num must equal the number of
 * features in the list (else malformed: a disagreement means truncation).
 * @param[out] out         the new dataset (NULL on failure).
 * @param cfg              field list, dense count and reader options (NULL = defaults).
 * @param skeleton_path    the sample file.
 * @param common_path      the common-features file, or NULL when the
 *                         samples reference none (every non-empty
 *                         common_feature_index is then missing).
 * @return ESMM_OK, ESMM_EINVAL (NULL out/skeleton_path), ESMM_EIO (cannot
 * open/read; message has the path and the system's reason), ESMM_EFORMAT
 * (first bad row with fail-fast, or more than ESMM_OPT_DATA_MAX_ERRORS bad
 * rows), ESMM_ENOMEM.
 * Ownership: the caller frees *out with esmm_dataset_free.
 * Thread safety: distinct calls are independent. @since 1.0
 */
ESMM_API int esmm_dataset_read_aliccp(esmm_dataset **out, const esmm_config *cfg, const char *skeleton_path,
                                      const char *common_path);

/**
 * Same from memory buffers (need not be NUL-terminated; common may be NULL
 * with common_len 0). Messages name the inputs "<skeleton>" and "<common>".
 * @return as esmm_dataset_read_aliccp without ESMM_EIO.
 * Ownership: the buffers are only read during the call.
 * Thread safety: distinct calls are independent. @since 1.0
 */
ESMM_API int esmm_dataset_read_aliccp_buffer(esmm_dataset **out, const esmm_config *cfg, const void *skeleton,
                                             size_t skeleton_len, const void *common, size_t common_len);

/**
 * Write a dataset as a raw Ali-CCP pair. Common list c becomes the common
 * row with key "%016x" of c, written in index order; row i becomes sample
 * "i+1" referencing its common row (an empty key for none), rows in dataset
 * order, so datasets whose rows come grouped by common list (the
 * simulator's) give files grouped as the real ones. Values are written with
 * enough digits to read back bit-identical. Each file is written to a
 * temporary file and renamed.
 * @return ESMM_OK, ESMM_EINVAL (NULL argument), ESMM_ESHAPE (the dataset
 * has dense inputs, which the format cannot hold), ESMM_EIO, ESMM_ENOMEM.
 * Thread safety: concurrent reads of ds are safe. @since 1.0
 */
ESMM_API int esmm_dataset_write_aliccp(const esmm_dataset *ds, const char *skeleton_path, const char *common_path);

/**
 * Read a CSV file with a header line, as described by a column spec of
 * ';'-separated clauses (column names as in the header; a name ending in
 * '*' matches every column with that prefix; a lone "*" every column no
 * other clause names):
 *   click=COL          the click label (0/1)          (required)
 *   conversion=COL     the conversion label (0/1)     (required)
 *   cat=COL,...        categorical columns: field = column name (the field
 *                      list must hold it, see ESMM_OPT_DATA_UNKNOWN_FIELD);
 *                      a decimal id below 2^64 is used as is, any other
 *                      non-empty text is hashed (FNV-1a 64, stable); an
 *                      empty cell is no feature
 *   num=COL,...        numeric columns -> dense inputs in spec order (their
 *                      count must equal ESMM_OPT_DENSE_FEATURES); empty = 0
 *   group=COL          consecutive rows with equal values share one common
 *                      list made of the user columns of the group's first row
 *   user=COL,...       categorical columns stored in the common list (needs group)
 *   skip=COL,...       ignored columns
 * Every header column must be claimed by a clause. Example (torch-rechub
 * Ali-CCP): "click=click;conversion=purchase;num=D*;cat=*".
 * The spec "tokens" reads header-less token lines instead:
 * "sample_id,click,conversion,field:id[:value],..." (PaddleRec ESMM data).
 * Fields separated by ',' with no quoting; CRLF accepted.
 * @return ESMM_OK, ESMM_EINVAL (NULL out/path/spec, bad spec; the message
 * says which clause), ESMM_EIO, ESMM_EFORMAT (bad header or rows, as for
 * esmm_dataset_read_aliccp), ESMM_ENOMEM.
 * Ownership: the caller frees *out. Thread safety: distinct calls are
 * independent. @since 1.0
 */
ESMM_API int esmm_dataset_read_csv(esmm_dataset **out, const esmm_config *cfg, const char *path,
                                   const char *spec);

/**
 * Same from a memory buffer; name is used in messages (NULL = "<buffer>").
 * @return as esmm_dataset_read_csv without ESMM_EIO.
 * Thread safety: distinct calls are independent. @since 1.0
 */
ESMM_API int esmm_dataset_read_csv_buffer(esmm_dataset **out, const esmm_config *cfg, const void *data,
                                          size_t len, const char *name, const char *spec);

/**
 * Save a dataset as a binary cache: little-endian, versioned, a CRC-32 per
 * column and over the header, columns 64-byte aligned so that
 * esmm_dataset_open_cache can use them in place. Holds the field list,
 * labels, features, common lists, dense inputs and reader counts (not the
 * simulator's truths). Written to a temporary file and renamed.
 * @return ESMM_OK, ESMM_EINVAL, ESMM_EIO, ESMM_ENOMEM, ESMM_ERROR (a
 * big-endian host). Thread safety: concurrent reads of ds are safe.
 * @since 1.0
 */
ESMM_API int esmm_dataset_save_cache(const esmm_dataset *ds, const char *path);

/**
 * Open a cache file by memory-mapping it. Everything is validated first
 * (magic, version, checksums, extents, then every label, index, offset and
 * value), so a damaged or crafted file is refused and never read out of
 * bounds. The dataset's arrays point into the read-only mapping: adding
 * rows or commons or setting dense inputs gives ESMM_ESTATE
 * (ESMM_DS_MAPPED is 1); esmm_dataset_free unmaps.
 * @param cfg  field list and ESMM_OPT_DENSE_FEATURES must match the
 *             file's (NULL = defaults); its allocator is used.
 * @return ESMM_OK, ESMM_EINVAL (NULL argument; field list or dense count
 * differs from cfg's), ESMM_EIO, ESMM_ECORRUPT (not a cache, truncated,
 * checksum mismatch, inconsistent content; message says what),
 * ESMM_EVERSION (written by a newer format), ESMM_ENOMEM, ESMM_ERROR
 * (big-endian host).
 * Ownership: free with esmm_dataset_free; the file may be renamed or
 * unlinked while open. Thread safety: distinct calls are independent.
 * @since 1.0
 */
ESMM_API int esmm_dataset_open_cache(esmm_dataset **out, const esmm_config *cfg, const char *path);

/**
 * Same from a memory buffer of len bytes (for fuzzers and bindings); the
 * bytes are copied into one aligned block first, so data need not outlive
 * the call nor be aligned. The dataset is read-only like a mapped one.
 * @return as esmm_dataset_open_cache without ESMM_EIO.
 * Thread safety: distinct calls are independent. @since 1.0
 */
ESMM_API int esmm_dataset_open_cache_buffer(esmm_dataset **out, const esmm_config *cfg, const void *data,
                                            size_t len);

/**
 * Convert a file to a binary cache without loading it: rows are parsed in
 * batches and spooled column by column to temporary files next to
 * cache_path, which are then concatenated (disk: about twice the cache
 * size at the peak; memory: a few MiB of buffers, plus for ESMM_FORMAT_ALICCP
 * the common-file index, independent of the number of samples).
 * @param cfg          as for the readers (NULL = defaults).
 * @param format       esmm_format of path.
 * @param path         the input (the skeleton file for ESMM_FORMAT_ALICCP).
 * @param aux          ESMM_FORMAT_ALICCP: the common-features file (may be
 *                     NULL); ESMM_FORMAT_CSV: the column spec (required);
 *                     ESMM_FORMAT_TEXT: must be NULL.
 * @param cache_path   the cache to write (replaced atomically).
 * @return ESMM_OK, ESMM_EINVAL (NULL/unknown argument, bad spec), ESMM_EIO,
 * ESMM_EFORMAT, ESMM_ENOMEM, ESMM_ERROR (big-endian host). On failure no
 * cache and no temporary file is left.
 * Thread safety: distinct calls are independent (distinct cache paths).
 * @since 1.0
 */
ESMM_API int esmm_dataset_convert(const esmm_config *cfg, int format, const char *path, const char *aux,
                                  const char *cache_path);

ESMM_END_DECLS

#endif /* ESMM_IO_H */
