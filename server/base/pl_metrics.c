/* pl_metrics.h: histograms and the NULL-safe helpers. */
#include "pl_metrics.h"

const uint64_t pl_metrics_batch_bounds[PL_METRICS_BATCH_BUCKETS] = {1,  2,  4,   8,  16,
                                                                    32, 64, 128, 256};
const uint64_t pl_metrics_commit_bounds[PL_METRICS_COMMIT_BUCKETS] = {
    500, 1000, 2000, 5000, 10000, 25000, 50000, 100000, 250000, 1000000};

void pl_metrics_observe(struct pl_metrics_histogram *h, const uint64_t *bounds, size_t n,
                        uint64_t v)
{
    size_t i = 0;
    while (i < n && v > bounds[i])
        i++;
    pl_metrics_add(&h->bucket[i], 1);
    pl_metrics_add(&h->count, 1);
    pl_metrics_add(&h->sum, v);
}

void pl_metrics_stanza_in(struct pl_metrics *m, enum pl_metrics_stanza kind)
{
    if (m && kind < PL_METRICS_STANZA__COUNT)
        pl_metrics_add(&m->stanzas_in[kind], 1);
}

void pl_metrics_stanza_out(struct pl_metrics *m, enum pl_metrics_stanza kind)
{
    if (m && kind < PL_METRICS_STANZA__COUNT)
        pl_metrics_add(&m->stanzas_out[kind], 1);
}

void pl_metrics_store_batch(struct pl_metrics *m, size_t jobs, uint64_t us)
{
    if (!m)
        return;
    pl_metrics_observe(&m->store_batch, pl_metrics_batch_bounds, PL_METRICS_BATCH_BUCKETS,
                       jobs);
    pl_metrics_observe(&m->store_commit, pl_metrics_commit_bounds,
                       PL_METRICS_COMMIT_BUCKETS, us);
}

const char *const pl_metrics_limit_names[PL_METRICS_LIMIT__COUNT] = {
    "pending_per_ip", "connect_rate",  "connections", "auth_failures",
    "session_bytes",  "offline_queue", "api_rate",    "room_occupants",
    "rooms_per_user", "room_messages", "store_queue",
};

void pl_metrics_limit(struct pl_metrics *m, enum pl_metrics_limit which)
{
    if (m && which < PL_METRICS_LIMIT__COUNT)
        pl_metrics_add(&m->limit_refusals[which], 1);
}
