/* The admin API's read pool. Argument checks need no database; the rest runs
 * against PARLEY_TEST_DATABASE_URL (skipped without it, failed without it
 * when PARLEY_TEST_REQUIRE_DB is set). The JSON answers are taken apart by
 * PostgreSQL itself (->, ->>, json_array_length) on the test's own
 * connection, so what is checked is what a JSON parser sees. Includes
 * db_read.c to hold a slot for the wait test. */
#include "../../../db/db_read.c"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "db_test_db.h"

struct ctx {
    const char *url;
    char migrations[4096];
    char tag[32];
    PGconn *conn;
    struct db_read_pool *pool;
};

static PGresult *sql(struct ctx *c, const char *query, int n, const char *const *params)
{
    PGresult *res = PQexecParams(c->conn, query, n, NULL, params, NULL, NULL, 0);
    ExecStatusType s = PQresultStatus(res);
    if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK)
        fail_msg("%s: %s", query, PQresultErrorMessage(res));
    return res;
}

/* One value of a JSON document, by a json path expression in SQL. */
static char *json_get(struct ctx *c, const char *json, const char *expr)
{
    char q[512];
    snprintf(q, sizeof(q), "SELECT (%s)::text FROM (SELECT $1::json AS j) AS x", expr);
    const char *p[1] = {json};
    PGresult *res = sql(c, q, 1, p);
    char *v = PQgetisnull(res, 0, 0) ? NULL : strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

static void assert_json(struct ctx *c, const char *json, const char *expr,
                        const char *want)
{
    char *got = json_get(c, json, expr);
    if (!want) {
        if (got)
            fail_msg("%s: %s, want NULL in %s", expr, got, json);
    } else if (!got || strcmp(got, want) != 0) {
        fail_msg("%s: %s, want %s in %s", expr, got ? got : "NULL", want, json);
    }
    free(got);
}

static void open_pool(struct ctx *c, int size, int wait_ms)
{
    struct db_read_config cfg = {.conninfo = c->url,
                                 .migrations_dir = c->migrations,
                                 .size = size,
                                 .wait_ms = wait_ms};
    assert_int_equal(db_read_open(&cfg, &c->pool), PL_OK);
}

static int setup(void **state)
{
    *state = NULL;
    const char *url = db_test_url();
    if (!url)
        return 0;
    struct ctx *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->url = url;
    const char *file = __FILE__;
    const char *cut = strstr(file, "tests/unit/db/");
    assert_non_null(cut);
    snprintf(c->migrations, sizeof(c->migrations), "%.*smigrations", (int)(cut - file),
             file);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(c->tag, sizeof(c->tag), "rd%ld%ld", (long)getpid(),
             (long)(ts.tv_nsec % 100000));
    /* Names the pool's connections so that the test kills only its own. */
    setenv("PGAPPNAME", c->tag, 1);
    char err[512];
    if (db_migrate(url, c->migrations, err, sizeof(err)) != PL_OK)
        fail_msg("db_migrate: %s", err);
    c->conn = PQconnectdb(url);
    assert_int_equal(PQstatus(c->conn), CONNECTION_OK);
    /* Five users tagged for this run; the third has two sessions. */
    const char *p[1] = {c->tag};
    PQclear(sql(c,
                "INSERT INTO users (username, display_name, disabled)"
                " SELECT $1 || '_' || n, 'User ' || n, n = 5"
                " FROM generate_series(1, 5) AS n",
                1, p));
    PQclear(sql(c,
                "INSERT INTO sessions (node, full_jid, username, resource, available,"
                " show, priority, address, since)"
                " SELECT 'n1', $1 || '_3@x/' || r, $1 || '_3', r, true, 'away', 5,"
                " '127.0.0.1', now() - (r || ' seconds')::interval"
                " FROM unnest(ARRAY['10', '20']) AS r",
                1, p));
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    if (!c)
        return 0;
    const char *p[1] = {c->tag};
    PQclear(sql(c, "DELETE FROM sessions WHERE starts_with(username, $1)", 1, p));
    PQclear(sql(c, "DELETE FROM users WHERE starts_with(username, $1)", 1, p));
    PQfinish(c->conn);
    free(c);
    return 0;
}

static int close_pool(void **state)
{
    struct ctx *c = *state;
    if (c) {
        db_read_close(c->pool);
        c->pool = NULL;
    }
    return 0;
}

#define NEED_DB(state)                                                                   \
    do {                                                                                 \
        if (!*(state))                                                                   \
            skip();                                                                      \
    } while (0)

/* ---- without a database ---- */

static void test_open_refuses_bad_config(void **state)
{
    (void)state;
    struct db_read_pool *pool = (struct db_read_pool *)1;
    struct db_read_config cfg = {.conninfo = "", .size = 0};
    assert_int_equal(db_read_open(&cfg, &pool), PL_EINVAL);
    assert_null(pool);
    cfg.size = DB_READ_POOL_MAX + 1;
    assert_int_equal(db_read_open(&cfg, &pool), PL_EINVAL);
    cfg.size = 1;
    cfg.wait_ms = -1;
    assert_int_equal(db_read_open(&cfg, &pool), PL_EINVAL);
    assert_int_equal(db_read_open(NULL, &pool), PL_EINVAL);
    db_read_close(NULL);
}

static void test_arguments_checked_before_any_query(void **state)
{
    (void)state;
    struct db_read_pool *pool = NULL;
    /* nothing listens there: an argument error must come first */
    struct db_read_config cfg = {
        .conninfo = "host=/nonexistent-parley-dir dbname=x connect_timeout=1", .size = 1};
    assert_int_equal(db_read_open(&cfg, &pool), PL_OK);
    char *json = (char *)1;
    assert_int_equal(db_read_users_list(pool, NULL, NULL, 0, &json), PL_EINVAL);
    assert_null(json);
    assert_int_equal(db_read_users_list(pool, NULL, NULL, DB_READ_LIST_MAX + 1, &json),
                     PL_EINVAL);
    assert_int_equal(db_read_user_get(pool, "", &json), PL_EINVAL);
    assert_int_equal(db_read_user_get(pool, NULL, &json), PL_EINVAL);
    db_read_close(pool);
}

static void test_unreachable_database(void **state)
{
    (void)state;
    struct db_read_pool *pool = NULL;
    struct db_read_config cfg = {
        .conninfo = "host=/nonexistent-parley-dir dbname=x connect_timeout=1", .size = 2};
    assert_int_equal(db_read_open(&cfg, &pool), PL_OK);
    char err[256];
    assert_int_equal(db_read_health(pool, err, sizeof(err)), PL_EIO);
    assert_non_null(strstr(err, "not reachable"));
    char *json = NULL;
    assert_int_equal(db_read_users_list(pool, NULL, NULL, 10, &json), PL_EIO);
    assert_null(json);
    assert_int_equal(db_read_user_get(pool, "alice", &json), PL_EIO);
    db_read_close(pool);
}

/* ---- against the database ---- */

static void test_health(void **state)
{
    NEED_DB(state);
    struct ctx *c = *state;
    open_pool(c, 1, 0);
    char err[512];
    assert_int_equal(db_read_health(c->pool, err, sizeof(err)), PL_OK);
    assert_string_equal(err, "");
    db_read_close(c->pool);
    c->pool = NULL;

    /* a migration that is not applied makes the database not ready */
    char dir[] = "/tmp/parley-read-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "cp %s/*.sql %s/", c->migrations, dir);
    assert_int_equal(system(cmd), 0);
    char extra[600];
    snprintf(extra, sizeof(extra), "%s/9999_future.sql", dir);
    FILE *f = fopen(extra, "w");
    assert_non_null(f);
    fputs("SELECT 1;\n", f);
    fclose(f);
    struct db_read_config cfg = {.conninfo = c->url, .migrations_dir = dir, .size = 1};
    assert_int_equal(db_read_open(&cfg, &c->pool), PL_OK);
    assert_int_equal(db_read_health(c->pool, err, sizeof(err)), PL_ESTATE);
    assert_non_null(strstr(err, "9999_future.sql"));
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_users_list_pages(void **state)
{
    NEED_DB(state);
    struct ctx *c = *state;
    open_pool(c, 2, 0);
    char *json = NULL;
    char want[64];

    assert_int_equal(db_read_users_list(c->pool, c->tag, NULL, 2, &json), PL_OK);
    assert_json(c, json, "json_array_length(j->'items')", "2");
    snprintf(want, sizeof(want), "%s_1", c->tag);
    assert_json(c, json, "j->'items'->0->>'username'", want);
    assert_json(c, json, "j->'items'->0->>'display_name'", "User 1");
    assert_json(c, json, "j->'items'->0->>'disabled'", "false");
    assert_json(c, json, "j->'items'->0->>'online'", "false");
    assert_json(c, json, "j->'items'->0->>'last_login_at'", NULL);
    /* timestamps in UTC, ISO 8601 */
    char *at = json_get(c, json, "j->'items'->0->>'created_at'");
    assert_non_null(at);
    assert_non_null(strstr(at, "+00:00"));
    free(at);
    snprintf(want, sizeof(want), "%s_2", c->tag);
    assert_json(c, json, "j->>'next_cursor'", want);

    char *cursor = json_get(c, json, "j->>'next_cursor'");
    free(json);
    assert_int_equal(db_read_users_list(c->pool, c->tag, cursor, 2, &json), PL_OK);
    free(cursor);
    snprintf(want, sizeof(want), "%s_3", c->tag);
    assert_json(c, json, "j->'items'->0->>'username'", want);
    assert_json(c, json, "j->'items'->0->>'online'", "true");
    cursor = json_get(c, json, "j->>'next_cursor'");
    free(json);

    /* the last page: one user (disabled), no next cursor */
    assert_int_equal(db_read_users_list(c->pool, c->tag, cursor, 2, &json), PL_OK);
    free(cursor);
    assert_json(c, json, "json_array_length(j->'items')", "1");
    assert_json(c, json, "j->'items'->0->>'disabled'", "true");
    assert_json(c, json, "j->'next_cursor'", "null");
    free(json);

    /* exactly a page: no next cursor either */
    assert_int_equal(db_read_users_list(c->pool, c->tag, NULL, 5, &json), PL_OK);
    assert_json(c, json, "json_array_length(j->'items')", "5");
    assert_json(c, json, "j->'next_cursor'", "null");
    free(json);

    /* a prefix that matches nobody: an empty list */
    char q[64];
    snprintf(q, sizeof(q), "%s_9", c->tag);
    assert_int_equal(db_read_users_list(c->pool, q, NULL, 10, &json), PL_OK);
    assert_json(c, json, "json_array_length(j->'items')", "0");
    assert_json(c, json, "j->'next_cursor'", "null");
    free(json);

    /* no prefix: everyone, our five among them */
    assert_int_equal(db_read_users_list(c->pool, NULL, NULL, DB_READ_LIST_MAX, &json),
                     PL_OK);
    char expr[128];
    snprintf(expr, sizeof(expr),
             "(SELECT count(*) FROM json_array_elements(j->'items') e"
             " WHERE starts_with(e->>'username', '%s_'))",
             c->tag);
    assert_json(c, json, expr, "5");
    free(json);
}

static void test_user_get(void **state)
{
    NEED_DB(state);
    struct ctx *c = *state;
    open_pool(c, 1, 0);
    char *json = NULL, name[64], want[64];
    snprintf(name, sizeof(name), "%s_3", c->tag);
    assert_int_equal(db_read_user_get(c->pool, name, &json), PL_OK);
    assert_json(c, json, "j->>'username'", name);
    assert_json(c, json, "json_array_length(j->'sessions')", "2");
    /* oldest session first */
    snprintf(want, sizeof(want), "%s_3@x/20", c->tag);
    assert_json(c, json, "j->'sessions'->0->>'full_jid'", want);
    assert_json(c, json, "j->'sessions'->0->>'resource'", "20");
    assert_json(c, json, "j->'sessions'->0->>'node'", "n1");
    assert_json(c, json, "j->'sessions'->0->>'show'", "away");
    assert_json(c, json, "j->'sessions'->0->>'priority'", "5");
    assert_json(c, json, "j->'sessions'->0->>'available'", "true");
    assert_json(c, json, "j->'sessions'->0->>'status'", NULL);
    free(json);

    snprintf(name, sizeof(name), "%s_1", c->tag);
    assert_int_equal(db_read_user_get(c->pool, name, &json), PL_OK);
    assert_json(c, json, "j->'sessions'", "[]");
    free(json);

    snprintf(name, sizeof(name), "%s_nobody", c->tag);
    json = (char *)1;
    assert_int_equal(db_read_user_get(c->pool, name, &json), PL_ENOENT);
    assert_null(json);
}

/* The read path is read-only: a statement that writes fails. */
static void test_connections_are_read_only(void **state)
{
    NEED_DB(state);
    struct ctx *c = *state;
    open_pool(c, 1, 0);
    char *json = NULL;
    assert_int_equal(db_read_users_list(c->pool, c->tag, NULL, 1, &json), PL_OK);
    free(json);
    struct db_read_slot *slot = db_read_checkout(c->pool);
    assert_non_null(slot);
    assert_true(slot->ready);
    PGresult *res = PQexec(slot->conn, "DELETE FROM users WHERE false");
    assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
    assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE), "25006");
    PQclear(res);
    db_read_checkin(c->pool, slot);
}

struct worker {
    struct ctx *c;
    int ok;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char name[64];
    snprintf(name, sizeof(name), "%s_2", w->c->tag);
    for (int i = 0; i < 40; i++) {
        char *json = NULL;
        int rc = i % 2 ? db_read_user_get(w->c->pool, name, &json)
                       : db_read_users_list(w->c->pool, w->c->tag, NULL, 3, &json);
        if (rc == PL_OK && json && strstr(json, name))
            w->ok++;
        free(json);
    }
    return NULL;
}

static int pool_backends(struct ctx *c)
{
    const char *p[1] = {c->tag};
    PGresult *res =
        sql(c,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
            " AND pid <> pg_backend_pid()",
            1, p);
    int n = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return n;
}

static void test_threads_share_the_pool(void **state)
{
    NEED_DB(state);
    struct ctx *c = *state;
    open_pool(c, 2, 10000);
    pthread_t t[6];
    struct worker w[6];
    for (int i = 0; i < 6; i++) {
        w[i] = (struct worker){.c = c};
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].ok, 40);
    }
    /* six threads, two connections */
    assert_int_equal(pool_backends(c), 2);
}

static void test_reconnects_after_losing_connections(void **state)
{
    NEED_DB(state);
    struct ctx *c = *state;
    open_pool(c, 2, 0);
    char *json = NULL, err[256];
    assert_int_equal(db_read_users_list(c->pool, c->tag, NULL, 1, &json), PL_OK);
    free(json);
    const char *p[1] = {c->tag};
    PQclear(sql(c,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = $1 AND pid <> pg_backend_pid()",
                1, p));
    /* the terminated backends may take a moment to go */
    for (int i = 0; i < 50 && pool_backends(c) > 0; i++)
        usleep(20000);
    char name[64];
    snprintf(name, sizeof(name), "%s_4", c->tag);
    assert_int_equal(db_read_user_get(c->pool, name, &json), PL_OK);
    assert_json(c, json, "j->>'username'", name);
    free(json);
    PQclear(sql(c,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = $1 AND pid <> pg_backend_pid()",
                1, p));
    for (int i = 0; i < 50 && pool_backends(c) > 0; i++)
        usleep(20000);
    assert_int_equal(db_read_health(c->pool, err, sizeof(err)), PL_OK);
}

static void test_waits_a_bounded_time_for_a_connection(void **state)
{
    NEED_DB(state);
    struct ctx *c = *state;
    open_pool(c, 1, 200);
    struct db_read_slot *slot = db_read_checkout(c->pool);
    assert_non_null(slot);
    char *json = NULL;
    assert_int_equal(db_read_users_list(c->pool, c->tag, NULL, 1, &json), PL_AGAIN);
    assert_null(json);
    db_read_checkin(c->pool, slot);
    assert_int_equal(db_read_users_list(c->pool, c->tag, NULL, 1, &json), PL_OK);
    free(json);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_open_refuses_bad_config),
        cmocka_unit_test(test_arguments_checked_before_any_query),
        cmocka_unit_test(test_unreachable_database),
    };
    const struct CMUnitTest with_db[] = {
        cmocka_unit_test_teardown(test_health, close_pool),
        cmocka_unit_test_teardown(test_users_list_pages, close_pool),
        cmocka_unit_test_teardown(test_user_get, close_pool),
        cmocka_unit_test_teardown(test_connections_are_read_only, close_pool),
        cmocka_unit_test_teardown(test_threads_share_the_pool, close_pool),
        cmocka_unit_test_teardown(test_reconnects_after_losing_connections, close_pool),
        cmocka_unit_test_teardown(test_waits_a_bounded_time_for_a_connection, close_pool),
    };
    int failed = cmocka_run_group_tests_name("db_read_pure", pure, NULL, NULL);
    failed += cmocka_run_group_tests_name("db_read_postgres", with_db, setup, teardown);
    return failed;
}
