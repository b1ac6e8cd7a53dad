/* The admin API's changes (db_admin.c) and its new reads (db_read.c:
 * sessions, messages, stats, audit) against PARLEY_TEST_DATABASE_URL: each
 * change writes its audit row in its transaction and sends its NOTIFY at
 * commit; a refused change writes nothing. */
#include "db_internal.h"
#include "db_migrate.h"
#include "db_read.h"
#include "pl_error.h"

#include <poll.h>
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

struct ctx {
    char migrations[4096];
    char tag[32];
    char user[64], jid[96], peer_jid[96];
    PGconn *conn;
    struct db_read_pool *pool;
};

static PGresult *sql(struct ctx *c, const char *q, int n, const char *const *p)
{
    PGresult *res = PQexecParams(c->conn, q, n, NULL, p, NULL, NULL, 0);
    ExecStatusType s = PQresultStatus(res);
    if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK)
        fail_msg("%s: %s", q, PQresultErrorMessage(res));
    return res;
}

static long count(struct ctx *c, const char *q)
{
    const char *p[1] = {c->user};
    PGresult *res = sql(c, q, 1, p);
    long n = atol(PQgetvalue(res, 0, 0));
    PQclear(res);
    return n;
}

static int setup(void **state)
{
    *state = NULL;
    const char *url = db_test_url();
    if (!url)
        return 0;
    struct ctx *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    const char *file = __FILE__;
    const char *cut = strstr(file, "tests/unit/db/");
    snprintf(c->migrations, sizeof(c->migrations), "%.*smigrations", (int)(cut - file),
             file);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(c->tag, sizeof(c->tag), "ad%ld%ld", (long)getpid(),
             (long)(ts.tv_nsec % 100000));
    snprintf(c->user, sizeof(c->user), "%s_u", c->tag);
    snprintf(c->jid, sizeof(c->jid), "%s_u@x", c->tag);
    snprintf(c->peer_jid, sizeof(c->peer_jid), "%s_p@x", c->tag);
    char err[512];
    if (db_migrate(url, c->migrations, err, sizeof(err)) != PL_OK)
        fail_msg("db_migrate: %s", err);
    c->conn = PQconnectdb(url);
    assert_int_equal(PQstatus(c->conn), CONNECTION_OK);
    struct db_read_config cfg = {.conninfo = url, .size = 2};
    assert_int_equal(db_read_open(&cfg, &c->pool), PL_OK);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    if (!c)
        return 0;
    db_read_close(c->pool);
    const char *p[1] = {c->tag};
    PQclear(sql(c, "DELETE FROM sessions WHERE starts_with(username, $1)", 1, p));
    PQclear(sql(c, "DELETE FROM messages WHERE starts_with(sender, $1)", 1, p));
    PQclear(sql(c, "DELETE FROM admin_audit WHERE starts_with(target, $1)", 1, p));
    PQclear(sql(c, "DELETE FROM users WHERE starts_with(username, $1)", 1, p));
    PQfinish(c->conn);
    free(c);
    return 0;
}

#define NEED_DB(state)                                                                   \
    do {                                                                                 \
        if (!*(state))                                                                   \
            skip();                                                                      \
    } while (0)

/* The next notification on c->conn within ms, or NULL. Caller frees. */
static char *next_notify(struct ctx *c, int ms)
{
    for (int waited = 0; waited <= ms; waited += 50) {
        PQconsumeInput(c->conn);
        PGnotify *n = PQnotifies(c->conn);
        if (n) {
            char *s = strdup(n->extra);
            PQfreemem(n);
            return s;
        }
        struct pollfd pfd = {.fd = PQsocket(c->conn), .events = POLLIN};
        poll(&pfd, 1, 50);
    }
    return NULL;
}

static void test_arguments_checked(void **state)
{
    (void)state;
    char *json = (char *)1;
    int n;
    assert_int_equal(db_admin_user_create(NULL, NULL, "a", NULL, 0, &json), PL_EINVAL);
    assert_null(json);
    assert_int_equal(db_admin_user_delete(NULL, "root", ""), PL_EINVAL);
    assert_int_equal(db_admin_kick(NULL, "root", "a", "", &n), PL_EINVAL);
    assert_int_equal(db_admin_send(NULL, "root", "a@x", "b@x", NULL, &json), PL_EINVAL);
    struct db_read_msg_filter f = {.peer = "b@x", .limit = 5};
    assert_int_equal(db_read_messages_list(NULL, &f, &json), PL_EINVAL);
    f = (struct db_read_msg_filter){.user = "a@x", .limit = 0};
    assert_int_equal(db_read_messages_list(NULL, &f, &json), PL_EINVAL);
    assert_int_equal(db_read_audit_list(NULL, 0, 501, &json), PL_EINVAL);
}

static void test_user_lifecycle_with_audit(void **state)
{
    NEED_DB(state);
    struct ctx *c = *state;
    char *json = NULL;
    assert_int_equal(db_admin_user_create(c->pool, "root", c->user, "U", 0, &json),
                     PL_OK);
    assert_non_null(strstr(json, "\"display_name\" : \"U\""));
    free(json);
    assert_int_equal(db_admin_user_create(c->pool, "root", c->user, NULL, 0, &json),
                     PL_EEXIST);
    assert_null(json);
    assert_int_equal(count(c, "SELECT count(*) FROM admin_audit WHERE target = $1"), 1);

    PQclear(PQexec(c->conn, "LISTEN parley_user_state"));
    assert_int_equal(db_admin_user_update(c->pool, "root", c->user, 0, NULL, 1, 1, &json),
                     PL_OK);
    assert_non_null(strstr(json, "\"disabled\" : true"));
    free(json);
    char *note = next_notify(c, 2000);
    assert_non_null(note);
    char want[96];
    snprintf(want, sizeof(want), "%s:1", c->user);
    assert_string_equal(note, want);
    free(note);
    assert_int_equal(count(c, "SELECT count(*) FROM admin_audit WHERE target = $1"
                              " AND action IN ('user.update', 'user.disable')"),
                     2);

    assert_int_equal(db_admin_user_delete(c->pool, "root", c->user), PL_OK);
    assert_int_equal(db_admin_user_delete(c->pool, "root", c->user), PL_ENOENT);
    assert_int_equal(db_read_user_get(c->pool, c->user, &json), PL_ENOENT);
    assert_int_equal(db_admin_user_update(c->pool, "root", c->user, 1, "x", 0, 0, &json),
                     PL_ENOENT);
    /* The row stays, disabled, for the archive and for refusing logins. */
    assert_int_equal(count(c, "SELECT count(*) FROM users WHERE username = $1"
                              " AND disabled AND deleted_at IS NOT NULL"),
                     1);
    assert_int_equal(db_admin_user_create(c->pool, "root", c->user, NULL, 0, &json),
                     PL_OK);
    free(json);
    PQclear(PQexec(c->conn, "UNLISTEN *"));
}

static void test_kick_notifies_only_when_there_is_a_session(void **state)
{
    NEED_DB(state);
    struct ctx *c = *state;
    char *json = NULL;
    int n = -1;
    assert_int_equal(db_admin_kick(c->pool, "root", c->user, NULL, &n), PL_ENOENT);
    assert_int_equal(db_admin_user_create(c->pool, "root", c->user, NULL, 0, &json),
                     PL_OK);
    free(json);
    PQclear(PQexec(c->conn, "LISTEN parley_admin"));
    assert_int_equal(db_admin_kick(c->pool, "root", c->user, NULL, &n), PL_OK);
    assert_int_equal(n, 0);
    assert_null(next_notify(c, 200));
    const char *p[1] = {c->user};
    PQclear(sql(c,
                "INSERT INTO sessions (node, full_jid, username, resource)"
                " SELECT 'n', $1 || '@x/' || r, $1, r FROM unnest(ARRAY['a', 'b']) r",
                1, p));
    assert_int_equal(db_admin_kick(c->pool, "root", c->user, "b", &n), PL_OK);
    assert_int_equal(n, 1);
    char *note = next_notify(c, 2000);
    char want[96];
    snprintf(want, sizeof(want), "kick:%s/b", c->user);
    assert_string_equal(note, want);
    free(note);
    assert_int_equal(db_admin_kick(c->pool, "root", c->user, NULL, &n), PL_OK);
    assert_int_equal(n, 2);
    note = next_notify(c, 2000);
    snprintf(want, sizeof(want), "kick:%s", c->user);
    assert_string_equal(note, want);
    free(note);
    assert_int_equal(
        count(c, "SELECT count(*) FROM admin_audit WHERE starts_with(target, $1)"
                 " AND action = 'session.kick'"),
        2);
    /* db_read_sessions_list: the user's, paged by full JID */
    assert_int_equal(db_read_sessions_list(c->pool, c->user, NULL, 1, &json), PL_OK);
    assert_non_null(strstr(json, "/a\""));
    assert_non_null(strstr(json, "\"next_cursor\" : \""));
    free(json);
    char cursor[96];
    snprintf(cursor, sizeof(cursor), "%s@x/a", c->user);
    assert_int_equal(db_read_sessions_list(c->pool, c->user, cursor, 1, &json), PL_OK);
    assert_non_null(strstr(json, "/b\""));
    assert_non_null(strstr(json, "\"next_cursor\" : null"));
    free(json);
    assert_int_equal(db_read_sessions_list(c->pool, "no-such-user-here", NULL, 1, &json),
                     PL_ENOENT);
    PQclear(PQexec(c->conn, "UNLISTEN *"));
}

static void test_send_stores_like_the_xmpp_path(void **state)
{
    NEED_DB(state);
    struct ctx *c = *state;
    char *json = NULL;
    PQclear(PQexec(c->conn, "LISTEN parley_admin"));
    assert_int_equal(
        db_admin_send(c->pool, "root", c->peer_jid, c->jid, "a <b> & 'c'", &json), PL_OK);
    assert_non_null(strstr(json, "\"state\" : \"stored\""));
    free(json);
    char *note = next_notify(c, 2000);
    assert_non_null(note);
    assert_int_equal(strncmp(note, "message:", 8), 0);
    int64_t id = atoll(note + 8);
    free(note);
    /* The stanza is escaped XML with the generated id; the offline queue has it. */
    char idbuf[24];
    snprintf(idbuf, sizeof(idbuf), "%lld", (long long)id);
    const char *p[1] = {idbuf};
    PGresult *res =
        sql(c,
            "SELECT m.stanza, m.stanza_id, (SELECT count(*) FROM deliveries_unsettled q"
            " WHERE q.message_id = m.id) FROM messages m WHERE m.id = $1",
            1, p);
    assert_non_null(strstr(PQgetvalue(res, 0, 0), "<body>a &lt;b&gt; &amp; 'c'</body>"));
    assert_non_null(strstr(PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1)));
    assert_string_equal(PQgetvalue(res, 0, 2), "1");
    PQclear(res);
    assert_int_equal(db_read_message_get(c->pool, id, &json), PL_OK);
    assert_non_null(strstr(json, c->jid));
    free(json);
    assert_int_equal(db_read_message_get(c->pool, id + 1000000, &json), PL_ENOENT);

    /* db_read_messages_list: the conversation, newest first, both ways */
    struct db_read_msg_filter f = {.user = c->jid, .peer = c->peer_jid, .limit = 10};
    assert_int_equal(db_read_messages_list(c->pool, &f, &json), PL_OK);
    assert_non_null(strstr(json, idbuf));
    free(json);
    f = (struct db_read_msg_filter){
        .user = c->jid, .q = "'c'", .limit = 10, .oldest_first = 1};
    assert_int_equal(db_read_messages_list(c->pool, &f, &json), PL_OK);
    assert_non_null(strstr(json, idbuf));
    free(json);
    f = (struct db_read_msg_filter){.room = "group-x@conference.x", .limit = 10};
    assert_int_equal(db_read_messages_list(c->pool, &f, &json), PL_OK);
    assert_non_null(strstr(json, "\"items\" : []"));
    free(json);
    assert_int_equal(db_read_stats(c->pool, &json), PL_OK);
    assert_non_null(strstr(json, "\"offline_waiting\""));
    free(json);
    assert_int_equal(
        db_admin_audit(c->pool, "root", "export", c->jid, "{\"format\":\"csv\"}"), PL_OK);
    assert_int_equal(db_read_audit_list(c->pool, 0, 1, &json), PL_OK);
    assert_non_null(strstr(json, "\"export\""));
    free(json);
    PQclear(PQexec(c->conn, "UNLISTEN *"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arguments_checked),
        cmocka_unit_test_setup_teardown(test_user_lifecycle_with_audit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kick_notifies_only_when_there_is_a_session,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_stores_like_the_xmpp_path, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
