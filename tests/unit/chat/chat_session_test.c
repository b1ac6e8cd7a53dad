/* Sessions: binding (a resource taken over by a new session), disabled
 * users, written frames marked delivered, and how a session's end settles
 * or requeues what it was written. */
#include "chat_fixture.h"

static int allowed(struct fx *fx, const char *user)
{
    return fx->env.hooks.user_allowed(fx->env.hooks.ctx, user);
}

static void user_state(struct fx *fx, const char *user, int disabled)
{
    struct db_job *ev = db_job_new(DB_EVENT_USER_STATE);
    assert_non_null(ev);
    ev->u.user_state.username = strdup(user);
    ev->u.user_state.disabled = disabled;
    chat_server_complete(fx->cs, ev);
}

/* Writes message `id` to c (as a stored message routed live) and reports
 * the frame written; returns the MARK_DELIVERED job's via (caller frees). */
static char *deliver_and_write(struct fx *fx, struct fx_client *from, struct fx_client *c,
                               const char *to, int64_t id)
{
    char sid[32];
    snprintf(sid, sizeof(sid), "w%lld", (long long)id);
    fx_chat(from, to, sid, "written");
    fx_store_ok(fx, id);
    uint64_t tag = 0;
    assert_int_equal(fx_unseen(c), 1);
    xmpp_node_free(fx_next(c, &tag));
    assert_int_equal(tag, chat_tag(CHAT_TAG_MESSAGE, id));
    xmpp_stream_written(c->s, tag);
    char *shard = NULL;
    struct db_job *job = fx_take(fx, DB_JOB_MARK_DELIVERED, &shard);
    free(shard);
    char *via = strdup(job->u.delivered.via);
    chat_server_complete(fx->cs, job);
    return via;
}

/* The same resource bound again: the older stream gets <conflict/> and is
 * closed; the new one is the one messages reach. */
static void test_bind_conflict(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *first = fx_online(fx, "bob", "B", 0);
    struct fx_client *second = fx_login_raw(fx, "bob", "B");

    fx_expect_stream_error(first, "conflict");
    assert_int_equal(fx_unseen(first), 0);
    assert_false(second->closed);

    /* The old row goes before the new one is written (same shard). */
    assert_int_equal(fx_count(fx, DB_JOB_PRESENCE), 2);
    char *shard = NULL;
    struct db_job *p = fx_take(fx, DB_JOB_PRESENCE, &shard);
    assert_string_equal(shard, "bob@localhost/B");
    free(shard);
    assert_int_equal(p->u.presence.gone, 1);
    chat_server_complete(fx->cs, p);
    p = fx_take(fx, DB_JOB_PRESENCE, &shard);
    assert_string_equal(shard, "bob@localhost/B");
    free(shard);
    assert_int_equal(p->u.presence.gone, 0);
    assert_int_equal(p->u.presence.available, 0);
    chat_server_complete(fx->cs, p);
    fx_complete_all(fx, DB_JOB_USER_LOGIN);
    fx_rosters_empty(fx); /* bob's entry went with his only session */

    assert_int_equal(fx_send(second, "<presence/>"), PL_OK);
    fx_skip_presence(fx); /* the echo to the user's resources */
    fx_complete_all(fx, DB_JOB_PRESENCE);
    fx_complete_all(fx, DB_JOB_OFFLINE_LOAD);
    fx_chat(alice, "bob@localhost/B", "m1", "to the new one");
    fx_store_ok(fx, 3);
    assert_int_equal(fx_unseen(second), 1);
    xmpp_node_free(fx_next(second, NULL));
    assert_int_equal(fx_unseen(first), 0);

    /* The old connection goes away later: its row is not deleted again
     * (that would delete the new session's row). */
    fx_disconnect(first);
    assert_int_equal(fx_count(fx, DB_JOB_PRESENCE), 0);
    assert_int_equal(fx_count(fx, DB_JOB_SESSION_END), 0);
}

/* The stream taken over had been written a stored message: its end, when
 * the transport frees it, requeues it (the server closed it). */
static void test_bind_conflict_settles_old(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *first = fx_online(fx, "bob", "B", 0);
    char *via = deliver_and_write(fx, alice, first, "bob@localhost", 8);

    struct fx_client *second = fx_login(fx, "bob", "B");
    fx_expect_stream_error(first, "conflict");
    fx_disconnect(first);
    char *shard = NULL;
    struct db_job *end = fx_take(fx, DB_JOB_SESSION_END, &shard);
    assert_string_equal(shard, "bob@localhost");
    free(shard);
    assert_string_equal(end->u.session_end.via, via);
    assert_string_equal(end->u.session_end.recipient, "bob@localhost");
    assert_int_equal(end->u.session_end.clean, 0);
    end->u.session_end.requeued = 1;
    chat_server_complete(fx->cs, end);
    /* The new session has sent no presence: it loads at its initial one. */
    assert_int_equal(fx_count(fx, DB_JOB_OFFLINE_LOAD), 0);
    assert_int_equal(fx_send(second, "<presence/>"), PL_OK);
    fx_skip_presence(fx); /* the echo to the user's resources */
    assert_int_equal(fx_count(fx, DB_JOB_OFFLINE_LOAD), 1);
    free(via);
}

/* Bind without a resource: the server makes one up, unique per session. */
static void test_bind_random_resource(void **state)
{
    struct fx *fx = *state;
    const char *res[2] = {NULL, NULL};
    struct fx_client *c[2];
    for (int i = 0; i < 2; i++) {
        c[i] = calloc(1, sizeof(*c[i]));
        c[i]->fx = fx;
        assert_int_equal(
            xmpp_stream_new(&fx->env, &fx_io, c[i], ++fx->next_conn, "bob", &c[i]->s),
            PL_OK);
        fx->clients[fx->nclients++] = c[i];
        assert_int_equal(fx_send(c[i], FX_OPEN), PL_OK);
        assert_int_equal(fx_send(c[i], "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
                                       "mechanism='EXTERNAL'>=</auth>"),
                         PL_OK);
        assert_int_equal(fx_send(c[i], FX_OPEN), PL_OK);
        assert_int_equal(fx_send(c[i], "<iq type='set' id='b'><bind "
                                       "xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"),
                         PL_OK);
        res[i] = xmpp_stream_resource(c[i]->s);
        assert_non_null(res[i]);
        assert_int_equal(strlen(res[i]), 4 + 16);
        assert_memory_equal(res[i], "web-", 4);
        assert_int_equal(strspn(res[i] + 4, "0123456789abcdef"), 16);
        assert_false(c[i]->closed);
    }
    assert_string_not_equal(res[0], res[1]);
    assert_int_equal(fx_count(fx, DB_JOB_USER_LOGIN), 2);
}

/* A user disabled while online: every stream of theirs is closed with
 * <not-authorized/>, new upgrades are refused; enabled again, allowed. */
static void test_user_disabled(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *b1 = fx_online(fx, "bob", "b1", 0);
    struct fx_client *b2 = fx_online(fx, "bob", "b2", 0);
    struct fx_client *b3 = fx_login(fx, "bob", "b3");

    assert_true(allowed(fx, "bob"));
    user_state(fx, "bob", 1);
    fx_skip_presence(fx); /* b1's unavailable reached b2 before its own end */
    fx_expect_stream_error(b1, "not-authorized");
    fx_expect_stream_error(b2, "not-authorized");
    fx_expect_stream_error(b3, "not-authorized");
    assert_false(alice->closed);
    assert_int_equal(fx_unseen(alice), 0);
    assert_false(allowed(fx, "bob"));
    assert_true(allowed(fx, "alice"));

    /* One deleted row per session, and no more when the transport frees
     * the streams. */
    assert_int_equal(fx_count(fx, DB_JOB_PRESENCE), 3);
    for (int i = 0; i < 3; i++) {
        struct db_job *p = fx_take(fx, DB_JOB_PRESENCE, NULL);
        assert_int_equal(p->u.presence.gone, 1);
        chat_server_complete(fx->cs, p);
    }
    fx_disconnect(b1);
    fx_disconnect(b2);
    fx_disconnect(b3);
    assert_int_equal(fx_count(fx, DB_JOB_PRESENCE), 0);

    /* A message to them is stored but reaches nobody. */
    fx_chat(alice, "bob@localhost", "m1", "anyone?");
    fx_store_ok(fx, 4);
    assert_int_equal(fx_unseen(alice), 0);

    user_state(fx, "bob", 0);
    assert_true(allowed(fx, "bob"));
    struct fx_client *again = fx_online(fx, "bob", "b1", 0);
    assert_false(again->closed);
}

/* A disabled event for someone who is not online only refuses upgrades. */
static void test_user_disabled_offline(void **state)
{
    struct fx *fx = *state;
    user_state(fx, "carol", 1);
    assert_false(allowed(fx, "carol"));
    assert_true(allowed(fx, "bob"));
    user_state(fx, "carol", 1);
    assert_false(allowed(fx, "carol"));
    user_state(fx, "carol", 0);
    assert_true(allowed(fx, "carol"));
    assert_int_equal(fx->njobs, 0);
}

/* The first login finds the account disabled: the session is closed. */
static void test_login_disabled(void **state)
{
    struct fx *fx = *state;
    struct fx_client *bob = fx_login_raw(fx, "bob", "B");
    char *shard = NULL;
    struct db_job *login = fx_take(fx, DB_JOB_USER_LOGIN, &shard);
    assert_string_equal(shard, "bob");
    free(shard);
    assert_string_equal(login->u.login.username, "bob");
    login->status = PL_OK;
    login->u.login.disabled = 1;
    chat_server_complete(fx->cs, login);
    fx_expect_stream_error(bob, "not-authorized");
    assert_false(allowed(fx, "bob"));
}

/* A login that failed in the store does not close anything. */
static void test_login_failed_keeps_session(void **state)
{
    struct fx *fx = *state;
    struct fx_client *bob = fx_login_raw(fx, "bob", "B");
    struct db_job *login = fx_take(fx, DB_JOB_USER_LOGIN, NULL);
    login->status = PL_EIO;
    login->u.login.disabled = 1;
    chat_server_complete(fx->cs, login);
    assert_false(bob->closed);
    assert_true(allowed(fx, "bob"));
}

/* A frame written with a tag marks that message delivered to this session,
 * on the recipient's shard. */
static void test_written_marks_delivered(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *b1 = fx_online(fx, "bob", "b1", 0);
    struct fx_client *b2 = fx_online(fx, "bob", "b2", 0);

    fx_chat(alice, "bob@localhost", "m1", "two copies");
    fx_store_ok(fx, 42);
    uint64_t t1 = 0, t2 = 0;
    /* Serialised once: both sessions were handed the same frame. */
    assert_ptr_equal(b1->frames[b1->seen].shared, b2->frames[b2->seen].shared);
    xmpp_node_free(fx_next(b1, &t1));
    xmpp_node_free(fx_next(b2, &t2));
    assert_int_equal(t1, chat_tag(CHAT_TAG_MESSAGE, 42));
    assert_int_equal(t2, chat_tag(CHAT_TAG_MESSAGE, 42));
    assert_int_equal(fx_count(fx, DB_JOB_MARK_DELIVERED), 0);

    /* A tag of no delivery kind (a copy, an iq) moves no state, even when
     * its value is an archive id. */
    xmpp_stream_written(b1->s, 42);
    xmpp_stream_written(b1->s, chat_tag(CHAT_TAG_NONE, 42));
    assert_int_equal(fx_count(fx, DB_JOB_MARK_DELIVERED), 0);

    xmpp_stream_written(b1->s, t1);
    xmpp_stream_written(b2->s, t2);
    assert_int_equal(fx_count(fx, DB_JOB_MARK_DELIVERED), 2);
    char *shard = NULL;
    struct db_job *d1 = fx_take(fx, DB_JOB_MARK_DELIVERED, &shard);
    assert_string_equal(shard, "bob@localhost");
    free(shard);
    struct db_job *d2 = fx_take(fx, DB_JOB_MARK_DELIVERED, NULL);
    assert_int_equal(d1->u.delivered.message_id, 42);
    assert_int_equal(d2->u.delivered.message_id, 42);
    assert_string_equal(d1->u.delivered.recipient, "bob@localhost");
    assert_string_equal(d2->u.delivered.recipient, "bob@localhost");
    /* Session names: this node's, and one per session. */
    assert_memory_equal(d1->u.delivered.via, "test/", 5);
    assert_memory_equal(d2->u.delivered.via, "test/", 5);
    assert_string_not_equal(d1->u.delivered.via, d2->u.delivered.via);
    chat_server_complete(fx->cs, d1);
    chat_server_complete(fx->cs, d2);
}

/* The client sent <close/>: what it was written is settled (clean), on the
 * same via as the delivered marks. */
static void test_clean_end(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_online(fx, "bob", "B", 0);
    char *via = deliver_and_write(fx, alice, bob, "bob@localhost", 12);

    assert_int_equal(fx_send(bob, FX_CLOSE), PL_ESTATE);
    assert_true(bob->closed);
    fx_disconnect(bob);
    char *shard = NULL;
    struct db_job *end = fx_take(fx, DB_JOB_SESSION_END, &shard);
    assert_string_equal(shard, "bob@localhost");
    free(shard);
    assert_string_equal(end->u.session_end.via, via);
    assert_string_equal(end->u.session_end.recipient, "bob@localhost");
    assert_int_equal(end->u.session_end.clean, 1);
    chat_server_complete(fx->cs, end);
    struct db_job *p = fx_take(fx, DB_JOB_PRESENCE, NULL);
    assert_int_equal(p->u.presence.gone, 1);
    chat_server_complete(fx->cs, p);
    free(via);
}

/* A WebSocket close frame counts as the client ending it. */
static void test_peer_closed_is_clean(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_online(fx, "bob", "B", 0);
    free(deliver_and_write(fx, alice, bob, "bob@localhost", 13));

    xmpp_stream_peer_closed(bob->s);
    fx_disconnect(bob);
    struct db_job *end = fx_take(fx, DB_JOB_SESSION_END, NULL);
    assert_int_equal(end->u.session_end.clean, 1);
    chat_server_complete(fx->cs, end);
}

/* The connection died: unclean, so what was written goes back. */
static void test_unclean_end(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_online(fx, "bob", "B", 0);
    char *via = deliver_and_write(fx, alice, bob, "bob@localhost", 14);

    fx_disconnect(bob);
    struct db_job *end = fx_take(fx, DB_JOB_SESSION_END, NULL);
    assert_string_equal(end->u.session_end.via, via);
    assert_int_equal(end->u.session_end.clean, 0);
    chat_server_complete(fx->cs, end);
    free(via);

    /* A session never written a stored message has nothing to settle. */
    struct fx_client *quiet = fx_online(fx, "bob", "Q", 0);
    fx_disconnect(quiet);
    assert_int_equal(fx_count(fx, DB_JOB_SESSION_END), 0);
}

/* Messages requeued by a session's end reach the user's other sessions
 * that are online and past their first load; a requeue of nothing loads
 * nothing. */
static void test_requeue_reloads_others(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *b1 = fx_online(fx, "bob", "b1", 5);
    struct fx_client *b2 = fx_online(fx, "bob", "b2", 0);
    struct fx_client *b3 = fx_login(fx, "bob", "b3"); /* no presence */
    free(deliver_and_write(fx, alice, b1, "bob@localhost", 21));

    fx_disconnect(b1);
    fx_skip_presence(fx); /* b1's unavailable, to b2 */
    struct db_job *end = fx_take(fx, DB_JOB_SESSION_END, NULL);
    end->status = PL_OK;
    end->u.session_end.requeued = 1;
    chat_server_complete(fx->cs, end);

    assert_int_equal(fx_count(fx, DB_JOB_OFFLINE_LOAD), 1);
    char *shard = NULL;
    struct db_job *load = fx_take(fx, DB_JOB_OFFLINE_LOAD, &shard);
    assert_string_equal(shard, "bob@localhost");
    free(shard);
    assert_string_equal(load->u.offline.recipient, "bob@localhost");
    assert_int_equal(load->u.offline.after_id, 0);
    load->u.offline.count = 1;
    load->u.offline.msgs = calloc(1, sizeof(*load->u.offline.msgs));
    load->u.offline.msgs[0].id = 21;
    load->u.offline.msgs[0].created_at_us = 1700000000000000;
    load->u.offline.msgs[0].stanza_xml =
        strdup("<message xmlns='jabber:client' from='alice@localhost/A' "
               "to='bob@localhost' type='chat' id='w21'><body>written</body></message>");
    chat_server_complete(fx->cs, load);
    assert_int_equal(fx_unseen(b2), 1);
    uint64_t tag = 0;
    struct xmpp_node *m = fx_next(b2, &tag);
    assert_int_equal(tag, chat_tag(CHAT_TAG_BACKLOG, 21));
    assert_non_null(xmpp_node_child(m, "delay", XMPP_NS_DELAY));
    xmpp_node_free(m);
    xmpp_stream_written(b2->s, tag);
    assert_int_equal(fx_unseen(b3), 0);

    /* Nothing requeued, or the end failed: no load. */
    free(deliver_and_write(fx, alice, b2, "bob@localhost", 22));
    struct fx_client *b4 = fx_online(fx, "bob", "b4", 0);
    fx_disconnect(b2);
    fx_skip_presence(fx); /* b2's unavailable, to b4 */
    end = fx_take(fx, DB_JOB_SESSION_END, NULL);
    end->u.session_end.requeued = 0;
    chat_server_complete(fx->cs, end);
    assert_int_equal(fx_count(fx, DB_JOB_OFFLINE_LOAD), 0);
    assert_int_equal(fx_unseen(b4), 0);
}

/* Shutdown with jobs still out: the streams go first, the jobs are never
 * completed, and chat_server_free releases what it kept for them (the
 * sanitizers check that nothing leaks). */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bind_conflict, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_bind_conflict_settles_old, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_bind_random_resource, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_user_disabled, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_user_disabled_offline, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_login_disabled, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_login_failed_keeps_session, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_written_marks_delivered, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_clean_end, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_peer_closed_is_clean, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_unclean_end, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_requeue_reloads_others, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
