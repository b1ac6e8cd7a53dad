/* Upload URL keys and signatures (auth_upload.h). HMAC-SHA256 and the
 * random bytes come from OpenSSL: nothing here is written by hand but the
 * message layout and the hex. */
#include "auth_upload.h"

#include "pl_error.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define LABEL "parley xep-0363 upload url key v1"

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int auth_upload_key_init(struct auth_upload_key *key, const char *upload_secret,
                         const char *jwt_secret)
{
    unsigned int len = 0;
    if (upload_secret && *upload_secret) {
        /* Any length: hashed into the key's size under the label. */
        if (!HMAC(EVP_sha256(), upload_secret, (int)strlen(upload_secret),
                  (const unsigned char *)LABEL, strlen(LABEL), key->k, &len))
            return PL_EIO;
        return PL_OK;
    }
    if (jwt_secret && *jwt_secret) {
        if (!HMAC(EVP_sha256(), jwt_secret, (int)strlen(jwt_secret),
                  (const unsigned char *)LABEL, strlen(LABEL), key->k, &len))
            return PL_EIO;
        return PL_OK;
    }
    return RAND_bytes(key->k, sizeof(key->k)) == 1 ? PL_OK : PL_EIO;
}

int auth_upload_pathkey(char out[AUTH_UPLOAD_PATHKEY_LEN])
{
    unsigned char r[16];
    if (RAND_bytes(r, sizeof(r)) != 1)
        return PL_EIO;
    to_hex(r, sizeof(r), out);
    return PL_OK;
}

int auth_upload_pathkey_valid(const char *s)
{
    if (!s || strlen(s) != AUTH_UPLOAD_PATHKEY_LEN - 1)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

/* The MAC over the parts, each ended by a NUL so that no two slots give
 * the same message (a name cannot hold a NUL). */
static int mac(const struct auth_upload_key *key, const char *pathkey, const char *name,
               uint64_t size, const char *content_type, int64_t expires,
               unsigned char out[32])
{
    const char *parts[3] = {pathkey, name, content_type};
    char msg[2048];
    size_t n = 0;
    memcpy(msg, "PUT", 4);
    n = 4;
    for (size_t i = 0; i < 3; i++) {
        size_t len = strlen(parts[i]) + 1;
        if (n + len > sizeof(msg) - 48)
            return PL_EINVAL;
        memcpy(msg + n, parts[i], len);
        n += len;
    }
    n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%" PRIu64, size) + 1;
    n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%" PRId64, expires) + 1;
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), key->k, sizeof(key->k), (const unsigned char *)msg, n, out,
              &len) ||
        len != 32)
        return PL_EIO;
    return PL_OK;
}

int auth_upload_sign(const struct auth_upload_key *key, const char *pathkey,
                     const char *name, uint64_t size, const char *content_type,
                     int64_t expires, char out[AUTH_UPLOAD_SIG_LEN])
{
    unsigned char m[32];
    int rc = mac(key, pathkey, name, size, content_type, expires, m);
    if (rc == PL_OK)
        to_hex(m, sizeof(m), out);
    return rc;
}

int auth_upload_verify(const struct auth_upload_key *key, const char *pathkey,
                       const char *name, uint64_t size, const char *content_type,
                       int64_t expires, const char *sig)
{
    char want[AUTH_UPLOAD_SIG_LEN];
    if (!sig || strlen(sig) != AUTH_UPLOAD_SIG_LEN - 1 ||
        auth_upload_sign(key, pathkey, name, size, content_type, expires, want) != PL_OK)
        return PL_EDENIED;
    return CRYPTO_memcmp(want, sig, AUTH_UPLOAD_SIG_LEN - 1) == 0 ? PL_OK : PL_EDENIED;
}
