/* Iqs to a room (XEP-0045): disco#info and #items, XEP-0410 self-ping,
 * the owner's configuration form (section 10.1-10.2) and destruction
 * (10.9), the admin use cases (kick, voice, affiliation changes and lists:
 * sections 8 and 9), and the room's archive (XEP-0313, members only).
 * Only owners and admins (and, for roles, moderators) may change anything;
 * everyone else gets `forbidden`. */
#include "chat_room.h"

#include "pl_buf.h"
#include "pl_error.h"
#include "pl_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- x data forms (XEP-0004) ---------------------------------------------- */

struct xmpp_node *chat_form_field(struct xmpp_node *form, const char *var,
                                  const char *type, const char *label, const char *value)
{
    struct xmpp_node *f = xmpp_node_add(form, "field", NULL);
    if (!f || xmpp_node_set_attr(f, "var", var) != PL_OK ||
        (type && xmpp_node_set_attr(f, "type", type) != PL_OK) ||
        (label && xmpp_node_set_attr(f, "label", label) != PL_OK))
        return NULL;
    if (value) {
        struct xmpp_node *v = xmpp_node_add(f, "value", NULL);
        if (!v || xmpp_node_add_text(v, value) != PL_OK)
            return NULL;
    }
    return f;
}

char *chat_form_value(const struct xmpp_node *field, int *bad)
{
    const struct xmpp_node *v = NULL;
    int n = 0;
    for (const struct xmpp_node *c = field->children; c; c = c->next) {
        if (c->name && strcmp(c->name, "value") == 0) {
            v = c;
            n++;
        }
    }
    if (n != 1) {
        *bad = 1;
        return NULL;
    }
    char *text = xmpp_node_text(v);
    if (!text)
        *bad = 1;
    return text;
}

int chat_form_bool(const char *v, int *out)
{
    if (is(v, "1") || is(v, "true")) {
        *out = 1;
        return PL_OK;
    }
    if (is(v, "0") || is(v, "false")) {
        *out = 0;
        return PL_OK;
    }
    return PL_EINVAL;
}

/* ---- disco ----------------------------------------------------------------- */

static int add_feature(struct xmpp_node *q, const char *var)
{
    struct xmpp_node *f = xmpp_node_add(q, "feature", NULL);
    return f && xmpp_node_set_attr(f, "var", var) == PL_OK ? PL_OK : PL_ENOMEM;
}

static void room_info(struct chat_server *cs, struct chat_room *r, struct chat_session *s,
                      const struct xmpp_node *iq)
{
    const char *features[] = {
        XMPP_NS_DISCO_INFO,
        XMPP_NS_DISCO_ITEMS,
        XMPP_NS_MUC,
        "muc_persistent",
        r->members_only ? "muc_membersonly" : "muc_open",
        r->public_room ? "muc_public" : "muc_hidden",
        "muc_nonanonymous",
        "muc_unmoderated",
        "muc_unsecured",
        XMPP_NS_MAM,
        XMPP_NS_MAM_EXT,
        XMPP_NS_FULLTEXT,
        XMPP_NS_OCCUPANT_ID,
        XMPP_NS_SELF_PING,
        XMPP_NS_SID,
        XMPP_NS_PING,
        /* edits of the room's messages (chat_edit.c, chat_moderate.c) */
        XMPP_NS_CORRECT,
        XMPP_NS_RETRACT,
        XMPP_NS_RETRACT_TOMBSTONE,
        XMPP_NS_MODERATE,
        XMPP_NS_REACTIONS,
        XMPP_NS_REPLY,
    };
    struct xmpp_node *res = xmpp_stanza_iq_result(iq, r->jid);
    struct xmpp_node *q = res ? xmpp_node_add(res, "query", XMPP_NS_DISCO_INFO) : NULL;
    struct xmpp_node *id = q ? xmpp_node_add(q, "identity", NULL) : NULL;
    int ok = id && xmpp_node_set_attr(id, "category", "conference") == PL_OK &&
             xmpp_node_set_attr(id, "type", "text") == PL_OK &&
             xmpp_node_set_attr(id, "name", r->name ? r->name : r->localpart) == PL_OK;
    for (size_t i = 0; ok && i < sizeof(features) / sizeof(*features); i++)
        ok = add_feature(q, features[i]) == PL_OK;
    struct xmpp_node *x = ok ? xmpp_node_add(q, "x", XMPP_NS_DATA) : NULL;
    char count[24];
    snprintf(count, sizeof(count), "%zu", r->noccupants);
    ok = x && xmpp_node_set_attr(x, "type", "result") == PL_OK &&
         chat_form_field(x, "FORM_TYPE", "hidden", NULL, XMPP_NS_MUC_INFO) &&
         chat_form_field(x, "muc#roominfo_description", NULL, "Description",
                         r->description ? r->description : "") &&
         chat_form_field(x, "muc#roominfo_subject", NULL, "Subject",
                         r->subject ? r->subject : "") &&
         chat_form_field(x, "muc#roominfo_occupants", NULL, "Occupants", count) &&
         chat_form_field(x, "muc#roomconfig_roomname", NULL, "Name",
                         r->name ? r->name : "");
    /* XEP-0444 section 6.1: how many reactions a user may keep on one message. */
    struct xmpp_node *rx = ok ? xmpp_node_add(q, "x", XMPP_NS_DATA) : NULL;
    char max_reactions[16];
    snprintf(max_reactions, sizeof(max_reactions), "%d", CHAT_REACTIONS_MAX);
    ok = rx && xmpp_node_set_attr(rx, "type", "result") == PL_OK &&
         chat_form_field(rx, "FORM_TYPE", "hidden", NULL,
                         XMPP_NS_REACTIONS ":restrictions") &&
         chat_form_field(rx, "max_reactions_per_user", NULL, NULL, max_reactions);
    if (!ok) {
        xmpp_node_free(res);
        chat_reply_error(cs, s, iq, "wait", "resource-constraint");
        return;
    }
    send_node(s, res);
}

/* Occupants are listed to those who may see them: occupants and members. */
static void room_items(struct chat_server *cs, struct chat_room *r,
                       struct chat_session *s, const struct xmpp_node *iq)
{
    struct xmpp_node *res = xmpp_stanza_iq_result(iq, r->jid);
    struct xmpp_node *q = res ? xmpp_node_add(res, "query", XMPP_NS_DISCO_ITEMS) : NULL;
    int ok = q != NULL;
    int may =
        chat_room_seat(r, s) || chat_room_aff(r, s->user->username) >= CHAT_AFF_MEMBER;
    for (struct chat_occupant *o = may ? r->occupants : NULL; ok && o; o = o->next) {
        char *j = chat_room_occupant_jid(r, o->nick);
        struct xmpp_node *it = xmpp_node_add(q, "item", NULL);
        ok = j && it && xmpp_node_set_attr(it, "jid", j) == PL_OK &&
             xmpp_node_set_attr(it, "name", o->nick) == PL_OK;
        free(j);
    }
    if (!ok) {
        xmpp_node_free(res);
        chat_reply_error(cs, s, iq, "wait", "resource-constraint");
        return;
    }
    send_node(s, res);
}

/* ---- the owner's configuration form ------------------------------------ */

static void config_form(struct chat_server *cs, struct chat_room *r,
                        struct chat_session *s, const struct xmpp_node *iq)
{
    struct xmpp_node *res = xmpp_stanza_iq_result(iq, r->jid);
    struct xmpp_node *q = res ? xmpp_node_add(res, "query", XMPP_NS_MUC_OWNER) : NULL;
    struct xmpp_node *x = q ? xmpp_node_add(q, "x", XMPP_NS_DATA) : NULL;
    struct xmpp_node *t = x ? xmpp_node_add(x, "title", NULL) : NULL;
    struct xmpp_node *whois = NULL;
    int ok = t && xmpp_node_set_attr(x, "type", "form") == PL_OK &&
             xmpp_node_add_text(t, "Room configuration") == PL_OK &&
             chat_form_field(x, "FORM_TYPE", "hidden", NULL, XMPP_NS_MUC_CONFIG) &&
             chat_form_field(x, "muc#roomconfig_roomname", "text-single", "Name",
                             r->name ? r->name : "") &&
             chat_form_field(x, "muc#roomconfig_roomdesc", "text-single", "Description",
                             r->description ? r->description : "") &&
             chat_form_field(x, "muc#roomconfig_membersonly", "boolean",
                             "Only members may join", r->members_only ? "1" : "0") &&
             chat_form_field(x, "muc#roomconfig_publicroom", "boolean",
                             "Listed for everyone", r->public_room ? "1" : "0") &&
             chat_form_field(x, "muc#roomconfig_changesubject", "boolean",
                             "Occupants may change the subject",
                             r->change_subject ? "1" : "0") &&
             chat_form_field(x, "muc#roomconfig_persistentroom", "boolean",
                             "Persistent (always)", "1") &&
             chat_form_field(x, "muc#roomconfig_enablearchiving", "boolean",
                             "Archived (always)", "1") &&
             (whois = chat_form_field(x, "muc#roomconfig_whois", "list-single",
                                      "Who may see members' addresses", "anyone"));
    struct xmpp_node *opt = whois ? xmpp_node_add(whois, "option", NULL) : NULL;
    struct xmpp_node *ov = opt ? xmpp_node_add(opt, "value", NULL) : NULL;
    if (!ok || !ov || xmpp_node_set_attr(opt, "label", "Anyone") != PL_OK ||
        xmpp_node_add_text(ov, "anyone") != PL_OK) {
        xmpp_node_free(res);
        chat_reply_error(cs, s, iq, "wait", "resource-constraint");
        return;
    }
    send_node(s, res);
}

/* Reads a submitted form into job (which starts as the room's config).
 * Returns NULL, or the condition to refuse it with. */
static const char *parse_config(const struct xmpp_node *x, struct db_room_config_job *c)
{
    for (const struct xmpp_node *f = x->children; f; f = f->next) {
        if (!f->name)
            continue;
        if (strcmp(f->name, "field") != 0)
            continue; /* <title/>, <instructions/> */
        const char *var = xmpp_node_attr(f, "var");
        const char *type = xmpp_node_attr(f, "type");
        int bad = 0;
        if (!var)
            return "bad-request";
        int boolean = is(var, "muc#roomconfig_membersonly") ||
                      is(var, "muc#roomconfig_publicroom") ||
                      is(var, "muc#roomconfig_changesubject") ||
                      is(var, "muc#roomconfig_persistentroom") ||
                      is(var, "muc#roomconfig_enablearchiving");
        int text =
            is(var, "muc#roomconfig_roomname") || is(var, "muc#roomconfig_roomdesc");
        if (is(var, "FORM_TYPE")) {
            char *v = chat_form_value(f, &bad);
            int right = !bad && is(v, XMPP_NS_MUC_CONFIG);
            free(v);
            if (!right)
                return "bad-request";
        } else if (boolean) {
            if (type && !is(type, "boolean"))
                return "bad-request";
            char *v = chat_form_value(f, &bad);
            int b = 0;
            int rc = bad ? PL_EINVAL : chat_form_bool(v, &b);
            free(v);
            if (rc != PL_OK)
                return "bad-request";
            if (is(var, "muc#roomconfig_membersonly"))
                c->members_only = b;
            else if (is(var, "muc#roomconfig_publicroom"))
                c->public_room = b;
            else if (is(var, "muc#roomconfig_changesubject"))
                c->change_subject = b;
            else if (!b)
                return "not-acceptable"; /* rooms are always persistent and archived */
        } else if (text) {
            if (type && !is(type, "text-single"))
                return "bad-request";
            int nvalues = 0;
            for (const struct xmpp_node *v = f->children; v; v = v->next)
                nvalues += v->name && strcmp(v->name, "value") == 0;
            char *v = nvalues ? chat_form_value(f, &bad) : NULL;
            if (bad)
                return "bad-request";
            char **slot = is(var, "muc#roomconfig_roomname") ? &c->name : &c->description;
            free(*slot);
            *slot = v && *v ? v : NULL;
            if (v && !*v)
                free(v);
        } else if (is(var, "muc#roomconfig_whois")) {
            if (type && !is(type, "list-single"))
                return "bad-request";
            char *v = chat_form_value(f, &bad);
            int anyone = !bad && is(v, "anyone");
            free(v);
            if (bad)
                return "bad-request";
            if (!anyone)
                return "not-acceptable"; /* not anonymous: the nick is the username */
        } else {
            return "bad-request"; /* a field this room does not have */
        }
    }
    return NULL;
}

static void configure(struct chat_server *cs, struct chat_room *r, struct chat_session *s,
                      struct xmpp_stanza *st, const struct xmpp_node *x)
{
    const char *type = xmpp_node_attr(x, "type");
    if (is(type, "cancel")) {
        send_node(s, xmpp_stanza_iq_result(st->node, r->jid));
        return;
    }
    if (!is(type, "submit")) {
        chat_reply_error(cs, s, st->node, "modify", "bad-request");
        return;
    }
    struct db_job *job = db_job_new(DB_JOB_ROOM_CONFIG);
    struct chat_op *op = job ? chat_op_new(cs, s) : NULL;
    if (!op || !(op->room = strdup(r->jid)) ||
        !(op->request = xmpp_node_copy(st->node)) ||
        !(job->u.room_config.room_id = strdup(r->id)) ||
        (r->name && !(job->u.room_config.name = strdup(r->name))) ||
        (r->description && !(job->u.room_config.description = strdup(r->description)))) {
        chat_op_free(cs, op);
        db_job_free(job);
        chat_reply_error(cs, s, st->node, "wait", "resource-constraint");
        return;
    }
    struct db_room_config_job *c = &job->u.room_config;
    c->members_only = r->members_only;
    c->public_room = r->public_room;
    c->change_subject = r->change_subject;
    const char *refuse = parse_config(x, c);
    if (refuse) {
        chat_op_free(cs, op);
        db_job_free(job);
        chat_reply_error(cs, s, st->node, is(refuse, "bad-request") ? "modify" : "cancel",
                         refuse);
        return;
    }
    job->owner = op;
    chat_submit(cs, job, r->jid);
}

/* A status-only message from the room to its occupants (104: the
 * configuration changed). */
void chat_room_status_message(struct chat_server *cs, struct chat_room *r, int code)
{
    struct xmpp_node *m = xmpp_node_new("message", XMPP_NS_CLIENT);
    struct xmpp_node *x = m ? xmpp_node_add(m, "x", XMPP_NS_MUC_USER) : NULL;
    struct xmpp_node *st = x ? xmpp_node_add(x, "status", NULL) : NULL;
    char buf[8];
    snprintf(buf, sizeof(buf), "%d", code);
    struct pl_frame *f = NULL;
    if (st && xmpp_node_set_attr(m, "type", "groupchat") == PL_OK &&
        xmpp_node_set_attr(m, "from", r->jid) == PL_OK &&
        xmpp_node_set_attr(st, "code", buf) == PL_OK)
        f = chat_frame(m);
    if (f)
        chat_room_broadcast(cs, r, 0, f);
    pl_frame_unref(f);
    xmpp_node_free(m);
}

void chat_room_config_done(struct chat_server *cs, struct db_job *job, struct chat_op *op)
{
    struct chat_session *s = chat_op_session(cs, op);
    struct chat_room *r = pl_map_get(&cs->rooms, op->room);
    if (job->status != PL_OK || !r) {
        if (s)
            chat_reply_error(cs, s, op->request, "wait", "internal-server-error");
        return;
    }
    struct db_room_config_job *c = &job->u.room_config;
    int now_members_only = c->members_only && !r->members_only;
    free(r->name);
    free(r->description);
    r->name = c->name;
    r->description = c->description;
    c->name = c->description = NULL;
    r->members_only = c->members_only;
    r->public_room = c->public_room;
    r->change_subject = c->change_subject;
    if (s)
        send_node(s, xmpp_stanza_iq_result(op->request, r->jid));
    chat_room_status_message(cs, r, 104);
    if (now_members_only) {
        /* Section 9.? (322): whoever is not a member has to go. */
        struct chat_occupant *o = r->occupants;
        while (o) {
            struct chat_occupant *next = o->next;
            if (chat_room_aff(r, o->nick) < CHAT_AFF_MEMBER) {
                int code = 322;
                chat_room_remove(cs, r, o, &code, 1, NULL);
            }
            o = next;
        }
    }
    chat_room_release(cs, r);
}

/* ---- destruction ----------------------------------------------------------- */

static void destroy(struct chat_server *cs, struct chat_room *r, struct chat_session *s,
                    struct xmpp_stanza *st)
{
    struct db_job *job = db_job_new(DB_JOB_ROOM_DESTROY);
    struct chat_op *op = job ? chat_op_new(cs, s) : NULL;
    if (!op || !(op->room = strdup(r->jid)) ||
        !(op->request = xmpp_node_copy(st->node)) ||
        !(job->u.room_destroy.room_id = strdup(r->id))) {
        chat_op_free(cs, op);
        db_job_free(job);
        chat_reply_error(cs, s, st->node, "wait", "resource-constraint");
        return;
    }
    job->owner = op;
    chat_submit(cs, job, r->jid);
}

void chat_room_destroy_done(struct chat_server *cs, struct db_job *job,
                            struct chat_op *op)
{
    struct chat_session *s = chat_op_session(cs, op);
    struct chat_room *r = pl_map_get(&cs->rooms, op->room);
    if (job->status != PL_OK || !r) {
        if (s)
            chat_reply_error(cs, s, op->request, "wait", "internal-server-error");
        return;
    }
    /* XEP-0045 section 10.9: every occupant is told, with the alternate
     * venue and the reason the owner gave. */
    struct xmpp_node *q = xmpp_node_child(op->request, "query", XMPP_NS_MUC_OWNER);
    struct xmpp_node *d = q ? xmpp_node_child(q, "destroy", NULL) : NULL;
    const char *alt = d ? xmpp_node_attr(d, "jid") : NULL;
    struct xmpp_node *reason = d ? xmpp_node_child(d, "reason", NULL) : NULL;
    char *why = reason ? xmpp_node_text(reason) : NULL;
    /* r may be freed by this: the answer names op->room. */
    chat_room_destroyed(cs, r, alt, why, op->user ? op->user : "-");
    free(why);
    if (s)
        send_node(s, xmpp_stanza_iq_result(op->request, op->room));
}

void chat_room_destroyed(struct chat_server *cs, struct chat_room *r, const char *alt,
                         const char *why, const char *by)
{
    struct xmpp_node *extra = xmpp_node_new("extra", NULL);
    struct xmpp_node *nd = extra ? xmpp_node_add(extra, "destroy", NULL) : NULL;
    if (nd && alt)
        xmpp_node_set_attr(nd, "jid", alt);
    if (nd && why && *why) {
        struct xmpp_node *rn = xmpp_node_add(nd, "reason", NULL);
        if (rn)
            xmpp_node_add_text(rn, why);
    }
    pl_map_free(&r->affs);
    r->affs = (struct pl_map)PL_MAP_INIT;
    while (r->occupants)
        chat_room_remove(cs, r, r->occupants, NULL, 0, extra);
    xmpp_node_free(extra);
    r->state = CHAT_ROOM_MISSING;
    r->id[0] = '\0';
    pl_info(0, r->jid, "room destroyed by %s", by);
    chat_room_release(cs, r);
}

static void owner(struct chat_server *cs, struct chat_room *r, struct chat_session *s,
                  struct xmpp_stanza *st, const struct xmpp_node *q, int get)
{
    if (chat_room_aff(r, s->user->username) != CHAT_AFF_OWNER) {
        chat_reply_error(cs, s, st->node, "auth", "forbidden");
        return;
    }
    if (get) {
        config_form(cs, r, s, st->node);
        return;
    }
    struct xmpp_node *x = xmpp_node_child(q, "x", XMPP_NS_DATA);
    if (xmpp_node_child(q, "destroy", NULL))
        destroy(cs, r, s, st);
    else if (x)
        configure(cs, r, s, st, x);
    else
        chat_reply_error(cs, s, st->node, "modify", "bad-request");
}

/* ---- the admin use cases ---------------------------------------------------- */

/* <actor nick=.../> and <reason/>, for the presence of who was acted on. */
static struct xmpp_node *actor_extra(const char *nick, const struct xmpp_node *item)
{
    struct xmpp_node *extra = xmpp_node_new("extra", NULL);
    struct xmpp_node *actor = extra ? xmpp_node_add(extra, "actor", NULL) : NULL;
    if (!actor || xmpp_node_set_attr(actor, "nick", nick) != PL_OK) {
        xmpp_node_free(extra);
        return NULL;
    }
    struct xmpp_node *reason = item ? xmpp_node_child(item, "reason", NULL) : NULL;
    char *why = reason ? xmpp_node_text(reason) : NULL;
    if (why && *why) {
        struct xmpp_node *rn = xmpp_node_add(extra, "reason", NULL);
        if (rn)
            xmpp_node_add_text(rn, why);
    }
    free(why);
    return extra;
}

/* Role changes (kick, voice, moderator): in memory, at once. */
static const char *set_role(struct chat_server *cs, struct chat_room *r,
                            struct chat_session *s, const struct xmpp_node *item,
                            int apply)
{
    const char *nick = xmpp_node_attr(item, "nick");
    const char *role_s = xmpp_node_attr(item, "role");
    enum chat_aff actor_aff = chat_room_aff(r, s->user->username);
    struct chat_seat *seat = chat_room_seat(r, s);
    int moderator =
        (seat && seat->occ->role == CHAT_ROLE_MODERATOR) || actor_aff >= CHAT_AFF_ADMIN;
    enum chat_role role;
    if (!nick || !role_s)
        return "bad-request";
    if (is(role_s, "none"))
        role = CHAT_ROLE_NONE;
    else if (is(role_s, "visitor"))
        role = CHAT_ROLE_VISITOR;
    else if (is(role_s, "participant"))
        role = CHAT_ROLE_PARTICIPANT;
    else if (is(role_s, "moderator"))
        role = CHAT_ROLE_MODERATOR;
    else
        return "bad-request";
    if (!moderator || (role == CHAT_ROLE_MODERATOR && actor_aff < CHAT_AFF_ADMIN))
        return "forbidden";
    struct chat_occupant *target = chat_room_occupant(r, nick);
    if (!target)
        return "item-not-found";
    enum chat_aff taff = chat_room_aff(r, target->nick);
    /* Section 8.2: admins and owners are not kicked or silenced by a
     * moderator (nor by each other). */
    if (role < CHAT_ROLE_PARTICIPANT && taff >= CHAT_AFF_ADMIN)
        return "not-allowed";
    if (!apply)
        return NULL;
    const char *actor = seat ? seat->occ->nick : s->user->username;
    if (role == CHAT_ROLE_NONE) {
        struct xmpp_node *extra = actor_extra(actor, item);
        int code = 307;
        chat_room_remove(cs, r, target, &code, 1, extra);
        xmpp_node_free(extra);
    } else if (target->role != role) {
        target->role = role;
        chat_room_occupant_changed(cs, r, target);
    }
    return NULL;
}

/* An affiliation item's user, checked against what the actor may do. */
static const char *check_affiliation(struct chat_server *cs, struct chat_room *r,
                                     struct chat_session *s, const struct xmpp_node *item,
                                     char **username, enum chat_aff *aff)
{
    const char *jid = xmpp_node_attr(item, "jid");
    const char *aff_s = xmpp_node_attr(item, "affiliation");
    if (!jid || !aff_s || chat_aff_parse(aff_s, aff) != PL_OK)
        return "bad-request";
    struct xmpp_jid j;
    if (xmpp_jid_parse(jid, &j) != PL_OK)
        return "jid-malformed";
    int local = j.local && strcmp(j.domain, cs->domain) == 0;
    *username = local ? strdup(j.local) : NULL;
    xmpp_jid_free(&j);
    if (!local)
        return "not-acceptable"; /* only this server's users belong to its rooms */
    if (!*username)
        return "resource-constraint";
    enum chat_aff actor = chat_room_aff(r, s->user->username);
    enum chat_aff current = chat_room_aff(r, *username);
    if (actor < CHAT_AFF_ADMIN)
        return "forbidden";
    /* Sections 9 and 10: admins manage members and outcasts below them;
     * owners manage everyone, admins and owners included. */
    if (actor == CHAT_AFF_ADMIN && (*aff >= CHAT_AFF_ADMIN || current >= CHAT_AFF_ADMIN))
        return "not-allowed";
    return NULL;
}

static void affiliations(struct chat_server *cs, struct chat_room *r,
                         struct chat_session *s, struct xmpp_stanza *st,
                         const struct xmpp_node *q, size_t n)
{
    struct db_job *job = db_job_new(DB_JOB_ROOM_AFFILIATIONS);
    struct chat_op *op = job ? chat_op_new(cs, s) : NULL;
    struct db_room_affiliations_job *a = job ? &job->u.room_affiliations : NULL;
    const char *refuse = NULL;
    if (!op || !(op->room = strdup(r->jid)) ||
        !(op->request = xmpp_node_copy(st->node)) || !(a->room_id = strdup(r->id)) ||
        !(a->usernames = calloc(n, sizeof(char *))) ||
        !(a->affiliations = calloc(n, sizeof(char *))) ||
        !(a->reasons = calloc(n, sizeof(char *)))) {
        refuse = "resource-constraint";
        goto out;
    }
    a->count = n;
    size_t i = 0;
    for (const struct xmpp_node *it = q->children; !refuse && it; it = it->next) {
        if (!it->name || strcmp(it->name, "item") != 0)
            continue;
        enum chat_aff aff;
        refuse = check_affiliation(cs, r, s, it, &a->usernames[i], &aff);
        if (refuse)
            break;
        struct xmpp_node *reason = xmpp_node_child(it, "reason", NULL);
        if ((aff != CHAT_AFF_NONE &&
             !(a->affiliations[i] = strdup(chat_aff_name(aff)))) ||
            (reason && !(a->reasons[i] = xmpp_node_text(reason))))
            refuse = "resource-constraint";
        i++;
    }
out:
    if (refuse) {
        chat_reply_error(cs, s, st->node,
                         is(refuse, "forbidden")             ? "auth"
                         : is(refuse, "resource-constraint") ? "wait"
                         : is(refuse, "bad-request") || is(refuse, "jid-malformed")
                             ? "modify"
                             : "cancel",
                         refuse);
        chat_op_free(cs, op);
        db_job_free(job);
        return;
    }
    job->owner = op;
    chat_submit(cs, job, r->jid);
}

void chat_room_affiliations_done(struct chat_server *cs, struct db_job *job,
                                 struct chat_op *op)
{
    struct chat_session *s = chat_op_session(cs, op);
    struct chat_room *r = pl_map_get(&cs->rooms, op->room);
    struct db_room_affiliations_job *a = &job->u.room_affiliations;
    if (job->status != PL_OK || !r) {
        if (s)
            chat_reply_error(cs, s, op->request, "wait", "internal-server-error");
        return;
    }
    if (a->conflict) {
        /* Section 10.6: the last owner cannot go. */
        if (s)
            chat_reply_error(cs, s, op->request, "cancel", "conflict");
        return;
    }
    struct chat_seat *seat = s ? chat_room_seat(r, s) : NULL;
    const char *actor = seat ? seat->occ->nick : op->user ? op->user : "";
    for (size_t i = 0; i < a->count; i++) {
        enum chat_aff aff = CHAT_AFF_NONE;
        if (a->affiliations[i])
            chat_aff_parse(a->affiliations[i], &aff);
        chat_room_set_aff(r, a->usernames[i], aff);
        struct chat_occupant *occ = chat_room_occupant(r, a->usernames[i]);
        if (!occ)
            continue;
        struct xmpp_node *extra = actor_extra(actor, NULL);
        if (extra && a->reasons[i] && *a->reasons[i]) {
            struct xmpp_node *rn = xmpp_node_add(extra, "reason", NULL);
            if (rn)
                xmpp_node_add_text(rn, a->reasons[i]);
        }
        if (aff == CHAT_AFF_OUTCAST) {
            int code = 301; /* banned */
            chat_room_remove(cs, r, occ, &code, 1, extra);
        } else if (aff < CHAT_AFF_MEMBER && r->members_only) {
            int code = 321; /* removed by an affiliation change */
            chat_room_remove(cs, r, occ, &code, 1, extra);
        } else {
            occ->role = aff >= CHAT_AFF_ADMIN              ? CHAT_ROLE_MODERATOR
                        : occ->role == CHAT_ROLE_MODERATOR ? CHAT_ROLE_PARTICIPANT
                                                           : occ->role;
            chat_room_occupant_changed(cs, r, occ);
        }
        xmpp_node_free(extra);
    }
    if (strcmp(op->request->name, "message") == 0)
        /* A mediated invitation's memberships (chat_room_invite): now the
         * invitations. */
        chat_room_invites_forward(cs, r, op->user, op->request);
    else if (s)
        send_node(s, xmpp_stanza_iq_result(op->request, r->jid));
    chat_room_release(cs, r);
}

struct aff_list {
    struct xmpp_node *q;
    enum chat_aff want;
    const struct chat_server *cs;
    int ok;
};

static void list_one(const char *key, void *value, void *arg)
{
    struct aff_list *l = arg;
    if ((enum chat_aff)(uintptr_t)value != l->want || !l->ok)
        return;
    struct xmpp_node *it = xmpp_node_add(l->q, "item", NULL);
    char *jid = chat_bare_jid(l->cs, key);
    l->ok = it && jid &&
            xmpp_node_set_attr(it, "affiliation", chat_aff_name(l->want)) == PL_OK &&
            xmpp_node_set_attr(it, "jid", jid) == PL_OK;
    free(jid);
}

/* Section 9.5 and friends: who has an affiliation, or a role. */
static void admin_list(struct chat_server *cs, struct chat_room *r,
                       struct chat_session *s, struct xmpp_stanza *st,
                       const struct xmpp_node *item)
{
    const char *aff_s = xmpp_node_attr(item, "affiliation");
    const char *role_s = xmpp_node_attr(item, "role");
    enum chat_aff aff;
    struct chat_seat *seat = chat_room_seat(r, s);
    int moderator = (seat && seat->occ->role == CHAT_ROLE_MODERATOR) ||
                    chat_room_aff(r, s->user->username) >= CHAT_AFF_ADMIN;
    if ((!aff_s && !role_s) || (aff_s && chat_aff_parse(aff_s, &aff) != PL_OK) ||
        (aff_s && aff == CHAT_AFF_NONE)) {
        chat_reply_error(cs, s, st->node, "modify", "bad-request");
        return;
    }
    if (!moderator) {
        chat_reply_error(cs, s, st->node, "auth", "forbidden");
        return;
    }
    struct xmpp_node *res = xmpp_stanza_iq_result(st->node, r->jid);
    struct xmpp_node *q = res ? xmpp_node_add(res, "query", XMPP_NS_MUC_ADMIN) : NULL;
    int ok = q != NULL;
    if (ok && aff_s) {
        struct aff_list l = {q, aff, cs, 1};
        pl_map_each(&r->affs, list_one, &l);
        ok = l.ok;
    } else if (ok) {
        for (struct chat_occupant *o = r->occupants; ok && o; o = o->next) {
            if (!is(chat_role_name(o->role), role_s))
                continue;
            struct xmpp_node *it = xmpp_node_add(q, "item", NULL);
            ok = it && xmpp_node_set_attr(it, "nick", o->nick) == PL_OK &&
                 xmpp_node_set_attr(it, "role", role_s) == PL_OK &&
                 xmpp_node_set_attr(it, "jid", o->bare_jid) == PL_OK &&
                 xmpp_node_set_attr(it, "affiliation",
                                    chat_aff_name(chat_room_aff(r, o->nick))) == PL_OK;
        }
    }
    if (!ok) {
        xmpp_node_free(res);
        chat_reply_error(cs, s, st->node, "wait", "resource-constraint");
        return;
    }
    send_node(s, res);
}

static void admin(struct chat_server *cs, struct chat_room *r, struct chat_session *s,
                  struct xmpp_stanza *st, const struct xmpp_node *q, int get)
{
    size_t roles = 0, affs = 0;
    const struct xmpp_node *first = NULL;
    for (const struct xmpp_node *it = q->children; it; it = it->next) {
        if (!it->name || strcmp(it->name, "item") != 0)
            continue;
        if (!first)
            first = it;
        if (xmpp_node_attr(it, "role") && !xmpp_node_attr(it, "affiliation"))
            roles++;
        else
            affs++;
    }
    if (!first || (get && roles + affs != 1) || (roles && affs)) {
        chat_reply_error(cs, s, st->node, "modify", "bad-request");
        return;
    }
    if (get) {
        admin_list(cs, r, s, st, first);
        return;
    }
    if (affs) {
        affiliations(cs, r, s, st, q, affs);
        return;
    }
    /* Roles: all checked first, then applied, so that a refusal changes
     * nothing. */
    for (const struct xmpp_node *it = q->children; it; it = it->next) {
        if (!it->name || strcmp(it->name, "item") != 0)
            continue;
        const char *refuse = set_role(cs, r, s, it, 0);
        if (refuse) {
            chat_reply_error(cs, s, st->node,
                             is(refuse, "forbidden")     ? "auth"
                             : is(refuse, "bad-request") ? "modify"
                                                         : "cancel",
                             refuse);
            return;
        }
    }
    for (const struct xmpp_node *it = q->children; it; it = it->next)
        if (it->name && strcmp(it->name, "item") == 0)
            set_role(cs, r, s, it, 1);
    send_node(s, xmpp_stanza_iq_result(st->node, r->jid));
}

/* ---- the dispatch --------------------------------------------------------- */

void chat_room_iq(struct chat_server *cs, struct chat_room *r, struct chat_session *s,
                  struct xmpp_stanza *st)
{
    const char *type = st->type ? st->type : "";
    int get = strcmp(type, "get") == 0;
    if (!get && strcmp(type, "set") != 0)
        goto done; /* results and errors: nobody here asked */
    struct xmpp_node *q = NULL;
    for (struct xmpp_node *c = st->node->children; c; c = c->next)
        if (c->name) {
            q = c;
            break;
        }
    const char *ns = q ? q->ns : NULL;
    if (r->state != CHAT_ROOM_READY) {
        chat_reply_error(cs, s, st->node, "cancel", "item-not-found");
        goto done;
    }
    if (st->to.resource) {
        /* To an occupant: XEP-0410 self-ping; iqs between occupants are
         * not passed on. */
        struct chat_seat *seat = chat_room_seat(r, s);
        if (get && is(ns, XMPP_NS_PING) && seat && is(seat->occ->nick, st->to.resource)) {
            char *me = chat_room_occupant_jid(r, seat->occ->nick);
            send_node(s, me ? xmpp_stanza_iq_result(st->node, me) : NULL);
            free(me);
        } else if (get && is(ns, XMPP_NS_PING) && !seat) {
            chat_reply_error(cs, s, st->node, "cancel", "not-acceptable");
        } else {
            chat_reply_error(cs, s, st->node, "cancel", "service-unavailable");
        }
        goto done;
    }
    if (get && is(ns, XMPP_NS_DISCO_INFO)) {
        room_info(cs, r, s, st->node);
    } else if (get && is(ns, XMPP_NS_DISCO_ITEMS)) {
        room_items(cs, r, s, st->node);
    } else if (get && is(ns, XMPP_NS_PING)) {
        send_node(s, xmpp_stanza_iq_result(st->node, r->jid));
    } else if (is(ns, XMPP_NS_MUC_OWNER)) {
        owner(cs, r, s, st, q, get);
    } else if (is(ns, XMPP_NS_MUC_ADMIN)) {
        admin(cs, r, s, st, q, get);
    } else if (is(ns, XMPP_NS_MAM)) {
        /* The room's archive belongs to its members (PROTOCOL.md). */
        if (chat_room_aff(r, s->user->username) >= CHAT_AFF_MEMBER)
            chat_mam_handle(cs, s, st, r->jid);
        else
            chat_reply_error(cs, s, st->node, "auth", "forbidden");
    } else if (!get && is(ns, XMPP_NS_MODERATE) && is(q->name, "moderate")) {
        chat_moderate_iq(cs, r, s, st, q);
    } else {
        chat_reply_error(cs, s, st->node, "cancel", "service-unavailable");
    }
done:
    xmpp_stanza_free(st);
}
