/* cli.h - what the commands of the esmm CLI share: options, error
 * reporting, config/simulator setup, data loading, progress and reports.
 * The CLI uses libesmm's public API only. */
#ifndef ESMM_CLI_H
#define ESMM_CLI_H

#include <esmm/esmm.h>

#include <stdio.h>

#define EXIT_LIB 1
#define EXIT_USAGE 2
#define EXIT_INTERRUPTED 3

typedef struct opts {
  const char *data, *valid, *model, *out;
  size_t rows, test_rows;
  uint64_t stream;
  int json, quiet;
  const char *cfg_set[64];
  int n_cfg;
  const char *sim_set[32];
  int n_sim;
  /* data inputs (cli_read_data): Ali-CCP common file of --data / --valid,
   * CSV column spec, explicit format, cache of --data */
  const char *common, *valid_common, *spec, *format;
  /* train: --checkpoint FILE, --checkpoint-every N, --resume FILE */
  const char *checkpoint, *checkpoint_every, *resume;
} opts;

/* Print "esmm: <what>: <last error> (<status text>)" and return EXIT_LIB. */
int cli_fail(const char *what, int rc);
int cli_usage(const char *msg);
int cli_parse_args(int argc, char **argv, opts *o);
int cli_make_config(const opts *o, esmm_config **out);
int cli_make_sim(const opts *o, esmm_sim **out);
/* Load a dataset file with cfg's field list. The format follows the parsed
 * options: --common (Ali-CCP pair) / --spec (CSV) / --format, else the cache
 * magic or the file's first line (see cli.c: detect_format). */
int cli_read_data(const char *path, const esmm_config *cfg, esmm_dataset **out);
const char *cli_detect_format(const char *path, const char *common, const char *spec, const char *format);
double cli_now(void);
/* Train `epochs` epochs with a progress line on a terminal; evaluates
 * `valid` after each epoch when given. */
int cli_train_epochs(esmm_model *m, const esmm_dataset *train, const esmm_dataset *valid, int64_t epochs,
                     const opts *o);
void cli_print_json_metrics(FILE *f, const char *key, const double *met);
void cli_print_table(const double *model, const double *oracle);
/* Metrics of the simulator's true probabilities on ds. */
int cli_oracle_metrics(const esmm_dataset *ds, double *met);

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
