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

int esmm__error_in(int status, const char *func) {
  char tmp[sizeof last_error];
  const char *msg = last_error, *colon = strstr(last_error, ": ");
  size_t fl = strlen(func);
  /* an internal function's name ("esmm__mlp_create: ...", "sg_reserve:
   * ...") gives way to the public call's; a message that names func stays
   * as it is, one naming another public function gets func in front */
  if (strncmp(last_error, func, fl) == 0 && last_error[fl] == ':')
    return status;
  if (colon && !(strncmp(last_error, "esmm_", 5) == 0 && last_error[5] != '_'))
    msg = colon + 2;
  {
    /* func, ": ", then as much of the message as fits */
    size_t n = fl < sizeof tmp - 3 ? fl : sizeof tmp - 3, m = strlen(msg);
    memcpy(tmp, func, n);
    tmp[n++] = ':';
    tmp[n++] = ' ';
    if (m > sizeof tmp - 1 - n)
      m = sizeof tmp - 1 - n;
    memcpy(tmp + n, msg, m);
    tmp[n + m] = '\0';
  }
  memcpy(last_error, tmp, sizeof tmp);
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
