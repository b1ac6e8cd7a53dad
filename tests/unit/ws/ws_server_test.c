/* The transport with a real libwebsockets context on a loopback port,
 * driven from this one thread: plain TCP clients write HTTP requests and
 * WebSocket frames, lws_service runs the server between reads. Covers the
 * HTTP answers (404, 400, 401, 431), the upgrade, a binary frame and the
 * authentication deadline; and the statics (offers_xmpp). Origins are in
 * ws_origin_test.c. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* Included to reach offers_xmpp, WS_HEADER_DATA and the lws context. */
#include "ws_server.c"

#include "auth_jwt.h"
#include "xmpp_parse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#define SECRET "unit-test-secret-0123456789abcdef"

struct fixture {
    struct auth_verifier *verifier;
    struct xmpp_parser *parser;
    struct xmpp_env env;
    struct ws_server *ws;
    int port;
};

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t n = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &n), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static int setup(void **state)
{
    signal(SIGPIPE, SIG_IGN);
    struct fixture *f = calloc(1, sizeof(*f));
    struct auth_config ac = {.alg = "HS256", .secret = SECRET};
    char err[200];
    assert_int_equal(auth_verifier_new(&ac, &f->verifier, err, sizeof(err)), PL_OK);
    assert_int_equal(xmpp_parser_new(&f->parser), PL_OK);
    f->env.domain = "localhost";
    f->env.max_stanza_size = 65536;
    f->env.verifier = f->verifier;
    f->env.parser = f->parser;
    f->port = free_port();
    struct ws_server_config cfg = {
        .host = "127.0.0.1",
        .port = f->port,
        .max_send_queue = 1 << 20,
        .idle_timeout = 90,
        .auth_timeout = 1,
        .env = &f->env,
    };
    assert_int_equal(ws_server_new(&cfg, &f->ws), PL_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    ws_server_free(f->ws);
    xmpp_parser_free(f->parser);
    auth_verifier_free(f->verifier);
    free(f);
    return 0;
}

static int client_connect(struct fixture *f)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)f->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static void client_send(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t n = send(fd, data, len, 0);
        assert_true(n > 0);
        data += n;
        len -= (size_t)n;
    }
}

/* What a client read: WebSocket frames hold binary lengths, so it is
 * searched with memmem, not as a string. */
struct got {
    char *data;
    size_t len;
    int closed; /* the server closed the connection */
};

static int got_has(const struct got *g, const char *needle)
{
    return memmem(g->data, g->len, needle, strlen(needle)) != NULL;
}

/* Serves until the client has `want` in what it read, or the server
 * closed the connection, or `ms` passed. */
static struct got serve_until(struct fixture *f, int fd, const char *want, int ms)
{
    struct pl_buf got = PL_BUF_INIT;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int closed = 0;
    pl_buf_append(&got, "", 0);
    for (;;) {
        lws_service(f->ws->ctx, 0);
        char buf[8192];
        ssize_t n;
        while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
            pl_buf_append(&got, buf, (size_t)n);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            closed = 1;
        /* Server frames are not masked: the XML shows in the bytes. */
        if (closed || (want && memmem(got.data, got.len, want, strlen(want))))
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 > ms)
            break;
    }
    struct got g = {.closed = closed};
    g.data = pl_buf_steal(&got, &g.len);
    return g;
}

static char *request(struct fixture *f, const char *req, size_t len)
{
    int fd = client_connect(f);
    client_send(fd, req, len);
    struct got g = serve_until(f, fd, "\r\n\r\n", 3000);
    close(fd);
    return g.data;
}

/* The status code of an HTTP response (lws answers an upgrade request in
 * HTTP/1.0 or 1.1 as it read it). */
static void assert_status(const char *got, const char *code)
{
    if (strncmp(got, "HTTP/1.", 7) != 0 || strncmp(got + 9, code, 3) != 0)
        fail_msg("expected HTTP status %s, got \"%.80s\"", code, got);
}

#define UPGRADE_HEAD                                                                     \
    "GET /xmpp HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"                    \
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"             \
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: xmpp\r\n"

static void test_offers_xmpp(void **state)
{
    assert_true(offers_xmpp("xmpp"));
    assert_true(offers_xmpp("chat, xmpp"));
    assert_true(offers_xmpp("a,xmpp ,b"));
    assert_false(offers_xmpp("xmpps"));
    assert_false(offers_xmpp("xmp"));
    assert_false(offers_xmpp("chat"));
    assert_false(offers_xmpp(""));
    assert_false(offers_xmpp(NULL));
}

static void test_header_budget(void **state)
{
    /* lws takes the size as an unsigned short; both token headers at
     * their limit fit with room for the others. */
    assert_true(WS_HEADER_DATA <= 65535);
    assert_true(WS_HEADER_DATA >=
                AUTH_HTTP_COOKIE_MAX + AUTH_HTTP_AUTHORIZATION_MAX + 1024);
    assert_true(AUTH_HTTP_AUTHORIZATION_MAX > AUTH_TOKEN_MAX + strlen("Bearer "));
}

static void test_plain_ws_refused_beyond_loopback(void **state)
{
    struct xmpp_env env = {.domain = "localhost"};
    struct ws_server_config cfg = {.host = "0.0.0.0", .port = 1, .env = &env};
    struct ws_server *ws = NULL;
    assert_int_equal(ws_server_new(&cfg, &ws), PL_EINVAL);
    assert_null(ws);
}

static void test_http_answers(void **state)
{
    struct fixture *f = *state;
    const char *r = "GET /other HTTP/1.1\r\nHost: x\r\n\r\n";
    char *got = request(f, r, strlen(r));
    assert_status(got, "404");
    free(got);
    r = "GET /xmpp HTTP/1.1\r\nHost: x\r\n\r\n";
    got = request(f, r, strlen(r));
    assert_status(got, "400");
    free(got);
    /* Upgrades: no token 401, no xmpp subprotocol 400. */
    r = UPGRADE_HEAD "\r\n";
    got = request(f, r, strlen(r));
    assert_status(got, "401");
    free(got);
    r = "GET /xmpp HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: "
        "13\r\n\r\n";
    got = request(f, r, strlen(r));
    assert_status(got, "400");
    free(got);
}

static void test_large_headers(void **state)
{
    struct fixture *f = *state;
    struct pl_buf b = PL_BUF_INIT;
    /* An Authorization header past its limit: 431, on the upgrade and on
     * a plain request. */
    pl_buf_append_str(&b, UPGRADE_HEAD "Authorization: Bearer ");
    for (int i = 0; i < 40 * 1024; i++)
        pl_buf_append(&b, "x", 1);
    pl_buf_append_str(&b, "\r\n\r\n");
    char *got = request(f, b.data, b.len);
    assert_status(got, "431");
    free(got);
    pl_buf_reset(&b);
    pl_buf_append_str(&b, "GET /xmpp HTTP/1.1\r\nHost: x\r\nCookie: auth_token=");
    for (int i = 0; i < AUTH_HTTP_COOKIE_MAX; i++)
        pl_buf_append(&b, "c", 1);
    pl_buf_append_str(&b, "\r\n\r\n");
    got = request(f, b.data, b.len);
    assert_status(got, "431");
    free(got);
    /* A cookie just under its limit is read whole: the token in it is
     * looked at (and refused, it is no JWT). */
    pl_buf_reset(&b);
    pl_buf_append_str(&b, UPGRADE_HEAD "Cookie: auth_token=");
    for (size_t i = strlen("auth_token="); i < AUTH_HTTP_COOKIE_MAX - 1; i++)
        pl_buf_append(&b, "c", 1);
    pl_buf_append_str(&b, "\r\n\r\n");
    got = request(f, b.data, b.len);
    assert_status(got, "401");
    free(got);
    /* Any other header past the buffer: lws 4.1 closes without a status. */
    pl_buf_reset(&b);
    pl_buf_append_str(&b, UPGRADE_HEAD "X-Padding: ");
    for (int i = 0; i < WS_HEADER_DATA; i++)
        pl_buf_append(&b, "p", 1);
    pl_buf_append_str(&b, "\r\n\r\n");
    got = request(f, b.data, b.len);
    assert_string_equal(got, "");
    free(got);
    pl_buf_free(&b);
}

/* Upgrades with a valid token; returns the client socket after the 101. */
static int upgraded(struct fixture *f, const char *user)
{
    char *tok = NULL;
    assert_int_equal(auth_token_issue(f->verifier, user, 0, 3600, (long)time(NULL), &tok),
                     PL_OK);
    struct pl_buf b = PL_BUF_INIT;
    pl_buf_appendf(&b, UPGRADE_HEAD "Authorization: Bearer %s\r\n\r\n", tok);
    free(tok);
    int fd = client_connect(f);
    client_send(fd, b.data, b.len);
    pl_buf_free(&b);
    struct got g = serve_until(f, fd, "\r\n\r\n", 3000);
    assert_status(g.data, "101");
    assert_true(got_has(&g, "Sec-WebSocket-Protocol: xmpp"));
    free(g.data);
    return fd;
}

/* A client frame (masked with a zero key, which leaves the payload as it
 * is): opcode 1 text, 2 binary. */
static void client_frame(int fd, int opcode, const char *payload)
{
    size_t n = strlen(payload);
    assert_true(n < 126);
    unsigned char head[6] = {
        (unsigned char)(0x80 | opcode), (unsigned char)(0x80 | n), 0, 0, 0, 0};
    client_send(fd, (const char *)head, sizeof(head));
    client_send(fd, payload, n);
}

static void test_binary_frame(void **state)
{
    struct fixture *f = *state;
    int fd = upgraded(f, "alice");
    client_frame(fd, 2,
                 "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' "
                 "version='1.0'/>");
    struct got g = serve_until(f, fd, "</stream:error>", 3000);
    assert_true(got_has(&g, "<unsupported-encoding "));
    free(g.data);
    /* Then <close/> and the WebSocket close. */
    g = serve_until(f, fd, NULL, 3000);
    assert_true(got_has(&g, "<close "));
    assert_true(g.closed);
    free(g.data);
    close(fd);
}

static void test_text_frame_opens(void **state)
{
    struct fixture *f = *state;
    int fd = upgraded(f, "alice");
    client_frame(fd, 1,
                 "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' "
                 "version='1.0'/>");
    struct got g = serve_until(f, fd, "</stream:features>", 3000);
    assert_false(g.closed);
    assert_true(got_has(&g, "<mechanism>PLAIN</mechanism>"));
    free(g.data);
    close(fd);
}

static void test_auth_deadline(void **state)
{
    struct fixture *f = *state;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int fd = upgraded(f, "alice");
    struct got g = serve_until(f, fd, "</stream:error>", 4000);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(got_has(&g, "<connection-timeout "));
    /* The stream header first, as before any stream error. */
    assert_true(got_has(&g, "<open "));
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(ms >= 900);
    free(g.data);
    g = serve_until(f, fd, NULL, 3000);
    assert_true(g.closed);
    free(g.data);
    close(fd);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offers_xmpp),
        cmocka_unit_test(test_header_budget),
        cmocka_unit_test(test_plain_ws_refused_beyond_loopback),
        T(test_http_answers),
        T(test_large_headers),
        T(test_binary_frame),
        T(test_text_frame_opens),
        T(test_auth_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
