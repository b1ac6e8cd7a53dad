#include "ws_server.h"

#include "auth_http.h"
#include "pl_buf.h"
#include "pl_config.h"
#include "pl_error.h"
#include "pl_frame.h"
#include "pl_log.h"

#include <arpa/inet.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* The request headers of one upgrade: room for a Cookie and an
 * Authorization header each carrying the largest token the verifier takes,
 * plus the ordinary headers. libwebsockets allocates this per connection
 * only while it reads the headers (it drops it once upgraded). */
#define WS_HEADER_DATA (AUTH_HTTP_COOKIE_MAX + AUTH_HTTP_AUTHORIZATION_MAX + 4096)
_Static_assert(WS_HEADER_DATA <= 65535,
               "lws 4.1 takes the header size as an unsigned short");
/* Request Header Fields Too Large (RFC 6585); lws 4.1 names no constant. */
#define WS_STATUS_HEADERS_TOO_LARGE 431
/* Too Many Requests (RFC 6585), with Retry-After. */
#define WS_STATUS_TOO_MANY_REQUESTS 429

/* What the limits keep for each accepted TCP connection, from the accept
 * to the wsi's destruction (lws's opaque user data of the wsi: the
 * per-session data of a protocol is not there yet at the accept, and is
 * swapped at the upgrade). */
struct ws_peer {
    char key[64]; /* the address key it is counted under; "" for a proxy */
    int pending;  /* holds one of its key's pending slots */
};

/* One queued outgoing frame: a reference to bytes that may be queued to
 * many connections at once (a fan-out is serialised once). */
struct ws_out {
    struct ws_out *next;
    struct pl_frame *frame; /* a reference of this queue's */
    uint64_t tag;
};

/* lws_write writes its frame header into the LWS_PRE bytes in front of
 * the payload: the frame's headroom is there for it. */
_Static_assert(LWS_PRE <= PL_FRAME_HEADROOM, "pl_frame headroom too small for lws");

/* Per-connection state: lws allocates it zeroed for the xmpp protocol and
 * frees it after LWS_CALLBACK_CLOSED, so nothing here outlives the wsi. */
struct ws_conn {
    struct ws_server *ws;
    struct lws *wsi;
    struct xmpp_stream *stream;
    char *username; /* from the upgrade, until the stream takes a copy */
    long expires;   /* the upgrade token's `exp` */
    lws_sorted_usec_list_t expiry_sul; /* PARLEY_SESSION_EXPIRY=close */
    uint64_t id;
    struct pl_buf rx; /* the message being reassembled from fragments */
    int rx_discard;   /* drop the rest of an oversized message */
    struct ws_out *out_head;
    struct ws_out *out_tail;
    size_t out_bytes;
    int closing;                   /* close once the queue is written */
    int dead;                      /* dropped: nothing more is read or written */
    struct pl_bucket rx_bucket;    /* PARLEY_LIMIT_SESSION_BYTES */
    lws_sorted_usec_list_t rx_sul; /* reads again when the bucket has refilled */
    int rx_paused;
    struct ws_conn *prev; /* every established connection, for shutdown */
    struct ws_conn *next;
};

struct ws_server {
    struct ws_server_config cfg;
    struct lws_context *ctx;
    struct lws_protocols protocols[3];
    lws_sorted_usec_list_t tick;
    lws_retry_bo_t idle_policy;
    struct lws_token_limits token_limits; /* lws keeps a pointer to it */
    uint64_t next_conn_id;
    struct ws_conn *conns;
    struct pl_keyed pending; /* address key -> connections not upgraded yet */
    struct pl_keyed rate;    /* address key -> its connect-rate bucket */
    long nconns;             /* TCP connections accepted and not destroyed */
    int64_t cap_logged_us;   /* the global cap's last log line */
};

/* Microseconds of the monotonic clock, never 0 (the buckets' "unused"). */
static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + 1;
}

int ws_origin_allowed(const char *allowed, const char *origin)
{
    if (!allowed) {
        /* Development: any port of localhost or 127.0.0.1 over http. */
        const char *const prefixes[] = {"http://localhost", "http://127.0.0.1"};
        for (int i = 0; i < 2; i++) {
            size_t n = strlen(prefixes[i]);
            if (strncmp(origin, prefixes[i], n) != 0)
                continue;
            const char *rest = origin + n;
            if (!*rest)
                return 1;
            if (*rest != ':' || !rest[1])
                return 0;
            for (rest++; *rest; rest++)
                if (*rest < '0' || *rest > '9')
                    return 0;
            return 1;
        }
        return 0;
    }
    size_t olen = strlen(origin);
    const char *p = allowed;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        const char *last = end;
        while (last > p && last[-1] == ' ')
            last--;
        if ((size_t)(last - p) == olen && strncasecmp(p, origin, olen) == 0)
            return 1;
        p = end;
    }
    return 0;
}

/* Copies header `tok` into a new string; NULL if absent (or ENOMEM). */
static char *header_dup(struct lws *wsi, enum lws_token_indexes tok)
{
    int n = lws_hdr_total_length(wsi, tok);
    if (n <= 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s && lws_hdr_copy(wsi, s, n + 1, tok) < 0) {
        free(s);
        s = NULL;
    }
    return s;
}

/* 1 if the comma-separated Sec-WebSocket-Protocol list offers "xmpp". */
static int offers_xmpp(const char *list)
{
    const char *p = list;
    while (p && *p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *end = p;
        while (*end && *end != ',' && *end != ' ')
            end++;
        if (end - p == 4 && strncmp(p, "xmpp", 4) == 0)
            return 1;
        p = end;
    }
    return 0;
}

/* 1 if a header that carries the token reached its token limit:
 * libwebsockets keeps that many bytes and skips the rest of the line, so
 * one that long may have been longer, and is refused. */
static int headers_too_large(struct lws *wsi)
{
    return lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_COOKIE) >= AUTH_HTTP_COOKIE_MAX ||
           lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) >=
               AUTH_HTTP_AUTHORIZATION_MAX;
}

/* The upgrade's authentication: 0 with *username set, or the HTTP status to
 * refuse it with. Shared by the confirm and filter callbacks. */
static int check_upgrade(struct ws_server *ws, struct lws *wsi, char **username,
                         long *expires)
{
    if (headers_too_large(wsi)) {
        pl_info(0, NULL, "upgrade refused: Cookie or Authorization header too large");
        return WS_STATUS_HEADERS_TOO_LARGE;
    }
    int status = HTTP_STATUS_UNAUTHORIZED;
    char *uri = header_dup(wsi, WSI_TOKEN_GET_URI);
    char *origin = header_dup(wsi, WSI_TOKEN_ORIGIN);
    char *proto = header_dup(wsi, WSI_TOKEN_PROTOCOL);
    char *cookie = header_dup(wsi, WSI_TOKEN_HTTP_COOKIE);
    char *authz = header_dup(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);

    if (!uri || strcmp(uri, "/xmpp") != 0) {
        status = HTTP_STATUS_NOT_FOUND;
        goto out;
    }
    /* A request without Origin is a non-browser client: allowed. */
    if (origin && !ws_origin_allowed(ws->cfg.allowed_origins, origin)) {
        pl_info(0, NULL, "upgrade refused: origin %s not allowed", origin);
        status = HTTP_STATUS_FORBIDDEN;
        goto out;
    }
    if (!offers_xmpp(proto)) {
        pl_info(0, NULL, "upgrade refused: subprotocol xmpp not offered");
        status = HTTP_STATUS_BAD_REQUEST;
        goto out;
    }
    if (xmpp_upgrade_auth_expiry(ws->cfg.env, cookie, authz, (long)time(NULL), username,
                                 expires) != PL_OK) {
        pl_info(0, NULL, "upgrade refused: no valid token");
        goto out;
    }
    status = 0;
out:
    free(uri);
    free(origin);
    free(proto);
    free(cookie);
    free(authz);
    return status;
}

static void out_free_all(struct ws_conn *c)
{
    struct ws_out *o = c->out_head;
    while (o) {
        struct ws_out *next = o->next;
        pl_frame_unref(o->frame);
        free(o);
        o = next;
    }
    c->out_head = c->out_tail = NULL;
    c->out_bytes = 0;
}

/* Drops a connection at once (slow consumer): what was queued is not
 * written, so it is never marked delivered and stays in the store. */
static void conn_drop(struct ws_conn *c)
{
    if (c->dead)
        return;
    pl_warn(c->id, xmpp_stream_full_jid(c->stream), "send queue over %zu bytes: dropping",
            c->ws->cfg.max_send_queue);
    c->dead = 1;
    out_free_all(c);
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

static int io_write(void *io_ctx, struct pl_frame *frame, uint64_t tag)
{
    struct ws_conn *c = io_ctx;
    size_t len = frame->len;
    if (c->dead || c->closing)
        return PL_ESTATE;
    if (c->out_bytes + len > c->ws->cfg.max_send_queue) {
        conn_drop(c);
        return PL_ETOOBIG;
    }
    struct ws_out *o = malloc(sizeof(*o));
    if (!o)
        return PL_ENOMEM;
    o->next = NULL;
    o->frame = pl_frame_ref(frame);
    o->tag = tag;
    if (c->out_tail)
        c->out_tail->next = o;
    else
        c->out_head = o;
    c->out_tail = o;
    c->out_bytes += len;
    lws_callback_on_writable(c->wsi);
    return PL_OK;
}

static void io_close(void *io_ctx)
{
    struct ws_conn *c = io_ctx;
    if (c->dead || c->closing)
        return;
    c->closing = 1;
    lws_callback_on_writable(c->wsi);
}

static const struct xmpp_stream_io conn_io = {io_write, io_close};

static void rx_resume(lws_sorted_usec_list_t *sul)
{
    struct ws_conn *c = lws_container_of(sul, struct ws_conn, rx_sul);
    c->rx_paused = 0;
    if (!c->dead)
        lws_rx_flow_control(c->wsi, 1);
}

/* PARLEY_LIMIT_SESSION_BYTES: what arrived is always taken (nothing is
 * dropped); a sender past its rate is then not read until the bucket has
 * refilled, so TCP slows it down. The burst is a second's worth, and at
 * least one stanza of the largest size. */
static void rx_shape(struct ws_conn *c, size_t len)
{
    double rate = (double)c->ws->cfg.limit_session_bytes;
    if (rate <= 0)
        return;
    double burst = rate;
    if (burst < (double)c->ws->cfg.env->max_stanza_size)
        burst = (double)c->ws->cfg.env->max_stanza_size;
    int64_t wait = pl_bucket_spend(&c->rx_bucket, rate, burst, now_us(), (double)len);
    if (wait <= 0 || c->rx_paused)
        return;
    c->rx_paused = 1;
    lws_rx_flow_control(c->wsi, 0);
    lws_sul_schedule(lws_get_context(c->wsi), 0, &c->rx_sul, rx_resume, wait);
    pl_metrics_limit(c->ws->cfg.metrics, PL_METRICS_LIMIT_SESSION_BYTES);
}

static int on_receive(struct ws_conn *c, const void *in, size_t len)
{
    if (c->dead || !c->stream || xmpp_stream_is_closing(c->stream))
        return 0;
    rx_shape(c, len);
    /* RFC 7395: the xmpp subprotocol uses text messages only (lws keeps the
     * first fragment's type for the continuations). */
    if (lws_frame_is_binary(c->wsi)) {
        pl_buf_free(&c->rx);
        xmpp_stream_binary(c->stream);
        return 0;
    }
    size_t limit = c->ws->cfg.env->max_stanza_size;
    int final = lws_is_final_fragment(c->wsi) && !lws_remaining_packet_payload(c->wsi);
    if (!c->rx_discard && c->rx.len + len > limit) {
        /* Checked before buffering: an oversized frame is never held. */
        pl_buf_free(&c->rx);
        c->rx_discard = 1;
        xmpp_stream_too_big(c->stream);
    }
    if (c->rx_discard) {
        if (final)
            c->rx_discard = 0;
        return 0;
    }
    if (pl_buf_append(&c->rx, in, len) != PL_OK) {
        xmpp_stream_error(c->stream, "resource-constraint", NULL);
        return 0;
    }
    if (!final)
        return 0;
    xmpp_stream_input(c->stream, c->rx.data, c->rx.len);
    /* Keep a small buffer for the next frame; give back a large one. */
    if (c->rx.cap > 4096)
        pl_buf_free(&c->rx);
    else
        pl_buf_reset(&c->rx);
    return 0;
}

static int on_writeable(struct ws_conn *c)
{
    if (c->dead)
        return 0;
    struct ws_out *o = c->out_head;
    if (o) {
        c->out_head = o->next;
        if (!c->out_head)
            c->out_tail = NULL;
        size_t len = o->frame->len;
        c->out_bytes -= len;
        int n = lws_write(c->wsi, pl_frame_payload(o->frame), len, LWS_WRITE_TEXT);
        uint64_t tag = o->tag;
        pl_frame_unref(o->frame);
        free(o);
        if (n < (int)len) {
            c->dead = 1;
            out_free_all(c);
            return -1;
        }
        /* lws buffers what the kernel did not take and delivers it before
         * anything else: from here the frame is the socket's. */
        if (tag)
            xmpp_stream_written(c->stream, tag);
        if (c->out_head || c->closing)
            lws_callback_on_writable(c->wsi);
        return 0;
    }
    if (c->closing) {
        lws_close_reason(c->wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
        return -1;
    }
    return 0;
}

/* The socket's peer address; an IPv4 client on a dual-stack socket shows
 * as ::ffff:a.b.c.d and is given as a.b.c.d. 1 if `out` got one. */
static int socket_peer(struct lws *wsi, char *out, size_t outlen)
{
    char peer[64];
    if (!lws_get_peer_simple(wsi, peer, sizeof(peer)))
        return 0;
    const char *addr = peer;
    if (strncmp(addr, "::ffff:", 7) == 0 && strchr(addr + 7, '.'))
        addr += 7;
    snprintf(out, outlen, "%s", addr);
    return 1;
}

/* Behind a reverse proxy the peer is the proxy: the client is the last
 * address of X-Forwarded-For, the one the proxy itself appended (earlier
 * entries are whatever the client claimed). Believed only when the peer is
 * in PARLEY_TRUSTED_PROXIES; 1 if `out` got an address. */
static int forwarded_client(struct ws_server *ws, struct lws *wsi, const char *peer,
                            char *out, size_t outlen)
{
    if (!pl_config_addr_in_list(ws->cfg.trusted_proxies, peer))
        return 0;
    char hdr[256];
    int n = lws_hdr_copy(wsi, hdr, sizeof(hdr), WSI_TOKEN_X_FORWARDED_FOR);
    if (n <= 0)
        return 0;
    const char *last = strrchr(hdr, ',');
    last = last ? last + 1 : hdr;
    while (*last == ' ')
        last++;
    size_t len = strcspn(last, " ");
    /* Only an address's characters: a header is not a place to log from. */
    if (!len || len >= outlen || strspn(last, "0123456789abcdefABCDEF.:") < len)
        return 0;
    memcpy(out, last, len);
    out[len] = '\0';
    return 1;
}

/* PARLEY_SESSION_EXPIRY=close: the upgrade's token has expired. The client
 * reconnects with a fresh one (a disabled user is closed in either mode,
 * by chat). */
static void on_expiry(lws_sorted_usec_list_t *sul)
{
    struct ws_conn *c = lws_container_of(sul, struct ws_conn, expiry_sul);
    if (c->stream && !c->dead) {
        pl_info(c->id, xmpp_stream_full_jid(c->stream), "token expired: closing");
        xmpp_stream_error(c->stream, "not-authorized", "the token has expired");
    }
}

static int xmpp_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                         void *in, size_t len)
{
    struct ws_conn *c = user;
    struct ws_server *ws = lws_context_user(lws_get_context(wsi));

    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        /* The confirm callback already answered refusals with a status;
         * this runs again only to keep the username for the connection. */
        return check_upgrade(ws, wsi, &c->username, &c->expires) ? -1 : 0;
    case LWS_CALLBACK_ESTABLISHED:
        c->ws = ws;
        c->wsi = wsi;
        c->id = ++ws->next_conn_id;
        if (!c->username || xmpp_stream_new(ws->cfg.env, &conn_io, c, c->id, c->username,
                                            &c->stream) != PL_OK)
            return -1;
        free(c->username);
        c->username = NULL;
        char peer[64];
        if (socket_peer(wsi, peer, sizeof(peer))) {
            const char *addr = peer;
            char fwd[64];
            if (forwarded_client(ws, wsi, addr, fwd, sizeof(fwd)))
                addr = fwd;
            xmpp_stream_set_address(c->stream, addr);
        }
        c->next = ws->conns;
        if (ws->conns)
            ws->conns->prev = c;
        ws->conns = c;
        /* The authentication deadline: lws's own timer of the wsi, so a
         * connection holds nothing more for it. */
        if (ws->cfg.auth_timeout > 0)
            lws_set_timer_usecs(wsi, (lws_usec_t)ws->cfg.auth_timeout * LWS_US_PER_SEC);
        if (ws->cfg.session_expiry_close && c->expires > 0) {
            long left = c->expires - (long)time(NULL);
            lws_sul_schedule(lws_get_context(wsi), 0, &c->expiry_sul, on_expiry,
                             (lws_usec_t)(left > 0 ? left : 0) * LWS_US_PER_SEC + 1);
        }
        /* Upgraded with a valid token: no longer pending. */
        struct ws_peer *p = lws_get_opaque_user_data(wsi);
        if (p && p->pending) {
            pl_keyed_release(&ws->pending, p->key);
            p->pending = 0;
        }
        if (ws->cfg.metrics) {
            pl_metrics_add(&ws->cfg.metrics->connections_total, 1);
            pl_metrics_add(&ws->cfg.metrics->logins, 1);
            pl_metrics_gauge(&ws->cfg.metrics->connections_open, 1);
        }
        pl_debug(c->id, NULL, "websocket established");
        return 0;
    case LWS_CALLBACK_TIMER:
        if (c->stream && !c->dead)
            xmpp_stream_deadline(c->stream);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        return on_receive(c, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return on_writeable(c);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (c->stream)
            xmpp_stream_peer_closed(c->stream);
        return 0;
    case LWS_CALLBACK_CLOSED:
        pl_debug(c->id, c->stream ? xmpp_stream_full_jid(c->stream) : NULL, "closed");
        if (c->stream) {
            if (ws->cfg.metrics)
                pl_metrics_gauge(&ws->cfg.metrics->connections_open, -1);
            if (c->prev)
                c->prev->next = c->next;
            else
                ws->conns = c->next;
            if (c->next)
                c->next->prev = c->prev;
        }
        lws_sul_cancel(&c->rx_sul);
        lws_sul_cancel(&c->expiry_sul);
        xmpp_stream_free(c->stream);
        c->stream = NULL;
        out_free_all(c);
        pl_buf_free(&c->rx);
        free(c->username);
        c->username = NULL;
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        /* An upgrade that never got established still frees its name. */
        if (c) {
            free(c->username);
            c->username = NULL;
        }
        return 0;
    default:
        return 0;
    }
}

static int http_status(struct lws *wsi, unsigned int code)
{
    if (lws_return_http_status(wsi, code, NULL))
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* The address of a connection being accepted, as socket_peer gives it. */
static int accepted_peer(const struct lws_filter_network_conn_args *a, char *out,
                         size_t outlen)
{
    char buf[INET6_ADDRSTRLEN];
    const char *addr = NULL;
    if (a->cli_addr.ss_family == AF_INET)
        addr = inet_ntop(AF_INET, &((const struct sockaddr_in *)&a->cli_addr)->sin_addr,
                         buf, sizeof(buf));
    else if (a->cli_addr.ss_family == AF_INET6)
        addr =
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&a->cli_addr)->sin6_addr,
                      buf, sizeof(buf));
    if (!addr)
        return 0;
    if (strncmp(addr, "::ffff:", 7) == 0 && strchr(addr + 7, '.'))
        addr += 7;
    snprintf(out, outlen, "%s", addr);
    return 1;
}

/* A new TCP connection, before lws makes anything for it (refused here,
 * its socket is closed at once): the global cap, then per source address
 * the connect rate and the connections not yet upgraded. A trusted
 * proxy's connections are not counted per address: they carry many
 * clients (PARLEY_TRUSTED_PROXIES; the proxy limits its own). */
static int on_filter(struct ws_server *ws, const struct lws_filter_network_conn_args *a)
{
    const struct ws_server_config *cfg = &ws->cfg;
    if (cfg->limit_connections > 0 && ws->nconns >= cfg->limit_connections) {
        int64_t now = now_us();
        if (now - ws->cap_logged_us > 10 * 1000000) {
            ws->cap_logged_us = now;
            pl_warn(0, NULL,
                    "PARLEY_LIMIT_CONNECTIONS (%d) reached: refusing connections",
                    cfg->limit_connections);
        }
        pl_metrics_limit(cfg->metrics, PL_METRICS_LIMIT_CONNECTIONS);
        return -1;
    }
    char peer[64], key[64];
    if (!accepted_peer(a, peer, sizeof(peer)) ||
        pl_config_addr_in_list(cfg->trusted_proxies, peer))
        return 0;
    pl_limit_addr_key(peer, key, sizeof(key));
    if (cfg->limit_pending_per_ip > 0 &&
        pl_keyed_count(&ws->pending, key) >= cfg->limit_pending_per_ip) {
        if (pl_keyed_flag(&ws->pending, key))
            pl_warn(0, NULL, "%s: %d connections not yet upgraded, refusing more", key,
                    cfg->limit_pending_per_ip);
        pl_metrics_limit(cfg->metrics, PL_METRICS_LIMIT_PENDING_PER_IP);
        return -1;
    }
    if (cfg->limit_connect_rate > 0 && pl_keyed_take(&ws->rate, key, now_us()) != 1) {
        if (pl_keyed_flag(&ws->rate, key))
            pl_warn(0, NULL, "%s: over PARLEY_LIMIT_CONNECT_RATE, refusing connections",
                    key);
        pl_metrics_limit(cfg->metrics, PL_METRICS_LIMIT_CONNECT_RATE);
        return -1;
    }
    return 0;
}

/* The connection on_filter let in now has its wsi: count it (released in
 * on_destroy) and hold its pending slot (released at the upgrade). */
static int on_accept(struct ws_server *ws, struct lws *wsi)
{
    struct ws_peer *p = calloc(1, sizeof(*p));
    if (!p)
        return -1;
    lws_set_opaque_user_data(wsi, p);
    ws->nconns++;
    char peer[64];
    if (!socket_peer(wsi, peer, sizeof(peer)) ||
        pl_config_addr_in_list(ws->cfg.trusted_proxies, peer))
        return 0;
    pl_limit_addr_key(peer, p->key, sizeof(p->key));
    if (ws->cfg.limit_pending_per_ip > 0 &&
        pl_keyed_hold(&ws->pending, p->key, 0) == PL_OK)
        p->pending = 1;
    return 0;
}

static void on_destroy(struct ws_server *ws, struct lws *wsi)
{
    struct ws_peer *p = lws_get_opaque_user_data(wsi);
    if (!p)
        return;
    lws_set_opaque_user_data(wsi, NULL);
    if (p->pending)
        pl_keyed_release(&ws->pending, p->key);
    ws->nconns--;
    free(p);
}

/* The client's address key for the upgrade: the socket's peer, or behind a
 * trusted proxy the address it forwards. "" if unknown. */
static void upgrade_key(struct ws_server *ws, struct lws *wsi, char *out, size_t outlen)
{
    char peer[64], fwd[64];
    out[0] = '\0';
    if (!socket_peer(wsi, peer, sizeof(peer)))
        return;
    if (forwarded_client(ws, wsi, peer, fwd, sizeof(fwd)))
        pl_limit_addr_key(fwd, out, outlen);
    else if (!pl_config_addr_in_list(ws->cfg.trusted_proxies, peer))
        pl_limit_addr_key(peer, out, outlen);
}

/* 429 with Retry-After (whole seconds, rounded up), no body. */
static int refuse_retry(struct lws *wsi, int64_t retry_us)
{
    unsigned char buf[LWS_PRE + 512];
    unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf);
    char secs[24];
    int n =
        snprintf(secs, sizeof(secs), "%lld", (long long)((retry_us + 999999) / 1000000));
    if (lws_add_http_header_status(wsi, WS_STATUS_TOO_MANY_REQUESTS, &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"retry-after:",
                                    (const unsigned char *)secs, n, &p, end) ||
        lws_add_http_header_content_length(wsi, 0, &p, end) ||
        lws_finalize_http_header(wsi, &p, end))
        return 1;
    lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_HEADERS);
    return 1;
}

static int on_confirm_upgrade(struct ws_server *ws, struct lws *wsi, const char *in)
{
    if (!in || strcmp(in, "websocket") != 0) {
        lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST, NULL);
        return 1;
    }
    /* PARLEY_LIMIT_AUTH_FAILURES: an address that has failed too often is
     * answered before its token is even verified (which costs a signature
     * check). Counted per address only here: before the token is verified
     * its username is the client's claim, and counting it would let anyone
     * lock anyone out. SASL counts usernames too. */
    char key[64];
    upgrade_key(ws, wsi, key, sizeof(key));
    int64_t now = now_us(), retry = 0;
    if (pl_auth_limit_blocked(ws->cfg.auth_limit, key, NULL, now, &retry)) {
        pl_metrics_limit(ws->cfg.metrics, PL_METRICS_LIMIT_AUTH_FAILURES);
        if (pl_auth_limit_first(ws->cfg.auth_limit, key, NULL))
            pl_warn(0, NULL,
                    "%s: over PARLEY_LIMIT_AUTH_FAILURES, refusing its upgrades "
                    "with 429 (logged once)",
                    key);
        return refuse_retry(wsi, retry);
    }
    char *username = NULL;
    long expires = 0;
    int status = check_upgrade(ws, wsi, &username, &expires);
    free(username);
    if (!status)
        return 0;
    if (status == HTTP_STATUS_UNAUTHORIZED) {
        if (ws->cfg.metrics)
            pl_metrics_add(&ws->cfg.metrics->login_failures, 1);
        pl_auth_limit_failed(ws->cfg.auth_limit, key, NULL, now);
    }
    lws_return_http_status(wsi, (unsigned int)status, NULL);
    return 1;
}

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                         void *in, size_t len)
{
    struct ws_server *ws = lws_context_user(lws_get_context(wsi));
    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        return ws && user ? on_filter(ws, user) : 0;
    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
        return ws ? on_accept(ws, wsi) : 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (ws)
            on_destroy(ws, wsi);
        return 0;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return on_confirm_upgrade(ws, wsi, in);
    case LWS_CALLBACK_HTTP:
        /* Plain HTTP: /xmpp wants an upgrade; nothing else is served here. */
        if (headers_too_large(wsi))
            return http_status(wsi, WS_STATUS_HEADERS_TOO_LARGE);
        return http_status(wsi, in && strcmp((const char *)in, "/xmpp") == 0
                                    ? HTTP_STATUS_BAD_REQUEST
                                    : HTTP_STATUS_NOT_FOUND);
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (ws && ws->cfg.wake)
            ws->cfg.wake(ws->cfg.ctx);
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static void on_tick(lws_sorted_usec_list_t *sul)
{
    struct ws_server *ws = lws_container_of(sul, struct ws_server, tick);
    if (ws->cfg.tick)
        ws->cfg.tick(ws->cfg.ctx);
    /* XEP-0198: <r/> cadence and the end of resumption windows. */
    xmpp_stream_sm_tick(ws->cfg.env->sm);
    /* Forget the addresses that are as good as new. */
    int64_t now = now_us();
    pl_keyed_sweep(&ws->rate, now);
    pl_keyed_sweep(&ws->pending, now);
    pl_auth_limit_sweep(ws->cfg.auth_limit, now);
    lws_sul_schedule(ws->ctx, 0, &ws->tick, on_tick, LWS_US_PER_SEC);
}

static void lws_log_sink(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    enum pl_log_level to = level == LLL_ERR ? PL_LOG_ERROR : PL_LOG_WARN;
    /* A client whose request headers overflow the buffer: lws closes the
     * connection; that is the client's doing, not the server's error. */
    if (strstr(line, "Ran out of header data space"))
        to = PL_LOG_INFO;
    pl_log(to, 0, NULL, "lws: %.*s", (int)n, line);
}

int ws_server_new(const struct ws_server_config *cfg, struct ws_server **out)
{
    int tls = cfg->tls_cert && cfg->tls_key;
    if (!tls && !cfg->allow_plain_public && !pl_config_is_loopback(cfg->host)) {
        pl_error(0, NULL,
                 "refusing plain ws:// on %s: set PARLEY_TLS_CERT/KEY, or "
                 "PARLEY_ALLOW_PLAIN_WS=1 to allow it",
                 cfg->host);
        return PL_EINVAL;
    }
    struct ws_server *ws = calloc(1, sizeof(*ws));
    if (!ws)
        return PL_ENOMEM;
    ws->cfg = *cfg;
    pl_keyed_init(&ws->rate, cfg->limit_connect_rate,
                  cfg->limit_connect_burst > 0 ? cfg->limit_connect_burst
                                               : cfg->limit_connect_rate,
                  0);
    pl_keyed_init(&ws->pending, 0, 0, 0);
    ws->protocols[0] = (struct lws_protocols){.name = "http", .callback = http_callback};
    ws->protocols[1] = (struct lws_protocols){
        .name = "xmpp",
        .callback = xmpp_callback,
        .per_session_data_size = sizeof(struct ws_conn),
        /* libwebsockets gives every connection a receive buffer of this
         * size; on_receive reassembles fragments into c->rx, so a small
         * one only splits a large stanza over more callbacks. 512 bytes
         * instead of 4,096 is 3.4 KB less per idle session. */
        .rx_buffer_size = 512,
    };

    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_sink);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = cfg->port;
    info.iface = cfg->host;
    info.protocols = ws->protocols;
    info.user = ws;
    info.gid = -1;
    info.uid = -1;
    /* A connection that died without a FIN (a phone that lost its network)
     * would otherwise hold its session, and what was written to it, for
     * ever: lws pings it when idle and drops it when nothing comes back. */
    ws->idle_policy.secs_since_valid_ping = (uint16_t)(cfg->idle_timeout / 2);
    ws->idle_policy.secs_since_valid_hangup = (uint16_t)cfg->idle_timeout;
    info.retry_and_idle_policy = &ws->idle_policy;
    /* lws's default of 4 KB of headers closed the connection, with no
     * status, on a token of more than about 4 KB. With a limit on the two
     * headers that carry a token, a longer one is cut short instead of
     * filling the buffer, and check_upgrade answers 431. What else
     * overflows the buffer still makes lws 4.1 close the connection: it
     * has no way to answer then. */
    info.max_http_header_data = WS_HEADER_DATA;
    ws->token_limits.token_limit[WSI_TOKEN_HTTP_COOKIE] = AUTH_HTTP_COOKIE_MAX;
    ws->token_limits.token_limit[WSI_TOKEN_HTTP_AUTHORIZATION] =
        AUTH_HTTP_AUTHORIZATION_MAX;
    info.token_limits = &ws->token_limits;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
    /* The upgrade's own deadline (slowloris): lws holds a connection's
     * header buffer this long from the accept, however slowly the headers
     * trickle in, then closes it. */
    info.timeout_secs_ah_idle =
        cfg->upgrade_timeout > 0 ? (unsigned)cfg->upgrade_timeout : 10;
    if (strcmp(cfg->host, "localhost") == 0)
        info.iface = "127.0.0.1";
    if (tls) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = cfg->tls_cert;
        info.ssl_private_key_filepath = cfg->tls_key;
    }
    ws->ctx = lws_create_context(&info);
    if (!ws->ctx) {
        pl_error(0, NULL, "cannot listen on %s:%d", cfg->host, cfg->port);
        pl_keyed_free(&ws->rate);
        pl_keyed_free(&ws->pending);
        free(ws);
        return PL_EIO;
    }
    lws_sul_schedule(ws->ctx, 0, &ws->tick, on_tick, LWS_US_PER_SEC);
    pl_info(0, NULL, "listening on %s://%s:%d/xmpp", tls ? "wss" : "ws", cfg->host,
            cfg->port);
    *out = ws;
    return PL_OK;
}

int ws_server_run(struct ws_server *ws, volatile sig_atomic_t *stop)
{
    while (!*stop)
        if (lws_service(ws->ctx, 0) < 0)
            return PL_EIO;
    if (ws->cfg.stopping)
        ws->cfg.stopping(ws->cfg.ctx);
    /* Tell every client (RFC 6120 system-shutdown) and give the queues a
     * moment to drain; whatever is not written stays `stored`. */
    for (struct ws_conn *c = ws->conns; c; c = c->next)
        if (c->stream && !c->dead)
            xmpp_stream_error(c->stream, "system-shutdown", NULL);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        if (!ws->conns || lws_service(ws->ctx, 0) < 0)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - start.tv_sec) * 1000 +
                 (now.tv_nsec - start.tv_nsec) / 1000000 <
             1000);
    return PL_OK;
}

void ws_server_wake(struct ws_server *ws)
{
    lws_cancel_service(ws->ctx);
}

void ws_server_free(struct ws_server *ws)
{
    if (!ws)
        return;
    lws_sul_cancel(&ws->tick);
    lws_context_destroy(ws->ctx);
    pl_keyed_free(&ws->rate);
    pl_keyed_free(&ws->pending);
    free(ws);
}
