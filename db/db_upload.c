/* XEP-0363 HTTP File Upload in the database (migrations/0010_uploads.sql):
 * the slot job the XMPP loop submits (it checks the owner's quota in the
 * store, so the loop never waits), and the calls of the admin API's
 * listener, which claims a slot for its PUT, records the outcome, finds a
 * stored file for a GET, and lists and deletes uploads. The API's
 * statements are prepared with db_admin.c's. */
#include "db_internal.h"
#include "db_read.h"

#include "pl_error.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct db_stmt db_upload_slot_stmts[1] = {
    /* db_upload_slot_send */
    {"upload_slot", "SELECT id, used, expires_us FROM parley_upload_slot($1, $2,"
                    " $3::bigint, $4, $5, $6::int, $7::bigint)"},
};

int db_upload_slot_send(PGconn *conn, const char *node, struct db_job *job)
{
    const struct db_upload_slot_job *j = &job->u.upload_slot;
    char size[24], quota[24], ttl[16];
    snprintf(size, sizeof(size), "%" PRId64, j->size);
    snprintf(quota, sizeof(quota), "%" PRId64, j->quota);
    snprintf(ttl, sizeof(ttl), "%d", j->ttl_s);
    const char *p[7] = {j->owner,    j->name, size, j->content_type,
                        j->path_key, ttl,     quota};
    return PQsendQueryPrepared(conn, "upload_slot", 7, p, NULL, NULL, 0) == 1 ? PL_OK
                                                                              : PL_AGAIN;
}

int db_upload_slot_read(struct db_job *job, const PGresult *res)
{
    struct db_upload_slot_job *j = &job->u.upload_slot;
    if (PQntuples(res) != 1 || PQnfields(res) != 3)
        return PL_EIO;
    j->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    j->used = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    j->expires_us = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    return PL_OK;
}

void db_upload_slot_free(struct db_job *job)
{
    struct db_upload_slot_job *j = &job->u.upload_slot;
    free(j->owner);
    free(j->name);
    free(j->content_type);
    free(j->path_key);
}

int db_upload_put_begin(struct db_read_pool *pool, const char *path_key, const char *name,
                        int64_t size, const char *content_type, int claim,
                        enum db_upload_state *state)
{
    *state = DB_UPLOAD_NONE;
    char sz[24];
    snprintf(sz, sizeof(sz), "%" PRId64, size);
    const char *p[4] = {path_key, name, sz, content_type};
    char *out = NULL;
    int rc = db_read_call(pool, claim ? "upload_put_begin" : "upload_check", 4, p, claim,
                          &out);
    static const struct {
        const char *word;
        enum db_upload_state state;
    } words[] = {
        {"ok", DB_UPLOAD_OK},     {"none", DB_UPLOAD_NONE},
        {"size", DB_UPLOAD_SIZE}, {"type", DB_UPLOAD_TYPE},
        {"used", DB_UPLOAD_USED}, {"expired", DB_UPLOAD_EXPIRED},
    };
    if (rc == PL_OK) {
        rc = PL_EIO;
        for (size_t i = 0; out && i < sizeof(words) / sizeof(words[0]); i++)
            if (strcmp(out, words[i].word) == 0) {
                *state = words[i].state;
                rc = PL_OK;
            }
    }
    free(out);
    return rc;
}

int db_upload_put_end(struct db_read_pool *pool, const char *path_key, int ok)
{
    const char *p[2] = {path_key, ok ? "true" : "false"};
    char *out = NULL;
    int rc = db_read_call(pool, "upload_put_end", 2, p, 1, &out);
    if (rc == PL_OK && !out)
        rc = PL_ENOENT; /* deleted by an admin meanwhile */
    free(out);
    return rc;
}

int db_upload_get(struct db_read_pool *pool, const char *path_key, const char *name,
                  int64_t *size, char **content_type)
{
    *content_type = NULL;
    const char *p[2] = {path_key, name};
    char *out = NULL;
    int rc = db_read_call(pool, "upload_get", 2, p, 0, &out);
    if (rc == PL_OK && !out)
        rc = PL_ENOENT;
    if (rc == PL_OK) {
        char *sp = strchr(out, ' ');
        if (!sp) {
            rc = PL_EIO;
        } else {
            *sp = '\0';
            *size = strtoll(out, NULL, 10);
            if (!(*content_type = strdup(sp + 1)))
                rc = PL_ENOMEM;
        }
    }
    free(out);
    return rc;
}

int db_upload_list(struct db_read_pool *pool, const char *owner, const char *room_id,
                   int64_t cursor, int limit, char **json)
{
    *json = NULL;
    if (limit < 1 || limit > DB_READ_LIST_MAX)
        return PL_EINVAL;
    char cur[24], lim[16];
    snprintf(cur, sizeof(cur), "%" PRId64, cursor > 0 ? cursor : 0);
    snprintf(lim, sizeof(lim), "%d", limit);
    const char *p[4] = {owner, room_id, cur, lim};
    int rc = db_read_call(pool, "upload_list", 4, p, 0, json);
    if (rc == PL_OK && !*json)
        rc = PL_EIO;
    return rc;
}

int db_upload_delete(struct db_read_pool *pool, const char *actor, int64_t id,
                     char **path_key)
{
    *path_key = NULL;
    if (!actor || id <= 0)
        return PL_EINVAL;
    char ids[24];
    snprintf(ids, sizeof(ids), "%" PRId64, id);
    const char *p[2] = {actor, ids};
    int rc = db_read_call(pool, "upload_delete", 2, p, 1, path_key);
    if (rc == PL_OK && !*path_key)
        rc = PL_ENOENT;
    return rc;
}
