/* esmm - the command-line program of libesmm (public API only).
 *
 *   esmm help [COMMAND | options]     esmm COMMAND --help
 *   esmm demo | simulate | convert | train | eval | predict | dump |
 *        diagnose | experiment | version
 *
 * Before anything else the program sets up the BLAS for the library's
 * training threads and may re-execute itself once for that (host.c;
 * ESMM_CLI_KEEP_BLAS=1 opts out).
 *
 * Each command accepts only the options it uses (args.c). Exit codes: 0
 * success, 1 the library reported an error, 2 bad usage, 3 training was
 * interrupted by the user. */
#include "cli.h"

#include <string.h>

typedef struct command {
  const char *name;
  int (*run)(const opts *o);
} command;

static const command commands[] = {
    {"demo", cmd_demo},       {"simulate", cmd_simulate}, {"convert", cmd_convert},
    {"train", cmd_train},     {"eval", cmd_eval},         {"predict", cmd_predict},
    {"dump", cmd_dump},       {"diagnose", cmd_diagnose}, {"experiment", cmd_experiment},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static int version(void) {
  printf("esmm %s (libesmm %s)%s\n", ESMM_VERSION_STRING, esmm_version_string(),
#ifdef ESMM_CLI_MPI
         ", Open MPI data-parallel training"
#else
         ""
#endif
  );
  cli_report_blas(stdout, 0, NULL);
  return 0;
}

static int unknown_command(const char *name) {
  static const char *names[N_COMMANDS + 2];
  const char *near;
  for (size_t i = 0; i < N_COMMANDS; i++)
    names[i] = commands[i].name;
  names[N_COMMANDS] = "help";
  names[N_COMMANDS + 1] = "version";
  near = cli_nearest(name, names, N_COMMANDS + 2);
  if (near)
    fprintf(stderr, "esmm: unknown command \"%s\" (did you mean %s?)\n", name, near);
  else
    fprintf(stderr, "esmm: unknown command \"%s\"\n", name);
  fprintf(stderr, "Run 'esmm help' for the list of commands.\n");
  return EXIT_USAGE;
}

int main(int argc, char **argv) {
  opts o;
  int rc;
  memset(&o, 0, sizeof o);
  if (argc < 2) {
    cli_help(NULL);
    return EXIT_USAGE;
  }
  if (strcmp(argv[1], "help") != 0 && strcmp(argv[1], "--help") != 0 && strcmp(argv[1], "-h") != 0)
    cli_host_setup(argv); /* may re-execute the program with the BLAS settings (host.c) */
  if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0)
    return version();
  if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    if (argc > 2 && strcmp(argv[2], "options") == 0) {
      cli_help_options();
      return 0;
    }
    if (argc > 2) {
      for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(argv[2], commands[i].name) == 0)
          return cli_help(argv[2]);
      return unknown_command(argv[2]);
    }
    return cli_help(NULL);
  }
  for (size_t i = 0; i < N_COMMANDS; i++)
    if (strcmp(argv[1], commands[i].name) == 0) {
      if ((rc = cli_parse_args(argc, argv, &o)) != 0)
        return rc == 1 ? 0 : rc;
      return commands[i].run(&o);
    }
  return unknown_command(argv[1]);
}
