/* XEP-0363 HTTP File Upload: the server's domain is the upload service
 * (its disco#info has the store/file identity, the feature and the
 * max-file-size form, which is where Converse.js and Conversations look:
 * both check the server and its items). A slot request is checked here,
 * then DB_JOB_UPLOAD_SLOT checks the owner's quota in the store and writes
 * the slot; on its completion the PUT URL is signed (auth_upload.h) and
 * the slot answered. The PUT and the GET go to the admin API's listener
 * (api/api_upload.c), which checks the signature and the slot again. */
#include "chat_internal.h"

#include "auth_upload.h"
#include "pl_buf.h"
#include "pl_error.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHAT_UPLOAD_NAME_MAX 255
#define CHAT_UPLOAD_TYPE_MAX 127
#define CHAT_UPLOAD_DEFAULT_TYPE "application/octet-stream"

int chat_upload_disco(struct chat_server *cs, struct xmpp_node *query)
{
    if (!cs->upload_url)
        return PL_OK;
    char max[24];
    snprintf(max, sizeof(max), "%" PRId64, cs->upload_max);
    struct xmpp_node *id = xmpp_node_add(query, "identity", NULL);
    struct xmpp_node *f = xmpp_node_add(query, "feature", NULL);
    /* XEP-0128: the limit, in a form of the feature's FORM_TYPE. */
    struct xmpp_node *x = xmpp_node_add(query, "x", "jabber:x:data");
    struct xmpp_node *ft = x ? xmpp_node_add(x, "field", NULL) : NULL;
    struct xmpp_node *ftv = ft ? xmpp_node_add(ft, "value", NULL) : NULL;
    struct xmpp_node *mf = x ? xmpp_node_add(x, "field", NULL) : NULL;
    struct xmpp_node *mfv = mf ? xmpp_node_add(mf, "value", NULL) : NULL;
    if (!id || !f || !ftv || !mfv || xmpp_node_set_attr(id, "category", "store") ||
        xmpp_node_set_attr(id, "type", "file") ||
        xmpp_node_set_attr(id, "name", "HTTP File Upload") ||
        xmpp_node_set_attr(f, "var", XMPP_NS_HTTP_UPLOAD) ||
        xmpp_node_set_attr(x, "type", "result") ||
        xmpp_node_set_attr(ft, "var", "FORM_TYPE") ||
        xmpp_node_set_attr(ft, "type", "hidden") ||
        xmpp_node_add_text(ftv, XMPP_NS_HTTP_UPLOAD) ||
        xmpp_node_set_attr(mf, "var", "max-file-size") || xmpp_node_add_text(mfv, max))
        return PL_ENOMEM;
    return PL_OK;
}

/* The error XEP-0363 section 4 gives for a file over a limit:
 * not-acceptable with <file-too-large><max-file-size/></file-too-large>. */
static void reply_too_large(struct chat_server *cs, struct chat_session *s,
                            const struct xmpp_node *iq, int64_t max)
{
    struct xmpp_node *r =
        xmpp_stanza_error_reply(iq, cs->domain, "modify", "not-acceptable");
    struct xmpp_node *e = r ? xmpp_node_child(r, "error", NULL) : NULL;
    struct xmpp_node *ftl =
        e ? xmpp_node_add(e, "file-too-large", XMPP_NS_HTTP_UPLOAD) : NULL;
    struct xmpp_node *mfs = ftl ? xmpp_node_add(ftl, "max-file-size", NULL) : NULL;
    char n[24];
    snprintf(n, sizeof(n), "%" PRId64, max > 0 ? max : 0);
    if (mfs && xmpp_node_add_text(mfs, n) == PL_OK)
        xmpp_stream_send(s->stream, r, 0);
    else
        chat_reply_error(cs, s, iq, "wait", "resource-constraint");
    xmpp_node_free(r);
}

/* The file name as it will be stored and put in the URLs: what would be a
 * separator, a parameter or an escape in a path (and is refused there,
 * api_path_parse) becomes '_', as do control bytes. NULL when nothing
 * usable is left: empty, ".", "..", or too long. */
static char *clean_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > CHAT_UPLOAD_NAME_MAX || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0)
        return NULL;
    char *c = strdup(name);
    if (!c)
        return NULL;
    for (char *p = c; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch < 0x20 || ch == 0x7f || ch == '/' || ch == '\\' || ch == ';' ||
            ch == '%' || ch == '?' || ch == '#')
            *p = '_';
    }
    return c;
}

/* A media type as a PUT's Content-Type will carry it: printable ASCII,
 * a '/', no line breaks. */
static int type_valid(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > CHAT_UPLOAD_TYPE_MAX || !strchr(t, '/'))
        return 0;
    for (const char *p = t; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            return 0;
    return 1;
}

void chat_upload_request(struct chat_server *cs, struct chat_session *s,
                         const struct xmpp_stanza *st, const struct xmpp_node *req)
{
    const struct xmpp_node *iq = st->node;
    if (!cs->upload_url || strcmp(req->name, "request") != 0) {
        chat_reply_error(cs, s, iq, "cancel", "feature-not-implemented");
        return;
    }
    if (strcmp(st->type, "get") != 0) {
        chat_reply_error(cs, s, iq, "modify", "bad-request");
        return;
    }
    const char *size_s = xmpp_node_attr(req, "size");
    const char *type = xmpp_node_attr(req, "content-type");
    if (!type || !*type)
        type = CHAT_UPLOAD_DEFAULT_TYPE;
    char *end = NULL;
    long long size =
        size_s && *size_s >= '0' && *size_s <= '9' ? strtoll(size_s, &end, 10) : -1;
    char *name = clean_name(xmpp_node_attr(req, "filename"));
    if (!name || size <= 0 || !end || *end || !type_valid(type)) {
        free(name);
        chat_reply_error(cs, s, iq, "modify", "bad-request");
        return;
    }
    if (size > cs->upload_max) {
        free(name);
        reply_too_large(cs, s, iq, cs->upload_max);
        return;
    }
    struct db_job *job = db_job_new(DB_JOB_UPLOAD_SLOT);
    struct chat_op *op = job ? chat_op_new(cs, s) : NULL;
    struct db_upload_slot_job *j = job ? &job->u.upload_slot : NULL;
    char key[AUTH_UPLOAD_PATHKEY_LEN];
    if (!op || !(op->request = xmpp_node_copy(iq)) ||
        !(j->owner = strdup(s->user->username)) || !(j->content_type = strdup(type)) ||
        auth_upload_pathkey(key) != PL_OK || !(j->path_key = strdup(key))) {
        free(name);
        chat_op_free(cs, op);
        db_job_free(job);
        chat_reply_error(cs, s, iq, "wait", "resource-constraint");
        return;
    }
    j->name = name;
    j->size = size;
    j->quota = cs->upload_quota;
    j->ttl_s = cs->upload_ttl;
    job->owner = op;
    chat_submit(cs, job, s->user->bare_jid);
}

/* The URL of a file: base/upload/KEY/NAME with the name percent-encoded
 * (all but RFC 3986's unreserved characters). */
static int append_url(struct pl_buf *b, const char *base, const char *key,
                      const char *name)
{
    int rc = pl_buf_appendf(b, "%s/upload/%s/", base, key);
    for (const unsigned char *p = (const unsigned char *)name; rc == PL_OK && *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
            (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~')
            rc = pl_buf_append(b, (const char *)p, 1);
        else
            rc = pl_buf_appendf(b, "%%%02X", *p);
    }
    return rc;
}

void chat_upload_slot_done(struct chat_server *cs, struct db_job *job, struct chat_op *op)
{
    struct chat_session *s = chat_op_session(cs, op);
    const struct db_upload_slot_job *j = &job->u.upload_slot;
    if (!s || !op->request)
        return; /* gone: the slot expires unused */
    if (job->status != PL_OK) {
        chat_reply_error(cs, s, op->request, "wait", "internal-server-error");
        return;
    }
    if (j->id == 0) {
        /* Over the quota: what is left of it is the most this user may
         * still upload. */
        int64_t left = cs->upload_quota - j->used;
        reply_too_large(cs, s, op->request,
                        left < cs->upload_max ? left : cs->upload_max);
        return;
    }
    int64_t expires = j->expires_us / 1000000;
    char sig[AUTH_UPLOAD_SIG_LEN];
    struct pl_buf put = PL_BUF_INIT, get = PL_BUF_INIT;
    struct xmpp_node *res = xmpp_stanza_iq_result(op->request, cs->domain);
    struct xmpp_node *slot = res ? xmpp_node_add(res, "slot", XMPP_NS_HTTP_UPLOAD) : NULL;
    struct xmpp_node *pn = slot ? xmpp_node_add(slot, "put", NULL) : NULL;
    struct xmpp_node *gn = slot ? xmpp_node_add(slot, "get", NULL) : NULL;
    int ok = gn &&
             auth_upload_sign(cs->upload_key, j->path_key, j->name, (uint64_t)j->size,
                              j->content_type, expires, sig) == PL_OK &&
             append_url(&put, cs->upload_url, j->path_key, j->name) == PL_OK &&
             pl_buf_appendf(&put, "?e=%" PRId64 "&s=%s", expires, sig) == PL_OK &&
             append_url(&get, cs->upload_url, j->path_key, j->name) == PL_OK &&
             xmpp_node_set_attr(pn, "url", put.data) == PL_OK &&
             xmpp_node_set_attr(gn, "url", get.data) == PL_OK;
    if (ok)
        xmpp_stream_send(s->stream, res, 0);
    else
        chat_reply_error(cs, s, op->request, "wait", "resource-constraint");
    xmpp_node_free(res);
    pl_buf_free(&put);
    pl_buf_free(&get);
}
