/* Offline delivery (PROTOCOL.md "Storage promises"): after a session's
 * initial presence, everything stored for the user is loaded from the
 * store in batches and sent oldest first with an XEP-0203 delay and an
 * XEP-0359 stanza id, paced by what the socket takes, so a large backlog
 * never trips the slow-consumer bound.
 *
 * Live stored messages that arrive while the backlog loads are held by
 * reference to their shared frame and sent after it, so order holds. What
 * one session holds is bounded (the send window): past it nothing more is
 * held, and since those messages are still `stored`, one more load after
 * the last one fetches them from the database. Memory stays bounded however
 * fast messages come to a session that does not read. */
#include "chat_internal.h"

#include "pl_buf.h"
#include "pl_error.h"
#include "pl_log.h"

#include <stdlib.h>
#include <string.h>

static void held_free(struct chat_session *s)
{
    struct chat_held *h = s->held_head;
    while (h) {
        struct chat_held *next = h->next;
        pl_frame_unref(h->frame);
        free(h);
        h = next;
    }
    s->held_head = s->held_tail = NULL;
    s->held_bytes = 0;
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
    held_free(s);
}

/* The held messages follow the backlog, and the session is live. */
static void go_live(struct chat_session *s)
{
    s->offline = CHAT_OFFLINE_DONE;
    struct chat_held *h = s->held_head;
    s->held_head = s->held_tail = NULL;
    s->held_bytes = 0;
    while (h) {
        struct chat_held *next = h->next;
        xmpp_stream_send_frame(s->stream, h->frame, chat_tag(CHAT_TAG_MESSAGE, h->id));
        pl_frame_unref(h->frame);
        free(h);
        h = next;
    }
}

static void load(struct chat_server *cs, struct chat_session *s, int64_t after_id)
{
    struct db_job *job = db_job_new(DB_JOB_OFFLINE_LOAD);
    struct chat_op *op = job ? chat_op_new(cs, s) : NULL;
    if (!op || !(job->u.offline.recipient = strdup(s->user->bare_jid))) {
        pl_error(xmpp_stream_conn_id(s->stream), s->user->bare_jid,
                 "out of memory loading offline messages (they stay stored)");
        chat_op_free(cs, op);
        db_job_free(job);
        go_live(s);
        return;
    }
    job->u.offline.after_id = after_id;
    job->owner = op;
    s->offline = CHAT_OFFLINE_LOADING;
    /* Same shard as the messages stored for this recipient, so the load
     * runs after every store queued before it, and a store queued after it
     * completes after it. */
    chat_submit(cs, job, s->user->bare_jid);
}

void chat_offline_start(struct chat_server *cs, struct chat_session *s)
{
    if (s->offline == CHAT_OFFLINE_LOADING)
        return;
    s->cursor = 0;
    s->missed = 0;
    load(cs, s, 0);
}

void chat_offline_deliver(struct chat_session *s, int64_t id, struct pl_frame *frame)
{
    if (s->offline != CHAT_OFFLINE_LOADING) {
        xmpp_stream_send_frame(s->stream, frame, chat_tag(CHAT_TAG_MESSAGE, id));
        return;
    }
    if (!s->missed && s->held_bytes + frame->len <= s->cs->send_window) {
        struct chat_held *h = malloc(sizeof(*h));
        if (h) {
            h->next = NULL;
            h->id = id;
            h->frame = pl_frame_ref(frame);
            if (s->held_tail)
                s->held_tail->next = h;
            else
                s->held_head = h;
            s->held_tail = h;
            s->held_bytes += frame->len;
            return;
        }
    }
    /* Over the bound (or out of memory): hold nothing more. What was held
     * is dropped too, so that the load from the database brings it all
     * back in order: every one of them is still `stored`. */
    held_free(s);
    s->missed = 1;
}

/* Queues one stored message with its XEP-0203 delay and XEP-0359 id;
 * returns the bytes queued, 0 if it could not be sent. */
static size_t send_stored(struct chat_server *cs, struct chat_session *s,
                          const struct db_offline_msg *m)
{
    struct xmpp_node *msg = NULL;
    enum xmpp_parse_error why;
    if (chat_sm_unacked(s, m->id))
        return 0; /* XEP-0198: sent already, waiting for the client's ack */
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
        xmpp_stream_send_bytes(s->stream, out.data, out.len,
                               chat_tag(CHAT_TAG_BACKLOG, m->id)) == PL_OK)
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
            s->held_bytes -= h->frame->len;
            pl_frame_unref(h->frame);
            free(h);
        } else {
            s->held_tail = h;
            p = &h->next;
        }
    }
}

/* The last batch is out: load again if something may still wait, else go
 * live. */
static void finish(struct chat_server *cs, struct chat_session *s)
{
    if (s->reload) {
        /* Messages went back to `stored`, maybe behind the cursor. */
        s->reload = 0;
        s->missed = 0;
        s->cursor = 0;
        held_free(s);
        load(cs, s, 0);
        return;
    }
    if (s->missed) {
        s->missed = 0;
        load(cs, s, s->cursor);
        return;
    }
    go_live(s);
}

/* Queues backlog entries while less than the window is waiting for the
 * socket; once the whole batch is written, loads the next or finishes. */
static void pump(struct chat_server *cs, struct chat_session *s)
{
    while (s->backlog_sent < s->backlog_count && s->inflight < cs->send_window &&
           !xmpp_stream_is_closing(s->stream) &&
           xmpp_stream_sm_can_send_more(s->stream)) {
        size_t len = send_stored(cs, s, &s->backlog[s->backlog_sent]);
        s->backlog_len[s->backlog_sent++] = len;
        s->inflight += len;
    }
    while (s->backlog_acked < s->backlog_sent && s->backlog_len[s->backlog_acked] == 0)
        s->backlog_acked++;
    if (s->backlog_acked < s->backlog_count)
        return; /* more to send, or to be written */
    int full = s->backlog_count == DB_OFFLINE_BATCH;
    if (s->backlog_count)
        s->cursor = s->backlog[s->backlog_count - 1].id;
    backlog_free(s);
    if (full)
        load(cs, s, s->cursor);
    else
        finish(cs, s);
}

void chat_offline_acked(struct chat_server *cs, struct chat_session *s)
{
    if (s->backlog_sent < s->backlog_count)
        pump(cs, s);
}

void chat_offline_written(struct chat_server *cs, struct chat_session *s, int64_t id)
{
    if (s->backlog_acked >= s->backlog_sent || s->backlog[s->backlog_acked].id != id)
        return; /* not the backlog's next frame */
    s->inflight -= s->backlog_len[s->backlog_acked];
    s->backlog_acked++;
    pump(cs, s);
}

void chat_offline_loaded(struct chat_server *cs, struct db_job *job, struct chat_op *op)
{
    struct chat_session *s = chat_op_session(cs, op);
    if (!s)
        return; /* gone: what was not sent stays `stored` */
    const char *bare = job->u.offline.recipient;
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
            chat_offline_start(cs, s);
        else if (s->offline == CHAT_OFFLINE_LOADING)
            s->reload = 1; /* they may lie behind the load's cursor */
    }
}
