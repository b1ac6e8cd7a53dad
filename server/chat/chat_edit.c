/* Edits of archived messages, direct and in rooms: XEP-0308 Last Message
 * Correction (<replace/>), XEP-0424 Message Retraction (<retract/>),
 * XEP-0444 reactions (chat_react.c reads their set) and XEP-0461 replies
 * (<reply/>). An edit travels as a message and is stored as one (so it is
 * delivered live, offline and at a room's catch-up, and MAM returns it);
 * the store applies it to the message it names in the same statement
 * (parley_store_edit, migrations/0009_message_edits.sql), and refuses it,
 * storing nothing, when that message is not in the conversation
 * (item-not-found) or, for a correction or a retraction, was sent by
 * someone else (forbidden). Moderation (XEP-0425) is an iq to the room:
 * chat_moderate.c. */
#include "chat_room.h"

#include "pl_error.h"

#include <stdlib.h>
#include <string.h>

/* The id an edit names is a stanza id or an archive id: the archive's
 * stanza ids are bounded by the same size. */
#define CHAT_EDIT_MAX_REF 1024

static int is(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static int ref_ok(const char *id)
{
    return id && *id && strlen(id) <= CHAT_EDIT_MAX_REF;
}

int chat_edit_parse(const struct xmpp_node *msg, int has_body, struct db_edit *e,
                    const char **condition)
{
    memset(e, 0, sizeof(*e));
    *condition = NULL;
    const struct xmpp_node *replace = xmpp_node_child(msg, "replace", XMPP_NS_CORRECT);
    const struct xmpp_node *retract = xmpp_node_child(msg, "retract", XMPP_NS_RETRACT);
    const struct xmpp_node *reactions =
        xmpp_node_child(msg, "reactions", XMPP_NS_REACTIONS);
    const struct xmpp_node *reply = xmpp_node_child(msg, "reply", XMPP_NS_REPLY);
    int n = !!replace + !!retract + !!reactions;
    const char *kind = replace ? "correct" : retract ? "retract" : "react";
    const struct xmpp_node *el = replace ? replace : retract ? retract : reactions;
    if (n > 1 || (el && !ref_ok(xmpp_node_attr(el, "id"))) || (replace && !has_body) ||
        (reply && !ref_ok(xmpp_node_attr(reply, "id"))) ||
        (retract && xmpp_node_child(retract, "moderated", XMPP_NS_MODERATE))) {
        /* One edit per message, naming what it edits; a correction has
         * its new text; only the room itself says a message was moderated. */
        *condition = "bad-request";
        return PL_EINVAL;
    }
    if (n == 0 && !reply)
        return 0;
    if (reactions) {
        int rc = chat_react_set(reactions, &e->reactions);
        if (rc != PL_OK) {
            *condition = rc == PL_ENOMEM ? "resource-constraint" : "not-acceptable";
            goto fail;
        }
    }
    if (el && (!(e->kind = strdup(kind)) || !(e->ref = strdup(xmpp_node_attr(el, "id")))))
        goto oom;
    if (reply) {
        const char *to = xmpp_node_attr(reply, "to");
        if (!(e->reply_ref = strdup(xmpp_node_attr(reply, "id"))) ||
            (to && !(e->reply_to = strdup(to))))
            goto oom;
    }
    return 1;
oom:
    *condition = "resource-constraint";
fail:
    db_edit_free(e);
    return PL_EINVAL;
}

int chat_edit_refused(struct chat_server *cs, struct chat_session *s,
                      const struct xmpp_node *orig, const struct db_edit *e)
{
    if (!e->refused)
        return 0;
    if (s && orig)
        chat_reply_error(cs, s, orig, is(e->refused, "forbidden") ? "auth" : "cancel",
                         e->refused);
    return 1;
}
