/* esmm simulate: write a simulated set in the text format, or as the raw
 * Ali-CCP pair (--format aliccp --out SKELETON --common COMMON). */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

int cmd_simulate(const opts *o) {
  esmm_sim *sim = NULL;
  esmm_dataset *ds = NULL;
  int rc;
  if (!o->out)
    return cli_usage("simulate needs --out FILE");
  if ((rc = cli_make_sim(o, &sim)))
    return rc;
  rc = esmm_sim_generate(sim, o->rows ? o->rows : 100000, o->stream, &ds);
  if (rc)
    rc = cli_fail("simulate", rc);
  else if (o->format && strcmp(o->format, "aliccp") == 0) {
    if (!o->common)
      rc = cli_usage("simulate --format aliccp needs --common FILE (the common_features file)");
    else if ((rc = esmm_dataset_write_aliccp(ds, o->out, o->common)) != 0)
      rc = cli_fail("write", rc);
  } else if (o->format && strcmp(o->format, "text") != 0)
    rc = cli_usage("simulate --format takes text or aliccp");
  else if ((rc = esmm_dataset_write_text(ds, o->out)) != 0)
    rc = cli_fail("write", rc);
  esmm_dataset_free(ds);
  esmm_sim_free(sim);
  return rc;
}

