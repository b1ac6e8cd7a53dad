/* Carbons (chat_carbons.c): which messages are copied, the copies that
 * reach a user's other enabled resources (received and sent), their tag
 * kind that moves no delivery state, and forged wrappers. */
#include "chat_fixture.h"

#define NS_CARBONS "urn:xmpp:carbons:2"

static int eligible(struct fx *fx, const char *xml)
{
    struct xmpp_node *n = NULL;
    enum xmpp_parse_error why;
    assert_int_equal(xmpp_parse(fx->check, xml, strlen(xml), XMPP_NS_CLIENT, &n, &why),
                     PL_OK);
    int e = chat_carbons_eligible(n);
    xmpp_node_free(n);
    return e;
}

/* XEP-0280 section 6.1 and the hints of section 7. */
static void test_eligible(void **state)
{
    struct fx *fx = *state;
    assert_true(eligible(fx, "<message type='chat'><body>x</body></message>"));
    assert_true(eligible(fx,
                         "<message type='chat'><composing "
                         "xmlns='http://jabber.org/protocol/chatstates'/></message>"));
    assert_true(eligible(fx, "<message><body>x</body></message>"));
    assert_true(eligible(fx, "<message type='normal'><body>x</body></message>"));
    assert_false(eligible(fx, "<message type='normal'/>"));
    assert_false(eligible(fx, "<message type='headline'><body>x</body></message>"));
    assert_false(eligible(fx, "<message type='error'><body>x</body></message>"));
    assert_false(eligible(fx, "<message type='groupchat'><body>x</body></message>"));
    assert_false(eligible(fx, "<message type='chat'><body>x</body>"
                              "<private xmlns='urn:xmpp:carbons:2'/></message>"));
    assert_false(eligible(fx, "<message type='chat'><body>x</body>"
                              "<no-copy xmlns='urn:xmpp:hints'/></message>"));
}

static void enable(struct fx_client *c)
{
    assert_int_equal(fx_send(c,
                             "<iq type='set' id='c'><enable xmlns='urn:xmpp:carbons:2'/>"
                             "</iq>"),
                     PL_OK);
    struct xmpp_node *r = fx_next(c, NULL);
    assert_string_equal(xmpp_node_attr(r, "type"), "result");
    xmpp_node_free(r);
}

/* The next frame is a carbon of `kind`; returns its tag. */
static uint64_t expect_carbon(struct fx_client *c, const char *kind, const char *body)
{
    uint64_t tag = 0;
    struct xmpp_node *m = fx_next(c, &tag);
    assert_string_equal(m->name, "message");
    assert_string_equal(xmpp_node_attr(m, "from"), "alice@localhost");
    struct xmpp_node *k = xmpp_node_child(m, kind, NS_CARBONS);
    assert_non_null(k);
    struct xmpp_node *fwd = xmpp_node_child(k, "forwarded", "urn:xmpp:forward:0");
    struct xmpp_node *inner = xmpp_node_child(fwd, "message", XMPP_NS_CLIENT);
    assert_non_null(inner);
    char *text = xmpp_node_text(xmpp_node_child(inner, "body", XMPP_NS_CLIENT));
    assert_string_equal(text, body);
    free(text);
    assert_non_null(xmpp_node_child(inner, "stanza-id", XMPP_NS_SID));
    xmpp_node_free(m);
    return tag;
}

/* A stored message: the target gets it, the other enabled resource a
 * `received` copy (tag CARBON: writing it marks nothing delivered); the
 * sender's other enabled resource a `sent` copy; a resource that did not
 * enable carbons, nothing. */
static void test_received_and_sent(void **state)
{
    struct fx *fx = *state;
    struct fx_client *phone = fx_online(fx, "alice", "phone", 5);
    struct fx_client *desk = fx_online(fx, "alice", "desk", 1);
    struct fx_client *tv = fx_online(fx, "alice", "tv", 0);
    struct fx_client *bob = fx_online(fx, "bob", "B", 0);
    struct fx_client *bob2 = fx_online(fx, "bob", "B2", -1);
    enable(phone);
    enable(desk);
    enable(bob2);

    fx_chat(bob, "alice@localhost", "m1", "hello");
    fx_store_ok(fx, 50);
    expect_live(phone, 50);
    uint64_t tag = expect_carbon(desk, "received", "hello");
    assert_int_equal(chat_tag_kind(tag), CHAT_TAG_CARBON);
    xmpp_stream_written(desk->s, tag);
    assert_int_equal(fx_count(fx, DB_JOB_MARK_DELIVERED), 0);
    assert_int_equal(fx_unseen(tv), 0);
    struct xmpp_node *sent = fx_next(bob2, NULL);
    assert_non_null(xmpp_node_child(sent, "sent", NS_CARBONS));
    assert_string_equal(xmpp_node_attr(sent, "from"), "bob@localhost");
    xmpp_node_free(sent);
    assert_int_equal(fx_unseen(bob), 0); /* no copy of its own message */

    /* Live (a chat state): copies too, never stored. */
    assert_int_equal(fx_send(desk,
                             "<message to='bob@localhost/B' type='chat'><gone "
                             "xmlns='http://jabber.org/protocol/chatstates'/></message>"),
                     PL_OK);
    xmpp_node_free(fx_next(bob, NULL));
    struct xmpp_node *c = fx_next(phone, NULL);
    assert_non_null(xmpp_node_child(c, "sent", NS_CARBONS));
    xmpp_node_free(c);
    c = fx_next(bob2, NULL);
    assert_non_null(xmpp_node_child(c, "received", NS_CARBONS));
    xmpp_node_free(c);
    assert_int_equal(fx_unseen(desk), 0);

    /* Disabled: no more copies. */
    assert_int_equal(fx_send(desk,
                             "<iq type='set' id='d'><disable xmlns='urn:xmpp:carbons:2'/>"
                             "</iq>"),
                     PL_OK);
    xmpp_node_free(fx_next(desk, NULL));
    fx_chat(bob, "alice@localhost/phone", "m2", "phone only");
    fx_store_ok(fx, 51);
    expect_live(phone, 51);
    assert_int_equal(fx_unseen(desk), 0);
}

/* A wrapper a client puts in is removed: the message goes on as a plain
 * one from its real sender. */
static void test_forged_wrapper_removed(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *eve = fx_online(fx, "eve", "E", 0);
    assert_int_equal(fx_send(eve,
                             "<message to='alice@localhost' type='chat'><received "
                             "xmlns='urn:xmpp:carbons:2'><forwarded "
                             "xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' "
                             "from='bob@localhost/B' type='chat'><body>fake</body>"
                             "</message></forwarded></received></message>"),
                     PL_OK);
    struct xmpp_node *m = fx_next(alice, NULL);
    assert_string_equal(xmpp_node_attr(m, "from"), "eve@localhost/E");
    assert_null(xmpp_node_child(m, "received", NS_CARBONS));
    xmpp_node_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_eligible, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_received_and_sent, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_forged_wrapper_removed, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
