/* Rosters (chat_roster.c): stanzas that wait for the load, the get and
 * its version, sets and their pushes, loads that raced a change, and the
 * team roster's view of the maps. */
#include "chat_fixture.h"

#define L CHAT_SUB_LISTED

static struct xmpp_node *next_iq(struct fx_client *c, const char *type)
{
    struct xmpp_node *n = fx_next(c, NULL);
    assert_string_equal(n->name, "iq");
    assert_string_equal(xmpp_node_attr(n, "type"), type);
    return n;
}

/* Whatever the user sends before the roster is loaded waits for it, in
 * order, and is handled once it is in. */
static void test_stanzas_wait_for_the_load(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_login_raw(fx, "bob", "B");
    fx_complete_all(fx, DB_JOB_USER_LOGIN);
    fx_complete_all(fx, DB_JOB_PRESENCE);
    fx_chat(bob, "alice@localhost", "w1", "early");
    assert_int_equal(fx_send(bob, "<presence/>"), PL_OK);
    assert_int_equal(
        fx_send(bob, "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>"), PL_OK);
    assert_int_equal(fx_count(fx, DB_JOB_MSG_STORE), 0);
    assert_int_equal(fx_count(fx, DB_JOB_PRESENCE), 0);
    assert_int_equal(fx_unseen(bob), 0);

    fx_load_roster(fx, "bob", NULL, NULL, 0, NULL, 0);
    assert_int_equal(fx_count(fx, DB_JOB_MSG_STORE), 1);
    assert_int_equal(fx_count(fx, DB_JOB_PRESENCE), 1);
    fx_skip_presence(fx); /* bob's own presence comes back to him */
    struct xmpp_node *pong = next_iq(bob, "result");
    assert_string_equal(xmpp_node_attr(pong, "id"), "p");
    xmpp_node_free(pong);
    fx_store_ok(fx, 40);
    expect_live(alice, 40);

    /* A second session of a user whose roster is in waits for nothing. */
    struct fx_client *b2 = fx_login_raw(fx, "bob", "B2");
    assert_int_equal(fx_count(fx, DB_JOB_ROSTER_LOAD), 0);
    fx_chat(b2, "alice@localhost", "w2", "at once");
    assert_int_equal(fx_count(fx, DB_JOB_MSG_STORE), 1);
}

/* The get lists what is in the roster (not a pending request), with name,
 * groups, subscription, ask and approved; the client's current version
 * gets an empty result. The resource becomes interested. */
static void test_get_and_version(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    assert_int_equal(fx_send(alice,
                             "<iq type='get' id='r1'><query xmlns='jabber:iq:roster' "
                             "ver='3'/></iq>"),
                     PL_OK);
    char *shard = NULL;
    struct db_job *job = fx_take(fx, DB_JOB_ROSTER_LOAD, &shard);
    assert_string_equal(shard, "alice@localhost");
    free(shard);
    job->status = PL_OK;
    job->u.roster_load.ver = 9;
    job->u.roster_load.count = 3;
    job->u.roster_load.items = calloc(3, sizeof(*job->u.roster_load.items));
    struct db_roster_item *it = job->u.roster_load.items;
    it[0].jid = strdup("bob@localhost");
    it[0].name = strdup("Bob");
    it[0].groups = strdup("Work\x1f"
                          "Friends");
    it[0].state = L | CHAT_SUB_FROM | CHAT_SUB_PENDING_OUT;
    it[1].jid = strdup("carol@localhost");
    it[1].groups = strdup("");
    it[1].state = CHAT_SUB_PENDING_IN; /* a request, not an item */
    it[2].jid = strdup("dave@localhost");
    it[2].groups = strdup("");
    it[2].state = L | CHAT_SUB_APPROVED;
    chat_server_complete(fx->cs, job);

    struct xmpp_node *r = next_iq(alice, "result");
    struct xmpp_node *q = xmpp_node_child(r, "query", "jabber:iq:roster");
    assert_string_equal(xmpp_node_attr(q, "ver"), "9");
    assert_int_equal(fx_count_children(q, "item", NULL), 2);
    struct xmpp_node *bob = xmpp_node_child(q, "item", NULL);
    assert_string_equal(xmpp_node_attr(bob, "jid"), "bob@localhost");
    assert_string_equal(xmpp_node_attr(bob, "name"), "Bob");
    assert_string_equal(xmpp_node_attr(bob, "subscription"), "from");
    assert_string_equal(xmpp_node_attr(bob, "ask"), "subscribe");
    assert_int_equal(fx_count_children(bob, "group", NULL), 2);
    char *g = xmpp_node_text(xmpp_node_child(bob, "group", NULL));
    assert_string_equal(g, "Work");
    free(g);
    struct xmpp_node *dave = bob->next;
    assert_string_equal(xmpp_node_attr(dave, "approved"), "true");
    assert_string_equal(xmpp_node_attr(dave, "subscription"), "none");
    xmpp_node_free(r);
    struct chat_session *s = xmpp_stream_user(alice->s);
    assert_true(s->roster_interested);
    /* The maps follow the load: carol's request is known, not listed. */
    assert_int_equal(chat_roster_state(fx->cs, s->user, "carol@localhost"),
                     CHAT_SUB_PENDING_IN);

    /* The client has version 9: an empty result. */
    assert_int_equal(fx_send(alice,
                             "<iq type='get' id='r2'><query xmlns='jabber:iq:roster' "
                             "ver='9'/></iq>"),
                     PL_OK);
    job = fx_take(fx, DB_JOB_ROSTER_LOAD, NULL);
    job->status = PL_OK;
    job->u.roster_load.ver = 9;
    chat_server_complete(fx->cs, job);
    r = next_iq(alice, "result");
    assert_null(r->children);
    xmpp_node_free(r);
}

/* A load that read while a change completed is stale: it runs again, and
 * the get is answered from the second read. */
static void test_stale_load_runs_again(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a1 = fx_online(fx, "alice", "A1", 0);
    struct fx_client *a2 = fx_online(fx, "alice", "A2", 0);
    assert_int_equal(fx_send(a1, "<iq type='get' id='g'><query xmlns='jabber:iq:roster'/>"
                                 "</iq>"),
                     PL_OK);
    struct db_job *load = fx_take(fx, DB_JOB_ROSTER_LOAD, NULL);
    assert_int_equal(fx_send(a2, "<iq type='set' id='s'><query xmlns='jabber:iq:roster'>"
                                 "<item jid='bob@localhost'/></query></iq>"),
                     PL_OK);
    struct db_job *set = fx_take(fx, DB_JOB_ROSTER_SET, NULL);
    set->status = PL_OK;
    set->u.roster_set.state = L;
    set->u.roster_set.ver = 1;
    chat_server_complete(fx->cs, set);
    fx_skip_all(a2);
    load->status = PL_OK;
    chat_server_complete(fx->cs, load); /* read before the set: no bob */
    assert_int_equal(fx_unseen(a1), 0);
    assert_int_equal(fx_count(fx, DB_JOB_ROSTER_LOAD), 1);
    load = fx_take(fx, DB_JOB_ROSTER_LOAD, NULL);
    load->status = PL_OK;
    load->u.roster_load.ver = 1;
    load->u.roster_load.count = 1;
    load->u.roster_load.items = calloc(1, sizeof(*load->u.roster_load.items));
    load->u.roster_load.items[0].jid = strdup("bob@localhost");
    load->u.roster_load.items[0].groups = strdup("");
    load->u.roster_load.items[0].state = L;
    chat_server_complete(fx->cs, load);
    struct xmpp_node *r = next_iq(a1, "result");
    struct xmpp_node *q = xmpp_node_child(r, "query", "jabber:iq:roster");
    assert_int_equal(fx_count_children(q, "item", NULL), 1);
    xmpp_node_free(r);
}

/* A set is one job (groups joined); the push goes to the interested
 * resources before the result; at the limit it is resource-constraint. */
static void test_set_and_push(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a1 = fx_online(fx, "alice", "A1", 0);
    struct fx_client *a2 = fx_online(fx, "alice", "A2", 0);
    struct fx_client *a3 = fx_online(fx, "alice", "A3", 0);
    struct chat_session *s2 = xmpp_stream_user(a2->s);
    s2->roster_interested = 1;
    ((struct chat_session *)xmpp_stream_user(a1->s))->roster_interested = 1;
    assert_int_equal(fx_send(a1,
                             "<iq type='set' id='s1'><query xmlns='jabber:iq:roster'>"
                             "<item jid='Bob@LocalHost' name='Bob'><group>Work</group>"
                             "<group></group><group>Home</group></item></query></iq>"),
                     PL_OK);
    char *shard = NULL;
    struct db_job *set = fx_take(fx, DB_JOB_ROSTER_SET, &shard);
    assert_string_equal(shard, "alice@localhost");
    free(shard);
    assert_string_equal(set->u.roster_set.owner, "alice");
    assert_string_equal(set->u.roster_set.contact, "bob@localhost"); /* normalised */
    assert_string_equal(set->u.roster_set.name, "Bob");
    assert_string_equal(set->u.roster_set.groups, "Work\x1f"
                                                  "Home");
    assert_int_equal(set->u.roster_set.max, 1000);
    set->status = PL_OK;
    set->u.roster_set.state = L | CHAT_SUB_TO;
    set->u.roster_set.ver = 12;
    chat_server_complete(fx->cs, set);

    struct xmpp_node *push = next_iq(a1, "set");
    struct xmpp_node *q = xmpp_node_child(push, "query", "jabber:iq:roster");
    assert_string_equal(xmpp_node_attr(q, "ver"), "12");
    struct xmpp_node *item = xmpp_node_child(q, "item", NULL);
    assert_string_equal(xmpp_node_attr(item, "subscription"), "to");
    assert_string_equal(xmpp_node_attr(item, "name"), "Bob");
    xmpp_node_free(push);
    struct xmpp_node *res = next_iq(a1, "result");
    assert_string_equal(xmpp_node_attr(res, "id"), "s1");
    xmpp_node_free(res);
    push = next_iq(a2, "set");
    xmpp_node_free(push);
    assert_int_equal(fx_unseen(a3), 0); /* never asked for the roster */
    assert_int_equal(chat_roster_state(fx->cs, s2->user, "bob@localhost"),
                     L | CHAT_SUB_TO);

    assert_int_equal(fx_send(a1, "<iq type='set' id='s2'><query xmlns='jabber:iq:roster'>"
                                 "<item jid='carol@localhost'/></query></iq>"),
                     PL_OK);
    set = fx_take(fx, DB_JOB_ROSTER_SET, NULL);
    set->status = PL_OK;
    set->u.roster_set.refused = 1;
    chat_server_complete(fx->cs, set);
    fx_expect_error(a1, "iq", "wait", "resource-constraint");
    assert_int_equal(fx_unseen(a2), 0);
}

/* A remove goes through the exchange (chat_subscription_test has it); an
 * item that is not listed is item-not-found. */
static void test_remove_unknown_item(void **state)
{
    struct fx *fx = *state;
    const char *contacts[] = {"carol@localhost"};
    const unsigned states[] = {CHAT_SUB_PENDING_IN};
    struct fx_client *alice =
        fx_login_with(fx, "alice", "A", contacts, states, 1, NULL, 0);
    assert_int_equal(fx_send(alice,
                             "<iq type='set' id='rm'><query xmlns='jabber:iq:roster'>"
                             "<item jid='carol@localhost' subscription='remove'/>"
                             "</query></iq>"),
                     PL_OK);
    fx_expect_error(alice, "iq", "cancel", "item-not-found");
    assert_int_equal(fx_count(fx, DB_JOB_ROSTER_PAIR), 0);
}

/* With the team roster every other user of the domain is `both`, and the
 * broadcast reaches everyone online without a row. */
static void test_team_roster(void **state)
{
    struct fx *fx = *state;
    fx->cs->team_roster = 1;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_online(fx, "bob", "B", 0);
    struct chat_session *s = xmpp_stream_user(alice->s);
    assert_int_equal(chat_roster_state(fx->cs, s->user, "bob@localhost"),
                     L | CHAT_SUB_TO | CHAT_SUB_FROM);
    assert_int_equal(chat_roster_state(fx->cs, s->user, "alice@localhost"), 0);
    assert_int_equal(chat_roster_state(fx->cs, s->user, "bob@elsewhere.example"), 0);
    assert_int_equal(fx_send(alice, "<presence><show>away</show></presence>"), PL_OK);
    struct xmpp_node *p = fx_next(bob, NULL);
    assert_string_equal(p->name, "presence");
    assert_string_equal(xmpp_node_attr(p, "from"), "alice@localhost/A");
    xmpp_node_free(p);
    fx_complete_all(fx, DB_JOB_PRESENCE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stanzas_wait_for_the_load, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_get_and_version, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stale_load_runs_again, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_set_and_push, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_remove_unknown_item, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_team_roster, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
