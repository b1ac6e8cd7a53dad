/* SASL inside the stream (xmpp_sasl.c), with its statics: the payload's
 * decoding, which authorization identities name the user, and PLAIN's
 * token check, whose `sub` must be the username exactly. The stream
 * around it is in xmpp_stream_test.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "pl_error.h"
/* Included to reach sasl_payload, sasl_authzid_ok and sasl_plain_check. */
#include "xmpp_sasl.c"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_FRAMES 16

struct fixture {
    struct auth_verifier *verifier;
    struct xmpp_env env;
    struct xmpp_stream_io io;
    struct xmpp_stream *s;
    char *frames[MAX_FRAMES];
    size_t nframes;
    int closed;
};

static int fake_write(void *ctx, struct pl_frame *frame, uint64_t tag)
{
    struct fixture *f = ctx;
    assert_true(f->nframes < MAX_FRAMES);
    f->frames[f->nframes++] = strndup(pl_frame_data(frame), frame->len);
    return PL_OK;
}

static void fake_close(void *ctx)
{
    struct fixture *f = ctx;
    f->closed++;
}

static void frames_clear(struct fixture *f)
{
    for (size_t i = 0; i < f->nframes; i++)
        free(f->frames[i]);
    f->nframes = 0;
}

/* A stream for "alice" that has sent <open/> and is offered SASL. */
static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct auth_config cfg = {.alg = "HS256",
                              .secret = "unit-test-secret-0123456789abcdef"};
    char err[200];
    assert_int_equal(auth_verifier_new(&cfg, &f->verifier, err, sizeof(err)), PL_OK);
    f->env.domain = "localhost";
    f->env.max_stanza_size = 65536;
    f->env.verifier = f->verifier;
    assert_int_equal(xmpp_parser_new(&f->env.parser), PL_OK);
    f->io = (struct xmpp_stream_io){.write = fake_write, .close = fake_close};
    assert_int_equal(xmpp_stream_new(&f->env, &f->io, f, 7, "alice", &f->s), PL_OK);
    const char *open = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' "
                       "version='1.0'/>";
    assert_int_equal(xmpp_stream_input(f->s, open, strlen(open)), PL_OK);
    assert_int_equal(f->s->state, XMPP_ST_SASL);
    frames_clear(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    xmpp_stream_free(f->s);
    frames_clear(f);
    xmpp_parser_free(f->env.parser);
    auth_verifier_free(f->verifier);
    free(f);
    return 0;
}

static struct xmpp_node *auth_node(const char *text)
{
    struct xmpp_node *n = xmpp_node_new("auth", XMPP_NS_SASL);
    assert_non_null(n);
    assert_int_equal(xmpp_node_add_text(n, text), PL_OK);
    return n;
}

static void test_payload(void **state)
{
    unsigned char *msg = NULL;
    size_t len = 99;
    /* Trimmed, then base64. */
    struct xmpp_node *n = auth_node("  AGFsaWNlAHg=\r\n");
    assert_int_equal(sasl_payload(n, &msg, &len), PL_OK);
    assert_int_equal(len, 8);
    assert_memory_equal(msg, "\0alice\0x", 8);
    free(msg);
    xmpp_node_free(n);
    /* "=" and nothing are the empty response (RFC 6120 section 6.4.2). */
    n = auth_node("=");
    assert_int_equal(sasl_payload(n, &msg, &len), PL_OK);
    assert_int_equal(len, 0);
    free(msg);
    xmpp_node_free(n);
    n = xmpp_node_new("auth", XMPP_NS_SASL);
    assert_int_equal(sasl_payload(n, &msg, &len), PL_OK);
    assert_int_equal(len, 0);
    free(msg);
    xmpp_node_free(n);
    n = auth_node("not base64!");
    assert_int_equal(sasl_payload(n, &msg, &len), PL_EINVAL);
    xmpp_node_free(n);
}

static void test_authzid(void **state)
{
    struct fixture *f = *state;
    static const char *const ok[] = {
        "",
        "alice",
        "ALICE",
        "alice@localhost",
        "alice@LocalHost",
        "\xef\xbd\x81lice", /* fullwidth a: the same account */
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (!sasl_authzid_ok(f->s, ok[i]))
            fail_msg("authzid \"%s\" refused", ok[i]);
    static const char *const bad[] = {
        "bob",           "alice@otherhost",   "alice@localhost/res",
        "localhost",     "alice\xe2\x80\x8b", /* U+200B: malformed, not alice */
        "alice\xc2\x85",                      /* C1 control */
        "@localhost",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (sasl_authzid_ok(f->s, bad[i]))
            fail_msg("authzid \"%s\" accepted", bad[i]);
}

/* PLAIN's check for a token whose subject is `sub`, with authcid "alice".
 * The message is NUL-terminated past its length, as decoded payloads are. */
static const char *plain_check(struct fixture *f, const char *sub)
{
    char *tok = NULL;
    assert_int_equal(auth_token_issue(f->verifier, sub, 0, 3600, (long)time(NULL), &tok),
                     PL_OK);
    size_t n = strlen(tok);
    unsigned char *msg = malloc(n + 8);
    memcpy(msg, "\0alice\0", 7);
    memcpy(msg + 7, tok, n);
    msg[n + 7] = '\0'; /* as auth_b64_decode leaves it */
    const char *cond = sasl_plain_check(f->s, msg, n + 7);
    free(msg);
    free(tok);
    return cond;
}

/* The token's subject must be the username itself: one that only
 * normalises to it (case, fullwidth, invisible characters) is another
 * identity. */
static void test_plain_subject(void **state)
{
    struct fixture *f = *state;
    assert_null(plain_check(f, "alice"));
    assert_string_equal(plain_check(f, "Alice"), "not-authorized");
    assert_string_equal(plain_check(f, "\xef\xbd\x81lice"), "not-authorized");
    assert_string_equal(plain_check(f, "alice\xe2\x80\x8b"), "not-authorized");
    assert_string_equal(plain_check(f, "bob"), "not-authorized");
}

static void test_plain_malformed(void **state)
{
    struct fixture *f = *state;
    assert_string_equal(sasl_plain_check(f->s, (const unsigned char *)"alice", 5),
                        "malformed-request");
    assert_string_equal(sasl_plain_check(f->s, (const unsigned char *)"\0alice", 6),
                        "malformed-request");
    assert_string_equal(
        sasl_plain_check(f->s, (const unsigned char *)"\0alice\0a\0b", 10),
        "malformed-request");
    /* An empty authcid names nobody. */
    assert_string_equal(sasl_plain_check(f->s, (const unsigned char *)"\0\0tok", 5),
                        "not-authorized");
}

/* Through xmpp_sasl_handle: a failure is answered and counted, a success
 * moves the stream on to the restart. */
static void test_handle(void **state)
{
    struct fixture *f = *state;
    struct xmpp_node *n = xmpp_node_new("auth", XMPP_NS_SASL);
    xmpp_node_set_attr(n, "mechanism", "SCRAM-SHA-1");
    xmpp_sasl_handle(f->s, n);
    assert_string_equal(f->frames[0], "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                                      "<invalid-mechanism/></failure>");
    assert_int_equal(f->s->sasl_failures, 1);
    xmpp_node_free(n);
    n = xmpp_node_new("abort", XMPP_NS_SASL);
    xmpp_sasl_handle(f->s, n);
    assert_non_null(strstr(f->frames[1], "<aborted/>"));
    assert_int_equal(f->s->sasl_failures, 1); /* an abort does not count */
    xmpp_node_free(n);
    n = auth_node("=");
    xmpp_node_set_attr(n, "mechanism", "EXTERNAL");
    xmpp_sasl_handle(f->s, n);
    assert_string_equal(f->frames[2], SASL_SUCCESS);
    assert_int_equal(f->s->state, XMPP_ST_WAIT_RESTART);
    assert_int_equal(f->s->sasl_failures, 0);
    /* Authenticated: another <auth/> is a policy violation. */
    xmpp_sasl_handle(f->s, n);
    assert_non_null(strstr(f->frames[f->nframes - 2], "<policy-violation "));
    assert_int_equal(f->closed, 1);
    xmpp_node_free(n);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_payload), T(test_authzid), T(test_plain_subject),
        T(test_plain_malformed),        T(test_handle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
