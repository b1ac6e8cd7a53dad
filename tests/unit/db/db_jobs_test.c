/* The job table and the batch runner. The table's shape and the helpers need
 * no database; the runner's outcomes (committed, an SQL error rolled back,
 * a lost connection) run against PARLEY_TEST_DATABASE_URL (skipped without
 * it, failed without it when PARLEY_TEST_REQUIRE_DB is set). Includes
 * db_jobs.c to reach its statics. */
#include "../../../db/db_jobs.c"

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
#include "db_test_jobs.h"

/* ---- without a database ---- */

static void test_table_has_a_row_per_kind(void **state)
{
    (void)state;
    db_test_check_table();
    static const struct db_test_kind kinds[] = {
        {DB_EVENT_USER_STATE, NULL, -1, DB_TEST_EVENT},
        {DB_JOB_MSG_STORE, "msg_store", -1, DB_TEST_SEND},
        {DB_JOB_MARK_DELIVERED, NULL, -1, DB_TEST_BATCH},
    };
    db_test_check_kinds(kinds, sizeof(kinds) / sizeof(kinds[0]));
}

static void test_job_new_refuses_what_is_not_a_kind(void **state)
{
    (void)state;
    assert_null(db_job_new(DB_JOB__COUNT));
    assert_null(db_job_new((enum db_job_kind)(DB_JOB__COUNT + 7)));
    struct db_job *job = db_job_new(DB_JOB_SESSION_END);
    assert_non_null(job);
    assert_int_equal(job->kind, DB_JOB_SESSION_END);
    assert_int_equal(job->status, 0);
    assert_null(job->item.next);
    db_job_free(job);
    db_job_free(NULL);
}

/* Every string of every kind filled, then freed: the assertion is ASan's
 * leak check, hence the name. */
static void test_job_free_every_kind_sanitizer_checked(void **state)
{
    (void)state;
    struct db_job *j;
    j = db_job_new(DB_JOB_USER_LOGIN);
    j->u.login.username = xstrdup("a");
    db_job_free(j);
    j = db_job_new(DB_JOB_MSG_STORE);
    j->u.msg.sender = xstrdup("a");
    j->u.msg.recipient = xstrdup("b");
    j->u.msg.stanza_id = xstrdup("1");
    j->u.msg.body = xstrdup("hi");
    j->u.msg.stanza_xml = xstrdup("<message/>");
    db_job_free(j);
    j = db_job_new(DB_JOB_MARK_DELIVERED);
    j->u.delivered.recipient = xstrdup("b");
    j->u.delivered.via = xstrdup("n/1");
    db_job_free(j);
    j = db_job_new(DB_JOB_MARK_RECEIVED);
    j->u.received.sender = xstrdup("a");
    j->u.received.stanza_id = xstrdup("1");
    j->u.received.recipient = xstrdup("b");
    db_job_free(j);
    j = db_job_new(DB_JOB_OFFLINE_LOAD);
    j->u.offline.recipient = xstrdup("b");
    j->u.offline.msgs = calloc(2, sizeof(*j->u.offline.msgs));
    assert_non_null(j->u.offline.msgs);
    j->u.offline.msgs[0].stanza_xml = xstrdup("<message/>");
    j->u.offline.msgs[1].stanza_xml = xstrdup("<message/>");
    j->u.offline.count = 2;
    db_job_free(j);
    j = db_job_new(DB_JOB_PRESENCE);
    j->u.presence.full_jid = xstrdup("a@x/r");
    j->u.presence.username = xstrdup("a");
    j->u.presence.resource = xstrdup("r");
    j->u.presence.address = xstrdup("127.0.0.1");
    j->u.presence.show = xstrdup("away");
    j->u.presence.status = xstrdup("lunch");
    db_job_free(j);
    j = db_job_new(DB_JOB_SESSION_END);
    j->u.session_end.via = xstrdup("n/1");
    j->u.session_end.recipient = xstrdup("b");
    db_job_free(j);
    j = db_job_new(DB_EVENT_USER_STATE);
    j->u.user_state.username = xstrdup("a");
    db_job_free(j);
    j = db_job_new(DB_EVENT_KICK);
    j->u.kick.username = xstrdup("a");
    j->u.kick.resource = xstrdup("r");
    db_job_free(j);
    j = db_job_new(DB_EVENT_MESSAGE);
    j->u.message.recipient = xstrdup("a@x");
    j->u.message.stanza_xml = xstrdup("<message/>");
    db_job_free(j);
}

static void test_array_literal_quotes(void **state)
{
    (void)state;
    struct pl_buf arr = PL_BUF_INIT;
    assert_int_equal(pl_buf_append_str(&arr, "{"), PL_OK);
    assert_int_equal(db_array_add(&arr, "plain"), PL_OK);
    assert_int_equal(db_array_add(&arr, NULL), PL_OK);
    assert_int_equal(db_array_add(&arr, "a \"b\",c\\d"), PL_OK);
    assert_int_equal(db_array_add(&arr, ""), PL_OK);
    assert_int_equal(pl_buf_append_str(&arr, "}"), PL_OK);
    assert_int_equal(pl_buf_append(&arr, "", 1), PL_OK);
    assert_string_equal(arr.data, "{\"plain\",NULL,\"a \\\"b\\\",c\\\\d\",\"\"}");
    pl_buf_free(&arr);
}

static void test_parse_i64(void **state)
{
    (void)state;
    int64_t v = 0;
    assert_int_equal(db_parse_i64("1234567890123", &v), PL_OK);
    assert_true(v == 1234567890123LL);
    assert_int_equal(db_parse_i64("-5", &v), PL_OK);
    assert_true(v == -5);
    assert_int_equal(db_parse_i64("", &v), PL_EINVAL);
    assert_int_equal(db_parse_i64("12x", &v), PL_EINVAL);
    assert_int_equal(db_parse_i64("99999999999999999999", &v), PL_EINVAL);
}

/* ---- against the database ---- */

struct ctx {
    PGconn *conn;
    char tag[32];
};

static int setup(void **state)
{
    *state = NULL;
    PGconn *conn = db_test_jobs_connect(__FILE__);
    if (!conn)
        return 0;
    struct ctx *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->conn = conn;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(c->tag, sizeof(c->tag), "j%ld%ld", (long)getpid(),
             (long)(ts.tv_nsec % 100000));
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

static struct db_job *store_job(struct ctx *c, const char *sender, int i)
{
    struct db_job *j = db_job_new(DB_JOB_MSG_STORE);
    assert_non_null(j);
    char buf[128];
    snprintf(buf, sizeof(buf), "%s-%s@x", sender, c->tag);
    j->u.msg.sender = xstrdup(buf);
    snprintf(buf, sizeof(buf), "rcpt-%s@x", c->tag);
    j->u.msg.recipient = xstrdup(buf);
    snprintf(buf, sizeof(buf), "id-%d", i);
    j->u.msg.stanza_id = xstrdup(buf);
    j->u.msg.body = xstrdup(buf);
    j->u.msg.stanza_xml = xstrdup("<message/>");
    return j;
}

static void test_prepare_twice_fails(void **state)
{
    struct ctx *c = *state;
    if (!c)
        skip();
    /* the statements exist on this connection already */
    assert_int_equal(db_jobs_prepare(c->conn), PL_EIO);
}

static void test_run_batch_of_every_kind(void **state)
{
    struct ctx *c = *state;
    if (!c)
        skip();
    struct db_job *jobs[3] = {store_job(c, "a", 1), store_job(c, "a", 2), NULL};
    assert_int_equal(db_jobs_run(c->conn, "n", jobs, 2), PL_OK);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(jobs[i]->status, PL_OK);
        assert_true(jobs[i]->u.msg.inserted);
        assert_true(jobs[i]->u.msg.id > 0);
    }
    int64_t id0 = jobs[0]->u.msg.id;
    char rcpt[64];
    snprintf(rcpt, sizeof(rcpt), "%s", jobs[0]->u.msg.recipient);
    db_job_free(jobs[0]);
    db_job_free(jobs[1]);

    /* a mark (batched), a load and a receipt in one transaction: the load
     * runs after the marks, so it sees one message left */
    struct db_job *mark = db_job_new(DB_JOB_MARK_DELIVERED);
    mark->u.delivered.message_id = id0;
    mark->u.delivered.recipient = xstrdup(rcpt);
    mark->u.delivered.via = xstrdup("n/s/1");
    struct db_job *load = db_job_new(DB_JOB_OFFLINE_LOAD);
    load->u.offline.recipient = xstrdup(rcpt);
    struct db_job *end = db_job_new(DB_JOB_SESSION_END);
    end->u.session_end.via = xstrdup("n/s/1");
    end->u.session_end.recipient = xstrdup(rcpt);
    end->u.session_end.clean = 0;
    struct db_job *batch[3] = {load, mark, end};
    assert_int_equal(db_jobs_run(c->conn, "n", batch, 3), PL_OK);
    assert_int_equal(mark->status, PL_OK);
    assert_int_equal(load->status, PL_OK);
    assert_int_equal(load->u.offline.count, 1);
    /* the unclean end put the delivered one back */
    assert_int_equal(end->status, PL_OK);
    assert_int_equal(end->u.session_end.requeued, 1);
    db_job_free(mark);
    db_job_free(load);
    db_job_free(end);
}

static void test_run_sql_error_rolls_back_the_batch(void **state)
{
    struct ctx *c = *state;
    if (!c)
        skip();
    struct db_job *good = store_job(c, "b", 1);
    struct db_job *bad = store_job(c, "b", 2);
    free(bad->u.msg.sender);
    bad->u.msg.sender = NULL; /* NOT NULL column */
    struct db_job *jobs[2] = {good, bad};
    assert_int_equal(db_jobs_run(c->conn, "n", jobs, 2), PL_EIO);
    /* rolled back: the good one is not there, and the connection is usable */
    assert_int_equal(PQstatus(c->conn), CONNECTION_OK);
    assert_int_equal(PQtransactionStatus(c->conn), PQTRANS_IDLE);
    const char *p[1] = {good->u.msg.sender};
    PGresult *res =
        PQexecParams(c->conn, "SELECT count(*) FROM messages WHERE sender = $1", 1, NULL,
                     p, NULL, NULL, 0);
    assert_string_equal(PQgetvalue(res, 0, 0), "0");
    PQclear(res);
    struct db_job *again[1] = {good};
    assert_int_equal(db_jobs_run(c->conn, "n", again, 1), PL_OK);
    assert_true(good->u.msg.inserted);
    db_job_free(good);
    db_job_free(bad);
}

static void test_run_on_a_lost_connection_asks_for_a_reset(void **state)
{
    struct ctx *c = *state;
    if (!c)
        skip();
    PGresult *res = PQexec(c->conn, "SELECT pg_backend_pid()");
    char pid[32];
    snprintf(pid, sizeof(pid), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    PGconn *other = PQconnectdb(getenv("PARLEY_TEST_DATABASE_URL"));
    const char *p[1] = {pid};
    PQclear(PQexecParams(other, "SELECT pg_terminate_backend($1::int)", 1, NULL, p, NULL,
                         NULL, 0));
    PQfinish(other);
    usleep(100000);
    struct db_job *job = store_job(c, "c", 1);
    struct db_job *jobs[1] = {job};
    assert_int_equal(db_jobs_run(c->conn, "n", jobs, 1), PL_AGAIN);
    db_job_free(job);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_table_has_a_row_per_kind),
        cmocka_unit_test(test_job_new_refuses_what_is_not_a_kind),
        cmocka_unit_test(test_job_free_every_kind_sanitizer_checked),
        cmocka_unit_test(test_array_literal_quotes),
        cmocka_unit_test(test_parse_i64),
    };
    /* in order: the last one breaks the connection */
    const struct CMUnitTest with_db[] = {
        cmocka_unit_test(test_prepare_twice_fails),
        cmocka_unit_test(test_run_batch_of_every_kind),
        cmocka_unit_test(test_run_sql_error_rolls_back_the_batch),
        cmocka_unit_test(test_run_on_a_lost_connection_asks_for_a_reset),
    };
    int failed = cmocka_run_group_tests_name("db_jobs_pure", pure, NULL, NULL);
    failed += cmocka_run_group_tests_name("db_jobs_postgres", with_db, setup, teardown);
    return failed;
}
