/* The admin API's room changes, reaching the rooms this node has loaded.
 * The API writes PostgreSQL and, in the same transaction, notifies
 * `parley_admin` (0008_room_events.sql); the store's listener turns the
 * notification into DB_EVENT_ROOM or DB_EVENT_ROOM_MESSAGE and the loop
 * acts on it here, on its own thread, as kicks and disables are acted on
 * (chat_admin.c). Every node gets every notification and acts on the rooms
 * it has in memory; a room not loaded needs nothing: its next load reads
 * the store.
 *
 * A change is not applied from the notification's words but by reading
 * the room again (a DB_JOB_ROOM_LOAD on the room's shard, so after every
 * job of the room submitted before) and telling the occupants what
 * differs, as XEP-0045 says for the same change made over XMPP: 104 for a
 * new configuration, 322 for non-members of a room now members-only, the
 * new affiliation in a presence, 321 and 301 for who has to go, and the
 * destruction presence when the room is gone. Changes made over XMPP on
 * another node arrive the same way (0008 has the room jobs notify too),
 * with a new subject sent to the occupants. Reading again is idempotent:
 * a notification seen twice, or a change this node already applied, tells
 * nobody anything twice. */
#include "chat_room.h"

#include "pl_error.h"
#include "pl_log.h"

#include <stdlib.h>
#include <string.h>

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

void chat_room_reload(struct chat_server *cs, struct chat_room *r)
{
    if (r->reloading) {
        r->stale = 1; /* read again when this one is in */
        return;
    }
    struct db_job *job = db_job_new(DB_JOB_ROOM_LOAD);
    struct chat_op *op = job ? chat_op_new(cs, NULL) : NULL;
    if (!op || !(op->room = strdup(r->jid)) || !(job->u.room_load.jid = strdup(r->jid))) {
        pl_error(0, r->jid, "out of memory reading a changed room again");
        chat_op_free(cs, op);
        db_job_free(job);
        return;
    }
    r->stale = 0;
    r->reloading = 1;
    job->owner = op;
    chat_submit(cs, job, r->jid);
}

void chat_room_event(struct chat_server *cs, const struct db_room_event *ev)
{
    struct chat_room *r = pl_map_get(&cs->rooms, ev->jid);
    if (!r)
        return; /* not loaded here: its next load reads the change */
    if (r->state == CHAT_ROOM_LOADING || r->state == CHAT_ROOM_CREATING)
        r->stale = 1; /* loaded() reads it again */
    else if (r->state == CHAT_ROOM_READY)
        chat_room_reload(cs, r);
}

/* The occupant's role for a new affiliation, as chat_room_admin.c gives
 * it for the same change over XMPP. */
static enum chat_role role_for(enum chat_aff aff, enum chat_role role)
{
    if (aff >= CHAT_AFF_ADMIN)
        return CHAT_ROLE_MODERATOR;
    return role == CHAT_ROLE_MODERATOR ? CHAT_ROLE_PARTICIPANT : role;
}

static const char *const admin_actor_reason = "Changed by an administrator";

/* <reason/> for the presence of who was acted on (no <actor/>: the admin
 * API is nobody in the room). */
static struct xmpp_node *reason_extra(void)
{
    struct xmpp_node *extra = xmpp_node_new("extra", NULL);
    struct xmpp_node *rn = extra ? xmpp_node_add(extra, "reason", NULL) : NULL;
    if (rn)
        xmpp_node_add_text(rn, admin_actor_reason);
    return extra;
}

/* The configuration of l into r; 1 if something occupants see changed. */
static int take_config(struct chat_room *r, struct db_room_load_job *l)
{
    int changed =
        !same_str(r->name, l->name) || !same_str(r->description, l->description) ||
        r->members_only != l->members_only || r->public_room != l->public_room ||
        r->change_subject != l->change_subject;
    free(r->name);
    free(r->description);
    r->name = l->name;
    r->description = l->description;
    l->name = l->description = NULL;
    r->members_only = l->members_only;
    r->public_room = l->public_room;
    r->change_subject = l->change_subject;
    return changed;
}

void chat_room_reloaded(struct chat_server *cs, struct chat_room *r, struct db_job *job)
{
    r->reloading = 0;
    struct db_room_load_job *l = &job->u.room_load;
    if (job->status != PL_OK) {
        pl_warn(0, r->jid, "reading a changed room again failed: %s",
                pl_strerror(job->status));
        if (r->stale)
            chat_room_reload(cs, r);
        chat_room_release(cs, r);
        return;
    }
    if (!l->found || strcmp(l->id, r->id) != 0) {
        /* Deleted (a room made again under the same name is another room:
         * this one's occupants were in the one that went). */
        chat_room_destroyed(cs, r, NULL, "The room was deleted by an administrator",
                            "an administrator");
        return;
    }
    int was_members_only = r->members_only;
    int config_changed = take_config(r, l);
    /* A subject set on another node (0008's statements notify it too). */
    int subject_changed =
        !same_str(r->subject, l->subject) || !same_str(r->subject_by, l->subject_by);
    if (subject_changed) {
        free(r->subject);
        free(r->subject_by);
        r->subject = l->subject;
        r->subject_by = l->subject_by;
        l->subject = l->subject_by = NULL;
    }
    struct pl_map old = r->affs;
    r->affs = (struct pl_map)PL_MAP_INIT;
    for (size_t i = 0; i < l->naffs; i++) {
        enum chat_aff aff;
        if (chat_aff_parse(l->affs[i].affiliation, &aff) == PL_OK)
            chat_room_set_aff(r, l->affs[i].username, aff);
    }
    if (config_changed)
        chat_room_status_message(cs, r, 104);
    if (subject_changed) {
        struct pl_frame *f = chat_room_subject_frame(r);
        if (f)
            chat_room_broadcast(cs, r, 0, f);
        pl_frame_unref(f);
    }
    struct xmpp_node *extra = reason_extra();
    struct chat_occupant *o = r->occupants;
    while (o) {
        struct chat_occupant *next = o->next;
        enum chat_aff was = (enum chat_aff)(uintptr_t)pl_map_get(&old, o->nick);
        enum chat_aff now = chat_room_aff(r, o->nick);
        int code = 0;
        if (now == CHAT_AFF_OUTCAST)
            code = 301; /* banned */
        else if (r->members_only && now < CHAT_AFF_MEMBER)
            /* 321: their affiliation went; 322: the room became
             * members-only without them. */
            code = was != now || was_members_only ? 321 : 322;
        if (code) {
            chat_room_remove(cs, r, o, &code, 1, extra);
        } else if (was != now) {
            o->role = role_for(now, o->role);
            chat_room_occupant_changed(cs, r, o);
        }
        o = next;
    }
    xmpp_node_free(extra);
    pl_map_free(&old);
    if (r->stale)
        chat_room_reload(cs, r);
    chat_room_release(cs, r);
}

void chat_room_event_message(struct chat_server *cs,
                             const struct db_room_message_event *ev)
{
    struct chat_room *r = pl_map_get(&cs->rooms, ev->room);
    /* Not loaded, or still loading: whoever joins gets it in the history
     * (the join's read comes after this commit). */
    if (!r || r->state != CHAT_ROOM_READY || !r->occupants)
        return;
    struct xmpp_node *msg = NULL;
    enum xmpp_parse_error why;
    if (xmpp_parse(cs->parser, ev->stanza_xml, strlen(ev->stanza_xml), XMPP_NS_CLIENT,
                   &msg, &why) != PL_OK) {
        pl_error(0, r->jid, "admin room message %lld does not parse", (long long)ev->id);
        return;
    }
    /* From room/username: that user's occupant id, as an occupant's own
     * message carries it (XEP-0421). */
    const char *from = xmpp_node_attr(msg, "from");
    const char *slash = from ? strchr(from, '/') : NULL;
    int ok = 1;
    if (slash && slash[1]) {
        char oid[40];
        chat_room_occupant_id(r, slash + 1, oid, sizeof(oid));
        struct xmpp_node *n = xmpp_node_add(msg, "occupant-id", XMPP_NS_OCCUPANT_ID);
        ok = n && xmpp_node_set_attr(n, "id", oid) == PL_OK;
    }
    struct pl_frame *f = NULL;
    if (ok && chat_add_stanza_id(msg, ev->id, r->jid) == PL_OK)
        f = chat_frame(msg);
    xmpp_node_free(msg);
    if (!f) {
        pl_error(0, r->jid,
                 "out of memory sending admin room message %lld (it is stored)",
                 (long long)ev->id);
        return;
    }
    /* One frame for every seat, as chat_room_msg_stored sends an
     * occupant's message, except to a seat whose history already brought
     * it (it joined after the commit); a seat whose history is still
     * loading holds it, and drops it if the history brings it. */
    for (struct chat_occupant *o = r->occupants; o; o = o->next)
        for (struct chat_seat *st = o->seats; st; st = st->next_in_occ)
            if (st->cursor < ev->id)
                chat_room_send_seat(cs, st, ev->id, f);
    pl_frame_unref(f);
}
