/* Stanza helpers: the error and result replies of RFC 6120 section 8. */
#include "xmpp_stanza.h"
#include "xmpp_stream_int.h"
#include "pl_error.h"

#include <stdlib.h>

void xmpp_stanza_free(struct xmpp_stanza *st)
{
    if (!st)
        return;
    xmpp_node_free(st->node);
    xmpp_jid_free(&st->to);
    /* The chat layer is done with it: for XEP-0198 it is handled. */
    if (st->sm)
        xmpp_stream_sm_handled(st->sm, st->sm_seq);
    free(st);
}

/* A reply element with the original's name and id, addressed back to the
 * sender: to = orig's from, from = orig's to (or `server`). */
static struct xmpp_node *reply_new(const struct xmpp_node *orig, const char *server,
                                   const char *type)
{
    struct xmpp_node *r = xmpp_node_new(orig->name, orig->ns);
    if (!r)
        return NULL;
    const char *id = xmpp_node_attr(orig, "id");
    const char *from = xmpp_node_attr(orig, "from");
    const char *to = xmpp_node_attr(orig, "to");
    if (!to)
        to = server;
    if ((id && xmpp_node_set_attr(r, "id", id) != PL_OK) ||
        xmpp_node_set_attr(r, "type", type) != PL_OK ||
        (from && xmpp_node_set_attr(r, "to", from) != PL_OK) ||
        (to && xmpp_node_set_attr(r, "from", to) != PL_OK)) {
        xmpp_node_free(r);
        return NULL;
    }
    return r;
}

struct xmpp_node *xmpp_stanza_error_reply(const struct xmpp_node *orig,
                                          const char *server, const char *type,
                                          const char *condition)
{
    struct xmpp_node *r = reply_new(orig, server, "error");
    if (!r)
        return NULL;
    for (const struct xmpp_node *c = orig->children; c; c = c->next) {
        struct xmpp_node *copy = xmpp_node_copy(c);
        if (!copy)
            goto err;
        xmpp_node_append(r, copy);
    }
    struct xmpp_node *e = xmpp_node_add(r, "error", NULL);
    if (!e || xmpp_node_set_attr(e, "type", type) != PL_OK ||
        !xmpp_node_add(e, condition, XMPP_NS_STANZAS))
        goto err;
    return r;
err:
    xmpp_node_free(r);
    return NULL;
}

struct xmpp_node *xmpp_stanza_iq_result(const struct xmpp_node *orig, const char *server)
{
    return reply_new(orig, server, "result");
}
