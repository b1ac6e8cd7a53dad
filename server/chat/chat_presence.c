/* Presence from the client (initial, updates, unavailable) as far as this
 * server tracks it now: who is online with what show/status, written to the
 * sessions table through the store, and the start of offline delivery after
 * the initial presence (RFC 6121 section 4.2; the backlog itself is
 * chat_offline.c's). Roster subscriptions and broadcast come with rosters. */
#include "chat_internal.h"

#include "pl_buf.h"
#include "pl_error.h"
#include "pl_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
    if (!st->type) {
        /* Available after unavailable is an initial presence again (RFC
         * 6121 section 4.2): what was stored meanwhile is delivered now. */
        int initial = !s->available;
        s->priority = parse_priority(st->node);
        s->available = 1;
        submit_presence(cs, s, 1, 0, child_text(st->node, "show"),
                        child_text(st->node, "status"));
        if (initial)
            chat_offline_start(cs, s);
    } else if (strcmp(st->type, "unavailable") == 0 && s->available) {
        s->available = 0;
        submit_presence(cs, s, 0, 0, NULL, NULL);
    }
    chat_room_own_presence(cs, s, st); /* the rooms it is in see it too */
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
