/* Upload URL keys and signatures (auth_upload.c): the key derivation, the
 * path keys' shape, and a signature that holds only for the slot it was
 * made for. */
#include "auth_upload.h"

#include "pl_error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void test_keys(void **state)
{
    struct auth_upload_key a, b, c, r1, r2;
    assert_int_equal(auth_upload_key_init(&a, NULL, "jwt-secret"), PL_OK);
    assert_int_equal(auth_upload_key_init(&b, NULL, "jwt-secret"), PL_OK);
    assert_memory_equal(a.k, b.k, sizeof(a.k));
    /* Not the JWT secret itself, and another secret gives another key. */
    assert_memory_not_equal(a.k, "jwt-secret", strlen("jwt-secret"));
    assert_int_equal(auth_upload_key_init(&c, "upload-secret", "jwt-secret"), PL_OK);
    assert_memory_not_equal(a.k, c.k, sizeof(a.k));
    assert_int_equal(auth_upload_key_init(&r1, NULL, NULL), PL_OK);
    assert_int_equal(auth_upload_key_init(&r2, NULL, NULL), PL_OK);
    assert_memory_not_equal(r1.k, r2.k, sizeof(r1.k));
}

static void test_pathkeys(void **state)
{
    char a[AUTH_UPLOAD_PATHKEY_LEN], b[AUTH_UPLOAD_PATHKEY_LEN];
    assert_int_equal(auth_upload_pathkey(a), PL_OK);
    assert_int_equal(auth_upload_pathkey(b), PL_OK);
    assert_int_equal(strlen(a), 32);
    assert_string_not_equal(a, b);
    assert_true(auth_upload_pathkey_valid(a));
    assert_false(auth_upload_pathkey_valid(NULL));
    assert_false(auth_upload_pathkey_valid(""));
    assert_false(auth_upload_pathkey_valid("0123456789abcdef0123456789abcdeF"));
    assert_false(auth_upload_pathkey_valid("0123456789abcdef0123456789abcde"));
    assert_false(auth_upload_pathkey_valid("0123456789abcdef0123456789abcdef0"));
    assert_false(auth_upload_pathkey_valid("../456789abcdef0123456789abcdef01"));
}

static void test_signatures(void **state)
{
    struct auth_upload_key k, other;
    assert_int_equal(auth_upload_key_init(&k, "s", NULL), PL_OK);
    assert_int_equal(auth_upload_key_init(&other, "t", NULL), PL_OK);
    const char *key = "00112233445566778899aabbccddeeff";
    char sig[AUTH_UPLOAD_SIG_LEN];
    assert_int_equal(auth_upload_sign(&k, key, "a.png", 10, "image/png", 1700000000, sig),
                     PL_OK);
    assert_int_equal(strlen(sig), 64);
    assert_int_equal(
        auth_upload_verify(&k, key, "a.png", 10, "image/png", 1700000000, sig), PL_OK);
    /* Every part counts. */
    assert_int_equal(
        auth_upload_verify(&other, key, "a.png", 10, "image/png", 1700000000, sig),
        PL_EDENIED);
    assert_int_equal(auth_upload_verify(&k, "00112233445566778899aabbccddeefe", "a.png",
                                        10, "image/png", 1700000000, sig),
                     PL_EDENIED);
    assert_int_equal(
        auth_upload_verify(&k, key, "b.png", 10, "image/png", 1700000000, sig),
        PL_EDENIED);
    assert_int_equal(
        auth_upload_verify(&k, key, "a.png", 11, "image/png", 1700000000, sig),
        PL_EDENIED);
    assert_int_equal(
        auth_upload_verify(&k, key, "a.png", 10, "image/gif", 1700000000, sig),
        PL_EDENIED);
    assert_int_equal(
        auth_upload_verify(&k, key, "a.png", 10, "image/png", 1700000001, sig),
        PL_EDENIED);
    /* Parts do not run into each other: "a.png" + "1" is not "a.png1". */
    char sig2[AUTH_UPLOAD_SIG_LEN];
    assert_int_equal(
        auth_upload_sign(&k, key, "a.png1", 0, "image/png", 1700000000, sig2), PL_OK);
    assert_string_not_equal(sig, sig2);
    assert_int_equal(
        auth_upload_verify(&k, key, "a.png", 10, "image/png", 1700000000, NULL),
        PL_EDENIED);
    assert_int_equal(
        auth_upload_verify(&k, key, "a.png", 10, "image/png", 1700000000, "abc"),
        PL_EDENIED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_pathkeys),
        cmocka_unit_test(test_signatures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
