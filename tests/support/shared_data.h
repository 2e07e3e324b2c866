/* shared_data.h - where the tests find ../shared/data (the real Ali-CCP and
 * AliExpress samples): $ESMM_SHARED_DATA (the Makefile exports the first of
 * ../shared/data and /work/shared/data that exists), else ../shared/data
 * relative to the repository root, where `make check` runs the tests. */
#ifndef ESMM_TEST_SHARED_DATA_H
#define ESMM_TEST_SHARED_DATA_H

#include <stdio.h>
#include <stdlib.h>

/* The path of a file under the shared data directory, in a static buffer
 * per call site slot (tests are single-threaded). */
static inline const char *shared_data(const char *rel) {
  static char buf[8][4096];
  static int next;
  const char *root = getenv("ESMM_SHARED_DATA");
  char *b = buf[next++ % 8];
  snprintf(b, sizeof buf[0], "%s/%s", root && *root ? root : "../shared/data", rel);
  return b;
}

#endif /* ESMM_TEST_SHARED_DATA_H */
