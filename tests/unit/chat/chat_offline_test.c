/* Offline delivery: stored messages first and in order with their delay
 * and stanza id, live copies held meanwhile (within a bound), loads in
 * batches, failures and sessions that go away. */
#include "chat_fixture.h"

/* Stored messages first, in order, then the live ones held meanwhile,
 * without sending a message twice; afterwards live messages go at once. */
static void test_offline_order(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_login(fx, "bob", "B");

    assert_int_equal(fx_send(bob, "<presence/>"), PL_OK);
    fx_skip_presence(fx); /* the echo to the user's resources */
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
    fx_skip_presence(fx); /* the echo to the user's resources */
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
    fx_skip_presence(fx); /* the echo to the user's resources */
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
    fx_skip_presence(fx); /* the echo to the user's resources */
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
    fx_skip_presence(fx); /* the echo to the user's resources */
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
    fx_skip_presence(fx); /* the echo to the user's resources */
    fx_complete_all(fx, DB_JOB_PRESENCE);
    fx_chat(alice, "bob@localhost", "s8", "while away");
    fx_store_ok(fx, 8);
    assert_int_equal(fx_unseen(bob), 0); /* stays stored */

    assert_int_equal(fx_send(bob, "<presence/>"), PL_OK);
    fx_skip_presence(fx); /* the echo to the user's resources */
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
    fx_skip_presence(fx); /* the echo to the user's resources */
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

/* Defect: live messages arriving while the backlog loads were held with no
 * bound (a reader that stopped reading grew the server by the size of
 * everything sent to it). Now what one session holds stays within the send
 * window; past it nothing more is held, and since all of it is still
 * `stored`, one more load after the last batch brings it back in order. */
static void test_held_while_loading_is_bounded(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_login(fx, "bob", "B");
    assert_int_equal(fx_send(bob, "<presence/>"), PL_OK);
    fx_skip_presence(fx); /* the echo to the user's resources */
    fx_complete_all(fx, DB_JOB_PRESENCE);
    struct db_job *load = fx_take(fx, DB_JOB_OFFLINE_LOAD, NULL);
    struct chat_session *s = xmpp_stream_user(bob->s);

    char body[201];
    memset(body, 'x', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    for (int64_t id = 10; id < 60; id++) { /* 50 x ~300 bytes = 15 KB */
        char sid[16];
        snprintf(sid, sizeof(sid), "s%lld", (long long)id);
        fx_chat(alice, "bob@localhost", sid, body);
        fx_store_ok(fx, id);
        assert_true(s->held_bytes <= FX_SEND_WINDOW);
    }
    assert_int_equal(fx_unseen(bob), 0);
    assert_true(s->missed);
    assert_null(s->held_head);

    /* The backlog (ids 5 and 7) goes out; then the load after 7 fetches
     * what was not held, from the database, in order. */
    int64_t first[] = {5, 7};
    complete_load(fx, load, first, 2);
    expect_stored(bob, 5);
    expect_stored(bob, 7);
    assert_int_equal(fx_count(fx, DB_JOB_OFFLINE_LOAD), 1);
    load = fx_take(fx, DB_JOB_OFFLINE_LOAD, NULL);
    assert_int_equal(load->u.offline.after_id, 7);
    int64_t rest[] = {10, 11, 12};
    complete_load(fx, load, rest, 3);
    expect_stored(bob, 10);
    expect_stored(bob, 11);
    expect_stored(bob, 12);
    /* That load was short and nothing was missed meanwhile: live now. */
    assert_int_equal(fx_count(fx, DB_JOB_OFFLINE_LOAD), 0);
    fx_chat(alice, "bob@localhost", "s99", "now live");
    fx_store_ok(fx, 99);
    expect_live(bob, 99);
}

/* Held messages are references to the frame the other recipients got: a
 * held message costs its bytes once, however many sessions hold it. */
static void test_held_shares_the_frame(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *b1 = fx_online(fx, "bob", "b1", 0);
    struct fx_client *b2 = fx_login(fx, "bob", "b2");
    assert_int_equal(fx_send(b2, "<presence/>"), PL_OK);
    fx_skip_presence(fx); /* the echo to the user's resources */
    fx_complete_all(fx, DB_JOB_PRESENCE);
    struct db_job *load = fx_take(fx, DB_JOB_OFFLINE_LOAD, NULL);

    fx_chat(alice, "bob@localhost", "s8", "to both");
    fx_store_ok(fx, 8);
    assert_int_equal(fx_unseen(b1), 1);
    assert_int_equal(fx_unseen(b2), 0); /* held */
    struct chat_session *s2 = xmpp_stream_user(b2->s);
    assert_non_null(s2->held_head);
    const void *shared = b1->frames[b1->seen].shared;
    assert_ptr_equal(s2->held_head->frame, shared);
    expect_live(b1, 8);

    complete_load(fx, load, NULL, 0);
    assert_int_equal(fx_unseen(b2), 1);
    assert_ptr_equal(b2->frames[b2->seen].shared, shared);
    expect_live(b2, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_offline_order, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_offline_batches, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_offline_load_failure, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_offline_load_session_gone, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_offline_bad_stored_xml, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_full_jid_held_while_loading, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_available_again_gets_offline, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_held_while_loading_is_bounded, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_held_shares_the_frame, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
