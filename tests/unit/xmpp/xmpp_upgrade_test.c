/* The upgrade's authentication (xmpp_upgrade_auth): the token from the
 * cookie or the Bearer header, verified now, whose `sub` is a prepared
 * username of an allowed user. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth_jwt.h"
#include "pl_error.h"
#include "xmpp_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SECRET "unit-test-secret-0123456789abcdef"

struct fixture {
    struct auth_verifier *verifier;
    struct xmpp_env env;
    const char *disabled_user;
    int allowed_calls;
};

static int fake_user_allowed(void *ctx, const char *username)
{
    struct fixture *f = ctx;
    f->allowed_calls++;
    return !(f->disabled_user && strcmp(f->disabled_user, username) == 0);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct auth_config cfg = {.alg = "HS256", .secret = SECRET};
    char err[200];
    assert_int_equal(auth_verifier_new(&cfg, &f->verifier, err, sizeof(err)), PL_OK);
    f->env.domain = "localhost";
    f->env.verifier = f->verifier;
    f->env.hooks.ctx = f;
    f->env.hooks.user_allowed = fake_user_allowed;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    auth_verifier_free(f->verifier);
    free(f);
    return 0;
}

static char *token_for(struct fixture *f, const char *user)
{
    char *tok = NULL;
    assert_int_equal(auth_token_issue(f->verifier, user, 0, 3600, (long)time(NULL), &tok),
                     PL_OK);
    return tok;
}

/* Runs the upgrade with the token for `sub` in a Bearer header. */
static int bearer_upgrade(struct fixture *f, const char *sub, char **user)
{
    char *tok = token_for(f, sub);
    char hdr[1200];
    snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
    int rc = xmpp_upgrade_auth(&f->env, NULL, hdr, (long)time(NULL), user);
    free(tok);
    return rc;
}

static void test_cookie(void **state)
{
    struct fixture *f = *state;
    char *tok = token_for(f, "alice");
    char cookie[1200];
    char *user = NULL;
    snprintf(cookie, sizeof(cookie), "a=b; auth_token=%s; c=d", tok);
    assert_int_equal(xmpp_upgrade_auth(&f->env, cookie, NULL, (long)time(NULL), &user),
                     PL_OK);
    assert_string_equal(user, "alice");
    free(user);
    user = NULL;
    snprintf(cookie, sizeof(cookie), "auth_token=\"%s\"", tok);
    assert_int_equal(xmpp_upgrade_auth(&f->env, cookie, NULL, (long)time(NULL), &user),
                     PL_OK);
    free(user);
    user = NULL;
    /* A cookie with a similar name is not the token. */
    snprintf(cookie, sizeof(cookie), "xauth_token=%s; auth_token_old=%s", tok, tok);
    assert_int_equal(xmpp_upgrade_auth(&f->env, cookie, NULL, (long)time(NULL), &user),
                     PL_EDENIED);
    assert_null(user);
    /* Expired at `now`. */
    snprintf(cookie, sizeof(cookie), "auth_token=%s", tok);
    assert_int_equal(
        xmpp_upgrade_auth(&f->env, cookie, NULL, (long)time(NULL) + 7200, &user),
        PL_EDENIED);
    assert_null(user);
    free(tok);
}

static void test_bearer(void **state)
{
    struct fixture *f = *state;
    char *tok = token_for(f, "bob");
    char hdr[1200];
    char *user = NULL;
    snprintf(hdr, sizeof(hdr), "bEaReR %s", tok);
    assert_int_equal(
        xmpp_upgrade_auth(&f->env, "theme=dark", hdr, (long)time(NULL), &user), PL_OK);
    assert_string_equal(user, "bob");
    free(user);
    user = NULL;
    snprintf(hdr, sizeof(hdr), "Basic %s", tok);
    assert_int_equal(xmpp_upgrade_auth(&f->env, NULL, hdr, (long)time(NULL), &user),
                     PL_EDENIED);
    /* A bad cookie token is not rescued by a good header: the cookie is
     * where the token is looked for first. */
    snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
    assert_int_equal(xmpp_upgrade_auth(&f->env, "auth_token=abc.def.ghi", hdr,
                                       (long)time(NULL), &user),
                     PL_EDENIED);
    assert_null(user);
    free(tok);
}

static void test_refusals(void **state)
{
    struct fixture *f = *state;
    char *user = NULL;
    long now = (long)time(NULL);
    assert_int_equal(xmpp_upgrade_auth(&f->env, NULL, NULL, now, &user), PL_EDENIED);
    assert_int_equal(xmpp_upgrade_auth(&f->env, "auth_token=", NULL, now, &user),
                     PL_EDENIED);
    assert_int_equal(
        xmpp_upgrade_auth(&f->env, "auth_token=abc.def.ghi", NULL, now, &user),
        PL_EDENIED);
    assert_int_equal(xmpp_upgrade_auth(&f->env, NULL, "Bearer nope", now, &user),
                     PL_EDENIED);
    /* A token signed with another secret. */
    struct auth_config cfg = {.alg = "HS256",
                              .secret = "another-secret-0123456789abcdef!"};
    struct auth_verifier *other = NULL;
    char err[200];
    char *tok = NULL;
    char hdr[1200];
    assert_int_equal(auth_verifier_new(&cfg, &other, err, sizeof(err)), PL_OK);
    assert_int_equal(auth_token_issue(other, "alice", 0, 3600, now, &tok), PL_OK);
    snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
    assert_int_equal(xmpp_upgrade_auth(&f->env, NULL, hdr, now, &user), PL_EDENIED);
    free(tok);
    auth_verifier_free(other);
    assert_null(user);
    assert_int_equal(f->allowed_calls, 0);
}

/* A subject that preparation would change is refused, not mapped onto the
 * account it looks like: an identity provider that tells "Bob" from "bob"
 * must not have both log in as bob. */
static void test_subject_must_be_prepared(void **state)
{
    struct fixture *f = *state;
    char *user = NULL;
    static const char *const refused[] = {
        "Alice",                                /* upper case */
        "\xef\xbd\x82\xef\xbd\x8f\xef\xbd\x82", /* fullwidth bob */
        "bob\xe2\x80\x8b",                      /* bob + U+200B */
        "bob\xc2\x85",                          /* bob + U+0085 */
        "bob\xc2\xad",                          /* bob + soft hyphen */
        "stra\xc3\x9f"
        "e",                   /* folds to strasse */
        "a b",                 /* space */
        "a@b",                 /* '@' */
        "bob\xf0\x9f\x98\x80", /* unassigned in Unicode 3.2 */
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        if (bearer_upgrade(f, refused[i], &user) != PL_EDENIED)
            fail_msg("subject \"%s\" was accepted as \"%s\"", refused[i], user);
        assert_null(user);
    }
    assert_int_equal(f->allowed_calls, 0);
    assert_int_equal(bearer_upgrade(f, "j\xc3\xbcrgen", &user), PL_OK);
    assert_string_equal(user, "j\xc3\xbcrgen");
    free(user);
}

static void test_disabled_user(void **state)
{
    struct fixture *f = *state;
    char *user = NULL;
    f->disabled_user = "carol";
    assert_int_equal(bearer_upgrade(f, "carol", &user), PL_EDENIED);
    assert_null(user);
    assert_int_equal(f->allowed_calls, 1);
    f->disabled_user = NULL;
    assert_int_equal(bearer_upgrade(f, "carol", &user), PL_OK);
    assert_string_equal(user, "carol");
    free(user);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_cookie),        T(test_bearer),
        T(test_refusals),      T(test_subject_must_be_prepared),
        T(test_disabled_user),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
