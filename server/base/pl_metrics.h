/* Counters that the XMPP loop and the store workers update and the admin
 * API's threads read for /metrics. Each is a relaxed atomic: an update is
 * one uncontended add on the hot path, no lock, and a reader sees each
 * counter whole (a scrape is not a snapshot across counters, which
 * Prometheus does not need). One struct per server, made at wiring and
 * handed to each layer; a layer given NULL counts nothing. */
#ifndef PL_METRICS_H
#define PL_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Stanza kinds counted in and out. */
enum pl_metrics_stanza {
    PL_METRICS_MESSAGE,
    PL_METRICS_PRESENCE,
    PL_METRICS_IQ,
    PL_METRICS_STANZA__COUNT
};

/* The limits (SECURITY.md): each refusal (or, for the byte rate, each
 * time a reader is slowed) is counted under its name. */
enum pl_metrics_limit {
    PL_METRICS_LIMIT_PENDING_PER_IP,
    PL_METRICS_LIMIT_CONNECT_RATE,
    PL_METRICS_LIMIT_CONNECTIONS,
    PL_METRICS_LIMIT_AUTH_FAILURES,
    PL_METRICS_LIMIT_SESSION_BYTES,
    PL_METRICS_LIMIT_OFFLINE_QUEUE,
    PL_METRICS_LIMIT_API_RATE,
    PL_METRICS_LIMIT_ROOM_OCCUPANTS,
    PL_METRICS_LIMIT_ROOMS_PER_USER,
    PL_METRICS_LIMIT_ROOM_MESSAGES,
    PL_METRICS_LIMIT_STORE_QUEUE,
    PL_METRICS_LIMIT__COUNT
};

/* Upper bounds of the histogram buckets (the last bucket is +Inf). */
#define PL_METRICS_BATCH_BUCKETS 9   /* 1 2 4 8 16 32 64 128 256 jobs */
#define PL_METRICS_COMMIT_BUCKETS 10 /* 0.5 1 2 5 10 25 50 100 250 1000 ms */

struct pl_metrics_histogram {
    atomic_uint_fast64_t bucket[PL_METRICS_COMMIT_BUCKETS + 1]; /* not cumulative */
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t sum; /* in the unit of observation (jobs, microseconds) */
};

struct pl_metrics {
    atomic_uint_fast64_t connections_total; /* WebSocket connections accepted */
    atomic_int_fast64_t connections_open;
    atomic_uint_fast64_t sessions_total; /* sessions bound */
    atomic_int_fast64_t sessions_open;
    atomic_uint_fast64_t logins;         /* upgrades whose token was accepted */
    atomic_uint_fast64_t login_failures; /* upgrades refused for their token */
    atomic_uint_fast64_t stanzas_in[PL_METRICS_STANZA__COUNT];
    atomic_uint_fast64_t stanzas_out[PL_METRICS_STANZA__COUNT];
    atomic_uint_fast64_t messages_stored;
    struct pl_metrics_histogram store_batch;  /* jobs per transaction */
    struct pl_metrics_histogram store_commit; /* microseconds per batch */
    atomic_int_fast64_t store_queue;          /* jobs submitted, not yet run */
    atomic_int xmpp_listening;                /* the WebSocket listener is up */
    atomic_int store_failing; /* store workers retrying a job the database refuses */
    atomic_uint_fast64_t limit_refusals[PL_METRICS_LIMIT__COUNT];
};

/* The label of each limit in /metrics ("pending_per_ip", …). */
extern const char *const pl_metrics_limit_names[PL_METRICS_LIMIT__COUNT];
/* m may be NULL. */
void pl_metrics_limit(struct pl_metrics *m, enum pl_metrics_limit which);

/* The bucket bounds, for whoever prints them: PL_METRICS_BATCH_BUCKETS jobs
 * and PL_METRICS_COMMIT_BUCKETS microseconds. */
extern const uint64_t pl_metrics_batch_bounds[PL_METRICS_BATCH_BUCKETS];
extern const uint64_t pl_metrics_commit_bounds[PL_METRICS_COMMIT_BUCKETS];

static inline void pl_metrics_add(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline void pl_metrics_gauge(atomic_int_fast64_t *g, int64_t delta)
{
    atomic_fetch_add_explicit(g, delta, memory_order_relaxed);
}

static inline uint64_t pl_metrics_get(const atomic_uint_fast64_t *c)
{
    return atomic_load_explicit((atomic_uint_fast64_t *)c, memory_order_relaxed);
}

/* Records one observation v into h, whose bucket bounds are bounds[0..n). */
void pl_metrics_observe(struct pl_metrics_histogram *h, const uint64_t *bounds, size_t n,
                        uint64_t v);

/* m may be NULL: the layers that count call these. */
void pl_metrics_stanza_in(struct pl_metrics *m, enum pl_metrics_stanza kind);
void pl_metrics_stanza_out(struct pl_metrics *m, enum pl_metrics_stanza kind);
/* One store transaction of `jobs` jobs that took `us` microseconds. */
void pl_metrics_store_batch(struct pl_metrics *m, size_t jobs, uint64_t us);

#endif
