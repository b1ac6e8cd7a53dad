/* The XMPP stream core: RFC 7395 framing and the RFC 6120 state machine
 * (open, features, SASL in xmpp_sasl.c, restart, bind, stanzas, close and
 * stream errors). No I/O: frames come in through xmpp_stream_input and go
 * out through the transport's io.write. */
#include "xmpp_stream_int.h"
#include "pl_error.h"
#include "pl_log.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
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

/* The same with XEP-0198 and XEP-0352 offered (env->sm set). */
#define FEATURES_BIND_SM                                                                 \
    "<stream:features xmlns:stream='" XMPP_NS_STREAM "'>"                                \
    "<bind xmlns='" XMPP_NS_BIND "'/>"                                                   \
    "<session xmlns='" XMPP_NS_SESSION "'><optional/></session>"                         \
    "<ver xmlns='urn:xmpp:features:rosterver'/>"                                         \
    "<sub xmlns='urn:xmpp:features:pre-approval'/>"                                      \
    "<sm xmlns='" XMPP_NS_SM "'/>"                                                       \
    "<csi xmlns='" XMPP_NS_CSI "'/>"                                                     \
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

/* Monotonic milliseconds: the SM windows and cadences. */
static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* XEP-0198 settings: the registry's, or these when none was wired (the
 * unit tests' streams). */
static const struct xmpp_sm_config *sm_cfg(const struct xmpp_stream *s)
{
    static const struct xmpp_sm_config defaults = {300, 1000, 5, 30, 90};
    return s->env->sm ? &s->env->sm->cfg : &defaults;
}

/* To the transport, unless the connection is gone (a detached stream:
 * what it is sent waits in sm's queue for a resumption). */
static int stream_io_write(struct xmpp_stream *s, struct pl_frame *f, uint64_t tag)
{
    if (!s->io)
        return PL_OK;
    if (tag)
        s->tagged_queued++;
    return s->io->write(s->io_ctx, f, tag);
}

static void sm_send_request(struct xmpp_stream *s);

/* Every stanza to the client: counted and kept until acknowledged once
 * stream management is on. */
static int stream_queue_stanza(struct xmpp_stream *s, struct pl_frame *f, uint64_t tag)
{
    const struct xmpp_stream_hooks *h = &s->env->hooks;
    if (s->csi_inactive && h->csi_hold && h->csi_hold(h->ctx, s, f, tag))
        return PL_OK; /* XEP-0352: held for an inactive client */
    struct xmpp_sm *sm = s->sm;
    if (!sm || !sm->enabled)
        return stream_io_write(s, f, tag);
    if (!sm->queue.count)
        sm->unacked_since = now_ms();
    if (xmpp_sm_queue_push(&sm->queue, f, tag) != PL_OK)
        return PL_ENOMEM;
    sm->sent++;
    sm->since_request++;
    int rc = stream_io_write(s, f, tag);
    const struct xmpp_sm_config *cfg = sm_cfg(s);
    if (sm->queue.count > cfg->max_unacked) {
        /* The client does not acknowledge: end the session. What it was
         * sent is still `stored` and goes to its other sessions or the
         * next login. A detached stream is ended by the next tick (the
         * caller is still using it). */
        if (!s->io)
            s->sm_over = 1;
        else if (s->state != XMPP_ST_CLOSING)
            xmpp_stream_error(s, "policy-violation", "too many unacknowledged stanzas");
        return rc;
    }
    if (s->io && cfg->request_every && sm->since_request >= cfg->request_every)
        sm_send_request(s);
    return rc;
}

int xmpp_stream_write(struct xmpp_stream *s, const char *data, size_t len, uint64_t tag)
{
    struct pl_frame *f = pl_frame_new(data, len);
    if (!f)
        return PL_ENOMEM;
    int rc = stream_io_write(s, f, tag);
    pl_frame_unref(f);
    return rc;
}

/* A stanza's bytes (counted by stream management). */
static int stream_write_stanza(struct xmpp_stream *s, const char *data, size_t len,
                               uint64_t tag)
{
    struct pl_frame *f = pl_frame_new(data, len);
    if (!f)
        return PL_ENOMEM;
    int rc = stream_queue_stanza(s, f, tag);
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
        rc = strcmp(n->name, "open") == 0 ? xmpp_stream_write(s, b.data, b.len, 0)
                                          : stream_write_stanza(s, b.data, b.len, 0);
    pl_buf_free(&b);
    return rc;
}

static void stream_close_io(struct xmpp_stream *s)
{
    s->state = XMPP_ST_CLOSING;
    if (s->io)
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

/* The stream's end for good: the chat layer lets go of the session. */
static void stream_destroy(struct xmpp_stream *s)
{
    if (s->bound && s->env->hooks.closed)
        s->env->hooks.closed(s->env->hooks.ctx, s);
    if (s->sm) {
        xmpp_sm_forget(s->sm);
        s->sm->stream = NULL;
        xmpp_sm_unref(s->sm);
        s->sm = NULL;
    }
    free(s->username);
    free(s->bare_jid);
    free(s->full_jid);
    free(s->resource);
    free(s->address);
    free(s);
}

void xmpp_stream_free(struct xmpp_stream *s)
{
    if (!s)
        return;
    /* XEP-0198 section 5: a connection lost (not closed by either side)
     * with resumption on leaves the session in place for the window; the
     * stream stays, without a transport, and keeps what it is sent. */
    if (s->sm && s->sm->resumable && s->bound && s->io && s->state != XMPP_ST_CLOSING &&
        !s->ended_cleanly) {
        s->io = NULL;
        s->io_ctx = NULL;
        s->sm->detached_at = now_ms();
        if (!s->sm->detached_at)
            s->sm->detached_at = 1;
        pl_info(s->conn_id, s->full_jid,
                "connection lost: session kept %ld s for resumption (%zu unacknowledged)",
                sm_cfg(s)->resume_timeout, s->sm->queue.count);
        return;
    }
    stream_destroy(s);
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
        stream_write_str(s, s->env->sm ? FEATURES_BIND_SM : FEATURES_BIND);
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
    /* XEP-0198: counted as handled when the chat layer frees it (for a
     * stored message, after the commit); at once if it goes no further. */
    uint32_t seq = 0;
    struct xmpp_sm *ticket = NULL;
    if (s->sm && s->sm->enabled && xmpp_sm_in_begin(&s->sm->in, &seq) == PL_OK)
        ticket = xmpp_sm_ref(s->sm);
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
    st->sm = ticket;
    st->sm_seq = seq;
    ticket = NULL;
    if (h->stanza) {
        h->stanza(h->ctx, s, st);
        st = NULL;
    }
done:
    xmpp_stanza_free(st);
    xmpp_node_free(el);
    if (ticket)
        xmpp_stream_sm_handled(ticket, seq);
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

/* ---- XEP-0198 stream management ---------------------------------------- */

/* An SM element without a stanza's count: <r/>, <a/>, <enabled/>... */
static void sm_write(struct xmpp_stream *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sm_write(struct xmpp_stream *s, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof(buf))
        xmpp_stream_write(s, buf, (size_t)n, 0);
}

static void sm_send_request(struct xmpp_stream *s)
{
    if (!s->io || s->state == XMPP_ST_CLOSING)
        return;
    sm_write(s, "<r xmlns='" XMPP_NS_SM "'/>");
    s->sm->since_request = 0;
    s->sm->request_at = now_ms();
}

static void sm_send_ack(struct xmpp_stream *s)
{
    sm_write(s, "<a xmlns='" XMPP_NS_SM "' h='%" PRIu32 "'/>",
             xmpp_sm_in_handled(&s->sm->in));
}

/* <failed/> with a stanza error condition (XEP-0198 section 3 and 5). */
static void sm_send_failed(struct xmpp_stream *s, const char *condition)
{
    sm_write(s,
             "<failed xmlns='" XMPP_NS_SM "'><%s xmlns='" XMPP_NS_STANZAS "'/></failed>",
             condition);
}

/* Answers the <r/>s the handled count has reached, in order. */
static void sm_answer_requests(struct xmpp_stream *s)
{
    struct xmpp_sm *sm = s->sm;
    uint32_t handled = xmpp_sm_in_handled(&sm->in);
    size_t i = 0;
    while (i < sm->nr && (uint32_t)(handled - sm->r_at[i]) < UINT32_C(0x80000000)) {
        sm_send_ack(s);
        i++;
    }
    if (i) {
        memmove(sm->r_at, sm->r_at + i, (sm->nr - i) * sizeof(*sm->r_at));
        sm->nr -= i;
    }
}

void xmpp_stream_sm_handled(struct xmpp_sm *sm, uint32_t seq)
{
    xmpp_sm_in_done(&sm->in, seq);
    struct xmpp_stream *s = sm->stream;
    if (s && s->sm == sm && s->io && s->state != XMPP_ST_CLOSING && sm->nr)
        sm_answer_requests(s);
    xmpp_sm_unref(sm);
}

/* <r/>: answered with everything received before it handled, so an <a/>
 * never overtakes a commit (held until it has). */
static void sm_handle_request(struct xmpp_stream *s)
{
    struct xmpp_sm *sm = s->sm;
    if (sm->nr == sm->rcap) {
        size_t cap = sm->rcap ? sm->rcap * 2 : 4;
        uint32_t *r = realloc(sm->r_at, cap * sizeof(*r));
        if (!r) {
            xmpp_stream_error(s, "internal-server-error", NULL);
            return;
        }
        sm->r_at = r;
        sm->rcap = cap;
    }
    sm->r_at[sm->nr++] = sm->in.received;
    sm_answer_requests(s); /* at once if nothing before it is pending */
}

static void sm_acked_one(void *arg, uint64_t tag)
{
    struct xmpp_stream *s = arg;
    const struct xmpp_stream_hooks *h = &s->env->hooks;
    if (tag && h->acked)
        h->acked(h->ctx, s, tag);
}

/* The client's h (from <a/> or <resume/>): releases what it covers, or
 * ends the stream for a count that cannot be (PL_EINVAL). */
static int sm_apply_h(struct xmpp_stream *s, const char *text)
{
    struct xmpp_sm *sm = s->sm;
    uint32_t h;
    if (xmpp_sm_parse_h(text, &h) != PL_OK) {
        xmpp_stream_error(s, "undefined-condition", "h must be a number of stanzas");
        return PL_EINVAL;
    }
    switch (xmpp_sm_ack_check(sm->acked, sm->sent, h)) {
    case XMPP_SM_ACK_OK:
        break;
    case XMPP_SM_ACK_TOO_HIGH: {
        /* XEP-0198 section 4: undefined-condition with the counts. */
        char text2[160];
        snprintf(text2, sizeof(text2),
                 "h %" PRIu32 " acknowledges more than the %" PRIu32 " stanzas sent", h,
                 sm->sent);
        pl_info(s->conn_id, s->full_jid, "%s", text2);
        if (!s->opened)
            stream_send_open(s);
        sm_write(s,
                 "<stream:error xmlns:stream='" XMPP_NS_STREAM
                 "'><undefined-condition xmlns='" XMPP_NS_STREAMS
                 "'/><handled-count-too-high xmlns='" XMPP_NS_SM "' h='%" PRIu32
                 "' send-count='%" PRIu32 "'/></stream:error>",
                 h, sm->sent);
        stream_write_str(s, FRAME_CLOSE);
        stream_close_io(s);
        return PL_EINVAL;
    }
    case XMPP_SM_ACK_BACKWARDS:
        xmpp_stream_error(s, "undefined-condition", "h went backwards");
        return PL_EINVAL;
    }
    uint32_t n = h - sm->acked;
    sm->acked = h;
    xmpp_sm_queue_pop(&sm->queue, n, sm_acked_one, s);
    sm->request_at = 0;
    return PL_OK;
}

static void sm_handle_enable(struct xmpp_stream *s, const struct xmpp_node *el)
{
    if (s->state != XMPP_ST_BOUND || (s->sm && s->sm->enabled)) {
        /* XEP-0198 section 3: only once, and only on a bound stream. */
        sm_send_failed(s, "unexpected-request");
        return;
    }
    const char *resume = xmpp_node_attr(el, "resume");
    int want = resume && (strcmp(resume, "true") == 0 || strcmp(resume, "1") == 0);
    if (!s->sm && !(s->sm = xmpp_sm_new(s->env->sm, s->username))) {
        sm_send_failed(s, "internal-server-error");
        return;
    }
    if (xmpp_sm_enable(s->sm, want, now_ms()) != PL_OK) {
        sm_send_failed(s, "internal-server-error");
        return;
    }
    s->sm->stream = s;
    s->tagged_before_sm = s->tagged_queued;
    if (s->sm->resumable)
        sm_write(s, "<enabled xmlns='" XMPP_NS_SM "' id='%s' resume='true' max='%ld'/>",
                 s->sm->id, sm_cfg(s)->resume_timeout);
    else
        sm_write(s, "<enabled xmlns='" XMPP_NS_SM "'/>");
    pl_info(s->conn_id, s->full_jid, "stream management enabled%s",
            s->sm->resumable ? " (resumable)" : "");
}

/* Moves the session of `old` onto s (which has authenticated and not
 * bound): identity, the chat layer's session, the counters and queue. */
static int sm_take_over(struct xmpp_stream *s, struct xmpp_stream *old)
{
    char *full = strdup(old->full_jid);
    char *res = strdup(old->resource);
    if (!full || !res) {
        free(full);
        free(res);
        return PL_ENOMEM;
    }
    struct xmpp_sm *sm = old->sm;
    const struct xmpp_stream_hooks *h = &s->env->hooks;
    s->full_jid = full;
    s->resource = res;
    s->bound = 1;
    s->state = XMPP_ST_BOUND;
    s->user = old->user;
    s->sm = sm;
    sm->stream = s;
    sm->detached_at = 0;
    sm->nr = 0;
    sm->last_rx = now_ms();
    s->tagged_before_sm = s->tagged_queued;
    old->sm = NULL;
    old->bound = 0;
    old->user = NULL;
    if (h->resumed)
        h->resumed(h->ctx, old, s);
    if (old->io) {
        /* The old connection is still open (the client gave up on it). */
        pl_info(old->conn_id, old->full_jid, "session resumed elsewhere: closing");
        xmpp_stream_error(old, "conflict", "Replaced by a resumed session");
    } else {
        stream_destroy(old);
    }
    return PL_OK;
}

static void sm_handle_resume(struct xmpp_stream *s, const struct xmpp_node *el)
{
    if (s->state != XMPP_ST_BIND) {
        /* Before authentication the user is unknown; once bound the
         * stream is a session of its own. */
        sm_send_failed(s, "unexpected-request");
        return;
    }
    const char *previd = xmpp_node_attr(el, "previd");
    const char *htext = xmpp_node_attr(el, "h");
    uint32_t h;
    if (!previd || xmpp_sm_parse_h(htext, &h) != PL_OK) {
        sm_send_failed(s, "bad-request");
        return;
    }
    struct xmpp_sm *sm = NULL;
    enum xmpp_sm_resume why =
        xmpp_sm_lookup(s->env->sm, previd, s->username, now_ms(), &sm);
    if (why == XMPP_SM_RESUME_OK &&
        (!sm->stream || sm->stream->state == XMPP_ST_CLOSING || sm->stream->sm_over))
        why = XMPP_SM_RESUME_EXPIRED; /* ending already */
    if (why != XMPP_SM_RESUME_OK) {
        static const char *const reasons[] = {"ok", "unknown id", "another user's id",
                                              "expired"};
        pl_info(s->conn_id, s->bare_jid, "resumption refused: %s", reasons[why]);
        /* XEP-0198 section 5: item-not-found; the stream can still bind. */
        sm_send_failed(s, "item-not-found");
        return;
    }
    if (sm_take_over(s, sm->stream) != PL_OK) {
        sm_send_failed(s, "internal-server-error");
        return;
    }
    pl_info(s->conn_id, s->full_jid, "session resumed (%zu unacknowledged before h %s)",
            sm->queue.count, htext);
    if (sm_apply_h(s, htext) != PL_OK)
        return;
    sm_write(s, "<resumed xmlns='" XMPP_NS_SM "' previd='%s' h='%" PRIu32 "'/>", sm->id,
             xmpp_sm_in_handled(&sm->in));
    /* Then, in order, everything the client has not acknowledged: what
     * the old connection did not deliver and what came meanwhile. */
    for (size_t i = 0; i < sm->queue.count && s->state != XMPP_ST_CLOSING; i++) {
        const struct xmpp_sm_item *it = xmpp_sm_queue_at(&sm->queue, i);
        stream_io_write(s, it->frame, it->tag);
    }
    /* XEP-0352: a new stream starts active; what was held for the old
     * one's <inactive/> goes out now. */
    const struct xmpp_stream_hooks *hooks = &s->env->hooks;
    if (s->state != XMPP_ST_CLOSING && hooks->csi)
        hooks->csi(hooks->ctx, s, 1);
    if (sm->queue.count)
        sm_send_request(s);
}

static void stream_handle_sm(struct xmpp_stream *s, const struct xmpp_node *el)
{
    if (strcmp(el->name, "enable") == 0) {
        sm_handle_enable(s, el);
    } else if (strcmp(el->name, "resume") == 0) {
        sm_handle_resume(s, el);
    } else if (strcmp(el->name, "r") == 0 || strcmp(el->name, "a") == 0) {
        if (!s->sm || !s->sm->enabled) {
            xmpp_stream_error(s, "unsupported-stanza-type",
                              "stream management is not enabled");
            return;
        }
        if (el->name[0] == 'r')
            sm_handle_request(s);
        else
            sm_apply_h(s, xmpp_node_attr(el, "h"));
    } else {
        xmpp_stream_error(s, "unsupported-stanza-type", NULL);
    }
}

/* XEP-0352: <active/> and <inactive/>, for the chat layer to act on. */
static void stream_handle_csi(struct xmpp_stream *s, const struct xmpp_node *el)
{
    const struct xmpp_stream_hooks *h = &s->env->hooks;
    int active = strcmp(el->name, "active") == 0;
    if (!active && strcmp(el->name, "inactive") != 0) {
        xmpp_stream_error(s, "unsupported-stanza-type", NULL);
        return;
    }
    if (s->state != XMPP_ST_BOUND) {
        xmpp_stream_error(s, "not-authorized", NULL);
        return;
    }
    s->csi_inactive = !active;
    if (h->csi)
        h->csi(h->ctx, s, active);
}

int xmpp_stream_sm_on(const struct xmpp_stream *s)
{
    return s->sm && s->sm->enabled;
}

size_t xmpp_stream_sm_unacked(const struct xmpp_stream *s)
{
    return s->sm ? s->sm->queue.count : 0;
}

int xmpp_stream_sm_has_tag(const struct xmpp_stream *s, uint64_t tag)
{
    if (!s->sm)
        return 0;
    for (size_t i = 0; i < s->sm->queue.count; i++)
        if (xmpp_sm_queue_at(&s->sm->queue, i)->tag == tag)
            return 1;
    return 0;
}

int xmpp_stream_sm_can_send_more(const struct xmpp_stream *s)
{
    if (!s->sm || !s->sm->enabled)
        return 1;
    return s->sm->queue.count < sm_cfg(s)->max_unacked / 2 + 1;
}

int xmpp_stream_sm_tracks(const struct xmpp_stream *s)
{
    return s->write_tracked;
}

void xmpp_stream_sm_tick(struct xmpp_sm_registry *reg)
{
    if (!reg)
        return;
    long now = now_ms();
    struct xmpp_sm *next;
    for (struct xmpp_sm *sm = reg->head; sm; sm = next) {
        next = sm->next;
        struct xmpp_stream *s = sm->stream;
        if (!s)
            continue;
        if (!s->io) {
            /* Closing: the chat layer ended it (a kick) while detached. */
            if (xmpp_sm_expired(sm, now) || s->sm_over || s->state == XMPP_ST_CLOSING) {
                pl_info(s->conn_id, s->full_jid,
                        "resumption window over: session ends (%zu unacknowledged stay "
                        "stored)",
                        sm->queue.count);
                /* Ending it may touch other sessions, never this list's next. */
                stream_destroy(s);
            }
            continue;
        }
        if (s->state != XMPP_ST_BOUND)
            continue;
        const struct xmpp_sm_config *cfg = &reg->cfg;
        long since = sm->request_at ? now - sm->request_at : LONG_MAX;
        /* Unacknowledged for a while: since the oldest was sent, or since
         * the last <r/> if that is later. */
        long waiting = now - (sm->request_at > sm->unacked_since ? sm->request_at
                                                                 : sm->unacked_since);
        if (sm->queue.count && cfg->request_secs && waiting >= cfg->request_secs * 1000)
            sm_send_request(s);
        else if (cfg->idle_secs && now - sm->last_rx >= cfg->idle_secs * 500 &&
                 since >= cfg->idle_secs * 500)
            sm_send_request(s); /* silent: ask before the idle drop */
    }
}

void xmpp_stream_sm_shutdown(struct xmpp_sm_registry *reg)
{
    if (!reg)
        return;
    struct xmpp_sm *next;
    for (struct xmpp_sm *sm = reg->head; sm; sm = next) {
        next = sm->next;
        if (sm->stream && !sm->stream->io)
            stream_destroy(sm->stream);
    }
    xmpp_sm_registry_free(reg);
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
    } else if (el->ns && s->env->sm && strcmp(el->ns, XMPP_NS_SM) == 0) {
        stream_handle_sm(s, el);
    } else if (el->ns && s->env->sm && strcmp(el->ns, XMPP_NS_CSI) == 0) {
        stream_handle_csi(s, el);
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
    if (s->sm)
        s->sm->last_rx = now_ms();
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
    /* The transport writes in order and reports every tagged frame: the
     * ones queued before <enabled/> come first. */
    s->tagged_written++;
    s->write_tracked = s->sm && s->sm->enabled && s->tagged_written > s->tagged_before_sm;
    if (s->env->hooks.written)
        s->env->hooks.written(s->env->hooks.ctx, s, tag);
    s->write_tracked = 0;
}

int xmpp_stream_send(struct xmpp_stream *s, const struct xmpp_node *stanza, uint64_t tag)
{
    if (s->state == XMPP_ST_CLOSING)
        return PL_ESTATE;
    struct pl_buf b = PL_BUF_INIT;
    int rc = stream_serialize(stanza, &b);
    if (rc == PL_OK)
        rc = stream_write_stanza(s, b.data, b.len, tag);
    pl_buf_free(&b);
    return rc;
}

int xmpp_stream_send_bytes(struct xmpp_stream *s, const char *data, size_t len,
                           uint64_t tag)
{
    if (s->state == XMPP_ST_CLOSING)
        return PL_ESTATE;
    return stream_write_stanza(s, data, len, tag);
}

int xmpp_stream_send_frame(struct xmpp_stream *s, struct pl_frame *frame, uint64_t tag)
{
    if (s->state == XMPP_ST_CLOSING)
        return PL_ESTATE;
    return stream_queue_stanza(s, frame, tag);
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
