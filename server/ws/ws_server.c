#include "ws_server.h"

#include "auth_http.h"
#include "pl_buf.h"
#include "pl_config.h"
#include "pl_error.h"
#include "pl_frame.h"
#include "pl_log.h"

#include <libwebsockets.h>
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
    uint64_t id;
    struct pl_buf rx; /* the message being reassembled from fragments */
    int rx_discard;   /* drop the rest of an oversized message */
    struct ws_out *out_head;
    struct ws_out *out_tail;
    size_t out_bytes;
    int closing;          /* close once the queue is written */
    int dead;             /* dropped: nothing more is read or written */
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
};

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
static int check_upgrade(struct ws_server *ws, struct lws *wsi, char **username)
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
    if (xmpp_upgrade_auth(ws->cfg.env, cookie, authz, (long)time(NULL), username) !=
        PL_OK) {
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

static int on_receive(struct ws_conn *c, const void *in, size_t len)
{
    if (c->dead || !c->stream || xmpp_stream_is_closing(c->stream))
        return 0;
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

static int xmpp_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                         void *in, size_t len)
{
    struct ws_conn *c = user;
    struct ws_server *ws = lws_context_user(lws_get_context(wsi));

    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        /* The confirm callback already answered refusals with a status;
         * this runs again only to keep the username for the connection. */
        return check_upgrade(ws, wsi, &c->username) ? -1 : 0;
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
        if (lws_get_peer_simple(wsi, peer, sizeof(peer))) {
            /* An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d. */
            const char *addr = peer;
            if (strncmp(addr, "::ffff:", 7) == 0 && strchr(addr + 7, '.'))
                addr += 7;
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

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                         void *in, size_t len)
{
    struct ws_server *ws = lws_context_user(lws_get_context(wsi));
    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
        if (!in || strcmp((const char *)in, "websocket") != 0) {
            lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST, NULL);
            return 1;
        }
        char *username = NULL;
        int status = check_upgrade(ws, wsi, &username);
        free(username);
        if (!status)
            return 0;
        if (status == HTTP_STATUS_UNAUTHORIZED && ws->cfg.metrics)
            pl_metrics_add(&ws->cfg.metrics->login_failures, 1);
        lws_return_http_status(wsi, (unsigned int)status, NULL);
        return 1;
    }
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
    ws->protocols[0] = (struct lws_protocols){.name = "http", .callback = http_callback};
    ws->protocols[1] = (struct lws_protocols){
        .name = "xmpp",
        .callback = xmpp_callback,
        .per_session_data_size = sizeof(struct ws_conn),
        .rx_buffer_size = 4096,
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
    free(ws);
}
