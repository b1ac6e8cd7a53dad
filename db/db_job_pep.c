/* The store jobs of the user's own PEP nodes (XEP-0163): a node's items,
 * a publish and a retraction, each one call of a function of
 * migrations/0011_pep.sql. Displayed positions (XEP-0490) are not items of
 * their own there: they are the read positions that drive unread counts. */
#include "db_job_pep.h"

#include "pl_error.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct db_stmt db_pep_get_stmts[1] = {
    /* db_pep_get_send */
    {"pep_get", "SELECT item_id, payload, name, by, pos FROM parley_pep_get($1, $2, $3)"},
};

const struct db_stmt db_pep_publish_stmts[1] = {
    /* db_pep_publish_send */
    {"pep_publish",
     "SELECT parley_pep_publish($1, $2, $3, $4, $5, $6, $7::bigint, $8::int)"},
};

const struct db_stmt db_pep_retract_stmts[1] = {
    /* db_pep_retract_send */
    {"pep_retract", "SELECT parley_pep_retract($1, $2, $3)"},
};

static int send_prepared(PGconn *conn, const char *stmt, int n, const char *const *params)
{
    return PQsendQueryPrepared(conn, stmt, n, params, NULL, NULL, 0) == 1 ? PL_OK
                                                                          : PL_AGAIN;
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

static void items_clear(struct db_pep_job *p)
{
    for (size_t i = 0; i < p->count; i++) {
        free(p->items[i].id);
        free(p->items[i].payload);
        free(p->items[i].name);
        free(p->items[i].by);
    }
    free(p->items);
    p->items = NULL;
    p->count = 0;
}

/* ---- DB_JOB_PEP_GET ---- */

int db_pep_get_send(PGconn *conn, const char *node, struct db_job *job)
{
    (void)node;
    const char *p[3] = {job->u.pep.owner, job->u.pep.owner_jid, job->u.pep.node};
    return send_prepared(conn, "pep_get", 3, p);
}

int db_pep_get_read(struct db_job *job, const PGresult *res)
{
    struct db_pep_job *p = &job->u.pep;
    items_clear(p); /* a rerun after a failed batch starts over */
    int rows = PQntuples(res);
    if (rows > 0 && !(p->items = calloc((size_t)rows, sizeof(*p->items))))
        return PL_ENOMEM;
    for (int r = 0; r < rows; r++) {
        struct db_pep_item *it = &p->items[p->count++];
        int ok = 1;
        it->id = dup_value(res, r, 0, &ok);
        it->payload = dup_value(res, r, 1, &ok);
        it->name = dup_value(res, r, 2, &ok);
        it->by = dup_value(res, r, 3, &ok);
        if (!ok)
            return PL_ENOMEM;
        if (!it->id)
            return PL_EIO;
        if (!PQgetisnull(res, r, 4)) {
            char *end;
            errno = 0;
            long long v = strtoll(PQgetvalue(res, r, 4), &end, 10);
            if (errno || *end != '\0')
                return PL_EIO;
            it->pos = v;
        }
    }
    return PL_OK;
}

/* ---- DB_JOB_PEP_PUBLISH ---- */

int db_pep_publish_send(PGconn *conn, const char *node, struct db_job *job)
{
    (void)node;
    const struct db_pep_job *p = &job->u.pep;
    char pos[32], max[16];
    snprintf(pos, sizeof(pos), "%" PRId64, p->pos);
    snprintf(max, sizeof(max), "%d", p->max);
    const char *v[8] = {p->owner,   p->owner_jid, p->node, p->item,
                        p->payload, p->by,        pos,     max};
    return send_prepared(conn, "pep_publish", 8, v);
}

int db_pep_publish_read(struct db_job *job, const PGresult *res)
{
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
        return PL_EIO;
    const char *v = PQgetvalue(res, 0, 0);
    if (strcmp(v, "ok") == 0)
        job->u.pep.result = 'o';
    else if (strcmp(v, "full") == 0)
        job->u.pep.result = 'f';
    else if (strcmp(v, "unknown") == 0)
        job->u.pep.result = 'u';
    else
        return PL_EIO;
    return PL_OK;
}

/* ---- DB_JOB_PEP_RETRACT ---- */

int db_pep_retract_send(PGconn *conn, const char *node, struct db_job *job)
{
    (void)node;
    const char *p[3] = {job->u.pep.owner, job->u.pep.node, job->u.pep.item};
    return send_prepared(conn, "pep_retract", 3, p);
}

int db_pep_retract_read(struct db_job *job, const PGresult *res)
{
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
        return PL_EIO;
    job->u.pep.found = PQgetvalue(res, 0, 0)[0] == 't';
    return PL_OK;
}

void db_pep_free(struct db_job *job)
{
    struct db_pep_job *p = &job->u.pep;
    free(p->owner);
    free(p->owner_jid);
    free(p->node);
    free(p->item);
    free(p->payload);
    free(p->by);
    items_clear(p);
}
