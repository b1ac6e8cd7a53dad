/* Presence that people see (RFC 6121 section 4): the broadcast of a
 * session's presence to the contacts subscribed to it and to the user's
 * own resources, the probes of the contacts the user is subscribed to,
 * directed presence, and `unavailable` whenever a session stops being
 * available, however it ends. Also the session's row in the sessions table
 * (through the store; a trigger there keeps each user's last presence and
 * last_seen_at for the admin API), and the start of offline delivery after
 * the initial presence (the backlog itself is chat_offline.c's).
 *
 * A presence is serialised once into a frame and the same frame goes to
 * every recipient session; it carries no `to` (RFC 6120 section 8.1.1.1:
 * a client takes a stanza without one as addressed to itself), so one
 * frame serves them all. The session keeps its last available presence's
 * frame: probes and new subscribers get those bytes. A plain <presence/>
 * (nothing but the stamped `from`: what many clients send) is not kept
 * past its broadcast; the same bytes are made again from the JID when
 * someone first asks (presence_of), so a session nobody probes holds no
 * frame. */
#include "chat_internal.h"

#include "pl_buf.h"
#include "pl_error.h"
#include "pl_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Most JIDs one session tracks for directed presence: what a client uses
 * it for (a few rooms, a peer or two) is far below. */
#define CHAT_DIRECTED_MAX 64

#define XMPP_NS_IDLE "urn:xmpp:idle:1"

struct chat_directed {
    struct chat_directed *next;
    char *jid; /* as addressed, normalised */
};

static char *child_text(const struct xmpp_node *n, const char *name)
{
    struct xmpp_node *c = xmpp_node_child(n, name, XMPP_NS_CLIENT);
    return c ? xmpp_node_text(c) : NULL;
}

/* Writes the session's row: available or not (show and status are taken),
 * or gone (deleted). */
static void submit_presence(struct chat_server *cs, struct chat_session *s, int available,
                            int gone, char *show, char *status, int64_t idle_us)
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
    job->u.presence.idle_since_us = idle_us;
    if (!job->u.presence.full_jid || !job->u.presence.username ||
        !job->u.presence.resource) {
        db_job_free(job);
        return;
    }
    chat_submit(cs, job, job->u.presence.full_jid);
}

/* An XEP-0082 DateTime (CCYY-MM-DDThh:mm:ss[.sss](Z|+hh:mm|-hh:mm)) in
 * microseconds since the epoch; 0 if it is not one. */
static int64_t parse_stamp(const char *v)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (!v ||
        sscanf(v, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
        n != 19 || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
        mi > 59 || sec > 60)
        return 0;
    const char *p = v + n;
    int64_t frac = 0, scale = 1000000;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return 0;
        for (; *p >= '0' && *p <= '9'; p++)
            if (scale > 1) {
                scale /= 10;
                frac += (*p - '0') * scale;
            }
    }
    int off = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, m = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &m) != 2 || m != 5 || oh > 23 || om > 59)
            return 0;
        off = (*p == '-' ? -1 : 1) * (oh * 3600 + om * 60);
        p += 6;
    } else {
        return 0;
    }
    if (*p != '\0')
        return 0;
    /* Days from the civil date (Howard Hinnant's algorithm): no timegm,
     * which is not C11. */
    int yy = y - (mo <= 2);
    int era = yy / 400;
    int yoe = yy - era * 400;
    int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = (int64_t)era * 146097 + doe - 719468;
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - off;
    return secs > 0 ? secs * 1000000 + frac : 0;
}

/* XEP-0319: since when the presence says its user is idle; 0: active. */
static int64_t idle_of(const struct xmpp_node *p)
{
    struct xmpp_node *idle = xmpp_node_child(p, "idle", XMPP_NS_IDLE);
    return idle ? parse_stamp(xmpp_node_attr(idle, "since")) : 0;
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

static const char *full_jid(const struct chat_session *s)
{
    const char *j = xmpp_stream_full_jid(s->stream);
    return j ? j : s->user->bare_jid;
}

/* ---- sending ----------------------------------------------------------- */

/* 1 if p says nothing but who it is from. */
static int plain(const struct xmpp_node *p)
{
    return !p->children && p->nattrs == 1 && strcmp(p->attrs[0].name, "from") == 0;
}

/* s's current presence frame (borrowed, kept from then on), NULL while s
 * is not available: the one it sent, or for a plain one the same bytes
 * made again. */
static struct pl_frame *presence_of(struct chat_session *s)
{
    if (!s->available)
        return NULL;
    if (!s->presence) {
        struct xmpp_node *n = xmpp_node_new("presence", XMPP_NS_CLIENT);
        if (n && xmpp_node_set_attr(n, "from", full_jid(s)) == PL_OK)
            s->presence = chat_frame(n);
        xmpp_node_free(n);
    }
    return s->presence;
}

/* f to every available session of u but `except`. */
static void to_available(struct chat_user *u, struct pl_frame *f,
                         const struct chat_session *except)
{
    for (struct chat_session *t = u->sessions; t; t = t->next_in_user)
        if (t->available && t != except)
            xmpp_stream_send_frame(t->stream, f, 0);
}

struct bcast {
    struct chat_session *from;
    struct pl_frame *frame;
};

static void bcast_contact(struct chat_server *cs, struct chat_user *c, void *arg)
{
    struct bcast *b = arg;
    if (c == b->from->user ||
        chat_block_between(b->from->user, full_jid(b->from), c, c->bare_jid))
        return;
    to_available(c, b->frame, NULL);
}

/* s's presence frame to the contacts subscribed to it and to the user's
 * available resources (s itself too when `self`). */
static void broadcast(struct chat_server *cs, struct chat_session *s, struct pl_frame *f,
                      int self)
{
    struct bcast b = {s, f};
    chat_roster_each_online(cs, s->user, CHAT_SUB_FROM, bcast_contact, &b);
    to_available(s->user, f, self ? NULL : s);
}

/* <presence from=FROM [to=TO] type='unavailable'/>, with the status given. */
static struct xmpp_node *unavailable_node(const char *from, const char *to,
                                          const char *status)
{
    struct xmpp_node *p = xmpp_node_new("presence", XMPP_NS_CLIENT);
    struct xmpp_node *st = NULL;
    if (!p || xmpp_node_set_attr(p, "from", from) != PL_OK ||
        (to && xmpp_node_set_attr(p, "to", to) != PL_OK) ||
        xmpp_node_set_attr(p, "type", "unavailable") != PL_OK ||
        (status && (!(st = xmpp_node_add(p, "status", NULL)) ||
                    xmpp_node_add_text(st, status) != PL_OK))) {
        xmpp_node_free(p);
        return NULL;
    }
    return p;
}

/* A directed presence (frame f, addressed to `jid`) to where it goes: that
 * resource, or every available resource of a bare JID. Nothing between
 * users who block each other. */
static void deliver_directed(struct chat_server *cs, struct chat_session *s,
                             const struct xmpp_jid *to, struct pl_frame *f)
{
    struct chat_user *tu = to->local ? chat_user_find(cs, to->local) : NULL;
    if (!tu || strcmp(to->domain, cs->domain) != 0 ||
        (tu != s->user && chat_block_blocks(tu, full_jid(s))))
        return;
    if (to->resource) {
        struct chat_session *t = chat_session_find(tu, to->resource);
        if (t)
            xmpp_stream_send_frame(t->stream, f, 0);
        return;
    }
    to_available(tu, f, NULL);
}

/* Section 4.6.3: the JIDs that got directed presence get unavailable when
 * the session stops being available. */
static void flush_directed(struct chat_server *cs, struct chat_session *s,
                           const char *status)
{
    struct chat_directed *d = s->directed;
    s->directed = NULL;
    s->ndirected = 0;
    while (d) {
        struct chat_directed *next = d->next;
        struct xmpp_jid j;
        if (xmpp_jid_parse(d->jid, &j) == PL_OK) {
            struct xmpp_node *n = unavailable_node(full_jid(s), d->jid, status);
            struct pl_frame *f = n ? chat_frame(n) : NULL;
            if (f)
                deliver_directed(cs, s, &j, f);
            pl_frame_unref(f);
            xmpp_node_free(n);
            xmpp_jid_free(&j);
        }
        free(d->jid);
        free(d);
        d = next;
    }
}

/* s is no longer available: tell everyone who saw it. `status` may be
 * NULL; `row` also updates the session's row. */
static void go_unavailable(struct chat_server *cs, struct chat_session *s,
                           const struct xmpp_node *client_stanza, int row)
{
    char *status = client_stanza ? child_text(client_stanza, "status") : NULL;
    if (s->available) {
        /* The client's own unavailable (its status and extensions) as it
         * sent it, or one the server makes for a session that ended. */
        struct xmpp_node *made =
            client_stanza ? NULL : unavailable_node(full_jid(s), NULL, NULL);
        const struct xmpp_node *n = client_stanza ? client_stanza : made;
        struct pl_frame *f = n ? chat_frame(n) : NULL;
        s->available = 0;
        if (f)
            broadcast(cs, s, f, 0);
        else
            pl_error(xmpp_stream_conn_id(s->stream), full_jid(s),
                     "out of memory telling contacts this session is unavailable");
        pl_frame_unref(f);
        xmpp_node_free(made);
    }
    pl_frame_unref(s->presence);
    s->presence = NULL;
    flush_directed(cs, s, status);
    if (row)
        submit_presence(cs, s, 0, 0, NULL, status, 0);
    else
        free(status);
}

/* ---- the client's presence --------------------------------------------- */

/* Section 4.3: what the contacts the user is subscribed to have to say,
 * and the subscription requests waiting for the user (3.1.3), come from
 * the store; the loop answers for whoever is online. */
static void submit_initial(struct chat_server *cs, struct chat_session *s)
{
    struct db_job *job = db_job_new(DB_JOB_PRESENCE_INITIAL);
    struct chat_op *op = job ? chat_op_new(cs, s) : NULL;
    if (!op || !(job->u.presence_initial.owner = strdup(s->user->username)) ||
        !(job->u.presence_initial.owner_jid = strdup(s->user->bare_jid))) {
        pl_error(xmpp_stream_conn_id(s->stream), full_jid(s),
                 "out of memory probing contacts");
        chat_op_free(cs, op);
        db_job_free(job);
        return;
    }
    job->owner = op;
    chat_submit(cs, job, s->user->bare_jid);
}

/* With the team roster everyone online is a contact: their presence goes
 * to the new session at once (the store has no rows for them). */
static void share_team(struct chat_server *cs, struct chat_user *c, void *arg)
{
    struct chat_session *s = arg;
    if (chat_block_between(s->user, full_jid(s), c, c->bare_jid))
        return;
    for (struct chat_session *t = c->sessions; t; t = t->next_in_user)
        if (presence_of(t))
            xmpp_stream_send_frame(s->stream, t->presence, 0);
}

void chat_presence_handle(struct chat_server *cs, struct chat_session *s,
                          struct xmpp_stanza *st)
{
    if (!st->type) {
        /* Available after unavailable is an initial presence again (RFC
         * 6121 section 4.2): what was stored meanwhile is delivered now. */
        int initial = !s->available;
        s->priority = parse_priority(st->node);
        s->available = 1;
        struct pl_frame *f = chat_frame(st->node); /* `from` stamped, no `to` */
        pl_frame_unref(s->presence);
        s->presence = f && !plain(st->node) ? pl_frame_ref(f) : NULL;
        submit_presence(cs, s, 1, 0, child_text(st->node, "show"),
                        child_text(st->node, "status"), idle_of(st->node));
        if (f)
            broadcast(cs, s, f, 1); /* 4.2.2 and 4.4.2 */
        else
            pl_error(xmpp_stream_conn_id(s->stream), full_jid(s),
                     "out of memory broadcasting presence");
        pl_frame_unref(f);
        if (initial) {
            /* 4.2.2: the new resource learns of the user's other ones. */
            for (struct chat_session *t = s->user->sessions; t; t = t->next_in_user)
                if (t != s && presence_of(t))
                    xmpp_stream_send_frame(s->stream, t->presence, 0);
            if (cs->team_roster)
                chat_roster_each_online(cs, s->user, CHAT_SUB_TO, share_team, s);
            submit_initial(cs, s);
            chat_offline_start(cs, s);
        }
    } else if (strcmp(st->type, "unavailable") == 0) {
        if (s->available)
            go_unavailable(cs, s, st->node, 1); /* 4.5 */
        else
            flush_directed(cs, s, NULL); /* never broadcast, but directed */
    }
    /* Anything else without a `to` (a probe, a subscription of no one, an
     * error) concerns nobody. */
    chat_room_own_presence(cs, s, st); /* the rooms it is in see it too */
    xmpp_stanza_free(st);
}

static int directed_has(const struct chat_session *s, const char *jid)
{
    for (const struct chat_directed *d = s->directed; d; d = d->next)
        if (strcmp(d->jid, jid) == 0)
            return 1;
    return 0;
}

static void directed_remove(struct chat_session *s, const char *jid)
{
    for (struct chat_directed **p = &s->directed; *p; p = &(*p)->next) {
        if (strcmp((*p)->jid, jid) == 0) {
            struct chat_directed *d = *p;
            *p = d->next;
            free(d->jid);
            free(d);
            s->ndirected--;
            return;
        }
    }
}

void chat_presence_directed(struct chat_server *cs, struct chat_session *s,
                            struct xmpp_stanza *st)
{
    const char *type = st->type;
    int unavailable = type && strcmp(type, "unavailable") == 0;
    char *jid = xmpp_jid_full(&st->to);
    char *bare = xmpp_jid_bare(&st->to);
    if ((type && !unavailable) || !jid || !bare) {
        /* Probes are the server's to send (4.3) and errors have nowhere
         * to go. */
        goto done;
    }
    if (chat_block_blocks(s->user, jid)) {
        chat_block_reply_blocked(cs, s, st->node); /* XEP-0191 section 3.4 */
        goto done;
    }
    struct pl_frame *f = chat_frame(st->node);
    if (f)
        deliver_directed(cs, s, &st->to, f);
    pl_frame_unref(f);
    int self = strcmp(bare, s->user->bare_jid) == 0;
    if (unavailable) {
        directed_remove(s, jid);
    } else if (!self && !(chat_roster_state(cs, s->user, bare) & CHAT_SUB_FROM) &&
               !directed_has(s, jid) && s->ndirected < CHAT_DIRECTED_MAX) {
        /* Not a subscriber: it would not hear of the session's end. */
        struct chat_directed *d = malloc(sizeof(*d));
        if (d) {
            d->jid = jid;
            jid = NULL;
            d->next = s->directed;
            s->directed = d;
            s->ndirected++;
        }
    }
done:
    free(jid);
    free(bare);
    xmpp_stanza_free(st);
}

/* ---- probes and requests at the initial presence ----------------------- */

/* The contact's last presence, as unavailable: with the status it left
 * with and its time (XEP-0203) when it is known, and XEP-0319's idle
 * since then (or since it went idle before leaving). */
static void send_last(struct chat_server *cs, struct chat_session *s,
                      const struct db_presence_contact *c)
{
    struct xmpp_node *p = unavailable_node(c->jid, NULL, c->known ? c->status : NULL);
    if (p && c->known && c->at_us > 0) {
        char stamp[40], since[40];
        chat_format_stamp(c->at_us, stamp, sizeof(stamp));
        chat_format_stamp(c->idle_us > 0 && c->idle_us < c->at_us ? c->idle_us : c->at_us,
                          since, sizeof(since));
        struct xmpp_node *d = xmpp_node_add(p, "delay", XMPP_NS_DELAY);
        struct xmpp_node *idle = d ? xmpp_node_add(p, "idle", XMPP_NS_IDLE) : NULL;
        if (!idle || xmpp_node_set_attr(d, "from", cs->domain) != PL_OK ||
            xmpp_node_set_attr(d, "stamp", stamp) != PL_OK ||
            xmpp_node_set_attr(idle, "since", since) != PL_OK) {
            xmpp_node_free(p);
            p = NULL;
        }
    }
    if (p)
        xmpp_stream_send(s->stream, p, 0);
    xmpp_node_free(p);
}

static void send_request(struct chat_server *cs, struct chat_session *s,
                         const struct db_presence_request *r)
{
    struct xmpp_node *n = NULL;
    enum xmpp_parse_error why;
    if (r->stanza_xml && xmpp_parse(cs->parser, r->stanza_xml, strlen(r->stanza_xml),
                                    XMPP_NS_CLIENT, &n, &why) != PL_OK)
        n = NULL;
    if (!n) {
        /* No kept stanza (or one that does not parse): the request itself. */
        n = xmpp_node_new("presence", XMPP_NS_CLIENT);
        if (n && (xmpp_node_set_attr(n, "type", "subscribe") != PL_OK ||
                  xmpp_node_set_attr(n, "from", r->jid) != PL_OK ||
                  xmpp_node_set_attr(n, "to", s->user->bare_jid) != PL_OK)) {
            xmpp_node_free(n);
            n = NULL;
        }
    }
    if (n)
        xmpp_stream_send(s->stream, n, 0);
    xmpp_node_free(n);
}

void chat_presence_initial_done(struct chat_server *cs, struct db_job *job,
                                struct chat_op *op)
{
    struct chat_session *s = chat_op_session(cs, op);
    if (!s || !s->available)
        return;
    const struct db_presence_initial_job *p = &job->u.presence_initial;
    if (job->status != PL_OK) {
        pl_error(xmpp_stream_conn_id(s->stream), full_jid(s),
                 "probing contacts failed: %s", pl_strerror(job->status));
        return;
    }
    for (size_t i = 0; i < p->ncontacts; i++) {
        const struct db_presence_contact *c = &p->contacts[i];
        char name[1024];
        struct chat_user *cu = chat_local_user(cs, c->jid, name, sizeof(name)) == PL_OK
                                   ? chat_user_find(cs, name)
                                   : NULL;
        if (chat_block_between(s->user, full_jid(s), cu, c->jid))
            continue;
        if (cu && cs->team_roster)
            continue; /* sent already with the team */
        int sent = 0;
        for (struct chat_session *t = cu ? cu->sessions : NULL; t; t = t->next_in_user) {
            if (presence_of(t)) {
                xmpp_stream_send_frame(s->stream, t->presence, 0);
                sent = 1;
            }
        }
        if (!sent)
            send_last(cs, s, c);
    }
    for (size_t i = 0; i < p->nrequests; i++)
        if (!chat_block_blocks(s->user, p->requests[i].jid))
            send_request(cs, s, &p->requests[i]);
}

/* ---- presence that starts or stops flowing ----------------------------- */

void chat_presence_share(struct chat_server *cs, struct chat_user *from,
                         struct chat_user *to)
{
    for (struct chat_session *f = from->sessions; f; f = f->next_in_user) {
        if (!f->available || chat_block_between(from, full_jid(f), to, to->bare_jid) ||
            !presence_of(f))
            continue;
        to_available(to, f->presence, NULL);
    }
}

void chat_presence_withdraw(struct chat_server *cs, struct chat_user *from,
                            struct chat_user *to)
{
    for (struct chat_session *f = from->sessions; f; f = f->next_in_user) {
        if (!f->available)
            continue;
        struct xmpp_node *n = unavailable_node(full_jid(f), NULL, NULL);
        struct pl_frame *fr = n ? chat_frame(n) : NULL;
        if (fr)
            to_available(to, fr, NULL);
        pl_frame_unref(fr);
        xmpp_node_free(n);
    }
}

/* ---- the session's life ------------------------------------------------ */

void chat_presence_bound(struct chat_server *cs, struct chat_session *s)
{
    submit_presence(cs, s, 0, 0, NULL, NULL, 0);
}

void chat_presence_gone(struct chat_server *cs, struct chat_session *s)
{
    /* However it ended (logout, a dead connection, a conflict, a kick,
     * shutdown), whoever saw the session available hears it is not. */
    go_unavailable(cs, s, NULL, 0);
    submit_presence(cs, s, 0, 1, NULL, NULL, 0);
}

void chat_presence_free(struct chat_session *s)
{
    pl_frame_unref(s->presence);
    s->presence = NULL;
    struct chat_directed *d = s->directed;
    while (d) {
        struct chat_directed *next = d->next;
        free(d->jid);
        free(d);
        d = next;
    }
    s->directed = NULL;
    s->ndirected = 0;
}
