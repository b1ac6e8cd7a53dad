/* The XMPP stream core: RFC 7395 framing, stream features, SASL (PLAIN with a
 * JWT as password, EXTERNAL with the upgrade's identity), stream restart,
 * resource bind, the legacy session iq and stream errors. It does no I/O:
 * the transport feeds it whole frames and gives it a write/close pair; the
 * chat layer gets the stanzas through hooks set at wiring (jabberd2's sx
 * and Redis's ConnectionType are the model). Everything here runs on the
 * XMPP loop thread. */
#ifndef XMPP_STREAM_H
#define XMPP_STREAM_H

#include "pl_frame.h"
#include "xmpp_node.h"
#include "xmpp_parse.h"
#include "xmpp_stanza.h"

#include <stddef.h>
#include <stdint.h>

struct auth_verifier;
struct pl_auth_limit;
struct xmpp_stream;
struct xmpp_sm_registry;

/* What the transport gives each stream. */
struct xmpp_stream_io {
    /* Queues one complete frame, taking a reference of its own on success
     * (the caller keeps its reference either way). `tag` (0 = none) is
     * reported back through xmpp_stream_written once the frame is written
     * to the socket. PL_ETOOBIG when the peer's send queue is over its
     * bound: the transport then drops the connection. */
    int (*write)(void *io_ctx, struct pl_frame *frame, uint64_t tag);
    /* Closes the connection once what is queued has been written. */
    void (*close)(void *io_ctx);
};

/* What the chat layer gives every stream; set once at wiring. */
struct xmpp_stream_hooks {
    void *ctx;
    /* 1 if this (normalised) user may connect now, 0 if disabled. */
    int (*user_allowed)(void *ctx, const char *username);
    /* Binds a resource for s. `requested` is the client's or NULL. On PL_OK
     * *resource is the chosen one (allocated; the stream owns it). PL_EINVAL
     * answers bad-request, PL_EEXIST conflict, PL_ETOOBIG
     * resource-constraint (the account has as many sessions as it may). */
    int (*bind)(void *ctx, struct xmpp_stream *s, const char *requested, char **resource);
    /* A stanza from a bound client; takes ownership of st. */
    void (*stanza)(void *ctx, struct xmpp_stream *s, struct xmpp_stanza *st);
    /* The frame queued with `tag` was written to the socket. */
    void (*written)(void *ctx, struct xmpp_stream *s, uint64_t tag);
    /* The bound stream s is going away: drop every reference to it. */
    void (*closed)(void *ctx, struct xmpp_stream *s);
    /* XEP-0198: the client acknowledged the stanza queued with `tag`. */
    void (*acked)(void *ctx, struct xmpp_stream *s, uint64_t tag);
    /* XEP-0198: stream `to` resumed the session of `from` (which goes
     * away without `closed`): what pointed at `from` now points at `to`. */
    void (*resumed)(void *ctx, struct xmpp_stream *from, struct xmpp_stream *to);
    /* XEP-0352: the client said <active/> (1) or <inactive/> (0). */
    void (*csi)(void *ctx, struct xmpp_stream *s, int active);
    /* XEP-0352: while s is inactive, every stanza to it is offered here
     * first; 1 if the chat layer keeps it (to send on <active/>). */
    int (*csi_hold)(void *ctx, struct xmpp_stream *s, struct pl_frame *frame,
                    uint64_t tag);
};

/* Shared by every stream of a loop; borrowed by the streams. */
struct xmpp_env {
    const char *domain;
    size_t max_stanza_size;
    const struct auth_verifier *verifier;
    struct xmpp_parser *parser;
    struct xmpp_stream_hooks hooks;
    /* XEP-0198's resumable sessions and settings; NULL: stream
     * management is not offered. */
    struct xmpp_sm_registry *sm;
    /* PARLEY_LIMIT_AUTH_FAILURES, shared with the upgrade; NULL: none. */
    struct pl_auth_limit *auth_limit;
};

/* Checks the upgrade request: the token from the `auth_token` cookie (or
 * from "Authorization: Bearer …"), verified at `now`, whose `sub` is a valid
 * localpart of an allowed user. Either header may be NULL. On PL_OK
 * *username is the normalised username (caller frees); PL_EDENIED otherwise. */
int xmpp_upgrade_auth(const struct xmpp_env *env, const char *cookie_header,
                      const char *authorization_header, long now, char **username);
/* The same, and on PL_OK *expires is the token's `exp` (for
 * PARLEY_SESSION_EXPIRY=close). */
int xmpp_upgrade_auth_expiry(const struct xmpp_env *env, const char *cookie_header,
                             const char *authorization_header, long now, char **username,
                             long *expires);

/* A stream for a connection whose upgrade authenticated `username`
 * (copied). io and io_ctx are borrowed until xmpp_stream_free. */
int xmpp_stream_new(const struct xmpp_env *env, const struct xmpp_stream_io *io,
                    void *io_ctx, uint64_t conn_id, const char *username,
                    struct xmpp_stream **out);
/* The connection is gone: calls hooks.closed if bound, then frees. */
void xmpp_stream_free(struct xmpp_stream *s);

/* Feeds one complete WebSocket text message. Errors are answered on the
 * stream (stream error and close); the return is PL_OK or PL_ESTATE once the
 * stream is closing. */
int xmpp_stream_input(struct xmpp_stream *s, const char *frame, size_t len);
/* The transport saw a frame grow past env->max_stanza_size: policy-violation. */
void xmpp_stream_too_big(struct xmpp_stream *s);
/* The transport's authentication deadline for s has passed. A stream not
 * yet authenticated and bound gets the stream error connection-timeout
 * and closes (PL_ESTATE); a bound or closing one is left alone (PL_OK). */
int xmpp_stream_deadline(struct xmpp_stream *s);
/* The transport got a binary WebSocket message: RFC 7395 carries XMPP in
 * text messages only, so unsupported-encoding. */
void xmpp_stream_binary(struct xmpp_stream *s);
/* Called by the transport when the frame queued with tag was written. */
void xmpp_stream_written(struct xmpp_stream *s, uint64_t tag);

/* Serialises and queues a stanza (top-level namespace jabber:client). */
int xmpp_stream_send(struct xmpp_stream *s, const struct xmpp_node *stanza, uint64_t tag);
/* Queues bytes already serialised (one element), copied into a frame. */
int xmpp_stream_send_bytes(struct xmpp_stream *s, const char *data, size_t len,
                           uint64_t tag);
/* Queues a frame serialised once for many streams (a fan-out): the
 * transport takes a reference, the caller keeps its own. */
int xmpp_stream_send_frame(struct xmpp_stream *s, struct pl_frame *frame, uint64_t tag);
/* Sends <stream:error><CONDITION/>[<text>]</stream:error>, <close/>, and
 * closes. `text` may be NULL. Later sends are dropped. */
void xmpp_stream_error(struct xmpp_stream *s, const char *condition, const char *text);

uint64_t xmpp_stream_conn_id(const struct xmpp_stream *s);
const char *xmpp_stream_username(const struct xmpp_stream *s);
/* NULL until bound. */
const char *xmpp_stream_full_jid(const struct xmpp_stream *s);
const char *xmpp_stream_bare_jid(const struct xmpp_stream *s);
const char *xmpp_stream_resource(const struct xmpp_stream *s);
int xmpp_stream_is_closing(const struct xmpp_stream *s);
/* The peer's address as the transport knows it (copied); NULL if unknown. */
int xmpp_stream_set_address(struct xmpp_stream *s, const char *address);
const char *xmpp_stream_address(const struct xmpp_stream *s);
/* The transport saw the client close the WebSocket with a close frame. */
void xmpp_stream_peer_closed(struct xmpp_stream *s);
/* 1 if the client ended the stream itself (<close/> or a WebSocket close
 * frame): it had everything written before. Otherwise the connection died
 * or the server closed it, and what was written may not have been read. */
int xmpp_stream_ended_cleanly(const struct xmpp_stream *s);
/* A pointer the chat layer hangs on the stream (its session). */
void xmpp_stream_set_user(struct xmpp_stream *s, void *user);
void *xmpp_stream_user(const struct xmpp_stream *s);

/* ---- XEP-0198 stream management ---- */

/* 1 once the client enabled stream management on s. */
int xmpp_stream_sm_on(const struct xmpp_stream *s);
/* Stanzas sent to the client and not acknowledged. */
size_t xmpp_stream_sm_unacked(const struct xmpp_stream *s);
/* 1 if a stanza queued with `tag` is among them. */
int xmpp_stream_sm_has_tag(const struct xmpp_stream *s, uint64_t tag);
/* 0 while half of PARLEY_SM_MAX_UNACKED is unacknowledged: a sender that
 * may wait (the offline backlog) waits for acks instead of hitting the
 * bound. 1 without stream management. */
int xmpp_stream_sm_can_send_more(const struct xmpp_stream *s);
/* Inside hooks.written: 1 if the frame being reported is counted by stream
 * management (its delivery is the client's ack, not this write). */
int xmpp_stream_sm_tracks(const struct xmpp_stream *s);
/* Once a second: asks <r/> where the cadence says so and ends the
 * detached sessions whose window passed (or that overflowed). */
void xmpp_stream_sm_tick(struct xmpp_sm_registry *reg);
/* The server is stopping: ends every detached session (their
 * unacknowledged messages stay `stored`), then frees the registry. */
void xmpp_stream_sm_shutdown(struct xmpp_sm_registry *reg);

#endif
