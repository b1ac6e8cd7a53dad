/* XEP-0363 upload URLs: the random path key of a slot and the HMAC that
 * signs its PUT URL (OpenSSL's HMAC-SHA256), so that the admin API's
 * listener takes a PUT only for a slot the XMPP loop granted, with the
 * name, size and content type granted, before the URL's end. The chat
 * layer signs, the API verifies; neither sees OpenSSL. */
#ifndef AUTH_UPLOAD_H
#define AUTH_UPLOAD_H

#include <stddef.h>
#include <stdint.h>

#define AUTH_UPLOAD_KEY_BYTES 32
/* A path key: 32 lower-case hex digits (128 random bits) and a NUL. */
#define AUTH_UPLOAD_PATHKEY_LEN 33
/* A signature: 64 lower-case hex digits and a NUL. */
#define AUTH_UPLOAD_SIG_LEN 65

struct auth_upload_key {
    unsigned char k[AUTH_UPLOAD_KEY_BYTES];
};

/* The signing key: from upload_secret (PARLEY_UPLOAD_SECRET) if set, else
 * derived from jwt_secret (an HMAC of a fixed label under it, so the JWT
 * secret itself never signs a URL), else random for this process (a key
 * pair for the JWT: URLs then do not outlive a restart, nor reach another
 * node). PL_EIO if the random source fails. */
int auth_upload_key_init(struct auth_upload_key *key, const char *upload_secret,
                         const char *jwt_secret);
/* A new random path key into out. PL_EIO if the random source fails. */
int auth_upload_pathkey(char out[AUTH_UPLOAD_PATHKEY_LEN]);
/* 1 if s is a path key's shape (32 lower-case hex digits). */
int auth_upload_pathkey_valid(const char *s);
/* The signature of a PUT URL over every part of the slot. */
int auth_upload_sign(const struct auth_upload_key *key, const char *pathkey,
                     const char *name, uint64_t size, const char *content_type,
                     int64_t expires, char out[AUTH_UPLOAD_SIG_LEN]);
/* PL_OK if sig is the signature of those (compared in constant time),
 * PL_EDENIED if not. */
int auth_upload_verify(const struct auth_upload_key *key, const char *pathkey,
                       const char *name, uint64_t size, const char *content_type,
                       int64_t expires, const char *sig);

#endif
