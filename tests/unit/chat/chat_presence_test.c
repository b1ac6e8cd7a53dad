/* Presence and offline delivery: the sessions row, the offline load after
 * initial presence, stored messages first and in order with their delay
 * and stanza id, live copies held meanwhile, loads in batches. */
#include "chat_fixture.h"

/* 2023-11-14T22:13:20.123456Z */
#define STAMP_US 1700000000123456
#define STAMP_TEXT "2023-11-14T22:13:20.123Z"

static char *stored_xml(int64_t id)
{
    char buf[256];
    snprintf(buf, sizeof(buf),
             "<message xmlns='jabber:client' from='alice@localhost/A' "
             "to='bob@localhost' type='chat' id='s%lld'><body>stored %lld</body>"
             "</message>",
             (long long)id, (long long)id);
    return strdup(buf);
}

/* Completes an offline load with stored messages of these ids. */
static void complete_load(struct fx *fx, struct db_job *job, const int64_t *ids, size_t n)
{
    job->status = PL_OK;
    job->u.offline.count = n;
    job->u.offline.msgs = n ? calloc(n, sizeof(*job->u.offline.msgs)) : NULL;
    for (size_t i = 0; i < n; i++) {
        job->u.offline.msgs[i].id = ids[i];
        job->u.offline.msgs[i].created_at_us = STAMP_US;
        job->u.offline.msgs[i].stanza_xml = stored_xml(ids[i]);
    }
    chat_server_complete(fx->cs, job);
}

/* The next frame is the stored message `id`, with delay and stanza id; the
 * transport then reports it written, which lets the backlog go on. */
static void expect_stored(struct fx_client *c, int64_t id)
{
    uint64_t tag = 0;
    struct xmpp_node *m = fx_next(c, &tag);
    assert_int_equal(tag, chat_tag(CHAT_TAG_BACKLOG, id));
    assert_string_equal(m->name, "message");
    char want[32];
    snprintf(want, sizeof(want), "s%lld", (long long)id);
    assert_string_equal(xmpp_node_attr(m, "id"), want);
    assert_string_equal(xmpp_node_attr(m, "from"), "alice@localhost/A");
    struct xmpp_node *d = xmpp_node_child(m, "delay", XMPP_NS_DELAY);
    assert_non_null(d);
    assert_string_equal(xmpp_node_attr(d, "stamp"), STAMP_TEXT);
    assert_string_equal(xmpp_node_attr(d, "from"), "localhost");
    assert_int_equal(fx_count_children(m, "stanza-id", XMPP_NS_SID), 1);
    xmpp_stream_written(c->s, tag);
    struct xmpp_node *sid = xmpp_node_child(m, "stanza-id", XMPP_NS_SID);
    snprintf(want, sizeof(want), "%lld", (long long)id);
    assert_string_equal(xmpp_node_attr(sid, "id"), want);
    assert_string_equal(xmpp_node_attr(sid, "by"), "bob@localhost");
    xmpp_node_free(m);
}

/* The next frame is the live message `id` (no delay). */
static void expect_live(struct fx_client *c, int64_t id)
{
    uint64_t tag = 0;
    struct xmpp_node *m = fx_next(c, &tag);
    assert_int_equal(tag, chat_tag(CHAT_TAG_MESSAGE, id));
    assert_null(xmpp_node_child(m, "delay", XMPP_NS_DELAY));
    struct xmpp_node *sid = xmpp_node_child(m, "stanza-id", XMPP_NS_SID);
    assert_non_null(sid);
    char want[32];
    snprintf(want, sizeof(want), "%lld", (long long)id);
    assert_string_equal(xmpp_node_attr(sid, "id"), want);
    xmpp_node_free(m);
}

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

/* Stored messages first, in order, then the live ones held meanwhile,
 * without sending a message twice; afterwards live messages go at once. */
static void test_offline_order(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_login(fx, "bob", "B");

    assert_int_equal(fx_send(bob, "<presence/>"), PL_OK);
    fx_complete_all(fx, DB_JOB_PRESENCE);
    struct db_job *load = fx_take(fx, DB_JOB_OFFLINE_LOAD, NULL);

    /* Message 7 commits before the load comes back: held. Message 9
     * commits after the load ran (not in it): held, sent after. */
    fx_chat(alice, "bob@localhost", "s7", "live 7");
    fx_store_ok(fx, 7);
    fx_chat(alice, "bob@localhost", "s9", "live 9");
    fx_store_ok(fx, 9);
    assert_int_equal(fx_unseen(bob), 0);

    /* A bodiless message is not stored, so it is not held either. */
    assert_int_equal(fx_send(alice, "<message to='bob@localhost' type='chat'>"
                                    "<active xmlns='http://jabber.org/protocol/"
                                    "chatstates'/></message>"),
                     PL_OK);
    assert_int_equal(fx_unseen(bob), 1);
    xmpp_node_free(fx_next(bob, NULL));

    int64_t ids[] = {5, 7};
    complete_load(fx, load, ids, 2);
    /* The held 9 follows once the backlog is written. */
    assert_int_equal(fx_unseen(bob), 2);
    expect_stored(bob, 5);
    expect_stored(bob, 7);
    assert_int_equal(fx_unseen(bob), 1);
    expect_live(bob, 9);

    fx_chat(alice, "bob@localhost", "s11", "live 11");
    fx_store_ok(fx, 11);
    assert_int_equal(fx_unseen(bob), 1);
    expect_live(bob, 11);
    assert_int_equal(fx_count(fx, DB_JOB_OFFLINE_LOAD), 0);
}

/* A full batch: more may wait, so the next load starts after the last id
 * and live messages stay held until the last batch. */
static void test_offline_batches(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_login(fx, "bob", "B");

    assert_int_equal(fx_send(bob, "<presence/>"), PL_OK);
    fx_complete_all(fx, DB_JOB_PRESENCE);
    struct db_job *load = fx_take(fx, DB_JOB_OFFLINE_LOAD, NULL);

    fx_chat(alice, "bob@localhost", "live", "live");
    fx_store_ok(fx, 5000);

    int64_t *ids = calloc(DB_OFFLINE_BATCH, sizeof(*ids));
    assert_non_null(ids);
    for (size_t i = 0; i < DB_OFFLINE_BATCH; i++)
        ids[i] = (int64_t)(2 * i + 1);
    complete_load(fx, load, ids, DB_OFFLINE_BATCH);
    /* Paced: no more than a window ahead of the socket. */
    size_t first = fx_unseen(bob);
    assert_true(first > 0 && first < DB_OFFLINE_BATCH);
    for (size_t i = 0; i < DB_OFFLINE_BATCH; i++) {
        uint64_t tag = 0;
        xmpp_node_free(fx_next(bob, &tag));
        assert_int_equal(tag, chat_tag(CHAT_TAG_BACKLOG, ids[i]));
        /* The next load waits until the batch is written. */
        assert_int_equal(fx_count(fx, DB_JOB_OFFLINE_LOAD), 0);
        xmpp_stream_written(bob->s, tag);
    }

    assert_int_equal(fx_count(fx, DB_JOB_OFFLINE_LOAD), 1);
    char *shard = NULL;
    load = fx_take(fx, DB_JOB_OFFLINE_LOAD, &shard);
    assert_string_equal(shard, "bob@localhost");
    free(shard);
    assert_int_equal(load->u.offline.after_id, ids[DB_OFFLINE_BATCH - 1]);
    free(ids);

    /* Still loading: live messages are still held. */
    fx_chat(alice, "bob@localhost", "live2", "live2");
    fx_store_ok(fx, 5001);
    assert_int_equal(fx_unseen(bob), 0);

    int64_t last[] = {4001};
    complete_load(fx, load, last, 1);
    assert_int_equal(fx_unseen(bob), 1);
    expect_stored(bob, 4001);
    assert_int_equal(fx_unseen(bob), 2);
    expect_live(bob, 5000);
    expect_live(bob, 5001);
    assert_int_equal(fx_count(fx, DB_JOB_OFFLINE_LOAD), 0);
}

/* The load failed: the session does not stay stuck holding live
 * messages. */
static void test_offline_load_failure(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_login(fx, "bob", "B");

    assert_int_equal(fx_send(bob, "<presence/>"), PL_OK);
    fx_complete_all(fx, DB_JOB_PRESENCE);
    struct db_job *load = fx_take(fx, DB_JOB_OFFLINE_LOAD, NULL);
    fx_chat(alice, "bob@localhost", "s3", "held");
    fx_store_ok(fx, 3);
    assert_int_equal(fx_unseen(bob), 0);

    load->status = PL_EIO;
    chat_server_complete(fx->cs, load);
    assert_int_equal(fx_unseen(bob), 1);
    expect_live(bob, 3);

    fx_chat(alice, "bob@localhost", "s4", "at once");
    fx_store_ok(fx, 4);
    expect_live(bob, 4);
}

/* The session went away while its load was out: the completion finds
 * nobody and sends nothing; a new session of the same resource is not
 * mistaken for the old one. */
static void test_offline_load_session_gone(void **state)
{
    struct fx *fx = *state;
    struct fx_client *old = fx_login(fx, "bob", "B");
    assert_int_equal(fx_send(old, "<presence/>"), PL_OK);
    fx_complete_all(fx, DB_JOB_PRESENCE);
    struct db_job *load = fx_take(fx, DB_JOB_OFFLINE_LOAD, NULL);
    fx_disconnect(old);
    fx_complete_all(fx, DB_JOB_PRESENCE);

    struct fx_client *bob = fx_login(fx, "bob", "B");
    int64_t ids[] = {1, 2};
    complete_load(fx, load, ids, 2);
    assert_int_equal(fx_unseen(bob), 0);
    assert_int_equal(fx_count(fx, DB_JOB_OFFLINE_LOAD), 0);
}

/* A stored stanza that does not parse is skipped; the rest goes out. */
static void test_offline_bad_stored_xml(void **state)
{
    struct fx *fx = *state;
    struct fx_client *bob = fx_login(fx, "bob", "B");
    assert_int_equal(fx_send(bob, "<presence/>"), PL_OK);
    fx_complete_all(fx, DB_JOB_PRESENCE);
    struct db_job *load = fx_take(fx, DB_JOB_OFFLINE_LOAD, NULL);
    load->u.offline.count = 2;
    load->u.offline.msgs = calloc(2, sizeof(*load->u.offline.msgs));
    load->u.offline.msgs[0].id = 1;
    load->u.offline.msgs[0].created_at_us = STAMP_US;
    load->u.offline.msgs[0].stanza_xml = strdup("<message><body>broken</message>");
    load->u.offline.msgs[1].id = 2;
    load->u.offline.msgs[1].created_at_us = STAMP_US;
    load->u.offline.msgs[1].stanza_xml = stored_xml(2);
    chat_server_complete(fx->cs, load);
    assert_int_equal(fx_unseen(bob), 1);
    expect_stored(bob, 2);
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

/* RFC 6121 4.2 / 8.5.2.1.1: a resource that went unavailable and sends
 * presence again is back online; what was stored for the account while
 * no resource was available must reach it then, not only at the next
 * login. */
static void test_available_again_gets_offline(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_online(fx, "bob", "B", 0);

    assert_int_equal(fx_send(bob, "<presence type='unavailable'/>"), PL_OK);
    fx_complete_all(fx, DB_JOB_PRESENCE);
    fx_chat(alice, "bob@localhost", "s8", "while away");
    fx_store_ok(fx, 8);
    assert_int_equal(fx_unseen(bob), 0); /* stays stored */

    assert_int_equal(fx_send(bob, "<presence/>"), PL_OK);
    fx_complete_all(fx, DB_JOB_PRESENCE);
    /* Either a new load or the message itself: it must not stay stored
     * while bob is online. */
    if (fx_count(fx, DB_JOB_OFFLINE_LOAD) == 1) {
        struct db_job *load = fx_take(fx, DB_JOB_OFFLINE_LOAD, NULL);
        int64_t ids[] = {8};
        complete_load(fx, load, ids, 1);
    }
    assert_int_equal(fx_unseen(bob), 1);
    expect_stored(bob, 8);
}

/* A message to the full JID of a session whose load is out is held too,
 * and sent once, after the stored ones. */
static void test_full_jid_held_while_loading(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *other = fx_online(fx, "bob", "other", 9);
    struct fx_client *bob = fx_login(fx, "bob", "B");

    assert_int_equal(fx_send(bob, "<presence><priority>-5</priority></presence>"), PL_OK);
    fx_complete_all(fx, DB_JOB_PRESENCE);
    struct db_job *load = fx_take(fx, DB_JOB_OFFLINE_LOAD, NULL);
    fx_chat(alice, "bob@localhost/B", "s6", "for B");
    fx_store_ok(fx, 6);
    assert_int_equal(fx_unseen(bob), 0);
    assert_int_equal(fx_unseen(other), 0);

    int64_t ids[] = {2, 6};
    complete_load(fx, load, ids, 2);
    assert_int_equal(fx_unseen(bob), 2);
    expect_stored(bob, 2);
    expect_stored(bob, 6);
    assert_int_equal(fx_unseen(other), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bind_and_presence_jobs, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_priority_parsing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_offline_order, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_offline_batches, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_offline_load_failure, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_offline_load_session_gone, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_offline_bad_stored_xml, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_directed_presence_ignored, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_full_jid_held_while_loading, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_available_again_gets_offline, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
