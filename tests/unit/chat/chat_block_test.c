/* Blocking (chat_block.c): how a blocklist matches a JID, the iqs as jobs,
 * their pushes and results, the presence that stops, and the checks on
 * messages and iqs. */
#include "chat_fixture.h"

#define L CHAT_SUB_LISTED
#define NS_BLOCKING "urn:xmpp:blocking"

/* XEP-0191 matches as XEP-0016: full JID, bare JID, domain/resource,
 * domain. */
static void test_matching(void **state)
{
    struct fx *fx = *state;
    const char *blocked[] = {"eve@localhost", "mal@evil.example/phone", "spam.example",
                             "bots.example/b1"};
    struct fx_client *c = fx_login_with(fx, "alice", "A", NULL, NULL, 0, blocked, 4);
    struct chat_user *u = ((struct chat_session *)xmpp_stream_user(c->s))->user;
    assert_true(chat_block_blocks(u, "eve@localhost"));
    assert_true(chat_block_blocks(u, "eve@localhost/any"));
    assert_false(chat_block_blocks(u, "eve2@localhost"));
    assert_true(chat_block_blocks(u, "mal@evil.example/phone"));
    assert_false(chat_block_blocks(u, "mal@evil.example/desk"));
    assert_false(chat_block_blocks(u, "mal@evil.example"));
    assert_true(chat_block_blocks(u, "anyone@spam.example/x"));
    assert_true(chat_block_blocks(u, "spam.example"));
    assert_true(chat_block_blocks(u, "x@bots.example/b1"));
    assert_false(chat_block_blocks(u, "x@bots.example/b2"));
    assert_false(
        chat_block_blocks(u, "bob@localhost/eve@localhost")); /* '@' in a resource */
    assert_false(chat_block_blocks(NULL, "eve@localhost"));
    assert_true(chat_block_between(u, "alice@localhost/A", NULL, "eve@localhost"));
}

static struct xmpp_node *next_named(struct fx_client *c, const char *name)
{
    struct xmpp_node *n = fx_next(c, NULL);
    assert_string_equal(n->name, name);
    return n;
}

/* get lists the map and makes the resource interested; block is one job
 * with the normalised JIDs; once done, the map follows, the interested
 * resources get the push and the client its result; unblock all. */
static void test_iqs_and_pushes(void **state)
{
    struct fx *fx = *state;
    const char *blocked[] = {"old@localhost"};
    struct fx_client *a1 = fx_login_with(fx, "alice", "A1", NULL, NULL, 0, blocked, 1);
    struct fx_client *a2 = fx_login(fx, "alice", "A2");
    struct fx_client *a3 = fx_login(fx, "alice", "A3");
    assert_int_equal(
        fx_send(a2, "<iq type='get' id='g'><blocklist xmlns='urn:xmpp:blocking'/>"
                    "</iq>"),
        PL_OK);
    struct xmpp_node *r = next_named(a2, "iq");
    struct xmpp_node *list = xmpp_node_child(r, "blocklist", NS_BLOCKING);
    assert_int_equal(fx_count_children(list, "item", NULL), 1);
    xmpp_node_free(r);

    assert_int_equal(fx_send(a1, "<iq type='set' id='b'><block xmlns='urn:xmpp:blocking'>"
                                 "<item jid='Eve@LocalHost'/><item jid='spam.example'/>"
                                 "<item jid='eve@localhost'/></block></iq>"),
                     PL_OK);
    char *shard = NULL;
    struct db_job *job = fx_take(fx, DB_JOB_BLOCK_SET, &shard);
    assert_string_equal(shard, "alice@localhost");
    free(shard);
    assert_string_equal(job->u.block_set.owner, "alice");
    assert_int_equal(job->u.block_set.op, DB_BLOCK_ADD);
    assert_string_equal(job->u.block_set.jids, "eve@localhost\x1f"
                                               "spam.example");
    assert_int_equal(fx_unseen(a1), 0);
    job->status = PL_OK;
    chat_server_complete(fx->cs, job);
    struct chat_user *u = ((struct chat_session *)xmpp_stream_user(a1->s))->user;
    assert_true(chat_block_blocks(u, "eve@localhost/x"));
    r = next_named(a1, "iq");
    assert_string_equal(xmpp_node_attr(r, "type"), "result");
    xmpp_node_free(r);
    struct xmpp_node *push = next_named(a2, "iq");
    assert_string_equal(xmpp_node_attr(push, "type"), "set");
    assert_int_equal(
        fx_count_children(xmpp_node_child(push, "block", NS_BLOCKING), "item", NULL), 2);
    xmpp_node_free(push);
    assert_int_equal(fx_unseen(a3), 0); /* never asked */

    assert_int_equal(fx_send(a1,
                             "<iq type='set' id='u'><unblock xmlns='urn:xmpp:blocking'/>"
                             "</iq>"),
                     PL_OK);
    job = fx_take(fx, DB_JOB_BLOCK_SET, NULL);
    assert_int_equal(job->u.block_set.op, DB_BLOCK_REMOVE_ALL);
    job->status = PL_OK;
    chat_server_complete(fx->cs, job);
    assert_int_equal(u->blocked.count, 0);
    fx_skip_all(a1);
    push = next_named(a2, "iq");
    struct xmpp_node *un = xmpp_node_child(push, "unblock", NS_BLOCKING);
    assert_non_null(un);
    assert_null(un->children); /* everything */
    xmpp_node_free(push);

    /* A failed change answers the iq and changes nothing. */
    assert_int_equal(fx_send(a1, "<iq type='set' id='f'><block xmlns='urn:xmpp:blocking'>"
                                 "<item jid='x@localhost'/></block></iq>"),
                     PL_OK);
    job = fx_take(fx, DB_JOB_BLOCK_SET, NULL);
    job->status = PL_EIO;
    chat_server_complete(fx->cs, job);
    fx_expect_error(a1, "iq", "wait", "internal-server-error");
    assert_false(chat_block_blocks(u, "x@localhost"));
}

/* Blocking a contact who gets the user's presence sends them unavailable;
 * unblocking shares it again. */
static void test_presence_stops_and_starts(void **state)
{
    struct fx *fx = *state;
    const char *ac[] = {"bob@localhost"};
    const unsigned as[] = {L | CHAT_SUB_FROM};
    struct fx_client *alice = fx_login_with(fx, "alice", "A", ac, as, 1, NULL, 0);
    fx_available(fx, alice);
    struct fx_client *bob = fx_online(fx, "bob", "B", 0);
    assert_int_equal(fx_send(alice,
                             "<iq type='set' id='b'><block xmlns='urn:xmpp:blocking'>"
                             "<item jid='bob@localhost'/></block></iq>"),
                     PL_OK);
    struct db_job *job = fx_take(fx, DB_JOB_BLOCK_SET, NULL);
    job->status = PL_OK;
    chat_server_complete(fx->cs, job);
    struct xmpp_node *p = next_named(bob, "presence");
    assert_string_equal(xmpp_node_attr(p, "type"), "unavailable");
    xmpp_node_free(p);
    fx_skip_all(alice);
    assert_int_equal(fx_send(alice,
                             "<iq type='set' id='u'><unblock xmlns='urn:xmpp:blocking'>"
                             "<item jid='bob@localhost'/></unblock></iq>"),
                     PL_OK);
    job = fx_take(fx, DB_JOB_BLOCK_SET, NULL);
    assert_int_equal(job->u.block_set.op, DB_BLOCK_REMOVE);
    job->status = PL_OK;
    chat_server_complete(fx->cs, job);
    p = next_named(bob, "presence");
    assert_null(xmpp_node_attr(p, "type"));
    assert_string_equal(xmpp_node_attr(p, "from"), "alice@localhost/A");
    xmpp_node_free(p);
}

/* Messages and iqs: to someone blocked, not-acceptable with <blocked/>;
 * from someone blocked, service-unavailable (and nothing stored); a store
 * that refused (id 0) says the same. */
static void test_messages_and_iqs(void **state)
{
    struct fx *fx = *state;
    const char *blocked[] = {"eve@localhost"};
    struct fx_client *alice = fx_login_with(fx, "alice", "A", NULL, NULL, 0, blocked, 1);
    fx_available(fx, alice);
    struct fx_client *eve = fx_online(fx, "eve", "E", 0);

    fx_chat(alice, "eve@localhost", "a1", "hi");
    struct xmpp_node *e = fx_next(alice, NULL);
    fx_assert_stanza_error(e, "message", "cancel", "not-acceptable");
    assert_non_null(xmpp_node_child(xmpp_node_child(e, "error", NULL), "blocked",
                                    "urn:xmpp:blocking:errors"));
    xmpp_node_free(e);
    fx_chat(eve, "alice@localhost", "e1", "let me in");
    fx_expect_error(eve, "message", "cancel", "service-unavailable");
    assert_int_equal(fx_count(fx, DB_JOB_MSG_STORE), 0);
    assert_int_equal(fx_send(eve, "<iq type='get' id='i1' to='alice@localhost/A'>"
                                  "<ping xmlns='urn:xmpp:ping'/></iq>"),
                     PL_OK);
    fx_expect_error(eve, "iq", "cancel", "service-unavailable");
    assert_int_equal(fx_send(alice, "<iq type='get' id='i2' to='eve@localhost/E'>"
                                    "<ping xmlns='urn:xmpp:ping'/></iq>"),
                     PL_OK);
    fx_expect_error(alice, "iq", "cancel", "not-acceptable");
    assert_int_equal(fx_unseen(alice), 0);

    /* Offline, the store is the one to refuse. */
    struct fx_client *bob = fx_online(fx, "bob", "B", 0);
    fx_chat(bob, "carol@localhost", "b1", "are you there?");
    struct db_job *job = fx_take(fx, DB_JOB_MSG_STORE, NULL);
    job->status = PL_OK;
    job->u.msg.id = 0;
    chat_server_complete(fx->cs, job);
    fx_expect_error(bob, "message", "cancel", "service-unavailable");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_matching, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_iqs_and_pushes, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_presence_stops_and_starts, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_messages_and_iqs, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
