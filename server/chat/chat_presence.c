/* Presence from the client (initial, updates, unavailable) as far as this
 * server tracks it now: who is online with what show/status, written to the
 * sessions table through the store, and offline delivery after the initial
 * presence (RFC 6121 section 4.2). Roster subscriptions and broadcast come
 * with rosters. */
#include "chat_internal.h"

#include "pl_buf.h"
#include "pl_error.h"
#include "pl_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifndef DB_OFFLINE_BATCH
#define DB_OFFLINE_BATCH 1000
#endif

static char *child_text(const struct xmpp_node *n, const char *name)
{
    struct xmpp_node *c = xmpp_node_child(n, name, XMPP_NS_CLIENT);
    return c ? xmpp_node_text(c) : NULL;
}

/* Writes the session's row: available or not (show and status are taken),
 * or gone (deleted). */
static void submit_presence(struct chat_server *cs, struct chat_session *s, int available,
                            int gone, char *show, char *status)
{
    /* Built here: at bind the stream does not know its full JID yet. */
    struct pl_buf full = PL_BUF_INIT;
    struct db_job *job = db_job_new(DB_JOB_PRESENCE);
    if (!job || pl_buf_appendf(&full, "%s/%s", s->user->bare_jid, s->resource) != PL_OK) {
        free(show);
        free(status);
        pl_buf_free(&full);
        db_job_free(job);
        return;
    }
    job->u.presence.full_jid = pl_buf_steal(&full, NULL);
    job->u.presence.username = strdup(s->user->username);
    job->u.presence.resource = strdup(s->resource);
    job->u.presence.available = available;
    job->u.presence.gone = gone;
    const char *addr = xmpp_stream_address(s->stream);
    job->u.presence.address = addr ? strdup(addr) : NULL;
    job->u.presence.show = show;
    job->u.presence.status = status;
    job->u.presence.priority = s->priority;
    if (!job->u.presence.full_jid || !job->u.presence.username ||
        !job->u.presence.resource) {
        db_job_free(job);
        return;
    }
    chat_submit(cs, job, job->u.presence.full_jid);
}

static void load_offline(struct chat_server *cs, struct chat_session *s, int64_t after_id)
{
    struct db_job *job = db_job_new(DB_JOB_OFFLINE_LOAD);
    if (!job || !(job->u.offline.recipient = strdup(s->user->bare_jid))) {
        db_job_free(job);
        s->offline = CHAT_OFFLINE_DONE;
        return;
    }
    job->u.offline.after_id = after_id;
    job->owner_gen = s->serial;
    s->offline = CHAT_OFFLINE_LOADING;
    /* Same shard as the messages stored for this recipient, so the load
     * runs after every store queued before it. */
    chat_submit(cs, job, s->user->bare_jid);
}

/* RFC 6121 section 4.7.2.3: an integer from -128 to 127, default 0. */
static int parse_priority(const struct xmpp_node *p)
{
    char *text = child_text(p, "priority");
    if (!text)
        return 0;
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    int ok = !errno && end != text && *end == '\0' && v >= -128 && v <= 127;
    free(text);
    return ok ? (int)v : 0;
}

void chat_presence_handle(struct chat_server *cs, struct chat_session *s,
                          struct xmpp_stanza *st)
{
    /* Directed presence and subscriptions need rosters: not yet. */
    if (st->has_to) {
        xmpp_stanza_free(st);
        return;
    }
    if (!st->type) {
        /* Available after unavailable is an initial presence again (RFC
         * 6121 section 4.2): what was stored meanwhile is delivered now. */
        int initial = !s->available;
        s->priority = parse_priority(st->node);
        s->available = 1;
        submit_presence(cs, s, 1, 0, child_text(st->node, "show"),
                        child_text(st->node, "status"));
        if (initial && s->offline != CHAT_OFFLINE_LOADING)
            load_offline(cs, s, 0);
    } else if (strcmp(st->type, "unavailable") == 0 && s->available) {
        s->available = 0;
        submit_presence(cs, s, 0, 0, NULL, NULL);
    }
    xmpp_stanza_free(st);
}

void chat_presence_bound(struct chat_server *cs, struct chat_session *s)
{
    submit_presence(cs, s, 0, 0, NULL, NULL);
}

void chat_presence_gone(struct chat_server *cs, struct chat_session *s)
{
    s->available = 0;
    submit_presence(cs, s, 0, 1, NULL, NULL);
}

/* Queues one stored message with its XEP-0203 delay and XEP-0359 id;
 * returns the bytes queued, 0 if it could not be sent. */
static size_t send_stored(struct chat_server *cs, struct chat_session *s,
                          const struct db_offline_msg *m)
{
    struct xmpp_node *msg = NULL;
    enum xmpp_parse_error why;
    if (xmpp_parse(cs->parser, m->stanza_xml, strlen(m->stanza_xml), XMPP_NS_CLIENT, &msg,
                   &why) != PL_OK) {
        pl_error(xmpp_stream_conn_id(s->stream), s->user->bare_jid,
                 "stored message %lld does not parse", (long long)m->id);
        return 0;
    }
    char stamp[40];
    chat_format_stamp(m->created_at_us, stamp, sizeof(stamp));
    struct xmpp_node *delay = xmpp_node_add(msg, "delay", XMPP_NS_DELAY);
    struct pl_buf out = PL_BUF_INIT;
    size_t sent = 0;
    if (delay && xmpp_node_set_attr(delay, "from", cs->domain) == PL_OK &&
        xmpp_node_set_attr(delay, "stamp", stamp) == PL_OK &&
        chat_add_stanza_id(msg, m->id, s->user->bare_jid) == PL_OK &&
        xmpp_node_serialize(msg, NULL, &out) == PL_OK &&
        xmpp_stream_send_bytes(s->stream, out.data, out.len, (uint64_t)m->id) == PL_OK)
        sent = out.len;
    pl_buf_free(&out);
    xmpp_node_free(msg);
    return sent;
}

/* Drops held live copies of messages this batch is sending from the store. */
static void drop_held_in_batch(struct chat_session *s, const struct db_offline_msg *msgs,
                               size_t count)
{
    struct chat_held **p = &s->held_head;
    s->held_tail = NULL;
    while (*p) {
        struct chat_held *h = *p;
        size_t lo = 0, hi = count;
        while (lo < hi) { /* msgs are in id order */
            size_t mid = (lo + hi) / 2;
            if (msgs[mid].id < h->id)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < count && msgs[lo].id == h->id) {
            *p = h->next;
            free(h->bytes);
            free(h);
        } else {
            s->held_tail = h;
            p = &h->next;
        }
    }
}

static void backlog_free(struct chat_session *s)
{
    for (size_t i = 0; i < s->backlog_count; i++)
        free(s->backlog[i].stanza_xml);
    free(s->backlog);
    free(s->backlog_len);
    s->backlog = NULL;
    s->backlog_len = NULL;
    s->backlog_count = s->backlog_sent = s->backlog_acked = 0;
    s->inflight = 0;
}

void chat_offline_free(struct chat_session *s)
{
    backlog_free(s);
    struct chat_held *h = s->held_head;
    while (h) {
        struct chat_held *next = h->next;
        free(h->bytes);
        free(h);
        h = next;
    }
    s->held_head = s->held_tail = NULL;
}

/* The backlog is out: live messages held meanwhile follow it. */
static void offline_done(struct chat_server *cs, struct chat_session *s)
{
    if (s->reload) {
        s->reload = 0;
        load_offline(cs, s, 0);
        return;
    }
    s->offline = CHAT_OFFLINE_DONE;
    struct chat_held *h = s->held_head;
    s->held_head = s->held_tail = NULL;
    while (h) {
        struct chat_held *next = h->next;
        xmpp_stream_send_bytes(s->stream, h->bytes, h->len, (uint64_t)h->id);
        free(h->bytes);
        free(h);
        h = next;
    }
}

/* Queues backlog entries while less than the window is waiting for the
 * socket; once the whole batch is written, loads the next or finishes. */
static void pump(struct chat_server *cs, struct chat_session *s)
{
    while (s->backlog_sent < s->backlog_count && s->inflight < cs->send_window &&
           !xmpp_stream_is_closing(s->stream)) {
        size_t len = send_stored(cs, s, &s->backlog[s->backlog_sent]);
        s->backlog_len[s->backlog_sent++] = len;
        s->inflight += len;
    }
    while (s->backlog_acked < s->backlog_sent && s->backlog_len[s->backlog_acked] == 0)
        s->backlog_acked++;
    if (s->backlog_acked < s->backlog_count)
        return; /* more to send, or to be written */
    int full = s->backlog_count == DB_OFFLINE_BATCH;
    int64_t last = full ? s->backlog[s->backlog_count - 1].id : 0;
    backlog_free(s);
    if (full)
        load_offline(cs, s, last);
    else
        offline_done(cs, s);
}

void chat_offline_written(struct chat_server *cs, struct chat_session *s, uint64_t tag)
{
    if (s->backlog_acked >= s->backlog_sent ||
        s->backlog[s->backlog_acked].id != (int64_t)tag)
        return; /* not the backlog's next frame (a live message) */
    s->inflight -= s->backlog_len[s->backlog_acked];
    s->backlog_acked++;
    pump(cs, s);
}

void chat_offline_loaded(struct chat_server *cs, struct db_job *job)
{
    const char *bare = job->u.offline.recipient;
    const char *at = strchr(bare, '@');
    char *username = at ? strndup(bare, (size_t)(at - bare)) : NULL;
    struct chat_session *s = chat_session_by_serial(cs, username, job->owner_gen);
    free(username);
    if (!s)
        return; /* gone: what was not sent stays `stored` */
    size_t n = job->status == PL_OK ? job->u.offline.count : 0;
    if (job->status != PL_OK)
        pl_error(xmpp_stream_conn_id(s->stream), bare,
                 "loading offline messages failed: %s", pl_strerror(job->status));
    size_t *lens = n ? calloc(n, sizeof(*lens)) : NULL;
    if (n && !lens) {
        pl_error(xmpp_stream_conn_id(s->stream), bare,
                 "out of memory for offline messages");
        n = 0;
    }
    if (n) {
        /* The session keeps the rows until they are written. */
        s->backlog = job->u.offline.msgs;
        s->backlog_count = n;
        s->backlog_len = lens;
        job->u.offline.msgs = NULL;
        job->u.offline.count = 0;
        drop_held_in_batch(s, s->backlog, n);
    }
    pump(cs, s);
}

void chat_offline_requeued(struct chat_server *cs, const char *username)
{
    struct chat_user *u = chat_user_find(cs, username);
    for (struct chat_session *s = u ? u->sessions : NULL; s; s = s->next_in_user) {
        if (!s->available)
            continue; /* its next available presence loads them */
        if (s->offline == CHAT_OFFLINE_DONE)
            load_offline(cs, s, 0);
        else if (s->offline == CHAT_OFFLINE_LOADING)
            s->reload = 1; /* they may lie behind the load's cursor */
    }
}
