#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

struct slot {
    char *key;
    uint64_t hash;
    size_t value;
};

struct hs_strmap {
    struct slot *slots;
    size_t cap, n;
};

hs_strmap *hs_strmap_create(size_t expected)
{
    hs_strmap *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cap = 16;
    while (m->cap < expected * 2)
        m->cap *= 2;
    m->slots = calloc(m->cap, sizeof *m->slots);
    if (!m->slots) {
        free(m);
        return NULL;
    }
    return m;
}

void hs_strmap_destroy(hs_strmap *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    free(m);
}

static struct slot *find(const hs_strmap *m, const char *key, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        struct slot *s = &m->slots[i];
        if (!s->key || (s->hash == h && strcmp(s->key, key) == 0))
            return s;
    }
}

static int grow(hs_strmap *m)
{
    struct slot *old = m->slots;
    size_t oldcap = m->cap;
    m->slots = calloc(oldcap * 2, sizeof *m->slots);
    if (!m->slots) {
        m->slots = old;
        return -1;
    }
    m->cap = oldcap * 2;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].key)
            *find(m, old[i].key, old[i].hash) = old[i];
    free(old);
    return 0;
}

int hs_strmap_put(hs_strmap *m, const char *key, size_t value)
{
    if ((m->n + 1) * 2 > m->cap && grow(m) < 0)
        return -1;
    uint64_t h = XXH3_64bits(key, strlen(key));
    struct slot *s = find(m, key, h);
    if (!s->key) {
        if (!(s->key = strdup(key)))
            return -1;
        s->hash = h;
        m->n++;
    }
    s->value = value;
    return 0;
}

bool hs_strmap_get(const hs_strmap *m, const char *key, size_t *value)
{
    struct slot *s = find(m, key, XXH3_64bits(key, strlen(key)));
    if (!s->key)
        return false;
    if (value)
        *value = s->value;
    return true;
}

size_t hs_strmap_size(const hs_strmap *m)
{
    return m->n;
}
