#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "quant.h"
#include "safetensors.h"
#include "util.h"

/* The reference implementation refuses headers above 100 MB. */
#define ST_MAX_HEADER (100u * 1000u * 1000u)

typedef struct st_entry {
    char *name;
    const char *dtype;
    size_t esize;
    size_t shape[HS_SAFETENSORS_MAX_DIMS];
    int ndim;
    uint64_t begin, end;
} st_entry;

struct hs_safetensors {
    char *path;
    FILE *f;
    uint64_t data_start, data_size;
    st_entry *e;
    size_t n;
};

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    { "BOOL", 1 }, { "U8", 1 },  { "I8", 1 },  { "F8_E5M2", 1 }, { "F8_E4M3", 1 },
    { "I16", 2 },  { "U16", 2 }, { "F16", 2 }, { "BF16", 2 },    { "I32", 4 },
    { "U32", 4 },  { "F32", 4 }, { "F64", 8 }, { "I64", 8 },     { "U64", 8 },
};

void hs_safetensors_close(hs_safetensors *st)
{
    if (!st)
        return;
    if (st->f)
        fclose(st->f);
    for (size_t i = 0; i < st->n; i++)
        free(st->e[i].name);
    free(st->e);
    free(st->path);
    free(st);
}

static int cmp_begin(const void *a, const void *b)
{
    const st_entry *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* A non-negative JSON integer (not a float, not a string). */
static int get_u64(json_object *v, uint64_t *out)
{
    if (!json_object_is_type(v, json_type_int))
        return -1;
    errno = 0;
    int64_t x = json_object_get_int64(v);
    if (x < 0 || errno)
        return -1;
    *out = (uint64_t)x;
    return 0;
}

static int parse_entry(hs_safetensors *st, const char *name, json_object *o, st_entry *e,
                       hs_error *err)
{
    const char *p = st->path;
    json_object *dt, *shape, *offs;
    if (!json_object_is_type(o, json_type_object))
        return hs_err(err, "%s: header entry '%s' is not an object", p, name);
    if (!json_object_object_get_ex(o, "dtype", &dt) || !json_object_is_type(dt, json_type_string))
        return hs_err(err, "%s: tensor '%s' has no dtype string", p, name);
    if (!json_object_object_get_ex(o, "shape", &shape) ||
        !json_object_is_type(shape, json_type_array))
        return hs_err(err, "%s: tensor '%s' has no shape array", p, name);
    if (!json_object_object_get_ex(o, "data_offsets", &offs) ||
        !json_object_is_type(offs, json_type_array) || json_object_array_length(offs) != 2)
        return hs_err(err, "%s: tensor '%s' needs data_offsets = [begin, end]", p, name);
    const char *dts = json_object_get_string(dt);
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtypes[i].name, dts) == 0) {
            e->dtype = dtypes[i].name;
            e->esize = dtypes[i].size;
        }
    if (!e->dtype)
        return hs_err(err, "%s: tensor '%s' has unknown dtype \"%s\"", p, name, dts);
    size_t nd = json_object_array_length(shape);
    if (nd > HS_SAFETENSORS_MAX_DIMS)
        return hs_err(err, "%s: tensor '%s' has %zu dimensions (at most %d)", p, name, nd,
                      HS_SAFETENSORS_MAX_DIMS);
    e->ndim = (int)nd;
    uint64_t count = 1;
    for (size_t i = 0; i < nd; i++) {
        uint64_t dim;
        if (get_u64(json_object_array_get_idx(shape, i), &dim) < 0)
            return hs_err(err, "%s: tensor '%s': shape[%zu] = %s is not a non-negative integer", p,
                          name, i, json_object_to_json_string(json_object_array_get_idx(shape, i)));
        if (dim && count > UINT64_MAX / dim)
            return hs_err(err, "%s: tensor '%s': the shape's element count overflows", p, name);
        count *= dim;
        e->shape[i] = (size_t)dim;
    }
    if (get_u64(json_object_array_get_idx(offs, 0), &e->begin) < 0 ||
        get_u64(json_object_array_get_idx(offs, 1), &e->end) < 0)
        return hs_err(err, "%s: tensor '%s': data_offsets %s are not non-negative integers", p,
                      name, json_object_to_json_string(offs));
    if (e->end < e->begin)
        return hs_err(err, "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin", p,
                      name, (unsigned long long)e->begin, (unsigned long long)e->end);
    if (e->end > st->data_size)
        return hs_err(err,
                      "%s: tensor '%s': data_offsets [%llu, %llu] run past the data section "
                      "(%llu bytes): the header lies or the file is truncated",
                      p, name, (unsigned long long)e->begin, (unsigned long long)e->end,
                      (unsigned long long)st->data_size);
    if (count > UINT64_MAX / e->esize || e->end - e->begin != count * e->esize)
        return hs_err(err,
                      "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, but shape x "
                      "%s size is %llu x %zu bytes",
                      p, name, (unsigned long long)e->begin, (unsigned long long)e->end,
                      (unsigned long long)(e->end - e->begin), e->dtype, (unsigned long long)count,
                      e->esize);
    if (!(e->name = strdup(name)))
        return hs_err(err, "%s: out of memory", p);
    return 0;
}

static int parse_header(hs_safetensors *st, const char *text, size_t len, hs_error *err)
{
    const char *p = st->path;
    int rc = -1;
    json_tokener *tok = json_tokener_new();
    json_object *root = NULL;
    if (!tok)
        return hs_err(err, "%s: out of memory", p);
    if (!hs_utf8_valid(text, len)) {
        hs_err(err, "%s: the header is not valid UTF-8", p);
        goto done;
    }
    if (len == 0 || text[0] != '{') {
        hs_err(err, "%s: the header does not start with '{' (not a safetensors file?)", p);
        goto done;
    }
    root = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    if (!root || jerr != json_tokener_success) {
        hs_err(err, "%s: the %zu-byte header is not complete JSON (%s)", p, len,
               jerr == json_tokener_continue ? "it ends early" : json_tokener_error_desc(jerr));
        goto done;
    }
    for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
        if (text[i] != ' ' && text[i] != '\n' && text[i] != '\t' && text[i] != '\r') {
            hs_err(err, "%s: bytes after the header's JSON object (at header byte %zu)", p, i);
            goto done;
        }
    if (!json_object_is_type(root, json_type_object)) {
        hs_err(err, "%s: the header is not a JSON object", p);
        goto done;
    }
    size_t cap = (size_t)json_object_object_length(root);
    st->e = calloc(cap ? cap : 1, sizeof *st->e);
    if (!st->e) {
        hs_err(err, "%s: out of memory", p);
        goto done;
    }
    json_object_object_foreach(root, key, val)
    {
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_object_is_type(val, json_type_object)) {
                hs_err(err, "%s: __metadata__ is not an object", p);
                goto done;
            }
            json_object_object_foreach(val, mk, mv)
            {
                if (!json_object_is_type(mv, json_type_string)) {
                    hs_err(err, "%s: __metadata__.%s is not a string", p, mk);
                    goto done;
                }
            }
            continue;
        }
        if (parse_entry(st, key, val, &st->e[st->n], err) < 0)
            goto done;
        st->n++;
    }
    /* The tensors must tile the data section: sorted by offset, each starting where the
     * previous one ended, the last ending at the end of the file. */
    st_entry *sorted = malloc((st->n ? st->n : 1) * sizeof *sorted);
    if (!sorted) {
        hs_err(err, "%s: out of memory", p);
        goto done;
    }
    memcpy(sorted, st->e, st->n * sizeof *sorted);
    qsort(sorted, st->n, sizeof *sorted, cmp_begin);
    uint64_t at = 0;
    for (size_t i = 0; i < st->n; i++) {
        if (sorted[i].begin < at) {
            hs_err(err, "%s: tensor '%s' [%llu, %llu) overlaps tensor '%s' [%llu, %llu)", p,
                   sorted[i].name, (unsigned long long)sorted[i].begin,
                   (unsigned long long)sorted[i].end, sorted[i - 1].name,
                   (unsigned long long)sorted[i - 1].begin, (unsigned long long)sorted[i - 1].end);
            free(sorted);
            goto done;
        }
        if (sorted[i].begin > at) {
            hs_err(err, "%s: %llu unreferenced bytes before tensor '%s' at data offset %llu", p,
                   (unsigned long long)(sorted[i].begin - at), sorted[i].name,
                   (unsigned long long)at);
            free(sorted);
            goto done;
        }
        at = sorted[i].end;
    }
    free(sorted);
    if (at != st->data_size) {
        hs_err(err,
               "%s: the tensors cover %llu bytes of the %llu-byte data section (trailing bytes, "
               "or a header that lies)",
               p, (unsigned long long)at, (unsigned long long)st->data_size);
        goto done;
    }
    rc = 0;
done:
    json_object_put(root);
    json_tokener_free(tok);
    return rc;
}

hs_safetensors *hs_safetensors_open(const char *path, hs_error *err)
{
    hs_safetensors *st = calloc(1, sizeof *st);
    char *header = NULL;
    if (!st || !(st->path = strdup(path))) {
        hs_err(err, "%s: out of memory", path);
        goto fail;
    }
    if (!(st->f = fopen(path, "rb"))) {
        hs_err_errno(err, "cannot open safetensors file %s", path);
        goto fail;
    }
    struct stat sb;
    if (fstat(fileno(st->f), &sb) < 0) {
        hs_err_errno(err, "%s: stat", path);
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        hs_err(err, "%s: not a regular file", path);
        goto fail;
    }
    uint64_t size = (uint64_t)sb.st_size;
    unsigned char lenb[8];
    if (size < 8 || fread(lenb, 1, 8, st->f) != 8) {
        hs_err(err, "%s: truncated: %llu bytes, shorter than the 8-byte header length", path,
               (unsigned long long)size);
        goto fail;
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | lenb[i];
    if (n > size - 8) {
        hs_err(err,
               "%s: header length %llu runs past the end of the file (%llu bytes): truncated, "
               "or not a safetensors file",
               path, (unsigned long long)n, (unsigned long long)size);
        goto fail;
    }
    if (n > ST_MAX_HEADER) {
        hs_err(err, "%s: header length %llu exceeds the 100 MB limit", path, (unsigned long long)n);
        goto fail;
    }
    if (!(header = malloc(n + 1))) {
        hs_err(err, "%s: out of memory for a %llu-byte header", path, (unsigned long long)n);
        goto fail;
    }
    if (fread(header, 1, n, st->f) != n) {
        hs_err(err, "%s: could not read the %llu-byte header", path, (unsigned long long)n);
        goto fail;
    }
    header[n] = '\0';
    st->data_start = 8 + n;
    st->data_size = size - 8 - n;
    if (parse_header(st, header, n, err) < 0)
        goto fail;
    free(header);
    return st;
fail:
    free(header);
    hs_safetensors_close(st);
    return NULL;
}

size_t hs_safetensors_count(const hs_safetensors *st)
{
    return st->n;
}

const char *hs_safetensors_name(const hs_safetensors *st, size_t i)
{
    return i < st->n ? st->e[i].name : NULL;
}

static const st_entry *find(const hs_safetensors *st, const char *name, hs_error *err)
{
    for (size_t i = 0; i < st->n; i++)
        if (strcmp(st->e[i].name, name) == 0)
            return &st->e[i];
    char list[512] = "";
    for (size_t i = 0; i < st->n && strlen(list) < 400; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                 st->e[i].name);
    hs_err(err, "%s: no tensor named '%s' (it has %zu: %s%s)", st->path, name, st->n, list,
           strlen(list) >= 400 ? ", ..." : "");
    return NULL;
}

int hs_safetensors_info(const hs_safetensors *st, const char *name, const char **dtype,
                        size_t *shape, int *ndim, hs_error *err)
{
    const st_entry *e = find(st, name, err);
    if (!e)
        return -1;
    *dtype = e->dtype;
    memcpy(shape, e->shape, sizeof e->shape);
    *ndim = e->ndim;
    return 0;
}

int hs_safetensors_read_f32(hs_safetensors *st, const char *name, float **data, size_t *shape,
                            int *ndim, hs_error *err)
{
    const st_entry *e = find(st, name, err);
    if (!e)
        return -1;
    bool f32 = strcmp(e->dtype, "F32") == 0, f16 = strcmp(e->dtype, "F16") == 0;
    bool bf16 = strcmp(e->dtype, "BF16") == 0;
    if (!f32 && !f16 && !bf16)
        return hs_err(err, "%s: tensor '%s' has dtype %s; only F32, F16 and BF16 can be read",
                      st->path, name, e->dtype);
    size_t nbytes = (size_t)(e->end - e->begin), count = nbytes / e->esize;
    unsigned char *raw = malloc(nbytes ? nbytes : 1);
    float *out = malloc((count ? count : 1) * sizeof *out);
    if (!raw || !out) {
        free(raw);
        free(out);
        return hs_err(err, "%s: out of memory for tensor '%s' (%zu bytes)", st->path, name, nbytes);
    }
    if (fseeko(st->f, (off_t)(st->data_start + e->begin), SEEK_SET) < 0 ||
        fread(raw, 1, nbytes, st->f) != nbytes) {
        free(raw);
        free(out);
        return hs_err(err, "%s: could not read tensor '%s' (%zu bytes at data offset %llu)",
                      st->path, name, nbytes, (unsigned long long)e->begin);
    }
    for (size_t i = 0; i < count; i++) {
        const unsigned char *b = raw + i * e->esize;
        if (f32) {
            uint32_t u =
                (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
            memcpy(&out[i], &u, sizeof u);
        } else {
            uint16_t h = (uint16_t)(b[0] | b[1] << 8);
            out[i] = f16 ? hs_quant_f16_to_f32(h) : hs_quant_bf16_to_f32(h);
        }
    }
    free(raw);
    *data = out;
    memcpy(shape, e->shape, sizeof e->shape);
    *ndim = e->ndim;
    return 0;
}
