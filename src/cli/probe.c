/* hypersweep probe: run one built-in GPU probe and write its result JSON. The worker runs
 * probe runs through this command in a child process, so a crash or a GPU fault cannot take
 * an MPI rank down. */
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "gpu.h"
#include "table.h"
#include "util.h"

static const hs_cli_opt probe_opts[] = {
    { "device", 'd', required_argument, "DEV", "auto (default), cpu or cuda" },
    { "params", 'p', required_argument, "JSON", "the parameters as one JSON object" },
    { "out", 'o', required_argument, "FILE",
      "write the result here (default: $HYPERSWEEP_RESULT, else stdout)" },
    { "list", 'l', no_argument, NULL, "list the built-in probes" },
    { NULL, 0, 0, NULL, NULL },
};

static int probe_main(int argc, char **argv);

const hs_cli_cmd hs_cmd_probe = {
    .name = "probe",
    .usage = "NAME [--device auto|cpu|cuda] [--params JSON] [--out FILE] [key=value ...]",
    .summary = "Run the built-in probe NAME once and write its result JSON. Parameters come "
               "from --params, else\nfrom key=value arguments (typed: integer, number, "
               "true/false, else string), else from\nthe environment variable "
               "HYPERSWEEP_PARAMS (a JSON object), which the worker sets for every run.",
    .details = "Names starting with '_' are labels: accepted and ignored. The result is written "
               "atomically\n(temporary file, then rename); on failure no result file is "
               "written.\n\nExamples:\n  hypersweep probe --list\n  hypersweep probe prune "
               "profile=qwen method=layerwise taylor_seq_len=64\n  hypersweep probe prune "
               "--params '{\"importance\": \"wanda\", \"sparsity\": 0.5}' --out r.json\n\n"
               "Exit status: 0 ok; 1 the probe failed; 2 bad usage or invalid parameters "
               "(unknown probe,\nunknown, mistyped or out-of-range parameter).\n",
    .opts = probe_opts,
    .main = probe_main,
};

/* "sparsity=0.5" -> sparsity: 0.5. Integers, numbers and true/false are typed, the rest is
 * a string; "nan" and "inf" stay strings, as a grid could not write them as numbers. */
static json_object *typed_value(const char *text)
{
    if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0)
        return json_object_new_boolean(text[0] == 't');
    bool numeric = strpbrk(text, "0123456789") && strchr("+-.0123456789", text[0]) && *text;
    if (numeric) {
        char *end;
        errno = 0;
        long long i = strtoll(text, &end, 10);
        if (*end == '\0' && errno == 0)
            return json_object_new_int64(i);
        double d = strtod(text, &end);
        if (*end == '\0' && isfinite(d))
            return json_object_new_double(d);
    }
    return json_object_new_string(text);
}

static int list_probes(void)
{
    hs_table *t = hs_table_create(2);
    if (!t)
        return HS_EXIT_RUNS_FAILED;
    hs_table_column(t, 0, "probe", HS_LEFT);
    hs_table_column(t, 1, "what it measures", HS_LEFT);
    for (const char *const *n = hs_probe_names(); *n; n++) {
        hs_table_row(t);
        hs_table_set(t, 0, *n);
        hs_table_set(t, 1, hs_probe_summary(*n));
    }
    hs_table_write(t, stdout, HS_TABLE_TEXT, 0);
    hs_table_destroy(t);
    return HS_EXIT_OK;
}

static int probe_fail(int code, const char *fmt, const char *text)
{
    fprintf(stderr, "hypersweep probe: ");
    fprintf(stderr, fmt, text);
    fputc('\n', stderr);
    return code;
}

static int probe_main(int argc, char **argv)
{
    const char *device = "auto", *params_text = NULL, *out_path = NULL;
    bool list = false;
    hs_cli_parser p;
    hs_cli_parser_init(&p, &hs_cmd_probe);
    int c;
    while ((c = hs_cli_next(&p, argc, argv)) != -1) {
        switch (c) {
        case 'd':
            device = optarg;
            break;
        case 'p':
            params_text = optarg;
            break;
        case 'o':
            out_path = optarg;
            break;
        case 'l':
            list = true;
            break;
        case 'h':
            hs_cli_usage(&hs_cmd_probe, stdout);
            return HS_EXIT_OK;
        default:
            return HS_EXIT_USAGE;
        }
    }
    if (list) {
        if (optind != argc)
            return hs_cli_bad_usage(&hs_cmd_probe, "--list takes no probe name or parameters");
        return list_probes();
    }
    if (optind >= argc)
        return hs_cli_bad_usage(&hs_cmd_probe, "expects a probe NAME (see --list)");
    const char *name = argv[optind++];
    if (params_text && optind < argc)
        return hs_cli_bad_usage(&hs_cmd_probe,
                                "give the parameters either as --params JSON or as key=value "
                                "arguments, not both");

    int rc = HS_EXIT_RUNS_FAILED;
    json_object *params = NULL, *result = NULL;
    const char *source = NULL;
    if (optind < argc) {
        params = json_object_new_object();
        for (int i = optind; i < argc; i++) {
            const char *eq = strchr(argv[i], '=');
            if (!eq || eq == argv[i]) {
                json_object_put(params);
                return hs_cli_bad_usage(&hs_cmd_probe, "'%s' is not a key=value parameter",
                                        argv[i]);
            }
            char *key = strndup(argv[i], (size_t)(eq - argv[i]));
            if (!key) {
                json_object_put(params);
                return probe_fail(HS_EXIT_RUNS_FAILED, "%s", "out of memory");
            }
            json_object_object_add(params, key, typed_value(eq + 1));
            free(key);
        }
    } else {
        if (params_text)
            source = "--params";
        else if ((params_text = getenv("HYPERSWEEP_PARAMS")) && *params_text)
            source = "HYPERSWEEP_PARAMS";
        if (source) {
            enum json_tokener_error jerr;
            params = json_tokener_parse_verbose(params_text, &jerr);
            if (!params || !json_object_is_type(params, json_type_object)) {
                char what[160];
                snprintf(what, sizeof what, "%s is not a JSON object (%s)", source,
                         params ? "another JSON value" : json_tokener_error_desc(jerr));
                json_object_put(params);
                return probe_fail(HS_EXIT_USAGE, "%s", what);
            }
        } else {
            params = json_object_new_object();
        }
    }

    hs_error err;
    result = json_object_new_object();
    if (!params || !result) {
        rc = probe_fail(HS_EXIT_RUNS_FAILED, "%s", "out of memory");
        goto cleanup;
    }
    if (hs_probe_run(name, params, device, result, &err) < 0) {
        rc = probe_fail(errno == EINVAL ? HS_EXIT_USAGE : HS_EXIT_RUNS_FAILED, "%s", err.text);
        goto cleanup;
    }
    const char *text = json_object_to_json_string_ext(result, JSON_C_TO_STRING_PRETTY |
                                                                  JSON_C_TO_STRING_NOSLASHESCAPE);
    if (!out_path) {
        out_path = getenv("HYPERSWEEP_RESULT");
        if (out_path && !*out_path)
            out_path = NULL;
    }
    if (out_path) {
        size_t len = strlen(text);
        char *data = malloc(len + 2);
        if (!data) {
            rc = probe_fail(HS_EXIT_RUNS_FAILED, "%s", "out of memory");
            goto cleanup;
        }
        memcpy(data, text, len);
        data[len] = '\n';
        int w = hs_write_file_atomic(out_path, data, len + 1, &err);
        free(data);
        if (w < 0) {
            rc = probe_fail(HS_EXIT_RUNS_FAILED, "%s", err.text);
            goto cleanup;
        }
    } else if (printf("%s\n", text) < 0 || fflush(stdout) != 0) {
        rc = probe_fail(HS_EXIT_RUNS_FAILED, "%s", "cannot write the result to stdout");
        goto cleanup;
    }
    rc = HS_EXIT_OK;
cleanup:
    json_object_put(params);
    json_object_put(result);
    return rc;
}
