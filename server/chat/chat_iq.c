/* The iqs the server answers itself (XEP-0030 disco, XEP-0199 ping, the
 * legacy session; the roster, blocklist and carbons iqs go to their
 * features' files) and the delivery of
 * iqs between users' resources (RFC 6120 section 10.5.3), for the
 * destinations the router sends here (the server, a local account).
 * Anything else addressed to the server or an account gets
 * service-unavailable. */
#include "chat_internal.h"
#include "chat_room.h"

#include "pl_error.h"

#include <stdlib.h>
#include <string.h>

#define XMPP_NS_ROSTER "jabber:iq:roster"
#define XMPP_NS_BLOCKING "urn:xmpp:blocking"
#define XMPP_NS_CARBONS "urn:xmpp:carbons:2"
#define XMPP_NS_PUBSUB "http://jabber.org/protocol/pubsub"

/* What disco#info on the server lists: only what is implemented. */
static const char *const server_features[] = {
    XMPP_NS_DISCO_INFO, XMPP_NS_DISCO_ITEMS, XMPP_NS_PING,     XMPP_NS_RECEIPTS,
    XMPP_NS_SID,        "msgoffline",        XMPP_NS_BLOCKING, XMPP_NS_CARBONS,
};

/* What disco#info on an account lists (XEP-0191 section 2: blocking is
 * advertised on the account too). */
static const char *const account_features[] = {
    XMPP_NS_DISCO_INFO,
    XMPP_NS_BLOCKING,
    /* XEP-0313 section 7: a user's archive is discovered here. */
    XMPP_NS_MAM,
    XMPP_NS_MAM_EXT,
    XMPP_NS_FULLTEXT,
    /* XEP-0163 on the account (chat_pep.c): only what its two nodes use. */
    XMPP_NS_PUBSUB "#publish",
    XMPP_NS_PUBSUB "#publish-options",
    XMPP_NS_PUBSUB "#retrieve-items",
    XMPP_NS_PUBSUB "#retract-items",
    XMPP_NS_PUBSUB "#persistent-items",
    /* XEP-0402: clients (Converse.js) take it as the sign to use
     * bookmarks:1; the legacy XEP-0048 storage is not kept in sync. */
    "urn:xmpp:bookmarks:1#compat",
    /* XEP-0424 section 7: the archive keeps tombstones (chat_edit.c). */
    XMPP_NS_RETRACT,
    XMPP_NS_RETRACT_TOMBSTONE,
};

static void send_and_free(struct chat_session *s, struct xmpp_node *n)
{
    if (n)
        xmpp_stream_send(s->stream, n, 0);
    xmpp_node_free(n);
}

static void reply_error(struct chat_session *s, const struct xmpp_node *iq,
                        const char *self, const char *type, const char *condition)
{
    send_and_free(s, xmpp_stanza_error_reply(iq, self, type, condition));
}

static struct xmpp_node *disco_info(const char *self, const struct xmpp_node *iq,
                                    const struct xmpp_node *query, int to_server)
{
    struct xmpp_node *res = xmpp_stanza_iq_result(iq, self);
    struct xmpp_node *q = res ? xmpp_node_add(res, "query", XMPP_NS_DISCO_INFO) : NULL;
    struct xmpp_node *id = q ? xmpp_node_add(q, "identity", NULL) : NULL;
    const char *node = xmpp_node_attr(query, "node");
    int ok = id != NULL && (!node || xmpp_node_set_attr(q, "node", node) == PL_OK);
    if (ok && to_server) {
        ok = xmpp_node_set_attr(id, "category", "server") == PL_OK &&
             xmpp_node_set_attr(id, "type", "im") == PL_OK &&
             xmpp_node_set_attr(id, "name", "Parley") == PL_OK;
        for (size_t i = 0; ok && i < sizeof(server_features) / sizeof(*server_features);
             i++) {
            struct xmpp_node *f = xmpp_node_add(q, "feature", NULL);
            ok = f && xmpp_node_set_attr(f, "var", server_features[i]) == PL_OK;
        }
    } else if (ok) {
        /* An account (XEP-0030 section 3.1 lets the server answer for it). */
        ok = xmpp_node_set_attr(id, "category", "account") == PL_OK &&
             xmpp_node_set_attr(id, "type", "registered") == PL_OK;
        /* XEP-0163 section 4: the account is also a PEP service. */
        struct xmpp_node *pep = ok ? xmpp_node_add(q, "identity", NULL) : NULL;
        ok = pep && xmpp_node_set_attr(pep, "category", "pubsub") == PL_OK &&
             xmpp_node_set_attr(pep, "type", "pep") == PL_OK;
        for (size_t i = 0; ok && i < sizeof(account_features) / sizeof(*account_features);
             i++) {
            struct xmpp_node *f = xmpp_node_add(q, "feature", NULL);
            ok = f && xmpp_node_set_attr(f, "var", account_features[i]) == PL_OK;
        }
    }
    if (!ok) {
        xmpp_node_free(res);
        return NULL;
    }
    return res;
}

/* An iq the server answers: to the domain, or to an account's bare JID
 * (the sender's own when the iq had no `to`, RFC 6120 section 10.3.3); the
 * reply comes from whoever was asked. */
static void answer(struct chat_server *cs, struct chat_session *s, struct xmpp_stanza *st,
                   int to_server)
{
    const struct xmpp_node *iq = st->node;
    int get = strcmp(st->type, "get") == 0;
    char *asked = !to_server && st->has_to ? xmpp_jid_bare(&st->to) : NULL;
    if (!to_server && st->has_to && !asked) {
        reply_error(s, iq, cs->domain, "wait", "resource-constraint");
        return;
    }
    const char *self = to_server ? cs->domain : asked ? asked : s->user->bare_jid;
    int own = !to_server && strcmp(self, s->user->bare_jid) == 0;
    struct xmpp_node *payload = NULL;
    for (struct xmpp_node *c = iq->children; c; c = c->next)
        if (c->name) {
            payload = c;
            break;
        }
    const char *ns = payload ? payload->ns : NULL;
    const char *name = payload ? payload->name : "";
    if (!ns) {
        reply_error(s, iq, self, "modify", "bad-request");
    } else if (get && strcmp(ns, XMPP_NS_DISCO_INFO) == 0 && strcmp(name, "query") == 0) {
        struct xmpp_node *res = disco_info(self, iq, payload, to_server);
        /* The domain is also the XEP-0363 upload service. */
        struct xmpp_node *q =
            res ? xmpp_node_child(res, "query", XMPP_NS_DISCO_INFO) : NULL;
        if (q && to_server && !xmpp_node_attr(payload, "node") &&
            chat_upload_disco(cs, q) != PL_OK) {
            xmpp_node_free(res);
            res = NULL;
        }
        send_and_free(s, res);
    } else if (get && strcmp(ns, XMPP_NS_DISCO_ITEMS) == 0 &&
               strcmp(name, "query") == 0) {
        struct xmpp_node *res = xmpp_stanza_iq_result(iq, self);
        if (res && !xmpp_node_add(res, "query", XMPP_NS_DISCO_ITEMS)) {
            xmpp_node_free(res);
            res = NULL;
        }
        send_and_free(s, res);
    } else if (get && strcmp(ns, XMPP_NS_PING) == 0) {
        send_and_free(s, xmpp_stanza_iq_result(iq, self));
    } else if (!get && strcmp(ns, XMPP_NS_SESSION) == 0) {
        send_and_free(s, xmpp_stanza_iq_result(iq, self));
    } else if (!own && strcmp(ns, XMPP_NS_ROSTER) == 0 && !to_server) {
        /* Nobody reads or writes another account's roster (RFC 6121
         * section 2.1.5). */
        reply_error(s, iq, self, "auth", "forbidden");
    } else if (own && strcmp(ns, XMPP_NS_ROSTER) == 0) {
        chat_roster_iq(cs, s, st, payload);
    } else if (own && strcmp(ns, XMPP_NS_BLOCKING) == 0) {
        chat_block_iq(cs, s, st, payload);
    } else if (own && strcmp(ns, XMPP_NS_PUBSUB) == 0) {
        chat_pep_iq(cs, s, st, payload);
    } else if ((own || to_server) && strcmp(ns, XMPP_NS_CARBONS) == 0) {
        chat_carbons_iq(cs, s, st, payload);
    } else if (to_server && strcmp(ns, XMPP_NS_HTTP_UPLOAD) == 0) {
        chat_upload_request(cs, s, st, payload);
    } else if (strcmp(ns, XMPP_NS_MAM) == 0 && !to_server) {
        /* XEP-0313: one's own archive; nobody else's. */
        if (own)
            chat_mam_handle(cs, s, st, NULL);
        else
            reply_error(s, iq, self, "auth", "forbidden");
    } else {
        reply_error(s, iq, self, "cancel", "service-unavailable");
    }
    free(asked);
}

void chat_iq_handle(struct chat_server *cs, struct chat_session *s,
                    struct xmpp_stanza *st, enum chat_dest dest)
{
    int request = strcmp(st->type, "get") == 0 || strcmp(st->type, "set") == 0;
    if (dest == CHAT_DEST_SERVER || !st->has_to || !st->to.resource) {
        /* To the server, or to an account's bare JID (the sender's own or
         * another's): the server answers, for the account in the second
         * case, as disco on an account bare JID is the server's to give
         * (RFC 6120 section 10.3.3). */
        if (request)
            answer(cs, s, st, dest == CHAT_DEST_SERVER);
        xmpp_stanza_free(st);
        return;
    }
    struct chat_user *tu = chat_user_find(cs, st->to.local);
    struct chat_session *target = chat_session_find(tu, st->to.resource);
    char *to = xmpp_jid_full(&st->to);
    if (tu && tu->lists != CHAT_LISTS_READY)
        target = NULL; /* it cannot tell yet whom it blocks */
    if (to && chat_block_blocks(s->user, to)) {
        if (request) /* XEP-0191 section 3.4 */
            chat_block_reply_blocked(cs, s, st->node);
    } else if (target && !chat_block_blocks(tu, xmpp_stream_full_jid(s->stream))) {
        xmpp_stream_send(target->stream, st->node, 0);
    } else if (request) {
        /* Gone, or it blocks the sender (XEP-0191 section 3.3): the same
         * answer, so a block is not seen. */
        chat_reply_error(cs, s, st->node, "cancel", "service-unavailable");
    }
    free(to);
    xmpp_stanza_free(st);
}
