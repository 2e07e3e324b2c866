/*
 * esmm/version.h - the library version, defined once. MAJOR is the ABI
 * major: it names the soname (libesmm.so.MAJOR) and changes only on an ABI
 * break. A host built against this header checks at run time that
 *   esmm_version_number() / 10000 == ESMM_VERSION_MAJOR &&
 *   esmm_version_number() >= ESMM_VERSION_NUMBER
 */
#ifndef ESMM_VERSION_H
#define ESMM_VERSION_H

#include "common.h"

#define ESMM_VERSION_MAJOR 1
#define ESMM_VERSION_MINOR 1
#define ESMM_VERSION_PATCH 0

#define ESMM_VERSION_NUMBER \
  (ESMM_VERSION_MAJOR * 10000 + ESMM_VERSION_MINOR * 100 + ESMM_VERSION_PATCH)
#define ESMM__STR2(x) #x
#define ESMM__STR(x) ESMM__STR2(x)
#define ESMM_VERSION_STRING                                              \
  ESMM__STR(ESMM_VERSION_MAJOR) "." ESMM__STR(ESMM_VERSION_MINOR) "." \
      ESMM__STR(ESMM_VERSION_PATCH)
/** True when the headers are at least version M.m.p. */
#define ESMM_VERSION_CHECK(M, m, p) \
  (ESMM_VERSION_NUMBER >= ((M) * 10000 + (m) * 100 + (p)))

ESMM_BEGIN_DECLS

/**
 * The version of the library actually linked, as M*10000 + m*100 + p.
 * Thread safety: safe. @since 1.0
 */
ESMM_API unsigned esmm_version_number(void);

/**
 * The version of the linked library as "M.m.p"; static storage, never NULL.
 * Thread safety: safe. @since 1.0
 */
ESMM_API const char *esmm_version_string(void);

ESMM_END_DECLS

#endif /* ESMM_VERSION_H */
