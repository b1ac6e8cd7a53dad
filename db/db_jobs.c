/* The jobs' SQL and the batch runner: every statement is prepared once per
 * connection under a name, and a batch goes out as one pipeline (BEGIN, the
 * jobs, COMMIT, sync): one round trip and one commit for all of them. */
#include "db_internal.h"
#include "pl_buf.h"
#include "pl_error.h"
#include "pl_log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DB_STR_(x) #x
#define DB_STR(x) DB_STR_(x)

/* extract() returns numeric since PostgreSQL 14, so this is exact. */
#define DB_EPOCH_US(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

struct db_stmt {
    const char *name;
    const char *sql;
};

static const struct db_stmt db_stmts[] = {
    /* db_job_send_login */
    {"user_login", "SELECT parley_user_login($1)"},
    /* db_job_send_msg_store */
    {"store_message", "SELECT id, " DB_EPOCH_US(
                          "created_at") ", inserted, pending"
                                        " FROM parley_store_message($1, $2, $3, $4, $5)"},
    /* db_jobs_send_delivered: every delivered mark of a batch in one
     * statement (the commonest job: one per message written); the same
     * update as parley_mark_delivered, row by row. */
    {"mark_delivered_many",
     "UPDATE deliveries d SET state = 'delivered', delivered_via = u.via"
     " FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(id, recipient, via)"
     " WHERE d.message_id = u.id AND d.recipient = u.recipient AND d.state = 'stored'"},
    /* db_job_send_session_end */
    {"session_end", "SELECT parley_session_end($1, $2)"},
    /* db_job_send_received */
    {"mark_received", "SELECT parley_mark_received($1, $2, $3)"},
    /* db_job_send_offline: the partial index deliveries_stored_by_recipient
     * serves it; the caller loads again while a batch comes back full. */
    {"offline_load",
     "SELECT m.id, " DB_EPOCH_US(
         "m.created_at") ", m.stanza"
                         " FROM deliveries d JOIN messages m ON m.id = d.message_id"
                         " WHERE d.recipient = $1 AND d.state = 'stored'"
                         " AND d.message_id > $2"
                         " ORDER BY d.message_id LIMIT " DB_STR(DB_OFFLINE_BATCH)},
    /* db_job_send_presence: a bound session, available or not; `since`
     * keeps the first value, the address the first known one */
    {"presence_upsert",
     "INSERT INTO sessions (node, full_jid, username, resource, available, show,"
     " status, priority, address, since, updated_at)"
     " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now(), now())"
     " ON CONFLICT (full_jid) DO UPDATE SET node = EXCLUDED.node,"
     " username = EXCLUDED.username, resource = EXCLUDED.resource,"
     " available = EXCLUDED.available, show = EXCLUDED.show, status = EXCLUDED.status,"
     " priority = EXCLUDED.priority,"
     " address = coalesce(EXCLUDED.address, sessions.address), updated_at = now()"},
    /* db_job_send_presence, gone: only this node's row, in case the full JID
     * has since been bound on another node */
    {"presence_delete", "DELETE FROM sessions WHERE full_jid = $1 AND node = $2"},
    /* db_jobs_node_restart */
    {"node_restart", "SELECT parley_node_restart($1)"},
};

int db_jobs_prepare(PGconn *conn)
{
    for (size_t i = 0; i < sizeof(db_stmts) / sizeof(db_stmts[0]); i++) {
        PGresult *res = PQprepare(conn, db_stmts[i].name, db_stmts[i].sql, 0, NULL);
        int ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok)
            pl_error(0, NULL, "db: preparing %s: %s", db_stmts[i].name,
                     res ? PQresultErrorMessage(res) : "no result");
        PQclear(res);
        if (!ok)
            return PL_EIO;
    }
    return PL_OK;
}

int db_jobs_node_restart(PGconn *conn, const char *node)
{
    const char *params[1] = {node};
    PGresult *res = PQexecPrepared(conn, "node_restart", 1, params, NULL, NULL, 0);
    int rc = res && PQresultStatus(res) == PGRES_TUPLES_OK ? PL_OK : PL_EIO;
    if (rc == PL_OK && strcmp(PQgetvalue(res, 0, 0), "0") != 0)
        pl_info(0, NULL,
                "db: %s messages written to sessions of the last run go back "
                "to offline delivery",
                PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

static int db_send(PGconn *conn, const char *stmt, int n, const char *const *params)
{
    return PQsendQueryPrepared(conn, stmt, n, params, NULL, NULL, 0) == 1;
}

static int db_job_send_login(PGconn *conn, struct db_job *job)
{
    const char *p[1] = {job->u.login.username};
    return db_send(conn, "user_login", 1, p);
}

static int db_job_send_msg_store(PGconn *conn, struct db_job *job)
{
    const char *p[5] = {job->u.msg.sender, job->u.msg.recipient, job->u.msg.stanza_id,
                        job->u.msg.body, job->u.msg.stanza_xml};
    return db_send(conn, "store_message", 5, p);
}

/* Appends `s` to an array literal as a quoted element (PostgreSQL array
 * syntax: backslash before quotes and backslashes). */
static int db_array_add(struct pl_buf *arr, const char *s)
{
    if (pl_buf_append_str(arr, arr->len > 1 ? ",\"" : "\"") != PL_OK)
        return PL_ENOMEM;
    for (; *s; s++) {
        if ((*s == '"' || *s == '\\') && pl_buf_append(arr, "\\", 1) != PL_OK)
            return PL_ENOMEM;
        if (pl_buf_append(arr, s, 1) != PL_OK)
            return PL_ENOMEM;
    }
    return pl_buf_append_str(arr, "\"");
}

/* Queues one statement for all the MARK_DELIVERED jobs of a batch; 1 when
 * there are none or it was queued, 0 when libpq refused it. */
static int db_jobs_send_delivered(PGconn *conn, struct db_job **jobs, size_t n, int *sent)
{
    struct pl_buf ids = PL_BUF_INIT, recipients = PL_BUF_INIT, vias = PL_BUF_INIT;
    int ok = 1, any = 0;
    *sent = 0;
    if (pl_buf_append_str(&ids, "{") || pl_buf_append_str(&recipients, "{") ||
        pl_buf_append_str(&vias, "{"))
        ok = 0;
    for (size_t i = 0; ok && i < n; i++) {
        struct db_job *job = jobs[i];
        if (job->kind != DB_JOB_MARK_DELIVERED)
            continue;
        char id[24];
        snprintf(id, sizeof(id), "%s%" PRId64, any ? "," : "",
                 job->u.delivered.message_id);
        ok = pl_buf_append_str(&ids, id) == PL_OK &&
             db_array_add(&recipients,
                          job->u.delivered.recipient ? job->u.delivered.recipient : "") ==
                 PL_OK &&
             (job->u.delivered.via
                  ? db_array_add(&vias, job->u.delivered.via)
                  : pl_buf_append_str(&vias, vias.len > 1 ? ",NULL" : "NULL")) == PL_OK;
        any = 1;
    }
    if (ok && any) {
        ok = pl_buf_append_str(&ids, "}") == PL_OK &&
             pl_buf_append_str(&recipients, "}") == PL_OK &&
             pl_buf_append_str(&vias, "}") == PL_OK;
        const char *p[3] = {ids.data, recipients.data, vias.data};
        ok = ok && db_send(conn, "mark_delivered_many", 3, p);
        *sent = ok;
    }
    pl_buf_free(&ids);
    pl_buf_free(&recipients);
    pl_buf_free(&vias);
    return ok;
}

static int db_job_send_session_end(PGconn *conn, struct db_job *job)
{
    const char *p[2] = {job->u.session_end.via, job->u.session_end.clean ? "t" : "f"};
    return db_send(conn, "session_end", 2, p);
}

static int db_job_send_received(PGconn *conn, struct db_job *job)
{
    const char *p[3] = {job->u.received.sender, job->u.received.stanza_id,
                        job->u.received.recipient};
    return db_send(conn, "mark_received", 3, p);
}

static int db_job_send_offline(PGconn *conn, struct db_job *job)
{
    char after[24];
    snprintf(after, sizeof(after), "%" PRId64, job->u.offline.after_id);
    const char *p[2] = {job->u.offline.recipient, after};
    return db_send(conn, "offline_load", 2, p);
}

static int db_job_send_presence(PGconn *conn, const char *node, struct db_job *job)
{
    if (job->u.presence.gone) {
        const char *p[2] = {job->u.presence.full_jid, node};
        return db_send(conn, "presence_delete", 2, p);
    }
    char prio[16];
    snprintf(prio, sizeof(prio), "%d", job->u.presence.priority);
    const char *p[9] = {node,
                        job->u.presence.full_jid,
                        job->u.presence.username,
                        job->u.presence.resource,
                        job->u.presence.available ? "t" : "f",
                        job->u.presence.show,
                        job->u.presence.status,
                        prio,
                        job->u.presence.address};
    return db_send(conn, "presence_upsert", 9, p);
}

/* Queues the job's statement; 0 when libpq refused it (connection gone).
 * A required field left NULL reaches a NOT NULL column and fails as an SQL
 * error, so that job alone ends with PL_EIO. db_store_submit refuses kinds
 * that have no statement. */
static int db_job_send(PGconn *conn, const char *node, struct db_job *job)
{
    switch (job->kind) {
    case DB_JOB_USER_LOGIN:
        return db_job_send_login(conn, job);
    case DB_JOB_MSG_STORE:
        return db_job_send_msg_store(conn, job);
    case DB_JOB_MARK_DELIVERED:
        return 1; /* sent for the whole batch by db_jobs_send_delivered */
    case DB_JOB_MARK_RECEIVED:
        return db_job_send_received(conn, job);
    case DB_JOB_OFFLINE_LOAD:
        return db_job_send_offline(conn, job);
    case DB_JOB_PRESENCE:
        return db_job_send_presence(conn, node, job);
    case DB_JOB_SESSION_END:
        return db_job_send_session_end(conn, job);
    case DB_EVENT_USER_STATE:
        break;
    }
    return 0;
}

static int db_parse_i64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return PL_EINVAL;
    *out = v;
    return PL_OK;
}

static int db_bool(const PGresult *res, int row, int col)
{
    return PQgetvalue(res, row, col)[0] == 't';
}

static void db_offline_clear(struct db_job *job)
{
    for (size_t i = 0; i < job->u.offline.count; i++)
        free(job->u.offline.msgs[i].stanza_xml);
    free(job->u.offline.msgs);
    job->u.offline.msgs = NULL;
    job->u.offline.count = 0;
}

static int db_job_read_offline(struct db_job *job, const PGresult *res)
{
    /* A rerun after a failed batch must not leak the first attempt's rows. */
    db_offline_clear(job);
    int rows = PQntuples(res);
    if (rows == 0)
        return PL_OK;
    struct db_offline_msg *msgs = calloc((size_t)rows, sizeof(*msgs));
    if (!msgs)
        return PL_ENOMEM;
    job->u.offline.msgs = msgs;
    for (int i = 0; i < rows; i++) {
        if (db_parse_i64(PQgetvalue(res, i, 0), &msgs[i].id) != PL_OK ||
            db_parse_i64(PQgetvalue(res, i, 1), &msgs[i].created_at_us) != PL_OK)
            return PL_EIO;
        msgs[i].stanza_xml = strdup(PQgetvalue(res, i, 2));
        if (!msgs[i].stanza_xml)
            return PL_ENOMEM;
        job->u.offline.count = (size_t)i + 1;
    }
    return PL_OK;
}

/* Fills the job's out fields from its statement's result; the job's status. */
static int db_job_read(struct db_job *job, const PGresult *res)
{
    int rows = PQntuples(res);
    switch (job->kind) {
    case DB_JOB_USER_LOGIN:
        if (rows != 1)
            return PL_EIO;
        job->u.login.disabled = db_bool(res, 0, 0);
        return PL_OK;
    case DB_JOB_MSG_STORE:
        if (rows != 1)
            return PL_EIO;
        if (db_parse_i64(PQgetvalue(res, 0, 0), &job->u.msg.id) != PL_OK ||
            db_parse_i64(PQgetvalue(res, 0, 1), &job->u.msg.created_at_us) != PL_OK)
            return PL_EIO;
        job->u.msg.inserted = db_bool(res, 0, 2);
        job->u.msg.pending = db_bool(res, 0, 3);
        return PL_OK;
    case DB_JOB_MARK_DELIVERED: /* read for the batch in db_jobs_run */
        return PL_OK;
    case DB_JOB_MARK_RECEIVED: {
        int64_t n = 0;
        if (rows != 1 || db_parse_i64(PQgetvalue(res, 0, 0), &n) != PL_OK)
            return PL_EIO;
        job->u.received.updated = (int)n;
        return PL_OK;
    }
    case DB_JOB_OFFLINE_LOAD:
        return db_job_read_offline(job, res);
    case DB_JOB_SESSION_END: {
        int64_t n = 0;
        if (rows != 1 || db_parse_i64(PQgetvalue(res, 0, 0), &n) != PL_OK)
            return PL_EIO;
        job->u.session_end.requeued = (int)n;
        return PL_OK;
    }
    case DB_JOB_PRESENCE:
    case DB_EVENT_USER_STATE:
        return PL_OK;
    }
    return PL_EIO;
}

/* The next query's result in the pipeline, with the NULL that ends it
 * consumed. A sync point has no NULL after it. */
static PGresult *db_pipe_next(PGconn *conn)
{
    PGresult *res = PQgetResult(conn);
    if (!res || PQresultStatus(res) == PGRES_PIPELINE_SYNC)
        return res;
    for (int guard = 0; guard < 16; guard++) {
        PGresult *extra = PQgetResult(conn);
        if (!extra)
            break;
        PQclear(extra);
    }
    return res;
}

/* Whether an error means "the connection, not the statement": libpq's own
 * errors carry no SQLSTATE; class 08 is connection exception, 57P0x the
 * server going down, 53 out of resources, 40001/40P01 a retryable conflict. */
static int db_error_is_transient(PGconn *conn, const PGresult *res)
{
    if (PQstatus(conn) != CONNECTION_OK)
        return 1;
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (!state)
        return 1;
    return strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
           strncmp(state, "53", 2) == 0 || strcmp(state, "40001") == 0 ||
           strcmp(state, "40P01") == 0;
}

/* Reads one expected result. Returns PL_OK, PL_EIO (SQL error or skipped
 * after one), PL_AGAIN (connection trouble). *res is the result (caller
 * clears) on PL_OK. */
static int db_pipe_expect(PGconn *conn, ExecStatusType want, PGresult **out)
{
    *out = NULL;
    PGresult *res = db_pipe_next(conn);
    if (!res)
        return PL_AGAIN;
    ExecStatusType got = PQresultStatus(res);
    /* A statement without a result set (INSERT, DELETE) answers COMMAND_OK. */
    if (got == want || (want == PGRES_TUPLES_OK && got == PGRES_COMMAND_OK)) {
        *out = res;
        return PL_OK;
    }
    int rc = PL_AGAIN;
    if (got == PGRES_PIPELINE_ABORTED) {
        rc = PL_EIO;
    } else if (got == PGRES_FATAL_ERROR) {
        rc = db_error_is_transient(conn, res) ? PL_AGAIN : PL_EIO;
        pl_warn(0, NULL, "db: statement failed (%s): %.*s",
                rc == PL_AGAIN ? "will reconnect" : "rolled back",
                (int)strcspn(PQresultErrorMessage(res), "\n"), PQresultErrorMessage(res));
    } else if (PQstatus(conn) == CONNECTION_OK) {
        /* An answer of the wrong shape is a bug, not an outage: fail the
         * batch rather than reconnect forever. */
        pl_error(0, NULL, "db: unexpected result %s", PQresStatus(got));
        rc = PL_EIO;
    }
    PQclear(res);
    return rc;
}

/* The worse of two outcomes: AGAIN (reset needed) beats EIO beats OK. */
static int db_worse(int a, int b)
{
    if (a == PL_AGAIN || b == PL_AGAIN)
        return PL_AGAIN;
    return a != PL_OK ? a : b;
}

int db_jobs_run(PGconn *conn, const char *node, struct db_job **jobs, size_t n)
{
    if (PQenterPipelineMode(conn) != 1)
        return PL_AGAIN;
    int sent = PQsendQueryParams(conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) == 1;
    int marks = 0; /* the delivered marks went as one statement */
    sent = sent && db_jobs_send_delivered(conn, jobs, n, &marks);
    for (size_t i = 0; sent && i < n; i++)
        sent = db_job_send(conn, node, jobs[i]);
    sent = sent && PQsendQueryParams(conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) == 1;
    sent = sent && PQpipelineSync(conn) == 1;
    if (!sent)
        return PL_AGAIN; /* half a pipeline: only a reset makes it clean */

    PGresult *res;
    int rc = db_pipe_expect(conn, PGRES_COMMAND_OK, &res);
    PQclear(res);
    if (marks && rc != PL_AGAIN) {
        int mrc = db_pipe_expect(conn, PGRES_COMMAND_OK, &res);
        PQclear(res);
        for (size_t i = 0; i < n; i++)
            if (jobs[i]->kind == DB_JOB_MARK_DELIVERED)
                jobs[i]->status = mrc == PL_OK ? PL_OK : PL_EIO;
        rc = db_worse(rc, mrc);
    }
    for (size_t i = 0; i < n && rc != PL_AGAIN; i++) {
        if (jobs[i]->kind == DB_JOB_MARK_DELIVERED)
            continue;
        int jrc = db_pipe_expect(conn, PGRES_TUPLES_OK, &res);
        if (jrc == PL_OK)
            jobs[i]->status = db_job_read(jobs[i], res);
        PQclear(res);
        rc = db_worse(rc, jrc);
    }
    if (rc != PL_AGAIN) {
        int crc = db_pipe_expect(conn, PGRES_COMMAND_OK, &res);
        PQclear(res);
        rc = db_worse(rc, crc);
    }
    if (rc != PL_AGAIN) {
        res = db_pipe_next(conn);
        int synced = res && PQresultStatus(res) == PGRES_PIPELINE_SYNC;
        PQclear(res);
        if (!synced || PQexitPipelineMode(conn) != 1)
            rc = PL_AGAIN;
    }
    if (rc == PL_EIO) {
        /* An explicit transaction stays aborted after the sync. */
        res = PQexec(conn, "ROLLBACK");
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = PL_AGAIN;
        PQclear(res);
    }
    return rc;
}
