/* /api/v1/audit: the admin actions log, newest first. The rows are written
 * by the functions that make each change, in the change's transaction. */
#include "api_internal.h"

#include "db_read.h"
#include "pl_error.h"

void api_audit_list(struct api_server *srv, struct api_request *req,
                    struct api_reply *rep)
{
    int limit;
    if (api_query_limit(&req->query, &limit) != PL_OK) {
        api_problem(rep, 400, "invalid-parameter", "limit",
                    "limit must be an integer from 1 (larger is capped at %d)",
                    API_LIMIT_MAX);
        return;
    }
    const char *c = api_query_get(&req->query, "cursor");
    int64_t cursor = 0;
    if (c && api_parse_id(c, &cursor) != PL_OK) {
        api_problem(rep, 400, "invalid-parameter", "cursor",
                    "cursor must be a next_cursor this API answered");
        return;
    }
    char *json = NULL;
    int rc = db_read_audit_list(api_server_pool(srv), cursor, limit, &json);
    if (rc != PL_OK)
        api_problem_db(rep, rc, "audit entries");
    else
        api_reply_json(rep, 200, json);
}
