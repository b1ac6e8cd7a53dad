/* Where a request carries its token: the auth_token cookie, else a Bearer
 * Authorization header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "auth_http.h"
#include "pl_error.h"

/* The token found in (cookie, authorization), or NULL when PL_ENOENT. */
static char *found(const char *cookie, const char *authorization)
{
    char *t = (char *)1;
    int rc = auth_token_from_headers(cookie, authorization, &t);
    if (rc == PL_ENOENT) {
        assert_ptr_equal(t, (char *)1); /* untouched */
        return NULL;
    }
    assert_int_equal(rc, PL_OK);
    assert_non_null(t);
    return t;
}

static void expect(const char *cookie, const char *authorization, const char *want)
{
    char *t = found(cookie, authorization);
    if (!want) {
        if (t)
            fail_msg("expected no token from (%s, %s), got %s", cookie ? cookie : "NULL",
                     authorization ? authorization : "NULL", t);
        return;
    }
    if (!t)
        fail_msg("expected %s from (%s, %s), got none", want, cookie ? cookie : "NULL",
                 authorization ? authorization : "NULL");
    assert_string_equal(t, want);
    free(t);
}

static void test_cookie(void **state)
{
    expect("auth_token=abc.def.ghi", NULL, "abc.def.ghi");
    expect("a=b; auth_token=T1; c=d", NULL, "T1");
    expect("a=b;auth_token=T2;c=d", NULL, "T2");
    expect("  auth_token = T3  ", NULL, "T3");
    expect("auth_token=\"T4\"", NULL, "T4");
    expect("auth_token=\tT5\t; x=1", NULL, "T5");
    /* The first auth_token wins. */
    expect("auth_token=first; auth_token=second", NULL, "first");
    /* Names that only look alike are other cookies. */
    expect("xauth_token=T; auth_token_old=T; Auth_Token=T", NULL, NULL);
    expect("auth_token", NULL, NULL);
    expect("auth_token=", NULL, NULL);
    expect("auth_token=\"\"", NULL, NULL);
    expect("auth_token=;", NULL, NULL);
    expect("", NULL, NULL);
    expect(";;; ;", NULL, NULL);
    /* A value may hold '=' (base64 padding). */
    expect("auth_token=a=b=", NULL, "a=b=");
    /* Outside the cookie syntax (RFC 6265 section 4.1.1): an unpaired
     * quote, a backslash, a comma or a space inside is no token (the
     * fuzzer found the first one handed out with its quote). */
    expect("auth_token=.tok.en\"", NULL, NULL);
    expect("auth_token=\"abc", NULL, NULL);
    expect("auth_token=a\\b", NULL, NULL);
    expect("auth_token=a,b", NULL, NULL);
    expect("auth_token=a b", NULL, NULL);
}

static void test_bearer(void **state)
{
    expect(NULL, "Bearer tok", "tok");
    expect(NULL, "bEaReR   tok  ", "tok");
    expect(NULL, "\tBearer\ttok", "tok");
    expect(NULL, "Bearer", NULL);
    expect(NULL, "Bearer ", NULL);
    expect(NULL, "Bearertok", NULL);
    expect(NULL, "Basic dXNlcjpwYXNz", NULL);
    expect(NULL, "", NULL);
    /* The credential is a b64token (RFC 6750 section 2.1): anything else
     * is no token at all. */
    expect(NULL, "Bearer a b", NULL);
    expect(NULL, "Bearer a,b", NULL);
    expect(NULL, "Bearer \"tok\"", NULL);
    expect(NULL, "Bearer ===", NULL);
    expect(NULL, "Bearer A-z_0.9~+/==", "A-z_0.9~+/==");
    expect(NULL, "Bearer a=b", NULL);
}

static void test_precedence(void **state)
{
    /* The cookie first, the header when the cookie has no token. */
    expect("auth_token=fromcookie", "Bearer fromheader", "fromcookie");
    expect("theme=dark", "Bearer fromheader", "fromheader");
    expect("auth_token=", "Bearer fromheader", "fromheader");
    expect("auth_token=bad\"", "Bearer fromheader", "fromheader");
    expect(NULL, NULL, NULL);
}

static void test_sizes(void **state)
{
    /* The size constants leave room for the largest token accepted. */
    assert_true(AUTH_HTTP_AUTHORIZATION_MAX >= AUTH_TOKEN_MAX + strlen("Bearer "));
    assert_true(AUTH_HTTP_COOKIE_MAX >= AUTH_TOKEN_MAX + strlen(AUTH_HTTP_COOKIE "=;"));
    size_t n = AUTH_TOKEN_MAX;
    char *big = malloc(strlen("auth_token=") + n + 1);
    strcpy(big, "auth_token=");
    memset(big + strlen(big), 'x', n);
    big[strlen("auth_token=") + n] = '\0';
    char *t = found(big, NULL);
    assert_non_null(t);
    assert_int_equal(strlen(t), n);
    free(t);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cookie),
        cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
