/* A string -> size_t hash map (open addressing, XXH3). Keys are copied. */
#ifndef HS_STRMAP_H
#define HS_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct hs_strmap hs_strmap;

hs_strmap *hs_strmap_create(size_t expected);
void hs_strmap_destroy(hs_strmap *m);
/* Insert or replace. Returns 0, or -1 on allocation failure. */
int hs_strmap_put(hs_strmap *m, const char *key, size_t value);
/* True and *value set if the key is present. */
bool hs_strmap_get(const hs_strmap *m, const char *key, size_t *value);
size_t hs_strmap_size(const hs_strmap *m);

#endif
