/* Shared by the api_*.c files; not for other layers.
 *
 * The shape follows GNU Taler's exchange (STYLE.md): one route table
 * (api_route.c) maps a method and an exactly matched, normalised path to a
 * handler; one file per resource (api_users.c, api_sessions.c,
 * api_messages.c, api_export.c, api_stats.c, api_audit.c, api_health.c);
 * query parameters and JSON bodies are parsed against declared specs
 * (api_query.c, api_body.c), so an unknown parameter or field is refused in
 * one place; and api_problem.c is the one function that turns an error into
 * an RFC 9457 problem document. Handlers never see libmicrohttpd: they get
 * a struct api_request and fill a struct api_reply. */
#ifndef API_INTERNAL_H
#define API_INTERNAL_H

#include "api.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Bodies over this are refused with 413 (PROTOCOL.md). */
#define API_BODY_MAX (1024 * 1024)
/* A request whose body has not arrived whole by then is dropped: a body
 * that trickles in must not hold a connection forever. */
#define API_REQUEST_DEADLINE_MS 10000
/* Path segments and query parameters a request may have. */
#define API_SEGS_MAX 8
#define API_PARAMS_MAX 16
/* limit= (PROTOCOL.md): default, and the cap. */
#define API_LIMIT_DEFAULT 50
#define API_LIMIT_MAX 500

/* ---- the normalised path (api_route.c) --------------------------------- */

/* A path split into percent-decoded segments. */
struct api_path {
    char *segs[API_SEGS_MAX];
    size_t nsegs;
};

/* Splits and decodes the path of a request target (the part before '?').
 * Refused (PL_EINVAL) rather than normalised: anything a server or a proxy
 * could read as another path than ours, namely an empty segment ("//", a
 * trailing '/'), a dot segment, '.' or '..' (written or percent-encoded), an
 * encoded '/' or '\', a ';' parameter, a '%' not followed by two hex digits
 * (%u002e), a control byte or NUL; more than API_SEGS_MAX segments is
 * PL_ETOOBIG. "/" alone is zero segments. */
int api_path_parse(const char *raw, size_t len, struct api_path *out);
void api_path_free(struct api_path *p);

/* ---- requests and replies ---------------------------------------------- */

/* A query parameter: name and percent-decoded value. */
struct api_param {
    char *name;
    char *value;
};

struct api_query {
    struct api_param params[API_PARAMS_MAX];
    size_t n;
};

struct api_request {
    const char *method;
    struct api_path path;
    struct api_query query;
    const char *path_params[API_SEGS_MAX]; /* the {name} segments, in order */
    size_t npath_params;
    const char *body; /* NUL-terminated; NULL when there is none */
    size_t body_len;
    char *actor; /* the admin token's `sub`; NULL on public routes */
    const char *client_address;
};

/* Streams a response body: writes at most `max` bytes into buf and returns
 * how many (0 is not allowed: block on the database instead), or -1 at the
 * end, or -2 on failure (the connection is cut: a client then sees an
 * incomplete chunked body, not a truncated file it takes for whole). */
typedef long (*api_stream_fn)(void *ctx, char *buf, size_t max);

struct api_reply {
    int status;
    const char *content_type; /* static */
    char *body;               /* owned */
    size_t len;
    char allow[64];       /* 405: the Allow header */
    char *disposition;    /* Content-Disposition, owned */
    int close;            /* answer with Connection: close */
    api_stream_fn stream; /* set: body is streamed instead */
    void *stream_ctx;     /* owned by the stream: freed by stream_free */
    void (*stream_free)(void *ctx);
    const char *cache_control; /* static; NULL: no-store */
    const char *csp;           /* Content-Security-Policy, static; NULL: none */
    char etag[48];             /* "" : none */
    int cors_any;              /* Access-Control-Allow-Origin: * (public documents) */
    int retry_after;           /* 429: Retry-After in seconds; 0: none */
};

/* ---- the route table (api_route.c) ------------------------------------- */

struct api_server;

typedef void (*api_handler_fn)(struct api_server *srv, struct api_request *req,
                               struct api_reply *rep);

enum api_route_flag {
    API_ROUTE_PUBLIC = 1,  /* no token */
    API_ROUTE_METRICS = 2, /* a token only if PARLEY_METRICS_TOKEN is set */
    API_ROUTE_BODY = 4,    /* takes a JSON body */
};

struct api_route {
    const char *method;
    const char *pattern; /* "/api/v1/users/{user}": {x} matches one segment */
    api_handler_fn handler;
    unsigned flags;
    const char *name;          /* for metrics: the pattern, stable */
    const char *const *params; /* the query parameters it takes (NULL-ended), or NULL */
};

extern const struct api_route api_routes[];
extern const size_t api_nroutes;

/* Finds the route for method and path in routes[0..n). PL_OK: *route set,
 * and params[] gets the segments that matched {x} (borrowed from path).
 * PL_ESTATE: the path exists but not with that method; allow gets the
 * methods it has ("GET, POST"). PL_ENOENT: no such path. HEAD is not GET
 * here: routes name their methods. */
int api_route_find(const struct api_route *routes, size_t n, const char *method,
                   const struct api_path *path, const struct api_route **route,
                   const char **params, size_t *nparams, char *allow, size_t allowlen);

/* ---- query parameters (api_query.c) ------------------------------------ */

/* Parses a raw query string (after '?', not decoded; may be NULL or "").
 * '+' is a space and %XX a byte, as forms send them. A parameter named
 * twice, a bad escape, a NUL or control byte is PL_EINVAL; a name not in
 * allowed[] (NULL-terminated) is PL_ENOENT. *bad gets the name at fault
 * (borrowed from out, or NULL). */
int api_query_parse(const char *raw, const char *const *allowed, struct api_query *out,
                    const char **bad);
void api_query_free(struct api_query *q);
/* The value of name, NULL if absent. */
const char *api_query_get(const struct api_query *q, const char *name);
/* limit: absent is API_LIMIT_DEFAULT, above API_LIMIT_MAX is capped, below
 * 1 or not a decimal integer is PL_EINVAL. */
int api_query_limit(const struct api_query *q, int *limit);
/* A positive decimal int64 (an archive id, an audit id): PL_EINVAL
 * otherwise. */
int api_parse_id(const char *s, int64_t *out);
/* An RFC 3339 date-time ("2026-01-31T12:00:00Z", fraction and offset
 * allowed) or a date "2026-01-31": PL_OK when it is one, so PostgreSQL's
 * cast never sees anything else. */
int api_parse_time(const char *s);
/* A room's uuid as PROTOCOL.md writes it (lower-case 8-4-4-4-12 hex). */
int api_parse_uuid(const char *s);
/* A username as the server stores it: a non-empty lower-case localpart of
 * at most 1023 bytes without the characters RFC 7622 forbids in one. */
int api_parse_username(const char *s);

/* ---- JSON bodies (api_body.c) ------------------------------------------ */

enum api_field_type {
    API_FIELD_STRING,      /* a JSON string */
    API_FIELD_STRING_NULL, /* a string or null */
    API_FIELD_BOOL,
    API_FIELD_ARRAY, /* a JSON array (the handler checks its elements) */
};

struct api_field {
    const char *name;
    enum api_field_type type;
    int required;
};

/* Parses body as one JSON object whose members are all declared in
 * fields[0..n), of the declared types, with the required ones present.
 * values[i] gets fields[i]'s value (borrowed from *root, NULL if absent).
 * On failure fills rep with the problem (400, naming the field) and
 * returns PL_EINVAL; *root is then NULL. The caller json_decref()s *root. */
int api_body_parse(const struct api_request *req, const struct api_field *fields,
                   size_t n, json_t **root, json_t **values, struct api_reply *rep);

/* ---- problems (api_problem.c) ------------------------------------------ */

/* The one way an error is answered: an application/problem+json document
 * {"type": "urn:parley:problem:SLUG", "title", "status", "detail"} with, when
 * a field or parameter is at fault, "field" naming it. The title is fixed
 * per slug; detail is printf-formatted. Replaces what rep held. */
void api_problem(struct api_reply *rep, int status, const char *slug, const char *field,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* A PL_E* code from db/ as a problem: ENOENT 404, EEXIST 409, EINVAL 400,
 * AGAIN 503 (every connection busy), anything else 500 (logged). */
void api_problem_db(struct api_reply *rep, int rc, const char *what);

/* ---- replies ----------------------------------------------------------- */

/* A JSON reply: takes ownership of body (a string from db/ or jansson). */
void api_reply_json(struct api_reply *rep, int status, char *body);
/* A JSON reply from a jansson value (takes the reference). */
void api_reply_value(struct api_reply *rep, int status, json_t *v);
void api_reply_free(struct api_reply *rep);

/* ---- the server (api_server.c) ----------------------------------------- */

/* What the handlers may reach. */
struct db_read_pool;
const struct api_config *api_server_config(const struct api_server *srv);
struct db_read_pool *api_server_pool(const struct api_server *srv);
/* The last answer of GET /api/v1/sessions (everyone online), reused for
 * the same page while it is fresh (api_sessions.c); under `lock`. */
struct api_page_cache {
    pthread_mutex_t lock;
    int64_t at_us; /* monotonic; 0: empty */
    char *key;     /* the page asked: limit and cursor */
    char *json;
};
void api_page_cache_init(struct api_page_cache *c);
void api_page_cache_free(struct api_page_cache *c);
struct api_page_cache *api_server_sessions_cache(struct api_server *srv);

/* api_tokens.c: admin tokens verified lately, each until its `exp`. */
#define API_TOKEN_CACHE_SLOTS 8
struct api_token_slot {
    char *token; /* NULL: free */
    char *actor; /* the token's `sub` */
    long expires;
};
struct api_token_cache {
    pthread_mutex_t lock;
    struct api_token_slot slot[API_TOKEN_CACHE_SLOTS];
    size_t next; /* the slot replaced next */
};
void api_token_cache_init(struct api_token_cache *c);
void api_token_cache_free(struct api_token_cache *c);
/* The subject of `token` if it is cached and not past its `exp` at `now`,
 * copied into *actor: PL_OK; PL_ENOENT when it is not (verify it). */
int api_token_cache_get(struct api_token_cache *c, const char *token, long now,
                        char **actor);
/* Keeps an admin token auth_verify accepted, until `expires`. */
void api_token_cache_put(struct api_token_cache *c, const char *token, long expires,
                         const char *actor);
/* Whether two secrets are equal, in time that depends on a's length only. */
int api_same_secret(const char *a, const char *b);
/* The API's own request metrics, as Prometheus text appended to out. */
struct pl_buf;
int api_server_metrics(struct api_server *srv, struct pl_buf *out);

/* ---- handlers, one file per resource ----------------------------------- */

/* api_users.c */
/* The {user} of the path, checked as a username: PL_OK, or a 404 in rep
 * (a name the server could not have stored names no user). */
int api_path_user(const struct api_request *req, struct api_reply *rep,
                  const char **user);
/* "user@domain" for a username (the caller frees it); NULL on ENOMEM. */
char *api_user_jid(const struct api_server *srv, const char *username);
void api_users_list(struct api_server *srv, struct api_request *req,
                    struct api_reply *rep);
void api_users_create(struct api_server *srv, struct api_request *req,
                      struct api_reply *rep);
void api_users_get(struct api_server *srv, struct api_request *req,
                   struct api_reply *rep);
void api_users_update(struct api_server *srv, struct api_request *req,
                      struct api_reply *rep);
void api_users_delete(struct api_server *srv, struct api_request *req,
                      struct api_reply *rep);

/* api_sessions.c */
void api_sessions_list(struct api_server *srv, struct api_request *req,
                       struct api_reply *rep);
void api_sessions_of_user(struct api_server *srv, struct api_request *req,
                          struct api_reply *rep);
void api_sessions_kick_all(struct api_server *srv, struct api_request *req,
                           struct api_reply *rep);
void api_sessions_kick_one(struct api_server *srv, struct api_request *req,
                           struct api_reply *rep);

/* api_messages.c */
/* The archive filters that /messages and /export share: user and peer
 * (usernames), room (a uuid), since and until (RFC 3339), as bare JIDs in
 * the strings below (owned). PL_OK, or a 400 in rep naming the parameter. */
struct api_msg_filter {
    char *user;
    char *peer;
    char *room;
    const char *since; /* borrowed from the query */
    const char *until;
};
int api_messages_filter(const struct api_server *srv, const struct api_request *req,
                        struct api_msg_filter *f, struct api_reply *rep);
void api_messages_filter_free(struct api_msg_filter *f);
void api_messages_list(struct api_server *srv, struct api_request *req,
                       struct api_reply *rep);
void api_messages_send(struct api_server *srv, struct api_request *req,
                       struct api_reply *rep);
void api_messages_get(struct api_server *srv, struct api_request *req,
                      struct api_reply *rep);

/* api_export.c */
void api_export_get(struct api_server *srv, struct api_request *req,
                    struct api_reply *rep);

/* api_rooms.c */
void api_rooms_list(struct api_server *srv, struct api_request *req,
                    struct api_reply *rep);
void api_rooms_create(struct api_server *srv, struct api_request *req,
                      struct api_reply *rep);
void api_rooms_get(struct api_server *srv, struct api_request *req,
                   struct api_reply *rep);
void api_rooms_update(struct api_server *srv, struct api_request *req,
                      struct api_reply *rep);
void api_rooms_delete(struct api_server *srv, struct api_request *req,
                      struct api_reply *rep);
void api_rooms_member_set(struct api_server *srv, struct api_request *req,
                          struct api_reply *rep);
void api_rooms_member_remove(struct api_server *srv, struct api_request *req,
                             struct api_reply *rep);

/* api_stats.c */
void api_stats_get(struct api_server *srv, struct api_request *req,
                   struct api_reply *rep);

/* api_audit.c */
void api_audit_list(struct api_server *srv, struct api_request *req,
                    struct api_reply *rep);

/* api_health.c: /healthz, /readyz, /metrics, the OpenAPI document */
void api_health_alive(struct api_server *srv, struct api_request *req,
                      struct api_reply *rep);
void api_health_ready(struct api_server *srv, struct api_request *req,
                      struct api_reply *rep);
void api_health_metrics(struct api_server *srv, struct api_request *req,
                        struct api_reply *rep);
void api_health_openapi(struct api_server *srv, struct api_request *req,
                        struct api_reply *rep);

/* api_static.c: the web admin's files. Fills rep (200, or 304 when
 * if_none_match is the file's ETag) for a GET of path under web_dir, or
 * under modules_dir for /vendor/uplot/; PL_ENOENT when there is no such
 * file to serve (rep untouched), PL_EIO when it could not be read. */
int api_static_reply(const char *web_dir, const char *modules_dir,
                     const struct api_path *path, const char *if_none_match,
                     struct api_reply *rep);
/* api_hostmeta.c: XEP-0156 discovery, /.well-known/host-meta (XRD) and
 * /.well-known/host-meta.json (JRD) */
void api_hostmeta_xrd(struct api_server *srv, struct api_request *req,
                      struct api_reply *rep);
void api_hostmeta_jrd(struct api_server *srv, struct api_request *req,
                      struct api_reply *rep);

/* api_upload.c: XEP-0363 PUT and GET under /upload/, outside the route
 * table (their bodies are files, streamed to disk, not JSON). */
struct api_upload;
struct MHD_Connection;
/* 1 if the request target is under /upload/. */
int api_upload_match(const char *uri);
/* libmicrohttpd's access handler for such a request, called as it is
 * (*state NULL on the first call); *status gets the answer's status once
 * one is queued. Returns an enum MHD_Result. */
int api_upload_handle(struct api_server *srv, struct MHD_Connection *c, const char *uri,
                      const char *method, const char *data, size_t *data_size,
                      struct api_upload **state, int *status);
/* The request is over: a PUT that did not finish leaves nothing on disk
 * and frees its slot. NULL is a no-op. */
void api_upload_done(struct api_server *srv, struct api_upload *state);
/* The admin endpoints. */
void api_uploads_list(struct api_server *srv, struct api_request *req,
                      struct api_reply *rep);
void api_uploads_delete(struct api_server *srv, struct api_request *req,
                        struct api_reply *rep);

/* The OpenAPI document, built into the binary from api/openapi.yaml. */
extern const char api_openapi_yaml[];
extern const size_t api_openapi_yaml_len;

#endif
