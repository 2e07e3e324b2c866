/* dataset_report.c - what a reader found, read back from a dataset (layout
 * in dataset.h): the data report (esmm_dataset_report, its messages, the
 * skip reasons' names) and where each row came from (esmm_dataset_row_source,
 * esmm_dataset_skipped_row). Readers fill these through esmm__dataset_append
 * and a sink's finish; datasets built in memory have an empty report. */
#include "dataset.h"

#include <string.h>

int esmm_dataset_report(const esmm_dataset *ds, esmm_data_report *out, size_t size) {
  esmm_data_report r;
  const int64_t *s;
  ESMM__CHECK_ARG(ds);
  ESMM__CHECK_ARG(out);
  ESMM__CHECK_ARG(size >= sizeof(int64_t));
  s = ds->rep.stat;
  memset(&r, 0, sizeof r);
  r.rows_read = s[ESMM__RS_LINES];
  r.rows_kept = (int64_t)ds->n_rows;
  r.clicks = ds->n_clicks;
  r.conversions = ds->n_conv;
  r.clicked_conversions = ds->n_clicked_conv;
  r.conv_no_click_read = s[ESMM__RS_CNC_READ];
  r.conv_no_click_zeroed = s[ESMM__RS_CNC_ZEROED];
  r.conv_no_click_skipped = s[ESMM__RS_CNC_SKIPPED];
  r.conv_no_click_kept = r.conv_no_click_read - r.conv_no_click_zeroed - r.conv_no_click_skipped;
  r.skipped = s[ESMM__RS_SKIPPED];
  r.skipped_malformed = s[ESMM__RS_MALFORMED];
  r.skipped_label = s[ESMM__RS_LABEL];
  r.skipped_missing_common = s[ESMM__RS_MISSING_COMMON];
  r.skipped_conv_no_click = s[ESMM__RS_CNC_SKIPPED];
  r.commons = (int64_t)ds->n_common;
  r.common_lines = s[ESMM__RS_COMMON_LINES];
  r.common_skipped = s[ESMM__RS_COMMON_SKIPPED];
  r.features_ignored = s[ESMM__RS_IGNORED];
  r.messages = (int64_t)ds->rep.n_msg;
  r.conv_no_click_policy = ds->rep.cnc_policy;
  r.on_error_policy = ds->rep.on_error;
  r.source = ds->rep.source;
  /* (ptr, size): a caller compiled against an older, shorter struct gets
   * its prefix; a newer, longer one gets zeros beyond ours. */
  if (size <= sizeof r) {
    memcpy(out, &r, size);
  } else {
    memcpy(out, &r, sizeof r);
    memset((char *)out + sizeof r, 0, size - sizeof r);
  }
  return ESMM_OK;
}

int esmm_dataset_report_message(const esmm_dataset *ds, size_t k, const char **out) {
  ESMM__CHECK_ARG(ds);
  ESMM__CHECK_ARG(out);
  if (k >= ds->rep.n_msg)
    return ESMM__ERR(ESMM_EINVAL, "message %zu out of range (%zu messages)", k, ds->rep.n_msg);
  *out = ds->rep.msg[k];
  return ESMM_OK;
}

const char *esmm_skip_reason_name(int reason) {
  static const char *const names[] = {"malformed", "label", "missing_common", "conv_no_click"};
  return reason >= 0 && reason < (int)(sizeof names / sizeof *names) ? names[reason] : NULL;
}

int esmm_dataset_row_source(const esmm_dataset *ds, size_t i, int64_t *line_out, const char **id_out,
                            size_t *id_len_out) {
  ESMM__CHECK_ARG(ds);
  if (i >= ds->n_rows)
    return ESMM__ERR(ESMM_EINVAL, "row %zu out of range (%zu rows)", i, ds->n_rows);
  if (line_out)
    *line_out = ds->line ? ds->line[i] : 0;
  if (id_out) /* key is NULL while every id so far is empty */
    *id_out = !ds->key_off ? NULL : ds->key ? ds->key + ds->key_off[i] : "";
  if (id_len_out)
    *id_len_out = ds->key_off ? (size_t)(ds->key_off[i + 1] - ds->key_off[i]) : 0;
  return ESMM_OK;
}

int esmm_dataset_skipped_row(const esmm_dataset *ds, size_t k, int64_t *line_out, int *reason_out) {
  ESMM__CHECK_ARG(ds);
  if (k >= ds->n_skip)
    return ESMM__ERR(ESMM_EINVAL, "skipped row %zu out of range (%zu listed)", k, ds->n_skip);
  if (line_out)
    *line_out = ds->skip[k].line;
  if (reason_out)
    *reason_out = ds->skip[k].reason;
  return ESMM_OK;
}
