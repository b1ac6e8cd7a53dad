/* Message Carbons (XEP-0280): a user's resources that enable carbons get a
 * copy of every eligible message the user receives on another resource
 * (`received`) and of every one the user sends from another (`sent`), so
 * that a conversation is the same on each device.
 *
 * Copies are their own frames, tagged CHAT_TAG_CARBON: writing one moves
 * no delivery state (only the stored message's own write to the recipient
 * does). A wrapper carries no `to`, so one frame serves every resource
 * that gets it. Wrappers a client puts in a message are removed before it
 * goes anywhere: only the server makes carbons, and a "carbon" from
 * another user is never the user's own message. */
#include "chat_internal.h"

#include "pl_error.h"
#include "pl_log.h"

#include <string.h>

#define XMPP_NS_CARBONS "urn:xmpp:carbons:2"
#define XMPP_NS_FORWARD "urn:xmpp:forward:0"
#define XMPP_NS_HINTS "urn:xmpp:hints"

void chat_carbons_iq(struct chat_server *cs, struct chat_session *s,
                     const struct xmpp_stanza *st, const struct xmpp_node *payload)
{
    int set = strcmp(st->type, "set") == 0;
    if (set && strcmp(payload->name, "enable") == 0)
        s->carbons = 1;
    else if (set && strcmp(payload->name, "disable") == 0)
        s->carbons = 0;
    else {
        chat_reply_error(cs, s, st->node, "modify", "bad-request");
        return;
    }
    struct xmpp_node *res = xmpp_stanza_iq_result(st->node, s->user->bare_jid);
    if (res)
        xmpp_stream_send(s->stream, res, 0);
    xmpp_node_free(res);
}

int chat_carbons_eligible(const struct xmpp_node *msg)
{
    const char *type = xmpp_node_attr(msg, "type");
    int ok = !type || strcmp(type, "normal") == 0
                 ? xmpp_node_child(msg, "body", XMPP_NS_CLIENT) != NULL
                 : strcmp(type, "chat") == 0;
    /* Section 7: <private/> keeps a message on the resource it was sent
     * to or from; XEP-0334's <no-copy/> asks the same. */
    return ok && !xmpp_node_child(msg, "private", XMPP_NS_CARBONS) &&
           !xmpp_node_child(msg, "no-copy", XMPP_NS_HINTS);
}

void chat_carbons_strip(struct xmpp_node *msg)
{
    struct xmpp_node *c = msg->children;
    while (c) {
        struct xmpp_node *next = c->next;
        if (c->name && c->ns && strcmp(c->ns, XMPP_NS_CARBONS) == 0 &&
            (strcmp(c->name, "sent") == 0 || strcmp(c->name, "received") == 0)) {
            xmpp_node_unlink(msg, c);
            xmpp_node_free(c);
        }
        c = next;
    }
}

/* <message from=BARE type=T><KIND xmlns=carbons><forwarded><msg/>… as one
 * frame; NULL on ENOMEM. */
static struct pl_frame *wrap(const char *kind, const char *bare,
                             const struct xmpp_node *msg, int64_t id)
{
    struct xmpp_node *m = xmpp_node_new("message", XMPP_NS_CLIENT);
    const char *type = xmpp_node_attr(msg, "type");
    struct xmpp_node *k = m ? xmpp_node_add(m, kind, XMPP_NS_CARBONS) : NULL;
    struct xmpp_node *fwd = k ? xmpp_node_add(k, "forwarded", XMPP_NS_FORWARD) : NULL;
    struct xmpp_node *inner = fwd ? xmpp_node_copy(msg) : NULL;
    struct pl_frame *f = NULL;
    if (inner) {
        xmpp_node_append(fwd, inner);
        if (xmpp_node_set_attr(m, "from", bare) == PL_OK &&
            (!type || xmpp_node_set_attr(m, "type", type) == PL_OK) &&
            (id <= 0 || chat_add_stanza_id(inner, id, bare) == PL_OK))
            f = chat_frame(m);
    }
    xmpp_node_free(m);
    return f;
}

/* Sends f to each carbon-enabled session of u that `skip` does not rule
 * out; builds the frame only if one is there. */
static void copy_to(struct chat_user *u, const char *kind, const struct xmpp_node *msg,
                    int64_t id, int (*skip)(const struct chat_session *, const void *),
                    const void *arg)
{
    struct pl_frame *f = NULL;
    for (struct chat_session *s = u->sessions; s; s = s->next_in_user) {
        if (!s->carbons || skip(s, arg))
            continue;
        if (!f && !(f = wrap(kind, u->bare_jid, msg, id))) {
            pl_error(0, u->bare_jid, "out of memory making a carbon copy");
            return;
        }
        xmpp_stream_send_frame(s->stream, f, chat_tag(CHAT_TAG_CARBON, 0));
    }
    pl_frame_unref(f);
}

struct received_skip {
    const struct chat_user *u;
    const char *resource;
    const struct chat_session *except;
};

static int skip_received(const struct chat_session *s, const void *arg)
{
    const struct received_skip *r = arg;
    return s == r->except || chat_route_is_target(r->u, r->resource, s);
}

void chat_carbons_received(struct chat_server *cs, struct chat_user *u,
                           const char *resource, const struct xmpp_node *msg,
                           const struct chat_session *except)
{
    struct received_skip r = {u, resource, except};
    copy_to(u, "received", msg, 0, skip_received, &r);
}

static int skip_sender(const struct chat_session *s, const void *arg)
{
    return s == arg;
}

void chat_carbons_sent(struct chat_server *cs, struct chat_user *u,
                       const struct chat_session *except, const struct xmpp_node *msg,
                       int64_t id)
{
    copy_to(u, "sent", msg, id, skip_sender, except);
}
