/* replay.c - runs every input of a corpus through one fuzz target, built
 * with the normal compiler and linked to lib/libesmm.a (no libFuzzer, no
 * sanitizer needed), so `make check` proves on every build that no
 * committed input crashes or breaks an invariant any more.
 *
 * Usage: replay_<target> FILE_OR_DIR...   (directories: every regular file
 * in them, sorted, not recursive). Exit status 0 when every input ran, 1
 * when an input could not be read (a crash or a broken invariant aborts). */
#include "fuzz.h"

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  unsigned char *buf = NULL;
  size_t cap = 0, len = 0;
  if (!f) {
    fprintf(stderr, "replay: cannot open %s\n", path);
    return -1;
  }
  for (;;) {
    size_t k;
    if (len == cap) {
      unsigned char *b = realloc(buf, cap ? 2 * cap : 4096);
      if (!b) {
        fclose(f);
        free(buf);
        return -1;
      }
      buf = b;
      cap = cap ? 2 * cap : 4096;
    }
    k = fread(buf + len, 1, cap - len, f);
    len += k;
    if (k == 0)
      break;
  }
  fclose(f);
  /* An exact-size copy, so a read one past the input's end is a real
   * overrun under valgrind or ASan, as it is under libFuzzer. */
  {
    unsigned char *exact = malloc(len ? len : 1);
    if (!exact) {
      free(buf);
      return -1;
    }
    if (len)
      memcpy(exact, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
  }
  return 0;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
  long n = 0, bad = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "replay: %s: no such file or directory\n", argv[i]);
      bad++;
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      DIR *d = opendir(argv[i]);
      struct dirent *e;
      char **names = NULL;
      size_t nn = 0;
      if (!d) {
        bad++;
        continue;
      }
      while ((e = readdir(d)) != NULL) {
        char **t;
        if (e->d_name[0] == '.')
          continue;
        t = realloc(names, (nn + 1) * sizeof *names);
        if (!t)
          break;
        names = t;
        names[nn] = malloc(strlen(argv[i]) + strlen(e->d_name) + 2);
        if (!names[nn])
          break;
        sprintf(names[nn], "%s/%s", argv[i], e->d_name);
        nn++;
      }
      closedir(d);
      qsort(names, nn, sizeof *names, cmp);
      for (size_t k = 0; k < nn; k++) {
        if (run_file(names[k]) != 0)
          bad++;
        else
          n++;
        free(names[k]);
      }
      free(names);
    } else if (run_file(argv[i]) != 0) {
      bad++;
    } else {
      n++;
    }
  }
  printf("replay %s: %ld inputs ran, %ld unreadable\n", argc > 0 ? argv[0] : "?", n, bad);
  return bad ? 1 : 0;
}
