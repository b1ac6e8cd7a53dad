/* The room service (XEP-0045, the parts a team chat uses): the rooms in the
 * loop's memory, loaded from the store on first use and created by joining
 * a new name; occupants and their seats (one per session: a user's second
 * resource shares the occupant); joining, leaving and presence; the
 * positions that room frames written to a member move forward; and what
 * the service itself answers (disco). Messages are chat_room_msg.c's, iqs
 * to a room chat_room_admin.c's. */
#include "chat_room.h"

#include "pl_buf.h"
#include "pl_error.h"
#include "pl_log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- affiliations and roles -------------------------------------------- */

static const char *const aff_names[] = {"none", "outcast", "member", "admin", "owner"};
static const char *const role_names[] = {"none", "visitor", "participant", "moderator"};

const char *chat_aff_name(enum chat_aff aff)
{
    return aff_names[aff];
}

int chat_aff_parse(const char *name, enum chat_aff *out)
{
    for (size_t i = 0; i < sizeof(aff_names) / sizeof(*aff_names); i++) {
        if (strcmp(name, aff_names[i]) == 0) {
            *out = (enum chat_aff)i;
            return PL_OK;
        }
    }
    return PL_EINVAL;
}

const char *chat_role_name(enum chat_role role)
{
    return role_names[role];
}

enum chat_aff chat_room_aff(const struct chat_room *r, const char *username)
{
    return (enum chat_aff)(uintptr_t)pl_map_get(&r->affs, username);
}

void chat_room_set_aff(struct chat_room *r, const char *username, enum chat_aff aff)
{
    if (aff == CHAT_AFF_NONE) {
        pl_map_remove(&r->affs, username);
        return;
    }
    if (pl_map_put(&r->affs, username, (void *)(uintptr_t)aff) != PL_OK)
        pl_error(0, r->jid, "out of memory recording an affiliation of %s", username);
}

/* ---- the registry ------------------------------------------------------- */

static struct chat_room *room_new(struct chat_server *cs, const char *jid,
                                  const char *localpart)
{
    struct chat_room *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->jid = strdup(jid);
    r->localpart = strdup(localpart);
    r->public_room = 1;
    r->change_subject = 1;
    if (!r->jid || !r->localpart || pl_map_put(&cs->rooms, jid, r) != PL_OK) {
        free(r->jid);
        free(r->localpart);
        free(r);
        return NULL;
    }
    return r;
}

static void wait_free(struct chat_room_wait *w)
{
    xmpp_stanza_free(w->st);
    free(w->user);
    free(w);
}

static void room_free(struct chat_room *r)
{
    while (r->wait_head) {
        struct chat_room_wait *w = r->wait_head;
        r->wait_head = w->next;
        wait_free(w);
    }
    pl_map_free(&r->affs);
    free(r->jid);
    free(r->localpart);
    free(r->creator);
    free(r->name);
    free(r->description);
    free(r->subject);
    free(r->subject_by);
    free(r);
}

static void room_unref(struct chat_room *r)
{
    if (r->refs > 0)
        r->refs--;
    if (r->detached && r->refs == 0)
        room_free(r);
}

void chat_room_release(struct chat_server *cs, struct chat_room *r)
{
    if (r->draining || r->occupants || r->wait_head || r->state == CHAT_ROOM_LOADING ||
        r->state == CHAT_ROOM_CREATING)
        return;
    /* Nobody in it: its state is all in the store; the next use loads it
     * again. Frames still queued keep the struct until they are written. */
    if (!r->detached) {
        pl_map_remove(&cs->rooms, r->jid);
        r->detached = 1;
    }
    if (r->refs == 0)
        room_free(r);
}

/* ---- frames to sessions, and what their writes mean -------------------- */

static int echo_push(struct chat_session *s, struct chat_room *r, int64_t id)
{
    struct chat_room_echoes *e = s->echoes;
    if (!e && !(e = s->echoes = calloc(1, sizeof(*e))))
        return PL_ENOMEM;
    if (e->len == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 16;
        struct chat_room_echo *q = malloc(cap * sizeof(*q));
        if (!q)
            return PL_ENOMEM;
        for (size_t i = 0; i < e->len; i++)
            q[i] = e->q[(e->head + i) % e->cap];
        free(e->q);
        e->q = q;
        e->cap = cap;
        e->head = 0;
    }
    e->q[(e->head + e->len) % e->cap] = (struct chat_room_echo){id, r};
    e->len++;
    r->refs++;
    return PL_OK;
}

static void echoes_free(struct chat_session *s)
{
    struct chat_room_echoes *e = s->echoes;
    if (!e)
        return;
    s->echoes = NULL;
    for (size_t i = 0; i < e->len; i++)
        room_unref(e->q[(e->head + i) % e->cap].room);
    free(e->q);
    free(e);
}

int chat_room_send_tagged(struct chat_session *s, struct chat_room *r, int64_t id,
                          struct pl_frame *f)
{
    if (xmpp_stream_is_closing(s->stream))
        return PL_ESTATE;
    /* Remembered first: the write may be reported at once. */
    if (echo_push(s, r, id) != PL_OK)
        return xmpp_stream_send_frame(s->stream, f, 0);
    int rc = xmpp_stream_send_frame(s->stream, f, chat_tag(CHAT_TAG_ROOM, id));
    if (rc != PL_OK) {
        /* Not queued: forget the newest entry again. */
        s->echoes->len--;
        room_unref(r);
    }
    return rc;
}

void chat_room_send_seat(struct chat_server *cs, struct chat_seat *seat, int64_t id,
                         struct pl_frame *f)
{
    if (id > 0 && seat->phase != CHAT_SEAT_LIVE) {
        chat_room_history_hold(seat, id, f);
        return;
    }
    if (id > 0)
        chat_room_send_tagged(seat->session, seat->occ->room, id, f);
    else
        xmpp_stream_send_frame(seat->session->stream, f, 0);
}

void chat_room_broadcast(struct chat_server *cs, struct chat_room *r, int64_t id,
                         struct pl_frame *f)
{
    for (struct chat_occupant *o = r->occupants; o; o = o->next)
        for (struct chat_seat *st = o->seats; st; st = st->next_in_occ)
            chat_room_send_seat(cs, st, id, f);
}

/* ---- positions ----------------------------------------------------------- */

void chat_room_position(struct chat_server *cs, const struct chat_room *r,
                        const char *username, int64_t delivered, int64_t displayed)
{
    struct db_job *job = db_job_new(DB_JOB_ROOM_POSITION);
    struct chat_op *op = job ? chat_op_new(cs, NULL) : NULL;
    if (!op || !(op->room = strdup(r->jid)) ||
        !(job->u.room_position.room_id = strdup(r->id)) ||
        !(job->u.room_position.username = strdup(username))) {
        chat_op_free(cs, op);
        db_job_free(job);
        return;
    }
    job->u.room_position.delivered_id = delivered;
    job->u.room_position.displayed_id = displayed;
    job->owner = op;
    /* The room's shard: after the messages it names were stored. */
    chat_submit(cs, job, r->jid);
}

/* At most one position job per occupant is out; what moves meanwhile goes
 * in the next one, so a busy room costs one row update per member per
 * store batch, not one per message. */
static void occ_save(struct chat_server *cs, struct chat_occupant *occ)
{
    if (occ->saving || occ->delivered <= occ->saved || !occ->room->id[0])
        return;
    occ->saving = 1;
    occ->saved = occ->delivered;
    chat_room_position(cs, occ->room, occ->nick, occ->delivered, 0);
}

static void position_done(struct chat_server *cs, struct db_job *job, struct chat_op *op)
{
    if (job->status != PL_OK)
        pl_warn(0, op ? op->room : NULL, "moving a room position failed: %s",
                pl_strerror(job->status));
    struct chat_room *r = op && op->room ? pl_map_get(&cs->rooms, op->room) : NULL;
    struct chat_occupant *occ =
        r ? chat_room_occupant(r, job->u.room_position.username) : NULL;
    if (!occ || job->u.room_position.delivered_id == 0)
        return;
    occ->saving = 0;
    occ_save(cs, occ);
}

void chat_room_written(struct chat_server *cs, struct chat_session *s, int64_t id)
{
    struct chat_room_echoes *e = s->echoes;
    struct chat_room *r = NULL;
    /* Frames are written in the order they were queued; an entry whose
     * frame was dropped (a closing stream) is passed over. */
    while (e && e->len > 0) {
        struct chat_room_echo ec = e->q[e->head];
        e->head = (e->head + 1) % e->cap;
        e->len--;
        if (ec.id == id) {
            r = ec.room;
            break;
        }
        room_unref(ec.room);
    }
    if (!r)
        return;
    if (!r->detached && s->user) {
        struct chat_seat *seat = chat_room_seat(r, s);
        if (seat && seat->phase == CHAT_SEAT_SENDING)
            chat_room_history_written(cs, seat, id);
        struct chat_occupant *occ = chat_room_occupant(r, s->user->username);
        if (occ) {
            if (id > occ->delivered) {
                occ->delivered = id;
                occ_save(cs, occ);
            }
        } else if (r->id[0]) {
            chat_room_position(cs, r, s->user->username, id, 0);
        }
    } else if (s->user && r->id[0]) {
        /* Left meanwhile: the write still counts. */
        chat_room_position(cs, r, s->user->username, id, 0);
    }
    room_unref(r);
}

/* ---- occupants and seats ------------------------------------------------- */

struct chat_occupant *chat_room_occupant(const struct chat_room *r, const char *nick)
{
    for (struct chat_occupant *o = r->occupants; o; o = o->next)
        if (strcmp(o->nick, nick) == 0)
            return o;
    return NULL;
}

struct chat_seat *chat_room_seat(const struct chat_room *r, const struct chat_session *s)
{
    for (struct chat_seat *st = s->seats; st; st = st->next_in_session)
        if (st->occ->room == r)
            return st;
    return NULL;
}

char *chat_room_occupant_jid(const struct chat_room *r, const char *nick)
{
    struct pl_buf b = PL_BUF_INIT;
    if (pl_buf_appendf(&b, "%s/%s", r->jid, nick) != PL_OK) {
        pl_buf_free(&b);
        return NULL;
    }
    return pl_buf_steal(&b, NULL);
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

/* XEP-0421: stable per (room, user), the same on every node and after a
 * restart, and the same for every session of the user. Rooms here are not
 * anonymous (the nick is the username), so it need not hide anything. */
static void occupant_id(const struct chat_room *r, const char *username, char *out,
                        size_t outlen)
{
    uint64_t a = fnv1a(fnv1a(UINT64_C(0xcbf29ce484222325), r->jid), "\x1f");
    uint64_t b = fnv1a(fnv1a(UINT64_C(0x84222325cbf29ce4), username), "\x1f");
    a = fnv1a(a, username);
    b = fnv1a(b, r->jid);
    snprintf(out, outlen, "%016" PRIx64 "%016" PRIx64, a, b);
}

void chat_room_occupant_id(const struct chat_room *r, const char *username, char *out,
                           size_t outlen)
{
    occupant_id(r, username, out, outlen);
}

static struct chat_occupant *occ_new(struct chat_server *cs, struct chat_room *r,
                                     const char *username)
{
    struct chat_occupant *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->room = r;
    o->nick = strdup(username);
    o->bare_jid = chat_bare_jid(cs, username);
    if (!o->nick || !o->bare_jid) {
        free(o->nick);
        free(o->bare_jid);
        free(o);
        return NULL;
    }
    occupant_id(r, username, o->occupant_id, sizeof(o->occupant_id));
    o->role = chat_room_aff(r, username) >= CHAT_AFF_ADMIN ? CHAT_ROLE_MODERATOR
                                                           : CHAT_ROLE_PARTICIPANT;
    o->next = r->occupants;
    r->occupants = o;
    r->noccupants++;
    struct chat_user *u = chat_user_find(cs, username);
    if (u)
        u->rooms++;
    return o;
}

/* Takes occ out of the room and frees it, saving its last position. */
static void occ_free(struct chat_server *cs, struct chat_occupant *occ)
{
    struct chat_room *r = occ->room;
    for (struct chat_occupant **p = &r->occupants; *p; p = &(*p)->next) {
        if (*p == occ) {
            *p = occ->next;
            r->noccupants--;
            break;
        }
    }
    if (occ->delivered > occ->saved && r->id[0])
        chat_room_position(cs, r, occ->nick, occ->delivered, 0);
    struct chat_user *u = chat_user_find(cs, occ->nick);
    if (u && u->rooms)
        u->rooms--;
    xmpp_node_free(occ->presence);
    free(occ->nick);
    free(occ->bare_jid);
    free(occ);
}

/* The API's view of who is in the room (room_occupants, 0008): a row per
 * seat, written on the room's shard so a join and its leave commit in that
 * order. Best effort: a lost row is corrected by the next restart. */
static void seat_record(struct chat_seat *seat, int present)
{
    struct chat_room *r = seat->occ->room;
    struct chat_session *s = seat->session;
    struct chat_server *cs = s->cs;
    if (!r->id[0] || !s->via)
        return;
    struct db_job *job = db_job_new(DB_JOB_ROOM_OCCUPANT);
    struct chat_op *op = job ? chat_op_new(cs, NULL) : NULL;
    struct db_room_occupant_job *o = job ? &job->u.room_occupant : NULL;
    if (!op || !(op->room = strdup(r->jid)) || !(o->room_id = strdup(r->id)) ||
        !(o->session = strdup(s->via)) || !(o->username = strdup(seat->occ->nick)) ||
        !(o->resource = strdup(s->resource ? s->resource : ""))) {
        pl_error(0, r->jid, "out of memory recording a room occupant");
        chat_op_free(cs, op);
        db_job_free(job);
        return;
    }
    o->present = present;
    job->owner = op;
    chat_submit(cs, job, r->jid);
}

static struct chat_seat *seat_add(struct chat_occupant *occ, struct chat_session *s)
{
    struct chat_seat *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->occ = occ;
    st->session = s;
    st->maxchars = -1;
    st->next_in_occ = occ->seats;
    occ->seats = st;
    st->next_in_session = s->seats;
    s->seats = st;
    return st;
}

static void seat_free(struct chat_seat *seat)
{
    struct chat_occupant *occ = seat->occ;
    if (seat->recorded)
        seat_record(seat, 0);
    for (struct chat_seat **p = &occ->seats; *p; p = &(*p)->next_in_occ) {
        if (*p == seat) {
            *p = seat->next_in_occ;
            break;
        }
    }
    for (struct chat_seat **p = &seat->session->seats; *p; p = &(*p)->next_in_session) {
        if (*p == seat) {
            *p = seat->next_in_session;
            break;
        }
    }
    chat_room_history_free(seat);
    free(seat);
}

/* ---- presence ------------------------------------------------------------ */

static int add_status(struct xmpp_node *x, int code)
{
    char buf[8];
    snprintf(buf, sizeof(buf), "%d", code);
    struct xmpp_node *st = xmpp_node_add(x, "status", NULL);
    return st && xmpp_node_set_attr(st, "code", buf) == PL_OK ? PL_OK : PL_ENOMEM;
}

struct xmpp_node *chat_room_presence(const struct chat_room *r,
                                     const struct chat_occupant *occ, const char *type,
                                     const char *to, const int *codes, size_t ncodes)
{
    struct xmpp_node *p = xmpp_node_new("presence", XMPP_NS_CLIENT);
    char *from = chat_room_occupant_jid(r, occ->nick);
    int ok = p && from && xmpp_node_set_attr(p, "from", from) == PL_OK &&
             (!to || xmpp_node_set_attr(p, "to", to) == PL_OK) &&
             (!type || xmpp_node_set_attr(p, "type", type) == PL_OK);
    free(from);
    if (ok && !type && occ->presence) {
        for (const struct xmpp_node *c = occ->presence->children; ok && c; c = c->next) {
            struct xmpp_node *cp = c->name ? xmpp_node_copy(c) : NULL;
            ok = !c->name || (cp && xmpp_node_append(p, cp));
        }
    }
    struct xmpp_node *x = ok ? xmpp_node_add(p, "x", XMPP_NS_MUC_USER) : NULL;
    struct xmpp_node *item = x ? xmpp_node_add(x, "item", NULL) : NULL;
    int gone = type && strcmp(type, "unavailable") == 0;
    ok = item &&
         xmpp_node_set_attr(item, "affiliation",
                            chat_aff_name(chat_room_aff(r, occ->nick))) == PL_OK &&
         xmpp_node_set_attr(item, "role",
                            chat_role_name(gone ? CHAT_ROLE_NONE : occ->role)) == PL_OK &&
         /* Not anonymous: every occupant may see the user (status 100). */
         xmpp_node_set_attr(item, "jid", occ->bare_jid) == PL_OK;
    for (size_t i = 0; ok && i < ncodes; i++)
        ok = add_status(x, codes[i]) == PL_OK;
    struct xmpp_node *oid =
        ok ? xmpp_node_add(p, "occupant-id", XMPP_NS_OCCUPANT_ID) : NULL;
    if (!oid || xmpp_node_set_attr(oid, "id", occ->occupant_id) != PL_OK) {
        xmpp_node_free(p);
        return NULL;
    }
    return p;
}

/* The children of a client's presence that the room passes on: not the
 * MUC join element, nor anything claiming what only the room says. */
static struct xmpp_node *presence_payload(const struct xmpp_node *presence)
{
    struct xmpp_node *keep = xmpp_node_new("presence", XMPP_NS_CLIENT);
    if (!keep)
        return NULL;
    for (const struct xmpp_node *c = presence->children; c; c = c->next) {
        if (!c->name || (c->ns && (strcmp(c->ns, XMPP_NS_MUC) == 0 ||
                                   strcmp(c->ns, XMPP_NS_MUC_USER) == 0 ||
                                   strcmp(c->ns, XMPP_NS_OCCUPANT_ID) == 0)))
            continue;
        struct xmpp_node *cp = xmpp_node_copy(c);
        if (!cp) {
            xmpp_node_free(keep);
            return NULL;
        }
        xmpp_node_append(keep, cp);
    }
    return keep;
}

static void send_node(struct chat_session *s, struct xmpp_node *n)
{
    if (n)
        xmpp_stream_send(s->stream, n, 0);
    xmpp_node_free(n);
}

/* Copies the children of `extra` into a room presence: actor and reason
 * into its <item/>, the rest into its muc#user <x/>. */
static void add_extra(struct xmpp_node *p, const struct xmpp_node *extra)
{
    struct xmpp_node *x = p && extra ? xmpp_node_child(p, "x", XMPP_NS_MUC_USER) : NULL;
    struct xmpp_node *item = x ? xmpp_node_child(x, "item", NULL) : NULL;
    for (const struct xmpp_node *c = item ? extra->children : NULL; c; c = c->next) {
        if (!c->name)
            continue;
        struct xmpp_node *cp = xmpp_node_copy(c);
        if (!cp)
            return;
        int in_item = strcmp(c->name, "actor") == 0 || strcmp(c->name, "reason") == 0;
        xmpp_node_append(in_item ? item : x, cp);
    }
}

/* Everyone but occ's own seats gets occ's presence (one frame). */
static void broadcast_presence(struct chat_server *cs, struct chat_room *r,
                               struct chat_occupant *occ, const char *type,
                               const int *codes, size_t ncodes,
                               const struct xmpp_node *extra)
{
    struct xmpp_node *p = chat_room_presence(r, occ, type, NULL, codes, ncodes);
    add_extra(p, extra);
    struct pl_frame *f = p ? chat_frame(p) : NULL;
    for (struct chat_occupant *o = f ? r->occupants : NULL; o; o = o->next) {
        if (o == occ)
            continue;
        for (struct chat_seat *st = o->seats; st; st = st->next_in_occ)
            chat_room_send_seat(cs, st, 0, f);
    }
    pl_frame_unref(f);
    xmpp_node_free(p);
}

/* A seat's own copy: the same presence with 110 and its own extra codes,
 * to its full JID. */
static void self_presence(struct chat_room *r, struct chat_seat *seat, const char *type,
                          const int *codes, size_t ncodes, const struct xmpp_node *extra)
{
    int all[8];
    size_t n = 0;
    for (size_t i = 0; i < ncodes && n < 7; i++)
        all[n++] = codes[i];
    all[n++] = 110;
    const char *to = xmpp_stream_full_jid(seat->session->stream);
    struct xmpp_node *p = chat_room_presence(r, seat->occ, type, to, all, n);
    add_extra(p, extra);
    send_node(seat->session, p);
}

void chat_room_remove(struct chat_server *cs, struct chat_room *r,
                      struct chat_occupant *occ, const int *codes, size_t ncodes,
                      const struct xmpp_node *extra)
{
    broadcast_presence(cs, r, occ, "unavailable", codes, ncodes, extra);
    while (occ->seats) {
        struct chat_seat *seat = occ->seats;
        self_presence(r, seat, "unavailable", codes, ncodes, extra);
        seat_free(seat);
    }
    occ_free(cs, occ);
}

void chat_room_occupant_changed(struct chat_server *cs, struct chat_room *r,
                                struct chat_occupant *occ)
{
    broadcast_presence(cs, r, occ, NULL, NULL, 0, NULL);
    for (struct chat_seat *st = occ->seats; st; st = st->next_in_occ)
        self_presence(r, st, NULL, NULL, 0, NULL);
}

/* One seat leaves: its session is told (unless it is gone); when it was
 * the occupant's last, everyone sees the occupant go. */
static void seat_leave(struct chat_server *cs, struct chat_seat *seat, int tell_self)
{
    struct chat_occupant *occ = seat->occ;
    struct chat_room *r = occ->room;
    if (tell_self)
        self_presence(r, seat, "unavailable", NULL, 0, NULL);
    seat_free(seat);
    if (!occ->seats) {
        broadcast_presence(cs, r, occ, "unavailable", NULL, 0, NULL);
        occ_free(cs, occ);
    }
}

/* <history/> of XEP-0045 section 7.2.15, into the seat's limits. */
static void parse_history(struct chat_server *cs, struct chat_seat *seat,
                          const struct xmpp_node *presence)
{
    seat->limit = cs->room_catchup_max;
    struct xmpp_node *x = xmpp_node_child(presence, "x", XMPP_NS_MUC);
    struct xmpp_node *h = x ? xmpp_node_child(x, "history", NULL) : NULL;
    const char *v;
    if (!h)
        return;
    if ((v = xmpp_node_attr(h, "maxstanzas"))) {
        long n = strtol(v, NULL, 10);
        if (n >= 0 && n < seat->limit)
            seat->limit = (int)n;
    }
    if ((v = xmpp_node_attr(h, "maxchars"))) {
        long n = strtol(v, NULL, 10);
        if (n >= 0)
            seat->maxchars = n;
    }
    int64_t now = 0;
    if ((v = xmpp_node_attr(h, "seconds"))) {
        long n = strtol(v, NULL, 10);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
        if (n >= 0)
            seat->since_us = now - (int64_t)n * 1000000;
    }
    if ((v = xmpp_node_attr(h, "since"))) {
        int64_t us;
        if (chat_parse_stamp(v, &us) == PL_OK && us > seat->since_us)
            seat->since_us = us;
    }
}

static void join(struct chat_server *cs, struct chat_room *r, struct chat_session *s,
                 struct xmpp_stanza *st)
{
    const char *user = s->user->username;
    enum chat_aff aff = chat_room_aff(r, user);
    if (aff == CHAT_AFF_OUTCAST) {
        chat_reply_error(cs, s, st->node, "auth", "forbidden");
        return;
    }
    if (r->members_only && aff < CHAT_AFF_MEMBER) {
        chat_reply_error(cs, s, st->node, "auth", "registration-required");
        return;
    }
    /* The limits, for a user not yet in the room (another session of an
     * occupant takes no more room). XEP-0045 section 7.2.10: a full room
     * is service-unavailable, except to its admins and owners. */
    if (!chat_room_occupant(r, user)) {
        if (cs->room_occupants_max > 0 &&
            r->noccupants >= (size_t)cs->room_occupants_max && aff < CHAT_AFF_ADMIN) {
            pl_metrics_limit(cs->metrics, PL_METRICS_LIMIT_ROOM_OCCUPANTS);
            chat_reply_error(cs, s, st->node, "wait", "service-unavailable");
            return;
        }
        if (cs->rooms_per_user_max > 0 &&
            s->user->rooms >= (size_t)cs->rooms_per_user_max) {
            pl_metrics_limit(cs->metrics, PL_METRICS_LIMIT_ROOMS_PER_USER);
            chat_reply_error(cs, s, st->node, "wait", "resource-constraint");
            return;
        }
    }
    int make_member = 0;
    if (aff == CHAT_AFF_NONE) {
        /* An open room: joining makes a member, who stays after leaving. */
        chat_room_set_aff(r, user, CHAT_AFF_MEMBER);
        make_member = 1;
    }
    struct chat_occupant *occ = chat_room_occupant(r, user);
    int new_occ = occ == NULL;
    if (!occ && !(occ = occ_new(cs, r, user))) {
        chat_reply_error(cs, s, st->node, "wait", "resource-constraint");
        return;
    }
    struct xmpp_node *payload = presence_payload(st->node);
    if (payload) {
        xmpp_node_free(occ->presence);
        occ->presence = payload;
    }
    struct chat_seat *seat = seat_add(occ, s);
    if (!seat) {
        if (new_occ)
            occ_free(cs, occ);
        chat_reply_error(cs, s, st->node, "wait", "resource-constraint");
        return;
    }
    parse_history(cs, seat, st->node);
    seat->recent = !new_occ;
    seat_record(seat, 1);
    seat->recorded = 1;
    /* XEP-0045 section 7.2.3: the others' presence first, the newcomer's
     * to the others, then its own with 110 last. */
    for (struct chat_occupant *o = r->occupants; o; o = o->next)
        if (o != occ)
            send_node(s, chat_room_presence(r, o, NULL, NULL, NULL, 0));
    if (new_occ)
        broadcast_presence(cs, r, occ, NULL, NULL, 0, NULL);
    int codes[3];
    size_t n = 0;
    codes[n++] = 100; /* not anonymous */
    codes[n++] = 170; /* everything is archived */
    if (r->creator && strcmp(r->creator, user) == 0) {
        codes[n++] = 201; /* the room was created by this join */
        free(r->creator);
        r->creator = NULL;
    }
    self_presence(r, seat, NULL, codes, n, NULL);
    chat_room_history_start(cs, seat, make_member);
}

static void create(struct chat_server *cs, struct chat_room *r, struct chat_session *s,
                   struct xmpp_stanza *st)
{
    struct db_job *job = db_job_new(DB_JOB_ROOM_CREATE);
    struct chat_op *op = job ? chat_op_new(cs, s) : NULL;
    struct chat_room_wait *w = calloc(1, sizeof(*w));
    if (!op || !w || !(op->room = strdup(r->jid)) ||
        !(job->u.room_load.jid = strdup(r->jid)) ||
        !(job->u.room_load.localpart = strdup(r->localpart)) ||
        !(job->u.room_load.creator = strdup(s->user->username)) ||
        !(w->user = strdup(s->user->username))) {
        chat_reply_error(cs, s, st->node, "wait", "resource-constraint");
        xmpp_stanza_free(st);
        if (w)
            free(w->user);
        free(w);
        chat_op_free(cs, op);
        db_job_free(job);
        return;
    }
    /* The join waits for the room, ahead of anything else waiting. */
    w->serial = s->serial;
    w->st = st;
    w->next = r->wait_head;
    r->wait_head = w;
    if (!r->wait_tail)
        r->wait_tail = w;
    r->nwait++;
    r->state = CHAT_ROOM_CREATING;
    job->owner = op;
    chat_submit(cs, job, r->jid);
}

static void room_presence(struct chat_server *cs, struct chat_room *r,
                          struct chat_session *s, struct xmpp_stanza *st)
{
    struct chat_seat *seat = chat_room_seat(r, s);
    const char *type = st->type;
    if (!st->to.resource) {
        /* XEP-0045 section 7.2.1: a join needs a nick. */
        if (!type || strcmp(type, "error") != 0)
            chat_reply_error(cs, s, st->node, "modify", "jid-malformed");
    } else if (!type && seat) {
        if (strcmp(st->to.resource, seat->occ->nick) != 0) {
            /* A nick change: the nick is the username. */
            chat_reply_error(cs, s, st->node, "cancel", "not-acceptable");
        } else {
            struct xmpp_node *payload = presence_payload(st->node);
            if (payload) {
                xmpp_node_free(seat->occ->presence);
                seat->occ->presence = payload;
                chat_room_occupant_changed(cs, r, seat->occ);
            }
        }
    } else if (!type && strcmp(st->to.resource, s->user->username) != 0) {
        /* The nick is the username (PROTOCOL.md): one name per person,
         * checked before a room is created for it. */
        chat_reply_error(cs, s, st->node, "cancel", "not-acceptable");
    } else if (!type) {
        if (r->state != CHAT_ROOM_MISSING) {
            join(cs, r, s, st);
        } else if (cs->room_creation_admins) {
            /* XEP-0045 section 10.1.1: not allowed to create rooms. */
            chat_reply_error(cs, s, st->node, "cancel", "not-allowed");
        } else {
            create(cs, r, s, st); /* takes st */
            return;
        }
    } else if (strcmp(type, "unavailable") == 0 && seat) {
        seat_leave(cs, seat, 1);
    }
    xmpp_stanza_free(st);
}

/* ---- the service itself ------------------------------------------------- */

static const char *const service_features[] = {
    XMPP_NS_DISCO_INFO, XMPP_NS_DISCO_ITEMS, XMPP_NS_MUC,
    XMPP_NS_MAM,        XMPP_NS_OCCUPANT_ID, XMPP_NS_PING,
};

static void service_info(struct chat_server *cs, struct chat_session *s,
                         const struct xmpp_node *iq)
{
    struct xmpp_node *res = xmpp_stanza_iq_result(iq, cs->muc_domain);
    struct xmpp_node *q = res ? xmpp_node_add(res, "query", XMPP_NS_DISCO_INFO) : NULL;
    struct xmpp_node *id = q ? xmpp_node_add(q, "identity", NULL) : NULL;
    int ok = id && xmpp_node_set_attr(id, "category", "conference") == PL_OK &&
             xmpp_node_set_attr(id, "type", "text") == PL_OK &&
             xmpp_node_set_attr(id, "name", "Rooms") == PL_OK;
    for (size_t i = 0; ok && i < sizeof(service_features) / sizeof(*service_features);
         i++) {
        struct xmpp_node *f = xmpp_node_add(q, "feature", NULL);
        ok = f && xmpp_node_set_attr(f, "var", service_features[i]) == PL_OK;
    }
    if (!ok) {
        xmpp_node_free(res);
        chat_reply_error(cs, s, iq, "wait", "resource-constraint");
        return;
    }
    send_node(s, res);
}

static void service_items(struct chat_server *cs, struct chat_session *s,
                          const struct xmpp_node *iq)
{
    struct db_job *job = db_job_new(DB_JOB_ROOM_LIST);
    struct chat_op *op = job ? chat_op_new(cs, s) : NULL;
    if (!op || !(op->request = xmpp_node_copy(iq)) ||
        !(job->u.room_list.username = strdup(s->user->username))) {
        chat_op_free(cs, op);
        db_job_free(job);
        chat_reply_error(cs, s, iq, "wait", "resource-constraint");
        return;
    }
    job->owner = op;
    chat_submit(cs, job, s->user->bare_jid);
}

static void list_done(struct chat_server *cs, struct db_job *job, struct chat_op *op)
{
    struct chat_session *s = chat_op_session(cs, op);
    if (!s)
        return;
    if (job->status != PL_OK) {
        chat_reply_error(cs, s, op->request, "wait", "internal-server-error");
        return;
    }
    struct xmpp_node *res = xmpp_stanza_iq_result(op->request, cs->muc_domain);
    struct xmpp_node *q = res ? xmpp_node_add(res, "query", XMPP_NS_DISCO_ITEMS) : NULL;
    int ok = q != NULL;
    const struct db_room_list_job *l = &job->u.room_list;
    for (size_t i = 0; ok && i < l->count; i++) {
        struct xmpp_node *it = xmpp_node_add(q, "item", NULL);
        ok = it && xmpp_node_set_attr(it, "jid", l->jids[i]) == PL_OK &&
             (!l->names[i] || xmpp_node_set_attr(it, "name", l->names[i]) == PL_OK);
    }
    if (!ok) {
        xmpp_node_free(res);
        chat_reply_error(cs, s, op->request, "wait", "resource-constraint");
        return;
    }
    send_node(s, res);
}

/* Stanzas to the service's own JID: disco and ping; a presence there has no
 * room to join. */
static void service_stanza(struct chat_server *cs, struct chat_session *s,
                           struct xmpp_stanza *st)
{
    const char *type = st->type ? st->type : "";
    if (st->kind == XMPP_STANZA_IQ && strcmp(type, "get") == 0) {
        const struct xmpp_node *q = xmpp_node_child_ns(st->node, XMPP_NS_DISCO_INFO);
        if (q && strcmp(q->name, "query") == 0)
            service_info(cs, s, st->node);
        else if ((q = xmpp_node_child(st->node, "query", XMPP_NS_DISCO_ITEMS)))
            service_items(cs, s, st->node);
        else if (xmpp_node_child(st->node, "ping", XMPP_NS_PING))
            send_node(s, xmpp_stanza_iq_result(st->node, cs->muc_domain));
        else
            chat_reply_error(cs, s, st->node, "cancel", "service-unavailable");
    } else if (st->kind == XMPP_STANZA_IQ && strcmp(type, "set") == 0) {
        chat_reply_error(cs, s, st->node, "cancel", "service-unavailable");
    } else if (st->kind == XMPP_STANZA_PRESENCE && strcmp(type, "error") != 0) {
        chat_reply_error(cs, s, st->node, "modify", "jid-malformed");
    } else if (st->kind == XMPP_STANZA_MESSAGE && strcmp(type, "error") != 0) {
        chat_reply_error(cs, s, st->node, "cancel", "service-unavailable");
    }
    xmpp_stanza_free(st);
}

/* ---- dispatch ------------------------------------------------------------ */

static void dispatch(struct chat_server *cs, struct chat_room *r, struct chat_session *s,
                     struct xmpp_stanza *st)
{
    switch (st->kind) {
    case XMPP_STANZA_PRESENCE:
        room_presence(cs, r, s, st);
        return;
    case XMPP_STANZA_MESSAGE:
        chat_room_message(cs, r, s, st);
        return;
    case XMPP_STANZA_IQ:
        chat_room_iq(cs, r, s, st);
        return;
    }
    xmpp_stanza_free(st);
}

static int wait_push(struct chat_room *r, struct chat_session *s, struct xmpp_stanza *st)
{
    if (r->nwait >= CHAT_ROOM_WAIT_MAX)
        return PL_ETOOBIG;
    struct chat_room_wait *w = calloc(1, sizeof(*w));
    if (!w || !(w->user = strdup(s->user->username))) {
        free(w);
        return PL_ENOMEM;
    }
    w->serial = s->serial;
    w->st = st;
    if (r->wait_tail)
        r->wait_tail->next = w;
    else
        r->wait_head = w;
    r->wait_tail = w;
    r->nwait++;
    return PL_OK;
}

/* Hands the waiting stanzas to the room, in order, until one of them makes
 * it wait again (a join that creates it). */
static void drain(struct chat_server *cs, struct chat_room *r)
{
    r->draining = 1;
    while (r->wait_head &&
           (r->state == CHAT_ROOM_READY || r->state == CHAT_ROOM_MISSING)) {
        struct chat_room_wait *w = r->wait_head;
        r->wait_head = w->next;
        if (!r->wait_head)
            r->wait_tail = NULL;
        r->nwait--;
        struct chat_session *s = chat_session_by_serial(cs, w->user, w->serial);
        struct xmpp_stanza *st = w->st;
        w->st = NULL;
        wait_free(w);
        if (s)
            dispatch(cs, r, s, st);
        else
            xmpp_stanza_free(st); /* its session is gone */
    }
    r->draining = 0;
    chat_room_release(cs, r);
}

static void load(struct chat_server *cs, struct chat_room *r)
{
    struct db_job *job = db_job_new(DB_JOB_ROOM_LOAD);
    struct chat_op *op = job ? chat_op_new(cs, NULL) : NULL;
    if (!op || !(op->room = strdup(r->jid)) || !(job->u.room_load.jid = strdup(r->jid))) {
        chat_op_free(cs, op);
        db_job_free(job);
        r->state = CHAT_ROOM_MISSING; /* answered as if missing, this once */
        return;
    }
    job->owner = op;
    chat_submit(cs, job, r->jid);
}

void chat_room_stanza(struct chat_server *cs, struct chat_session *s,
                      struct xmpp_stanza *st)
{
    if (!st->to.local) {
        service_stanza(cs, s, st);
        return;
    }
    char *jid = xmpp_jid_bare(&st->to);
    struct chat_room *r = jid ? pl_map_get(&cs->rooms, jid) : NULL;
    if (jid && !r && (r = room_new(cs, jid, st->to.local)))
        load(cs, r);
    free(jid);
    if (!r) {
        if (!st->type || strcmp(st->type, "error") != 0)
            chat_reply_error(cs, s, st->node, "wait", "resource-constraint");
        xmpp_stanza_free(st);
        return;
    }
    if (r->state == CHAT_ROOM_LOADING || r->state == CHAT_ROOM_CREATING) {
        if (wait_push(r, s, st) != PL_OK) {
            if (!st->type || strcmp(st->type, "error") != 0)
                chat_reply_error(cs, s, st->node, "wait", "resource-constraint");
            xmpp_stanza_free(st);
        }
        return;
    }
    dispatch(cs, r, s, st);
    chat_room_release(cs, r);
}

/* The room as the store has it, into memory. */
static void fill(struct chat_room *r, struct db_room_load_job *l)
{
    snprintf(r->id, sizeof(r->id), "%s", l->id);
    free(r->name);
    free(r->description);
    free(r->subject);
    free(r->subject_by);
    r->name = l->name;
    r->description = l->description;
    r->subject = l->subject;
    r->subject_by = l->subject_by;
    l->name = l->description = l->subject = l->subject_by = NULL;
    r->members_only = l->members_only;
    r->public_room = l->public_room;
    r->change_subject = l->change_subject;
    for (size_t i = 0; i < l->naffs; i++) {
        enum chat_aff aff;
        if (chat_aff_parse(l->affs[i].affiliation, &aff) == PL_OK)
            chat_room_set_aff(r, l->affs[i].username, aff);
    }
}

static void loaded(struct chat_server *cs, struct db_job *job, struct chat_op *op)
{
    struct chat_room *r = op && op->room ? pl_map_get(&cs->rooms, op->room) : NULL;
    if (r && r->state == CHAT_ROOM_READY && job->kind == DB_JOB_ROOM_LOAD) {
        chat_room_reloaded(cs, r, job);
        return;
    }
    if (!r || (r->state != CHAT_ROOM_LOADING && r->state != CHAT_ROOM_CREATING))
        return;
    struct db_room_load_job *l = &job->u.room_load;
    if (job->status != PL_OK) {
        pl_error(0, r->jid, "loading a room failed: %s", pl_strerror(job->status));
        /* Everything waiting is refused; the next stanza tries again. */
        while (r->wait_head) {
            struct chat_room_wait *w = r->wait_head;
            r->wait_head = w->next;
            struct chat_session *s = chat_session_by_serial(cs, w->user, w->serial);
            if (s && (!w->st->type || strcmp(w->st->type, "error") != 0))
                chat_reply_error(cs, s, w->st->node, "wait", "internal-server-error");
            wait_free(w);
        }
        r->wait_tail = NULL;
        r->nwait = 0;
        r->state = CHAT_ROOM_MISSING;
        chat_room_release(cs, r);
        return;
    }
    if (job->kind == DB_JOB_ROOM_CREATE && l->created) {
        free(r->creator);
        r->creator = l->creator;
        l->creator = NULL;
        pl_info(0, r->jid, "room created by %s", r->creator);
    }
    if (l->found) {
        fill(r, l);
        r->state = CHAT_ROOM_READY;
    } else {
        r->state = CHAT_ROOM_MISSING;
    }
    /* Changed by the admin API while this load was out: what it read may
     * be older than the change. */
    if (r->stale && r->state == CHAT_ROOM_READY)
        chat_room_reload(cs, r);
    drain(cs, r);
}

void chat_room_complete(struct chat_server *cs, struct db_job *job, struct chat_op *op)
{
    switch (job->kind) {
    case DB_JOB_ROOM_LOAD:
    case DB_JOB_ROOM_CREATE:
        loaded(cs, job, op);
        return;
    case DB_JOB_ROOM_MSG_STORE:
        chat_room_msg_stored(cs, job, op);
        return;
    case DB_JOB_ROOM_JOIN:
        chat_room_history_loaded(cs, job, op);
        return;
    case DB_JOB_ROOM_POSITION:
        position_done(cs, job, op);
        return;
    case DB_JOB_ROOM_AFFILIATIONS:
        chat_room_affiliations_done(cs, job, op);
        return;
    case DB_JOB_ROOM_CONFIG:
        chat_room_config_done(cs, job, op);
        return;
    case DB_JOB_ROOM_SUBJECT:
        chat_room_subject_done(cs, job, op);
        return;
    case DB_JOB_ROOM_DESTROY:
        chat_room_destroy_done(cs, job, op);
        return;
    case DB_JOB_ROOM_LIST:
        list_done(cs, job, op);
        return;
    case DB_JOB_ROOM_OCCUPANT:
        if (job->status != PL_OK)
            pl_warn(0, op ? op->room : NULL, "recording a room occupant failed: %s",
                    pl_strerror(job->status));
        return;
    default:
        return;
    }
}

/* ---- the session's own presence and its end ----------------------------- */

void chat_room_own_presence(struct chat_server *cs, struct chat_session *s,
                            const struct xmpp_stanza *st)
{
    if (!s->seats || st->has_to)
        return;
    if (!st->type) {
        for (struct chat_seat *seat = s->seats; seat; seat = seat->next_in_session) {
            struct xmpp_node *payload = presence_payload(st->node);
            if (!payload)
                continue;
            xmpp_node_free(seat->occ->presence);
            seat->occ->presence = payload;
            chat_room_occupant_changed(cs, seat->occ->room, seat->occ);
        }
    } else if (strcmp(st->type, "unavailable") == 0) {
        /* RFC 6121 section 4.5.2: unavailable goes to every room the
         * session was in, which means leaving them. */
        while (s->seats) {
            struct chat_room *r = s->seats->occ->room;
            seat_leave(cs, s->seats, 1);
            chat_room_release(cs, r);
        }
    }
}

void chat_room_session_gone(struct chat_server *cs, struct chat_session *s)
{
    while (s->seats) {
        struct chat_room *r = s->seats->occ->room;
        seat_leave(cs, s->seats, 0);
        chat_room_release(cs, r);
    }
    echoes_free(s);
}

/* XEP-0045's status 332: removed because the service is shutting down.
 * Each seat gets its own unavailable presence (110 and 332), as ejabberd
 * sends it; the others' departures are not sent one by one (a 500-member
 * room would queue 250,000 frames while the server stops), since every
 * occupant is told that it is leaving because the service is. The seats stay:
 * the sessions' ends remove them, as for any end. */
static void shutdown_room(const char *key, void *value, void *arg)
{
    struct chat_room *r = value;
    static const int code = 332;
    for (struct chat_occupant *o = r->occupants; o; o = o->next)
        for (struct chat_seat *st = o->seats; st; st = st->next_in_occ)
            if (!xmpp_stream_is_closing(st->session->stream))
                self_presence(r, st, "unavailable", &code, 1, NULL);
}

void chat_room_shutdown(struct chat_server *cs)
{
    pl_map_each(&cs->rooms, shutdown_room, cs);
}

/* At the end every session is gone, and so is the store: nothing here may
 * touch a session or submit a job. */
static void free_room_entry(const char *key, void *value, void *arg)
{
    struct chat_room *r = value;
    while (r->occupants) {
        struct chat_occupant *o = r->occupants;
        r->occupants = o->next;
        while (o->seats) {
            struct chat_seat *st = o->seats;
            o->seats = st->next_in_occ;
            chat_room_history_free(st);
            free(st);
        }
        xmpp_node_free(o->presence);
        free(o->nick);
        free(o->bare_jid);
        free(o);
    }
    room_free(r);
}

void chat_room_free_all(struct chat_server *cs)
{
    pl_map_each(&cs->rooms, free_room_entry, cs);
    pl_map_free(&cs->rooms);
}
