/* A hash map from strings to pointers (separate chaining, FNV-1a). Keys are
 * copied; values are borrowed: the map never frees them. Not thread-safe:
 * each map belongs to one thread. Written here because libc has no usable
 * map (hsearch is global) and the layers below chat may use libc only. */
#ifndef PL_MAP_H
#define PL_MAP_H

#include <stddef.h>
#include <stdint.h>

struct pl_map_entry {
    struct pl_map_entry *next;
    void *value;
    char key[]; /* NUL-terminated */
};

struct pl_map {
    struct pl_map_entry **buckets;
    size_t nbuckets; /* a power of two, or 0 before the first put */
    size_t count;
};

#define PL_MAP_INIT                                                                      \
    {                                                                                    \
        NULL, 0, 0                                                                       \
    }

/* Inserts or replaces; PL_ENOMEM on failure (the map is unchanged). */
int pl_map_put(struct pl_map *m, const char *key, void *value);
/* The value for key, or NULL. */
void *pl_map_get(const struct pl_map *m, const char *key);
/* Removes key; returns its value, or NULL if absent. */
void *pl_map_remove(struct pl_map *m, const char *key);
/* Calls fn for each entry; fn must not change the map. */
void pl_map_each(const struct pl_map *m,
                 void (*fn)(const char *key, void *value, void *arg), void *arg);
/* Frees the map's own memory (not the values). */
void pl_map_free(struct pl_map *m);
uint32_t pl_hash_str(const char *s);

#endif
