/* JID parsing and normalisation (RFC 7622). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "pl_error.h"
#include "xmpp_jid.h"

#include <stringprep.h>

#include <stdio.h>
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

/* Nodeprep and Resourceprep (libidn): look-alikes fold onto the plain
 * name or are refused; they never make a second name that looks the same. */
static void test_stringprep_folds(void **state)
{
    /* Fullwidth letters (U+FF42 U+FF4F U+FF42) are bob after NFKC. */
    assert_jid("\xef\xbd\x82\xef\xbd\x8f\xef\xbd\x82@localhost", "bob", "localhost",
               NULL);
    /* Fullwidth capitals fold and lower-case too. */
    assert_jid("\xef\xbc\xa2\xef\xbd\x8f\xef\xbd\x82@localhost", "bob", "localhost",
               NULL);
    /* Full case folding: Stra\u00dfe is strasse; the ohm sign is omega. */
    assert_jid("Stra\xc3\x9f"
               "e@localhost",
               "strasse", "localhost", NULL);
    assert_jid("\xe2\x84\xa6@localhost", "\xcf\x89", "localhost", NULL);
    /* A decomposed \u00fc is composed (NFKC). */
    assert_jid("ju\xcc\x88rgen@localhost", "j\xc3\xbcrgen", "localhost", NULL);
    /* Resources: NFKC without case folding. */
    assert_jid("a@localhost/\xef\xbd\x90hone", "a", "localhost", "phone");
    assert_jid("a@localhost/Phone Home", "a", "localhost", "Phone Home");
}

static void test_stringprep_refusals(void **state)
{
    assert_bad("bob\xe2\x80\x8b@localhost"); /* U+200B zero-width space */
    assert_bad("b\xe2\x80\x8d"
               "ob@localhost");          /* U+200D zero-width joiner */
    assert_bad("bob\xc2\xad@localhost"); /* U+00AD soft hyphen */
    assert_bad("\xef\xbb\xbf"
               "bob@localhost");                 /* U+FEFF BOM */
    assert_bad("bob\xef\xb8\x8f@localhost");     /* U+FE0F variation selector */
    assert_bad("bob\xc2\x85@localhost");         /* U+0085, a C1 control */
    assert_bad("bob\xc2\xa0x@localhost");        /* U+00A0, a non-ASCII space */
    assert_bad("bob\xe2\x80\xae@localhost");     /* U+202E right-to-left override */
    assert_bad("bob\xee\x80\x80@localhost");     /* U+E000 private use */
    assert_bad("a\xd7\x90@localhost");           /* L and RAL mixed (bidi) */
    assert_bad("a@localhost/phone\xe2\x80\x8b"); /* U+200B in a resource */
    assert_bad("a@localhost/r\xc2\x85");         /* C1 control in a resource */
    /* U+00A0 is a space after NFKC: fine in a resource, not in a localpart. */
    assert_jid("a@localhost/r\xc2\xa0s", "a", "localhost", "r s");
    /* Hebrew alone is fine. */
    assert_jid("\xd7\x90\xd7\x91@localhost", "\xd7\x90\xd7\x91", "localhost", NULL);
}

static void test_check_username(void **state)
{
    assert_int_equal(xmpp_jid_check_username("bob"), PL_OK);
    assert_int_equal(xmpp_jid_check_username("j\xc3\xbcrgen"), PL_OK);
    assert_int_equal(xmpp_jid_check_username("strasse"), PL_OK);
    assert_int_equal(xmpp_jid_check_username("u_0123.x-y"), PL_OK);
    /* Anything preparation would change is another name: refused. */
    assert_int_equal(xmpp_jid_check_username("Bob"), PL_EINVAL);
    assert_int_equal(xmpp_jid_check_username("\xef\xbd\x82\xef\xbd\x8f\xef\xbd\x82"),
                     PL_EINVAL);
    assert_int_equal(xmpp_jid_check_username("stra\xc3\x9f"
                                             "e"),
                     PL_EINVAL);
    assert_int_equal(xmpp_jid_check_username("ju\xcc\x88rgen"), PL_EINVAL);
    assert_int_equal(xmpp_jid_check_username("bob\xe2\x80\x8b"), PL_EINVAL);
    assert_int_equal(xmpp_jid_check_username("bob\xc2\x85"), PL_EINVAL);
    /* Unassigned in Unicode 3.2 (an emoji): fine in an address, not as an
     * account's name. */
    assert_int_equal(xmpp_jid_check_username("bob\xf0\x9f\x98\x80"), PL_EINVAL);
    assert_jid("bob\xf0\x9f\x98\x80@localhost", "bob\xf0\x9f\x98\x80", "localhost", NULL);
    assert_int_equal(xmpp_jid_check_username(""), PL_EINVAL);
    assert_int_equal(xmpp_jid_check_username("a@b"), PL_EINVAL);
    assert_int_equal(xmpp_jid_check_username("a b"), PL_EINVAL);
    assert_int_equal(xmpp_jid_check_username(NULL), PL_EINVAL);
}

/* The ASCII shortcut gives what libidn gives, for every ASCII character
 * in every position, in localparts and resources. */
static void test_ascii_matches_libidn(void **state)
{
    static const char *const profiles[] = {"Nodeprep", "Resourceprep"};
    for (int p = 0; p < 2; p++) {
        for (int c = 1; c < 128; c++) {
            for (int pos = 0; pos < 3; pos++) {
                char in[4] = "aZa";
                in[pos] = (char)c;
                char *lib = NULL;
                int lib_rc = stringprep_profile(in, &lib, profiles[p], 0);
                char *ours = NULL;
                int rc;
                if (p == 0) {
                    rc = xmpp_jid_normalize_local(in, &ours);
                } else {
                    struct xmpp_jid j;
                    char full[32];
                    snprintf(full, sizeof(full), "a@localhost/%s", in);
                    rc = xmpp_jid_parse(full, &j);
                    if (rc == PL_OK) {
                        ours = strdup(j.resource);
                        xmpp_jid_free(&j);
                    }
                }
                if ((lib_rc == STRINGPREP_OK) != (rc == PL_OK))
                    fail_msg("%s of \"%s\" (0x%02x): libidn %d, ours %d", profiles[p], in,
                             c, lib_rc, rc);
                if (rc == PL_OK && strcmp(lib, ours) != 0)
                    fail_msg("%s of 0x%02x: libidn \"%s\", ours \"%s\"", profiles[p], c,
                             lib, ours);
                free(lib);
                free(ours);
            }
        }
    }
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
    /* The limit holds after preparation: U+FDFA is 3 bytes that NFKC makes
     * 33, so 40 of them (120 bytes) prepare to 1,320. */
    s[0] = '\0';
    for (int i = 0; i < 40; i++)
        strcat(s, "\xef\xb7\xba");
    strcat(s, "@localhost");
    assert_int_equal(xmpp_jid_parse(s, &j), PL_EINVAL);
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
        cmocka_unit_test(test_parse_forms),
        cmocka_unit_test(test_normalises_case),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_stringprep_folds),
        cmocka_unit_test(test_stringprep_refusals),
        cmocka_unit_test(test_check_username),
        cmocka_unit_test(test_ascii_matches_libidn),
        cmocka_unit_test(test_length_limits),
        cmocka_unit_test(test_normalize_local),
        cmocka_unit_test(test_bare_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
