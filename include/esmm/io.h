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

ESMM_END_DECLS

#endif /* ESMM_IO_H */
