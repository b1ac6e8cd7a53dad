/* SASL inside the stream (RFC 6120 section 6). The connection was already
 * authenticated at the WebSocket upgrade; SASL only has to confirm that
 * identity, as every XMPP client library expects to do it:
 * - PLAIN: authcid is the upgrade's username (or bare JID) and the password
 *   is a JWT,
 *   verified now, for that same user;
 * - EXTERNAL: the upgrade's identity, with an empty authzid or one naming
 *   that user.
 * Any other identity is not-authorized. A client may retry; after
 * XMPP_SASL_MAX_FAILURES failures the stream is closed with the
 * not-authorized stream error. */
#include "xmpp_stream_int.h"
#include "auth_jwt.h"
#include "pl_error.h"
#include "pl_limit.h"
#include "pl_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SASL_SUCCESS "<success xmlns='" XMPP_NS_SASL "'/>"

static void sasl_failure(struct xmpp_stream *s, const char *condition, int counts)
{
    char frame[160];
    snprintf(frame, sizeof(frame), "<failure xmlns='" XMPP_NS_SASL "'><%s/></failure>",
             condition);
    xmpp_stream_write(s, frame, strlen(frame), 0);
    pl_info(s->conn_id, s->bare_jid, "SASL failure: %s", condition);
    if (counts && ++s->sasl_failures >= XMPP_SASL_MAX_FAILURES)
        xmpp_stream_error(s, "not-authorized", "too many authentication failures");
}

/* A failure that is not logged (the caller logs once for many) and does
 * not count towards closing the stream. */
static void sasl_failure_quiet(struct xmpp_stream *s, const char *condition)
{
    char frame[160];
    snprintf(frame, sizeof(frame), "<failure xmlns='" XMPP_NS_SASL "'><%s/></failure>",
             condition);
    xmpp_stream_write(s, frame, strlen(frame), 0);
}

static void sasl_success(struct xmpp_stream *s, const char *mechanism)
{
    xmpp_stream_write(s, SASL_SUCCESS, strlen(SASL_SUCCESS), 0);
    s->state = XMPP_ST_WAIT_RESTART;
    s->sasl_failures = 0;
    pl_info(s->conn_id, s->bare_jid, "authenticated with SASL %s", mechanism);
}

/* An authorization identity may only name the authenticated user: empty,
 * the username, or the bare JID username@domain. */
static int sasl_authzid_ok(const struct xmpp_stream *s, const char *authzid)
{
    if (!authzid[0])
        return 1;
    int ok = 0;
    if (strchr(authzid, '@') || strchr(authzid, '/')) {
        struct xmpp_jid j;
        if (xmpp_jid_parse(authzid, &j) != PL_OK)
            return 0;
        ok = j.local && !j.resource && strcmp(j.local, s->username) == 0 &&
             strcasecmp(j.domain, s->env->domain) == 0;
        xmpp_jid_free(&j);
        return ok;
    }
    char *local = NULL;
    if (xmpp_jid_normalize_local(authzid, &local) != PL_OK)
        return 0;
    ok = strcmp(local, s->username) == 0;
    free(local);
    return ok;
}

/* A token's subject names this stream's user: it must be the username
 * exactly, already in prepared form (as at the upgrade). */
static int sasl_same_user(const struct xmpp_stream *s, const char *subject)
{
    return xmpp_jid_check_username(subject) == PL_OK && strcmp(subject, s->username) == 0;
}

static int sasl_user_allowed(const struct xmpp_stream *s)
{
    const struct xmpp_stream_hooks *h = &s->env->hooks;
    return !h->user_allowed || h->user_allowed(h->ctx, s->username) == 1;
}

/* authzid NUL authcid NUL password (RFC 4616). */
static const char *sasl_plain_check(struct xmpp_stream *s, const unsigned char *msg,
                                    size_t len)
{
    const char *authzid = (const char *)msg;
    const unsigned char *nul1 = memchr(msg, '\0', len);
    if (!nul1)
        return "malformed-request";
    const char *authcid = (const char *)nul1 + 1;
    size_t rest = len - (size_t)(nul1 + 1 - msg);
    const unsigned char *nul2 = memchr(nul1 + 1, '\0', rest);
    if (!nul2)
        return "malformed-request";
    const char *password = (const char *)nul2 + 1;
    size_t plen = len - (size_t)(nul2 + 1 - msg);
    if (memchr(password, '\0', plen))
        return "malformed-request";
    /* Some clients put the bare JID in authcid: it names the same user. */
    if (!authcid[0] || !sasl_authzid_ok(s, authcid) || !sasl_authzid_ok(s, authzid))
        return "not-authorized";
    struct auth_claims claims = {0};
    enum auth_result why = AUTH_OK;
    if (auth_verify(s->env->verifier, password, (long)time(NULL), &claims, &why) !=
        PL_OK) {
        pl_info(s->conn_id, s->bare_jid, "SASL PLAIN token refused: %s",
                auth_result_str(why));
        return "not-authorized";
    }
    int same = claims.subject && sasl_same_user(s, claims.subject);
    auth_claims_free(&claims);
    if (!same || !sasl_user_allowed(s))
        return "not-authorized";
    return NULL;
}

static const char *sasl_external_check(struct xmpp_stream *s, const unsigned char *msg,
                                       size_t len)
{
    if (memchr(msg, '\0', len))
        return "malformed-request";
    if (!sasl_authzid_ok(s, (const char *)msg) || !sasl_user_allowed(s))
        return "not-authorized";
    return NULL;
}

/* The element's text, trimmed, base64-decoded; "=" or nothing is an empty
 * response (RFC 6120 section 6.4.2). */
static int sasl_payload(const struct xmpp_node *el, unsigned char **out, size_t *outlen)
{
    char *text = xmpp_node_text(el);
    if (!text)
        return PL_ENOMEM;
    char *start = text;
    while (*start == ' ' || *start == '\t' || *start == '\r' || *start == '\n')
        start++;
    size_t n = strlen(start);
    while (n && (start[n - 1] == ' ' || start[n - 1] == '\t' || start[n - 1] == '\r' ||
                 start[n - 1] == '\n'))
        n--;
    int rc;
    if (n == 0 || (n == 1 && start[0] == '=')) {
        *out = calloc(1, 1);
        *outlen = 0;
        rc = *out ? PL_OK : PL_ENOMEM;
    } else {
        rc = auth_b64_decode(start, n, out, outlen);
    }
    free(text);
    return rc;
}

void xmpp_sasl_handle(struct xmpp_stream *s, const struct xmpp_node *el)
{
    unsigned char *msg = NULL;
    size_t len = 0;
    if (s->state == XMPP_ST_WAIT_OPEN) {
        xmpp_stream_error(s, "bad-format", "no stream open");
        return;
    }
    if (s->state != XMPP_ST_SASL) {
        xmpp_stream_error(s, "policy-violation", "already authenticated");
        return;
    }
    if (strcmp(el->name, "abort") == 0) {
        sasl_failure(s, "aborted", 0);
        return;
    }
    if (strcmp(el->name, "auth") != 0) {
        /* We never send a challenge, so a <response/> is out of turn. */
        sasl_failure(s, "malformed-request", 1);
        return;
    }
    const char *mech = xmpp_node_attr(el, "mechanism");
    int plain = mech && strcmp(mech, "PLAIN") == 0;
    int external = mech && strcmp(mech, "EXTERNAL") == 0;
    if (!plain && !external) {
        sasl_failure(s, "invalid-mechanism", 1);
        return;
    }
    int rc = sasl_payload(el, &msg, &len);
    if (rc == PL_ENOMEM) {
        xmpp_stream_error(s, "internal-server-error", NULL);
        return;
    }
    if (rc != PL_OK) {
        sasl_failure(s, "incorrect-encoding", 1);
        return;
    }
    /* PARLEY_LIMIT_AUTH_FAILURES: an address or a user that has failed too
     * often lately is told to come back later, before anything is checked;
     * logged once, not at every attempt. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + 1;
    struct pl_auth_limit *limit = s->env->auth_limit;
    char addr[64] = "";
    if (s->address)
        pl_limit_addr_key(s->address, addr, sizeof(addr));
    if (pl_auth_limit_blocked(limit, addr, s->username, now, NULL)) {
        explicit_bzero(msg, len);
        free(msg);
        pl_metrics_limit(limit->metrics, PL_METRICS_LIMIT_AUTH_FAILURES);
        if (pl_auth_limit_first(limit, addr, s->username))
            pl_warn(s->conn_id, s->bare_jid,
                    "over PARLEY_LIMIT_AUTH_FAILURES (address %s): SASL refused "
                    "for a while (logged once)",
                    s->address ? s->address : "-");
        sasl_failure_quiet(s, "temporary-auth-failure");
        return;
    }
    const char *cond;
    if (plain)
        cond = len ? sasl_plain_check(s, msg, len) : "malformed-request";
    else
        cond = sasl_external_check(s, msg, len);
    /* The payload holds a token: do not leave it in freed memory. */
    explicit_bzero(msg, len);
    free(msg);
    if (cond && strcmp(cond, "not-authorized") == 0)
        pl_auth_limit_failed(limit, addr, s->username, now);
    if (cond)
        sasl_failure(s, cond, 1);
    else
        sasl_success(s, plain ? "PLAIN" : "EXTERNAL");
}
