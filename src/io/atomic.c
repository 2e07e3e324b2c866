/* io/atomic.c - replacing a file atomically (see atomic.h). */
/* flock(2) is BSD, not POSIX: glibc declares it under _DEFAULT_SOURCE. It
 * is used rather than fcntl's POSIX locks because those belong to the
 * process (a thread would not see another thread's lock, and closing any
 * descriptor of the file drops them), and rather than Linux's OFD locks for
 * portability (the BSDs and macOS have flock). */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE 1
#endif

#include "atomic.h"

#include "rng.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* strerror is not thread-safe; the XSI strerror_r is (POSIX 2008). */
static const char *os_errtext(int e, char *buf, size_t n) {
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
  if (f->lockfd >= 0)
    close(f->lockfd);
  f->lockfd = -1;
  if (f->dfd >= 0)
    close(f->dfd);
  f->dfd = -1;
  esmm__free(&f->alloc, f->tmp);
  esmm__free(&f->alloc, f->dir);
  f->tmp = NULL;
  f->dir = NULL;
}

/* ---- temporaries and their owners ------------------------------------------ */

/* An exclusive, non-blocking flock on fd: 1 = taken, -1 = another open file
 * holds it, 0 = the file system keeps no locks (or refused for another
 * reason): nothing can be told. */
static int try_lock(int fd) {
  int r;
  do
    r = flock(fd, LOCK_EX | LOCK_NB);
  while (r != 0 && errno == EINTR);
  if (r == 0)
    return 1;
  return errno == EWOULDBLOCK ? -1 : 0;
}

/* Whether name is exactly "<base>.tmp.<decimal pid>.<8 lowercase hex>", the
 * name esmm__atomic_open gives a temporary of <base>. Nothing looser: a
 * file that merely resembles one is never touched. */
static int is_temp_of(const char *base, size_t blen, const char *name) {
  const char *p = name + blen + 5;
  int digits = 0;
  if (strncmp(name, base, blen) != 0 || strncmp(name + blen, ".tmp.", 5) != 0)
    return 0;
  for (; *p >= '0' && *p <= '9'; p++)
    digits++;
  if (digits < 1 || digits > 10 || *p++ != '.')
    return 0;
  for (digits = 0; (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'); p++)
    digits++;
  return digits == 8 && *p == '\0';
}

/* Remove the temporaries that earlier saves of base (in the directory dfd)
 * left behind when their process died: those no process holds a lock on
 * (the rule is in atomic.h). Best effort and silent: a save never fails
 * because of it. */
static void remove_stale(int dfd, const char *base) {
  size_t blen = strlen(base);
  int d;
  DIR *dir;
  struct dirent *e;
  if (blen == 0)
    return;
  d = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d < 0)
    return;
  if (!(dir = fdopendir(d))) {
    close(d);
    return;
  }
  while ((e = readdir(dir)) != NULL) {
    struct stat named, opened;
    int fd;
    if (!is_temp_of(base, blen, e->d_name))
      continue;
    /* Regular files only (never a symlink's target, a FIFO or a device);
     * opened for writing because NFS grants an exclusive lock only then. */
    if (fstatat(dfd, e->d_name, &named, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(named.st_mode))
      continue;
    fd = openat(dfd, e->d_name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
      continue;
    /* Unlinked while locked, and only if the name still is the file that
     * was locked: a save that creates its temporary at this moment either
     * finds the lock taken or its file unlinked, and picks another name. */
    if (try_lock(fd) > 0 && fstat(fd, &opened) == 0 &&
        fstatat(dfd, e->d_name, &named, AT_SYMLINK_NOFOLLOW) == 0 && named.st_dev == opened.st_dev &&
        named.st_ino == opened.st_ino)
      (void)unlinkat(dfd, e->d_name, 0);
    close(fd);
  }
  closedir(dir);
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
  f->lockfd = -1;
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
    esmm__error(ESMM_EIO, func, "%s: open of directory \"%s\" failed: %s", path, f->dir, os_errtext(e, eb, sizeof eb));
    release(f);
    return ESMM_EIO;
  }

  remove_stale(f->dfd, slash ? slash + 1 : path);

  /* Unique name without a global counter: the pid, then a hash of a stack
   * address and the clock, rehashed on a collision (O_EXCL). The new file
   * is locked at once and stays locked until after the rename (atomic.h);
   * should a cleaning save have caught it in between (the lock taken, or
   * the file already unlinked), the next name is tried. */
  clock_gettime(CLOCK_REALTIME, &ts);
  salt = (uint64_t)(uintptr_t)&st ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec;
  for (int attempt = 0; attempt < 64; attempt++) {
    int lk;
    snprintf(f->tmp, plen + 64, "%s.tmp.%ld.%08llx", path, (long)getpid(),
             (unsigned long long)(esmm__mix64(salt + (uint64_t)attempt) & 0xffffffffu));
    f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (f->fd < 0) {
      if (errno != EEXIST && errno != EINTR)
        break;
      continue;
    }
    lk = try_lock(f->fd);
    if (lk < 0 || (lk > 0 && fstat(f->fd, &st) == 0 && st.st_nlink == 0)) {
      close(f->fd); /* the cleaner that holds it unlinks it */
      f->fd = -1;
      errno = EEXIST;
      continue;
    }
    /* The lock lives as long as one descriptor of the file is open: this
     * second one is closed after the rename (commit closes f->fd before
     * it, to hear of write-back errors while the old file is intact). */
    if (lk > 0 && (f->lockfd = fcntl(f->fd, F_DUPFD_CLOEXEC, 0)) < 0) {
      e = errno;
      close(f->fd);
      f->fd = -1;
      unlink(f->tmp);
      errno = e;
    }
    break;
  }
  if (f->fd < 0) {
    e = errno;
    esmm__error(ESMM_EIO, func, "%s: open of temporary \"%s\" failed: %s", path, f->tmp, os_errtext(e, eb, sizeof eb));
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
                     os_errtext(f->err, eb, sizeof eb));
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
  if (call)
    unlink(f->tmp); /* while still locked */
  if (f->lockfd >= 0)
    close(f->lockfd); /* after the rename: an error here loses nothing */
  f->lockfd = -1;
  if (call) {
    rc = esmm__error(ESMM_EIO, f->func, "%s: %s failed: %s (the previous file, if any, is unchanged)", f->path,
                     call, os_errtext(e, eb, sizeof eb));
  } else if (fsync_retry(f->dfd) != 0 && errno != EINVAL) {
    /* The rename is durable only once the directory is synced. Filesystems
     * that cannot sync a directory say EINVAL: nothing more can be done. */
    e = errno;
    rc = esmm__error(ESMM_EIO, f->func, "%s: fsync of directory \"%s\" failed: %s (the new file is in place)",
                     f->path, f->dir, os_errtext(e, eb, sizeof eb));
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
