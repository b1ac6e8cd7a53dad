/* Presence: the sessions row written at bind and by presence, priorities,
 * the wait for the roster, the broadcast to subscribers and the user's
 * own resources (one frame for all), probes and requests at the initial
 * presence, directed presence, and unavailable however a session ends. */
#include "chat_fixture.h"

static struct fx_client *login_with(struct fx *fx, const char *user, const char *res,
                                    const char *const *contacts, const unsigned *states,
                                    size_t n)
{
    return fx_login_with(fx, user, res, contacts, states, n, NULL, 0);
}

static void load_roster(struct fx *fx, const char *owner, const char *const *contacts,
                        const unsigned *states, size_t n, const char *const *blocked,
                        size_t nb)
{
    fx_load_roster(fx, owner, contacts, states, n, blocked, nb);
}

/* Available with a status; the jobs of the initial presence are completed
 * empty. */
static void go_online(struct fx *fx, struct fx_client *c, const char *status)
{
    assert_int_equal(fx_sendf(c, "<presence><status>%s</status></presence>", status),
                     PL_OK);
    fx_complete_all(fx, DB_JOB_PRESENCE);
    fx_complete_all(fx, DB_JOB_PRESENCE_INITIAL);
    fx_complete_all(fx, DB_JOB_OFFLINE_LOAD);
}

/* The next frame is presence from `from` (type NULL: available). */
static const void *expect_presence(struct fx_client *c, const char *from,
                                   const char *type)
{
    assert_true(fx_unseen(c) > 0);
    const void *shared = c->frames[c->seen].shared;
    struct xmpp_node *p = fx_next(c, NULL);
    assert_string_equal(p->name, "presence");
    assert_string_equal(xmpp_node_attr(p, "from"), from);
    if (type)
        assert_string_equal(xmpp_node_attr(p, "type"), type);
    else
        assert_null(xmpp_node_attr(p, "type"));
    xmpp_node_free(p);
    return shared;
}

#define L CHAT_SUB_LISTED

/* Bind writes the session's row (not available) and loads the roster;
 * presence waits for the roster, then makes the row available with show,
 * status and priority, and starts the probes and the offline load. */
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

    /* The roster is loading: the presence waits for it. */
    assert_int_equal(fx_count(fx, DB_JOB_ROSTER_LOAD), 1);
    assert_int_equal(fx_send(bob, "<presence><show>away</show><status>lunch</status>"
                                  "<priority>3</priority></presence>"),
                     PL_OK);
    assert_int_equal(fx_count(fx, DB_JOB_PRESENCE), 0);
    assert_int_equal(fx_unseen(bob), 0);
    load_roster(fx, "bob", NULL, NULL, 0, NULL, 0);

    p = fx_take(fx, DB_JOB_PRESENCE, NULL);
    assert_int_equal(p->u.presence.available, 1);
    assert_int_equal(p->u.presence.gone, 0);
    assert_int_equal(p->u.presence.priority, 3);
    assert_string_equal(p->u.presence.show, "away");
    assert_string_equal(p->u.presence.status, "lunch");
    chat_server_complete(fx->cs, p);
    /* 4.2.2: the user's own resources get it, the sender included. */
    expect_presence(bob, "bob@localhost/B", NULL);

    assert_int_equal(fx_count(fx, DB_JOB_PRESENCE_INITIAL), 1);
    struct db_job *ini = fx_take(fx, DB_JOB_PRESENCE_INITIAL, &shard);
    assert_string_equal(shard, "bob@localhost");
    assert_string_equal(ini->u.presence_initial.owner, "bob");
    free(shard);
    chat_server_complete(fx->cs, ini);
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
    assert_int_equal(fx_count(fx, DB_JOB_PRESENCE_INITIAL), 0);
    p = fx_take(fx, DB_JOB_PRESENCE, NULL);
    assert_int_equal(p->u.presence.available, 1);
    assert_int_equal(p->u.presence.priority, 0);
    assert_string_equal(p->u.presence.show, "dnd");
    assert_null(p->u.presence.status);
    chat_server_complete(fx->cs, p);
    fx_skip_presence(fx);

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
    fx_complete_all(fx, DB_JOB_PRESENCE_INITIAL);
    fx_complete_all(fx, DB_JOB_OFFLINE_LOAD);
}

/* The broadcast reaches the contacts with `from` or `both` and the user's
 * resources, as one frame; not a contact with only `to`, nor a stranger. */
static void test_broadcast_to_subscribers(void **state)
{
    struct fx *fx = *state;
    const char *bobs[] = {"alice@localhost"};
    const unsigned from_alice[] = {L | CHAT_SUB_TO};
    struct fx_client *bob = login_with(fx, "bob", "B", bobs, from_alice, 1);
    go_online(fx, bob, "here");
    fx_skip_presence(fx);
    const char *carols[] = {"alice@localhost"};
    const unsigned carol_to[] = {L | CHAT_SUB_FROM};
    struct fx_client *carol = login_with(fx, "carol", "C", carols, carol_to, 1);
    go_online(fx, carol, "hi");
    fx_skip_presence(fx);
    struct fx_client *dave = fx_online(fx, "dave", "D", 0);

    const char *alices[] = {"bob@localhost", "carol@localhost"};
    const unsigned alice_states[] = {L | CHAT_SUB_FROM, L | CHAT_SUB_TO};
    struct fx_client *a1 = login_with(fx, "alice", "A1", alices, alice_states, 2);
    struct fx_client *a2 = fx_login(fx, "alice", "A2");
    go_online(fx, a2, "second");
    fx_skip_presence(fx);

    assert_int_equal(fx_send(a1, "<presence><status>lunch</status></presence>"), PL_OK);
    const void *f1 = expect_presence(bob, "alice@localhost/A1", NULL);
    const void *f2 = expect_presence(a1, "alice@localhost/A1", NULL);
    const void *f3 = expect_presence(a2, "alice@localhost/A1", NULL);
    assert_ptr_equal(f1, f2); /* serialised once */
    assert_ptr_equal(f1, f3);
    /* The new resource learns of the user's other available one. */
    expect_presence(a1, "alice@localhost/A2", NULL);
    assert_int_equal(fx_unseen(carol), 0);
    assert_int_equal(fx_unseen(dave), 0);

    /* Probes: bob is online (his presence), carol too; an offline contact
     * the user is subscribed to answers with its last unavailable. */
    struct db_job *ini = fx_take(fx, DB_JOB_PRESENCE_INITIAL, NULL);
    ini->status = PL_OK;
    ini->u.presence_initial.contacts =
        calloc(2, sizeof(*ini->u.presence_initial.contacts));
    ini->u.presence_initial.contacts[0].jid = strdup("carol@localhost");
    ini->u.presence_initial.contacts[1].jid = strdup("erin@localhost");
    ini->u.presence_initial.contacts[1].known = 1;
    ini->u.presence_initial.contacts[1].status = strdup("gone fishing");
    ini->u.presence_initial.contacts[1].at_us = STAMP_US;
    ini->u.presence_initial.ncontacts = 2;
    ini->u.presence_initial.requests =
        calloc(1, sizeof(*ini->u.presence_initial.requests));
    ini->u.presence_initial.requests[0].jid = strdup("frank@localhost");
    ini->u.presence_initial.requests[0].stanza_xml =
        strdup("<presence xmlns='jabber:client' type='subscribe' from='frank@localhost' "
               "to='alice@localhost'><status>hi, it is frank</status></presence>");
    ini->u.presence_initial.nrequests = 1;
    chat_server_complete(fx->cs, ini);
    expect_presence(a1, "carol@localhost/C", NULL);
    struct xmpp_node *last = fx_next(a1, NULL);
    assert_string_equal(xmpp_node_attr(last, "from"), "erin@localhost");
    assert_string_equal(xmpp_node_attr(last, "type"), "unavailable");
    struct xmpp_node *d = xmpp_node_child(last, "delay", XMPP_NS_DELAY);
    assert_non_null(d);
    assert_string_equal(xmpp_node_attr(d, "stamp"), STAMP_TEXT);
    struct xmpp_node *stn = xmpp_node_child(last, "status", XMPP_NS_CLIENT);
    char *text = xmpp_node_text(stn);
    assert_string_equal(text, "gone fishing");
    free(text);
    xmpp_node_free(last);
    struct xmpp_node *req = fx_next(a1, NULL);
    assert_string_equal(xmpp_node_attr(req, "type"), "subscribe");
    assert_string_equal(xmpp_node_attr(req, "from"), "frank@localhost");
    xmpp_node_free(req);
    fx_complete_all(fx, DB_JOB_OFFLINE_LOAD);
    fx_complete_all(fx, DB_JOB_PRESENCE);

    /* Unavailable, with the status, to the same people. */
    assert_int_equal(fx_send(a1, "<presence type='unavailable'><status>bye</status>"
                                 "</presence>"),
                     PL_OK);
    expect_presence(bob, "alice@localhost/A1", "unavailable");
    expect_presence(a2, "alice@localhost/A1", "unavailable");
    assert_int_equal(fx_unseen(a1), 0);
    assert_int_equal(fx_unseen(carol), 0);
    struct db_job *p = fx_take(fx, DB_JOB_PRESENCE, NULL);
    assert_int_equal(p->u.presence.available, 0);
    assert_string_equal(p->u.presence.status, "bye");
    chat_server_complete(fx->cs, p);
}

/* However a session ends, its subscribers hear unavailable: the socket
 * dying, a conflict that replaces it. */
static void test_unavailable_when_a_session_ends(void **state)
{
    struct fx *fx = *state;
    const char *bobs[] = {"alice@localhost"};
    const unsigned to_alice[] = {L | CHAT_SUB_TO};
    struct fx_client *bob = login_with(fx, "bob", "B", bobs, to_alice, 1);
    go_online(fx, bob, "b");
    const char *alices[] = {"bob@localhost"};
    const unsigned from_bob[] = {L | CHAT_SUB_FROM};
    struct fx_client *a1 = login_with(fx, "alice", "A", alices, from_bob, 1);
    go_online(fx, a1, "a");
    fx_skip_presence(fx);

    fx_disconnect(a1);
    expect_presence(bob, "alice@localhost/A", "unavailable");
    fx_complete_all(fx, DB_JOB_PRESENCE);

    struct fx_client *a2 = login_with(fx, "alice", "A", alices, from_bob, 1);
    go_online(fx, a2, "again");
    expect_presence(bob, "alice@localhost/A", NULL);
    fx_skip_presence(fx);
    struct fx_client *a3 = fx_login_raw(fx, "alice", "A"); /* replaces a2 */
    fx_expect_stream_error(a2, "conflict");
    expect_presence(bob, "alice@localhost/A", "unavailable");
    assert_int_equal(fx_unseen(a3), 0);
}

/* Directed presence reaches a JID outside the roster, which gets
 * unavailable when the session ends; a directed unavailable ends it
 * early. */
static void test_directed_presence(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_online(fx, "bob", "B", 0);
    struct fx_client *carol = fx_online(fx, "carol", "C", 0);

    assert_int_equal(fx_send(alice, "<presence to='bob@localhost'><show>chat</show>"
                                    "</presence>"),
                     PL_OK);
    struct xmpp_node *p = fx_next(bob, NULL);
    assert_string_equal(xmpp_node_attr(p, "from"), "alice@localhost/A");
    assert_string_equal(xmpp_node_attr(p, "to"), "bob@localhost");
    xmpp_node_free(p);
    assert_int_equal(fx_send(alice, "<presence to='carol@localhost/C'/>"), PL_OK);
    expect_presence(carol, "alice@localhost/A", NULL);
    assert_int_equal(fx_send(alice, "<presence to='carol@localhost/C' "
                                    "type='unavailable'/>"),
                     PL_OK);
    expect_presence(carol, "alice@localhost/A", "unavailable");
    /* Directed presence is no subscription: no rows written. */
    assert_int_equal(fx_count(fx, DB_JOB_PRESENCE), 0);
    assert_int_equal(fx_count(fx, DB_JOB_ROSTER_PAIR), 0);

    fx_disconnect(alice);
    expect_presence(bob, "alice@localhost/A", "unavailable");
    assert_int_equal(fx_unseen(carol), 0); /* told already */

    /* A session that never broadcast but sent directed presence: its
     * broadcast unavailable still reaches those JIDs. */
    struct fx_client *quiet = fx_login(fx, "dave", "D");
    assert_int_equal(fx_send(quiet, "<presence to='bob@localhost'/>"), PL_OK);
    expect_presence(bob, "dave@localhost/D", NULL);
    assert_int_equal(fx_send(quiet, "<presence type='unavailable'/>"), PL_OK);
    expect_presence(bob, "dave@localhost/D", "unavailable");
    assert_int_equal(fx_count(fx, DB_JOB_PRESENCE), 0);
}

/* Nobody blocked (either way) gets or gives presence. */
static void test_blocked_contacts_get_no_presence(void **state)
{
    struct fx *fx = *state;
    const char *bobs[] = {"alice@localhost"};
    const unsigned to_alice[] = {L | CHAT_SUB_TO | CHAT_SUB_FROM};
    struct fx_client *bob = login_with(fx, "bob", "B", bobs, to_alice, 1);
    go_online(fx, bob, "b");
    struct fx_client *alice = fx_login_raw(fx, "alice", "A");
    fx_complete_all(fx, DB_JOB_USER_LOGIN);
    fx_complete_all(fx, DB_JOB_PRESENCE);
    const char *alices[] = {"bob@localhost"};
    const unsigned both[] = {L | CHAT_SUB_TO | CHAT_SUB_FROM};
    const char *blocked[] = {"bob@localhost"};
    load_roster(fx, "alice", alices, both, 1, blocked, 1);
    fx_skip_presence(fx);
    assert_int_equal(fx_send(alice, "<presence/>"), PL_OK);
    expect_presence(alice, "alice@localhost/A", NULL);
    assert_int_equal(fx_unseen(bob), 0);
    assert_int_equal(fx_send(bob, "<presence><show>away</show></presence>"), PL_OK);
    assert_int_equal(fx_unseen(alice), 0);
    /* Directed presence to a blocked JID is refused (XEP-0191 3.4). */
    assert_int_equal(fx_send(alice, "<presence to='bob@localhost'/>"), PL_OK);
    struct xmpp_node *e = fx_next(alice, NULL);
    fx_assert_stanza_error(e, "presence", "cancel", "not-acceptable");
    assert_non_null(xmpp_node_child(xmpp_node_child(e, "error", NULL), "blocked",
                                    "urn:xmpp:blocking:errors"));
    xmpp_node_free(e);
    fx_skip_presence(fx);
    assert_int_equal(fx_unseen(bob), 0);
}

/* XEP-0319: a presence's <idle since/> goes to the session's row in
 * microseconds (a date that is not one: not idle); the probe answer for
 * an offline contact carries <idle/> since it went idle, or since it left. */
static void test_idle_kept_and_in_probe_answers(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a = fx_login(fx, "alice", "A");
    assert_int_equal(fx_send(a, "<presence><idle xmlns='urn:xmpp:idle:1' "
                                "since='2023-11-14T23:13:20.123+01:00'/></presence>"),
                     PL_OK);
    struct db_job *row = fx_take(fx, DB_JOB_PRESENCE, NULL);
    assert_int_equal(row->u.presence.idle_since_us, STAMP_US - 456);
    db_job_free(row);
    assert_int_equal(fx_send(a, "<presence><idle xmlns='urn:xmpp:idle:1' "
                                "since='2023-11-14T22:13:20Z junk'/></presence>"),
                     PL_OK);
    row = fx_take(fx, DB_JOB_PRESENCE, NULL);
    assert_int_equal(row->u.presence.idle_since_us, 0);
    db_job_free(row);

    struct db_job *ini = fx_take(fx, DB_JOB_PRESENCE_INITIAL, NULL);
    ini->status = PL_OK;
    ini->u.presence_initial.contacts =
        calloc(2, sizeof(*ini->u.presence_initial.contacts));
    ini->u.presence_initial.ncontacts = 2;
    ini->u.presence_initial.contacts[0].jid = strdup("erin@localhost");
    ini->u.presence_initial.contacts[0].known = 1;
    ini->u.presence_initial.contacts[0].at_us = STAMP_US;
    ini->u.presence_initial.contacts[0].idle_us = 1600000000000000;
    ini->u.presence_initial.contacts[1].jid = strdup("fred@localhost");
    ini->u.presence_initial.contacts[1].known = 1;
    ini->u.presence_initial.contacts[1].at_us = STAMP_US;
    chat_server_complete(fx->cs, ini);
    const char *want[2] = {"2020-09-13T12:26:40.000Z", STAMP_TEXT};
    for (int i = 0; i < 2; i++) {
        struct xmpp_node *last = NULL;
        while (!last) {
            struct xmpp_node *n = fx_next(a, NULL);
            if (xmpp_node_attr(n, "type") &&
                !strcmp(xmpp_node_attr(n, "type"), "unavailable"))
                last = n;
            else
                xmpp_node_free(n);
        }
        struct xmpp_node *idle = xmpp_node_child(last, "idle", "urn:xmpp:idle:1");
        assert_non_null(idle);
        assert_string_equal(xmpp_node_attr(idle, "since"), want[i]);
        xmpp_node_free(last);
    }
    fx_drop_all(fx);
}

/* A plain <presence/> holds no frame once broadcast; a contact asking
 * later (a new resource of the user here) gets the same bytes, made
 * again; a presence with anything in it keeps the frame it was sent as. */
static void test_plain_presence_frame_made_when_asked(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a1 = fx_login(fx, "alice", "A1");
    assert_int_equal(fx_send(a1, "<presence/>"), PL_OK);
    fx_complete_all(fx, DB_JOB_PRESENCE);
    fx_complete_all(fx, DB_JOB_PRESENCE_INITIAL);
    fx_complete_all(fx, DB_JOB_OFFLINE_LOAD);
    assert_true(fx_unseen(a1) > 0);
    const struct fx_frame *echo = &a1->frames[a1->seen];
    char *sent = strndup(echo->data, echo->len);
    fx_skip_presence(fx);
    struct chat_session *s1 = xmpp_stream_user(a1->s);
    assert_null(s1->presence);

    struct fx_client *a2 = fx_login(fx, "alice", "A2");
    assert_int_equal(fx_send(a2, "<presence><show>dnd</show></presence>"), PL_OK);
    fx_complete_all(fx, DB_JOB_PRESENCE);
    /* a2 learns of A1 (RFC 6121 section 4.2.2): the same bytes as sent */
    int found = 0;
    while (fx_unseen(a2) > 0) {
        const struct fx_frame *f = &a2->frames[a2->seen];
        char *got = strndup(f->data, f->len);
        if (strstr(got, "alice@localhost/A1")) {
            assert_string_equal(got, sent);
            found = 1;
        }
        free(got);
        xmpp_node_free(fx_next(a2, NULL));
    }
    assert_true(found);
    assert_non_null(s1->presence); /* kept once asked for */
    struct chat_session *s2 = xmpp_stream_user(a2->s);
    assert_non_null(s2->presence);
    assert_non_null(strstr(pl_frame_data(s2->presence), "dnd"));
    free(sent);
    fx_drop_all(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bind_and_presence_jobs, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_priority_parsing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_idle_kept_and_in_probe_answers, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_plain_presence_frame_made_when_asked,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_broadcast_to_subscribers, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_unavailable_when_a_session_ends, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_directed_presence, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_blocked_contacts_get_no_presence, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
