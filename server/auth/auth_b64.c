/* Standard base64 (RFC 4648 section 4, with padding) for SASL. OpenSSL does
 * the block transform; we do the validation it does not: EVP_DecodeBlock
 * skips leading and trailing whitespace, accepts '=' anywhere in the last
 * block and counts padding as zero bytes in its result. */
#include "auth_jwt.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "pl_error.h"

/* The value of a base64 alphabet character, or -1. */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Checks that `in` is whole blocks of the alphabet with at most two '=' at
 * the very end, and that the bits the padding drops are zero (RFC 4648
 * section 3.5): one byte string has exactly one encoding, so two clients
 * cannot smuggle different texts past a comparison. Returns the number of
 * padding characters, or -1. */
static int b64_check(const char *in, size_t len)
{
    size_t pad = 0;
    size_t i;
    int last;

    if (len % 4 != 0)
        return -1;
    while (pad < 2 && pad < len && in[len - 1 - pad] == '=')
        pad++;
    for (i = 0; i < len - pad; i++) {
        if (b64_value((unsigned char)in[i]) < 0)
            return -1;
    }
    if (pad == 0)
        return 0;
    last = b64_value((unsigned char)in[len - pad - 1]);
    if (pad == 1 && (last & 0x03) != 0)
        return -1;
    if (pad == 2 && (last & 0x0f) != 0)
        return -1;
    return (int)pad;
}

int auth_b64_decode(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
    unsigned char *buf = NULL;
    int pad;
    int n;

    if (out == NULL || outlen == NULL || (in == NULL && len > 0))
        return PL_EINVAL;
    *out = NULL;
    *outlen = 0;
    /* EVP_DecodeBlock takes an int length. */
    if (len > (size_t)INT_MAX - 4)
        return PL_EINVAL;
    pad = b64_check(in, len);
    if (pad < 0)
        return PL_EINVAL;
    buf = malloc(len / 4 * 3 + 1);
    if (buf == NULL)
        return PL_ENOMEM;
    if (len == 0) {
        buf[0] = '\0';
        *out = buf;
        return PL_OK;
    }
    n = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)len);
    if (n < 0 || (size_t)n != len / 4 * 3) {
        free(buf);
        return PL_EINVAL;
    }
    /* EVP_DecodeBlock reports the padded length: drop the zero bytes that
     * stand for the '=' characters. */
    n -= pad;
    buf[n] = '\0';
    *out = buf;
    *outlen = (size_t)n;
    return PL_OK;
}

int auth_b64_encode(const unsigned char *in, size_t len, char **out)
{
    char *buf;
    size_t blocks;

    if (out == NULL || (in == NULL && len > 0))
        return PL_EINVAL;
    *out = NULL;
    /* EVP_EncodeBlock takes an int length and returns an int. */
    if (len > (size_t)INT_MAX / 4 * 3 - 3)
        return PL_EINVAL;
    blocks = (len + 2) / 3;
    buf = malloc(blocks * 4 + 1);
    if (buf == NULL)
        return PL_ENOMEM;
    buf[0] = '\0';
    if (len > 0)
        EVP_EncodeBlock((unsigned char *)buf, in, (int)len);
    *out = buf;
    return PL_OK;
}
