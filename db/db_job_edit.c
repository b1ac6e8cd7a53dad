/* The statement of an edit message (XEP-0308, -0424, -0425, -0444, -0461):
 * the message is stored as any other and the edit applied to the message
 * it names in the same statement (parley_store_edit,
 * migrations/0009_message_edits.sql), so an edit is never stored without
 * its effect, nor applied without being delivered. The direct and the room
 * message jobs send it in place of their own statement when their payload
 * carries an edit. */
#include "db_job_edit.h"
#include "db_job_room.h"

#include "pl_buf.h"
#include "pl_error.h"

#include <stdlib.h>
#include <string.h>

const struct db_stmt db_edit_stmts[1] = {
    /* db_edit_send */
    {"store_edit",
     "SELECT id, (extract(epoch FROM created_at) * 1000000)::bigint, inserted, pending,"
     " error FROM parley_store_edit($1::boolean, $2, $3, $4, $5, $6, $7, $8,"
     " $9::text[], $10, $11, $12, $13)"},
};

/* The set as an array literal: "{}" for none. */
static int reactions_array(const char *joined, struct pl_buf *arr)
{
    if (pl_buf_append_str(arr, "{") != PL_OK)
        return PL_ENOMEM;
    const char *p = joined;
    while (p && *p) {
        const char *end = strchr(p, DB_LIST_SEP);
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char *one = strndup(p, len);
        int rc = one ? db_room_array_add(arr, one) : PL_ENOMEM;
        free(one);
        if (rc != PL_OK)
            return rc;
        p = end ? end + 1 : NULL;
    }
    return pl_buf_append_str(arr, "}");
}

int db_edit_send(PGconn *conn, int room, const char *sender, const char *target,
                 const char *stanza_id, const char *body, const char *stanza_xml,
                 const struct db_edit *e)
{
    struct pl_buf arr = PL_BUF_INIT;
    int react = e->kind && strcmp(e->kind, "react") == 0;
    if (react && reactions_array(e->reactions, &arr) != PL_OK) {
        pl_buf_free(&arr);
        return PL_AGAIN; /* the pipeline holds BEGIN: only a reset cleans it */
    }
    const char *p[13] = {room ? "t" : "f",
                         sender,
                         target,
                         stanza_id,
                         body,
                         stanza_xml,
                         e->kind,
                         e->ref,
                         react ? arr.data : NULL,
                         e->reason,
                         e->moderated_by,
                         e->reply_ref,
                         e->reply_to};
    int rc = db_room_send(conn, "store_edit", 13, p);
    pl_buf_free(&arr);
    return rc;
}

int db_edit_read(const PGresult *res, int64_t *id, int64_t *created_at_us, int *inserted,
                 int *pending, struct db_edit *e)
{
    if (PQntuples(res) != 1 || db_room_parse_i64(PQgetvalue(res, 0, 0), id) != PL_OK ||
        db_room_parse_i64(PQgetvalue(res, 0, 1), created_at_us) != PL_OK)
        return PL_EIO;
    *inserted = PQgetvalue(res, 0, 2)[0] == 't';
    *pending = PQgetvalue(res, 0, 3)[0] == 't';
    free(e->refused);
    e->refused = NULL;
    if (!PQgetisnull(res, 0, 4) && !(e->refused = strdup(PQgetvalue(res, 0, 4))))
        return PL_ENOMEM;
    return PL_OK;
}

void db_edit_free(struct db_edit *e)
{
    free(e->kind);
    free(e->ref);
    free(e->reactions);
    free(e->reason);
    free(e->moderated_by);
    free(e->reply_ref);
    free(e->reply_to);
    free(e->refused);
    memset(e, 0, sizeof(*e));
}
