/* /api/v1/stats: counts an operator looks at first. */
#include "api_internal.h"

#include "db_read.h"
#include "pl_error.h"

void api_stats_get(struct api_server *srv, struct api_request *req, struct api_reply *rep)
{
    char *json = NULL;
    int rc = db_read_stats(api_server_pool(srv), &json);
    if (rc != PL_OK) {
        api_problem_db(rep, rc, "stats");
        return;
    }
    api_reply_json(rep, 200, json);
}
