/* /api/v1/rooms and /api/v1/rooms/{room}: the rooms as PostgreSQL holds
 * them. A room's live occupants are in the memory of the XMPP loop that
 * has it loaded, which the API never touches, so they are not shown. */
#include "api_internal.h"

#include "db_read.h"
#include "pl_error.h"

#include <stdlib.h>

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
