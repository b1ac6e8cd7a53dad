/* JWT verification and issue over libjwt 1.10 (Debian 12).
 *
 * libjwt 1.10 trusts the token: jwt_decode() takes the algorithm from the
 * token's header, accepts `alg: none` (and skips the signature) when it is
 * given no key, and would HMAC-verify an "HS256" token with an RSA public
 * key's PEM text as the secret (key confusion). So we never call it without
 * the configured key, we read the header ourselves first (to refuse a
 * foreign algorithm before any crypto, and to report it as AUTH_BAD_ALG
 * rather than a bad signature), and we check jwt_get_alg() again after
 * decoding. libjwt does not check `exp`, `nbf`, `iss` or `aud`: we do.
 *
 * The signature comparison is libjwt's. Debian's 1.10.2-1+deb12u1 carries
 * the fix for CVE-2024-25189 (a timing leak in that comparison), so it is
 * constant-time; do not build against an older libjwt.
 *
 * We may not include jansson (only api/ may): claims are read through
 * libjwt's accessors, and the little JSON we must read ourselves (the
 * header, and the JSON text libjwt hands back for `aud`, `iss`, `exp` and
 * `nbf`) goes through the small validating scanner below. */
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

/* A token longer than this is refused before any decoding: real tokens are
 * a few hundred bytes, and the cookie and SASL paths bound them anyway. */
#define AUTH_TOKEN_MAX 8192
/* More clock skew than this is a configuration mistake. */
#define AUTH_LEEWAY_MAX 86400
/* Nesting depth the JSON scanner follows before giving up. */
#define AUTH_JSON_DEPTH 32
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

/* ---- a minimal JSON scanner (RFC 8259), enough to find keys and compare
 * strings without building a tree ---- */

static void json_ws(const char **p, const char *end)
{
    while (*p < end && (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r'))
        (*p)++;
}

static int json_hex4(const char **p, const char *end, unsigned *out)
{
    unsigned v = 0;
    int i;

    if (end - *p < 4)
        return PL_EINVAL;
    for (i = 0; i < 4; i++) {
        char c = (*p)[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return PL_EINVAL;
    }
    *p += 4;
    *out = v;
    return PL_OK;
}

/* Compares decoded string bytes with `want` as they come. */
struct json_match {
    const char *want; /* NULL: only validate */
    size_t wantlen;
    size_t pos;
    int nocase;
    int differs;
};

static void json_match_byte(struct json_match *m, unsigned char c)
{
    unsigned char w;

    if (m->want == NULL || m->differs)
        return;
    if (m->pos >= m->wantlen) {
        m->differs = 1;
        return;
    }
    w = (unsigned char)m->want[m->pos++];
    if (m->nocase && c < 0x80 && w < 0x80) {
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        if (w >= 'A' && w <= 'Z')
            w = (unsigned char)(w - 'A' + 'a');
    }
    if (c != w)
        m->differs = 1;
}

static void json_match_cp(struct json_match *m, unsigned cp)
{
    if (cp < 0x80) {
        json_match_byte(m, (unsigned char)cp);
    } else if (cp < 0x800) {
        json_match_byte(m, (unsigned char)(0xc0 | (cp >> 6)));
        json_match_byte(m, (unsigned char)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        json_match_byte(m, (unsigned char)(0xe0 | (cp >> 12)));
        json_match_byte(m, (unsigned char)(0x80 | ((cp >> 6) & 0x3f)));
        json_match_byte(m, (unsigned char)(0x80 | (cp & 0x3f)));
    } else {
        json_match_byte(m, (unsigned char)(0xf0 | (cp >> 18)));
        json_match_byte(m, (unsigned char)(0x80 | ((cp >> 12) & 0x3f)));
        json_match_byte(m, (unsigned char)(0x80 | ((cp >> 6) & 0x3f)));
        json_match_byte(m, (unsigned char)(0x80 | (cp & 0x3f)));
    }
}

/* Reads the string at *p (which must be at its opening quote), decoding
 * escapes, and sets *eq to whether it equals `want` (NULL: skip it).
 * Advances *p past the closing quote. A `\u0000` escape fails: jansson
 * refuses it too, and a C string could not hold it. */
static int json_string(const char **p, const char *end, const char *want, int nocase,
                       int *eq)
{
    struct json_match m = {want, want ? strlen(want) : 0, 0, nocase, 0};
    unsigned cp, lo;

    if (*p >= end || **p != '"')
        return PL_EINVAL;
    (*p)++;
    while (*p < end) {
        unsigned char c = (unsigned char)*(*p)++;
        if (c == '"') {
            if (eq != NULL)
                *eq = want != NULL && !m.differs && m.pos == m.wantlen;
            return PL_OK;
        }
        if (c < 0x20)
            return PL_EINVAL;
        if (c != '\\') {
            json_match_byte(&m, c);
            continue;
        }
        if (*p >= end)
            return PL_EINVAL;
        c = (unsigned char)*(*p)++;
        switch (c) {
        case '"':
        case '\\':
        case '/':
            json_match_byte(&m, c);
            break;
        case 'b':
            json_match_byte(&m, '\b');
            break;
        case 'f':
            json_match_byte(&m, '\f');
            break;
        case 'n':
            json_match_byte(&m, '\n');
            break;
        case 'r':
            json_match_byte(&m, '\r');
            break;
        case 't':
            json_match_byte(&m, '\t');
            break;
        case 'u':
            if (json_hex4(p, end, &cp) != PL_OK || cp == 0)
                return PL_EINVAL;
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return PL_EINVAL; /* a lone low surrogate */
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (end - *p < 2 || (*p)[0] != '\\' || (*p)[1] != 'u')
                    return PL_EINVAL;
                *p += 2;
                if (json_hex4(p, end, &lo) != PL_OK || lo < 0xdc00 || lo > 0xdfff)
                    return PL_EINVAL;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            json_match_cp(&m, cp);
            break;
        default:
            return PL_EINVAL;
        }
    }
    return PL_EINVAL;
}

static int json_literal(const char **p, const char *end, const char *lit)
{
    size_t n = strlen(lit);

    if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0)
        return PL_EINVAL;
    *p += n;
    return PL_OK;
}

static int json_number(const char **p, const char *end)
{
    const char *s = *p;

    if (*p < end && **p == '-')
        (*p)++;
    if (*p >= end)
        return PL_EINVAL;
    if (**p == '0') {
        (*p)++;
    } else if (**p >= '1' && **p <= '9') {
        while (*p < end && **p >= '0' && **p <= '9')
            (*p)++;
    } else {
        return PL_EINVAL;
    }
    if (*p < end && **p == '.') {
        (*p)++;
        if (*p >= end || **p < '0' || **p > '9')
            return PL_EINVAL;
        while (*p < end && **p >= '0' && **p <= '9')
            (*p)++;
    }
    if (*p < end && (**p == 'e' || **p == 'E')) {
        (*p)++;
        if (*p < end && (**p == '+' || **p == '-'))
            (*p)++;
        if (*p >= end || **p < '0' || **p > '9')
            return PL_EINVAL;
        while (*p < end && **p >= '0' && **p <= '9')
            (*p)++;
    }
    return *p > s ? PL_OK : PL_EINVAL;
}

static int json_value(const char **p, const char *end, int depth);

/* Reads an object or array body after its opening bracket. */
static int json_container(const char **p, const char *end, int depth, char close)
{
    int rc;

    json_ws(p, end);
    if (*p < end && **p == close) {
        (*p)++;
        return PL_OK;
    }
    for (;;) {
        if (close == '}') {
            rc = json_string(p, end, NULL, 0, NULL);
            if (rc != PL_OK)
                return rc;
            json_ws(p, end);
            if (*p >= end || **p != ':')
                return PL_EINVAL;
            (*p)++;
        }
        rc = json_value(p, end, depth + 1);
        if (rc != PL_OK)
            return rc;
        json_ws(p, end);
        if (*p >= end)
            return PL_EINVAL;
        if (**p == close) {
            (*p)++;
            return PL_OK;
        }
        if (**p != ',')
            return PL_EINVAL;
        (*p)++;
        json_ws(p, end);
    }
}

/* Skips one value, with the whitespace before it. */
static int json_value(const char **p, const char *end, int depth)
{
    if (depth > AUTH_JSON_DEPTH)
        return PL_EINVAL;
    json_ws(p, end);
    if (*p >= end)
        return PL_EINVAL;
    switch (**p) {
    case '"':
        return json_string(p, end, NULL, 0, NULL);
    case '{':
        (*p)++;
        return json_container(p, end, depth, '}');
    case '[':
        (*p)++;
        return json_container(p, end, depth, ']');
    case 't':
        return json_literal(p, end, "true");
    case 'f':
        return json_literal(p, end, "false");
    case 'n':
        return json_literal(p, end, "null");
    default:
        return json_number(p, end);
    }
}

/* Checks that text[0..len) is one JSON object and finds the member `key`
 * (NULL: only check). Sets *val to the start of its value. Returns PL_OK,
 * PL_ENOENT when absent, PL_EINVAL when the text is not an object or names
 * `key` twice (parsers disagree on which one wins). */
static int json_object_find(const char *text, size_t len, const char *key,
                            const char **val)
{
    const char *p = text, *end = text + len;
    const char *found = NULL;
    int eq = 0, rc;

    json_ws(&p, end);
    if (p >= end || *p != '{')
        return PL_EINVAL;
    p++;
    json_ws(&p, end);
    if (p < end && *p == '}') {
        p++;
    } else {
        for (;;) {
            rc = json_string(&p, end, key, 0, &eq);
            if (rc != PL_OK)
                return rc;
            json_ws(&p, end);
            if (p >= end || *p != ':')
                return PL_EINVAL;
            p++;
            json_ws(&p, end);
            if (key != NULL && eq) {
                if (found != NULL)
                    return PL_EINVAL;
                found = p;
            }
            rc = json_value(&p, end, 1);
            if (rc != PL_OK)
                return rc;
            json_ws(&p, end);
            if (p < end && *p == '}') {
                p++;
                break;
            }
            if (p >= end || *p != ',')
                return PL_EINVAL;
            p++;
            json_ws(&p, end);
        }
    }
    json_ws(&p, end);
    if (p != end)
        return PL_EINVAL;
    if (key == NULL)
        return PL_OK;
    if (found == NULL)
        return PL_ENOENT;
    if (val != NULL)
        *val = found;
    return PL_OK;
}

/* Sets *eq to whether the value at `val` is a string equal to `want`.
 * Returns PL_EINVAL when it is not a string. */
static int json_string_is(const char *val, const char *end, const char *want, int nocase,
                          int *eq)
{
    const char *p = val;

    *eq = 0;
    json_ws(&p, end);
    if (p >= end || *p != '"')
        return PL_EINVAL;
    return json_string(&p, end, want, nocase, eq);
}

/* For `aud`: sets *eq when the JSON text is the string `want` or an array
 * holding it. Returns PL_EINVAL for anything else. */
static int json_string_or_array_has(const char *text, const char *want, int *eq)
{
    const char *p = text, *end = text + strlen(text);
    int hit = 0, rc;

    *eq = 0;
    json_ws(&p, end);
    if (p < end && *p == '"')
        return json_string_is(p, end, want, 0, eq);
    if (p >= end || *p != '[')
        return PL_EINVAL;
    p++;
    json_ws(&p, end);
    if (p < end && *p == ']')
        return PL_OK;
    for (;;) {
        json_ws(&p, end);
        if (p < end && *p == '"') {
            rc = json_string(&p, end, want, 0, &hit);
            if (rc == PL_OK && hit)
                *eq = 1;
        } else {
            rc = json_value(&p, end, 1);
        }
        if (rc != PL_OK)
            return rc;
        json_ws(&p, end);
        if (p < end && *p == ']')
            return PL_OK;
        if (p >= end || *p != ',')
            return PL_EINVAL;
        p++;
    }
}

/* ---- token shape ---- */

static int b64url_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

/* Decodes one unpadded base64url segment (RFC 7515 section 2) by mapping it
 * onto standard base64 and padding it. */
static int b64url_decode(const char *seg, size_t len, unsigned char **out, size_t *outlen)
{
    char *std = NULL;
    size_t i, padded;
    int rc;

    if (len % 4 == 1)
        return PL_EINVAL;
    padded = (len + 3) / 4 * 4;
    std = malloc(padded + 1);
    if (std == NULL)
        return PL_ENOMEM;
    for (i = 0; i < len; i++) {
        char c = seg[i];
        if (!b64url_char((unsigned char)c)) {
            rc = PL_EINVAL;
            goto out;
        }
        std[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    for (; i < padded; i++)
        std[i] = '=';
    std[padded] = '\0';
    rc = auth_b64_decode(std, padded, out, outlen);
out:
    free(std);
    return rc;
}

/* Classifies the token before libjwt sees it: three base64url segments, a
 * header that is a JSON object naming the configured `alg` (and, if it has
 * a `typ`, "JWT"), a payload that is a JSON object. Sets *res to AUTH_OK
 * when libjwt may go on to check the signature. */
static int token_check_shape(const struct auth_verifier *v, const char *token,
                             enum auth_result *res)
{
    unsigned char *head = NULL, *body = NULL;
    size_t headlen = 0, bodylen = 0, len, i;
    const char *dot1, *dot2, *val;
    int rc, eq;

    *res = AUTH_MALFORMED;
    len = strlen(token);
    if (len > AUTH_TOKEN_MAX)
        return PL_OK;
    for (i = 0; i < len; i++) {
        if (token[i] != '.' && !b64url_char((unsigned char)token[i]))
            return PL_OK;
    }
    dot1 = strchr(token, '.');
    dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (dot1 == NULL || dot2 == NULL || strchr(dot2 + 1, '.') != NULL)
        return PL_OK;
    if (dot1 == token || dot2 == dot1 + 1)
        return PL_OK;

    rc = b64url_decode(token, (size_t)(dot1 - token), &head, &headlen);
    if (rc != PL_OK)
        goto out;
    rc = json_object_find((const char *)head, headlen, "alg", &val);
    if (rc != PL_OK)
        goto out;
    rc = json_string_is(val, (const char *)head + headlen, v->alg_name, 0, &eq);
    if (rc != PL_OK)
        goto out;
    if (!eq) {
        /* `none`, or any algorithm but the configured one. */
        *res = AUTH_BAD_ALG;
        goto out;
    }
    rc = json_object_find((const char *)head, headlen, "typ", &val);
    if (rc == PL_OK) {
        rc = json_string_is(val, (const char *)head + headlen, "JWT", 1, &eq);
        if (rc != PL_OK || !eq)
            goto out;
    } else if (rc != PL_ENOENT) {
        goto out;
    }

    rc = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &body, &bodylen);
    if (rc != PL_OK)
        goto out;
    rc = json_object_find((const char *)body, bodylen, NULL, NULL);
    if (rc != PL_OK)
        goto out;
    *res = AUTH_OK;
out:
    free(head);
    free(body);
    return rc == PL_ENOMEM ? PL_ENOMEM : PL_OK;
}

/* ---- claims ---- */

/* Reads a NumericDate claim (RFC 7519 section 2: a JSON number, possibly
 * not an integer), rounded towards the safe side: down for `exp`, up for
 * `nbf`. Returns PL_ENOENT when absent, PL_EINVAL when not a number. */
static int claim_time(jwt_t *jwt, const char *name, int round_up, long *out)
{
    char *text = jwt_get_grants_json(jwt, name);
    const char *p, *end;
    char *stop = NULL;
    double d;
    int rc = PL_EINVAL;

    /* NULL also on allocation failure: the token is then refused, which
     * is the safe way to fail. */
    if (text == NULL)
        return PL_ENOENT;
    p = text;
    end = text + strlen(text);
    if (json_number(&p, end) != PL_OK || p != end)
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

/* Sets *res to AUTH_BAD_CLAIMS unless claim `name` is a string equal to
 * `want` (or, with `any`, an array holding it). */
static void claim_require(jwt_t *jwt, const char *name, const char *want, int any,
                          enum auth_result *res)
{
    char *text = jwt_get_grants_json(jwt, name);
    int eq = 0, rc;

    *res = AUTH_BAD_CLAIMS;
    if (text == NULL)
        return;
    if (any)
        rc = json_string_or_array_has(text, want, &eq);
    else
        rc = json_string_is(text, text + strlen(text), want, 0, &eq);
    if (rc == PL_OK && eq)
        *res = AUTH_OK;
    free(text);
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
    if (v->issuer != NULL) {
        claim_require(jwt, "iss", v->issuer, 0, res);
        if (*res != AUTH_OK)
            return PL_OK;
    }
    if (v->audience != NULL) {
        claim_require(jwt, "aud", v->audience, 1, res);
        if (*res != AUTH_OK)
            return PL_OK;
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
