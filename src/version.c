/* version.c - the linked library's version. */
#include "internal.h"

unsigned esmm_version_number(void) { return ESMM_VERSION_NUMBER; }
const char *esmm_version_string(void) { return ESMM_VERSION_STRING; }
