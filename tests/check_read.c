/* check_read.c - any input, any format (io/convert.c): format detection;
 * esmm_dataset_read on paths, "-" (standard input) and descriptors; every
 * format piped through a pipe gives the rows of the file (the prefix read
 * for detection is read again, never lost); a CSV given without a spec is
 * refused, never read as the text format; esmm_dataset_convert_v2 from a
 * pipe; arguments a format needs or refuses. */
#include "support/shared_data.h"
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <esmm/esmm.h>
#include "support/support.h"

#define RH shared_data("ali-ccp/torch-rechub/ali_ccp_train_sample.csv")
#define PD shared_data("ali-ccp/paddlerec-esmm/test/small.txt")
#define RH_SPEC "click=click;conversion=purchase;num=D*;cat=*"

static char dir[64];

static void setup(void) {
  test_tmpdir_new(dir, sizeof dir, "check_read");
  signal(SIGPIPE, SIG_IGN);
}

static void teardown(void) { test_tmpdir_remove(dir); }

static int detect(const char *head, const char *name) {
  int f = -1;
  ck_assert_int_eq(esmm_dataset_detect_format(head, strlen(head), name, &f), ESMM_OK);
  return f;
}

START_TEST(detection) {
  ck_assert_int_eq(detect("ESMMDATA\2\0\0\0", NULL), ESMM_FORMAT_CACHE);
  ck_assert_int_eq(detect("1,0,0,84dc,2,101\0025\0031\001205\0027\0031\n", NULL), ESMM_FORMAT_ALICCP);
  ck_assert_int_eq(detect("s1,1,0,101:5,205:7\n", NULL), ESMM_FORMAT_TOKENS);
  ck_assert_int_eq(detect("1 0 101:5 205:7:0.5\n", "x.csv"), ESMM_FORMAT_TEXT); /* content wins over a name */
  ck_assert_int_eq(detect("# comment\n\n1\t0\t101:5\n", NULL), ESMM_FORMAT_TEXT);
  ck_assert_int_eq(detect("\xef\xbb\xbf" "1 0\n", NULL), ESMM_FORMAT_TEXT);
  ck_assert_int_eq(detect("click,purchase,101\n1,0,5\n", NULL), ESMM_FORMAT_CSV);
  ck_assert_int_eq(detect("1,0,5\n", NULL), ESMM_FORMAT_CSV); /* headerless: three cells, no tokens */
  ck_assert_int_eq(detect("click\tpurchase\t101\n", NULL), ESMM_FORMAT_CSV);
  ck_assert_int_eq(detect("y;z\n", NULL), ESMM_FORMAT_CSV);
  ck_assert_int_eq(detect("y\n", "data.CSV"), ESMM_FORMAT_CSV);
  ck_assert_int_eq(detect("", "data.tsv"), ESMM_FORMAT_CSV);
  ck_assert_int_eq(detect("", NULL), ESMM_FORMAT_TEXT);
  ck_assert_int_eq(detect("garbage\n", NULL), ESMM_FORMAT_TEXT); /* the text reader says what is wrong */
  /* a first line longer than the prefix: the cut token does not count */
  ck_assert_int_eq(detect("s1,1,0,101:5,205:7,20", NULL), ESMM_FORMAT_TOKENS);
  ck_assert_int_eq(detect("1 0 101:5 205:7 20", NULL), ESMM_FORMAT_TEXT);
  {
    int f;
    ck_assert_int_eq(esmm_dataset_detect_format(NULL, 0, NULL, &f), ESMM_OK);
    ck_assert_int_eq(f, ESMM_FORMAT_TEXT);
    ck_assert_int_eq(esmm_dataset_detect_format(NULL, 1, NULL, &f), ESMM_EINVAL);
    ck_assert_int_eq(esmm_dataset_detect_format("x", 1, NULL, NULL), ESMM_EINVAL);
  }
}
END_TEST

/* A pipe whose writer (a child process) copies the file at path in small
 * pieces, so the reader sees short reads; returns the read end. Under
 * valgrind (test_slow_tool) the child execs dd for the same 777-byte
 * writes: a forked child's exit runs memcheck's leak check over its copy
 * of the test's heap, reports the parent's live blocks as lost and turns
 * the exit status into --error-exitcode's 1; an exec'd program is not
 * traced (no --trace-children). */
static int pipe_of(const char *path, pid_t *pid) {
  int fd[2];
  ck_assert_int_eq(pipe(fd), 0);
  *pid = fork();
  ck_assert_int_ge(*pid, 0);
  if (*pid == 0) {
    char buf[777];
    int in = open(path, O_RDONLY);
    ssize_t n;
    close(fd[0]);
    if (in < 0)
      _exit(1);
    if (test_slow_tool()) {
      if (dup2(in, 0) != 0 || dup2(fd[1], 1) != 1)
        _exit(4);
      execlp("dd", "dd", "bs=777", "status=none", (char *)NULL);
      _exit(5);
    }
    while ((n = read(in, buf, sizeof buf)) > 0)
      if (write(fd[1], buf, (size_t)n) != n)
        _exit(2);
    _exit(n < 0 ? 3 : 0);
  }
  close(fd[1]);
  return fd[0];
}

static void reap(pid_t pid) {
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Read path through a pipe (descriptor and, with stdin redirected, "-")
 * and straight from the file: the same rows and lines. */
static void through_pipe(const esmm_config *c, const char *path, int format, const char *common, const char *spec,
                         int64_t rows) {
  esmm_dataset *direct, *piped;
  pid_t pid;
  int fd, saved;
  ck_assert_int_eq(esmm_dataset_read(&direct, c, path, format, common, spec), ESMM_OK);
  ck_assert_int_eq(test_ds_stat(direct, ESMM_DS_ROWS), rows);

  fd = pipe_of(path, &pid);
  ck_assert_int_eq(esmm_dataset_read_fd(&piped, c, fd, "p", format, common, spec), ESMM_OK);
  close(fd);
  reap(pid);
  ck_assert_int_eq(test_ds_stat(piped, ESMM_DS_ROWS), rows);
  ck_assert_int_eq(test_ds_stat(piped, ESMM_DS_FEATURES), test_ds_stat(direct, ESMM_DS_FEATURES));
  ck_assert_int_eq(test_ds_stat(piped, ESMM_DS_LINES), test_ds_stat(direct, ESMM_DS_LINES));
  if (rows) {
    int64_t a, b;
    esmm_dataset_row_source(direct, (size_t)rows - 1, &a, NULL, NULL);
    esmm_dataset_row_source(piped, (size_t)rows - 1, &b, NULL, NULL);
    ck_assert_int_eq(a, b);
  }
  esmm_dataset_free(piped);

  fd = pipe_of(path, &pid);
  saved = dup(0);
  ck_assert_int_eq(dup2(fd, 0), 0);
  close(fd);
  ck_assert_int_eq(esmm_dataset_read(&piped, c, "-", format, common, spec), ESMM_OK);
  ck_assert_int_eq(dup2(saved, 0), 0);
  close(saved);
  reap(pid);
  ck_assert_int_eq(test_ds_stat(piped, ESMM_DS_ROWS), rows);
  ck_assert_int_eq(test_ds_stat(piped, ESMM_DS_FEATURES), test_ds_stat(direct, ESMM_DS_FEATURES));
  {
    esmm_data_report r;
    ck_assert_int_eq(esmm_dataset_report(piped, &r, sizeof r), ESMM_OK);
    if (!test_ds_stat(piped, ESMM_DS_MAPPED)) /* a cache keeps the report of the read that made it */
      ck_assert_str_eq(r.source, "<stdin>");
  }
  esmm_dataset_free(piped);
  esmm_dataset_free(direct);
}

START_TEST(every_format_through_a_pipe) {
  esmm_config *c, *c8;
  esmm_sim *sim;
  esmm_dataset *ds;
  char text[128], skel[128], com[128], cache[128], big[128];
  ck_assert_int_eq(esmm_config_new(&c), ESMM_OK);
  ck_assert_int_eq(esmm_config_new(&c8), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(c8, ESMM_OPT_DENSE_FEATURES, 8), ESMM_OK);
  ck_assert_int_eq(esmm_sim_new(&sim, NULL), ESMM_OK);
  ck_assert_int_eq(esmm_sim_generate(sim, 3000, 0, &ds), ESMM_OK);
  snprintf(text, sizeof text, "%s/t.txt", dir);
  snprintf(skel, sizeof skel, "%s/s.csv", dir);
  snprintf(com, sizeof com, "%s/c.csv", dir);
  snprintf(cache, sizeof cache, "%s/x.cache", dir);
  ck_assert_int_eq(esmm_dataset_write_text(ds, text), ESMM_OK); /* > 64 KiB: more than the detection prefix */
  ck_assert_int_eq(esmm_dataset_write_aliccp(ds, skel, com), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_save_cache(ds, cache), ESMM_OK);

  through_pipe(c, text, ESMM_FORMAT_AUTO, NULL, NULL, 3000);
  through_pipe(c, text, ESMM_FORMAT_TEXT, NULL, NULL, 3000);
  through_pipe(c, skel, ESMM_FORMAT_AUTO, com, NULL, 3000);
  through_pipe(c, skel, ESMM_FORMAT_ALICCP, com, NULL, 3000);
  through_pipe(c, cache, ESMM_FORMAT_AUTO, NULL, NULL, 3000);
  through_pipe(c, cache, ESMM_FORMAT_CACHE, NULL, NULL, 3000);
  through_pipe(c8, RH, ESMM_FORMAT_AUTO, NULL, RH_SPEC, 100);
  through_pipe(c8, RH, ESMM_FORMAT_CSV, NULL, RH_SPEC, 100);
  through_pipe(c, PD, ESMM_FORMAT_AUTO, NULL, NULL, 10); /* detected as token lines */
  through_pipe(c, PD, ESMM_FORMAT_TOKENS, NULL, NULL, 10);
  /* a line longer than the detection prefix, first in the file */
  {
    size_t n = 200000, len = 0;
    char *t = malloc(n + 64);
    len += (size_t)sprintf(t, "1 0");
    while (len < n)
      len += (size_t)sprintf(t + len, " 205:%zu", len);
    len += (size_t)sprintf(t + len, "\n0 1 101:1\n");
    snprintf(big, sizeof big, "%s/big.txt", dir);
    test_write_file(big, t, len);
    free(t);
    through_pipe(c, big, ESMM_FORMAT_AUTO, NULL, NULL, 2);
  }
  esmm_dataset_free(ds);
  esmm_sim_free(sim);
  esmm_config_free(c8);
  esmm_config_free(c);
}
END_TEST

START_TEST(convert_from_a_pipe) {
  esmm_config *c;
  esmm_dataset *a, *b;
  char out[128];
  pid_t pid;
  int fd, saved;
  ck_assert_int_eq(esmm_config_new(&c), ESMM_OK);
  ck_assert_int_eq(esmm_config_set_int(c, ESMM_OPT_DENSE_FEATURES, 8), ESMM_OK);
  snprintf(out, sizeof out, "%s/rh.cache", dir);
  fd = pipe_of(RH, &pid);
  saved = dup(0);
  ck_assert_int_eq(dup2(fd, 0), 0);
  close(fd);
  ck_assert_int_eq(esmm_dataset_convert_v2(c, "-", ESMM_FORMAT_AUTO, NULL, RH_SPEC, out), ESMM_OK);
  ck_assert_int_eq(dup2(saved, 0), 0);
  close(saved);
  reap(pid);
  ck_assert_int_eq(esmm_dataset_open_cache(&a, c, out), ESMM_OK);
  ck_assert_int_eq(esmm_dataset_read_csv(&b, c, RH, RH_SPEC), ESMM_OK);
  ck_assert_int_eq(test_ds_stat(a, ESMM_DS_ROWS), 100);
  ck_assert_int_eq(test_ds_stat(a, ESMM_DS_FEATURES), test_ds_stat(b, ESMM_DS_FEATURES));
  ck_assert_int_eq(test_ds_stat(a, ESMM_DS_LINES), 100);
  {
    esmm_data_report r;
    int64_t line;
    ck_assert_int_eq(esmm_dataset_report(a, &r, sizeof r), ESMM_OK);
    ck_assert_str_eq(r.source, "<stdin>");
    ck_assert_int_eq(esmm_dataset_row_source(a, 99, &line, NULL, NULL), ESMM_OK);
    ck_assert_int_eq(line, 101);
  }
  esmm_dataset_free(a);
  esmm_dataset_free(b);
  /* a cache is not converted again; a CSV without a spec is refused */
  ck_assert_int_eq(esmm_dataset_convert_v2(c, out, ESMM_FORMAT_AUTO, NULL, NULL, out), ESMM_EINVAL);
  ck_assert_ptr_nonnull(strstr(esmm_last_error(), "is already a cache"));
  ck_assert_int_eq(esmm_dataset_convert_v2(c, RH, ESMM_FORMAT_AUTO, NULL, NULL, out), ESMM_EINVAL);
  ck_assert_int_eq(esmm_dataset_convert_v2(c, RH, ESMM_FORMAT_AUTO, NULL, "click=x", out), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_dataset_convert_v2: column spec: \"click=\" and \"conversion=\" are required");
  esmm_config_free(c);
}
END_TEST

START_TEST(csv_is_never_text_and_arguments) {
  esmm_dataset *ds = (esmm_dataset *)1;
  char path[128], want[512];
  int fd[2];
  snprintf(path, sizeof path, "%s/a.csv", dir);
  test_write_file(path, "y,z,101\n1,0,5\n", 14);
  ck_assert_int_eq(esmm_dataset_read(&ds, NULL, path, ESMM_FORMAT_AUTO, NULL, NULL), ESMM_EINVAL);
  ck_assert_ptr_null(ds);
  snprintf(want, sizeof want,
           "esmm_dataset_read: %s looks like CSV (first line \"y,z,101\"), which needs a column spec "
           "(\"click=COL;conversion=COL;cat=...\", see esmm/io.h); not read as the text format",
           path);
  ck_assert_str_eq(esmm_last_error(), want);
  ck_assert_int_eq(esmm_dataset_read(&ds, NULL, path, ESMM_FORMAT_AUTO, NULL, "click=y;conversion=z;cat=*"), ESMM_OK);
  ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_ROWS), 1);
  esmm_dataset_free(ds);
  /* the text reader itself says what is wrong when asked explicitly */
  ck_assert_int_eq(esmm_dataset_read(&ds, NULL, path, ESMM_FORMAT_TEXT, NULL, NULL), ESMM_EFORMAT);
  /* arguments that a format needs or refuses */
  ck_assert_int_eq(esmm_dataset_read(&ds, NULL, path, ESMM_FORMAT_CSV, NULL, NULL), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_dataset_read: ESMM_FORMAT_CSV needs a column spec");
  ck_assert_int_eq(esmm_dataset_read(&ds, NULL, path, ESMM_FORMAT_TEXT, NULL, "click=y"), ESMM_EINVAL);
  ck_assert_int_eq(esmm_dataset_read(&ds, NULL, path, ESMM_FORMAT_ALICCP, NULL, "click=y"), ESMM_EINVAL);
  ck_assert_int_eq(esmm_dataset_read(&ds, NULL, path, ESMM_FORMAT_CSV, path, "click=y;conversion=z;cat=*"), ESMM_EINVAL);
  ck_assert_int_eq(esmm_dataset_read(&ds, NULL, path, 99, NULL, NULL), ESMM_EINVAL);
  ck_assert_str_eq(esmm_last_error(), "esmm_dataset_read: unknown input format 99");
  ck_assert_int_eq(esmm_dataset_read(&ds, NULL, NULL, ESMM_FORMAT_AUTO, NULL, NULL), ESMM_EINVAL);
  ck_assert_int_eq(esmm_dataset_read(NULL, NULL, path, ESMM_FORMAT_AUTO, NULL, NULL), ESMM_EINVAL);
  ck_assert_int_eq(esmm_dataset_read_fd(&ds, NULL, -1, NULL, ESMM_FORMAT_AUTO, NULL, NULL), ESMM_EINVAL);
  ck_assert_int_eq(esmm_dataset_read(&ds, NULL, "/nonexistent/x", ESMM_FORMAT_AUTO, NULL, NULL), ESMM_EIO);
  /* a common-features file must be read twice: a pipe is refused */
  ck_assert_int_eq(pipe(fd), 0);
  close(fd[1]);
  {
    int saved = dup(0);
    ck_assert_int_eq(dup2(fd[0], 0), 0);
    ck_assert_int_eq(esmm_dataset_read(&ds, NULL, path, ESMM_FORMAT_ALICCP, "-", NULL), ESMM_EINVAL);
    ck_assert_str_eq(esmm_last_error(), "esmm_dataset_read: <stdin>: the common-features file must be a regular file "
                                        "(it is read twice: indexed, then fetched row by row)");
    dup2(saved, 0);
    close(saved);
  }
  close(fd[0]);
  /* an empty input is an empty text dataset, with a report */
  ck_assert_int_eq(pipe(fd), 0);
  close(fd[1]);
  ck_assert_int_eq(esmm_dataset_read_fd(&ds, NULL, fd[0], NULL, ESMM_FORMAT_AUTO, NULL, NULL), ESMM_OK);
  close(fd[0]);
  ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_ROWS), 0);
  ck_assert_int_eq(test_ds_stat(ds, ESMM_DS_ON_ERROR_POLICY), ESMM_ON_ERROR_FAIL);
  esmm_dataset_free(ds);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("read");
  TCase *tc = tcase_create("core");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, detection);
  tcase_add_test(tc, every_format_through_a_pipe);
  tcase_add_test(tc, convert_from_a_pipe);
  tcase_add_test(tc, csv_is_never_text_and_arguments);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return test_main(suite()); }
