/* args.c - the esmm program's options: which command takes which, the
 * help of each, parsing with "did you mean", and the checks of --set keys
 * against what a command uses. Option names and values of the library's
 * config come from the library (esmm_config_option_*), never from a copy. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- the options ------------------------------------------------------------ */

enum {
  O_DATA, O_VALID, O_MODEL, O_OUT, O_COMMON, O_VALID_COMMON, O_SPEC, O_FORMAT, O_CHECKPOINT, O_CHECKPOINT_EVERY,
  O_RESUME, O_INIT, O_LOG, O_CURVE, O_PROGRESS, O_ROWS, O_TEST_ROWS, O_STREAM, O_SET, O_SIM, O_JSON, O_QUIET,
  O_MPI, O_COUNT
};

static const struct {
  const char *name;
  int flag; /* takes no value */
} optdefs[O_COUNT] = {
    [O_DATA] = {"--data", 0},         [O_VALID] = {"--valid", 0},
    [O_MODEL] = {"--model", 0},       [O_OUT] = {"--out", 0},
    [O_COMMON] = {"--common", 0},     [O_VALID_COMMON] = {"--valid-common", 0},
    [O_SPEC] = {"--spec", 0},         [O_FORMAT] = {"--format", 0},
    [O_CHECKPOINT] = {"--checkpoint", 0}, [O_CHECKPOINT_EVERY] = {"--checkpoint-every", 0},
    [O_RESUME] = {"--resume", 0},     [O_INIT] = {"--init", 0},
    [O_LOG] = {"--log", 0},           [O_CURVE] = {"--curve", 0},
    [O_PROGRESS] = {"--progress", 0}, [O_ROWS] = {"--rows", 0},
    [O_TEST_ROWS] = {"--test-rows", 0}, [O_STREAM] = {"--stream", 0},
    [O_SET] = {"--set", 0},           [O_SIM] = {"--sim", 0},
    [O_JSON] = {"--json", 1},         [O_QUIET] = {"--quiet", 1},
    [O_MPI] = {"--mpi", 1},
};

#define END (-1)
#define DATA_OPTS O_DATA, O_COMMON, O_SPEC, O_FORMAT

typedef struct cmdspec {
  const char *name, *summary;
  int set_use; /* -1: the command checks its --set itself */
  int opts[24];
  const char *help;
} cmdspec;

static const cmdspec specs[] = {
    {"demo", "simulate Ali-CCP-shaped data, train, compare with the oracle", SET_TRAIN,
     {O_ROWS, O_TEST_ROWS, O_SET, O_SIM, O_JSON, O_QUIET, END},
     "usage: esmm demo [--rows N] [--test-rows N] [--set KEY=VALUE]... [--sim KEY=VALUE]... [--json]\n"
     "\n"
     "Simulate a training and a test set (Ali-CCP-shaped, 23 fields, known true\n"
     "probabilities), train ESMM, print the test metrics next to the oracle's.\n"
     "\n"
     "  --rows N            training impressions (default 1000000)\n"
     "  --test-rows N       test impressions (default 200000)\n"
     "  --set KEY=VALUE     a model option (esmm help options); the demo uses\n"
     "                      batch_size=512 learning_rate=0.002 unless given\n"
     "  --sim KEY=VALUE     a simulator option (seed, users, items, rows_per_user, ctr,\n"
     "                      cvr, signal, conf_click, conf_conv, ...)\n"
     "  --json              one JSON object instead of the table\n"
     "  --quiet             no progress\n"
     "\n"
     "example: esmm demo --rows 200000 --set epochs=2\n"},
    {"simulate", "write simulated data (text format or the raw Ali-CCP pair)", -1,
     {O_OUT, O_ROWS, O_STREAM, O_SIM, O_FORMAT, O_COMMON, END},
     "usage: esmm simulate --out FILE [--rows N] [--stream S] [--sim KEY=VALUE]...\n"
     "                     [--format text | --format aliccp --common FILE]\n"
     "\n"
     "Write simulated impressions with the 23 Ali-CCP fields.\n"
     "\n"
     "  --out FILE          the file to write (the sample_skeleton file with aliccp)\n"
     "  --rows N            impressions (default 100000)\n"
     "  --stream S          independent draw number: 0 for training, 1 for test, ...\n"
     "  --sim KEY=VALUE     a simulator option (seed, users, ctr, cvr, ...)\n"
     "  --format F          text (default) or aliccp (needs --common)\n"
     "  --common FILE       aliccp: the common_features file to write\n"
     "\n"
     "example: esmm simulate --rows 100000 --stream 0 --out train.txt\n"},
    {"convert", "read a data file once into a binary cache (memory-mapped later)", SET_CONVERT,
     {DATA_OPTS, O_OUT, O_SET, O_JSON, O_QUIET, END},
     "usage: esmm convert --data FILE [--common FILE | --spec SPEC | --format F] --out CACHE\n"
     "                    [--set KEY=VALUE]... [--json] [--quiet]\n"
     "\n"
     "Stream a data file into a binary cache (checksummed, opened in place by\n"
     "train, eval and predict), then print the data report (kept in the cache).\n"
     "\n"
     "  --data FILE         text, Ali-CCP skeleton, CSV or token file; - reads standard input\n"
     "  --common FILE       Ali-CCP: the common_features file\n"
     "  --spec SPEC         CSV column spec, e.g. \"click=click;conversion=purchase;num=D*;cat=*\",\n"
     "                      or \"tokens\" for PaddleRec token lines (docs/data.md)\n"
     "  --format F          text, aliccp, csv or tokens (else detected, also on a pipe)\n"
     "  --out CACHE         the cache to write\n"
     "  --set KEY=VALUE     fields, dense_features and the reader options (on_error,\n"
     "                      max_errors, conv_no_click, unknown_field, feature_values)\n"
     "  --json              the report as one JSON object\n"
     "  --quiet             no report (the conversion's own memory can then be measured)\n"
     "\n"
     "example: esmm convert --data skel.csv --common common.csv --out train.cache\n"},
    {"train", "train a model, with validation, early stopping, checkpoints", SET_TRAIN,
     {DATA_OPTS, O_VALID, O_VALID_COMMON, O_MODEL, O_SET, O_JSON, O_QUIET, O_CHECKPOINT, O_CHECKPOINT_EVERY,
      O_RESUME, O_INIT, O_LOG, O_CURVE, O_PROGRESS, O_MPI, END},
     "usage: esmm train --data FILE --model FILE [--valid FILE] [--set KEY=VALUE]...\n"
     "                  [--checkpoint FILE [--checkpoint-every STEPS]] [--resume FILE | --init MODEL]\n"
     "                  [--log FILE.csv|FILE.json] [--curve FILE.svg] [--progress SECONDS] [--json]\n"
     "\n"
     "Train on --data, evaluate --valid after every epoch (or every eval_every\n"
     "steps), keep the best model by the monitored metric and stop early when it\n"
     "stops improving (patience), save the model to --model.\n"
     "\n"
     "  --data FILE         training data (text, Ali-CCP pair, CSV with --spec, tokens, cache);\n"
     "                      - reads standard input (the format is detected on it too)\n"
     "  --common FILE       Ali-CCP: the common_features file of --data\n"
     "  --spec SPEC         CSV column spec (also used for --valid); remembered by the model\n"
     "  --format F          text, aliccp, csv, tokens or cache (else detected)\n"
     "  --valid FILE        validation data, evaluated at every evaluation point\n"
     "  --valid-common FILE Ali-CCP: the common_features file of --valid\n"
     "  --model FILE        where the model goes; with --valid it is written at every\n"
     "                      new best evaluation, so it always holds the best so far\n"
     "  --set KEY=VALUE     any config option (esmm help options), e.g. epochs=10,\n"
     "                      learning_rate=0.002, batch_size=512, embed_dim=16; the fit\n"
     "                      options eval_every, monitor (default ctcvr_auc), patience\n"
     "                      (0 = never stop early), min_delta, keep_best\n"
     "  --checkpoint FILE   write a checkpoint (model, optimizer, position) to FILE\n"
     "  --checkpoint-every N  every N steps (default 1000; 0 = only at the end and on Ctrl-C)\n"
     "  --resume FILE       continue from a checkpoint. May change: learning_rate, l2, epochs\n"
     "                      (the total to reach), the fit options, the reader options and the\n"
     "                      data files. The others define the saved parameters, optimizer\n"
     "                      state or the steps the checkpoint's position counts, and are refused\n"
     "  --init MODEL        start from a saved model's parameters (warm start, fresh optimizer);\n"
     "                      any option that keeps the parameters' shapes may change\n"
     "  --log FILE          the history, one row per evaluation point (.csv, or .json)\n"
     "  --curve FILE.svg    the training curve: train loss and validation metrics per epoch\n"
     "  --progress SECONDS  when stderr is not a terminal, a progress line every SECONDS\n"
     "                      (default 30; 0 = none); on a terminal, a live bar\n"
     "  --json              one JSON object at the end: data reports, BLAS setup, history, best, model\n"
     "  --quiet             no progress, no epoch lines\n"
#ifdef ESMM_CLI_MPI
     "  --mpi               (esmm-mpi) train data-parallel on the ranks of mpirun: each rank\n"
     "                      reads the same files and trains on its shard (the default)\n"
#endif
     "\n"
     "Hash tables: unless hash_buckets or per-field counts (fields=NAME:BUCKETS,...) are\n"
     "given, each field gets a power of two >= 2 x its distinct ids in --data (at least\n"
     "16, at most 32768, the library default); the first lines of the output say so.\n"
     "\n"
     "Threads: the model trains on every CPU (--set threads=N), each thread calling\n"
     "OpenBLAS single-threaded: esmm sets OPENBLAS_NUM_THREADS=1 (and, on an AVX-512\n"
     "CPU where OpenBLAS picked its AVX2 kernels, OPENBLAS_CORETYPE=SkylakeX) unless\n"
     "you set them, and says so in its first line; ESMM_CLI_KEEP_BLAS=1 leaves OpenBLAS\n"
     "as it loads.\n"
     "\n"
     "example: esmm train --data train.txt --valid valid.txt --model m.esmm \\\n"
     "           --set epochs=10 --set patience=2 --log history.csv --curve curve.svg\n"},
    {"eval", "evaluate a saved model on a data file", SET_READ,
     {O_MODEL, DATA_OPTS, O_SET, O_JSON, O_QUIET, END},
     "usage: esmm eval --model FILE --data FILE [--common FILE | --spec SPEC | --format F]\n"
     "                 [--set KEY=VALUE]... [--json]\n"
     "\n"
     "Print the data report and the metrics of the model on the file: AUCs,\n"
     "log-losses, mean predictions and rates, over the rows evaluated (out of the\n"
     "rows read). The file is read as the model's training data was (its spec, its\n"
     "conv_no_click, unknown_field and feature_values), unless --spec/--format/--set\n"
     "say otherwise; not with its on_error: a bad row stops eval (exit 1, file:line:\n"
     "reason) unless --set on_error=skip is given here. Data without a row or\n"
     "without a click is an error (exit 1).\n"
     "\n"
     "  --model FILE        a model or checkpoint\n"
     "  --data FILE         the data (formats as for train; - reads standard input)\n"
     "  --common, --spec, --format  as for train (default: what the model remembers)\n"
     "  --set KEY=VALUE     reader options (on_error, max_errors, conv_no_click,\n"
     "                      unknown_field, feature_values) and threads\n"
     "  --json              one JSON object: data, metrics\n"
     "  --quiet             the metrics only\n"
     "\n"
     "example: esmm eval --model m.esmm --data test.txt\n"},
    {"predict", "write pCTR, pCVR, pCTCVR for every row", SET_READ,
     {O_MODEL, DATA_OPTS, O_OUT, O_SET, O_JSON, O_QUIET, END},
     "usage: esmm predict --model FILE --data FILE [--out FILE|-] [--set KEY=VALUE]... [--json]\n"
     "\n"
     "Write one line per data row of the input, in input order: line (the row's\n"
     "line in the file), id (with a spec clause id=COL), pctr, pcvr, pctcvr, and\n"
     "skipped: the reason, with empty scores, for a row skipped under\n"
     "--set on_error=skip (TSV with a header, or JSON Lines with --json), so that\n"
     "the output joins back to the input. The data report and the count of rows\n"
     "scored out of rows read go to stderr.\n"
     "\n"
     "  --model FILE        a model or checkpoint\n"
     "  --data FILE         the data (read as the model's training data was, as for\n"
     "                      eval); - reads standard input\n"
     "  --common, --spec, --format  as for train (default: what the model remembers)\n"
     "  --out FILE          the output (default, or -: standard output)\n"
     "  --set KEY=VALUE     reader options and threads, as for eval\n"
     "  --json              JSON Lines: {\"line\":2,\"pctr\":...} per row\n"
     "  --quiet             no report on stderr\n"
     "\n"
     "example: esmm predict --model m.esmm --data test.txt --out scores.tsv\n"},
    {"dump", "show what a model file or checkpoint holds", -1,
     {O_MODEL, O_JSON, END},
     "usage: esmm dump --model FILE [--json]\n"
     "\n"
     "Validate a model file or checkpoint and print its format version, sections,\n"
     "configuration, metadata (how its training data was read, early-stopping\n"
     "state), tensors and, for a checkpoint, the training position.\n"
     "\n"
     "example: esmm dump --model m.esmm\n"},
    {"diagnose", "what does this model's pCVR estimate? (bias test, truths)", -1,
     {O_MODEL, DATA_OPTS, O_ROWS, O_TEST_ROWS, O_SET, O_SIM, O_JSON, O_QUIET, END},
     "usage: esmm diagnose --model FILE --data FILE [--set KEY=VALUE]... [--json]\n"
     "       esmm diagnose [--rows N] [--test-rows N] [--set KEY=VALUE]... [--sim KEY=VALUE]... [--json]\n"
     "\n"
     "ESCM2's bias test (labels only) and, on simulated data, pCVR against each\n"
     "candidate truth (RMSE, bias, calibration, reliability deciles). The second\n"
     "form simulates, trains (any --set model option) and diagnoses.\n"
     "\n"
     "  --model FILE        a model or checkpoint (first form)\n"
     "  --data FILE         its data, read as for eval (the data report first);\n"
     "                      - reads standard input\n"
     "  --common, --spec, --format  as for train (default: what the model remembers)\n"
     "  --rows N, --test-rows N     simulated training and test rows (second form)\n"
     "  --set KEY=VALUE     reader options (first form); any option (second form)\n"
     "  --sim KEY=VALUE     simulator options (second form)\n"
     "  --json              one JSON object\n"
     "  --quiet             no data report\n"
     "\n"
     "example: esmm diagnose --set variant=escm2_ips --sim conf_click=1.5\n"},
    {"experiment", "the variants x confounding x CTR grid (docs/what-pcvr-estimates.md)", -1,
     {O_ROWS, O_TEST_ROWS, O_OUT, O_SET, O_QUIET, END},
     "usage: esmm experiment [--rows N] [--test-rows N] [--out DOC.md] [--set KEY=VALUE]...\n"
     "\n"
     "Train every variant on simulated worlds and write the pCVR experiment's page.\n"
     "Keys: quick=1, seeds=N, workers=N, img=DIR, raw=PATH, from_raw=PATH, and any\n"
     "model option. make experiment runs it; make experiment-quick checks it.\n"
     "\n"
     "example: esmm experiment --set quick=1\n"},
};
#define N_SPECS (sizeof specs / sizeof specs[0])

static const cmdspec *spec_of(const char *cmd) {
  for (size_t i = 0; i < N_SPECS; i++)
    if (strcmp(specs[i].name, cmd) == 0)
      return &specs[i];
  return NULL;
}

static int takes(const cmdspec *c, int id) {
  for (int i = 0; c->opts[i] != END; i++)
    if (c->opts[i] == id)
      return 1;
  return 0;
}

/* ---- messages -------------------------------------------------------------- */

static const char *current_cmd;

int cli_usage(const char *msg) {
  if (msg)
    fprintf(stderr, "esmm%s%s: %s\n", current_cmd ? " " : "", current_cmd ? current_cmd : "", msg);
  fprintf(stderr, "Run 'esmm help%s%s' for the options.\n", current_cmd ? " " : "", current_cmd ? current_cmd : "");
  return EXIT_USAGE;
}

int cli_usagef(const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return cli_usage(msg);
}

static size_t edit_distance(const char *a, const char *b) {
  /* optimal string alignment: insertions, deletions, substitutions and
   * transpositions of neighbours ("trian" -> "train") cost 1 */
  size_t la = strlen(a), lb = strlen(b), pp[65], prev[65], cur[65];
  if (la > 64 || lb > 64)
    return 99;
  for (size_t j = 0; j <= lb; j++)
    prev[j] = pp[j] = j;
  for (size_t i = 1; i <= la; i++) {
    cur[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]), del = prev[j] + 1, ins = cur[j - 1] + 1;
      cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && pp[j - 2] + 1 < cur[j])
        cur[j] = pp[j - 2] + 1;
    }
    memcpy(pp, prev, (lb + 1) * sizeof *pp);
    memcpy(prev, cur, (lb + 1) * sizeof *prev);
  }
  return prev[lb];
}

const char *cli_nearest(const char *s, const char *const *names, size_t n) {
  const char *best = NULL;
  size_t best_d = 99, limit = strlen(s) / 3;
  limit = limit < 1 ? 1 : limit > 3 ? 3 : limit;
  for (size_t i = 0; i < n; i++) {
    size_t d = edit_distance(s, names[i]);
    if (d < best_d) {
      best_d = d;
      best = names[i];
    }
  }
  return best_d <= limit ? best : NULL;
}

/* ---- help -------------------------------------------------------------------- */

int cli_help(const char *cmd) {
  if (cmd) {
    const cmdspec *c = spec_of(cmd);
    if (!c)
      return EXIT_USAGE;
    fputs(c->help, stdout);
    return 0;
  }
  printf("usage: esmm <command> [options]        (esmm help <command>, esmm <command> --help)\n\ncommands:\n");
  for (size_t i = 0; i < N_SPECS; i++)
    printf("  %-11s %s\n", specs[i].name, specs[i].summary);
  printf("  %-11s %s\n", "version", "print the program's and the library's versions");
  printf("  %-11s %s\n", "help", "this list; 'esmm help COMMAND' for a command, 'esmm help options' for --set keys");
  printf("\nData files: the text format, the raw Ali-CCP pair (--common), CSV with a column\n"
         "spec (--spec), PaddleRec token lines (--spec tokens) and binary caches (esmm convert);\n"
         "docs/data.md. Exit codes: 0 ok, 1 library or data error, 2 usage, 3 interrupted.\n");
  return 0;
}

static const char *group_title(int opt) {
  switch (opt / 100) {
  case 1: return "model shape";
  case 2: return "optimizer";
  case 3: return "training";
  case 4: return "execution";
  case 5: return "data readers (also for eval, predict, convert)";
  case 6: return "variants (docs/what-pcvr-estimates.md)";
  case 7: return "fit: evaluation, early stopping, best model (train)";
  case 8: return "distributed training";
  default: return "other";
  }
}

void cli_help_options(void) {
  esmm_opt all[256];
  size_t n = 0;
  esmm_config *def = NULL;
  int group = -1;
  (void)esmm_config_option_list(all, 256, &n);
  (void)esmm_config_new(&def);
  printf("--set KEY=VALUE keys: name, default, range (a message gives the exact bounds); the library's\noption table, documented in include/esmm/config.h:\n");
  for (size_t i = 0; i < n && def; i++) {
    int type = 0;
    char val[96] = "", range[160] = "";
    double lo, hi;
    if ((int)all[i] / 100 != group) {
      group = (int)all[i] / 100;
      printf("\n%s:\n", group_title((int)all[i]));
    }
    (void)esmm_config_option_type(all[i], &type);
    (void)esmm_config_bounds(all[i], &lo, &hi);
    if (type == ESMM_OPT_TYPE_LIST) {
      int64_t v[16];
      size_t k = 0, at = 0;
      (void)esmm_config_get_ints(def, all[i], v, 16, &k);
      for (size_t j = 0; j < k && at < sizeof val; j++)
        at += (size_t)snprintf(val + at, sizeof val - at, "%s%lld", j ? "," : "", (long long)v[j]);
      snprintf(range, sizeof range, "hidden sizes, each %.0f .. %.0f", lo, hi);
    } else if (type == ESMM_OPT_TYPE_FLOAT) {
      double d = 0;
      (void)esmm_config_get_float(def, all[i], &d);
      snprintf(val, sizeof val, "%g", d);
      snprintf(range, sizeof range, "%g .. %g", lo, hi);
    } else {
      int64_t v = 0;
      (void)esmm_config_get_int(def, all[i], &v);
      if (type == ESMM_OPT_TYPE_ENUM) {
        size_t at = 0;
        snprintf(val, sizeof val, "%s", esmm_config_option_choice(all[i], v));
        for (int64_t k = 0; esmm_config_option_choice(all[i], k) && at < sizeof range; k++)
          at += (size_t)snprintf(range + at, sizeof range - at, "%s%s", k ? " | " : "",
                                 esmm_config_option_choice(all[i], k));
      } else {
        snprintf(val, sizeof val, "%lld", (long long)v);
        snprintf(range, sizeof range, "%.0f .. %.0f", lo, hi);
      }
    }
    printf("  %-22s %-12s %s\n", esmm_config_option_name(all[i]), val, range);
  }
  printf("\nfields=NAME[:BUCKETS],...   the field list (default: the 23 Ali-CCP fields)\n");
  esmm_config_free(def);
}

/* ---- parsing ------------------------------------------------------------------ */

static int parse_size(const char *s, size_t *out) {
  char *end;
  unsigned long long v;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno || *end || end == s || s[0] == '-')
    return -1;
  *out = (size_t)v;
  return 0;
}

static int unknown_option(const cmdspec *c, const char *a) {
  const char *names[O_COUNT + 2], *near;
  size_t n = 0;
  for (int i = 0; c->opts[i] != END; i++)
    names[n++] = optdefs[c->opts[i]].name;
  names[n++] = "--help";
  near = cli_nearest(a, names, n);
  for (int id = 0; id < O_COUNT; id++)
    if (strcmp(optdefs[id].name, a) == 0)
      return cli_usagef("%s is not an option of %s", a, c->name);
  if (near)
    return cli_usagef("unknown option %s (did you mean %s?)", a, near);
  return cli_usagef("unknown option %s", a);
}

int cli_parse_args(int argc, char **argv, opts *o) {
  const cmdspec *c = spec_of(argv[1]);
  o->cmd = current_cmd = argv[1];
  /* --help anywhere wins (a value that happens to be "--help" is rare) */
  for (int i = 2; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      cli_help(argv[1]);
      return 1;
    }
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v = NULL, *eq;
    char name[64];
    int id = -1;
    if (strncmp(a, "--", 2) != 0)
      return cli_usagef("unexpected argument \"%s\" (options start with --)", a);
    eq = strchr(a, '=');
    if (eq && (size_t)(eq - a) < sizeof name) { /* --name=value */
      memcpy(name, a, (size_t)(eq - a));
      name[eq - a] = '\0';
      v = eq + 1;
      a = name;
    }
    for (int k = 0; k < O_COUNT; k++)
      if (strcmp(optdefs[k].name, a) == 0 && takes(c, k))
        id = k;
    if (id < 0)
      return unknown_option(c, a);
    if (optdefs[id].flag) {
      if (v)
        return cli_usagef("%s takes no value", a);
      if (id == O_JSON)
        o->json = 1;
      else if (id == O_QUIET)
        o->quiet = 1;
      else
        o->mpi = 1;
      continue;
    }
    if (!v) {
      if (i + 1 >= argc)
        return cli_usagef("%s needs a value", a);
      v = argv[++i];
    }
    switch (id) {
    case O_DATA: o->data = v; break;
    case O_VALID: o->valid = v; break;
    case O_MODEL: o->model = v; break;
    case O_OUT: o->out = v; break;
    case O_COMMON: o->common = v; break;
    case O_VALID_COMMON: o->valid_common = v; break;
    case O_SPEC: o->spec = v; break;
    case O_FORMAT: o->format = v; break;
    case O_CHECKPOINT: o->checkpoint = v; break;
    case O_CHECKPOINT_EVERY: o->checkpoint_every = v; break;
    case O_RESUME: o->resume = v; break;
    case O_INIT: o->init = v; break;
    case O_LOG: o->log = v; break;
    case O_CURVE: o->curve = v; break;
    case O_PROGRESS: o->progress = v; break;
    case O_ROWS:
    case O_TEST_ROWS:
    case O_STREAM: {
      size_t n;
      if (parse_size(v, &n) != 0)
        return cli_usagef("%s needs a non-negative integer, got \"%s\"", a, v);
      if (id == O_ROWS)
        o->rows = n;
      else if (id == O_TEST_ROWS)
        o->test_rows = n;
      else
        o->stream = n;
      break;
    }
    case O_SET:
      if (o->n_cfg == CLI_MAX_SET)
        return cli_usagef("at most %d --set options", CLI_MAX_SET);
      if (c->set_use >= 0) {
        int rc;
        /* train's own keys, kept for scripts written against 1.0 snapshots */
        if (!(strcmp(c->name, "train") == 0 &&
              (strncmp(v, "checkpoint=", 11) == 0 || strncmp(v, "resume=", 7) == 0 ||
               strncmp(v, "checkpoint_every=", 17) == 0)) &&
            (rc = cli_check_set(v, c->set_use)) != 0)
          return rc;
      }
      o->cfg_set[o->n_cfg++] = v;
      break;
    case O_SIM:
      if (o->n_sim == 32)
        return cli_usage("at most 32 --sim options");
      o->sim_set[o->n_sim++] = v;
      break;
    default: break;
    }
  }
  return 0;
}

/* ---- --set keys ------------------------------------------------------------------- */

/* Why a command that reads data with a saved model's config does not take
 * option opt, or NULL when it does. */
static const char *why_not_read(esmm_opt opt) {
  int g = (int)opt / 100;
  if (opt == ESMM_OPT_DENSE_FEATURES)
    return "it comes from the model (the towers' input width)";
  if (opt == ESMM_OPT_NUM_THREADS || (g == 5 && opt != ESMM_OPT_DENSE_FEATURES))
    return NULL;
  return "it is a training option: the model's value, fixed when it was trained, is used "
         "(esmm train --init MODEL --set ... trains a changed copy)";
}

int cli_check_set(const char *kv, int use) {
  esmm_opt all[256], opt;
  const char *names[260], *eq = strchr(kv, '='), *near, *why;
  char key[96];
  size_t n = 0, len = eq ? (size_t)(eq - kv) : 0;
  if (!eq || len == 0 || len >= sizeof key)
    return cli_usagef("--set takes KEY=VALUE, got \"%s\"", kv);
  memcpy(key, kv, len);
  key[len] = '\0';
  if (strcmp(key, "fields") == 0) {
    if (use == SET_READ)
      return cli_usage("--set fields is not accepted here: the field list comes from the model");
    return 0;
  }
  if (esmm_config_option_lookup(key, &opt) != ESMM_OK || strcmp(esmm_config_option_name(opt), key) != 0) {
    (void)esmm_config_option_list(all, 256, &n);
    for (size_t i = 0; i < n; i++)
      names[i] = esmm_config_option_name(all[i]);
    names[n++] = "fields";
    if (esmm_config_option_lookup(key, &opt) == ESMM_OK) /* an enumerator's name */
      return cli_usagef("unknown --set key \"%s\" (did you mean %s?)", key, esmm_config_option_name(opt));
    near = cli_nearest(key, names, n);
    if (near)
      return cli_usagef("unknown --set key \"%s\" (did you mean %s?)", key, near);
    return cli_usagef("unknown --set key \"%s\" (esmm help options lists them)", key);
  }
  if (use == SET_READ && (why = why_not_read(opt)) != NULL)
    return cli_usagef("--set %s is not accepted here: %s", key, why);
  if (use == SET_CONVERT && (int)opt / 100 != 5)
    return cli_usagef("--set %s does not change a conversion (a cache holds rows, not a model); it takes fields, "
                      "dense_features and the reader options", key);
  return 0;
}
