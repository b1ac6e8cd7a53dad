/* The HTTP side: libmicrohttpd with its own pool of threads on epoll, the
 * checks every request passes before a handler runs, in this order:
 *
 *   1. framing: one Content-Length at most, not with Transfer-Encoding, and
 *      Transfer-Encoding only "chunked" (the request smuggling shapes);
 *      a declared body over 1 MiB is 413 before it is read;
 *   2. the path, from the raw request target, split and decoded strictly
 *      (api_path_parse), then matched exactly against the route table:
 *      404, or 405 with Allow;
 *   3. the token, unless the route is public: `Authorization: Bearer` only
 *      (the shared extraction of auth_http.h, never given the Cookie
 *      header), verified by the one verifier; none or bad 401, not an
 *      admin 403;
 *   4. the query parameters against the route's declared names;
 *   5. a body only where the route takes one, as application/json (415),
 *      at most 1 MiB (413), arriving within API_REQUEST_DEADLINE_MS.
 *
 * Then the handler fills a struct api_reply, and it goes out with the
 * same headers for all. The API's own metrics (requests by route and
 * status, latency) are counted when a request completes. */
#include "api_internal.h"

#include "auth_http.h"
#include "db_read.h"
#include "pl_buf.h"
#include "pl_error.h"
#include "pl_limit.h"
#include "pl_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* The statuses counted one by one; anything else is "other". */
static const int api_statuses[] = {200, 201, 204, 400, 401, 403, 404, 405,
                                   408, 409, 413, 415, 500, 501, 503};
#define API_NSTATUS (sizeof(api_statuses) / sizeof(api_statuses[0]) + 1)
/* Latency bucket bounds in microseconds (the last bucket is +Inf). */
static const uint64_t api_latency_bounds[] = {1000,   5000,   10000,  25000,   50000,
                                              100000, 250000, 500000, 1000000, 5000000};
#define API_NLATENCY (sizeof(api_latency_bounds) / sizeof(api_latency_bounds[0]))

struct api_route_stats {
    atomic_uint_fast64_t status[API_NSTATUS];
    atomic_uint_fast64_t bucket[API_NLATENCY + 1];
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t sum_us;
};

struct api_server {
    struct api_config cfg;
    char *host, *tls_cert_pem, *tls_key_pem;
    char *domain, *muc_domain, *conninfo, *migrations_dir, *metrics_token;
    char *web_dir, *modules_dir; /* the web admin's files (api_static.c); NULL: none */
    char *upload_dir;            /* api_upload.c */
    struct db_read_pool *pool;
    struct MHD_Daemon *daemon;
    int port;
    struct api_route_stats *stats; /* api_nroutes + 1: the last is "no route" */
    /* PARLEY_LIMIT_API_RATE: one bucket per admin; the API's threads share
     * it under the lock (a few admins: the lock is held for a hash probe). */
    pthread_mutex_t rate_lock;
    struct pl_keyed rate;
    int64_t rate_swept_us;
    struct api_page_cache sessions_cache; /* api_sessions.c */
    struct api_token_cache tokens;        /* api_tokens.c */
};

/* One request, from the URI log callback to the completion callback. */
struct api_exchange {
    struct api_server *srv;
    char *uri; /* the raw request target */
    int64_t start_us;
    int phase; /* 0: headers not looked at; 1: reading the body; 2: answered */
    const struct api_route *route;
    struct api_request req;
    struct pl_buf body;
    int too_large;
    int status;
    char addr[64];  /* the client's address, for handlers */
    char method[8]; /* a copy, for the log line at completion */
    int upload;     /* under /upload/: api_upload.c answers */
    struct api_upload *upload_state;
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct api_page_cache *api_server_sessions_cache(struct api_server *srv)
{
    return &srv->sessions_cache;
}

const struct api_config *api_server_config(const struct api_server *srv)
{
    return &srv->cfg;
}

struct db_read_pool *api_server_pool(const struct api_server *srv)
{
    return srv->pool;
}

int api_server_port(const struct api_server *srv)
{
    return srv->port;
}

/* ---- metrics ----------------------------------------------------------- */

static void record(struct api_server *srv, const struct api_route *route, int status,
                   uint64_t us)
{
    size_t r = route ? (size_t)(route - api_routes) : api_nroutes;
    struct api_route_stats *st = &srv->stats[r];
    size_t s = 0;
    while (s < API_NSTATUS - 1 && api_statuses[s] != status)
        s++;
    atomic_fetch_add_explicit(&st->status[s], 1, memory_order_relaxed);
    size_t b = 0;
    while (b < API_NLATENCY && us > api_latency_bounds[b])
        b++;
    atomic_fetch_add_explicit(&st->bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->sum_us, us, memory_order_relaxed);
}

/* Routes of one pattern share a name but not a method: a series per
 * (route name, method). */
int api_server_metrics(struct api_server *srv, struct pl_buf *out)
{
    int rc = pl_buf_append_str(out, "# HELP parley_api_requests_total Admin API requests "
                                    "by route, method and status.\n"
                                    "# TYPE parley_api_requests_total counter\n");
    for (size_t r = 0; rc == PL_OK && r <= api_nroutes; r++) {
        const char *name = r < api_nroutes ? api_routes[r].name : "none";
        const char *method = r < api_nroutes ? api_routes[r].method : "any";
        for (size_t s = 0; rc == PL_OK && s < API_NSTATUS; s++) {
            uint64_t n =
                atomic_load_explicit(&srv->stats[r].status[s], memory_order_relaxed);
            if (!n)
                continue;
            char code[8];
            if (s < API_NSTATUS - 1)
                snprintf(code, sizeof(code), "%d", api_statuses[s]);
            else
                snprintf(code, sizeof(code), "other");
            rc = pl_buf_appendf(out,
                                "parley_api_requests_total{route=\"%s\",method=\"%s\","
                                "status=\"%s\"} %llu\n",
                                name, method, code, (unsigned long long)n);
        }
    }
    if (rc == PL_OK)
        rc = pl_buf_append_str(out, "# HELP parley_api_request_seconds Admin API request "
                                    "latency, until the response is sent.\n"
                                    "# TYPE parley_api_request_seconds histogram\n");
    for (size_t r = 0; rc == PL_OK && r <= api_nroutes; r++) {
        struct api_route_stats *st = &srv->stats[r];
        uint64_t count = atomic_load_explicit(&st->count, memory_order_relaxed);
        if (!count)
            continue;
        const char *name = r < api_nroutes ? api_routes[r].name : "none";
        const char *method = r < api_nroutes ? api_routes[r].method : "any";
        uint64_t cum = 0;
        for (size_t b = 0; rc == PL_OK && b <= API_NLATENCY; b++) {
            cum += atomic_load_explicit(&st->bucket[b], memory_order_relaxed);
            char le[32];
            if (b < API_NLATENCY)
                snprintf(le, sizeof(le), "%g", (double)api_latency_bounds[b] / 1e6);
            else
                snprintf(le, sizeof(le), "+Inf");
            rc = pl_buf_appendf(
                out,
                "parley_api_request_seconds_bucket{route=\"%s\",method=\"%s\","
                "le=\"%s\"} %llu\n",
                name, method, le, (unsigned long long)cum);
        }
        if (rc == PL_OK)
            rc = pl_buf_appendf(
                out,
                "parley_api_request_seconds_sum{route=\"%s\",method=\"%s\"} %.6f\n"
                "parley_api_request_seconds_count{route=\"%s\",method=\"%s\"} %llu\n",
                name, method,
                (double)atomic_load_explicit(&st->sum_us, memory_order_relaxed) / 1e6,
                name, method, (unsigned long long)count);
    }
    return rc;
}

/* ---- answering --------------------------------------------------------- */

struct api_stream_box {
    api_stream_fn fn;
    void *ctx;
    void (*free_fn)(void *ctx);
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct api_stream_box *box = cls;
    long n = box->fn(box->ctx, buf, max);
    if (n == -1)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (n < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    struct api_stream_box *box = cls;
    if (box->free_fn)
        box->free_fn(box->ctx);
    free(box);
}

/* Queues rep on c and frees what it held. */
static enum MHD_Result answer(struct api_exchange *x, struct MHD_Connection *c,
                              struct api_reply *rep)
{
    struct MHD_Response *resp = NULL;
    if (!rep->body && !rep->stream && rep->status != 204 && rep->status != 304)
        api_problem(rep, 500, "internal", NULL, "out of memory");
    if (rep->stream) {
        struct api_stream_box *box = malloc(sizeof(*box));
        if (box) {
            *box =
                (struct api_stream_box){rep->stream, rep->stream_ctx, rep->stream_free};
            resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024,
                                                     stream_read, box, stream_free);
            if (resp) {
                rep->stream = NULL;
                rep->stream_ctx = NULL; /* the response owns it now */
                rep->stream_free = NULL;
            } else {
                free(box);
            }
        }
    } else {
        resp = MHD_create_response_from_buffer(
            rep->len, rep->body ? rep->body : (char *)"",
            rep->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
        if (resp)
            rep->body = NULL;
    }
    if (!resp) {
        api_reply_free(rep);
        return MHD_NO;
    }
    if (rep->content_type && rep->status != 204 && rep->status != 304)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rep->content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                            rep->cache_control ? rep->cache_control : "no-store");
    if (rep->csp)
        MHD_add_response_header(resp, "Content-Security-Policy", rep->csp);
    if (rep->etag[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, rep->etag);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (rep->allow[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, rep->allow);
    if (rep->cors_any)
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
    if (rep->disposition)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION,
                                rep->disposition);
    if (rep->status == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"parley-admin\"");
    if (rep->close)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (rep->retry_after > 0) {
        char secs[16];
        snprintf(secs, sizeof(secs), "%d", rep->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, secs);
    }
    x->status = rep->status;
    x->phase = 2;
    enum MHD_Result ok = MHD_queue_response(c, (unsigned int)rep->status, resp);
    MHD_destroy_response(resp);
    api_reply_free(rep);
    return ok;
}

/* ---- the checks before a handler --------------------------------------- */

struct header_scan {
    int content_length; /* how many */
    int transfer_encoding;
    const char *cl_value;
    const char *te_value;
};

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct header_scan *h = cls;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        h->content_length++;
        h->cl_value = value;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        h->transfer_encoding++;
        h->te_value = value;
    }
    return MHD_YES;
}

/* 1 if the Content-Type is JSON (parameters such as charset allowed). */
static int is_json_type(const char *ct)
{
    if (!ct)
        return 0;
    while (*ct == ' ')
        ct++;
    size_t n = strlen("application/json");
    return strncasecmp(ct, "application/json", n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* The Bearer token of the request, never the auth_token cookie: the admin
 * API takes no credential a cross-site request could ride on. NULL if
 * none. */
static char *bearer_token(const char *authorization)
{
    char *tok = NULL;
    if (auth_token_from_headers(NULL, authorization, &tok) != PL_OK)
        return NULL;
    return tok;
}

/* Wipes a credential before freeing it. */
static void token_free(char *tok)
{
    if (tok) {
        explicit_bzero(tok, strlen(tok));
        free(tok);
    }
}

/* The admin a Bearer token speaks for, into *actor (the caller frees it):
 * from the tokens verified lately (api_tokens.c), else from the verifier,
 * and then kept. PL_OK, or an error with rep holding its 401, 403 or 500. */
static int admin_of_token(struct api_server *srv, const char *tok, char **actor,
                          struct api_reply *rep)
{
    long now = (long)time(NULL);
    int rc = api_token_cache_get(&srv->tokens, tok, now, actor);
    if (rc == PL_OK)
        return rc;
    if (rc == PL_ENOMEM) {
        api_problem(rep, 500, "internal", NULL, "out of memory");
        return rc;
    }
    struct auth_claims claims = {0};
    enum auth_result why = AUTH_MISSING;
    if (auth_verify(srv->cfg.verifier, tok, now, &claims, &why) != PL_OK) {
        api_problem(rep, 401, "unauthorized", NULL, "the token was refused: %s",
                    auth_result_str(why));
        return PL_EDENIED;
    }
    if (!claims.admin) {
        auth_claims_free(&claims);
        api_problem(rep, 403, "forbidden", NULL,
                    "the token does not carry \"role\": \"admin\"");
        return PL_EDENIED;
    }
    if (claims.expires > now) /* else accepted within the leeway only */
        api_token_cache_put(&srv->tokens, tok, claims.expires, claims.subject);
    *actor = claims.subject;
    claims.subject = NULL;
    auth_claims_free(&claims);
    return PL_OK;
}

/* PARLEY_LIMIT_API_RATE for the admin `actor`: PL_OK, or PL_EDENIED with
 * rep holding a 429 and its Retry-After. Keyed by the subject, so every
 * token of one admin shares one bucket. */
static int check_rate(struct api_server *srv, const char *actor, struct api_reply *rep)
{
    if (srv->cfg.rate_per_token <= 0 || !actor)
        return PL_OK;
    int64_t now = now_us() + 1, retry = 0;
    pthread_mutex_lock(&srv->rate_lock);
    if (now - srv->rate_swept_us > 1000000) {
        pl_keyed_sweep(&srv->rate, now);
        srv->rate_swept_us = now;
    }
    int ok = pl_keyed_take(&srv->rate, actor, now) == 1;
    if (!ok)
        pl_keyed_has(&srv->rate, actor, now, &retry);
    pthread_mutex_unlock(&srv->rate_lock);
    if (ok)
        return PL_OK;
    pl_metrics_limit(srv->cfg.metrics, PL_METRICS_LIMIT_API_RATE);
    rep->retry_after = (int)((retry + 999999) / 1000000);
    if (rep->retry_after < 1)
        rep->retry_after = 1;
    api_problem(rep, 429, "too-many-requests", NULL,
                "more than %d requests a second for this admin; retry after %d s",
                srv->cfg.rate_per_token, rep->retry_after);
    return PL_EDENIED;
}

/* Checks 1 to 5 (see the top of the file) on the request headers. PL_OK to
 * go on; otherwise rep holds the answer. */
static int check_request(struct api_exchange *x, struct MHD_Connection *c,
                         const char *method, struct api_reply *rep)
{
    struct api_server *srv = x->srv;
    struct header_scan h = {0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, scan_header, &h);
    unsigned long long declared = 0;
    if (h.content_length > 1 || (h.content_length && h.transfer_encoding) ||
        h.transfer_encoding > 1 ||
        (h.transfer_encoding && strcasecmp(h.te_value, "chunked") != 0)) {
        rep->close = 1;
        api_problem(rep, 400, "invalid-request", NULL,
                    "ambiguous message framing: one Content-Length, or "
                    "Transfer-Encoding: chunked, not both");
        return PL_EINVAL;
    }
    if (h.content_length) {
        char *end;
        declared = strtoull(h.cl_value, &end, 10);
        if (!*h.cl_value || *end || h.cl_value[0] == '-' || h.cl_value[0] == '+') {
            rep->close = 1;
            api_problem(rep, 400, "invalid-request", NULL, "bad Content-Length");
            return PL_EINVAL;
        }
        if (declared > API_BODY_MAX) {
            rep->close = 1;
            api_problem(rep, 413, "payload-too-large", NULL,
                        "the body is over the limit of %d bytes", API_BODY_MAX);
            return PL_ETOOBIG;
        }
    }
    int has_body = declared > 0 || h.transfer_encoding;

    const char *uri = x->uri ? x->uri : "";
    const char *qmark = strchr(uri, '?');
    size_t plen = qmark ? (size_t)(qmark - uri) : strlen(uri);
    if (memchr(uri, '#', strlen(uri))) {
        api_problem(rep, 400, "invalid-path", NULL, "a request target has no fragment");
        return PL_EINVAL;
    }
    int rc = api_path_parse(uri, plen, &x->req.path);
    if (rc != PL_OK) {
        api_problem(rep, rc == PL_ETOOBIG ? 404 : 400,
                    rc == PL_ETOOBIG ? "not-found" : "invalid-path", NULL,
                    "the path is not in normal form (empty or dot segments, encoded "
                    "separators, ';' parameters or bad escapes are refused)");
        return PL_EINVAL;
    }
    rc = api_route_find(api_routes, api_nroutes, method, &x->req.path, &x->route,
                        x->req.path_params, &x->req.npath_params, rep->allow,
                        sizeof(rep->allow));
    if (rc == PL_ENOENT) {
        /* Not an API route: one of the web admin's files, if it is one
         * (never with a body; the API's own paths stay problems). */
        if ((strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) && !has_body) {
            const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                          MHD_HTTP_HEADER_IF_NONE_MATCH);
            int src =
                api_static_reply(srv->web_dir, srv->modules_dir, &x->req.path, inm, rep);
            if (src == PL_OK)
                return rc; /* not a handler: rep holds the file */
            if (src == PL_EIO) {
                api_problem(rep, 500, "internal", NULL, "the file could not be read");
                return src;
            }
        }
        api_problem(rep, 404, "not-found", NULL, "no such resource");
        return rc;
    }
    if (rc == PL_ESTATE) {
        api_problem(rep, 405, "method-not-allowed", NULL,
                    "%s is not allowed here (%s is)", method, rep->allow);
        return rc;
    }
    rep->allow[0] = '\0';

    unsigned flags = x->route->flags;
    const char *authz =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (flags & API_ROUTE_METRICS) {
        if (srv->metrics_token) {
            char *tok = bearer_token(authz);
            int ok = tok && api_same_secret(tok, srv->metrics_token);
            token_free(tok);
            if (!ok) {
                api_problem(rep, 401, "unauthorized", NULL,
                            "/metrics needs the metrics token as a Bearer token");
                return PL_EDENIED;
            }
        }
    } else if (!(flags & API_ROUTE_PUBLIC)) {
        char *tok = bearer_token(authz);
        if (!tok) {
            api_problem(rep, 401, "unauthorized", NULL,
                        "an admin token is needed in 'Authorization: Bearer'");
            return PL_EDENIED;
        }
        rc = admin_of_token(srv, tok, &x->req.actor, rep);
        token_free(tok);
        if (rc != PL_OK)
            return rc;
        rc = check_rate(srv, x->req.actor, rep);
        if (rc != PL_OK)
            return rc;
    }

    const char *bad = NULL;
    rc = api_query_parse(qmark ? qmark + 1 : NULL, x->route->params, &x->req.query, &bad);
    if (rc == PL_ENOENT) {
        api_problem(rep, 400, "unknown-parameter", bad, "unknown query parameter '%s'",
                    bad);
        return rc;
    }
    if (rc != PL_OK) {
        if (bad)
            api_problem(rep, 400, "invalid-parameter", bad,
                        "query parameter '%s' is given twice", bad);
        else
            api_problem(rep, 400, "invalid-parameter", NULL,
                        "the query string is malformed (a bad escape or a control byte)");
        return rc;
    }

    if (flags & API_ROUTE_BODY) {
        const char *ct =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        if (!is_json_type(ct)) {
            rep->close = has_body;
            api_problem(rep, 415, "unsupported-media-type", NULL,
                        "the body must be application/json");
            return PL_EINVAL;
        }
    } else if (has_body) {
        rep->close = 1;
        api_problem(rep, 400, "invalid-request", NULL, "%s %s takes no body", method,
                    x->route->pattern);
        return PL_EINVAL;
    }
    return PL_OK;
}

/* ---- libmicrohttpd callbacks ------------------------------------------- */

/* The API's threads give way to the XMPP loop and the store when both
 * want a core: on two cores, a dashboard asking 500 times a second made
 * the messages' latency longer though their throughput held
 * (tests/bench/RESULTS.md). At API_THREAD_NICE above the process, a thread
 * of the API weighs about a tenth of the loop's with the scheduler, and is
 * still served on a busy machine. On Linux the nice value belongs to each
 * thread (setpriority on the thread's id); libmicrohttpd starts its
 * threads itself, so each lowers its own on its first request. */
#define API_THREAD_NICE 10

static _Thread_local int api_thread_niced;

static void give_way(void)
{
    if (api_thread_niced)
        return;
    api_thread_niced = 1;
    id_t tid = (id_t)syscall(SYS_gettid);
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, tid);
    int want = nice + API_THREAD_NICE > 19 ? 19 : nice + API_THREAD_NICE;
    if (errno == 0 && want != nice)
        (void)setpriority(PRIO_PROCESS, tid, want);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    give_way();
    struct api_exchange *x = calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->srv = cls;
    x->uri = strdup(uri ? uri : "");
    x->start_us = now_us();
    return x;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
    struct api_exchange *x = *con_cls;
    if (!x || !x->uri)
        return MHD_NO; /* out of memory: drop the connection */
    struct api_reply rep = {0};
    if (x->phase == 0 && api_upload_match(x->uri))
        x->upload = 1;
    if (x->upload) {
        if (x->phase == 0) {
            x->phase = 1;
            snprintf(x->method, sizeof(x->method), "%s", method);
        }
        return api_upload_handle(x->srv, c, x->uri, method, upload, upload_size,
                                 &x->upload_state, &x->status) == MHD_YES
                   ? MHD_YES
                   : MHD_NO;
    }
    if (x->phase == 0) {
        x->phase = 1;
        x->req.method = method;
        snprintf(x->method, sizeof(x->method), "%s", method);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (ci && ci->client_addr) {
            if (ci->client_addr->sa_family == AF_INET)
                inet_ntop(AF_INET, &((struct sockaddr_in *)ci->client_addr)->sin_addr,
                          x->addr, sizeof(x->addr));
            else if (ci->client_addr->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ci->client_addr)->sin6_addr,
                          x->addr, sizeof(x->addr));
        }
        x->req.client_address = x->addr;
        if (check_request(x, c, method, &rep) != PL_OK)
            return answer(x, c, &rep);
        return MHD_YES;
    }
    if (x->phase == 2) {
        *upload_size = 0; /* answered already: what still comes is dropped */
        return MHD_YES;
    }
    if (*upload_size) {
        if (now_us() - x->start_us > (int64_t)API_REQUEST_DEADLINE_MS * 1000) {
            pl_info(0, NULL, "api: a request body did not arrive in %d ms: dropped",
                    API_REQUEST_DEADLINE_MS);
            x->status = 408;
            x->phase = 2;
            return MHD_NO;
        }
        if (!x->too_large && x->body.len + *upload_size > API_BODY_MAX) {
            x->too_large = 1;
            pl_buf_free(&x->body);
        }
        if (!x->too_large && pl_buf_append(&x->body, upload, *upload_size) != PL_OK)
            return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    if (x->too_large) {
        rep.close = 1;
        api_problem(&rep, 413, "payload-too-large", NULL,
                    "the body is over the limit of %d bytes", API_BODY_MAX);
        return answer(x, c, &rep);
    }
    x->req.body = x->body.data;
    x->req.body_len = x->body.len;
    x->route->handler(x->srv, &x->req, &rep);
    return answer(x, c, &rep);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct api_server *srv = cls;
    struct api_exchange *x = *con_cls;
    if (!x)
        return;
    if (x->status) {
        int status = x->status;
        /* A stream cut short is counted as a failure, not as its 200. */
        if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && status < 400)
            status = 500;
        uint64_t us = (uint64_t)(now_us() - x->start_us);
        record(srv, x->route, status, us);
        /* The route's pattern, not the path: no user name or query in the
         * log above debug, and never a token. */
        pl_debug(0, x->req.actor, "api: %s %s %d %.1f ms from %s",
                 x->method[0] ? x->method : "-", x->route ? x->route->pattern : "-",
                 status, (double)us / 1000.0, x->addr[0] ? x->addr : "-");
    }
    api_upload_done(srv, x->upload_state);
    api_path_free(&x->req.path);
    api_query_free(&x->req.query);
    free(x->req.actor);
    pl_buf_free(&x->body);
    free(x->uri);
    free(x);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    pl_debug(0, NULL, "api: libmicrohttpd: %s", msg);
}

/* ---- start and stop ---------------------------------------------------- */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct pl_buf b = PL_BUF_INIT;
    char chunk[4096];
    size_t n;
    int ok = 1;
    while (ok && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        ok = pl_buf_append(&b, chunk, n) == PL_OK;
    ok = ok && !ferror(f) && b.len > 0;
    fclose(f);
    if (!ok) {
        pl_buf_free(&b);
        return NULL;
    }
    return pl_buf_steal(&b, NULL);
}

static int dup_opt(const char *s, char **out)
{
    *out = NULL;
    if (!s)
        return 0;
    *out = strdup(s);
    return *out == NULL;
}

void api_server_stop(struct api_server *srv)
{
    if (!srv)
        return;
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    db_read_close(srv->pool);
    free(srv->stats);
    free(srv->host);
    free(srv->tls_cert_pem);
    free(srv->tls_key_pem);
    free(srv->domain);
    free(srv->muc_domain);
    free(srv->conninfo);
    free(srv->migrations_dir);
    free(srv->metrics_token);
    free(srv->web_dir);
    free(srv->modules_dir);
    free(srv->upload_dir);
    pl_keyed_free(&srv->rate);
    pthread_mutex_destroy(&srv->rate_lock);
    api_page_cache_free(&srv->sessions_cache);
    api_token_cache_free(&srv->tokens);
    free(srv);
}

int api_server_start(const struct api_config *cfg, struct api_server **out)
{
    *out = NULL;
    if (!cfg->verifier || !cfg->domain || (!cfg->tls_cert != !cfg->tls_key))
        return PL_EINVAL;
    struct api_server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return PL_ENOMEM;
    int rc = PL_ENOMEM;
    pthread_mutex_init(&srv->rate_lock, NULL);
    api_page_cache_init(&srv->sessions_cache);
    api_token_cache_init(&srv->tokens);
    pl_keyed_init(&srv->rate, cfg->rate_per_token, 10.0 * cfg->rate_per_token, 0);
    srv->stats = calloc(api_nroutes + 1, sizeof(*srv->stats));
    if (!srv->stats || dup_opt(cfg->host, &srv->host) ||
        dup_opt(cfg->domain, &srv->domain) ||
        dup_opt(cfg->muc_domain, &srv->muc_domain) ||
        dup_opt(cfg->conninfo, &srv->conninfo) ||
        dup_opt(cfg->migrations_dir, &srv->migrations_dir) ||
        dup_opt(cfg->metrics_token, &srv->metrics_token) ||
        dup_opt(cfg->upload_dir, &srv->upload_dir))
        goto fail;
    srv->cfg = *cfg;
    srv->cfg.host = srv->host;
    srv->cfg.domain = srv->domain;
    srv->cfg.muc_domain = srv->muc_domain;
    srv->cfg.conninfo = srv->conninfo;
    srv->cfg.migrations_dir = srv->migrations_dir;
    srv->cfg.metrics_token = srv->metrics_token;
    srv->cfg.upload_dir = srv->upload_dir;
    srv->cfg.threads = cfg->threads > 0 ? cfg->threads : 4;
    /* The web admin's folder: PARLEY_WEB_DIR, else the source tree's
     * web-admin/ (CMake's API_DEFAULT_WEB_DIR); empty serves no pages. The
     * chart library comes from the npm packages beside it. */
    const char *web = getenv("PARLEY_WEB_DIR");
    if (!web)
        web = API_DEFAULT_WEB_DIR;
    if (web[0]) {
        const char *mods = getenv("PARLEY_NODE_MODULES");
        if (!mods)
            mods = API_DEFAULT_NODE_MODULES;
        if (dup_opt(web, &srv->web_dir) || dup_opt(mods, &srv->modules_dir))
            goto fail;
    }
    srv->cfg.db_connections =
        cfg->db_connections > 0 ? cfg->db_connections : srv->cfg.threads + 1;

    struct db_read_config rc_cfg = {
        .conninfo = srv->conninfo,
        .migrations_dir = srv->migrations_dir,
        .size = srv->cfg.db_connections,
    };
    if ((rc = db_read_open(&rc_cfg, &srv->pool)) != PL_OK)
        goto fail;

    unsigned int flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (cfg->tls_cert) {
        rc = PL_EIO;
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            pl_error(0, NULL, "api: this libmicrohttpd has no TLS");
            goto fail;
        }
        if (!(srv->tls_cert_pem = slurp(cfg->tls_cert)) ||
            !(srv->tls_key_pem = slurp(cfg->tls_key))) {
            pl_error(0, NULL, "api: cannot read PARLEY_TLS_CERT or PARLEY_TLS_KEY");
            goto fail;
        }
        flags |= MHD_USE_TLS;
    }

    /* The listener's address, resolved once. */
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", cfg->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(srv->host ? srv->host : "127.0.0.1", portstr, &hints, &ai) != 0 ||
        !ai) {
        pl_error(0, NULL, "api: cannot resolve PARLEY_API_ADDR host %s",
                 srv->host ? srv->host : "");
        rc = PL_EINVAL;
        goto fail;
    }
    struct sockaddr_storage sa;
    memcpy(&sa, ai->ai_addr, ai->ai_addrlen);
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    freeaddrinfo(ai);

    struct MHD_OptionItem tls_opts[] = {
        {srv->tls_cert_pem ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0,
         srv->tls_cert_pem},
        {srv->tls_key_pem ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0,
         srv->tls_key_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    srv->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned int)srv->cfg.threads, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)(API_REQUEST_DEADLINE_MS / 1000),
        /* Headers of a request and its buffers: a flood of headers past
         * this is answered with an error by libmicrohttpd itself. */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)1000, MHD_OPTION_STRICT_FOR_CLIENT, 1,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv, MHD_OPTION_ARRAY,
        tls_opts, MHD_OPTION_END);
    if (!srv->daemon) {
        pl_error(0, NULL, "api: cannot listen on %s:%d", srv->host ? srv->host : "",
                 cfg->port);
        rc = PL_EIO;
        goto fail;
    }
    const union MHD_DaemonInfo *di =
        MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : cfg->port;
    pl_info(0, NULL, "admin API on %s://%s:%d/api/v1/", cfg->tls_cert ? "https" : "http",
            srv->host ? srv->host : "", srv->port);
    *out = srv;
    return PL_OK;
fail:
    api_server_stop(srv);
    return rc;
}
