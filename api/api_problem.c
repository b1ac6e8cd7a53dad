/* RFC 9457 problem documents: every error of every handler goes through
 * api_problem, so they all have the same shape and stable types. */
#include "api_internal.h"

#include "pl_error.h"
#include "pl_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The fixed title of each problem type. */
static const struct {
    const char *slug;
    const char *title;
} titles[] = {
    {"invalid-parameter", "Invalid query parameter"},
    {"unknown-parameter", "Unknown query parameter"},
    {"invalid-json", "Invalid JSON body"},
    {"unknown-field", "Unknown body field"},
    {"invalid-field", "Invalid body field"},
    {"missing-field", "Missing body field"},
    {"invalid-path", "Invalid path"},
    {"invalid-request", "Invalid request"},
    {"unauthorized", "Authentication required"},
    {"forbidden", "Not an admin token"},
    {"not-found", "Not found"},
    {"method-not-allowed", "Method not allowed"},
    {"conflict", "Conflict"},
    {"payload-too-large", "Body too large"},
    {"too-many-requests", "Too many requests"},
    {"unsupported-media-type", "Unsupported media type"},
    {"not-implemented", "Not implemented yet"},
    {"unavailable", "Service unavailable"},
    {"internal", "Internal error"},
    /* uploads (api_upload.c) */
    {"length-required", "Length required"},
    {"expired", "Upload URL expired"},
    {"bad-signature", "Upload URL not valid"},
};

void api_reply_free(struct api_reply *rep)
{
    free(rep->body);
    rep->body = NULL;
    rep->len = 0;
    free(rep->disposition);
    rep->disposition = NULL;
    if (rep->stream_free && rep->stream_ctx)
        rep->stream_free(rep->stream_ctx);
    rep->stream = NULL;
    rep->stream_ctx = NULL;
    rep->stream_free = NULL;
}

void api_reply_json(struct api_reply *rep, int status, char *body)
{
    free(rep->body);
    rep->status = status;
    rep->content_type = "application/json";
    rep->body = body;
    rep->len = body ? strlen(body) : 0;
}

void api_reply_value(struct api_reply *rep, int status, json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (!s) {
        api_problem(rep, 500, "internal", NULL, "out of memory");
        return;
    }
    api_reply_json(rep, status, s);
}

void api_problem(struct api_reply *rep, int status, const char *slug, const char *field,
                 const char *fmt, ...)
{
    const char *title = "Error";
    for (size_t i = 0; i < sizeof(titles) / sizeof(titles[0]); i++)
        if (strcmp(titles[i].slug, slug) == 0)
            title = titles[i].title;
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    char type[96];
    snprintf(type, sizeof(type), "urn:parley:problem:%s", slug);
    json_t *doc = json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title", title,
                            "status", status, "detail", detail);
    if (!doc) {
        /* The detail may quote the client's bytes (a JSON parser's error
         * text does), which need not be UTF-8, and jansson takes only
         * UTF-8: say it in ASCII rather than answer without a document. */
        for (char *p = detail; *p; p++)
            if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
                *p = '?';
        doc = json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title", title, "status",
                        status, "detail", detail);
    }
    if (doc && field)
        json_object_set_new(doc, "field", json_string(field));
    char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    free(rep->body);
    rep->body = s;
    rep->len = s ? strlen(s) : 0;
    rep->status = status;
    rep->content_type = "application/problem+json";
}

void api_problem_db(struct api_reply *rep, int rc, const char *what)
{
    switch (rc) {
    case PL_ENOENT:
        api_problem(rep, 404, "not-found", NULL, "no such %s", what);
        return;
    case PL_EEXIST:
        api_problem(rep, 409, "conflict", NULL, "that %s already exists", what);
        return;
    case PL_EINVAL:
        api_problem(rep, 400, "invalid-request", NULL, "invalid %s", what);
        return;
    case PL_AGAIN:
        api_problem(rep, 503, "unavailable", NULL,
                    "every database connection is busy; try again");
        return;
    default:
        pl_warn(0, NULL, "api: %s: %s", what, pl_strerror(rc));
        api_problem(rep, 500, "internal", NULL, "the database did not answer (%s)",
                    pl_strerror(rc));
        return;
    }
}
