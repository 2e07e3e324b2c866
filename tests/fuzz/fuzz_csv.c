/* fuzz_csv.c - libFuzzer target for the CSV reader,
 * esmm_dataset_read_csv_buffer (include/esmm/io.h).
 *
 * The first byte chooses: the column spec (bits 0-1, and bit 6 for the 1.1
 * clauses: headerless columns=, id=, sep= tab, semicolon and '|', quoting
 * is always on), the dense count (bits 2-3), unknown fields ignored (bit
 * 4), bad rows skipped (bit 5), rows with a conversion but no click
 * dropped (bit 7); the rest is the CSV text. A successful read must give a
 * dataset whose rows and report pass fuzz_check_dataset and
 * fuzz_check_report. */
#include "fuzz.h"

#include <string.h>

static const char *const specs[] = {
    "tokens",
    "click=click;conversion=purchase;num=D*;cat=*",
    "click=c;conversion=v;cat=101,205;group=g;user=121,122;skip=x",
    "click=click;conversion=conv;cat=*",
    /* 1.1 */
    "columns=s,y,z,101,205;id=s;click=y;conversion=z;cat=*",
    "sep=tab;id=sid;click=y;conversion=z;num=n*;cat=*",
    "columns=y,z,101,n;sep=semicolon;click=y;conversion=z;num=n;cat=101",
    "sep=|;id=g;click=y;conversion=z;cat=101,205;group=g;user=121;skip=*",
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
  if (sel & 0x80)
    (void)esmm_config_set_by_name(cfg, "conv_no_click", "drop");
  rc = esmm_dataset_read_csv_buffer(&ds, cfg, data + 1, size - 1, "fuzz", specs[(sel & 3) | ((sel >> 4) & 4)]);
  FUZZ_CHECK(fuzz_status_ok(rc, allowed, sizeof allowed / sizeof *allowed), "unexpected status %d", rc);
  if (rc != ESMM_OK) {
    FUZZ_CHECK(ds == NULL, "*out not NULL after failure");
    FUZZ_CHECK(strncmp(esmm_last_error(), "esmm_dataset_read_csv_buffer: ", 30) == 0, "message: %s",
               esmm_last_error());
  } else {
    fuzz_check_dataset(ds);
    fuzz_check_report(ds);
    esmm_dataset_free(ds);
  }
  esmm_config_free(cfg);
  return 0;
}
