/* Messages through the chat layer: the store job, routing after the commit
 * (RFC 6121 section 8.5), XEP-0359 stanza ids, XEP-0184 receipts, and the
 * errors for what this server does not route. */
#include "chat_fixture.h"

/* A chat message to a bare JID becomes one MSG_STORE job and nothing is
 * routed before it has committed. */
static void test_store_job_fields(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_online(fx, "bob", "B", 0);

    assert_int_equal(fx_send(alice, "<message to='bob@localhost' type='chat' id='m1'>"
                                    "<body>hello &amp; bye</body>"
                                    "<stanza-id xmlns='urn:xmpp:sid:0' id='forged' "
                                    "by='bob@localhost'/></message>"),
                     PL_OK);
    assert_int_equal(fx_count(fx, DB_JOB_MSG_STORE), 1);
    char *shard = NULL;
    struct db_job *job = fx_take(fx, DB_JOB_MSG_STORE, &shard);
    assert_string_equal(shard, "bob@localhost");
    free(shard);
    assert_string_equal(job->u.msg.sender, "alice@localhost");
    assert_string_equal(job->u.msg.recipient, "bob@localhost");
    assert_string_equal(job->u.msg.stanza_id, "m1");
    assert_string_equal(job->u.msg.body, "hello & bye");

    struct xmpp_node *xml = NULL;
    enum xmpp_parse_error why;
    assert_int_equal(xmpp_parse(fx->check, job->u.msg.stanza_xml,
                                strlen(job->u.msg.stanza_xml), NULL, &xml, &why),
                     PL_OK);
    assert_string_equal(xml->name, "message");
    assert_string_equal(xml->ns, XMPP_NS_CLIENT);
    assert_string_equal(xmpp_node_attr(xml, "from"), "alice@localhost/A");
    assert_string_equal(xmpp_node_attr(xml, "to"), "bob@localhost");
    assert_string_equal(xmpp_node_attr(xml, "id"), "m1");
    assert_null(xmpp_node_child(xml, "stanza-id", XMPP_NS_SID));
    assert_non_null(xmpp_node_child(xml, "body", XMPP_NS_CLIENT));
    xmpp_node_free(xml);

    /* Nothing goes out before the commit. */
    assert_int_equal(fx_unseen(bob), 0);
    assert_int_equal(fx_unseen(alice), 0);
    chat_server_complete(fx->cs, job);
}

/* After the commit the recipient gets the message once, with the server's
 * stanza id, tagged with the archive id. */
static void test_routed_after_commit(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_online(fx, "bob", "B", 0);

    assert_int_equal(fx_send(alice, "<message to='bob@localhost' type='chat' id='m1'>"
                                    "<body>hi</body>"
                                    "<stanza-id xmlns='urn:xmpp:sid:0' id='forged' "
                                    "by='bob@localhost'/></message>"),
                     PL_OK);
    assert_int_equal(fx_unseen(bob), 0);
    fx_store_ok(fx, 42);

    assert_int_equal(fx_unseen(bob), 1);
    uint64_t tag = 0;
    struct xmpp_node *m = fx_next(bob, &tag);
    assert_int_equal(tag, chat_tag(CHAT_TAG_MESSAGE, 42));
    assert_string_equal(m->name, "message");
    assert_string_equal(xmpp_node_attr(m, "from"), "alice@localhost/A");
    assert_string_equal(xmpp_node_attr(m, "id"), "m1");
    assert_string_equal(xmpp_node_attr(m, "type"), "chat");
    struct xmpp_node *body = xmpp_node_child(m, "body", XMPP_NS_CLIENT);
    assert_non_null(body);
    char *text = xmpp_node_text(body);
    assert_string_equal(text, "hi");
    free(text);
    assert_int_equal(fx_count_children(m, "stanza-id", XMPP_NS_SID), 1);
    struct xmpp_node *sid = xmpp_node_child(m, "stanza-id", XMPP_NS_SID);
    assert_string_equal(xmpp_node_attr(sid, "id"), "42");
    assert_string_equal(xmpp_node_attr(sid, "by"), "bob@localhost");
    assert_null(xmpp_node_child(m, "delay", XMPP_NS_DELAY));
    xmpp_node_free(m);
    assert_int_equal(fx_unseen(alice), 0);
}

/* pending=0: the row was already delivered (a retry), so it is not sent
 * again; inserted=0 with pending=1 is still routed. */
static void test_pending_decides_routing(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_online(fx, "bob", "B", 0);

    fx_chat(alice, "bob@localhost", "m1", "once");
    struct db_job *job = fx_take(fx, DB_JOB_MSG_STORE, NULL);
    job->u.msg.id = 42;
    job->u.msg.inserted = 0;
    job->u.msg.pending = 0;
    chat_server_complete(fx->cs, job);
    assert_int_equal(fx_unseen(bob), 0);
    assert_int_equal(fx_unseen(alice), 0);

    fx_chat(alice, "bob@localhost", "m1", "once");
    job = fx_take(fx, DB_JOB_MSG_STORE, NULL);
    job->u.msg.id = 42;
    job->u.msg.inserted = 0;
    job->u.msg.pending = 1;
    chat_server_complete(fx->cs, job);
    uint64_t tag = 0;
    struct xmpp_node *m = fx_next(bob, &tag);
    assert_int_equal(tag, chat_tag(CHAT_TAG_MESSAGE, 42));
    xmpp_node_free(m);
}

/* The store failed: the sender is told, the recipient gets nothing. */
static void test_store_error_tells_sender(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_online(fx, "bob", "B", 0);

    fx_chat(alice, "bob@localhost", "m9", "lost?");
    struct db_job *job = fx_take(fx, DB_JOB_MSG_STORE, NULL);
    job->status = PL_EIO;
    chat_server_complete(fx->cs, job);
    assert_int_equal(fx_unseen(bob), 0);
    assert_int_equal(fx_unseen(alice), 1);
    struct xmpp_node *e = fx_next(alice, NULL);
    fx_assert_stanza_error(e, "message", "wait", "internal-server-error");
    assert_string_equal(xmpp_node_attr(e, "id"), "m9");
    assert_string_equal(xmpp_node_attr(e, "to"), "alice@localhost/A");
    xmpp_node_free(e);
}

/* The sender's session ended before the failure came back: nobody to tell,
 * and nothing breaks. */
static void test_store_error_sender_gone(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_online(fx, "bob", "B", 0);

    fx_chat(alice, "bob@localhost", "m9", "lost?");
    fx_disconnect(alice);
    struct db_job *job = fx_take(fx, DB_JOB_MSG_STORE, NULL);
    job->status = PL_EIO;
    chat_server_complete(fx->cs, job);
    assert_int_equal(fx_unseen(bob), 0);
}

/* Did client c get exactly one frame, a message with this archive id? */
static void expect_delivered(struct fx_client *c, int64_t id)
{
    assert_int_equal(fx_unseen(c), 1);
    uint64_t tag = 0;
    struct xmpp_node *m = fx_next(c, &tag);
    assert_int_equal(tag, chat_tag(CHAT_TAG_MESSAGE, id));
    assert_string_equal(m->name, "message");
    xmpp_node_free(m);
}

/* RFC 6121 8.5.2.1.1: a bare JID goes to every available resource with the
 * highest non-negative priority. */
static void test_bare_jid_highest_priority(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *b1 = fx_online(fx, "bob", "b1", 5);
    struct fx_client *b2 = fx_online(fx, "bob", "b2", 5);
    struct fx_client *b3 = fx_online(fx, "bob", "b3", 1);
    struct fx_client *b4 = fx_online(fx, "bob", "b4", -1);

    fx_chat(alice, "bob@localhost", "m1", "to all");
    fx_store_ok(fx, 10);
    expect_delivered(b1, 10);
    expect_delivered(b2, 10);
    assert_int_equal(fx_unseen(b3), 0);
    assert_int_equal(fx_unseen(b4), 0);

    /* Priority changes with later presence. */
    assert_int_equal(fx_send(b3, "<presence><priority>9</priority></presence>"), PL_OK);
    fx_skip_presence(fx); /* the echo to the user's resources */
    fx_complete_all(fx, DB_JOB_PRESENCE);
    assert_int_equal(fx_count(fx, DB_JOB_OFFLINE_LOAD), 0);
    fx_skip_presence(fx); /* b3's new presence, to bob's resources */
    fx_chat(alice, "bob@localhost", "m2", "to b3");
    fx_store_ok(fx, 11);
    expect_delivered(b3, 11);
    assert_int_equal(fx_unseen(b1), 0);
    assert_int_equal(fx_unseen(b2), 0);
    assert_int_equal(fx_unseen(b4), 0);
}

/* Only negative priorities: a bare JID reaches nobody (the row stays
 * stored), a full JID still reaches its resource. */
static void test_negative_priority_only(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *b4 = fx_online(fx, "bob", "b4", -1);

    fx_chat(alice, "bob@localhost", "m1", "bare");
    fx_store_ok(fx, 10);
    assert_int_equal(fx_unseen(b4), 0);

    fx_chat(alice, "bob@localhost/b4", "m2", "full");
    fx_store_ok(fx, 11);
    expect_delivered(b4, 11);
}

/* A full JID reaches that resource whatever its priority, and even before
 * it has sent presence. */
static void test_full_jid(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *b1 = fx_online(fx, "bob", "b1", 5);
    struct fx_client *b4 = fx_online(fx, "bob", "b4", -1);
    struct fx_client *quiet = fx_login(fx, "bob", "quiet");

    fx_chat(alice, "bob@localhost/b4", "m1", "to b4");
    char *shard = NULL;
    struct db_job *job = fx_take(fx, DB_JOB_MSG_STORE, &shard);
    /* Stored for the account, whatever the resource. */
    assert_string_equal(shard, "bob@localhost");
    assert_string_equal(job->u.msg.recipient, "bob@localhost");
    free(shard);
    job->u.msg.id = 20;
    job->u.msg.inserted = 1;
    job->u.msg.pending = 1;
    chat_server_complete(fx->cs, job);
    expect_delivered(b4, 20);
    assert_int_equal(fx_unseen(b1), 0);
    assert_int_equal(fx_unseen(quiet), 0);

    fx_chat(alice, "bob@localhost/quiet", "m2", "to quiet");
    fx_store_ok(fx, 21);
    expect_delivered(quiet, 21);
    assert_int_equal(fx_unseen(b1), 0);
    assert_int_equal(fx_unseen(b4), 0);
}

/* A full JID whose resource is not connected falls back to the bare JID
 * rules (RFC 6121 8.5.3.2.1). */
static void test_missing_resource_uses_bare_rules(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *b1 = fx_online(fx, "bob", "b1", 5);
    struct fx_client *b3 = fx_online(fx, "bob", "b3", 1);

    fx_chat(alice, "bob@localhost/gone", "m1", "where?");
    fx_store_ok(fx, 30);
    expect_delivered(b1, 30);
    assert_int_equal(fx_unseen(b3), 0);
}

/* The resource was connected when the message was sent and is gone at the
 * commit: the bare rules apply then. */
static void test_resource_gone_before_commit(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *b1 = fx_online(fx, "bob", "b1", 5);
    struct fx_client *b2 = fx_online(fx, "bob", "b2", 0);

    fx_chat(alice, "bob@localhost/b2", "m1", "for b2");
    fx_disconnect(b2);
    fx_skip_presence(fx); /* b2's unavailable, to b1 */
    fx_store_ok(fx, 31);
    expect_delivered(b1, 31);
}

/* No available resource: nothing is sent and the row stays stored. */
static void test_no_available_resource(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bound = fx_login(fx, "bob", "b1");
    struct fx_client *away = fx_online(fx, "bob", "b2", 3);
    assert_int_equal(fx_send(away, "<presence type='unavailable'/>"), PL_OK);
    fx_skip_presence(fx); /* the echo to the user's resources */
    char *shard = NULL;
    struct db_job *p = fx_take(fx, DB_JOB_PRESENCE, &shard);
    assert_string_equal(shard, "bob@localhost/b2");
    free(shard);
    assert_int_equal(p->u.presence.available, 0);
    assert_int_equal(p->u.presence.gone, 0);
    chat_server_complete(fx->cs, p);

    fx_chat(alice, "bob@localhost", "m1", "later");
    fx_store_ok(fx, 40);
    assert_int_equal(fx_unseen(bound), 0);
    assert_int_equal(fx_unseen(away), 0);
    assert_int_equal(fx_unseen(alice), 0);
    assert_int_equal(fx_count(fx, DB_JOB_MARK_DELIVERED), 0);

    /* And nobody at all under that name. */
    fx_chat(alice, "carol@localhost", "m2", "nobody home");
    char *cshard = NULL;
    struct db_job *job = fx_take(fx, DB_JOB_MSG_STORE, &cshard);
    assert_string_equal(cshard, "carol@localhost");
    assert_string_equal(job->u.msg.recipient, "carol@localhost");
    free(cshard);
    job->u.msg.id = 41;
    job->u.msg.inserted = 1;
    job->u.msg.pending = 1;
    chat_server_complete(fx->cs, job);
    assert_int_equal(fx_unseen(alice), 0);
}

/* A message without `to` is for the sender's own account. */
static void test_message_to_self(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a1 = fx_online(fx, "alice", "A", 1);
    struct fx_client *a2 = fx_online(fx, "alice", "B", 0);

    assert_int_equal(
        fx_send(a2, "<message type='chat' id='n'><body>note</body></message>"), PL_OK);
    struct db_job *job = fx_take(fx, DB_JOB_MSG_STORE, NULL);
    assert_string_equal(job->u.msg.sender, "alice@localhost");
    assert_string_equal(job->u.msg.recipient, "alice@localhost");
    job->u.msg.id = 50;
    job->u.msg.pending = 1;
    chat_server_complete(fx->cs, job);
    expect_delivered(a1, 50);
    assert_int_equal(fx_unseen(a2), 0);
}

/* XEP-0184: a receipt marks the original message received, is routed live
 * and is not archived. */
static void test_receipt(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_online(fx, "bob", "B", 0);

    assert_int_equal(fx_send(bob, "<message to='alice@localhost/A' id='r1'>"
                                  "<received xmlns='urn:xmpp:receipts' id='m1'/>"
                                  "</message>"),
                     PL_OK);
    assert_int_equal(fx_count(fx, DB_JOB_MSG_STORE), 0);
    assert_int_equal(fx_count(fx, DB_JOB_MARK_RECEIVED), 1);
    char *shard = NULL;
    struct db_job *job = fx_take(fx, DB_JOB_MARK_RECEIVED, &shard);
    assert_string_equal(job->u.received.sender, "alice@localhost");
    assert_string_equal(job->u.received.stanza_id, "m1");
    assert_string_equal(job->u.received.recipient, "bob@localhost");
    assert_non_null(shard);
    free(shard);
    chat_server_complete(fx->cs, job);

    assert_int_equal(fx_unseen(alice), 1);
    uint64_t tag = 99;
    struct xmpp_node *m = fx_next(alice, &tag);
    assert_int_equal(tag, 0);
    assert_string_equal(m->name, "message");
    assert_string_equal(xmpp_node_attr(m, "from"), "bob@localhost/B");
    struct xmpp_node *r = xmpp_node_child(m, "received", XMPP_NS_RECEIPTS);
    assert_non_null(r);
    assert_string_equal(xmpp_node_attr(r, "id"), "m1");
    assert_null(xmpp_node_child(m, "stanza-id", XMPP_NS_SID));
    xmpp_node_free(m);
    assert_int_equal(fx_unseen(bob), 0);

    /* Written with tag 0: nothing to mark delivered. */
    assert_int_equal(fx_count(fx, DB_JOB_MARK_DELIVERED), 0);
}

/* A receipt sent to a bare JID goes by the bare rules too. */
static void test_receipt_to_bare(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_online(fx, "bob", "B", 0);

    assert_int_equal(fx_send(bob, "<message to='alice@localhost'>"
                                  "<received xmlns='urn:xmpp:receipts' id='m7'/>"
                                  "</message>"),
                     PL_OK);
    struct db_job *job = fx_take(fx, DB_JOB_MARK_RECEIVED, NULL);
    assert_string_equal(job->u.received.sender, "alice@localhost");
    assert_string_equal(job->u.received.stanza_id, "m7");
    assert_string_equal(job->u.received.recipient, "bob@localhost");
    chat_server_complete(fx->cs, job);
    assert_int_equal(fx_unseen(alice), 1);
    struct xmpp_node *m = fx_next(alice, NULL);
    assert_non_null(xmpp_node_child(m, "received", XMPP_NS_RECEIPTS));
    xmpp_node_free(m);
}

/* Bodiless messages (chat states) are routed live and never stored; a
 * headline with a body is not archived either. */
static void test_bodiless_not_stored(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_online(fx, "bob", "B", 0);

    assert_int_equal(fx_send(alice, "<message to='bob@localhost' type='chat'>"
                                    "<composing xmlns='http://jabber.org/protocol/"
                                    "chatstates'/></message>"),
                     PL_OK);
    assert_int_equal(fx_count(fx, DB_JOB_MSG_STORE), 0);
    assert_int_equal(fx_count(fx, DB_JOB_MARK_RECEIVED), 0);
    assert_int_equal(fx_unseen(bob), 1);
    uint64_t tag = 99;
    struct xmpp_node *m = fx_next(bob, &tag);
    assert_int_equal(tag, 0);
    assert_non_null(
        xmpp_node_child(m, "composing", "http://jabber.org/protocol/chatstates"));
    xmpp_node_free(m);

    assert_int_equal(fx_send(alice, "<message to='bob@localhost' type='headline'>"
                                    "<body>news</body></message>"),
                     PL_OK);
    assert_int_equal(fx_count(fx, DB_JOB_MSG_STORE), 0);
    assert_int_equal(fx_unseen(bob), 1);
    xmpp_node_free(fx_next(bob, NULL));
}

/* Groupchat to a user: there are no rooms here. */
static void test_groupchat_to_user(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_online(fx, "bob", "B", 0);

    assert_int_equal(fx_send(alice, "<message to='bob@localhost' type='groupchat' "
                                    "id='g1'><body>all</body></message>"),
                     PL_OK);
    assert_int_equal(fx_count(fx, DB_JOB_MSG_STORE), 0);
    assert_int_equal(fx_unseen(bob), 0);
    fx_expect_error(alice, "message", "cancel", "service-unavailable");
}

static void test_other_domain(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);

    fx_chat(alice, "bob@example.org", "x1", "far");
    assert_int_equal(fx_count(fx, DB_JOB_MSG_STORE), 0);
    assert_int_equal(fx_unseen(alice), 1);
    struct xmpp_node *e = fx_next(alice, NULL);
    fx_assert_stanza_error(e, "message", "cancel", "remote-server-not-found");
    assert_string_equal(xmpp_node_attr(e, "id"), "x1");
    assert_string_equal(xmpp_node_attr(e, "from"), "bob@example.org");
    xmpp_node_free(e);

    /* An error is never answered with an error. */
    assert_int_equal(fx_send(alice, "<message to='bob@example.org' type='error'/>"),
                     PL_OK);
    assert_int_equal(fx_unseen(alice), 0);
}

static void test_muc_domain(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);

    /* A message to a room is the room service's (chat_room_msg.c), never
     * a direct message: no such room here. */
    fx_chat(alice, "room@conference.localhost", "c1", "hello room");
    assert_int_equal(fx_count(fx, DB_JOB_MSG_STORE), 0);
    fx_complete_all(fx, DB_JOB_ROOM_LOAD);
    fx_expect_error(alice, "message", "cancel", "item-not-found");

    /* The server itself takes no messages either. */
    fx_chat(alice, "localhost", "c2", "hello server");
    assert_int_equal(fx_count(fx, DB_JOB_MSG_STORE), 0);
    fx_expect_error(alice, "message", "cancel", "service-unavailable");
}

/* A stanza id is a key of the archive: over 1024 bytes is refused. */
static void test_long_stanza_id(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_online(fx, "bob", "B", 0);
    char id[1026];

    memset(id, 'x', 1025);
    id[1025] = '\0';
    fx_chat(alice, "bob@localhost", id, "long");
    assert_int_equal(fx_count(fx, DB_JOB_MSG_STORE), 0);
    fx_expect_error(alice, "message", "modify", "bad-request");
    assert_int_equal(fx_unseen(bob), 0);

    id[1024] = '\0';
    fx_chat(alice, "bob@localhost", id, "just fits");
    struct db_job *job = fx_take(fx, DB_JOB_MSG_STORE, NULL);
    assert_int_equal(strlen(job->u.msg.stanza_id), 1024);
    assert_int_equal(fx_unseen(alice), 0);
    chat_server_complete(fx->cs, job);
}

/* A message without an id is stored with a NULL stanza id. */
static void test_message_without_id(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    fx_online(fx, "bob", "B", 0);

    assert_int_equal(
        fx_send(alice,
                "<message to='bob@localhost' type='chat'><body>x</body></message>"),
        PL_OK);
    struct db_job *job = fx_take(fx, DB_JOB_MSG_STORE, NULL);
    assert_null(job->u.msg.stanza_id);
    chat_server_complete(fx->cs, job);
}

/* Error messages are never stored; one to a connected full JID is routed,
 * one to a bare JID is dropped (RFC 6121 8.5.2.1.1). */
static void test_error_messages(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_online(fx, "bob", "B", 0);

    assert_int_equal(fx_send(bob, "<message to='alice@localhost/A' type='error' id='e1'>"
                                  "<body>x</body><error type='cancel'>"
                                  "<item-not-found xmlns='urn:ietf:params:xml:ns:"
                                  "xmpp-stanzas'/></error></message>"),
                     PL_OK);
    assert_int_equal(fx_count(fx, DB_JOB_MSG_STORE), 0);
    assert_int_equal(fx_unseen(alice), 1);
    struct xmpp_node *m = fx_next(alice, NULL);
    assert_string_equal(xmpp_node_attr(m, "type"), "error");
    assert_string_equal(xmpp_node_attr(m, "from"), "bob@localhost/B");
    xmpp_node_free(m);

    assert_int_equal(fx_send(bob, "<message to='alice@localhost' type='error' id='e2'>"
                                  "<body>x</body></message>"),
                     PL_OK);
    assert_int_equal(fx_send(bob, "<message to='alice@localhost/gone' type='error' "
                                  "id='e3'><body>x</body></message>"),
                     PL_OK);
    assert_int_equal(fx_count(fx, DB_JOB_MSG_STORE), 0);
    assert_int_equal(fx_unseen(alice), 0);
    assert_int_equal(fx_unseen(bob), 0);
}

/* The delays left in the stored stanza, as `from` values in order. */
static size_t stored_delays(struct fx *fx, const char **froms, size_t max)
{
    struct db_job *job = fx_take(fx, DB_JOB_MSG_STORE, NULL);
    struct xmpp_node *xml = NULL;
    enum xmpp_parse_error why;
    assert_int_equal(xmpp_parse(fx->check, job->u.msg.stanza_xml,
                                strlen(job->u.msg.stanza_xml), NULL, &xml, &why),
                     PL_OK);
    size_t n = 0;
    for (struct xmpp_node *c = xml->children; c; c = c->next) {
        if (!c->name || strcmp(c->name, "delay") != 0)
            continue;
        assert_true(n < max);
        const char *from = xmpp_node_attr(c, "from");
        froms[n++] = from ? strdup(from) : strdup("(none)");
    }
    xmpp_node_free(xml);
    chat_server_complete(fx->cs, job);
    return n;
}

/* Defect: a client's <delay from='localhost'/> was stored and delivered,
 * so the recipient saw a time that looked server-set. Delays claiming this
 * server, its room service or another account go before storing; the
 * sender's own, another domain's and one without `from` stay. */
static void test_server_delays_removed(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    assert_int_equal(
        fx_send(alice,
                "<message to='bob@localhost' type='chat' id='d1'><body>when?</body>"
                "<delay xmlns='urn:xmpp:delay' from='localhost' "
                "stamp='2001-01-01T00:00:00Z'/>"
                "<delay xmlns='urn:xmpp:delay' from='LocalHost/x' "
                "stamp='2001-01-01T00:00:00Z'/>"
                "<delay xmlns='urn:xmpp:delay' from='conference.localhost' "
                "stamp='2001-01-01T00:00:00Z'/>"
                "<delay xmlns='urn:xmpp:delay' from='bob@localhost' "
                "stamp='2001-01-01T00:00:00Z'/>"
                "<delay xmlns='urn:xmpp:delay' from='not a jid@' "
                "stamp='2001-01-01T00:00:00Z'/>"
                "<delay xmlns='urn:xmpp:delay' from='alice@localhost/A' "
                "stamp='2002-02-02T00:00:00Z'/>"
                "<delay xmlns='urn:xmpp:delay' from='example.org' "
                "stamp='2003-03-03T00:00:00Z'/>"
                "<delay xmlns='urn:xmpp:delay' stamp='2004-04-04T00:00:00Z'/>"
                "</message>"),
        PL_OK);
    const char *froms[8];
    size_t n = stored_delays(fx, froms, 8);
    assert_int_equal(n, 3);
    assert_string_equal(froms[0], "alice@localhost/A");
    assert_string_equal(froms[1], "example.org");
    assert_string_equal(froms[2], "(none)");
    for (size_t i = 0; i < n; i++)
        free((char *)froms[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_job_fields, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_routed_after_commit, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_pending_decides_routing, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_store_error_tells_sender, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_store_error_sender_gone, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_bare_jid_highest_priority, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_negative_priority_only, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_full_jid, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_missing_resource_uses_bare_rules, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_resource_gone_before_commit, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_no_available_resource, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_message_to_self, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_receipt, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_receipt_to_bare, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_bodiless_not_stored, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_groupchat_to_user, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_other_domain, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_muc_domain, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_long_stanza_id, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_message_without_id, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_error_messages, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_server_delays_removed, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
