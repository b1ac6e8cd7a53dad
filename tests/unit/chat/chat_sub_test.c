/* The subscription state machine (chat_sub.c): every transition of RFC 6121
 * Appendix A, outbound (A.2) and inbound (A.3), the pre-approvals of
 * section 3.4, and whole exchanges between two accounts. No socket, no
 * database: the functions take a state and give one back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "chat_internal.h"

#include <stdio.h>

#define L CHAT_SUB_LISTED
#define TO CHAT_SUB_TO
#define FR CHAT_SUB_FROM
#define PO CHAT_SUB_PENDING_OUT
#define PI CHAT_SUB_PENDING_IN
#define AP CHAT_SUB_APPROVED

/* The nine states of Appendix A, as rows of the roster. */
enum {
    N = L,
    N_PO = L | PO,
    N_PI = L | PI,
    N_POPI = L | PO | PI,
    T = L | TO,
    T_PI = L | TO | PI,
    F = L | FR,
    F_PO = L | FR | PO,
    B = L | TO | FR,
};

static const unsigned states[9] = {N, N_PO, N_PI, N_POPI, T, T_PI, F, F_PO, B};
static const char *const state_names[9] = {
    "None",
    "None + Pending Out",
    "None + Pending In",
    "None + Pending Out/In",
    "To",
    "To + Pending In",
    "From",
    "From + Pending Out",
    "Both",
};

/* One column of a table: the state each of the nine goes to. */
static void check_outbound(enum chat_sub_type type, const unsigned want[9])
{
    for (int i = 0; i < 9; i++) {
        unsigned got = chat_sub_outbound(states[i], type);
        if (got != want[i])
            fail_msg("outbound %s from %s: got %u, want %u", chat_sub_type_name(type),
                     state_names[i], got, want[i]);
    }
}

static void check_inbound(enum chat_sub_type type, const unsigned want[9],
                          const unsigned want_act[9])
{
    for (int i = 0; i < 9; i++) {
        unsigned act = 99;
        unsigned got = chat_sub_inbound(states[i], type, &act);
        if (got != want[i] || act != want_act[i])
            fail_msg("inbound %s at %s: got %u (actions %u), want %u (actions %u)",
                     chat_sub_type_name(type), state_names[i], got, act, want[i],
                     want_act[i]);
    }
}

/* A.2.1: the user sends subscribe. */
static void test_outbound_subscribe(void **state)
{
    (void)state;
    const unsigned want[9] = {N_PO, N_PO, N_POPI, N_POPI, T, T_PI, F_PO, F_PO, B};
    check_outbound(CHAT_SUB_SUBSCRIBE, want);
}

/* A.2.2: the user sends unsubscribe. */
static void test_outbound_unsubscribe(void **state)
{
    (void)state;
    const unsigned want[9] = {N, N, N_PI, N_PI, N, N_PI, F, F, F};
    check_outbound(CHAT_SUB_UNSUBSCRIBE, want);
}

/* A.2.3: the user sends subscribed. Where Appendix A says "no state change"
 * for a user with no request pending and no `from`, section 3.4 records a
 * pre-approval. */
static void test_outbound_subscribed(void **state)
{
    (void)state;
    const unsigned want[9] = {N | AP, N_PO | AP, F, F_PO, T | AP, B, F, F_PO, B};
    check_outbound(CHAT_SUB_SUBSCRIBED, want);
}

/* A.2.4: the user sends unsubscribed. */
static void test_outbound_unsubscribed(void **state)
{
    (void)state;
    const unsigned want[9] = {N, N_PO, N, N_PO, T, T, N, N_PO, T};
    check_outbound(CHAT_SUB_UNSUBSCRIBED, want);
}

/* A.3.1: a subscribe arrives. A user already subscribed from is answered
 * by the server (section 3.1.3); a request that is pending already is
 * delivered again (the user may have lost it) and stays pending. */
static void test_inbound_subscribe(void **state)
{
    (void)state;
    const unsigned D = CHAT_SUB_DELIVER, A = CHAT_SUB_AUTO_REPLY;
    const unsigned want[9] = {N_PI, N_POPI, N_PI, N_POPI, T_PI, T_PI, F, F_PO, B};
    const unsigned act[9] = {D, D, D, D, D, D, A, A, A};
    check_inbound(CHAT_SUB_SUBSCRIBE, want, act);
}

/* A.3.2: an unsubscribe arrives; delivered only when it changed something. */
static void test_inbound_unsubscribe(void **state)
{
    (void)state;
    const unsigned D = CHAT_SUB_DELIVER;
    const unsigned want[9] = {N, N_PO, N, N_PO, T, T, N, N_PO, T};
    const unsigned act[9] = {0, 0, D, D, 0, D, D, D, D};
    check_inbound(CHAT_SUB_UNSUBSCRIBE, want, act);
}

/* A.3.3: a subscribed arrives; only one the user asked for counts. */
static void test_inbound_subscribed(void **state)
{
    (void)state;
    const unsigned D = CHAT_SUB_DELIVER;
    const unsigned want[9] = {N, T, N_PI, T_PI, T, T_PI, F, B, B};
    const unsigned act[9] = {0, D, 0, D, 0, 0, 0, D, 0};
    check_inbound(CHAT_SUB_SUBSCRIBED, want, act);
}

/* A.3.4: an unsubscribed arrives. */
static void test_inbound_unsubscribed(void **state)
{
    (void)state;
    const unsigned D = CHAT_SUB_DELIVER;
    const unsigned want[9] = {N, N, N_PI, N_PI, N, N_PI, F, F, F};
    const unsigned act[9] = {0, D, 0, D, D, D, 0, D, D};
    check_inbound(CHAT_SUB_UNSUBSCRIBED, want, act);
}

/* A request from someone not in the roster keeps an unlisted row: answering
 * it lists them, denying it or a withdrawal leaves no row at all. */
static void test_unlisted_request_rows(void **state)
{
    (void)state;
    unsigned act = 0;
    assert_int_equal(chat_sub_inbound(0, CHAT_SUB_SUBSCRIBE, &act), PI);
    assert_int_equal(act, CHAT_SUB_DELIVER);
    assert_int_equal(chat_sub_outbound(PI, CHAT_SUB_SUBSCRIBED), F);
    assert_int_equal(chat_sub_outbound(PI, CHAT_SUB_UNSUBSCRIBED), 0);
    assert_int_equal(chat_sub_inbound(PI, CHAT_SUB_UNSUBSCRIBE, &act), 0);
    assert_int_equal(act, CHAT_SUB_DELIVER);
    assert_int_equal(chat_sub_outbound(PI, CHAT_SUB_SUBSCRIBE), N_POPI);
    /* Nothing arriving for a stranger creates a row but a request. */
    assert_int_equal(chat_sub_inbound(0, CHAT_SUB_SUBSCRIBED, &act), 0);
    assert_int_equal(act, 0);
    assert_int_equal(chat_sub_inbound(0, CHAT_SUB_UNSUBSCRIBE, &act), 0);
    assert_int_equal(chat_sub_inbound(0, CHAT_SUB_UNSUBSCRIBED, &act), 0);
    /* Unsubscribing from a stranger leaves nothing either. */
    assert_int_equal(chat_sub_outbound(0, CHAT_SUB_UNSUBSCRIBE), 0);
    assert_int_equal(chat_sub_outbound(0, CHAT_SUB_UNSUBSCRIBED), 0);
    /* Subscribing to a stranger, or pre-approving one, adds them. */
    assert_int_equal(chat_sub_outbound(0, CHAT_SUB_SUBSCRIBE), N_PO);
    assert_int_equal(chat_sub_outbound(0, CHAT_SUB_SUBSCRIBED), N | AP);
    /* Removing is always the end of the row. */
    for (int i = 0; i < 9; i++)
        assert_int_equal(chat_sub_outbound(states[i], CHAT_SUB_REMOVE), 0);
}

/* Section 3.4: a pre-approved subscribe is approved at once, answered by the
 * server and not delivered; unsubscribed withdraws a pre-approval. */
static void test_pre_approval(void **state)
{
    (void)state;
    unsigned act = 0;
    assert_int_equal(chat_sub_inbound(N | AP, CHAT_SUB_SUBSCRIBE, &act), F);
    assert_int_equal(act, CHAT_SUB_AUTO_REPLY);
    assert_int_equal(chat_sub_inbound(N_PO | AP, CHAT_SUB_SUBSCRIBE, &act), F_PO);
    assert_int_equal(act, CHAT_SUB_AUTO_REPLY);
    assert_int_equal(chat_sub_inbound(T | AP, CHAT_SUB_SUBSCRIBE, &act), B);
    assert_int_equal(act, CHAT_SUB_AUTO_REPLY);
    assert_int_equal(chat_sub_outbound(N | AP, CHAT_SUB_UNSUBSCRIBED), N);
    assert_int_equal(chat_sub_outbound(T | AP, CHAT_SUB_UNSUBSCRIBED), T);
    /* A pre-approval survives what does not concern it. */
    assert_int_equal(chat_sub_outbound(N | AP, CHAT_SUB_SUBSCRIBE), N_PO | AP);
    assert_int_equal(chat_sub_inbound(N_PO | AP, CHAT_SUB_SUBSCRIBED, &act), T | AP);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(chat_sub_subscription(N_POPI), "none");
    assert_string_equal(chat_sub_subscription(T_PI), "to");
    assert_string_equal(chat_sub_subscription(F_PO), "from");
    assert_string_equal(chat_sub_subscription(B), "both");
    assert_string_equal(chat_sub_type_name(CHAT_SUB_SUBSCRIBE), "subscribe");
    assert_string_equal(chat_sub_type_name(CHAT_SUB_UNSUBSCRIBED), "unsubscribed");
    assert_string_equal(chat_sub_type_name(CHAT_SUB_REMOVE), "remove");
}

/* The handshake of section 3.1 both ways, as two exchanges each. */
static void test_exchange_handshake(void **state)
{
    (void)state;
    /* alice subscribes to bob, who has never heard of her */
    struct chat_sub_exchange x = {.user_old = 0, .contact_old = 0};
    chat_sub_exchange(&x, CHAT_SUB_SUBSCRIBE, 0);
    assert_int_equal(x.user_new, N_PO);
    assert_int_equal(x.contact_new, PI); /* a request, not a roster item */
    assert_int_equal(x.to_contact, 1u << CHAT_SUB_SUBSCRIBE);
    assert_int_equal(x.to_user, 0);
    /* bob approves: the exchange is his now */
    struct chat_sub_exchange y = {.user_old = x.contact_new, .contact_old = x.user_new};
    chat_sub_exchange(&y, CHAT_SUB_SUBSCRIBED, 0);
    assert_int_equal(y.user_new, F);
    assert_int_equal(y.contact_new, T);
    assert_int_equal(y.to_contact, 1u << CHAT_SUB_SUBSCRIBED);
    /* bob subscribes back; alice approves: both */
    struct chat_sub_exchange z = {.user_old = y.user_new, .contact_old = y.contact_new};
    chat_sub_exchange(&z, CHAT_SUB_SUBSCRIBE, 0);
    assert_int_equal(z.user_new, F_PO);
    assert_int_equal(z.contact_new, T_PI);
    struct chat_sub_exchange w = {.user_old = z.contact_new, .contact_old = z.user_new};
    chat_sub_exchange(&w, CHAT_SUB_SUBSCRIBED, 0);
    assert_int_equal(w.user_new, B);
    assert_int_equal(w.contact_new, B);
    /* alice unsubscribes from bob: she keeps `from`, he keeps `to` */
    struct chat_sub_exchange u = {.user_old = B, .contact_old = B};
    chat_sub_exchange(&u, CHAT_SUB_UNSUBSCRIBE, 0);
    assert_int_equal(u.user_new, F);
    assert_int_equal(u.contact_new, T);
    assert_int_equal(u.to_contact, 1u << CHAT_SUB_UNSUBSCRIBE);
    /* bob denies a request */
    struct chat_sub_exchange d = {.user_old = PI, .contact_old = N_PO};
    chat_sub_exchange(&d, CHAT_SUB_UNSUBSCRIBED, 0);
    assert_int_equal(d.user_new, 0);
    assert_int_equal(d.contact_new, N);
    assert_int_equal(d.to_contact, 1u << CHAT_SUB_UNSUBSCRIBED);
}

/* A subscribe to someone who already lets the user in, or pre-approved
 * them, is answered by the server for them: not delivered to them, and the
 * `subscribed` reaches the user. */
static void test_exchange_auto_replies(void **state)
{
    (void)state;
    struct chat_sub_exchange x = {.user_old = 0, .contact_old = N | AP};
    chat_sub_exchange(&x, CHAT_SUB_SUBSCRIBE, 0);
    assert_int_equal(x.contact_new, F);
    assert_int_equal(x.user_new, T);
    assert_int_equal(x.to_contact, 0);
    assert_int_equal(x.to_user, 1u << CHAT_SUB_SUBSCRIBED);
    /* The user lost their row (say, removed and added back): the contact
     * still has `from`, so the server says `subscribed` again. */
    struct chat_sub_exchange y = {.user_old = 0, .contact_old = F};
    chat_sub_exchange(&y, CHAT_SUB_SUBSCRIBE, 0);
    assert_int_equal(y.user_new, T);
    assert_int_equal(y.contact_new, F);
    assert_int_equal(y.to_user, 1u << CHAT_SUB_SUBSCRIBED);
    /* Already subscribed: nothing changes, nothing is said. */
    struct chat_sub_exchange z = {.user_old = T, .contact_old = F};
    chat_sub_exchange(&z, CHAT_SUB_SUBSCRIBE, 0);
    assert_int_equal(z.user_new, T);
    assert_int_equal(z.contact_new, F);
    assert_int_equal(z.to_user, 0);
    assert_int_equal(z.to_contact, 0);
}

/* Section 2.5.2: removing an item cancels what there was, each way. */
static void test_exchange_remove(void **state)
{
    (void)state;
    struct chat_sub_exchange x = {.user_old = B, .contact_old = B};
    chat_sub_exchange(&x, CHAT_SUB_REMOVE, 0);
    assert_int_equal(x.user_new, 0);
    assert_int_equal(x.contact_new, N);
    assert_int_equal(x.to_contact,
                     (1u << CHAT_SUB_UNSUBSCRIBE) | (1u << CHAT_SUB_UNSUBSCRIBED));
    struct chat_sub_exchange y = {.user_old = N_PO, .contact_old = PI};
    chat_sub_exchange(&y, CHAT_SUB_REMOVE, 0);
    assert_int_equal(y.user_new, 0);
    assert_int_equal(y.contact_new, 0);
    assert_int_equal(y.to_contact, 1u << CHAT_SUB_UNSUBSCRIBE);
    struct chat_sub_exchange z = {.user_old = N, .contact_old = 0};
    chat_sub_exchange(&z, CHAT_SUB_REMOVE, 0);
    assert_int_equal(z.user_new, 0);
    assert_int_equal(z.to_contact, 0);
    struct chat_sub_exchange w = {.user_old = F, .contact_old = T};
    chat_sub_exchange(&w, CHAT_SUB_REMOVE, 0);
    assert_int_equal(w.contact_new, N);
    assert_int_equal(w.to_contact, 1u << CHAT_SUB_UNSUBSCRIBED);
}

/* XEP-0191: a contact who blocks the user hears nothing; only the user's
 * own row moves. */
static void test_exchange_blocked(void **state)
{
    (void)state;
    struct chat_sub_exchange x = {.user_old = 0, .contact_old = N | AP};
    chat_sub_exchange(&x, CHAT_SUB_SUBSCRIBE, 1);
    assert_int_equal(x.user_new, N_PO);
    assert_int_equal(x.contact_new, N | AP);
    assert_int_equal(x.to_contact, 0);
    assert_int_equal(x.to_user, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outbound_subscribe),
        cmocka_unit_test(test_outbound_unsubscribe),
        cmocka_unit_test(test_outbound_subscribed),
        cmocka_unit_test(test_outbound_unsubscribed),
        cmocka_unit_test(test_inbound_subscribe),
        cmocka_unit_test(test_inbound_unsubscribe),
        cmocka_unit_test(test_inbound_subscribed),
        cmocka_unit_test(test_inbound_unsubscribed),
        cmocka_unit_test(test_unlisted_request_rows),
        cmocka_unit_test(test_pre_approval),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_exchange_handshake),
        cmocka_unit_test(test_exchange_auto_replies),
        cmocka_unit_test(test_exchange_remove),
        cmocka_unit_test(test_exchange_blocked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
