/* Internals shared by the files of the stream core (xmpp_stream.c,
 * xmpp_sasl.c); not part of the layer's interface. */
#ifndef XMPP_STREAM_INT_H
#define XMPP_STREAM_INT_H

#include "xmpp_sm.h"
#include "xmpp_stream.h"

/* After this many failed SASL attempts the stream is closed with the
 * not-authorized stream error instead of letting the client retry. */
#define XMPP_SASL_MAX_FAILURES 3

enum xmpp_stream_state {
    XMPP_ST_WAIT_OPEN,    /* nothing received yet */
    XMPP_ST_SASL,         /* opened, SASL features sent */
    XMPP_ST_WAIT_RESTART, /* SASL succeeded, waiting for the new <open/> */
    XMPP_ST_BIND,         /* restarted, bind features sent */
    XMPP_ST_BOUND,        /* resource bound: stanzas go to the chat layer */
    XMPP_ST_CLOSING,      /* close sent; everything else is ignored */
};

struct xmpp_stream {
    const struct xmpp_env *env;
    const struct xmpp_stream_io *io;
    void *io_ctx;
    uint64_t conn_id;
    char *username; /* normalised localpart from the upgrade */
    char *bare_jid; /* username@domain */
    char *full_jid; /* NULL until bound */
    char *resource; /* NULL until bound */
    enum xmpp_stream_state state;
    int opened; /* an <open/> was sent to the client */
    int bound;  /* hooks.bind succeeded: hooks.closed is owed */
    int sasl_failures;
    int ended_cleanly; /* the client sent <close/> or a WebSocket close */
    char *address;     /* the peer's IP address, or NULL */
    void *user;
    /* XEP-0198 (NULL until <enable/>). A stream whose connection was lost
     * while resumable stays, detached (io NULL), until resumed or expired. */
    struct xmpp_sm *sm;
    uint64_t tagged_queued;    /* tagged frames given to the transport */
    uint64_t tagged_before_sm; /* ...of which before <enabled/> */
    uint64_t tagged_written;   /* tagged frames the transport reported written */
    int write_tracked;         /* the write being reported is in sm's queue */
    int sm_over;               /* past PARLEY_SM_MAX_UNACKED while detached */
    int csi_inactive;          /* XEP-0352: the client said <inactive/> */
};

/* Queues a serialised frame. */
int xmpp_stream_write(struct xmpp_stream *s, const char *data, size_t len, uint64_t tag);
/* Serialises a top-level element (declaring its namespace) and queues it. */
int xmpp_stream_write_node(struct xmpp_stream *s, const struct xmpp_node *n);
/* A client stanza counted by sm is handled (xmpp_stanza_free): answers
 * the <r/>s it held back; drops the stanza's reference on sm. */
void xmpp_stream_sm_handled(struct xmpp_sm *sm, uint32_t seq);
/* Handles <auth/> and <abort/> in the SASL namespace. */
void xmpp_sasl_handle(struct xmpp_stream *s, const struct xmpp_node *el);

#endif
