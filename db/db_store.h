/* The store: worker threads, each with its own PostgreSQL connection, that
 * run jobs (db_jobs.h) handed over by the XMPP loop. A worker takes every
 * job waiting for it, runs them in one transaction in libpq pipeline mode
 * and commits once (group commit), then hands the jobs back as completions
 * and calls the `wake` callback so the loop drains them. A job whose batch
 * failed is retried, alone, until the database answers: every job is
 * idempotent. Jobs with the same shard key go to the same worker, so they
 * run in order. No libpq type appears here. */
#ifndef DB_STORE_H
#define DB_STORE_H

#include "db_jobs.h"
#include "pl_metrics.h"

struct db_store;

struct db_store_config {
    const char *conninfo;
    const char *node;        /* this node's name in the sessions table */
    int workers;             /* >= 1 */
    void (*wake)(void *ctx); /* called from a worker thread when completions wait */
    void *wake_ctx;
    struct pl_metrics *metrics; /* batch sizes, commit times, queue depth; may be NULL */
};

/* Connects the workers (waiting for the database if it is not up yet is the
 * caller's choice: this fails with PL_EIO when it cannot connect), ends this
 * node's sessions of an earlier run (their rows go, and what was written to
 * them but not settled goes back to `stored`), and starts the threads. */
int db_store_start(const struct db_store_config *cfg, struct db_store **out);
/* Takes ownership of job until it comes back from db_store_take_completed.
 * `shard_key` picks the worker (NULL: worker 0). A job of a kind no worker
 * runs (an event, or not a kind) comes straight back with PL_EINVAL.
 * Thread-safe. */
void db_store_submit(struct db_store *st, struct db_job *job, const char *shard_key);
/* The completed jobs, oldest first, linked through item.next; NULL if none.
 * The caller frees each with db_job_free. */
struct db_job *db_store_take_completed(struct db_store *st);
/* Jobs submitted that no worker has taken yet (one atomic read: the loop
 * asks it before queueing a message, PARLEY_LIMIT_STORE_QUEUE). */
size_t db_store_queued(struct db_store *st);
/* Finishes the jobs already submitted, then stops the threads and frees. */
void db_store_stop(struct db_store *st);

#endif
