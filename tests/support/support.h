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

#include "esmm/esmm.h"

/* Runs every test of the suite (fork mode as Check's environment says) and
 * returns main's exit status; the runner is freed. */
int test_main(Suite *s);

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

/* A counting allocator for esmm_config_set_allocator and the internal
 * esmm__allocator (same signatures; the counter is the user data). Call
 * k (counting from 0) fails when fail_from >= 0 and k >= fail_from, which
 * walks every ENOMEM path with a loop over fail_from. */
typedef struct test_counter {
  long calls;     /* allocation calls, failed ones included */
  long allocs;    /* successful allocations */
  long frees;     /* frees of non-NULL blocks */
  long live;      /* allocs - frees */
  long fail_from; /* -1: never fail */
} test_counter;
#define TEST_COUNTER_INIT {0, 0, 0, 0, -1}
void *test_counting_alloc(void *counter, size_t size, size_t align);
void test_counting_free(void *counter, void *p);

/* The small configuration of the whole-model tests: three fields a, b, c of
 * 7, 11 and 5 buckets, embedding dimension 4, CTR tower 8,4, CVR tower 6,
 * batch 32, initial scale 0.5, everything else default. */
esmm_config *test_small_config(void);

/* n_rows (<= 64) rows over the small configuration's three fields with
 * clicks on every third row and conversions on every other click shifted
 * by conv_shift rows, four common lists (rows r % 5 == 4 have none), fixed
 * ids and values: a dataset whose every quantity a test may check is known
 * from r. */
esmm_dataset *test_small_data(const esmm_config *cfg, size_t n_rows, int conv_shift);

/* esmm_dataset_stat, asserted to succeed. */
int64_t test_ds_stat(const esmm_dataset *ds, int key);

#endif /* ESMM_TEST_SUPPORT_H */
