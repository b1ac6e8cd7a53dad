/* The archive's one job: a page of a user's or a room's archive
 * (parley_mam_query in migrations/0004_rooms.sql). The chat layer has
 * checked the query already; this turns it into parameters and reads the
 * page back, noting whether a row beyond it exists and whether an RSM id
 * named no message of the archive. */
#include "db_job_room.h"

#include "pl_buf.h"
#include "pl_error.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct db_stmt db_mam_stmts[1] = {
    /* db_mam_send */
    {"mam_query", "SELECT id, (extract(epoch FROM created_at) * 1000000)::bigint, stanza"
                  " FROM parley_mam_query($1, $2, $3,"
                  " timestamptz 'epoch' + $4::bigint * interval '1 microsecond',"
                  " timestamptz 'epoch' + $5::bigint * interval '1 microsecond',"
                  " $6, $7, $8, $9::bigint[], $10, $11)"},
};

int db_mam_send(PGconn *conn, const char *node, struct db_job *job)
{
    const struct db_mam_query_job *q = &job->u.mam;
    char start[24], end[24], after[24], before[24], max[16];
    snprintf(start, sizeof(start), "%" PRId64, q->start_us);
    snprintf(end, sizeof(end), "%" PRId64, q->end_us);
    snprintf(after, sizeof(after), "%" PRId64, q->after_id);
    snprintf(before, sizeof(before), "%" PRId64, q->before_id);
    snprintf(max, sizeof(max), "%d", q->max);
    struct pl_buf ids = PL_BUF_INIT;
    int rc = PL_OK;
    if (q->ids) {
        rc = pl_buf_append_str(&ids, "{");
        for (size_t i = 0; rc == PL_OK && i < q->nids; i++)
            rc = pl_buf_appendf(&ids, "%s%" PRId64, i ? "," : "", q->ids[i]);
        if (rc == PL_OK)
            rc = pl_buf_append_str(&ids, "}");
    }
    if (rc != PL_OK) {
        pl_buf_free(&ids);
        return PL_AGAIN; /* the pipeline holds BEGIN: only a reset cleans it */
    }
    const char *p[11] = {q->room ? "t" : "f",
                         q->owner,
                         q->with,
                         q->has_start ? start : NULL,
                         q->has_end ? end : NULL,
                         q->has_after ? after : NULL,
                         q->has_before ? before : NULL,
                         q->last_page ? "t" : "f",
                         q->ids ? ids.data : NULL,
                         q->text,
                         max};
    rc = db_room_send(conn, "mam_query", 11, p);
    pl_buf_free(&ids);
    return rc;
}

int db_mam_read(struct db_job *job, const PGresult *res)
{
    struct db_mam_query_job *q = &job->u.mam;
    q->unknown_id = 0;
    q->more = 0;
    int rows = PQntuples(res);
    if (rows == 1 && strcmp(PQgetvalue(res, 0, 0), "-1") == 0) {
        db_room_free_msgs(&q->msgs, &q->count);
        q->unknown_id = 1;
        return PL_OK;
    }
    /* One row more than the page: the page is not the last in the
     * direction it was read (backward: the extra row is the oldest). */
    int backward = q->has_before || q->last_page;
    int first = 0;
    if (rows > q->max && !q->ids) {
        q->more = 1;
        first = backward ? rows - q->max : 0;
    }
    int rc = db_room_read_msgs(res, first, &q->msgs, &q->count);
    if (rc == PL_OK && q->more && q->count > (size_t)q->max) {
        /* forward: drop the extra newest row */
        free(q->msgs[q->count - 1].stanza_xml);
        q->count--;
    }
    return rc;
}

void db_mam_free(struct db_job *job)
{
    struct db_mam_query_job *q = &job->u.mam;
    free(q->owner);
    free(q->with);
    free(q->ids);
    free(q->text);
    free(q->queryid);
    db_room_free_msgs(&q->msgs, &q->count);
}
