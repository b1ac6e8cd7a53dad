/* /api/v1/users and /api/v1/users/{user}: list, create, get, update,
 * delete. Disabling and deleting reach every node's live sessions through
 * the parley_user_state notification that the users table sends. */
#include "api_internal.h"

#include "db_read.h"
#include "pl_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Display names are shown in clients; longer is a mistake, not a name. */
#define API_DISPLAY_NAME_MAX 256

int api_path_user(const struct api_request *req, struct api_reply *rep, const char **user)
{
    *user = req->npath_params ? req->path_params[0] : NULL;
    if (!*user || api_parse_username(*user) != PL_OK) {
        api_problem(rep, 404, "not-found", NULL, "no such user");
        return PL_ENOENT;
    }
    return PL_OK;
}

char *api_user_jid(const struct api_server *srv, const char *username)
{
    const char *domain = api_server_config(srv)->domain;
    size_t n = strlen(username) + strlen(domain) + 2;
    char *jid = malloc(n);
    if (jid)
        snprintf(jid, n, "%s@%s", username, domain);
    return jid;
}

void api_users_list(struct api_server *srv, struct api_request *req,
                    struct api_reply *rep)
{
    int limit;
    if (api_query_limit(&req->query, &limit) != PL_OK) {
        api_problem(rep, 400, "invalid-parameter", "limit",
                    "limit must be an integer from 1 (larger is capped at %d)",
                    API_LIMIT_MAX);
        return;
    }
    const char *q = api_query_get(&req->query, "q");
    const char *cursor = api_query_get(&req->query, "cursor");
    if (q && strlen(q) > 1023) {
        api_problem(rep, 400, "invalid-parameter", "q", "q is longer than a username");
        return;
    }
    char *json = NULL;
    int rc = db_read_users_list(api_server_pool(srv), q, cursor, limit, &json);
    if (rc != PL_OK)
        api_problem_db(rep, rc, "users");
    else
        api_reply_json(rep, 200, json);
}

static int display_name_ok(const json_t *v, struct api_reply *rep)
{
    if (json_is_string(v) && json_string_length(v) > API_DISPLAY_NAME_MAX) {
        api_problem(rep, 400, "invalid-field", "display_name",
                    "display_name is longer than %d bytes", API_DISPLAY_NAME_MAX);
        return 0;
    }
    return 1;
}

static const struct api_field create_fields[] = {
    {"username", API_FIELD_STRING, 1},
    {"display_name", API_FIELD_STRING_NULL, 0},
    {"disabled", API_FIELD_BOOL, 0},
};

void api_users_create(struct api_server *srv, struct api_request *req,
                      struct api_reply *rep)
{
    json_t *root, *v[3];
    if (api_body_parse(req, create_fields, 3, &root, v, rep) != PL_OK)
        return;
    const char *username = json_string_value(v[0]);
    if (api_parse_username(username) != PL_OK) {
        api_problem(rep, 400, "invalid-field", "username",
                    "username must be a lower-case XMPP localpart (no spaces or "
                    "\"&'/:<>@, at most 1023 bytes)");
        goto done;
    }
    if (!display_name_ok(v[1], rep))
        goto done;
    char *json = NULL;
    int rc = db_admin_user_create(api_server_pool(srv), req->actor, username,
                                  v[1] ? json_string_value(v[1]) : NULL,
                                  v[2] ? json_is_true(v[2]) : 0, &json);
    if (rc != PL_OK)
        api_problem_db(rep, rc, "user");
    else
        api_reply_json(rep, 201, json);
done:
    json_decref(root);
}

void api_users_get(struct api_server *srv, struct api_request *req, struct api_reply *rep)
{
    const char *user;
    if (api_path_user(req, rep, &user) != PL_OK)
        return;
    char *json = NULL;
    int rc = db_read_user_get(api_server_pool(srv), user, &json);
    if (rc != PL_OK) {
        api_problem_db(rep, rc, "user");
        return;
    }
    /* The last presence and the unread counts, from their own tables. */
    char *jid = api_user_jid(srv, user), *state = NULL;
    rc = jid ? db_read_user_state(api_server_pool(srv), jid, user, &state) : PL_ENOMEM;
    free(jid);
    json_t *v = rc == PL_OK ? json_loads(json, 0, NULL) : NULL;
    json_t *st = v ? json_loads(state, 0, NULL) : NULL;
    free(json);
    free(state);
    if (!st) {
        json_decref(v);
        if (rc != PL_OK)
            api_problem_db(rep, rc, "user");
        else
            api_problem(rep, 500, "internal", NULL, "the database answered no JSON");
        return;
    }
    json_object_update(v, st);
    json_decref(st);
    api_reply_value(rep, 200, v);
}

static const struct api_field update_fields[] = {
    {"display_name", API_FIELD_STRING_NULL, 0},
    {"disabled", API_FIELD_BOOL, 0},
};

void api_users_update(struct api_server *srv, struct api_request *req,
                      struct api_reply *rep)
{
    const char *user;
    if (api_path_user(req, rep, &user) != PL_OK)
        return;
    json_t *root, *v[2];
    if (api_body_parse(req, update_fields, 2, &root, v, rep) != PL_OK)
        return;
    if (!v[0] && !v[1]) {
        api_problem(rep, 400, "missing-field", NULL,
                    "nothing to change: give display_name or disabled");
        goto done;
    }
    if (!display_name_ok(v[0], rep))
        goto done;
    char *json = NULL;
    int rc = db_admin_user_update(api_server_pool(srv), req->actor, user, v[0] != NULL,
                                  v[0] ? json_string_value(v[0]) : NULL, v[1] != NULL,
                                  v[1] ? json_is_true(v[1]) : 0, &json);
    if (rc != PL_OK)
        api_problem_db(rep, rc, "user");
    else
        api_reply_json(rep, 200, json);
done:
    json_decref(root);
}

void api_users_delete(struct api_server *srv, struct api_request *req,
                      struct api_reply *rep)
{
    const char *user;
    if (api_path_user(req, rep, &user) != PL_OK)
        return;
    int rc = db_admin_user_delete(api_server_pool(srv), req->actor, user);
    if (rc != PL_OK) {
        api_problem_db(rep, rc, "user");
        return;
    }
    rep->status = 204;
}
