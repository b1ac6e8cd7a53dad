/* The store against a real PostgreSQL: PARLEY_TEST_DATABASE_URL names a
 * database (the tests skip without it, and fail without it when
 * PARLEY_TEST_REQUIRE_DB is set). Every name carries a per-run tag, so
 * the database may hold other data and the test may run again. The pure
 * helpers (hash, job free, config checks) are tested without a database. */
#include "db_internal.h"
#include "pl_error.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "db_test_db.h"

#define N_MSGS 200
#define N_DUPS 50

struct waker {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int wakes;
};

struct ctx {
    const char *url;
    char migrations[4096];
    char tag[32];
    struct waker waker;
    struct db_store *st;
    PGconn *conn; /* the test's own connection, to look at the tables */
    /* events seen while waiting for completions */
    int disabled_events;
};

static void waker_wake(void *arg)
{
    struct waker *w = arg;
    pthread_mutex_lock(&w->lock);
    w->wakes++;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void waker_wait(struct waker *w, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&w->lock);
    if (w->wakes == 0)
        pthread_cond_timedwait(&w->cond, &w->lock, &ts);
    w->wakes = 0;
    pthread_mutex_unlock(&w->lock);
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    assert_non_null(d);
    return d;
}

static char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xprintf(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return xstrdup(buf);
}

/* Collects completed jobs until `want` of the kinds that are not events have
 * come back, in completion order; events are counted, then freed, or kept
 * in *events when the caller asks for them. */
static void collect(struct ctx *c, struct db_job **out, int want, struct db_job **events)
{
    int got = 0;
    for (int rounds = 0; got < want && rounds < 600; rounds++) {
        struct db_job *job = db_store_take_completed(c->st);
        if (!job) {
            waker_wait(&c->waker, 100);
            continue;
        }
        while (job) {
            struct db_job *next = (struct db_job *)job->item.next;
            job->item.next = NULL;
            if (job->kind == DB_EVENT_USER_STATE) {
                c->disabled_events += job->u.user_state.disabled;
                if (events) {
                    job->item.next = (struct pl_mailbox_item *)*events;
                    *events = job;
                } else {
                    db_job_free(job);
                }
            } else {
                assert_true(got < want);
                out[got++] = job;
            }
            job = next;
        }
    }
    assert_int_equal(got, want);
}

/* Waits for an event about `username`; returns its disabled flag. */
static int wait_user_event(struct ctx *c, const char *username)
{
    for (int rounds = 0; rounds < 100; rounds++) {
        struct db_job *job = db_store_take_completed(c->st);
        if (!job) {
            waker_wait(&c->waker, 100);
            continue;
        }
        int found = -1;
        while (job) {
            struct db_job *next = (struct db_job *)job->item.next;
            assert_int_equal(job->kind, DB_EVENT_USER_STATE);
            if (strcmp(job->u.user_state.username, username) == 0)
                found = job->u.user_state.disabled;
            db_job_free(job);
            job = next;
        }
        if (found >= 0)
            return found;
    }
    fail_msg("no user state event for %s", username);
    return -1;
}

static PGresult *sql(struct ctx *c, const char *query, const char *p1)
{
    const char *params[1] = {p1};
    PGresult *res = PQexecParams(c->conn, query, p1 ? 1 : 0, NULL, params, NULL, NULL, 0);
    ExecStatusType s = PQresultStatus(res);
    if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK)
        fail_msg("%s: %s", query, PQresultErrorMessage(res));
    return res;
}

static int sql_count(struct ctx *c, const char *query, const char *p1)
{
    PGresult *res = sql(c, query, p1);
    int n = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return n;
}

static void start_store(struct ctx *c, int workers)
{
    struct db_store_config cfg = {.conninfo = c->url,
                                  .node = c->tag,
                                  .workers = workers,
                                  .wake = waker_wake,
                                  .wake_ctx = &c->waker};
    assert_int_equal(db_store_start(&cfg, &c->st), PL_OK);
}

static int setup(void **state)
{
    const char *url = db_test_url();
    if (!url) {
        *state = NULL;
        return 0;
    }
    struct ctx *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->url = url;
    const char *dir = getenv("PARLEY_MIGRATIONS_DIR");
    if (dir) {
        snprintf(c->migrations, sizeof(c->migrations), "%s", dir);
    } else {
        /* tests/unit/db/ -> the repository's migrations/ */
        const char *file = __FILE__;
        const char *cut = strstr(file, "tests/unit/db/");
        assert_non_null(cut);
        snprintf(c->migrations, sizeof(c->migrations), "%.*smigrations",
                 (int)(cut - file), file);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(c->tag, sizeof(c->tag), "t%ld%ld", (long)getpid(),
             (long)(ts.tv_nsec % 100000));
    /* Names the store's connections so that the test kills only its own. */
    setenv("PGAPPNAME", c->tag, 1);
    pthread_mutex_init(&c->waker.lock, NULL);
    pthread_cond_init(&c->waker.cond, NULL);

    char err[512];
    int rc = db_migrate(url, c->migrations, err, sizeof(err));
    if (rc != PL_OK)
        fail_msg("db_migrate: %s", err);
    c->conn = PQconnectdb(url);
    assert_int_equal(PQstatus(c->conn), CONNECTION_OK);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    if (!c)
        return 0;
    if (c->st)
        db_store_stop(c->st);
    PQfinish(c->conn);
    pthread_cond_destroy(&c->waker.cond);
    pthread_mutex_destroy(&c->waker.lock);
    free(c);
    return 0;
}

#define NEED_DB(state)                                                                   \
    do {                                                                                 \
        if (!*(state))                                                                   \
            skip();                                                                      \
    } while (0)

/* ---- without a database ---- */

static void test_shard_hash_is_fnv1a(void **state)
{
    (void)state;
    assert_true(db_shard_hash("") == 0xcbf29ce484222325ULL);
    assert_true(db_shard_hash("a") == 0xaf63dc4c8601ec8cULL);
    assert_true(db_shard_hash("foobar") == 0x85944171f73967e8ULL);
}

static void test_job_free_releases_everything_sanitizer_only(void **state)
{
    (void)state;
    /* ASan's leak check is the assertion here: what db_job_free releases
     * cannot be seen once it is gone. */
    struct db_job *job = db_job_new(DB_JOB_MSG_STORE);
    assert_non_null(job);
    assert_int_equal(job->kind, DB_JOB_MSG_STORE);
    assert_null(job->u.msg.sender);
    job->u.msg.sender = xstrdup("a@x");
    job->u.msg.recipient = xstrdup("b@x");
    job->u.msg.stanza_id = xstrdup("1");
    job->u.msg.body = xstrdup("hi");
    job->u.msg.stanza_xml = xstrdup("<message/>");
    db_job_free(job);

    job = db_job_new(DB_JOB_OFFLINE_LOAD);
    assert_non_null(job);
    job->u.offline.recipient = xstrdup("b@x");
    job->u.offline.msgs = calloc(2, sizeof(*job->u.offline.msgs));
    assert_non_null(job->u.offline.msgs);
    job->u.offline.msgs[0].stanza_xml = xstrdup("<message/>");
    job->u.offline.msgs[1].stanza_xml = xstrdup("<message/>");
    job->u.offline.count = 2;
    db_job_free(job);

    job = db_job_new(DB_JOB_PRESENCE);
    assert_non_null(job);
    job->u.presence.full_jid = xstrdup("a@x/r");
    job->u.presence.show = xstrdup("away");
    db_job_free(job);
    db_job_free(NULL);
}

static void test_start_refuses_bad_config(void **state)
{
    (void)state;
    struct db_store *st = (struct db_store *)1;
    struct db_store_config cfg = {.conninfo = "", .node = "n", .workers = 0};
    assert_int_equal(db_store_start(&cfg, &st), PL_EINVAL);
    assert_null(st);
    cfg.workers = 1;
    cfg.node = NULL;
    assert_int_equal(db_store_start(&cfg, &st), PL_EINVAL);
}

static void test_start_fails_without_database(void **state)
{
    (void)state;
    struct db_store *st = NULL;
    /* A socket directory that holds no server. */
    struct db_store_config cfg = {
        .conninfo = "host=/nonexistent-parley-dir dbname=x connect_timeout=2",
        .node = "n",
        .workers = 2};
    assert_int_equal(db_store_start(&cfg, &st), PL_EIO);
    assert_null(st);
}

/* ---- against the database ---- */

static void test_migrations_are_current(void **state)
{
    NEED_DB(state);
    struct ctx *c = *state;
    char err[512];
    /* setup applied them: a second run has nothing to do */
    assert_int_equal(db_migrate(c->url, c->migrations, err, sizeof(err)), PL_OK);
    assert_int_equal(db_migrations_current(c->url, c->migrations, err, sizeof(err)),
                     PL_OK);
    assert_int_equal(
        sql_count(c, "SELECT count(*) FROM schema_migrations WHERE version = $1",
                  "0001_init"),
        1);
    assert_int_equal(db_migrate(c->url, "/nonexistent-dir", err, sizeof(err)), PL_ENOENT);
    assert_non_null(strstr(err, "/nonexistent-dir"));
}

static struct db_job *msg_job(struct ctx *c, int i)
{
    struct db_job *job = db_job_new(DB_JOB_MSG_STORE);
    assert_non_null(job);
    job->u.msg.sender = xprintf("alice-%s@test", c->tag);
    job->u.msg.recipient = xprintf("bob-%s@test", c->tag);
    job->u.msg.stanza_id = xprintf("m%d", i);
    job->u.msg.body = xprintf("body %d", i);
    job->u.msg.stanza_xml =
        xprintf("<message id='m%d'><body>body %d</body></message>", i, i);
    job->owner_gen = (uint64_t)i;
    return job;
}

static void test_store_batches_dedups_and_loads(void **state)
{
    NEED_DB(state);
    struct ctx *c = *state;
    start_store(c, 2);
    char *sender = xprintf("alice-%s@test", c->tag);
    char *bob = xprintf("bob-%s@test", c->tag);

    /* 200 messages and 50 repeats, all on the sender's shard so they run in
     * submission order: the repeats come after their originals. */
    for (int i = 0; i < N_MSGS; i++)
        db_store_submit(c->st, msg_job(c, i), sender);
    for (int i = 0; i < N_DUPS; i++)
        db_store_submit(c->st, msg_job(c, i * 3), sender);
    struct db_job *done[N_MSGS + N_DUPS];
    collect(c, done, N_MSGS + N_DUPS, NULL);

    int64_t ids[N_MSGS];
    for (int i = 0; i < N_MSGS; i++) {
        struct db_job *job = done[i];
        assert_int_equal(job->status, PL_OK);
        assert_int_equal((int)job->owner_gen, i); /* one shard: in order */
        assert_int_equal(job->u.msg.inserted, 1);
        assert_true(job->u.msg.id > 0);
        assert_true(job->u.msg.created_at_us > 1600000000LL * 1000000LL);
        if (i > 0)
            assert_true(job->u.msg.id > ids[i - 1]);
        ids[i] = job->u.msg.id;
    }
    for (int i = 0; i < N_DUPS; i++) {
        struct db_job *job = done[N_MSGS + i];
        assert_int_equal(job->status, PL_OK);
        assert_int_equal(job->u.msg.inserted, 0);
        assert_true(job->u.msg.id == ids[i * 3]);
        assert_true(job->u.msg.created_at_us == done[i * 3]->u.msg.created_at_us);
    }
    for (int i = 0; i < N_MSGS + N_DUPS; i++)
        db_job_free(done[i]);
    assert_int_equal(
        sql_count(c, "SELECT count(*) FROM messages WHERE sender = $1", sender), N_MSGS);

    /* delivered: the first 10; a receipt for m0 from bob and from mallory */
    for (int i = 0; i < 10; i++) {
        struct db_job *job = db_job_new(DB_JOB_MARK_DELIVERED);
        assert_non_null(job);
        job->u.delivered.message_id = ids[i];
        job->u.delivered.recipient = xstrdup(bob);
        /* The marks of a batch go as arrays: a session name with quotes,
         * backslashes and commas must arrive as it was. */
        if (i == 1)
            job->u.delivered.via = xstrdup("node \"a\",b\\c/1/2");
        db_store_submit(c->st, job, bob);
    }
    struct db_job *r1 = db_job_new(DB_JOB_MARK_RECEIVED);
    struct db_job *r2 = db_job_new(DB_JOB_MARK_RECEIVED);
    assert_non_null(r1);
    assert_non_null(r2);
    r1->u.received.sender = xstrdup(sender);
    r1->u.received.stanza_id = xstrdup("m0");
    r1->u.received.recipient = xprintf("mallory-%s@test", c->tag);
    r2->u.received.sender = xstrdup(sender);
    r2->u.received.stanza_id = xstrdup("m0");
    r2->u.received.recipient = xstrdup(bob);
    db_store_submit(c->st, r1, bob);
    db_store_submit(c->st, r2, bob);
    collect(c, done, 12, NULL);
    for (int i = 0; i < 12; i++) {
        assert_int_equal(done[i]->status, PL_OK);
        db_job_free(done[i]);
    }
    assert_int_equal(
        sql_count(c,
                  "SELECT count(*) FROM deliveries d JOIN messages m"
                  " ON m.id = d.message_id WHERE m.sender = $1"
                  " AND d.state = 'delivered' AND d.delivered_at IS NOT NULL",
                  sender),
        9);
    assert_int_equal(sql_count(c,
                               "SELECT count(*) FROM deliveries d JOIN messages m"
                               " ON m.id = d.message_id WHERE m.sender = $1"
                               " AND d.state = 'received'",
                               sender),
                     1);
    char id1[24];
    snprintf(id1, sizeof(id1), "%lld", (long long)ids[1]);
    PGresult *via =
        sql(c, "SELECT delivered_via FROM deliveries WHERE message_id = $1", id1);
    assert_string_equal(PQgetvalue(via, 0, 0), "node \"a\",b\\c/1/2");
    PQclear(via);

    /* offline: the 190 still stored, oldest first, as stored */
    struct db_job *off = db_job_new(DB_JOB_OFFLINE_LOAD);
    assert_non_null(off);
    off->u.offline.recipient = xstrdup(bob);
    db_store_submit(c->st, off, bob);
    collect(c, done, 1, NULL);
    assert_ptr_equal(done[0], off);
    assert_int_equal(off->status, PL_OK);
    assert_int_equal(off->u.offline.count, N_MSGS - 10);
    for (size_t i = 0; i < off->u.offline.count; i++) {
        struct db_offline_msg *m = &off->u.offline.msgs[i];
        assert_true(m->id == ids[i + 10]);
        char want[128];
        snprintf(want, sizeof(want), "<message id='m%zu'><body>body %zu</body></message>",
                 i + 10, i + 10);
        assert_string_equal(m->stanza_xml, want);
        if (i > 0)
            assert_true(m->created_at_us >= off->u.offline.msgs[i - 1].created_at_us);
    }
    db_job_free(off);
    free(sender);
    free(bob);
}

static void test_bad_job_fails_alone(void **state)
{
    NEED_DB(state);
    struct ctx *c = *state;
    start_store(c, 1);
    /* One worker: all three are likely in one batch; the bad one must not take
     * the others down with it. */
    struct db_job *good1 = msg_job(c, 1000);
    struct db_job *bad = msg_job(c, 1001);
    free(bad->u.msg.sender);
    bad->u.msg.sender = NULL; /* NOT NULL column */
    struct db_job *good2 = msg_job(c, 1002);
    struct db_job *event = db_job_new(DB_EVENT_USER_STATE); /* not submittable */
    assert_non_null(event);
    db_store_submit(c->st, good1, NULL);
    db_store_submit(c->st, bad, NULL);
    db_store_submit(c->st, good2, NULL);
    db_store_submit(c->st, event, NULL);
    struct db_job *done[4];
    struct db_job *events = NULL;
    /* the refused event comes back as an event-kind completion */
    collect(c, done, 3, &events);
    assert_ptr_equal(events, event);
    assert_int_equal(event->status, PL_EINVAL);
    db_job_free(event);
    for (int i = 0; i < 3; i++) {
        if (done[i] == bad) {
            assert_int_equal(bad->status, PL_EIO);
        } else {
            assert_int_equal(done[i]->status, PL_OK);
            assert_int_equal(done[i]->u.msg.inserted, 1);
        }
        db_job_free(done[i]);
    }
}

static struct db_job *login_job(const char *username)
{
    struct db_job *job = db_job_new(DB_JOB_USER_LOGIN);
    assert_non_null(job);
    job->u.login.username = xstrdup(username);
    return job;
}

static void test_login_and_user_state_events(void **state)
{
    NEED_DB(state);
    struct ctx *c = *state;
    char *carol = xprintf("carol-%s", c->tag);
    start_store(c, 2);

    struct db_job *done[1];
    db_store_submit(c->st, login_job(carol), carol);
    collect(c, done, 1, NULL);
    assert_int_equal(done[0]->status, PL_OK);
    assert_int_equal(done[0]->u.login.disabled, 0);
    db_job_free(done[0]);
    assert_int_equal(sql_count(c,
                               "SELECT count(*) FROM users WHERE username = $1 AND "
                               "last_login_at IS NOT NULL",
                               carol),
                     1);

    /* disabling is announced to the running store... */
    PQclear(sql(c, "UPDATE users SET disabled = true WHERE username = $1", carol));
    assert_int_equal(wait_user_event(c, carol), 1);
    db_store_submit(c->st, login_job(carol), carol);
    collect(c, done, 1, NULL);
    assert_int_equal(done[0]->u.login.disabled, 1);
    db_job_free(done[0]);

    /* ...and reported again by a store that starts later */
    db_store_stop(c->st);
    c->st = NULL;
    start_store(c, 1);
    assert_int_equal(wait_user_event(c, carol), 1);

    /* enabling is announced too */
    PQclear(sql(c, "UPDATE users SET disabled = false WHERE username = $1", carol));
    assert_int_equal(wait_user_event(c, carol), 0);

    /* an upper-case name breaks the users CHECK: that job fails, alone */
    db_store_submit(c->st, login_job("Carol"), NULL);
    collect(c, done, 1, NULL);
    assert_int_equal(done[0]->status, PL_EIO);
    db_job_free(done[0]);
    free(carol);
}

static struct db_job *presence_job(struct ctx *c, int available, const char *show)
{
    struct db_job *job = db_job_new(DB_JOB_PRESENCE);
    assert_non_null(job);
    job->u.presence.full_jid = xprintf("dave-%s@test/web", c->tag);
    job->u.presence.username = xprintf("dave-%s", c->tag);
    job->u.presence.resource = xstrdup("web");
    job->u.presence.available = available;
    job->u.presence.show = show ? xstrdup(show) : NULL;
    job->u.presence.priority = 5;
    return job;
}

static void test_presence_rows(void **state)
{
    NEED_DB(state);
    struct ctx *c = *state;
    /* a row left by a previous run of this node is cleared at start */
    PQclear(sql(c,
                "INSERT INTO sessions (node, full_jid, username, resource)"
                " VALUES ($1, $1 || '@stale/x', 'stale', 'x')",
                c->tag));
    start_store(c, 2);
    assert_int_equal(
        sql_count(c, "SELECT count(*) FROM sessions WHERE node = $1", c->tag), 0);

    struct db_job *done[2];
    db_store_submit(c->st, presence_job(c, 1, NULL), "dave");
    db_store_submit(c->st, presence_job(c, 1, "away"), "dave");
    collect(c, done, 2, NULL);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(done[i]->status, PL_OK);
        db_job_free(done[i]);
    }
    assert_int_equal(sql_count(c,
                               "SELECT count(*) FROM sessions WHERE node = $1"
                               " AND show = 'away' AND priority = 5 AND available"
                               " AND resource = 'web'",
                               c->tag),
                     1);
    struct db_job *unavailable = presence_job(c, 0, NULL);
    db_store_submit(c->st, unavailable, "dave");
    collect(c, done, 1, NULL);
    assert_int_equal(done[0]->status, PL_OK);
    db_job_free(done[0]);
    assert_int_equal(sql_count(c,
                               "SELECT count(*) FROM sessions WHERE node = $1"
                               " AND NOT available AND show IS NULL",
                               c->tag),
                     1);
    struct db_job *gone = presence_job(c, 0, NULL);
    gone->u.presence.gone = 1;
    db_store_submit(c->st, gone, "dave");
    collect(c, done, 1, NULL);
    assert_int_equal(done[0]->status, PL_OK);
    db_job_free(done[0]);
    assert_int_equal(
        sql_count(c, "SELECT count(*) FROM sessions WHERE node = $1", c->tag), 0);
}

static void test_survives_lost_connections(void **state)
{
    NEED_DB(state);
    struct ctx *c = *state;
    start_store(c, 2);
    char *sender = xprintf("erin-%s@test", c->tag);
    /* kill every connection of the store (and only the store's) */
    assert_true(sql_count(c,
                          "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                          " WHERE application_name = $1 AND pid <> pg_backend_pid()",
                          c->tag) >= 3);
    for (int i = 0; i < 20; i++) {
        struct db_job *job = msg_job(c, 2000 + i);
        free(job->u.msg.sender);
        job->u.msg.sender = xstrdup(sender);
        db_store_submit(c->st, job, i % 2 ? "x" : "y");
    }
    struct db_job *done[20];
    collect(c, done, 20, NULL);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(done[i]->status, PL_OK);
        db_job_free(done[i]);
    }
    assert_int_equal(
        sql_count(c, "SELECT count(*) FROM messages WHERE sender = $1", sender), 20);
    free(sender);
}

static void test_stop_finishes_submitted_jobs(void **state)
{
    NEED_DB(state);
    struct ctx *c = *state;
    start_store(c, 2);
    char *sender = xprintf("frank-%s@test", c->tag);
    for (int i = 0; i < 50; i++) {
        struct db_job *job = msg_job(c, 3000 + i);
        free(job->u.msg.sender);
        job->u.msg.sender = xstrdup(sender);
        db_store_submit(c->st, job, sender);
    }
    /* completions nobody takes are freed by stop (ASan checks) */
    db_store_stop(c->st);
    c->st = NULL;
    assert_int_equal(
        sql_count(c, "SELECT count(*) FROM messages WHERE sender = $1", sender), 50);
    free(sender);
}

/* Makes the database refuse every message of `sender` as a full disk does
 * (SQLSTATE 53100, which the store takes as transient), counting each try
 * in a sequence (not rolled back with the refused transaction). */
static void refuse_writes(struct ctx *c, const char *sender)
{
    char *q = xprintf(
        "CREATE SEQUENCE IF NOT EXISTS full_tries_%s;"
        "CREATE OR REPLACE FUNCTION full_disk_%s() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN PERFORM nextval('full_tries_%s');"
        " RAISE EXCEPTION 'could not extend file: No space left on device'"
        " USING ERRCODE = 'disk_full'; END $$;"
        "CREATE TRIGGER full_disk_%s BEFORE INSERT ON messages FOR EACH ROW"
        " WHEN (NEW.sender = '%s') EXECUTE FUNCTION full_disk_%s();",
        c->tag, c->tag, c->tag, c->tag, sender, c->tag);
    PGresult *res = PQexec(c->conn, q); /* several statements: no parameters */
    free(q);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fail_msg("refuse_writes: %s", PQresultErrorMessage(res));
    PQclear(res);
}

static void accept_writes(struct ctx *c)
{
    char *q = xprintf("DROP TRIGGER full_disk_%s ON messages", c->tag);
    PQclear(sql(c, q, NULL));
    free(q);
}

static int full_tries(struct ctx *c)
{
    char *q = xprintf("SELECT last_value FROM full_tries_%s", c->tag);
    int n = sql_count(c, q, NULL);
    free(q);
    return n;
}

/* Polls until `*flag` is `want`, for up to 5 s; the flag's last value. */
static int wait_flag(atomic_int *flag, int want)
{
    for (int i = 0; i < 100 && atomic_load(flag) != want; i++) {
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 50 * 1000000L};
        nanosleep(&pause, NULL);
    }
    return atomic_load(flag);
}

/* Out of disk: the store holds the job (no completion: nothing is
 * acknowledged), tries again with back-off rather than as fast as it can
 * reconnect, and says so in metrics->store_failing (/readyz); once writes
 * are accepted the job commits once and the flag clears. */
static void test_refused_write_is_retried_with_back_off(void **state)
{
    NEED_DB(state);
    struct ctx *c = *state;
    /* static: a failed assertion leaves the store running until teardown */
    static struct pl_metrics metrics;
    memset(&metrics, 0, sizeof(metrics));
    struct db_store_config cfg = {.conninfo = c->url,
                                  .node = c->tag,
                                  .workers = 1,
                                  .wake = waker_wake,
                                  .wake_ctx = &c->waker,
                                  .metrics = &metrics};
    assert_int_equal(db_store_start(&cfg, &c->st), PL_OK);
    char *sender = xprintf("ivy-%s@test", c->tag);
    refuse_writes(c, sender);
    struct db_job *job = msg_job(c, 4000);
    free(job->u.msg.sender);
    job->u.msg.sender = xstrdup(sender);
    db_store_submit(c->st, job, sender);
    assert_int_equal(wait_flag(&metrics.store_failing, 1), 1);
    struct timespec pause = {.tv_sec = 1, .tv_nsec = 500 * 1000000L};
    nanosleep(&pause, NULL);
    assert_null(db_store_take_completed(c->st));
    /* 100, 200, 400, 800 ms apart: a handful in 1.5 s, not hundreds */
    int tries = full_tries(c);
    assert_in_range(tries, 2, 8);
    accept_writes(c);
    struct db_job *done[1];
    collect(c, done, 1, NULL);
    assert_int_equal(done[0]->status, PL_OK);
    db_job_free(done[0]);
    assert_int_equal(atomic_load(&metrics.store_failing), 0);
    assert_int_equal(
        sql_count(c, "SELECT count(*) FROM messages WHERE sender = $1", sender), 1);

    /* Still refused at stop: the job fails after the grace period instead of
     * keeping the store from stopping. */
    refuse_writes(c, sender);
    job = msg_job(c, 4001);
    free(job->u.msg.sender);
    job->u.msg.sender = xstrdup(sender);
    db_store_submit(c->st, job, sender);
    assert_int_equal(wait_flag(&metrics.store_failing, 1), 1);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    db_store_stop(c->st); /* the failed job's completion is freed by stop */
    c->st = NULL;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec <
                DB_STOP_GRACE_MS / 1000 + DB_BACKOFF_MAX_MS / 1000 + 2);
    assert_int_equal(atomic_load(&metrics.store_failing), 0);
    accept_writes(c);
    assert_int_equal(
        sql_count(c, "SELECT count(*) FROM messages WHERE sender = $1", sender), 1);
    free(sender);
}

/* Two nodes on one database store the same retry at once (a client that
 * resent on a second node while the first node's batch was still open):
 * the second waits for the first to commit, then finds its row, so there
 * is one message. Without the lock both would insert. */
static void test_retry_on_two_nodes_is_one_message(void **state)
{
    NEED_DB(state);
    struct ctx *c = *state;
    PGconn *a = PQconnectdb(c->url), *b = PQconnectdb(c->url);
    assert_int_equal(PQstatus(a), CONNECTION_OK);
    assert_int_equal(PQstatus(b), CONNECTION_OK);
    char *sender = xprintf("gina-%s@test", c->tag);
    const char *params[5] = {sender, "hank@test", "race-1", "same body", "<message/>"};
    const char *q = "SELECT inserted FROM parley_store_message($1, $2, $3, $4, $5)";

    PQclear(PQexec(a, "BEGIN"));
    PGresult *res = PQexecParams(a, q, 5, NULL, params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(res, 0, 0), "t");
    PQclear(res);

    /* node b's store of the same message waits for node a's transaction */
    assert_int_equal(PQsendQueryParams(b, q, 5, NULL, params, NULL, NULL, 0), 1);
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 300 * 1000000L};
    nanosleep(&pause, NULL);
    assert_int_equal(PQconsumeInput(b), 1);
    assert_int_equal(PQisBusy(b), 1);

    PQclear(PQexec(a, "COMMIT"));
    res = PQgetResult(b);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(res, 0, 0), "f");
    PQclear(res);
    assert_null(PQgetResult(b));
    assert_int_equal(
        sql_count(c, "SELECT count(*) FROM messages WHERE sender = $1", sender), 1);

    /* a store of another message meanwhile is not held up by the lock */
    const char *other[5] = {sender, "hank@test", "race-2", "other", "<message/>"};
    PQclear(PQexec(a, "BEGIN"));
    PQclear(PQexecParams(a, q, 5, NULL, params, NULL, NULL, 0));
    res = PQexecParams(b, q, 5, NULL, other, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(res, 0, 0), "t");
    PQclear(res);
    PQclear(PQexec(a, "COMMIT"));
    PQfinish(a);
    PQfinish(b);
    free(sender);
}

/* Each database test gets its own store; teardown stops it. */
static int stop_store(void **state)
{
    struct ctx *c = *state;
    if (c && c->st) {
        db_store_stop(c->st);
        c->st = NULL;
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_shard_hash_is_fnv1a),
        cmocka_unit_test(test_job_free_releases_everything_sanitizer_only),
        cmocka_unit_test(test_start_refuses_bad_config),
        cmocka_unit_test(test_start_fails_without_database),
    };
    const struct CMUnitTest with_db[] = {
        cmocka_unit_test_teardown(test_migrations_are_current, stop_store),
        cmocka_unit_test_teardown(test_store_batches_dedups_and_loads, stop_store),
        cmocka_unit_test_teardown(test_bad_job_fails_alone, stop_store),
        cmocka_unit_test_teardown(test_login_and_user_state_events, stop_store),
        cmocka_unit_test_teardown(test_presence_rows, stop_store),
        cmocka_unit_test_teardown(test_survives_lost_connections, stop_store),
        cmocka_unit_test_teardown(test_stop_finishes_submitted_jobs, stop_store),
        cmocka_unit_test_teardown(test_retry_on_two_nodes_is_one_message, stop_store),
        cmocka_unit_test_teardown(test_refused_write_is_retried_with_back_off,
                                  stop_store),
    };
    int failed = cmocka_run_group_tests_name("db_store_pure", pure, NULL, NULL);
    failed += cmocka_run_group_tests_name("db_store_postgres", with_db, setup, teardown);
    return failed;
}
