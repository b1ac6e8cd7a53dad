/* The archive query job against PARLEY_TEST_DATABASE_URL: pages forward
 * and backward with the row beyond the page noticed, a conversation, a
 * room, time bounds, ids, full text and an unknown RSM id. Includes
 * db_job_mam.c to reach its statics. */
#include "../../../db/db_job_mam.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "db_test_db.h"

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    assert_non_null(d);
    return d;
}

struct ctx {
    PGconn *conn;
    char me[64], peer[64], other[64], room[64];
    int64_t direct[12]; /* me <-> peer, alternating, then 2 with other */
    int64_t roomids[5];
};

static void exec_ok(PGconn *conn, const char *sql, int n, const char *const *p, char *out,
                    size_t outlen)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, p, NULL, NULL, 0);
    assert_true(PQresultStatus(res) == PGRES_TUPLES_OK ||
                PQresultStatus(res) == PGRES_COMMAND_OK);
    if (out)
        snprintf(out, outlen, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
}

static int setup(void **state)
{
    *state = NULL;
    const char *url = db_test_url();
    if (!url)
        return 0;
    const char *file = __FILE__;
    const char *cut = strstr(file, "tests/unit/db/");
    char dir[4096], err[512];
    snprintf(dir, sizeof(dir), "%.*smigrations", (int)(cut - file), file);
    if (db_migrate(url, dir, err, sizeof(err)) != PL_OK)
        fail_msg("db_migrate: %s", err);
    struct ctx *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    int ok;
    c->conn = db_conn_open(url, &ok);
    assert_true(ok);
    assert_int_equal(db_jobs_prepare(c->conn), PL_OK);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long tag = (long)getpid() * 100000 + (long)(ts.tv_nsec % 100000);
    snprintf(c->me, sizeof(c->me), "me%ld@x", tag);
    snprintf(c->peer, sizeof(c->peer), "peer%ld@x", tag);
    snprintf(c->other, sizeof(c->other), "other%ld@x", tag);
    snprintf(c->room, sizeof(c->room), "room%ld@conference.x", tag);
    char id[32];
    for (int i = 0; i < 12; i++) {
        const char *from = i < 10 ? (i % 2 ? c->peer : c->me) : c->other;
        const char *to = i < 10 ? (i % 2 ? c->me : c->peer) : c->me;
        char body[32];
        snprintf(body, sizeof(body), i == 4 ? "the purple elephant %d" : "hello %d", i);
        const char *p[3] = {from, to, body};
        exec_ok(c->conn,
                "SELECT id FROM parley_store_message($1, $2, NULL, $3, '<message/>')", 3,
                p, id, sizeof(id));
        c->direct[i] = atoll(id);
    }
    for (int i = 0; i < 5; i++) {
        const char *p[2] = {i == 3 ? c->peer : c->me, c->room};
        exec_ok(c->conn,
                "SELECT id FROM parley_room_store_message($1, $2, NULL, 'room hi', "
                "'<message/>')",
                2, p, id, sizeof(id));
        c->roomids[i] = atoll(id);
    }
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    if (c) {
        PQfinish(c->conn);
        free(c);
    }
    return 0;
}

static struct db_job *query(struct ctx *c, int room, const char *owner, int max)
{
    struct db_job *j = db_job_new(DB_JOB_MAM_QUERY);
    j->u.mam.room = room;
    j->u.mam.owner = xstrdup(owner);
    j->u.mam.max = max;
    return j;
}

static void run1(struct ctx *c, struct db_job *job)
{
    struct db_job *jobs[1] = {job};
    assert_int_equal(db_jobs_run(c->conn, "n", jobs, 1), PL_OK);
    assert_int_equal(job->status, PL_OK);
}

static void test_user_archive_pages_forward(void **state)
{
    struct ctx *c = *state;
    if (!c)
        skip();
    struct db_job *j = query(c, 0, c->me, 5);
    run1(c, j);
    assert_int_equal(j->u.mam.count, 5);
    assert_true(j->u.mam.more);
    assert_true(j->u.mam.msgs[0].id == c->direct[0]);
    assert_true(j->u.mam.msgs[4].id == c->direct[4]);
    int64_t after = j->u.mam.msgs[4].id;
    db_job_free(j);
    j = query(c, 0, c->me, 5);
    j->u.mam.has_after = 1;
    j->u.mam.after_id = after;
    run1(c, j);
    assert_int_equal(j->u.mam.count, 5);
    assert_true(j->u.mam.more);
    after = j->u.mam.msgs[4].id;
    db_job_free(j);
    j = query(c, 0, c->me, 5);
    j->u.mam.has_after = 1;
    j->u.mam.after_id = after;
    run1(c, j);
    assert_int_equal(j->u.mam.count, 2); /* the two from other */
    assert_false(j->u.mam.more);
    assert_true(j->u.mam.msgs[1].id == c->direct[11]);
    db_job_free(j);
}

static void test_backward_and_conversation(void **state)
{
    struct ctx *c = *state;
    if (!c)
        skip();
    /* the last page of the conversation with peer, in archive order */
    struct db_job *j = query(c, 0, c->me, 4);
    j->u.mam.with = xstrdup(c->peer);
    j->u.mam.last_page = 1;
    run1(c, j);
    assert_int_equal(j->u.mam.count, 4);
    assert_true(j->u.mam.more);
    assert_true(j->u.mam.msgs[0].id == c->direct[6]);
    assert_true(j->u.mam.msgs[3].id == c->direct[9]);
    db_job_free(j);
    /* before the first of the conversation: nothing, the end */
    j = query(c, 0, c->me, 4);
    j->u.mam.with = xstrdup(c->peer);
    j->u.mam.has_before = 1;
    j->u.mam.before_id = c->direct[2];
    run1(c, j);
    assert_int_equal(j->u.mam.count, 2);
    assert_false(j->u.mam.more);
    db_job_free(j);
}

static void test_room_ids_text_and_unknown(void **state)
{
    struct ctx *c = *state;
    if (!c)
        skip();
    struct db_job *j = query(c, 1, c->room, 10);
    run1(c, j);
    assert_int_equal(j->u.mam.count, 5);
    assert_false(j->u.mam.more);
    db_job_free(j);
    j = query(c, 1, c->room, 10);
    j->u.mam.with = xstrdup(c->peer);
    run1(c, j);
    assert_int_equal(j->u.mam.count, 1);
    assert_true(j->u.mam.msgs[0].id == c->roomids[3]);
    db_job_free(j);

    j = query(c, 0, c->me, 10);
    j->u.mam.nids = 2;
    j->u.mam.ids = calloc(2, sizeof(int64_t));
    j->u.mam.ids[0] = c->direct[3];
    j->u.mam.ids[1] = c->roomids[0]; /* not this archive's: left out */
    run1(c, j);
    assert_int_equal(j->u.mam.count, 1);
    assert_true(j->u.mam.msgs[0].id == c->direct[3]);
    db_job_free(j);

    j = query(c, 0, c->me, 10);
    j->u.mam.text = xstrdup("purple elephant");
    run1(c, j);
    assert_int_equal(j->u.mam.count, 1);
    assert_true(j->u.mam.msgs[0].id == c->direct[4]);
    db_job_free(j);

    /* an RSM id of another archive is unknown here */
    j = query(c, 0, c->me, 10);
    j->u.mam.has_after = 1;
    j->u.mam.after_id = c->roomids[1];
    run1(c, j);
    assert_true(j->u.mam.unknown_id);
    assert_int_equal(j->u.mam.count, 0);
    db_job_free(j);
    /* and the room's own ids are known in the room's archive */
    j = query(c, 1, c->room, 10);
    j->u.mam.has_after = 1;
    j->u.mam.after_id = c->roomids[1];
    run1(c, j);
    assert_false(j->u.mam.unknown_id);
    assert_int_equal(j->u.mam.count, 3);
    db_job_free(j);

    /* time bounds: everything up to now, nothing from tomorrow */
    j = query(c, 0, c->me, 20);
    j->u.mam.has_start = 1;
    j->u.mam.start_us = (int64_t)(time(NULL) + 86400) * 1000000;
    run1(c, j);
    assert_int_equal(j->u.mam.count, 0);
    db_job_free(j);
    j = query(c, 0, c->me, 20);
    j->u.mam.has_end = 1;
    j->u.mam.end_us = (int64_t)(time(NULL) + 60) * 1000000;
    run1(c, j);
    assert_int_equal(j->u.mam.count, 12);
    db_job_free(j);
}

int main(void)
{
    const struct CMUnitTest with_db[] = {
        cmocka_unit_test(test_user_archive_pages_forward),
        cmocka_unit_test(test_backward_and_conversation),
        cmocka_unit_test(test_room_ids_text_and_unknown),
    };
    return cmocka_run_group_tests_name("db_job_mam_postgres", with_db, setup, teardown);
}
