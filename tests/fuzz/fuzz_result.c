/* libFuzzer entry point for result ingestion: the bytes of a result file go through the
 * runner's path (hs_json_parse: json-c with NaN and Infinity, then hs_flatten_json, lm-eval
 * files included), and the metrics through the protocol. Checks what every run's metrics
 * must be: unique names of valid UTF-8 within the limits, and a message naming the file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "result.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_metrics(const hs_result *r)
{
    if (r->nmetrics > HS_MAX_METRICS)
        abort();
    for (uint32_t i = 0; i < r->nmetrics; i++) {
        const char *n = r->metric_names[i];
        size_t len = strlen(n);
        if (len == 0 || len > HS_METRIC_NAME_MAX || !hs_utf8_valid(n, len))
            abort();
        for (const char *c = n; *c; c++)
            if ((unsigned char)*c < 0x20)
                abort();
    }
}

/* The metrics survive the trip from worker to master. */
static void check_roundtrip(const hs_result *r)
{
    hs_buf b = { 0 };
    if (hs_proto_pack_result(r, &b) < 0) {
        hs_buf_free(&b);
        return;
    }
    hs_result u;
    hs_error err;
    hs_result_init(&u);
    if (hs_proto_unpack_result(b.data, b.len, &u, &err) < 0 || u.nmetrics != r->nmetrics)
        abort();
    for (uint32_t i = 0; i < r->nmetrics; i++) {
        int k = hs_result_find_metric(&u, r->metric_names[i]);
        if (k < 0 || memcmp(&u.metric_values[k], &r->metric_values[i], sizeof(double)) != 0)
            abort();
    }
    hs_result_clear(&u);
    hs_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_object *doc = NULL;
    hs_error err;
    if (hs_json_parse((const char *)data, size, "fuzz.json", &doc, &err) < 0) {
        if (strncmp(err.text, "fuzz.json", 9) != 0)
            abort(); /* every parse error names the file */
        return 0;
    }
    hs_result r;
    hs_result_init(&r);
    char warning[200];
    int n = hs_flatten_json(doc, &r, warning, sizeof warning, &err);
    if (n < -1 || (n >= 0 && (uint32_t)n < r.nmetrics))
        abort();
    if (!hs_utf8_valid(warning, strlen(warning)) || strchr(warning, '\n'))
        abort();
    check_metrics(&r);
    /* a second file with the same names replaces values and adds no name */
    uint32_t before = r.nmetrics;
    hs_flatten_json(doc, &r, NULL, 0, &err);
    if (r.nmetrics != before && r.nmetrics < HS_MAX_METRICS)
        abort();
    check_roundtrip(&r);
    hs_result_clear(&r);
    json_object_put(doc);
    return 0;
}
