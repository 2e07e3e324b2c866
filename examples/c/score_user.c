/* score_user.c - a C host that uses only the installed libesmm (headers,
 * shared library, pkg-config):
 *
 *   cc score_user.c $(pkg-config --cflags --libs esmm) -o score_user
 *   ./score_user MODEL [ITEMS]
 *
 * Loads MODEL, checks that the runtime library matches the headers it was
 * built with, scores one user (a feature in each of the first half of the
 * fields) against ITEMS candidate items (a feature in each of the other
 * fields) with one workspace, checks pCTCVR == pCTR * pCVR, and prints the
 * top 5 items by pCTCVR. Exit status: 0 ok, 1 library error, 2 usage. */
#include <esmm/esmm.h>

#include <stdio.h>
#include <stdlib.h>

static int fail(const char *what, int rc) {
  fprintf(stderr, "score_user: %s: %s (%s)\n", what, esmm_last_error(), esmm_strerror(rc));
  return 1;
}

int main(int argc, char **argv) {
  esmm_model *m = NULL;
  esmm_config *cfg = NULL;
  esmm_workspace *ws = NULL;
  size_t nf = 0, items = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 100, k = 0;
  int uf[ESMM_MAX_FIELDS], *itf = NULL, rc, status = 1;
  uint64_t uid[ESMM_MAX_FIELDS], *iid = NULL;
  int64_t *off = NULL;
  float *p = NULL;

  if (argc < 2 || items == 0) {
    fprintf(stderr, "usage: score_user MODEL [ITEMS]\n");
    return 2;
  }
  /* same major (ABI) and at least the version these headers describe */
  if (esmm_version_number() / 10000 != ESMM_VERSION_MAJOR || esmm_version_number() < ESMM_VERSION_NUMBER) {
    fprintf(stderr, "score_user: built for libesmm %s, running with %s\n", ESMM_VERSION_STRING,
            esmm_version_string());
    return 1;
  }
  if ((rc = esmm_model_load(&m, argv[1], NULL)) != ESMM_OK)
    return fail("load", rc);
  if ((rc = esmm_model_config(m, &cfg)) != ESMM_OK || (rc = esmm_config_field_count(cfg, &nf)) != ESMM_OK) {
    status = fail("config", rc);
    goto done;
  }
  for (size_t f = 0; f < nf / 2; f++) {
    uf[f] = (int)f;
    uid[f] = 1000 + f;
  }
  itf = malloc(items * nf * sizeof *itf);
  iid = malloc(items * nf * sizeof *iid);
  off = malloc((items + 1) * sizeof *off);
  p = malloc(3 * items * sizeof *p);
  if (!itf || !iid || !off || !p) {
    fprintf(stderr, "score_user: out of memory\n");
    goto done;
  }
  off[0] = 0;
  for (size_t i = 0; i < items; i++) {
    for (size_t f = nf / 2; f < nf; f++, k++) {
      itf[k] = (int)f;
      iid[k] = i * 7919u + f;
    }
    off[i + 1] = (int64_t)k;
  }
  if ((rc = esmm_workspace_new(&ws, m, items)) != ESMM_OK) {
    status = fail("workspace", rc);
    goto done;
  }
  rc = esmm_model_predict_user(m, ws, nf / 2, uf, uid, NULL, items, off, itf, iid, NULL, NULL, p, p + items,
                               p + 2 * items);
  if (rc != ESMM_OK) {
    status = fail("predict", rc);
    goto done;
  }
  for (size_t i = 0; i < items; i++) {
    double prod = (double)p[i] * p[items + i];
    if (!(p[i] > 0 && p[i] < 1) || prod - p[2 * items + i] > 1e-6 || p[2 * items + i] - prod > 1e-6) {
      fprintf(stderr, "score_user: item %zu: pctr %g pcvr %g pctcvr %g are inconsistent\n", i, p[i], p[items + i],
              p[2 * items + i]);
      goto done;
    }
  }
  printf("libesmm %s, %zu fields, %zu items scored\n", esmm_version_string(), nf, items);
  for (int top = 0; top < 5 && (size_t)top < items; top++) {
    size_t best = 0;
    for (size_t i = 1; i < items; i++)
      if (p[2 * items + i] > p[2 * items + best])
        best = i;
    printf("  item %4zu  pctr %.6f  pcvr %.6f  pctcvr %.6f\n", best, p[best], p[items + best], p[2 * items + best]);
    p[2 * items + best] = -1; /* taken */
  }
  status = 0;
done:
  free(itf);
  free(iid);
  free(off);
  free(p);
  esmm_workspace_free(ws);
  esmm_config_free(cfg);
  esmm_model_free(m);
  return status;
}
