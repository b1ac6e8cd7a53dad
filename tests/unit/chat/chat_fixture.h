/* The chat layer without a socket and without a database: real streams fed
 * frames through a fake transport that records what is written, and a
 * recording store whose jobs the tests inspect, fill in and hand back with
 * chat_server_complete. Included by each chat_*_test.c; everything here is
 * static inline so that a test need not use all of it. */
#ifndef CHAT_FIXTURE_H
#define CHAT_FIXTURE_H

/* Bytes of offline backlog chat queues ahead of the (fake) socket. */
#define FX_SEND_WINDOW 2000

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth_jwt.h"
#include "chat.h"
#include "chat_internal.h"
#include "db_store.h"
#include "pl_error.h"
#include "pl_log.h"
#include "xmpp_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FX_NS_FRAMING "urn:ietf:params:xml:ns:xmpp-framing"
#define FX_OPEN "<open xmlns='" FX_NS_FRAMING "' to='localhost' version='1.0'/>"
#define FX_CLOSE "<close xmlns='" FX_NS_FRAMING "'/>"
#define FX_MAX_CLIENTS 32

struct fx_frame {
    char *data;
    size_t len;
    uint64_t tag;
    /* The frame object the transport was handed: only compared (a fan-out
     * hands every session the same one), never dereferenced later. */
    const void *shared;
};

struct fx;

/* One connection: the stream and what the transport was asked to write. */
struct fx_client {
    struct fx *fx;
    struct xmpp_stream *s;
    struct fx_frame *frames;
    size_t nframes;
    size_t cap;
    size_t seen; /* frames already looked at by the test */
    int closed;  /* io.close was called */
};

struct fx_job {
    struct db_job *job;
    char *shard; /* copy of the shard key, or NULL */
};

struct fx {
    struct auth_verifier *verifier;
    struct xmpp_env env;
    struct chat_server *cs;
    struct xmpp_parser *check; /* a second parser, for what the tests read */
    struct fx_job *jobs;
    size_t njobs;
    size_t jobs_cap;
    struct fx_client *clients[FX_MAX_CLIENTS];
    size_t nclients;
    uint64_t next_conn;
};

/* ---- the fake transport ------------------------------------------------ */

static inline int fx_io_write(void *ctx, struct pl_frame *frame, uint64_t tag)
{
    struct fx_client *c = ctx;
    const char *data = pl_frame_data(frame);
    size_t len = frame->len;
    if (c->nframes == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct fx_frame *f = realloc(c->frames, cap * sizeof(*f));
        assert_non_null(f);
        c->frames = f;
        c->cap = cap;
    }
    char *copy = malloc(len + 1);
    assert_non_null(copy);
    memcpy(copy, data, len);
    copy[len] = '\0';
    c->frames[c->nframes++] = (struct fx_frame){copy, len, tag, frame};
    return PL_OK;
}

static inline void fx_io_close(void *ctx)
{
    struct fx_client *c = ctx;
    c->closed = 1;
}

static const struct xmpp_stream_io fx_io = {fx_io_write, fx_io_close};

/* ---- the recording store ----------------------------------------------- */

static inline void fx_store_submit(void *ctx, struct db_job *job, const char *shard_key)
{
    struct fx *fx = ctx;
    if (fx->njobs == fx->jobs_cap) {
        size_t cap = fx->jobs_cap ? fx->jobs_cap * 2 : 32;
        struct fx_job *j = realloc(fx->jobs, cap * sizeof(*j));
        assert_non_null(j);
        fx->jobs = j;
        fx->jobs_cap = cap;
    }
    fx->jobs[fx->njobs].job = job;
    fx->jobs[fx->njobs].shard = shard_key ? strdup(shard_key) : NULL;
    fx->njobs++;
}

/* How many recorded jobs of this kind wait. */
static inline size_t fx_count(struct fx *fx, enum db_job_kind kind)
{
    size_t n = 0;
    for (size_t i = 0; i < fx->njobs; i++)
        if (fx->jobs[i].job->kind == kind)
            n++;
    return n;
}

/* Removes and returns the oldest recorded job of this kind (it must exist);
 * its shard key goes to *shard (caller frees) when shard is not NULL. */
static inline struct db_job *fx_take(struct fx *fx, enum db_job_kind kind, char **shard)
{
    for (size_t i = 0; i < fx->njobs; i++) {
        if (fx->jobs[i].job->kind != kind)
            continue;
        struct db_job *job = fx->jobs[i].job;
        if (shard)
            *shard = fx->jobs[i].shard;
        else
            free(fx->jobs[i].shard);
        memmove(&fx->jobs[i], &fx->jobs[i + 1], (fx->njobs - i - 1) * sizeof(*fx->jobs));
        fx->njobs--;
        return job;
    }
    fail_msg("no recorded job of kind %d", (int)kind);
    return NULL;
}

/* Completes every recorded job of this kind with PL_OK and zeroed outs. */
static inline void fx_complete_all(struct fx *fx, enum db_job_kind kind)
{
    while (fx_count(fx, kind) > 0)
        chat_server_complete(fx->cs, fx_take(fx, kind, NULL));
}

/* Frees every recorded job without completing it. */
static inline void fx_drop_all(struct fx *fx)
{
    for (size_t i = 0; i < fx->njobs; i++) {
        db_job_free(fx->jobs[i].job);
        free(fx->jobs[i].shard);
    }
    fx->njobs = 0;
}

/* ---- set-up and tear-down ---------------------------------------------- */

static inline int fx_setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    pl_log_set_level(PL_LOG_ERROR);
    struct auth_config acfg = {.alg = "HS256",
                               .secret = "chat-unit-test-secret-0123456789abcdef"};
    char err[200];
    assert_int_equal(auth_verifier_new(&acfg, &fx->verifier, err, sizeof(err)), PL_OK);
    fx->env.domain = "localhost";
    fx->env.max_stanza_size = 65536;
    fx->env.verifier = fx->verifier;
    assert_int_equal(xmpp_parser_new(&fx->env.parser), PL_OK);
    assert_int_equal(xmpp_parser_new(&fx->check), PL_OK);
    /* A small window: a few stored messages at a time, so tests see the
     * backlog paced by the writes they report. */
    struct chat_config ccfg = {.domain = "localhost",
                               .muc_domain = "conference.localhost",
                               .node = "test",
                               .send_window = FX_SEND_WINDOW};
    assert_int_equal(chat_server_new(&ccfg, &fx->cs), PL_OK);
    chat_server_hooks(fx->cs, &fx->env.hooks);
    struct chat_store store = {.submit = fx_store_submit, .ctx = fx};
    chat_server_set_store(fx->cs, &store);
    *state = fx;
    return 0;
}

static inline void fx_client_release(struct fx_client *c)
{
    for (size_t i = 0; i < c->nframes; i++)
        free(c->frames[i].data);
    free(c->frames);
    free(c);
}

/* The connection goes away (hooks.closed runs); the client is freed. */
static inline void fx_disconnect(struct fx_client *c)
{
    struct fx *fx = c->fx;
    xmpp_stream_free(c->s);
    for (size_t i = 0; i < fx->nclients; i++) {
        if (fx->clients[i] == c) {
            fx->clients[i] = fx->clients[--fx->nclients];
            break;
        }
    }
    fx_client_release(c);
}

static inline int fx_teardown(void **state)
{
    struct fx *fx = *state;
    while (fx->nclients > 0)
        fx_disconnect(fx->clients[fx->nclients - 1]);
    fx_drop_all(fx);
    free(fx->jobs);
    chat_server_free(fx->cs);
    xmpp_parser_free(fx->check);
    xmpp_parser_free(fx->env.parser);
    auth_verifier_free(fx->verifier);
    free(fx);
    return 0;
}

/* ---- clients ----------------------------------------------------------- */

static inline int fx_send(struct fx_client *c, const char *frame)
{
    return xmpp_stream_input(c->s, frame, strlen(frame));
}

static inline int fx_sendf(struct fx_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline int fx_sendf(struct fx_client *c, const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(buf));
    return fx_send(c, buf);
}

/* Frames written and not yet looked at. */
static inline size_t fx_unseen(const struct fx_client *c)
{
    return c->nframes - c->seen;
}

static inline void fx_skip_all(struct fx_client *c)
{
    c->seen = c->nframes;
}

/* Parses the next unseen frame (it must exist); *tag gets its tag when
 * tag is not NULL. The caller frees the tree. */
static inline struct xmpp_node *fx_next(struct fx_client *c, uint64_t *tag)
{
    assert_true(c->seen < c->nframes);
    struct fx_frame *f = &c->frames[c->seen++];
    if (tag)
        *tag = f->tag;
    struct xmpp_node *n = NULL;
    enum xmpp_parse_error why;
    if (xmpp_parse(c->fx->check, f->data, f->len, XMPP_NS_CLIENT, &n, &why) != PL_OK)
        fail_msg("frame does not parse: %s", f->data);
    return n;
}

/* Each client's next unseen frames that are presence (the broadcasts
 * among a user's own resources, say) are passed over, up to the first
 * that is not. */
static inline void fx_skip_presence(struct fx *fx)
{
    for (size_t i = 0; i < fx->nclients; i++) {
        struct fx_client *o = fx->clients[i];
        while (fx_unseen(o) > 0) {
            size_t at = o->seen;
            struct xmpp_node *n = fx_next(o, NULL);
            int presence = strcmp(n->name, "presence") == 0;
            xmpp_node_free(n);
            if (!presence) {
                o->seen = at;
                break;
            }
        }
    }
}

/* A stream authenticated (EXTERNAL) and bound to user/resource; the bind's
 * USER_LOGIN (not disabled) and bound-row PRESENCE jobs are completed. */
static inline struct fx_client *fx_login_raw(struct fx *fx, const char *user,
                                             const char *resource)
{
    assert_true(fx->nclients < FX_MAX_CLIENTS);
    struct fx_client *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->fx = fx;
    assert_int_equal(xmpp_stream_new(&fx->env, &fx_io, c, ++fx->next_conn, user, &c->s),
                     PL_OK);
    fx->clients[fx->nclients++] = c;
    assert_int_equal(fx_send(c, FX_OPEN), PL_OK);
    assert_int_equal(fx_send(c, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
                                "mechanism='EXTERNAL'>=</auth>"),
                     PL_OK);
    assert_int_equal(fx_send(c, FX_OPEN), PL_OK);
    assert_int_equal(fx_sendf(c,
                              "<iq type='set' id='b' xmlns='jabber:client'>"
                              "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                              "<resource>%s</resource></bind></iq>",
                              resource),
                     PL_OK);
    /* The last frame is the bind result. */
    assert_true(c->nframes > 0);
    c->seen = c->nframes - 1;
    struct xmpp_node *res = fx_next(c, NULL);
    assert_string_equal(res->name, "iq");
    assert_string_equal(xmpp_node_attr(res, "type"), "result");
    xmpp_node_free(res);
    return c;
}

/* Completes the roster loads waiting: empty rosters and blocklists. */
static inline void fx_rosters_empty(struct fx *fx)
{
    while (fx_count(fx, DB_JOB_ROSTER_LOAD) > 0) {
        struct db_job *job = fx_take(fx, DB_JOB_ROSTER_LOAD, NULL);
        job->status = PL_OK;
        chat_server_complete(fx->cs, job);
    }
}

/* Completes the next roster load of `owner` with rows (contacts[i],
 * states[i]) and blocked JIDs, at roster version 7. */
static inline void fx_load_roster(struct fx *fx, const char *owner,
                                  const char *const *contacts, const unsigned *states,
                                  size_t n, const char *const *blocked, size_t nb)
{
    struct db_job *job = fx_take(fx, DB_JOB_ROSTER_LOAD, NULL);
    assert_string_equal(job->u.roster_load.owner, owner);
    job->status = PL_OK;
    job->u.roster_load.ver = 7;
    job->u.roster_load.items = n ? calloc(n, sizeof(*job->u.roster_load.items)) : NULL;
    for (size_t i = 0; i < n; i++) {
        job->u.roster_load.items[i].jid = strdup(contacts[i]);
        job->u.roster_load.items[i].groups = strdup("");
        job->u.roster_load.items[i].state = states[i];
    }
    job->u.roster_load.count = n;
    job->u.roster_load.blocked = nb ? calloc(nb, sizeof(char *)) : NULL;
    for (size_t i = 0; i < nb; i++)
        job->u.roster_load.blocked[i] = strdup(blocked[i]);
    job->u.roster_load.nblocked = nb;
    chat_server_complete(fx->cs, job);
}

/* A bound session whose roster load (if one is out) completes with these
 * rows and blocked JIDs. */
static inline struct fx_client *fx_login_with(struct fx *fx, const char *user,
                                              const char *res,
                                              const char *const *contacts,
                                              const unsigned *states, size_t n,
                                              const char *const *blocked, size_t nb)
{
    struct fx_client *c = fx_login_raw(fx, user, res);
    fx_complete_all(fx, DB_JOB_USER_LOGIN);
    fx_complete_all(fx, DB_JOB_PRESENCE);
    if (fx_count(fx, DB_JOB_ROSTER_LOAD))
        fx_load_roster(fx, user, contacts, states, n, blocked, nb);
    return c;
}

/* Available; the jobs of the initial presence are completed empty and the
 * presence echoes passed over. */
static inline void fx_available(struct fx *fx, struct fx_client *c)
{
    assert_int_equal(fx_send(c, "<presence/>"), PL_OK);
    fx_complete_all(fx, DB_JOB_PRESENCE);
    fx_complete_all(fx, DB_JOB_PRESENCE_INITIAL);
    fx_complete_all(fx, DB_JOB_OFFLINE_LOAD);
    fx_skip_presence(fx);
}

static inline struct fx_client *fx_login(struct fx *fx, const char *user,
                                         const char *resource)
{
    struct fx_client *c = fx_login_raw(fx, user, resource);
    fx_complete_all(fx, DB_JOB_USER_LOGIN);
    fx_complete_all(fx, DB_JOB_PRESENCE);
    fx_rosters_empty(fx);
    return c;
}

/* Sends initial presence with a priority and completes the first offline
 * load with nothing in it: the session is available and past its load. */
static inline struct fx_client *fx_online(struct fx *fx, const char *user,
                                          const char *resource, int priority)
{
    struct fx_client *c = fx_login(fx, user, resource);
    assert_int_equal(
        fx_sendf(c, "<presence><priority>%d</priority></presence>", priority), PL_OK);
    fx_complete_all(fx, DB_JOB_PRESENCE);
    fx_complete_all(fx, DB_JOB_PRESENCE_INITIAL);
    fx_complete_all(fx, DB_JOB_OFFLINE_LOAD);
    /* The presence echoed to the user's available resources (RFC 6121
     * section 4.2.2), the new one included: what a test looks at comes
     * after. */
    fx_skip_presence(fx);
    return c;
}

/* ---- assertions on trees ----------------------------------------------- */

static inline size_t fx_count_children(const struct xmpp_node *n, const char *name,
                                       const char *ns)
{
    size_t k = 0;
    for (const struct xmpp_node *c = n->children; c; c = c->next)
        if (c->name && strcmp(c->name, name) == 0 &&
            (!ns || (c->ns && !strcmp(c->ns, ns))))
            k++;
    return k;
}

/* n is a stanza `name` of type error with <error type=TYPE><COND/></error>. */
static inline void fx_assert_stanza_error(const struct xmpp_node *n, const char *name,
                                          const char *type, const char *condition)
{
    assert_string_equal(n->name, name);
    assert_string_equal(n->ns, XMPP_NS_CLIENT);
    assert_string_equal(xmpp_node_attr(n, "type"), "error");
    struct xmpp_node *e = xmpp_node_child(n, "error", XMPP_NS_CLIENT);
    assert_non_null(e);
    assert_string_equal(xmpp_node_attr(e, "type"), type);
    struct xmpp_node *cond = xmpp_node_child(e, condition, XMPP_NS_STANZAS);
    if (!cond)
        fail_msg("no <%s/> in the error", condition);
}

/* Reads the next frame and checks it is the stanza error. */
static inline void fx_expect_error(struct fx_client *c, const char *name,
                                   const char *type, const char *condition)
{
    struct xmpp_node *n = fx_next(c, NULL);
    fx_assert_stanza_error(n, name, type, condition);
    xmpp_node_free(n);
}

/* Reads the next frames: a stream error with this condition, then <close/>,
 * and the transport was told to close. */
static inline void fx_expect_stream_error(struct fx_client *c, const char *condition)
{
    struct xmpp_node *n = fx_next(c, NULL);
    assert_string_equal(n->name, "error");
    assert_string_equal(n->ns, XMPP_NS_STREAM);
    assert_non_null(xmpp_node_child(n, condition, XMPP_NS_STREAMS));
    xmpp_node_free(n);
    n = fx_next(c, NULL);
    assert_string_equal(n->name, "close");
    assert_string_equal(n->ns, XMPP_NS_FRAMING);
    xmpp_node_free(n);
    assert_true(c->closed);
}

/* The MSG_STORE job that is recorded next, completed as stored with `id`
 * (inserted, pending). */
static inline void fx_store_ok(struct fx *fx, int64_t id)
{
    struct db_job *job = fx_take(fx, DB_JOB_MSG_STORE, NULL);
    job->status = PL_OK;
    job->u.msg.id = id;
    job->u.msg.inserted = 1;
    job->u.msg.pending = 1;
    job->u.msg.created_at_us = 1700000000000000;
    chat_server_complete(fx->cs, job);
}

static inline void fx_chat(struct fx_client *from, const char *to, const char *id,
                           const char *body)
{
    assert_int_equal(fx_sendf(from,
                              "<message to='%s' type='chat' id='%s'><body>%s</body>"
                              "</message>",
                              to, id, body),
                     PL_OK);
}

/* ---- stored messages and offline loads ------------------------------- */
/* 2023-11-14T22:13:20.123456Z */
#define STAMP_US 1700000000123456
#define STAMP_TEXT "2023-11-14T22:13:20.123Z"

static inline char *stored_xml(int64_t id)
{
    char buf[256];
    snprintf(buf, sizeof(buf),
             "<message xmlns='jabber:client' from='alice@localhost/A' "
             "to='bob@localhost' type='chat' id='s%lld'><body>stored %lld</body>"
             "</message>",
             (long long)id, (long long)id);
    return strdup(buf);
}

/* Completes an offline load with stored messages of these ids. */
static inline void complete_load(struct fx *fx, struct db_job *job, const int64_t *ids,
                                 size_t n)
{
    job->status = PL_OK;
    job->u.offline.count = n;
    job->u.offline.msgs = n ? calloc(n, sizeof(*job->u.offline.msgs)) : NULL;
    for (size_t i = 0; i < n; i++) {
        job->u.offline.msgs[i].id = ids[i];
        job->u.offline.msgs[i].created_at_us = STAMP_US;
        job->u.offline.msgs[i].stanza_xml = stored_xml(ids[i]);
    }
    chat_server_complete(fx->cs, job);
}

/* The next frame is the stored message `id`, with delay and stanza id; the
 * transport then reports it written, which lets the backlog go on. */
static inline void expect_stored(struct fx_client *c, int64_t id)
{
    uint64_t tag = 0;
    struct xmpp_node *m = fx_next(c, &tag);
    assert_int_equal(tag, chat_tag(CHAT_TAG_BACKLOG, id));
    assert_string_equal(m->name, "message");
    char want[32];
    snprintf(want, sizeof(want), "s%lld", (long long)id);
    assert_string_equal(xmpp_node_attr(m, "id"), want);
    assert_string_equal(xmpp_node_attr(m, "from"), "alice@localhost/A");
    struct xmpp_node *d = xmpp_node_child(m, "delay", XMPP_NS_DELAY);
    assert_non_null(d);
    assert_string_equal(xmpp_node_attr(d, "stamp"), STAMP_TEXT);
    assert_string_equal(xmpp_node_attr(d, "from"), "localhost");
    assert_int_equal(fx_count_children(m, "stanza-id", XMPP_NS_SID), 1);
    xmpp_stream_written(c->s, tag);
    struct xmpp_node *sid = xmpp_node_child(m, "stanza-id", XMPP_NS_SID);
    snprintf(want, sizeof(want), "%lld", (long long)id);
    assert_string_equal(xmpp_node_attr(sid, "id"), want);
    assert_string_equal(xmpp_node_attr(sid, "by"), "bob@localhost");
    xmpp_node_free(m);
}

/* The next frame is the live message `id` (no delay). */
static inline void expect_live(struct fx_client *c, int64_t id)
{
    uint64_t tag = 0;
    struct xmpp_node *m = fx_next(c, &tag);
    assert_int_equal(tag, chat_tag(CHAT_TAG_MESSAGE, id));
    assert_null(xmpp_node_child(m, "delay", XMPP_NS_DELAY));
    struct xmpp_node *sid = xmpp_node_child(m, "stanza-id", XMPP_NS_SID);
    assert_non_null(sid);
    char want[32];
    snprintf(want, sizeof(want), "%lld", (long long)id);
    assert_string_equal(xmpp_node_attr(sid, "id"), want);
    xmpp_node_free(m);
}

#endif
