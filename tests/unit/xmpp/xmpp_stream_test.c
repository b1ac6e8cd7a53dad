/* The stream core driven through a fake transport and fake chat hooks:
 * RFC 7395 framing, features, SASL PLAIN (with real HS256 tokens) and
 * EXTERNAL, restart, bind, stanza checks and stream errors and close.
 * The upgrade's authentication is in xmpp_upgrade_test.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth_jwt.h"
#include "pl_buf.h"
#include "pl_error.h"
#include "xmpp_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NS_FRAMING_ATTR "xmlns='urn:ietf:params:xml:ns:xmpp-framing'"
#define OPEN "<open " NS_FRAMING_ATTR " to='localhost' version='1.0'/>"
#define CLOSE "<close " NS_FRAMING_ATTR "/>"
#define SUCCESS "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
#define FEATURES_SASL                                                                    \
    "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>"                  \
    "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"                              \
    "<mechanism>PLAIN</mechanism><mechanism>EXTERNAL</mechanism>"                        \
    "</mechanisms></stream:features>"
#define FEATURES_BIND                                                                    \
    "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>"                  \
    "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"                                   \
    "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session>"         \
    "<ver xmlns='urn:xmpp:features:rosterver'/>"                                         \
    "<sub xmlns='urn:xmpp:features:pre-approval'/>"                                      \
    "</stream:features>"
#define STREAM_ERROR(cond)                                                               \
    "<stream:error xmlns:stream='http://etherx.jabber.org/streams'><" cond               \
    " xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
#define FAILURE(cond)                                                                    \
    "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><" cond "/></failure>"

#define MAX_FRAMES 64

struct fake {
    /* transport */
    char *frames[MAX_FRAMES];
    uint64_t tags[MAX_FRAMES];
    size_t nframes;
    int closed_io;
    /* chat hooks */
    const char *disabled_user;
    char *bind_requested;
    int bind_called;
    struct xmpp_stanza *stanzas[8];
    size_t nstanzas;
    int closed_hook;
    uint64_t written_tag;
    /* wiring */
    struct auth_verifier *verifier;
    struct xmpp_env env;
    struct xmpp_stream_io io;
    struct xmpp_stream *s;
};

static int fake_write(void *ctx, struct pl_frame *frame, uint64_t tag)
{
    struct fake *f = ctx;
    assert_true(f->nframes < MAX_FRAMES);
    f->frames[f->nframes] = strndup(pl_frame_data(frame), frame->len);
    f->tags[f->nframes] = tag;
    f->nframes++;
    return PL_OK;
}

static void fake_close(void *ctx)
{
    struct fake *f = ctx;
    f->closed_io++;
}

static int fake_user_allowed(void *ctx, const char *username)
{
    struct fake *f = ctx;
    return !(f->disabled_user && strcmp(f->disabled_user, username) == 0);
}

static int fake_bind(void *ctx, struct xmpp_stream *s, const char *requested,
                     char **resource)
{
    struct fake *f = ctx;
    f->bind_called++;
    free(f->bind_requested);
    f->bind_requested = requested ? strdup(requested) : NULL;
    if (requested && strcmp(requested, "taken") == 0)
        return PL_EEXIST;
    if (requested && strcmp(requested, "bad") == 0)
        return PL_EINVAL;
    if (requested && strcmp(requested, "full") == 0)
        return PL_ETOOBIG;
    *resource = strdup(requested ? requested : "web-gen");
    return PL_OK;
}

static void fake_stanza(void *ctx, struct xmpp_stream *s, struct xmpp_stanza *st)
{
    struct fake *f = ctx;
    assert_true(f->nstanzas < 8);
    f->stanzas[f->nstanzas++] = st;
}

static void fake_written(void *ctx, struct xmpp_stream *s, uint64_t tag)
{
    struct fake *f = ctx;
    f->written_tag = tag;
}

static void fake_closed(void *ctx, struct xmpp_stream *s)
{
    struct fake *f = ctx;
    f->closed_hook++;
}

static void frames_clear(struct fake *f)
{
    for (size_t i = 0; i < f->nframes; i++)
        free(f->frames[i]);
    f->nframes = 0;
}

static int setup(void **state)
{
    struct fake *f = calloc(1, sizeof(*f));
    struct auth_config cfg = {.alg = "HS256",
                              .secret = "unit-test-secret-0123456789abcdef"};
    char err[200];
    assert_int_equal(auth_verifier_new(&cfg, &f->verifier, err, sizeof(err)), PL_OK);
    f->env.domain = "localhost";
    f->env.max_stanza_size = 65536;
    f->env.verifier = f->verifier;
    assert_int_equal(xmpp_parser_new(&f->env.parser), PL_OK);
    f->env.hooks = (struct xmpp_stream_hooks){
        .ctx = f,
        .user_allowed = fake_user_allowed,
        .bind = fake_bind,
        .stanza = fake_stanza,
        .written = fake_written,
        .closed = fake_closed,
    };
    f->io = (struct xmpp_stream_io){.write = fake_write, .close = fake_close};
    assert_int_equal(xmpp_stream_new(&f->env, &f->io, f, 42, "alice", &f->s), PL_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fake *f = *state;
    xmpp_stream_free(f->s);
    frames_clear(f);
    for (size_t i = 0; i < f->nstanzas; i++)
        xmpp_stanza_free(f->stanzas[i]);
    free(f->bind_requested);
    xmpp_parser_free(f->env.parser);
    auth_verifier_free(f->verifier);
    free(f);
    return 0;
}

static int feed(struct fake *f, const char *xml)
{
    return xmpp_stream_input(f->s, xml, strlen(xml));
}

static const char *last(struct fake *f)
{
    assert_true(f->nframes > 0);
    return f->frames[f->nframes - 1];
}

static char *token_for(struct fake *f, const char *user)
{
    char *tok = NULL;
    assert_int_equal(auth_token_issue(f->verifier, user, 0, 3600, (long)time(NULL), &tok),
                     PL_OK);
    return tok;
}

/* <auth mechanism='PLAIN'>base64(authzid \0 authcid \0 password)</auth> */
static char *plain_auth(const char *authzid, const char *authcid, const char *password)
{
    size_t a = strlen(authzid), c = strlen(authcid), p = strlen(password);
    unsigned char *raw = malloc(a + c + p + 2);
    memcpy(raw, authzid, a);
    raw[a] = '\0';
    memcpy(raw + a + 1, authcid, c);
    raw[a + 1 + c] = '\0';
    memcpy(raw + a + c + 2, password, p);
    char *b64 = NULL;
    assert_int_equal(auth_b64_encode(raw, a + c + p + 2, &b64), PL_OK);
    free(raw);
    size_t n = strlen(b64) + 100;
    char *xml = malloc(n);
    snprintf(xml, n,
             "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>",
             b64);
    free(b64);
    return xml;
}

static void expect_stream_error(struct fake *f, const char *error_frame)
{
    assert_true(f->nframes >= 2);
    /* The error frame, possibly with a <text/> before its end tag. */
    const char *got = f->frames[f->nframes - 2];
    const char *end = "</stream:error>";
    size_t head = strlen(error_frame) - strlen(end);
    if (strncmp(got, error_frame, head) != 0 ||
        strcmp(got + strlen(got) - strlen(end), end) != 0)
        fail_msg("expected %s, got %s", error_frame, got);
    assert_string_equal(f->frames[f->nframes - 1], CLOSE);
    assert_int_equal(f->closed_io, 1);
    assert_true(xmpp_stream_is_closing(f->s));
    /* Everything after is ignored. */
    size_t n = f->nframes;
    assert_int_equal(feed(f, "<presence/>"), PL_ESTATE);
    struct xmpp_node *m = xmpp_node_new("message", NULL);
    assert_int_equal(xmpp_stream_send(f->s, m, 0), PL_ESTATE);
    assert_int_equal(xmpp_stream_send_bytes(f->s, "<x/>", 4, 0), PL_ESTATE);
    xmpp_stream_error(f->s, "conflict", NULL);
    xmpp_node_free(m);
    assert_int_equal(f->nframes, n);
    assert_int_equal(f->closed_io, 1);
}

static void do_open(struct fake *f)
{
    frames_clear(f);
    assert_int_equal(feed(f, OPEN), PL_OK);
    assert_int_equal(f->nframes, 2);
}

static void do_auth(struct fake *f)
{
    do_open(f);
    char *tok = token_for(f, "alice");
    char *xml = plain_auth("", "alice", tok);
    assert_int_equal(feed(f, xml), PL_OK);
    assert_string_equal(last(f), SUCCESS);
    free(xml);
    free(tok);
    do_open(f);
    assert_string_equal(last(f), FEATURES_BIND);
}

static void do_bind(struct fake *f, const char *resource)
{
    do_auth(f);
    char xml[300];
    snprintf(
        xml, sizeof(xml),
        "<iq type='set' id='b1' xmlns='jabber:client'><bind "
        "xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>%s</resource></bind></iq>",
        resource);
    assert_int_equal(feed(f, xml), PL_OK);
    frames_clear(f);
}

static void test_open_and_features(void **state)
{
    struct fake *f = *state;
    assert_int_equal(feed(f, OPEN), PL_OK);
    assert_int_equal(f->nframes, 2);
    const char *prefix = "<open " NS_FRAMING_ATTR " from='localhost' id='";
    assert_memory_equal(f->frames[0], prefix, strlen(prefix));
    const char *suffix = "' version='1.0' xml:lang='en'/>";
    size_t n = strlen(f->frames[0]);
    assert_string_equal(f->frames[0] + n - strlen(suffix), suffix);
    assert_int_equal(n, strlen(prefix) + 32 + strlen(suffix));
    assert_string_equal(f->frames[1], FEATURES_SASL);
    assert_null(xmpp_stream_full_jid(f->s));
    assert_null(xmpp_stream_bare_jid(f->s));
    assert_string_equal(xmpp_stream_username(f->s), "alice");
    assert_int_equal(xmpp_stream_conn_id(f->s), 42);
    /* Stream ids differ. */
    char *first = strdup(f->frames[0]);
    frames_clear(f);
    assert_int_equal(feed(f, OPEN), PL_OK);
    assert_string_not_equal(f->frames[0], first);
    free(first);
}

static void test_plain_bind_and_stanzas(void **state)
{
    struct fake *f = *state;
    do_auth(f);
    frames_clear(f);
    assert_int_equal(
        feed(f, "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                "<resource>phone</resource></bind></iq>"),
        PL_OK);
    assert_string_equal(f->bind_requested, "phone");
    assert_string_equal(last(f), "<iq xmlns='jabber:client' type='result' id='b1'>"
                                 "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                                 "<jid>alice@localhost/phone</jid></bind></iq>");
    assert_string_equal(xmpp_stream_full_jid(f->s), "alice@localhost/phone");
    assert_string_equal(xmpp_stream_bare_jid(f->s), "alice@localhost");
    assert_string_equal(xmpp_stream_resource(f->s), "phone");

    /* Legacy session iq: an empty result. */
    assert_int_equal(feed(f, "<iq type='set' id='s1'><session "
                             "xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>"),
                     PL_OK);
    assert_string_equal(last(f), "<iq xmlns='jabber:client' id='s1' type='result' "
                                 "to='alice@localhost/phone' from='localhost'/>");
    assert_int_equal(f->nstanzas, 0);

    /* `from` is stamped over whatever the client wrote. */
    assert_int_equal(feed(f, "<message type='chat' to='Bob@LocalHost' id='m1' "
                             "from='mallory@evil/x'><body>hi</body></message>"),
                     PL_OK);
    assert_int_equal(f->nstanzas, 1);
    struct xmpp_stanza *st = f->stanzas[0];
    assert_int_equal(st->kind, XMPP_STANZA_MESSAGE);
    assert_string_equal(xmpp_node_attr(st->node, "from"), "alice@localhost/phone");
    assert_string_equal(st->id, "m1");
    assert_string_equal(st->type, "chat");
    assert_int_equal(st->has_to, 1);
    assert_string_equal(st->to.local, "bob");
    assert_string_equal(st->to.domain, "localhost");
    assert_null(st->to.resource);

    assert_int_equal(feed(f, "<presence/>"), PL_OK);
    assert_int_equal(f->nstanzas, 2);
    assert_int_equal(f->stanzas[1]->kind, XMPP_STANZA_PRESENCE);
    assert_int_equal(f->stanzas[1]->has_to, 0);
    assert_null(f->stanzas[1]->type);
    assert_string_equal(xmpp_node_attr(f->stanzas[1]->node, "from"),
                        "alice@localhost/phone");

    assert_int_equal(feed(f, "<iq type='get' id='p1' to='localhost'><ping "
                             "xmlns='urn:xmpp:ping'/></iq>"),
                     PL_OK);
    assert_int_equal(f->nstanzas, 3);
    assert_int_equal(f->stanzas[2]->kind, XMPP_STANZA_IQ);
    assert_null(f->stanzas[2]->to.local);
    assert_string_equal(f->stanzas[2]->to.domain, "localhost");

    /* A second bind is refused. */
    size_t calls = (size_t)f->bind_called;
    assert_int_equal(feed(f, "<iq type='set' id='b2'><bind "
                             "xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"),
                     PL_OK);
    assert_int_equal((size_t)f->bind_called, calls);
    assert_non_null(strstr(last(f), "<error type='cancel'><not-allowed "));
    assert_int_equal(f->closed_io, 0);

    /* Freeing a bound stream tells the chat layer. */
    xmpp_stream_free(f->s);
    f->s = NULL;
    assert_int_equal(f->closed_hook, 1);
}

static void test_plain_authzid_forms(void **state)
{
    struct fake *f = *state;
    char *tok = token_for(f, "alice");
    const char *ok[] = {"alice", "alice@localhost", "ALICE"};
    for (size_t i = 0; i < 3; i++) {
        xmpp_stream_free(f->s);
        assert_int_equal(xmpp_stream_new(&f->env, &f->io, f, 1, "alice", &f->s), PL_OK);
        do_open(f);
        char *xml = plain_auth(ok[i], "Alice", tok);
        feed(f, xml);
        assert_string_equal(last(f), SUCCESS);
        free(xml);
    }
    /* authcid as a bare JID is the same user. */
    xmpp_stream_free(f->s);
    assert_int_equal(xmpp_stream_new(&f->env, &f->io, f, 1, "alice", &f->s), PL_OK);
    do_open(f);
    char *xml = plain_auth("", "alice@localhost", tok);
    feed(f, xml);
    assert_string_equal(last(f), SUCCESS);
    free(xml);
    const char *bad[] = {"bob", "alice@otherhost", "alice@localhost/res"};
    for (size_t i = 0; i < 3; i++) {
        xmpp_stream_free(f->s);
        assert_int_equal(xmpp_stream_new(&f->env, &f->io, f, 1, "alice", &f->s), PL_OK);
        do_open(f);
        xml = plain_auth(bad[i], "alice", tok);
        feed(f, xml);
        assert_string_equal(last(f), FAILURE("not-authorized"));
        free(xml);
    }
    xmpp_stream_free(f->s);
    assert_int_equal(xmpp_stream_new(&f->env, &f->io, f, 1, "alice", &f->s), PL_OK);
    do_open(f);
    xml = plain_auth("alice", "", tok);
    feed(f, xml);
    assert_string_equal(last(f), FAILURE("not-authorized"));
    free(xml);
    free(tok);
}

static void test_plain_wrong_user(void **state)
{
    struct fake *f = *state;
    do_open(f);
    char *bob = token_for(f, "bob");
    char *alice = token_for(f, "alice");
    /* Bob's credentials on Alice's connection. */
    char *xml = plain_auth("", "bob", bob);
    assert_int_equal(feed(f, xml), PL_OK);
    assert_string_equal(last(f), FAILURE("not-authorized"));
    free(xml);
    /* Alice's name with Bob's token. */
    xml = plain_auth("", "alice", bob);
    assert_int_equal(feed(f, xml), PL_OK);
    assert_string_equal(last(f), FAILURE("not-authorized"));
    assert_int_equal(f->closed_io, 0);
    free(xml);
    /* Third failure (a forged token): the stream is closed. */
    size_t n = strlen(alice);
    alice[n - 2] = alice[n - 2] == 'A' ? 'B' : 'A';
    xml = plain_auth("", "alice", alice);
    assert_int_equal(feed(f, xml), PL_ESTATE);
    assert_string_equal(f->frames[f->nframes - 3], FAILURE("not-authorized"));
    assert_non_null(strstr(f->frames[f->nframes - 2], "<not-authorized "));
    assert_string_equal(last(f), CLOSE);
    assert_int_equal(f->closed_io, 1);
    free(xml);
    free(bob);
    free(alice);
}

static void test_plain_retry_then_success(void **state)
{
    struct fake *f = *state;
    do_open(f);
    char *xml = plain_auth("", "alice", "not-a-jwt");
    feed(f, xml);
    assert_string_equal(last(f), FAILURE("not-authorized"));
    free(xml);
    feed(f,
         "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>***</auth>");
    assert_string_equal(last(f), FAILURE("incorrect-encoding"));
    /* The third failure in a row closes the stream. */
    feed(f, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='DIGEST-MD5'/>");
    assert_string_equal(f->frames[f->nframes - 3], FAILURE("invalid-mechanism"));
    assert_non_null(strstr(f->frames[f->nframes - 2], "<not-authorized "));
    assert_string_equal(last(f), CLOSE);
    assert_int_equal(f->closed_io, 1);
    f->closed_io = 0;
    /* Aborts do not count, and a success resets the count. */
    xmpp_stream_free(f->s);
    assert_int_equal(xmpp_stream_new(&f->env, &f->io, f, 1, "alice", &f->s), PL_OK);
    do_open(f);
    feed(f, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'/>");
    assert_string_equal(last(f), FAILURE("invalid-mechanism"));
    feed(f, "<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
    assert_string_equal(last(f), FAILURE("aborted"));
    char *tok = token_for(f, "alice");
    xml = plain_auth("", "alice", tok);
    feed(f, xml);
    assert_string_equal(last(f), SUCCESS);
    free(xml);
    free(tok);
    /* SASL again after success is a policy violation. */
    feed(f,
         "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>");
    assert_non_null(strstr(f->frames[f->nframes - 2], "<policy-violation "));
    assert_string_equal(last(f), CLOSE);
    assert_int_equal(f->closed_io, 1);
}

static void test_plain_disabled_user(void **state)
{
    struct fake *f = *state;
    f->disabled_user = "alice";
    do_open(f);
    char *tok = token_for(f, "alice");
    char *xml = plain_auth("", "alice", tok);
    feed(f, xml);
    assert_string_equal(last(f), FAILURE("not-authorized"));
    free(xml);
    free(tok);
}

static void test_external(void **state)
{
    struct fake *f = *state;
    const char *ok[] = {
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>",
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'/>",
        /* base64("alice@localhost") */
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
        "mechanism='EXTERNAL'>YWxpY2VAbG9jYWxob3N0</auth>",
        /* base64("alice") */
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
        "mechanism='EXTERNAL'>YWxpY2U=</auth>"};
    for (size_t i = 0; i < 4; i++) {
        xmpp_stream_free(f->s);
        assert_int_equal(xmpp_stream_new(&f->env, &f->io, f, 1, "alice", &f->s), PL_OK);
        do_open(f);
        feed(f, ok[i]);
        assert_string_equal(last(f), SUCCESS);
    }
    xmpp_stream_free(f->s);
    assert_int_equal(xmpp_stream_new(&f->env, &f->io, f, 1, "alice", &f->s), PL_OK);
    do_open(f);
    /* base64("bob@localhost") */
    feed(f, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
            "mechanism='EXTERNAL'>Ym9iQGxvY2FsaG9zdA==</auth>");
    assert_string_equal(last(f), FAILURE("not-authorized"));
    /* Then the whole negotiation with EXTERNAL. */
    feed(f, ok[0]);
    assert_string_equal(last(f), SUCCESS);
    do_open(f);
    assert_string_equal(f->frames[1], FEATURES_BIND);
}

static void test_bind_variants(void **state)
{
    struct fake *f = *state;
    do_auth(f);
    frames_clear(f);
    /* Conflict, then bad-request, then success without a resource. */
    feed(f, "<iq type='set' id='c1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
            "<resource>taken</resource></bind></iq>");
    assert_string_equal(last(f),
                        "<iq xmlns='jabber:client' id='c1' type='error' "
                        "from='localhost'><bind "
                        "xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>taken"
                        "</resource></bind><error type='cancel'><conflict "
                        "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
    assert_null(xmpp_stream_full_jid(f->s));
    feed(f, "<iq type='set' id='c2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
            "<resource>bad</resource></bind></iq>");
    assert_non_null(strstr(last(f), "<error type='modify'><bad-request "));
    /* The account has all the sessions it may have (RFC 6120 7.6.2.1). */
    feed(f, "<iq type='set' id='c2b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
            "<resource>full</resource></bind></iq>");
    assert_non_null(strstr(last(f), "<error type='wait'><resource-constraint "));
    assert_null(xmpp_stream_full_jid(f->s));
    /* A resource that cannot be in a JID never reaches the hook. */
    int calls = f->bind_called;
    feed(f, "<iq type='set' id='c3'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
            "<resource>a&#x7f;b</resource></bind></iq>");
    assert_non_null(strstr(last(f), "<bad-request "));
    assert_int_equal(f->bind_called, calls);
    /* Stanzas other than bind are still refused before bind. */
    feed(f, "<iq type='set' id='c4'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
            "<resource></resource></bind></iq>");
    assert_null(f->bind_requested);
    assert_string_equal(last(f), "<iq xmlns='jabber:client' type='result' id='c4'>"
                                 "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                                 "<jid>alice@localhost/web-gen</jid></bind></iq>");
    assert_string_equal(xmpp_stream_full_jid(f->s), "alice@localhost/web-gen");
}

static void test_bind_without_resource_element(void **state)
{
    struct fake *f = *state;
    do_auth(f);
    feed(f,
         "<iq type='set' id='c1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
    assert_int_equal(f->bind_called, 1);
    assert_null(f->bind_requested);
    assert_non_null(strstr(last(f), "<jid>alice@localhost/web-gen</jid>"));
}

static void test_stanza_before_auth(void **state)
{
    struct fake *f = *state;
    do_open(f);
    assert_int_equal(feed(f, "<message to='bob@localhost'><body>x</body></message>"),
                     PL_ESTATE);
    expect_stream_error(f, STREAM_ERROR("not-authorized"));
    assert_int_equal(f->nstanzas, 0);
}

static void test_stanza_before_open(void **state)
{
    struct fake *f = *state;
    feed(f, "<presence/>");
    /* The stream header is sent first, even for an error. */
    assert_int_equal(f->nframes, 3);
    assert_memory_equal(f->frames[0], "<open ", 6);
    expect_stream_error(f, STREAM_ERROR("not-authorized"));
}

static void test_stanza_before_bind(void **state)
{
    struct fake *f = *state;
    do_auth(f);
    feed(f, "<message to='bob@localhost'><body>x</body></message>");
    expect_stream_error(f, STREAM_ERROR("not-authorized"));
    /* Not bound: the chat layer is not told. */
    xmpp_stream_free(f->s);
    f->s = NULL;
    assert_int_equal(f->closed_hook, 0);
}

static void test_host_unknown(void **state)
{
    struct fake *f = *state;
    feed(f, "<open " NS_FRAMING_ATTR " to='example.com' version='1.0'/>");
    assert_int_equal(f->nframes, 3);
    assert_memory_equal(f->frames[0], "<open ", 6);
    expect_stream_error(f, STREAM_ERROR("host-unknown"));
}

static void test_open_variants(void **state)
{
    struct fake *f = *state;
    /* The domain is compared case-insensitively. */
    feed(f, "<open " NS_FRAMING_ATTR " to='LocalHost' version='1.0'/>");
    assert_string_equal(last(f), FEATURES_SASL);
    teardown(state);
    setup(state);
    f = *state;
    /* An <open/> outside the framing namespace. */
    feed(f, "<open to='localhost' version='1.0'/>");
    expect_stream_error(f, STREAM_ERROR("invalid-namespace"));
    teardown(state);
    setup(state);
    f = *state;
    feed(f,
         "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='localhost' "
         "version='1.0'/>");
    expect_stream_error(f, STREAM_ERROR("invalid-namespace"));
    teardown(state);
    setup(state);
    f = *state;
    feed(f, "<open " NS_FRAMING_ATTR " to='localhost'/>");
    expect_stream_error(f, STREAM_ERROR("unsupported-version"));
    teardown(state);
    setup(state);
    f = *state;
    feed(f, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'/>");
    expect_stream_error(f, STREAM_ERROR("bad-format"));
}

static void test_not_well_formed(void **state)
{
    struct fake *f = *state;
    do_open(f);
    assert_int_equal(feed(f, "<message><body>x</message>"), PL_ESTATE);
    expect_stream_error(f, STREAM_ERROR("not-well-formed"));
}

static void test_restricted_xml(void **state)
{
    struct fake *f = *state;
    do_open(f);
    feed(f, "<!DOCTYPE m [<!ENTITY e 'x'>]><message>&e;</message>");
    expect_stream_error(f, STREAM_ERROR("restricted-xml"));
    teardown(state);
    setup(state);
    f = *state;
    do_open(f);
    feed(f, "<message><!-- hi --></message>");
    expect_stream_error(f, STREAM_ERROR("restricted-xml"));
}

static void test_too_big(void **state)
{
    struct fake *f = *state;
    do_open(f);
    xmpp_stream_too_big(f->s);
    assert_true(f->nframes >= 2);
    assert_string_equal(f->frames[f->nframes - 2],
                        "<stream:error xmlns:stream='http://etherx.jabber.org/streams'>"
                        "<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                        "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>stanza too big"
                        "</text></stream:error>");
    assert_string_equal(last(f), CLOSE);
    assert_int_equal(f->closed_io, 1);
    teardown(state);
    setup(state);
    f = *state;
    /* A frame over the limit handed in anyway is refused the same way. */
    do_open(f);
    f->env.max_stanza_size = 16;
    assert_int_equal(feed(f, "<message><body>0123456789</body></message>"), PL_ESTATE);
    assert_non_null(strstr(f->frames[f->nframes - 2], "<policy-violation "));
}

/* Over the parser's limits: policy-violation, saying which limit. */
static void test_parse_limits(void **state)
{
    struct fake *f = *state;
    do_bind(f, "r");
    char xml[2048] = "<message to='bob@localhost'";
    for (int i = 0; i < XMPP_PARSE_MAX_ATTRS + 1; i++)
        snprintf(xml + strlen(xml), sizeof(xml) - strlen(xml), " a%d='1'", i);
    strcat(xml, "/>");
    assert_int_equal(feed(f, xml), PL_ESTATE);
    assert_string_equal(f->frames[f->nframes - 2],
                        "<stream:error xmlns:stream='http://etherx.jabber.org/streams'>"
                        "<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                        "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>more than 64 "
                        "attributes on an element</text></stream:error>");
    expect_stream_error(f, STREAM_ERROR("policy-violation"));
    assert_int_equal(f->nstanzas, 0);
    teardown(state);
    setup(state);
    f = *state;
    /* Before authentication too, and for the element limit. */
    do_open(f);
    struct pl_buf b = PL_BUF_INIT;
    pl_buf_append_str(
        &b, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>");
    for (int i = 0; i < XMPP_PARSE_MAX_ELEMENTS; i++)
        pl_buf_append_str(&b, "<x/>");
    pl_buf_append_str(&b, "</auth>");
    assert_int_equal(xmpp_stream_input(f->s, b.data, b.len), PL_ESTATE);
    assert_non_null(strstr(f->frames[f->nframes - 2], "more than 1024 elements"));
    expect_stream_error(f, STREAM_ERROR("policy-violation"));
    pl_buf_free(&b);
}

/* The transport's authentication deadline: connection-timeout until the
 * stream is bound, nothing once it is. */
static void test_deadline(void **state)
{
    struct fake *f = *state;
    /* Nothing received at all: the <open/> goes out before the error. */
    assert_int_equal(xmpp_stream_deadline(f->s), PL_ESTATE);
    assert_int_equal(f->nframes, 3);
    assert_non_null(strstr(f->frames[0], "<open "));
    assert_string_equal(
        f->frames[1],
        "<stream:error xmlns:stream='http://etherx.jabber.org/streams'>"
        "<connection-timeout xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
        "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>not authenticated "
        "in time</text></stream:error>");
    expect_stream_error(f, STREAM_ERROR("connection-timeout"));
    /* Closing already: nothing more. */
    assert_int_equal(xmpp_stream_deadline(f->s), PL_OK);
    teardown(state);
    setup(state);
    f = *state;
    /* Opened, offered SASL, never authenticated. */
    do_open(f);
    assert_int_equal(xmpp_stream_deadline(f->s), PL_ESTATE);
    expect_stream_error(f, STREAM_ERROR("connection-timeout"));
    teardown(state);
    setup(state);
    f = *state;
    /* Authenticated and restarted, never bound. */
    do_auth(f);
    assert_int_equal(xmpp_stream_deadline(f->s), PL_ESTATE);
    expect_stream_error(f, STREAM_ERROR("connection-timeout"));
    assert_int_equal(f->closed_hook, 0);
    teardown(state);
    setup(state);
    f = *state;
    /* Bound: the deadline does not apply. */
    do_bind(f, "r");
    assert_int_equal(xmpp_stream_deadline(f->s), PL_OK);
    assert_int_equal(f->nframes, 0);
    assert_int_equal(f->closed_io, 0);
    assert_false(xmpp_stream_is_closing(f->s));
}

static void test_binary(void **state)
{
    struct fake *f = *state;
    do_bind(f, "r");
    xmpp_stream_binary(f->s);
    assert_string_equal(
        f->frames[f->nframes - 2],
        "<stream:error xmlns:stream='http://etherx.jabber.org/streams'>"
        "<unsupported-encoding xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
        "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>XMPP frames are "
        "WebSocket text messages</text></stream:error>");
    expect_stream_error(f, STREAM_ERROR("unsupported-encoding"));
}

/* A NUL byte after the element: not-well-formed, and nothing delivered. */
static void test_nul_trailer(void **state)
{
    struct fake *f = *state;
    do_bind(f, "r");
    static const char frame[] =
        "<message to='bob@localhost' type='chat'><body>x</body></message>\0<garbage";
    assert_int_equal(xmpp_stream_input(f->s, frame, sizeof(frame) - 1), PL_ESTATE);
    expect_stream_error(f, STREAM_ERROR("not-well-formed"));
    assert_int_equal(f->nstanzas, 0);
    teardown(state);
    setup(state);
    f = *state;
    static const char open[] = OPEN "\0";
    frames_clear(f);
    assert_int_equal(xmpp_stream_input(f->s, open, sizeof(open) - 1), PL_ESTATE);
    expect_stream_error(f, STREAM_ERROR("not-well-formed"));
}

static void test_unknown_elements(void **state)
{
    struct fake *f = *state;
    do_bind(f, "r");
    feed(f, "<foo/>");
    expect_stream_error(f, STREAM_ERROR("unsupported-stanza-type"));
    teardown(state);
    setup(state);
    f = *state;
    do_bind(f, "r");
    feed(f, "<message xmlns='urn:other'/>");
    expect_stream_error(f, STREAM_ERROR("invalid-namespace"));
}

static void test_close_handshake(void **state)
{
    struct fake *f = *state;
    do_bind(f, "r");
    assert_int_equal(feed(f, CLOSE), PL_ESTATE);
    assert_int_equal(f->nframes, 1);
    assert_string_equal(f->frames[0], CLOSE);
    assert_int_equal(f->closed_io, 1);
    assert_true(xmpp_stream_is_closing(f->s));
    assert_int_equal(feed(f, "<presence/>"), PL_ESTATE);
    assert_int_equal(f->nstanzas, 0);
    assert_int_equal(f->nframes, 1);
}

static void test_jid_malformed(void **state)
{
    struct fake *f = *state;
    do_bind(f, "r");
    feed(f, "<message type='chat' to='a@b@c' id='m1'><body>x</body></message>");
    assert_int_equal(f->nstanzas, 0);
    assert_int_equal(f->nframes, 1);
    assert_string_equal(
        f->frames[0], "<message xmlns='jabber:client' id='m1' type='error' "
                      "to='alice@localhost/r' from='localhost'><body>x</body>"
                      "<error type='modify'><jid-malformed "
                      "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>");
    /* An iq result or any error with a bad `to` is dropped silently. */
    feed(f, "<iq type='result' id='i1' to='@x'/>");
    feed(f, "<message type='error' to='x/' id='m2'/>");
    assert_int_equal(f->nframes, 1);
    assert_int_equal(f->nstanzas, 0);
    assert_int_equal(f->closed_io, 0);
}

static void test_bad_types(void **state)
{
    struct fake *f = *state;
    do_bind(f, "r");
    const char *bad[] = {
        "<message type='bogus' id='1'/>",
        "<presence type='available'/>",
        "<iq type='get'><ping xmlns='urn:xmpp:ping'/></iq>", /* no id */
        "<iq id='2'><ping xmlns='urn:xmpp:ping'/></iq>",     /* no type */
        "<iq type='fetch' id='3'><ping xmlns='urn:xmpp:ping'/></iq>",
        "<iq type='get' id='4'/>", /* no payload */
        "<iq type='set' id='5'><a xmlns='urn:a'/><b xmlns='urn:b'/></iq>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        frames_clear(f);
        feed(f, bad[i]);
        assert_int_equal(f->nframes, 1);
        if (!strstr(f->frames[0], "type='error'") ||
            !strstr(f->frames[0], "<error type='modify'><bad-request "))
            fail_msg("no bad-request for %s: %s", bad[i], f->frames[0]);
    }
    /* Errors are never answered with errors. */
    frames_clear(f);
    feed(f, "<iq type='error'/>");
    feed(f, "<iq type='result'/>");
    assert_int_equal(f->nframes, 0);
    assert_int_equal(f->nstanzas, 0);
    /* Every valid type passes. */
    const char *good[] = {"<message/>",
                          "<message type='normal'/>",
                          "<message type='headline'/>",
                          "<message type='groupchat' to='g@conference.localhost'/>",
                          "<message type='error'/>",
                          "<presence type='unavailable'/>",
                          "<presence type='subscribe' to='bob@localhost'/>",
                          "<presence type='subscribed' to='bob@localhost'/>",
                          "<presence type='unsubscribe' to='bob@localhost'/>",
                          "<presence type='unsubscribed' to='bob@localhost'/>",
                          "<presence type='probe' to='bob@localhost'/>",
                          "<iq type='result' id='r'/>"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        feed(f, good[i]);
        assert_int_equal(f->nstanzas, (i % 8) + 1);
        if (f->nstanzas == 8) {
            for (size_t k = 0; k < 8; k++)
                xmpp_stanza_free(f->stanzas[k]);
            f->nstanzas = 0;
        }
    }
    assert_int_equal(f->nframes, 0);
}

static void test_send(void **state)
{
    struct fake *f = *state;
    do_bind(f, "r");
    struct xmpp_node *m = xmpp_node_new("message", NULL);
    xmpp_node_set_attr(m, "to", "alice@localhost/r");
    struct xmpp_node *b = xmpp_node_add(m, "body", NULL);
    xmpp_node_add_text(b, "</body></message><message>");
    assert_int_equal(xmpp_stream_send(f->s, m, 77), PL_OK);
    assert_string_equal(last(f),
                        "<message xmlns='jabber:client' to='alice@localhost/r'>"
                        "<body>&lt;/body&gt;&lt;/message&gt;&lt;message&gt;</body>"
                        "</message>");
    assert_int_equal(f->tags[f->nframes - 1], 77);
    xmpp_node_free(m);
    assert_int_equal(xmpp_stream_send_bytes(f->s, "<presence/>", 11, 78), PL_OK);
    assert_string_equal(last(f), "<presence/>");
    assert_int_equal(f->tags[f->nframes - 1], 78);
    xmpp_stream_written(f->s, 78);
    assert_int_equal(f->written_tag, 78);
    int marker;
    xmpp_stream_set_user(f->s, &marker);
    assert_ptr_equal(xmpp_stream_user(f->s), &marker);
    /* An explicit stream error with text. */
    xmpp_stream_error(f->s, "conflict", "Replaced by <new> connection");
    assert_string_equal(f->frames[f->nframes - 2],
                        "<stream:error xmlns:stream='http://etherx.jabber.org/streams'>"
                        "<conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                        "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>Replaced by "
                        "&lt;new&gt; connection</text></stream:error>");
    assert_string_equal(last(f), CLOSE);
    assert_int_equal(f->closed_io, 1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_open_and_features),
        T(test_plain_bind_and_stanzas),
        T(test_plain_authzid_forms),
        T(test_plain_wrong_user),
        T(test_plain_retry_then_success),
        T(test_plain_disabled_user),
        T(test_external),
        T(test_bind_variants),
        T(test_bind_without_resource_element),
        T(test_stanza_before_auth),
        T(test_stanza_before_open),
        T(test_stanza_before_bind),
        T(test_host_unknown),
        T(test_open_variants),
        T(test_not_well_formed),
        T(test_restricted_xml),
        T(test_too_big),
        T(test_parse_limits),
        T(test_nul_trailer),
        T(test_binary),
        T(test_deadline),
        T(test_unknown_elements),
        T(test_close_handshake),
        T(test_jid_malformed),
        T(test_bad_types),
        T(test_send),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
