/* pl_limit.h: token buckets and the keyed table. Written here rather than
 * taken from a library: libc has none, and the layers below chat may use
 * libc only; it is forty lines of arithmetic over pl_map. */
#include "pl_limit.h"

#include "pl_error.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The level at now_us: what was left plus what has dripped in since. */
static double bucket_level(const struct pl_bucket *b, double rate, double burst,
                           int64_t now_us)
{
    if (!b->stamp_us)
        return burst;
    double elapsed = now_us > b->stamp_us ? (double)(now_us - b->stamp_us) / 1e6 : 0;
    double level = b->level + elapsed * rate;
    return level > burst ? burst : level;
}

int pl_bucket_take(struct pl_bucket *b, double rate, double burst, int64_t now_us,
                   double n)
{
    double level = bucket_level(b, rate, burst, now_us);
    if (level < n)
        return 0;
    b->level = level - n;
    b->stamp_us = now_us ? now_us : 1;
    return 1;
}

int64_t pl_bucket_spend(struct pl_bucket *b, double rate, double burst, int64_t now_us,
                        double n)
{
    b->level = bucket_level(b, rate, burst, now_us) - n;
    b->stamp_us = now_us ? now_us : 1;
    if (b->level >= 0 || rate <= 0)
        return 0;
    return (int64_t)(-b->level / rate * 1e6) + 1;
}

int64_t pl_bucket_wait(const struct pl_bucket *b, double rate, double burst,
                       int64_t now_us, double n)
{
    double level = bucket_level(b, rate, burst, now_us);
    if (level >= n)
        return 0;
    if (rate <= 0)
        return INT64_MAX;
    return (int64_t)((n - level) / rate * 1e6) + 1;
}

void pl_keyed_init(struct pl_keyed *k, double rate, double burst, size_t max_keys)
{
    struct pl_map empty = PL_MAP_INIT;
    k->map = empty;
    k->rate = rate;
    k->burst = burst;
    k->max_keys = max_keys ? max_keys : 100000;
}

static void slot_free(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    free(value);
}

void pl_keyed_free(struct pl_keyed *k)
{
    pl_map_each(&k->map, slot_free, NULL);
    pl_map_free(&k->map);
}

/* key's slot, made if absent: NULL when the table is full (*rc PL_ETOOBIG)
 * or out of memory (PL_ENOMEM). */
static struct pl_keyed_slot *slot_get(struct pl_keyed *k, const char *key, int *rc)
{
    struct pl_keyed_slot *s = pl_map_get(&k->map, key);
    if (s)
        return s;
    if (k->map.count >= k->max_keys) {
        *rc = PL_ETOOBIG;
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (!s || pl_map_put(&k->map, key, s) != PL_OK) {
        free(s);
        *rc = PL_ENOMEM;
        return NULL;
    }
    return s;
}

int pl_keyed_take(struct pl_keyed *k, const char *key, int64_t now_us)
{
    int rc = PL_OK;
    struct pl_keyed_slot *s = slot_get(k, key, &rc);
    if (!s)
        return rc == PL_ENOMEM ? PL_ENOMEM : 0;
    return pl_bucket_take(&s->bucket, k->rate, k->burst, now_us, 1);
}

int pl_keyed_has(const struct pl_keyed *k, const char *key, int64_t now_us,
                 int64_t *retry_us)
{
    const struct pl_keyed_slot *s = pl_map_get(&k->map, key);
    int64_t wait = s ? pl_bucket_wait(&s->bucket, k->rate, k->burst, now_us, 1) : 0;
    if (retry_us)
        *retry_us = wait;
    return wait == 0;
}

int pl_keyed_hold(struct pl_keyed *k, const char *key, int64_t limit)
{
    int rc = PL_OK;
    struct pl_keyed_slot *s = slot_get(k, key, &rc);
    if (!s)
        return rc;
    if (limit > 0 && s->count >= limit)
        return PL_ETOOBIG;
    s->count++;
    return PL_OK;
}

void pl_keyed_release(struct pl_keyed *k, const char *key)
{
    struct pl_keyed_slot *s = pl_map_get(&k->map, key);
    if (s && s->count > 0)
        s->count--;
}

int64_t pl_keyed_count(const struct pl_keyed *k, const char *key)
{
    const struct pl_keyed_slot *s = pl_map_get(&k->map, key);
    return s ? s->count : 0;
}

int pl_keyed_flag(struct pl_keyed *k, const char *key)
{
    struct pl_keyed_slot *s = pl_map_get(&k->map, key);
    if (!s || s->flagged)
        return 0;
    s->flagged = 1;
    return 1;
}

size_t pl_keyed_sweep(struct pl_keyed *k, int64_t now_us)
{
    size_t dropped = 0;
    for (size_t i = 0; i < k->map.nbuckets; i++) {
        struct pl_map_entry **pp = &k->map.buckets[i];
        while (*pp) {
            struct pl_map_entry *e = *pp;
            struct pl_keyed_slot *s = e->value;
            if (s->count == 0 &&
                bucket_level(&s->bucket, k->rate, k->burst, now_us) >= k->burst) {
                /* Unlinked here rather than with pl_map_remove, which would
                 * hash the key again for the bucket we are in. */
                *pp = e->next;
                free(s);
                free(e);
                k->map.count--;
                dropped++;
            } else {
                pp = &e->next;
            }
        }
    }
    return dropped;
}

void pl_auth_limit_init(struct pl_auth_limit *l, int per_minute)
{
    l->per_minute = per_minute;
    l->metrics = NULL;
    pl_keyed_init(&l->by_addr, per_minute / 60.0, per_minute, 0);
    pl_keyed_init(&l->by_user, per_minute / 60.0, per_minute, 0);
}

void pl_auth_limit_free(struct pl_auth_limit *l)
{
    pl_keyed_free(&l->by_addr);
    pl_keyed_free(&l->by_user);
}

int pl_auth_limit_blocked(const struct pl_auth_limit *l, const char *addr,
                          const char *user, int64_t now_us, int64_t *retry_us)
{
    int64_t wa = 0, wu = 0;
    if (retry_us)
        *retry_us = 0;
    if (!l || l->per_minute <= 0)
        return 0;
    int blocked = 0;
    if (addr && *addr && !pl_keyed_has(&l->by_addr, addr, now_us, &wa))
        blocked = 1;
    if (user && *user && !pl_keyed_has(&l->by_user, user, now_us, &wu))
        blocked = 1;
    if (retry_us)
        *retry_us = wa > wu ? wa : wu;
    return blocked;
}

void pl_auth_limit_failed(struct pl_auth_limit *l, const char *addr, const char *user,
                          int64_t now_us)
{
    if (!l || l->per_minute <= 0)
        return;
    /* A full table does not take a new key, which is then not counted:
     * the lesser harm, as a flood of addresses cannot lock everyone out. */
    if (addr && *addr)
        (void)pl_keyed_take(&l->by_addr, addr, now_us);
    if (user && *user)
        (void)pl_keyed_take(&l->by_user, user, now_us);
}

int pl_auth_limit_first(struct pl_auth_limit *l, const char *addr, const char *user)
{
    if (!l)
        return 0;
    int first = 0;
    if (addr && *addr && pl_keyed_flag(&l->by_addr, addr))
        first = 1;
    if (user && *user && pl_keyed_flag(&l->by_user, user))
        first = 1;
    return first;
}

void pl_auth_limit_sweep(struct pl_auth_limit *l, int64_t now_us)
{
    if (!l)
        return;
    pl_keyed_sweep(&l->by_addr, now_us);
    pl_keyed_sweep(&l->by_user, now_us);
}

void pl_limit_addr_key(const char *addr, char *out, size_t outlen)
{
    struct in6_addr a6;
    char buf[INET6_ADDRSTRLEN];
    if (strchr(addr, ':') && inet_pton(AF_INET6, addr, &a6) == 1) {
        memset(a6.s6_addr + 8, 0, 8);
        if (inet_ntop(AF_INET6, &a6, buf, sizeof(buf))) {
            snprintf(out, outlen, "%s/64", buf);
            return;
        }
    }
    snprintf(out, outlen, "%s", addr);
}
