#include "bind.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu.h"

#define MAX_TOKENS 256

static int split_tokens(const char *list, char tokens[][96], int max)
{
    int n = 0;
    const char *p = list;
    while (*p && n < max) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len && (*p == ' ')) {
            p++;
            len--;
        }
        while (len && p[len - 1] == ' ')
            len--;
        if (len > 0 && len < 96) {
            memcpy(tokens[n], p, len);
            tokens[n][len] = '\0';
            n++;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    return n;
}

int hs_gpu_bind(int local_rank, int local_workers, int gpus_per_node, bool share, hs_binding *out,
                hs_error *err)
{
    static char tokens[MAX_TOKENS][96];
    memset(out, 0, sizeof *out);
    out->slot = -1;
    const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
    hs_gpu_device *devs = NULL;
    int ndev = hs_gpu_list(&devs, err);
    if (ndev < 0)
        return -1;
    int n;
    const char *source;
    if (cvd) {
        n = split_tokens(cvd, tokens, MAX_TOKENS);
        source = "CUDA_VISIBLE_DEVICES";
        if (gpus_per_node >= 0) {
            if (gpus_per_node > n) {
                free(devs);
                return hs_err(err, "--gpus-per-node %d, but CUDA_VISIBLE_DEVICES=%s lists only %d",
                              gpus_per_node, cvd, n);
            }
            n = gpus_per_node;
        }
    } else if (gpus_per_node >= 0) {
        n = gpus_per_node > MAX_TOKENS ? MAX_TOKENS : gpus_per_node;
        for (int i = 0; i < n; i++)
            snprintf(tokens[i], sizeof tokens[i], "%d", i);
        source = "--gpus-per-node";
    } else {
        n = ndev > MAX_TOKENS ? MAX_TOKENS : ndev;
        for (int i = 0; i < n; i++)
            snprintf(tokens[i], sizeof tokens[i], "%d", i);
        source = "discovery";
    }
    out->ngpus = n;
    if (n == 0) {
        free(devs);
        return 0; /* a node without GPUs: runs get CUDA_VISIBLE_DEVICES= */
    }
    if (local_workers > n && !share) {
        char host[256] = "?";
        gethostname(host, sizeof host);
        free(devs);
        return hs_err(err,
                      "node %s offers %d GPU%s (%s) but runs %d workers on it: start at most %d "
                      "worker rank%s per node, or pass --share-gpus to let workers share GPUs",
                      host, n, n == 1 ? "" : "s", source, local_workers, n, n == 1 ? "" : "s");
    }
    out->has_gpu = true;
    out->slot = local_rank % n;
    out->shared = local_workers > n;
    snprintf(out->visible, sizeof out->visible, "%s", tokens[out->slot]);
    /* hs_gpu_list reports visible devices in CUDA_VISIBLE_DEVICES order, so slot k is
     * ordinal k when the tokens come from that list or from discovery. */
    if (out->slot < ndev) {
        snprintf(out->name, sizeof out->name, "%s", devs[out->slot].name);
        snprintf(out->uuid, sizeof out->uuid, "%s", devs[out->slot].uuid);
    }
    snprintf(out->telemetry_id, sizeof out->telemetry_id, "%s",
             out->uuid[0] ? out->uuid : out->visible);
    free(devs);
    return 0;
}
