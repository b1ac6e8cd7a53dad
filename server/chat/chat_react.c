/* XEP-0444 reactions: a <reactions id=.../> message carries the sender's
 * whole set for one message (a new set replaces the last; an empty one
 * removes them). The set is read here and bounded, then stored as any edit
 * (chat_edit.c): the store keeps each user's latest set per message
 * (message_reactions, migrations/0009_message_edits.sql), and the reaction
 * message itself is delivered and archived, so offline and catching-up
 * users and MAM get it. */
#include "chat_room.h"

#include "pl_buf.h"
#include "pl_error.h"

#include <stdlib.h>
#include <string.h>

/* 1 if `r` is already in the joined set. */
static int has(const struct pl_buf *set, const char *r)
{
    size_t len = strlen(r);
    const char *p = set->data;
    const char *end = set->data ? set->data + set->len : NULL;
    while (p && p < end) {
        const char *sep = memchr(p, DB_LIST_SEP, (size_t)(end - p));
        size_t n = sep ? (size_t)(sep - p) : (size_t)(end - p);
        if (n == len && memcmp(p, r, len) == 0)
            return 1;
        p = sep ? sep + 1 : end;
    }
    return 0;
}

int chat_react_set(const struct xmpp_node *reactions, char **joined)
{
    struct pl_buf set = PL_BUF_INIT;
    int count = 0, rc = PL_OK;
    *joined = NULL;
    for (const struct xmpp_node *c = reactions->children; c && rc == PL_OK; c = c->next) {
        if (!c->name || strcmp(c->name, "reaction") != 0 ||
            (c->ns && strcmp(c->ns, XMPP_NS_REACTIONS) != 0))
            continue;
        char *r = xmpp_node_text(c);
        if (!r) {
            rc = PL_ENOMEM;
        } else if (!*r || strlen(r) > CHAT_REACTION_MAX_BYTES) {
            /* an emoji, not a message (XEP-0444 section 4) */
            rc = PL_EINVAL;
        } else if (!has(&set, r)) {
            if (++count > CHAT_REACTIONS_MAX)
                rc = PL_ETOOBIG;
            else if ((set.len && pl_buf_append(&set, "\x1f", 1) != PL_OK) ||
                     pl_buf_append_str(&set, r) != PL_OK)
                rc = PL_ENOMEM;
        }
        free(r);
    }
    if (rc == PL_OK && !(*joined = set.len ? pl_buf_steal(&set, NULL) : strdup("")))
        rc = PL_ENOMEM;
    pl_buf_free(&set);
    return rc;
}
