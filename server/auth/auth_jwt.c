/* JWT verification and issue over libjwt 1.10 (Debian 12).
 *
 * libjwt 1.10 trusts the token: jwt_decode() takes the algorithm from the
 * token's header, accepts `alg: none` (and skips the signature) when it is
 * given no key, and would HMAC-verify an "HS256" token with an RSA public
 * key's PEM text as the secret (key confusion). So we read the header first
 * (to refuse a foreign algorithm before any crypto, and to report it as
 * AUTH_BAD_ALG rather than a bad signature), verify only with the
 * configured key, and check jwt_get_alg() again after decoding. libjwt does
 * not check `exp`, `nbf`, `iss` or `aud`: we do.
 *
 * The signature comparison is libjwt's. Debian's 1.10.2-1+deb12u1 carries
 * the fix for CVE-2024-25189 (a timing leak in that comparison), so it is
 * constant-time; do not build against an older libjwt.
 *
 * We may not include jansson (only api/ may): the header and claims are
 * read through libjwt's accessors, which parse with jansson for us. */
#include "auth_jwt.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "pl_error.h"

/* More clock skew than this is a configuration mistake. */
#define AUTH_LEEWAY_MAX 86400
#define AUTH_RSA_MIN_BITS 2048

struct auth_verifier {
    jwt_alg_t alg;
    const char *alg_name; /* static: "HS256", "RS256" or "ES256" */
    unsigned char *key;   /* HS256 secret or the public key PEM */
    size_t keylen;
    char *private_key_pem; /* RS256/ES256 only; NULL when not configured */
    char *issuer;
    char *audience;
    long leeway;
};

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", msg);
}

/* ---- token shape ---- */

static int b64url_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

/* Classifies the token before it is verified: at most AUTH_TOKEN_MAX bytes
 * of three base64url segments whose header and payload parse, a header
 * naming the configured `alg` and, if it has a `typ`, "JWT". The header is
 * read from a decode without a key, which checks nothing: nothing but the
 * header is taken from it. Sets *res to AUTH_OK when the signature may be
 * checked. */
static int token_check_shape(const struct auth_verifier *v, const char *token,
                             enum auth_result *res)
{
    *res = AUTH_MALFORMED;
    size_t len = strlen(token);
    if (len > AUTH_TOKEN_MAX)
        return PL_OK;
    for (size_t i = 0; i < len; i++) {
        if (token[i] != '.' && !b64url_char((unsigned char)token[i]))
            return PL_OK;
    }
    const char *dot1 = strchr(token, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (dot1 == NULL || dot2 == NULL || strchr(dot2 + 1, '.') != NULL)
        return PL_OK;
    if (dot1 == token || dot2 == dot1 + 1)
        return PL_OK;

    jwt_t *probe = NULL;
    int rc = jwt_decode(&probe, token, NULL, 0);
    if (rc == ENOMEM)
        return PL_ENOMEM;
    if (rc != 0 || probe == NULL) {
        /* Not JSON, or an algorithm libjwt does not know at all. */
        jwt_free(probe);
        return PL_OK;
    }
    const char *alg = jwt_get_header(probe, "alg");
    const char *typ = jwt_get_header(probe, "typ");
    /* All the claims as JSON text: the payload must be an object. */
    char *claims = jwt_get_grants_json(probe, NULL);
    if (claims == NULL || claims[0] != '{')
        *res = AUTH_MALFORMED;
    else if (alg == NULL || strcmp(alg, v->alg_name) != 0)
        *res = AUTH_BAD_ALG; /* `none`, or any algorithm but ours */
    else if (typ != NULL && strcasecmp(typ, "JWT") != 0)
        *res = AUTH_MALFORMED;
    else
        *res = AUTH_OK;
    free(claims);
    jwt_free(probe);
    return PL_OK;
}

/* ---- claims ---- */

/* Reads a NumericDate claim (RFC 7519 section 2: a JSON number, possibly
 * not an integer), rounded towards the safe side: down for `exp`, up for
 * `nbf`. Returns PL_ENOENT when absent, PL_EINVAL when not a number. */
static int claim_time(jwt_t *jwt, const char *name, int round_up, long *out)
{
    char *text = jwt_get_grants_json(jwt, name);
    char *stop = NULL;
    double d;
    int rc = PL_EINVAL;

    /* NULL also on allocation failure: the token is then refused, which
     * is the safe way to fail. */
    if (text == NULL)
        return PL_ENOENT;
    /* libjwt hands the claim back as JSON text: a number is made of these
     * characters only (a string would start with a quote); strtol and
     * strtod below check the rest. */
    if (text[0] == '\0' || text[strspn(text, "0123456789+-.eE")] != '\0')
        goto out;
    if (strpbrk(text, ".eE") == NULL) {
        errno = 0;
        *out = strtol(text, &stop, 10);
        if (*stop == '\0') /* ERANGE clamps to LONG_MIN/LONG_MAX: fine */
            rc = PL_OK;
        goto out;
    }
    d = strtod(text, &stop);
    if (*stop != '\0' || isnan(d))
        goto out;
    /* Rounded by hand: floor() and ceil() would need libm. */
    if (d >= (double)LONG_MAX) {
        *out = LONG_MAX;
    } else if (d <= (double)LONG_MIN) {
        *out = LONG_MIN;
    } else {
        *out = (long)d; /* towards zero */
        if (round_up && (double)*out < d)
            (*out)++;
        else if (!round_up && (double)*out > d)
            (*out)--;
    }
    rc = PL_OK;
out:
    free(text);
    return rc;
}

/* Appends `s` to out as jansson writes a JSON string (what libjwt's
 * jwt_get_grants_json gives back): quotes and backslashes escaped, control
 * characters as \b \f \n \r \t or \u00XX, everything else as it is. */
static int json_quote(const char *s, char **out)
{
    size_t cap = strlen(s) * 6 + 3;
    char *q = malloc(cap), *w = q;
    if (q == NULL)
        return PL_ENOMEM;
    *w++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        const char *esc = NULL;
        switch (*p) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        default:
            break;
        }
        if (esc != NULL) {
            memcpy(w, esc, 2);
            w += 2;
        } else if (*p < 0x20) {
            w += sprintf(w, "\\u%04x", *p);
        } else {
            *w++ = (char)*p;
        }
    }
    *w++ = '"';
    *w = '\0';
    *out = q;
    return PL_OK;
}

/* Whether the `aud` claim is `want` or an array holding it. For an array,
 * libjwt hands back compact JSON text, in which the element appears as
 * `want` quoted the same way, right after '[' or ',' and right before ','
 * or ']'. A quote that follows '[' or ',' always opens a string (inside a
 * string a quote is escaped), so no part of another element can match. */
static int aud_has(jwt_t *jwt, const char *want, int *has)
{
    const char *one = jwt_get_grant(jwt, "aud");
    *has = one != NULL && strcmp(one, want) == 0;
    if (*has || one != NULL)
        return PL_OK;
    char *text = jwt_get_grants_json(jwt, "aud");
    char *quoted = NULL;
    int rc = PL_OK;
    if (text == NULL || text[0] != '[')
        goto out;
    rc = json_quote(want, &quoted);
    if (rc != PL_OK)
        goto out;
    size_t qlen = strlen(quoted);
    for (const char *p = strstr(text, quoted); p; p = strstr(p + 1, quoted)) {
        char after = p[qlen];
        if ((p[-1] == '[' || p[-1] == ',') && (after == ',' || after == ']')) {
            *has = 1;
            break;
        }
    }
out:
    free(text);
    free(quoted);
    return rc;
}

static int claims_check(const struct auth_verifier *v, jwt_t *jwt, long now,
                        struct auth_claims *out, enum auth_result *res)
{
    long exp = 0, nbf = 0, lo, hi;
    const char *sub, *role;
    int rc;

    lo = now < LONG_MIN + v->leeway ? LONG_MIN : now - v->leeway;
    hi = now > LONG_MAX - v->leeway ? LONG_MAX : now + v->leeway;

    rc = claim_time(jwt, "exp", 0, &exp);
    if (rc != PL_OK || exp <= lo) {
        *res = rc == PL_EINVAL ? AUTH_BAD_CLAIMS : AUTH_EXPIRED;
        return PL_OK;
    }
    rc = claim_time(jwt, "nbf", 1, &nbf);
    if (rc == PL_EINVAL) {
        *res = AUTH_BAD_CLAIMS;
        return PL_OK;
    }
    if (rc == PL_OK && nbf > hi) {
        *res = AUTH_NOT_YET_VALID;
        return PL_OK;
    }
    /* jwt_get_grant() gives NULL for a missing or non-string claim; jansson
     * refuses `\u0000`, so the string cannot be cut short. */
    sub = jwt_get_grant(jwt, "sub");
    if (sub == NULL || sub[0] == '\0') {
        *res = AUTH_BAD_CLAIMS;
        return PL_OK;
    }
    /* jwt_get_grant() gives NULL for a claim that is not a string. */
    const char *iss = jwt_get_grant(jwt, "iss");
    if (v->issuer != NULL && (iss == NULL || strcmp(iss, v->issuer) != 0)) {
        *res = AUTH_BAD_CLAIMS;
        return PL_OK;
    }
    if (v->audience != NULL) {
        int has = 0;
        if (aud_has(jwt, v->audience, &has) != PL_OK)
            return PL_ENOMEM;
        if (!has) {
            *res = AUTH_BAD_CLAIMS;
            return PL_OK;
        }
    }
    role = jwt_get_grant(jwt, "role");

    out->subject = strdup(sub);
    if (out->subject == NULL)
        return PL_ENOMEM;
    out->admin = role != NULL && strcmp(role, "admin") == 0;
    out->expires = exp;
    *res = AUTH_OK;
    return PL_OK;
}

int auth_verify(const struct auth_verifier *v, const char *token, long now,
                struct auth_claims *out, enum auth_result *why)
{
    enum auth_result res = AUTH_MISSING;
    jwt_t *jwt = NULL;
    int rc = PL_OK;

    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (why != NULL)
        *why = AUTH_MALFORMED;
    if (v == NULL || out == NULL)
        return PL_EINVAL;
    if (token == NULL || token[0] == '\0')
        goto out;
    rc = token_check_shape(v, token, &res);
    if (rc != PL_OK || res != AUTH_OK)
        goto out;

    /* Always with the key: without one libjwt skips the signature. */
    rc = jwt_decode(&jwt, token, v->key, (int)v->keylen);
    if (rc == ENOMEM) {
        rc = PL_ENOMEM;
        goto out;
    }
    if (rc != 0 || jwt == NULL) {
        res = AUTH_BAD_SIGNATURE;
        rc = PL_OK;
        goto out;
    }
    /* The header was checked above, but libjwt decides from its own parse:
     * make sure it verified with the algorithm we pinned. */
    if (jwt_get_alg(jwt) != v->alg) {
        res = AUTH_BAD_ALG;
        goto out;
    }
    rc = claims_check(v, jwt, now, out, &res);
out:
    jwt_free(jwt);
    if (why != NULL)
        *why = res;
    if (rc == PL_ENOMEM) {
        auth_claims_free(out);
        return PL_ENOMEM;
    }
    if (res != AUTH_OK) {
        auth_claims_free(out);
        return PL_EDENIED;
    }
    return PL_OK;
}

void auth_claims_free(struct auth_claims *c)
{
    if (c == NULL)
        return;
    free(c->subject);
    c->subject = NULL;
    c->admin = 0;
    c->expires = 0;
}

const char *auth_result_str(enum auth_result r)
{
    switch (r) {
    case AUTH_OK:
        return "ok";
    case AUTH_MISSING:
        return "missing token";
    case AUTH_MALFORMED:
        return "malformed token";
    case AUTH_BAD_ALG:
        return "algorithm not allowed";
    case AUTH_BAD_SIGNATURE:
        return "bad signature";
    case AUTH_EXPIRED:
        return "token expired";
    case AUTH_NOT_YET_VALID:
        return "token not yet valid";
    case AUTH_BAD_CLAIMS:
        return "bad claims";
    }
    return "unknown";
}

/* ---- configuration ---- */

/* Checks that a PEM key parses and suits the algorithm: RSA of at least
 * 2048 bits for RS256, an EC key on P-256 for ES256. With `priv` it reads a
 * private key and checks it pairs with `pub`. Catching this at start-up
 * beats failing every login. */
static int key_check(jwt_alg_t alg, const char *pem, int priv, EVP_PKEY *pub,
                     EVP_PKEY **out, char *err, size_t errlen)
{
    const char *what = priv ? "private_key_pem" : "public_key_pem";
    char msg[128], group[64];
    EVP_PKEY *key = NULL;
    BIO *bio = NULL;
    int rc = PL_EINVAL;

    bio = BIO_new_mem_buf(pem, -1);
    if (bio == NULL) {
        rc = PL_ENOMEM;
        goto out;
    }
    key = priv ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)
               : PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    if (key == NULL) {
        snprintf(msg, sizeof(msg), "%s: not a PEM %s key", what,
                 priv ? "private" : "public");
        set_err(err, errlen, msg);
        goto out;
    }
    if (alg == JWT_ALG_RS256) {
        if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA ||
            EVP_PKEY_get_bits(key) < AUTH_RSA_MIN_BITS) {
            snprintf(msg, sizeof(msg), "%s: RS256 needs an RSA key of %d bits or more",
                     what, AUTH_RSA_MIN_BITS);
            set_err(err, errlen, msg);
            goto out;
        }
    } else {
        if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
            EVP_PKEY_get_group_name(key, group, sizeof(group), NULL) != 1 ||
            (strcasecmp(group, "prime256v1") != 0 && strcasecmp(group, "P-256") != 0)) {
            snprintf(msg, sizeof(msg), "%s: ES256 needs an EC key on P-256", what);
            set_err(err, errlen, msg);
            goto out;
        }
    }
    if (pub != NULL && EVP_PKEY_eq(pub, key) != 1) {
        set_err(err, errlen, "private_key_pem does not match public_key_pem");
        goto out;
    }
    if (out != NULL) {
        *out = key;
        key = NULL;
    }
    rc = PL_OK;
out:
    EVP_PKEY_free(key);
    BIO_free(bio);
    return rc;
}

static char *dup_opt(const char *s, int *failed)
{
    char *d;

    if (s == NULL)
        return NULL;
    d = strdup(s);
    if (d == NULL)
        *failed = 1;
    return d;
}

int auth_verifier_new(const struct auth_config *cfg, struct auth_verifier **out,
                      char *err, size_t errlen)
{
    struct auth_verifier *v = NULL;
    EVP_PKEY *pub = NULL;
    const char *key;
    int rc = PL_EINVAL, nomem = 0;

    set_err(err, errlen, "");
    if (out != NULL)
        *out = NULL;
    if (cfg == NULL || out == NULL) {
        set_err(err, errlen, "no configuration");
        return PL_EINVAL;
    }
    v = calloc(1, sizeof(*v));
    if (v == NULL)
        return PL_ENOMEM;

    if (cfg->alg == NULL) {
        set_err(err, errlen, "alg is required (HS256, RS256 or ES256)");
        goto fail;
    } else if (strcmp(cfg->alg, "HS256") == 0) {
        v->alg = JWT_ALG_HS256;
        v->alg_name = "HS256";
    } else if (strcmp(cfg->alg, "RS256") == 0) {
        v->alg = JWT_ALG_RS256;
        v->alg_name = "RS256";
    } else if (strcmp(cfg->alg, "ES256") == 0) {
        v->alg = JWT_ALG_ES256;
        v->alg_name = "ES256";
    } else {
        set_err(err, errlen, "alg must be HS256, RS256 or ES256");
        goto fail;
    }

    if (v->alg == JWT_ALG_HS256) {
        key = cfg->secret;
        if (key == NULL || key[0] == '\0') {
            set_err(err, errlen, "HS256 needs a non-empty secret");
            goto fail;
        }
    } else {
        key = cfg->public_key_pem;
        if (key == NULL || key[0] == '\0') {
            set_err(err, errlen, "RS256 and ES256 need public_key_pem");
            goto fail;
        }
        rc = key_check(v->alg, key, 0, NULL, &pub, err, errlen);
        if (rc != PL_OK)
            goto fail;
        if (cfg->private_key_pem != NULL) {
            rc = key_check(v->alg, cfg->private_key_pem, 1, pub, NULL, err, errlen);
            if (rc != PL_OK)
                goto fail;
        }
        rc = PL_EINVAL;
    }
    if (strlen(key) > INT_MAX) {
        set_err(err, errlen, "key too long");
        goto fail;
    }
    if (cfg->leeway < 0 || cfg->leeway > AUTH_LEEWAY_MAX) {
        set_err(err, errlen, "leeway must be between 0 and 86400 seconds");
        goto fail;
    }
    v->leeway = cfg->leeway;
    v->keylen = strlen(key);
    v->key = (unsigned char *)dup_opt(key, &nomem);
    if (v->alg != JWT_ALG_HS256)
        v->private_key_pem = dup_opt(cfg->private_key_pem, &nomem);
    v->issuer = dup_opt(cfg->issuer, &nomem);
    v->audience = dup_opt(cfg->audience, &nomem);
    if (nomem) {
        rc = PL_ENOMEM;
        set_err(err, errlen, "out of memory");
        goto fail;
    }
    EVP_PKEY_free(pub);
    *out = v;
    return PL_OK;
fail:
    EVP_PKEY_free(pub);
    auth_verifier_free(v);
    return rc;
}

static void free_secret(void *p, size_t len)
{
    if (p == NULL)
        return;
    OPENSSL_cleanse(p, len);
    free(p);
}

void auth_verifier_free(struct auth_verifier *v)
{
    if (v == NULL)
        return;
    free_secret(v->key, v->keylen);
    v->key = NULL;
    if (v->private_key_pem != NULL)
        free_secret(v->private_key_pem, strlen(v->private_key_pem));
    v->private_key_pem = NULL;
    free(v->issuer);
    free(v->audience);
    free(v);
}

/* ---- issue ---- */

/* Besides the documented claims, the token carries the configured `iss` and
 * `aud`, so that what we issue passes our own checks. */

int auth_token_issue(const struct auth_verifier *v, const char *subject, int admin,
                     long ttl, long now, char **out)
{
    const unsigned char *key;
    jwt_t *jwt = NULL;
    char *tok = NULL;
    int rc = PL_EINVAL, keylen;

    if (out != NULL)
        *out = NULL;
    if (v == NULL || subject == NULL || subject[0] == '\0' || ttl <= 0 || out == NULL ||
        now > LONG_MAX - ttl)
        return PL_EINVAL;
    if (v->alg == JWT_ALG_HS256) {
        key = v->key;
        keylen = (int)v->keylen;
    } else if (v->private_key_pem != NULL) {
        key = (const unsigned char *)v->private_key_pem;
        keylen = (int)strlen(v->private_key_pem);
    } else {
        return PL_ESTATE;
    }
    if (jwt_new(&jwt) != 0) {
        rc = PL_ENOMEM;
        goto out;
    }
    if (jwt_set_alg(jwt, v->alg, key, keylen) != 0 ||
        jwt_add_grant(jwt, "sub", subject) != 0 ||
        jwt_add_grant_int(jwt, "iat", now) != 0 ||
        jwt_add_grant_int(jwt, "exp", now + ttl) != 0 ||
        (admin && jwt_add_grant(jwt, "role", "admin") != 0) ||
        (v->issuer != NULL && jwt_add_grant(jwt, "iss", v->issuer) != 0) ||
        (v->audience != NULL && jwt_add_grant(jwt, "aud", v->audience) != 0)) {
        rc = errno == ENOMEM ? PL_ENOMEM : PL_EINVAL;
        goto out;
    }
    tok = jwt_encode_str(jwt);
    if (tok == NULL) {
        rc = errno == ENOMEM ? PL_ENOMEM : PL_EIO;
        goto out;
    }
    *out = tok; /* libjwt 1.10 allocates with malloc: the caller free()s it */
    rc = PL_OK;
out:
    jwt_free(jwt);
    return rc;
}
