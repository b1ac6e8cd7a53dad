/* Presence: the sessions row written at bind and by presence, priorities,
 * and the offline load that initial presence starts. */
#include "chat_fixture.h"

/* Bind writes the session's row (not available); presence makes it
 * available with show, status and priority, and starts the offline load. */
static void test_bind_and_presence_jobs(void **state)
{
    struct fx *fx = *state;
    struct fx_client *bob = fx_login_raw(fx, "bob", "B");

    assert_int_equal(fx_count(fx, DB_JOB_USER_LOGIN), 1);
    char *shard = NULL;
    struct db_job *login = fx_take(fx, DB_JOB_USER_LOGIN, &shard);
    assert_string_equal(login->u.login.username, "bob");
    free(shard);
    chat_server_complete(fx->cs, login);

    assert_int_equal(fx_count(fx, DB_JOB_PRESENCE), 1);
    struct db_job *p = fx_take(fx, DB_JOB_PRESENCE, &shard);
    assert_string_equal(shard, "bob@localhost/B");
    free(shard);
    assert_string_equal(p->u.presence.full_jid, "bob@localhost/B");
    assert_string_equal(p->u.presence.username, "bob");
    assert_string_equal(p->u.presence.resource, "B");
    assert_int_equal(p->u.presence.available, 0);
    assert_int_equal(p->u.presence.gone, 0);
    chat_server_complete(fx->cs, p);
    assert_int_equal(fx_count(fx, DB_JOB_OFFLINE_LOAD), 0);

    assert_int_equal(fx_send(bob, "<presence><show>away</show><status>lunch</status>"
                                  "<priority>3</priority></presence>"),
                     PL_OK);
    p = fx_take(fx, DB_JOB_PRESENCE, NULL);
    assert_int_equal(p->u.presence.available, 1);
    assert_int_equal(p->u.presence.gone, 0);
    assert_int_equal(p->u.presence.priority, 3);
    assert_string_equal(p->u.presence.show, "away");
    assert_string_equal(p->u.presence.status, "lunch");
    chat_server_complete(fx->cs, p);

    assert_int_equal(fx_count(fx, DB_JOB_OFFLINE_LOAD), 1);
    struct db_job *load = fx_take(fx, DB_JOB_OFFLINE_LOAD, &shard);
    assert_string_equal(shard, "bob@localhost");
    free(shard);
    assert_string_equal(load->u.offline.recipient, "bob@localhost");
    assert_int_equal(load->u.offline.after_id, 0);
    complete_load(fx, load, NULL, 0);
    assert_int_equal(fx_unseen(bob), 0);

    /* A presence update loads nothing more. */
    assert_int_equal(fx_send(bob, "<presence><show>dnd</show></presence>"), PL_OK);
    assert_int_equal(fx_count(fx, DB_JOB_OFFLINE_LOAD), 0);
    p = fx_take(fx, DB_JOB_PRESENCE, NULL);
    assert_int_equal(p->u.presence.available, 1);
    assert_int_equal(p->u.presence.priority, 0);
    assert_string_equal(p->u.presence.show, "dnd");
    assert_null(p->u.presence.status);
    chat_server_complete(fx->cs, p);

    /* The session ends: its row goes. */
    fx_disconnect(bob);
    p = fx_take(fx, DB_JOB_PRESENCE, NULL);
    assert_string_equal(p->u.presence.full_jid, "bob@localhost/B");
    assert_int_equal(p->u.presence.gone, 1);
    chat_server_complete(fx->cs, p);
    /* Nothing was written with a tag: no session end to settle. */
    assert_int_equal(fx_count(fx, DB_JOB_SESSION_END), 0);
}

/* Out-of-range or malformed priorities count as 0 (RFC 6121 4.7.2.3). */
static void test_priority_parsing(void **state)
{
    struct fx *fx = *state;
    const char *cases[][2] = {{"127", "127"}, {"-128", "-128"}, {"128", "0"},
                              {"-129", "0"},  {"abc", "0"},     {"5x", "0"}};
    struct fx_client *bob = fx_login(fx, "bob", "B");
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        assert_int_equal(
            fx_sendf(bob, "<presence><priority>%s</priority></presence>", cases[i][0]),
            PL_OK);
        struct db_job *p = fx_take(fx, DB_JOB_PRESENCE, NULL);
        assert_int_equal(p->u.presence.priority, atoi(cases[i][1]));
        chat_server_complete(fx->cs, p);
    }
    fx_complete_all(fx, DB_JOB_OFFLINE_LOAD);
}

/* Directed presence is not handled yet: no row, no load. */
static void test_directed_presence_ignored(void **state)
{
    struct fx *fx = *state;
    struct fx_client *bob = fx_login(fx, "bob", "B");
    assert_int_equal(fx_send(bob, "<presence to='alice@localhost'/>"), PL_OK);
    assert_int_equal(fx_count(fx, DB_JOB_PRESENCE), 0);
    assert_int_equal(fx_count(fx, DB_JOB_OFFLINE_LOAD), 0);
    assert_int_equal(fx_unseen(bob), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bind_and_presence_jobs, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_priority_parsing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_directed_presence_ignored, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
