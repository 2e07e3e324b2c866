#define _DEFAULT_SOURCE /* wait4 */
/* data_bench.c - figures of the data module (make bench-data; docs/data.md).
 *
 *   data_bench SKELETON COMMON CACHE [RUNS]
 *
 * Each measurement runs in a child process of its own so that its peak RSS
 * (ru_maxrss from wait4) is its own; the time is reported back through a
 * pipe. Medians of RUNS (default 3) runs, because the machine is shared:
 *   parse    esmm_dataset_read_aliccp into memory: MB/s of input (skeleton +
 *            common bytes) on one core; peak RSS = the loaded dataset
 *   convert  esmm_dataset_convert to CACHE: MB/s and peak RSS (must not grow
 *            with the input)
 *   open     esmm_dataset_open_cache (mmap + full validation incl. CRCs):
 *            GB/s of cache; RSS after open vs the cache size
 * Prints one JSON object. */
#include <esmm/esmm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double fsize(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 ? (double)st.st_size : 0;
}

/* RSS of this process now, from /proc/self/statm, bytes. */
static double rss_now(void) {
  long pages = 0, res = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &res) != 2)
      res = 0;
    fclose(f);
  }
  return (double)res * (double)sysconf(_SC_PAGESIZE);
}

static const char *sk, *cm, *cache;

/* Child body: returns seconds (and *extra, e.g. RSS after open), or < 0. */
static double run(int what, double *extra) {
  esmm_dataset *ds = NULL;
  double t0 = now(), t;
  int rc;
  *extra = 0;
  if (what == 0)
    rc = esmm_dataset_read_aliccp(&ds, NULL, sk, cm);
  else if (what == 1)
    rc = esmm_dataset_convert(NULL, ESMM_FORMAT_ALICCP, sk, cm, cache);
  else
    rc = esmm_dataset_open_cache(&ds, NULL, cache);
  t = now() - t0;
  if (rc) {
    fprintf(stderr, "data_bench: %s\n", esmm_last_error());
    return -1;
  }
  *extra = rss_now();
  esmm_dataset_free(ds);
  return t;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Median seconds, median peak RSS (bytes) and median extra over runs. */
static int measure(int what, int runs, double *sec, double *peak, double *extra) {
  double s[16], p[16], e[16];
  for (int r = 0; r < runs; r++) {
    int fd[2];
    pid_t pid;
    struct rusage ru;
    int status;
    double out[2] = {-1, 0};
    if (pipe(fd) != 0)
      return -1;
    pid = fork();
    if (pid == 0) {
      close(fd[0]);
      out[0] = run(what, &out[1]);
      if (write(fd[1], out, sizeof out) != (ssize_t)sizeof out)
        _exit(2);
      _exit(out[0] < 0);
    }
    close(fd[1]);
    if (read(fd[0], out, sizeof out) != (ssize_t)sizeof out)
      out[0] = -1;
    close(fd[0]);
    if (wait4(pid, &status, 0, &ru) < 0 || out[0] < 0)
      return -1;
    s[r] = out[0];
    p[r] = (double)ru.ru_maxrss * 1024.0;
    e[r] = out[1];
  }
  qsort(s, (size_t)runs, sizeof *s, cmp);
  qsort(p, (size_t)runs, sizeof *p, cmp);
  qsort(e, (size_t)runs, sizeof *e, cmp);
  *sec = s[runs / 2];
  *peak = p[runs / 2];
  *extra = e[runs / 2];
  return 0;
}

int main(int argc, char **argv) {
  double in_mb, ps, pp, pe, cs, cp, ce, os, op, oe, cache_b;
  int runs = argc > 4 ? atoi(argv[4]) : 3;
  if (argc < 4 || runs < 1 || runs > 15) {
    fprintf(stderr, "usage: data_bench SKELETON COMMON CACHE [RUNS]\n");
    return 2;
  }
  sk = argv[1], cm = argv[2], cache = argv[3];
  in_mb = (fsize(sk) + fsize(cm)) / 1e6;
  if (measure(1, runs, &cs, &cp, &ce) || measure(2, runs, &os, &op, &oe) || measure(0, runs, &ps, &pp, &pe))
    return 1;
  cache_b = fsize(cache);
  printf("{\"input_mb\":%.1f,\"runs\":%d,"
         "\"parse_s\":%.3f,\"parse_mb_per_s\":%.1f,\"parse_peak_rss_mb\":%.1f,"
         "\"convert_s\":%.3f,\"convert_mb_per_s\":%.1f,\"convert_peak_rss_mb\":%.1f,"
         "\"cache_mb\":%.1f,\"open_s\":%.3f,\"open_gb_per_s\":%.2f,\"open_rss_mb\":%.1f,"
         "\"loaded_rss_over_cache\":%.3f,\"parsed_rss_over_cache\":%.3f}\n",
         in_mb, runs, ps, in_mb / ps, pp / 1e6, cs, in_mb / cs, cp / 1e6, cache_b / 1e6, os, cache_b / 1e9 / os,
         oe / 1e6, oe / cache_b, pe / cache_b);
  return 0;
}
