/* esmm convert: any supported data file -> binary cache, streaming (the
 * input is never loaded whole), then (unless --quiet) a report of the
 * reader's counts read back from the validated cache. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const struct {
  int key;
  const char *name;
} report[] = {
    {ESMM_DS_ROWS, "rows"},
    {ESMM_DS_LINES, "lines_read"},
    {ESMM_DS_SKIPPED, "skipped"},
    {ESMM_DS_SKIPPED_MALFORMED, "skipped_malformed"},
    {ESMM_DS_SKIPPED_LABEL, "skipped_label"},
    {ESMM_DS_SKIPPED_MISSING_COMMON, "skipped_missing_common"},
    {ESMM_DS_SKIPPED_CONV_NO_CLICK, "skipped_conv_no_click"},
    {ESMM_DS_CONV_NO_CLICK_READ, "conv_no_click_read"},
    {ESMM_DS_FEATURES_IGNORED, "features_ignored"},
    {ESMM_DS_COMMON_LINES, "common_lines"},
    {ESMM_DS_COMMON_SKIPPED, "common_skipped"},
    {ESMM_DS_COMMONS, "commons"},
    {ESMM_DS_FEATURES, "features"},
    {ESMM_DS_COMMON_FEATURES, "common_features"},
    {ESMM_DS_CLICKS, "clicks"},
    {ESMM_DS_CONVERSIONS, "conversions"},
    {ESMM_DS_DENSE, "dense"},
};

int cmd_convert(const opts *o) {
  esmm_config *cfg = NULL;
  esmm_dataset *ds = NULL;
  const char *fmt;
  int format, rc;
  double t0;
  if (!o->data || !o->out)
    return cli_usage("convert needs --data FILE and --out CACHE");
  fmt = cli_detect_format(o->data, o->common, o->spec, o->format);
  if (strcmp(fmt, "aliccp") == 0)
    format = ESMM_FORMAT_ALICCP;
  else if (strcmp(fmt, "csv") == 0 || strcmp(fmt, "tokens") == 0)
    format = ESMM_FORMAT_CSV;
  else if (strcmp(fmt, "text") == 0)
    format = ESMM_FORMAT_TEXT;
  else
    return cli_usage("convert reads text, aliccp, csv or tokens (--data is already a cache?)");
  if ((rc = cli_make_config(o, &cfg)))
    return rc;
  t0 = cli_now();
  rc = esmm_dataset_convert(cfg, format, o->data,
                            format == ESMM_FORMAT_ALICCP ? o->common
                            : format == ESMM_FORMAT_CSV  ? (strcmp(fmt, "tokens") == 0 ? "tokens" : o->spec)
                                                         : NULL,
                            o->out);
  if (rc) {
    rc = cli_fail("convert", rc);
    goto done;
  }
  /* The report maps and validates the whole cache: its file-backed pages
   * then count in the RSS (as page cache). --quiet skips it, so that the
   * conversion's own memory can be measured. */
  if (o->quiet && !o->json)
    goto done;
  if ((rc = esmm_dataset_open_cache(&ds, cfg, o->out))) {
    rc = cli_fail("open cache", rc);
    goto done;
  }
  if (o->json)
    printf("{\"cache\":\"%s\",\"seconds\":%.3f", o->out, cli_now() - t0);
  else if (!o->quiet)
    printf("%s -> %s (%s) in %.2f s\n", o->data, o->out, fmt, cli_now() - t0);
  for (size_t i = 0; i < sizeof report / sizeof report[0]; i++) {
    int64_t v = 0;
    esmm_dataset_stat(ds, report[i].key, &v);
    if (o->json)
      printf(",\"%s\":%lld", report[i].name, (long long)v);
    else if (!o->quiet)
      printf("  %-24s %lld\n", report[i].name, (long long)v);
  }
  if (o->json)
    printf("}\n");
done:
  esmm_dataset_free(ds);
  esmm_config_free(cfg);
  return rc;
}
