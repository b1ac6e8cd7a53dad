/* Standard base64 as SASL uses it: RFC 4648 vectors, round trips over
 * binary data, and the inputs EVP_DecodeBlock alone would let through. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "auth_jwt.h"
#include "pl_error.h"

static void test_rfc4648_vectors(void **state)
{
    /* RFC 4648 section 10. */
    const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *coded[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                           "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};

    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        char *enc = NULL;
        unsigned char *dec = NULL;
        size_t n = 99;

        assert_int_equal(
            auth_b64_encode((const unsigned char *)plain[i], strlen(plain[i]), &enc),
            PL_OK);
        assert_string_equal(enc, coded[i]);
        assert_int_equal(auth_b64_decode(coded[i], strlen(coded[i]), &dec, &n), PL_OK);
        assert_int_equal(n, strlen(plain[i]));
        assert_memory_equal(dec, plain[i], n);
        assert_int_equal(dec[n], '\0');
        free(enc);
        free(dec);
    }
}

static void test_empty(void **state)
{
    unsigned char *dec = NULL;
    char *enc = NULL;
    size_t n = 7;

    assert_int_equal(auth_b64_decode("", 0, &dec, &n), PL_OK);
    assert_non_null(dec);
    assert_int_equal(n, 0);
    assert_int_equal(dec[0], '\0');
    free(dec);
    dec = NULL;
    /* NULL with length 0 is an empty input too. */
    assert_int_equal(auth_b64_decode(NULL, 0, &dec, &n), PL_OK);
    assert_int_equal(n, 0);
    free(dec);
    assert_int_equal(auth_b64_encode(NULL, 0, &enc), PL_OK);
    assert_string_equal(enc, "");
    free(enc);
}

static void test_binary_round_trip(void **state)
{
    unsigned char data[300];

    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 37 + 11);
    data[5] = 0; /* SASL PLAIN is NUL-separated */
    for (size_t len = 0; len <= sizeof(data); len++) {
        char *enc = NULL;
        unsigned char *dec = NULL;
        size_t n = 0;

        assert_int_equal(auth_b64_encode(data, len, &enc), PL_OK);
        assert_int_equal(strlen(enc), (len + 2) / 3 * 4);
        assert_int_equal(auth_b64_decode(enc, strlen(enc), &dec, &n), PL_OK);
        assert_int_equal(n, len);
        if (len > 0)
            assert_memory_equal(dec, data, len);
        assert_int_equal(dec[n], '\0');
        free(enc);
        free(dec);
    }
}

static void test_sasl_plain(void **state)
{
    /* "\0alice\0secret" */
    const char *in = "AGFsaWNlAHNlY3JldA==";
    unsigned char *dec = NULL;
    size_t n = 0;

    assert_int_equal(auth_b64_decode(in, strlen(in), &dec, &n), PL_OK);
    assert_int_equal(n, 13);
    assert_memory_equal(dec, "\0alice\0secret", 13);
    free(dec);
}

static void test_rejects(void **state)
{
    const char *bad[] = {
        "Zg=",      /* not whole blocks */
        "Zg",       /* unpadded */
        "Zm9",      /* unpadded */
        "Z===",     /* three pad characters */
        "====",     /* only padding */
        "Zg==Zg==", /* padding inside */
        "Zm=v",     /* '=' inside a block */
        "Zh==",     /* pad bits set: not the encoding of anything canonical */
        "Zm9=",     /* pad bits set */
        "Zm9v\n",   /* whitespace */
        " Zm9v",    /* EVP_DecodeBlock would skip this */
        "Zm9v ",    /* ... and this */
        "Zm9-",     /* base64url is not base64 */
        "Zm9_",     /* */
        "Zm9!",     /* */
        "Zm\x80v",  /* high byte */
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unsigned char *dec = (unsigned char *)"sentinel";
        size_t n = 5;

        assert_int_equal(auth_b64_decode(bad[i], strlen(bad[i]), &dec, &n), PL_EINVAL);
        assert_null(dec);
        assert_int_equal(n, 0);
    }
    /* An embedded NUL counts: the length, not the terminator, is the input. */
    {
        unsigned char *dec = NULL;
        size_t n = 0;
        assert_int_equal(auth_b64_decode("Zm9v\0Zm9", 8, &dec, &n), PL_EINVAL);
        assert_null(dec);
        /* ... and a shorter length reads only that much. */
        assert_int_equal(auth_b64_decode("Zm9vGARBAGE", 4, &dec, &n), PL_OK);
        assert_int_equal(n, 3);
        assert_string_equal((char *)dec, "foo");
        free(dec);
    }
    /* Arguments. */
    {
        unsigned char *dec = NULL;
        size_t n;
        char *enc = NULL;
        assert_int_equal(auth_b64_decode(NULL, 4, &dec, &n), PL_EINVAL);
        assert_int_equal(auth_b64_decode("Zm9v", 4, NULL, &n), PL_EINVAL);
        assert_int_equal(auth_b64_decode("Zm9v", 4, &dec, NULL), PL_EINVAL);
        assert_int_equal(auth_b64_encode(NULL, 3, &enc), PL_EINVAL);
        assert_int_equal(auth_b64_encode((const unsigned char *)"abc", 3, NULL),
                         PL_EINVAL);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_vectors),   cmocka_unit_test(test_empty),
        cmocka_unit_test(test_binary_round_trip), cmocka_unit_test(test_sasl_plain),
        cmocka_unit_test(test_rejects),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
