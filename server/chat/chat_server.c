/* The chat server object, the stream hooks and the dispatch of store
 * completions. */
#include "chat_internal.h"

#include "pl_error.h"
#include "pl_log.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

int chat_server_new(const struct chat_config *cfg, struct chat_server **out)
{
    struct chat_server *cs = calloc(1, sizeof(*cs));
    if (!cs)
        return PL_ENOMEM;
    cs->domain = strdup(cfg->domain);
    cs->muc_domain = strdup(cfg->muc_domain);
    cs->node = strdup(cfg->node ? cfg->node : "node1");
    cs->send_window = cfg->send_window ? cfg->send_window : 256 * 1024;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    cs->boot = (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
    if (!cs->domain || !cs->muc_domain || !cs->node ||
        xmpp_parser_new(&cs->parser) != PL_OK) {
        chat_server_free(cs);
        return PL_ENOMEM;
    }
    *out = cs;
    return PL_OK;
}

void chat_server_set_store(struct chat_server *cs, const struct chat_store *store)
{
    cs->store = *store;
}

struct chat_op *chat_op_new(struct chat_server *cs, struct chat_session *s)
{
    struct chat_op *op = calloc(1, sizeof(*op));
    if (!op)
        return NULL;
    if (s) {
        op->sender_user = strdup(s->user->username);
        op->sender_serial = s->serial;
        if (!op->sender_user) {
            free(op);
            return NULL;
        }
    }
    op->next = cs->ops;
    if (cs->ops)
        cs->ops->prev = op;
    cs->ops = op;
    return op;
}

void chat_op_free(struct chat_server *cs, struct chat_op *op)
{
    if (!op)
        return;
    if (op->prev)
        op->prev->next = op->next;
    else
        cs->ops = op->next;
    if (op->next)
        op->next->prev = op->prev;
    xmpp_stanza_free(op->stanza);
    free(op->to_user);
    free(op->to_resource);
    free(op->sender_user);
    free(op);
}

void chat_submit(struct chat_server *cs, struct db_job *job, const char *shard_key)
{
    if (!cs->store.submit) {
        db_job_free(job);
        return;
    }
    cs->store.submit(cs->store.ctx, job, shard_key);
}

void chat_reply_error(struct chat_server *cs, struct chat_session *s,
                      const struct xmpp_node *orig, const char *type,
                      const char *condition)
{
    struct xmpp_node *err = xmpp_stanza_error_reply(orig, cs->domain, type, condition);
    if (!err)
        return;
    xmpp_stream_send(s->stream, err, 0);
    xmpp_node_free(err);
}

int chat_add_stanza_id(struct xmpp_node *msg, int64_t id, const char *by)
{
    char idbuf[24];
    snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
    struct xmpp_node *sid = xmpp_node_add(msg, "stanza-id", XMPP_NS_SID);
    if (!sid || xmpp_node_set_attr(sid, "id", idbuf) != PL_OK ||
        xmpp_node_set_attr(sid, "by", by) != PL_OK)
        return PL_ENOMEM;
    return PL_OK;
}

void chat_format_stamp(int64_t us, char *out, size_t outlen)
{
    time_t secs = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, outlen, "%s.%03dZ", base, (int)((us % 1000000) / 1000));
}

/* ---- sessions ---------------------------------------------------------- */

struct chat_user *chat_user_find(struct chat_server *cs, const char *username)
{
    return pl_map_get(&cs->users, username);
}

struct chat_session *chat_session_find(struct chat_user *u, const char *resource)
{
    for (struct chat_session *s = u ? u->sessions : NULL; s; s = s->next_in_user)
        if (strcmp(s->resource, resource) == 0)
            return s;
    return NULL;
}

struct chat_session *chat_session_by_serial(struct chat_server *cs, const char *username,
                                            uint64_t serial)
{
    struct chat_user *u = username ? chat_user_find(cs, username) : NULL;
    for (struct chat_session *s = u ? u->sessions : NULL; s; s = s->next_in_user)
        if (s->serial == serial)
            return s;
    return NULL;
}

static void user_free(struct chat_user *u)
{
    free(u->username);
    free(u->bare_jid);
    free(u);
}

/* Takes s out of its user's list (and frees the user when it was the last);
 * s stays attached to its stream. */
static void session_detach(struct chat_server *cs, struct chat_session *s)
{
    struct chat_user *u = s->user;
    if (!u)
        return;
    for (struct chat_session **p = &u->sessions; *p; p = &(*p)->next_in_user) {
        if (*p == s) {
            *p = s->next_in_user;
            break;
        }
    }
    s->user = NULL;
    s->next_in_user = NULL;
    if (!u->sessions) {
        pl_map_remove(&cs->users, u->username);
        user_free(u);
    }
}

static int hook_user_allowed(void *ctx, const char *username)
{
    struct chat_server *cs = ctx;
    return pl_map_get(&cs->disabled, username) == NULL;
}

/* Makes a resource of the form web-<16 hex digits>. */
static char *random_resource(void)
{
    unsigned char rnd[8];
    /* getrandom does not block once the pool is initialised (at boot). */
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        return NULL;
    char *res = malloc(4 + 2 * sizeof(rnd) + 1);
    if (!res)
        return NULL;
    memcpy(res, "web-", 4);
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(res + 4 + 2 * i, 3, "%02x", rnd[i]);
    return res;
}

static int hook_bind(void *ctx, struct xmpp_stream *stream, const char *requested,
                     char **resource)
{
    struct chat_server *cs = ctx;
    const char *username = xmpp_stream_username(stream);
    char *res = requested ? strdup(requested) : random_resource();
    char *answer = res ? strdup(res) : NULL; /* the stream's copy */
    struct chat_session *s = calloc(1, sizeof(*s));
    struct db_job *job = db_job_new(DB_JOB_USER_LOGIN);
    if (!res || !answer || !s || !job || !(job->u.login.username = strdup(username)))
        goto nomem;
    size_t vlen = strlen(cs->node) + 48;
    if (!(s->via = malloc(vlen)))
        goto nomem;
    /* The same resource again: the newer session wins and the older one is
     * told so (what ejabberd and Prosody do by default). Done first, as it
     * may free the user entry. */
    struct chat_session *old = chat_session_find(chat_user_find(cs, username), res);
    if (old) {
        pl_info(xmpp_stream_conn_id(old->stream), xmpp_stream_full_jid(old->stream),
                "resource taken over by a new session");
        chat_presence_gone(cs, old);
        session_detach(cs, old);
        xmpp_stream_error(old->stream, "conflict", "Replaced by new connection");
    }
    struct chat_user *u = chat_user_find(cs, username);
    if (!u) {
        u = calloc(1, sizeof(*u));
        if (!u)
            goto nomem;
        u->username = strdup(username);
        size_t n = strlen(username) + strlen(cs->domain) + 2;
        u->bare_jid = malloc(n);
        if (!u->username || !u->bare_jid ||
            pl_map_put(&cs->users, username, u) != PL_OK) {
            user_free(u);
            goto nomem;
        }
        snprintf(u->bare_jid, n, "%s@%s", username, cs->domain);
    }
    s->cs = cs;
    s->stream = stream;
    s->user = u;
    s->serial = ++cs->next_serial;
    s->resource = res;
    snprintf(s->via, vlen, "%s/%" PRIx64 "/%" PRIu64, cs->node, cs->boot, s->serial);
    s->next_in_user = u->sessions;
    u->sessions = s;
    xmpp_stream_set_user(stream, s);
    chat_presence_bound(cs, s);

    job->owner_gen = s->serial;
    chat_submit(cs, job, username);
    *resource = answer;
    return PL_OK;
nomem:
    free(res);
    free(answer);
    if (s)
        free(s->via);
    free(s);
    db_job_free(job);
    return PL_ENOMEM;
}

static void hook_stanza(void *ctx, struct xmpp_stream *stream, struct xmpp_stanza *st)
{
    struct chat_server *cs = ctx;
    struct chat_session *s = xmpp_stream_user(stream);
    if (!s || !s->user) {
        xmpp_stanza_free(st);
        return;
    }
    switch (st->kind) {
    case XMPP_STANZA_MESSAGE:
        chat_message_handle(cs, s, st);
        return;
    case XMPP_STANZA_PRESENCE:
        chat_presence_handle(cs, s, st);
        return;
    case XMPP_STANZA_IQ:
        chat_iq_handle(cs, s, st);
        return;
    }
    xmpp_stanza_free(st);
}

static void hook_written(void *ctx, struct xmpp_stream *stream, uint64_t tag)
{
    struct chat_session *s = xmpp_stream_user(stream);
    if (!s)
        return;
    chat_message_written(ctx, s, tag);
    chat_offline_written(ctx, s, tag);
}

/* Settles what was written to the session, or, when the client did not end
 * it, puts it back for the next login (PROTOCOL.md: at least once). */
static void end_deliveries(struct chat_server *cs, struct chat_session *s,
                           struct xmpp_stream *stream)
{
    const char *bare = xmpp_stream_bare_jid(stream);
    struct db_job *job = db_job_new(DB_JOB_SESSION_END);
    if (!job || !bare || !(job->u.session_end.via = strdup(s->via)) ||
        !(job->u.session_end.recipient = strdup(bare))) {
        db_job_free(job);
        return;
    }
    job->u.session_end.clean = xmpp_stream_ended_cleanly(stream);
    /* The recipient's shard: after every delivered mark of this session. */
    chat_submit(cs, job, bare);
}

static void hook_closed(void *ctx, struct xmpp_stream *stream)
{
    struct chat_server *cs = ctx;
    struct chat_session *s = xmpp_stream_user(stream);
    if (!s)
        return;
    if (s->user) {
        chat_presence_gone(cs, s);
        session_detach(cs, s);
    }
    if (s->wrote)
        end_deliveries(cs, s, stream);
    xmpp_stream_set_user(stream, NULL);
    chat_offline_free(s);
    free(s->resource);
    free(s->via);
    free(s);
}

void chat_server_hooks(struct chat_server *cs, struct xmpp_stream_hooks *hooks)
{
    hooks->ctx = cs;
    hooks->user_allowed = hook_user_allowed;
    hooks->bind = hook_bind;
    hooks->stanza = hook_stanza;
    hooks->written = hook_written;
    hooks->closed = hook_closed;
}

/* A user was disabled (or enabled again): remember it for upgrades, and
 * close what is open. */
void chat_user_state(struct chat_server *cs, const char *username, int disabled)
{
    if (!disabled) {
        pl_map_remove(&cs->disabled, username);
        return;
    }
    if (pl_map_put(&cs->disabled, username, (void *)1) != PL_OK)
        pl_error(0, NULL, "out of memory recording disabled user %s", username);
    struct chat_user *u = chat_user_find(cs, username);
    while (u && u->sessions) {
        struct chat_session *s = u->sessions;
        int last = s->next_in_user == NULL;
        pl_info(xmpp_stream_conn_id(s->stream), xmpp_stream_full_jid(s->stream),
                "account disabled: closing session");
        chat_presence_gone(cs, s);
        session_detach(cs, s);
        xmpp_stream_error(s->stream, "not-authorized", "Account disabled");
        if (last)
            break;
    }
}

static void login_done(struct chat_server *cs, struct db_job *job)
{
    if (job->status == PL_OK && job->u.login.disabled)
        chat_user_state(cs, job->u.login.username, 1);
}

static void session_requeued(struct chat_server *cs, const char *bare)
{
    const char *at = strchr(bare, '@');
    char *username = at ? strndup(bare, (size_t)(at - bare)) : NULL;
    if (username)
        chat_offline_requeued(cs, username);
    free(username);
}

void chat_server_complete(struct chat_server *cs, struct db_job *job)
{
    switch (job->kind) {
    case DB_JOB_MSG_STORE:
        chat_message_stored(cs, job);
        break;
    case DB_JOB_OFFLINE_LOAD:
        chat_offline_loaded(cs, job);
        break;
    case DB_JOB_USER_LOGIN:
        login_done(cs, job);
        break;
    case DB_EVENT_USER_STATE:
        chat_user_state(cs, job->u.user_state.username, job->u.user_state.disabled);
        break;
    case DB_JOB_SESSION_END:
        if (job->status == PL_OK && job->u.session_end.requeued > 0)
            session_requeued(cs, job->u.session_end.recipient);
        break;
    case DB_JOB_MARK_DELIVERED:
    case DB_JOB_MARK_RECEIVED:
    case DB_JOB_PRESENCE:
    case DB_JOB__COUNT:
        if (job->status != PL_OK)
            pl_warn(0, NULL, "store job %d failed: %s", job->kind,
                    pl_strerror(job->status));
        break;
    }
    db_job_free(job);
}

static void free_user_entry(const char *key, void *value, void *arg)
{
    struct chat_user *u = value;
    /* Sessions belong to streams, which are gone by now. */
    user_free(u);
}

void chat_server_free(struct chat_server *cs)
{
    if (!cs)
        return;
    while (cs->ops)
        chat_op_free(cs, cs->ops);
    pl_map_each(&cs->users, free_user_entry, NULL);
    pl_map_free(&cs->users);
    pl_map_free(&cs->disabled);
    xmpp_parser_free(cs->parser);
    free(cs->domain);
    free(cs->muc_domain);
    free(cs->node);
    free(cs);
}
