/* /api/v1/rooms and /api/v1/rooms/{room}: the rooms as PostgreSQL holds
 * them. A room's live occupants are in the memory of the XMPP loop that
 * has it loaded, which the API never touches, so they are not shown. */
#include "api_internal.h"

#include "db_read.h"
#include "pl_error.h"

#include <stdlib.h>
#include <string.h>

void api_rooms_list(struct api_server *srv, struct api_request *req,
                    struct api_reply *rep)
{
    int limit;
    if (api_query_limit(&req->query, &limit) != PL_OK) {
        api_problem(rep, 400, "invalid-parameter", "limit",
                    "limit must be an integer from 1 (larger is capped at %d)",
                    API_LIMIT_MAX);
        return;
    }
    const char *cursor = api_query_get(&req->query, "cursor");
    char *json = NULL;
    int rc = db_read_rooms_list(api_server_pool(srv), cursor, limit, &json);
    if (rc != PL_OK)
        api_problem_db(rep, rc, "rooms");
    else
        api_reply_json(rep, 200, json);
}

void api_rooms_get(struct api_server *srv, struct api_request *req, struct api_reply *rep)
{
    const char *room = req->npath_params ? req->path_params[0] : NULL;
    if (!room || api_parse_uuid(room) != PL_OK) {
        api_problem(rep, 404, "not-found", NULL, "no such room");
        return;
    }
    char *json = NULL;
    int rc = db_read_room_get(api_server_pool(srv), room, &json);
    if (rc != PL_OK)
        api_problem_db(rep, rc, "room");
    else
        api_reply_json(rep, 200, json);
}

/* Names and descriptions are shown in clients; longer is a mistake. */
#define API_ROOM_TEXT_MAX 1024

static const struct api_field create_fields[] = {
    {"name", API_FIELD_STRING_NULL, 0},
    {"description", API_FIELD_STRING_NULL, 0},
    {"members_only", API_FIELD_BOOL, 0},
    {"members", API_FIELD_ARRAY, 0},
};

void api_rooms_create(struct api_server *srv, struct api_request *req,
                      struct api_reply *rep)
{
    json_t *root, *v[4];
    char *members = NULL;
    if (api_body_parse(req, create_fields, 4, &root, v, rep) != PL_OK)
        return;
    for (int i = 0; i < 2; i++) {
        if (json_is_string(v[i]) && json_string_length(v[i]) > API_ROOM_TEXT_MAX) {
            api_problem(rep, 400, "invalid-field", create_fields[i].name,
                        "%s is longer than %d bytes", create_fields[i].name,
                        API_ROOM_TEXT_MAX);
            goto done;
        }
    }
    if (v[3]) {
        size_t i;
        json_t *m;
        json_array_foreach(v[3], i, m)
        {
            if (!json_is_string(m) || api_parse_username(json_string_value(m)) != PL_OK) {
                api_problem(rep, 400, "invalid-field", "members",
                            "members must be usernames (lower-case XMPP localparts)");
                goto done;
            }
        }
        members = json_dumps(v[3], JSON_COMPACT);
        if (!members) {
            api_problem_db(rep, PL_ENOMEM, "room");
            goto done;
        }
    }
    char *json = NULL;
    int rc = db_admin_room_create(api_server_pool(srv), req->actor,
                                  api_server_config(srv)->muc_domain,
                                  json_is_string(v[0]) ? json_string_value(v[0]) : NULL,
                                  json_is_string(v[1]) ? json_string_value(v[1]) : NULL,
                                  v[2] ? json_is_true(v[2]) : 0, members, &json);
    if (rc != PL_OK)
        api_problem_db(rep, rc, "room");
    else
        api_reply_json(rep, 201, json);
done:
    free(members);
    json_decref(root);
}

static const struct api_field update_fields[] = {
    {"name", API_FIELD_STRING_NULL, 0},
    {"description", API_FIELD_STRING_NULL, 0},
    {"members_only", API_FIELD_BOOL, 0},
    {"public", API_FIELD_BOOL, 0},
};

/* Changes the room's row only: a node that has the room loaded keeps the
 * configuration it loaded (the loop has no room notification yet). */
void api_rooms_update(struct api_server *srv, struct api_request *req,
                      struct api_reply *rep)
{
    const char *room = req->npath_params ? req->path_params[0] : NULL;
    if (!room || api_parse_uuid(room) != PL_OK) {
        api_problem(rep, 404, "not-found", NULL, "no such room");
        return;
    }
    json_t *root, *v[4];
    if (api_body_parse(req, update_fields, 4, &root, v, rep) != PL_OK)
        return;
    if (!v[0] && !v[1] && !v[2] && !v[3]) {
        api_problem(rep, 400, "missing-field", NULL,
                    "nothing to change: give name, description, members_only or public");
        goto done;
    }
    for (int i = 0; i < 2; i++) {
        if (json_is_string(v[i]) && json_string_length(v[i]) > API_ROOM_TEXT_MAX) {
            api_problem(rep, 400, "invalid-field", update_fields[i].name,
                        "%s is longer than %d bytes", update_fields[i].name,
                        API_ROOM_TEXT_MAX);
            goto done;
        }
    }
    int rc = db_admin_room_update(
        api_server_pool(srv), req->actor, room, v[0] != NULL,
        json_is_string(v[0]) ? json_string_value(v[0]) : NULL, v[1] != NULL,
        json_is_string(v[1]) ? json_string_value(v[1]) : NULL,
        v[2] ? json_is_true(v[2]) : -1, v[3] ? json_is_true(v[3]) : -1);
    char *json = NULL;
    if (rc == PL_OK)
        rc = db_read_room_get(api_server_pool(srv), room, &json);
    if (rc != PL_OK)
        api_problem_db(rep, rc, "room");
    else
        api_reply_json(rep, 200, json);
done:
    json_decref(root);
}

void api_rooms_delete(struct api_server *srv, struct api_request *req,
                      struct api_reply *rep)
{
    const char *room = req->npath_params ? req->path_params[0] : NULL;
    if (!room || api_parse_uuid(room) != PL_OK) {
        api_problem(rep, 404, "not-found", NULL, "no such room");
        return;
    }
    int rc = db_admin_room_delete(api_server_pool(srv), req->actor, room);
    if (rc != PL_OK)
        api_problem_db(rep, rc, "room");
    else
        rep->status = 204;
}

/* {room} and {user} of /rooms/{room}/members/{user}: 404 unless both are
 * well formed. */
static int room_member_path(const struct api_request *req, struct api_reply *rep,
                            const char **room, const char **user)
{
    *room = req->npath_params >= 2 ? req->path_params[0] : NULL;
    *user = req->npath_params >= 2 ? req->path_params[1] : NULL;
    if (!*room || api_parse_uuid(*room) != PL_OK) {
        api_problem(rep, 404, "not-found", NULL, "no such room");
        return PL_ENOENT;
    }
    if (!*user || api_parse_username(*user) != PL_OK) {
        api_problem(rep, 404, "not-found", NULL, "no such user");
        return PL_ENOENT;
    }
    return PL_OK;
}

static const struct api_field member_fields[] = {
    {"affiliation", API_FIELD_STRING, 1},
};

/* The membership changes in PostgreSQL only: a node that has the room
 * loaded does not see it until it loads the room again, so a removed
 * member of a members-only room who is in it is not kicked. */
void api_rooms_member_set(struct api_server *srv, struct api_request *req,
                          struct api_reply *rep)
{
    const char *room, *user;
    if (room_member_path(req, rep, &room, &user) != PL_OK)
        return;
    json_t *root, *v[1];
    if (api_body_parse(req, member_fields, 1, &root, v, rep) != PL_OK)
        return;
    const char *aff = json_string_value(v[0]);
    if (strcmp(aff, "owner") != 0 && strcmp(aff, "admin") != 0 &&
        strcmp(aff, "member") != 0 && strcmp(aff, "outcast") != 0) {
        api_problem(rep, 400, "invalid-field", "affiliation",
                    "affiliation must be owner, admin, member or outcast");
        goto done;
    }
    char *json = NULL;
    int rc = db_admin_room_member_set(api_server_pool(srv), req->actor, room, user, aff,
                                      &json);
    if (rc != PL_OK)
        api_problem_db(rep, rc, "room");
    else
        api_reply_json(rep, 200, json);
done:
    json_decref(root);
}

void api_rooms_member_remove(struct api_server *srv, struct api_request *req,
                             struct api_reply *rep)
{
    const char *room, *user;
    if (room_member_path(req, rep, &room, &user) != PL_OK)
        return;
    int rc = db_admin_room_member_remove(api_server_pool(srv), req->actor, room, user);
    if (rc != PL_OK)
        api_problem_db(rep, rc, "room member");
    else
        rep->status = 204;
}
