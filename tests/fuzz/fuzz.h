/* fuzz.h - shared by the fuzz targets (tests/fuzz/fuzz_*.c) and the replay
 * driver (replay.c).
 *
 * Every target defines LLVMFuzzerTestOneInput(data, size): it hands the
 * buffer to one parser of the library, and on success it checks the
 * invariants that a successful parse promises (a loaded model saves and
 * loads again, a dataset's rows can be read back, predictions are
 * probabilities). A broken invariant calls FUZZ_FAIL, which aborts: under
 * libFuzzer that is a crash with a saved input, under the replay driver a
 * failing `make check`.
 *
 * Targets build twice: with clang -fsanitize=fuzzer,address,undefined
 * -DESMM_FUZZING (make fuzz; CRC mismatches are then non-fatal in
 * io/model_check.c) and with the normal compiler against lib/libesmm.a (the
 * replay in make check). They must therefore use only the public API plus
 * esmm__ internals that exist in both builds, and no libFuzzer API beyond
 * LLVMFuzzerTestOneInput. */
#ifndef ESMM_FUZZ_H
#define ESMM_FUZZ_H

#include <esmm/esmm.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* abort() is right here: this is test code, and a crash is how a fuzzer
 * reports a finding. The library itself never aborts. */
#define FUZZ_FAIL(...)                                                              \
  do {                                                                              \
    fprintf(stderr, "%s:%d: invariant broken: ", __FILE__, __LINE__);              \
    fprintf(stderr, __VA_ARGS__);                                                   \
    fprintf(stderr, " (last error: %s)\n", esmm_last_error());                      \
    abort();                                                                        \
  } while (0)

#define FUZZ_CHECK(cond, ...)                                                       \
  do {                                                                              \
    if (!(cond))                                                                    \
      FUZZ_FAIL(__VA_ARGS__);                                                       \
  } while (0)

/* A status a parser may return for bad input: anything else (a positive
 * value, ESMM_ERROR = "internal", an unknown code) is a finding. */
static inline int fuzz_status_ok(int rc, const int *allowed, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (rc == allowed[i])
      return 1;
  return 0;
}

/* The invariants of any dataset a reader returned: every row and common
 * list can be borrowed, labels are 0/1, field indices are in range, common
 * references exist, values are finite, and the statistics match the rows.
 * Then one prediction pass over (at most 256) rows with a tiny model of the
 * same fields, so the indices are used the way training uses them. */
static inline void fuzz_check_dataset(const esmm_dataset *ds) {
  int64_t rows = -1, fields = -1, feats = -1, clicks = -1, commons = -1, cfeats = -1, dense = 0;
  int64_t seen_feats = 0, seen_clicks = 0, seen_cfeats = 0;
  FUZZ_CHECK(esmm_dataset_stat(ds, ESMM_DS_ROWS, &rows) == ESMM_OK && rows >= 0, "rows stat");
  FUZZ_CHECK(esmm_dataset_stat(ds, ESMM_DS_FIELDS, &fields) == ESMM_OK && fields > 0, "fields stat");
  FUZZ_CHECK(esmm_dataset_stat(ds, ESMM_DS_FEATURES, &feats) == ESMM_OK && feats >= 0, "features stat");
  FUZZ_CHECK(esmm_dataset_stat(ds, ESMM_DS_CLICKS, &clicks) == ESMM_OK, "clicks stat");
  FUZZ_CHECK(esmm_dataset_stat(ds, ESMM_DS_COMMONS, &commons) == ESMM_OK && commons >= 0, "commons stat");
  FUZZ_CHECK(esmm_dataset_stat(ds, ESMM_DS_COMMON_FEATURES, &cfeats) == ESMM_OK, "common features stat");
  (void)esmm_dataset_stat(ds, ESMM_DS_DENSE, &dense); /* absent in older builds: 0 */
  for (int64_t c = 0; c < commons; c++) {
    size_t nnz = 0;
    const int *f = NULL;
    const uint64_t *id = NULL;
    const float *v = NULL;
    FUZZ_CHECK(esmm_dataset_common(ds, (size_t)c, &nnz, &f, &id, &v) == ESMM_OK, "common %lld", (long long)c);
    for (size_t k = 0; k < nnz; k++) {
      FUZZ_CHECK(f[k] >= 0 && f[k] < fields, "common %lld feature %zu: field %d", (long long)c, k, f[k]);
      FUZZ_CHECK(v[k] == v[k] && v[k] - v[k] == 0.0f, "common %lld feature %zu: non-finite value", (long long)c, k);
      (void)id[k];
    }
    seen_cfeats += (int64_t)nnz;
  }
  FUZZ_CHECK(seen_cfeats == cfeats, "common features stat %lld, lists hold %lld", (long long)cfeats,
             (long long)seen_cfeats);
  for (int64_t i = 0; i < rows; i++) {
    int y = -1, z = -1;
    int64_t common = -2;
    size_t nnz = 0;
    const int *f = NULL;
    const uint64_t *id = NULL;
    const float *v = NULL;
    FUZZ_CHECK(esmm_dataset_row(ds, (size_t)i, &y, &z, &common, &nnz, &f, &id, &v) == ESMM_OK, "row %lld",
               (long long)i);
    FUZZ_CHECK((y == 0 || y == 1) && (z == 0 || z == 1), "row %lld labels %d %d", (long long)i, y, z);
    FUZZ_CHECK(common >= -1 && common < commons, "row %lld: common %lld of %lld", (long long)i, (long long)common,
               (long long)commons);
    for (size_t k = 0; k < nnz; k++) {
      FUZZ_CHECK(f[k] >= 0 && f[k] < fields, "row %lld feature %zu: field %d", (long long)i, k, f[k]);
      FUZZ_CHECK(v[k] == v[k] && v[k] - v[k] == 0.0f, "row %lld feature %zu: non-finite value", (long long)i, k);
      (void)id[k];
    }
    seen_feats += (int64_t)nnz;
    seen_clicks += y;
  }
  FUZZ_CHECK(seen_feats == feats, "features stat %lld, rows hold %lld", (long long)feats, (long long)seen_feats);
  FUZZ_CHECK(seen_clicks == clicks, "clicks stat %lld, rows hold %lld", (long long)clicks,
             (long long)seen_clicks);
  FUZZ_CHECK(esmm_dataset_row(ds, (size_t)rows, NULL, NULL, NULL, NULL, NULL, NULL, NULL) == ESMM_EINVAL,
             "row past the end accepted");

  /* Predict with a minimal model built on the dataset's own field list. */
  if (rows > 0) {
    esmm_config *cfg = NULL;
    esmm_model *m = NULL;
    const char **names = malloc((size_t)fields * sizeof *names);
    float p[3 * 256];
    size_t n = rows < 256 ? (size_t)rows : 256;
    FUZZ_CHECK(names != NULL, "test harness out of memory");
    for (int64_t f = 0; f < fields; f++)
      FUZZ_CHECK(esmm_dataset_field_name(ds, (size_t)f, &names[f]) == ESMM_OK, "field name %lld", (long long)f);
    FUZZ_CHECK(esmm_config_new(&cfg) == ESMM_OK, "config");
    FUZZ_CHECK(esmm_config_set_fields(cfg, (size_t)fields, names, NULL) == ESMM_OK, "a dataset's field list is "
                                                                                    "not a valid config field list");
    (void)esmm_config_set_int(cfg, ESMM_OPT_DENSE_FEATURES, dense);
    FUZZ_CHECK(esmm_config_set_int(cfg, ESMM_OPT_HASH_BUCKETS, 2) == ESMM_OK, "buckets");
    FUZZ_CHECK(esmm_config_set_int(cfg, ESMM_OPT_EMBED_DIM, 1) == ESMM_OK, "dim");
    /* not NULL: config.c memcpy's from it even for n = 0 (UB, reported) */
    FUZZ_CHECK(esmm_config_set_ints(cfg, ESMM_OPT_CTR_TOWER, &dense, 0) == ESMM_OK, "ctr tower");
    FUZZ_CHECK(esmm_config_set_ints(cfg, ESMM_OPT_CVR_TOWER, &dense, 0) == ESMM_OK, "cvr tower");
    FUZZ_CHECK(esmm_config_set_int(cfg, ESMM_OPT_BATCH_SIZE, 64) == ESMM_OK, "batch");
    FUZZ_CHECK(esmm_model_new(&m, cfg) == ESMM_OK, "tiny model");
    FUZZ_CHECK(esmm_model_predict(m, NULL, ds, 0, n, p, p + 256, p + 512) == ESMM_OK, "predict");
    for (size_t i = 0; i < n; i++)
      FUZZ_CHECK(p[i] >= 0.0f && p[i] <= 1.0f, "prediction %zu is %g", i, (double)p[i]);
    esmm_model_free(m);
    esmm_config_free(cfg);
    free(names);
  }
}

/* The data report and the provenance calls of any dataset: every message,
 * row source and skipped row can be read (also from a crafted cache). */
static inline void fuzz_check_provenance(const esmm_dataset *ds) {
  esmm_data_report r;
  int64_t listed = -1;
  FUZZ_CHECK(esmm_dataset_report(ds, &r, sizeof r) == ESMM_OK, "report");
  FUZZ_CHECK(r.source != NULL && r.messages >= 0 && r.messages <= ESMM_REPORT_MESSAGES, "report messages %lld",
             (long long)r.messages);
  for (int64_t k = 0; k < r.messages; k++) {
    const char *m = NULL;
    FUZZ_CHECK(esmm_dataset_report_message(ds, (size_t)k, &m) == ESMM_OK && m != NULL, "message %lld", (long long)k);
    (void)strlen(m);
  }
  FUZZ_CHECK(esmm_dataset_report_message(ds, (size_t)r.messages, &(const char *){NULL}) == ESMM_EINVAL,
             "message past the end");
  for (int64_t i = 0; i < r.rows_kept; i++) {
    int64_t line = -1;
    const char *id = NULL;
    size_t n = 0;
    FUZZ_CHECK(esmm_dataset_row_source(ds, (size_t)i, &line, &id, &n) == ESMM_OK && line >= 0, "row source %lld",
               (long long)i);
    for (size_t k = 0; k < n; k++)
      (void)(volatile char)id[k];
  }
  FUZZ_CHECK(esmm_dataset_stat(ds, ESMM_DS_SKIPPED_LISTED, &listed) == ESMM_OK && listed >= 0, "listed");
  for (int64_t k = 0; k < listed; k++) {
    int64_t line = -1;
    int reason = -1;
    FUZZ_CHECK(esmm_dataset_skipped_row(ds, (size_t)k, &line, &reason) == ESMM_OK && line >= 0 &&
                   esmm_skip_reason_name(reason) != NULL,
               "skipped row %lld", (long long)k);
  }
}

/* What a reader promises about the dataset it filled: every row read is
 * kept or skipped (by reason), each skipped row is listed, kept and
 * skipped rows come in file order with their lines, the counts agree. */
static inline void fuzz_check_report(const esmm_dataset *ds) {
  esmm_data_report r;
  int64_t listed = -1, prev = 0, rows_lines = 0;
  fuzz_check_provenance(ds);
  FUZZ_CHECK(esmm_dataset_report(ds, &r, sizeof r) == ESMM_OK, "report");
  FUZZ_CHECK(r.rows_read == r.rows_kept + r.skipped, "read %lld != kept %lld + skipped %lld", (long long)r.rows_read,
             (long long)r.rows_kept, (long long)r.skipped);
  FUZZ_CHECK(r.skipped == r.skipped_malformed + r.skipped_label + r.skipped_missing_common + r.skipped_conv_no_click,
             "skipped by reason");
  FUZZ_CHECK(r.conv_no_click_read == r.conv_no_click_kept + r.conv_no_click_zeroed + r.conv_no_click_skipped &&
                 r.conv_no_click_kept >= 0 && r.conv_no_click_zeroed >= 0,
             "conv_no_click accounting");
  FUZZ_CHECK(r.conv_no_click_policy >= 0 && r.on_error_policy >= 0, "policies");
  FUZZ_CHECK(esmm_dataset_stat(ds, ESMM_DS_SKIPPED_LISTED, &listed) == ESMM_OK && listed == r.skipped,
             "listed %lld skipped %lld", (long long)listed, (long long)r.skipped);
  FUZZ_CHECK(esmm_dataset_stat(ds, ESMM_DS_ROW_LINES, &rows_lines) == ESMM_OK && (rows_lines || !r.rows_kept),
             "rows without lines");
  for (int64_t i = 0; i < r.rows_kept; i++) {
    int64_t line = 0;
    (void)esmm_dataset_row_source(ds, (size_t)i, &line, NULL, NULL);
    FUZZ_CHECK(line > prev, "row %lld: line %lld after %lld", (long long)i, (long long)line, (long long)prev);
    prev = line;
  }
  prev = 0;
  for (int64_t k = 0; k < listed; k++) {
    int64_t line = 0;
    (void)esmm_dataset_skipped_row(ds, (size_t)k, &line, NULL);
    FUZZ_CHECK(line > prev, "skipped %lld: line %lld after %lld", (long long)k, (long long)line, (long long)prev);
    prev = line;
  }
  if (r.skipped && r.on_error_policy == ESMM_ON_ERROR_SKIP && r.conv_no_click_policy != ESMM_CNC_DROP)
    FUZZ_CHECK(r.messages > 0, "rows skipped as errors but no message");
}

#endif /* ESMM_FUZZ_H */
