/*
 * esmm/errors.h - status codes and the per-thread last-error message.
 *
 * Every function that can fail returns an int: ESMM_OK (0) or one of the
 * negative codes below. The codes are pinned forever and only appended to;
 * a host must treat a negative code it does not know as ESMM_ERROR.
 *
 * On failure the library also writes a message "<function>: <what>" into a
 * thread-local buffer read by esmm_last_error(). The message is meaningful
 * only right after a failing call, on the same OS thread (bindings that
 * migrate goroutines/tasks between threads must pin the thread around the
 * call and the read).
 */
#ifndef ESMM_ERRORS_H
#define ESMM_ERRORS_H

#include "common.h"

ESMM_BEGIN_DECLS

typedef enum {
  ESMM_OK = 0,
  ESMM_ERROR = -1,     /* unclassified failure */
  ESMM_EINVAL = -2,    /* an argument is invalid (NULL, out of range, ...) */
  ESMM_ENOMEM = -3,    /* an allocation failed; nothing was changed */
  ESMM_EIO = -4,       /* an operating system call failed (open, read, ...) */
  ESMM_EFORMAT = -5,   /* malformed input data: message has file:line: reason */
  ESMM_ECORRUPT = -6,  /* model or cache file: bad magic, checksum, truncation */
  ESMM_EVERSION = -7,  /* file written by a newer format version */
  ESMM_ESHAPE = -8,    /* sizes of arguments do not agree with each other */
  ESMM_ESTATE = -9,    /* the call is not valid in the handle's current state */
  ESMM_ENUMERIC = -10, /* NaN or Inf met in inputs, parameters or the loss */
  ESMM_EBUFS = -11,    /* caller buffer too small; the size needed is returned */
  ESMM_ECANCELED = -12 /* a callback asked to stop */
} esmm_status;

/**
 * Short static description of a status code ("invalid argument", ...).
 * Unknown codes give "unknown error". Never NULL.
 * Thread safety: safe. @since 1.0
 */
ESMM_API const char *esmm_strerror(int status);

/**
 * Detail of the calling thread's most recent failure, "<function>: <what>",
 * e.g. "esmm_config_set_int: ESMM_OPT_EMBED_DIM must be in [1, 4096], got 0".
 * Valid until the next library call on this thread. Never NULL ("" when no
 * failure has been recorded on this thread).
 * Thread safety: safe (per-thread storage). @since 1.0
 */
ESMM_API const char *esmm_last_error(void);

ESMM_END_DECLS

#endif /* ESMM_ERRORS_H */
