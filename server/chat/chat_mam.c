/* The message archive over XMPP (XEP-0313 urn:xmpp:mam:2 with XEP-0059
 * paging and the #extended fields, XEP-0431 full text): a user's own
 * archive of direct messages, at their bare JID, and a room's, at the
 * room's JID (its members only: chat_room_admin.c checks). A query is
 * checked here and becomes one store job (DB_JOB_MAM_QUERY); the page comes
 * back as <result/> messages and a <fin/> whose `complete` is true only on
 * the last page in the direction read. Archiving is always on: the
 * preferences say `always` and cannot be changed. */
#include "chat_room.h"

#include "pl_buf.h"
#include "pl_error.h"
#include "pl_log.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A query id is echoed in every result; it need not be long. */
#define CHAT_MAM_MAX_QUERYID 256
#define CHAT_MAM_FULLTEXT_VAR "{" XMPP_NS_FULLTEXT "}fulltext"

static int is(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static void send_node(struct chat_session *s, struct xmpp_node *n)
{
    if (n)
        xmpp_stream_send(s->stream, n, 0);
    xmpp_node_free(n);
}

static int digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

int chat_parse_stamp(const char *s, int64_t *us)
{
    return chat_parse_stamp_unit(s, us, NULL);
}

int chat_parse_stamp_unit(const char *s, int64_t *us, int64_t *unit)
{
    /* CCYY-MM-DDThh:mm:ss[.sss]TZD, TZD = Z or (+|-)hh:mm (XEP-0082). */
    if (strlen(s) < 20 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) ||
        s[7] != '-' || !digits(s + 8, 2) || s[10] != 'T' || !digits(s + 11, 2) ||
        s[13] != ':' || !digits(s + 14, 2) || s[16] != ':' || !digits(s + 17, 2))
        return PL_EINVAL;
    struct tm tm = {0};
    tm.tm_year = atoi(s) - 1900;
    tm.tm_mon = atoi(s + 5) - 1;
    tm.tm_mday = atoi(s + 8);
    tm.tm_hour = atoi(s + 11);
    tm.tm_min = atoi(s + 14);
    tm.tm_sec = atoi(s + 17);
    if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return PL_EINVAL;
    const char *p = s + 19;
    int64_t frac = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        while (isdigit((unsigned char)*p)) {
            if (n < 6) {
                frac = frac * 10 + (*p - '0');
                n++;
            }
            p++;
        }
        if (n == 0)
            return PL_EINVAL;
        if (unit)
            *unit = 1;
        while (n++ < 6) {
            frac *= 10;
            if (unit)
                *unit *= 10;
        }
    } else if (unit) {
        *unit = 1000000;
    }
    long offset = 0;
    if (*p == 'Z') {
        p++;
    } else if ((*p == '+' || *p == '-') && digits(p + 1, 2) && p[3] == ':' &&
               digits(p + 4, 2)) {
        offset = (atoi(p + 1) * 60 + atoi(p + 4)) * 60L * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return PL_EINVAL;
    }
    if (*p)
        return PL_EINVAL;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return PL_EINVAL;
    *us = ((int64_t)t - offset) * 1000000 + frac;
    return PL_OK;
}

/* An archive id as clients hand it back: our decimal ids only. */
static int parse_id(const char *s, int64_t *out)
{
    if (!s || !*s || !digits(s, (int)strlen(s)) || strlen(s) > 18)
        return PL_EINVAL;
    *out = strtoll(s, NULL, 10);
    return *out > 0 ? PL_OK : PL_EINVAL;
}

/* ---- the query ------------------------------------------------------------- */

struct mam_refusal {
    const char *type;
    const char *condition;
};

/* The bare JID that `with` names in this archive: a user's conversation
 * partner, or in a room an occupant (room/nick, whose nick is the
 * username) or a user's bare JID. */
static int with_jid(struct chat_server *cs, const char *room, const char *v, char **out)
{
    struct xmpp_jid j;
    if (xmpp_jid_parse(v, &j) != PL_OK)
        return PL_EINVAL;
    int rc = PL_OK;
    if (room && is(j.domain, cs->muc_domain) && j.resource) {
        char *bare = xmpp_jid_bare(&j);
        if (!is(bare, room) || xmpp_jid_normalize_local(j.resource, out) != PL_OK) {
            rc = PL_EINVAL;
        } else {
            char *user = *out;
            *out = chat_bare_jid(cs, user);
            free(user);
            rc = *out ? PL_OK : PL_ENOMEM;
        }
        free(bare);
    } else {
        /* XEP-0313 section 4.1.1: a full JID matches only that resource;
         * the archive keeps bare JIDs, so it matches the account. */
        struct xmpp_jid b = {j.local, j.domain, NULL};
        *out = xmpp_jid_bare(&b);
        rc = *out ? PL_OK : PL_ENOMEM;
    }
    xmpp_jid_free(&j);
    return rc;
}

static const struct mam_refusal *parse_form(struct chat_server *cs, const char *room,
                                            const struct xmpp_node *x,
                                            struct db_mam_query_job *q)
{
    static const struct mam_refusal bad = {"modify", "bad-request"};
    static const struct mam_refusal unknown = {"cancel", "item-not-found"};
    if (!is(xmpp_node_attr(x, "type"), "submit"))
        return &bad;
    for (const struct xmpp_node *f = x->children; f; f = f->next) {
        if (!f->name || strcmp(f->name, "field") != 0)
            continue;
        const char *var = xmpp_node_attr(f, "var");
        int bad_value = 0;
        if (is(var, "ids")) {
            /* text-multi: every value an id of ours */
            size_t n = 0;
            for (const struct xmpp_node *v = f->children; v; v = v->next)
                n += v->name && strcmp(v->name, "value") == 0;
            if (n == 0 || n > (size_t)cs->mam_max_page || q->ids)
                return &bad;
            if (!(q->ids = calloc(n, sizeof(*q->ids))))
                return &bad;
            for (const struct xmpp_node *v = f->children; v; v = v->next) {
                if (!v->name || strcmp(v->name, "value") != 0)
                    continue;
                char *t = xmpp_node_text(v);
                int rc = parse_id(t, &q->ids[q->nids]);
                free(t);
                if (rc != PL_OK)
                    return &unknown;
                q->nids++;
            }
            continue;
        }
        char *v = chat_form_value(f, &bad_value);
        const struct mam_refusal *refuse = NULL;
        if (bad_value) {
            refuse = &bad;
        } else if (is(var, "FORM_TYPE")) {
            if (!is(v, XMPP_NS_MAM))
                refuse = &bad;
        } else if (is(var, "with")) {
            if (q->with || with_jid(cs, room, v, &q->with) != PL_OK)
                refuse = &bad;
        } else if (is(var, "start")) {
            q->has_start = 1;
            if (chat_parse_stamp(v, &q->start_us) != PL_OK)
                refuse = &bad;
        } else if (is(var, "end")) {
            /* Inclusive to the precision given: the archive keeps
             * microseconds, clients see milliseconds (or seconds), and a
             * message's own stamp as `end` must include it. */
            int64_t unit = 1;
            q->has_end = 1;
            if (chat_parse_stamp_unit(v, &q->end_us, &unit) != PL_OK)
                refuse = &bad;
            else
                q->end_us += unit - 1;
        } else if (is(var, "after-id") || is(var, "before-id")) {
            int after = is(var, "after-id");
            int64_t id;
            if (parse_id(v, &id) != PL_OK)
                refuse = &unknown;
            else if (after && (!q->has_after || id > q->after_id))
                q->has_after = 1, q->after_id = id;
            else if (!after && (!q->has_before || id < q->before_id))
                q->has_before = 1, q->before_id = id;
        } else if (is(var, CHAT_MAM_FULLTEXT_VAR)) {
            if (q->text || !*v)
                refuse = &bad;
            else
                q->text = v, v = NULL;
        } else {
            refuse = &bad; /* a field this archive does not have */
        }
        free(v);
        if (refuse)
            return refuse;
    }
    return NULL;
}

/* XEP-0059: max, after, before (empty: the last page). */
static const struct mam_refusal *parse_rsm(struct chat_server *cs,
                                           const struct xmpp_node *set,
                                           struct db_mam_query_job *q, int *explicit_max)
{
    static const struct mam_refusal bad = {"modify", "bad-request"};
    static const struct mam_refusal unknown = {"cancel", "item-not-found"};
    static const struct mam_refusal noindex = {"cancel", "feature-not-implemented"};
    for (const struct xmpp_node *c = set->children; c; c = c->next) {
        if (!c->name)
            continue;
        char *t = xmpp_node_text(c);
        const struct mam_refusal *refuse = NULL;
        int64_t id = 0;
        if (!t) {
            refuse = &bad;
        } else if (strcmp(c->name, "max") == 0) {
            char *end;
            errno = 0;
            long n = strtol(t, &end, 10);
            if (errno || end == t || *end || n < 0)
                refuse = &bad;
            else
                q->max = n > cs->mam_max_page ? cs->mam_max_page : (int)n;
            *explicit_max = 1;
        } else if (strcmp(c->name, "after") == 0) {
            if (parse_id(t, &id) != PL_OK)
                refuse = &unknown;
            else if (!q->has_after || id > q->after_id)
                q->has_after = 1, q->after_id = id;
        } else if (strcmp(c->name, "before") == 0) {
            if (!*t)
                q->last_page = 1;
            else if (parse_id(t, &id) != PL_OK)
                refuse = &unknown;
            else if (!q->has_before || id < q->before_id)
                q->has_before = 1, q->before_id = id;
        } else if (strcmp(c->name, "index") == 0) {
            refuse = &noindex;
        } else {
            refuse = &bad;
        }
        free(t);
        if (refuse)
            return refuse;
    }
    return NULL;
}

/* The fields a client may use (XEP-0313 section 4.1.5). */
static void form_fields(struct chat_server *cs, struct chat_session *s,
                        const struct xmpp_node *iq, const char *self)
{
    struct xmpp_node *res = xmpp_stanza_iq_result(iq, self);
    struct xmpp_node *q = res ? xmpp_node_add(res, "query", XMPP_NS_MAM) : NULL;
    struct xmpp_node *x = q ? xmpp_node_add(q, "x", XMPP_NS_DATA) : NULL;
    int ok = x && xmpp_node_set_attr(x, "type", "form") == PL_OK &&
             chat_form_field(x, "FORM_TYPE", "hidden", NULL, XMPP_NS_MAM) &&
             chat_form_field(x, "with", "jid-single", NULL, NULL) &&
             chat_form_field(x, "start", "text-single", NULL, NULL) &&
             chat_form_field(x, "end", "text-single", NULL, NULL) &&
             chat_form_field(x, "before-id", "text-single", NULL, NULL) &&
             chat_form_field(x, "after-id", "text-single", NULL, NULL) &&
             chat_form_field(x, "ids", "text-multi", NULL, NULL) &&
             chat_form_field(x, CHAT_MAM_FULLTEXT_VAR, "text-single", NULL, NULL);
    if (!ok) {
        xmpp_node_free(res);
        chat_reply_error(cs, s, iq, "wait", "resource-constraint");
        return;
    }
    send_node(s, res);
}

/* Archiving is an organisation's record: always on, for everyone. */
static void prefs(struct chat_server *cs, struct chat_session *s,
                  const struct xmpp_node *iq, const struct xmpp_node *p, int get,
                  const char *self)
{
    if (!get) {
        int same = is(xmpp_node_attr(p, "default"), "always");
        for (const struct xmpp_node *c = p->children; same && c; c = c->next)
            if (c->name && c->children)
                same = 0; /* a JID to treat otherwise */
        if (!same) {
            chat_reply_error(cs, s, iq, "cancel", "not-allowed");
            return;
        }
    }
    struct xmpp_node *res = xmpp_stanza_iq_result(iq, self);
    struct xmpp_node *q = res ? xmpp_node_add(res, "prefs", XMPP_NS_MAM) : NULL;
    if (!q || xmpp_node_set_attr(q, "default", "always") != PL_OK ||
        !xmpp_node_add(q, "always", NULL) || !xmpp_node_add(q, "never", NULL)) {
        xmpp_node_free(res);
        chat_reply_error(cs, s, iq, "wait", "resource-constraint");
        return;
    }
    send_node(s, res);
}

int chat_mam_parse_query(struct chat_server *cs, const char *room,
                         const struct xmpp_node *payload, struct db_mam_query_job *q,
                         const char **type, const char **condition)
{
    const char *queryid = xmpp_node_attr(payload, "queryid");
    q->max = cs->mam_max_page;
    const struct mam_refusal *refuse = NULL;
    static const struct mam_refusal bad = {"modify", "bad-request"};
    int explicit_max = 0;
    if (queryid && strlen(queryid) > CHAT_MAM_MAX_QUERYID)
        refuse = &bad;
    for (const struct xmpp_node *c = payload->children; !refuse && c; c = c->next) {
        if (!c->name)
            continue;
        if (strcmp(c->name, "x") == 0 && is(c->ns, XMPP_NS_DATA))
            refuse = parse_form(cs, room, c, q);
        else if (strcmp(c->name, "set") == 0 && is(c->ns, XMPP_NS_RSM))
            refuse = parse_rsm(cs, c, q, &explicit_max);
        else if (strcmp(c->name, "flip-page") == 0)
            q->flip = 1; /* the page in reverse order */
        else
            refuse = &bad;
    }
    if (!refuse && q->has_start && q->has_end && q->start_us > q->end_us)
        refuse = &bad;
    if (!refuse && q->ids && q->max < (int)q->nids)
        q->max = (int)q->nids;
    if (refuse) {
        *type = refuse->type;
        *condition = refuse->condition;
        return PL_EINVAL;
    }
    return PL_OK;
}

void chat_mam_handle(struct chat_server *cs, struct chat_session *s,
                     const struct xmpp_stanza *st, const char *room)
{
    const struct xmpp_node *iq = st->node;
    const char *self = room ? room : s->user->bare_jid;
    int get = is(st->type, "get");
    struct xmpp_node *payload = xmpp_node_child_ns(iq, XMPP_NS_MAM);
    if (!payload) {
        chat_reply_error(cs, s, iq, "modify", "bad-request");
        return;
    }
    if (strcmp(payload->name, "prefs") == 0) {
        prefs(cs, s, iq, payload, get, self);
        return;
    }
    if (strcmp(payload->name, "query") != 0) {
        chat_reply_error(cs, s, iq, "cancel", "feature-not-implemented");
        return;
    }
    if (get) {
        form_fields(cs, s, iq, self);
        return;
    }
    const char *queryid = xmpp_node_attr(payload, "queryid");
    struct db_job *job = db_job_new(DB_JOB_MAM_QUERY);
    struct chat_op *op = job ? chat_op_new(cs, s) : NULL;
    struct db_mam_query_job *q = job ? &job->u.mam : NULL;
    if (!op || !(op->request = xmpp_node_copy(iq)) || !(q->owner = strdup(self)) ||
        (queryid && !(q->queryid = strdup(queryid)))) {
        chat_op_free(cs, op);
        db_job_free(job);
        chat_reply_error(cs, s, iq, "wait", "resource-constraint");
        return;
    }
    q->room = room != NULL;
    const char *type = NULL, *condition = NULL;
    if (chat_mam_parse_query(cs, room, payload, q, &type, &condition) != PL_OK) {
        chat_reply_error(cs, s, iq, type, condition);
        chat_op_free(cs, op);
        db_job_free(job);
        return;
    }
    job->owner = op;
    /* By archive: a user's queries run after the messages they stored. */
    chat_submit(cs, job, self);
}

/* ---- the answer -------------------------------------------------------------- */

/* One <result/> message; returns its size, 0 if it could not be sent. */
static size_t send_result(struct chat_server *cs, struct chat_session *s,
                          const struct db_mam_query_job *q,
                          const struct db_offline_msg *m)
{
    struct xmpp_node *stored = NULL;
    enum xmpp_parse_error why;
    if (xmpp_parse(cs->parser, m->stanza_xml, strlen(m->stanza_xml), XMPP_NS_CLIENT,
                   &stored, &why) != PL_OK) {
        pl_error(xmpp_stream_conn_id(s->stream), q->owner,
                 "archived message %lld does not parse", (long long)m->id);
        return 0;
    }
    char id[24], stamp[40];
    snprintf(id, sizeof(id), "%lld", (long long)m->id);
    chat_format_stamp(m->created_at_us, stamp, sizeof(stamp));
    struct xmpp_node *msg = xmpp_node_new("message", XMPP_NS_CLIENT);
    struct xmpp_node *res = msg ? xmpp_node_add(msg, "result", XMPP_NS_MAM) : NULL;
    struct xmpp_node *fwd = res ? xmpp_node_add(res, "forwarded", XMPP_NS_FORWARD) : NULL;
    struct xmpp_node *delay = fwd ? xmpp_node_add(fwd, "delay", XMPP_NS_DELAY) : NULL;
    struct pl_buf out = PL_BUF_INIT;
    size_t sent = 0;
    if (delay &&
        xmpp_node_set_attr(msg, "to", xmpp_stream_full_jid(s->stream)) == PL_OK &&
        xmpp_node_set_attr(msg, "from", q->owner) == PL_OK &&
        (!q->queryid || xmpp_node_set_attr(res, "queryid", q->queryid) == PL_OK) &&
        xmpp_node_set_attr(res, "id", id) == PL_OK &&
        xmpp_node_set_attr(delay, "stamp", stamp) == PL_OK) {
        xmpp_node_append(fwd, stored);
        stored = NULL;
        if (xmpp_node_serialize(msg, NULL, &out) == PL_OK &&
            xmpp_stream_send_bytes(s->stream, out.data, out.len, 0) == PL_OK)
            sent = out.len;
    }
    pl_buf_free(&out);
    xmpp_node_free(stored);
    xmpp_node_free(msg);
    return sent;
}

static int add_text_child(struct xmpp_node *parent, const char *name, int64_t id)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%lld", (long long)id);
    struct xmpp_node *c = xmpp_node_add(parent, name, NULL);
    return c && xmpp_node_add_text(c, buf) == PL_OK ? PL_OK : PL_ENOMEM;
}

void chat_mam_done(struct chat_server *cs, struct db_job *job, struct chat_op *op)
{
    struct chat_session *s = chat_op_session(cs, op);
    if (!s)
        return;
    const struct db_mam_query_job *q = &job->u.mam;
    if (job->status != PL_OK) {
        pl_error(xmpp_stream_conn_id(s->stream), q->owner, "archive query failed: %s",
                 pl_strerror(job->status));
        chat_reply_error(cs, s, op->request, "wait", "internal-server-error");
        return;
    }
    if (q->unknown_id) {
        /* XEP-0059 section 2.5: an id that is not in this result set. */
        chat_reply_error(cs, s, op->request, "cancel", "item-not-found");
        return;
    }
    /* A page never overflows the send queue: at most half the send window
     * of results; the rest is the next page. Cut at the far end from where
     * the page starts (the oldest when paging backward). */
    int backward = q->has_before || q->last_page;
    size_t lo = 0, hi = q->count, budget = cs->send_window / 2, total = 0;
    int cut = 0;
    if (!backward) {
        for (hi = 0; hi < q->count; hi++) {
            size_t len = strlen(q->msgs[hi].stanza_xml) + 300;
            if (hi > 0 && total + len > budget) {
                cut = 1;
                break;
            }
            total += len;
        }
    } else {
        for (lo = q->count; lo > 0; lo--) {
            size_t len = strlen(q->msgs[lo - 1].stanza_xml) + 300;
            if (lo < q->count && total + len > budget) {
                cut = 1;
                break;
            }
            total += len;
        }
    }
    int flip = q->flip;
    for (size_t k = 0; k < hi - lo; k++)
        send_result(cs, s, q, &q->msgs[flip ? hi - 1 - k : lo + k]);
    int complete = q->ids ? 1 : !q->more && !cut;
    struct xmpp_node *res = xmpp_stanza_iq_result(op->request, q->owner);
    struct xmpp_node *fin = res ? xmpp_node_add(res, "fin", XMPP_NS_MAM) : NULL;
    struct xmpp_node *set = fin ? xmpp_node_add(fin, "set", XMPP_NS_RSM) : NULL;
    int ok = set && (!complete || xmpp_node_set_attr(fin, "complete", "true") == PL_OK);
    if (ok && hi > lo) {
        ok = add_text_child(set, "first", q->msgs[lo].id) == PL_OK &&
             add_text_child(set, "last", q->msgs[hi - 1].id) == PL_OK;
    }
    if (!ok) {
        xmpp_node_free(res);
        chat_reply_error(cs, s, op->request, "wait", "resource-constraint");
        return;
    }
    send_node(s, res);
}
