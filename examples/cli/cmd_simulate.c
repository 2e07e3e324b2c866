/* esmm simulate: write a simulated set in the text format. */
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
  else if ((rc = esmm_dataset_write_text(ds, o->out)) != 0)
    rc = cli_fail("write", rc);
  esmm_dataset_free(ds);
  esmm_sim_free(sim);
  return rc;
}

