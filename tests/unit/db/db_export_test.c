/* Export's keyset cursor (db_export.c) against PARLEY_TEST_DATABASE_URL:
 * every row once, in id order, across batch boundaries, in one snapshot. */
#include "db_internal.h"
#include "db_migrate.h"
#include "db_read.h"
#include "pl_error.h"

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

static void test_filters_checked(void **state)
{
    (void)state;
    struct db_export *e = (struct db_export *)1;
    struct db_export_filter none = {0};
    assert_int_equal(db_export_open("", &none, &e), PL_EINVAL);
    assert_null(e);
    struct db_export_filter peer_only = {.peer = "b@x"};
    assert_int_equal(db_export_open("", &peer_only, &e), PL_EINVAL);
    struct db_export_filter both = {.user = "a@x", .room = "r@x"};
    assert_int_equal(db_export_open("", &both, &e), PL_EINVAL);
    db_export_close(NULL);
}

static void test_every_row_once_in_order(void **state)
{
    (void)state;
    const char *url = db_test_url();
    if (!url)
        skip();
    char migrations[4096], tag[32], a[64], b[64];
    const char *cut = strstr(__FILE__, "tests/unit/db/");
    snprintf(migrations, sizeof(migrations), "%.*smigrations", (int)(cut - __FILE__),
             __FILE__);
    char err[512];
    if (db_migrate(url, migrations, err, sizeof(err)) != PL_OK)
        fail_msg("db_migrate: %s", err);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(tag, sizeof(tag), "ex%ld%ld", (long)getpid(), (long)(ts.tv_nsec % 100000));
    snprintf(a, sizeof(a), "%s_a@x", tag);
    snprintf(b, sizeof(b), "%s_b@x", tag);
    PGconn *conn = PQconnectdb(url);
    assert_int_equal(PQstatus(conn), CONNECTION_OK);
    const char *p[3] = {a, b, tag};
    /* 4,510 messages: more than two batches; every third from b to a;
     * a's last ones to someone else. */
    PGresult *res =
        PQexecParams(conn,
                     "INSERT INTO messages (kind, sender, recipient, body, stanza)"
                     " SELECT 'chat', CASE WHEN g % 3 = 0 THEN $2 ELSE $1 END,"
                     " CASE WHEN g % 3 = 0 THEN $1 WHEN g > 4500 THEN $3"
                     " ELSE $2 END, 'm' || g, '<message/>'"
                     " FROM generate_series(1, 4510) g",
                     3, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);

    struct db_export_filter conv = {.user = a, .peer = b};
    struct db_export *e = NULL;
    assert_int_equal(db_export_open(url, &conv, &e), PL_OK);
    /* Written after the snapshot: not in this export. */
    res = PQexecParams(conn,
                       "INSERT INTO messages (kind, sender, recipient, body, stanza)"
                       " VALUES ('chat', $1, $2, 'late', '<message/>')",
                       2, NULL, p, NULL, NULL, 0);
    PQclear(res);
    struct db_export_row row;
    int64_t last = 0;
    int n = 0, rc;
    while ((rc = db_export_next(e, &row)) == PL_OK) {
        assert_true(row.id > last);
        last = row.id;
        n++;
        assert_string_equal(row.kind, "chat");
        assert_null(row.room);
        assert_int_equal(row.body[0], 'm');
        assert_non_null(strchr(row.created_at, 'T'));
        assert_int_equal(row.created_at[strlen(row.created_at) - 1], 'Z');
    }
    assert_int_equal(rc, PL_ENOENT);
    /* b to a: 1,503; a to b: 3,000 (a's last 10 went elsewhere) */
    assert_int_equal(n, 4503);
    assert_int_equal(db_export_next(e, &row), PL_ENOENT);
    db_export_close(e);

    struct db_export_filter user = {.user = a, .since = "2000-01-01T00:00:00Z"};
    assert_int_equal(db_export_open(url, &user, &e), PL_OK);
    n = 0;
    while (db_export_next(e, &row) == PL_OK)
        n++;
    assert_int_equal(n, 4511);
    db_export_close(e);
    struct db_export_filter future = {.user = a, .since = "2999-01-01"};
    assert_int_equal(db_export_open(url, &future, &e), PL_OK);
    assert_int_equal(db_export_next(e, &row), PL_ENOENT);
    db_export_close(e);

    const char *d[1] = {tag};
    PQclear(PQexecParams(conn, "DELETE FROM messages WHERE starts_with(sender, $1)", 1,
                         NULL, d, NULL, NULL, 0));
    PQfinish(conn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filters_checked),
        cmocka_unit_test(test_every_row_once_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
