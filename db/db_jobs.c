/* The jobs' SQL and the batch runner: every statement is prepared once per
 * connection under a name, and a batch goes out as one pipeline (BEGIN, the
 * jobs, COMMIT, sync): one round trip and one commit for all of them. */
#include "db_internal.h"
#include "db_job_pep.h"
#include "db_job_edit.h"
#include "db_job_room.h"
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

/* ---- helpers ---- */

static int db_send(PGconn *conn, const char *stmt, int n, const char *const *params)
{
    return PQsendQueryPrepared(conn, stmt, n, params, NULL, NULL, 0) == 1 ? PL_OK
                                                                          : PL_AGAIN;
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

/* The one integer a function call answers (rows changed, rows requeued). */
static int db_read_count(const PGresult *res, int *out)
{
    int64_t n = 0;
    if (PQntuples(res) != 1 || db_parse_i64(PQgetvalue(res, 0, 0), &n) != PL_OK)
        return PL_EIO;
    *out = (int)n;
    return PL_OK;
}

/* Appends `s` to an array literal as a quoted element (PostgreSQL array
 * syntax: backslash before quotes and backslashes); NULL is NULL. */
static int db_array_add(struct pl_buf *arr, const char *s)
{
    if (arr->len > 1 && pl_buf_append_str(arr, ",") != PL_OK)
        return PL_ENOMEM;
    if (!s)
        return pl_buf_append_str(arr, "NULL");
    if (pl_buf_append_str(arr, "\"") != PL_OK)
        return PL_ENOMEM;
    for (; *s; s++) {
        if ((*s == '"' || *s == '\\') && pl_buf_append(arr, "\\", 1) != PL_OK)
            return PL_ENOMEM;
        if (pl_buf_append(arr, s, 1) != PL_OK)
            return PL_ENOMEM;
    }
    return pl_buf_append_str(arr, "\"");
}

/* ---- DB_JOB_USER_LOGIN ---- */

static const struct db_stmt db_login_stmts[] = {
    /* db_login_send */
    {"user_login", "SELECT parley_user_login($1)"},
};

static int db_login_send(PGconn *conn, const char *node, struct db_job *job)
{
    const char *p[1] = {job->u.login.username};
    return db_send(conn, "user_login", 1, p);
}

static int db_login_read(struct db_job *job, const PGresult *res)
{
    if (PQntuples(res) != 1)
        return PL_EIO;
    job->u.login.disabled = db_bool(res, 0, 0);
    return PL_OK;
}

static void db_login_free(struct db_job *job)
{
    free(job->u.login.username);
}

/* ---- DB_JOB_MSG_STORE ---- */

static const struct db_stmt db_msg_store_stmts[] = {
    /* db_msg_store_send */
    {"store_message", "SELECT id, " DB_EPOCH_US(
                          "created_at") ", inserted, pending"
                                        " FROM parley_store_message($1, $2, $3, $4, $5)"},
    /* db_msg_store_send, for a recipient who is offline (0012_limits.sql) */
    {"store_message_bounded",
     "SELECT id, " DB_EPOCH_US(
         "created_at") ", inserted, pending"
                       " FROM parley_store_message_bounded($1, $2, $3, "
                       "$4, $5, $6)"},
};

static int db_msg_store_send(PGconn *conn, const char *node, struct db_job *job)
{
    const struct db_msg_store_job *m = &job->u.msg;
    if (DB_EDIT_SET(&m->edit))
        return db_edit_send(conn, 0, m->sender, m->recipient, m->stanza_id, m->body,
                            m->stanza_xml, &m->edit);
    if (m->offline_limit > 0) {
        char limit[16];
        snprintf(limit, sizeof(limit), "%d", m->offline_limit);
        const char *pb[6] = {m->sender, m->recipient,  m->stanza_id,
                             m->body,   m->stanza_xml, limit};
        return db_send(conn, "store_message_bounded", 6, pb);
    }
    const char *p[5] = {m->sender, m->recipient, m->stanza_id, m->body, m->stanza_xml};
    return db_send(conn, "store_message", 5, p);
}

static int db_msg_store_read(struct db_job *job, const PGresult *res)
{
    struct db_msg_store_job *m = &job->u.msg;
    if (DB_EDIT_SET(&m->edit))
        return db_edit_read(res, &m->id, &m->created_at_us, &m->inserted, &m->pending,
                            &m->edit);
    if (PQntuples(res) != 1)
        return PL_EIO;
    if (db_parse_i64(PQgetvalue(res, 0, 0), &m->id) != PL_OK ||
        db_parse_i64(PQgetvalue(res, 0, 1), &m->created_at_us) != PL_OK)
        return PL_EIO;
    m->inserted = db_bool(res, 0, 2);
    m->pending = db_bool(res, 0, 3);
    return PL_OK;
}

static void db_msg_store_free(struct db_job *job)
{
    free(job->u.msg.sender);
    free(job->u.msg.recipient);
    free(job->u.msg.stanza_id);
    free(job->u.msg.body);
    free(job->u.msg.stanza_xml);
    db_edit_free(&job->u.msg.edit);
}

/* ---- DB_JOB_MARK_DELIVERED: the commonest job (one per message written),
 * so a batch's marks go as one statement over arrays ---- */

static const struct db_stmt db_delivered_stmts[] = {
    /* db_delivered_send_batch: what parley_mark_delivered does, for every
     * mark of a batch, each by its key (0014). A HOT update: no index
     * of deliveries covers these columns, and the row stays in
     * deliveries_unsettled until its session ends. */
    {"mark_delivered_many",
     "SELECT parley_mark_delivered_many($1::bigint[], $2::text[], $3::text[])"},
};

/* A batched kind's three parameters for one job, as text; `num` is room
 * for a number the job holds. */
typedef void (*db_array_fields_fn)(const struct db_job *job, char num[24],
                                   const char *out[3]);

/* One statement over three arrays for every job of `kind` in the batch. */
static int db_send_arrays(PGconn *conn, struct db_job **jobs, size_t n, int *sent,
                          enum db_job_kind kind, const char *stmt,
                          db_array_fields_fn fields)
{
    struct pl_buf arr[3] = {PL_BUF_INIT, PL_BUF_INIT, PL_BUF_INIT};
    int rc = PL_OK, any = 0;
    *sent = 0;
    for (int k = 0; rc == PL_OK && k < 3; k++)
        rc = pl_buf_append_str(&arr[k], "{");
    for (size_t i = 0; rc == PL_OK && i < n; i++) {
        if (jobs[i]->kind != kind)
            continue;
        char num[24];
        const char *f[3];
        fields(jobs[i], num, f);
        for (int k = 0; rc == PL_OK && k < 3; k++)
            rc = db_array_add(&arr[k], f[k]);
        any = 1;
    }
    for (int k = 0; rc == PL_OK && any && k < 3; k++)
        rc = pl_buf_append_str(&arr[k], "}");
    if (rc == PL_OK && any) {
        const char *p[3] = {arr[0].data, arr[1].data, arr[2].data};
        rc = db_send(conn, stmt, 3, p);
        *sent = rc == PL_OK;
    }
    for (int k = 0; k < 3; k++)
        pl_buf_free(&arr[k]);
    /* Out of memory half way: nothing was queued, but the pipeline holds
     * BEGIN, so only a reset makes the connection clean. */
    return rc == PL_OK ? PL_OK : PL_AGAIN;
}

/* A delivered payload (DB_JOB_MARK_DELIVERED, DB_JOB_MARK_ACKED). */
static void db_delivered_fields(const struct db_job *job, char num[24],
                                const char *out[3])
{
    const struct db_mark_delivered_job *d = &job->u.delivered;
    snprintf(num, 24, "%" PRId64, d->message_id);
    out[0] = num;
    out[1] = d->recipient ? d->recipient : "";
    out[2] = d->via;
}

static int db_delivered_send_batch(PGconn *conn, struct db_job **jobs, size_t n,
                                   int *sent)
{
    return db_send_arrays(conn, jobs, n, sent, DB_JOB_MARK_DELIVERED,
                          "mark_delivered_many", db_delivered_fields);
}

/* ---- DB_JOB_MARK_ACKED: XEP-0198 acknowledgements, marked and settled in
 * one call per batch (parley_mark_acked, migrations/0007, 0014) ---- */

static const struct db_stmt db_acked_stmts[] = {
    {"mark_acked_many", "SELECT parley_mark_acked($1::bigint[], $2::text[], $3::text[])"},
};

static int db_acked_send_batch(PGconn *conn, struct db_job **jobs, size_t n, int *sent)
{
    return db_send_arrays(conn, jobs, n, sent, DB_JOB_MARK_ACKED, "mark_acked_many",
                          db_delivered_fields);
}

static void db_delivered_free(struct db_job *job)
{
    free(job->u.delivered.recipient);
    free(job->u.delivered.via);
}

/* ---- DB_JOB_MARK_RECEIVED: one per XEP-0184 receipt, so a batch's
 * receipts go as one parley_mark_received_many over arrays (0014) ---- */

static const struct db_stmt db_received_stmts[] = {
    {"mark_received_many",
     "SELECT parley_mark_received_many($1::text[], $2::text[], $3::text[])"},
};

static void db_received_fields(const struct db_job *job, char num[24], const char *out[3])
{
    (void)num;
    out[0] = job->u.received.sender;
    out[1] = job->u.received.stanza_id;
    out[2] = job->u.received.recipient;
}

static int db_received_send_batch(PGconn *conn, struct db_job **jobs, size_t n, int *sent)
{
    return db_send_arrays(conn, jobs, n, sent, DB_JOB_MARK_RECEIVED, "mark_received_many",
                          db_received_fields);
}

static void db_received_free(struct db_job *job)
{
    free(job->u.received.sender);
    free(job->u.received.stanza_id);
    free(job->u.received.recipient);
}

/* ---- DB_JOB_OFFLINE_LOAD ---- */

static const struct db_stmt db_offline_stmts[] = {
    /* db_offline_send: deliveries_unsettled holds every row still
     * `stored`, and those written to a live session, which the state
     * filters out; the caller loads again while a batch comes back full. */
    {"offline_load",
     "SELECT m.id, " DB_EPOCH_US(
         "m.created_at") ", m.stanza"
                         " FROM deliveries_unsettled u"
                         " JOIN deliveries d ON d.message_id = u.message_id AND "
                         "d.recipient = u.recipient"
                         " JOIN messages m ON m.id = u.message_id"
                         " WHERE u.recipient = $1 AND u.message_id > $2 AND d.state = "
                         "'stored'"
                         " ORDER BY u.message_id LIMIT " DB_STR(DB_OFFLINE_BATCH)},
};

static int db_offline_send(PGconn *conn, const char *node, struct db_job *job)
{
    char after[24];
    snprintf(after, sizeof(after), "%" PRId64, job->u.offline.after_id);
    const char *p[2] = {job->u.offline.recipient, after};
    return db_send(conn, "offline_load", 2, p);
}

static void db_offline_clear(struct db_job *job)
{
    for (size_t i = 0; i < job->u.offline.count; i++)
        free(job->u.offline.msgs[i].stanza_xml);
    free(job->u.offline.msgs);
    job->u.offline.msgs = NULL;
    job->u.offline.count = 0;
}

static int db_offline_read(struct db_job *job, const PGresult *res)
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

static void db_offline_free(struct db_job *job)
{
    free(job->u.offline.recipient);
    db_offline_clear(job);
}

/* ---- DB_JOB_PRESENCE ---- */

static const struct db_stmt db_presence_stmts[] = {
    /* db_presence_send: a bound session, available or not; `since` keeps
     * the first value, the address the first known one */
    {"presence_upsert",
     "INSERT INTO sessions (node, full_jid, username, resource, available, show,"
     " status, priority, address, since, updated_at, idle_since)"
     " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now(), now(),"
     " CASE WHEN $10::bigint > 0 THEN to_timestamp($10::bigint / 1000000.0) END)"
     " ON CONFLICT (full_jid) DO UPDATE SET node = EXCLUDED.node,"
     " username = EXCLUDED.username, resource = EXCLUDED.resource,"
     " available = EXCLUDED.available, show = EXCLUDED.show, status = EXCLUDED.status,"
     " priority = EXCLUDED.priority,"
     " address = coalesce(EXCLUDED.address, sessions.address), updated_at = now(),"
     " idle_since = EXCLUDED.idle_since"},
    /* db_presence_send, gone: only this node's row, in case the full JID
     * has since been bound on another node */
    {"presence_delete", "DELETE FROM sessions WHERE full_jid = $1 AND node = $2"},
};

static int db_presence_send(PGconn *conn, const char *node, struct db_job *job)
{
    const struct db_presence_job *pr = &job->u.presence;
    if (pr->gone) {
        const char *p[2] = {pr->full_jid, node};
        return db_send(conn, "presence_delete", 2, p);
    }
    char prio[16], idle[32];
    snprintf(prio, sizeof(prio), "%d", pr->priority);
    snprintf(idle, sizeof(idle), "%" PRId64, pr->idle_since_us);
    const char *p[10] = {
        node,     pr->full_jid, pr->username, pr->resource, pr->available ? "t" : "f",
        pr->show, pr->status,   prio,         pr->address,  idle};
    return db_send(conn, "presence_upsert", 10, p);
}

static void db_presence_free(struct db_job *job)
{
    free(job->u.presence.full_jid);
    free(job->u.presence.username);
    free(job->u.presence.resource);
    free(job->u.presence.address);
    free(job->u.presence.show);
    free(job->u.presence.status);
}

/* ---- DB_JOB_SESSION_END ---- */

static const struct db_stmt db_session_end_stmts[] = {
    /* db_session_end_send */
    {"session_end", "SELECT parley_session_end($1, $2, $3)"},
};

static int db_session_end_send(PGconn *conn, const char *node, struct db_job *job)
{
    const struct db_session_end_job *e = &job->u.session_end;
    const char *p[3] = {e->via, e->recipient, e->clean ? "t" : "f"};
    return db_send(conn, "session_end", 3, p);
}

static int db_session_end_read(struct db_job *job, const PGresult *res)
{
    return db_read_count(res, &job->u.session_end.requeued);
}

static void db_session_end_free(struct db_job *job)
{
    free(job->u.session_end.via);
    free(job->u.session_end.recipient);
}

/* ---- DB_EVENT_USER_STATE: made by the listener, never sent ---- */

static void db_user_state_free(struct db_job *job)
{
    free(job->u.user_state.username);
}

/* ---- DB_EVENT_KICK, DB_EVENT_MESSAGE: made by the listener for the
 * admin API's requests, never sent ---- */

static void db_kick_free(struct db_job *job)
{
    free(job->u.kick.username);
    free(job->u.kick.resource);
}

static void db_message_event_free(struct db_job *job)
{
    free(job->u.message.recipient);
    free(job->u.message.stanza_xml);
}

/* ---- the table ---- */

#define DB_STMTS(a) a, sizeof(a) / sizeof((a)[0])

static const struct db_job_desc db_job_descs[] = {
    [DB_JOB_USER_LOGIN] = {"user_login", DB_STMTS(db_login_stmts), db_login_send, NULL,
                           db_login_read, db_login_free},
    [DB_JOB_MSG_STORE] = {"msg_store", DB_STMTS(db_msg_store_stmts), db_msg_store_send,
                          NULL, db_msg_store_read, db_msg_store_free},
    [DB_JOB_MARK_DELIVERED] = {"mark_delivered", DB_STMTS(db_delivered_stmts), NULL,
                               db_delivered_send_batch, NULL, db_delivered_free},
    [DB_JOB_MARK_RECEIVED] = {"mark_received", DB_STMTS(db_received_stmts), NULL,
                              db_received_send_batch, NULL, db_received_free},
    [DB_JOB_OFFLINE_LOAD] = {"offline_load", DB_STMTS(db_offline_stmts), db_offline_send,
                             NULL, db_offline_read, db_offline_free},
    [DB_JOB_PRESENCE] = {"presence", DB_STMTS(db_presence_stmts), db_presence_send, NULL,
                         NULL, db_presence_free},
    [DB_JOB_SESSION_END] = {"session_end", DB_STMTS(db_session_end_stmts),
                            db_session_end_send, NULL, db_session_end_read,
                            db_session_end_free},
    [DB_EVENT_USER_STATE] = {"user_state", NULL, 0, NULL, NULL, NULL, db_user_state_free},
    [DB_EVENT_KICK] = {"kick", NULL, 0, NULL, NULL, NULL, db_kick_free},
    [DB_EVENT_MESSAGE] = {"admin_message", NULL, 0, NULL, NULL, NULL,
                          db_message_event_free},
    DB_JOB_ROSTER_DESCS,
    /* stream management (XEP-0198) */
    [DB_JOB_MARK_ACKED] = {"mark_acked", DB_STMTS(db_acked_stmts), NULL,
                           db_acked_send_batch, NULL, db_delivered_free},
    /* rooms and the archive: db_job_room.h */
    DB_ROOM_JOB_DESCS /* ends with a comma */
        /* the user's own PEP nodes: db_job_pep.h */
        DB_PEP_JOB_DESCS,
    /* file upload: db_upload.c */
    [DB_JOB_UPLOAD_SLOT] = {"upload_slot", db_upload_slot_stmts, 1, db_upload_slot_send,
                            NULL, db_upload_slot_read, db_upload_slot_free}};

/* A kind added to the enum without a row here fails to compile; a row
 * left out in the middle would be all zeroes, which db_jobs_test checks
 * for (every row has a name and a free). */
_Static_assert(sizeof(db_job_descs) / sizeof(db_job_descs[0]) == DB_JOB__COUNT,
               "db_job_descs needs one entry per enum db_job_kind");

/* Statements of the store that are not jobs. */
static const struct db_stmt db_store_stmts[] = {
    /* db_jobs_node_restart */
    {"node_restart", "SELECT parley_node_restart($1)"},
};

const struct db_job_desc *db_job_desc_get(enum db_job_kind kind)
{
    if ((unsigned)kind >= DB_JOB__COUNT)
        return NULL;
    return &db_job_descs[kind];
}

int db_job_submittable(enum db_job_kind kind)
{
    const struct db_job_desc *d = db_job_desc_get(kind);
    return d && (d->send || d->send_batch);
}

const char *db_job_name(enum db_job_kind kind)
{
    const struct db_job_desc *d = db_job_desc_get(kind);
    return d ? d->name : "unknown";
}

struct db_job *db_job_new(enum db_job_kind kind)
{
    if (!db_job_desc_get(kind))
        return NULL;
    struct db_job *job = calloc(1, sizeof(*job));
    if (job)
        job->kind = kind;
    return job;
}

void db_job_free(struct db_job *job)
{
    if (!job)
        return;
    const struct db_job_desc *d = db_job_desc_get(job->kind);
    if (d)
        d->free(job);
    free(job);
}

static int db_prepare_all(PGconn *conn, const struct db_stmt *stmts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        PGresult *res = PQprepare(conn, stmts[i].name, stmts[i].sql, 0, NULL);
        int ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok)
            pl_error(0, NULL, "db: preparing %s: %s", stmts[i].name,
                     res ? PQresultErrorMessage(res) : "no result");
        PQclear(res);
        if (!ok)
            return PL_EIO;
    }
    return PL_OK;
}

int db_jobs_prepare(PGconn *conn)
{
    for (int k = 0; k < DB_JOB__COUNT; k++) {
        if (db_prepare_all(conn, db_job_descs[k].stmts, db_job_descs[k].nstmts) != PL_OK)
            return PL_EIO;
    }
    if (db_prepare_all(conn, DB_STMTS(db_edit_stmts)) != PL_OK)
        return PL_EIO;
    return db_prepare_all(conn, DB_STMTS(db_store_stmts));
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
                rc == PL_AGAIN ? "will retry" : "rolled back",
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

/* A statement queued for every job of one batched kind. */
struct db_batched {
    enum db_job_kind kind;
};

int db_jobs_run(PGconn *conn, const char *node, struct db_job **jobs, size_t n)
{
    if (PQenterPipelineMode(conn) != 1)
        return PL_AGAIN;
    int sent = PQsendQueryParams(conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) == 1;
    /* The batched kinds first, one statement each, in kind order. */
    struct db_batched batched[DB_JOB__COUNT];
    size_t nbatched = 0;
    for (int k = 0; sent && k < DB_JOB__COUNT; k++) {
        const struct db_job_desc *d = db_job_desc_get((enum db_job_kind)k);
        int one = 0;
        if (!d->send_batch)
            continue;
        sent = d->send_batch(conn, jobs, n, &one) == PL_OK;
        if (sent && one)
            batched[nbatched++].kind = (enum db_job_kind)k;
    }
    for (size_t i = 0; sent && i < n; i++) {
        const struct db_job_desc *d = db_job_desc_get(jobs[i]->kind);
        if (d->send)
            sent = d->send(conn, node, jobs[i]) == PL_OK;
    }
    sent = sent && PQsendQueryParams(conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) == 1;
    sent = sent && PQpipelineSync(conn) == 1;
    if (!sent)
        return PL_AGAIN; /* half a pipeline: only a reset makes it clean */

    PGresult *res;
    int rc = db_pipe_expect(conn, PGRES_COMMAND_OK, &res);
    PQclear(res);
    for (size_t b = 0; b < nbatched && rc != PL_AGAIN; b++) {
        int brc = db_pipe_expect(conn, PGRES_TUPLES_OK, &res);
        PQclear(res);
        for (size_t i = 0; i < n; i++)
            if (jobs[i]->kind == batched[b].kind)
                jobs[i]->status = brc == PL_OK ? PL_OK : PL_EIO;
        rc = db_worse(rc, brc);
    }
    for (size_t i = 0; i < n && rc != PL_AGAIN; i++) {
        const struct db_job_desc *d = db_job_desc_get(jobs[i]->kind);
        if (!d->send)
            continue;
        int jrc = db_pipe_expect(conn, PGRES_TUPLES_OK, &res);
        if (jrc == PL_OK)
            jobs[i]->status = d->read ? d->read(jobs[i], res) : PL_OK;
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
