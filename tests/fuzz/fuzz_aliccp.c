/* fuzz_aliccp.c - libFuzzer target for the raw Ali-CCP reader,
 * esmm_dataset_read_aliccp_buffer (include/esmm/io.h).
 *
 * One input holds both files: the skeleton, then (optionally) the line
 * "--common--" and the common-features file. Each input is read with the
 * default (strict) config and with a tolerant one (skip bad rows, ignore
 * unknown fields, drop conversions without clicks). */
#include "fuzz.h"

#include <string.h>

static const char SEP[] = "\n--common--\n";

static void run(const esmm_config *cfg, const uint8_t *sk, size_t sk_len, const uint8_t *co, size_t co_len) {
  static const int allowed[] = {ESMM_OK, ESMM_EFORMAT};
  esmm_dataset *ds = (esmm_dataset *)1;
  int rc = esmm_dataset_read_aliccp_buffer(&ds, cfg, sk, sk_len, co, co_len);
  FUZZ_CHECK(fuzz_status_ok(rc, allowed, sizeof allowed / sizeof *allowed), "unexpected status %d", rc);
  if (rc != ESMM_OK) {
    FUZZ_CHECK(ds == NULL, "*out not NULL after failure");
    FUZZ_CHECK(strncmp(esmm_last_error(), "esmm_dataset_read_aliccp_buffer: ", 33) == 0, "message: %s",
               esmm_last_error());
    return;
  }
  fuzz_check_dataset(ds);
  fuzz_check_report(ds);
  esmm_dataset_free(ds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *co = NULL;
  size_t sk_len = size, co_len = 0;
  esmm_config *tolerant = NULL;
  for (size_t i = 0; i + sizeof SEP - 1 <= size; i++)
    if (memcmp(data + i, SEP, sizeof SEP - 1) == 0) {
      sk_len = i + 1; /* keep the skeleton's last newline */
      co = data + i + sizeof SEP - 1;
      co_len = size - (i + sizeof SEP - 1);
      break;
    }
  run(NULL, data, sk_len, co, co_len);
  if (esmm_config_new(&tolerant) == ESMM_OK) {
    (void)esmm_config_set_by_name(tolerant, "unknown_field", "ignore");
    (void)esmm_config_set_by_name(tolerant, "on_error", "skip");
    (void)esmm_config_set_by_name(tolerant, "conv_no_click", "drop");
    run(tolerant, data, sk_len, co, co_len);
    esmm_config_free(tolerant);
  }
  return 0;
}
