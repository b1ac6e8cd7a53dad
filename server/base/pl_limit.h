/* The one rate-limiting helper every limit uses: a token bucket, and a
 * table of token buckets and counts keyed by a string (a source address, a
 * username). Pure: time comes in as an argument (microseconds of a
 * monotonic clock), nothing here reads a clock or does I/O, so the tests
 * drive it through any schedule. Not thread-safe: a table belongs to one
 * thread (the XMPP loop, or one behind the API's own lock). */
#ifndef PL_LIMIT_H
#define PL_LIMIT_H

#include "pl_map.h"
#include "pl_metrics.h"

#include <stddef.h>
#include <stdint.h>

/* A token bucket: `rate` tokens a second up to `burst`. A new bucket (all
 * zero) is full. */
struct pl_bucket {
    double level;     /* tokens left at `stamp` */
    int64_t stamp_us; /* 0: never used, so full */
};

/* Takes `n` tokens if there are that many: 1, else 0 (nothing taken). */
int pl_bucket_take(struct pl_bucket *b, double rate, double burst, int64_t now_us,
                   double n);
/* Takes `n` tokens whatever is left (the level may go below zero, a debt)
 * and returns how many microseconds until the level is back to zero: 0
 * when there was enough. For what cannot be refused, only slowed (bytes
 * already read from a socket). */
int64_t pl_bucket_spend(struct pl_bucket *b, double rate, double burst, int64_t now_us,
                        double n);
/* Microseconds until `n` tokens are there (0: now). */
int64_t pl_bucket_wait(const struct pl_bucket *b, double rate, double burst,
                       int64_t now_us, double n);

/* A keyed table: per key a bucket (`rate`/`burst` for the whole table) and
 * a count (things held, such as connections not yet authenticated). A key
 * whose bucket is full again and whose count is zero is the same as an
 * absent one and is dropped by pl_keyed_sweep, so the table holds only
 * keys seen lately. At most `max_keys` keys: a new key past that is
 * refused (pl_keyed_take 0, pl_keyed_hold PL_ETOOBIG), so a flood of
 * addresses cannot grow the memory without end. */
struct pl_keyed_slot {
    struct pl_bucket bucket;
    int64_t count;
    int flagged; /* set once by pl_keyed_flag: "already logged" */
};

struct pl_keyed {
    struct pl_map map; /* key -> struct pl_keyed_slot (owned) */
    double rate;
    double burst;
    size_t max_keys;
};

/* rate and burst for the table's buckets; max_keys 0 means 100000. */
void pl_keyed_init(struct pl_keyed *k, double rate, double burst, size_t max_keys);
void pl_keyed_free(struct pl_keyed *k);

/* Takes one token from key's bucket: 1 taken, 0 refused (empty, or the
 * table is full), PL_ENOMEM. */
int pl_keyed_take(struct pl_keyed *k, const char *key, int64_t now_us);
/* 1 if key's bucket has at least one token (nothing is taken), else 0;
 * *retry_us (may be NULL) gets the wait until it has. */
int pl_keyed_has(const struct pl_keyed *k, const char *key, int64_t now_us,
                 int64_t *retry_us);
/* Adds one to key's count if it is below `limit` (0: no limit): PL_OK,
 * PL_ETOOBIG at the limit or when the table is full, PL_ENOMEM. */
int pl_keyed_hold(struct pl_keyed *k, const char *key, int64_t limit);
/* Takes one from key's count (a key not held is left alone). */
void pl_keyed_release(struct pl_keyed *k, const char *key);
/* key's count now (0 if absent). */
int64_t pl_keyed_count(const struct pl_keyed *k, const char *key);
/* 1 the first time it is called for key since key was last dropped, else
 * 0: a refusal is logged once per episode, not once per attempt. */
int pl_keyed_flag(struct pl_keyed *k, const char *key);
/* Drops the keys that are as good as absent (see above); returns how many. */
size_t pl_keyed_sweep(struct pl_keyed *k, int64_t now_us);

/* Authentication failures, by source address and by username, in one
 * object that the upgrade and SASL share: `per_minute` failures a minute
 * for each (a bucket of that many refilled over a minute); 0 turns it off.
 * Either key may be NULL or empty (not counted). */
struct pl_auth_limit {
    struct pl_keyed by_addr;
    struct pl_keyed by_user;
    int per_minute;
    struct pl_metrics *metrics; /* each refusal counted; may be NULL */
};

void pl_auth_limit_init(struct pl_auth_limit *l, int per_minute);
void pl_auth_limit_free(struct pl_auth_limit *l);
/* 1 if either key has used up its failures: the attempt is refused before
 * it is checked, and *retry_us (may be NULL) is the wait until one more is
 * allowed. 0 otherwise. */
int pl_auth_limit_blocked(const struct pl_auth_limit *l, const char *addr,
                          const char *user, int64_t now_us, int64_t *retry_us);
/* Records one failure for each key. */
void pl_auth_limit_failed(struct pl_auth_limit *l, const char *addr, const char *user,
                          int64_t now_us);
/* 1 the first time a blocked key is reported since it was last quiet for a
 * minute (pl_keyed_flag on each key): log the refusal then, not at every
 * attempt. */
int pl_auth_limit_first(struct pl_auth_limit *l, const char *addr, const char *user);
void pl_auth_limit_sweep(struct pl_auth_limit *l, int64_t now_us);

/* The key a source address is counted under: an IPv4 address as it is, an
 * IPv6 address by its /64 (one host has a whole /64 to choose from). */
void pl_limit_addr_key(const char *addr, char *out, size_t outlen);

#endif
