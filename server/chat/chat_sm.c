/* XEP-0198 in the chat layer: what the client's acknowledgements mean for
 * delivery states, and a session moving to the stream that resumed it.
 *
 * With stream management on, a stored message is `delivered` when the
 * client's <a h/> covers it, not when the socket took it: until then its
 * row stays `stored`, so a connection that dies loses nothing whatever
 * happens next (resumption sends it again from the stream's queue; the
 * window's end, a restart or the unacked bound leave it `stored` for the
 * user's other sessions and the next login). */
#include "chat_internal.h"

#include "pl_log.h"

#include <stdlib.h>
#include <string.h>

/* DB_JOB_MARK_ACKED for stored message `id`. */
static void mark_acked(struct chat_server *cs, struct chat_session *s, int64_t id)
{
    chat_message_mark(cs, s, id, DB_JOB_MARK_ACKED);
}

void chat_sm_acked(void *ctx, struct xmpp_stream *stream, uint64_t tag)
{
    struct chat_session *s = xmpp_stream_user(stream);
    if (!s)
        return;
    switch (chat_tag_kind(tag)) {
    case CHAT_TAG_MESSAGE:
        mark_acked(ctx, s, chat_tag_value(tag));
        return;
    case CHAT_TAG_BACKLOG:
        mark_acked(ctx, s, chat_tag_value(tag));
        chat_offline_acked(ctx, s); /* it may have waited for this */
        return;
    case CHAT_TAG_ROOM:   /* the room position moves at the write */
    case CHAT_TAG_CARBON: /* a copy: the stored message's own ack counts */
    case CHAT_TAG_NONE:
    case CHAT_TAG__COUNT:
        return;
    }
}

void chat_sm_resumed(void *ctx, struct xmpp_stream *from, struct xmpp_stream *to)
{
    struct chat_session *s = xmpp_stream_user(to);
    if (!s)
        return;
    /* Same full JID, same registry entry, same presence: contacts see no
     * change at all. */
    s->stream = to;
    pl_info(xmpp_stream_conn_id(to), xmpp_stream_full_jid(to), "session resumed");
}

int chat_sm_unacked(const struct chat_session *s, int64_t id)
{
    if (!xmpp_stream_sm_on(s->stream) || !xmpp_stream_sm_unacked(s->stream))
        return 0;
    return xmpp_stream_sm_has_tag(s->stream, chat_tag(CHAT_TAG_MESSAGE, id)) ||
           xmpp_stream_sm_has_tag(s->stream, chat_tag(CHAT_TAG_BACKLOG, id));
}
