/* esmm convert: any supported data file -> binary cache, streaming (the
 * input is never loaded whole), then (unless --quiet) the data report read
 * back from the validated cache (the reader's counts are kept in it). */
#include "cli.h"

#include <stdio.h>
#include <string.h>

int cmd_convert(const opts *o) {
  esmm_config *cfg = NULL;
  esmm_dataset *ds = NULL;
  const char *fmt, *spec;
  int format, rc;
  double t0;
  if (!o->data || !o->out)
    return cli_usage("convert needs --data FILE and --out CACHE");
  if (strcmp(o->out, "-") == 0)
    return cli_usage("--out: a cache is memory-mapped later, so it must be a file, not standard output");
  if (!(fmt = cli_detect_format(o->data, o->common, o->spec, o->format, NULL, &spec)))
    return EXIT_USAGE;
  if (strcmp(fmt, "aliccp") == 0)
    format = ESMM_FORMAT_ALICCP;
  else if (strcmp(fmt, "csv") == 0 || strcmp(fmt, "tokens") == 0)
    format = ESMM_FORMAT_CSV;
  else if (strcmp(fmt, "text") == 0)
    format = ESMM_FORMAT_TEXT;
  else
    return cli_usage("convert reads text, aliccp, csv or tokens (--data is already a cache?)");
  if (format == ESMM_FORMAT_CSV && !spec)
    return cli_usage("reading CSV needs --spec");
  if ((rc = cli_make_config(o, SET_CONVERT, &cfg)))
    return rc;
  t0 = cli_now();
  rc = esmm_dataset_convert(cfg, format, o->data, format == ESMM_FORMAT_ALICCP ? o->common
                                                  : format == ESMM_FORMAT_CSV  ? spec
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
  if (o->json) {
    printf("{\"cache\":");
    cli_json_str(stdout, o->out);
    printf(",\"format\":\"%s\",\"seconds\":%.3f,\"data\":", fmt, cli_now() - t0);
    cli_report_data(stdout, 1, "convert", o->data, ds, cfg);
    printf("}\n");
  } else {
    printf("%s -> %s (%s) in %.2f s\n", o->data, o->out, fmt, cli_now() - t0);
    cli_report_data(stdout, 0, "convert", o->data, ds, cfg);
  }
done:
  esmm_dataset_free(ds);
  esmm_config_free(cfg);
  return rc;
}
