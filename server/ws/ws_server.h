/* The transport: the only code that includes libwebsockets. It listens for
 * `GET /xmpp` upgrades, refuses the ones without the `xmpp` subprotocol, a
 * refused Origin or a valid JWT (HTTP 403/400/401, no WebSocket) and those
 * whose Cookie or Authorization header is too large for any token (431),
 * feeds each complete WebSocket text message to that connection's
 * xmpp_stream (a binary one is refused), tells the stream when its
 * authentication deadline passes, and writes what the stream queues, one
 * lws_write per WRITEABLE callback. It runs the XMPP loop: everything here
 * happens on that one thread, except ws_server_wake. */
#ifndef WS_SERVER_H
#define WS_SERVER_H

#include "pl_limit.h"
#include "pl_metrics.h"

#include "xmpp_stream.h"

#include <signal.h>
#include <stddef.h>

struct ws_server;

struct ws_server_config {
    const char *host; /* listen address, e.g. "127.0.0.1" */
    int port;
    const char *tls_cert; /* PEM paths: serve wss:// when both are set */
    const char *tls_key;
    int allow_plain_public; /* permit ws:// on a non-loopback address */
    /* Comma-separated allowed Origins; NULL: any http://localhost[:port] or
     * http://127.0.0.1[:port] origin (development). */
    const char *allowed_origins;
    size_t max_send_queue;   /* bytes queued to one client before it is dropped */
    int idle_timeout;        /* seconds without a sign of life before a
                                connection is dropped; a WebSocket ping goes
                                out at half of it */
    int auth_timeout;        /* seconds from the WebSocket opening until the
                                stream must be bound (xmpp_stream_deadline);
                                0: no deadline */
    struct xmpp_env *env;    /* borrowed; its max_stanza_size caps frames */
    void (*wake)(void *ctx); /* on the loop, after ws_server_wake */
    void (*tick)(void *ctx); /* on the loop, about once a second */
    void *ctx;
    struct pl_metrics *metrics; /* connections, logins; may be NULL */
    /* Comma-separated peer addresses (reverse proxies) whose
     * X-Forwarded-For names the client; NULL: the header is ignored. */
    const char *trusted_proxies;
    /* On the loop, once, when it stops and before every stream gets
     * system-shutdown: what must reach clients first (status 332 to room
     * occupants) is queued here. May be NULL. */
    void (*stopping)(void *ctx);
    /* The limits (SECURITY.md); 0 turns each off. Addresses are counted
     * whole for IPv4 and by /64 for IPv6; connections from a trusted proxy
     * are counted by their X-Forwarded-For address where the limit is
     * checked at the upgrade, and not per address before it. */
    int limit_pending_per_ip;         /* connections whose upgrade is not accepted yet */
    int limit_connect_rate;           /* new connections a second per address, */
    int limit_connect_burst;          /* and at once */
    int limit_connections;            /* every connection, established or not */
    size_t limit_session_bytes;       /* inbound bytes a second per connection: a
                                         faster sender is read less, not dropped */
    int upgrade_timeout;              /* seconds from accept to the upgrade's end */
    struct pl_auth_limit *auth_limit; /* shared with SASL; NULL: none */
    /* PARLEY_SESSION_EXPIRY=close: a connection ends with not-authorized
     * when the upgrade's token expires (0: ignore the expiry once in). */
    int session_expiry_close;
};

/* Creates the context and binds the listener. `cfg` is copied; the strings
 * it points to and env must outlive the server. */
int ws_server_new(const struct ws_server_config *cfg, struct ws_server **out);
/* Runs the loop until *stop becomes non-zero. */
int ws_server_run(struct ws_server *ws, volatile sig_atomic_t *stop);
/* Wakes the loop from any thread; cfg.wake then runs on the loop. */
void ws_server_wake(struct ws_server *ws);
/* Closes every connection (their streams are freed) and the context. */
void ws_server_free(struct ws_server *ws);

/* 1 if `origin` is allowed by `allowed` (a comma-separated list, or NULL for
 * the development rule above). A pure function, exposed for tests. */
int ws_origin_allowed(const char *allowed, const char *origin);

#endif
