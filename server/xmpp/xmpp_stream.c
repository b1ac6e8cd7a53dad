/* The XMPP stream core: RFC 7395 framing and the RFC 6120 state machine
 * (open, features, SASL in xmpp_sasl.c, restart, bind, stanzas, close and
 * stream errors). No I/O: frames come in through xmpp_stream_input and go
 * out through the transport's io.write. */
#include "xmpp_stream_int.h"
#include "pl_error.h"
#include "pl_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#define FRAME_CLOSE "<close xmlns='" XMPP_NS_FRAMING "'/>"

#define FEATURES_SASL                                                                    \
    "<stream:features xmlns:stream='" XMPP_NS_STREAM "'>"                                \
    "<mechanisms xmlns='" XMPP_NS_SASL "'>"                                              \
    "<mechanism>PLAIN</mechanism><mechanism>EXTERNAL</mechanism>"                        \
    "</mechanisms></stream:features>"

#define FEATURES_BIND                                                                    \
    "<stream:features xmlns:stream='" XMPP_NS_STREAM "'>"                                \
    "<bind xmlns='" XMPP_NS_BIND "'/>"                                                   \
    "<session xmlns='" XMPP_NS_SESSION "'><optional/></session>"                         \
    "<ver xmlns='urn:xmpp:features:rosterver'/>"                                         \
    "<sub xmlns='urn:xmpp:features:pre-approval'/>"                                      \
    "</stream:features>"

/* Random hex for stream ids and generated resources. */
static void random_hex(char *out, size_t nbytes)
{
    unsigned char raw[32];
    if (nbytes > sizeof(raw))
        nbytes = sizeof(raw);
    if (getrandom(raw, nbytes, 0) != (ssize_t)nbytes) {
        /* getrandom does not fail once the pool is initialised; if it
         * somehow does, an id that is merely unique is still acceptable. */
        unsigned long long t =
            (unsigned long long)time(NULL) ^ (unsigned long long)clock();
        for (size_t i = 0; i < nbytes; i++)
            raw[i] = (unsigned char)(t >> ((i % 8) * 8)) ^ (unsigned char)(i * 131);
    }
    for (size_t i = 0; i < nbytes; i++)
        sprintf(out + 2 * i, "%02x", raw[i]);
    out[2 * nbytes] = '\0';
}

int xmpp_stream_write(struct xmpp_stream *s, const char *data, size_t len, uint64_t tag)
{
    struct pl_frame *f = pl_frame_new(data, len);
    if (!f)
        return PL_ENOMEM;
    int rc = s->io->write(s->io_ctx, f, tag);
    pl_frame_unref(f);
    return rc;
}

static int stream_write_str(struct xmpp_stream *s, const char *str)
{
    return xmpp_stream_write(s, str, strlen(str), 0);
}

/* The top-level element of a frame carries its namespace (RFC 7395 frames
 * stand alone); a stanza built with ns NULL is in jabber:client. */
static int stream_serialize(const struct xmpp_node *n, struct pl_buf *out)
{
    struct xmpp_node top = *n;
    if (!top.ns)
        top.ns = (char *)XMPP_NS_CLIENT;
    top.next = NULL;
    return xmpp_node_serialize(&top, NULL, out);
}

int xmpp_stream_write_node(struct xmpp_stream *s, const struct xmpp_node *n)
{
    struct pl_buf b = PL_BUF_INIT;
    int rc = stream_serialize(n, &b);
    if (rc == PL_OK)
        rc = xmpp_stream_write(s, b.data, b.len, 0);
    pl_buf_free(&b);
    return rc;
}

static void stream_close_io(struct xmpp_stream *s)
{
    s->state = XMPP_ST_CLOSING;
    s->io->close(s->io_ctx);
}

/* <open xmlns='…framing' from='DOMAIN' id='RANDOM' version='1.0' xml:lang='en'/> */
static int stream_send_open(struct xmpp_stream *s)
{
    char id[33];
    random_hex(id, 16);
    struct xmpp_node *open = xmpp_node_new("open", XMPP_NS_FRAMING);
    int rc = PL_ENOMEM;
    if (!open || xmpp_node_set_attr(open, "from", s->env->domain) != PL_OK ||
        xmpp_node_set_attr(open, "id", id) != PL_OK ||
        xmpp_node_set_attr(open, "version", "1.0") != PL_OK ||
        xmpp_node_set_attr(open, "xml:lang", "en") != PL_OK)
        goto done;
    rc = xmpp_stream_write_node(s, open);
    s->opened = 1;
done:
    xmpp_node_free(open);
    return rc;
}

int xmpp_stream_new(const struct xmpp_env *env, const struct xmpp_stream_io *io,
                    void *io_ctx, uint64_t conn_id, const char *username,
                    struct xmpp_stream **out)
{
    struct xmpp_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return PL_ENOMEM;
    s->env = env;
    s->io = io;
    s->io_ctx = io_ctx;
    s->conn_id = conn_id;
    s->state = XMPP_ST_WAIT_OPEN;
    s->username = strdup(username);
    size_t n = strlen(username) + strlen(env->domain) + 2;
    s->bare_jid = malloc(n);
    if (!s->username || !s->bare_jid)
        goto err;
    snprintf(s->bare_jid, n, "%s@%s", username, env->domain);
    *out = s;
    return PL_OK;
err:
    free(s->username);
    free(s->bare_jid);
    free(s);
    return PL_ENOMEM;
}

void xmpp_stream_free(struct xmpp_stream *s)
{
    if (!s)
        return;
    if (s->bound && s->env->hooks.closed)
        s->env->hooks.closed(s->env->hooks.ctx, s);
    free(s->username);
    free(s->bare_jid);
    free(s->full_jid);
    free(s->resource);
    free(s->address);
    free(s);
}

void xmpp_stream_error(struct xmpp_stream *s, const char *condition, const char *text)
{
    if (s->state == XMPP_ST_CLOSING)
        return;
    pl_info(s->conn_id, s->full_jid ? s->full_jid : s->bare_jid, "stream error %s",
            condition);
    /* RFC 6120 section 4.9.1.1: the stream header is sent even when the
     * error is about the client's own header. */
    if (!s->opened)
        stream_send_open(s);
    struct pl_buf b = PL_BUF_INIT;
    struct xmpp_node *t = NULL;
    int rc = pl_buf_appendf(&b,
                            "<stream:error xmlns:stream='" XMPP_NS_STREAM
                            "'><%s xmlns='" XMPP_NS_STREAMS "'/>",
                            condition);
    if (rc == PL_OK && text) {
        t = xmpp_node_new("text", XMPP_NS_STREAMS);
        rc = t ? xmpp_node_add_text(t, text) : PL_ENOMEM;
        if (rc == PL_OK)
            rc = xmpp_node_serialize(t, NULL, &b);
    }
    if (rc == PL_OK)
        rc = pl_buf_append_str(&b, "</stream:error>");
    if (rc == PL_OK)
        xmpp_stream_write(s, b.data, b.len, 0);
    stream_write_str(s, FRAME_CLOSE);
    xmpp_node_free(t);
    pl_buf_free(&b);
    stream_close_io(s);
}

void xmpp_stream_too_big(struct xmpp_stream *s)
{
    xmpp_stream_error(s, "policy-violation", "stanza too big");
}

int xmpp_stream_deadline(struct xmpp_stream *s)
{
    if (s->state == XMPP_ST_BOUND || s->state == XMPP_ST_CLOSING)
        return PL_OK;
    /* As Prosody does for its c2s_timeout: RFC 6120 section 4.9.3.4's
     * condition for a peer that does not take part in the stream. */
    xmpp_stream_error(s, "connection-timeout", "not authenticated in time");
    return PL_ESTATE;
}

void xmpp_stream_binary(struct xmpp_stream *s)
{
    xmpp_stream_error(s, "unsupported-encoding",
                      "XMPP frames are WebSocket text messages");
}

static int domain_is_ours(const struct xmpp_stream *s, const char *to)
{
    struct xmpp_jid j;
    if (xmpp_jid_parse(to, &j) != PL_OK)
        return 0;
    int ok = !j.local && !j.resource && strcasecmp(j.domain, s->env->domain) == 0;
    xmpp_jid_free(&j);
    return ok;
}

static void stream_handle_open(struct xmpp_stream *s, const struct xmpp_node *el)
{
    if (s->state == XMPP_ST_BOUND) {
        xmpp_stream_error(s, "bad-format", "stream already established");
        return;
    }
    /* A missing `to` means our default domain (RFC 6120 section 4.7.2). */
    const char *to = xmpp_node_attr(el, "to");
    if (to && !domain_is_ours(s, to)) {
        xmpp_stream_error(s, "host-unknown", NULL);
        return;
    }
    const char *version = xmpp_node_attr(el, "version");
    if (!version || strncmp(version, "1.", 2) != 0) {
        xmpp_stream_error(s, "unsupported-version", NULL);
        return;
    }
    if (stream_send_open(s) != PL_OK) {
        xmpp_stream_error(s, "internal-server-error", NULL);
        return;
    }
    /* Before SASL success a repeated <open/> just restarts the
     * negotiation; after it, the <open/> is the RFC 6120 restart. */
    if (s->state == XMPP_ST_WAIT_OPEN || s->state == XMPP_ST_SASL) {
        s->state = XMPP_ST_SASL;
        stream_write_str(s, FEATURES_SASL);
    } else {
        s->state = XMPP_ST_BIND;
        stream_write_str(s, FEATURES_BIND);
    }
}

static void stream_handle_close(struct xmpp_stream *s)
{
    stream_write_str(s, FRAME_CLOSE);
    stream_close_io(s);
}

/* Sends a stanza error in reply to el (already stamped with our `from`). */
static void stream_reply_error(struct xmpp_stream *s, const struct xmpp_node *el,
                               const char *type, const char *condition)
{
    struct xmpp_node *r = xmpp_stanza_error_reply(el, s->env->domain, type, condition);
    if (r)
        xmpp_stream_write_node(s, r);
    xmpp_node_free(r);
}

static int stanza_is_iq_with(const struct xmpp_node *el, const char *type,
                             const char *name, const char *ns)
{
    const char *t = xmpp_node_attr(el, "type");
    return strcmp(el->name, "iq") == 0 && t && strcmp(t, type) == 0 &&
           xmpp_node_child(el, name, ns) != NULL;
}

/* The client's requested resource: the text of <resource/> as
 * Resourceprep prepares it, NULL when absent or empty. PL_EINVAL when it
 * could not be a JID resource. */
static int bind_requested(const struct xmpp_stream *s, const struct xmpp_node *bind,
                          char **out)
{
    *out = NULL;
    struct xmpp_node *res = xmpp_node_child(bind, "resource", NULL);
    if (!res)
        return PL_OK;
    char *text = xmpp_node_text(res);
    if (!text)
        return PL_ENOMEM;
    if (!text[0]) {
        free(text);
        return PL_OK;
    }
    size_t n = strlen(s->bare_jid) + strlen(text) + 2;
    char *full = malloc(n);
    if (!full) {
        free(text);
        return PL_ENOMEM;
    }
    snprintf(full, n, "%s/%s", s->bare_jid, text);
    free(text);
    struct xmpp_jid j;
    int rc = xmpp_jid_parse(full, &j);
    free(full);
    if (rc != PL_OK)
        return rc == PL_ENOMEM ? PL_ENOMEM : PL_EINVAL;
    *out = j.resource;
    j.resource = NULL;
    xmpp_jid_free(&j);
    return PL_OK;
}

static int bind_default(char **resource)
{
    char hex[17];
    random_hex(hex, 8);
    size_t n = strlen("web-") + sizeof(hex);
    *resource = malloc(n);
    if (!*resource)
        return PL_ENOMEM;
    snprintf(*resource, n, "web-%s", hex);
    return PL_OK;
}

static void stream_handle_bind(struct xmpp_stream *s, const struct xmpp_node *el)
{
    const struct xmpp_stream_hooks *h = &s->env->hooks;
    char *requested = NULL;
    char *resource = NULL;
    struct xmpp_node *reply = NULL;
    int rc;
    if (!xmpp_node_attr(el, "id")) {
        stream_reply_error(s, el, "modify", "bad-request");
        return;
    }
    rc = bind_requested(s, xmpp_node_child(el, "bind", XMPP_NS_BIND), &requested);
    if (rc == PL_OK)
        rc = h->bind ? h->bind(h->ctx, s, requested, &resource) : bind_default(&resource);
    if (rc == PL_EINVAL) {
        stream_reply_error(s, el, "modify", "bad-request");
        goto done;
    }
    if (rc == PL_EEXIST) {
        stream_reply_error(s, el, "cancel", "conflict");
        goto done;
    }
    if (rc == PL_ETOOBIG) {
        /* RFC 6120 section 7.6.2.1: too many resources for the account. */
        stream_reply_error(s, el, "wait", "resource-constraint");
        goto done;
    }
    if (rc != PL_OK || !resource) {
        stream_reply_error(s, el, "wait", "internal-server-error");
        goto done;
    }
    size_t n = strlen(s->bare_jid) + strlen(resource) + 2;
    s->full_jid = malloc(n);
    if (!s->full_jid) {
        /* The chat layer has registered the resource: keep the stream
         * consistent by closing it, which calls hooks.closed. */
        s->resource = resource;
        resource = NULL;
        s->bound = 1;
        xmpp_stream_error(s, "internal-server-error", NULL);
        goto done;
    }
    snprintf(s->full_jid, n, "%s/%s", s->bare_jid, resource);
    s->resource = resource;
    resource = NULL;
    s->bound = 1;
    s->state = XMPP_ST_BOUND;
    pl_info(s->conn_id, s->full_jid, "resource bound");

    reply = xmpp_node_new("iq", XMPP_NS_CLIENT);
    struct xmpp_node *b = reply ? xmpp_node_add(reply, "bind", XMPP_NS_BIND) : NULL;
    struct xmpp_node *j = b ? xmpp_node_add(b, "jid", NULL) : NULL;
    if (!j || xmpp_node_set_attr(reply, "type", "result") != PL_OK ||
        xmpp_node_set_attr(reply, "id", xmpp_node_attr(el, "id")) != PL_OK ||
        xmpp_node_add_text(j, s->full_jid) != PL_OK) {
        xmpp_stream_error(s, "internal-server-error", NULL);
        goto done;
    }
    xmpp_stream_write_node(s, reply);
done:
    xmpp_node_free(reply);
    free(requested);
    free(resource);
}

static int in_list(const char *v, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(v, *list) == 0)
            return 1;
    return 0;
}

static int element_child_count(const struct xmpp_node *el)
{
    int n = 0;
    for (const struct xmpp_node *c = el->children; c; c = c->next)
        n += c->name != NULL;
    return n;
}

/* RFC 6120 section 8.2.3 and RFC 6121: the type values each stanza may
 * carry; an iq needs an id, and a get or set exactly one payload. */
static int stanza_valid(enum xmpp_stanza_kind kind, const struct xmpp_node *el)
{
    static const char *const message_types[] = {"chat",     "normal", "groupchat",
                                                "headline", "error",  NULL};
    static const char *const presence_types[] = {
        "unavailable",  "subscribe", "subscribed", "unsubscribe",
        "unsubscribed", "probe",     "error",      NULL};
    static const char *const iq_types[] = {"get", "set", "result", "error", NULL};
    const char *type = xmpp_node_attr(el, "type");
    switch (kind) {
    case XMPP_STANZA_MESSAGE:
        return !type || in_list(type, message_types);
    case XMPP_STANZA_PRESENCE:
        return !type || in_list(type, presence_types);
    case XMPP_STANZA_IQ:
        if (!type || !in_list(type, iq_types) || !xmpp_node_attr(el, "id"))
            return 0;
        if (strcmp(type, "get") == 0 || strcmp(type, "set") == 0)
            return element_child_count(el) == 1;
        return 1;
    }
    return 0;
}

/* Whether an error may be sent in reply: never to an error (RFC 6120
 * section 8.3.1), and not to an iq result either, which expects nothing. */
static int stanza_may_reply(enum xmpp_stanza_kind kind, const struct xmpp_node *el)
{
    const char *type = xmpp_node_attr(el, "type");
    if (type && strcmp(type, "error") == 0)
        return 0;
    if (kind == XMPP_STANZA_IQ && type && strcmp(type, "result") == 0)
        return 0;
    return 1;
}

/* A stanza from the bound client: stamp, check, answer what the stream
 * itself owns (session, a second bind) and pass the rest on. Takes el. */
static void stream_route_stanza(struct xmpp_stream *s, enum xmpp_stanza_kind kind,
                                struct xmpp_node *el)
{
    const struct xmpp_stream_hooks *h = &s->env->hooks;
    struct xmpp_stanza *st = NULL;
    /* RFC 6120 section 8.1.2.1: the server stamps `from` with the full JID,
     * whatever the client wrote. */
    if (xmpp_node_set_attr(el, "from", s->full_jid) != PL_OK)
        goto done;
    if (!stanza_valid(kind, el)) {
        if (stanza_may_reply(kind, el))
            stream_reply_error(s, el, "modify", "bad-request");
        goto done;
    }
    st = calloc(1, sizeof(*st));
    if (!st)
        goto done;
    const char *to = xmpp_node_attr(el, "to");
    if (to) {
        if (xmpp_jid_parse(to, &st->to) != PL_OK) {
            if (stanza_may_reply(kind, el)) {
                /* The reply comes from the server, not from the bad JID. */
                xmpp_node_set_attr(el, "to", NULL);
                stream_reply_error(s, el, "modify", "jid-malformed");
            }
            goto done;
        }
        st->has_to = 1;
        /* The recipient and the store see the JID as prepared
         * (ｂｏｂ@localhost is bob@localhost). */
        char *prepared = xmpp_jid_full(&st->to);
        int rc = prepared ? xmpp_node_set_attr(el, "to", prepared) : PL_ENOMEM;
        free(prepared);
        if (rc != PL_OK)
            goto done;
    }
    if (kind == XMPP_STANZA_IQ &&
        stanza_is_iq_with(el, "set", "session", XMPP_NS_SESSION)) {
        /* RFC 3921's session establishment: a no-op kept for old clients. */
        struct xmpp_node *r = xmpp_stanza_iq_result(el, s->env->domain);
        if (r)
            xmpp_stream_write_node(s, r);
        xmpp_node_free(r);
        goto done;
    }
    if (kind == XMPP_STANZA_IQ && stanza_is_iq_with(el, "set", "bind", XMPP_NS_BIND)) {
        stream_reply_error(s, el, "cancel", "not-allowed");
        goto done;
    }
    st->kind = kind;
    st->node = el;
    el = NULL;
    st->id = xmpp_node_attr(st->node, "id");
    st->type = xmpp_node_attr(st->node, "type");
    if (h->stanza) {
        h->stanza(h->ctx, s, st);
        st = NULL;
    }
done:
    xmpp_stanza_free(st);
    xmpp_node_free(el);
}

/* Takes el. */
static void stream_handle_stanza(struct xmpp_stream *s, enum xmpp_stanza_kind kind,
                                 struct xmpp_node *el)
{
    if (s->state == XMPP_ST_BOUND) {
        stream_route_stanza(s, kind, el);
        return;
    }
    if (s->state == XMPP_ST_BIND && stanza_is_iq_with(el, "set", "bind", XMPP_NS_BIND))
        stream_handle_bind(s, el);
    else
        xmpp_stream_error(s, "not-authorized", NULL);
    xmpp_node_free(el);
}

static int stanza_kind(const char *name, enum xmpp_stanza_kind *kind)
{
    if (strcmp(name, "message") == 0)
        *kind = XMPP_STANZA_MESSAGE;
    else if (strcmp(name, "presence") == 0)
        *kind = XMPP_STANZA_PRESENCE;
    else if (strcmp(name, "iq") == 0)
        *kind = XMPP_STANZA_IQ;
    else
        return PL_EINVAL;
    return PL_OK;
}

/* Takes el. */
static void stream_dispatch(struct xmpp_stream *s, struct xmpp_node *el)
{
    enum xmpp_stanza_kind kind;
    if (el->ns && strcmp(el->ns, XMPP_NS_CLIENT) == 0) {
        if (stanza_kind(el->name, &kind) == PL_OK) {
            stream_handle_stanza(s, kind, el);
            return;
        }
        /* RFC 7395 section 3.3.1: a framing element in the wrong namespace
         * (usually none) is invalid-namespace. */
        if (strcmp(el->name, "open") == 0 || strcmp(el->name, "close") == 0)
            xmpp_stream_error(s, "invalid-namespace", NULL);
        else
            xmpp_stream_error(s, "unsupported-stanza-type", NULL);
    } else if (el->ns && strcmp(el->ns, XMPP_NS_FRAMING) == 0) {
        if (strcmp(el->name, "open") == 0)
            stream_handle_open(s, el);
        else if (strcmp(el->name, "close") == 0) {
            s->ended_cleanly = 1;
            stream_handle_close(s);
        } else
            xmpp_stream_error(s, "unsupported-stanza-type", NULL);
    } else if (el->ns && strcmp(el->ns, XMPP_NS_SASL) == 0) {
        xmpp_sasl_handle(s, el);
    } else {
        xmpp_stream_error(s, "invalid-namespace", NULL);
    }
    xmpp_node_free(el);
}

/* The stream error for a frame the parser refused. */
static void stream_refuse_frame(struct xmpp_stream *s, enum xmpp_parse_error why)
{
    switch (why) {
    case XMPP_PARSE_RESTRICTED:
        xmpp_stream_error(s, "restricted-xml", NULL);
        return;
    case XMPP_PARSE_TOO_MANY_ATTRS:
    case XMPP_PARSE_TOO_MANY_NAMESPACES:
    case XMPP_PARSE_TOO_MANY_ELEMENTS:
    case XMPP_PARSE_TOO_DEEP:
        xmpp_stream_error(s, "policy-violation", xmpp_parse_error_str(why));
        return;
    case XMPP_PARSE_OK:
    case XMPP_PARSE_NOT_WELL_FORMED:
        break;
    }
    xmpp_stream_error(s, "not-well-formed", NULL);
}

int xmpp_stream_input(struct xmpp_stream *s, const char *frame, size_t len)
{
    if (s->state == XMPP_ST_CLOSING)
        return PL_ESTATE;
    if (s->env->max_stanza_size && len > s->env->max_stanza_size) {
        xmpp_stream_too_big(s);
        return PL_ESTATE;
    }
    struct xmpp_node *el = NULL;
    enum xmpp_parse_error why = XMPP_PARSE_OK;
    int rc = xmpp_parse(s->env->parser, frame, len, XMPP_NS_CLIENT, &el, &why);
    if (rc == PL_ENOMEM)
        xmpp_stream_error(s, "internal-server-error", NULL);
    else if (rc != PL_OK)
        stream_refuse_frame(s, why);
    else
        stream_dispatch(s, el);
    return s->state == XMPP_ST_CLOSING ? PL_ESTATE : PL_OK;
}

void xmpp_stream_written(struct xmpp_stream *s, uint64_t tag)
{
    if (s->env->hooks.written)
        s->env->hooks.written(s->env->hooks.ctx, s, tag);
}

int xmpp_stream_send(struct xmpp_stream *s, const struct xmpp_node *stanza, uint64_t tag)
{
    if (s->state == XMPP_ST_CLOSING)
        return PL_ESTATE;
    struct pl_buf b = PL_BUF_INIT;
    int rc = stream_serialize(stanza, &b);
    if (rc == PL_OK)
        rc = xmpp_stream_write(s, b.data, b.len, tag);
    pl_buf_free(&b);
    return rc;
}

int xmpp_stream_send_bytes(struct xmpp_stream *s, const char *data, size_t len,
                           uint64_t tag)
{
    if (s->state == XMPP_ST_CLOSING)
        return PL_ESTATE;
    return xmpp_stream_write(s, data, len, tag);
}

int xmpp_stream_send_frame(struct xmpp_stream *s, struct pl_frame *frame, uint64_t tag)
{
    if (s->state == XMPP_ST_CLOSING)
        return PL_ESTATE;
    return s->io->write(s->io_ctx, frame, tag);
}

uint64_t xmpp_stream_conn_id(const struct xmpp_stream *s)
{
    return s->conn_id;
}

const char *xmpp_stream_username(const struct xmpp_stream *s)
{
    return s->username;
}

const char *xmpp_stream_full_jid(const struct xmpp_stream *s)
{
    return s->full_jid;
}

const char *xmpp_stream_bare_jid(const struct xmpp_stream *s)
{
    return s->bound ? s->bare_jid : NULL;
}

const char *xmpp_stream_resource(const struct xmpp_stream *s)
{
    return s->resource;
}

int xmpp_stream_is_closing(const struct xmpp_stream *s)
{
    return s->state == XMPP_ST_CLOSING;
}

void xmpp_stream_set_user(struct xmpp_stream *s, void *user)
{
    s->user = user;
}

void *xmpp_stream_user(const struct xmpp_stream *s)
{
    return s->user;
}

void xmpp_stream_peer_closed(struct xmpp_stream *s)
{
    s->ended_cleanly = 1;
}

int xmpp_stream_ended_cleanly(const struct xmpp_stream *s)
{
    return s->ended_cleanly;
}

int xmpp_stream_set_address(struct xmpp_stream *s, const char *address)
{
    char *copy = address ? strdup(address) : NULL;
    if (address && !copy)
        return PL_ENOMEM;
    free(s->address);
    s->address = copy;
    return PL_OK;
}

const char *xmpp_stream_address(const struct xmpp_stream *s)
{
    return s->address;
}
