/* The store jobs of rosters, presence subscriptions, initial presence,
 * blocking and chat markers: their named statements (the SQL functions are
 * in migrations/0003_presence.sql), how each is sent and how its answer is
 * read. db_jobs.c's table takes these through DB_JOB_ROSTER_DESCS. Lists
 * of strings (groups, JIDs) go both ways joined by DB_LIST_SEP, which XML
 * text cannot contain. */
#include "db_internal.h"
#include "pl_error.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DB_SEP_SQL "chr(31)"
#define DB_EPOCH_US_R(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

const struct db_stmt db_roster_stmts[DB_ROSTER_NSTMTS] = {
    /* db_roster_load_send */
    [DB_ROSTER_STMT_LOAD] = {"roster_load",
                             "SELECT kind, jid, name, array_to_string(groups, " DB_SEP_SQL
                             "), state, ver FROM parley_roster_load($1, $2)"},
    /* db_roster_set_send */
    [DB_ROSTER_STMT_SET] = {"roster_set",
                            "SELECT status, state, ver FROM parley_roster_set($1, $2, $3,"
                            " string_to_array($4, " DB_SEP_SQL "), $5::int)"},
    /* db_roster_pair_send */
    [DB_ROSTER_STMT_PAIR] = {"roster_pair",
                             "SELECT side, name, array_to_string(groups, " DB_SEP_SQL
                             "), state, ver, blocked"
                             " FROM parley_roster_pair($1, $2, $3, $4)"},
    /* db_roster_apply_send */
    [DB_ROSTER_STMT_APPLY] = {"roster_apply",
                              "SELECT applied, a_ver, b_ver FROM parley_roster_apply("
                              "$1, $2, $3::bigint, $4::int, $5,"
                              " $6, $7, $8::bigint, $9::int, $10)"},
    /* db_presence_initial_send */
    [DB_ROSTER_STMT_PRESENCE_INITIAL] =
        {"presence_initial",
         "SELECT kind, jid, available, show, status, " DB_EPOCH_US_R(
             "at") ", request"
                   ", " DB_EPOCH_US_R(
                       "idle_since") " FROM parley_presence_initial($1, $2)"},
    /* db_block_set_send */
    [DB_ROSTER_STMT_BLOCK_SET] =
        {"block_set",
         "SELECT parley_block_set($1, $2, string_to_array($3, " DB_SEP_SQL "))"},
    /* db_displayed_send */
    [DB_ROSTER_STMT_DISPLAYED] = {"mark_displayed",
                                  "SELECT parley_mark_displayed($1, $2, $3)"},
};

/* ---- helpers ---- */

static int send_prepared(PGconn *conn, const char *stmt, int n, const char *const *params)
{
    return PQsendQueryPrepared(conn, stmt, n, params, NULL, NULL, 0) == 1 ? PL_OK
                                                                          : PL_AGAIN;
}

static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return PL_EINVAL;
    *out = v;
    return PL_OK;
}

/* A copy of the value, or NULL for SQL NULL; *ok goes 0 on ENOMEM. */
static char *dup_value(const PGresult *res, int row, int col, int *ok)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    char *s = strdup(PQgetvalue(res, row, col));
    if (!s)
        *ok = 0;
    return s;
}

static int get_bool(const PGresult *res, int row, int col)
{
    return !PQgetisnull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}

/* An integer cell; NULL reads as 0. */
static int get_i64(const PGresult *res, int row, int col, int64_t *out)
{
    *out = 0;
    if (PQgetisnull(res, row, col))
        return PL_OK;
    return parse_i64(PQgetvalue(res, row, col), out);
}

static void item_clear(struct db_roster_item *it)
{
    free(it->jid);
    free(it->name);
    free(it->groups);
    it->jid = it->name = it->groups = NULL;
}

/* Columns name, groups, state, ver from `col` on. */
static int read_item(const PGresult *res, int row, int col, struct db_roster_item *it)
{
    int ok = 1;
    int64_t state = 0;
    it->name = dup_value(res, row, col, &ok);
    it->groups = dup_value(res, row, col + 1, &ok);
    if (!ok)
        return PL_ENOMEM;
    if (get_i64(res, row, col + 2, &state) != PL_OK ||
        get_i64(res, row, col + 3, &it->ver) != PL_OK)
        return PL_EIO;
    it->state = (unsigned)state;
    return PL_OK;
}

/* ---- DB_JOB_ROSTER_LOAD ---- */

int db_roster_load_send(PGconn *conn, const char *node, struct db_job *job)
{
    const char *p[2] = {job->u.roster_load.owner, job->u.roster_load.team_domain};
    return send_prepared(conn, "roster_load", 2, p);
}

static void roster_load_clear(struct db_roster_load_job *l)
{
    for (size_t i = 0; i < l->count; i++)
        item_clear(&l->items[i]);
    free(l->items);
    for (size_t i = 0; i < l->nblocked; i++)
        free(l->blocked[i]);
    free(l->blocked);
    for (size_t i = 0; i < l->nteam; i++)
        item_clear(&l->team[i]);
    free(l->team);
    l->items = NULL;
    l->blocked = NULL;
    l->team = NULL;
    l->count = l->nblocked = l->nteam = 0;
    l->ver = 0;
}

int db_roster_load_read(struct db_job *job, const PGresult *res)
{
    struct db_roster_load_job *l = &job->u.roster_load;
    roster_load_clear(l); /* a rerun after a failed batch starts over */
    int rows = PQntuples(res);
    if (rows > 0) {
        l->items = calloc((size_t)rows, sizeof(*l->items));
        l->blocked = calloc((size_t)rows, sizeof(*l->blocked));
        l->team = l->team_domain ? calloc((size_t)rows, sizeof(*l->team)) : NULL;
        if (!l->items || !l->blocked || (l->team_domain && !l->team))
            return PL_ENOMEM;
    }
    for (int r = 0; r < rows; r++) {
        const char *kind = PQgetvalue(res, r, 0);
        int ok = 1;
        if (kind[0] == 'v') {
            if (get_i64(res, r, 5, &l->ver) != PL_OK)
                return PL_EIO;
        } else if (kind[0] == 'i') {
            struct db_roster_item *it = &l->items[l->count++];
            it->jid = dup_value(res, r, 1, &ok);
            if (!ok || !it->jid)
                return ok ? PL_EIO : PL_ENOMEM;
            int rc = read_item(res, r, 2, it);
            if (rc != PL_OK)
                return rc;
        } else if (kind[0] == 't' && l->team) {
            struct db_roster_item *it = &l->team[l->nteam++];
            it->jid = dup_value(res, r, 1, &ok);
            it->name = dup_value(res, r, 2, &ok);
            if (!ok || !it->jid)
                return ok ? PL_EIO : PL_ENOMEM;
        } else if (kind[0] == 'b') {
            char *jid = dup_value(res, r, 1, &ok);
            if (!jid)
                return ok ? PL_EIO : PL_ENOMEM;
            l->blocked[l->nblocked++] = jid;
        } else {
            return PL_EIO;
        }
    }
    return PL_OK;
}

void db_roster_load_free(struct db_job *job)
{
    free(job->u.roster_load.owner);
    free(job->u.roster_load.team_domain);
    roster_load_clear(&job->u.roster_load);
}

/* ---- DB_JOB_ROSTER_SET ---- */

int db_roster_set_send(PGconn *conn, const char *node, struct db_job *job)
{
    const struct db_roster_set_job *r = &job->u.roster_set;
    char max[16];
    snprintf(max, sizeof(max), "%d", r->max);
    const char *p[5] = {r->owner, r->contact, r->name, r->groups ? r->groups : "", max};
    return send_prepared(conn, "roster_set", 5, p);
}

int db_roster_set_read(struct db_job *job, const PGresult *res)
{
    struct db_roster_set_job *r = &job->u.roster_set;
    int64_t state = 0;
    if (PQntuples(res) != 1 || get_i64(res, 0, 1, &state) != PL_OK ||
        get_i64(res, 0, 2, &r->ver) != PL_OK)
        return PL_EIO;
    r->refused = strcmp(PQgetvalue(res, 0, 0), "limit") == 0;
    r->state = (unsigned)state;
    return PL_OK;
}

void db_roster_set_free(struct db_job *job)
{
    free(job->u.roster_set.owner);
    free(job->u.roster_set.contact);
    free(job->u.roster_set.name);
    free(job->u.roster_set.groups);
}

/* ---- DB_JOB_ROSTER_PAIR ---- */

int db_roster_pair_send(PGconn *conn, const char *node, struct db_job *job)
{
    const struct db_roster_pair_job *r = &job->u.roster_pair;
    const char *p[4] = {r->a_owner, r->a_contact, r->b_owner, r->b_contact};
    return send_prepared(conn, "roster_pair", 4, p);
}

int db_roster_pair_read(struct db_job *job, const PGresult *res)
{
    struct db_roster_pair_job *r = &job->u.roster_pair;
    item_clear(&r->a);
    item_clear(&r->b);
    r->a.state = r->b.state = 0;
    r->a.ver = r->b.ver = 0;
    if (PQntuples(res) != 2 || PQgetvalue(res, 0, 0)[0] != 'a' ||
        PQgetvalue(res, 1, 0)[0] != 'b')
        return PL_EIO;
    int rc = read_item(res, 0, 1, &r->a);
    if (rc == PL_OK)
        rc = read_item(res, 1, 1, &r->b);
    r->b_blocks_a = get_bool(res, 1, 5);
    return rc;
}

void db_roster_pair_free(struct db_job *job)
{
    struct db_roster_pair_job *r = &job->u.roster_pair;
    free(r->a_owner);
    free(r->a_contact);
    free(r->b_owner);
    free(r->b_contact);
    item_clear(&r->a);
    item_clear(&r->b);
}

/* ---- DB_JOB_ROSTER_APPLY ---- */

int db_roster_apply_send(PGconn *conn, const char *node, struct db_job *job)
{
    const struct db_roster_apply_job *r = &job->u.roster_apply;
    char a_old[24], b_old[24], a_new[16], b_new[16];
    snprintf(a_old, sizeof(a_old), "%" PRId64, r->a_old);
    snprintf(b_old, sizeof(b_old), "%" PRId64, r->b_old);
    snprintf(a_new, sizeof(a_new), "%d", r->a_new);
    snprintf(b_new, sizeof(b_new), "%d", r->b_new);
    const char *p[10] = {
        r->a_owner, r->a_contact, a_old, r->a_new < 0 ? NULL : a_new, r->a_request,
        r->b_owner, r->b_contact, b_old, r->b_new < 0 ? NULL : b_new, r->b_request};
    return send_prepared(conn, "roster_apply", 10, p);
}

int db_roster_apply_read(struct db_job *job, const PGresult *res)
{
    struct db_roster_apply_job *r = &job->u.roster_apply;
    if (PQntuples(res) != 1 || get_i64(res, 0, 1, &r->a_ver) != PL_OK ||
        get_i64(res, 0, 2, &r->b_ver) != PL_OK)
        return PL_EIO;
    r->applied = get_bool(res, 0, 0);
    return PL_OK;
}

void db_roster_apply_free(struct db_job *job)
{
    struct db_roster_apply_job *r = &job->u.roster_apply;
    free(r->a_owner);
    free(r->a_contact);
    free(r->a_request);
    free(r->b_owner);
    free(r->b_contact);
    free(r->b_request);
}

/* ---- DB_JOB_PRESENCE_INITIAL ---- */

int db_presence_initial_send(PGconn *conn, const char *node, struct db_job *job)
{
    const char *p[2] = {job->u.presence_initial.owner, job->u.presence_initial.owner_jid};
    return send_prepared(conn, "presence_initial", 2, p);
}

static void presence_initial_clear(struct db_presence_initial_job *p)
{
    for (size_t i = 0; i < p->ncontacts; i++) {
        free(p->contacts[i].jid);
        free(p->contacts[i].show);
        free(p->contacts[i].status);
    }
    free(p->contacts);
    for (size_t i = 0; i < p->nrequests; i++) {
        free(p->requests[i].jid);
        free(p->requests[i].stanza_xml);
    }
    free(p->requests);
    p->contacts = NULL;
    p->requests = NULL;
    p->ncontacts = p->nrequests = 0;
}

int db_presence_initial_read(struct db_job *job, const PGresult *res)
{
    struct db_presence_initial_job *p = &job->u.presence_initial;
    presence_initial_clear(p);
    int rows = PQntuples(res);
    if (rows > 0) {
        p->contacts = calloc((size_t)rows, sizeof(*p->contacts));
        p->requests = calloc((size_t)rows, sizeof(*p->requests));
        if (!p->contacts || !p->requests)
            return PL_ENOMEM;
    }
    for (int r = 0; r < rows; r++) {
        int ok = 1;
        char kind = PQgetvalue(res, r, 0)[0];
        if (kind == 'p') {
            struct db_presence_contact *c = &p->contacts[p->ncontacts++];
            c->jid = dup_value(res, r, 1, &ok);
            c->known = !PQgetisnull(res, r, 2);
            c->available = get_bool(res, r, 2);
            c->show = dup_value(res, r, 3, &ok);
            c->status = dup_value(res, r, 4, &ok);
            if (!ok || !c->jid || get_i64(res, r, 5, &c->at_us) != PL_OK ||
                get_i64(res, r, 7, &c->idle_us) != PL_OK)
                return ok ? PL_EIO : PL_ENOMEM;
        } else if (kind == 'r') {
            struct db_presence_request *q = &p->requests[p->nrequests++];
            q->jid = dup_value(res, r, 1, &ok);
            q->stanza_xml = dup_value(res, r, 6, &ok);
            if (!ok || !q->jid)
                return ok ? PL_EIO : PL_ENOMEM;
        } else {
            return PL_EIO;
        }
    }
    return PL_OK;
}

void db_presence_initial_free(struct db_job *job)
{
    free(job->u.presence_initial.owner);
    free(job->u.presence_initial.owner_jid);
    presence_initial_clear(&job->u.presence_initial);
}

/* ---- DB_JOB_BLOCK_SET ---- */

int db_block_set_send(PGconn *conn, const char *node, struct db_job *job)
{
    const struct db_block_set_job *b = &job->u.block_set;
    static const char *const ops[] = {"block", "unblock", "unblock_all"};
    const char *p[3] = {b->owner, ops[b->op], b->jids ? b->jids : ""};
    return send_prepared(conn, "block_set", 3, p);
}

int db_block_set_read(struct db_job *job, const PGresult *res)
{
    int64_t n = 0;
    if (PQntuples(res) != 1 || get_i64(res, 0, 0, &n) != PL_OK)
        return PL_EIO;
    job->u.block_set.changed = (int)n;
    return PL_OK;
}

void db_block_set_free(struct db_job *job)
{
    free(job->u.block_set.owner);
    free(job->u.block_set.jids);
}

/* ---- DB_JOB_MARK_DISPLAYED ---- */

int db_displayed_send(PGconn *conn, const char *node, struct db_job *job)
{
    const struct db_mark_displayed_job *d = &job->u.displayed;
    const char *p[3] = {d->sender, d->stanza_id, d->recipient};
    return send_prepared(conn, "mark_displayed", 3, p);
}

int db_displayed_read(struct db_job *job, const PGresult *res)
{
    int64_t n = 0;
    if (PQntuples(res) != 1 || get_i64(res, 0, 0, &n) != PL_OK)
        return PL_EIO;
    job->u.displayed.updated = (int)n;
    return PL_OK;
}

void db_displayed_free(struct db_job *job)
{
    free(job->u.displayed.sender);
    free(job->u.displayed.stanza_id);
    free(job->u.displayed.recipient);
}
