/* XEP-0352 client state indication: while a client says <inactive/>,
 * presence and chat states (bodiless messages) for it are held, only the
 * latest per sender and kind, and sent when it says <active/>; a message
 * with a body, an iq or anything tagged (stored messages, room messages)
 * goes out at once. Mobile clients use it with XEP-0198 to sleep without
 * being woken for every status change. */
#include "chat_internal.h"

#include "pl_error.h"
#include "pl_log.h"

#include <stdlib.h>
#include <string.h>

struct chat_csi_held {
    struct chat_csi_held *next;
    char *key; /* "p:" or "m:" and the sender's JID */
    struct pl_frame *frame;
};

/* The most a session holds: past it the oldest goes out. */
#define CSI_MAX_HELD 500

static void held_send(struct chat_session *s, struct chat_csi_held *h)
{
    xmpp_stream_send_frame(s->stream, h->frame, 0);
    pl_frame_unref(h->frame);
    free(h->key);
    free(h);
}

int chat_csi_hold(void *ctx, struct xmpp_stream *stream, struct pl_frame *frame,
                  uint64_t tag)
{
    struct chat_server *cs = ctx;
    struct chat_session *s = xmpp_stream_user(stream);
    if (!s || tag)
        return 0;
    struct xmpp_node *el = NULL;
    enum xmpp_parse_error why;
    if (xmpp_parse(cs->parser, pl_frame_data(frame), frame->len, XMPP_NS_CLIENT, &el,
                   &why) != PL_OK)
        return 0;
    int hold = 0;
    const char *kind = NULL;
    if (strcmp(el->name, "presence") == 0) {
        const char *type = xmpp_node_attr(el, "type");
        /* Subscription requests and errors matter now; availability can wait. */
        hold = !type || strcmp(type, "unavailable") == 0;
        kind = "p:";
    } else if (strcmp(el->name, "message") == 0) {
        const char *type = xmpp_node_attr(el, "type");
        hold = !xmpp_node_child(el, "body", XMPP_NS_CLIENT) &&
               !(type && strcmp(type, "error") == 0) &&
               xmpp_node_child_ns(el, "http://jabber.org/protocol/chatstates");
        kind = "m:";
    }
    const char *from = xmpp_node_attr(el, "from");
    char *key = NULL;
    if (hold && from) {
        size_t n = strlen(from) + 3;
        key = malloc(n);
        if (key) {
            memcpy(key, kind, 2);
            memcpy(key + 2, from, n - 2);
        }
    }
    xmpp_node_free(el);
    if (!key)
        return 0;
    /* The latest per key: an earlier one is dropped, the new one goes last. */
    size_t count = 0;
    struct chat_csi_held **p = &s->csi_held;
    while (*p) {
        struct chat_csi_held *h = *p;
        if (strcmp(h->key, key) == 0) {
            *p = h->next;
            pl_frame_unref(h->frame);
            free(h->key);
            free(h);
            continue;
        }
        count++;
        p = &h->next;
    }
    /* Full (or out of memory): this one goes out now, it is the latest. */
    struct chat_csi_held *h = count < CSI_MAX_HELD ? malloc(sizeof(*h)) : NULL;
    if (!h) {
        free(key);
        return 0;
    }
    h->next = NULL;
    h->key = key;
    h->frame = pl_frame_ref(frame);
    *p = h;
    return 1;
}

void chat_csi_changed(void *ctx, struct xmpp_stream *stream, int active)
{
    struct chat_session *s = xmpp_stream_user(stream);
    if (!s || !active)
        return;
    /* The stream is active again: these go straight out, in order. */
    while (s->csi_held) {
        struct chat_csi_held *h = s->csi_held;
        s->csi_held = h->next;
        held_send(s, h);
    }
}

void chat_csi_free(struct chat_session *s)
{
    while (s->csi_held) {
        struct chat_csi_held *h = s->csi_held;
        s->csi_held = h->next;
        pl_frame_unref(h->frame);
        free(h->key);
        free(h);
    }
}
