/* fuzz_text.c - libFuzzer target for the text reader,
 * esmm_dataset_read_text_buffer (include/esmm/io.h).
 *
 * Each input is parsed twice: with the default config (23 Ali-CCP fields,
 * strict: the first bad line fails with ESMM_EFORMAT) and with a tolerant
 * config (unknown fields ignored, bad lines skipped, conversions without a
 * click dropped, values ignored), so both the error paths and the skip
 * paths are explored (since 1.1 the text reader honours those options
 * like every other reader). A successful read must give a dataset that
 * passes fuzz_check_dataset and fuzz_check_report (fuzz.h). */
#include "fuzz.h"

#include <string.h>

static void run(const esmm_config *cfg, const uint8_t *data, size_t size) {
  static const int allowed[] = {ESMM_OK, ESMM_EFORMAT, ESMM_ENUMERIC};
  esmm_dataset *ds = (esmm_dataset *)1;
  int rc = esmm_dataset_read_text_buffer(&ds, cfg, data, size, "fuzz");
  FUZZ_CHECK(fuzz_status_ok(rc, allowed, sizeof allowed / sizeof *allowed), "unexpected status %d", rc);
  if (rc != ESMM_OK) {
    FUZZ_CHECK(ds == NULL, "*out not NULL after failure");
    FUZZ_CHECK(strncmp(esmm_last_error(), "esmm_dataset_read_text_buffer: fuzz:", 36) == 0,
               "message does not start with \"<function>: <name>:\": %s", esmm_last_error());
    return;
  }
  fuzz_check_dataset(ds);
  fuzz_check_report(ds);
  esmm_dataset_free(ds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  esmm_config *tolerant = NULL;
  run(NULL, data, size);
  if (esmm_config_new(&tolerant) == ESMM_OK) {
    /* Options that may not exist in this build are simply not set. */
    (void)esmm_config_set_by_name(tolerant, "unknown_field", "ignore");
    (void)esmm_config_set_by_name(tolerant, "on_error", "skip");
    (void)esmm_config_set_by_name(tolerant, "conv_no_click", "drop");
    (void)esmm_config_set_by_name(tolerant, "feature_values", "ignore");
    run(tolerant, data, size);
    esmm_config_free(tolerant);
  }
  return 0;
}
