/* io/atomic.c - replacing a file atomically (see atomic.h). */
#include "atomic.h"

#include "rng.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* strerror is not thread-safe; the XSI strerror_r is (POSIX 2008). */
static const char *errtext(int e, char *buf, size_t n) {
  if (strerror_r(e, buf, n) != 0)
    snprintf(buf, n, "errno %d", e);
  return buf;
}

int esmm__write_all(int fd, const void *p, size_t n) {
  const unsigned char *c = p;
  while (n > 0) {
    ssize_t k = write(fd, c, n);
    if (k < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    if (k == 0) { /* no progress and no error: report it as a full disk */
      errno = ENOSPC;
      return -1;
    }
    c += k;
    n -= (size_t)k;
  }
  return 0;
}

static int fsync_retry(int fd) {
  int r;
  do
    r = fsync(fd);
  while (r != 0 && errno == EINTR);
  return r;
}

static void release(esmm__atomic *f) {
  if (f->dfd >= 0)
    close(f->dfd);
  f->dfd = -1;
  esmm__free(&f->alloc, f->tmp);
  esmm__free(&f->alloc, f->dir);
  f->tmp = NULL;
  f->dir = NULL;
}

/* The directory is opened first so that every failure that can be
 * reported happens before the rename, while the old file is untouched. */
int esmm__atomic_open(esmm__atomic *f, const esmm__allocator *a, const char *func, const char *path) {
  size_t plen = strlen(path);
  const char *slash = strrchr(path, '/');
  char eb[128];
  int e;
  struct stat st;
  struct timespec ts;
  uint64_t salt;

  memset(f, 0, sizeof *f);
  f->fd = -1;
  f->dfd = -1;
  f->alloc = *a;
  f->func = func;
  f->path = path;
  f->tmp = esmm__alloc(a, plen + 64);
  f->dir = esmm__alloc(a, plen + 2);
  if (!f->tmp || !f->dir) {
    release(f);
    return esmm__error(ESMM_ENOMEM, func, "%s: out of memory", path);
  }
  if (!slash)
    memcpy(f->dir, ".", 2);
  else if (slash == path)
    memcpy(f->dir, "/", 2);
  else {
    memcpy(f->dir, path, (size_t)(slash - path));
    f->dir[slash - path] = '\0';
  }
  f->dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (f->dfd < 0) {
    e = errno;
    esmm__error(ESMM_EIO, func, "%s: open of directory \"%s\" failed: %s", path, f->dir, errtext(e, eb, sizeof eb));
    release(f);
    return ESMM_EIO;
  }

  /* Unique name without a global counter: the pid, then a hash of a stack
   * address and the clock, rehashed on a collision (O_EXCL). */
  clock_gettime(CLOCK_REALTIME, &ts);
  salt = (uint64_t)(uintptr_t)&st ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec;
  for (int attempt = 0; attempt < 64; attempt++) {
    snprintf(f->tmp, plen + 64, "%s.tmp.%ld.%08llx", path, (long)getpid(),
             (unsigned long long)(esmm__mix64(salt + (uint64_t)attempt) & 0xffffffffu));
    f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (f->fd >= 0 || (errno != EEXIST && errno != EINTR))
      break;
  }
  if (f->fd < 0) {
    e = errno;
    esmm__error(ESMM_EIO, func, "%s: open of temporary \"%s\" failed: %s", path, f->tmp, errtext(e, eb, sizeof eb));
    release(f);
    return ESMM_EIO;
  }
  /* Keep the permissions of the file being replaced (best effort: a
   * failure here loses only the mode, never data). */
  if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
    (void)fchmod(f->fd, st.st_mode & 07777);
  return ESMM_OK;
}

static int write_failed(const esmm__atomic *f) {
  char eb[128];
  return esmm__error(ESMM_EIO, f->func, "%s: write failed: %s (the previous file, if any, is unchanged)", f->path,
                     errtext(f->err, eb, sizeof eb));
}

int esmm__atomic_write(esmm__atomic *f, const void *p, size_t n) {
  if (f->err || f->fd < 0) {
    if (!f->err)
      f->err = EBADF; /* written after commit or abort: a caller's bug */
    return write_failed(f);
  }
  if (esmm__write_all(f->fd, p, n) != 0) {
    f->err = errno ? errno : EIO;
    return write_failed(f);
  }
  return ESMM_OK;
}

int esmm__atomic_commit(esmm__atomic *f) {
  const char *call = NULL;
  char eb[128];
  int rc = ESMM_OK, e = f->err;

  if (f->fd < 0) { /* not open: the caller's bug, reported rather than crashing */
    release(f);
    return esmm__error(ESMM_ERROR, f->func, "%s: internal: commit of a file that is not open", f->path);
  }
  if (e)
    call = "write";
  else if (fsync_retry(f->fd) != 0) {
    e = errno;
    call = "fsync";
  }
  if (call) {
    close(f->fd);
  } else if (close(f->fd) != 0) {
    e = errno;
    call = "close";
  } else if (rename(f->tmp, f->path) != 0) {
    e = errno;
    call = "rename";
  }
  f->fd = -1;
  if (call) {
    unlink(f->tmp);
    rc = esmm__error(ESMM_EIO, f->func, "%s: %s failed: %s (the previous file, if any, is unchanged)", f->path,
                     call, errtext(e, eb, sizeof eb));
  } else if (fsync_retry(f->dfd) != 0 && errno != EINVAL) {
    /* The rename is durable only once the directory is synced. Filesystems
     * that cannot sync a directory say EINVAL: nothing more can be done. */
    e = errno;
    rc = esmm__error(ESMM_EIO, f->func, "%s: fsync of directory \"%s\" failed: %s (the new file is in place)",
                     f->path, f->dir, errtext(e, eb, sizeof eb));
  }
  release(f);
  return rc;
}

void esmm__atomic_abort(esmm__atomic *f) {
  if (f->fd >= 0) {
    close(f->fd);
    unlink(f->tmp);
    f->fd = -1;
  }
  release(f);
}

/* ---- buffered writer ----------------------------------------------------- */

int esmm__abuf_open(esmm__abuf *w, const esmm__allocator *a, const char *func, const char *path, size_t cap) {
  int rc;
  w->len = 0;
  w->cap = cap;
  if (!(w->buf = esmm__alloc(a, cap)))
    return esmm__error(ESMM_ENOMEM, func, "out of memory");
  rc = esmm__atomic_open(&w->f, a, func, path);
  if (rc != ESMM_OK) {
    esmm__free(a, w->buf);
    w->buf = NULL;
  }
  return rc;
}

static void abuf_flush(esmm__abuf *w) {
  if (w->len)
    (void)esmm__atomic_write(&w->f, w->buf, w->len); /* reported by the commit */
  w->len = 0;
}

void esmm__abuf_put(esmm__abuf *w, const char *s, size_t n) {
  if (w->len + n > w->cap)
    abuf_flush(w);
  if (n > w->cap) { /* a piece larger than the buffer goes straight through */
    (void)esmm__atomic_write(&w->f, s, n);
    return;
  }
  memcpy(w->buf + w->len, s, n);
  w->len += n;
}

void esmm__abuf_u64(esmm__abuf *w, uint64_t x) {
  char t[24];
  int k = 24;
  do {
    t[--k] = (char)('0' + x % 10);
    x /= 10;
  } while (x);
  esmm__abuf_put(w, t + k, (size_t)(24 - k));
}

int esmm__abuf_commit(esmm__abuf *w) {
  abuf_flush(w);
  esmm__free(&w->f.alloc, w->buf);
  w->buf = NULL;
  return esmm__atomic_commit(&w->f);
}
