/* /api/v1/export: a user's, a conversation's or a room's messages over a
 * time range, oldest first, streamed as NDJSON, CSV (RFC 4180, with a
 * header row) or XML (XEP-0227's urn:xmpp:pie:0 with XEP-0313 results), in
 * constant memory: the rows come from db_export (a connection of its own,
 * a keyset cursor) a batch at a time, and each row is formatted into a
 * small buffer only when libmicrohttpd asks for more bytes. */
#include "api_internal.h"

#include "db_read.h"
#include "pl_buf.h"
#include "pl_error.h"
#include "pl_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum export_format { EXPORT_NDJSON, EXPORT_CSV, EXPORT_XML };

struct export_stream {
    struct db_export *db;
    enum export_format format;
    char *domain;
    struct pl_buf out; /* formatted, not yet handed over */
    size_t off;
    int stage; /* 0: header, 1: rows, 2: footer, 3: done */
};

static void export_free(void *ctx)
{
    struct export_stream *s = ctx;
    db_export_close(s->db);
    pl_buf_free(&s->out);
    free(s->domain);
    free(s);
}

/* RFC 4180: quoted when it holds a comma, a quote or a line break; quotes
 * doubled. A NULL is an empty field. */
static int csv_field(struct pl_buf *b, const char *v, int last)
{
    int rc = PL_OK;
    if (v && strpbrk(v, ",\"\r\n")) {
        rc = pl_buf_append(b, "\"", 1);
        for (const char *p = v; rc == PL_OK && *p; p++)
            rc = *p == '"' ? pl_buf_append(b, "\"\"", 2) : pl_buf_append(b, p, 1);
        if (rc == PL_OK)
            rc = pl_buf_append(b, "\"", 1);
    } else if (v) {
        rc = pl_buf_append_str(b, v);
    }
    if (rc == PL_OK)
        rc = pl_buf_append_str(b, last ? "\r\n" : ",");
    return rc;
}

static int xml_escape(struct pl_buf *b, const char *v, int attr)
{
    int rc = PL_OK;
    for (const char *p = v; rc == PL_OK && *p; p++) {
        switch (*p) {
        case '&':
            rc = pl_buf_append_str(b, "&amp;");
            break;
        case '<':
            rc = pl_buf_append_str(b, "&lt;");
            break;
        case '>':
            rc = pl_buf_append_str(b, "&gt;");
            break;
        case '"':
            rc = attr ? pl_buf_append_str(b, "&quot;") : pl_buf_append(b, p, 1);
            break;
        case '\r':
            rc = pl_buf_append_str(b, "&#13;");
            break;
        default:
            rc = pl_buf_append(b, p, 1);
        }
    }
    return rc;
}

static int xml_attr(struct pl_buf *b, const char *name, const char *v)
{
    if (!v)
        return PL_OK;
    int rc = pl_buf_appendf(b, " %s=\"", name);
    if (rc == PL_OK)
        rc = xml_escape(b, v, 1);
    if (rc == PL_OK)
        rc = pl_buf_append_str(b, "\"");
    return rc;
}

static int format_row(struct export_stream *s, const struct db_export_row *r)
{
    struct pl_buf *b = &s->out;
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)r->id);
    switch (s->format) {
    case EXPORT_NDJSON: {
        json_t *o = json_pack("{s:I, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}", "id",
                              (json_int_t)r->id, "kind", r->kind, "from", r->sender, "to",
                              r->recipient, "room", r->room, "body", r->body, "stanza_id",
                              r->stanza_id, "created_at", r->created_at);
        char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        int rc = line ? pl_buf_append_str(b, line) : PL_ENOMEM;
        free(line);
        return rc == PL_OK ? pl_buf_append_str(b, "\n") : rc;
    }
    case EXPORT_CSV: {
        const char *f[8] = {id,      r->kind,      r->sender,     r->recipient,
                            r->room, r->stanza_id, r->created_at, r->body};
        int rc = PL_OK;
        for (int i = 0; rc == PL_OK && i < 8; i++)
            rc = csv_field(b, f[i], i == 7);
        return rc;
    }
    case EXPORT_XML: {
        int rc = pl_buf_appendf(b,
                                "<result xmlns=\"urn:xmpp:mam:2\" id=\"%s\">"
                                "<forwarded xmlns=\"urn:xmpp:forward:0\">"
                                "<delay xmlns=\"urn:xmpp:delay\"",
                                id);
        if (rc == PL_OK)
            rc = xml_attr(b, "stamp", r->created_at);
        if (rc == PL_OK)
            rc = pl_buf_append_str(b, "/><message xmlns=\"jabber:client\"");
        if (rc == PL_OK)
            rc = xml_attr(b, "from", r->sender);
        if (rc == PL_OK)
            rc = xml_attr(b, "to", r->recipient ? r->recipient : r->room);
        if (rc == PL_OK)
            rc = xml_attr(b, "type", r->kind);
        if (rc == PL_OK)
            rc = xml_attr(b, "id", r->stanza_id);
        if (rc == PL_OK)
            rc = pl_buf_append_str(b, ">");
        if (rc == PL_OK && r->body) {
            rc = pl_buf_append_str(b, "<body>");
            if (rc == PL_OK)
                rc = xml_escape(b, r->body, 0);
            if (rc == PL_OK)
                rc = pl_buf_append_str(b, "</body>");
        }
        if (rc == PL_OK)
            rc = pl_buf_append_str(b, "</message></forwarded></result>\n");
        return rc;
    }
    }
    return PL_EINVAL;
}

static int format_header(struct export_stream *s)
{
    switch (s->format) {
    case EXPORT_NDJSON:
        return PL_OK;
    case EXPORT_CSV:
        return pl_buf_append_str(&s->out,
                                 "id,kind,from,to,room,stanza_id,created_at,body\r\n");
    case EXPORT_XML: {
        int rc =
            pl_buf_append_str(&s->out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                                       "<server-data xmlns=\"urn:xmpp:pie:0\">\n<host");
        if (rc == PL_OK)
            rc = xml_attr(&s->out, "jid", s->domain);
        if (rc == PL_OK)
            rc = pl_buf_append_str(&s->out, ">\n<archive>\n");
        return rc;
    }
    }
    return PL_EINVAL;
}

/* Fills buf: formats rows until there is enough to hand over. */
static long export_read(void *ctx, char *buf, size_t max)
{
    struct export_stream *s = ctx;
    size_t n = 0;
    while (n < max) {
        if (s->off < s->out.len) {
            size_t take = s->out.len - s->off;
            if (take > max - n)
                take = max - n;
            memcpy(buf + n, s->out.data + s->off, take);
            s->off += take;
            n += take;
            continue;
        }
        pl_buf_reset(&s->out);
        s->off = 0;
        int rc = PL_OK;
        if (s->stage == 0) {
            rc = format_header(s);
            s->stage = 1;
        } else if (s->stage == 1) {
            struct db_export_row row;
            /* A few rows per refill keep the copies short. */
            for (int i = 0; rc == PL_OK && i < 64; i++) {
                rc = db_export_next(s->db, &row);
                if (rc == PL_OK)
                    rc = format_row(s, &row);
            }
            if (rc == PL_ENOENT) {
                s->stage = 2;
                rc = PL_OK;
            }
        } else if (s->stage == 2) {
            if (s->format == EXPORT_XML)
                rc = pl_buf_append_str(&s->out, "</archive>\n</host>\n</server-data>\n");
            s->stage = 3;
        } else {
            break;
        }
        if (rc != PL_OK) {
            pl_warn(0, NULL, "api: export stopped: %s", pl_strerror(rc));
            return -2;
        }
    }
    if (n == 0 && s->stage == 3)
        return -1;
    return (long)n;
}

/* A file name from what was exported: only [a-z0-9._-]. */
static void name_part(struct pl_buf *b, const char *v)
{
    for (const char *p = v; *p && *p != '@'; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                 c == '-' || c == '_';
        pl_buf_append(b, ok ? &c : "_", 1);
    }
}

void api_export_get(struct api_server *srv, struct api_request *req,
                    struct api_reply *rep)
{
    const char *fmt = api_query_get(&req->query, "format");
    enum export_format format = EXPORT_NDJSON;
    const char *ext = "ndjson", *type = "application/x-ndjson";
    if (fmt && strcmp(fmt, "csv") == 0) {
        format = EXPORT_CSV;
        ext = "csv";
        type = "text/csv; charset=utf-8; header=present";
    } else if (fmt && strcmp(fmt, "xml") == 0) {
        format = EXPORT_XML;
        ext = "xml";
        type = "application/xml";
    } else if (fmt && strcmp(fmt, "ndjson") != 0) {
        api_problem(rep, 400, "invalid-parameter", "format",
                    "format is ndjson (the default), csv or xml");
        return;
    }
    struct api_msg_filter f;
    if (api_messages_filter(srv, req, &f, rep) != PL_OK)
        return;
    if (!f.user && !f.room) {
        api_messages_filter_free(&f);
        api_problem(rep, 400, "invalid-parameter", "user",
                    "export needs user (with peer for one conversation) or room");
        return;
    }
    if (f.user && f.room) {
        api_messages_filter_free(&f);
        api_problem(rep, 400, "invalid-parameter", "room",
                    "export takes user (and peer) or room, not both");
        return;
    }
    struct export_stream *s = calloc(1, sizeof(*s));
    struct pl_buf name = PL_BUF_INIT;
    const char *target = f.room ? f.room : f.user;
    json_t *details = json_pack("{s:s, s:s?, s:s?, s:s?}", "format", ext, "peer", f.peer,
                                "since", f.since, "until", f.until);
    char *details_s = details ? json_dumps(details, JSON_COMPACT) : NULL;
    json_decref(details);
    if (!s || !details_s || !(s->domain = strdup(api_server_config(srv)->domain))) {
        api_problem(rep, 500, "internal", NULL, "out of memory");
        goto fail;
    }
    s->format = format;
    /* The audit row first: an export that cannot be recorded does not run. */
    int rc =
        db_admin_audit(api_server_pool(srv), req->actor, "export", target, details_s);
    if (rc != PL_OK) {
        api_problem_db(rep, rc, "export");
        goto fail;
    }
    struct db_export_filter df = {f.user, f.peer, f.room, f.since, f.until};
    rc = db_export_open(api_server_config(srv)->conninfo, &df, &s->db);
    if (rc != PL_OK) {
        api_problem_db(rep, rc == PL_EINVAL ? PL_EINVAL : PL_EIO, "export");
        goto fail;
    }
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    pl_buf_append_str(&name, "attachment; filename=\"parley-");
    name_part(&name, target);
    if (f.peer) {
        pl_buf_append_str(&name, "-");
        name_part(&name, f.peer);
    }
    pl_buf_appendf(&name, "-%s.%s\"", stamp, ext);
    rep->status = 200;
    rep->content_type = type;
    rep->disposition = pl_buf_steal(&name, NULL);
    rep->stream = export_read;
    rep->stream_ctx = s;
    rep->stream_free = export_free;
    free(details_s);
    api_messages_filter_free(&f);
    return;
fail:
    if (s)
        export_free(s);
    pl_buf_free(&name);
    free(details_s);
    api_messages_filter_free(&f);
}
