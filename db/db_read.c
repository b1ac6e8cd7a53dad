/* The admin API's pooled, synchronous read path (db_read.h). A slot is one
 * connection; a caller holds a slot from checkout to checkin, so a
 * connection is only ever used by one thread at a time, and the pool lock
 * is never held across a query or a connect. */
#include "db_read.h"

#include "db_internal.h"
#include "pl_error.h"
#include "pl_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DB_READ_WAIT_MS_DEFAULT 5000
#define DB_READ_STATEMENT_MS_DEFAULT 10000

struct db_read_slot {
    PGconn *conn;
    int ready; /* connected, set up and statements prepared */
    int busy;  /* checked out */
};

struct db_read_pool {
    char *conninfo;
    char *migrations_dir;
    int wait_ms;
    int statement_ms;
    int size;
    struct db_read_slot *slots;
    pthread_mutex_t lock;
    pthread_cond_t freed;
};

/* The users of a page are one more than asked for, to know whether a next
 * page exists; the JSON is built around them. `online` is whether the user
 * has a session row on any node. The prefix test keeps the lower bound on
 * the primary key (a string sorts after its prefixes in every collation),
 * so a page starts at the right place in the index. */
#define DB_READ_USER_FIELDS                                                              \
    "'username', u.username, 'display_name', u.display_name, 'disabled', u.disabled,"    \
    " 'created_at', u.created_at, 'last_login_at', u.last_login_at,"                     \
    " 'last_seen_at', u.last_seen_at"

static const struct db_stmt db_read_stmts[] = {
    /* db_read_users_list */
    {"read_users_list",
     "WITH page AS ("
     " SELECT u.*, row_number() OVER (ORDER BY u.username) AS rn FROM ("
     "  SELECT * FROM users u"
     "  WHERE ($1::text IS NULL OR (u.username >= $1 AND starts_with(u.username, $1)))"
     "  AND ($2::text IS NULL OR u.username > $2)"
     "  ORDER BY u.username LIMIT $3::int + 1) u)"
     " SELECT json_build_object("
     " 'items', coalesce((SELECT json_agg(json_build_object(" DB_READ_USER_FIELDS ","
     "  'online', EXISTS (SELECT 1 FROM sessions s WHERE s.username = u.username))"
     "  ORDER BY u.username) FROM page u WHERE u.rn <= $3::int), '[]'::json),"
     " 'next_cursor', (SELECT u.username FROM page u WHERE u.rn = $3::int"
     "  AND EXISTS (SELECT 1 FROM page WHERE rn > $3::int)))::text"},
    /* db_read_user_get */
    {"read_user_get",
     "SELECT json_build_object(" DB_READ_USER_FIELDS ","
     " 'sessions', coalesce((SELECT json_agg(json_build_object("
     "  'full_jid', s.full_jid, 'resource', s.resource, 'node', s.node,"
     "  'available', s.available, 'show', s.show, 'status', s.status,"
     "  'priority', s.priority, 'address', s.address, 'since', s.since)"
     "  ORDER BY s.since, s.full_jid)"
     "  FROM sessions s WHERE s.username = u.username), '[]'::json))::text"
     " FROM users u WHERE u.username = $1"},
};

static void db_read_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void db_read_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    err[strcspn(err, "\n")] = '\0';
}

int db_read_open(const struct db_read_config *cfg, struct db_read_pool **out)
{
    *out = NULL;
    if (!cfg || cfg->size < 1 || cfg->size > DB_READ_POOL_MAX || cfg->wait_ms < 0 ||
        cfg->statement_ms < 0)
        return PL_EINVAL;
    struct db_read_pool *pool = calloc(1, sizeof(*pool));
    if (!pool)
        return PL_ENOMEM;
    pool->conninfo = strdup(cfg->conninfo ? cfg->conninfo : "");
    pool->migrations_dir = cfg->migrations_dir ? strdup(cfg->migrations_dir) : NULL;
    pool->slots = calloc((size_t)cfg->size, sizeof(*pool->slots));
    if (!pool->conninfo || (cfg->migrations_dir && !pool->migrations_dir) ||
        !pool->slots) {
        free(pool->conninfo);
        free(pool->migrations_dir);
        free(pool->slots);
        free(pool);
        return PL_ENOMEM;
    }
    pool->size = cfg->size;
    pool->wait_ms = cfg->wait_ms ? cfg->wait_ms : DB_READ_WAIT_MS_DEFAULT;
    pool->statement_ms =
        cfg->statement_ms ? cfg->statement_ms : DB_READ_STATEMENT_MS_DEFAULT;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->freed, NULL);
    *out = pool;
    return PL_OK;
}

void db_read_close(struct db_read_pool *pool)
{
    if (!pool)
        return;
    for (int i = 0; i < pool->size; i++)
        PQfinish(pool->slots[i].conn);
    pthread_cond_destroy(&pool->freed);
    pthread_mutex_destroy(&pool->lock);
    free(pool->slots);
    free(pool->conninfo);
    free(pool->migrations_dir);
    free(pool);
}

/* A free slot, marked busy; NULL (PL_AGAIN) when none came free in time. */
static struct db_read_slot *db_read_checkout(struct db_read_pool *pool)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += pool->wait_ms / 1000;
    deadline.tv_nsec += (long)(pool->wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    struct db_read_slot *slot = NULL;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        /* A slot that is connected first: a reconnect is slow. */
        for (int i = 0; i < pool->size && !slot; i++)
            if (!pool->slots[i].busy && pool->slots[i].ready)
                slot = &pool->slots[i];
        for (int i = 0; i < pool->size && !slot; i++)
            if (!pool->slots[i].busy)
                slot = &pool->slots[i];
        if (slot) {
            slot->busy = 1;
            break;
        }
        if (pthread_cond_timedwait(&pool->freed, &pool->lock, &deadline) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&pool->lock);
    return slot;
}

static void db_read_checkin(struct db_read_pool *pool, struct db_read_slot *slot)
{
    pthread_mutex_lock(&pool->lock);
    slot->busy = 0;
    pthread_cond_signal(&pool->freed);
    pthread_mutex_unlock(&pool->lock);
}

static int db_read_exec_ok(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    int ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    return ok;
}

/* Connects (or resets) the slot's connection and sets it up: read-only,
 * UTC, the statement timeout, the statements. */
static int db_read_connect(struct db_read_pool *pool, struct db_read_slot *slot)
{
    slot->ready = 0;
    if (slot->conn) {
        PQreset(slot->conn);
    } else {
        int ok;
        slot->conn = db_conn_open(pool->conninfo, &ok);
        if (!slot->conn)
            return PL_ENOMEM;
    }
    if (PQstatus(slot->conn) != CONNECTION_OK)
        return PL_EIO;
    char timeout[64];
    snprintf(timeout, sizeof(timeout), "SET statement_timeout = %d", pool->statement_ms);
    if (!db_read_exec_ok(slot->conn, "SET default_transaction_read_only = on") ||
        !db_read_exec_ok(slot->conn, "SET TIME ZONE 'UTC'") ||
        !db_read_exec_ok(slot->conn, timeout))
        return PL_EIO;
    for (size_t i = 0; i < sizeof(db_read_stmts) / sizeof(db_read_stmts[0]); i++) {
        PGresult *res =
            PQprepare(slot->conn, db_read_stmts[i].name, db_read_stmts[i].sql, 0, NULL);
        int ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok)
            pl_error(0, NULL, "db: preparing %s: %s", db_read_stmts[i].name,
                     res ? PQresultErrorMessage(res) : "no result");
        PQclear(res);
        if (!ok)
            return PL_EIO;
    }
    slot->ready = 1;
    return PL_OK;
}

/* Whether a failed result was the connection's fault (retry on a fresh
 * one) rather than the statement's. */
static int db_read_conn_lost(PGconn *conn, const PGresult *res)
{
    if (PQstatus(conn) != CONNECTION_OK)
        return 1;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return !state || strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0;
}

/* Runs a prepared statement that answers at most one row of one text
 * column. *out gets a copy of it (NULL when there is no row). */
static int db_read_one(struct db_read_pool *pool, const char *stmt, int n,
                       const char *const *params, char **out)
{
    *out = NULL;
    struct db_read_slot *slot = db_read_checkout(pool);
    if (!slot)
        return PL_AGAIN;
    int rc = PL_EIO;
    /* A connection that broke since its last use (the server restarted, an
     * idle timeout) fails the first try: reset it and try once more. */
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!slot->ready) {
            rc = db_read_connect(pool, slot);
            if (rc != PL_OK)
                break;
        }
        PGresult *res = PQexecPrepared(slot->conn, stmt, n, params, NULL, NULL, 0);
        if (res && PQresultStatus(res) == PGRES_TUPLES_OK) {
            rc = PL_OK;
            if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0) &&
                !(*out = strdup(PQgetvalue(res, 0, 0))))
                rc = PL_ENOMEM;
            PQclear(res);
            break;
        }
        int lost = db_read_conn_lost(slot->conn, res);
        if (!lost)
            pl_warn(0, NULL, "db: %s failed: %.*s", stmt,
                    (int)strcspn(PQresultErrorMessage(res), "\n"),
                    PQresultErrorMessage(res));
        PQclear(res);
        rc = PL_EIO;
        if (!lost)
            break;
        slot->ready = 0;
    }
    db_read_checkin(pool, slot);
    return rc;
}

int db_read_health(struct db_read_pool *pool, char *err, size_t errlen)
{
    db_read_err(err, errlen, "%s", "");
    struct db_read_slot *slot = db_read_checkout(pool);
    if (!slot) {
        db_read_err(err, errlen, "every database connection is in use");
        return PL_AGAIN;
    }
    int rc = PL_OK;
    if (slot->ready) {
        /* Cheap proof that the connection still works. */
        PGresult *res = PQexec(slot->conn, "SELECT 1");
        if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
            slot->ready = 0;
        PQclear(res);
    }
    if (!slot->ready)
        rc = db_read_connect(pool, slot);
    if (rc != PL_OK) {
        char msg[256];
        db_read_err(err, errlen, "database not reachable: %s",
                    db_conn_error(slot->conn, msg, sizeof(msg)));
        rc = rc == PL_ENOMEM ? rc : PL_EIO;
    } else if (pool->migrations_dir) {
        rc = db_migrations_check(slot->conn, pool->migrations_dir, err, errlen);
        if (rc == PL_EIO && PQstatus(slot->conn) != CONNECTION_OK)
            slot->ready = 0;
    }
    db_read_checkin(pool, slot);
    return rc;
}

int db_read_users_list(struct db_read_pool *pool, const char *q, const char *cursor,
                       int limit, char **json)
{
    *json = NULL;
    if (limit < 1 || limit > DB_READ_LIST_MAX)
        return PL_EINVAL;
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", limit);
    const char *params[3] = {q && *q ? q : NULL, cursor && *cursor ? cursor : NULL, lim};
    int rc = db_read_one(pool, "read_users_list", 3, params, json);
    if (rc == PL_OK && !*json)
        rc = PL_EIO; /* the aggregate always answers one row */
    return rc;
}

int db_read_user_get(struct db_read_pool *pool, const char *username, char **json)
{
    *json = NULL;
    if (!username || !*username)
        return PL_EINVAL;
    const char *params[1] = {username};
    int rc = db_read_one(pool, "read_user_get", 1, params, json);
    if (rc == PL_OK && !*json)
        rc = PL_ENOENT;
    return rc;
}
