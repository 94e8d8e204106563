/* Subcommands of the hypersweep binary. Each takes argc/argv after the subcommand name
 * and returns the process exit code (HS_EXIT_*). Shared option handling: a table of
 * options drives getopt_long and the --help text. */
#ifndef HS_CLI_H
#define HS_CLI_H

#include <getopt.h>
#include <stdio.h>

typedef struct hs_cli_opt {
    const char *name; /* long name */
    int key;          /* short letter or a code >= 256 */
    int has_arg;      /* no_argument / required_argument */
    const char *arg;  /* argument name for the help text */
    const char *help;
} hs_cli_opt;

typedef struct hs_cli_cmd {
    const char *name;
    const char *usage;   /* "GRID [options]" */
    const char *summary; /* one line */
    const char *details; /* printed after the options; may be NULL */
    const hs_cli_opt *opts;
    int (*main)(int argc, char **argv);
} hs_cli_cmd;

/* Build a getopt_long table and short-option string from opts (terminated by name NULL).
 * "help" (h) is always added. Returns the next option key, -1 at the end, '?' on error
 * (after printing a message). Call with the same state until -1. */
typedef struct hs_cli_parser {
    const hs_cli_cmd *cmd;
    struct option longs[64];
    char shorts[128];
} hs_cli_parser;

void hs_cli_parser_init(hs_cli_parser *p, const hs_cli_cmd *cmd);
int hs_cli_next(hs_cli_parser *p, int argc, char **argv);
void hs_cli_usage(const hs_cli_cmd *cmd, FILE *out);

/* Prints "hypersweep CMD: message" and a hint to --help; returns HS_EXIT_USAGE. */
int hs_cli_bad_usage(const hs_cli_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The sweep directory and the store that `run` (and `rebuild`) use, both absolute: DIR
 * (default sweeps/NAME) and STORE (default DIR/sweep.h5; for a shard,
 * DIR/shards/NAME.shard-I-of-N.h5). The caller frees both. -1 when out of memory. */
int hs_cli_sweep_paths(const char *sweep_name, const char *dir_opt, const char *store_opt,
                       int shard_index, int shard_count, char **dir, char **store);

extern const hs_cli_cmd hs_cmd_expand;
extern const hs_cli_cmd hs_cmd_run;
extern const hs_cli_cmd hs_cmd_status;
extern const hs_cli_cmd hs_cmd_export;
extern const hs_cli_cmd hs_cmd_merge;
extern const hs_cli_cmd hs_cmd_preflight;
extern const hs_cli_cmd hs_cmd_probe;
extern const hs_cli_cmd hs_cmd_rebuild;

#endif
