/* The connection helpers: hashing, clocks, error lines, and opening a
 * connection (against PARLEY_TEST_DATABASE_URL when set; failed without it
 * when PARLEY_TEST_REQUIRE_DB is). */
#include "db_internal.h"
#include "pl_error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "db_test_db.h"

static void test_shard_hash_is_fnv1a(void **state)
{
    (void)state;
    assert_true(db_shard_hash("") == 0xcbf29ce484222325ULL);
    assert_true(db_shard_hash("a") == 0xaf63dc4c8601ec8cULL);
    assert_true(db_shard_hash("foobar") == 0x85944171f73967e8ULL);
}

static void test_now_ms_moves_forward(void **state)
{
    (void)state;
    int64_t a = db_now_ms();
    db_sleep_ms(NULL, 30);
    int64_t b = db_now_ms();
    assert_true(b - a >= 30);
    assert_true(b - a < 1000);
}

static void test_sleep_wakes_early_when_stopping(void **state)
{
    (void)state;
    struct db_store st;
    memset(&st, 0, sizeof(st));
    atomic_init(&st.stopping, 1);
    int64_t a = db_now_ms();
    db_sleep_ms(&st, 2000);
    assert_true(db_now_ms() - a < 100);
    atomic_store(&st.stopping, 0);
    a = db_now_ms();
    db_sleep_ms(&st, 60);
    assert_true(db_now_ms() - a >= 60);
}

static void test_conn_error_first_line_truncated(void **state)
{
    (void)state;
    char buf[8];
    /* at most len - 1 characters and the NUL */
    assert_string_equal(db_conn_error(NULL, buf, sizeof(buf)), "out of ");
    int ok = 1;
    PGconn *conn =
        db_conn_open("host=/nonexistent-parley-dir dbname=x connect_timeout=1", &ok);
    /* a failed connection is still returned, so that it can be reset */
    assert_non_null(conn);
    assert_false(ok);
    char line[512];
    const char *msg = db_conn_error(conn, line, sizeof(line));
    assert_non_null(strstr(msg, "nonexistent-parley-dir"));
    assert_null(strchr(msg, '\n'));
    assert_int_equal(strlen(db_conn_error(conn, buf, sizeof(buf))), sizeof(buf) - 1);
    PQfinish(conn);
}

static void test_open_names_the_application(void **state)
{
    (void)state;
    const char *url = db_test_url();
    if (!url)
        skip();
    unsetenv("PGAPPNAME");
    int ok = 0;
    PGconn *conn = db_conn_open(url, &ok);
    assert_non_null(conn);
    assert_true(ok);
    PGresult *res = PQexec(conn, "SELECT current_setting('application_name')");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(res, 0, 0), "parleyd");
    PQclear(res);
    PQfinish(conn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shard_hash_is_fnv1a),
        cmocka_unit_test(test_now_ms_moves_forward),
        cmocka_unit_test(test_sleep_wakes_early_when_stopping),
        cmocka_unit_test(test_conn_error_first_line_truncated),
        cmocka_unit_test(test_open_names_the_application),
    };
    return cmocka_run_group_tests_name("db_conn", tests, NULL, NULL);
}
