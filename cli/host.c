/* host.c - the esmm program as a host of the BLAS.
 *
 * The library trains data-parallel on threads of its own, each calling the
 * BLAS single-threaded, and never changes OpenBLAS's process-wide settings
 * (with OpenBLAS threads of its own the model falls back to one thread:
 * ESMM_OPT_NUM_THREADS). OpenBLAS reads its environment once, when it is
 * loaded, which for this program is before main. So main starts with
 * cli_host_setup: unless the user set them, it puts
 *   OPENBLAS_NUM_THREADS=1   (when OpenBLAS would start threads of its own)
 *   OPENBLAS_CORETYPE=SkylakeX (when OpenBLAS runs its AVX2 Haswell/Zen
 *                            kernels on a CPU with AVX-512 F/BW/VL/DQ:
 *                            OpenBLAS 0.3.21 does not know AMD Zen 4/5;
 *                            its AVX-512 SGEMM kernels are faster there,
 *                            docs/guide.md has the figures)
 * in the environment and re-executes itself once (/proc/self/exe; the
 * variable ESMM_CLI_BLAS_SET, removed again after the exec, says what was
 * set and guards against a loop). If the exec fails the program carries on
 * with the BLAS as it was loaded. ESMM_CLI_KEEP_BLAS=1 opts out.
 *
 * OpenBLAS's query functions are found with dlsym, so that the program
 * links only libesmm (which brings the BLAS) and runs with another BLAS
 * too (nothing is then set, and the report says the BLAS is unknown). */
#define _GNU_SOURCE /* RTLD_DEFAULT */
#include "cli.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GUARD "ESMM_CLI_BLAS_SET"

static struct {
  int threads_set, core_set; /* what this program put in its environment */
  int kept;                  /* ESMM_CLI_KEEP_BLAS */
  int exec_errno;            /* the re-exec failed */
} host;

static void *sym(const char *name) { return dlsym(RTLD_DEFAULT, name); }

static int blas_threads(void) {
  int (*f)(void);
  void *p = sym("openblas_get_num_threads");
  if (!p)
    return -1;
  memcpy(&f, &p, sizeof f);
  return f();
}

static const char *blas_string(const char *name) {
  char *(*f)(void);
  void *p = sym(name);
  if (!p)
    return NULL;
  memcpy(&f, &p, sizeof f);
  return f();
}

static int cpu_avx512(void) {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#else
  return 0;
#endif
}

/* OpenBLAS's AVX2 kernels, chosen on a CPU that has AVX-512. */
static int avx2_on_avx512(const char *core) {
  return core && (strcmp(core, "Haswell") == 0 || strcmp(core, "Zen") == 0) && cpu_avx512();
}

static int is_set(const char *name) {
  const char *v = getenv(name);
  return v && *v;
}

void cli_host_setup(char **argv) {
  const char *done = getenv(GUARD), *keep = getenv("ESMM_CLI_KEEP_BLAS");
  int threads = 0, core = 0;
  if (done) { /* after the re-exec: remember what was set, tell no child */
    host.threads_set = strstr(done, "threads") != NULL;
    host.core_set = strstr(done, "coretype") != NULL;
    unsetenv(GUARD);
    return;
  }
  if (keep && *keep && strcmp(keep, "0") != 0) {
    host.kept = 1;
    return;
  }
  threads = !is_set("OPENBLAS_NUM_THREADS") && !is_set("GOTO_NUM_THREADS") && blas_threads() > 1;
  core = !is_set("OPENBLAS_CORETYPE") && avx2_on_avx512(blas_string("openblas_get_corename"));
  if (!threads && !core)
    return;
  if ((threads && setenv("OPENBLAS_NUM_THREADS", "1", 1) != 0) ||
      (core && setenv("OPENBLAS_CORETYPE", "SkylakeX", 1) != 0) ||
      setenv(GUARD, threads && core ? "threads,coretype" : threads ? "threads" : "coretype", 1) != 0) {
    host.exec_errno = errno;
  } else {
    fflush(NULL);
    execv("/proc/self/exe", argv);
    host.exec_errno = errno;
  }
  /* carry on with the BLAS as loaded; the environment says what it runs with */
  unsetenv(GUARD);
  if (threads)
    unsetenv("OPENBLAS_NUM_THREADS");
  if (core)
    unsetenv("OPENBLAS_CORETYPE");
}

/* "SkylakeX (OPENBLAS_CORETYPE=SkylakeX set by esmm: ...)" and the like. */
static void kernels_note(char *buf, size_t cap, const char *core) {
  const char *ct = getenv("OPENBLAS_CORETYPE");
  if (host.core_set)
    snprintf(buf, cap, " (OPENBLAS_CORETYPE=SkylakeX set by esmm: AVX-512 CPU)");
  else if (ct && *ct)
    snprintf(buf, cap, " (OPENBLAS_CORETYPE=%s given%s)", ct,
             avx2_on_avx512(core) ? "; this CPU has AVX-512: OPENBLAS_CORETYPE=SkylakeX is faster" : "");
  else if (avx2_on_avx512(core))
    snprintf(buf, cap, " (AVX2 kernels on an AVX-512 CPU: OPENBLAS_CORETYPE=SkylakeX is faster)");
  else
    buf[0] = '\0';
}

static void threads_note(char *buf, size_t cap, int n) {
  const char *v = getenv("OPENBLAS_NUM_THREADS");
  if (host.threads_set)
    snprintf(buf, cap, " (OPENBLAS_NUM_THREADS=1 set by esmm)");
  else if (v && *v)
    snprintf(buf, cap, " (OPENBLAS_NUM_THREADS=%s given)", v);
  else if (n > 1)
    snprintf(buf, cap, " (its own pool: the model then trains on 1 thread; OPENBLAS_NUM_THREADS=1 lets it use every CPU)");
  else
    buf[0] = '\0';
}

void cli_report_blas(FILE *f, int json, const esmm_model *m) {
  const char *core = blas_string("openblas_get_corename"), *config = blas_string("openblas_get_config");
  int n = blas_threads();
  double mt = 0;
  char kn[160], tn[160];
  if (m)
    (void)esmm_model_stat(m, ESMM_STAT_THREADS, &mt);
  kernels_note(kn, sizeof kn, core);
  threads_note(tn, sizeof tn, n);
  if (json) {
    fprintf(f, "{\"library\":");
    if (config)
      cli_json_str(f, config);
    else
      fprintf(f, "null");
    fprintf(f, ",\"kernels\":");
    if (core)
      cli_json_str(f, core);
    else
      fprintf(f, "null");
    fprintf(f, ",\"threads\":%d,\"set_by_esmm\":[%s%s%s],\"kept\":%s", n, host.threads_set ? "\"OPENBLAS_NUM_THREADS=1\"" : "",
            host.threads_set && host.core_set ? "," : "", host.core_set ? "\"OPENBLAS_CORETYPE=SkylakeX\"" : "",
            host.kept ? "true" : "false");
    if (m)
      fprintf(f, ",\"model_threads\":%.0f", mt);
    fprintf(f, "}");
    return;
  }
  if (!config && !core) {
    fprintf(f, "blas: not OpenBLAS (no openblas_get_config): its threads are the host's to set%s", m ? "" : "\n");
  } else {
    fprintf(f, "blas: %s; kernels %s%s; %d thread%s%s", config ? config : "OpenBLAS", core ? core : "unknown", kn, n,
            n == 1 ? "" : "s", tn);
    if (host.kept)
      fprintf(f, " (ESMM_CLI_KEEP_BLAS: as loaded)");
    if (host.exec_errno)
      fprintf(f, " (could not re-execute with the settings: %s)", strerror(host.exec_errno));
    if (!m)
      fprintf(f, "\n");
  }
  if (m)
    fprintf(f, "; the model trains on %.0f thread%s (--set threads=N)\n", mt, mt == 1 ? "" : "s");
}
