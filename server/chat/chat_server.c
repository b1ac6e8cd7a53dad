/* The chat server object: what the features share (ops, submission, reply
 * helpers), the stream hooks, and the dispatch of store completions to the
 * feature that submitted the job. */
#include "chat_internal.h"

#include "pl_buf.h"
#include "pl_error.h"
#include "pl_log.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    cs->metrics = cfg->metrics;
    cs->max_sessions = cfg->max_sessions_per_user > 0 ? cfg->max_sessions_per_user : 10;
    cs->max_roster_items = cfg->max_roster_items > 0 ? cfg->max_roster_items : 1000;
    cs->team_roster = cfg->team_roster;
    cs->room_creation_admins = cfg->room_creation_admins;
    cs->room_catchup_max = cfg->room_catchup_max > 0 ? cfg->room_catchup_max : 1000;
    cs->mam_max_page = cfg->mam_max_page > 0 ? cfg->mam_max_page : 250;
    cs->upload_max = cfg->upload_max > 0 ? cfg->upload_max : 50 * 1024 * 1024;
    cs->upload_quota = cfg->upload_quota > 0 ? cfg->upload_quota : INT64_C(1) << 30;
    cs->upload_ttl = cfg->upload_ttl > 0 ? cfg->upload_ttl : 300;
    cs->offline_queue_max = cfg->offline_queue_max;
    cs->store_queue_max = cfg->store_queue_max;
    cs->room_occupants_max = cfg->room_occupants_max;
    cs->rooms_per_user_max = cfg->rooms_per_user_max;
    cs->room_message_rate = cfg->room_message_rate;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    cs->boot = (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
    if (!cs->domain || !cs->muc_domain || !cs->node ||
        xmpp_parser_new(&cs->parser) != PL_OK) {
        chat_server_free(cs);
        return PL_ENOMEM;
    }
    if (cfg->upload_url && cfg->upload_key) {
        cs->upload_url = strdup(cfg->upload_url);
        cs->upload_key = cfg->upload_key;
        if (!cs->upload_url) {
            chat_server_free(cs);
            return PL_ENOMEM;
        }
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
        op->user = strdup(s->user->username);
        op->serial = s->serial;
        if (!op->user) {
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
    if (op->data_free)
        op->data_free(op->data);
    free(op->to_user);
    free(op->to_resource);
    xmpp_node_free(op->request);
    free(op->room);
    free(op->user);
    free(op);
}

struct chat_session *chat_op_session(struct chat_server *cs, const struct chat_op *op)
{
    return op ? chat_session_by_serial(cs, op->user, op->serial) : NULL;
}

void chat_submit(struct chat_server *cs, struct db_job *job, const char *shard_key)
{
    if (!cs->store.submit) {
        db_job_free(job);
        return;
    }
    cs->store.submit(cs->store.ctx, job, shard_key);
}

int chat_store_full(struct chat_server *cs)
{
    if (cs->store_queue_max <= 0 || !cs->store.queued ||
        cs->store.queued(cs->store.ctx) < (size_t)cs->store_queue_max)
        return 0;
    pl_metrics_limit(cs->metrics, PL_METRICS_LIMIT_STORE_QUEUE);
    return 1;
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

struct pl_frame *chat_frame(const struct xmpp_node *n)
{
    struct pl_buf out = PL_BUF_INIT;
    struct pl_frame *f = NULL;
    if (xmpp_node_serialize(n, NULL, &out) == PL_OK)
        f = pl_frame_new(out.data, out.len);
    pl_buf_free(&out);
    return f;
}

char *chat_bare_jid(const struct chat_server *cs, const char *username)
{
    size_t n = strlen(username) + strlen(cs->domain) + 2;
    char *bare = malloc(n);
    if (bare)
        snprintf(bare, n, "%s@%s", username, cs->domain);
    return bare;
}

char *chat_username_of(const char *bare_jid)
{
    const char *at = strchr(bare_jid, '@');
    return at ? strndup(bare_jid, (size_t)(at - bare_jid)) : NULL;
}

/* ---- the stream hooks -------------------------------------------------- */

static void hook_stanza(void *ctx, struct xmpp_stream *stream, struct xmpp_stanza *st)
{
    struct chat_session *s = xmpp_stream_user(stream);
    if (!s || !s->user) {
        xmpp_stanza_free(st);
        return;
    }
    struct chat_server *cs = ctx;
    pl_metrics_stanza_in(cs->metrics, st->kind == XMPP_STANZA_MESSAGE ? PL_METRICS_MESSAGE
                                      : st->kind == XMPP_STANZA_PRESENCE
                                          ? PL_METRICS_PRESENCE
                                          : PL_METRICS_IQ);
    chat_route_stanza(ctx, s, st);
}

static void hook_written(void *ctx, struct xmpp_stream *stream, uint64_t tag)
{
    struct chat_session *s = xmpp_stream_user(stream);
    if (!s)
        return;
    switch (chat_tag_kind(tag)) {
    case CHAT_TAG_MESSAGE:
        if (!xmpp_stream_sm_tracks(stream)) /* XEP-0198: the ack moves it (chat_sm.c) */
            chat_message_written(ctx, s, chat_tag_value(tag));
        return;
    case CHAT_TAG_BACKLOG:
        if (!xmpp_stream_sm_tracks(stream))
            chat_message_written(ctx, s, chat_tag_value(tag));
        chat_offline_written(ctx, s, chat_tag_value(tag));
        return;
    case CHAT_TAG_ROOM:
        chat_room_written(ctx, s, chat_tag_value(tag));
        return;
    case CHAT_TAG_CARBON: /* a copy: the stored message's own write counts */
    case CHAT_TAG_NONE:
    case CHAT_TAG__COUNT:
        return;
    }
}

void chat_server_hooks(struct chat_server *cs, struct xmpp_stream_hooks *hooks)
{
    hooks->ctx = cs;
    hooks->user_allowed = chat_session_allowed;
    hooks->bind = chat_session_bind;
    hooks->stanza = hook_stanza;
    hooks->written = hook_written;
    hooks->closed = chat_session_closed;
    hooks->acked = chat_sm_acked;
    hooks->resumed = chat_sm_resumed;
    hooks->csi = chat_csi_changed;
    hooks->csi_hold = chat_csi_hold;
}

/* ---- store completions ------------------------------------------------- */

static void report_failure(const struct db_job *job)
{
    if (job->status != PL_OK)
        pl_warn(0, NULL, "store job %d failed: %s", job->kind, pl_strerror(job->status));
}

void chat_server_complete(struct chat_server *cs, struct db_job *job)
{
    struct chat_op *op = job->owner;
    /* No default: a new job kind must be handled here (the compiler says so). */
    switch (job->kind) {
    case DB_JOB_USER_LOGIN:
        chat_session_login_done(cs, job, op);
        break;
    case DB_JOB_MSG_STORE:
        chat_message_stored(cs, job, op);
        break;
    case DB_JOB_OFFLINE_LOAD:
        chat_offline_loaded(cs, job, op);
        break;
    case DB_JOB_SESSION_END:
        chat_session_end_done(cs, job);
        break;
    case DB_EVENT_USER_STATE:
        chat_user_state(cs, job->u.user_state.username, job->u.user_state.disabled);
        break;
    case DB_EVENT_KICK:
        chat_admin_kick(cs, &job->u.kick);
        break;
    case DB_EVENT_MESSAGE:
        chat_admin_message(cs, &job->u.message);
        break;
    case DB_JOB_ROSTER_LOAD:
        chat_roster_loaded(cs, job, op);
        break;
    case DB_JOB_ROSTER_SET:
        chat_roster_set_done(cs, job, op);
        break;
    case DB_JOB_ROSTER_PAIR:
        chat_subscription_paired(cs, job, op);
        break;
    case DB_JOB_ROSTER_APPLY:
        chat_subscription_applied(cs, job, op);
        break;
    case DB_JOB_PRESENCE_INITIAL:
        chat_presence_initial_done(cs, job, op);
        break;
    case DB_JOB_BLOCK_SET:
        chat_block_set_done(cs, job, op);
        break;
    case DB_JOB_ROOM_LOAD:
    case DB_JOB_ROOM_CREATE:
    case DB_JOB_ROOM_MSG_STORE:
    case DB_JOB_ROOM_JOIN:
    case DB_JOB_ROOM_POSITION:
    case DB_JOB_ROOM_AFFILIATIONS:
    case DB_JOB_ROOM_CONFIG:
    case DB_JOB_ROOM_SUBJECT:
    case DB_JOB_ROOM_DESTROY:
    case DB_JOB_ROOM_LIST:
        chat_room_complete(cs, job, op);
        break;
    case DB_JOB_MAM_QUERY:
        chat_mam_done(cs, job, op);
        break;
    case DB_JOB_PEP_GET:
    case DB_JOB_PEP_PUBLISH:
    case DB_JOB_PEP_RETRACT:
        chat_pep_done(cs, job, op);
        break;
    case DB_JOB_UPLOAD_SLOT:
        chat_upload_slot_done(cs, job, op);
        break;
    case DB_EVENT_ROOM:
        chat_room_event(cs, &job->u.room_event);
        break;
    case DB_JOB_ROOM_OCCUPANT:
        chat_room_complete(cs, job, op);
        break;
    case DB_EVENT_ROOM_MESSAGE:
        chat_room_event_message(cs, &job->u.room_message);
        break;
    case DB_JOB_MARK_DELIVERED:
    case DB_JOB_MARK_ACKED:
    case DB_JOB_MARK_RECEIVED:
    case DB_JOB_PRESENCE:
    case DB_JOB_MARK_DISPLAYED:
    case DB_JOB__COUNT: /* never submitted */
        report_failure(job);
        break;
    }
    chat_op_free(cs, op);
    db_job_free(job);
}

void chat_server_stopping(struct chat_server *cs)
{
    chat_room_shutdown(cs);
}

static void free_user_entry(const char *key, void *value, void *arg)
{
    /* Sessions belong to streams, which are gone by now. */
    chat_user_free(value);
}

void chat_server_free(struct chat_server *cs)
{
    if (!cs)
        return;
    while (cs->ops)
        chat_op_free(cs, cs->ops);
    chat_room_free_all(cs);
    pl_map_each(&cs->users, free_user_entry, NULL);
    pl_map_free(&cs->users);
    pl_map_free(&cs->disabled);
    xmpp_parser_free(cs->parser);
    free(cs->domain);
    free(cs->muc_domain);
    free(cs->node);
    free(cs->upload_url);
    free(cs);
}
