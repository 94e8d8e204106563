#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu.h"
#include "kvcache.h"
#include "probes.h"
#include "prune.h"
#include "weightquant.h"

/* Each probe adds its line here; its entry point lives in its own file. */
static const hs_probe_entry probe_table[] = {
    { "prune",
      "calibration-budget pruning proxy: residual MLP stack, magnitude/wanda/Taylor importance, "
      "global/layerwise/blockwise allocation, fidelity on held-out tokens",
      prune_probe_run },
    { "kvcache", "KV-cache compression (fp16, KIVI, KVQuant, FORGE): attention error, passkey",
      hs_probe_kvcache },
    { "weightquant", "weight quantization (fp16, RTN, AWQ, GPTQ): weight and output error",
      hs_probe_weightquant },
    { NULL, NULL, NULL },
};

const char *const *hs_probe_names(void)
{
    static const char *names[sizeof probe_table / sizeof probe_table[0]];
    size_t n = 0;
    for (const hs_probe_entry *e = probe_table; e->name; e++)
        names[n++] = e->name;
    names[n] = NULL;
    return names;
}

const char *hs_probe_summary(const char *name)
{
    for (const hs_probe_entry *e = probe_table; e->name; e++)
        if (strcmp(e->name, name) == 0)
            return e->summary;
    return NULL;
}

int hs_probe_run(const char *name, json_object *params, const char *device, json_object *result,
                 hs_error *err)
{
    const hs_probe_entry *entry = NULL;
    for (const hs_probe_entry *e = probe_table; e->name; e++)
        if (strcmp(e->name, name) == 0)
            entry = e;
    if (!entry) {
        char list[256] = "";
        for (const hs_probe_entry *e = probe_table; e->name; e++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                     e == probe_table ? "" : ", ", e->name);
        hs_err(err, "unknown probe '%s' (built-in probes: %s)", name, list);
        errno = EINVAL;
        return -1;
    }
    bool use_cuda;
    if (!device || strcmp(device, "auto") == 0) {
        hs_gpu_device *devs = NULL;
        use_cuda = hs_gpu_built_with_cuda() && hs_gpu_list(&devs, NULL) > 0;
        free(devs);
    } else if (strcmp(device, "cpu") == 0) {
        use_cuda = false;
    } else if (strcmp(device, "cuda") == 0) {
        hs_gpu_device *devs = NULL;
        if (!hs_gpu_built_with_cuda()) {
            hs_err(err, "device = \"cuda\", but this hypersweep was built without CUDA");
            errno = EIO;
            return -1;
        }
        int n = hs_gpu_list(&devs, err);
        free(devs);
        if (n == 0)
            hs_err(err, "device = \"cuda\", but no GPU is visible (CUDA_VISIBLE_DEVICES=%s)",
                   getenv("CUDA_VISIBLE_DEVICES") ? getenv("CUDA_VISIBLE_DEVICES") : "unset");
        if (n <= 0) {
            errno = EIO; /* the machine, not the configuration */
            return -1;
        }
        use_cuda = true;
    } else {
        hs_err(err, "device must be auto, cpu or cuda, not '%s'", device);
        errno = EINVAL;
        return -1;
    }
    hs_params_take_invalid();
    if (entry->run(params, use_cuda, result, err) < 0) {
        hs_err_prefix(err, "probe %s", name);
        errno = hs_params_take_invalid() ? EINVAL : EIO;
        return -1;
    }
    if (!json_object_object_get_ex(result, "device", NULL))
        json_object_object_add(result, "device", json_object_new_string(use_cuda ? "cuda" : "cpu"));
    if (!json_object_object_get_ex(result, "warnings", NULL))
        json_object_object_add(result, "warnings", json_object_new_array());
    return 0;
}
