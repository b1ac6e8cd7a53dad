/* One XMPP-over-WebSocket session per struct load_conn, on a shared epoll
 * loop: a non-blocking connect from one of several 127.0.0.x addresses (one
 * source address holds about 28,000 connections to one port), the HTTP
 * upgrade with the JWT in the auth_token cookie, client-masked frames out,
 * server frames in, SASL PLAIN with the token, bind, optional XEP-0198, the
 * initial presence and a ping whose answer marks the session ready. */
#define _GNU_SOURCE
#include "load.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

static const char NS_FRAMING[] = "urn:ietf:params:xml:ns:xmpp-framing";

int load_loop_init(struct load_loop *l, const struct load_opts *o)
{
    memset(l, 0, sizeof *l);
    l->o = o;
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    return l->ep < 0 ? -1 : 0;
}

void load_loop_free(struct load_loop *l)
{
    if (l->ep >= 0)
        close(l->ep);
    l->ep = -1;
}

static void arm(struct load_loop *l, struct load_conn *c, int out)
{
    if (c->fd < 0 || c->out_armed == out)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(l->ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->out_armed = out;
}

static void fail(struct load_loop *l, struct load_conn *c, const char *why)
{
    if (c->state == LOAD_FAILED || c->state == LOAD_CLOSED)
        return;
    int was_ready = c->state == LOAD_READY;
    snprintf(c->why, sizeof c->why, "%s", why);
    c->state = was_ready ? LOAD_CLOSED : LOAD_FAILED;
    if (was_ready) {
        l->ready--;
        l->closed++;
    } else
        l->failed++;
    if (c->fd >= 0) {
        epoll_ctl(l->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
}

static void flush(struct load_loop *l, struct load_conn *c)
{
    while (c->out.len > 0 && c->fd >= 0) {
        ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
        if (n > 0) {
            load_buf_consume(&c->out, (size_t)n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            arm(l, c, 1);
            return;
        }
        if (n < 0 && errno == EINTR)
            continue;
        fail(l, c, "send failed");
        return;
    }
    arm(l, c, 0);
}

/* A client frame: FIN, opcode, the length, a mask key and the masked
 * payload (RFC 6455 §5.3: a client must mask; the key need not be secret
 * here, only present). */
static void put_frame(struct load_conn *c, int opcode, const char *p, size_t n)
{
    unsigned char h[14];
    size_t hl = 0;
    h[hl++] = (unsigned char)(0x80 | opcode);
    if (n < 126) {
        h[hl++] = (unsigned char)(0x80 | n);
    } else if (n < 65536) {
        h[hl++] = 0x80 | 126;
        h[hl++] = (unsigned char)(n >> 8);
        h[hl++] = (unsigned char)n;
    } else {
        h[hl++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            h[hl++] = (unsigned char)((uint64_t)n >> (8 * i));
    }
    static uint32_t seed = 0x9e3779b9u;
    seed ^= seed << 13;
    seed ^= seed >> 17;
    seed ^= seed << 5;
    unsigned char key[4] = {(unsigned char)seed, (unsigned char)(seed >> 8),
                            (unsigned char)(seed >> 16), (unsigned char)(seed >> 24)};
    memcpy(h + hl, key, 4);
    hl += 4;
    load_buf_put(&c->out, h, hl);
    size_t at = c->out.len;
    load_buf_put(&c->out, p, n);
    for (size_t i = 0; i < n; i++)
        c->out.data[at + i] ^= (char)key[i & 3];
}

void load_conn_send(struct load_loop *l, struct load_conn *c, const char *xml, size_t n)
{
    if (c->fd < 0)
        return;
    put_frame(c, 1, xml, n);
    /* Writes wait for the loop's turn when more is already pending: many
     * stanzas to one socket go out in one send. */
    if (!c->out_armed)
        flush(l, c);
}

void load_conn_sendf(struct load_loop *l, struct load_conn *c, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf) {
        fprintf(stderr, "parley-load: a stanza too long for its buffer\n");
        exit(2);
    }
    load_conn_send(l, c, buf, (size_t)n);
}

void load_conn_close(struct load_loop *l, struct load_conn *c)
{
    if (c->started_ns == 0)
        return; /* never started (calloc'd: its fd field is not a descriptor) */
    if (c->fd < 0) {
        load_buf_free(&c->in);
        load_buf_free(&c->out);
        load_buf_free(&c->frag);
        return;
    }
    char close_xml[128];
    int n = snprintf(close_xml, sizeof close_xml, "<close xmlns='%s'/>", NS_FRAMING);
    put_frame(c, 1, close_xml, (size_t)n);
    put_frame(c, 8, "\x03\xe8", 2);
    /* Best effort: what does not go out now is not waited for. */
    (void)!send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
    epoll_ctl(l->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    if (c->state == LOAD_READY)
        l->ready--;
    c->state = LOAD_CLOSED;
    load_buf_free(&c->in);
    load_buf_free(&c->out);
    load_buf_free(&c->frag);
}

int load_conn_start(struct load_loop *l, struct load_conn *c, int idx, const char *user)
{
    const struct load_opts *o = l->o;
    memset(c, 0, sizeof *c);
    c->idx = idx;
    c->fd = -1;
    snprintf(c->user, sizeof c->user, "%s", user);
    c->on_frame = l->on_frame;
    c->started_ns = load_now_ns();
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        c->state = LOAD_FAILED;
        snprintf(c->why, sizeof c->why, "socket: %s", strerror(errno));
        l->failed++;
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (o->sources > 1) {
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000001u + 1u + (uint32_t)(idx % o->sources));
        if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
            close(fd);
            c->state = LOAD_FAILED;
            snprintf(c->why, sizeof c->why, "bind: %s", strerror(errno));
            l->failed++;
            return -1;
        }
    }
    struct sockaddr_in dst = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)o->port)};
    inet_pton(AF_INET, o->host, &dst.sin_addr);
    c->fd = fd;
    c->state = LOAD_CONNECTING;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    c->out_armed = 1;
    epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev);
    if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) {
        fail(l, c, "connect failed");
        return -1;
    }
    return 0;
}

static void send_upgrade(struct load_loop *l, struct load_conn *c)
{
    /* The token goes in the auth_token cookie for parleyd; a server that
     * logs in with passwords gets none. */
    char token[1024] = "";
    if (!l->o->password && load_token_make(l->o, c->user, token, sizeof token) < 0) {
        fail(l, c, "token");
        return;
    }
    unsigned char nonce[16];
    for (int i = 0; i < 16; i++)
        nonce[i] = (unsigned char)(rand() & 0xff);
    char key[32];
    EVP_EncodeBlock((unsigned char *)key, nonce, 16);
    char req[2048];
    int n =
        snprintf(req, sizeof req,
                 "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                 "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: xmpp\r\n"
                 "%s%s%s\r\n",
                 l->o->path, l->o->host, l->o->port, key,
                 token[0] ? "Cookie: auth_token=" : "", token, token[0] ? "\r\n" : "");
    load_buf_put(&c->out, req, (size_t)n);
    c->state = LOAD_UPGRADE;
    flush(l, c);
}

static void send_open(struct load_loop *l, struct load_conn *c)
{
    load_conn_sendf(l, c, "<open xmlns='%s' to='%s' version='1.0'/>", NS_FRAMING,
                    l->o->domain);
}

/* The login steps, and after them the SM answers; the rest goes to the
 * session's own handler. */
static void on_text(struct load_loop *l, struct load_conn *c, const char *f, size_t n,
                    uint64_t now)
{
    if (n >= 2 && f[0] == '<' && f[1] == 'r' && (f[2] == ' ' || f[2] == '/')) {
        /* <r xmlns='urn:xmpp:sm:3'/>: the count of stanzas handled. */
        load_conn_sendf(l, c, "<a xmlns='urn:xmpp:sm:3' h='%u'/>", c->sm_in);
        return;
    }
    if (n >= 2 && f[0] == '<' && f[1] == 'a' && f[2] == ' ')
        return; /* the server's ack of ours */
    int stanza = (n > 3 && (memcmp(f, "<me", 3) == 0 || memcmp(f, "<pr", 3) == 0 ||
                            memcmp(f, "<iq", 3) == 0));
    if (stanza && c->sm_enabled)
        c->sm_in++;
    if (load_find(f, n, "stream:error") || memcmp(f, "<close", n < 6 ? n : 6) == 0) {
        char why[160];
        snprintf(why, sizeof why, "closed by the server: %.*s", (int)(n < 140 ? n : 140),
                 f);
        fail(l, c, why);
        return;
    }
    switch (c->state) {
    case LOAD_FEATURES1:
        if (load_find(f, n, "<mechanisms")) {
            char token[1024], plain[1200], b64[1700];
            if (l->o->password)
                snprintf(token, sizeof token, "%s", l->o->password);
            else
                load_token_make(l->o, c->user, token, sizeof token);
            int pl = snprintf(plain, sizeof plain, "%c%s%c%s", 0, c->user, 0, token);
            EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)plain, pl);
            load_conn_sendf(l, c,
                            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
                            "mechanism='PLAIN'>%s</auth>",
                            b64);
            c->state = LOAD_AUTH;
        }
        return;
    case LOAD_AUTH:
        if (memcmp(f, "<success", n < 8 ? n : 8) == 0) {
            c->state = LOAD_FEATURES2;
            send_open(l, c);
        } else if (memcmp(f, "<failure", n < 8 ? n : 8) == 0) {
            fail(l, c, "SASL failure");
        }
        return;
    case LOAD_FEATURES2:
        if (load_find(f, n, "<bind")) {
            c->state = LOAD_BIND;
            load_conn_sendf(l, c,
                            "<iq type='set' id='bind1' xmlns='jabber:client'>"
                            "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
        }
        return;
    case LOAD_BIND:
        if (memcmp(f, "<iq", 3) == 0 && load_find(f, n, "bind1")) {
            const char *j = load_find(f, n, "<jid>");
            const char *je = j ? load_find(j, n - (size_t)(j - f), "</jid>") : NULL;
            if (!load_find(f, n, "type='result'") &&
                !load_find(f, n, "type=\"result\"")) {
                fail(l, c, "bind refused");
                return;
            }
            if (j && je && (size_t)(je - j - 5) < sizeof c->jid) {
                memcpy(c->jid, j + 5, (size_t)(je - j - 5));
                c->jid[je - j - 5] = '\0';
            }
            if (l->o->sm)
                load_conn_sendf(l, c, "<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
            load_conn_sendf(l, c, "<presence xmlns='jabber:client'/>");
            load_conn_sendf(l, c,
                            "<iq type='get' id='ping1' to='%s' xmlns='jabber:client'>"
                            "<ping xmlns='urn:xmpp:ping'/></iq>",
                            l->o->domain);
            c->state = LOAD_PING;
        }
        return;
    case LOAD_PING:
        if (memcmp(f, "<enabled", n < 8 ? n : 8) == 0) {
            c->sm_enabled = 1;
            c->sm_in = 0;
            return;
        }
        if (memcmp(f, "<failed", n < 7 ? n : 7) == 0 && l->o->sm) {
            fail(l, c, "the server refused <enable/>");
            return;
        }
        if (memcmp(f, "<iq", 3) == 0 && load_find(f, n, "ping1")) {
            if (l->o->sm && !c->sm_enabled) {
                fail(l, c, "no <enabled/> before the ping's answer");
                return;
            }
            c->state = LOAD_READY;
            c->ready_ns = now;
            l->ready++;
            return;
        }
        if (c->on_frame)
            c->on_frame(c, f, n, now);
        return;
    case LOAD_READY:
        if (c->on_frame)
            c->on_frame(c, f, n, now);
        return;
    default:
        return;
    }
}

/* Server frames: never masked, possibly fragmented; a ping is answered, a
 * close ends the session. */
static void on_frames(struct load_loop *l, struct load_conn *c, uint64_t now)
{
    size_t at = 0;
    while (c->fd >= 0) {
        unsigned char *p = (unsigned char *)c->in.data + at;
        size_t avail = c->in.len - at;
        if (avail < 2)
            break;
        int fin = p[0] & 0x80, op = p[0] & 0x0f;
        uint64_t len = p[1] & 0x7f;
        size_t hl = 2;
        if (len == 126) {
            if (avail < 4)
                break;
            len = ((uint64_t)p[2] << 8) | p[3];
            hl = 4;
        } else if (len == 127) {
            if (avail < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = (len << 8) | p[2 + i];
            hl = 10;
        }
        if (p[1] & 0x80) {
            fail(l, c, "a masked server frame");
            return;
        }
        if (avail < hl + len)
            break;
        const char *payload = (const char *)p + hl;
        at += hl + (size_t)len;
        if (op == 8) {
            fail(l, c, "close frame from the server");
            return;
        }
        if (op == 9) {
            put_frame(c, 10, payload, (size_t)len);
            flush(l, c);
            continue;
        }
        if (op == 10)
            continue;
        if (!fin || op == 0) {
            load_buf_put(&c->frag, payload, (size_t)len);
            if (!fin)
                continue;
            on_text(l, c, c->frag.data, c->frag.len, now);
            c->frag.len = 0;
            continue;
        }
        on_text(l, c, payload, (size_t)len, now);
    }
    if (c->fd >= 0)
        load_buf_consume(&c->in, at);
}

static void on_readable(struct load_loop *l, struct load_conn *c, uint64_t now)
{
    char buf[65536];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n > 0) {
            load_buf_put(&c->in, buf, (size_t)n);
            if ((size_t)n < sizeof buf)
                break;
            continue;
        }
        if (n == 0) {
            fail(l, c, "the server closed the connection");
            return;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        if (errno == EINTR)
            continue;
        fail(l, c, "recv failed");
        return;
    }
    if (c->state == LOAD_UPGRADE) {
        const char *end = load_find(c->in.data, c->in.len, "\r\n\r\n");
        if (!end)
            return;
        if (c->in.len < 12 || memcmp(c->in.data + 9, "101", 3) != 0) {
            char why[160];
            snprintf(why, sizeof why, "upgrade refused: %.40s", c->in.data);
            fail(l, c, why);
            return;
        }
        load_buf_consume(&c->in, (size_t)(end + 4 - c->in.data));
        c->state = LOAD_FEATURES1;
        send_open(l, c);
    }
    on_frames(l, c, now);
}

int load_loop_poll(struct load_loop *l, int ms)
{
    struct epoll_event evs[256];
    int n = epoll_wait(l->ep, evs, 256, ms);
    if (n <= 0)
        return 0;
    uint64_t now = load_now_ns();
    for (int i = 0; i < n; i++) {
        struct load_conn *c = evs[i].data.ptr;
        if (c->fd < 0)
            continue;
        if (c->state == LOAD_CONNECTING) {
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err) {
                char why[160];
                snprintf(why, sizeof why, "connect: %s", strerror(err));
                fail(l, c, why);
                continue;
            }
            if (evs[i].events & EPOLLOUT) {
                send_upgrade(l, c);
                continue;
            }
        }
        if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
            on_readable(l, c, now);
        if (c->fd >= 0 && (evs[i].events & EPOLLOUT))
            flush(l, c);
    }
    return n;
}

int load_login_many(struct load_loop *l, struct load_conn *cs, int n, const char *prefix)
{
    int started = 0, base_ready = l->ready, base_failed = l->failed;
    uint64_t deadline = load_now_ns() + (uint64_t)l->o->timeout_sec * 1000000000u;
    while (l->ready - base_ready < n) {
        while (started < n &&
               started - (l->ready - base_ready) - (l->failed - base_failed) <
                   l->o->parallel) {
            char user[64];
            snprintf(user, sizeof user, "%s%d", prefix, started);
            load_conn_start(l, &cs[started], started, user);
            started++;
        }
        if (l->failed > base_failed) {
            for (int i = 0; i < started; i++) {
                if (cs[i].state == LOAD_FAILED) {
                    fprintf(stderr, "parley-load: %s: %s\n", cs[i].user, cs[i].why);
                    break;
                }
            }
            return -1;
        }
        if (load_now_ns() > deadline) {
            fprintf(stderr, "parley-load: %d of %d logins done in %d s\n",
                    l->ready - base_ready, n, l->o->timeout_sec);
            return -1;
        }
        load_loop_poll(l, 5);
    }
    return 0;
}

void load_close_many(struct load_loop *l, struct load_conn *cs, int n)
{
    for (int i = 0; i < n; i++)
        load_conn_close(l, &cs[i]);
}
