/*
 * esmm/io.h - reading and writing datasets as files.
 *
 * Text format (one impression a line):
 *     click conversion field:id[:value] field:id[:value] ...
 * separated by spaces or tabs; click and conversion are 0 or 1; field is a
 * name from the config's field list; id is an unsigned 64-bit decimal
 * integer; value is a finite decimal float (1 when omitted). Empty lines and
 * lines starting with '#' are skipped; CRLF line ends and a UTF-8
 * byte-order mark are accepted. Numbers are parsed independently of the
 * process locale.
 *
 * Errors in data are reported as ESMM_EFORMAT with a message
 * "<function>: <file>:<line>[:<byte column>]: <reason>".
 *
 * Every read records what it found (esmm_dataset_report in
 * esmm/dataset.h): rows read, kept and skipped by reason, the first
 * messages, where each row came from (esmm_dataset_row_source).
 *
 * Thread safety: distinct calls are independent.
 */
#ifndef ESMM_IO_H
#define ESMM_IO_H

#include "common.h"
#include "config.h"
#include "dataset.h"
#include "hash.h"

ESMM_BEGIN_DECLS

/**
 * Read a text-format file into a new dataset with cfg's field list and
 * reader options (below; since 1.1 the text reader honours them like every
 * other reader: on_error, max_errors, conv_no_click, unknown_field,
 * feature_values).
 * @return ESMM_OK, ESMM_EINVAL, ESMM_EIO (cannot open/read; message has the
 * path and the system's reason), ESMM_EFORMAT (first malformed line under
 * on_error=fail, or more than max_errors bad lines), ESMM_ENOMEM. *out is
 * NULL on failure. @since 1.0
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
 * longest line (at most 256 MiB) plus a batch of rows that grows with the
 * input (a small input costs a few KiB); a regular file's size lets the
 * dataset reserve its arrays once. A UTF-8 byte-order mark at the start of
 * any input is skipped. Since 1.1 every reader, the text reader included,
 * honours these options the same way.
 * ------------------------------------------------------------------------ */

/* Input formats. Pinned, append-only. */
typedef enum {
  ESMM_FORMAT_TEXT = 0,   /* esmm_dataset_read_text */
  ESMM_FORMAT_ALICCP = 1, /* esmm_dataset_read_aliccp */
  ESMM_FORMAT_CSV = 2,    /* esmm_dataset_read_csv (spec "tokens": token lines) */
  /* @since 1.1 (esmm_dataset_read, esmm_dataset_read_fd, esmm_dataset_convert_v2,
   * esmm_dataset_detect_format): */
  ESMM_FORMAT_CACHE = 3,  /* a binary cache (esmm_dataset_open_cache) */
  ESMM_FORMAT_TOKENS = 4, /* PaddleRec token lines (esmm_dataset_read_csv with spec "tokens") */
  ESMM_FORMAT_AUTO = 5    /* detect, see esmm_dataset_read */
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
 * Read a CSV file, as described by a column spec of ';'-separated clauses
 * (column names as in the header; a name ending in '*' matches every
 * column with that prefix; a lone "*" every column no other clause names):
 *   click=COL          the click label (0/1)          (required)
 *   conversion=COL     the conversion label (0/1)     (required)
 *   cat=COL,...        categorical columns: field = column name (the field
 *                      list must hold it, see ESMM_OPT_DATA_UNKNOWN_FIELD);
 *                      the id is esmm_hash_category of the cell (esmm/hash.h:
 *                      a decimal below 2^64 as is, other text hashed with the
 *                      pinned FNV-1a 64); an empty cell is no feature
 *   num=COL,...        numeric columns -> dense inputs in spec order (their
 *                      count must equal ESMM_OPT_DENSE_FEATURES); empty = 0
 *   group=COL          consecutive rows with equal values share one common
 *                      list made of the user columns of the group's first row
 *   user=COL,...       categorical columns stored in the common list (needs group)
 *   skip=COL,...       ignored columns
 *   @since 1.1:
 *   id=COL             the row id: the cell is kept with the row
 *                      (esmm_dataset_row_source), e.g. id=sample_id
 *   columns=NAME,...   the file has no header line: its columns are these,
 *                      in order (the first line is data); every row must
 *                      have exactly this many cells (else a malformed row)
 *   sep=SEP            the cell separator: comma (default), tab, semicolon,
 *                      pipe, space, or one character (not '"', '=', '*')
 * Every column must be claimed by a clause. Example (torch-rechub
 * Ali-CCP): "click=click;conversion=purchase;num=D*;cat=*".
 * Cells may be quoted (RFC 4180): "a,b" is one cell, "" inside a quoted
 * cell is one quote, and a quoted cell may span lines (the row is numbered
 * by its first line; the line break reads as "\n"). A quote inside an
 * unquoted cell is an ordinary character; text after a closing quote and a
 * quote left open at the end of the input make the row malformed. CRLF
 * line ends and a UTF-8 byte-order mark are accepted.
 * The spec "tokens" reads header-less token lines instead:
 * "sample_id,click,conversion,field:id[:value],..." (PaddleRec ESMM data;
 * ids as for cat=; no quoting).
 * @return ESMM_OK, ESMM_EINVAL (NULL out/path/spec, bad spec; the message
 * says which clause), ESMM_EIO, ESMM_EFORMAT (a header that does not match
 * the spec, rows as for esmm_dataset_read_aliccp), ESMM_ENOMEM.
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
 * labels, features, common lists, dense inputs and the data report (since
 * 1.1 with its messages, the rows' source lines and ids and the skipped
 * rows; not the simulator's truths). Written to a temporary file and
 * renamed. Since 1.1 the file is format 2, which 1.0 refuses with
 * ESMM_EVERSION; 1.1 opens format 1 and 2.
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
 * the common-file index, independent of the number of samples). The cache
 * holds the data report (esmm_dataset_report of the opened cache).
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

/* ------------------------------------------------------------------------
 * @since 1.1: any format from a path, standard input or a descriptor, with
 * detection. A detection reads a prefix of the input (at most 64 KiB, up to
 * the first line that is not blank nor a '#' comment) and the reader then
 * reads that prefix again before the rest, so nothing is lost on a pipe.
 * ------------------------------------------------------------------------ */

/**
 * Guess the format of an input from its first bytes (and its name):
 * "ESMMDATA" -> ESMM_FORMAT_CACHE; then the first line that is not blank
 * nor a '#' comment: holding 0x01/0x02 separators and ',' ->
 * ESMM_FORMAT_ALICCP (a skeleton); "id,0|1,0|1,name:id,..." (at least one
 * token) -> ESMM_FORMAT_TOKENS; "0|1 0|1 name:id ..." -> ESMM_FORMAT_TEXT;
 * any other line with ',', ';' or a tab, or a name ending in ".csv" or
 * ".tsv" -> ESMM_FORMAT_CSV (which needs a column spec to be read);
 * else ESMM_FORMAT_TEXT.
 * @param head  the first n bytes of the input (may be NULL when n is 0).
 * @param name  the input's file name, or NULL.
 * @param[out] format_out  an esmm_format.
 * @return ESMM_OK; ESMM_EINVAL (NULL format_out, NULL head with n > 0).
 * Thread safety: safe. @since 1.1
 */
ESMM_API int esmm_dataset_detect_format(const void *head, size_t n, const char *name, int *format_out);

/**
 * Read any input into a new dataset (or open a cache).
 * @param[out] out  the new dataset (NULL on failure).
 * @param cfg     field list, dense count, reader options (NULL = defaults).
 * @param path    a file, or "-" for standard input (read to its end, not
 *                closed; messages and the report name it "<stdin>").
 * @param format  an esmm_format. ESMM_FORMAT_AUTO: a cache when the input
 *                starts with the cache magic; else ESMM_FORMAT_ALICCP when
 *                common is given, ESMM_FORMAT_CSV (or _TOKENS for the spec
 *                "tokens") when spec is given; else what
 *                esmm_dataset_detect_format says, where CSV without a spec
 *                is ESMM_EINVAL ("looks like CSV ... needs a column spec"):
 *                a CSV file is never read as the text format. Arguments
 *                that do not apply to the detected format are ignored.
 *                An explicit format takes only its own arguments.
 * @param common  ESMM_FORMAT_ALICCP: the common-features file, or NULL. It
 *                is read twice (indexed, then fetched row by row), so it
 *                must be a regular file ("-" works when standard input is
 *                redirected from one; a pipe is ESMM_EINVAL).
 * @param spec    ESMM_FORMAT_CSV: the column spec (required); "tokens" for
 *                token lines.
 * A cache from a regular file read from its start is mapped as by
 * esmm_dataset_open_cache; from a pipe it is copied into memory.
 * @return ESMM_OK; ESMM_EINVAL (NULL out/path, unknown format, an argument
 * the format needs or refuses, a CSV without a spec, a common file that
 * is not a regular file), ESMM_EIO, ESMM_EFORMAT, ESMM_ECORRUPT and
 * ESMM_EVERSION (caches), ESMM_ENOMEM.
 * Ownership: the caller frees *out. Thread safety: distinct calls are
 * independent (one reader of standard input at a time). @since 1.1
 */
ESMM_API int esmm_dataset_read(esmm_dataset **out, const esmm_config *cfg, const char *path, int format,
                               const char *common, const char *spec);

/**
 * Same from an open descriptor (a file, a pipe, a socket), read from its
 * current position to its end; the descriptor is left open. name is used
 * in messages, the report and detection (NULL = "<fd>").
 * @return as esmm_dataset_read; ESMM_EINVAL also for fd < 0.
 * Thread safety: distinct calls are independent. @since 1.1
 */
ESMM_API int esmm_dataset_read_fd(esmm_dataset **out, const esmm_config *cfg, int fd, const char *name,
                                  int format, const char *common, const char *spec);

/**
 * esmm_dataset_convert with the arguments of esmm_dataset_read: path may be
 * "-" (standard input, streamed: memory stays a few MiB), format may be
 * ESMM_FORMAT_AUTO or ESMM_FORMAT_TOKENS, common and spec are separate
 * (the same rules). A cache input is ESMM_EINVAL ("already a cache").
 * @return as esmm_dataset_convert, plus the ESMM_EINVAL cases of
 * esmm_dataset_read. On failure no cache and no temporary file is left.
 * Thread safety: distinct calls are independent (distinct cache paths).
 * @since 1.1
 */
ESMM_API int esmm_dataset_convert_v2(const esmm_config *cfg, const char *path, int format, const char *common,
                                     const char *spec, const char *cache_path);

ESMM_END_DECLS

#endif /* ESMM_IO_H */
