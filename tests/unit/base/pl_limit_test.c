#include "pl_error.h"
#include "pl_limit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#define S 1000000 /* one second in microseconds */

static void test_bucket_burst_then_rate(void **state)
{
    (void)state;
    struct pl_bucket b = {0};
    int64_t t = 5 * S;
    /* Full at first: the burst, then nothing until it drips in. */
    for (int i = 0; i < 200; i++)
        assert_int_equal(pl_bucket_take(&b, 20, 200, t, 1), 1);
    assert_int_equal(pl_bucket_take(&b, 20, 200, t, 1), 0);
    assert_int_equal(pl_bucket_wait(&b, 20, 200, t, 1), S / 20 + 1);
    /* 20 a second: 10 in half a second, not 11. */
    t += S / 2;
    for (int i = 0; i < 10; i++)
        assert_int_equal(pl_bucket_take(&b, 20, 200, t, 1), 1);
    assert_int_equal(pl_bucket_take(&b, 20, 200, t, 1), 0);
    /* Never above the burst however long it waits. */
    t += 3600 * (int64_t)S;
    assert_int_equal(pl_bucket_wait(&b, 20, 200, t, 200), 0);
    assert_int_equal(pl_bucket_take(&b, 20, 200, t, 201), 0);
    assert_int_equal(pl_bucket_take(&b, 20, 200, t, 200), 1);
}

static void test_bucket_spend_is_a_debt(void **state)
{
    (void)state;
    struct pl_bucket b = {0};
    int64_t t = S;
    /* 1000 bytes a second, burst 1000: spending 3000 owes two seconds. */
    assert_int_equal(pl_bucket_spend(&b, 1000, 1000, t, 500), 0);
    int64_t wait = pl_bucket_spend(&b, 1000, 1000, t, 2500);
    assert_true(wait > 2 * S - 10 && wait <= 2 * S + 1);
    assert_int_equal(pl_bucket_wait(&b, 1000, 1000, t + wait, 0), 0);
    /* Paid off after the wait: the next small spend is free. */
    assert_int_equal(pl_bucket_spend(&b, 1000, 1000, t + wait + S / 10, 50), 0);
}

static void test_keyed_take_per_key(void **state)
{
    (void)state;
    struct pl_keyed k;
    pl_keyed_init(&k, 5.0 / 60, 5, 0);
    int64_t t = 10 * S;
    for (int i = 0; i < 5; i++)
        assert_int_equal(pl_keyed_take(&k, "10.0.0.1", t), 1);
    assert_int_equal(pl_keyed_take(&k, "10.0.0.1", t), 0);
    int64_t retry = 0;
    assert_int_equal(pl_keyed_has(&k, "10.0.0.1", t, &retry), 0);
    assert_true(retry > 11 * S && retry <= 12 * S + 1);
    /* Another key is not affected; an unknown key has tokens. */
    assert_int_equal(pl_keyed_take(&k, "10.0.0.2", t), 1);
    assert_int_equal(pl_keyed_has(&k, "10.0.0.3", t, &retry), 1);
    assert_int_equal(retry, 0);
    /* One token back after 12 s. */
    assert_int_equal(pl_keyed_has(&k, "10.0.0.1", t + 12 * S, NULL), 1);
    assert_int_equal(pl_keyed_take(&k, "10.0.0.1", t + 12 * S), 1);
    assert_int_equal(pl_keyed_take(&k, "10.0.0.1", t + 12 * S), 0);
    pl_keyed_free(&k);
}

static void test_keyed_hold_release(void **state)
{
    (void)state;
    struct pl_keyed k;
    pl_keyed_init(&k, 1, 1, 0);
    for (int i = 0; i < 20; i++)
        assert_int_equal(pl_keyed_hold(&k, "a", 20), PL_OK);
    assert_int_equal(pl_keyed_hold(&k, "a", 20), PL_ETOOBIG);
    assert_int_equal(pl_keyed_hold(&k, "b", 20), PL_OK);
    assert_int_equal(pl_keyed_count(&k, "a"), 20);
    pl_keyed_release(&k, "a");
    assert_int_equal(pl_keyed_hold(&k, "a", 20), PL_OK);
    /* 0 is no limit; releasing what is not held changes nothing. */
    assert_int_equal(pl_keyed_hold(&k, "c", 0), PL_OK);
    pl_keyed_release(&k, "nobody");
    pl_keyed_release(&k, "c");
    pl_keyed_release(&k, "c");
    assert_int_equal(pl_keyed_count(&k, "c"), 0);
    pl_keyed_free(&k);
}

static void test_keyed_sweep_and_bound(void **state)
{
    (void)state;
    struct pl_keyed k;
    pl_keyed_init(&k, 1, 2, 3);
    int64_t t = S;
    assert_int_equal(pl_keyed_take(&k, "a", t), 1);
    assert_int_equal(pl_keyed_hold(&k, "b", 0), PL_OK);
    assert_int_equal(pl_keyed_take(&k, "c", t), 1);
    /* Full: a fourth key is refused, whatever it asks. */
    assert_int_equal(pl_keyed_take(&k, "d", t), 0);
    assert_int_equal(pl_keyed_hold(&k, "d", 0), PL_ETOOBIG);
    /* "b" is full and holds nothing once released... */
    pl_keyed_release(&k, "b");
    assert_int_equal(pl_keyed_sweep(&k, t), 1);
    assert_int_equal(k.map.count, 2);
    /* ...and the others are dropped once their buckets have refilled. */
    assert_int_equal(pl_keyed_sweep(&k, t + S / 2), 0);
    assert_int_equal(pl_keyed_sweep(&k, t + S), 2);
    assert_int_equal(k.map.count, 0);
    assert_int_equal(pl_keyed_take(&k, "d", t + S), 1);
    pl_keyed_free(&k);
}

static void test_keyed_flag_once_per_episode(void **state)
{
    (void)state;
    struct pl_keyed k;
    pl_keyed_init(&k, 1, 1, 0);
    assert_int_equal(pl_keyed_flag(&k, "x"), 0); /* absent: nothing to flag */
    assert_int_equal(pl_keyed_take(&k, "x", S), 1);
    assert_int_equal(pl_keyed_flag(&k, "x"), 1);
    assert_int_equal(pl_keyed_flag(&k, "x"), 0);
    assert_int_equal(pl_keyed_sweep(&k, 3 * S), 1);
    assert_int_equal(pl_keyed_take(&k, "x", 3 * S), 1);
    assert_int_equal(pl_keyed_flag(&k, "x"), 1);
    pl_keyed_free(&k);
}

static void test_auth_limit_by_addr_and_user(void **state)
{
    (void)state;
    struct pl_auth_limit l;
    pl_auth_limit_init(&l, 5);
    int64_t t = S, retry = 0;
    /* Five failures from one address, each for another user. */
    for (int i = 0; i < 5; i++) {
        char user[8];
        snprintf(user, sizeof(user), "u%d", i);
        assert_int_equal(pl_auth_limit_blocked(&l, "10.0.0.1", user, t, NULL), 0);
        pl_auth_limit_failed(&l, "10.0.0.1", user, t);
    }
    assert_int_equal(pl_auth_limit_blocked(&l, "10.0.0.1", "u9", t, &retry), 1);
    assert_true(retry > 11 * S && retry <= 12 * S + 1);
    assert_int_equal(pl_auth_limit_first(&l, "10.0.0.1", "u9"), 1);
    assert_int_equal(pl_auth_limit_first(&l, "10.0.0.1", "u9"), 0);
    /* Another address is free; so is u0 from it (one failure of five). */
    assert_int_equal(pl_auth_limit_blocked(&l, "10.0.0.2", "u0", t, NULL), 0);
    /* Five failures for one user from five addresses block that user. */
    for (int i = 0; i < 5; i++) {
        char addr[16];
        snprintf(addr, sizeof(addr), "10.1.0.%d", i);
        pl_auth_limit_failed(&l, addr, "carol", t);
    }
    assert_int_equal(pl_auth_limit_blocked(&l, "10.9.9.9", "carol", t, NULL), 1);
    assert_int_equal(pl_auth_limit_blocked(&l, "10.9.9.9", NULL, t, NULL), 0);
    /* A quiet minute: everything is forgotten. */
    pl_auth_limit_sweep(&l, t + 60 * (int64_t)S);
    assert_int_equal(l.by_addr.map.count, 0);
    assert_int_equal(l.by_user.map.count, 0);
    assert_int_equal(
        pl_auth_limit_blocked(&l, "10.0.0.1", "carol", t + 60 * (int64_t)S, NULL), 0);
    pl_auth_limit_free(&l);
    /* 0 turns it off. */
    pl_auth_limit_init(&l, 0);
    for (int i = 0; i < 100; i++)
        pl_auth_limit_failed(&l, "10.0.0.1", "dave", t);
    assert_int_equal(pl_auth_limit_blocked(&l, "10.0.0.1", "dave", t, NULL), 0);
    pl_auth_limit_free(&l);
}

static void test_addr_key(void **state)
{
    (void)state;
    char key[64];
    pl_limit_addr_key("127.0.0.5", key, sizeof(key));
    assert_string_equal(key, "127.0.0.5");
    /* One IPv6 host picks any address of its /64: they count as one. */
    pl_limit_addr_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", key, sizeof(key));
    assert_string_equal(key, "2001:db8:1:2::/64");
    pl_limit_addr_key("2001:db8:1:2::1", key, sizeof(key));
    assert_string_equal(key, "2001:db8:1:2::/64");
    pl_limit_addr_key("not an address", key, sizeof(key));
    assert_string_equal(key, "not an address");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_burst_then_rate),
        cmocka_unit_test(test_bucket_spend_is_a_debt),
        cmocka_unit_test(test_keyed_take_per_key),
        cmocka_unit_test(test_keyed_hold_release),
        cmocka_unit_test(test_keyed_sweep_and_bound),
        cmocka_unit_test(test_keyed_flag_once_per_episode),
        cmocka_unit_test(test_auth_limit_by_addr_and_user),
        cmocka_unit_test(test_addr_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
