/* Messages: 1:1 routing per RFC 6121 section 8.5, storage before routing,
 * XEP-0184 receipts and XEP-0359 stanza ids. */
#include "chat_internal.h"

#include "pl_buf.h"
#include "pl_error.h"
#include "pl_log.h"

#include <stdlib.h>
#include <string.h>

/* Sends `bytes` (a stored message with archive id `id`, or a live one with
 * id 0) to s, or holds a stored one while s's offline queue is loading. */
static void chat_deliver(struct chat_session *s, int64_t id, const char *bytes,
                         size_t len)
{
    if (s->offline != CHAT_OFFLINE_LOADING || id == 0) {
        xmpp_stream_send_bytes(s->stream, bytes, len, (uint64_t)id);
        return;
    }
    struct chat_held *h = malloc(sizeof(*h));
    char *copy = malloc(len);
    if (!h || !copy) {
        /* Not sent, so still `stored`: the next login delivers it. */
        free(h);
        free(copy);
        return;
    }
    memcpy(copy, bytes, len);
    h->next = NULL;
    h->id = id;
    h->bytes = copy;
    h->len = len;
    if (s->held_tail)
        s->held_tail->next = h;
    else
        s->held_head = h;
    s->held_tail = h;
}

/* Delivers bytes to the sessions RFC 6121 picks: the addressed resource if
 * it is connected; otherwise (a bare JID, or a resource that is gone) every
 * available resource of the highest non-negative priority. Returns how many
 * sessions got it. */
static int route(struct chat_user *u, const char *resource, int64_t id, const char *bytes,
                 size_t len)
{
    if (!u)
        return 0;
    struct chat_session *full = resource ? chat_session_find(u, resource) : NULL;
    if (full) {
        chat_deliver(full, id, bytes, len);
        return 1;
    }
    int best = -1, found = 0;
    for (struct chat_session *s = u->sessions; s; s = s->next_in_user)
        if (s->available && s->priority > best)
            best = s->priority;
    if (best < 0)
        return 0;
    for (struct chat_session *s = u->sessions; s; s = s->next_in_user) {
        if (s->available && s->priority == best) {
            chat_deliver(s, id, bytes, len);
            found++;
        }
    }
    return found;
}

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

static int is_type(const char *type, const char *name)
{
    return strcmp(type, name) == 0;
}

/* A stanza id is a key of the archive's unique index, which bounds its size. */
#define CHAT_MAX_STANZA_ID 1024

/* Queues the store job; the message is routed when it has committed. */
static void store_and_route(struct chat_server *cs, struct chat_session *s,
                            struct xmpp_stanza *st, const char *to_user,
                            const char *to_resource, const char *to_bare, char *body)
{
    if (st->id && strlen(st->id) > CHAT_MAX_STANZA_ID) {
        chat_reply_error(cs, s, st->node, "modify", "bad-request");
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
    if (!op->to_user || (to_resource && !op->to_resource) || !job->u.msg.sender ||
        !job->u.msg.recipient || (st->id && !job->u.msg.stanza_id) ||
        !job->u.msg.stanza_xml)
        goto fail;
    op->stanza = st;
    job->owner = op;
    chat_submit(cs, job, to_bare);
    return;
fail:
    chat_reply_error(cs, s, st->node, "wait", "resource-constraint");
    pl_buf_free(&xml);
    free(body);
    db_job_free(job);
    chat_op_free(cs, op);
    xmpp_stanza_free(st);
}

void chat_message_handle(struct chat_server *cs, struct chat_session *s,
                         struct xmpp_stanza *st)
{
    const char *type = st->type ? st->type : "normal";
    const char *to_user = s->user->username, *to_resource = NULL;

    if (st->has_to) {
        if (strcmp(st->to.domain, cs->domain) != 0 || !st->to.local) {
            /* Rooms come with the MUC service; no server-to-server links. */
            const char *cond = strcmp(st->to.domain, cs->domain) == 0 ||
                                       strcmp(st->to.domain, cs->muc_domain) == 0
                                   ? "service-unavailable"
                                   : "remote-server-not-found";
            if (!is_type(type, "error"))
                chat_reply_error(cs, s, st->node, "cancel", cond);
            xmpp_stanza_free(st);
            return;
        }
        to_user = st->to.local;
        to_resource = st->to.resource;
    }
    char *to_bare = malloc(strlen(to_user) + strlen(cs->domain) + 2);
    if (!to_bare) {
        xmpp_stanza_free(st);
        return;
    }
    strcpy(to_bare, to_user);
    strcat(to_bare, "@");
    strcat(to_bare, cs->domain);

    if (is_type(type, "groupchat")) {
        chat_reply_error(cs, s, st->node, "cancel", "service-unavailable");
        goto done;
    }
    strip_stanza_ids(st->node);
    note_receipt(cs, s, st->node, to_bare);

    struct xmpp_node *body_node = xmpp_node_child(st->node, "body", XMPP_NS_CLIENT);
    char *body = body_node ? xmpp_node_text(body_node) : NULL;
    if (body && (is_type(type, "chat") || is_type(type, "normal"))) {
        store_and_route(cs, s, st, to_user, to_resource, to_bare, body);
        free(to_bare);
        return;
    }
    free(body);

    /* Not archived (no body: chat states, receipts, markers; or errors and
     * headlines): live delivery only, as ejabberd and Prosody do. */
    struct chat_user *u = chat_user_find(cs, to_user);
    if (is_type(type, "error") && !(to_resource && chat_session_find(u, to_resource)))
        goto done;
    struct pl_buf out = PL_BUF_INIT;
    if (xmpp_node_serialize(st->node, NULL, &out) == PL_OK)
        route(u, to_resource, 0, out.data, out.len);
    pl_buf_free(&out);
done:
    free(to_bare);
    xmpp_stanza_free(st);
}

void chat_message_stored(struct chat_server *cs, struct db_job *job)
{
    struct chat_op *op = job->owner;
    if (job->status != PL_OK) {
        pl_error(0, job->u.msg.sender, "storing a message failed: %s",
                 pl_strerror(job->status));
        struct chat_session *s =
            chat_session_by_serial(cs, op->sender_user, op->sender_serial);
        if (s)
            chat_reply_error(cs, s, op->stanza->node, "wait", "internal-server-error");
        goto done;
    }
    if (!job->u.msg.pending) {
        /* A retry of a message already stored and delivered. */
        pl_debug(0, job->u.msg.sender, "duplicate message id %s already delivered",
                 job->u.msg.stanza_id ? job->u.msg.stanza_id : "-");
        goto done;
    }
    struct xmpp_node *copy = xmpp_node_copy(op->stanza->node);
    struct pl_buf out = PL_BUF_INIT;
    if (copy && chat_add_stanza_id(copy, job->u.msg.id, job->u.msg.recipient) == PL_OK &&
        xmpp_node_serialize(copy, NULL, &out) == PL_OK)
        route(chat_user_find(cs, op->to_user), op->to_resource, job->u.msg.id, out.data,
              out.len);
    pl_buf_free(&out);
    xmpp_node_free(copy);
done:
    chat_op_free(cs, op);
}

void chat_message_written(struct chat_server *cs, struct chat_session *s, uint64_t tag)
{
    const char *bare = xmpp_stream_bare_jid(s->stream);
    struct db_job *job = db_job_new(DB_JOB_MARK_DELIVERED);
    if (!job || !bare || !(job->u.delivered.recipient = strdup(bare)) ||
        !(job->u.delivered.via = strdup(s->via))) {
        db_job_free(job);
        return;
    }
    job->u.delivered.message_id = (int64_t)tag;
    s->wrote = 1;
    chat_submit(cs, job, bare);
}
