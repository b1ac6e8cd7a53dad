/* The router: every stanza from a bound session has its destination
 * classified here, once (this server, a local account, the room service,
 * another domain), and goes to the feature that owns that kind of stanza
 * for that destination. The choice of sessions a message reaches (RFC 6121
 * section 8.5) is made here too. Nothing else decides where a stanza goes. */
#include "chat_internal.h"

#include "pl_error.h"

#include <string.h>

enum chat_dest chat_route_classify_jid(const struct chat_server *cs,
                                       const struct xmpp_jid *to)
{
    /* JID domains are normalised (lower case) by the parser. */
    if (strcmp(to->domain, cs->domain) == 0)
        return to->local ? CHAT_DEST_ACCOUNT : CHAT_DEST_SERVER;
    if (strcmp(to->domain, cs->muc_domain) == 0)
        return CHAT_DEST_ROOM_SERVICE;
    return CHAT_DEST_REMOTE;
}

enum chat_dest chat_route_classify(const struct chat_server *cs,
                                   const struct xmpp_stanza *st)
{
    if (!st->has_to)
        return CHAT_DEST_ACCOUNT; /* the sender's own account */
    return chat_route_classify_jid(cs, &st->to);
}

/* Answers a stanza nobody here takes with a stanza error, where RFC 6120
 * allows one: never to an error, never to presence, to an iq only when it
 * is a request. Takes st. */
static void refuse(struct chat_server *cs, struct chat_session *s, struct xmpp_stanza *st,
                   const char *condition)
{
    int answer = 0;
    const char *type = st->type ? st->type : "";
    switch (st->kind) {
    case XMPP_STANZA_MESSAGE:
        answer = strcmp(type, "error") != 0;
        break;
    case XMPP_STANZA_IQ:
        answer = strcmp(type, "get") == 0 || strcmp(type, "set") == 0;
        break;
    case XMPP_STANZA_PRESENCE:
        break;
    }
    if (answer)
        chat_reply_error(cs, s, st->node, "cancel", condition);
    xmpp_stanza_free(st);
}

/* subscribe, subscribed, unsubscribe, unsubscribed (RFC 6121 section 3). */
static int is_subscription(const char *type)
{
    return type &&
           (strcmp(type, "subscribe") == 0 || strcmp(type, "subscribed") == 0 ||
            strcmp(type, "unsubscribe") == 0 || strcmp(type, "unsubscribed") == 0);
}

void chat_route_stanza(struct chat_server *cs, struct chat_session *s,
                       struct xmpp_stanza *st)
{
    if (s->user->lists != CHAT_LISTS_READY) {
        /* Who gets the user's presence, whom they block: not known yet. */
        chat_roster_defer(cs, s, st);
        return;
    }
    enum chat_dest dest = chat_route_classify(cs, st);
    if (dest == CHAT_DEST_REMOTE) {
        refuse(cs, s, st, "remote-server-not-found"); /* no server-to-server links */
        return;
    }
    if (dest == CHAT_DEST_ROOM_SERVICE) {
        chat_room_stanza(cs, s, st); /* every kind: chat_room*.c */
        return;
    }
    switch (st->kind) {
    case XMPP_STANZA_MESSAGE:
        if (dest == CHAT_DEST_ACCOUNT)
            chat_message_handle(cs, s, st);
        else /* the server itself takes no messages */
            refuse(cs, s, st, "service-unavailable");
        return;
    case XMPP_STANZA_IQ:
        chat_iq_handle(cs, s, st, dest);
        return;
    case XMPP_STANZA_PRESENCE:
        if (!st->has_to)
            chat_presence_handle(cs, s, st);
        else if (dest != CHAT_DEST_ACCOUNT) /* rooms come later */
            xmpp_stanza_free(st);
        else if (is_subscription(st->type))
            chat_subscription_handle(cs, s, st);
        else /* available, unavailable (probes and errors are dropped there) */
            chat_presence_directed(cs, s, st);
        return;
    }
    xmpp_stanza_free(st);
}

/* Sends to one session: a stored message through its offline ordering, a
 * live one (id 0) straight to the stream. */
static void deliver(struct chat_session *s, int64_t id, struct pl_frame *frame)
{
    pl_metrics_stanza_out(s->cs->metrics, PL_METRICS_MESSAGE);
    if (id > 0)
        chat_offline_deliver(s, id, frame);
    else
        xmpp_stream_send_frame(s->stream, frame, 0);
}

/* The session a full JID names, if it can take stanzas: one whose user's
 * blocklist is not loaded yet cannot tell who may reach it. */
static struct chat_session *full_target(const struct chat_user *u, const char *resource)
{
    struct chat_session *s =
        resource ? chat_session_find((struct chat_user *)u, resource) : NULL;
    return s && u->lists == CHAT_LISTS_READY ? s : NULL;
}

int chat_route_is_target(const struct chat_user *u, const char *resource,
                         const struct chat_session *s)
{
    struct chat_session *full = full_target(u, resource);
    if (full)
        return s == full;
    int best = -1;
    for (struct chat_session *t = u->sessions; t; t = t->next_in_user)
        if (t->available && t->priority > best)
            best = t->priority;
    return best >= 0 && s->available && s->priority == best;
}

int chat_route_message(struct chat_user *u, const char *resource, int64_t id,
                       struct pl_frame *frame)
{
    if (!u)
        return 0;
    struct chat_session *full = full_target(u, resource);
    if (full) {
        deliver(full, id, frame);
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
            deliver(s, id, frame);
            found++;
        }
    }
    return found;
}
