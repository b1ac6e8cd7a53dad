/* The session registry: users online on this node and their sessions,
 * resource binding (RFC 6120 section 7), the end of a session and what it
 * means for the messages written to it, and disabled users. */
#include "chat_internal.h"

#include "pl_error.h"
#include "pl_log.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

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

void chat_user_free(struct chat_user *u)
{
    chat_roster_user_free(u);
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
        chat_user_free(u);
    }
}

/* Ends s as far as chat is concerned (its presence row goes, it leaves the
 * registry) and closes its stream with a stream error. */
static void session_kick(struct chat_server *cs, struct chat_session *s,
                         const char *condition, const char *text)
{
    chat_room_session_gone(cs, s);
    chat_presence_gone(cs, s);
    session_detach(cs, s);
    xmpp_stream_error(s->stream, condition, text);
}

void chat_session_kick(struct chat_server *cs, struct chat_session *s,
                       const char *condition, const char *text)
{
    session_kick(cs, s, condition, text);
}

int chat_session_allowed(void *ctx, const char *username)
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

static struct chat_user *user_get(struct chat_server *cs, const char *username)
{
    struct chat_user *u = chat_user_find(cs, username);
    if (u)
        return u;
    u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    u->username = strdup(username);
    u->bare_jid = chat_bare_jid(cs, username);
    if (!u->username || !u->bare_jid || pl_map_put(&cs->users, username, u) != PL_OK) {
        chat_user_free(u);
        return NULL;
    }
    return u;
}

int chat_session_bind(void *ctx, struct xmpp_stream *stream, const char *requested,
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
        session_kick(cs, old, "conflict", "Replaced by new connection");
    }
    struct chat_user *u = user_get(cs, username);
    if (!u)
        goto nomem;
    size_t count = 0;
    for (struct chat_session *o = u->sessions; o; o = o->next_in_user)
        count++;
    if (count >= (size_t)cs->max_sessions) {
        /* RFC 6120 section 7.6.2.1: the account has all the resources it
         * may have. (u has sessions, so it stays registered.) */
        pl_info(xmpp_stream_conn_id(stream), u->bare_jid,
                "bind refused: %zu sessions already", count);
        free(res);
        free(answer);
        free(s->via);
        free(s);
        db_job_free(job);
        return PL_ETOOBIG;
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
    if (cs->metrics) {
        pl_metrics_add(&cs->metrics->sessions_total, 1);
        pl_metrics_gauge(&cs->metrics->sessions_open, 1);
    }
    chat_roster_bound(cs, s);

    /* Without an op the login's answer (disabled or not) still counts: it
     * names the user, not the session. */
    job->owner = chat_op_new(cs, s);
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

void chat_session_closed(void *ctx, struct xmpp_stream *stream)
{
    struct chat_server *cs = ctx;
    struct chat_session *s = xmpp_stream_user(stream);
    if (!s)
        return;
    chat_room_session_gone(cs, s); /* leaves its rooms, cleanly or not */
    /* XEP-0198: what the client did not acknowledge is still `stored`:
     * the user's other sessions load it (after this one has left). */
    char *requeue =
        s->user && xmpp_stream_sm_unacked(stream) ? strdup(s->user->username) : NULL;
    if (s->user) {
        chat_presence_gone(cs, s);
        session_detach(cs, s);
    }
    if (requeue)
        chat_offline_requeued(cs, requeue);
    free(requeue);
    if (s->wrote)
        end_deliveries(cs, s, stream);
    if (cs->metrics)
        pl_metrics_gauge(&cs->metrics->sessions_open, -1);
    xmpp_stream_set_user(stream, NULL);
    chat_offline_free(s);
    chat_roster_session_free(s);
    chat_presence_free(s);
    chat_csi_free(s);
    free(s->resource);
    free(s->via);
    free(s);
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
        session_kick(cs, s, "not-authorized", "Account disabled");
        if (last)
            break;
    }
}

void chat_session_login_done(struct chat_server *cs, struct db_job *job,
                             struct chat_op *op)
{
    if (job->status == PL_OK && job->u.login.disabled)
        chat_user_state(cs, job->u.login.username, 1);
}

void chat_session_end_done(struct chat_server *cs, struct db_job *job)
{
    if (job->status != PL_OK || job->u.session_end.requeued <= 0)
        return;
    char *username = chat_username_of(job->u.session_end.recipient);
    if (username)
        chat_offline_requeued(cs, username);
    free(username);
}
