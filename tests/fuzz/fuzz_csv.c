/* fuzz_csv.c - libFuzzer target for the CSV reader,
 * esmm_dataset_read_csv_buffer (include/esmm/io.h).
 *
 * The first byte chooses the column spec (and, for the spec with numeric
 * columns, the dense count and whether unknown fields are ignored); the
 * rest is the CSV text. */
#include "fuzz.h"

#include <string.h>

static const char *const specs[] = {
    "tokens",
    "click=click;conversion=purchase;num=D*;cat=*",
    "click=c;conversion=v;cat=101,205;group=g;user=121,122;skip=x",
    "click=click;conversion=conv;cat=*",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* EINVAL: the spec does not fit the header (e.g. num=D* matches another
   * number of columns than the dense count), which io.h files under "bad
   * spec" */
  static const int allowed[] = {ESMM_OK, ESMM_EFORMAT, ESMM_EINVAL};
  esmm_config *cfg = NULL;
  esmm_dataset *ds = (esmm_dataset *)1;
  unsigned sel;
  int rc;
  if (size < 1)
    return 0;
  sel = data[0];
  FUZZ_CHECK(esmm_config_new(&cfg) == ESMM_OK, "config");
  (void)esmm_config_set_int(cfg, ESMM_OPT_DENSE_FEATURES, (sel >> 2) & 3);
  if (sel & 0x10)
    (void)esmm_config_set_by_name(cfg, "unknown_field", "ignore");
  if (sel & 0x20)
    (void)esmm_config_set_by_name(cfg, "on_error", "skip");
  rc = esmm_dataset_read_csv_buffer(&ds, cfg, data + 1, size - 1, "fuzz", specs[sel % 4]);
  FUZZ_CHECK(fuzz_status_ok(rc, allowed, sizeof allowed / sizeof *allowed), "unexpected status %d", rc);
  if (rc != ESMM_OK) {
    FUZZ_CHECK(ds == NULL, "*out not NULL after failure");
    FUZZ_CHECK(strncmp(esmm_last_error(), "esmm_dataset_read_csv_buffer: ", 30) == 0, "message: %s",
               esmm_last_error());
  } else {
    fuzz_check_dataset(ds);
    esmm_dataset_free(ds);
  }
  esmm_config_free(cfg);
  return 0;
}
