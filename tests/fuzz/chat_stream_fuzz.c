/* The chat layer behind authenticated streams, as the unit tests drive it
 * (tests/unit/chat/chat_fixture.h: a fake transport that records what is
 * written, a recording store whose jobs are completed by hand; its cmocka
 * checks abort here, tests/fuzz/shim/cmocka.h). Each input starts from the
 * same scene: alice/A (owner of ROOM, in it), bob/B (in ROOM) and alice/A2,
 * all available, alice and bob in each other's roster, stream management
 * offered. The input is chunks separated by NUL bytes; a chunk's first
 * byte says what to do, the rest is one frame:
 *   bits 0-1  the session the frame goes to (0 alice/A, 1 bob/B, 2 alice/A2);
 *             3: no frame, a store event chosen by the frame's first byte.
 *             A session whose connection dropped connects again (opened
 *             and authenticated, not bound: the frame may bind or resume;
 *             PREVID in it becomes the last XEP-0198 id the server gave)
 *   bits 2-3  then the recorded jobs: 0 left waiting, 1 all completed, 2 all
 *             completed and the oldest of them failed, 3 the oldest completed
 *   bit 4     frames written are not reported (the socket is slow)
 *   bit 5     then the session's connection drops (not for 3)
 *   bit 6     the store's answers vary: retries, history, a page with more
 *   bit 7     then a second of time passes (XEP-0198's tick)
 * At the end every job still waiting is completed, the connections drop
 * and the detached sessions end. Whatever the input, no crash, no
 * sanitizer report, no leak. PARLEY_FUZZ_TRACE=1 prints the frames written
 * (to see where a seed gets). */
#include "chat_room_fixture.h"
#include "xmpp_sm.h"

#define NSLOTS 3
#define ROUNDS 64 /* jobs completed at most per step (completions submit more) */

struct run {
    struct fx *fx;
    struct fx_client *slot[NSLOTS];
    size_t reported[NSLOTS]; /* frames already reported written */
    int64_t seq;             /* the store's archive ids */
    int64_t ver;             /* the store's roster versions */
    int trace;               /* PARLEY_FUZZ_TRACE, once the scene is set */
    char previd[128];        /* the last <enabled/> id, for PREVID */
};

static char *dup_or_die(const char *s)
{
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

static struct db_offline_msg *stored_rows(struct run *r, size_t n, int room,
                                          int64_t after)
{
    struct db_offline_msg *m = calloc(n, sizeof(*m));
    if (!m)
        abort();
    for (size_t i = 0; i < n; i++) {
        char buf[256];
        int64_t id = (after > r->seq ? after : r->seq) + 1;
        r->seq = id;
        if (room)
            snprintf(buf, sizeof(buf),
                     "<message xmlns='jabber:client' type='groupchat' from='" ROOM
                     "/alice' id='h%lld'><body>h</body></message>",
                     (long long)id);
        else
            snprintf(buf, sizeof(buf),
                     "<message xmlns='jabber:client' from='alice@localhost/A' "
                     "to='bob@localhost' type='chat' id='s%lld'><body>s</body>"
                     "<request xmlns='urn:xmpp:receipts'/></message>",
                     (long long)id);
        m[i].id = id;
        m[i].created_at_us = STAMP_US + id;
        m[i].stanza_xml = dup_or_die(buf);
    }
    return m;
}

/* Fills the outs of a job as the store would have on success. */
static void answer(struct run *r, struct db_job *job, int vary)
{
    job->status = PL_OK;
    switch (job->kind) {
    case DB_JOB_MSG_STORE:
        if (vary && job->u.msg.offline_limit > 0) {
            job->u.msg.id = -1; /* the recipient's queue is full */
            break;
        }
        job->u.msg.id = ++r->seq;
        job->u.msg.created_at_us = STAMP_US + r->seq;
        job->u.msg.inserted = !vary;
        job->u.msg.pending = 1;
        break;
    case DB_JOB_ROOM_MSG_STORE:
        job->u.room_msg.id = ++r->seq;
        job->u.room_msg.created_at_us = STAMP_US + r->seq;
        job->u.room_msg.inserted = !vary;
        break;
    case DB_JOB_ROOM_LOAD:
    case DB_JOB_ROOM_CREATE: {
        struct db_room_load_job *l = &job->u.room_load;
        if (job->kind == DB_JOB_ROOM_LOAD && !vary)
            break; /* not found: the join creates it */
        l->found = 1;
        l->created = job->kind == DB_JOB_ROOM_CREATE;
        snprintf(l->id, sizeof(l->id), "00000000-0000-4000-8000-%012lld",
                 (long long)(++r->seq % 1000000000000LL));
        l->public_room = 1;
        l->change_subject = !vary;
        if (l->creator) {
            l->affs = calloc(1, sizeof(*l->affs));
            if (!l->affs)
                abort();
            l->affs[0].username = dup_or_die(l->creator);
            l->affs[0].affiliation = dup_or_die("owner");
            l->naffs = 1;
        }
        break;
    }
    case DB_JOB_ROOM_JOIN:
        if (vary) {
            job->u.room_join.msgs = stored_rows(r, 2, 1, 0);
            job->u.room_join.count = 2;
        }
        break;
    case DB_JOB_MAM_QUERY: {
        size_t n = vary ? 2 : 1;
        if (job->u.mam.max >= 0 && (size_t)job->u.mam.max < n)
            n = (size_t)job->u.mam.max;
        if (n) {
            job->u.mam.msgs = stored_rows(r, n, job->u.mam.room, 0);
            job->u.mam.count = n;
        }
        job->u.mam.more = vary;
        break;
    }
    case DB_JOB_OFFLINE_LOAD:
        if (vary) {
            job->u.offline.msgs = stored_rows(r, 2, 0, job->u.offline.after_id);
            job->u.offline.count = 2;
        }
        break;
    case DB_JOB_ROSTER_SET:
        job->u.roster_set.state = 32;
        job->u.roster_set.ver = ++r->ver;
        job->u.roster_set.refused = vary;
        break;
    case DB_JOB_ROSTER_APPLY:
        job->u.roster_apply.applied = !vary;
        job->u.roster_apply.a_ver = ++r->ver;
        job->u.roster_apply.b_ver = ++r->ver;
        break;
    case DB_JOB_ROOM_AFFILIATIONS:
        if (job->u.room_affiliations.count) {
            job->u.room_affiliations.previous =
                calloc(job->u.room_affiliations.count, sizeof(char *));
            if (!job->u.room_affiliations.previous)
                abort();
        }
        job->u.room_affiliations.conflict = vary;
        break;
    case DB_JOB_ROOM_DESTROY:
        job->u.room_destroy.destroyed = 1;
        break;
    case DB_JOB_PEP_PUBLISH:
        job->u.pep.result = vary ? 'f' : 'o';
        break;
    case DB_JOB_UPLOAD_SLOT:
        job->u.upload_slot.id = vary ? 0 : ++r->seq;
        job->u.upload_slot.expires_us = STAMP_US + 300000000;
        break;
    case DB_JOB_MARK_DISPLAYED:
        job->u.displayed.updated = 1;
        break;
    default:
        break; /* zeroed outs */
    }
}

/* Completes the oldest recorded job (failed, or answered); 0 if none. */
static int complete_oldest(struct run *r, int failed, int vary)
{
    struct fx *fx = r->fx;
    if (fx->njobs == 0)
        return 0;
    struct db_job *job = fx->jobs[0].job;
    free(fx->jobs[0].shard);
    memmove(&fx->jobs[0], &fx->jobs[1], (fx->njobs - 1) * sizeof(*fx->jobs));
    fx->njobs--;
    if (failed)
        job->status = PL_EIO;
    else
        answer(r, job, vary);
    chat_server_complete(fx->cs, job);
    return 1;
}

static void complete_jobs(struct run *r, int mode, int vary)
{
    if (mode == 3) {
        complete_oldest(r, 0, vary);
        return;
    }
    /* Only the jobs there now, then those their completions submit, up to
     * a bound (a backlog loads again and again). */
    for (int i = 0; i < ROUNDS && complete_oldest(r, mode == 2 && i == 0, vary); i++)
        ;
}

/* A store event, as the listener would hand it over. */
static void event(struct run *r, unsigned which)
{
    struct db_job *job = NULL;
    switch (which % 7) {
    case 0:
        job = db_job_new(DB_EVENT_KICK);
        if (job)
            job->u.kick.username = dup_or_die("bob");
        break;
    case 1:
        job = db_job_new(DB_EVENT_KICK);
        if (job) {
            job->u.kick.username = dup_or_die("alice");
            job->u.kick.resource = dup_or_die("A2");
        }
        break;
    case 2:
        job = db_job_new(DB_EVENT_USER_STATE);
        if (job) {
            job->u.user_state.username = dup_or_die("bob");
            job->u.user_state.disabled = 1;
        }
        break;
    case 3: {
        job = db_job_new(DB_EVENT_MESSAGE);
        if (job) {
            struct db_offline_msg *m = stored_rows(r, 1, 0, 0);
            job->u.message.id = m->id;
            job->u.message.created_at_us = m->created_at_us;
            job->u.message.stanza_xml = m->stanza_xml;
            job->u.message.recipient = dup_or_die("bob@localhost");
            free(m);
        }
        break;
    }
    case 4:
        job = db_job_new(DB_EVENT_ROOM);
        if (job)
            job->u.room_event.jid = dup_or_die(ROOM);
        break;
    case 5: {
        job = db_job_new(DB_EVENT_ROOM_MESSAGE);
        if (job) {
            struct db_offline_msg *m = stored_rows(r, 1, 1, 0);
            job->u.room_message.id = m->id;
            job->u.room_message.created_at_us = m->created_at_us;
            job->u.room_message.stanza_xml = m->stanza_xml;
            job->u.room_message.room = dup_or_die(ROOM);
            free(m);
        }
        break;
    }
    default:
        xmpp_stream_sm_tick(r->fx->env.sm);
        return;
    }
    if (!job)
        abort();
    job->status = PL_OK;
    chat_server_complete(r->fx->cs, job);
}

/* Remembers the last resumption id the server gave (<enabled id=.../>). */
static void note_previd(struct run *r, const struct fx_frame *f)
{
    const char *e = strstr(f->data, "<enabled ");
    const char *id = e ? strstr(e, " id='") : NULL;
    const char *q = id ? strchr(id + 5, '\'') : NULL;
    if (q && (size_t)(q - id - 5) < sizeof(r->previd)) {
        memcpy(r->previd, id + 5, (size_t)(q - id - 5));
        r->previd[q - id - 5] = '\0';
    }
}

/* Reports the frames written since the last report, as the transport
 * does once a frame is on the socket. */
static void report_written(struct run *r)
{
    for (int i = 0; i < NSLOTS; i++) {
        struct fx_client *c = r->slot[i];
        /* A report may queue more (the backlog goes on): loop until none. */
        while (c && r->reported[i] < c->nframes) {
            if (r->trace)
                fprintf(stderr, "[%d] %s\n", i, c->frames[r->reported[i]].data);
            note_previd(r, &c->frames[r->reported[i]]);
            uint64_t tag = c->frames[r->reported[i]++].tag;
            if (tag)
                xmpp_stream_written(c->s, tag);
            c = r->slot[i];
        }
    }
}

static void drop(struct run *r, int i)
{
    if (!r->slot[i])
        return;
    struct fx_client *c = r->slot[i];
    r->slot[i] = NULL;
    r->reported[i] = 0;
    fx_disconnect(c);
}

/* A stream the server closed is gone, as the transport would free it. */
static void reap_closed(struct run *r)
{
    for (int i = 0; i < NSLOTS; i++)
        if (r->slot[i] && r->slot[i]->closed)
            drop(r, i);
}

/* The slot's user connects again: a new stream, opened and authenticated
 * (EXTERNAL), not bound. */
static void reconnect(struct run *r, int i)
{
    static const char *const users[NSLOTS] = {"alice", "bob", "alice"};
    struct fx *fx = r->fx;
    if (fx->nclients >= FX_MAX_CLIENTS)
        return;
    struct fx_client *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->fx = fx;
    if (xmpp_stream_new(&fx->env, &fx_io, c, ++fx->next_conn, users[i], &c->s) != PL_OK)
        abort();
    fx->clients[fx->nclients++] = c;
    r->slot[i] = c;
    r->reported[i] = 0;
    (void)fx_send(c, FX_OPEN);
    (void)fx_send(c, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
                     "mechanism='EXTERNAL'>=</auth>");
    (void)fx_send(c, FX_OPEN);
}

/* Feeds the frame to slot i, PREVID replaced by the last resumption id. */
static void feed(struct run *r, int i, const char *frame, size_t len)
{
    const char *at = NULL;
    for (size_t k = 0; !at && k + 6 <= len; k++)
        if (memcmp(frame + k, "PREVID", 6) == 0)
            at = frame + k;
    if (!at || !r->previd[0]) {
        (void)xmpp_stream_input(r->slot[i]->s, frame, len);
        return;
    }
    size_t n = strlen(r->previd), head = (size_t)(at - frame);
    char *buf = malloc(len - 6 + n);
    if (!buf)
        abort();
    memcpy(buf, frame, head);
    memcpy(buf + head, r->previd, n);
    memcpy(buf + head + n, at + 6, len - head - 6);
    (void)xmpp_stream_input(r->slot[i]->s, buf, len - 6 + n);
    free(buf);
}

static void scene(struct run *r)
{
    static const char *const alice_contacts[] = {"bob@localhost"};
    static const char *const bob_contacts[] = {"alice@localhost"};
    static const unsigned both[] = {1 | 2 | 32};
    static const char *const owner[] = {"alice", "owner", NULL};
    struct fx *fx = r->fx;
    struct fx_client *a =
        fx_login_with(fx, "alice", "A", alice_contacts, both, 1, NULL, 0);
    fx_available(fx, a);
    rx_send_join(a, "alice", NULL);
    fx_complete_all(fx, DB_JOB_ROOM_LOAD); /* not found */
    rx_complete_room(fx, DB_JOB_ROOM_CREATE, 1, owner);
    rx_complete_history(fx, NULL, 0);
    struct fx_client *b = fx_login_with(fx, "bob", "B", bob_contacts, both, 1, NULL, 0);
    fx_available(fx, b);
    rx_join_loaded(fx, b, "bob", NULL);
    struct fx_client *a2 =
        fx_login_with(fx, "alice", "A2", alice_contacts, both, 1, NULL, 0);
    fx_available(fx, a2);
    complete_jobs(r, 1, 0);
    r->slot[0] = a;
    r->slot[1] = b;
    r->slot[2] = a2;
    report_written(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct xmpp_sm_config smc = {300, 1000, 5, 30, 90};
    void *state = NULL;
    if (fx_setup(&state) != 0)
        abort();
    struct run r = {.fx = state};
    if (xmpp_sm_registry_new(&smc, &r.fx->env.sm) != PL_OK)
        abort();
    scene(&r);
    r.trace = getenv("PARLEY_FUZZ_TRACE") != NULL;
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nul = memchr(p, '\0', (size_t)(end - p));
        size_t len = (size_t)((nul ? nul : end) - p);
        if (len > 0) {
            unsigned ctl = (unsigned char)p[0];
            int i = (int)(ctl & 3);
            if (i == 3)
                event(&r, len > 1 ? (unsigned char)p[1] : 0);
            else {
                if (!r.slot[i])
                    reconnect(&r, i);
                reap_closed(&r);
                if (r.slot[i])
                    feed(&r, i, p + 1, len - 1);
            }
            reap_closed(&r);
            complete_jobs(&r, (int)(ctl >> 2 & 3), (int)(ctl >> 6 & 1));
            reap_closed(&r);
            if (!(ctl & 16))
                report_written(&r);
            if ((ctl & 32) && i != 3)
                drop(&r, i);
            if (ctl & 128)
                xmpp_stream_sm_tick(r.fx->env.sm);
            reap_closed(&r);
        }
        p += len + 1;
    }
    complete_jobs(&r, 1, 0);
    report_written(&r);
    for (int i = 0; i < NSLOTS; i++)
        drop(&r, i);
    /* Detached XEP-0198 sessions end, then what they submitted is
     * completed, as parleyd stops (server/main.c). */
    xmpp_stream_sm_shutdown(r.fx->env.sm);
    r.fx->env.sm = NULL;
    complete_jobs(&r, 1, 0);
    fx_teardown(&state);
    return 0;
}
