/* Live sessions: /api/v1/sessions (everyone online), a user's sessions,
 * and kicks. The sessions table is what every node writes of its own
 * sessions; a kick is a NOTIFY that each node's listener hands to its loop,
 * which closes the session if it is its own. */
#include "api_internal.h"

#include "db_read.h"
#include "pl_error.h"

#include <string.h>

static int page_limit(struct api_request *req, struct api_reply *rep, int *limit)
{
    if (api_query_limit(&req->query, limit) == PL_OK)
        return PL_OK;
    api_problem(rep, 400, "invalid-parameter", "limit",
                "limit must be an integer from 1 (larger is capped at %d)",
                API_LIMIT_MAX);
    return PL_EINVAL;
}

static void list(struct api_server *srv, struct api_request *req, struct api_reply *rep,
                 const char *user)
{
    int limit;
    if (page_limit(req, rep, &limit) != PL_OK)
        return;
    char *json = NULL;
    int rc = db_read_sessions_list(api_server_pool(srv), user,
                                   api_query_get(&req->query, "cursor"), limit, &json);
    if (rc != PL_OK)
        api_problem_db(rep, rc, user ? "user" : "sessions");
    else
        api_reply_json(rep, 200, json);
}

void api_sessions_list(struct api_server *srv, struct api_request *req,
                       struct api_reply *rep)
{
    list(srv, req, rep, NULL);
}

void api_sessions_of_user(struct api_server *srv, struct api_request *req,
                          struct api_reply *rep)
{
    const char *user;
    if (api_path_user(req, rep, &user) == PL_OK)
        list(srv, req, rep, user);
}

void api_sessions_kick_all(struct api_server *srv, struct api_request *req,
                           struct api_reply *rep)
{
    const char *user;
    if (api_path_user(req, rep, &user) != PL_OK)
        return;
    int n = 0;
    int rc = db_admin_kick(api_server_pool(srv), req->actor, user, NULL, &n);
    if (rc != PL_OK) {
        api_problem_db(rep, rc, "user");
        return;
    }
    rep->status = 204;
}

void api_sessions_kick_one(struct api_server *srv, struct api_request *req,
                           struct api_reply *rep)
{
    const char *user;
    if (api_path_user(req, rep, &user) != PL_OK)
        return;
    const char *resource = req->path_params[1];
    int n = 0;
    int rc = db_admin_kick(api_server_pool(srv), req->actor, user, resource, &n);
    if (rc != PL_OK) {
        api_problem_db(rep, rc, "user");
        return;
    }
    if (n == 0) {
        api_problem(rep, 404, "not-found", NULL, "%s has no session with that resource",
                    user);
        return;
    }
    rep->status = 204;
}
