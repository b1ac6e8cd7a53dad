/* What the admin API asks of this node's sessions (chat_admin.c): kicks of
 * one session or all of a user's, and a stored message routed live to the
 * recipient's sessions, tagged so its write moves the delivery state. */
#include "chat_fixture.h"

static struct db_job *kick_event(const char *user, const char *resource)
{
    struct db_job *job = db_job_new(DB_EVENT_KICK);
    assert_non_null(job);
    job->u.kick.username = strdup(user);
    job->u.kick.resource = resource ? strdup(resource) : NULL;
    return job;
}

static void test_kick_one_session(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a = fx_online(fx, "bob", "one", 0);
    struct fx_client *b = fx_online(fx, "bob", "two", 0);
    chat_server_complete(fx->cs, kick_event("bob", "two"));
    fx_expect_stream_error(b, "policy-violation");
    assert_false(a->closed);
    /* The other resource sees the kicked one go (RFC 6121 4.5.2). */
    assert_int_equal(fx_unseen(a), 1);
    struct xmpp_node *p = fx_next(a, NULL);
    assert_string_equal(p->name, "presence");
    assert_string_equal(xmpp_node_attr(p, "type"), "unavailable");
    assert_string_equal(xmpp_node_attr(p, "from"), "bob@localhost/two");
    xmpp_node_free(p);
    /* Its presence row goes. */
    struct db_job *gone = fx_take(fx, DB_JOB_PRESENCE, NULL);
    assert_true(gone->u.presence.gone);
    assert_string_equal(gone->u.presence.resource, "two");
    db_job_free(gone);
    /* Unknown resources and users are nothing to do. */
    chat_server_complete(fx->cs, kick_event("bob", "three"));
    chat_server_complete(fx->cs, kick_event("nobody", NULL));
    assert_false(a->closed);
}

static void test_kick_all_sessions(void **state)
{
    struct fx *fx = *state;
    struct fx_client *c[3];
    for (int i = 0; i < 3; i++) {
        char res[8];
        snprintf(res, sizeof(res), "r%d", i);
        c[i] = fx_online(fx, "bob", res, 0);
    }
    struct fx_client *other = fx_online(fx, "alice", "a", 0);
    chat_server_complete(fx->cs, kick_event("bob", NULL));
    /* Each resource may first see the ones kicked before it go. */
    fx_skip_presence(fx);
    for (int i = 0; i < 3; i++)
        fx_expect_stream_error(c[i], "policy-violation");
    assert_false(other->closed);
    assert_null(chat_user_find(fx->cs, "bob"));
}

static struct db_job *message_event(int64_t id, const char *to)
{
    struct db_job *job = db_job_new(DB_EVENT_MESSAGE);
    assert_non_null(job);
    job->u.message.id = id;
    job->u.message.recipient = strdup(to);
    job->u.message.stanza_xml =
        strdup("<message from='localhost' to='bob@localhost' "
               "type='chat' id='api-1'><body>hi</body></message>");
    job->u.message.created_at_us = STAMP_US;
    return job;
}

static void test_message_routed_live_and_tagged(void **state)
{
    struct fx *fx = *state;
    struct fx_client *b = fx_online(fx, "bob", "one", 0);
    chat_server_complete(fx->cs, message_event(77, "bob@localhost"));
    uint64_t tag = 0;
    struct xmpp_node *m = fx_next(b, &tag);
    assert_int_equal(tag, chat_tag(CHAT_TAG_MESSAGE, 77));
    assert_string_equal(xmpp_node_attr(m, "from"), "localhost");
    assert_string_equal(xmpp_node_attr(m, "id"), "api-1");
    struct xmpp_node *sid = xmpp_node_child(m, "stanza-id", XMPP_NS_SID);
    assert_non_null(sid);
    assert_string_equal(xmpp_node_attr(sid, "id"), "77");
    assert_string_equal(xmpp_node_attr(sid, "by"), "bob@localhost");
    xmpp_node_free(m);
    /* Written: the delivery state moves, as for any stored message. */
    xmpp_stream_written(b->s, tag);
    struct db_job *mark = fx_take(fx, DB_JOB_MARK_DELIVERED, NULL);
    assert_int_equal(mark->u.delivered.message_id, 77);
    db_job_free(mark);
    /* Not online here, or a stanza that does not parse: nothing is sent. */
    chat_server_complete(fx->cs, message_event(78, "carol@localhost"));
    struct db_job *bad = message_event(79, "bob@localhost");
    free(bad->u.message.stanza_xml);
    bad->u.message.stanza_xml = strdup("<message");
    chat_server_complete(fx->cs, bad);
    assert_int_equal(fx_unseen(b), 0);
}

/* A session still loading its backlog holds the message, in order. */
static void test_message_waits_for_the_backlog(void **state)
{
    struct fx *fx = *state;
    struct fx_client *b = fx_login(fx, "bob", "one");
    assert_int_equal(fx_send(b, "<presence/>"), PL_OK);
    fx_skip_presence(fx); /* the echo to the user's resources */
    fx_complete_all(fx, DB_JOB_PRESENCE);
    struct db_job *load = fx_take(fx, DB_JOB_OFFLINE_LOAD, NULL);
    chat_server_complete(fx->cs, message_event(90, "bob@localhost"));
    assert_int_equal(fx_unseen(b), 0);
    int64_t ids[1] = {80};
    complete_load(fx, load, ids, 1);
    expect_stored(b, 80);
    expect_live(b, 90);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kick_one_session, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_kick_all_sessions, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_message_routed_live_and_tagged, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_message_waits_for_the_backlog, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
