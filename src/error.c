/* error.c - the thread-local last-error message and esmm_strerror. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

/* No allocation on the error path: a fixed per-thread buffer. */
static _Thread_local char last_error[1024];

int esmm__verror(int status, const char *func, const char *fmt, va_list ap) {
  int n = snprintf(last_error, sizeof last_error, "%s: ", func ? func : "esmm");
  if (n < 0)
    n = 0;
  if ((size_t)n < sizeof last_error)
    vsnprintf(last_error + n, sizeof last_error - (size_t)n, fmt, ap);
  return status;
}

int esmm__error(int status, const char *func, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  esmm__verror(status, func, fmt, ap);
  va_end(ap);
  return status;
}

const char *esmm_last_error(void) { return last_error; }

const char *esmm_strerror(int status) {
  switch (status) {
  case ESMM_OK: return "success";
  case ESMM_ERROR: return "error";
  case ESMM_EINVAL: return "invalid argument";
  case ESMM_ENOMEM: return "out of memory";
  case ESMM_EIO: return "input/output error";
  case ESMM_EFORMAT: return "malformed input data";
  case ESMM_ECORRUPT: return "corrupt file";
  case ESMM_EVERSION: return "unsupported file format version";
  case ESMM_ESHAPE: return "shape mismatch";
  case ESMM_ESTATE: return "invalid state for this call";
  case ESMM_ENUMERIC: return "numeric error (NaN or Inf)";
  case ESMM_EBUFS: return "buffer too small";
  case ESMM_ECANCELED: return "canceled by callback";
  default: return "unknown error";
  }
}

void esmm__log(const esmm__logger *lg, int level, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  if (!lg || !lg->fn || level > lg->max_level)
    return;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  lg->fn(level, buf, lg->payload);
}
