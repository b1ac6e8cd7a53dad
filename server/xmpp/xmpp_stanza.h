/* A stanza as the chat layer sees it: the parsed element plus the fields
 * every handler reads. Built by the stream after `from` is stamped. */
#ifndef XMPP_STANZA_H
#define XMPP_STANZA_H

#include "xmpp_jid.h"
#include "xmpp_node.h"

#include <stdint.h>

struct xmpp_sm;

enum xmpp_stanza_kind { XMPP_STANZA_MESSAGE, XMPP_STANZA_PRESENCE, XMPP_STANZA_IQ };

struct xmpp_stanza {
    enum xmpp_stanza_kind kind;
    struct xmpp_node *node; /* owned; its `from` is the sender's full JID */
    const char *id;         /* borrowed from node; NULL if absent */
    const char *type;       /* borrowed from node; NULL if absent */
    int has_to;             /* 0: no `to` attribute (addressed to the account) */
    struct xmpp_jid to;     /* parsed and normalised `to` when has_to */
    /* XEP-0198: the stream management state that counts this stanza as
     * handled once it is freed (a reference), and its number; NULL when
     * stream management is off. */
    struct xmpp_sm *sm;
    uint32_t sm_seq;
};

void xmpp_stanza_free(struct xmpp_stanza *st);

/* Builds the error reply to `orig` (RFC 6120 section 8.3): same name and id,
 * type='error', `to` = orig's from, `from` = orig's to (or `server` when orig
 * had none), orig's children copied, then
 * <error type='TYPE'><CONDITION xmlns='...xmpp-stanzas'/></error>.
 * Returns NULL on ENOMEM. */
struct xmpp_node *xmpp_stanza_error_reply(const struct xmpp_node *orig,
                                          const char *server, const char *type,
                                          const char *condition);

/* Builds the result reply to an iq `orig`: <iq type='result' id=… to=… from=…/>. */
struct xmpp_node *xmpp_stanza_iq_result(const struct xmpp_node *orig, const char *server);

#endif
