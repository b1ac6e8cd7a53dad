/* Export (db_read.h, "Export"): a connection of its own, one
 * repeatable-read snapshot, and a keyset cursor: each batch is the next
 * DB_EXPORT_BATCH rows after the last id seen, by a named prepared
 * statement that walks the same index as the archive's pages. Only one
 * batch is in memory at a time. */
#include "db_internal.h"
#include "db_read.h"
#include "pl_error.h"
#include "pl_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DB_EXPORT_BATCH 5000

#define DB_EXPORT_SELECT                                                                 \
    "SELECT m.id, m.kind, m.sender, m.recipient, m.room, m.stanza_id, m.body,"           \
    " to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"     \
    " FROM messages m WHERE "
/* $1 user, $2 peer, $3 room, $4 since, $5 until, $6 the last id seen. */
#define DB_EXPORT_TAIL                                                                   \
    " AND ($4::timestamptz IS NULL OR m.created_at >= $4::timestamptz)"                  \
    " AND ($5::timestamptz IS NULL OR m.created_at < $5::timestamptz)"                   \
    " AND m.id > $6::bigint ORDER BY m.id LIMIT 5000"

static const struct db_stmt db_export_stmts[] = {
    /* db_export_next: a user's messages, either direction */
    {"export_user",
     DB_EXPORT_SELECT "(m.sender = $1::text OR m.recipient = $1::text)"
                      " AND $2::text IS NULL AND $3::text IS NULL" DB_EXPORT_TAIL},
    /* db_export_next: a conversation */
    {"export_conv", DB_EXPORT_SELECT
     "m.kind = 'chat' AND parley_pair_key(m.sender, m.recipient) = "
     "parley_pair_key($1::text, $2::text) AND ((m.sender = $1::text AND "
     "m.recipient = $2::text) OR (m.sender = $2::text AND m.recipient = $1::text))"
     " AND $3::text IS NULL" DB_EXPORT_TAIL},
    /* db_export_next: a room */
    {"export_room",
     DB_EXPORT_SELECT "m.kind = 'groupchat' AND m.room = $3::text"
                      " AND $1::text IS NULL AND $2::text IS NULL" DB_EXPORT_TAIL},
};

struct db_export {
    PGconn *conn;
    const char *stmt;
    char *user, *peer, *room, *since, *until;
    PGresult *batch;
    int row;      /* the next row of batch */
    int64_t last; /* the last id handed out */
    int done;
};

static int dup_or_null(const char *s, char **out)
{
    *out = NULL;
    if (!s)
        return PL_OK;
    *out = strdup(s);
    return *out ? PL_OK : PL_ENOMEM;
}

static int exec_ok(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    int ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    return ok;
}

int db_export_open(const char *conninfo, const struct db_export_filter *f,
                   struct db_export **out)
{
    *out = NULL;
    const char *stmt = f->room ? "export_room" : f->peer ? "export_conv" : "export_user";
    if ((!f->user && !f->room) || (f->peer && (!f->user || f->room)) ||
        (f->room && f->user))
        return PL_EINVAL;
    struct db_export *e = calloc(1, sizeof(*e));
    if (!e)
        return PL_ENOMEM;
    e->stmt = stmt;
    int rc = PL_ENOMEM;
    if (dup_or_null(f->user, &e->user) || dup_or_null(f->peer, &e->peer) ||
        dup_or_null(f->room, &e->room) || dup_or_null(f->since, &e->since) ||
        dup_or_null(f->until, &e->until))
        goto fail;
    int ok = 0;
    e->conn = db_conn_open(conninfo ? conninfo : "", &ok);
    rc = PL_EIO;
    if (!e->conn || !ok)
        goto fail;
    /* One snapshot for the whole file, whatever is written meanwhile. */
    if (!exec_ok(e->conn, "SET TIME ZONE 'UTC'") ||
        !exec_ok(e->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        goto fail;
    for (size_t i = 0; i < sizeof(db_export_stmts) / sizeof(db_export_stmts[0]); i++) {
        PGresult *res =
            PQprepare(e->conn, db_export_stmts[i].name, db_export_stmts[i].sql, 0, NULL);
        ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok)
            pl_error(0, NULL, "db: preparing %s: %s", db_export_stmts[i].name,
                     res ? PQresultErrorMessage(res) : "no result");
        PQclear(res);
        if (!ok)
            goto fail;
    }
    *out = e;
    return PL_OK;
fail:
    db_export_close(e);
    return rc;
}

static int fetch(struct db_export *e)
{
    PQclear(e->batch);
    e->batch = NULL;
    e->row = 0;
    char last[24];
    snprintf(last, sizeof(last), "%lld", (long long)e->last);
    const char *p[6] = {e->user, e->peer, e->room, e->since, e->until, last};
    PGresult *res = PQexecPrepared(e->conn, e->stmt, 6, p, NULL, NULL, 0);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        pl_warn(0, NULL, "db: export failed: %.*s",
                (int)strcspn(PQresultErrorMessage(res), "\n"), PQresultErrorMessage(res));
        PQclear(res);
        return PL_EIO;
    }
    e->batch = res;
    if (PQntuples(res) < DB_EXPORT_BATCH)
        e->done = 1; /* this batch is the last */
    return PL_OK;
}

static const char *col(const PGresult *res, int row, int c)
{
    return PQgetisnull(res, row, c) ? NULL : PQgetvalue(res, row, c);
}

int db_export_next(struct db_export *e, struct db_export_row *row)
{
    memset(row, 0, sizeof(*row));
    if (!e->batch || e->row >= PQntuples(e->batch)) {
        if (e->batch && e->done)
            return PL_ENOENT;
        int rc = fetch(e);
        if (rc != PL_OK)
            return rc;
        if (PQntuples(e->batch) == 0)
            return PL_ENOENT;
    }
    const PGresult *b = e->batch;
    int r = e->row++;
    row->id = strtoll(PQgetvalue(b, r, 0), NULL, 10);
    row->kind = col(b, r, 1);
    row->sender = col(b, r, 2);
    row->recipient = col(b, r, 3);
    row->room = col(b, r, 4);
    row->stanza_id = col(b, r, 5);
    row->body = col(b, r, 6);
    row->created_at = col(b, r, 7);
    e->last = row->id;
    return PL_OK;
}

void db_export_close(struct db_export *e)
{
    if (!e)
        return;
    PQclear(e->batch);
    PQfinish(e->conn); /* the read-only transaction ends with it */
    free(e->user);
    free(e->peer);
    free(e->room);
    free(e->since);
    free(e->until);
    free(e);
}
