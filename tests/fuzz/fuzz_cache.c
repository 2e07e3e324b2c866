/* fuzz_cache.c - libFuzzer target for the binary dataset cache loader,
 * esmm_dataset_open_cache_buffer (include/esmm/io.h, src/io/cache.c).
 *
 * cache.c has no ESMM_FUZZING switch for its checksums, so this harness
 * repairs them (the header CRC and each column's, at the offsets cache.c
 * defines) before a second load: mutations then reach the structural and
 * content validation behind the checksums, in the fuzz build and in the
 * replay alike. The first load, of the bytes as they are, keeps the
 * checksum paths covered. The default config (the simulator's fields)
 * matches the seeds (format 1 files written by 1.0, format 2 by 1.1). */
#include "fuzz.h"

#include "crc32.h" /* esmm__crc32 */

#include <string.h>

/* Layout constants of src/io/cache_format.h (keep in step). */
#define HDR_FIXED 512
#define OFF_TABLE 200
#define OFF_CRC 488
#define NCOL1 12 /* format 1; format 2 has 5 more, their table after the names */
#define NCOL 17
#define NAME_BYTES 64

static uint64_t le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}
static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static void fix_crcs(uint8_t *p, size_t len) {
  uint64_t hbytes, nf;
  int ncol;
  if (len < HDR_FIXED)
    return;
  nf = le64(p + 56);
  ncol = p[8] >= 2 ? NCOL : NCOL1;
  for (int k = 0; k < ncol; k++) {
    uint64_t at = k < NCOL1 ? OFF_TABLE + 24 * (uint64_t)k : HDR_FIXED + NAME_BYTES * nf + 8 + 24 * (uint64_t)(k - NCOL1);
    uint64_t off, bytes;
    if (nf > 4096 || at + 24 > len)
      break;
    off = le64(p + at), bytes = le64(p + at + 8);
    if (off <= len && bytes <= len - off)
      put32(p + at + 16, esmm__crc32(0, p + off, (size_t)bytes));
  }
  hbytes = le64(p + 16);
  if (hbytes >= HDR_FIXED && hbytes <= len) {
    uint32_t crc = esmm__crc32(0, p, OFF_CRC);
    crc = esmm__crc32(crc, p + HDR_FIXED, (size_t)(hbytes - HDR_FIXED));
    put32(p + OFF_CRC, crc);
  }
}

static void load(const esmm_config *cfg, const uint8_t *data, size_t size) {
  /* EINVAL: the file's field list or dense count differs from cfg's */
  static const int allowed[] = {ESMM_OK, ESMM_ECORRUPT, ESMM_EVERSION, ESMM_EINVAL};
  esmm_dataset *ds = (esmm_dataset *)1;
  int rc = esmm_dataset_open_cache_buffer(&ds, cfg, data, size);
  if (rc == ESMM_EINVAL) /* the message names the mismatch; nothing else to check */
    FUZZ_CHECK(ds == NULL, "*out not NULL after failure");
  FUZZ_CHECK(fuzz_status_ok(rc, allowed, sizeof allowed / sizeof *allowed), "unexpected status %d", rc);
  if (rc != ESMM_OK) {
    FUZZ_CHECK(ds == NULL, "*out not NULL after failure");
    FUZZ_CHECK(strncmp(esmm_last_error(), "esmm_dataset_open_cache_buffer: ", 32) == 0, "message: %s",
               esmm_last_error());
    return;
  }
  fuzz_check_dataset(ds);
  fuzz_check_provenance(ds);
  esmm_dataset_free(ds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *copy = malloc(size ? size : 1);
  esmm_config *cfg = NULL;
  FUZZ_CHECK(copy != NULL, "test harness out of memory");
  FUZZ_CHECK(esmm_config_new(&cfg) == ESMM_OK, "config");
  if (size)
    memcpy(copy, data, size);
  fix_crcs(copy, size);
  /* NULL config (the loader makes a default one) and an explicit one:
   * different ownership paths inside the loader. */
  load(NULL, data, size);
  load(NULL, copy, size);
  load(cfg, data, size);
  load(cfg, copy, size);
  esmm_config_free(cfg);
  free(copy);
  return 0;
}
