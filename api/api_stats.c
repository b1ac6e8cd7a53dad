/* /api/v1/stats: counts an operator looks at first. */
#include "api_internal.h"

#include "db_read.h"
#include "pl_error.h"

#include <stdlib.h>

void api_stats_get(struct api_server *srv, struct api_request *req, struct api_reply *rep)
{
    char *json = NULL;
    int rc = db_read_stats(api_server_pool(srv), &json);
    if (rc != PL_OK) {
        api_problem_db(rep, rc, "stats");
        return;
    }
    json_t *v = json_loads(json, 0, NULL);
    free(json);
    if (!v) {
        api_problem(rep, 500, "internal", NULL, "the database answered no JSON");
        return;
    }
    /* Rooms are counted once their tables land (the rooms issue). */
    json_object_set_new(v, "rooms", json_null());
    api_reply_value(rep, 200, v);
}
