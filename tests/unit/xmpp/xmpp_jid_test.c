/* JID parsing and normalisation (RFC 7622). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "pl_error.h"
#include "xmpp_jid.h"

#include <stdlib.h>
#include <string.h>

static void assert_jid(const char *in, const char *local, const char *domain,
                       const char *resource)
{
    struct xmpp_jid j;
    assert_int_equal(xmpp_jid_parse(in, &j), PL_OK);
    if (local)
        assert_string_equal(j.local, local);
    else
        assert_null(j.local);
    assert_string_equal(j.domain, domain);
    if (resource)
        assert_string_equal(j.resource, resource);
    else
        assert_null(j.resource);
    xmpp_jid_free(&j);
}

static void assert_bad(const char *in)
{
    struct xmpp_jid j = {NULL, NULL, NULL};
    if (xmpp_jid_parse(in, &j) != PL_EINVAL)
        fail_msg("accepted bad JID \"%s\"", in);
    assert_null(j.domain);
}

static void test_parse_forms(void **state)
{
    assert_jid("alice@localhost", "alice", "localhost", NULL);
    assert_jid("alice@localhost/web-1", "alice", "localhost", "web-1");
    assert_jid("localhost", NULL, "localhost", NULL);
    assert_jid("localhost/res", NULL, "localhost", "res");
    assert_jid("a@b/c/d", "a", "b", "c/d");
    assert_jid("a@b/c@d", "a", "b", "c@d");
    assert_jid("group-1@conference.localhost/Bob Smith", "group-1",
               "conference.localhost", "Bob Smith");
}

static void test_normalises_case(void **state)
{
    /* Localpart and domain are lower-cased; the resource keeps its case. */
    assert_jid("Alice@LocalHost/Phone", "alice", "localhost", "Phone");
    /* RFC 7622 section 3.2: a trailing dot of the domain is dropped. */
    assert_jid("bob@example.com./r", "bob", "example.com", "r");
    /* Non-ASCII UTF-8 is kept as is. */
    assert_jid("j\xc3\xbcrgen@localhost", "j\xc3\xbcrgen", "localhost", NULL);
}

static void test_rejects(void **state)
{
    assert_bad("");
    assert_bad("@b");
    assert_bad("a@");
    assert_bad("b/");
    assert_bad("a@b/");
    assert_bad("/res");
    assert_bad("a@b@c");
    assert_bad("a b@localhost");
    assert_bad("a:b@localhost");
    assert_bad("a<b@localhost");
    assert_bad("a>b@localhost");
    assert_bad("a&b@localhost");
    assert_bad("a'b@localhost");
    assert_bad("a\"b@localhost");
    assert_bad("a\tb@localhost");
    assert_bad("a@local host");
    assert_bad("a@..com");
    assert_bad("a@.");
    assert_bad("a@localhost/r\x01");
    assert_bad("a@localhost/r\x7f");
    assert_bad("\xff@localhost");         /* not UTF-8 */
    assert_bad("\xc0\xaf@localhost");     /* overlong */
    assert_bad("\xed\xa0\x80@localhost"); /* surrogate */
    assert_bad("a@localhost/\xe2\x82");   /* truncated */
    assert_bad(NULL);
}

static void test_length_limits(void **state)
{
    char *s = malloc(2100);
    struct xmpp_jid j;
    memset(s, 'a', 1023);
    strcpy(s + 1023, "@localhost");
    assert_int_equal(xmpp_jid_parse(s, &j), PL_OK);
    assert_int_equal(strlen(j.local), 1023);
    xmpp_jid_free(&j);
    memset(s, 'a', 1024);
    strcpy(s + 1024, "@localhost");
    assert_int_equal(xmpp_jid_parse(s, &j), PL_EINVAL);
    strcpy(s, "a@localhost/");
    memset(s + 12, 'r', 1024);
    s[12 + 1024] = '\0';
    assert_int_equal(xmpp_jid_parse(s, &j), PL_EINVAL);
    s[12 + 1023] = '\0';
    assert_int_equal(xmpp_jid_parse(s, &j), PL_OK);
    xmpp_jid_free(&j);
    free(s);
}

static void test_normalize_local(void **state)
{
    char *out = NULL;
    assert_int_equal(xmpp_jid_normalize_local("Alice", &out), PL_OK);
    assert_string_equal(out, "alice");
    free(out);
    out = NULL;
    assert_int_equal(xmpp_jid_normalize_local("", &out), PL_EINVAL);
    assert_int_equal(xmpp_jid_normalize_local("a@b", &out), PL_EINVAL);
    assert_int_equal(xmpp_jid_normalize_local("a/b", &out), PL_EINVAL);
    assert_int_equal(xmpp_jid_normalize_local("a b", &out), PL_EINVAL);
    assert_int_equal(xmpp_jid_normalize_local(NULL, &out), PL_EINVAL);
    assert_null(out);
}

static void test_bare_full(void **state)
{
    struct xmpp_jid j;
    assert_int_equal(xmpp_jid_parse("Alice@Localhost/Web", &j), PL_OK);
    char *bare = xmpp_jid_bare(&j);
    char *full = xmpp_jid_full(&j);
    assert_string_equal(bare, "alice@localhost");
    assert_string_equal(full, "alice@localhost/Web");
    free(bare);
    free(full);
    xmpp_jid_free(&j);
    assert_null(j.domain);
    assert_int_equal(xmpp_jid_parse("conference.localhost", &j), PL_OK);
    bare = xmpp_jid_bare(&j);
    full = xmpp_jid_full(&j);
    assert_string_equal(bare, "conference.localhost");
    assert_string_equal(full, "conference.localhost");
    free(bare);
    free(full);
    xmpp_jid_free(&j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_forms),     cmocka_unit_test(test_normalises_case),
        cmocka_unit_test(test_rejects),         cmocka_unit_test(test_length_limits),
        cmocka_unit_test(test_normalize_local), cmocka_unit_test(test_bare_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
