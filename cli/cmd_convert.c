/* esmm convert: any supported input -> binary cache, streaming (the input
 * is never loaded whole; --data - reads standard input), through
 * esmm_dataset_convert_v2 with the format detected by the library unless
 * --format names it; then (unless --quiet) the data report read back from
 * the validated cache (the reader's report, its messages, the rows' lines
 * and ids and the skipped rows are kept in it). */
#include "cli.h"

#include <stdio.h>
#include <string.h>

int cmd_convert(const opts *o) {
  esmm_config *cfg = NULL;
  esmm_dataset *ds = NULL;
  cli_input in;
  int rc;
  double t0;
  if (!o->data || !o->out)
    return cli_usage("convert needs --data FILE and --out CACHE");
  if (strcmp(o->out, "-") == 0)
    return cli_usage("--out: a cache is memory-mapped later, so it must be a file, not standard output");
  if ((rc = cli_input_of(o, o->data, NULL, &in)) != 0)
    return rc;
  if (in.known == ESMM_FORMAT_CACHE)
    return cli_usagef("%s is already a cache (train, eval and predict open it as it is)", o->data);
  if ((rc = cli_make_config(o, SET_CONVERT, &cfg)))
    return rc;
  t0 = cli_now();
  rc = esmm_dataset_convert_v2(cfg, o->data, in.format, in.common, in.spec, o->out);
  if (rc == ESMM_EINVAL && strstr(esmm_last_error(), "looks like CSV")) {
    const char *msg = esmm_last_error(), *colon = strstr(msg, ": ");
    rc = cli_usagef("%s\ngive its column spec with --spec, e.g.\n"
                    "  --spec \"click=click;conversion=purchase;num=D*;cat=*\"   (docs/data.md)",
                    colon ? colon + 2 : msg);
    goto done;
  }
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
    printf(",\"format\":");
    if (cli_format_name(in.known))
      cli_json_str(stdout, cli_format_name(in.known));
    else
      printf("null");
    printf(",\"seconds\":%.3f,\"data\":", cli_now() - t0);
    cli_report_data(stdout, 1, "convert", o->data, ds, in.known);
    printf("}\n");
  } else {
    printf("%s -> %s", strcmp(o->data, "-") == 0 ? "standard input" : o->data, o->out);
    if (cli_format_name(in.known))
      printf(" (%s)", cli_format_name(in.known));
    printf(" in %.2f s\n", cli_now() - t0);
    cli_report_data(stdout, 0, "convert", o->data, ds, in.known);
  }
done:
  esmm_dataset_free(ds);
  esmm_config_free(cfg);
  return rc;
}
