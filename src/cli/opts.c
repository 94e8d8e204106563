#include <stdarg.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "error.h"
#include "util.h"

void hs_cli_parser_init(hs_cli_parser *p, const hs_cli_cmd *cmd)
{
    memset(p, 0, sizeof *p);
    p->cmd = cmd;
    size_t n = 0, s = 0;
    p->shorts[s++] = ':';
    for (const hs_cli_opt *o = cmd->opts; o && o->name && n < 62; o++, n++) {
        p->longs[n] = (struct option){ o->name, o->has_arg, NULL, o->key };
        if (o->key < 256) {
            p->shorts[s++] = (char)o->key;
            if (o->has_arg == required_argument)
                p->shorts[s++] = ':';
        }
    }
    p->longs[n++] = (struct option){ "help", no_argument, NULL, 'h' };
    p->longs[n] = (struct option){ 0, 0, 0, 0 };
    p->shorts[s++] = 'h';
    p->shorts[s] = '\0';
    optind = 1;
    opterr = 0;
}

int hs_cli_next(hs_cli_parser *p, int argc, char **argv)
{
    int c = getopt_long(argc, argv, p->shorts, p->longs, NULL);
    if (c == '?') {
        if (optopt && optopt < 256)
            hs_cli_bad_usage(p->cmd, "unknown option -%c", optopt);
        else
            hs_cli_bad_usage(p->cmd, "unknown option %s", argv[optind - 1]);
        return '?';
    }
    if (c == ':') {
        hs_cli_bad_usage(p->cmd, "option %s needs a value", argv[optind - 1]);
        return '?';
    }
    return c;
}

void hs_cli_usage(const hs_cli_cmd *cmd, FILE *out)
{
    fprintf(out, "Usage: hypersweep %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->summary);
    fprintf(out, "\nOptions:\n");
    for (const hs_cli_opt *o = cmd->opts; o && o->name; o++) {
        char left[96];
        if (o->key < 256)
            snprintf(left, sizeof left, "-%c, --%s%s%s", o->key, o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
        else
            snprintf(left, sizeof left, "    --%s%s%s", o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
        fprintf(out, "  %-30s %s\n", left, o->help);
    }
    fprintf(out, "  %-30s %s\n", "-h, --help", "show this help");
    if (cmd->details)
        fprintf(out, "\n%s", cmd->details);
}

int hs_cli_bad_usage(const hs_cli_cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "hypersweep %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'hypersweep %s --help'.\n", cmd->name);
    return HS_EXIT_USAGE;
}

int hs_cli_sweep_paths(const char *sweep_name, const char *dir_opt, const char *store_opt,
                       int shard_index, int shard_count, char **dir, char **store)
{
    hs_buf dirb = { 0 }, storeb = { 0 };
    if (dir_opt)
        hs_buf_puts(&dirb, dir_opt);
    else
        hs_buf_printf(&dirb, "sweeps/%s", sweep_name);
    *dir = hs_path_absolute(hs_buf_str(&dirb));
    if (store_opt)
        hs_buf_puts(&storeb, store_opt);
    else if (shard_count)
        hs_buf_printf(&storeb, "%s/shards/%s.shard-%d-of-%d.h5", *dir ? *dir : "", sweep_name,
                      shard_index, shard_count);
    else
        hs_buf_printf(&storeb, "%s/sweep.h5", *dir ? *dir : "");
    *store = hs_path_absolute(hs_buf_str(&storeb));
    hs_buf_free(&dirb);
    hs_buf_free(&storeb);
    return *dir && *store ? 0 : -1;
}
