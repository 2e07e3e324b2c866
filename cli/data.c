/* data.c - how the esmm commands read data and say what they read.
 *
 * Every --data / --valid input goes through esmm_dataset_read (a path, or
 * "-" for standard input): the library detects the format on a prefix that
 * its reader reads again, so a pipe loses nothing, and it fills the data
 * report that cli_report_data prints. The CLI adds only what the library
 * cannot know: which --common belongs to which input, and the column spec a
 * model remembers from its training data (metadata input.spec). It never
 * opens an input to guess its format itself; for a regular file it asks
 * esmm_dataset_detect_format which format to record in a trained model
 * (metadata input.format, informational: esmm dump shows it).
 *
 * predict's output joins back to its input: one line per data row of the
 * input, kept rows with their scores and skipped rows with an empty score
 * and the reason, merged in line order (esmm_dataset_row_source,
 * esmm_dataset_skipped_row). */
#include "cli.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- which format, which spec ------------------------------------------------------ */

static const struct {
  const char *name;
  int format;
} formats[] = {
    {"text", ESMM_FORMAT_TEXT}, {"aliccp", ESMM_FORMAT_ALICCP}, {"csv", ESMM_FORMAT_CSV},
    {"tokens", ESMM_FORMAT_TOKENS}, {"cache", ESMM_FORMAT_CACHE},
};
#define N_FORMATS (sizeof formats / sizeof formats[0])

const char *cli_format_name(int format) {
  for (size_t i = 0; i < N_FORMATS; i++)
    if (formats[i].format == format)
      return formats[i].name;
  return NULL;
}

static int parse_format(const char *name, int *out) {
  const char *names[N_FORMATS], *near;
  for (size_t i = 0; i < N_FORMATS; i++) {
    if (strcmp(name, formats[i].name) == 0) {
      *out = formats[i].format;
      return 0;
    }
    names[i] = formats[i].name;
  }
  near = cli_nearest(name, names, N_FORMATS);
  return cli_usagef("unknown --format \"%s\"%s%s%s (text, aliccp, csv, tokens, cache)", name,
                    near ? " (did you mean " : "", near ? near : "", near ? "?)" : "");
}

static int is_regular(const char *path) {
  struct stat st;
  return strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* What the library's detection says of a regular file's first 64 KiB. */
static int detected(const char *path) {
  static char head[65536];
  int fd = open(path, O_RDONLY), fmt = -1;
  ssize_t n;
  if (fd < 0)
    return -1;
  n = read(fd, head, sizeof head);
  close(fd);
  if (n >= 0 && esmm_dataset_detect_format(head, (size_t)n, path, &fmt) != ESMM_OK)
    fmt = -1;
  return fmt;
}

int cli_input_of(const opts *o, const char *path, const esmm_config *cfg, cli_input *in) {
  const char *mfmt = NULL, *mspec = NULL;
  int rc;
  memset(in, 0, sizeof *in);
  in->path = path;
  in->common = path == o->data ? o->common : path == o->valid ? o->valid_common : NULL;
  in->spec = o->spec;
  in->format = ESMM_FORMAT_AUTO;
  in->known = -1;
  if (cfg) {
    (void)esmm_config_meta(cfg, "input.format", &mfmt);
    (void)esmm_config_meta(cfg, "input.spec", &mspec);
  }
  if (!mfmt || (strcmp(mfmt, "csv") != 0 && strcmp(mfmt, "tokens") != 0))
    mspec = NULL; /* only a CSV or token spec is worth remembering */
  if (in->common && strcmp(in->common, "-") == 0 && strcmp(path, "-") == 0)
    return cli_usage("standard input can be read once: give --common or --data as a file");
  if (o->format) {
    if ((rc = parse_format(o->format, &in->format)) != 0)
      return rc;
    /* an explicit format takes only its own arguments (--spec may be meant for --valid) */
    if (in->format == ESMM_FORMAT_CSV && !in->spec)
      in->spec = mspec && strcmp(mspec, "tokens") != 0 ? mspec : NULL;
    if (in->format == ESMM_FORMAT_CSV && !in->spec)
      return cli_usagef("reading %s as CSV needs its column spec: --spec \"click=COL;conversion=COL;cat=*\" "
                        "(docs/data.md)", path);
    if (in->format != ESMM_FORMAT_CSV)
      in->spec = NULL;
    if (in->format != ESMM_FORMAT_ALICCP)
      in->common = NULL;
    in->known = in->format;
    return 0;
  }
  /* the model's memory of its training data: its spec, for an input that
   * the library's detection calls CSV (a text or token file evaluated with
   * a CSV-trained model is read as what it is), or for a stream, which
   * cannot be looked at twice (the training data's format is the best
   * guess; --format or --spec say otherwise) */
  if (!in->spec && !in->common && mspec) {
    int seen = is_regular(path) ? detected(path) : -1;
    if (seen < 0 || seen == ESMM_FORMAT_CSV)
      in->spec = mspec;
  }
  /* the format recorded in a trained model: as esmm_dataset_read will
   * decide (cache magic, --common, --spec, the first line) */
  if (is_regular(path) && detected(path) == ESMM_FORMAT_CACHE)
    in->known = ESMM_FORMAT_CACHE;
  else if (in->common)
    in->known = ESMM_FORMAT_ALICCP;
  else if (in->spec)
    in->known = strcmp(in->spec, "tokens") == 0 ? ESMM_FORMAT_TOKENS : ESMM_FORMAT_CSV;
  else if (is_regular(path))
    in->known = detected(path);
  return 0;
}

/* "esmm_dataset_read: x.csv looks like CSV ..." is a usage problem: the
 * spec is missing. Say it with the CLI's option. */
static int csv_without_spec(void) {
  const char *msg = esmm_last_error(), *colon = strstr(msg, ": "), *what, *end;
  what = colon ? colon + 2 : msg;
  end = strstr(what, ", which needs"); /* the library's advice is in C terms */
  return cli_usagef("%.*s:\ngive its column spec with --spec, e.g.\n"
                    "  --spec \"click=click;conversion=purchase;num=D*;cat=*\"   (docs/data.md)",
                    (int)(end ? (size_t)(end - what) : strlen(what)), what);
}

int cli_read_data(const opts *o, const char *path, const esmm_config *cfg, esmm_dataset **out) {
  cli_input in;
  int rc;
  *out = NULL;
  if (o->valid && path == o->valid && strcmp(o->valid, "-") == 0 && o->data && strcmp(o->data, "-") == 0)
    return cli_usage("standard input can be read once: --data and --valid cannot both be -");
  if ((rc = cli_input_of(o, path, cfg, &in)) != 0)
    return rc;
  rc = esmm_dataset_read(out, cfg, path, in.format, in.common, in.spec);
  if (rc == ESMM_EINVAL && strstr(esmm_last_error(), "looks like CSV"))
    return csv_without_spec();
  if (rc && strstr(esmm_last_error(), "is not in the field list")) {
    /* the usual cause: a CSV's id or other string column under cat=* */
    rc = cli_fail("reading data", rc);
    fprintf(stderr, "the model's fields are --set fields=NAME,... (default: the 23 Ali-CCP fields); name a row-id\n"
                    "column with the spec clause id=COL, list the feature columns with cat=COL,..., or\n"
                    "--set unknown_field=ignore to skip columns that are not fields\n");
    return rc;
  }
  return rc ? cli_fail("reading data", rc) : 0;
}

/* ---- the data report ----------------------------------------------------------------- */

static int64_t ds_stat(const esmm_dataset *ds, int key) {
  int64_t v = 0;
  (void)esmm_dataset_stat(ds, key, &v);
  return v;
}

static const char *choice(esmm_opt opt, int64_t v) {
  const char *s = v >= 0 ? esmm_config_option_choice(opt, v) : NULL;
  return s ? s : "unknown";
}

/* Rows skipped by reason, in esmm_skip_reason order. */
static void by_reason(const esmm_data_report *r, int64_t n[4]) {
  n[ESMM_SKIP_MALFORMED] = r->skipped_malformed;
  n[ESMM_SKIP_LABEL] = r->skipped_label;
  n[ESMM_SKIP_MISSING_COMMON] = r->skipped_missing_common;
  n[ESMM_SKIP_CONV_NO_CLICK] = r->skipped_conv_no_click;
}

static void get_report(const esmm_dataset *ds, esmm_data_report *r) {
  memset(r, 0, sizeof *r);
  (void)esmm_dataset_report(ds, r, sizeof *r);
  if (!r->source)
    r->source = "";
  /* datasets made in memory (simulated) read no rows: their rows are all kept */
  if (r->rows_read == 0 && r->rows_kept > 0 && r->conv_no_click_policy < 0)
    r->rows_read = r->rows_kept;
}

/* The warning that no row is dropped or changed silently: rows kept with a
 * conversion but no click. NULL when there is none. */
static const char *cnc_warning(const esmm_data_report *r, char *buf, size_t cap) {
  if (r->conv_no_click_kept <= 0)
    return NULL;
  snprintf(buf, cap,
           "%lld row%s with a conversion but no click, kept as read (--set conv_no_click=zero|drop|error "
           "changes that)",
           (long long)r->conv_no_click_kept, r->conv_no_click_kept == 1 ? "" : "s");
  return buf;
}

void cli_report_data(FILE *f, int json, const char *role, const char *path, const esmm_dataset *ds, int format) {
  esmm_data_report r;
  int64_t skip[4];
  char warn[200];
  const char *w, *fmt = cli_format_name(format);
  get_report(ds, &r);
  by_reason(&r, skip);
  w = cnc_warning(&r, warn, sizeof warn);
  if (json) {
    fprintf(f, "{\"file\":");
    cli_json_str(f, path);
    fprintf(f, ",\"role\":\"%s\",\"format\":", role);
    if (fmt)
      cli_json_str(f, fmt);
    else
      fprintf(f, "null");
    fprintf(f, ",\"source\":");
    cli_json_str(f, r.source);
    fprintf(f,
            ",\"rows\":%lld,\"kept\":%lld,\"clicks\":%lld,\"conversions\":%lld,\"clicked_conversions\":%lld,"
            "\"conv_no_click\":%lld,\"conv_no_click_policy\":",
            (long long)r.rows_read, (long long)r.rows_kept, (long long)r.clicks, (long long)r.conversions,
            (long long)r.clicked_conversions, (long long)r.conv_no_click_read);
    if (r.conv_no_click_policy >= 0)
      fprintf(f, "\"%s\"", choice(ESMM_OPT_DATA_CONV_NO_CLICK, r.conv_no_click_policy));
    else
      fprintf(f, "null");
    fprintf(f, ",\"conv_no_click_kept\":%lld,\"conv_no_click_zeroed\":%lld,\"conv_no_click_skipped\":%lld,"
               "\"on_error\":",
            (long long)r.conv_no_click_kept, (long long)r.conv_no_click_zeroed, (long long)r.conv_no_click_skipped);
    if (r.on_error_policy >= 0)
      fprintf(f, "\"%s\"", choice(ESMM_OPT_DATA_ON_ERROR, r.on_error_policy));
    else
      fprintf(f, "null");
    fprintf(f, ",\"skipped_rows\":%lld,\"skipped\":{", (long long)r.skipped);
    for (int k = 0; k < 4; k++)
      fprintf(f, "%s\"%s\":%lld", k ? "," : "", esmm_skip_reason_name(k), (long long)skip[k]);
    fprintf(f, "},\"messages\":[");
    for (int64_t k = 0; k < r.messages; k++) {
      const char *msg = "";
      (void)esmm_dataset_report_message(ds, (size_t)k, &msg);
      fprintf(f, "%s", k ? "," : "");
      cli_json_str(f, msg);
    }
    fprintf(f, "],\"common_lists\":%lld,\"common_lines\":%lld,\"common_skipped\":%lld,\"features_ignored\":%lld,"
               "\"warnings\":[",
            (long long)r.commons, (long long)r.common_lines, (long long)r.common_skipped,
            (long long)r.features_ignored);
    if (w)
      cli_json_str(f, w);
    fprintf(f, "]}");
    return;
  }
  fprintf(f, "%s data %s", role, strcmp(path, "-") == 0 ? "<stdin>" : path);
  if (format == ESMM_FORMAT_CACHE && r.source[0] && strcmp(r.source, path) != 0)
    fprintf(f, " (a cache of %s)", r.source);
  fprintf(f, ": %lld rows read, %lld kept; %lld clicks, %lld conversions (%lld after a click)", (long long)r.rows_read,
          (long long)r.rows_kept, (long long)r.clicks, (long long)r.conversions, (long long)r.clicked_conversions);
  if (r.commons)
    fprintf(f, "; %lld common lists", (long long)r.commons);
  fprintf(f, "\n");
  if (r.on_error_policy >= 0 || r.conv_no_click_policy >= 0)
    fprintf(f, "  policies: on_error=%s, conv_no_click=%s\n", choice(ESMM_OPT_DATA_ON_ERROR, r.on_error_policy),
            choice(ESMM_OPT_DATA_CONV_NO_CLICK, r.conv_no_click_policy));
  if (r.skipped) {
    int first = 1;
    fprintf(f, "  skipped %lld:", (long long)r.skipped);
    for (int k = 0; k < 4; k++)
      if (skip[k]) {
        fprintf(f, "%s %s %lld", first ? "" : ",", esmm_skip_reason_name(k), (long long)skip[k]);
        first = 0;
      }
    fprintf(f, "\n");
  }
  for (int64_t k = 0; k < r.messages; k++) {
    const char *msg = "";
    (void)esmm_dataset_report_message(ds, (size_t)k, &msg);
    fprintf(f, "    %s\n", msg);
  }
  if (r.messages == ESMM_REPORT_MESSAGES && r.skipped - r.skipped_conv_no_click > r.messages)
    fprintf(f, "    ... (the first %d messages)\n", ESMM_REPORT_MESSAGES);
  if (r.conv_no_click_read)
    fprintf(f, "  conversions without a click: %lld read: %lld kept, %lld zeroed, %lld skipped\n",
            (long long)r.conv_no_click_read, (long long)r.conv_no_click_kept, (long long)r.conv_no_click_zeroed,
            (long long)r.conv_no_click_skipped);
  if (r.common_lines || r.common_skipped)
    fprintf(f, "  common file: %lld rows read, %lld skipped as malformed\n", (long long)r.common_lines,
            (long long)r.common_skipped);
  if (r.features_ignored)
    fprintf(f, "  %lld features of fields outside the field list ignored (unknown_field=ignore)\n",
            (long long)r.features_ignored);
  if (w)
    fprintf(f, "  warning: %s\n", w);
}

/* ---- predict: one line per input row --------------------------------------------------- */

/* A TSV cell: tab, line breaks and backslash escaped, so that a line is a row. */
static void tsv_cell(FILE *f, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '\t')
      fputs("\\t", f);
    else if (c == '\n')
      fputs("\\n", f);
    else if (c == '\r')
      fputs("\\r", f);
    else if (c == '\\')
      fputs("\\\\", f);
    else
      fputc(c, f);
  }
}

static void json_bytes(FILE *f, const char *s, size_t n) {
  fputc('"', f);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

int cli_write_predictions(FILE *f, int json, const esmm_dataset *ds, const float *p, size_t n) {
  int lines = ds_stat(ds, ESMM_DS_ROW_LINES) != 0, ids = ds_stat(ds, ESMM_DS_ROW_IDS) != 0;
  size_t n_skip = (size_t)ds_stat(ds, ESMM_DS_SKIPPED_LISTED), i = 0, k = 0;
  const char *key = lines ? "line" : "row";
  if (!json)
    fprintf(f, "%s\t%spctr\tpcvr\tpctcvr\tskipped\n", key, ids ? "id\t" : "");
  /* kept rows and skipped rows, each in file order: merge by line */
  while (i < n || k < n_skip) {
    int64_t line_i = 0, line_k = 0;
    int reason = 0;
    if (i < n)
      (void)esmm_dataset_row_source(ds, i, &line_i, NULL, NULL);
    if (k < n_skip)
      (void)esmm_dataset_skipped_row(ds, k, &line_k, &reason);
    if (i < n && (k >= n_skip || line_i <= line_k)) {
      const char *id = NULL;
      size_t id_len = 0;
      int64_t at = lines ? line_i : (int64_t)i + 1;
      if (ids)
        (void)esmm_dataset_row_source(ds, i, NULL, &id, &id_len);
      if (json) {
        fprintf(f, "{\"%s\":%lld,", key, (long long)at);
        if (ids) {
          fprintf(f, "\"id\":");
          json_bytes(f, id ? id : "", id_len);
          fprintf(f, ",");
        }
        fprintf(f, "\"pctr\":%.9g,\"pcvr\":%.9g,\"pctcvr\":%.9g}\n", p[i], p[n + i], p[2 * n + i]);
      } else {
        fprintf(f, "%lld\t", (long long)at);
        if (ids) {
          tsv_cell(f, id ? id : "", id_len);
          fputc('\t', f);
        }
        fprintf(f, "%.9g\t%.9g\t%.9g\t\n", p[i], p[n + i], p[2 * n + i]);
      }
      i++;
    } else {
      const char *why = esmm_skip_reason_name(reason);
      if (json)
        fprintf(f, "{\"%s\":%lld,%s\"pctr\":null,\"pcvr\":null,\"pctcvr\":null,\"skipped\":\"%s\"}\n", key,
                (long long)line_k, ids ? "\"id\":null," : "", why ? why : "unknown");
      else
        fprintf(f, "%lld\t%s\t\t\t%s\n", (long long)line_k, ids ? "\t" : "", why ? why : "unknown");
      k++;
    }
  }
  return 0;
}

/* ---- reading with a saved model -------------------------------------------------------- */

/* eval, predict and diagnose read with the model's reader options, because
 * three of them define what the model's inputs and labels mean:
 * unknown_field and feature_values (which features it was trained on, with
 * which weights) and conv_no_click (which label a conversion without a
 * click gets). on_error and max_errors are another kind: they say how much
 * dirt the training data was allowed to have, not what the model means,
 * and a metric over rows dropped without asking is a wrong metric. So
 * those two are not inherited: eval and predict stop at the first bad row
 * (on_error=fail, the library's default) unless --set on_error=skip asks
 * for skipping in this command; the report then counts and lists every
 * skipped row, eval says how many rows it evaluated out of how many were
 * read, and predict writes the skipped rows as lines without a score. */
int cli_model_and_data(const opts *o, esmm_model **m, esmm_config **cfg, esmm_dataset **ds,
                       int64_t *model_on_error_out) {
  esmm_config *hooks = NULL;
  int rc, given = 0;
  *model_on_error_out = ESMM_ON_ERROR_FAIL;
  if ((rc = cli_make_config(o, SET_READ, &hooks)) != 0)
    return rc;
  rc = esmm_model_load(m, o->model, hooks);
  esmm_config_free(hooks);
  if (rc)
    return cli_fail("load", rc);
  if ((rc = esmm_model_config(*m, cfg)) != 0)
    return cli_fail("config", rc);
  (void)esmm_config_get_int(*cfg, ESMM_OPT_DATA_ON_ERROR, model_on_error_out);
  if (esmm_config_set_int(*cfg, ESMM_OPT_DATA_ON_ERROR, ESMM_ON_ERROR_FAIL) != ESMM_OK ||
      esmm_config_set_int(*cfg, ESMM_OPT_DATA_MAX_ERRORS, 0) != ESMM_OK)
    return cli_fail("config", ESMM_EINVAL);
  if ((rc = cli_apply_sets(o, SET_READ, *cfg)) != 0)
    return rc;
  for (int i = 0; i < o->n_cfg; i++)
    given |= strncmp(o->cfg_set[i], "on_error=", 9) == 0;
  rc = cli_read_data(o, o->data, *cfg, ds);
  if (rc == EXIT_LIB && !given && *model_on_error_out == ESMM_ON_ERROR_SKIP)
    fprintf(stderr,
            "note: the model was trained with on_error=skip, which %s does not inherit: --set on_error=skip "
            "skips bad rows here too (counted and listed in the data report)\n",
            o->cmd);
  return rc;
}

void cli_note_policy(FILE *f, const char *cmd, const esmm_dataset *ds, int64_t model_on_error) {
  esmm_data_report r;
  get_report(ds, &r);
  if (model_on_error == ESMM_ON_ERROR_SKIP && r.on_error_policy == ESMM_ON_ERROR_FAIL)
    fprintf(f, "  (the model was trained with on_error=skip; %s reads with on_error=fail unless --set "
               "on_error=skip is given)\n",
            cmd);
}
