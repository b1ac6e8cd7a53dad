/* The parley_user_state payload parser (no database needed; the listener
 * itself is exercised by db_store_test against PostgreSQL). */
#include "db_internal.h"
#include "pl_error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

static void test_parse_disabled_and_enabled(void **state)
{
    (void)state;
    char *name = NULL;
    int disabled = -1;
    assert_int_equal(db_user_state_parse("alice:1", &name, &disabled), PL_OK);
    assert_string_equal(name, "alice");
    assert_int_equal(disabled, 1);
    free(name);
    assert_int_equal(db_user_state_parse("bob.smith:0", &name, &disabled), PL_OK);
    assert_string_equal(name, "bob.smith");
    assert_int_equal(disabled, 0);
    free(name);
}

static void test_parse_refuses_garbage(void **state)
{
    (void)state;
    static const char *const bad[] = {"",        "alice",    "alice:",   ":1",
                                      "alice:2", "alice:10", "alice:1 ", "alice;1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *name = (char *)1;
        int disabled = -1;
        assert_int_equal(db_user_state_parse(bad[i], &name, &disabled), PL_EINVAL);
        assert_null(name);
        assert_int_equal(disabled, -1);
    }
}

static void test_admin_payloads(void **state)
{
    (void)state;
    char *user, *res;
    int64_t id;
    assert_int_equal(db_admin_event_parse("kick:alice", &user, &res, &id), PL_OK);
    assert_string_equal(user, "alice");
    assert_null(res);
    free(user);
    assert_int_equal(db_admin_event_parse("kick:alice/web/1:x", &user, &res, &id), PL_OK);
    assert_string_equal(user, "alice");
    assert_string_equal(res, "web/1:x");
    free(user);
    free(res);
    assert_int_equal(db_admin_event_parse("message:42", &user, &res, &id), PL_OK);
    assert_null(user);
    assert_int_equal(id, 42);
    static const char *const bad[] = {
        "",           "kick:",      "kick:/r",    "kick:a/", "message:", "message:0",
        "message:-1", "message:1x", "message:01", "other:1", "Kick:a"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        user = res = (char *)1;
        if (db_admin_event_parse(bad[i], &user, &res, &id) != PL_EINVAL)
            fail_msg("'%s' was taken", bad[i]);
        assert_null(user);
        assert_null(res);
    }
}

static void test_room_payloads(void **state)
{
    (void)state;
    char *jid;
    int64_t id;
    assert_int_equal(db_room_event_parse("room:group-1@conference.localhost", &jid, &id),
                     PL_OK);
    assert_string_equal(jid, "group-1@conference.localhost");
    assert_int_equal(id, 0);
    free(jid);
    assert_int_equal(db_room_event_parse("room-message:7", &jid, &id), PL_OK);
    assert_null(jid);
    assert_int_equal(id, 7);
    static const char *const bad[] = {
        "room:",           "room:nodomain",  "room:a@b/c",
        "room-message:",   "room-message:0", "room-message:1x",
        "room-message:01", "rooms:a@b",      "kick:a"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        jid = (char *)1;
        if (db_room_event_parse(bad[i], &jid, &id) != PL_EINVAL)
            fail_msg("'%s' was taken", bad[i]);
        assert_null(jid);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_disabled_and_enabled),
        cmocka_unit_test(test_parse_refuses_garbage),
        cmocka_unit_test(test_admin_payloads),
        cmocka_unit_test(test_room_payloads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
