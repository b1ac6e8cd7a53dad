/* Messages in rooms: a group message from an occupant is stored once,
 * committed, then reflected to every occupant (the sender too) from
 * room/nick with <stanza-id by=room/> and the occupant id, serialised once
 * and the same frame queued to every seat. Subject changes, chat states
 * and XEP-0333 markers (which move the member's displayed position) go
 * live. And the history a joining session gets: every message since the
 * member's position (catch-up), the last ones for a first-time member,
 * within the client's <history/> limits, paced by what the socket takes,
 * with live messages held meanwhile so that order holds. */
#include "chat_room.h"

#include "pl_buf.h"
#include "pl_error.h"
#include "pl_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A stanza id is a key of the archive's dedup index, which bounds its size. */
#define CHAT_ROOM_MAX_STANZA_ID 1024

static int is(const char *a, const char *b)
{
    return a && strcmp(a, b) == 0;
}

static int server_claim(const struct chat_server *cs, const struct xmpp_node *c);

/* ---- private messages (XEP-0045 section 7.5) ----------------------------- */

void chat_room_private(struct chat_server *cs, struct chat_room *r,
                       struct chat_session *s, struct chat_seat *seat,
                       const struct xmpp_stanza *st)
{
    const char *type = st->type ? st->type : "normal";
    struct chat_occupant *to = chat_room_occupant(r, st->to.resource);
    if (!seat) {
        chat_reply_error(cs, s, st->node, "cancel",
                         "not-acceptable"); /* occupants only */
        return;
    }
    if (is(type, "groupchat")) {
        chat_reply_error(cs, s, st->node, "modify", "bad-request"); /* section 7.5 */
        return;
    }
    if (!to) {
        chat_reply_error(cs, s, st->node, "cancel", "item-not-found");
        return;
    }
    /* From room/nick to each of the occupant's sessions (the same bytes:
     * no `to`, as for room messages), marked with an empty muc#user <x/>
     * so that clients show it as private (section 7.5); not archived in
     * the room, which is for everyone. */
    struct xmpp_node *m = xmpp_node_copy(st->node);
    char *from = chat_room_occupant_jid(r, seat->occ->nick);
    int ok = m && from && xmpp_node_set_attr(m, "from", from) == PL_OK &&
             xmpp_node_set_attr(m, "to", NULL) == PL_OK;
    free(from);
    for (struct xmpp_node *c = ok ? m->children : NULL; c;) {
        struct xmpp_node *next = c->next;
        if (server_claim(cs, c) ||
            (c->name && c->ns && strcmp(c->ns, XMPP_NS_MUC_USER) == 0)) {
            xmpp_node_unlink(m, c);
            xmpp_node_free(c);
        }
        c = next;
    }
    struct xmpp_node *oid =
        ok ? xmpp_node_add(m, "occupant-id", XMPP_NS_OCCUPANT_ID) : NULL;
    ok = oid && xmpp_node_set_attr(oid, "id", seat->occ->occupant_id) == PL_OK &&
         xmpp_node_add(m, "x", XMPP_NS_MUC_USER);
    struct pl_frame *f = ok ? chat_frame(m) : NULL;
    xmpp_node_free(m);
    if (!f) {
        chat_reply_error(cs, s, st->node, "wait", "resource-constraint");
        return;
    }
    int sent = 0, blocked = 0;
    for (struct chat_seat *t = to->seats; t; t = t->next_in_occ) {
        struct chat_user *tu = t->session->user;
        if (chat_block_between(s->user, s->user->bare_jid, tu, tu->bare_jid)) {
            blocked = 1;
            continue;
        }
        chat_room_send_seat(cs, t, 0, f);
        sent++;
    }
    pl_frame_unref(f);
    if (!sent && blocked && !is(type, "error"))
        chat_reply_error(cs, s, st->node, "cancel", "service-unavailable");
}

/* ---- mediated invitations (XEP-0045 section 7.8.2) ------------------------ */

const struct xmpp_node *chat_room_invitation(const struct xmpp_node *msg)
{
    const struct xmpp_node *x = xmpp_node_child(msg, "x", XMPP_NS_MUC_USER);
    return x && (xmpp_node_child(x, "invite", NULL) ||
                 xmpp_node_child(x, "decline", NULL))
               ? x
               : NULL;
}

/* The username of an invite's `to`, allocated, or NULL and *why set. */
static char *invitee(struct chat_server *cs, const struct xmpp_node *inv,
                     const char **why)
{
    const char *to = xmpp_node_attr(inv, "to");
    struct xmpp_jid j;
    if (!to || xmpp_jid_parse(to, &j) != PL_OK) {
        *why = "jid-malformed";
        return NULL;
    }
    char *user = j.local && strcmp(j.domain, cs->domain) == 0 ? strdup(j.local) : NULL;
    if (!user)
        *why = j.local && strcmp(j.domain, cs->domain) == 0 ? "resource-constraint"
                                                            : "not-acceptable";
    xmpp_jid_free(&j);
    return user;
}

void chat_room_invites_forward(struct chat_server *cs, struct chat_room *r,
                               const char *inviter, const struct xmpp_node *msg)
{
    const struct xmpp_node *x = chat_room_invitation(msg);
    for (const struct xmpp_node *inv = x ? x->children : NULL; inv; inv = inv->next) {
        if (!inv->name || strcmp(inv->name, "invite") != 0)
            continue;
        const char *why = NULL;
        char *user = invitee(cs, inv, &why);
        char *to = user ? chat_bare_jid(cs, user) : NULL;
        char *from = chat_bare_jid(cs, inviter);
        const struct xmpp_node *reason = xmpp_node_child(inv, "reason", NULL);
        char *text = reason ? xmpp_node_text(reason) : NULL;
        struct xmpp_node *m =
            to && from ? xmpp_node_new("message", XMPP_NS_CLIENT) : NULL;
        struct xmpp_node *mx = m ? xmpp_node_add(m, "x", XMPP_NS_MUC_USER) : NULL;
        struct xmpp_node *mi = mx ? xmpp_node_add(mx, "invite", NULL) : NULL;
        struct xmpp_node *body = mi ? xmpp_node_add(m, "body", NULL) : NULL;
        struct pl_buf b = PL_BUF_INIT;
        /* A body for clients that do not know invitations (ejabberd
         * sends one too). */
        int ok = body && xmpp_node_set_attr(m, "from", r->jid) == PL_OK &&
                 xmpp_node_set_attr(m, "to", to) == PL_OK &&
                 xmpp_node_set_attr(mi, "from", from) == PL_OK &&
                 pl_buf_appendf(&b, "%s invites you to the room %s%s%s", from, r->jid,
                                text && *text ? ": " : "",
                                text && *text ? text : "") == PL_OK &&
                 pl_buf_append(&b, "", 1) == PL_OK &&
                 xmpp_node_add_text(body, b.data) == PL_OK;
        if (ok && text && *text) {
            struct xmpp_node *rn = xmpp_node_add(mi, "reason", NULL);
            ok = rn && xmpp_node_add_text(rn, text) == PL_OK;
        }
        struct pl_frame *f = ok ? chat_frame(m) : NULL;
        /* Live, to the invitee's sessions: an invitee who is offline finds
         * a members-only room in their disco#items, as a member. */
        if (f)
            chat_route_message(chat_user_find(cs, user), NULL, 0, f);
        pl_frame_unref(f);
        pl_buf_free(&b);
        xmpp_node_free(m);
        free(text);
        free(from);
        free(to);
        free(user);
    }
}

/* Section 7.8.2: an invitee declines; the room passes it to the inviter
 * (`to`), from the room, with <decline from=invitee/>. Anyone may decline:
 * they need not be in the room. */
static void decline(struct chat_server *cs, struct chat_room *r, struct chat_session *s,
                    const struct xmpp_stanza *st, const struct xmpp_node *d)
{
    const char *why = NULL;
    char *user = invitee(cs, d, &why);
    if (!user) {
        chat_reply_error(cs, s, st->node, is(why, "jid-malformed") ? "modify" : "cancel",
                         why);
        return;
    }
    char *to = chat_bare_jid(cs, user);
    const struct xmpp_node *reason = xmpp_node_child(d, "reason", NULL);
    char *text = reason ? xmpp_node_text(reason) : NULL;
    struct xmpp_node *m = to ? xmpp_node_new("message", XMPP_NS_CLIENT) : NULL;
    struct xmpp_node *mx = m ? xmpp_node_add(m, "x", XMPP_NS_MUC_USER) : NULL;
    struct xmpp_node *md = mx ? xmpp_node_add(mx, "decline", NULL) : NULL;
    int ok = md && xmpp_node_set_attr(m, "from", r->jid) == PL_OK &&
             xmpp_node_set_attr(m, "to", to) == PL_OK &&
             xmpp_node_set_attr(md, "from", s->user->bare_jid) == PL_OK;
    if (ok && text && *text) {
        struct xmpp_node *rn = xmpp_node_add(md, "reason", NULL);
        ok = rn && xmpp_node_add_text(rn, text) == PL_OK;
    }
    struct pl_frame *f = ok ? chat_frame(m) : NULL;
    if (f)
        chat_route_message(chat_user_find(cs, user), NULL, 0, f);
    else
        chat_reply_error(cs, s, st->node, "wait", "resource-constraint");
    pl_frame_unref(f);
    xmpp_node_free(m);
    free(text);
    free(to);
    free(user);
}

void chat_room_invite(struct chat_server *cs, struct chat_room *r, struct chat_session *s,
                      struct chat_seat *seat, const struct xmpp_stanza *st)
{
    const struct xmpp_node *x = chat_room_invitation(st->node);
    const struct xmpp_node *d = xmpp_node_child(x, "decline", NULL);
    if (d && !xmpp_node_child(x, "invite", NULL)) {
        decline(cs, r, s, st, d);
        return;
    }
    enum chat_aff aff = chat_room_aff(r, s->user->username);
    if (!seat) {
        chat_reply_error(cs, s, st->node, "cancel",
                         "not-acceptable"); /* occupants only */
        return;
    }
    /* Members-only: only owners and admins invite, and the invitee
     * becomes a member (as ejabberd does), so that they can join. */
    if (r->members_only && aff < CHAT_AFF_ADMIN) {
        chat_reply_error(cs, s, st->node, "auth", "forbidden");
        return;
    }
    size_t n = 0, add = 0;
    for (const struct xmpp_node *inv = x->children; inv; inv = inv->next) {
        if (!inv->name || strcmp(inv->name, "invite") != 0)
            continue;
        const char *why = NULL;
        char *user = invitee(cs, inv, &why);
        enum chat_aff ta = user ? chat_room_aff(r, user) : CHAT_AFF_NONE;
        free(user);
        if (!why && ta == CHAT_AFF_OUTCAST)
            why = "not-allowed"; /* a ban is lifted by an affiliation change */
        if (why) {
            chat_reply_error(cs, s, st->node,
                             is(why, "jid-malformed")         ? "modify"
                             : is(why, "resource-constraint") ? "wait"
                                                              : "cancel",
                             why);
            return;
        }
        n++;
        add += r->members_only && ta < CHAT_AFF_MEMBER;
    }
    if (!add) {
        chat_room_invites_forward(cs, r, s->user->username, st->node);
        return;
    }
    struct db_job *job = db_job_new(DB_JOB_ROOM_AFFILIATIONS);
    struct chat_op *op = job ? chat_op_new(cs, s) : NULL;
    struct db_room_affiliations_job *a = job ? &job->u.room_affiliations : NULL;
    int ok = op && (op->room = strdup(r->jid)) &&
             (op->request = xmpp_node_copy(st->node)) && (a->room_id = strdup(r->id)) &&
             (a->usernames = calloc(add, sizeof(char *))) &&
             (a->affiliations = calloc(add, sizeof(char *))) &&
             (a->reasons = calloc(add, sizeof(char *)));
    if (ok)
        a->count = add;
    size_t i = 0;
    for (const struct xmpp_node *inv = ok ? x->children : NULL; ok && inv;
         inv = inv->next) {
        if (!inv->name || strcmp(inv->name, "invite") != 0)
            continue;
        const char *why = NULL;
        char *user = invitee(cs, inv, &why);
        if (!user || chat_room_aff(r, user) >= CHAT_AFF_MEMBER || i >= add) {
            free(user);
            ok = user != NULL;
            continue;
        }
        a->usernames[i] = user;
        ok = (a->affiliations[i] = strdup("member")) != NULL;
        i++;
    }
    if (!ok || i != add) {
        chat_op_free(cs, op);
        db_job_free(job);
        chat_reply_error(cs, s, st->node, "wait", "resource-constraint");
        return;
    }
    /* The invitations go out when the memberships are stored
     * (chat_room_affiliations_done). */
    job->owner = op;
    chat_submit(cs, job, r->jid);
}

/* 1 if a child is something only the server may say: a stanza id, an
 * occupant id, or a delay claiming this server or its rooms. */
static int server_claim(const struct chat_server *cs, const struct xmpp_node *c)
{
    if (!c->name || !c->ns)
        return 0;
    if (strcmp(c->ns, XMPP_NS_SID) == 0 && strcmp(c->name, "stanza-id") == 0)
        return 1;
    if (strcmp(c->ns, XMPP_NS_OCCUPANT_ID) == 0)
        return 1;
    if (strcmp(c->ns, XMPP_NS_DELAY) == 0 && strcmp(c->name, "delay") == 0) {
        const char *from = xmpp_node_attr(c, "from");
        struct xmpp_jid j;
        if (!from || xmpp_jid_parse(from, &j) != PL_OK)
            return from != NULL;
        int ours = chat_route_classify_jid(cs, &j) != CHAT_DEST_REMOTE;
        xmpp_jid_free(&j);
        return ours;
    }
    return 0;
}

/* The stanza as the occupants get it: from room/nick, no `to` (the same
 * bytes go to every occupant; RFC 6120 section 8.1.1.1 lets a stanza to
 * the connected client leave it out), what the client may not claim
 * removed, the occupant id added. */
static struct xmpp_node *reflect(struct chat_server *cs, const struct chat_room *r,
                                 const struct chat_occupant *occ,
                                 const struct xmpp_node *msg)
{
    struct xmpp_node *m = xmpp_node_copy(msg);
    char *from = chat_room_occupant_jid(r, occ->nick);
    if (!m || !from || xmpp_node_set_attr(m, "from", from) != PL_OK ||
        xmpp_node_set_attr(m, "to", NULL) != PL_OK) {
        free(from);
        xmpp_node_free(m);
        return NULL;
    }
    free(from);
    struct xmpp_node *c = m->children;
    while (c) {
        struct xmpp_node *next = c->next;
        if (server_claim(cs, c)) {
            xmpp_node_unlink(m, c);
            xmpp_node_free(c);
        }
        c = next;
    }
    struct xmpp_node *oid = xmpp_node_add(m, "occupant-id", XMPP_NS_OCCUPANT_ID);
    if (!oid || xmpp_node_set_attr(oid, "id", occ->occupant_id) != PL_OK) {
        xmpp_node_free(m);
        return NULL;
    }
    return m;
}

static void store(struct chat_server *cs, struct chat_room *r, struct chat_session *s,
                  struct chat_occupant *occ, struct xmpp_stanza *st, char *body,
                  struct db_edit *edit)
{
    struct pl_buf xml = PL_BUF_INIT;
    struct xmpp_node *out = chat_store_full(cs) ? NULL : reflect(cs, r, occ, st->node);
    struct db_job *job = out ? db_job_new(DB_JOB_ROOM_MSG_STORE) : NULL;
    struct chat_op *op = job ? chat_op_new(cs, s) : NULL;
    if (!out || !op || xmpp_node_serialize(out, NULL, &xml) != PL_OK ||
        !(op->room = strdup(r->jid)) || !(job->u.room_msg.room = strdup(r->jid)) ||
        !(job->u.room_msg.sender = strdup(s->user->bare_jid)) ||
        (st->id && !(job->u.room_msg.stanza_id = strdup(st->id))))
        goto fail;
    job->u.room_msg.body = body;
    body = NULL;
    job->u.room_msg.edit = *edit; /* the job owns its strings now */
    memset(edit, 0, sizeof(*edit));
    job->u.room_msg.stanza_xml = pl_buf_steal(&xml, NULL);
    if (!job->u.room_msg.stanza_xml)
        goto fail;
    op->request = out;
    op->stanza = st;
    job->owner = op;
    /* One shard per room: its messages commit in the order they came. */
    chat_submit(cs, job, r->jid);
    return;
fail:
    chat_reply_error(cs, s, st->node, "wait", "resource-constraint");
    pl_buf_free(&xml);
    free(body);
    db_edit_free(edit);
    xmpp_node_free(out);
    db_job_free(job);
    chat_op_free(cs, op);
    xmpp_stanza_free(st);
}

void chat_room_msg_stored(struct chat_server *cs, struct db_job *job, struct chat_op *op)
{
    struct chat_session *s = chat_op_session(cs, op);
    if (chat_moderate_stored(cs, job, op))
        return;
    /* An edit of a message not in the room, or not the sender's: nothing
     * was stored (chat_edit.c). */
    if (job->status == PL_OK &&
        chat_edit_refused(cs, s, op->stanza ? op->stanza->node : NULL,
                          &job->u.room_msg.edit))
        return;
    if (job->status != PL_OK) {
        pl_error(0, job->u.room_msg.room, "storing a room message failed: %s",
                 pl_strerror(job->status));
        if (s)
            chat_reply_error(cs, s, op->stanza->node, "wait", "internal-server-error");
        return;
    }
    struct chat_room *r = pl_map_get(&cs->rooms, op->room);
    struct xmpp_node *m = xmpp_node_copy(op->request);
    struct pl_frame *f = NULL;
    if (m && chat_add_stanza_id(m, job->u.room_msg.id, op->room) == PL_OK)
        f = chat_frame(m);
    xmpp_node_free(m);
    if (!f) {
        pl_error(0, op->room, "out of memory reflecting room message %lld (it is stored)",
                 (long long)job->u.room_msg.id);
        return;
    }
    if (!job->u.room_msg.inserted) {
        /* A retry of a message everyone had: its sender gets the
         * reflection again, nobody else a second copy. */
        struct chat_seat *seat = r && s ? chat_room_seat(r, s) : NULL;
        if (seat)
            chat_room_send_seat(cs, seat, job->u.room_msg.id, f);
    } else if (r) {
        chat_room_broadcast(cs, r, job->u.room_msg.id, f);
    }
    pl_frame_unref(f);
}

/* ---- subject --------------------------------------------------------------- */

struct pl_frame *chat_room_subject_frame(const struct chat_room *r)
{
    struct xmpp_node *m = xmpp_node_new("message", XMPP_NS_CLIENT);
    char *from = r->subject_by ? chat_room_occupant_jid(r, r->subject_by) : NULL;
    struct xmpp_node *subj = m ? xmpp_node_add(m, "subject", NULL) : NULL;
    struct pl_frame *f = NULL;
    if (subj && xmpp_node_set_attr(m, "type", "groupchat") == PL_OK &&
        xmpp_node_set_attr(m, "from", from ? from : r->jid) == PL_OK &&
        (!r->subject || xmpp_node_add_text(subj, r->subject) == PL_OK))
        f = chat_frame(m);
    free(from);
    xmpp_node_free(m);
    return f;
}

static void subject(struct chat_server *cs, struct chat_room *r, struct chat_session *s,
                    struct chat_seat *seat, struct xmpp_stanza *st,
                    struct xmpp_node *subj)
{
    if (!r->change_subject && seat->occ->role < CHAT_ROLE_MODERATOR) {
        chat_reply_error(cs, s, st->node, "auth", "forbidden");
        xmpp_stanza_free(st);
        return;
    }
    char *text = xmpp_node_text(subj);
    struct db_job *job = db_job_new(DB_JOB_ROOM_SUBJECT);
    struct chat_op *op = job ? chat_op_new(cs, s) : NULL;
    if (!text || !op || !(op->room = strdup(r->jid)) ||
        !(job->u.room_subject.room_id = strdup(r->id)) ||
        !(job->u.room_subject.by = strdup(seat->occ->nick))) {
        free(text);
        chat_reply_error(cs, s, st->node, "wait", "resource-constraint");
        xmpp_stanza_free(st);
        chat_op_free(cs, op);
        db_job_free(job);
        return;
    }
    if (*text)
        job->u.room_subject.subject = text;
    else
        free(text); /* an empty subject clears it */
    op->stanza = st;
    job->owner = op;
    chat_submit(cs, job, r->jid);
}

void chat_room_subject_done(struct chat_server *cs, struct db_job *job,
                            struct chat_op *op)
{
    struct chat_session *s = chat_op_session(cs, op);
    if (job->status != PL_OK) {
        if (s)
            chat_reply_error(cs, s, op->stanza->node, "wait", "internal-server-error");
        return;
    }
    struct chat_room *r = pl_map_get(&cs->rooms, op->room);
    if (!r)
        return;
    free(r->subject);
    free(r->subject_by);
    r->subject = job->u.room_subject.subject;
    r->subject_by = job->u.room_subject.by;
    job->u.room_subject.subject = NULL;
    job->u.room_subject.by = NULL;
    struct pl_frame *f = chat_room_subject_frame(r);
    if (f)
        chat_room_broadcast(cs, r, 0, f);
    pl_frame_unref(f);
}

/* ---- messages ---------------------------------------------------------------- */

/* XEP-0333 in a room: the marker names the room's stanza id of the message
 * displayed; the member's displayed position moves there. */
static void note_marker(struct chat_server *cs, struct chat_room *r,
                        struct chat_occupant *occ, const struct xmpp_node *msg)
{
    struct xmpp_node *d = xmpp_node_child(msg, "displayed", XMPP_NS_MARKERS);
    const char *id = d ? xmpp_node_attr(d, "id") : NULL;
    if (!id)
        return;
    char *end;
    errno = 0;
    long long v = strtoll(id, &end, 10);
    if (errno || end == id || *end || v <= 0)
        return; /* not one of our archive ids */
    chat_room_position(cs, r, occ->nick, 0, (int64_t)v);
}

/* One more message from occ within PARLEY_LIMIT_ROOM_MESSAGE_RATE (bursts
 * of five seconds' worth)? Every message an occupant sends counts: chat
 * states and markers are fanned out to everyone too. */
static int room_rate_ok(struct chat_server *cs, struct chat_occupant *occ)
{
    if (cs->room_message_rate <= 0)
        return 1;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + 1;
    double rate = cs->room_message_rate;
    return pl_bucket_take(&occ->rate, rate, 5 * rate, now, 1);
}

void chat_room_message(struct chat_server *cs, struct chat_room *r,
                       struct chat_session *s, struct xmpp_stanza *st)
{
    const char *type = st->type ? st->type : "normal";
    if (is(type, "error")) {
        xmpp_stanza_free(st);
        return;
    }
    struct chat_seat *seat = r->state == CHAT_ROOM_READY ? chat_room_seat(r, s) : NULL;
    if (r->state != CHAT_ROOM_READY) {
        chat_reply_error(cs, s, st->node, "cancel", "item-not-found");
    } else if (st->to.resource) {
        chat_room_private(cs, r, s, seat, st);
    } else if (!is(type, "groupchat") && chat_room_invitation(st->node)) {
        chat_room_invite(cs, r, s, seat, st);
    } else if (!is(type, "groupchat")) {
        /* Voice requests and other forms are not offered. */
        chat_reply_error(cs, s, st->node, "cancel", "feature-not-implemented");
    } else if (!seat) {
        /* XEP-0045 section 7.4: only occupants may send. */
        chat_reply_error(cs, s, st->node, "cancel", "not-acceptable");
    } else if (seat->occ->role < CHAT_ROLE_PARTICIPANT) {
        chat_reply_error(cs, s, st->node, "auth", "forbidden");
    } else if (st->id && strlen(st->id) > CHAT_ROOM_MAX_STANZA_ID) {
        chat_reply_error(cs, s, st->node, "modify", "bad-request");
    } else if (!room_rate_ok(cs, seat->occ)) {
        /* PARLEY_LIMIT_ROOM_MESSAGE_RATE: nothing stored, the sender is
         * told (as ejabberd's MUC does). */
        pl_metrics_limit(cs->metrics, PL_METRICS_LIMIT_ROOM_MESSAGES);
        chat_reply_error(cs, s, st->node, "wait", "resource-constraint");
    } else {
        struct xmpp_node *b = xmpp_node_child(st->node, "body", XMPP_NS_CLIENT);
        struct xmpp_node *subj = xmpp_node_child(st->node, "subject", XMPP_NS_CLIENT);
        /* XEP-0308, -0424, -0444, -0461 in a room (chat_edit.c). */
        struct db_edit edit = {0};
        const char *refuse = NULL;
        int edits = chat_edit_parse(st->node, b != NULL, &edit, &refuse);
        if (edits < 0) {
            chat_reply_error(cs, s, st->node,
                             strcmp(refuse, "resource-constraint") ? "modify" : "wait",
                             refuse);
        } else if (edits && !b) {
            store(cs, r, s, seat->occ, st, NULL, &edit); /* takes st */
            return;
        } else if (b) {
            char *body = xmpp_node_text(b);
            if (body) {
                store(cs, r, s, seat->occ, st, body, &edit); /* takes st and body */
                return;
            }
            db_edit_free(&edit);
            chat_reply_error(cs, s, st->node, "wait", "resource-constraint");
        } else if (subj) {
            subject(cs, r, s, seat, st, subj); /* takes st */
            return;
        } else {
            /* Chat states and markers: live only, never archived. */
            note_marker(cs, r, seat->occ, st->node);
            struct xmpp_node *out = reflect(cs, r, seat->occ, st->node);
            struct pl_frame *f = out ? chat_frame(out) : NULL;
            if (f)
                chat_room_broadcast(cs, r, 0, f);
            pl_frame_unref(f);
            xmpp_node_free(out);
        }
    }
    xmpp_stanza_free(st);
}

/* ---- history ----------------------------------------------------------------- */

static void held_free(struct chat_seat *seat)
{
    struct chat_held *h = seat->held_head;
    while (h) {
        struct chat_held *next = h->next;
        pl_frame_unref(h->frame);
        free(h);
        h = next;
    }
    seat->held_head = seat->held_tail = NULL;
    seat->held_bytes = 0;
}

static void backlog_free(struct chat_seat *seat)
{
    for (size_t i = 0; i < seat->backlog_count; i++)
        free(seat->backlog[i].stanza_xml);
    free(seat->backlog);
    free(seat->backlog_len);
    seat->backlog = NULL;
    seat->backlog_len = NULL;
    seat->backlog_count = seat->backlog_sent = seat->backlog_acked = 0;
    seat->inflight = 0;
}

void chat_room_history_free(struct chat_seat *seat)
{
    backlog_free(seat);
    held_free(seat);
}

void chat_room_history_hold(struct chat_seat *seat, int64_t id, struct pl_frame *f)
{
    struct chat_server *cs = seat->session->cs;
    if (!seat->missed && seat->held_bytes + f->len <= cs->send_window) {
        struct chat_held *h = malloc(sizeof(*h));
        if (h) {
            h->next = NULL;
            h->id = id;
            h->frame = pl_frame_ref(f);
            if (seat->held_tail)
                seat->held_tail->next = h;
            else
                seat->held_head = h;
            seat->held_tail = h;
            seat->held_bytes += f->len;
            return;
        }
    }
    /* Over the bound: nothing more is held, and what was is dropped too;
     * after the history, one more load from the archive brings them all
     * in order. */
    for (struct chat_held *h = seat->held_head; h; h = h->next)
        if (!seat->lowest_missed || h->id < seat->lowest_missed)
            seat->lowest_missed = h->id;
    if (!seat->lowest_missed || id < seat->lowest_missed)
        seat->lowest_missed = id;
    held_free(seat);
    seat->missed = 1;
}

static void submit_history(struct chat_server *cs, struct chat_seat *seat,
                           int make_member, int64_t after_id, int limit)
{
    struct chat_room *r = seat->occ->room;
    struct chat_session *s = seat->session;
    struct db_job *job = db_job_new(DB_JOB_ROOM_JOIN);
    struct chat_op *op = job ? chat_op_new(cs, s) : NULL;
    seat->gen = ++cs->next_serial;
    seat->phase = CHAT_SEAT_LOADING;
    if (!op || !(op->room = strdup(r->jid)) ||
        !(job->u.room_join.room_id = strdup(r->id)) ||
        !(job->u.room_join.username = strdup(seat->occ->nick))) {
        pl_error(xmpp_stream_conn_id(s->stream), r->jid,
                 "out of memory loading room history (it stays in the archive)");
        chat_op_free(cs, op);
        db_job_free(job);
        seat->phase = CHAT_SEAT_SENDING;
        chat_room_history_written(cs, seat, 0);
        return;
    }
    job->u.room_join.make_member = make_member;
    job->u.room_join.limit = limit;
    job->u.room_join.first_limit = CHAT_ROOM_FIRST_HISTORY;
    job->u.room_join.since_us = seat->since_us;
    job->u.room_join.after_id = after_id;
    job->owner = op;
    job->owner_gen = seat->gen;
    /* The room's shard: after every message of the room stored before the
     * seat was added; those stored after reach it live. */
    chat_submit(cs, job, r->jid);
}

void chat_room_history_start(struct chat_server *cs, struct chat_seat *seat,
                             int make_member)
{
    int limit = seat->limit;
    /* A second session of someone already in the room: their position is
     * the first session's, so it gets recent history, not a catch-up. */
    if (seat->recent && limit > CHAT_ROOM_FIRST_HISTORY)
        limit = CHAT_ROOM_FIRST_HISTORY;
    submit_history(cs, seat, make_member, seat->recent ? 0 : -1, limit);
}

/* Queues one history message with its XEP-0203 delay and the room's
 * XEP-0359 id; returns the bytes queued, 0 if it could not be sent. */
static size_t send_stored(struct chat_server *cs, struct chat_seat *seat,
                          const struct db_offline_msg *m)
{
    struct chat_room *r = seat->occ->room;
    struct xmpp_node *msg = NULL;
    enum xmpp_parse_error why;
    if (xmpp_parse(cs->parser, m->stanza_xml, strlen(m->stanza_xml), XMPP_NS_CLIENT, &msg,
                   &why) != PL_OK) {
        pl_error(0, r->jid, "stored room message %lld does not parse", (long long)m->id);
        return 0;
    }
    char stamp[40];
    chat_format_stamp(m->created_at_us, stamp, sizeof(stamp));
    struct xmpp_node *delay = xmpp_node_add(msg, "delay", XMPP_NS_DELAY);
    struct pl_frame *f = NULL;
    size_t sent = 0;
    if (delay && xmpp_node_set_attr(delay, "from", r->jid) == PL_OK &&
        xmpp_node_set_attr(delay, "stamp", stamp) == PL_OK &&
        chat_add_stanza_id(msg, m->id, r->jid) == PL_OK && (f = chat_frame(msg)) &&
        chat_room_send_tagged(seat->session, r, m->id, f) == PL_OK)
        sent = f->len;
    pl_frame_unref(f);
    xmpp_node_free(msg);
    return sent;
}

/* The history is out: the subject (which tells the client the join is
 * complete), then what was held, and the seat is live. */
static void go_live(struct chat_server *cs, struct chat_seat *seat)
{
    struct chat_room *r = seat->occ->room;
    struct pl_frame *f = chat_room_subject_frame(r);
    if (f)
        xmpp_stream_send_frame(seat->session->stream, f, 0);
    pl_frame_unref(f);
    seat->phase = CHAT_SEAT_LIVE;
    struct chat_held *h = seat->held_head;
    seat->held_head = seat->held_tail = NULL;
    seat->held_bytes = 0;
    while (h) {
        struct chat_held *next = h->next;
        chat_room_send_tagged(seat->session, r, h->id, h->frame);
        pl_frame_unref(h->frame);
        free(h);
        h = next;
    }
}

static void pump(struct chat_server *cs, struct chat_seat *seat)
{
    while (seat->backlog_sent < seat->backlog_count && seat->inflight < cs->send_window &&
           !xmpp_stream_is_closing(seat->session->stream)) {
        size_t len = send_stored(cs, seat, &seat->backlog[seat->backlog_sent]);
        seat->backlog_len[seat->backlog_sent++] = len;
        seat->inflight += len;
    }
    while (seat->backlog_acked < seat->backlog_sent &&
           seat->backlog_len[seat->backlog_acked] == 0)
        seat->backlog_acked++;
    if (seat->backlog_acked < seat->backlog_count)
        return; /* more to send, or to be written */
    backlog_free(seat);
    if (seat->missed) {
        /* Live messages were let go while this was sent: they are all in
         * the archive, after the cursor. */
        int64_t after = seat->cursor;
        if (seat->lowest_missed - 1 > after)
            after = seat->lowest_missed - 1;
        seat->missed = 0;
        seat->lowest_missed = 0;
        submit_history(cs, seat, 0, after, cs->room_catchup_max);
        return;
    }
    go_live(cs, seat);
}

void chat_room_history_written(struct chat_server *cs, struct chat_seat *seat, int64_t id)
{
    if (id > 0 && (seat->backlog_acked >= seat->backlog_sent ||
                   seat->backlog[seat->backlog_acked].id != id))
        return; /* not the history's next frame */
    if (id > 0) {
        seat->inflight -= seat->backlog_len[seat->backlog_acked];
        seat->backlog_acked++;
    }
    pump(cs, seat);
}

/* Drops held live copies of messages the history brings anyway. */
static void drop_held_in(struct chat_seat *seat, const struct db_offline_msg *msgs,
                         size_t count)
{
    struct chat_held **p = &seat->held_head;
    seat->held_tail = NULL;
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
            seat->held_bytes -= h->frame->len;
            pl_frame_unref(h->frame);
            free(h);
        } else {
            seat->held_tail = h;
            p = &h->next;
        }
    }
}

void chat_room_history_loaded(struct chat_server *cs, struct db_job *job,
                              struct chat_op *op)
{
    struct chat_session *s = chat_op_session(cs, op);
    struct chat_room *r = s ? pl_map_get(&cs->rooms, op->room) : NULL;
    struct chat_seat *seat = r ? chat_room_seat(r, s) : NULL;
    if (!seat || seat->gen != job->owner_gen || seat->phase != CHAT_SEAT_LOADING)
        return; /* left meanwhile: the history stays in the archive */
    struct db_room_join_job *j = &job->u.room_join;
    size_t n = job->status == PL_OK ? j->count : 0;
    if (job->status != PL_OK)
        pl_error(xmpp_stream_conn_id(s->stream), r->jid,
                 "loading room history failed: %s", pl_strerror(job->status));
    /* maxchars (XEP-0045 section 7.2.15): the newest that fit. */
    size_t first = 0;
    if (seat->maxchars >= 0) {
        size_t total = 0;
        first = n;
        while (first > 0 &&
               total + strlen(j->msgs[first - 1].stanza_xml) <= (size_t)seat->maxchars) {
            total += strlen(j->msgs[first - 1].stanza_xml);
            first--;
        }
        seat->maxchars = -1; /* a reload after missed messages is not cut */
    }
    seat->phase = CHAT_SEAT_SENDING;
    size_t keep = n - first;
    size_t *lens = keep ? calloc(keep, sizeof(*lens)) : NULL;
    struct db_offline_msg *msgs = keep ? calloc(keep, sizeof(*msgs)) : NULL;
    if (keep && (!lens || !msgs)) {
        free(lens);
        free(msgs);
        keep = 0;
    }
    for (size_t i = 0; i < keep; i++) {
        msgs[i] = j->msgs[first + i];
        j->msgs[first + i].stanza_xml = NULL;
    }
    if (keep) {
        seat->backlog = msgs;
        seat->backlog_len = lens;
        seat->backlog_count = keep;
        if (msgs[keep - 1].id > seat->cursor)
            seat->cursor = msgs[keep - 1].id;
        drop_held_in(seat, msgs, keep);
    }
    pump(cs, seat);
}
