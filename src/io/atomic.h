/*
 * io/atomic.h (internal) - replacing a file atomically, and the write loop.
 * Owns the one procedure every writer of the library uses to put a file at a
 * path (docs/model-format.md, "Saving"): open the target's directory, create
 * "<path>.tmp.<pid>.<8 hex digits>" in it with O_CREAT|O_EXCL (mode 0666
 * less the umask, then the mode of the file being replaced, if any), write,
 * fsync, close, rename over path, fsync the directory. Any failure before
 * the rename unlinks the temporary and leaves the old file at path as it
 * was. Knows nothing of what the bytes are.
 *
 * Stale temporaries. A process killed in the middle of a save leaves its
 * temporary behind. Every save of path therefore first removes the
 * temporaries of path whose owner is gone, and only those. The owner of a
 * temporary is whoever holds the exclusive flock(2) that esmm__atomic_open
 * takes on it the moment it is created and keeps until after the rename
 * (on a second descriptor, since the first is closed before the rename).
 * The kernel drops the lock when its holder dies, however it dies, so:
 *   - a temporary is removed when nobody holds its lock: its save died;
 *   - a live save's temporary is never removed, whichever thread, process,
 *     pid namespace or host owns it, as long as the file system honours
 *     flock across them (local file systems; NFS, where Linux turns flock
 *     into a whole-file lock the server arbitrates, unless the client is
 *     mounted with -o nolock or local_lock=flock/all, which keep locks
 *     local: there a save on another host can be removed under it, and
 *     fails with ESMM_EIO at its rename; the file at path is still never
 *     torn);
 *   - pids play no part, so a reused pid neither protects a dead save's
 *     file nor exposes a live one;
 *   - where the file system keeps no locks at all (flock fails with
 *     another error than EWOULDBLOCK), nothing is removed, and the save
 *     proceeds without a lock;
 *   - only names of the exact form "<name of path>.tmp.<decimal>.<8 hex>"
 *     in path's directory, and only regular files (not a symlink, whose
 *     target is never followed, nor a FIFO or device);
 *   - a temporary written by a library older than 1.1 (which took no lock)
 *     looks dead: saving one path from 1.0 and 1.1 at the same moment can
 *     make the 1.0 save fail (never tear the file).
 * The race between creating a temporary and locking it is closed on both
 * sides: the cleaner unlinks only while holding the lock, and only if the
 * name still is the file it locked; the creator, if it finds the lock taken
 * or its file already unlinked, gives it up and tries another name.
 * Cleaning lists the directory: a save in a directory of n entries costs
 * O(n) more (a listing, no system call per unrelated entry).
 * (The alternative, one fixed temporary name that the next save replaces,
 * would make two concurrent saves of one path write the same file.)
 *
 * Every system call goes straight to libc's open, write, fsync, close,
 * rename, fchmod (tests/check_faults.c wraps them at link time); the
 * cleaning uses openat, fstatat, flock and unlinkat besides, and one close
 * per stale candidate.
 *
 * Usage:
 *   esmm__atomic f;
 *   ESMM__TRY(esmm__atomic_open(&f, alloc, __func__, path));
 *   esmm__atomic_write(&f, p, n);  ...  (a failure is remembered)
 *   return esmm__atomic_commit(&f); (or esmm__atomic_abort(&f) to give up)
 *
 * Messages are "<func>: <path>: <call> failed: <reason> (...)", the call
 * being "open of directory \"...\"", "open of temporary \"...\"", "write",
 * "fsync", "close", "rename" or "fsync of directory \"...\"".
 */
#ifndef ESMM__IO_ATOMIC_H
#define ESMM__IO_ATOMIC_H

#include "internal.h"

typedef struct esmm__atomic {
  int fd;               /* the temporary, -1 once closed */
  int dfd;              /* the target's directory, -1 once closed */
  int lockfd;           /* holds the temporary's lock until the rename, or -1 */
  int err;              /* errno of the first failed write, 0 = none */
  esmm__allocator alloc;
  const char *func;     /* named in messages; borrowed */
  const char *path;     /* the target; borrowed until commit or abort */
  char *tmp;            /* the temporary's name */
  char *dir;            /* the directory's name */
} esmm__atomic;

/* Write all n bytes of p to fd: retries on EINTR, continues short writes,
 * and reports a write that makes no progress (returns 0) as ENOSPC.
 * Returns 0, or -1 with errno set. */
int esmm__write_all(int fd, const void *p, size_t n);

/* Open the directory of path and create a fresh temporary in it. On
 * failure (ESMM_ENOMEM, ESMM_EIO) nothing is left to release and
 * esmm__atomic_abort(f) is a harmless no-op. path and func must outlive f. */
int esmm__atomic_open(esmm__atomic *f, const esmm__allocator *a, const char *func, const char *path);

/* Append n bytes to the temporary. After a failure (ESMM_EIO, message set)
 * further writes do nothing and fail again; esmm__atomic_commit reports the
 * first failure, so a caller may write unchecked and commit. */
int esmm__atomic_write(esmm__atomic *f, const void *p, size_t n);

/* fsync, close, rename over path, fsync the directory; releases f. ESMM_OK
 * or ESMM_EIO. A failure up to the rename unlinks the temporary and leaves
 * the old file; a failing directory fsync after it is reported, with the
 * new file in place. */
int esmm__atomic_commit(esmm__atomic *f);

/* Give up: close and unlink the temporary, release f. The file at path is
 * untouched. Safe on an f whose open failed or that was committed. */
void esmm__atomic_abort(esmm__atomic *f);

/* A buffered writer over an atomic file, for the text formats: pieces are
 * gathered in a buffer of cap bytes and written in large blocks. Write
 * failures are remembered in f.err (callers may stop early on it) and
 * reported by esmm__abuf_commit. */
typedef struct esmm__abuf {
  esmm__atomic f;
  char *buf;
  size_t len, cap;
} esmm__abuf;

/* ESMM_OK, ESMM_ENOMEM or ESMM_EIO; on failure nothing is left to release. */
int esmm__abuf_open(esmm__abuf *w, const esmm__allocator *a, const char *func, const char *path, size_t cap);
void esmm__abuf_put(esmm__abuf *w, const char *s, size_t n);
/* x in decimal. */
void esmm__abuf_u64(esmm__abuf *w, uint64_t x);
/* Flush, release the buffer and commit the file (esmm__atomic_commit). */
int esmm__abuf_commit(esmm__abuf *w);

#endif /* ESMM__IO_ATOMIC_H */
