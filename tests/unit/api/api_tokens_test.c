/* The cache of admin tokens verified lately: a hit gives the subject, an
 * expired or unknown token is a miss, a ninth token replaces the oldest,
 * one token takes one slot. */
#include "api_internal.h"
#include "pl_error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_tokens_hit_and_miss(void **state)
{
    (void)state;
    struct api_token_cache c;
    char *actor = (char *)"unset";
    api_token_cache_init(&c);
    assert_int_equal(api_token_cache_get(&c, "aaa.bbb.ccc", 100, &actor), PL_ENOENT);
    assert_null(actor);
    api_token_cache_put(&c, "aaa.bbb.ccc", 200, "root");
    assert_int_equal(api_token_cache_get(&c, "aaa.bbb.ccc", 199, &actor), PL_OK);
    assert_string_equal(actor, "root");
    free(actor);
    /* The same length, one byte apart; a prefix; a longer token. */
    assert_int_equal(api_token_cache_get(&c, "aaa.bbb.ccd", 100, &actor), PL_ENOENT);
    assert_int_equal(api_token_cache_get(&c, "aaa.bbb.cc", 100, &actor), PL_ENOENT);
    assert_int_equal(api_token_cache_get(&c, "aaa.bbb.ccc.", 100, &actor), PL_ENOENT);
    /* At `exp` it is a miss, and stays one. */
    assert_int_equal(api_token_cache_get(&c, "aaa.bbb.ccc", 200, &actor), PL_ENOENT);
    assert_int_equal(api_token_cache_get(&c, "aaa.bbb.ccc", 150, &actor), PL_ENOENT);
    assert_null(actor);
    api_token_cache_free(&c);
}

static void test_tokens_replaced_in_turn(void **state)
{
    (void)state;
    struct api_token_cache c;
    char tok[32], sub[32], *actor;
    api_token_cache_init(&c);
    api_token_cache_put(&c, "t-first", 1000, "first");
    api_token_cache_put(&c, "t-first", 1000, "first"); /* again: the same slot */
    for (int i = 1; i < API_TOKEN_CACHE_SLOTS; i++) {
        snprintf(tok, sizeof(tok), "t-%d", i);
        snprintf(sub, sizeof(sub), "admin%d", i);
        api_token_cache_put(&c, tok, 1000, sub);
    }
    assert_int_equal(api_token_cache_get(&c, "t-first", 10, &actor), PL_OK);
    assert_string_equal(actor, "first");
    free(actor);
    api_token_cache_put(&c, "t-new", 1000, "new"); /* replaces the oldest */
    assert_int_equal(api_token_cache_get(&c, "t-first", 10, &actor), PL_ENOENT);
    for (int i = 1; i < API_TOKEN_CACHE_SLOTS; i++) {
        snprintf(tok, sizeof(tok), "t-%d", i);
        snprintf(sub, sizeof(sub), "admin%d", i);
        assert_int_equal(api_token_cache_get(&c, tok, 10, &actor), PL_OK);
        assert_string_equal(actor, sub);
        free(actor);
    }
    assert_int_equal(api_token_cache_get(&c, "t-new", 10, &actor), PL_OK);
    assert_string_equal(actor, "new");
    free(actor);
    api_token_cache_free(&c);
}

static void test_same_secret(void **state)
{
    (void)state;
    assert_true(api_same_secret("s3cret", "s3cret"));
    assert_false(api_same_secret("s3cret", "s3creT"));
    assert_false(api_same_secret("s3cret", "s3cre"));
    assert_false(api_same_secret("s3cre", "s3cret"));
    assert_false(api_same_secret("", "x"));
    assert_false(api_same_secret("x", ""));
    assert_true(api_same_secret("", ""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens_hit_and_miss),
        cmocka_unit_test(test_tokens_replaced_in_turn),
        cmocka_unit_test(test_same_secret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
