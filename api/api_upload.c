/* XEP-0363 HTTP File Upload on the admin API's listener, and the admin
 * endpoints for uploads.
 *
 * /upload/KEY/NAME is outside the route table: a PUT's body is a file,
 * written to PARLEY_UPLOAD_DIR as it arrives (libmicrohttpd hands it over
 * in pieces no larger than its connection buffer, so a file is never whole
 * in memory), and a GET is answered from the file's descriptor
 * (libmicrohttpd's fd responses use sendfile). The path is split and
 * decoded by the same strict api_path_parse as every route ('..', encoded
 * separators and bad escapes are refused), KEY must be a path key's shape
 * and is the only thing a file on disk is named by, so nothing a client
 * writes reaches the file system.
 *
 * A PUT is taken when, in this order: it declares one Content-Length (no
 * chunked body) within PARLEY_UPLOAD_MAX_BYTES; its URL has not expired;
 * the signature of its URL covers this key, name, length and content type
 * (auth_upload.h); and the slot, claimed in the database, was not used
 * before. When the signature does not match, the slot is read (not
 * claimed) to say why: another length, another type, or a forged URL.
 *
 * Answers carry the CORS headers browsers need to PUT and GET from a web
 * client on another origin (XEP-0363 section 8): the URL is the
 * credential, so any origin may use it. A file is served with its slot's
 * type, but sandboxed (CSP sandbox, nosniff) and as an attachment unless
 * it is an image, audio or video: the listener is the web admin's origin
 * too, and an uploaded page must not run there. */
#include "api_internal.h"

#include "auth_upload.h"
#include "db_read.h"
#include "pl_buf.h"
#include "pl_error.h"
#include "pl_log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define UPLOAD_PREFIX "/upload/"
#define UPLOAD_CSP                                                                       \
    "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; "                    \
    "style-src 'unsafe-inline'"

struct api_upload {
    int answered;
    int put;      /* a PUT that claimed its slot */
    int finished; /* the file is stored */
    int fd;       /* the part file being written; -1 */
    char key[AUTH_UPLOAD_PATHKEY_LEN];
    char *part;    /* its path */
    char *final;   /* the file's path once whole */
    uint64_t size; /* the slot's */
    uint64_t got;
};

int api_upload_match(const char *uri)
{
    return uri && strncmp(uri, UPLOAD_PREFIX, strlen(UPLOAD_PREFIX)) == 0;
}

static void add_cors(struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
    MHD_add_response_header(resp, "Access-Control-Expose-Headers",
                            "Content-Length, Content-Range, Accept-Ranges, "
                            "Content-Disposition, Content-Type");
}

/* Queues resp with the headers every upload answer has. */
static enum MHD_Result queue(struct MHD_Connection *c, struct api_upload *u, int status,
                             struct MHD_Response *resp, int *out_status)
{
    if (!resp)
        return MHD_NO;
    add_cors(resp);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    u->answered = 1;
    *out_status = status;
    enum MHD_Result ok = MHD_queue_response(c, (unsigned int)status, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* A problem document (api_problem.c) as the answer. */
static enum MHD_Result problem(struct MHD_Connection *c, struct api_upload *u, int status,
                               const char *slug, const char *detail, int close,
                               int *out_status)
{
    struct api_reply rep = {0};
    api_problem(&rep, status, slug, NULL, "%s", detail);
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        rep.len, rep.body ? rep.body : (char *)"",
        rep.body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (resp) {
        rep.body = NULL;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "application/problem+json");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        if (status == 405)
            MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
                                    "GET, HEAD, PUT, OPTIONS");
        if (close)
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    }
    api_reply_free(&rep);
    return queue(c, u, status, resp, out_status);
}

static enum MHD_Result empty(struct MHD_Connection *c, struct api_upload *u, int status,
                             int *out_status)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (char *)"", MHD_RESPMEM_PERSISTENT);
    if (resp)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    return queue(c, u, status, resp, out_status);
}

static char *path_join(const char *dir, const char *key, const char *suffix)
{
    size_t n = strlen(dir) + strlen(key) + strlen(suffix) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s%s", dir, key, suffix);
    return p;
}

/* The one Content-Length a PUT must declare: PL_OK, PL_ENOENT (none, or a
 * chunked body), PL_EINVAL (several, or not a number). */
struct length_scan {
    int n, te;
    const char *value;
};

static enum MHD_Result scan(void *cls, enum MHD_ValueKind kind, const char *key,
                            const char *value)
{
    struct length_scan *l = cls;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        l->n++;
        l->value = value;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        l->te++;
    }
    return MHD_YES;
}

static int content_length(struct MHD_Connection *c, uint64_t *len)
{
    struct length_scan l = {0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, scan, &l);
    if (l.n > 1 || (l.n && l.te))
        return PL_EINVAL;
    if (!l.n || l.te)
        return PL_ENOENT;
    char *end;
    if (l.value[0] < '0' || l.value[0] > '9')
        return PL_EINVAL;
    unsigned long long v = strtoull(l.value, &end, 10);
    if (*end)
        return PL_EINVAL;
    *len = v;
    return PL_OK;
}

static enum MHD_Result put_begin(struct api_server *srv, struct MHD_Connection *c,
                                 struct api_upload *u, const char *name,
                                 const struct api_query *q, int *status)
{
    const struct api_config *cfg = api_server_config(srv);
    uint64_t len = 0;
    int rc = content_length(c, &len);
    if (rc == PL_ENOENT)
        return problem(c, u, 411, "length-required",
                       "a PUT declares its Content-Length (no chunked bodies)", 1,
                       status);
    if (rc != PL_OK)
        return problem(c, u, 400, "invalid-request", "ambiguous message framing", 1,
                       status);
    if (len == 0 || (long long)len > cfg->upload_max)
        return problem(c, u, 413, "payload-too-large",
                       "the file is empty or over the upload limit", 1, status);
    const char *e = api_query_get(q, "e"), *sig = api_query_get(q, "s");
    int64_t expires = 0;
    if (!e || !sig || api_parse_id(e, &expires) != PL_OK)
        return problem(c, u, 403, "bad-signature", "this is not a signed upload URL", 1,
                       status);
    if (expires <= (int64_t)time(NULL))
        return problem(c, u, 403, "expired", "the upload URL has expired", 1, status);
    const char *type =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!type)
        type = "application/octet-stream"; /* what a slot without a type has */
    struct db_read_pool *pool = api_server_pool(srv);
    enum db_upload_state st = DB_UPLOAD_NONE;
    int signed_ok = auth_upload_verify(cfg->upload_key, u->key, name, len, type, expires,
                                       sig) == PL_OK;
    /* Signed: claim the slot. Not signed: only read it, to say why. */
    rc = db_upload_put_begin(pool, u->key, name, (int64_t)len, type, signed_ok, &st);
    if (rc != PL_OK)
        return problem(c, u, 503, "unavailable", "the database did not answer", 1,
                       status);
    if (st == DB_UPLOAD_OK && !signed_ok)
        return problem(c, u, 403, "bad-signature",
                       "the upload URL's signature is not valid", 1, status);
    switch (st) {
    case DB_UPLOAD_OK:
        break;
    case DB_UPLOAD_NONE:
        return problem(c, u, 404, "not-found", "no such upload slot", 1, status);
    case DB_UPLOAD_SIZE:
        return problem(c, u, 400, "invalid-request",
                       "the Content-Length is not the size of the slot", 1, status);
    case DB_UPLOAD_TYPE:
        return problem(c, u, 415, "unsupported-media-type",
                       "the Content-Type is not the content type of the slot", 1, status);
    case DB_UPLOAD_USED:
        return problem(c, u, 409, "conflict", "this slot was uploaded to already", 1,
                       status);
    case DB_UPLOAD_EXPIRED:
        return problem(c, u, 403, "expired", "the upload slot has expired", 1, status);
    }
    u->put = 1;
    u->size = len;
    u->part = path_join(cfg->upload_dir, u->key, ".part");
    u->final = path_join(cfg->upload_dir, u->key, "");
    if (u->part && u->final)
        u->fd = open(u->part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (u->fd < 0) {
        pl_error(0, NULL, "upload: cannot create %s: %s", u->part ? u->part : "-",
                 strerror(errno));
        return problem(c, u, 500, "internal", "the file could not be stored", 1, status);
    }
    return MHD_YES; /* the body comes next */
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return PL_EIO;
        p += w;
        n -= (size_t)w;
    }
    return PL_OK;
}

static enum MHD_Result put_end(struct api_server *srv, struct MHD_Connection *c,
                               struct api_upload *u, int *status)
{
    int ok = u->got == u->size && fsync(u->fd) == 0;
    ok = close(u->fd) == 0 && ok;
    u->fd = -1;
    ok = ok && rename(u->part, u->final) == 0;
    if (!ok) {
        pl_error(0, NULL, "upload: cannot store %s: %s", u->final, strerror(errno));
        return problem(c, u, 500, "internal", "the file could not be stored", 1, status);
    }
    int rc = db_upload_put_end(api_server_pool(srv), u->key, 1);
    if (rc != PL_OK) {
        unlink(u->final);
        return problem(c, u, rc == PL_ENOENT ? 404 : 503,
                       rc == PL_ENOENT ? "not-found" : "unavailable",
                       "the upload was deleted meanwhile, or the database did not answer",
                       0, status);
    }
    u->finished = 1;
    return empty(c, u, 201, status);
}

/* Parses a single "bytes=FIRST-LAST", "bytes=FIRST-" or "bytes=-SUFFIX"
 * against size: 1 with [*from, *to] set, 0 to serve the whole file (no
 * header, or a form we do not serve, such as several ranges: RFC 9110
 * lets a server ignore Range), -1 when unsatisfiable (416). */
static int parse_range(const char *h, uint64_t size, uint64_t *from, uint64_t *to)
{
    if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
        return 0;
    const char *p = h + 6;
    char *end;
    if (*p == '-') {
        if (p[1] < '0' || p[1] > '9')
            return 0;
        unsigned long long n = strtoull(p + 1, &end, 10);
        if (*end)
            return 0;
        if (n == 0)
            return -1;
        *from = n >= size ? 0 : size - n;
        *to = size - 1;
        return 1;
    }
    if (*p < '0' || *p > '9')
        return 0;
    unsigned long long a = strtoull(p, &end, 10);
    if (*end != '-')
        return 0;
    p = end + 1;
    unsigned long long b = size ? size - 1 : 0;
    if (*p) {
        if (*p < '0' || *p > '9')
            return 0;
        b = strtoull(p, &end, 10);
        if (*end || b < a)
            return 0;
    }
    if (a >= size)
        return -1;
    *from = a;
    *to = b >= size ? size - 1 : b;
    return 1;
}

/* RFC 6266: an ASCII fallback and the UTF-8 name (RFC 8187). */
static char *disposition(const char *type, const char *name)
{
    int inline_ok = strncasecmp(type, "image/", 6) == 0 ||
                    strncasecmp(type, "audio/", 6) == 0 ||
                    strncasecmp(type, "video/", 6) == 0;
    struct pl_buf b = PL_BUF_INIT;
    int rc = pl_buf_appendf(&b, "%s; filename=\"", inline_ok ? "inline" : "attachment");
    for (const unsigned char *p = (const unsigned char *)name; rc == PL_OK && *p; p++) {
        char ch = (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\') ? '_' : (char)*p;
        rc = pl_buf_append(&b, &ch, 1);
    }
    if (rc == PL_OK)
        rc = pl_buf_append_str(&b, "\"; filename*=UTF-8''");
    for (const unsigned char *p = (const unsigned char *)name; rc == PL_OK && *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
            (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~')
            rc = pl_buf_append(&b, (const char *)p, 1);
        else
            rc = pl_buf_appendf(&b, "%%%02X", *p);
    }
    if (rc != PL_OK) {
        pl_buf_free(&b);
        return NULL;
    }
    return pl_buf_steal(&b, NULL);
}

static enum MHD_Result get_file(struct api_server *srv, struct MHD_Connection *c,
                                struct api_upload *u, const char *name, int *status)
{
    int64_t size = 0;
    char *type = NULL;
    int rc = db_upload_get(api_server_pool(srv), u->key, name, &size, &type);
    if (rc == PL_ENOENT)
        return problem(c, u, 404, "not-found", "no such file", 0, status);
    if (rc != PL_OK)
        return problem(c, u, 503, "unavailable", "the database did not answer", 0,
                       status);
    char *path = path_join(api_server_config(srv)->upload_dir, u->key, "");
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size != size) {
        pl_warn(0, NULL, "upload: %s is missing or not the size recorded",
                path ? path : "-");
        if (fd >= 0)
            close(fd);
        free(path);
        free(type);
        return problem(c, u, 404, "not-found", "the file is gone", 0, status);
    }
    free(path);
    uint64_t from = 0, to = size - 1;
    const char *range =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
    int r = parse_range(range, (uint64_t)size, &from, &to);
    char cr[96];
    if (r < 0) {
        close(fd);
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(0, (char *)"", MHD_RESPMEM_PERSISTENT);
        snprintf(cr, sizeof(cr), "bytes */%" PRId64, size);
        if (resp)
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
        free(type);
        return queue(c, u, 416, resp, status);
    }
    struct MHD_Response *resp =
        MHD_create_response_from_fd_at_offset64(to - from + 1, fd, from);
    if (!resp) {
        close(fd);
        free(type);
        return MHD_NO;
    }
    char *disp = disposition(type, name);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (disp)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disp);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                            "private, max-age=86400");
    MHD_add_response_header(resp, "Content-Security-Policy", UPLOAD_CSP);
    if (r > 0) {
        snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRId64, from, to,
                 size);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
    }
    free(disp);
    free(type);
    return queue(c, u, r > 0 ? 206 : 200, resp, status);
}

int api_upload_handle(struct api_server *srv, struct MHD_Connection *c, const char *uri,
                      const char *method, const char *data, size_t *data_size,
                      struct api_upload **state, int *status)
{
    struct api_upload *u = *state;
    if (u) {
        if (u->answered) {
            *data_size = 0; /* answered already: what still comes is dropped */
            return MHD_YES;
        }
        if (*data_size) {
            if (u->got + *data_size > u->size ||
                write_all(u->fd, data, *data_size) != PL_OK) {
                pl_error(0, NULL, "upload: cannot write %s: %s", u->part,
                         strerror(errno));
                *data_size = 0;
                return problem(c, u, 500, "internal", "the file could not be stored", 1,
                               status);
            }
            u->got += *data_size;
            *data_size = 0;
            return MHD_YES;
        }
        return put_end(srv, c, u, status);
    }
    if (!(u = calloc(1, sizeof(*u))))
        return MHD_NO;
    u->fd = -1;
    *state = u;
    const struct api_config *cfg = api_server_config(srv);
    if (!cfg->upload_key || !cfg->upload_dir)
        return problem(c, u, 404, "not-found", "there is no upload service", 1, status);
    const char *qmark = strchr(uri, '?');
    size_t plen = qmark ? (size_t)(qmark - uri) : strlen(uri);
    struct api_path path = {0};
    struct api_query q = {0};
    static const char *const params[] = {"e", "s", NULL};
    const char *bad = NULL;
    enum MHD_Result ret;
    if (api_path_parse(uri, plen, &path) != PL_OK || path.nsegs != 3 ||
        !auth_upload_pathkey_valid(path.segs[1]) || memchr(uri, '#', strlen(uri))) {
        ret = problem(
            c, u, 400, "invalid-path",
            "an upload path is /upload/KEY/NAME, in normal form (no dot segments, "
            "encoded separators or bad escapes)",
            1, status);
        goto out;
    }
    if (api_query_parse(qmark ? qmark + 1 : NULL, params, &q, &bad) != PL_OK) {
        ret = problem(c, u, 400, "invalid-parameter",
                      "unknown or malformed query parameters", 1, status);
        goto out;
    }
    snprintf(u->key, sizeof(u->key), "%s", path.segs[1]);
    const char *name = path.segs[2];
    if (strcmp(method, "OPTIONS") == 0) {
        /* The CORS preflight of a PUT (it carries a Content-Type) or of a
         * GET with a Range. */
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(0, (char *)"", MHD_RESPMEM_PERSISTENT);
        if (resp) {
            MHD_add_response_header(resp, "Access-Control-Allow-Methods",
                                    "GET, HEAD, PUT, OPTIONS");
            MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                    "Content-Type, Range");
            MHD_add_response_header(resp, "Access-Control-Max-Age", "86400");
        }
        ret = queue(c, u, 204, resp, status);
    } else if (strcmp(method, "PUT") == 0) {
        ret = put_begin(srv, c, u, name, &q, status);
    } else if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) {
        ret = get_file(srv, c, u, name, status);
    } else {
        ret = problem(c, u, 405, "method-not-allowed", "GET, HEAD, PUT or OPTIONS", 1,
                      status);
    }
out:
    api_path_free(&path);
    api_query_free(&q);
    return ret;
}

void api_upload_done(struct api_server *srv, struct api_upload *u)
{
    if (!u)
        return;
    if (u->fd >= 0)
        close(u->fd);
    if (u->put && !u->finished) {
        /* Cut short or refused midway: nothing stays on disk, and the
         * slot may be used again until it expires. */
        if (u->part)
            unlink(u->part);
        db_upload_put_end(api_server_pool(srv), u->key, 0);
    }
    free(u->part);
    free(u->final);
    free(u);
}

/* ---- the admin endpoints ----------------------------------------------- */

void api_uploads_list(struct api_server *srv, struct api_request *req,
                      struct api_reply *rep)
{
    const char *user = api_query_get(&req->query, "user");
    const char *room = api_query_get(&req->query, "room");
    const char *cursor = api_query_get(&req->query, "cursor");
    int limit = 0;
    int64_t cur = 0;
    if (api_query_limit(&req->query, &limit) != PL_OK) {
        api_problem(rep, 400, "invalid-parameter", "limit",
                    "limit must be a positive integer");
        return;
    }
    if (cursor && api_parse_id(cursor, &cur) != PL_OK) {
        api_problem(rep, 400, "invalid-parameter", "cursor", "cursor is not one we gave");
        return;
    }
    if (user && api_parse_username(user) != PL_OK) {
        api_problem(rep, 400, "invalid-parameter", "user", "user is not a username");
        return;
    }
    if (room && api_parse_uuid(room) != PL_OK) {
        api_problem(rep, 400, "invalid-parameter", "room", "room is not a room's uuid");
        return;
    }
    char *json = NULL;
    int rc = db_upload_list(api_server_pool(srv), user, room, cur, limit, &json);
    if (rc != PL_OK) {
        api_problem_db(rep, rc, "uploads");
        return;
    }
    api_reply_json(rep, 200, json);
}

void api_uploads_delete(struct api_server *srv, struct api_request *req,
                        struct api_reply *rep)
{
    int64_t id = 0;
    if (api_parse_id(req->path_params[0], &id) != PL_OK) {
        api_problem(rep, 404, "not-found", NULL, "no such upload");
        return;
    }
    char *key = NULL;
    int rc = db_upload_delete(api_server_pool(srv), req->actor, id, &key);
    if (rc == PL_ENOENT) {
        api_problem(rep, 404, "not-found", NULL, "no such upload");
        return;
    }
    if (rc != PL_OK) {
        api_problem_db(rep, rc, "the upload");
        return;
    }
    const char *dir = api_server_config(srv)->upload_dir;
    char *path = auth_upload_pathkey_valid(key) && dir ? path_join(dir, key, "") : NULL;
    if (path && unlink(path) != 0 && errno != ENOENT)
        pl_warn(0, NULL, "upload: cannot remove %s: %s", path, strerror(errno));
    free(path);
    free(key);
    rep->status = 204;
}
