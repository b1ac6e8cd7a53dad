/* Subscription exchanges (chat_subscription.c): the pair read and the
 * checked write as jobs, what each side then gets (stanzas, pushes,
 * presence), a write that lost a race, an exchange that changes nothing, a
 * contact who blocks, and a roster remove. */
#include "chat_fixture.h"

#define L CHAT_SUB_LISTED

/* Completes the next pair read with these states (versions 5 and 6). */
static void complete_pair(struct fx *fx, unsigned a, unsigned b, int b_blocks_a)
{
    struct db_job *job = fx_take(fx, DB_JOB_ROSTER_PAIR, NULL);
    job->status = PL_OK;
    job->u.roster_pair.a.state = a;
    job->u.roster_pair.a.ver = a ? 5 : 0;
    job->u.roster_pair.a.name = strdup("Bee");
    job->u.roster_pair.a.groups = strdup("");
    job->u.roster_pair.b.state = b;
    job->u.roster_pair.b.ver = b ? 6 : 0;
    job->u.roster_pair.b_blocks_a = b_blocks_a;
    chat_server_complete(fx->cs, job);
}

static struct xmpp_node *next_named(struct fx_client *c, const char *name)
{
    struct xmpp_node *n = fx_next(c, NULL);
    assert_string_equal(n->name, name);
    return n;
}

static void interested(struct fx_client *c)
{
    ((struct chat_session *)xmpp_stream_user(c->s))->roster_interested = 1;
}

/* alice subscribes to bob: one read of the pair (the pair's shard), one
 * write with both new states and the kept request; then bob's resources
 * get the request and both get their pushes. */
static void test_subscribe_reads_writes_delivers(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_online(fx, "bob", "B", 0);
    interested(alice);
    interested(bob);
    assert_int_equal(fx_send(alice, "<presence to='bob@localhost/B' type='subscribe'>"
                                    "<status>hi</status></presence>"),
                     PL_OK);
    char *shard = NULL;
    struct db_job *pair = fx_take(fx, DB_JOB_ROSTER_PAIR, &shard);
    assert_string_equal(shard, "alice@localhost|bob@localhost");
    free(shard);
    assert_string_equal(pair->u.roster_pair.a_owner, "alice");
    assert_string_equal(pair->u.roster_pair.a_contact, "bob@localhost");
    assert_string_equal(pair->u.roster_pair.b_owner, "bob");
    assert_string_equal(pair->u.roster_pair.b_contact, "alice@localhost");
    pair->status = PL_OK;
    chat_server_complete(fx->cs, pair);

    struct db_job *w = fx_take(fx, DB_JOB_ROSTER_APPLY, &shard);
    assert_string_equal(shard, "alice@localhost|bob@localhost");
    free(shard);
    struct db_roster_apply_job *a = &w->u.roster_apply;
    assert_int_equal(a->a_old, 0);
    assert_int_equal(a->a_new, L | CHAT_SUB_PENDING_OUT);
    assert_int_equal(a->b_new, CHAT_SUB_PENDING_IN);
    assert_non_null(a->b_request);
    assert_non_null(strstr(a->b_request, "from='alice@localhost'"));
    assert_non_null(strstr(a->b_request, "<status>hi</status>"));
    assert_int_equal(fx_unseen(bob), 0); /* nothing before the write */
    w->status = PL_OK;
    a->applied = 1;
    a->a_ver = 3;
    a->b_ver = 4;
    chat_server_complete(fx->cs, w);

    struct xmpp_node *push = next_named(alice, "iq");
    struct xmpp_node *item =
        xmpp_node_child(xmpp_node_child(push, "query", "jabber:iq:roster"), "item", NULL);
    assert_string_equal(xmpp_node_attr(item, "ask"), "subscribe");
    xmpp_node_free(push);
    /* bob's row is a request, not an item: no push; the stanza instead,
     * from alice's bare JID to bob's. */
    struct xmpp_node *req = next_named(bob, "presence");
    assert_string_equal(xmpp_node_attr(req, "type"), "subscribe");
    assert_string_equal(xmpp_node_attr(req, "from"), "alice@localhost");
    assert_string_equal(xmpp_node_attr(req, "to"), "bob@localhost");
    xmpp_node_free(req);
    assert_int_equal(fx_unseen(bob), 0);
    struct chat_session *sb = xmpp_stream_user(bob->s);
    assert_int_equal(chat_roster_state(fx->cs, sb->user, "alice@localhost"),
                     CHAT_SUB_PENDING_IN);
}

/* bob approves: alice gets `subscribed`, both pushes, and bob's presence
 * starts flowing to alice. */
static void test_approval_shares_presence(void **state)
{
    struct fx *fx = *state;
    const char *ac[] = {"bob@localhost"};
    const unsigned as[] = {L | CHAT_SUB_PENDING_OUT};
    struct fx_client *alice = fx_login_with(fx, "alice", "A", ac, as, 1, NULL, 0);
    fx_available(fx, alice);
    const char *bc[] = {"alice@localhost"};
    const unsigned bs[] = {CHAT_SUB_PENDING_IN};
    struct fx_client *bob = fx_login_with(fx, "bob", "B", bc, bs, 1, NULL, 0);
    fx_available(fx, bob);
    interested(alice);
    interested(bob);
    assert_int_equal(fx_send(bob, "<presence to='alice@localhost' type='subscribed'/>"),
                     PL_OK);
    complete_pair(fx, CHAT_SUB_PENDING_IN, L | CHAT_SUB_PENDING_OUT, 0);
    struct db_job *w = fx_take(fx, DB_JOB_ROSTER_APPLY, NULL);
    assert_int_equal(w->u.roster_apply.a_new, L | CHAT_SUB_FROM);
    assert_int_equal(w->u.roster_apply.a_old, 5);
    assert_int_equal(w->u.roster_apply.b_new, L | CHAT_SUB_TO);
    assert_int_equal(w->u.roster_apply.b_old, 6);
    assert_null(w->u.roster_apply.b_request);
    w->status = PL_OK;
    w->u.roster_apply.applied = 1;
    chat_server_complete(fx->cs, w);

    struct xmpp_node *n = next_named(bob, "iq"); /* bob's push: from */
    xmpp_node_free(n);
    n = next_named(alice, "iq"); /* alice's push: to */
    struct xmpp_node *item =
        xmpp_node_child(xmpp_node_child(n, "query", "jabber:iq:roster"), "item", NULL);
    assert_string_equal(xmpp_node_attr(item, "subscription"), "to");
    xmpp_node_free(n);
    n = next_named(alice, "presence");
    assert_string_equal(xmpp_node_attr(n, "type"), "subscribed");
    assert_string_equal(xmpp_node_attr(n, "from"), "bob@localhost");
    xmpp_node_free(n);
    n = next_named(alice, "presence"); /* bob's current presence */
    assert_string_equal(xmpp_node_attr(n, "from"), "bob@localhost/B");
    assert_null(xmpp_node_attr(n, "type"));
    xmpp_node_free(n);
    /* From now on bob's broadcasts reach alice. */
    struct chat_session *sb = xmpp_stream_user(bob->s);
    assert_true(chat_roster_state(fx->cs, sb->user, "alice@localhost") & CHAT_SUB_FROM);
}

/* A write that finds a row changed since the read reads again and decides
 * from what is there now. */
static void test_lost_race_reads_again(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    fx_online(fx, "bob", "B", 0);
    assert_int_equal(fx_send(alice, "<presence to='bob@localhost' type='subscribe'/>"),
                     PL_OK);
    complete_pair(fx, 0, 0, 0);
    struct db_job *w = fx_take(fx, DB_JOB_ROSTER_APPLY, NULL);
    w->status = PL_OK;
    w->u.roster_apply.applied = 0;
    chat_server_complete(fx->cs, w);
    assert_int_equal(fx_count(fx, DB_JOB_ROSTER_PAIR), 1);
    /* Meanwhile bob pre-approved alice: the server answers for him. */
    complete_pair(fx, 0, L | CHAT_SUB_APPROVED, 0);
    w = fx_take(fx, DB_JOB_ROSTER_APPLY, NULL);
    assert_int_equal(w->u.roster_apply.a_new, L | CHAT_SUB_TO);
    assert_int_equal(w->u.roster_apply.b_new, L | CHAT_SUB_FROM);
    w->status = PL_OK;
    w->u.roster_apply.applied = 1;
    chat_server_complete(fx->cs, w);
    struct xmpp_node *n = next_named(alice, "presence");
    assert_string_equal(xmpp_node_attr(n, "type"), "subscribed");
    xmpp_node_free(n);
}

/* A request again while it is pending changes no row: no write, the
 * request is delivered again. A contact who blocks the user gets nothing
 * and only the user's row moves. */
static void test_no_change_and_blocked(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_online(fx, "bob", "B", 0);
    assert_int_equal(fx_send(alice, "<presence to='bob@localhost' type='subscribe'/>"),
                     PL_OK);
    complete_pair(fx, L | CHAT_SUB_PENDING_OUT, CHAT_SUB_PENDING_IN, 0);
    assert_int_equal(fx_count(fx, DB_JOB_ROSTER_APPLY), 0);
    struct xmpp_node *n = next_named(bob, "presence");
    assert_string_equal(xmpp_node_attr(n, "type"), "subscribe");
    xmpp_node_free(n);

    assert_int_equal(fx_send(alice, "<presence to='bob@localhost' type='subscribed'/>"),
                     PL_OK);
    complete_pair(fx, L | CHAT_SUB_PENDING_OUT, CHAT_SUB_PENDING_IN, 1);
    struct db_job *w = fx_take(fx, DB_JOB_ROSTER_APPLY, NULL);
    assert_int_equal(w->u.roster_apply.a_new,
                     L | CHAT_SUB_PENDING_OUT | CHAT_SUB_APPROVED);
    assert_int_equal(w->u.roster_apply.b_new, -1);
    w->status = PL_OK;
    w->u.roster_apply.applied = 1;
    chat_server_complete(fx->cs, w);
    assert_int_equal(fx_unseen(bob), 0);
}

/* A roster remove: the exchange cancels both ways, the contact hears
 * unsubscribe and unsubscribed, and the iq is answered after the write. */
static void test_remove(void **state)
{
    struct fx *fx = *state;
    const char *ac[] = {"bob@localhost"};
    const unsigned as[] = {L | CHAT_SUB_TO | CHAT_SUB_FROM};
    struct fx_client *alice = fx_login_with(fx, "alice", "A", ac, as, 1, NULL, 0);
    fx_available(fx, alice);
    struct fx_client *bob = fx_online(fx, "bob", "B", 0);
    assert_int_equal(fx_send(alice,
                             "<iq type='set' id='rm'><query xmlns='jabber:iq:roster'>"
                             "<item jid='bob@localhost' subscription='remove'/></query>"
                             "</iq>"),
                     PL_OK);
    complete_pair(fx, L | CHAT_SUB_TO | CHAT_SUB_FROM, L | CHAT_SUB_TO | CHAT_SUB_FROM,
                  0);
    struct db_job *w = fx_take(fx, DB_JOB_ROSTER_APPLY, NULL);
    assert_int_equal(w->u.roster_apply.a_new, 0);
    assert_int_equal(w->u.roster_apply.b_new, L);
    assert_int_equal(fx_unseen(alice), 0);
    w->status = PL_OK;
    w->u.roster_apply.applied = 1;
    chat_server_complete(fx->cs, w);
    struct xmpp_node *n = next_named(bob, "presence");
    assert_string_equal(xmpp_node_attr(n, "type"), "unsubscribe");
    xmpp_node_free(n);
    n = next_named(bob, "presence");
    assert_string_equal(xmpp_node_attr(n, "type"), "unsubscribed");
    xmpp_node_free(n);
    n = next_named(bob, "presence"); /* alice's presence stops */
    assert_string_equal(xmpp_node_attr(n, "type"), "unavailable");
    assert_string_equal(xmpp_node_attr(n, "from"), "alice@localhost/A");
    xmpp_node_free(n);
    n = next_named(alice, "presence"); /* and bob's to alice */
    assert_string_equal(xmpp_node_attr(n, "type"), "unavailable");
    assert_string_equal(xmpp_node_attr(n, "from"), "bob@localhost/B");
    xmpp_node_free(n);
    n = next_named(alice, "iq");
    assert_string_equal(xmpp_node_attr(n, "type"), "result");
    assert_string_equal(xmpp_node_attr(n, "id"), "rm");
    xmpp_node_free(n);
    struct chat_session *sa = xmpp_stream_user(alice->s);
    assert_int_equal(chat_roster_state(fx->cs, sa->user, "bob@localhost"), 0);
}

/* A failed job answers the remove it served; a user gone meanwhile is no
 * trouble. */
static void test_failures(void **state)
{
    struct fx *fx = *state;
    const char *ac[] = {"bob@localhost"};
    const unsigned as[] = {L};
    struct fx_client *alice = fx_login_with(fx, "alice", "A", ac, as, 1, NULL, 0);
    assert_int_equal(fx_send(alice,
                             "<iq type='set' id='rm'><query xmlns='jabber:iq:roster'>"
                             "<item jid='bob@localhost' subscription='remove'/></query>"
                             "</iq>"),
                     PL_OK);
    struct db_job *pair = fx_take(fx, DB_JOB_ROSTER_PAIR, NULL);
    pair->status = PL_EIO;
    chat_server_complete(fx->cs, pair);
    fx_expect_error(alice, "iq", "wait", "internal-server-error");

    assert_int_equal(fx_send(alice, "<presence to='bob@localhost' type='subscribe'/>"),
                     PL_OK);
    fx_disconnect(alice);
    complete_pair(fx, L, 0, 0);
    struct db_job *w = fx_take(fx, DB_JOB_ROSTER_APPLY, NULL);
    w->status = PL_OK;
    w->u.roster_apply.applied = 1;
    chat_server_complete(fx->cs, w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_subscribe_reads_writes_delivers, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_approval_shares_presence, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_lost_race_reads_again, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_no_change_and_blocked, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_remove, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_failures, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
