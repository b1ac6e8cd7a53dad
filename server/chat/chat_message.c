/* Messages to local accounts: storage before routing, XEP-0184 receipts,
 * XEP-0333 displayed markers, XEP-0359 stanza ids, what a client may not
 * claim (a server's <stanza-id/> or <delay/>, a carbon), XEP-0191 blocks
 * and the XEP-0280 copies to the users' other resources. The router has already decided
 * that the destination is a local account; which of its sessions get the message is
 * chat_route_message's choice. */
#include "chat_internal.h"

#include "pl_buf.h"
#include "pl_error.h"
#include "pl_log.h"

#include <stdlib.h>
#include <string.h>

/* Removes every <stanza-id xmlns='urn:xmpp:sid:0'/> a client put in: only
 * the server may claim one (XEP-0359 section 5). */
static void strip_stanza_ids(struct xmpp_node *msg)
{
    struct xmpp_node *c;
    while ((c = xmpp_node_child(msg, "stanza-id", XMPP_NS_SID))) {
        xmpp_node_unlink(msg, c);
        xmpp_node_free(c);
    }
}

/* 1 if `from` of a client's <delay/> names this server, its room service,
 * or an account of this server other than the sender: a time the
 * recipient would take for one the server (or someone else) set. */
static int delay_claims_server(const struct chat_server *cs, const char *from,
                               const char *sender_user)
{
    struct xmpp_jid j;
    if (xmpp_jid_parse(from, &j) != PL_OK)
        return 1; /* not even a JID: nothing a recipient should trust */
    enum chat_dest d = chat_route_classify_jid(cs, &j);
    int ours = d != CHAT_DEST_REMOTE;
    int self = d == CHAT_DEST_ACCOUNT && strcmp(j.local, sender_user) == 0;
    xmpp_jid_free(&j);
    return ours && !self;
}

/* Removes client-supplied XEP-0203 delays that claim this server's
 * domains: only the server stamps those (at offline delivery), so a client
 * may not make a message look server-delayed. A delay with the sender's
 * own JID, another domain, or no `from` is the client's own claim and
 * stays. */
static void strip_server_delays(const struct chat_server *cs, struct xmpp_node *msg,
                                const char *sender_user)
{
    struct xmpp_node *c = msg->children;
    while (c) {
        struct xmpp_node *next = c->next;
        const char *from;
        if (c->name && strcmp(c->name, "delay") == 0 && c->ns &&
            strcmp(c->ns, XMPP_NS_DELAY) == 0 && (from = xmpp_node_attr(c, "from")) &&
            delay_claims_server(cs, from, sender_user)) {
            xmpp_node_unlink(msg, c);
            xmpp_node_free(c);
        }
        c = next;
    }
}

/* XEP-0184: the receipt's sender is the only one whose delivery row for
 * that message may change. */
static void note_receipt(struct chat_server *cs, struct chat_session *s,
                         const struct xmpp_node *msg, const char *to_bare)
{
    struct xmpp_node *rcv = xmpp_node_child(msg, "received", XMPP_NS_RECEIPTS);
    const char *orig = rcv ? xmpp_node_attr(rcv, "id") : NULL;
    if (!orig || !*orig)
        return;
    struct db_job *job = db_job_new(DB_JOB_MARK_RECEIVED);
    if (!job)
        return;
    job->u.received.sender = strdup(to_bare);
    job->u.received.stanza_id = strdup(orig);
    job->u.received.recipient = strdup(s->user->bare_jid);
    if (!job->u.received.sender || !job->u.received.stanza_id ||
        !job->u.received.recipient) {
        db_job_free(job);
        return;
    }
    chat_submit(cs, job, s->user->bare_jid);
}

#define XMPP_NS_MARKERS "urn:xmpp:chat-markers:0"

/* XEP-0333: a `displayed` marker moves the message it names, and every
 * earlier one from the same sender, to `displayed` for the marker's
 * sender only (the store matches the recipient, as for receipts). */
static void note_marker(struct chat_server *cs, struct chat_session *s,
                        const struct xmpp_node *msg, const char *to_bare)
{
    struct xmpp_node *m = xmpp_node_child(msg, "displayed", XMPP_NS_MARKERS);
    const char *orig = m ? xmpp_node_attr(m, "id") : NULL;
    if (!orig || !*orig || strlen(orig) > 1024)
        return;
    struct db_job *job = db_job_new(DB_JOB_MARK_DISPLAYED);
    if (!job)
        return;
    job->u.displayed.sender = strdup(to_bare);
    job->u.displayed.stanza_id = strdup(orig);
    job->u.displayed.recipient = strdup(s->user->bare_jid);
    if (!job->u.displayed.sender || !job->u.displayed.stanza_id ||
        !job->u.displayed.recipient) {
        db_job_free(job);
        return;
    }
    /* The recipient's shard, like the stores of the messages it names. */
    chat_submit(cs, job, s->user->bare_jid);
}

static int is_type(const char *type, const char *name)
{
    return strcmp(type, name) == 0;
}

/* A stanza id is a key of the archive's dedup index, which bounds its size. */
#define CHAT_MAX_STANZA_ID 1024

/* 1 if the user has an available session here: what is sent to them is
 * delivered now, so PARLEY_LIMIT_OFFLINE_QUEUE need not be checked (the
 * check is the store's, and costs a count). */
static int recipient_online(struct chat_server *cs, const char *username)
{
    const struct chat_user *u = chat_user_find(cs, username);
    for (const struct chat_session *s = u ? u->sessions : NULL; s; s = s->next_in_user)
        if (s->available)
            return 1;
    return 0;
}

/* Queues the store job; the message is routed when it has committed. Any
 * failure to queue it is answered with an error: nothing accepted is
 * dropped silently. */
static void store_and_route(struct chat_server *cs, struct chat_session *s,
                            struct xmpp_stanza *st, const char *to_user,
                            const char *to_resource, const char *to_bare, char *body,
                            struct db_edit *edit)
{
    int full = !(st->id && strlen(st->id) > CHAT_MAX_STANZA_ID) && chat_store_full(cs);
    if (full || (st->id && strlen(st->id) > CHAT_MAX_STANZA_ID)) {
        chat_reply_error(cs, s, st->node, full ? "wait" : "modify",
                         full ? "resource-constraint" : "bad-request");
        db_edit_free(edit);
        free(body);
        xmpp_stanza_free(st);
        return;
    }
    struct pl_buf xml = PL_BUF_INIT;
    struct db_job *job = db_job_new(DB_JOB_MSG_STORE);
    struct chat_op *op = chat_op_new(cs, s);
    if (!job || !op || xmpp_node_serialize(st->node, NULL, &xml) != PL_OK)
        goto fail;
    op->to_user = strdup(to_user);
    op->to_resource = to_resource ? strdup(to_resource) : NULL;
    job->u.msg.sender = strdup(s->user->bare_jid);
    job->u.msg.recipient = strdup(to_bare);
    job->u.msg.stanza_id = st->id ? strdup(st->id) : NULL;
    job->u.msg.body = body;
    body = NULL;
    job->u.msg.stanza_xml = pl_buf_steal(&xml, NULL);
    job->u.msg.edit = *edit; /* the job owns its strings now */
    memset(edit, 0, sizeof(*edit));
    if (!op->to_user || (to_resource && !op->to_resource) || !job->u.msg.sender ||
        !job->u.msg.recipient || (st->id && !job->u.msg.stanza_id) ||
        !job->u.msg.stanza_xml)
        goto fail;
    job->u.msg.offline_limit = recipient_online(cs, to_user) ? 0 : cs->offline_queue_max;
    op->stanza = st;
    job->owner = op;
    chat_submit(cs, job, to_bare);
    return;
fail:
    chat_reply_error(cs, s, st->node, "wait", "resource-constraint");
    pl_buf_free(&xml);
    free(body);
    db_edit_free(edit);
    db_job_free(job);
    chat_op_free(cs, op);
    xmpp_stanza_free(st);
}

void chat_message_handle(struct chat_server *cs, struct chat_session *s,
                         struct xmpp_stanza *st)
{
    const char *type = st->type ? st->type : "normal";
    const char *to_user = st->has_to ? st->to.local : s->user->username;
    const char *to_resource = st->has_to ? st->to.resource : NULL;
    char *to_bare = chat_bare_jid(cs, to_user);
    if (!to_bare) {
        if (!is_type(type, "error"))
            chat_reply_error(cs, s, st->node, "wait", "resource-constraint");
        xmpp_stanza_free(st);
        return;
    }
    if (is_type(type, "groupchat")) {
        /* groupchat goes to rooms, not accounts (RFC 6121 section 5.2.2) */
        chat_reply_error(cs, s, st->node, "cancel", "service-unavailable");
        goto done;
    }
    /* XEP-0191: not to someone the sender blocks (section 3.4), and
     * nothing from someone the recipient blocks (3.3; the store refuses it
     * too, for a recipient who is offline). */
    struct chat_user *ru = chat_user_find(cs, to_user);
    int blocked_by_sender = 0;
    if (st->has_to && s->user->blocked.count) { /* most users block nobody */
        char *to_full = xmpp_jid_full(&st->to);
        blocked_by_sender = to_full && chat_block_blocks(s->user, to_full);
        free(to_full);
    }
    if (blocked_by_sender) {
        if (!is_type(type, "error"))
            chat_block_reply_blocked(cs, s, st->node);
        goto done;
    }
    if (ru && ru != s->user && chat_block_blocks(ru, xmpp_stream_full_jid(s->stream))) {
        if (!is_type(type, "error"))
            chat_reply_error(cs, s, st->node, "cancel", "service-unavailable");
        goto done;
    }
    strip_stanza_ids(st->node);
    strip_server_delays(cs, st->node, s->user->username);
    chat_carbons_strip(st->node);
    note_receipt(cs, s, st->node, to_bare);
    note_marker(cs, s, st->node, to_bare);

    struct xmpp_node *body_node = xmpp_node_child(st->node, "body", XMPP_NS_CLIENT);
    char *body = body_node ? xmpp_node_text(body_node) : NULL;
    /* XEP-0308, -0424, -0444, -0461: an edit is archived like a message
     * with a body, and applied by the store (chat_edit.c). */
    struct db_edit edit = {0};
    const char *refuse = NULL;
    int edits = 0;
    if (is_type(type, "chat") || is_type(type, "normal"))
        edits = chat_edit_parse(st->node, body_node != NULL, &edit, &refuse);
    if (edits < 0) {
        chat_reply_error(cs, s, st->node,
                         strcmp(refuse, "resource-constraint") ? "modify" : "wait",
                         refuse);
        free(body);
        goto done;
    }
    if ((body || edits) && (is_type(type, "chat") || is_type(type, "normal"))) {
        store_and_route(cs, s, st, to_user, to_resource, to_bare, body, &edit);
        free(to_bare);
        return;
    }
    free(body);

    /* Not archived (no body: chat states, receipts, markers; or errors and
     * headlines): live delivery only, as ejabberd and Prosody do. */
    struct chat_user *u = ru;
    if (is_type(type, "error") && !(to_resource && chat_session_find(u, to_resource)))
        goto done;
    struct pl_frame *f = chat_frame(st->node);
    if (f)
        chat_route_message(u, to_resource, 0, f);
    pl_frame_unref(f);
    if (chat_carbons_eligible(st->node)) {
        if (u)
            chat_carbons_received(cs, u, to_resource, st->node, u == s->user ? s : NULL);
        if (u != s->user)
            chat_carbons_sent(cs, s->user, s, st->node, 0);
    }
done:
    free(to_bare);
    xmpp_stanza_free(st);
}

void chat_message_stored(struct chat_server *cs, struct db_job *job, struct chat_op *op)
{
    if (job->status != PL_OK) {
        pl_error(0, job->u.msg.sender, "storing a message failed: %s",
                 pl_strerror(job->status));
        struct chat_session *s = chat_op_session(cs, op);
        if (s)
            chat_reply_error(cs, s, op->stanza->node, "wait", "internal-server-error");
        return;
    }
    /* An edit of a message not in the conversation, or not the sender's:
     * nothing was stored. */
    if (chat_edit_refused(cs, chat_op_session(cs, op), op->stanza->node,
                          &job->u.msg.edit))
        return;
    if (job->u.msg.id < 0) {
        /* PARLEY_LIMIT_OFFLINE_QUEUE: the recipient has as much waiting as
         * they may; nothing was stored, and the sender is told so. The
         * same answer whether the account exists or not. */
        pl_metrics_limit(cs->metrics, PL_METRICS_LIMIT_OFFLINE_QUEUE);
        pl_debug(0, job->u.msg.sender, "offline queue of %s full", job->u.msg.recipient);
        struct chat_session *s = chat_op_session(cs, op);
        if (s)
            chat_reply_error(cs, s, op->stanza->node, "wait", "resource-constraint");
        return;
    }
    if (job->u.msg.id == 0) {
        /* The recipient blocks the sender: nothing was stored (XEP-0191
         * section 3.3). */
        struct chat_session *s = chat_op_session(cs, op);
        if (s)
            chat_reply_error(cs, s, op->stanza->node, "cancel", "service-unavailable");
        return;
    }
    if (job->u.msg.inserted && cs->metrics)
        pl_metrics_add(&cs->metrics->messages_stored, 1);
    if (!job->u.msg.pending) {
        /* A true retry of a message already stored and delivered. */
        pl_debug(0, job->u.msg.sender, "retry of message id %s already delivered",
                 job->u.msg.stanza_id ? job->u.msg.stanza_id : "-");
        return;
    }
    /* Serialised once; every session it goes to shares the frame. */
    struct xmpp_node *copy = xmpp_node_copy(op->stanza->node);
    struct pl_frame *f = NULL;
    if (copy && chat_add_stanza_id(copy, job->u.msg.id, job->u.msg.recipient) == PL_OK)
        f = chat_frame(copy);
    struct chat_user *ru = chat_user_find(cs, op->to_user);
    if (f)
        chat_route_message(ru, op->to_resource, job->u.msg.id, f);
    if (f && chat_carbons_eligible(copy)) {
        /* XEP-0280: the recipient's other resources, and the sender's. */
        struct chat_user *su = chat_user_find(cs, op->user);
        struct chat_session *sender = chat_op_session(cs, op);
        if (ru)
            chat_carbons_received(cs, ru, op->to_resource, copy,
                                  ru == su ? sender : NULL);
        if (su && su != ru)
            chat_carbons_sent(cs, su, sender, op->stanza->node, job->u.msg.id);
    }
    if (!f)
        pl_error(0, job->u.msg.sender,
                 "out of memory routing message %lld (stays stored)",
                 (long long)job->u.msg.id);
    pl_frame_unref(f);
    xmpp_node_free(copy);
}

void chat_message_written(struct chat_server *cs, struct chat_session *s, int64_t id)
{
    chat_message_mark(cs, s, id, DB_JOB_MARK_DELIVERED);
}

void chat_message_mark(struct chat_server *cs, struct chat_session *s, int64_t id,
                       enum db_job_kind kind)
{
    const char *bare = xmpp_stream_bare_jid(s->stream);
    struct db_job *job = db_job_new(kind);
    if (!job || !bare || !(job->u.delivered.recipient = strdup(bare)) ||
        !(job->u.delivered.via = strdup(s->via))) {
        db_job_free(job);
        return;
    }
    job->u.delivered.message_id = id;
    s->wrote = 1;
    chat_submit(cs, job, bare);
}
