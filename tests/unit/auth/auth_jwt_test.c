/* The JWT verifier: every refusal reason, the pinned algorithm (alg none,
 * a foreign algorithm, RSA/EC key confusion), the time and identity claims,
 * and issue/verify round trips. Tokens are built with libjwt or by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "auth_jwt.h"
#include "pl_error.h"

#define NOW 1700000000L
#define SECRET "a-test-secret-of-some-length-0123"

/* ---- helpers ---- */

static char *b64url(const void *data, size_t len)
{
    char *s = NULL;
    size_t n;

    assert_int_equal(auth_b64_encode(data, len, &s), PL_OK);
    n = strlen(s);
    while (n > 0 && s[n - 1] == '=')
        s[--n] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+')
            s[i] = '-';
        else if (s[i] == '/')
            s[i] = '_';
    }
    return s;
}

/* header.payload.HMAC-SHA256(secret) from raw JSON texts; no signature when
 * secret is NULL. */
static char *hand_token(const char *header, const char *payload, const char *secret,
                        size_t secretlen)
{
    char *h = b64url(header, strlen(header));
    char *p = b64url(payload, strlen(payload));
    size_t n = strlen(h) + strlen(p) + 2;
    char *input = malloc(n);
    char *sig = NULL, *tok;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;

    assert_non_null(input);
    snprintf(input, n, "%s.%s", h, p);
    if (secret != NULL) {
        assert_non_null(HMAC(EVP_sha256(), secret, (int)secretlen,
                             (const unsigned char *)input, strlen(input), mac, &maclen));
        sig = b64url(mac, maclen);
    }
    n = strlen(input) + (sig ? strlen(sig) : 0) + 2;
    tok = malloc(n);
    assert_non_null(tok);
    snprintf(tok, n, "%s.%s", input, sig ? sig : "");
    free(h);
    free(p);
    free(input);
    free(sig);
    return tok;
}

static char *hs_token(const char *payload)
{
    return hand_token("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, SECRET,
                      strlen(SECRET));
}

/* A token signed by libjwt with `alg` and `key` carrying the claims in
 * `json`. */
static char *lib_token(jwt_alg_t alg, const char *key, const char *json)
{
    jwt_t *jwt = NULL;
    char *tok;

    assert_int_equal(jwt_new(&jwt), 0);
    assert_int_equal(jwt_set_alg(jwt, alg, (const unsigned char *)key, (int)strlen(key)),
                     0);
    assert_int_equal(jwt_add_grants_json(jwt, json), 0);
    tok = jwt_encode_str(jwt);
    assert_non_null(tok);
    jwt_free(jwt);
    return tok;
}

static struct auth_verifier *hs_verifier(const char *iss, const char *aud, long leeway)
{
    struct auth_config cfg = {.alg = "HS256",
                              .secret = SECRET,
                              .issuer = iss,
                              .audience = aud,
                              .leeway = leeway};
    struct auth_verifier *v = NULL;
    char err[128];

    assert_int_equal(auth_verifier_new(&cfg, &v, err, sizeof(err)), PL_OK);
    assert_non_null(v);
    return v;
}

/* Verifies and returns the reason, checking the return code agrees. */
static enum auth_result check(const struct auth_verifier *v, const char *tok, long now)
{
    struct auth_claims c;
    enum auth_result why = AUTH_OK;
    int rc = auth_verify(v, tok, now, &c, &why);

    if (why == AUTH_OK) {
        assert_int_equal(rc, PL_OK);
        assert_non_null(c.subject);
    } else {
        assert_int_equal(rc, PL_EDENIED);
        assert_null(c.subject);
    }
    auth_claims_free(&c);
    return why;
}

/* The result of verifying a token with claims `payload` (HS256, SECRET). */
static enum auth_result check_payload(const struct auth_verifier *v, const char *payload,
                                      long now)
{
    char *tok = hs_token(payload);
    enum auth_result why = check(v, tok, now);
    free(tok);
    return why;
}

static void pem_pair(EVP_PKEY *key, char **pub, char **priv)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n;

    assert_non_null(b);
    assert_int_equal(PEM_write_bio_PUBKEY(b, key), 1);
    n = BIO_get_mem_data(b, &data);
    *pub = strndup(data, (size_t)n);
    BIO_free(b);
    b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL), 1);
    n = BIO_get_mem_data(b, &data);
    *priv = strndup(data, (size_t)n);
    BIO_free(b);
    assert_non_null(*pub);
    assert_non_null(*priv);
}

struct keys {
    char *rsa_pub, *rsa_priv;
    char *rsa2_pub, *rsa2_priv;
    char *ec_pub, *ec_priv;
};

static int keys_setup(void **state)
{
    struct keys *k = calloc(1, sizeof(*k));
    EVP_PKEY *key;

    assert_non_null(k);
    key = EVP_RSA_gen(2048);
    assert_non_null(key);
    pem_pair(key, &k->rsa_pub, &k->rsa_priv);
    EVP_PKEY_free(key);
    key = EVP_RSA_gen(2048);
    assert_non_null(key);
    pem_pair(key, &k->rsa2_pub, &k->rsa2_priv);
    EVP_PKEY_free(key);
    key = EVP_EC_gen("P-256");
    assert_non_null(key);
    pem_pair(key, &k->ec_pub, &k->ec_priv);
    EVP_PKEY_free(key);
    *state = k;
    return 0;
}

static int keys_teardown(void **state)
{
    struct keys *k = *state;

    free(k->rsa_pub);
    free(k->rsa_priv);
    free(k->rsa2_pub);
    free(k->rsa2_priv);
    free(k->ec_pub);
    free(k->ec_priv);
    free(k);
    return 0;
}

/* ---- tests ---- */

static void test_valid_hs256(void **state)
{
    struct auth_verifier *v = hs_verifier(NULL, NULL, 0);
    char *tok = lib_token(JWT_ALG_HS256, SECRET,
                          "{\"sub\":\"Alice@example.com\",\"exp\":1700000100}");
    struct auth_claims c;
    enum auth_result why = AUTH_MISSING;

    assert_int_equal(auth_verify(v, tok, NOW, &c, &why), PL_OK);
    assert_int_equal(why, AUTH_OK);
    assert_string_equal(c.subject, "Alice@example.com");
    assert_int_equal(c.admin, 0);
    assert_int_equal(c.expires, 1700000100L);
    auth_claims_free(&c);
    assert_null(c.subject);
    auth_claims_free(&c); /* twice is harmless */
    free(tok);

    /* A hand-built token without `typ` verifies too. */
    tok = hand_token("{\"alg\":\"HS256\"}", "{\"sub\":\"bob\",\"exp\":1700000100}",
                     SECRET, strlen(SECRET));
    assert_int_equal(check(v, tok, NOW), AUTH_OK);
    free(tok);
    auth_verifier_free(v);
}

static void test_missing(void **state)
{
    struct auth_verifier *v = hs_verifier(NULL, NULL, 0);
    struct auth_claims c;
    enum auth_result why = AUTH_OK;

    assert_int_equal(auth_verify(v, NULL, NOW, &c, &why), PL_EDENIED);
    assert_int_equal(why, AUTH_MISSING);
    assert_int_equal(check(v, "", NOW), AUTH_MISSING);
    /* Bad arguments are not a refusal. */
    assert_int_equal(auth_verify(NULL, "x", NOW, &c, &why), PL_EINVAL);
    assert_int_equal(auth_verify(v, "x", NOW, NULL, &why), PL_EINVAL);
    auth_verifier_free(v);
}

static void test_malformed(void **state)
{
    struct auth_verifier *v = hs_verifier(NULL, NULL, 0);
    const char *payload = "{\"sub\":\"a\",\"exp\":1700000100}";
    char *good = hs_token(payload);
    char buf[16384];
    char *tok;
    const char *bad[] = {
        "abc",
        "a.b",
        "a.b.c.d",
        "..",
        ".eyJ9.x",
        "eyJhbGciOiJIUzI1NiJ9..sig",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.si g",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0=.sig",
        "eyJhbGciOiJIUzI1NiJ9.e.sig",      /* 1 mod 4 characters */
        "bm90IGpzb24.eyJzdWIiOiJhIn0.sig", /* header "not json" */
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(check(v, bad[i], NOW), AUTH_MALFORMED);

    /* Headers without a usable alg, not one JSON object, or with a typ
     * that is not JWT. */
    const char *heads[] = {
        "{}",
        "{\"typ\":\"JWT\"}",
        "{\"alg\":256}",
        "{\"alg\":\"HS256\",\"typ\":\"JWE\"}",
        "{\"alg\":\"HS256\"} x",
        "[\"HS256\"]",
        "{\"alg\":\"HS256\",}",
    };
    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
        tok = hand_token(heads[i], payload, SECRET, strlen(SECRET));
        assert_int_equal(check(v, tok, NOW), AUTH_MALFORMED);
        free(tok);
    }
    /* A repeated alg is read as libjwt reads it (the last one), by the same
     * parse that verifies the signature: no disagreement to exploit. */
    tok = hand_token("{\"alg\":\"none\",\"alg\":\"HS256\"}", payload, SECRET,
                     strlen(SECRET));
    assert_int_equal(check(v, tok, NOW), AUTH_OK);
    free(tok);
    tok = hand_token("{\"alg\":\"HS256\",\"alg\":\"none\"}", payload, SECRET,
                     strlen(SECRET));
    assert_int_not_equal(check(v, tok, NOW), AUTH_OK);
    free(tok);
    /* typ is compared without case, as libjwt does. */
    tok = hand_token("{\"alg\":\"HS256\",\"typ\":\"jwt\"}", payload, SECRET,
                     strlen(SECRET));
    assert_int_equal(check(v, tok, NOW), AUTH_OK);
    free(tok);

    /* A payload that is not a JSON object. */
    const char *bodies[] = {"[]", "\"sub\"", "{\"sub\":\"a\"", "{\"sub\":\"a\\u0000b\"}",
                            "{\"a\":[1,2,{\"b\":tru}]}"};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        tok = hand_token("{\"alg\":\"HS256\"}", bodies[i], SECRET, strlen(SECRET));
        assert_int_equal(check(v, tok, NOW), AUTH_MALFORMED);
        free(tok);
    }

    /* Oversized. */
    memset(buf, 'A', sizeof(buf) - 1);
    buf[sizeof(buf) - 1] = '\0';
    memcpy(buf, good, strlen(good));
    assert_int_equal(check(v, buf, NOW), AUTH_MALFORMED);
    assert_int_equal(check(v, good, NOW), AUTH_OK);
    free(good);
    auth_verifier_free(v);
}

static void test_alg_none(void **state)
{
    struct auth_verifier *v = hs_verifier(NULL, NULL, 0);
    const char *payload = "{\"sub\":\"mallory\",\"exp\":1700000100}";
    char *body = b64url(payload, strlen(payload));
    char tok[512];
    char *t;

    /* eyJhbGciOiJub25lIn0 is {"alg":"none"} */
    snprintf(tok, sizeof(tok), "eyJhbGciOiJub25lIn0.%s.", body);
    assert_int_equal(check(v, tok, NOW), AUTH_BAD_ALG);
    /* ... also with a signature attached, and in other spellings. */
    t = hand_token("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, SECRET, strlen(SECRET));
    assert_int_equal(check(v, t, NOW), AUTH_BAD_ALG);
    free(t);
    t = hand_token("{\"alg\":\"NONE\"}", payload, NULL, 0);
    assert_int_equal(check(v, t, NOW), AUTH_BAD_ALG);
    free(t);
    t = hand_token("{\"alg\":\"hs256\"}", payload, SECRET, strlen(SECRET));
    assert_int_equal(check(v, t, NOW), AUTH_BAD_ALG);
    free(t);
    /* An escaped spelling of the right name is the right name. */
    t = hand_token("{\"alg\":\"\\u0048S256\"}", payload, SECRET, strlen(SECRET));
    assert_int_equal(check(v, t, NOW), AUTH_OK);
    free(t);
    free(body);
    auth_verifier_free(v);
}

static void test_wrong_alg(void **state)
{
    struct keys *k = *state;
    struct auth_verifier *v = hs_verifier(NULL, NULL, 0);
    const char *claims = "{\"sub\":\"a\",\"exp\":1700000100}";
    char *tok;

    tok = lib_token(JWT_ALG_HS512, SECRET, claims);
    assert_int_equal(check(v, tok, NOW), AUTH_BAD_ALG);
    free(tok);
    tok = lib_token(JWT_ALG_HS384, SECRET, claims);
    assert_int_equal(check(v, tok, NOW), AUTH_BAD_ALG);
    free(tok);
    tok = lib_token(JWT_ALG_RS256, k->rsa_priv, claims);
    assert_int_equal(check(v, tok, NOW), AUTH_BAD_ALG);
    free(tok);
    auth_verifier_free(v);
}

static void test_bad_signature(void **state)
{
    struct auth_verifier *v = hs_verifier(NULL, NULL, 0);
    const char *claims = "{\"sub\":\"a\",\"exp\":1700000100}";
    char *tok, *dot;

    tok = lib_token(JWT_ALG_HS256, "another-secret-entirely-0123456789", claims);
    assert_int_equal(check(v, tok, NOW), AUTH_BAD_SIGNATURE);
    free(tok);

    /* Signature stripped. */
    tok = hs_token(claims);
    dot = strrchr(tok, '.');
    dot[1] = '\0';
    assert_int_equal(check(v, tok, NOW), AUTH_BAD_SIGNATURE);
    free(tok);

    /* One signature character changed. */
    tok = hs_token(claims);
    dot = strrchr(tok, '.');
    dot[1] = dot[1] == 'A' ? 'B' : 'A';
    assert_int_equal(check(v, tok, NOW), AUTH_BAD_SIGNATURE);
    free(tok);

    /* Payload swapped under a valid signature. */
    {
        char *a = hs_token(claims);
        char *b = hs_token("{\"sub\":\"admin\",\"exp\":1700000100,\"role\":\"admin\"}");
        char mix[1024];
        char *d1a = strchr(a, '.'), *d2a = strrchr(a, '.');
        char *d1b = strchr(b, '.'), *d2b = strrchr(b, '.');
        snprintf(mix, sizeof(mix), "%.*s.%.*s%s", (int)(d1a - a), a, (int)(d2b - d1b - 1),
                 d1b + 1, d2a);
        assert_int_equal(check(v, mix, NOW), AUTH_BAD_SIGNATURE);
        free(a);
        free(b);
    }
    auth_verifier_free(v);
}

static void test_expiry(void **state)
{
    struct auth_verifier *v = hs_verifier(NULL, NULL, 0);
    struct auth_verifier *lv = hs_verifier(NULL, NULL, 30);

    assert_int_equal(check_payload(v, "{\"sub\":\"a\",\"exp\":1699999999}", NOW),
                     AUTH_EXPIRED);
    assert_int_equal(check_payload(v, "{\"sub\":\"a\",\"exp\":1700000000}", NOW),
                     AUTH_EXPIRED);
    assert_int_equal(check_payload(v, "{\"sub\":\"a\",\"exp\":1700000001}", NOW),
                     AUTH_OK);
    /* The leeway forgives a little skew, and no more. */
    assert_int_equal(check_payload(lv, "{\"sub\":\"a\",\"exp\":1699999990}", NOW),
                     AUTH_OK);
    assert_int_equal(check_payload(lv, "{\"sub\":\"a\",\"exp\":1699999970}", NOW),
                     AUTH_EXPIRED);
    /* exp is required. */
    assert_int_equal(check_payload(v, "{\"sub\":\"a\"}", NOW), AUTH_EXPIRED);
    /* A NumericDate may have a fraction; it is not a string. */
    assert_int_equal(check_payload(v, "{\"sub\":\"a\",\"exp\":1700000000.5}", NOW),
                     AUTH_EXPIRED);
    assert_int_equal(check_payload(v, "{\"sub\":\"a\",\"exp\":1.7000001e9}", NOW),
                     AUTH_OK);
    assert_int_equal(check_payload(v, "{\"sub\":\"a\",\"exp\":\"1700000100\"}", NOW),
                     AUTH_BAD_CLAIMS);
    assert_int_equal(check_payload(v, "{\"sub\":\"a\",\"exp\":null}", NOW),
                     AUTH_BAD_CLAIMS);
    /* Far-future dates clamp rather than wrap. */
    assert_int_equal(check_payload(v, "{\"sub\":\"a\",\"exp\":1e300}", NOW), AUTH_OK);
    /* jansson cannot hold an integer this large: the token is refused
     * (libjwt's parse fails, which we can only report as a bad signature). */
    assert_int_not_equal(
        check_payload(v, "{\"sub\":\"a\",\"exp\":99999999999999999999999}", NOW),
        AUTH_OK);
    auth_verifier_free(v);
    auth_verifier_free(lv);
}

static void test_not_before(void **state)
{
    struct auth_verifier *v = hs_verifier(NULL, NULL, 0);
    struct auth_verifier *lv = hs_verifier(NULL, NULL, 30);
    const char *future = "{\"sub\":\"a\",\"exp\":1700000100,\"nbf\":1700000010}";

    assert_int_equal(check_payload(v, future, NOW), AUTH_NOT_YET_VALID);
    assert_int_equal(check_payload(lv, future, NOW), AUTH_OK);
    assert_int_equal(check_payload(v, future, NOW + 10), AUTH_OK);
    assert_int_equal(
        check_payload(v, "{\"sub\":\"a\",\"exp\":1700000100,\"nbf\":1700000000}", NOW),
        AUTH_OK);
    assert_int_equal(
        check_payload(v, "{\"sub\":\"a\",\"exp\":1700000100,\"nbf\":1700000000.2}", NOW),
        AUTH_NOT_YET_VALID);
    assert_int_equal(
        check_payload(lv, "{\"sub\":\"a\",\"exp\":1700000100,\"nbf\":1700000031}", NOW),
        AUTH_NOT_YET_VALID);
    assert_int_equal(
        check_payload(v, "{\"sub\":\"a\",\"exp\":1700000100,\"nbf\":\"soon\"}", NOW),
        AUTH_BAD_CLAIMS);
    auth_verifier_free(v);
    auth_verifier_free(lv);
}

static void test_subject(void **state)
{
    struct auth_verifier *v = hs_verifier(NULL, NULL, 0);

    assert_int_equal(check_payload(v, "{\"exp\":1700000100}", NOW), AUTH_BAD_CLAIMS);
    assert_int_equal(check_payload(v, "{\"sub\":\"\",\"exp\":1700000100}", NOW),
                     AUTH_BAD_CLAIMS);
    assert_int_equal(check_payload(v, "{\"sub\":42,\"exp\":1700000100}", NOW),
                     AUTH_BAD_CLAIMS);
    assert_int_equal(check_payload(v, "{\"sub\":[\"a\"],\"exp\":1700000100}", NOW),
                     AUTH_BAD_CLAIMS);
    auth_verifier_free(v);
}

static void test_issuer(void **state)
{
    struct auth_verifier *v = hs_verifier("https://id.example.com", NULL, 0);

    assert_int_equal(
        check_payload(
            v, "{\"sub\":\"a\",\"exp\":1700000100,\"iss\":\"https://id.example.com\"}",
            NOW),
        AUTH_OK);
    /* JSON may escape '/'. */
    assert_int_equal(
        check_payload(
            v,
            "{\"sub\":\"a\",\"exp\":1700000100,\"iss\":\"https:\\/\\/id.example.com\"}",
            NOW),
        AUTH_OK);
    assert_int_equal(
        check_payload(
            v, "{\"sub\":\"a\",\"exp\":1700000100,\"iss\":\"https://evil.example\"}",
            NOW),
        AUTH_BAD_CLAIMS);
    assert_int_equal(
        check_payload(
            v, "{\"sub\":\"a\",\"exp\":1700000100,\"iss\":\"https://id.example.com/\"}",
            NOW),
        AUTH_BAD_CLAIMS);
    assert_int_equal(check_payload(v, "{\"sub\":\"a\",\"exp\":1700000100}", NOW),
                     AUTH_BAD_CLAIMS);
    assert_int_equal(
        check_payload(
            v, "{\"sub\":\"a\",\"exp\":1700000100,\"iss\":[\"https://id.example.com\"]}",
            NOW),
        AUTH_BAD_CLAIMS);
    auth_verifier_free(v);
}

static void test_audience(void **state)
{
    struct auth_verifier *v = hs_verifier(NULL, "parley", 0);
    struct auth_verifier *none = hs_verifier(NULL, NULL, 0);

    assert_int_equal(
        check_payload(v, "{\"sub\":\"a\",\"exp\":1700000100,\"aud\":\"parley\"}", NOW),
        AUTH_OK);
    assert_int_equal(
        check_payload(v, "{\"sub\":\"a\",\"exp\":1700000100,\"aud\":\"\\u0070arley\"}",
                      NOW),
        AUTH_OK);
    assert_int_equal(
        check_payload(v, "{\"sub\":\"a\",\"exp\":1700000100,\"aud\":\"parley2\"}", NOW),
        AUTH_BAD_CLAIMS);
    assert_int_equal(
        check_payload(v, "{\"sub\":\"a\",\"exp\":1700000100,\"aud\":\"parle\"}", NOW),
        AUTH_BAD_CLAIMS);
    assert_int_equal(check_payload(v,
                                   "{\"sub\":\"a\",\"exp\":1700000100,\"aud\":[\"other\","
                                   "1,{\"x\":[]},\"parley\"]}",
                                   NOW),
                     AUTH_OK);
    assert_int_equal(
        check_payload(
            v, "{\"sub\":\"a\",\"exp\":1700000100,\"aud\":[\"other\",\"parleyx\"]}", NOW),
        AUTH_BAD_CLAIMS);
    assert_int_equal(
        check_payload(v, "{\"sub\":\"a\",\"exp\":1700000100,\"aud\":[]}", NOW),
        AUTH_BAD_CLAIMS);
    assert_int_equal(check_payload(v, "{\"sub\":\"a\",\"exp\":1700000100}", NOW),
                     AUTH_BAD_CLAIMS);
    assert_int_equal(
        check_payload(v, "{\"sub\":\"a\",\"exp\":1700000100,\"aud\":7}", NOW),
        AUTH_BAD_CLAIMS);
    /* Unconfigured: not looked at. */
    assert_int_equal(
        check_payload(none, "{\"sub\":\"a\",\"exp\":1700000100,\"aud\":\"whatever\"}",
                      NOW),
        AUTH_OK);
    auth_verifier_free(v);
    auth_verifier_free(none);

    /* Both together. */
    v = hs_verifier("idp", "parley", 0);
    assert_int_equal(
        check_payload(
            v, "{\"sub\":\"a\",\"exp\":1700000100,\"iss\":\"idp\",\"aud\":[\"parley\"]}",
            NOW),
        AUTH_OK);
    assert_int_equal(
        check_payload(
            v, "{\"sub\":\"a\",\"exp\":1700000100,\"iss\":\"idq\",\"aud\":[\"parley\"]}",
            NOW),
        AUTH_BAD_CLAIMS);
    auth_verifier_free(v);
}

static void test_admin_role(void **state)
{
    struct auth_verifier *v = hs_verifier(NULL, NULL, 0);
    struct auth_claims c;
    enum auth_result why;
    char *tok;

    tok = hs_token("{\"sub\":\"root\",\"exp\":1700000100,\"role\":\"admin\"}");
    assert_int_equal(auth_verify(v, tok, NOW, &c, &why), PL_OK);
    assert_int_equal(c.admin, 1);
    auth_claims_free(&c);
    free(tok);

    const char *others[] = {"\"user\"", "\"Admin\"", "[\"admin\"]", "true", "\"admins\""};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        char payload[128];
        snprintf(payload, sizeof(payload),
                 "{\"sub\":\"a\",\"exp\":1700000100,\"role\":%s}", others[i]);
        tok = hs_token(payload);
        assert_int_equal(auth_verify(v, tok, NOW, &c, &why), PL_OK);
        assert_int_equal(c.admin, 0);
        auth_claims_free(&c);
        free(tok);
    }
    auth_verifier_free(v);
}

static void test_rs256(void **state)
{
    struct keys *k = *state;
    struct auth_config cfg = {
        .alg = "RS256", .public_key_pem = k->rsa_pub, .private_key_pem = k->rsa_priv};
    const char *claims = "{\"sub\":\"carol\",\"exp\":1700000100}";
    struct auth_verifier *v = NULL, *pubonly = NULL;
    struct auth_claims c;
    enum auth_result why;
    char err[128];
    char *tok = NULL;

    assert_int_equal(auth_verifier_new(&cfg, &v, err, sizeof(err)), PL_OK);
    cfg.private_key_pem = NULL;
    assert_int_equal(auth_verifier_new(&cfg, &pubonly, err, sizeof(err)), PL_OK);

    /* Signed by the matching private key (outside, as an IdP would). */
    tok = lib_token(JWT_ALG_RS256, k->rsa_priv, claims);
    assert_int_equal(auth_verify(pubonly, tok, NOW, &c, &why), PL_OK);
    assert_string_equal(c.subject, "carol");
    auth_claims_free(&c);
    free(tok);

    /* Signed by another RSA key. */
    tok = lib_token(JWT_ALG_RS256, k->rsa2_priv, claims);
    assert_int_equal(check(pubonly, tok, NOW), AUTH_BAD_SIGNATURE);
    free(tok);

    /* Key confusion: an HS256 token whose HMAC key is the public key PEM
     * (which anyone may know). libjwt alone would accept it. */
    tok = lib_token(JWT_ALG_HS256, k->rsa_pub, claims);
    assert_int_equal(check(pubonly, tok, NOW), AUTH_BAD_ALG);
    free(tok);
    tok = hand_token("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", claims, k->rsa_pub,
                     strlen(k->rsa_pub));
    assert_int_equal(check(pubonly, tok, NOW), AUTH_BAD_ALG);
    free(tok);

    /* RS512 with the right key is still not RS256. */
    tok = lib_token(JWT_ALG_RS512, k->rsa_priv, claims);
    assert_int_equal(check(pubonly, tok, NOW), AUTH_BAD_ALG);
    free(tok);

    /* Issue needs the private key. */
    assert_int_equal(auth_token_issue(pubonly, "carol", 0, 60, NOW, &tok), PL_ESTATE);
    assert_null(tok);
    assert_int_equal(auth_token_issue(v, "carol", 1, 60, NOW, &tok), PL_OK);
    assert_int_equal(auth_verify(pubonly, tok, NOW + 59, &c, &why), PL_OK);
    assert_string_equal(c.subject, "carol");
    assert_int_equal(c.admin, 1);
    assert_int_equal(c.expires, NOW + 60);
    auth_claims_free(&c);
    assert_int_equal(check(pubonly, tok, NOW + 60), AUTH_EXPIRED);
    free(tok);

    auth_verifier_free(v);
    auth_verifier_free(pubonly);
}

static void test_es256(void **state)
{
    struct keys *k = *state;
    struct auth_config cfg = {
        .alg = "ES256", .public_key_pem = k->ec_pub, .private_key_pem = k->ec_priv};
    const char *claims = "{\"sub\":\"dave\",\"exp\":1700000100}";
    struct auth_verifier *v = NULL;
    struct auth_claims c;
    enum auth_result why;
    char err[128];
    char *tok = NULL;

    assert_int_equal(auth_verifier_new(&cfg, &v, err, sizeof(err)), PL_OK);
    assert_int_equal(auth_token_issue(v, "dave", 0, 60, NOW, &tok), PL_OK);
    assert_int_equal(auth_verify(v, tok, NOW, &c, &why), PL_OK);
    assert_string_equal(c.subject, "dave");
    auth_claims_free(&c);
    free(tok);

    tok = lib_token(JWT_ALG_ES256, k->ec_priv, claims);
    assert_int_equal(check(v, tok, NOW), AUTH_OK);
    free(tok);
    tok = lib_token(JWT_ALG_HS256, k->ec_pub, claims);
    assert_int_equal(check(v, tok, NOW), AUTH_BAD_ALG);
    free(tok);
    tok = lib_token(JWT_ALG_RS256, k->rsa_priv, claims);
    assert_int_equal(check(v, tok, NOW), AUTH_BAD_ALG);
    free(tok);
    auth_verifier_free(v);
}

static void test_issue_hs256(void **state)
{
    struct auth_verifier *v = hs_verifier(NULL, NULL, 0);
    struct auth_claims c;
    enum auth_result why;
    char *tok = NULL;

    assert_int_equal(auth_token_issue(v, "erin@example.com", 0, 3600, NOW, &tok), PL_OK);
    assert_int_equal(auth_verify(v, tok, NOW, &c, &why), PL_OK);
    assert_string_equal(c.subject, "erin@example.com");
    assert_int_equal(c.admin, 0);
    assert_int_equal(c.expires, NOW + 3600);
    auth_claims_free(&c);
    free(tok);

    assert_int_equal(auth_token_issue(v, "root", 1, 10, NOW, &tok), PL_OK);
    assert_int_equal(auth_verify(v, tok, NOW, &c, &why), PL_OK);
    assert_int_equal(c.admin, 1);
    auth_claims_free(&c);
    free(tok);
    tok = NULL;

    /* With iss and aud configured, issued tokens carry them. */
    {
        struct auth_verifier *strict = hs_verifier("idp", "parley", 0);
        assert_int_equal(auth_token_issue(strict, "frank", 0, 10, NOW, &tok), PL_OK);
        assert_int_equal(check(strict, tok, NOW), AUTH_OK);
        /* ... and a verifier wanting another audience refuses them. */
        {
            struct auth_verifier *other = hs_verifier("idp", "elsewhere", 0);
            assert_int_equal(check(other, tok, NOW), AUTH_BAD_CLAIMS);
            auth_verifier_free(other);
        }
        free(tok);
        tok = NULL;
        auth_verifier_free(strict);
    }

    assert_int_equal(auth_token_issue(v, "", 0, 10, NOW, &tok), PL_EINVAL);
    assert_int_equal(auth_token_issue(v, NULL, 0, 10, NOW, &tok), PL_EINVAL);
    assert_int_equal(auth_token_issue(v, "a", 0, 0, NOW, &tok), PL_EINVAL);
    assert_int_equal(auth_token_issue(v, "a", 0, 10, NOW, NULL), PL_EINVAL);
    assert_null(tok);
    auth_verifier_free(v);
}

static void test_verifier_config(void **state)
{
    struct keys *k = *state;
    struct auth_verifier *v = NULL;
    char err[128];
    struct auth_config bad[] = {
        {.alg = NULL, .secret = SECRET},
        {.alg = "hs256", .secret = SECRET},
        {.alg = "HS512", .secret = SECRET},
        {.alg = "none", .secret = SECRET},
        {.alg = "HS256"},
        {.alg = "HS256", .secret = ""},
        {.alg = "HS256", .secret = SECRET, .leeway = -1},
        {.alg = "HS256", .secret = SECRET, .leeway = 100000},
        {.alg = "RS256", .secret = SECRET},
        {.alg = "RS256", .public_key_pem = "not a key"},
        {.alg = "RS256", .public_key_pem = k->ec_pub},
        {.alg = "ES256", .public_key_pem = k->rsa_pub},
        {.alg = "RS256", .public_key_pem = k->rsa_priv}, /* private where public goes */
        {.alg = "RS256", .public_key_pem = k->rsa_pub, .private_key_pem = k->rsa2_priv},
        {.alg = "RS256", .public_key_pem = k->rsa_pub, .private_key_pem = "junk"},
        {.alg = "ES256", .public_key_pem = k->ec_pub, .private_key_pem = k->rsa_priv},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(auth_verifier_new(&bad[i], &v, err, sizeof(err)), PL_EINVAL);
        assert_null(v);
        assert_true(strlen(err) > 0);
    }
    assert_int_equal(auth_verifier_new(NULL, &v, err, sizeof(err)), PL_EINVAL);

    /* A one-byte secret is allowed (length policy is the operator's). */
    {
        struct auth_config cfg = {.alg = "HS256", .secret = "x"};
        assert_int_equal(auth_verifier_new(&cfg, &v, NULL, 0), PL_OK);
        auth_verifier_free(v);
    }
    /* The configuration is copied: the caller's strings may go away. */
    {
        char *secret = strdup(SECRET);
        char *aud = strdup("parley");
        struct auth_config cfg = {.alg = "HS256", .secret = secret, .audience = aud};
        char *tok;
        assert_int_equal(auth_verifier_new(&cfg, &v, err, sizeof(err)), PL_OK);
        memset(secret, 'z', strlen(secret));
        memset(aud, 'z', strlen(aud));
        free(secret);
        free(aud);
        tok = hs_token("{\"sub\":\"a\",\"exp\":1700000100,\"aud\":\"parley\"}");
        assert_int_equal(check(v, tok, NOW), AUTH_OK);
        free(tok);
        auth_verifier_free(v);
    }
    auth_verifier_free(NULL);
}

static void test_result_str(void **state)
{
    for (int i = AUTH_OK; i <= AUTH_BAD_CLAIMS; i++) {
        const char *s = auth_result_str((enum auth_result)i);
        assert_non_null(s);
        assert_true(strlen(s) > 0);
        for (int j = AUTH_OK; j < i; j++)
            assert_string_not_equal(s, auth_result_str((enum auth_result)j));
    }
    assert_string_equal(auth_result_str(AUTH_OK), "ok");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_hs256), cmocka_unit_test(test_missing),
        cmocka_unit_test(test_malformed),   cmocka_unit_test(test_alg_none),
        cmocka_unit_test(test_wrong_alg),   cmocka_unit_test(test_bad_signature),
        cmocka_unit_test(test_expiry),      cmocka_unit_test(test_not_before),
        cmocka_unit_test(test_subject),     cmocka_unit_test(test_issuer),
        cmocka_unit_test(test_audience),    cmocka_unit_test(test_admin_role),
        cmocka_unit_test(test_rs256),       cmocka_unit_test(test_es256),
        cmocka_unit_test(test_issue_hs256), cmocka_unit_test(test_verifier_config),
        cmocka_unit_test(test_result_str),
    };

    return cmocka_run_group_tests(tests, keys_setup, keys_teardown);
}
