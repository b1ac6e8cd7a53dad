/* The rooms' jobs: load and create a room, store a room message, join
 * (membership, position, history), move positions, affiliations,
 * configuration, subject, destruction and the list of rooms a user sees.
 * The SQL is in migrations/0004_rooms.sql; each statement here is named and
 * tagged with the function that sends it. */
#include "db_job_edit.h"
#include "db_job_room.h"

#include "pl_buf.h"
#include "pl_error.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* extract() returns numeric since PostgreSQL 14, so this is exact. */
#define DB_ROOM_EPOCH_US(col) "(extract(epoch FROM " col ") * 1000000)::bigint"
/* A bigint of microseconds as a timestamptz, exactly (NULL stays NULL). */
#define DB_ROOM_US_TS(param)                                                             \
    "(timestamptz 'epoch' + " param "::bigint * interval '1 microsecond')"

/* ---- helpers ---- */

int db_room_send(PGconn *conn, const char *stmt, int n, const char *const *params)
{
    return PQsendQueryPrepared(conn, stmt, n, params, NULL, NULL, 0) == 1 ? PL_OK
                                                                          : PL_AGAIN;
}

int db_room_parse_i64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return PL_EINVAL;
    *out = v;
    return PL_OK;
}

int db_room_array_add(struct pl_buf *arr, const char *s)
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

void db_room_free_msgs(struct db_offline_msg **msgs, size_t *count)
{
    for (size_t i = 0; i < *count; i++)
        free((*msgs)[i].stanza_xml);
    free(*msgs);
    *msgs = NULL;
    *count = 0;
}

int db_room_read_msgs(const PGresult *res, int first_row, struct db_offline_msg **msgs,
                      size_t *count)
{
    db_room_free_msgs(msgs, count);
    int rows = PQntuples(res) - first_row;
    if (rows <= 0)
        return PL_OK;
    struct db_offline_msg *m = calloc((size_t)rows, sizeof(*m));
    if (!m)
        return PL_ENOMEM;
    *msgs = m;
    for (int i = 0; i < rows; i++) {
        int r = first_row + i;
        if (db_room_parse_i64(PQgetvalue(res, r, 0), &m[i].id) != PL_OK ||
            db_room_parse_i64(PQgetvalue(res, r, 1), &m[i].created_at_us) != PL_OK)
            return PL_EIO;
        if (!(m[i].stanza_xml = strdup(PQgetvalue(res, r, 2))))
            return PL_ENOMEM;
        *count = (size_t)i + 1;
    }
    return PL_OK;
}

static char *db_room_dup_or_null(const PGresult *res, int row, int col, int *failed)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    char *s = strdup(PQgetvalue(res, row, col));
    if (!s)
        *failed = 1;
    return s;
}

static int db_room_bool(const PGresult *res, int row, int col)
{
    return PQgetvalue(res, row, col)[0] == 't';
}

static void db_room_strv_free(char ***v, size_t n)
{
    for (size_t i = 0; *v && i < n; i++)
        free((*v)[i]);
    free(*v);
    *v = NULL;
}

/* ---- DB_JOB_ROOM_LOAD, DB_JOB_ROOM_CREATE ---- */

#define DB_ROOM_INFO_COLS                                                                \
    "id, name, description, members_only, public, change_subject, subject, subject_by, " \
    "username, affiliation"

const struct db_stmt db_room_load_stmts[1] = {
    /* db_room_load_send */
    {"room_load", "SELECT " DB_ROOM_INFO_COLS ", false FROM parley_room_load($1)"},
};

const struct db_stmt db_room_create_stmts[1] = {
    /* db_room_create_send */
    {"room_create",
     "SELECT " DB_ROOM_INFO_COLS ", created FROM parley_room_create($1, $2, $3)"},
};

int db_room_load_send(PGconn *conn, const char *node, struct db_job *job)
{
    const char *p[1] = {job->u.room_load.jid};
    return db_room_send(conn, "room_load", 1, p);
}

int db_room_create_send(PGconn *conn, const char *node, struct db_job *job)
{
    const struct db_room_load_job *r = &job->u.room_load;
    const char *p[3] = {r->jid, r->localpart, r->creator};
    return db_room_send(conn, "room_create", 3, p);
}

/* What a read filled in, so that a rerun starts clean. */
static void db_room_load_clear(struct db_room_load_job *r)
{
    free(r->name);
    free(r->description);
    free(r->subject);
    free(r->subject_by);
    r->name = r->description = r->subject = r->subject_by = NULL;
    for (size_t i = 0; i < r->naffs; i++) {
        free(r->affs[i].username);
        free(r->affs[i].affiliation);
    }
    free(r->affs);
    r->affs = NULL;
    r->naffs = 0;
    r->found = r->created = 0;
}

int db_room_load_read(struct db_job *job, const PGresult *res)
{
    struct db_room_load_job *r = &job->u.room_load;
    db_room_load_clear(r);
    int rows = PQntuples(res);
    if (rows == 0)
        return PL_OK; /* no such room */
    int failed = 0;
    snprintf(r->id, sizeof(r->id), "%s", PQgetvalue(res, 0, 0));
    r->name = db_room_dup_or_null(res, 0, 1, &failed);
    r->description = db_room_dup_or_null(res, 0, 2, &failed);
    r->members_only = db_room_bool(res, 0, 3);
    r->public_room = db_room_bool(res, 0, 4);
    r->change_subject = db_room_bool(res, 0, 5);
    r->subject = db_room_dup_or_null(res, 0, 6, &failed);
    r->subject_by = db_room_dup_or_null(res, 0, 7, &failed);
    r->created = db_room_bool(res, 0, 10);
    r->found = 1;
    r->affs = calloc((size_t)rows, sizeof(*r->affs));
    if (!r->affs || failed)
        return PL_ENOMEM;
    for (int i = 0; i < rows; i++) {
        if (PQgetisnull(res, i, 8))
            continue; /* a room without affiliations */
        struct db_room_affiliation *a = &r->affs[r->naffs++];
        a->username = strdup(PQgetvalue(res, i, 8));
        a->affiliation = strdup(PQgetvalue(res, i, 9));
        if (!a->username || !a->affiliation)
            return PL_ENOMEM;
    }
    return PL_OK;
}

void db_room_load_free(struct db_job *job)
{
    struct db_room_load_job *r = &job->u.room_load;
    db_room_load_clear(r);
    free(r->jid);
    free(r->localpart);
    free(r->creator);
}

/* ---- DB_JOB_ROOM_MSG_STORE ---- */

const struct db_stmt db_room_msg_stmts[1] = {
    /* db_room_msg_send */
    {"room_store_message",
     "SELECT id, " DB_ROOM_EPOCH_US(
         "created_at") ", inserted"
                       " FROM parley_room_store_message($1, $2, $3, $4, $5)"},
};

int db_room_msg_send(PGconn *conn, const char *node, struct db_job *job)
{
    const struct db_room_msg_job *m = &job->u.room_msg;
    if (DB_EDIT_SET(&m->edit))
        return db_edit_send(conn, 1, m->sender, m->room, m->stanza_id, m->body,
                            m->stanza_xml, &m->edit);
    const char *p[5] = {m->sender, m->room, m->stanza_id, m->body, m->stanza_xml};
    return db_room_send(conn, "room_store_message", 5, p);
}

int db_room_msg_read(struct db_job *job, const PGresult *res)
{
    struct db_room_msg_job *m = &job->u.room_msg;
    if (DB_EDIT_SET(&m->edit)) {
        int pending = 0;
        return db_edit_read(res, &m->id, &m->created_at_us, &m->inserted, &pending,
                            &m->edit);
    }
    if (PQntuples(res) != 1 ||
        db_room_parse_i64(PQgetvalue(res, 0, 0), &m->id) != PL_OK ||
        db_room_parse_i64(PQgetvalue(res, 0, 1), &m->created_at_us) != PL_OK)
        return PL_EIO;
    m->inserted = db_room_bool(res, 0, 2);
    return PL_OK;
}

void db_room_msg_free(struct db_job *job)
{
    struct db_room_msg_job *m = &job->u.room_msg;
    free(m->room);
    free(m->sender);
    free(m->stanza_id);
    free(m->body);
    free(m->stanza_xml);
    db_edit_free(&m->edit);
}

/* ---- DB_JOB_ROOM_JOIN ---- */

const struct db_stmt db_room_join_stmts[1] = {
    /* db_room_join_send */
    {"room_join", "SELECT id, " DB_ROOM_EPOCH_US(
                      "created_at") ", stanza FROM parley_room_join($1, $2, $3, $4, "
                                    "$5, " DB_ROOM_US_TS("$6") ", $7)"},
};

int db_room_join_send(PGconn *conn, const char *node, struct db_job *job)
{
    const struct db_room_join_job *j = &job->u.room_join;
    char limit[16], first[16], since[24], after[24];
    snprintf(limit, sizeof(limit), "%d", j->limit);
    snprintf(first, sizeof(first), "%d", j->first_limit);
    snprintf(since, sizeof(since), "%" PRId64, j->since_us);
    snprintf(after, sizeof(after), "%" PRId64, j->after_id);
    const char *p[7] = {j->room_id,
                        j->username,
                        j->make_member ? "t" : "f",
                        limit,
                        first,
                        j->since_us > 0 ? since : NULL,
                        j->after_id >= 0 ? after : NULL};
    return db_room_send(conn, "room_join", 7, p);
}

int db_room_join_read(struct db_job *job, const PGresult *res)
{
    return db_room_read_msgs(res, 0, &job->u.room_join.msgs, &job->u.room_join.count);
}

void db_room_join_free(struct db_job *job)
{
    free(job->u.room_join.room_id);
    free(job->u.room_join.username);
    db_room_free_msgs(&job->u.room_join.msgs, &job->u.room_join.count);
}

/* ---- DB_JOB_ROOM_POSITION: one per room message written to a member,
 * so a batch's positions go as one statement over arrays ---- */

const struct db_stmt db_room_position_stmts[1] = {
    /* db_room_position_send_batch */
    {"room_positions_advance",
     "SELECT parley_room_positions_advance($1::uuid[], $2::text[], $3::bigint[], "
     "$4::bigint[])"},
};

int db_room_position_send_batch(PGconn *conn, struct db_job **jobs, size_t n, int *sent)
{
    struct pl_buf rooms = PL_BUF_INIT, users = PL_BUF_INIT, dlv = PL_BUF_INIT,
                  dsp = PL_BUF_INIT;
    int rc = PL_OK, any = 0;
    *sent = 0;
    if (pl_buf_append_str(&rooms, "{") || pl_buf_append_str(&users, "{") ||
        pl_buf_append_str(&dlv, "{") || pl_buf_append_str(&dsp, "{"))
        rc = PL_ENOMEM;
    for (size_t i = 0; rc == PL_OK && i < n; i++) {
        const struct db_room_position_job *p = &jobs[i]->u.room_position;
        if (jobs[i]->kind != DB_JOB_ROOM_POSITION)
            continue;
        char a[24], b[24];
        snprintf(a, sizeof(a), "%s%" PRId64, any ? "," : "", p->delivered_id);
        snprintf(b, sizeof(b), "%s%" PRId64, any ? "," : "", p->displayed_id);
        if (db_room_array_add(&rooms, p->room_id) != PL_OK ||
            db_room_array_add(&users, p->username) != PL_OK ||
            pl_buf_append_str(&dlv, a) != PL_OK || pl_buf_append_str(&dsp, b) != PL_OK)
            rc = PL_ENOMEM;
        any = 1;
    }
    if (rc == PL_OK && any) {
        if (pl_buf_append_str(&rooms, "}") != PL_OK ||
            pl_buf_append_str(&users, "}") != PL_OK ||
            pl_buf_append_str(&dlv, "}") != PL_OK ||
            pl_buf_append_str(&dsp, "}") != PL_OK)
            rc = PL_ENOMEM;
        const char *p[4] = {rooms.data, users.data, dlv.data, dsp.data};
        if (rc == PL_OK)
            rc = db_room_send(conn, "room_positions_advance", 4, p);
        *sent = rc == PL_OK;
    }
    pl_buf_free(&rooms);
    pl_buf_free(&users);
    pl_buf_free(&dlv);
    pl_buf_free(&dsp);
    /* Out of memory half way: the pipeline holds BEGIN, only a reset
     * makes the connection clean. */
    return rc == PL_OK ? PL_OK : PL_AGAIN;
}

void db_room_position_free(struct db_job *job)
{
    free(job->u.room_position.room_id);
    free(job->u.room_position.username);
}

/* ---- DB_JOB_ROOM_AFFILIATIONS ---- */

const struct db_stmt db_room_affiliations_stmts[1] = {
    /* db_room_affiliations_send */
    {"room_affiliations_set",
     "SELECT username, previous FROM parley_room_affiliations_set($1, $2::text[], "
     "$3::text[], $4::text[])"},
};

int db_room_affiliations_send(PGconn *conn, const char *node, struct db_job *job)
{
    const struct db_room_affiliations_job *a = &job->u.room_affiliations;
    struct pl_buf u = PL_BUF_INIT, f = PL_BUF_INIT, r = PL_BUF_INIT;
    int rc = PL_OK;
    if (pl_buf_append_str(&u, "{") || pl_buf_append_str(&f, "{") ||
        pl_buf_append_str(&r, "{"))
        rc = PL_ENOMEM;
    for (size_t i = 0; rc == PL_OK && i < a->count; i++) {
        if (db_room_array_add(&u, a->usernames[i]) != PL_OK ||
            db_room_array_add(&f, a->affiliations[i]) != PL_OK ||
            db_room_array_add(&r, a->reasons ? a->reasons[i] : NULL) != PL_OK)
            rc = PL_ENOMEM;
    }
    if (rc == PL_OK && (pl_buf_append_str(&u, "}") || pl_buf_append_str(&f, "}") ||
                        pl_buf_append_str(&r, "}")))
        rc = PL_ENOMEM;
    if (rc == PL_OK) {
        const char *p[4] = {a->room_id, u.data, f.data, r.data};
        rc = db_room_send(conn, "room_affiliations_set", 4, p);
    }
    pl_buf_free(&u);
    pl_buf_free(&f);
    pl_buf_free(&r);
    return rc == PL_OK ? PL_OK : PL_AGAIN;
}

int db_room_affiliations_read(struct db_job *job, const PGresult *res)
{
    struct db_room_affiliations_job *a = &job->u.room_affiliations;
    db_room_strv_free(&a->previous, a->count);
    a->conflict = 0;
    int rows = PQntuples(res);
    if (rows == 1 && PQgetisnull(res, 0, 0)) {
        a->conflict = 1;
        return PL_OK;
    }
    if ((size_t)rows != a->count && rows != 0)
        return PL_EIO;
    a->previous = calloc(a->count ? a->count : 1, sizeof(*a->previous));
    if (!a->previous)
        return PL_ENOMEM;
    for (int i = 0; i < rows; i++) {
        if (PQgetisnull(res, i, 1))
            continue;
        if (!(a->previous[i] = strdup(PQgetvalue(res, i, 1))))
            return PL_ENOMEM;
    }
    return PL_OK;
}

void db_room_affiliations_free(struct db_job *job)
{
    struct db_room_affiliations_job *a = &job->u.room_affiliations;
    db_room_strv_free(&a->previous, a->count);
    db_room_strv_free(&a->usernames, a->count);
    db_room_strv_free(&a->affiliations, a->count);
    db_room_strv_free(&a->reasons, a->count);
    free(a->room_id);
}

/* ---- DB_JOB_ROOM_CONFIG ---- */

const struct db_stmt db_room_config_stmts[1] = {
    /* db_room_config_send */
    /* Other nodes that have the room loaded read it again (0008). */
    {"room_config",
     "WITH u AS (UPDATE rooms SET name = $2, description = $3,"
     " members_only = $4, public = $5, change_subject = $6 WHERE id = $1"
     " RETURNING jid) SELECT pg_notify('parley_admin', 'room:' || jid) FROM u"},
};

int db_room_config_send(PGconn *conn, const char *node, struct db_job *job)
{
    const struct db_room_config_job *c = &job->u.room_config;
    const char *p[6] = {c->room_id,
                        c->name,
                        c->description,
                        c->members_only ? "t" : "f",
                        c->public_room ? "t" : "f",
                        c->change_subject ? "t" : "f"};
    return db_room_send(conn, "room_config", 6, p);
}

void db_room_config_free(struct db_job *job)
{
    free(job->u.room_config.room_id);
    free(job->u.room_config.name);
    free(job->u.room_config.description);
}

/* ---- DB_JOB_ROOM_SUBJECT ---- */

const struct db_stmt db_room_subject_stmts[1] = {
    /* db_room_subject_send */
    {"room_subject",
     "WITH u AS (UPDATE rooms SET subject = $2, subject_by = $3, subject_at = now()"
     " WHERE id = $1 RETURNING jid) SELECT pg_notify('parley_admin', 'room:' || jid) "
     "FROM u"},
};

int db_room_subject_send(PGconn *conn, const char *node, struct db_job *job)
{
    const struct db_room_subject_job *s = &job->u.room_subject;
    const char *p[3] = {s->room_id, s->subject, s->by};
    return db_room_send(conn, "room_subject", 3, p);
}

void db_room_subject_free(struct db_job *job)
{
    free(job->u.room_subject.room_id);
    free(job->u.room_subject.subject);
    free(job->u.room_subject.by);
}

/* ---- DB_JOB_ROOM_DESTROY: the room, its affiliations and positions go;
 * its messages stay in the archive (an organisation's record) ---- */

const struct db_stmt db_room_destroy_stmts[1] = {
    /* db_room_destroy_send */
    /* Other nodes that have the room loaded find it gone (0008). */
    {"room_destroy", "WITH d AS (DELETE FROM rooms WHERE id = $1 RETURNING id, jid)"
                     " SELECT id, pg_notify('parley_admin', 'room:' || jid) FROM d"},
};

int db_room_destroy_send(PGconn *conn, const char *node, struct db_job *job)
{
    const char *p[1] = {job->u.room_destroy.room_id};
    return db_room_send(conn, "room_destroy", 1, p);
}

int db_room_destroy_read(struct db_job *job, const PGresult *res)
{
    job->u.room_destroy.destroyed = PQntuples(res) > 0;
    return PL_OK;
}

void db_room_destroy_free(struct db_job *job)
{
    free(job->u.room_destroy.room_id);
}

/* ---- DB_JOB_ROOM_LIST ---- */

/* A disco#items answer is one stanza: this many rooms at most. */
#define DB_ROOM_LIST_MAX 500
#define DB_ROOM_STR_(x) #x
#define DB_ROOM_STR(x) DB_ROOM_STR_(x)

const struct db_stmt db_room_list_stmts[1] = {
    /* db_room_list_send */
    {"room_list",
     "SELECT jid, name FROM parley_room_list($1, " DB_ROOM_STR(DB_ROOM_LIST_MAX) ")"},
};

int db_room_list_send(PGconn *conn, const char *node, struct db_job *job)
{
    const char *p[1] = {job->u.room_list.username};
    return db_room_send(conn, "room_list", 1, p);
}

int db_room_list_read(struct db_job *job, const PGresult *res)
{
    struct db_room_list_job *l = &job->u.room_list;
    db_room_strv_free(&l->jids, l->count);
    db_room_strv_free(&l->names, l->count);
    l->count = 0;
    int rows = PQntuples(res);
    if (rows == 0)
        return PL_OK;
    l->jids = calloc((size_t)rows, sizeof(*l->jids));
    l->names = calloc((size_t)rows, sizeof(*l->names));
    if (!l->jids || !l->names)
        return PL_ENOMEM;
    l->count = (size_t)rows;
    int failed = 0;
    for (int i = 0; i < rows; i++) {
        l->jids[i] = db_room_dup_or_null(res, i, 0, &failed);
        l->names[i] = db_room_dup_or_null(res, i, 1, &failed);
    }
    return failed ? PL_ENOMEM : PL_OK;
}

void db_room_list_free(struct db_job *job)
{
    struct db_room_list_job *l = &job->u.room_list;
    db_room_strv_free(&l->jids, l->count);
    db_room_strv_free(&l->names, l->count);
    free(l->username);
}

/* ---- DB_EVENT_ROOM, DB_EVENT_ROOM_MESSAGE: made by the listener for the
 * admin API's room changes (0008), never sent ---- */

void db_room_event_free(struct db_job *job)
{
    free(job->u.room_event.jid);
}

void db_room_message_event_free(struct db_job *job)
{
    free(job->u.room_message.room);
    free(job->u.room_message.stanza_xml);
}

/* ---- DB_JOB_ROOM_OCCUPANT ---- */

const struct db_stmt db_room_occupant_stmts[1] = {
    /* db_room_occupant_send */
    {"room_occupant", "SELECT parley_room_occupant($1, $2, $3, $4, $5, $6)"},
};

int db_room_occupant_send(PGconn *conn, const char *node, struct db_job *job)
{
    const struct db_room_occupant_job *o = &job->u.room_occupant;
    const char *p[6] = {o->room_id,  o->session,  node,
                        o->username, o->resource, o->present ? "true" : "false"};
    return db_room_send(conn, "room_occupant", 6, p);
}

void db_room_occupant_free(struct db_job *job)
{
    free(job->u.room_occupant.room_id);
    free(job->u.room_occupant.session);
    free(job->u.room_occupant.username);
    free(job->u.room_occupant.resource);
}
