/* The iqs the server answers (ping, disco, session, roster) and the iqs it
 * routes between users' resources (RFC 6120 section 10.5.3). */
#include "chat_fixture.h"

/* The next frame is an iq result with this id from `from`. */
static struct xmpp_node *expect_result(struct fx_client *c, const char *id,
                                       const char *from)
{
    assert_int_equal(fx_unseen(c), 1);
    struct xmpp_node *r = fx_next(c, NULL);
    assert_string_equal(r->name, "iq");
    assert_string_equal(r->ns, XMPP_NS_CLIENT);
    assert_string_equal(xmpp_node_attr(r, "type"), "result");
    assert_string_equal(xmpp_node_attr(r, "id"), id);
    assert_string_equal(xmpp_node_attr(r, "from"), from);
    assert_string_equal(xmpp_node_attr(r, "to"), "alice@localhost/A");
    return r;
}

static void test_ping_server(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);

    assert_int_equal(fx_send(alice, "<iq type='get' id='p1' to='localhost'>"
                                    "<ping xmlns='urn:xmpp:ping'/></iq>"),
                     PL_OK);
    xmpp_node_free(expect_result(alice, "p1", "localhost"));

    /* Without `to`: for the account, which the server answers too. */
    assert_int_equal(
        fx_send(alice, "<iq type='get' id='p2'><ping xmlns='urn:xmpp:ping'/></iq>"),
        PL_OK);
    /* RFC 6120 section 10.3.3: the answer comes from the account. */
    xmpp_node_free(expect_result(alice, "p2", "alice@localhost"));
    assert_int_equal(fx->njobs, 0);
}

static int has_feature(const struct xmpp_node *q, const char *var)
{
    for (const struct xmpp_node *c = q->children; c; c = c->next)
        if (c->name && strcmp(c->name, "feature") == 0 && xmpp_node_attr(c, "var") &&
            strcmp(xmpp_node_attr(c, "var"), var) == 0)
            return 1;
    return 0;
}

static void test_disco_info_server(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);

    assert_int_equal(fx_send(alice, "<iq type='get' id='d1' to='localhost'>"
                                    "<query xmlns='http://jabber.org/protocol/"
                                    "disco#info'/></iq>"),
                     PL_OK);
    struct xmpp_node *r = expect_result(alice, "d1", "localhost");
    struct xmpp_node *q = xmpp_node_child(r, "query", XMPP_NS_DISCO_INFO);
    assert_non_null(q);
    struct xmpp_node *id = xmpp_node_child(q, "identity", XMPP_NS_DISCO_INFO);
    assert_non_null(id);
    assert_string_equal(xmpp_node_attr(id, "category"), "server");
    assert_string_equal(xmpp_node_attr(id, "type"), "im");
    assert_true(has_feature(q, XMPP_NS_DISCO_INFO));
    assert_true(has_feature(q, XMPP_NS_PING));
    assert_true(has_feature(q, XMPP_NS_RECEIPTS));
    assert_true(has_feature(q, XMPP_NS_SID));
    /* Nothing that is not implemented. */
    assert_false(has_feature(q, "http://jabber.org/protocol/muc"));
    assert_false(has_feature(q, "urn:xmpp:mam:2"));
    xmpp_node_free(r);
}

/* disco#info on an account's bare JID: the server answers for it. */
static void test_disco_info_account(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);

    assert_int_equal(fx_send(alice, "<iq type='get' id='d2' to='bob@localhost'>"
                                    "<query xmlns='http://jabber.org/protocol/"
                                    "disco#info'/></iq>"),
                     PL_OK);
    assert_int_equal(fx_unseen(alice), 1);
    struct xmpp_node *r = fx_next(alice, NULL);
    assert_string_equal(xmpp_node_attr(r, "type"), "result");
    struct xmpp_node *q = xmpp_node_child(r, "query", XMPP_NS_DISCO_INFO);
    assert_non_null(q);
    struct xmpp_node *id = xmpp_node_child(q, "identity", XMPP_NS_DISCO_INFO);
    assert_non_null(id);
    assert_string_equal(xmpp_node_attr(id, "category"), "account");
    assert_false(has_feature(q, XMPP_NS_PING));
    xmpp_node_free(r);
}

static void test_disco_items_and_roster(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);

    assert_int_equal(fx_send(alice, "<iq type='get' id='i1' to='localhost'>"
                                    "<query xmlns='http://jabber.org/protocol/"
                                    "disco#items'/></iq>"),
                     PL_OK);
    struct xmpp_node *r = expect_result(alice, "i1", "localhost");
    struct xmpp_node *q = xmpp_node_child(r, "query", XMPP_NS_DISCO_ITEMS);
    assert_non_null(q);
    assert_null(q->children);
    xmpp_node_free(r);

    /* The roster is read from the store (chat_roster_test has the rest). */
    assert_int_equal(fx_send(alice, "<iq type='get' id='r1'>"
                                    "<query xmlns='jabber:iq:roster'/></iq>"),
                     PL_OK);
    assert_int_equal(fx_unseen(alice), 0);
    fx_rosters_empty(fx);
    r = expect_result(alice, "r1", "alice@localhost");
    q = xmpp_node_child(r, "query", "jabber:iq:roster");
    assert_non_null(q);
    assert_string_equal(xmpp_node_attr(q, "ver"), "0");
    assert_null(q->children);
    xmpp_node_free(r);
}

static void test_unknown_namespace(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);

    assert_int_equal(fx_send(alice, "<iq type='get' id='u1' to='localhost'>"
                                    "<query xmlns='urn:example:nothing'/></iq>"),
                     PL_OK);
    assert_int_equal(fx_unseen(alice), 1);
    struct xmpp_node *e = fx_next(alice, NULL);
    fx_assert_stanza_error(e, "iq", "cancel", "service-unavailable");
    assert_string_equal(xmpp_node_attr(e, "id"), "u1");
    xmpp_node_free(e);

    /* A ping set is not a ping. */
    assert_int_equal(fx_send(alice, "<iq type='set' id='u2' to='localhost'>"
                                    "<ping xmlns='urn:xmpp:ping'/></iq>"),
                     PL_OK);
    fx_expect_error(alice, "iq", "cancel", "service-unavailable");

    /* A result or error to the server is not answered. */
    assert_int_equal(fx_send(alice, "<iq type='result' id='u3' to='localhost'/>"), PL_OK);
    assert_int_equal(fx_unseen(alice), 0);
}

static void test_iq_other_domains(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);

    assert_int_equal(fx_send(alice, "<iq type='get' id='o1' to='example.org'>"
                                    "<ping xmlns='urn:xmpp:ping'/></iq>"),
                     PL_OK);
    fx_expect_error(alice, "iq", "cancel", "remote-server-not-found");
    /* the room service answers for itself (chat_room.c) */
    assert_int_equal(fx_send(alice, "<iq type='get' id='o2' to='conference.localhost'>"
                                    "<query xmlns='jabber:iq:version'/></iq>"),
                     PL_OK);
    fx_expect_error(alice, "iq", "cancel", "service-unavailable");
}

/* An iq to another user's full JID is routed, with the sender's full JID
 * stamped; the answer goes back the same way. */
static void test_iq_routed_to_full_jid(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_online(fx, "bob", "B", -1);

    assert_int_equal(fx_send(alice, "<iq type='get' id='v1' to='bob@localhost/B'>"
                                    "<query xmlns='jabber:iq:version'/></iq>"),
                     PL_OK);
    assert_int_equal(fx_unseen(alice), 0);
    assert_int_equal(fx_unseen(bob), 1);
    uint64_t tag = 99;
    struct xmpp_node *iq = fx_next(bob, &tag);
    assert_int_equal(tag, 0);
    assert_string_equal(iq->name, "iq");
    assert_string_equal(xmpp_node_attr(iq, "type"), "get");
    assert_string_equal(xmpp_node_attr(iq, "id"), "v1");
    assert_string_equal(xmpp_node_attr(iq, "from"), "alice@localhost/A");
    assert_string_equal(xmpp_node_attr(iq, "to"), "bob@localhost/B");
    assert_non_null(xmpp_node_child(iq, "query", "jabber:iq:version"));
    xmpp_node_free(iq);

    assert_int_equal(fx_send(bob, "<iq type='result' id='v1' to='alice@localhost/A'>"
                                  "<query xmlns='jabber:iq:version'><name>x</name>"
                                  "</query></iq>"),
                     PL_OK);
    assert_int_equal(fx_unseen(alice), 1);
    iq = fx_next(alice, NULL);
    assert_string_equal(xmpp_node_attr(iq, "type"), "result");
    assert_string_equal(xmpp_node_attr(iq, "from"), "bob@localhost/B");
    xmpp_node_free(iq);
    assert_int_equal(fx->njobs, 0);
}

/* A bound resource that has sent no presence still gets iqs. */
static void test_iq_to_resource_without_presence(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_login(fx, "bob", "quiet");

    assert_int_equal(fx_send(alice, "<iq type='get' id='q1' to='bob@localhost/quiet'>"
                                    "<ping xmlns='urn:xmpp:ping'/></iq>"),
                     PL_OK);
    assert_int_equal(fx_unseen(bob), 1);
    xmpp_node_free(fx_next(bob, NULL));
}

static void test_iq_to_missing_resource(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_online(fx, "bob", "B", 0);

    assert_int_equal(fx_send(alice, "<iq type='get' id='m1' to='bob@localhost/gone'>"
                                    "<ping xmlns='urn:xmpp:ping'/></iq>"),
                     PL_OK);
    assert_int_equal(fx_unseen(bob), 0);
    assert_int_equal(fx_unseen(alice), 1);
    struct xmpp_node *e = fx_next(alice, NULL);
    fx_assert_stanza_error(e, "iq", "cancel", "service-unavailable");
    assert_string_equal(xmpp_node_attr(e, "from"), "bob@localhost/gone");
    assert_string_equal(xmpp_node_attr(e, "id"), "m1");
    xmpp_node_free(e);

    /* A user who is not online at all. */
    assert_int_equal(fx_send(alice, "<iq type='get' id='m2' to='carol@localhost/x'>"
                                    "<ping xmlns='urn:xmpp:ping'/></iq>"),
                     PL_OK);
    fx_expect_error(alice, "iq", "cancel", "service-unavailable");

    /* A result to a missing resource is dropped. */
    assert_int_equal(
        fx_send(alice, "<iq type='result' id='m3' to='bob@localhost/gone'/>"), PL_OK);
    assert_int_equal(fx_unseen(alice), 0);
    assert_int_equal(fx_unseen(bob), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ping_server, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_disco_info_server, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_disco_info_account, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_disco_items_and_roster, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_namespace, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_iq_other_domains, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_iq_routed_to_full_jid, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_iq_to_resource_without_presence, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_iq_to_missing_resource, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
