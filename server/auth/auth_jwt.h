/* The one JWT verifier: the WebSocket upgrade, SASL and the admin API all use
 * it. The algorithm is pinned by configuration and checked against the
 * token's header after decoding; `alg: none` is never accepted. `exp` is
 * required; `nbf`, `iss` and `aud` are checked here because libjwt 1.10 does
 * not check them. A verifier is immutable after creation and may be shared
 * by threads. */
#ifndef AUTH_JWT_H
#define AUTH_JWT_H

#include <stddef.h>

struct auth_verifier;

/* The longest token auth_verify accepts; a longer one is refused before
 * any decoding (real tokens are a few hundred bytes). */
#define AUTH_TOKEN_MAX 8192

struct auth_config {
    const char *alg;             /* "HS256", "RS256" or "ES256" */
    const char *secret;          /* HS256 secret; NULL otherwise */
    const char *public_key_pem;  /* RS256/ES256: PEM text of the public key */
    const char *private_key_pem; /* optional: lets auth_token_issue sign RS/ES */
    const char *issuer;          /* required `iss` value, or NULL for no check */
    const char *audience;        /* required `aud` value, or NULL for no check */
    long leeway;                 /* seconds of clock skew allowed on exp/nbf */
};

enum auth_result {
    AUTH_OK = 0,
    AUTH_MISSING,       /* no token at all */
    AUTH_MALFORMED,     /* not a JWT */
    AUTH_BAD_ALG,       /* none, or not the configured algorithm */
    AUTH_BAD_SIGNATURE, /* signature does not verify */
    AUTH_EXPIRED,       /* exp missing or in the past */
    AUTH_NOT_YET_VALID, /* nbf in the future */
    AUTH_BAD_CLAIMS,    /* sub missing/empty, or iss/aud mismatch */
};

struct auth_claims {
    char *subject; /* `sub`, owned, as in the token (not yet normalised) */
    int admin;     /* 1 if `role` is "admin" */
    long expires;  /* `exp` */
};

/* Builds a verifier; on failure writes why into err. Copies what it keeps. */
int auth_verifier_new(const struct auth_config *cfg, struct auth_verifier **out,
                      char *err, size_t errlen);
void auth_verifier_free(struct auth_verifier *v);

/* Verifies `token` at time `now` (seconds since the epoch). Returns PL_OK and
 * fills `out` (caller frees with auth_claims_free), or PL_EDENIED with the
 * reason in `why`. `token` may be NULL (AUTH_MISSING). */
int auth_verify(const struct auth_verifier *v, const char *token, long now,
                struct auth_claims *out, enum auth_result *why);
void auth_claims_free(struct auth_claims *c);
const char *auth_result_str(enum auth_result r);

/* Signs a token for `subject` valid for `ttl` seconds from `now`, with
 * "role":"admin" when `admin`. Needs the HS256 secret or a private key:
 * PL_ESTATE otherwise. The caller frees *out. */
int auth_token_issue(const struct auth_verifier *v, const char *subject, int admin,
                     long ttl, long now, char **out);

/* Base64 (RFC 4648, with padding), as SASL needs it. Decoding rejects bad
 * characters and bad padding with PL_EINVAL. Output is NUL-terminated and
 * owned by the caller. */
int auth_b64_decode(const char *in, size_t len, unsigned char **out, size_t *outlen);
int auth_b64_encode(const unsigned char *in, size_t len, char **out);

#endif
