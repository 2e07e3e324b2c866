/* support.h - fixtures every test binary shares (tests/support/support.c is
 * linked into each one): the suite runner, a scratch directory, whole-file
 * read and write, a counting allocator that can be told to fail, and the
 * small model and dataset most component tests start from.
 *
 * Helpers assert with Check's ck_assert*, so a broken fixture fails the test
 * that called it instead of returning something half made. */
#ifndef ESMM_TEST_SUPPORT_H
#define ESMM_TEST_SUPPORT_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "esmm/esmm.h"

/* Runs every test of the suite (fork mode as Check's environment says) and
 * returns main's exit status; the runner is freed. */
int test_main(Suite *s);

/* For binaries that run many tiny GEMMs in forked children or many
 * predicting threads: OpenBLAS's own threads busy-wait on a loaded machine
 * and made such binaries 10x slower (158 s instead of 15 s measured). The
 * library never sets OpenBLAS's threads (a process-wide setting, the host's
 * business), so the test, the host, does, the only way that works: it
 * re-executes itself (argv of main) with OPENBLAS_NUM_THREADS=1 unless the
 * environment already says; on failure it runs on as it is. Call first in
 * main. */
void test_one_blas_thread(char **argv);

/* Nonzero when ESMM_TEST_UNDER_TOOL is set (by mk/reliability.mk's
 * check-valgrind; by hand for a sanitizer run): the light mode. Loops that
 * repeat for confidence run fewer rounds, training and statistical tests
 * fewer rows, steps or thread counts, and a process shares one simulator
 * where each test made its own (preparing one takes ~5 s of CPU under
 * memcheck); each test says what it cuts and which thresholds it relaxes. */
int test_slow_tool(void);

/* Asserts that call returns status and that esmm_last_error() names func. */
#define ck_assert_fails(call, status, func)                                                    \
  do {                                                                                         \
    int rc_ = (call);                                                                          \
    ck_assert_msg(rc_ == (status), "%s returned %d, want %d", #call, rc_, (status));          \
    ck_assert_msg(strstr(esmm_last_error(), func) != NULL, "last error '%s' does not name %s", \
                  esmm_last_error(), func);                                                    \
  } while (0)

/* Scratch directory /tmp/<tag>.XXXXXX: test_tmpdir_new creates it (the
 * returned path lives in `dir`, `cap` bytes); test_tmpdir_remove deletes it
 * and all it holds. */
void test_tmpdir_new(char *dir, size_t cap, const char *tag);
void test_tmpdir_remove(const char *dir);

/* The whole file, NUL-terminated (so text files can be used as strings);
 * *len gets its size without the terminator. Free with free(). */
unsigned char *test_slurp(const char *path, size_t *len);
/* Creates or truncates path and writes len bytes of data to it. */
void test_write_file(const char *path, const void *data, size_t len);
/* test_write_file of a NUL-terminated text. */
void test_write_text(const char *path, const char *text);

/* Little-endian fields of file images, read and written independently of
 * the library's own code. */
uint32_t test_le32(const unsigned char *p);
uint64_t test_le64(const unsigned char *p);
void test_put32(unsigned char *p, uint32_t v);

/* A counting allocator for esmm_config_set_allocator and the internal
 * esmm__allocator (same signatures; the counter is the user data). Call
 * k (counting from 0) fails when fail_from >= 0 and k >= fail_from, which
 * walks every ENOMEM path with a loop over fail_from; with fail_once, call
 * fail_from alone fails, so that what follows a failure (cleanup, the next
 * call) allocates normally. */
typedef struct test_counter {
  long calls;     /* allocation calls, failed ones included */
  long allocs;    /* successful allocations */
  long frees;     /* frees of non-NULL blocks */
  long live;      /* allocs - frees */
  long fail_from; /* -1: never fail */
  long failed;    /* calls refused */
  int fail_once;  /* 0: every call from fail_from on fails */
} test_counter;
#define TEST_COUNTER_INIT {0, 0, 0, 0, -1, 0, 0}
void *test_counting_alloc(void *counter, size_t size, size_t align);
void test_counting_free(void *counter, void *p);

/* Fails allocation b = 0, 1, ... (at most max_fails of them) of
 * attempt(cnt, ctx) until it succeeds: each failure must be ESMM_ENOMEM,
 * with a last error naming func, and leave no allocation live. attempt
 * builds something with cnt as its allocator's user data, frees it on
 * success, asserts its output NULL on failure and returns the status.
 * Asserts that it succeeded within max_fails failures. */
void test_enomem_walk(int (*attempt)(test_counter *cnt, void *ctx), void *ctx, int max_fails, const char *func);

/* Three fields (names[3], buckets[3]; NULL buckets: ESMM_OPT_HASH_BUCKETS
 * each), embedding dimension 4, CTR tower 8,4, CVR tower 6, the given
 * batch, everything else default: the shape of every small-model test,
 * which varies only fields and batch. */
esmm_config *test_tower_config(const char *const *names, const int64_t *buckets, int64_t batch);

/* The small configuration of the whole-model tests: test_tower_config with
 * fields a, b, c of 7, 11 and 5 buckets, batch 32, initial scale 0.5. */
esmm_config *test_small_config(void);

/* A default configuration with options set by name: pairs of name and
 * value strings up to a NULL name, each esmm_config_set_by_name asserted. */
esmm_config *test_config_named(const char *name, ...);

/* The model of the threading and first-layer-split tests on the
 * simulator's grouped data: towers 16,8 / 12, 512 buckets a field,
 * dimension 6, batch 200, with the variant, ESMM_OPT_SHUFFLE,
 * ESMM_OPT_NUM_THREADS and ESMM_OPT_BATCH_SLICES given. */
esmm_model *test_sim_model(int64_t variant, int shuffle, int threads, int slices);

/* n_rows (<= 64) rows over the small configuration's three fields with
 * clicks on every third row and conversions on every other click shifted
 * by conv_shift rows, four common lists (rows r % 5 == 4 have none), fixed
 * ids and values: a dataset whose every quantity a test may check is known
 * from r. */
esmm_dataset *test_small_data(const esmm_config *cfg, size_t n_rows, int conv_shift);

/* esmm_dataset_stat, asserted to succeed. */
int64_t test_ds_stat(const esmm_dataset *ds, int key);

/* NULL when a and b hold the same data in every respect the API shows
 * (every count but ESMM_DS_MAPPED, field names, rows, commons, dense
 * inputs, bit for bit); otherwise what differs first. Does not assert
 * equality, so that damage tests can tell "refused" from "loaded equal". */
const char *test_ds_differs(const esmm_dataset *a, const esmm_dataset *b);

#endif /* ESMM_TEST_SUPPORT_H */
