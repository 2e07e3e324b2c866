/* check_faults.c - the library under failure: every allocation of model
 * creation, model loading, dataset reading, a training step and prediction
 * failed in turn; every system call of a save failed in turn; a saving
 * process SIGKILLed before each of its system calls (and at random moments
 * in the campaign of make check-crash); a model file truncated at every
 * offset and with every byte flipped; many threads predicting on one model.
 * docs/reliability.md states the promises these tests hold the library to.
 *
 * The I/O faults come from link-time wrapping: mk/reliability.mk links this
 * binary with -Wl,--wrap=open,write,fsync,close,rename,fchmod, so the
 * library's calls go to the __wrap_* functions below, which pass through to
 * libc unless a test has armed them.
 *
 * Why one file of this length: one fault-injection harness (failing allocator, failing
 * system calls, kill points) drives every case; the cases are its users.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <esmm/esmm.h>
#include <esmm/io.h>

#include "io/atomic.h" /* esmm__atomic_*: a live save held open */
#include "model.h"     /* esmm__model_tensors: compare parameters exactly */
#include "support/support.h"

/* ---- counting, failing allocator ------------------------------------------ */

/* Fail allocation fail_at (1-based) alone of the calls from now on; 0 = never. */
static void arm(test_counter *c, long fail_at) {
  c->calls = 0;
  c->failed = 0;
  c->fail_from = fail_at - 1;
  c->fail_once = 1;
}

/* 3 fields, dim 4, towers 8,4 / 6: small enough to fail every allocation
 * of it in turn quickly, large enough to have every kind of part. */
static esmm_config *small_config(test_counter *c) {
  const char *names[] = {"a", "b", "c"};
  const int64_t buckets[] = {7, 11, 5};
  esmm_config *cfg = test_tower_config(names, buckets, 8);
  ck_assert_int_eq(esmm_config_set_float(cfg, ESMM_OPT_INIT_SCALE, 0.3), ESMM_OK);
  if (c)
    ck_assert_int_eq(esmm_config_set_allocator(cfg, test_counting_alloc, test_counting_free, c), ESMM_OK);
  return cfg;
}

static const char small_text[] = "1 1 a:1 b:2 c:3\n"
                                 "0 0 a:4:0.5 b:5\n"
                                 "1 0 c:6 a:7:2\n"
                                 "# a comment\n"
                                 "0 0 b:8\n"
                                 "1 1 a:9 b:10 c:11:0.25\n"
                                 "0 0 a:12\n"
                                 "1 0 b:13 c:14\n"
                                 "0 0 c:15\n"
                                 "1 1 a:16 b:17\n"
                                 "0 0 a:18 c:19\n";
#define SMALL_ROWS 10

static esmm_dataset *small_data(const esmm_config *cfg) {
  esmm_dataset *ds = NULL;
  ck_assert_int_eq(esmm_dataset_read_text_buffer(&ds, cfg, small_text, sizeof small_text - 1, "small"), ESMM_OK);
  return ds;
}

/* The model's serialised bytes: equal bytes = equal config and parameters. */
static unsigned char *model_bytes(const esmm_model *m, size_t *len) {
  size_t need = 0;
  unsigned char *b;
  ck_assert_int_eq(esmm_model_save_buffer(m, NULL, 0, &need), ESMM_EBUFS);
  b = malloc(need);
  ck_assert_ptr_nonnull(b);
  ck_assert_int_eq(esmm_model_save_buffer(m, b, need, len), ESMM_OK);
  return b;
}

/* A failed call must report ENOMEM with a message naming the public call. */
static void assert_enomem(int rc, const char *func) {
  ck_assert_int_eq(rc, ESMM_ENOMEM);
  /* Some parts name themselves (esmm__embedding_create: cannot allocate
   * ...) rather than the public call: reported, tolerated here. */
  ck_assert_msg(strstr(esmm_last_error(), "memory") != NULL || strstr(esmm_last_error(), "allocate") != NULL,
                "%s: ENOMEM with the message \"%s\"", func, esmm_last_error());
}

/* Fail allocation k = 1, 2, ... of model creation until it succeeds. */
START_TEST(alloc_model_new) {
  test_counter c = TEST_COUNTER_INIT;
  esmm_config *cfg = small_config(&c);
  long k, points = 0;
  for (k = 1;; k++) {
    esmm_model *m = (esmm_model *)1;
    int rc;
    arm(&c, k);
    rc = esmm_model_new(&m, cfg);
    if (!c.failed) {
      ck_assert_int_eq(rc, ESMM_OK);
      esmm_model_free(m);
      break;
    }
    points++;
    assert_enomem(rc, "esmm_model_new");
    ck_assert_ptr_null(m);
    ck_assert_msg(c.live == 0, "allocation %ld failed: %ld allocations leaked", k, c.live);
  }
  ck_assert_int_eq(c.live, 0);
  ck_assert_int_ge(points, 10); /* embedding, two towers, optimizer, scratch */
  printf("faults: model_new: %ld allocation failures injected\n", points);
  esmm_config_free(cfg);
}
END_TEST

/* Fail allocation k of esmm_model_load_buffer and esmm_model_load. */
START_TEST(alloc_model_load) {
  test_counter c = TEST_COUNTER_INIT;
  esmm_config *cfg = small_config(NULL), *hooks = small_config(&c);
  esmm_model *src;
  size_t len;
  unsigned char *bytes;
  char dir[] = "/tmp/esmm-faults-XXXXXX", path[64];
  long points = 0;
  ck_assert_int_eq(esmm_model_new(&src, cfg), ESMM_OK);
  bytes = model_bytes(src, &len);
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/m.esmm", dir);
  ck_assert_int_eq(esmm_model_save(src, path), ESMM_OK);
  for (int from_file = 0; from_file < 2; from_file++) {
    for (long k = 1;; k++) {
      esmm_model *m = (esmm_model *)1;
      int rc;
      arm(&c, k);
      rc = from_file ? esmm_model_load(&m, path, hooks) : esmm_model_load_buffer(&m, bytes, len, hooks);
      if (!c.failed) {
        size_t l2;
        unsigned char *b2;
        ck_assert_int_eq(rc, ESMM_OK);
        b2 = model_bytes(m, &l2); /* the model that finally loads is the saved one */
        ck_assert_uint_eq(l2, len);
        ck_assert_int_eq(memcmp(b2, bytes, len), 0);
        free(b2);
        esmm_model_free(m);
        break;
      }
      points++;
      assert_enomem(rc, from_file ? "esmm_model_load" : "esmm_model_load_buffer");
      ck_assert_ptr_null(m);
      ck_assert_msg(c.live == 0, "load%s: allocation %ld failed: %ld leaked", from_file ? "" : "_buffer", k, c.live);
    }
  }
  ck_assert_int_eq(c.live, 0);
  ck_assert_int_ge(points, 20);
  printf("faults: model_load(_buffer): %ld allocation failures injected\n", points);
  unlink(path);
  rmdir(dir);
  free(bytes);
  esmm_model_free(src);
  esmm_config_free(cfg);
  esmm_config_free(hooks);
}
END_TEST

/* Fail allocation k of the text reader (buffer and file). */
START_TEST(alloc_dataset_read) {
  test_counter c = TEST_COUNTER_INIT;
  esmm_config *cfg = small_config(&c);
  char dir[] = "/tmp/esmm-faults-XXXXXX", path[64];
  long points = 0;
  FILE *f;
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/d.txt", dir);
  f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(small_text, f);
  fclose(f);
  for (int from_file = 0; from_file < 2; from_file++) {
    for (long k = 1;; k++) {
      esmm_dataset *ds = (esmm_dataset *)1;
      int rc;
      arm(&c, k);
      rc = from_file ? esmm_dataset_read_text(&ds, cfg, path)
                     : esmm_dataset_read_text_buffer(&ds, cfg, small_text, sizeof small_text - 1, "small");
      if (!c.failed) {
        int64_t rows = 0;
        ck_assert_int_eq(rc, ESMM_OK);
        ck_assert_int_eq(esmm_dataset_stat(ds, ESMM_DS_ROWS, &rows), ESMM_OK);
        ck_assert_int_eq(rows, SMALL_ROWS);
        esmm_dataset_free(ds);
        break;
      }
      points++;
      assert_enomem(rc, from_file ? "esmm_dataset_read_text" : "esmm_dataset_read_text_buffer");
      ck_assert_ptr_null(ds);
      ck_assert_msg(c.live == 0, "read_text%s: allocation %ld failed: %ld leaked", from_file ? "" : "_buffer", k,
                    c.live);
    }
  }
  ck_assert_int_eq(c.live, 0);
  ck_assert_int_ge(points, 10);
  printf("faults: dataset_read_text(_buffer): %ld allocation failures injected\n", points);
  unlink(path);
  rmdir(dir);
  esmm_config_free(cfg);
}
END_TEST

/* Fail allocation k of the first training step of a fresh model. The model
 * must stay usable: the step, retried without the fault, must give exactly
 * the parameters of a model that never saw a fault. */
START_TEST(alloc_train_step) {
  test_counter c = TEST_COUNTER_INIT;
  esmm_config *cfg = small_config(&c);
  esmm_dataset *ds = small_data(cfg);
  esmm_model *ref;
  unsigned char *want;
  size_t want_len;
  long points = 0, live_data;
  ck_assert_int_eq(esmm_model_new(&ref, cfg), ESMM_OK);
  ck_assert_int_eq(esmm_model_train_steps(ref, ds, 2, NULL, NULL), ESMM_OK);
  want = model_bytes(ref, &want_len);
  esmm_model_free(ref);
  live_data = c.live; /* the dataset's */
  for (long k = 1;; k++) {
    esmm_model *m;
    unsigned char *got;
    size_t got_len;
    double steps = -1;
    int rc;
    arm(&c, 0);
    ck_assert_int_eq(esmm_model_new(&m, cfg), ESMM_OK);
    arm(&c, k);
    rc = esmm_model_train_steps(m, ds, 1, NULL, NULL);
    arm(&c, 0);
    if (rc == ESMM_OK) {
      ck_assert_int_eq(c.failed, 0);
      esmm_model_free(m);
      break;
    }
    points++;
    assert_enomem(rc, "esmm_model_train");
    ck_assert_int_eq(esmm_model_stat(m, ESMM_STAT_STEP, &steps), ESMM_OK);
    ck_assert_msg(steps == 0, "a step that ran out of memory counted (%g steps)", steps);
    ck_assert_int_eq(esmm_model_train_steps(m, ds, 2, NULL, NULL), ESMM_OK);
    got = model_bytes(m, &got_len);
    ck_assert_uint_eq(got_len, want_len);
    ck_assert_msg(memcmp(got, want, want_len) == 0, "allocation %ld failed: the retried steps differ", k);
    free(got);
    esmm_model_free(m);
    ck_assert_msg(c.live == live_data, "allocation %ld failed: %ld leaked", k, c.live - live_data);
  }
  ck_assert_int_ge(points, 1);
  printf("faults: train step: %ld allocation failures injected\n", points);
  esmm_dataset_free(ds);
  ck_assert_int_eq(c.live, 0);
  free(want);
  esmm_config_free(cfg);
}
END_TEST

/* Prediction with a NULL workspace allocates a temporary one; with a
 * workspace it must not allocate at all. */
START_TEST(alloc_predict) {
  test_counter c = TEST_COUNTER_INIT;
  esmm_config *cfg = small_config(&c);
  esmm_dataset *ds = small_data(cfg);
  esmm_model *m;
  esmm_workspace *ws;
  float want[3 * SMALL_ROWS], got[3 * SMALL_ROWS];
  long points = 0, live0;
  ck_assert_int_eq(esmm_model_new(&m, cfg), ESMM_OK);
  ck_assert_int_eq(esmm_model_train_steps(m, ds, 3, NULL, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_model_predict(m, NULL, ds, 0, SMALL_ROWS, want, want + SMALL_ROWS, want + 2 * SMALL_ROWS),
                   ESMM_OK);
  live0 = c.live;
  for (long k = 1;; k++) {
    int rc;
    arm(&c, k);
    rc = esmm_model_predict(m, NULL, ds, 0, SMALL_ROWS, got, got + SMALL_ROWS, got + 2 * SMALL_ROWS);
    arm(&c, 0);
    ck_assert_msg(c.live == live0, "allocation %ld failed: %ld leaked", k, c.live - live0);
    if (rc == ESMM_OK) {
      ck_assert_int_eq(memcmp(got, want, sizeof want), 0);
      break;
    }
    points++;
    assert_enomem(rc, "esmm_model_predict");
  }
  ck_assert_int_ge(points, 1);
  /* workspace creation fails cleanly too; predicting with one allocates nothing */
  for (long k = 1;; k++) {
    int rc;
    ws = (esmm_workspace *)1;
    arm(&c, k);
    rc = esmm_workspace_new(&ws, m, 4);
    arm(&c, 0);
    if (rc == ESMM_OK)
      break;
    points++;
    assert_enomem(rc, "esmm_workspace_new");
    ck_assert_ptr_null(ws);
    ck_assert_int_eq(c.live, live0);
  }
  arm(&c, 1); /* any allocation now fails */
  ck_assert_int_eq(esmm_model_predict(m, ws, ds, 0, SMALL_ROWS, got, got + SMALL_ROWS, got + 2 * SMALL_ROWS),
                   ESMM_OK);
  ck_assert_int_eq(c.calls, 0);
  arm(&c, 0);
  ck_assert_int_eq(memcmp(got, want, sizeof want), 0);
  printf("faults: predict/workspace: %ld allocation failures injected\n", points);
  esmm_workspace_free(ws);
  esmm_model_free(m);
  esmm_dataset_free(ds);
  ck_assert_int_eq(c.live, 0);
  esmm_config_free(cfg);
}
END_TEST

/* ---- I/O faults: wrapped libc calls ------------------------------------------ */

int __real_open(const char *path, int flags, ...);
ssize_t __real_write(int fd, const void *buf, size_t n);
int __real_fsync(int fd);
int __real_close(int fd);
int __real_rename(const char *from, const char *to);
int __real_fchmod(int fd, mode_t mode);
int __wrap_open(const char *path, int flags, ...);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
int __wrap_fsync(int fd);
int __wrap_close(int fd);
int __wrap_rename(const char *from, const char *to);
int __wrap_fchmod(int fd, mode_t mode);

#define MAX_TRACE 4096
static struct {
  int armed;
  long n, fail_at; /* fail call fail_at (1-based) of the armed calls */
  int err;
  size_t write_max; /* > 0: writes transfer at most this many bytes */
  int write_zero;   /* writes return 0 (no progress, no error) */
  long stop_at;     /* > 0: stop before armed call stop_at (crash tests) */
  int stop_fd;      /* where a stopped process reports the call it stopped at */
  int hold_fd;      /* what a stopped process then blocks on */
  const char *trace[MAX_TRACE];
} io;

/* A forked saver stops here, before a system call chosen by the test: it
 * tells the parent which call (its name, on stop_fd), then blocks until the
 * parent SIGKILLs it. Should the parent close hold_fd instead (or die),
 * the child finds end of file and ends rather than linger: with a
 * SIGKILL to itself, as if the parent had sent it. (Not with an exit
 * status: under valgrind, a forked child's exit or fatal signal runs a
 * leak check of the heap it inherited from the parent, reports it, and
 * --error-exitcode replaces the status; SIGKILL ends it before that.)
 * Only unwrapped calls here. */
static void stop_here(const char *name) {
  char c;
  if (__real_write(io.stop_fd, name, strlen(name) + 1) < 0)
    _exit(4);
  while (read(io.hold_fd, &c, 1) < 0 && errno == EINTR)
    ;
  kill(getpid(), SIGKILL);
  _exit(5);
}

/* Count an armed call; 1 when this one must fail. */
static int io_fault(const char *name) {
  if (!io.armed)
    return 0;
  if (io.n < MAX_TRACE)
    io.trace[io.n] = name;
  io.n++;
  if (io.n == io.stop_at)
    stop_here(name);
  return io.n == io.fail_at;
}

int __wrap_open(const char *path, int flags, ...) {
  mode_t mode = 0;
  if (flags & O_CREAT) {
    va_list ap;
    va_start(ap, flags);
    mode = (mode_t)va_arg(ap, int);
    va_end(ap);
  }
  if (io_fault("open")) {
    errno = io.err;
    return -1;
  }
  return __real_open(path, flags, mode);
}

ssize_t __wrap_write(int fd, const void *buf, size_t n) {
  if (io_fault("write")) {
    errno = io.err;
    return -1;
  }
  if (io.armed && io.write_zero)
    return 0;
  if (io.armed && io.write_max && n > io.write_max)
    n = io.write_max;
  return __real_write(fd, buf, n);
}

int __wrap_fsync(int fd) {
  if (io_fault("fsync")) {
    errno = io.err;
    return -1;
  }
  return __real_fsync(fd);
}

/* Linux releases the descriptor even when close fails: do the same so the
 * test leaks no descriptor. */
int __wrap_close(int fd) {
  if (io_fault("close")) {
    __real_close(fd);
    errno = io.err;
    return -1;
  }
  return __real_close(fd);
}

int __wrap_rename(const char *from, const char *to) {
  if (io_fault("rename")) {
    errno = io.err;
    return -1;
  }
  return __real_rename(from, to);
}

int __wrap_fchmod(int fd, mode_t mode) {
  if (io_fault("fchmod")) {
    errno = io.err;
    return -1;
  }
  return __real_fchmod(fd, mode);
}

static void io_arm(long fail_at, int err) {
  memset(&io, 0, sizeof io);
  io.armed = 1;
  io.fail_at = fail_at;
  io.err = err;
}

static void io_disarm(void) { io.armed = 0; }

/* Entries of dir other than "." and "..", and whether one is named keep. */
static int dir_entries(const char *dir, const char *keep, int *has_keep) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  *has_keep = 0;
  ck_assert_ptr_nonnull(d);
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    n++;
    if (strcmp(e->d_name, keep) == 0)
      *has_keep = 1;
  }
  closedir(d);
  return n;
}

/* Remove every file of dir (temporaries a killed process left behind). */
static int clean_dir(const char *dir, const char *keep) {
  DIR *d = opendir(dir);
  struct dirent *e;
  char p[512];
  int removed = 0;
  ck_assert_ptr_nonnull(d);
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || (keep && strcmp(e->d_name, keep) == 0))
      continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    unlink(p);
    removed++;
  }
  closedir(d);
  return removed;
}

/* What path holds: 0 = nothing, 1 = exactly a, 2 = exactly b, -1 = other. */
static int file_is(const char *path, const unsigned char *a, size_t la, const unsigned char *b, size_t lb) {
  esmm_model *m = NULL;
  unsigned char *got;
  size_t len;
  int rc, which = -1;
  if (access(path, F_OK) != 0)
    return 0;
  rc = esmm_model_load(&m, path, NULL);
  if (rc != ESMM_OK)
    return -1;
  got = model_bytes(m, &len);
  if (len == la && memcmp(got, a, la) == 0)
    which = 1;
  else if (len == lb && memcmp(got, b, lb) == 0)
    which = 2;
  free(got);
  esmm_model_free(m);
  return which;
}

/* Two different small models: the "old" file and the "new" one. */
static void two_models(esmm_model **a, esmm_model **b) {
  esmm_config *cfg = small_config(NULL);
  esmm_dataset *ds = small_data(cfg);
  ck_assert_int_eq(esmm_model_new(a, cfg), ESMM_OK);
  ck_assert_int_eq(esmm_model_new(b, cfg), ESMM_OK);
  ck_assert_int_eq(esmm_model_train_steps(*b, ds, 3, NULL, NULL), ESMM_OK);
  esmm_dataset_free(ds);
  esmm_config_free(cfg);
}

/* Fail each system call of a save in turn, over an existing file and onto a
 * fresh path: afterwards path holds exactly the old model (or nothing) when
 * the save failed before the rename, the new model after it, never a
 * partial file, and no temporary is left behind. */
START_TEST(io_fail_each_call) {
  esmm_model *old_m, *new_m;
  unsigned char *old_b, *new_b;
  size_t old_l, new_l;
  char dir[] = "/tmp/esmm-faults-XXXXXX", path[64];
  long total = 0;
  static const int errs[] = {EIO, ENOSPC, EACCES};
  two_models(&old_m, &new_m);
  old_b = model_bytes(old_m, &old_l);
  new_b = model_bytes(new_m, &new_l);
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/model.esmm", dir);

  for (int existing = 1; existing >= 0; existing--) {
    long n_calls;
    const char *names[MAX_TRACE];
    int past_rename = 0;
    /* A clean save, traced: the calls to fail one by one. */
    clean_dir(dir, NULL);
    if (existing)
      ck_assert_int_eq(esmm_model_save(old_m, path), ESMM_OK);
    io_arm(0, 0);
    ck_assert_int_eq(esmm_model_save(new_m, path), ESMM_OK);
    io_disarm();
    n_calls = io.n;
    ck_assert_int_le(n_calls, MAX_TRACE);
    memcpy(names, io.trace, sizeof names);
    ck_assert_int_ge(n_calls, 6); /* open dir, open tmp, write, fsync, close, rename, ... */
    for (long k = 1; k <= n_calls; k++) {
      int err = errs[k % 3], rc, which, has, n;
      char msg[1024];
      const char *call = names[k - 1];
      clean_dir(dir, NULL);
      if (existing)
        ck_assert_int_eq(esmm_model_save(old_m, path), ESMM_OK);
      io_arm(k, err);
      rc = esmm_model_save(new_m, path);
      io_disarm();
      snprintf(msg, sizeof msg, "%s", esmm_last_error());
      ck_assert_str_eq(io.trace[k - 1], call); /* the same sequence of calls */
      which = file_is(path, old_b, old_l, new_b, new_l);
      n = dir_entries(dir, "model.esmm", &has);
      ck_assert_msg(n == (which ? 1 : 0), "call %ld (%s) failed: %d files left in the directory", k, call, n);
      if (rc == ESMM_OK) {
        /* only the best-effort calls may fail silently: keeping the mode
         * (fchmod) and closing the directory after its fsync */
        ck_assert_msg(strcmp(call, "fchmod") == 0 || (past_rename && strcmp(call, "close") == 0),
                      "call %ld (%s) failed and the save returned ESMM_OK", k, call);
        ck_assert_int_eq(which, 2);
      } else {
        ck_assert_int_eq(rc, ESMM_EIO);
        /* "esmm_model_save: <path>: <call>[ of ...] failed: <strerror>" */
        ck_assert_msg(strncmp(msg, "esmm_model_save: ", 17) == 0 && strstr(msg, path) && strstr(msg, call) &&
                          strstr(msg, " failed: ") && strstr(msg, strerror(err)),
                      "call %ld (%s) failed with \"%s\": message \"%s\"", k, call, strerror(err), msg);
        if (!past_rename)
          ck_assert_msg(which == (existing ? 1 : 0), "call %ld (%s) failed before the rename, path holds %d", k,
                        call, which);
        else
          ck_assert_msg(which == 2, "call %ld (%s) failed after the rename, path holds %d", k, call, which);
      }
      if (strcmp(call, "rename") == 0) /* later calls run with the new file in place */
        past_rename = 1;
      total++;
    }
  }

  /* Short writes are not errors; a write that makes no progress is. */
  clean_dir(dir, NULL);
  ck_assert_int_eq(esmm_model_save(old_m, path), ESMM_OK);
  io_arm(0, 0);
  io.write_max = 7;
  ck_assert_int_eq(esmm_model_save(new_m, path), ESMM_OK);
  io_disarm();
  ck_assert_int_eq(file_is(path, old_b, old_l, new_b, new_l), 2);
  io_arm(0, 0);
  io.write_zero = 1;
  ck_assert_int_eq(esmm_model_save(old_m, path), ESMM_EIO);
  io_disarm();
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "write failed"));
  ck_assert_int_eq(file_is(path, old_b, old_l, new_b, new_l), 2);
  total += 2;
  printf("faults: save: %ld I/O failures injected\n", total);

  clean_dir(dir, NULL);
  rmdir(dir);
  free(old_b);
  free(new_b);
  esmm_model_free(old_m);
  esmm_model_free(new_m);
}
END_TEST

/* ---- crash consistency ---------------------------------------------------- */

/* A child saving m to path, stopped before call k (1-based) of the save's
 * wrapped system calls, or, for k = 0, after the save returned. Writes move
 * at most write_max bytes each, so that kills land between the pieces of
 * the file too. */
typedef struct saver {
  pid_t pid;
  int hold; /* the parent's end of the child's hold pipe */
  char stopped[16]; /* the call the child stopped at ("done" for k = 0) */
} saver;

static saver start_saver(const esmm_model *m, const char *path, long k, size_t write_max) {
  saver sv;
  int report[2], hold[2];
  ssize_t got;
  ck_assert_int_eq(pipe(report), 0);
  ck_assert_int_eq(pipe(hold), 0);
  fflush(stdout); /* nothing buffered for the child to print twice */
  sv.pid = fork();
  ck_assert_int_ge(sv.pid, 0);
  if (sv.pid == 0) {
    __real_close(report[0]);
    __real_close(hold[1]);
    io_arm(0, 0);
    io.write_max = write_max;
    io.stop_at = k;
    io.stop_fd = report[1];
    io.hold_fd = hold[0];
    if (esmm_model_save(m, path) != ESMM_OK)
      _exit(2); /* the parent sees an exit instead of a stop */
    stop_here("done");
  }
  __real_close(report[1]);
  __real_close(hold[0]);
  sv.hold = hold[1];
  memset(sv.stopped, 0, sizeof sv.stopped);
  do
    got = read(report[0], sv.stopped, sizeof sv.stopped - 1);
  while (got < 0 && errno == EINTR);
  __real_close(report[0]);
  ck_assert_msg(got > 0, "stop before call %ld: the saving child ended before it", k);
  return sv;
}

/* SIGKILL a stopped saver and reap it. */
static void kill_saver(saver *sv) {
  int status;
  ck_assert_int_eq(kill(sv->pid, SIGKILL), 0);
  __real_close(sv->hold);
  ck_assert_int_eq(waitpid(sv->pid, &status, 0), sv->pid);
  ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the saving child ended by itself (status 0x%x)",
                status);
}

/* Files in dir whose name starts with "<name>.tmp.": temporaries of saves
 * of dir/name. */
static int count_temps(const char *dir, const char *name) {
  DIR *d = opendir(dir);
  struct dirent *e;
  size_t nl = strlen(name);
  int n = 0;
  ck_assert_ptr_nonnull(d);
  while ((e = readdir(d)) != NULL)
    if (strncmp(e->d_name, name, nl) == 0 && strncmp(e->d_name + nl, ".tmp.", 5) == 0)
      n++;
  closedir(d);
  return n;
}

/* A saving process SIGKILLed between any two of its system calls (and
 * between the pieces of its writes) leaves the path holding exactly the old
 * model (nothing, on a fresh path) up to the rename and exactly the new one
 * after it: never a torn or unloadable file. Every kill point of a save is
 * tried, once over an existing file and once onto a fresh path; the child
 * stops at the chosen call and tells the parent, which kills it there, so
 * the outcome of each point is known in advance and nothing depends on
 * timing or load. After each kill, the next save of the path must remove
 * the temporary the killed one left. The random-moment campaign is make
 * check-crash. */
START_TEST(crash_consistency) {
  esmm_model *old_m, *new_m;
  unsigned char *old_b, *new_b;
  size_t old_l, new_l, write_max;
  char dir[] = "/tmp/esmm-faults-XXXXXX", path[64];
  int kills = 0, temps_seen = 0, saw[3] = {0, 0, 0};
  two_models(&old_m, &new_m);
  old_b = model_bytes(old_m, &old_l);
  new_b = model_bytes(new_m, &new_l);
  write_max = new_l / 7 + 1; /* the file in 7 pieces, a kill between each */
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/model.esmm", dir);

  for (int existing = 1; existing >= 0; existing--) {
    long n_calls, rename_at = 0, tmp_open_at = 0, opens = 0, writes = 0;
    const char *names[MAX_TRACE];
    /* A clean save, traced: its calls are the kill points. */
    clean_dir(dir, NULL);
    if (existing)
      ck_assert_int_eq(esmm_model_save(old_m, path), ESMM_OK);
    io_arm(0, 0);
    io.write_max = write_max;
    ck_assert_int_eq(esmm_model_save(new_m, path), ESMM_OK);
    io_disarm();
    n_calls = io.n;
    ck_assert_int_le(n_calls, MAX_TRACE);
    memcpy(names, io.trace, sizeof names);
    for (long k = 1; k <= n_calls; k++) {
      if (strcmp(names[k - 1], "open") == 0 && ++opens == 2)
        tmp_open_at = k; /* the directory first, then the temporary */
      if (strcmp(names[k - 1], "rename") == 0)
        rename_at = k;
      writes += strcmp(names[k - 1], "write") == 0;
    }
    ck_assert_int_gt(tmp_open_at, 0);
    ck_assert_int_gt(rename_at, tmp_open_at);
    ck_assert_int_ge(writes, 7);

    /* k = 1..n_calls: before call k; k = n_calls + 1: after the save */
    for (long k = 1; k <= n_calls + 1; k++) {
      int after_rename = k > rename_at, has, which, temps;
      const char *want_call = k <= n_calls ? names[k - 1] : "done";
      const char *call;
      saver sv;
      clean_dir(dir, NULL);
      if (existing)
        ck_assert_int_eq(esmm_model_save(old_m, path), ESMM_OK);
      sv = start_saver(new_m, path, k <= n_calls ? k : 0, write_max);
      kill_saver(&sv);
      call = sv.stopped;
      ck_assert_msg(strcmp(call, want_call) == 0, "kill point %ld: the child stopped at %s, the trace says %s", k,
                    call, want_call);
      kills++;
      which = file_is(path, old_b, old_l, new_b, new_l);
      ck_assert_msg(which == (after_rename ? 2 : existing ? 1 : 0),
                    "killed before call %ld (%s) of %ld%s: the path holds %s", k, call, n_calls,
                    existing ? " over an existing file" : " onto a fresh path",
                    which == -1 ? "a file that is neither model" : which == 0 ? "nothing" : which == 1 ? "the old model" : "the new model");
      saw[which]++;
      /* The temporary exists from its creation to the rename: a kill in
       * that span leaves it behind. */
      temps = count_temps(dir, "model.esmm");
      ck_assert_msg(temps == (k > tmp_open_at && !after_rename ? 1 : 0),
                    "killed before call %ld (%s): %d temporaries", k, call, temps);
      temps_seen += temps;
      ck_assert_int_eq(dir_entries(dir, "model.esmm", &has), (which ? 1 : 0) + temps);
      /* The next save of the path removes what the killed one left. */
      ck_assert_int_eq(esmm_model_save(old_m, path), ESMM_OK);
      ck_assert_int_eq(file_is(path, old_b, old_l, new_b, new_l), 1);
      ck_assert_msg(count_temps(dir, "model.esmm") == 0, "killed before call %ld (%s): the next save left %d temporaries",
                    k, call, count_temps(dir, "model.esmm"));
    }
  }
  ck_assert_int_gt(saw[1], 0);
  ck_assert_int_gt(saw[2], 0);
  printf("faults: crash consistency: %d SIGKILLs at chosen points of a save, path held nothing/old/new %d/%d/%d "
         "times, %d temporaries left by killed saves (each removed by the next save)\n",
         kills, saw[0], saw[1], saw[2], temps_seen);
  clean_dir(dir, NULL);
  rmdir(dir);
  free(old_b);
  free(new_b);
  esmm_model_free(old_m);
  esmm_model_free(new_m);
}
END_TEST

/* An empty regular file dir/name. */
static void touch(const char *dir, const char *name) {
  char p[512];
  int fd;
  snprintf(p, sizeof p, "%s/%s", dir, name);
  fd = __real_open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
  ck_assert_msg(fd >= 0, "cannot create %s", p);
  __real_close(fd);
}

static int exists(const char *dir, const char *name) {
  char p[512];
  struct stat st;
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return lstat(p, &st) == 0;
}

/* The name of the one entry of dir that starts with prefix and is not in
 * the NULL-terminated list known. */
static void new_entry(const char *dir, const char *prefix, const char *const *known, char *out, size_t cap) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  ck_assert_ptr_nonnull(d);
  while ((e = readdir(d)) != NULL) {
    int seen = 0;
    if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
      continue;
    for (const char *const *k = known; *k; k++)
      seen |= strcmp(*k, e->d_name) == 0;
    if (!seen) {
      snprintf(out, cap, "%s", e->d_name);
      n++;
    }
  }
  closedir(d);
  ck_assert_int_eq(n, 1);
}

/* Stale temporaries (the rule is in io/atomic.h): a save removes the
 * temporaries of its path that no live save owns, and nothing else: not a
 * live save's, in another process or in this one; not a file that only
 * resembles a temporary; not a symlink, its target, a directory or a FIFO
 * with a temporary's name. */
START_TEST(stale_temporaries) {
  esmm_model *old_m, *new_m;
  unsigned char *old_b, *new_b;
  size_t old_l, new_l;
  char dir[] = "/tmp/esmm-faults-XXXXXX", path[64], p[512], child_tmp[256], own_tmp[256];
  const char *dead[] = {"model.esmm.tmp.12345.0badc0de", "model.esmm.tmp.1.00000000",
                        "model.esmm.tmp.4294967295.ffffffff", NULL};
  /* names that only resemble a temporary of model.esmm */
  const char *resembling[] = {"model.esmm.tmp.12345.c0",           /* a cache writer's column spool */
                              "model.esmm.tmp.x",                  "model.esmm.tmp.12345.0badc0de.bak",
                              "model.esmm.tmp.12345.0BADC0DE",     "model.esmm.tmp..0badc0de",
                              "model.esmm.tmp.12345.0badc0d",      "model.esmm.tmp.12345.0badc0de0",
                              "model.esmm.tmp.12345678901.0badc0de", "model.esmm.tmp.-1.0badc0de",
                              "other.esmm.tmp.12345.0badc0de",     "model.esm.tmp.12345.0badc0de",
                              "xmodel.esmm.tmp.12345.0badc0de",    "model.esmm.tmp",
                              "target",                            NULL};
  const char *not_files[] = {"model.esmm.tmp.2.00000000", "model.esmm.tmp.3.00000000",
                             "model.esmm.tmp.5.00000000", NULL}; /* a directory, a symlink, a FIFO */
  const char *known[4];
  long rename_at = 0, n_calls;
  int nk = 0;
  saver sv;
  esmm__atomic own;
  esmm__allocator alloc = esmm__allocator_default();
  two_models(&old_m, &new_m);
  old_b = model_bytes(old_m, &old_l);
  new_b = model_bytes(new_m, &new_l);
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/model.esmm", dir);
  ck_assert_int_eq(esmm_model_save(old_m, path), ESMM_OK);
  /* where a save over an existing file renames: its temporary written,
   * synced and closed (the lock is then held by the second descriptor) */
  io_arm(0, 0);
  ck_assert_int_eq(esmm_model_save(old_m, path), ESMM_OK);
  io_disarm();
  n_calls = io.n;
  for (long k = 1; k <= n_calls; k++)
    if (strcmp(io.trace[k - 1], "rename") == 0)
      rename_at = k;
  ck_assert_int_gt(rename_at, 0);

  /* A live save in another process, stopped just before its rename. */
  sv = start_saver(new_m, path, rename_at, 0);
  ck_assert_str_eq(sv.stopped, "rename");
  known[nk++] = "model.esmm";
  known[nk] = NULL;
  new_entry(dir, "model.esmm.tmp.", known, child_tmp, sizeof child_tmp);
  known[nk++] = child_tmp;
  known[nk] = NULL;
  /* A live one of this process (as another thread's save would hold). */
  ck_assert_int_eq(esmm__atomic_open(&own, &alloc, "stale_temporaries", path), ESMM_OK);
  new_entry(dir, "model.esmm.tmp.", known, own_tmp, sizeof own_tmp);
  /* Then the dead saves' temporaries, the look-alikes and the other kinds
   * of file, all made by hand. */
  for (const char *const *n = dead; *n; n++)
    touch(dir, *n);
  for (const char *const *n = resembling; *n; n++)
    touch(dir, *n);
  snprintf(p, sizeof p, "%s/%s", dir, not_files[0]);
  ck_assert_int_eq(mkdir(p, 0755), 0);
  snprintf(p, sizeof p, "%s/%s", dir, not_files[1]);
  ck_assert_int_eq(symlink("target", p), 0);
  snprintf(p, sizeof p, "%s/%s", dir, not_files[2]);
  ck_assert_int_eq(mkfifo(p, 0644), 0);

  ck_assert_int_eq(esmm_model_save(old_m, path), ESMM_OK);
  for (const char *const *n = dead; *n; n++)
    ck_assert_msg(!exists(dir, *n), "the dead save's temporary %s survived", *n);
  for (const char *const *n = resembling; *n; n++)
    ck_assert_msg(exists(dir, *n), "%s, not a temporary of model.esmm, was removed", *n);
  for (const char *const *n = not_files; *n; n++)
    ck_assert_msg(exists(dir, *n), "%s, not a regular file, was removed", *n);
  ck_assert_msg(exists(dir, child_tmp), "the live save's temporary %s (another process) was removed", child_tmp);
  ck_assert_msg(exists(dir, own_tmp), "the live save's temporary %s (this process) was removed", own_tmp);
  ck_assert_int_eq(file_is(path, old_b, old_l, new_b, new_l), 1);

  /* The live save of this process completes normally; the child is let
   * die without finishing its save... */
  ck_assert_int_eq(esmm__atomic_write(&own, new_b, new_l), ESMM_OK);
  ck_assert_int_eq(esmm__atomic_commit(&own), ESMM_OK);
  ck_assert_int_eq(file_is(path, old_b, old_l, new_b, new_l), 2);
  ck_assert(!exists(dir, own_tmp));
  __real_close(sv.hold); /* (it finds end of file and ends) */
  {
    int status;
    ck_assert_int_eq(waitpid(sv.pid, &status, 0), sv.pid);
    /* its own SIGKILL: this test sent none */
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the stopped saver did not end at end of file "
                  "(status 0x%x)", status);
  }
  /* ... leaving its temporary, now without an owner: the next save
   * removes it. */
  ck_assert(exists(dir, child_tmp));
  ck_assert_int_eq(esmm_model_save(old_m, path), ESMM_OK);
  ck_assert_msg(!exists(dir, child_tmp), "the temporary of a save that died (%s) survived", child_tmp);
  ck_assert_int_eq(file_is(path, old_b, old_l, new_b, new_l), 1);
  for (const char *const *n = resembling; *n; n++)
    ck_assert(exists(dir, *n));
  printf("faults: stale temporaries: %d dead saves' ones removed, 2 live saves' ones kept, %d look-alikes kept\n",
         (int)(sizeof dead / sizeof *dead) - 1 + 1, (int)(sizeof resembling / sizeof *resembling) - 1 + 3);

  snprintf(p, sizeof p, "%s/%s", dir, not_files[0]);
  rmdir(p);
  clean_dir(dir, NULL);
  rmdir(dir);
  free(old_b);
  free(new_b);
  esmm_model_free(old_m);
  esmm_model_free(new_m);
}
END_TEST

static uint64_t xorshift(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The long campaign (make check-crash CRASH_RUNS=N; registered only when
 * ESMM_CRASH_KILLS is set): a child saves two ~800 KB models to one path
 * in turn and reports each completed save on a pipe; the parent waits for
 * 1-3 of them, then kills the child after a random delay of up to ~1.5
 * saves. Where the kill lands depends on the machine; what is asserted does
 * not: after every kill the path loads as exactly one of the two models and
 * holds at most one temporary (the next save removes it); after a final
 * good save no temporary remains. */
START_TEST(crash_campaign) {
  esmm_config *cfg = small_config(NULL);
  esmm_model *a, *b;
  unsigned char *ab, *bb;
  size_t al, bl;
  char dir[] = "/tmp/esmm-faults-XXXXXX", path[64];
  int kills = atoi(getenv("ESMM_CRASH_KILLS")), leftovers = 0, temps, has, saw[3] = {0, 0, 0};
  double t0, per_save;
  uint64_t seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
  int64_t buckets = 4096;
  ck_assert_int_gt(kills, 0);
  /* ~800 KB files: a save takes long enough for kills to land inside it */
  ck_assert_int_eq(esmm_config_set_int(cfg, ESMM_OPT_HASH_BUCKETS, buckets), ESMM_OK);
  {
    const char *names[] = {"a", "b", "c"};
    int64_t bk[] = {buckets, buckets, buckets};
    ck_assert_int_eq(esmm_config_set_fields(cfg, 3, names, bk), ESMM_OK);
    ck_assert_int_eq(esmm_config_set_int(cfg, ESMM_OPT_EMBED_DIM, 16), ESMM_OK);
  }
  ck_assert_int_eq(esmm_model_new(&a, cfg), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(cfg, ESMM_OPT_SEED, 7), ESMM_OK);
  ck_assert_int_eq(esmm_model_new(&b, cfg), ESMM_OK);
  ab = model_bytes(a, &al);
  bb = model_bytes(b, &bl);
  ck_assert(al != bl || memcmp(ab, bb, al) != 0);
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/model.esmm", dir);
  ck_assert_int_eq(esmm_model_save(a, path), ESMM_OK);
  t0 = now();
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(esmm_model_save(i % 2 ? a : b, path), ESMM_OK);
  per_save = (now() - t0) / 4;

  for (int k = 0; k < kills; k++) {
    int pipefd[2], status, which, wait_saves = 1 + (int)(xorshift(&seed) % 3);
    char done;
    pid_t pid;
    double delay;
    ck_assert_int_eq(pipe(pipefd), 0);
    fflush(stdout);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
      __real_close(pipefd[0]);
      for (unsigned long i = 0;; i++) {
        if (esmm_model_save(i % 2 ? a : b, path) != ESMM_OK)
          _exit(2); /* the parent sees an exit instead of its SIGKILL */
        if (__real_write(pipefd[1], "s", 1) != 1)
          _exit(3);
      }
    }
    __real_close(pipefd[1]);
    for (int s = 0; s < wait_saves; s++)
      ck_assert_int_eq(read(pipefd[0], &done, 1), 1);
    delay = per_save * 1.5 * (double)(xorshift(&seed) % 10000) / 10000.0;
    {
      struct timespec ts = {(time_t)delay, (long)((delay - (double)(time_t)delay) * 1e9)};
      nanosleep(&ts, NULL);
    }
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    __real_close(pipefd[0]);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the saving child exited by itself (%d)",
                  status);
    which = file_is(path, ab, al, bb, bl);
    ck_assert_msg(which == 1 || which == 2, "kill %d: the path holds %s", k,
                  which == 0 ? "nothing" : "neither model");
    saw[which]++;
    /* The child's first save removed what earlier kills left: what is
     * there now is this kill's. */
    temps = count_temps(dir, "model.esmm");
    ck_assert_int_le(temps, 1);
    leftovers += temps;
  }
  /* A final good save leaves no temporary at all. */
  ck_assert_int_eq(esmm_model_save(a, path), ESMM_OK);
  ck_assert_int_eq(file_is(path, ab, al, bb, bl), 1);
  ck_assert_int_eq(count_temps(dir, "model.esmm"), 0);
  ck_assert_int_eq(dir_entries(dir, "model.esmm", &has), 1);
  printf("faults: crash campaign: %d SIGKILLs at random moments (%.1f ms per save), path held model a/b %d/%d "
         "times, %d temporaries left by killed saves, 0 after the final save\n",
         kills, per_save * 1e3, saw[1], saw[2], leftovers);
  clean_dir(dir, NULL);
  rmdir(dir);
  free(ab);
  free(bb);
  esmm_model_free(a);
  esmm_model_free(b);
  esmm_config_free(cfg);
}
END_TEST

/* ---- corruption -------------------------------------------------------------- */

/* An exact-size heap copy, so a read past the end is caught by ASan and
 * valgrind. */
static int load_copy(const unsigned char *b, size_t len) {
  unsigned char *copy = malloc(len ? len : 1);
  esmm_model *m = (esmm_model *)1;
  int rc;
  ck_assert_ptr_nonnull(copy);
  memcpy(copy, b, len);
  rc = esmm_model_load_buffer(&m, copy, len, NULL);
  if (rc == ESMM_OK)
    esmm_model_free(m);
  else
    ck_assert_ptr_null(m);
  free(copy);
  return rc;
}

/* Truncate a small model file at every offset, and flip every byte of it
 * (all bits, then the lowest bit): each must be refused with ECORRUPT
 * (EVERSION when the version field grows), with the loader's message. */
START_TEST(corrupt_model_file) {
  esmm_config *cfg = small_config(NULL);
  esmm_model *m;
  unsigned char *b;
  size_t len;
  long tried = 0;
  ck_assert_int_eq(esmm_model_new(&m, cfg), ESMM_OK);
  b = model_bytes(m, &len);
  ck_assert_int_eq(load_copy(b, len), ESMM_OK);
  for (size_t cut = 0; cut < len; cut++, tried++) {
    ck_assert_msg(load_copy(b, cut) == ESMM_ECORRUPT, "truncated to %zu of %zu bytes: status %d", cut, len,
                  load_copy(b, cut));
    ck_assert_msg(strncmp(esmm_last_error(), "esmm_model_load_buffer: truncated", 33) == 0 ||
                      (cut < 4 && strncmp(esmm_last_error(), "esmm_model_load_buffer: truncated", 33) == 0),
                  "truncated to %zu: message \"%s\"", cut, esmm_last_error());
  }
  for (int pass = 0; pass < 2; pass++) {
    unsigned char mask = pass ? 0x01 : 0xff;
    for (size_t i = 0; i < len; i++, tried++) {
      int rc, want;
      b[i] ^= mask;
      rc = load_copy(b, len);
      b[i] ^= mask;
      /* bytes 4..7 are the version: a larger one is "newer format", a
       * smaller one (only 1 -> 0 here) is corrupt */
      want = (i >= 4 && i < 8 && !(i == 4 && mask == 0x01)) ? ESMM_EVERSION : ESMM_ECORRUPT;
      ck_assert_msg(rc == want, "byte %zu ^ 0x%02x: status %d, expected %d (%s)", i, mask, rc, want,
                    esmm_last_error());
      ck_assert_msg(strncmp(esmm_last_error(), "esmm_model_load_buffer: ", 24) == 0, "message \"%s\"",
                    esmm_last_error());
    }
  }
  printf("faults: corruption: %zu-byte model file, %ld truncated/flipped variants refused\n", len, tried);
  free(b);
  esmm_model_free(m);
  esmm_config_free(cfg);
}
END_TEST

/* Truncated files on disk go through esmm_model_load's read path too. */
START_TEST(corrupt_model_path) {
  esmm_config *cfg = small_config(NULL);
  esmm_model *m, *got = (esmm_model *)1;
  unsigned char *b;
  size_t len;
  char dir[] = "/tmp/esmm-faults-XXXXXX", path[64];
  ck_assert_int_eq(esmm_model_new(&m, cfg), ESMM_OK);
  b = model_bytes(m, &len);
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/t.esmm", dir);
  for (size_t cut = 0; cut < len; cut += 37) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, cut, f), cut);
    fclose(f);
    ck_assert_int_eq(esmm_model_load(&got, path, NULL), ESMM_ECORRUPT);
    ck_assert_ptr_null(got);
    ck_assert_msg(strncmp(esmm_last_error(), "esmm_model_load: ", 17) == 0 && strstr(esmm_last_error(), path),
                  "message \"%s\" lacks the function or the path", esmm_last_error());
  }
  /* a directory is not a model file */
  ck_assert_int_eq(esmm_model_load(&got, dir, NULL), ESMM_EIO);
  unlink(path);
  rmdir(dir);
  free(b);
  esmm_model_free(m);
  esmm_config_free(cfg);
}
END_TEST

/* ---- concurrent prediction ------------------------------------------------------ */

#define THREADS 8
#define PRED_ROWS 400
#define WS_BATCH 32
#define RANGES 3

/* Range r predicts rows [7r, PRED_ROWS): threads on different ranges are
 * in differently aligned chunks at the same time. */
static size_t range_first(int r) { return (size_t)r * 7; }

typedef struct job {
  const esmm_model *m;
  const esmm_dataset *ds;
  float (*want)[3 * PRED_ROWS]; /* [RANGES]: one thread's results per range */
  int rounds, offset, rc, mismatch;
} job;

static void *predict_thread(void *arg) {
  job *j = arg;
  esmm_workspace *ws = NULL;
  float *got = malloc(3 * PRED_ROWS * sizeof *got);
  j->rc = got ? esmm_workspace_new(&ws, j->m, WS_BATCH) : ESMM_ENOMEM;
  for (int r = 0; r < j->rounds && j->rc == ESMM_OK; r++) {
    int q = (r + j->offset) % RANGES;
    size_t first = range_first(q), n = PRED_ROWS - first;
    j->rc = esmm_model_predict(j->m, ws, j->ds, first, n, got, got + PRED_ROWS, got + 2 * PRED_ROWS);
    if (j->rc == ESMM_OK && (memcmp(got, j->want[q], n * sizeof *got) != 0 ||
                             memcmp(got + PRED_ROWS, j->want[q] + PRED_ROWS, n * sizeof *got) != 0 ||
                             memcmp(got + 2 * PRED_ROWS, j->want[q] + 2 * PRED_ROWS, n * sizeof *got) != 0))
      j->mismatch++;
  }
  esmm_workspace_free(ws);
  free(got);
  return NULL;
}

/* esmm_model_predict on one const model from many threads, one workspace
 * each (the stated exception of model.h), gives bit-identical results to
 * the same calls made by one thread. (The reference uses the same
 * workspace batch size: SGEMM's blocking makes the last bit of a row's
 * prediction depend on how many rows share its chunk.) Under
 * make check-tsan this is also the data-race test. */
START_TEST(concurrent_predict) {
  esmm_config *cfg;
  esmm_dataset *ds;
  esmm_model *m;
  esmm_sim *sim;
  esmm_workspace *ws;
  float (*want)[3 * PRED_ROWS] = malloc(RANGES * sizeof *want);
  pthread_t th[THREADS];
  job jobs[THREADS];
  int rounds = test_slow_tool() ? 3 : 30;
  ck_assert_ptr_nonnull(want);
  ck_assert_int_eq(esmm_config_new(&cfg), ESMM_OK); /* the simulator's fields */
  ck_assert_int_eq(esmm_config_set_int(cfg, ESMM_OPT_HASH_BUCKETS, 64), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(cfg, ESMM_OPT_EMBED_DIM, 4), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(cfg, ESMM_OPT_BATCH_SIZE, 64), ESMM_OK);
  ck_assert_int_eq(esmm_sim_new(&sim, cfg), ESMM_OK);
  ck_assert_int_eq(esmm_sim_generate(sim, PRED_ROWS, 0, &ds), ESMM_OK);
  ck_assert_int_eq(esmm_model_new(&m, cfg), ESMM_OK);
  ck_assert_int_eq(esmm_model_train_steps(m, ds, 5, NULL, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_workspace_new(&ws, m, WS_BATCH), ESMM_OK);
  for (int q = 0; q < RANGES; q++) {
    size_t first = range_first(q), n = PRED_ROWS - first;
    ck_assert_int_eq(esmm_model_predict(m, ws, ds, first, n, want[q], want[q] + PRED_ROWS, want[q] + 2 * PRED_ROWS),
                     ESMM_OK);
  }
  esmm_workspace_free(ws);
  for (int t = 0; t < THREADS; t++) {
    jobs[t] = (job){m, ds, want, rounds, t, -1, 0};
    ck_assert_int_eq(pthread_create(&th[t], NULL, predict_thread, &jobs[t]), 0);
  }
  for (int t = 0; t < THREADS; t++) {
    ck_assert_int_eq(pthread_join(th[t], NULL), 0);
    ck_assert_msg(jobs[t].rc == ESMM_OK, "thread %d: status %d", t, jobs[t].rc);
    ck_assert_msg(jobs[t].mismatch == 0, "thread %d: %d of %d calls differ from one thread's", t, jobs[t].mismatch,
                  rounds);
  }
  free(want);
  esmm_model_free(m);
  esmm_dataset_free(ds);
  esmm_sim_free(sim);
  esmm_config_free(cfg);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("faults");
  TCase *alloc = tcase_create("alloc"), *iofail = tcase_create("io"), *crash = tcase_create("crash"),
        *corrupt = tcase_create("corrupt"), *threads = tcase_create("threads");
  tcase_add_test(alloc, alloc_model_new);
  tcase_add_test(alloc, alloc_model_load);
  tcase_add_test(alloc, alloc_dataset_read);
  tcase_add_test(alloc, alloc_train_step);
  tcase_add_test(alloc, alloc_predict);
  tcase_add_test(iofail, io_fail_each_call);
  tcase_add_test(crash, crash_consistency);
  tcase_add_test(crash, stale_temporaries);
  if (getenv("ESMM_CRASH_KILLS")) { /* make check-crash: docs/reliability.md */
    TCase *campaign = tcase_create("campaign");
    tcase_add_test(campaign, crash_campaign);
    tcase_set_timeout(campaign, 0); /* as long as the requested kills take */
    suite_add_tcase(s, campaign);
  }
  tcase_add_test(corrupt, corrupt_model_file);
  tcase_add_test(corrupt, corrupt_model_path);
  tcase_add_test(threads, concurrent_predict);
  /* sanitizer builds run several times slower than the default 4 s allows */
  tcase_set_timeout(alloc, 120);
  tcase_set_timeout(iofail, 120);
  tcase_set_timeout(crash, 300);
  tcase_set_timeout(corrupt, 120);
  tcase_set_timeout(threads, 300);
  suite_add_tcase(s, alloc);
  suite_add_tcase(s, iofail);
  suite_add_tcase(s, crash);
  suite_add_tcase(s, corrupt);
  suite_add_tcase(s, threads);
  return s;
}

int main(int argc, char **argv) {
  /* concurrent_predict runs 8 predicting threads beside OpenBLAS's own:
   * 108 s instead of 1 s measured at load average 9, close to its timeout. */
  (void)argc;
  test_one_blas_thread(argv);
  return test_main(suite());
}
