/* The admin API's changes (db_read.h, "Admin changes"). Each is one call of
 * a function of migrations/0005_admin.sql, which makes the change, writes
 * its audit row and sends its NOTIFY in the same transaction, run through
 * the read pool in a READ WRITE transaction. */
#include "db_internal.h"
#include "db_read.h"
#include "pl_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct db_stmt db_admin_stmts[] = {
    /* db_admin_user_create */
    {"admin_user_create",
     "SELECT parley_admin_user_create($1, $2, $3, $4::boolean)::text"},
    /* db_admin_user_update */
    {"admin_user_update", "SELECT parley_admin_user_update($1, $2, $3::boolean, $4,"
                          " $5::boolean, $6::boolean)::text"},
    /* db_admin_user_delete */
    {"admin_user_delete", "SELECT CASE WHEN parley_admin_user_delete($1, $2)"
                          " THEN 't' END"},
    /* db_admin_kick */
    {"admin_kick", "SELECT parley_admin_kick($1, $2, $3)::text"},
    /* db_admin_send */
    {"admin_send", "SELECT parley_admin_send($1, $2, $3, $4)::text"},
    /* db_admin_room_create */
    {"admin_room_create",
     "SELECT parley_admin_room_create($1, $2, $3, $4, $5::boolean, $6::json)::text"},
    /* db_admin_room_update */
    {"admin_room_update", "SELECT parley_admin_room_update($1, $2::uuid, $3::boolean, $4,"
                          " $5::boolean, $6, $7::boolean, $8::boolean)::text"},
    /* db_admin_room_delete */
    {"admin_room_delete", "SELECT CASE WHEN parley_admin_room_delete($1, $2::uuid)"
                          " THEN 't' END"},
    /* db_admin_room_member_set */
    {"admin_room_member_set",
     "SELECT parley_admin_room_member_set($1, $2::uuid, $3, $4)::text"},
    /* db_admin_room_member_remove */
    {"admin_room_member_remove",
     "SELECT parley_admin_room_member_remove($1, $2::uuid, $3)::text"},
    /* db_admin_room_send */
    {"admin_room_send", "SELECT parley_admin_room_send($1, $2, $3, $4::uuid, $5)"},
    /* db_admin_audit */
    {"admin_audit", "SELECT 't' FROM parley_admin_audit($1, $2, $3, $4::jsonb)"},
    /* uploads (db_upload.c, migrations/0010_uploads.sql) */
    /* db_upload_put_begin */
    {"upload_put_begin", "SELECT parley_upload_put_begin($1, $2, $3::bigint, $4)"},
    /* db_upload_check */
    {"upload_check", "SELECT parley_upload_check($1, $2, $3::bigint, $4)"},
    /* db_upload_put_end */
    {"upload_put_end", "SELECT CASE WHEN parley_upload_put_end($1, $2::boolean)"
                       " THEN 't' END"},
    /* db_upload_get */
    {"upload_get", "SELECT size || ' ' || content_type FROM parley_upload_get($1, $2)"},
    /* db_upload_list */
    {"upload_list",
     "SELECT parley_admin_uploads($1, $2::uuid, $3::bigint, $4::int)::text"},
    /* db_upload_delete */
    {"upload_delete", "SELECT parley_admin_upload_delete($1, $2::bigint)"},
};
const size_t db_admin_nstmts = sizeof(db_admin_stmts) / sizeof(db_admin_stmts[0]);

static const char *flag(int v)
{
    return v ? "true" : "false";
}

int db_admin_user_create(struct db_read_pool *pool, const char *actor,
                         const char *username, const char *display_name, int disabled,
                         char **json)
{
    *json = NULL;
    if (!actor || !username || !*username)
        return PL_EINVAL;
    const char *p[4] = {actor, username, display_name, flag(disabled)};
    int rc = db_read_call(pool, "admin_user_create", 4, p, 1, json);
    if (rc == PL_OK && !*json)
        rc = PL_EEXIST;
    return rc;
}

int db_admin_user_update(struct db_read_pool *pool, const char *actor,
                         const char *username, int set_display_name,
                         const char *display_name, int set_disabled, int disabled,
                         char **json)
{
    *json = NULL;
    if (!actor || !username || !*username)
        return PL_EINVAL;
    const char *p[6] = {actor,        username,           flag(set_display_name),
                        display_name, flag(set_disabled), flag(disabled)};
    int rc = db_read_call(pool, "admin_user_update", 6, p, 1, json);
    if (rc == PL_OK && !*json)
        rc = PL_ENOENT;
    return rc;
}

int db_admin_user_delete(struct db_read_pool *pool, const char *actor,
                         const char *username)
{
    if (!actor || !username || !*username)
        return PL_EINVAL;
    const char *p[2] = {actor, username};
    char *out = NULL;
    int rc = db_read_call(pool, "admin_user_delete", 2, p, 1, &out);
    if (rc == PL_OK && !out)
        rc = PL_ENOENT;
    free(out);
    return rc;
}

int db_admin_kick(struct db_read_pool *pool, const char *actor, const char *username,
                  const char *resource, int *sessions)
{
    *sessions = 0;
    if (!actor || !username || !*username || (resource && !*resource))
        return PL_EINVAL;
    const char *p[3] = {actor, username, resource};
    char *out = NULL;
    int rc = db_read_call(pool, "admin_kick", 3, p, 1, &out);
    if (rc == PL_OK) {
        int n = out ? atoi(out) : -1;
        if (n < 0)
            rc = PL_ENOENT;
        else
            *sessions = n;
    }
    free(out);
    return rc;
}

int db_admin_send(struct db_read_pool *pool, const char *actor, const char *from,
                  const char *to, const char *body, char **json)
{
    *json = NULL;
    if (!actor || !from || !*from || !to || !*to || !body)
        return PL_EINVAL;
    const char *p[4] = {actor, from, to, body};
    int rc = db_read_call(pool, "admin_send", 4, p, 1, json);
    if (rc == PL_OK && !*json)
        rc = PL_EIO;
    return rc;
}

int db_admin_audit(struct db_read_pool *pool, const char *actor, const char *action,
                   const char *target, const char *details_json)
{
    if (!actor || !action || !target)
        return PL_EINVAL;
    const char *p[4] = {actor, action, target, details_json ? details_json : "{}"};
    char *out = NULL;
    int rc = db_read_call(pool, "admin_audit", 4, p, 1, &out);
    free(out);
    return rc;
}

int db_admin_room_create(struct db_read_pool *pool, const char *actor,
                         const char *muc_domain, const char *name,
                         const char *description, int members_only,
                         const char *members_json, char **json)
{
    *json = NULL;
    if (!actor || !muc_domain || !*muc_domain)
        return PL_EINVAL;
    const char *p[6] = {actor,       muc_domain,         name,
                        description, flag(members_only), members_json};
    int rc = db_read_call(pool, "admin_room_create", 6, p, 1, json);
    if (rc == PL_OK && !*json)
        rc = PL_EIO; /* the function always answers */
    return rc;
}

static const char *tri(int v)
{
    return v < 0 ? NULL : flag(v);
}

int db_admin_room_update(struct db_read_pool *pool, const char *actor, const char *id,
                         int set_name, const char *name, int set_description,
                         const char *description, int members_only, int public_)
{
    if (!actor || !id || !*id)
        return PL_EINVAL;
    const char *p[8] = {actor,
                        id,
                        flag(set_name),
                        name,
                        flag(set_description),
                        description,
                        tri(members_only),
                        tri(public_)};
    char *out = NULL;
    int rc = db_read_call(pool, "admin_room_update", 8, p, 1, &out);
    if (rc == PL_OK && !out)
        rc = PL_ENOENT;
    free(out);
    return rc;
}

int db_admin_room_delete(struct db_read_pool *pool, const char *actor, const char *id)
{
    if (!actor || !id || !*id)
        return PL_EINVAL;
    const char *p[2] = {actor, id};
    char *out = NULL;
    int rc = db_read_call(pool, "admin_room_delete", 2, p, 1, &out);
    if (rc == PL_OK && !out)
        rc = PL_ENOENT;
    free(out);
    return rc;
}

int db_admin_room_member_set(struct db_read_pool *pool, const char *actor, const char *id,
                             const char *username, const char *affiliation, char **json)
{
    *json = NULL;
    if (!actor || !id || !username || !affiliation)
        return PL_EINVAL;
    const char *p[4] = {actor, id, username, affiliation};
    int rc = db_read_call(pool, "admin_room_member_set", 4, p, 1, json);
    if (rc == PL_OK && !*json)
        rc = PL_ENOENT;
    return rc;
}

int db_admin_room_member_remove(struct db_read_pool *pool, const char *actor,
                                const char *id, const char *username)
{
    if (!actor || !id || !username)
        return PL_EINVAL;
    const char *p[3] = {actor, id, username};
    char *out = NULL;
    int rc = db_read_call(pool, "admin_room_member_remove", 3, p, 1, &out);
    if (rc == PL_OK && (!out || strcmp(out, "0") != 0))
        rc = out ? PL_ENOENT : PL_EIO;
    free(out);
    return rc;
}

int db_admin_room_send(struct db_read_pool *pool, const char *actor, const char *from,
                       const char *username, const char *id, const char *body,
                       char **json)
{
    *json = NULL;
    if (!actor || !from || !id || !body)
        return PL_EINVAL;
    const char *p[5] = {actor, from, username, id, body};
    int rc = db_read_call(pool, "admin_room_send", 5, p, 1, json);
    if (rc == PL_OK && !*json)
        return PL_ENOENT;
    if (rc == PL_OK && strcmp(*json, "not-member") == 0) {
        free(*json);
        *json = NULL;
        rc = PL_EDENIED;
    }
    return rc;
}
