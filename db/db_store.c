/* The store's life: start, submit, the workers' loop, completions, stop. */
#include "db_internal.h"
#include "pl_error.h"
#include "pl_log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* More workers than this is a configuration mistake, not a need. */
#define DB_WORKERS_MAX 64

void db_store_complete(struct db_store *st, struct db_job *job)
{
    /* Only the push that finds the mailbox empty wakes the loop: the loop
     * drains everything on each wake, so one wake per burst is enough. */
    if (pl_mailbox_push(&st->completed, &job->item) && st->wake)
        st->wake(st->wake_ctx);
}

/* Gives up only when the store is stopping and the grace period is over. */
static int db_worker_give_up(struct db_worker *w)
{
    struct db_store *st = w->st;
    return atomic_load(&st->stopping) &&
           db_now_ms() - atomic_load(&st->stop_ms) > DB_STOP_GRACE_MS;
}

/* Reconnects with back-off until connected and prepared; PL_EIO only when
 * giving up at stop. */
static int db_worker_reconnect(struct db_worker *w)
{
    int delay = DB_BACKOFF_MIN_MS;
    char err[256];
    for (;;) {
        if (w->conn) {
            PQreset(w->conn);
        } else {
            int ok;
            w->conn = db_conn_open(w->st->conninfo, &ok);
        }
        w->conn_ok = w->conn && PQstatus(w->conn) == CONNECTION_OK &&
                     db_jobs_prepare(w->conn) == PL_OK;
        if (w->conn_ok) {
            pl_info(0, NULL, "db: worker %d reconnected", w->index);
            return PL_OK;
        }
        if (db_worker_give_up(w))
            return PL_EIO;
        pl_warn(0, NULL, "db: worker %d cannot reconnect (%s), retrying in %d ms",
                w->index, db_conn_error(w->conn, err, sizeof(err)), delay);
        db_sleep_ms(NULL, delay);
        delay = delay * 2 > DB_BACKOFF_MAX_MS ? DB_BACKOFF_MAX_MS : delay * 2;
    }
}

/* Monotonic microseconds, for the commit-time histogram. */
static int64_t db_store_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Counts the worker in or out of those whose job the database keeps
 * refusing (/readyz reports the store not ready while any is). */
static void db_worker_failing(struct db_worker *w, int delta)
{
    if (w->st->metrics)
        atomic_fetch_add_explicit(&w->st->metrics->store_failing, delta,
                                  memory_order_relaxed);
}

/* Runs one job alone until the database gives an answer: committed, or an
 * SQL error that a retry would only repeat (PL_EIO). A transient refusal on
 * a working connection (out of disk, 53xxx) is tried again with back-off,
 * not at once over a fresh connection; at stop, after the grace period, the
 * job fails (PL_EIO) rather than keep the store from stopping. */
static void db_worker_run_one(struct db_worker *w, struct db_job *job)
{
    int delay = DB_BACKOFF_MIN_MS;
    int failing = 0;
    for (;;) {
        if (!w->conn_ok && db_worker_reconnect(w) != PL_OK) {
            job->status = PL_EIO;
            break;
        }
        int rc = db_jobs_run(w->conn, w->st->node, &job, 1);
        if (rc != PL_AGAIN) {
            if (rc == PL_EIO)
                job->status = PL_EIO;
            break;
        }
        w->conn_ok = 0;
        if (!failing) {
            failing = 1;
            db_worker_failing(w, 1);
        }
        if (db_worker_give_up(w)) {
            job->status = PL_EIO;
            break;
        }
        if (PQstatus(w->conn) == CONNECTION_OK) {
            db_sleep_ms(NULL, delay);
            delay = delay * 2 > DB_BACKOFF_MAX_MS ? DB_BACKOFF_MAX_MS : delay * 2;
        }
    }
    if (failing)
        db_worker_failing(w, -1);
}

/* One batch: all jobs in one transaction; on failure, each job alone (every
 * job is idempotent, so what the failed batch may have committed is safe to
 * run again). */
static void db_worker_run(struct db_worker *w, struct db_job **jobs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        jobs[i]->status = PL_OK;
    if (w->conn_ok) {
        int rc = db_jobs_run(w->conn, w->st->node, jobs, n);
        if (rc == PL_OK)
            return;
        if (rc == PL_EIO && n == 1) {
            jobs[0]->status = PL_EIO;
            return;
        }
        if (rc == PL_AGAIN)
            w->conn_ok = 0;
        pl_warn(0, NULL,
                "db: worker %d: batch of %zu failed, running its jobs one by one",
                w->index, n);
    }
    for (size_t i = 0; i < n; i++) {
        jobs[i]->status = PL_OK;
        db_worker_run_one(w, jobs[i]);
    }
}

static void *db_worker_main(void *arg)
{
    struct db_worker *w = arg;
    struct db_job *jobs[DB_BATCH_MAX];
    for (;;) {
        /* Returns NULL only once the mailbox is closed and drained. */
        struct pl_mailbox_item *items = pl_mailbox_wait(&w->jobs, DB_BATCH_MAX, -1);
        if (!items)
            break;
        size_t n = 0;
        for (struct pl_mailbox_item *it = items; it; it = it->next)
            jobs[n++] = (struct db_job *)it;
        atomic_fetch_sub(&w->st->queued, (long)n);
        if (w->st->metrics)
            pl_metrics_gauge(&w->st->metrics->store_queue, -(int64_t)n);
        int64_t t0 = db_store_now_us();
        db_worker_run(w, jobs, n);
        pl_metrics_store_batch(w->st->metrics, n, (uint64_t)(db_store_now_us() - t0));
        for (size_t i = 0; i < n; i++)
            db_store_complete(w->st, jobs[i]);
    }
    return NULL;
}

static void db_store_free(struct db_store *st)
{
    for (int i = 0; i < st->nworkers; i++) {
        if (st->workers[i].conn)
            PQfinish(st->workers[i].conn);
    }
    for (int i = 0; i < st->nmailboxes; i++)
        pl_mailbox_destroy(&st->workers[i].jobs);
    if (st->listen_conn)
        PQfinish(st->listen_conn);
    if (st->completed_inited) {
        struct pl_mailbox_item *it = pl_mailbox_take(&st->completed, 0);
        while (it) {
            struct pl_mailbox_item *next = it->next;
            db_job_free((struct db_job *)it);
            it = next;
        }
        pl_mailbox_destroy(&st->completed);
    }
    free(st->workers);
    free(st->conninfo);
    free(st->node);
    free(st);
}

/* Stops and joins whatever threads run; the workers first finish what their
 * mailboxes hold. */
static void db_store_join(struct db_store *st)
{
    atomic_store(&st->stop_ms, db_now_ms());
    atomic_store(&st->stopping, 1);
    for (int i = 0; i < st->nmailboxes; i++)
        pl_mailbox_close(&st->workers[i].jobs);
    for (int i = 0; i < st->nthreads; i++)
        pthread_join(st->workers[i].thread, NULL);
    st->nthreads = 0;
    if (st->listener_started)
        pthread_join(st->listener, NULL);
    st->listener_started = 0;
}

static int db_store_connect(struct db_store *st)
{
    char err[256];
    int ok;
    for (int i = 0; i < st->nworkers; i++) {
        struct db_worker *w = &st->workers[i];
        w->st = st;
        w->index = i;
        if (pl_mailbox_init(&w->jobs) != PL_OK)
            return PL_EIO;
        st->nmailboxes++;
        w->conn = db_conn_open(st->conninfo, &ok);
        if (!w->conn)
            return PL_ENOMEM;
        if (!ok) {
            pl_error(0, NULL, "db: cannot connect: %s",
                     db_conn_error(w->conn, err, sizeof(err)));
            return PL_EIO;
        }
        if (db_jobs_prepare(w->conn) != PL_OK)
            return PL_EIO;
        w->conn_ok = 1;
    }
    st->listen_conn = db_conn_open(st->conninfo, &ok);
    if (!st->listen_conn)
        return PL_ENOMEM;
    if (!ok)
        return PL_EIO;
    return PL_OK;
}

int db_store_start(const struct db_store_config *cfg, struct db_store **out)
{
    *out = NULL;
    if (!cfg || !cfg->node || cfg->workers < 1 || cfg->workers > DB_WORKERS_MAX)
        return PL_EINVAL;
    struct db_store *st = calloc(1, sizeof(*st));
    if (!st)
        return PL_ENOMEM;
    int rc = PL_ENOMEM;
    st->conninfo = strdup(cfg->conninfo ? cfg->conninfo : "");
    st->node = strdup(cfg->node);
    st->workers = calloc((size_t)cfg->workers, sizeof(*st->workers));
    if (!st->conninfo || !st->node || !st->workers)
        goto fail;
    st->nworkers = cfg->workers;
    st->wake = cfg->wake;
    st->wake_ctx = cfg->wake_ctx;
    st->metrics = cfg->metrics;
    atomic_init(&st->queued, 0);
    atomic_init(&st->stopping, 0);
    atomic_init(&st->stop_ms, 0);
    rc = PL_EIO;
    if (pl_mailbox_init(&st->completed) != PL_OK)
        goto fail;
    st->completed_inited = 1;

    rc = db_store_connect(st);
    if (rc != PL_OK)
        goto fail;
    /* This node has no sessions yet: whatever rows carry its name are left
     * from a previous run that did not stop cleanly. */
    rc = db_jobs_node_restart(st->workers[0].conn, st->node);
    if (rc != PL_OK) {
        pl_error(0, NULL, "db: cannot clear the sessions of node %s", st->node);
        goto fail;
    }

    rc = PL_EIO;
    for (int i = 0; i < st->nworkers; i++) {
        if (pthread_create(&st->workers[i].thread, NULL, db_worker_main,
                           &st->workers[i]) != 0)
            goto fail;
        st->nthreads++;
    }
    if (pthread_create(&st->listener, NULL, db_listen_main, st) != 0)
        goto fail;
    st->listener_started = 1;
    *out = st;
    return PL_OK;

fail:
    db_store_join(st);
    db_store_free(st);
    return rc;
}

void db_store_submit(struct db_store *st, struct db_job *job, const char *shard_key)
{
    if (!db_job_submittable(job->kind)) {
        /* Not a job a worker can run: hand it straight back. */
        job->status = PL_EINVAL;
        db_store_complete(st, job);
        return;
    }
    size_t w =
        shard_key ? (size_t)(db_shard_hash(shard_key) % (uint64_t)st->nworkers) : 0;
    atomic_fetch_add(&st->queued, 1);
    if (st->metrics)
        pl_metrics_gauge(&st->metrics->store_queue, 1);
    pl_mailbox_push(&st->workers[w].jobs, &job->item);
}

size_t db_store_queued(struct db_store *st)
{
    long n = atomic_load(&st->queued);
    return n > 0 ? (size_t)n : 0;
}

struct db_job *db_store_take_completed(struct db_store *st)
{
    return (struct db_job *)pl_mailbox_take(&st->completed, 0);
}

void db_store_stop(struct db_store *st)
{
    if (!st)
        return;
    db_store_join(st);
    db_store_free(st);
}
