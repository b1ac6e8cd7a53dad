/* XEP-0156 discovery: a client given only the domain (Converse.js, say)
 * fetches https://DOMAIN/.well-known/host-meta[.json] and finds the
 * WebSocket endpoint under urn:xmpp:alt-connections:websocket. Public, and
 * readable from any origin: a web client on another site must reach it. */
#include "api_internal.h"

#include "pl_buf.h"
#include "pl_error.h"

#include <stdlib.h>
#include <string.h>

#define ALT_WS "urn:xmpp:alt-connections:websocket"

static int no_url(struct api_server *srv, struct api_reply *rep)
{
    if (api_server_config(srv)->ws_url)
        return 0;
    api_problem(rep, 404, "not-found", NULL, "no WebSocket URL is configured");
    return 1;
}

/* The URL as XML attribute text. */
static int append_escaped(struct pl_buf *b, const char *s)
{
    int rc = PL_OK;
    for (; *s && rc == PL_OK; s++) {
        switch (*s) {
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
            rc = pl_buf_append_str(b, "&quot;");
            break;
        case '\'':
            rc = pl_buf_append_str(b, "&apos;");
            break;
        default:
            rc = pl_buf_append(b, s, 1);
        }
    }
    return rc;
}

void api_hostmeta_xrd(struct api_server *srv, struct api_request *req,
                      struct api_reply *rep)
{
    if (no_url(srv, rep))
        return;
    struct pl_buf b = PL_BUF_INIT;
    int rc =
        pl_buf_appendf(&b, "<?xml version='1.0' encoding='utf-8'?>\n"
                           "<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n"
                           "  <Link rel=\"" ALT_WS "\" href=\"");
    if (rc == PL_OK)
        rc = append_escaped(&b, api_server_config(srv)->ws_url);
    if (rc == PL_OK)
        rc = pl_buf_appendf(&b, "\"/>\n</XRD>\n");
    if (rc != PL_OK) {
        pl_buf_free(&b);
        api_problem(rep, 500, "internal", NULL, "out of memory");
        return;
    }
    size_t len = 0;
    char *doc = pl_buf_steal(&b, &len);
    free(rep->body);
    rep->body = doc;
    rep->len = len;
    rep->status = 200;
    rep->content_type = "application/xrd+xml; charset=utf-8";
    rep->cors_any = 1;
}

void api_hostmeta_jrd(struct api_server *srv, struct api_request *req,
                      struct api_reply *rep)
{
    if (no_url(srv, rep))
        return;
    json_t *doc = json_pack("{s:[{s:s,s:s}]}", "links", "rel", ALT_WS, "href",
                            api_server_config(srv)->ws_url);
    if (!doc) {
        api_problem(rep, 500, "internal", NULL, "out of memory");
        return;
    }
    api_reply_value(rep, 200, doc);
    rep->cors_any = 1;
}
