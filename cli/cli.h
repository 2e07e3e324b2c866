/* cli.h - what the commands of the esmm program share: their options and
 * help, error messages in the CLI's words, config/simulator setup, data
 * loading and the per-file data report, progress, metrics printing.
 * The CLI uses libesmm's public API only. */
#ifndef ESMM_CLI_H
#define ESMM_CLI_H

#include <esmm/esmm.h>

#include <stdio.h>

#define EXIT_LIB 1
#define EXIT_USAGE 2
#define EXIT_INTERRUPTED 3

#define CLI_MAX_SET 64

/* The command-line options every command may take (each command accepts
 * only its own: see main.c). */
typedef struct opts {
  const char *cmd; /* the command's name, for messages */
  const char *data, *valid, *model, *out;
  size_t rows, test_rows;
  uint64_t stream;
  int json, quiet;
  const char *cfg_set[CLI_MAX_SET];
  int n_cfg;
  const char *sim_set[32];
  int n_sim;
  /* data inputs (cli_read_data): Ali-CCP common file of --data / --valid,
   * CSV column spec, explicit format */
  const char *common, *valid_common, *spec, *format;
  /* train: --checkpoint FILE, --checkpoint-every N, --resume FILE,
   * --init MODEL, --log FILE (.csv or .json), --curve FILE.svg,
   * --progress SECONDS (a line every N seconds when stderr is no terminal) */
  const char *checkpoint, *checkpoint_every, *resume, *init, *log, *curve, *progress;
  int mpi; /* esmm-mpi: --mpi (accepted, it is the default there) */
} opts;

/* ---- messages ------------------------------------------------------------- */

/* Print "esmm: <what>: <last error, in CLI names> (<status text>)" and
 * return EXIT_LIB. The library's enumerator names (ESMM_OPT_BATCH_SIZE)
 * are shown as the --set keys (--set batch_size). */
int cli_fail(const char *what, int rc);
/* "esmm <cmd>: <msg>" and a pointer to the command's help; EXIT_USAGE. */
int cli_usage(const char *msg);
/* printf-style cli_usage. */
int cli_usagef(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* The closest of names[0..n) to s when close enough to be a typo, else NULL. */
const char *cli_nearest(const char *s, const char *const *names, size_t n);

/* ---- options, help ------------------------------------------------------------ */

/* Parse argv[2..] for command argv[1]; 0, or EXIT_USAGE after a message;
 * 1 when --help/-h was given (help printed). */
int cli_parse_args(int argc, char **argv, opts *o);
/* Help of one command (stdout). 0, or EXIT_USAGE for an unknown command. */
int cli_help(const char *cmd);
/* The config options, by group, from the library's table. */
void cli_help_options(void);

/* How a command uses --set keys (cli_make_config checks them). */
enum {
  SET_TRAIN,   /* every config option (train, demo, diagnose with simulation) */
  SET_READ,    /* reading data with a model's config: the reader options 501..505 and threads */
  SET_CONVERT, /* reading data into a cache: fields, dense_features and the reader options */
};
/* Check one "key=value" of --set against what a command uses. 0 or EXIT_USAGE. */
int cli_check_set(const char *kv, int use);
/* A config with every --set applied (checked against use first). */
int cli_make_config(const opts *o, int use, esmm_config **out);
/* Apply --set to an existing config (checked against use). */
int cli_apply_sets(const opts *o, int use, esmm_config *cfg);
int cli_make_sim(const opts *o, esmm_sim **out);

/* ---- data (data.c) ------------------------------------------------------------- */

/* How one input is read: esmm_dataset_read's arguments, and the format
 * known before reading (explicit, --common, --spec, or what
 * esmm_dataset_detect_format says of a regular file; -1 when only the
 * library's detection on the stream will tell). */
typedef struct cli_input {
  const char *path, *common, *spec;
  int format; /* esmm_format: --format, else ESMM_FORMAT_AUTO */
  int known;  /* esmm_format, or -1 */
} cli_input;

/* The arguments for reading path (o->data or o->valid: their --common /
 * --valid-common; --spec, else the spec the model remembers (cfg's
 * metadata input.format csv/tokens + input.spec); --format). 0, or
 * EXIT_USAGE after a message. */
int cli_input_of(const opts *o, const char *path, const esmm_config *cfg, cli_input *in);
/* Read path ("-": standard input) with cfg's field list and reader options
 * through esmm_dataset_read. 0, EXIT_USAGE (a CSV without a spec, standard
 * input named twice) or EXIT_LIB after a message. */
int cli_read_data(const opts *o, const char *path, const esmm_config *cfg, esmm_dataset **out);
/* "text", "aliccp", "csv", "tokens", "cache"; NULL for any other value. */
const char *cli_format_name(int format);

/* The data report of one input (esmm_dataset_report): rows read, kept,
 * clicks, conversions, conversions without a click and what the policy did
 * with them, rows skipped by reason with the first messages, the policies
 * in force, common lists, features ignored, and a warning for rows kept
 * with a conversion but no click. Text: a short block to f (role: "train",
 * "valid", "eval", ...); JSON: one object (no newline). format: as
 * cli_input.known (-1: unknown). */
void cli_report_data(FILE *f, int json, const char *role, const char *path, const esmm_dataset *ds, int format);

/* predict's output: one line per data row of the input, in input order:
 * "line" (or "row" when the rows know no line), "id" when the rows carry
 * ids (spec clause id=), pctr, pcvr, pctcvr, and "skipped" (the reason,
 * with empty scores, for rows the reader skipped). TSV with a header, or
 * JSON Lines. p holds n pctr, then n pcvr, then n pctcvr. */
int cli_write_predictions(FILE *f, int json, const esmm_dataset *ds, const float *p, size_t n);

/* Load --model and read --data with it (eval, predict, diagnose): the
 * model's config with --set applied, except that on_error and max_errors
 * are not inherited from the model (data.c says why); a read that fails
 * under on_error=fail where the model was trained with skip says how to
 * skip. model_on_error_out: the model's on_error. 0 or EXIT_*; the caller
 * frees what was made either way. */
int cli_model_and_data(const opts *o, esmm_model **m, esmm_config **cfg, esmm_dataset **ds,
                       int64_t *model_on_error_out);
/* Under the report of eval/predict: a line saying that the model was
 * trained with another on_error than the one this read used (nothing when
 * they agree). */
void cli_note_policy(FILE *f, const char *cmd, const esmm_dataset *ds, int64_t model_on_error);

/* ---- training and reports ---------------------------------------------------------- */

double cli_now(void);
/* Train `epochs` epochs with a progress line on a terminal; evaluates
 * `valid` after each epoch when given (demo, diagnose). */
int cli_train_epochs(esmm_model *m, const esmm_dataset *train, const esmm_dataset *valid, int64_t epochs,
                     const opts *o);
void cli_print_json_metrics(FILE *f, const char *key, const double *met);
void cli_print_table(const double *model, const double *oracle);
/* Metrics of the simulator's true probabilities on ds. */
int cli_oracle_metrics(const esmm_dataset *ds, double *met);
/* A JSON string. */
void cli_json_str(FILE *f, const char *s);

/* ---- the BLAS (host.c) ------------------------------------------------------------ */

/* First thing in main: unless the user set them (or ESMM_CLI_KEEP_BLAS=1),
 * put OPENBLAS_NUM_THREADS=1 and, on an AVX-512 CPU where OpenBLAS runs
 * its AVX2 kernels, OPENBLAS_CORETYPE=SkylakeX in the environment and
 * re-execute the program once, so that OpenBLAS loads with them. Returns
 * when nothing needs setting, after the re-exec, or when the exec failed. */
void cli_host_setup(char **argv);
/* The BLAS the program runs with: library, kernels, threads and who set
 * them; with m, the threads the model trains on (ESMM_STAT_THREADS). Text:
 * one line; JSON: one object. */
void cli_report_blas(FILE *f, int json, const esmm_model *m);

/* ---- distributed training (esmm-mpi; cli/mpi.c) ------------------------------------- */

/* Rank and size of this process's group; 0 and 1 outside esmm-mpi or
 * without an MPI launcher. */
int cli_rank(void);
int cli_ranks(void);
/* Join the MPI group (esmm-mpi under mpirun): attach the communicator to
 * m. No-op in a single process. 0 or EXIT_LIB. */
int cli_dist_attach(esmm_model *m);
/* This rank's shard of ds (ds itself in a single process); free it with
 * cli_dist_free_shard. */
int cli_dist_shard(const esmm_dataset *ds, const esmm_dataset **out);
void cli_dist_free_shard(const esmm_dataset *ds, const esmm_dataset *shard);
/* Save (rank 0 writes; collective under MPI). */
int cli_dist_save(const esmm_model *m, const char *path, int checkpoint);
void cli_dist_detach(esmm_model *m);

int cmd_demo(const opts *o);
int cmd_simulate(const opts *o);
int cmd_train(const opts *o);
int cmd_eval(const opts *o);
int cmd_predict(const opts *o);
int cmd_convert(const opts *o);
int cmd_dump(const opts *o);

int cmd_experiment(const opts *o);
int cmd_diagnose(const opts *o);

#endif /* ESMM_CLI_H */
