/* esmm - command-line host of libesmm (uses the public API only).
 *
 *   esmm demo      simulate, train, evaluate next to the oracle
 *   esmm simulate  write a simulated set in the text format
 *   esmm train     train on a data file, save a model
 *   esmm eval      evaluate a saved model on a data file
 *   esmm predict   write pCTR pCVR pCTCVR per row
 *   esmm version
 *
 * Exit codes: 0 success, 1 the library reported an error, 2 bad usage,
 * 3 training was interrupted by the user. */
#include "cli.h"

#include <string.h>

typedef struct command {
  const char *name;
  int (*run)(const opts *o);
} command;

static const command commands[] = {
    {"demo", cmd_demo},   {"simulate", cmd_simulate}, {"train", cmd_train},
    {"eval", cmd_eval},   {"predict", cmd_predict},
    {"convert", cmd_convert},
    {"dump", cmd_dump},
    {"experiment", cmd_experiment},
    {"diagnose", cmd_diagnose},
};

int main(int argc, char **argv) {
  opts o;
  memset(&o, 0, sizeof o);
  if (argc < 2)
    return cli_usage(NULL);
  if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
    printf("esmm %s (libesmm %s)\n", ESMM_VERSION_STRING, esmm_version_string());
    return 0;
  }
  if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
    cli_usage(NULL);
    return 0;
  }
  if (cli_parse_args(argc, argv, &o) != 0)
    return cli_usage(NULL);
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(argv[1], commands[i].name) == 0)
      return commands[i].run(&o);
  return cli_usage("unknown command");
}
