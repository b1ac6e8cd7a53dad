/* XEP-0425 moderation (urn:xmpp:message-moderate:1): a room's moderator
 * (an owner, an admin, or an occupant whose role is moderator) retracts
 * anyone's message with an iq to the room. The room sends every occupant
 * an XEP-0424 retraction from its own JID with <moderated by=room/nick/>,
 * stored as a room message (so members who are away get it at catch-up,
 * and MAM returns it) by the same statement that leaves a tombstone in
 * place of the message and writes the audit row (parley_store_edit,
 * migrations/0009_message_edits.sql). The moderator's iq is answered when
 * that has committed. */
#include "chat_room.h"

#include "pl_buf.h"
#include "pl_error.h"
#include "pl_log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The moderation op's data: the iq to answer. */
struct chat_moderation {
    struct xmpp_node *iq;
};

static void moderation_free(void *data)
{
    struct chat_moderation *m = data;
    if (!m)
        return;
    xmpp_node_free(m->iq);
    free(m);
}

static int may_moderate(const struct chat_room *r, const struct chat_session *s)
{
    struct chat_seat *seat = chat_room_seat(r, s);
    return (seat && seat->occ->role >= CHAT_ROLE_MODERATOR) ||
           chat_room_aff(r, s->user->username) >= CHAT_AFF_ADMIN;
}

/* The retraction every occupant gets (XEP-0425 section 5). */
static struct xmpp_node *announcement(const struct chat_room *r,
                                      const struct chat_session *s, const char *target,
                                      const char *reason, char **by_out)
{
    struct chat_seat *seat = chat_room_seat(r, s);
    char *by = chat_room_occupant_jid(r, s->user->username);
    char id[64];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* Unique enough for clients to tell messages apart; the store does
     * not deduplicate it (no stanza id is given to it). */
    snprintf(id, sizeof(id), "moderation-%" PRIx64 "-%lx",
             (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec,
             (unsigned long)(uintptr_t)s);
    struct xmpp_node *m = xmpp_node_new("message", XMPP_NS_CLIENT);
    struct xmpp_node *rt = m ? xmpp_node_add(m, "retract", XMPP_NS_RETRACT) : NULL;
    struct xmpp_node *mod = rt ? xmpp_node_add(rt, "moderated", XMPP_NS_MODERATE) : NULL;
    int ok = mod && by && xmpp_node_set_attr(m, "type", "groupchat") == PL_OK &&
             xmpp_node_set_attr(m, "from", r->jid) == PL_OK &&
             xmpp_node_set_attr(m, "id", id) == PL_OK &&
             xmpp_node_set_attr(rt, "id", target) == PL_OK &&
             xmpp_node_set_attr(mod, "by", by) == PL_OK;
    if (ok && seat) {
        struct xmpp_node *oid = xmpp_node_add(mod, "occupant-id", XMPP_NS_OCCUPANT_ID);
        ok = oid && xmpp_node_set_attr(oid, "id", seat->occ->occupant_id) == PL_OK;
    }
    if (ok && reason) {
        struct xmpp_node *rn = xmpp_node_add(rt, "reason", NULL);
        ok = rn && xmpp_node_add_text(rn, reason) == PL_OK;
    }
    if (!ok) {
        free(by);
        xmpp_node_free(m);
        return NULL;
    }
    *by_out = by;
    return m;
}

void chat_moderate_iq(struct chat_server *cs, struct chat_room *r, struct chat_session *s,
                      const struct xmpp_stanza *st, const struct xmpp_node *q)
{
    const char *target = xmpp_node_attr(q, "id");
    struct xmpp_node *rn = xmpp_node_child(q, "reason", NULL);
    if (!target || !*target || strlen(target) > 1024 ||
        !xmpp_node_child(q, "retract", XMPP_NS_RETRACT)) {
        chat_reply_error(cs, s, st->node, "modify", "bad-request");
        return;
    }
    if (!may_moderate(r, s)) {
        chat_reply_error(cs, s, st->node, "auth", "forbidden");
        return;
    }
    char *reason = rn ? xmpp_node_text(rn) : NULL;
    char *by = NULL;
    struct pl_buf xml = PL_BUF_INIT;
    struct xmpp_node *out =
        announcement(r, s, target, reason && *reason ? reason : NULL, &by);
    struct db_job *job = db_job_new(DB_JOB_ROOM_MSG_STORE);
    struct chat_op *op = job ? chat_op_new(cs, s) : NULL;
    struct chat_moderation *md = calloc(1, sizeof(*md));
    struct db_room_msg_job *m = job ? &job->u.room_msg : NULL;
    if (!out || !op || !md || (rn && !reason) ||
        xmpp_node_serialize(out, NULL, &xml) != PL_OK ||
        !(md->iq = xmpp_node_copy(st->node)) || !(op->room = strdup(r->jid)) ||
        !(m->room = strdup(r->jid)) || !(m->sender = strdup(s->user->bare_jid)) ||
        !(m->edit.kind = strdup("moderate")) || !(m->edit.ref = strdup(target)) ||
        !(m->stanza_xml = pl_buf_steal(&xml, NULL)))
        goto fail;
    if (reason && *reason) {
        m->edit.reason = reason;
        reason = NULL;
    }
    m->edit.moderated_by = by;
    by = NULL;
    free(reason);
    op->request = out;
    op->data = md;
    op->data_free = moderation_free;
    job->owner = op;
    chat_submit(cs, job, r->jid);
    return;
fail:
    chat_reply_error(cs, s, st->node, "wait", "resource-constraint");
    pl_buf_free(&xml);
    free(reason);
    free(by);
    moderation_free(md);
    xmpp_node_free(out);
    db_job_free(job);
    chat_op_free(cs, op);
}

int chat_moderate_stored(struct chat_server *cs, struct db_job *job, struct chat_op *op)
{
    if (op->data_free != moderation_free)
        return 0;
    struct chat_moderation *md = op->data;
    struct chat_session *s = chat_op_session(cs, op);
    if (job->status != PL_OK) {
        pl_error(0, job->u.room_msg.room, "storing a moderation failed: %s",
                 pl_strerror(job->status));
        if (s)
            chat_reply_error(cs, s, md->iq, "wait", "internal-server-error");
        return 1;
    }
    if (chat_edit_refused(cs, s, md->iq, &job->u.room_msg.edit))
        return 1;
    if (s) {
        struct xmpp_node *res = xmpp_stanza_iq_result(md->iq, op->room);
        if (res)
            xmpp_stream_send(s->stream, res, 0);
        xmpp_node_free(res);
    }
    return 0; /* the room message's completion broadcasts it */
}
