#include "pl_map.h"
#include "pl_error.h"

#include <stdlib.h>
#include <string.h>

uint32_t pl_hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

static struct pl_map_entry **slot_for(const struct pl_map *m, const char *key)
{
    struct pl_map_entry **p = &m->buckets[pl_hash_str(key) & (m->nbuckets - 1)];
    while (*p && strcmp((*p)->key, key) != 0)
        p = &(*p)->next;
    return p;
}

static int grow(struct pl_map *m)
{
    size_t n = m->nbuckets ? m->nbuckets * 2 : 16;
    struct pl_map_entry **b = calloc(n, sizeof(*b));
    if (!b)
        return PL_ENOMEM;
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct pl_map_entry *e = m->buckets[i];
        while (e) {
            struct pl_map_entry *next = e->next;
            size_t j = pl_hash_str(e->key) & (n - 1);
            e->next = b[j];
            b[j] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
    return PL_OK;
}

int pl_map_put(struct pl_map *m, const char *key, void *value)
{
    if ((m->count + 1 > m->nbuckets * 3 / 4) && grow(m) != PL_OK)
        return PL_ENOMEM;
    struct pl_map_entry **p = slot_for(m, key);
    if (*p) {
        (*p)->value = value;
        return PL_OK;
    }
    size_t klen = strlen(key);
    struct pl_map_entry *e = malloc(sizeof(*e) + klen + 1);
    if (!e)
        return PL_ENOMEM;
    memcpy(e->key, key, klen + 1);
    e->value = value;
    e->next = NULL;
    *p = e;
    m->count++;
    return PL_OK;
}

void *pl_map_get(const struct pl_map *m, const char *key)
{
    if (!m->nbuckets)
        return NULL;
    struct pl_map_entry *e = *slot_for(m, key);
    return e ? e->value : NULL;
}

void *pl_map_remove(struct pl_map *m, const char *key)
{
    if (!m->nbuckets)
        return NULL;
    struct pl_map_entry **p = slot_for(m, key);
    struct pl_map_entry *e = *p;
    if (!e)
        return NULL;
    void *value = e->value;
    *p = e->next;
    free(e);
    m->count--;
    return value;
}

void pl_map_each(const struct pl_map *m,
                 void (*fn)(const char *key, void *value, void *arg), void *arg)
{
    for (size_t i = 0; i < m->nbuckets; i++)
        for (struct pl_map_entry *e = m->buckets[i]; e; e = e->next)
            fn(e->key, e->value, arg);
}

void pl_map_free(struct pl_map *m)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct pl_map_entry *e = m->buckets[i];
        while (e) {
            struct pl_map_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = NULL;
    m->nbuckets = m->count = 0;
}
