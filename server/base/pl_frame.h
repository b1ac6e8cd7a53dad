/* A reference-counted outgoing frame: bytes serialised once and queued to
 * any number of connections (a room's fan-out, a message to several
 * resources) without a copy per recipient. Frames live on the XMPP loop
 * thread only, so the count is a plain integer.
 *
 * PL_FRAME_HEADROOM bytes before the data are the transport's to use: a
 * WebSocket writer puts the frame header there in place (libwebsockets
 * wants LWS_PRE bytes in front of what lws_write sends, and scribbles
 * them during the call). Since the loop is single-threaded and the header
 * is written anew by each write, the same frame can be written to many
 * connections in turn. */
#ifndef PL_FRAME_H
#define PL_FRAME_H

#include <stddef.h>

#define PL_FRAME_HEADROOM 32

struct pl_frame {
    unsigned refs;
    size_t len;
    /* PL_FRAME_HEADROOM bytes, then len bytes of data, then a NUL. */
    unsigned char mem[];
};

/* A frame holding a copy of data (one reference, the caller's); NULL on
 * ENOMEM. */
struct pl_frame *pl_frame_new(const void *data, size_t len);
/* Adds a reference; returns f. */
struct pl_frame *pl_frame_ref(struct pl_frame *f);
/* Drops a reference; frees the frame with the last one. NULL is a no-op. */
void pl_frame_unref(struct pl_frame *f);

/* The bytes (len of them, NUL-terminated). */
static inline const char *pl_frame_data(const struct pl_frame *f)
{
    return (const char *)f->mem + PL_FRAME_HEADROOM;
}

/* The start of the data as the writable pointer a transport hands to a
 * writer that uses the headroom in front of it. */
static inline unsigned char *pl_frame_payload(struct pl_frame *f)
{
    return f->mem + PL_FRAME_HEADROOM;
}

#endif
