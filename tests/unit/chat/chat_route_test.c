/* The router: each destination classified once, and each kind of stanza
 * to each destination handed to its feature or refused with the right
 * error (and only where RFC 6120 allows one). */
#include "chat_fixture.h"

/* Classifies a stanza addressed to `to` (NULL: no `to`). */
static enum chat_dest classify(struct fx *fx, const char *to)
{
    struct xmpp_stanza st = {.kind = XMPP_STANZA_MESSAGE};
    if (to) {
        assert_int_equal(xmpp_jid_parse(to, &st.to), PL_OK);
        st.has_to = 1;
    }
    enum chat_dest d = chat_route_classify(fx->cs, &st);
    if (to)
        xmpp_jid_free(&st.to);
    return d;
}

static void test_classify(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(classify(fx, NULL), CHAT_DEST_ACCOUNT);
    assert_int_equal(classify(fx, "bob@localhost"), CHAT_DEST_ACCOUNT);
    assert_int_equal(classify(fx, "Bob@LOCALHOST/phone"), CHAT_DEST_ACCOUNT);
    assert_int_equal(classify(fx, "localhost"), CHAT_DEST_SERVER);
    assert_int_equal(classify(fx, "localhost/admin"), CHAT_DEST_SERVER);
    assert_int_equal(classify(fx, "conference.localhost"), CHAT_DEST_ROOM_SERVICE);
    assert_int_equal(classify(fx, "group-1@conference.localhost/bob"),
                     CHAT_DEST_ROOM_SERVICE);
    assert_int_equal(classify(fx, "bob@example.org"), CHAT_DEST_REMOTE);
    /* A subdomain of ours that is not the room service is another domain. */
    assert_int_equal(classify(fx, "bob@upload.localhost"), CHAT_DEST_REMOTE);
}

/* Another domain: remote-server-not-found for a message or an iq request,
 * nothing for an error, an iq result or presence. */
static void test_remote_refused(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    assert_int_equal(fx_send(alice, "<iq to='example.org' type='get' id='q1'>"
                                    "<ping xmlns='urn:xmpp:ping'/></iq>"),
                     PL_OK);
    fx_expect_error(alice, "iq", "cancel", "remote-server-not-found");
    assert_int_equal(fx_send(alice, "<iq to='example.org' type='result' id='q2'/>"),
                     PL_OK);
    assert_int_equal(fx_send(alice, "<presence to='bob@example.org'/>"), PL_OK);
    assert_int_equal(fx_send(alice, "<message to='bob@example.org' type='error'/>"),
                     PL_OK);
    assert_int_equal(fx_unseen(alice), 0);
    fx_chat(alice, "bob@example.org", "x1", "far");
    fx_expect_error(alice, "message", "cancel", "remote-server-not-found");
    assert_int_equal(fx_count(fx, DB_JOB_MSG_STORE), 0);
}

/* The room service, until rooms exist: service-unavailable for messages
 * and iq requests alike, nothing stored. */
/* The room service gets every kind of stanza (chat_room*.c): its disco
 * is answered, a message to a room loads the room first and nothing is
 * stored as a direct message. */
static void test_room_service_routed(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    assert_int_equal(fx_send(alice,
                             "<iq to='conference.localhost' type='get' id='d1'>"
                             "<query xmlns='http://jabber.org/protocol/disco#info'/>"
                             "</iq>"),
                     PL_OK);
    struct xmpp_node *res = fx_next(alice, NULL);
    assert_string_equal(xmpp_node_attr(res, "type"), "result");
    assert_string_equal(xmpp_node_attr(res, "from"), "conference.localhost");
    xmpp_node_free(res);
    fx_chat(alice, "group-1@conference.localhost", "g1", "hello");
    assert_int_equal(fx_count(fx, DB_JOB_MSG_STORE), 0);
    assert_int_equal(fx_count(fx, DB_JOB_ROOM_LOAD), 1);
    /* no such room: the message is refused once it is known */
    fx_complete_all(fx, DB_JOB_ROOM_LOAD);
    fx_expect_error(alice, "message", "cancel", "item-not-found");
    assert_int_equal(fx_unseen(alice), 0);
}

/* An account: messages to the message feature (stored), iqs to a full JID
 * delivered to that session, presence without `to` to presence. */
static void test_account_dispatch(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_online(fx, "bob", "B", 0);
    fx_chat(alice, "BOB@localhost", "m1", "hi");
    assert_int_equal(fx_count(fx, DB_JOB_MSG_STORE), 1);
    fx_store_ok(fx, 3);
    expect_live(bob, 3);

    assert_int_equal(fx_send(alice, "<iq to='bob@localhost/B' type='get' id='v1'>"
                                    "<query xmlns='jabber:iq:version'/></iq>"),
                     PL_OK);
    assert_int_equal(fx_unseen(bob), 1);
    struct xmpp_node *iq = fx_next(bob, NULL);
    assert_string_equal(iq->name, "iq");
    assert_string_equal(xmpp_node_attr(iq, "from"), "alice@localhost/A");
    xmpp_node_free(iq);

    assert_int_equal(fx_send(alice, "<presence><show>away</show></presence>"), PL_OK);
    assert_int_equal(fx_count(fx, DB_JOB_PRESENCE), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_classify, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_remote_refused, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_room_service_routed, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_account_dispatch, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
