/* fuzz_model.c - libFuzzer target for the model loader,
 * esmm_model_load_buffer (include/esmm/model.h, docs/model-format.md).
 *
 * Built with -DESMM_FUZZING the loader ignores CRC mismatches, so mutations
 * reach the structural checks behind the checksums. A file that loads must
 * keep the loader's promises: it saves again (all parameters finite), the
 * saved bytes load again, and one row predicts probabilities in [0, 1]. */
#include "fuzz.h"

#include "crc32.h" /* esmm__crc32 */

#include <math.h>
#include <string.h>

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }
static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

/* Rewrite every checksum the layout lets us locate (docs/model-format.md),
 * so an input the fuzzer found with checksums ignored reaches the same
 * structural checks in a normal build, where checksums are fatal. Returns 0
 * when the input is too short to have a section table. */
static int fix_crcs(uint8_t *b, size_t len) {
  uint32_t n;
  size_t hdr;
  if (len < 24)
    return 0;
  n = le32(b + 12);
  if (n > 16)
    return 0;
  hdr = 24 + 32 * (size_t)n + 4;
  if (hdr > len)
    return 0;
  for (uint32_t i = 0; i < n; i++) {
    uint8_t *e = b + 24 + 32 * i;
    uint64_t off = le64(e + 8), size = le64(e + 16);
    if (off <= len && size <= len - off)
      put32(e + 24, esmm__crc32(0, b + off, (size_t)size));
  }
  put32(b + hdr - 4, esmm__crc32(0, b, hdr - 4));
  return 1;
}

static void check_model(esmm_model *m) {
  size_t need = 0, got = 0;
  unsigned char *buf;
  esmm_model *again = NULL;
  esmm_config *cfg = NULL;
  esmm_dataset *ds = NULL;
  int64_t nf = 0;
  int rc = esmm_model_save_buffer(m, NULL, 0, &need);
  FUZZ_CHECK(rc == ESMM_EBUFS && need > 0, "size query gave %d, %zu bytes", rc, need);
  buf = malloc(need);
  FUZZ_CHECK(buf != NULL, "test harness out of memory");
  rc = esmm_model_save_buffer(m, buf, need, &got);
  FUZZ_CHECK(rc == ESMM_OK && got == need, "a loaded model does not save: %d", rc);
  rc = esmm_model_load_buffer(&again, buf, got, NULL);
  FUZZ_CHECK(rc == ESMM_OK, "a saved model does not load back: %d", rc);
  esmm_model_free(again);
  free(buf);

  /* One row with one feature in every field. */
  FUZZ_CHECK(esmm_model_config(m, &cfg) == ESMM_OK, "model config");
  FUZZ_CHECK(esmm_dataset_new(&ds, cfg) == ESMM_OK, "dataset for the model");
  FUZZ_CHECK(esmm_dataset_stat(ds, ESMM_DS_FIELDS, &nf) == ESMM_OK && nf > 0, "fields");
  {
    int click = 1, conv = 0, *field = malloc((size_t)nf * sizeof *field);
    uint64_t *id = malloc((size_t)nf * sizeof *id);
    int64_t off[2] = {0, nf};
    float p[3] = {-1, -1, -1};
    FUZZ_CHECK(field && id, "test harness out of memory");
    for (int64_t f = 0; f < nf; f++) {
      field[f] = (int)f;
      id[f] = (uint64_t)f * 0x9e3779b97f4a7c15ull;
    }
    rc = esmm_dataset_add_rows(ds, 1, &click, &conv, NULL, off, field, id, NULL);
    if (rc == ESMM_OK) { /* a config with dense features wants more per row: then skip prediction */
      rc = esmm_model_predict(m, NULL, ds, 0, 1, &p[0], &p[1], &p[2]);
      /* finite but huge parameters can overflow a tower to NaN: reported */
      FUZZ_CHECK(rc == ESMM_OK || rc == ESMM_ENUMERIC, "predict on a loaded model: %d", rc);
      if (rc == ESMM_ENUMERIC)
        p[0] = p[1] = p[2] = 0.5f;
      /* Finite parameters and inputs can still overflow to Inf in a tower,
       * which the head turns into 0 or 1, never NaN. */
      for (int k = 0; k < 3; k++)
        FUZZ_CHECK(p[k] >= 0.0f && p[k] <= 1.0f, "prediction %d is %g", k, (double)p[k]);
    }
    free(field);
    free(id);
  }
  esmm_dataset_free(ds);
  esmm_config_free(cfg);
}

static void load_and_check(const uint8_t *data, size_t size) {
  static const int allowed[] = {ESMM_OK, ESMM_ECORRUPT, ESMM_EVERSION, ESMM_ENUMERIC};
  esmm_model *m = (esmm_model *)1;
  int rc = esmm_model_load_buffer(&m, data, size, NULL);
  FUZZ_CHECK(fuzz_status_ok(rc, allowed, sizeof allowed / sizeof *allowed), "unexpected status %d", rc);
  if (rc != ESMM_OK) {
    FUZZ_CHECK(m == NULL, "*out not NULL after failure");
    FUZZ_CHECK(strncmp(esmm_last_error(), "esmm_model_load_buffer: ", 24) == 0, "message: %s",
               esmm_last_error());
    return;
  }
  check_model(m);
  esmm_model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  load_and_check(data, size);
#ifndef ESMM_FUZZING
  /* Replay (normal build): the input as found, checksums repaired. Under
   * ESMM_FUZZING this would repeat the load above. */
  {
    uint8_t *copy = malloc(size ? size : 1);
    FUZZ_CHECK(copy != NULL, "test harness out of memory");
    if (size)
      memcpy(copy, data, size);
    if (fix_crcs(copy, size))
      load_and_check(copy, size);
    free(copy);
  }
#endif
  return 0;
}
