/* XEP-0198 without a socket: the counters and their checks (wrap at 2^32,
 * too high, backwards), the parse of h, the queue of unacknowledged
 * stanzas, the handled count with stanzas pending a commit, the resume
 * decision (unknown id, another user's, expired) in xmpp_sm.c; then the
 * stream driving them through a fake transport: <enable/>, counting,
 * <a h/> too high, a detach at the connection's loss and a resume onto a
 * new stream. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth_jwt.h"
#include "pl_error.h"
#include "xmpp_sm.h"
#include "xmpp_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- counters ---- */

static void test_ack_in_range(void **state)
{
    (void)state;
    assert_int_equal(xmpp_sm_ack_check(0, 0, 0), XMPP_SM_ACK_OK);
    assert_int_equal(xmpp_sm_ack_check(3, 10, 3), XMPP_SM_ACK_OK);
    assert_int_equal(xmpp_sm_ack_check(3, 10, 7), XMPP_SM_ACK_OK);
    assert_int_equal(xmpp_sm_ack_check(3, 10, 10), XMPP_SM_ACK_OK);
}

static void test_ack_too_high(void **state)
{
    (void)state;
    assert_int_equal(xmpp_sm_ack_check(0, 0, 1), XMPP_SM_ACK_TOO_HIGH);
    assert_int_equal(xmpp_sm_ack_check(3, 10, 11), XMPP_SM_ACK_TOO_HIGH);
    assert_int_equal(xmpp_sm_ack_check(3, 10, 2000000000), XMPP_SM_ACK_TOO_HIGH);
}

static void test_ack_backwards(void **state)
{
    (void)state;
    assert_int_equal(xmpp_sm_ack_check(3, 10, 2), XMPP_SM_ACK_BACKWARDS);
    assert_int_equal(xmpp_sm_ack_check(3, 10, 0), XMPP_SM_ACK_BACKWARDS);
}

static void test_ack_wraps_at_2_32(void **state)
{
    (void)state;
    /* Both counters are modulo 2^32: 4294967294 acknowledged, 3 sent
     * (five stanzas after the wrap). */
    uint32_t acked = UINT32_MAX - 1, sent = 3;
    assert_int_equal(xmpp_sm_ack_check(acked, sent, UINT32_MAX), XMPP_SM_ACK_OK);
    assert_int_equal(xmpp_sm_ack_check(acked, sent, 0), XMPP_SM_ACK_OK);
    assert_int_equal(xmpp_sm_ack_check(acked, sent, 3), XMPP_SM_ACK_OK);
    assert_int_equal(xmpp_sm_ack_check(acked, sent, 4), XMPP_SM_ACK_TOO_HIGH);
    assert_int_equal(xmpp_sm_ack_check(acked, sent, UINT32_MAX - 2),
                     XMPP_SM_ACK_BACKWARDS);
    /* The acknowledged count wrapped too. */
    assert_int_equal(xmpp_sm_ack_check(1, 2, UINT32_MAX), XMPP_SM_ACK_BACKWARDS);
}

static void test_parse_h(void **state)
{
    (void)state;
    uint32_t h = 7;
    assert_int_equal(xmpp_sm_parse_h("0", &h), PL_OK);
    assert_int_equal(h, 0);
    assert_int_equal(xmpp_sm_parse_h("4294967295", &h), PL_OK);
    assert_int_equal(h, UINT32_MAX);
    const char *bad[] = {NULL, "",   "-1",   "+1",         " 1",
                         "1 ", "1a", "0x10", "4294967296", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(xmpp_sm_parse_h(bad[i], &h), PL_EINVAL);
}

/* ---- the queue ---- */

struct popped {
    uint64_t tags[64];
    size_t n;
};

static void note_pop(void *arg, uint64_t tag)
{
    struct popped *p = arg;
    p->tags[p->n++] = tag;
}

static void test_queue_order_and_wrap(void **state)
{
    (void)state;
    struct xmpp_sm_queue q = {0};
    struct pl_frame *f = pl_frame_new("<message/>", 10);
    struct popped p = {0};
    for (uint64_t i = 1; i <= 6; i++)
        assert_int_equal(xmpp_sm_queue_push(&q, f, i), PL_OK);
    xmpp_sm_queue_pop(&q, 4, note_pop, &p);
    /* The ring wraps: 2 left, 10 more pushed past the end and grown. */
    for (uint64_t i = 7; i <= 16; i++)
        assert_int_equal(xmpp_sm_queue_push(&q, f, i), PL_OK);
    assert_int_equal(q.count, 12);
    for (size_t i = 0; i < q.count; i++)
        assert_int_equal(xmpp_sm_queue_at(&q, i)->tag, 5 + i);
    xmpp_sm_queue_pop(&q, 100, note_pop, &p); /* more than there is: all */
    assert_int_equal(p.n, 16);
    for (size_t i = 0; i < p.n; i++)
        assert_int_equal(p.tags[i], i + 1);
    assert_int_equal(q.count, 0);
    xmpp_sm_queue_free(&q);
    pl_frame_unref(f); /* the queue's references are gone: ASan would say */
}

/* ---- the handled count ---- */

static void test_handled_waits_for_the_oldest(void **state)
{
    (void)state;
    struct xmpp_sm_inbound in = {0};
    uint32_t a, b, c;
    assert_int_equal(xmpp_sm_in_begin(&in, &a), PL_OK);
    assert_int_equal(xmpp_sm_in_begin(&in, &b), PL_OK);
    assert_int_equal(xmpp_sm_in_begin(&in, &c), PL_OK);
    assert_int_equal(xmpp_sm_in_handled(&in), 0);
    xmpp_sm_in_done(&in, b); /* a later one is done: h cannot pass a */
    assert_int_equal(xmpp_sm_in_handled(&in), 0);
    xmpp_sm_in_done(&in, a);
    assert_int_equal(xmpp_sm_in_handled(&in), 2);
    xmpp_sm_in_done(&in, c);
    assert_int_equal(xmpp_sm_in_handled(&in), 3);
    xmpp_sm_in_free(&in);
}

static void test_handled_wraps(void **state)
{
    (void)state;
    struct xmpp_sm_inbound in = {.received = UINT32_MAX - 1};
    uint32_t a, b;
    assert_int_equal(xmpp_sm_in_begin(&in, &a), PL_OK);
    assert_int_equal(xmpp_sm_in_begin(&in, &b), PL_OK);
    assert_int_equal(a, UINT32_MAX);
    assert_int_equal(b, 0);
    assert_int_equal(xmpp_sm_in_handled(&in), UINT32_MAX - 1);
    xmpp_sm_in_done(&in, a);
    assert_int_equal(xmpp_sm_in_handled(&in), UINT32_MAX);
    xmpp_sm_in_done(&in, b);
    assert_int_equal(xmpp_sm_in_handled(&in), 0);
    xmpp_sm_in_free(&in);
}

/* ---- the resume decision ---- */

static const struct xmpp_sm_config cfg = {300, 1000, 5, 30, 90};

static void test_resume_decision(void **state)
{
    (void)state;
    struct xmpp_sm_registry *reg;
    assert_int_equal(xmpp_sm_registry_new(&cfg, &reg), PL_OK);
    struct xmpp_sm *bob = xmpp_sm_new(reg, "bob");
    struct xmpp_sm *carol = xmpp_sm_new(reg, "carol");
    assert_int_equal(xmpp_sm_enable(bob, 1, 1000), PL_OK);
    assert_int_equal(xmpp_sm_enable(bob, 1, 1000), PL_EEXIST);
    assert_int_equal(xmpp_sm_enable(carol, 1, 1000), PL_OK);
    assert_int_equal(strlen(bob->id), 64);
    assert_string_not_equal(bob->id, carol->id);
    struct xmpp_sm *out = NULL;
    assert_int_equal(xmpp_sm_lookup(reg, bob->id, "bob", 2000, &out), XMPP_SM_RESUME_OK);
    assert_ptr_equal(out, bob);
    assert_int_equal(xmpp_sm_lookup(reg, bob->id, "carol", 2000, &out),
                     XMPP_SM_RESUME_OTHER_USER);
    assert_null(out);
    assert_int_equal(xmpp_sm_lookup(reg, "00", "bob", 2000, &out),
                     XMPP_SM_RESUME_UNKNOWN);
    assert_int_equal(xmpp_sm_lookup(reg, NULL, "bob", 2000, &out),
                     XMPP_SM_RESUME_UNKNOWN);
    /* Detached at 10 s: resumable until 310 s (milliseconds throughout). */
    bob->detached_at = 10000;
    assert_int_equal(xmpp_sm_lookup(reg, bob->id, "bob", 309999, &out),
                     XMPP_SM_RESUME_OK);
    assert_int_equal(xmpp_sm_lookup(reg, bob->id, "bob", 310000, &out),
                     XMPP_SM_RESUME_EXPIRED);
    char id[sizeof(bob->id)];
    memcpy(id, bob->id, sizeof(id));
    xmpp_sm_forget(bob);
    assert_int_equal(xmpp_sm_lookup(reg, id, "bob", 2000, &out), XMPP_SM_RESUME_UNKNOWN);
    assert_int_equal(reg->count, 1);
    xmpp_sm_unref(bob);
    xmpp_sm_unref(carol);
    assert_int_equal(reg->count, 0);
    xmpp_sm_registry_free(reg);
}

static void test_not_resumable_has_no_id(void **state)
{
    (void)state;
    struct xmpp_sm_registry *reg;
    assert_int_equal(xmpp_sm_registry_new(&cfg, &reg), PL_OK);
    struct xmpp_sm *sm = xmpp_sm_new(reg, "bob");
    assert_int_equal(xmpp_sm_enable(sm, 0, 0), PL_OK);
    assert_string_equal(sm->id, "");
    struct xmpp_sm *out;
    assert_int_equal(xmpp_sm_lookup(reg, "", "bob", 0, &out), XMPP_SM_RESUME_UNKNOWN);
    xmpp_sm_unref(sm);
    xmpp_sm_registry_free(reg);
}

/* ---- through the stream, with a fake transport ---- */

#define MAXF 64

struct conn {
    char *frames[MAXF];
    size_t n;
    int closed;
};

struct world {
    struct auth_verifier *verifier;
    struct xmpp_env env;
    struct xmpp_stream_io io;
    struct xmpp_stanza *stanzas[16];
    size_t nstanzas;
    uint64_t acked[16];
    size_t nacked;
    int resumed;
    int closed;
};

static int w_write(void *ctx, struct pl_frame *frame, uint64_t tag)
{
    (void)tag;
    struct conn *c = ctx;
    assert_true(c->n < MAXF);
    c->frames[c->n++] = strndup(pl_frame_data(frame), frame->len);
    return PL_OK;
}

static void w_close(void *ctx)
{
    struct conn *c = ctx;
    c->closed++;
}

static int w_bind(void *ctx, struct xmpp_stream *s, const char *requested,
                  char **resource)
{
    (void)ctx;
    (void)s;
    (void)requested;
    *resource = strdup("phone");
    return PL_OK;
}

static void w_stanza(void *ctx, struct xmpp_stream *s, struct xmpp_stanza *st)
{
    (void)s;
    struct world *w = ctx;
    w->stanzas[w->nstanzas++] = st;
}

static void w_acked(void *ctx, struct xmpp_stream *s, uint64_t tag)
{
    (void)s;
    struct world *w = ctx;
    w->acked[w->nacked++] = tag;
}

static void w_resumed(void *ctx, struct xmpp_stream *from, struct xmpp_stream *to)
{
    (void)from;
    (void)to;
    struct world *w = ctx;
    w->resumed++;
}

static void w_closed(void *ctx, struct xmpp_stream *s)
{
    (void)s;
    struct world *w = ctx;
    w->closed++;
}

static void conn_clear(struct conn *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->frames[i]);
    c->n = 0;
}

static const char *conn_last(const struct conn *c)
{
    assert_true(c->n > 0);
    return c->frames[c->n - 1];
}

static int feed(struct xmpp_stream *s, const char *xml)
{
    return xmpp_stream_input(s, xml, strlen(xml));
}

#define OPEN                                                                             \
    "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>"

/* Open, SASL PLAIN with a real token, restart: the stream waits for bind. */
static struct xmpp_stream *authed(struct world *w, struct conn *c, const char *user)
{
    struct xmpp_stream *s;
    assert_int_equal(xmpp_stream_new(&w->env, &w->io, c, 1, user, &s), PL_OK);
    assert_int_equal(feed(s, OPEN), PL_OK);
    char *tok = NULL;
    assert_int_equal(auth_token_issue(w->verifier, user, 0, 3600, (long)time(NULL), &tok),
                     PL_OK);
    size_t ul = strlen(user), tl = strlen(tok);
    unsigned char *raw = malloc(ul + tl + 2);
    raw[0] = '\0';
    memcpy(raw + 1, user, ul);
    raw[ul + 1] = '\0';
    memcpy(raw + ul + 2, tok, tl);
    char *b64 = NULL;
    assert_int_equal(auth_b64_encode(raw, ul + tl + 2, &b64), PL_OK);
    char auth[2048];
    snprintf(auth, sizeof(auth),
             "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>",
             b64);
    assert_int_equal(feed(s, auth), PL_OK);
    free(b64);
    free(raw);
    free(tok);
    assert_int_equal(feed(s, OPEN), PL_OK);
    assert_non_null(strstr(conn_last(c), "<sm xmlns='urn:xmpp:sm:3'/>"));
    return s;
}

static struct xmpp_stream *bound_sm(struct world *w, struct conn *c, const char *user)
{
    struct xmpp_stream *s = authed(w, c, user);
    assert_int_equal(feed(s, "<iq type='set' id='b'><bind "
                             "xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"),
                     PL_OK);
    assert_int_equal(feed(s, "<enable xmlns='urn:xmpp:sm:3' resume='true'/>"), PL_OK);
    assert_non_null(strstr(conn_last(c), "<enabled xmlns='urn:xmpp:sm:3' id='"));
    assert_non_null(strstr(conn_last(c), "max='300'"));
    return s;
}

static int world_setup(void **state)
{
    struct world *w = calloc(1, sizeof(*w));
    struct auth_config ac = {.alg = "HS256",
                             .secret = "unit-test-secret-0123456789abcdef"};
    char err[200];
    assert_int_equal(auth_verifier_new(&ac, &w->verifier, err, sizeof(err)), PL_OK);
    w->env.domain = "localhost";
    w->env.max_stanza_size = 65536;
    w->env.verifier = w->verifier;
    assert_int_equal(xmpp_parser_new(&w->env.parser), PL_OK);
    w->env.hooks = (struct xmpp_stream_hooks){.ctx = w,
                                              .bind = w_bind,
                                              .stanza = w_stanza,
                                              .acked = w_acked,
                                              .resumed = w_resumed,
                                              .closed = w_closed};
    assert_int_equal(xmpp_sm_registry_new(&cfg, &w->env.sm), PL_OK);
    w->io = (struct xmpp_stream_io){.write = w_write, .close = w_close};
    *state = w;
    return 0;
}

static int world_teardown(void **state)
{
    struct world *w = *state;
    for (size_t i = 0; i < w->nstanzas; i++)
        xmpp_stanza_free(w->stanzas[i]);
    xmpp_stream_sm_shutdown(w->env.sm);
    xmpp_parser_free(w->env.parser);
    auth_verifier_free(w->verifier);
    free(w);
    return 0;
}

static void send_messages(struct xmpp_stream *s, int n, uint64_t first_tag)
{
    struct xmpp_node *m = xmpp_node_new("message", NULL);
    for (int i = 0; i < n; i++)
        assert_int_equal(xmpp_stream_send(s, m, first_tag + (uint64_t)i), PL_OK);
    xmpp_node_free(m);
}

static void test_stream_counts_and_too_high(void **state)
{
    struct world *w = *state;
    struct conn c = {0};
    struct xmpp_stream *s = bound_sm(w, &c, "bob");
    send_messages(s, 3, 100);
    assert_int_equal(xmpp_stream_sm_unacked(s), 3);
    assert_int_equal(feed(s, "<a xmlns='urn:xmpp:sm:3' h='2'/>"), PL_OK);
    assert_int_equal(w->nacked, 2);
    assert_int_equal(w->acked[0], 100);
    assert_int_equal(w->acked[1], 101);
    assert_int_equal(xmpp_stream_sm_unacked(s), 1);
    /* A client stanza held by the chat layer (a commit pending) holds
     * the <a/> back until it is let go. */
    assert_int_equal(feed(s, "<message to='alice@localhost'><body>x</body></message>"),
                     PL_OK);
    size_t before = c.n;
    assert_int_equal(feed(s, "<r xmlns='urn:xmpp:sm:3'/>"), PL_OK);
    assert_int_equal(c.n, before);
    xmpp_stanza_free(w->stanzas[--w->nstanzas]);
    assert_string_equal(conn_last(&c), "<a xmlns='urn:xmpp:sm:3' h='1'/>");
    assert_int_equal(feed(s, "<a xmlns='urn:xmpp:sm:3' h='4'/>"), PL_ESTATE);
    assert_non_null(strstr(c.frames[c.n - 2], "<undefined-condition"));
    assert_non_null(strstr(c.frames[c.n - 2],
                           "<handled-count-too-high xmlns='urn:xmpp:sm:3' h='4' "
                           "send-count='3'/>"));
    xmpp_stream_free(s); /* closed by the server: no resumption */
    assert_int_equal(w->closed, 1);
    assert_null(w->env.sm->head);
    conn_clear(&c);
}

static void test_stream_detach_and_resume(void **state)
{
    struct world *w = *state;
    struct conn c1 = {0}, c2 = {0}, c3 = {0};
    struct xmpp_stream *s1 = bound_sm(w, &c1, "bob");
    char id[65];
    const char *at = strstr(conn_last(&c1), "id='") + 4;
    memcpy(id, at, 64);
    id[64] = '\0';
    send_messages(s1, 4, 200);
    assert_int_equal(feed(s1, "<a xmlns='urn:xmpp:sm:3' h='1'/>"), PL_OK);
    xmpp_stream_free(s1); /* the connection died: kept, detached */
    assert_int_equal(w->closed, 0);
    send_messages(s1, 1, 204); /* arrives meanwhile: queued */

    /* Another user's id: item-not-found; the stream may still bind. */
    struct xmpp_stream *m = authed(w, &c3, "mallory");
    char resume[200];
    snprintf(resume, sizeof(resume), "<resume xmlns='urn:xmpp:sm:3' previd='%s' h='2'/>",
             id);
    assert_int_equal(feed(m, resume), PL_OK);
    assert_string_equal(conn_last(&c3),
                        "<failed xmlns='urn:xmpp:sm:3'><item-not-found "
                        "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>");
    xmpp_stream_free(m);

    struct xmpp_stream *s2 = authed(w, &c2, "bob");
    conn_clear(&c2);
    assert_int_equal(feed(s2, resume), PL_OK);
    assert_int_equal(w->resumed, 1);
    assert_int_equal(w->nacked, 2); /* h=2 acknowledged tags 200 and 201 */
    assert_int_equal(w->acked[1], 201);
    assert_non_null(strstr(c2.frames[0], "<resumed xmlns='urn:xmpp:sm:3'"));
    assert_non_null(strstr(c2.frames[0], "h='0'"));
    /* The three not acknowledged, in order, then an <r/>. */
    assert_int_equal(c2.n, 5);
    for (size_t i = 1; i < 4; i++)
        assert_string_equal(c2.frames[i], "<message xmlns='jabber:client'/>");
    assert_string_equal(c2.frames[4], "<r xmlns='urn:xmpp:sm:3'/>");
    assert_string_equal(xmpp_stream_full_jid(s2), "bob@localhost/phone");
    assert_int_equal(xmpp_stream_sm_unacked(s2), 3);
    assert_int_equal(xmpp_stream_sm_has_tag(s2, 204), 1);
    assert_int_equal(xmpp_stream_sm_has_tag(s2, 200), 0);
    assert_int_equal(w->closed, 0);
    assert_int_equal(feed(s2, "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"),
                     PL_ESTATE);
    xmpp_stream_free(s2); /* a clean close: the session ends */
    assert_int_equal(w->closed, 1);
    conn_clear(&c1);
    conn_clear(&c2);
    conn_clear(&c3);
}

static void test_stream_expiry_ends_the_session(void **state)
{
    struct world *w = *state;
    struct conn c = {0};
    struct xmpp_stream *s = bound_sm(w, &c, "bob");
    xmpp_stream_free(s);
    assert_int_equal(w->closed, 0);
    /* Not yet: the window is 300 s. */
    xmpp_stream_sm_tick(w->env.sm);
    assert_int_equal(w->closed, 0);
    w->env.sm->head->detached_at -= 301 * 1000;
    xmpp_stream_sm_tick(w->env.sm);
    assert_int_equal(w->closed, 1);
    assert_null(w->env.sm->head);
    conn_clear(&c);
}

#define W(fn) cmocka_unit_test_setup_teardown(fn, world_setup, world_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ack_in_range),
        cmocka_unit_test(test_ack_too_high),
        cmocka_unit_test(test_ack_backwards),
        cmocka_unit_test(test_ack_wraps_at_2_32),
        cmocka_unit_test(test_parse_h),
        cmocka_unit_test(test_queue_order_and_wrap),
        cmocka_unit_test(test_handled_waits_for_the_oldest),
        cmocka_unit_test(test_handled_wraps),
        cmocka_unit_test(test_resume_decision),
        cmocka_unit_test(test_not_resumable_has_no_id),
        W(test_stream_counts_and_too_high),
        W(test_stream_detach_and_resume),
        W(test_stream_expiry_ends_the_session),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
