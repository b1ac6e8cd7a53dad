/* What the admin API asks of the live sessions on this node. The API never
 * touches the loop's memory: it writes PostgreSQL and sends NOTIFY in the
 * same transaction, the store's listener turns the notification into an
 * event (db_jobs.h), and the loop acts on it here, on its own thread. Every
 * node gets every notification and acts on the sessions it has. */
#include "chat_internal.h"

#include "pl_error.h"
#include "pl_log.h"

#include <stdlib.h>
#include <string.h>

void chat_admin_kick(struct chat_server *cs, const struct db_kick_event *ev)
{
    struct chat_user *u = chat_user_find(cs, ev->username);
    while (u) {
        struct chat_session *s =
            ev->resource ? chat_session_find(u, ev->resource) : u->sessions;
        if (!s)
            return;
        /* Kicking the last session frees the user entry. */
        int last = !ev->resource && s->next_in_user == NULL;
        pl_info(xmpp_stream_conn_id(s->stream), xmpp_stream_full_jid(s->stream),
                "session closed by an administrator");
        chat_session_kick(cs, s, "policy-violation",
                          "Session closed by an administrator");
        if (ev->resource || last)
            return;
        u = chat_user_find(cs, ev->username);
    }
}

void chat_admin_message(struct chat_server *cs, const struct db_message_event *ev)
{
    char *username = chat_username_of(ev->recipient);
    struct chat_user *u = username ? chat_user_find(cs, username) : NULL;
    free(username);
    if (!u)
        return; /* not online here: it stays `stored` for the next login */
    struct xmpp_node *msg = NULL;
    enum xmpp_parse_error why;
    if (xmpp_parse(cs->parser, ev->stanza_xml, strlen(ev->stanza_xml), XMPP_NS_CLIENT,
                   &msg, &why) != PL_OK) {
        pl_error(0, ev->recipient, "admin message %lld does not parse",
                 (long long)ev->id);
        return;
    }
    /* Routed as a stored message: through each session's offline ordering,
     * tagged, so its write moves the delivery state like any other. */
    struct pl_frame *f = NULL;
    if (chat_add_stanza_id(msg, ev->id, ev->recipient) == PL_OK)
        f = chat_frame(msg);
    if (f)
        chat_route_message(u, NULL, ev->id, f);
    else
        pl_error(0, ev->recipient,
                 "out of memory routing admin message %lld (stays stored)",
                 (long long)ev->id);
    pl_frame_unref(f);
    xmpp_node_free(msg);
}
