/* parley-load: scenarios against a running parleyd, printed as a table per
 * phase and, last, one line "RESULT {...}" with every figure.
 *
 *   idle     hold N authenticated, bound, available sessions from several
 *            127.0.0.x addresses; parleyd's RSS before and after.
 *   rate     P sender/receiver pairs; an offered-rate ladder (messages/s over
 *            all pairs, each step a fixed time); the latency of each message
 *            from its send to its arrival (or, with --receipts, to its
 *            XEP-0184 receipt back at the sender); what was lost after a
 *            drain; parleyd's, PostgreSQL's and this tool's CPU.
 *   offline  K messages to a user with no session, then its login: the time
 *            from the login until the last arrived.
 *   room     one room, O occupants, ten of them posting R/s in all, in turn:
 *            send to last occupant.
 *   login    L logins at once (the connect, upgrade, SASL, bind, presence
 *            and a ping each): logins/s.
 *
 * It never asserts a timing. It exits 1 only when the server cannot be
 * driven at all (logins refused, a phase timed out); figures below a target
 * are still figures. */
#define _GNU_SOURCE
#include "load.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static struct load_buf result; /* the RESULT line's JSON members */

static void result_add(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void result_add(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (result.len > 0)
        load_buf_put(&result, ",", 1);
    load_buf_put(&result, buf, (size_t)n);
}

struct cpu_mark {
    uint64_t t;
    long server, pg, self;
};

static struct cpu_mark cpu_now(const struct load_opts *o)
{
    struct cpu_mark m = {load_now_ns(), load_proc_cpu_ms(o->pid),
                         load_proc_tree_cpu_ms(o->pg_pid), load_self_cpu_ms()};
    return m;
}

/* CPU between two marks, in percent of one core. */
static void cpu_pct(struct cpu_mark a, struct cpu_mark b, double *srv, double *pg,
                    double *self)
{
    double ms = (double)(b.t - a.t) / 1e6;
    if (ms <= 0)
        ms = 1;
    *srv = a.server >= 0 ? 100.0 * (double)(b.server - a.server) / ms : -1;
    *pg = a.pg >= 0 ? 100.0 * (double)(b.pg - a.pg) / ms : -1;
    *self = 100.0 * (double)(b.self - a.self) / ms;
}

static int wait_until(struct load_loop *l, int (*done)(void *), void *arg, int secs)
{
    uint64_t deadline = load_now_ns() + (uint64_t)secs * 1000000000u;
    while (!done(arg)) {
        if (load_now_ns() > deadline)
            return -1;
        load_loop_poll(l, 5);
    }
    return 0;
}

/* ---- idle ---------------------------------------------------------------- */

static int phase_idle(struct load_loop *l, const struct load_opts *o)
{
    int n = o->sessions;
    struct load_conn *cs = calloc((size_t)n, sizeof *cs);
    long rss0 = load_proc_rss_kb(o->pid);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s_idle", o->run);
    uint64_t t0 = load_now_ns();
    int rc = load_login_many(l, cs, n, prefix);
    double secs = (double)(load_now_ns() - t0) / 1e9;
    if (rc == 0) {
        /* Let the server finish what the logins started (presence, roster
         * loads) before its memory is read. */
        uint64_t settle = load_now_ns() + 2000000000u;
        while (load_now_ns() < settle)
            load_loop_poll(l, 50);
        long rss1 = load_proc_rss_kb(o->pid);
        double per = rss0 > 0 && rss1 > 0 ? (double)(rss1 - rss0) / n : -1;
        printf("\n== idle: %d sessions from %d source address(es)%s\n", n,
               o->sources > 1 ? o->sources : 1, o->sm ? ", stream management on" : "");
        printf("  established %d in %.2f s; server RSS %ld -> %ld KB: %.2f KB per "
               "session\n",
               l->ready, secs, rss0, rss1, per);
        result_add("\"idle\":{\"sessions\":%d,\"established\":%d,\"rss_before_kb\":%ld,"
                   "\"rss_after_kb\":%ld,\"kb_per_session\":%.2f,\"sm\":%d}",
                   n, l->ready, rss0, rss1, per, o->sm);
    }
    load_close_many(l, cs, n);
    free(cs);
    return rc;
}

/* ---- rate ---------------------------------------------------------------- */

struct rate_ctx {
    const struct load_opts *o;
    struct load_loop *l;
    int step;
    size_t total;
    uint64_t *sent_ns;
    uint8_t *seen;
    uint32_t *lat_us;
    size_t nlat;
    size_t done;
    size_t dups;
    size_t stale;
    uint64_t last_ns;
};

static struct rate_ctx rate;

static void rate_complete(size_t seq, uint64_t now)
{
    if (seq >= rate.total || rate.sent_ns[seq] == 0) {
        rate.stale++;
        return;
    }
    if (rate.seen[seq]) {
        rate.dups++;
        return;
    }
    rate.seen[seq] = 1;
    rate.lat_us[rate.nlat++] = (uint32_t)((now - rate.sent_ns[seq]) / 1000);
    rate.done++;
    rate.last_ns = now;
}

/* "<step>:<seq>" from a body or an id; -1 when it is another step's. */
static long rate_parse(const char *p, size_t n)
{
    char *end;
    long step = strtol(p, &end, 10);
    if ((size_t)(end - p) >= n || *end != ':' || step != rate.step)
        return -1;
    return strtol(end + 1, NULL, 10);
}

static void rate_on_receiver(struct load_conn *c, const char *f, size_t n, uint64_t now)
{
    if (n < 8 || memcmp(f, "<message", 8) != 0)
        return;
    const char *b = load_find(f, n, "<body>");
    if (!b)
        return;
    long seq = rate_parse(b + 6, n - (size_t)(b + 6 - f));
    if (seq < 0) {
        rate.stale++;
        return;
    }
    if (!rate.o->receipts) {
        rate_complete((size_t)seq, now);
        return;
    }
    char from[200], id[64];
    if (load_attr(f, n, "from", from, sizeof from) < 0 ||
        load_attr(f, n, "id", id, sizeof id) < 0)
        return;
    load_conn_sendf(rate.l, c,
                    "<message xmlns='jabber:client' to='%s' id='r%s'>"
                    "<received xmlns='urn:xmpp:receipts' id='%s'/></message>",
                    from, id, id);
}

static void rate_on_sender(struct load_conn *c, const char *f, size_t n, uint64_t now)
{
    (void)c;
    if (!rate.o->receipts || n < 8 || memcmp(f, "<message", 8) != 0)
        return;
    const char *r = load_find(f, n, "<received");
    if (!r)
        return;
    char id[64];
    if (load_attr(r, n - (size_t)(r - f), "id", id, sizeof id) < 0 || id[0] != 'm')
        return;
    long seq = rate_parse(id + 1, strlen(id + 1));
    if (seq < 0) {
        rate.stale++;
        return;
    }
    rate_complete((size_t)seq, now);
}

static int rate_drained(void *arg)
{
    (void)arg;
    return rate.done >= rate.total;
}

static int phase_rate(struct load_loop *l, const struct load_opts *o)
{
    int p = o->pairs;
    struct load_conn *snd = calloc((size_t)p, sizeof *snd);
    struct load_conn *rcv = calloc((size_t)p, sizeof *rcv);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s_r", o->run);
    int rc = load_login_many(l, rcv, p, prefix);
    snprintf(prefix, sizeof prefix, "%s_s", o->run);
    if (rc == 0)
        rc = load_login_many(l, snd, p, prefix);
    if (rc != 0) {
        load_close_many(l, snd, p);
        load_close_many(l, rcv, p);
        free(snd);
        free(rcv);
        return rc;
    }
    printf("\n== rate: %d pairs, %s, %s, %d s a step\n", p,
           o->receipts ? "receipts (send to receipt)" : "no receipts (send to arrival)",
           o->sm ? "stream management on" : "stream management off", o->step_seconds);
    printf("  %8s %9s %8s %8s %8s %8s %6s %5s %8s %8s %6s\n", "offered", "achieved",
           "p50 ms", "p90 ms", "p99 ms", "max ms", "lost", "dups", "server%", "pg%",
           "tool%");
    load_buf_put(&result, result.len ? ",\"rate\":[" : "\"rate\":[", result.len ? 9 : 8);
    size_t mark = result.len;
    int best = 0;
    for (int s = 0; rc == 0 && s < o->nrates; s++) {
        int r = o->rates[s];
        size_t total = (size_t)r * (size_t)o->step_seconds;
        memset(&rate, 0, sizeof rate);
        rate.o = o;
        rate.l = l;
        rate.step = s + 1;
        rate.total = total;
        rate.sent_ns = calloc(total, sizeof *rate.sent_ns);
        rate.seen = calloc(total, 1);
        rate.lat_us = calloc(total, sizeof *rate.lat_us);
        for (int i = 0; i < p; i++) {
            snd[i].on_frame = rate_on_sender;
            rcv[i].on_frame = rate_on_receiver;
        }
        struct cpu_mark c0 = cpu_now(o);
        uint64_t t0 = load_now_ns();
        size_t sent = 0;
        /* An open loop at the offered rate, from the step's start time: a
         * late tick sends what is due, so timer drift does not lower it. */
        while (sent < total) {
            uint64_t now = load_now_ns();
            size_t due = (size_t)((double)(now - t0) / 1e9 * r) + 1;
            if (due > total)
                due = total;
            for (; sent < due; sent++) {
                struct load_conn *c = &snd[sent % (size_t)p];
                rate.sent_ns[sent] = load_now_ns();
                load_conn_sendf(
                    l, c,
                    "<message xmlns='jabber:client' type='chat' to='%s' "
                    "id='m%d:%zu'><body>%d:%zu</body>%s</message>",
                    rcv[sent % (size_t)p].jid, rate.step, sent, rate.step, sent,
                    o->receipts ? "<request xmlns='urn:xmpp:receipts'/>" : "");
            }
            load_loop_poll(l, 1);
            if (l->closed > 0)
                break;
        }
        uint64_t t_sent = load_now_ns();
        wait_until(l, rate_drained, NULL, o->drain_seconds);
        struct cpu_mark c1 = cpu_now(o);
        double srv, pg, self;
        cpu_pct(c0, c1, &srv, &pg, &self);
        double span =
            (double)((rate.last_ns > t_sent ? rate.last_ns : t_sent) - t0) / 1e9;
        double achieved = span > 0 ? (double)rate.done / span : 0;
        size_t lost = total - rate.done;
        double p50 = load_percentile_us(rate.lat_us, rate.nlat, 50) / 1000.0;
        double p90 = load_percentile_us(rate.lat_us, rate.nlat, 90) / 1000.0;
        double p99 = load_percentile_us(rate.lat_us, rate.nlat, 99) / 1000.0;
        double max = load_percentile_us(rate.lat_us, rate.nlat, 100) / 1000.0;
        printf("  %8d %9.0f %8.1f %8.1f %8.1f %8.1f %6zu %5zu %8.0f %8.0f %6.0f\n", r,
               achieved, p50, p90, p99, max, lost, rate.dups, srv, pg, self);
        fflush(stdout);
        char row[512];
        int rn = snprintf(
            row, sizeof row,
            "%s{\"offered\":%d,\"achieved\":%.0f,\"p50_ms\":%.2f,\"p90_ms\":%.2f,"
            "\"p99_ms\":%.2f,\"max_ms\":%.2f,\"sent\":%zu,\"completed\":%zu,"
            "\"lost\":%zu,\"dups\":%zu,\"server_cpu_pct\":%.0f,"
            "\"pg_cpu_pct\":%.0f,\"tool_cpu_pct\":%.0f}",
            result.len > mark ? "," : "", r, achieved, p50, p90, p99, max, total,
            rate.done, lost, rate.dups, srv, pg, self);
        load_buf_put(&result, row, (size_t)rn);
        int passed = lost == 0 && p99 < 100.0;
        if (passed && r > best)
            best = r;
        free(rate.sent_ns);
        free(rate.seen);
        free(rate.lat_us);
        if (l->closed > 0) {
            fprintf(stderr, "parley-load: a session was closed during the step\n");
            rc = -1;
        }
        /* Past saturation (it fell behind the offered rate, or lost
         * messages), a higher step only measures the backlog. A poor p99
         * alone does not stop the ladder: a first step may include a
         * server's warm-up. */
        if (o->ladder_stop && (lost > 0 || achieved < 0.9 * r))
            break;
    }
    load_buf_put(&result, "]", 1);
    result_add("\"rate_best_ok\":%d,\"receipts\":%d,\"sm\":%d", best, o->receipts, o->sm);
    printf("  highest step with p99 < 100 ms and nothing lost: %d messages/s\n", best);
    load_close_many(l, snd, p);
    load_close_many(l, rcv, p);
    free(snd);
    free(rcv);
    return rc;
}

/* ---- offline ------------------------------------------------------------- */

static long stored_count(const char *bare)
{
    const char *url = getenv("DATABASE_URL");
    if (!url)
        return -1;
    /* The name is this tool's own (letters, digits, '_', '@', '.'): it can
     * go into the query as it is. */
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "psql -X -Atq \"$DATABASE_URL\" -c \"SELECT count(*) FROM deliveries "
             "WHERE recipient = '%s' AND state = 'stored'\" 2>/dev/null",
             bare);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    long n = -1;
    if (fscanf(f, "%ld", &n) != 1)
        n = -1;
    pclose(f);
    return n;
}

static size_t off_got;
static int off_total;

static void off_on_frame(struct load_conn *c, const char *f, size_t n, uint64_t now)
{
    (void)c;
    (void)now;
    if (n > 8 && memcmp(f, "<message", 8) == 0 && load_find(f, n, "<body>o"))
        off_got++;
}

static int off_done(void *arg)
{
    (void)arg;
    return off_got >= (size_t)off_total;
}

static int out_flushed(void *arg)
{
    return ((struct load_conn *)arg)->out.len == 0;
}

static int phase_offline(struct load_loop *l, const struct load_opts *o)
{
    int k = o->offline;
    struct load_conn snd, rcv;
    char prefix[64], target[64], bare[160];
    snprintf(prefix, sizeof prefix, "%s_offs", o->run);
    snprintf(target, sizeof target, "%s_offr0", o->run);
    snprintf(bare, sizeof bare, "%s@%s", target, o->domain);
    if (load_login_many(l, &snd, 1, prefix) < 0) {
        load_conn_close(l, &snd);
        return -1;
    }
    for (int i = 0; i < k; i++)
        load_conn_sendf(l, &snd,
                        "<message xmlns='jabber:client' type='chat' to='%s' id='o%d'>"
                        "<body>o%d</body></message>",
                        bare, i, i);
    if (wait_until(l, out_flushed, &snd, o->timeout_sec) < 0) {
        load_conn_close(l, &snd);
        return -1;
    }
    /* Stored, not only sent: the recipient must find them all in the
     * database, or the phase would time the store instead. */
    uint64_t deadline = load_now_ns() + (uint64_t)o->timeout_sec * 1000000000u;
    long stored = stored_count(bare);
    if (stored < 0) {
        fprintf(stderr,
                "parley-load: offline: no DATABASE_URL/psql: waiting 5 s instead\n");
        uint64_t until = load_now_ns() + 5000000000u;
        while (load_now_ns() < until)
            load_loop_poll(l, 50);
    }
    while (stored >= 0 && stored < k) {
        if (load_now_ns() > deadline) {
            fprintf(stderr, "parley-load: offline: only %ld of %d stored\n", stored, k);
            load_conn_close(l, &snd);
            return -1;
        }
        load_loop_poll(l, 100);
        stored = stored_count(bare);
    }
    off_got = 0;
    off_total = k;
    /* The backlog may start before the login's ping is answered: the
     * recipient counts from its first frame. */
    l->on_frame = off_on_frame;
    snprintf(prefix, sizeof prefix, "%s_offr", o->run);
    uint64_t t0 = load_now_ns();
    int rc = load_login_many(l, &rcv, 1, prefix);
    l->on_frame = NULL;
    if (rc == 0 && wait_until(l, off_done, NULL, o->timeout_sec) < 0) {
        fprintf(stderr, "parley-load: offline: %zu of %d arrived\n", off_got, k);
        rc = -1;
    }
    double secs = (double)(load_now_ns() - t0) / 1e9;
    if (rc == 0) {
        printf("\n== offline: %d messages stored for a user with no session\n", k);
        printf("  login to the last one: %.3f s (%.0f messages/s)\n", secs, k / secs);
        result_add("\"offline\":{\"messages\":%d,\"received\":%zu,\"seconds\":%.3f}", k,
                   off_got, secs);
    }
    load_conn_close(l, &snd);
    load_conn_close(l, &rcv);
    return rc;
}

/* ---- room ---------------------------------------------------------------- */

static struct {
    int occupants;
    int msgs;
    uint64_t *sent_ns;
    uint16_t *seen;
    uint32_t *lat_us;
    size_t nlat;
    int complete;
    int joined;
} room;

static void room_on_join(struct load_conn *c, const char *f, size_t n, uint64_t now)
{
    (void)now;
    if (n > 8 && memcmp(f, "<message", 8) == 0 && load_find(f, n, "<subject")) {
        room.joined++;
        c->on_frame = NULL;
    }
}

static void room_on_frame(struct load_conn *c, const char *f, size_t n, uint64_t now)
{
    (void)c;
    if (n < 8 || memcmp(f, "<message", 8) != 0)
        return;
    const char *b = load_find(f, n, "<body>");
    if (!b)
        return;
    long seq = strtol(b + 6, NULL, 10);
    if (seq < 0 || seq >= room.msgs || room.sent_ns[seq] == 0)
        return;
    if (++room.seen[seq] == room.occupants) {
        room.lat_us[room.nlat++] = (uint32_t)((now - room.sent_ns[seq]) / 1000);
        room.complete++;
    }
}

static int room_all_joined(void *arg)
{
    return room.joined >= *(int *)arg;
}

static int room_done(void *arg)
{
    (void)arg;
    return room.complete >= room.msgs;
}

static int phase_room(struct load_loop *l, const struct load_opts *o)
{
    int n = o->occupants;
    struct load_conn *cs = calloc((size_t)n, sizeof *cs);
    char prefix[64], jid[200];
    snprintf(prefix, sizeof prefix, "%s_occ", o->run);
    snprintf(jid, sizeof jid, "%s-bench@%s", o->run, o->muc_domain);
    int rc = load_login_many(l, cs, n, prefix);
    memset(&room, 0, sizeof room);
    room.occupants = n;
    room.msgs = o->room_msgs;
    for (int i = 0; rc == 0 && i < n; i++) {
        cs[i].on_frame = room_on_join;
        load_conn_sendf(
            l, &cs[i],
            "<presence xmlns='jabber:client' to='%s/%s'>"
            "<x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/>"
            "</x></presence>",
            jid, cs[i].user);
        /* The first join creates the room: the others wait for it. */
        int want = i + 1;
        if (i == 0 && wait_until(l, room_all_joined, &want, o->timeout_sec) < 0)
            rc = -1;
    }
    if (rc == 0 && wait_until(l, room_all_joined, &n, o->timeout_sec) < 0) {
        fprintf(stderr, "parley-load: room: %d of %d joined\n", room.joined, n);
        rc = -1;
    }
    if (rc == 0) {
        room.sent_ns = calloc((size_t)room.msgs, sizeof *room.sent_ns);
        room.seen = calloc((size_t)room.msgs, sizeof *room.seen);
        room.lat_us = calloc((size_t)room.msgs, sizeof *room.lat_us);
        for (int i = 0; i < n; i++)
            cs[i].on_frame = room_on_frame;
        struct cpu_mark c0 = cpu_now(o);
        uint64_t t0 = load_now_ns();
        int sent = 0;
        /* Ten occupants post in turn, as in a busy team room: the rate is
         * the room's, not one person's (the server bounds each occupant's,
         * PARLEY_LIMIT_ROOM_MESSAGE_RATE). */
        int nsend = n < 10 ? n : 10;
        while (sent < room.msgs) {
            int due = (int)((double)(load_now_ns() - t0) / 1e9 * o->room_rate) + 1;
            if (due > room.msgs)
                due = room.msgs;
            for (; sent < due; sent++) {
                room.sent_ns[sent] = load_now_ns();
                load_conn_sendf(l, &cs[sent % nsend],
                                "<message xmlns='jabber:client' type='groupchat' to='%s' "
                                "id='g%d'><body>%d</body></message>",
                                jid, sent, sent);
            }
            load_loop_poll(l, 1);
        }
        wait_until(l, room_done, NULL, o->drain_seconds);
        struct cpu_mark c1 = cpu_now(o);
        double srv, pg, self;
        cpu_pct(c0, c1, &srv, &pg, &self);
        double p50 = load_percentile_us(room.lat_us, room.nlat, 50) / 1000.0;
        double p99 = load_percentile_us(room.lat_us, room.nlat, 99) / 1000.0;
        double max = load_percentile_us(room.lat_us, room.nlat, 100) / 1000.0;
        printf("\n== room: %d occupants, %d messages at %d/s (%d deliveries/s offered)\n",
               n, room.msgs, o->room_rate, n * o->room_rate);
        printf(
            "  %d of %d reached every occupant; send to last occupant p50 %.1f ms, "
            "p99 %.1f ms, max %.1f ms; server %.0f%%, PostgreSQL %.0f%%, tool %.0f%%\n",
            room.complete, room.msgs, p50, p99, max, srv, pg, self);
        result_add(
            "\"room\":{\"occupants\":%d,\"rate\":%d,\"messages\":%d,\"complete\":%d,"
            "\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f}",
            n, o->room_rate, room.msgs, room.complete, p50, p99, max);
        free(room.sent_ns);
        free(room.seen);
        free(room.lat_us);
    }
    load_close_many(l, cs, n);
    free(cs);
    return rc;
}

/* ---- login --------------------------------------------------------------- */

static int phase_login(struct load_loop *l, const struct load_opts *o)
{
    int n = o->logins;
    struct load_conn *cs = calloc((size_t)n, sizeof *cs);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s_login", o->run);
    struct load_opts wide = *o;
    wide.parallel = n; /* all at once */
    const struct load_opts *saved = l->o;
    l->o = &wide;
    struct cpu_mark c0 = cpu_now(o);
    int rc = load_login_many(l, cs, n, prefix);
    struct cpu_mark c1 = cpu_now(o);
    l->o = saved;
    if (rc == 0) {
        double secs = (double)(c1.t - c0.t) / 1e9;
        uint32_t *lat = calloc((size_t)n, sizeof *lat);
        for (int i = 0; i < n; i++)
            lat[i] = (uint32_t)((cs[i].ready_ns - cs[i].started_ns) / 1000);
        double p50 = load_percentile_us(lat, (size_t)n, 50) / 1000.0;
        double p99 = load_percentile_us(lat, (size_t)n, 99) / 1000.0;
        free(lat);
        double srv, pg, self;
        cpu_pct(c0, c1, &srv, &pg, &self);
        printf("\n== login: %d at once\n", n);
        printf("  all ready in %.2f s: %.0f logins/s; each p50 %.1f ms, p99 %.1f ms; "
               "server "
               "%.0f%%, PostgreSQL %.0f%%, tool %.0f%%\n",
               secs, n / secs, p50, p99, srv, pg, self);
        result_add(
            "\"login\":{\"logins\":%d,\"seconds\":%.3f,\"per_s\":%.0f,\"p50_ms\":%.2f,"
            "\"p99_ms\":%.2f}",
            n, secs, n / secs, p50, p99);
    }
    load_close_many(l, cs, n);
    free(cs);
    return rc;
}

/* ---- options ------------------------------------------------------------- */

static const char USAGE[] =
    "usage: parley-load --port PORT [options]\n"
    "  --host ADDR          127.0.0.1 (default); loopback only\n"
    "  --pid PID            the server's pid (RSS, CPU)\n"
    "  --pg-pid PID         the postmaster's pid (PostgreSQL's CPU)\n"
    "  --phases LIST        idle,rate,offline,room,login (default idle,rate,offline)\n"
    "  --sessions N         idle sessions (default 2000)\n"
    "  --sources N          127.0.0.x source addresses, from 127.0.0.2 (default 1:\n"
    "                       the kernel's choice); about 28,000 sessions fit one\n"
    "  --pairs P            rate: sender/receiver pairs (default 500)\n"
    "  --rates R,R,...      rate: the offered-rate ladder, messages/s (default "
    "2000,4000)\n"
    "  --step-seconds S     rate: seconds per step (default 5)\n"
    "  --drain-seconds S    rate/room: how long to wait for the last ones (default 10)\n"
    "  --ladder-stop        rate: stop at the first step that loses a message or\n"
    "                       falls below 90 % of its offered rate\n"
    "  --receipts           rate: XEP-0184 receipts; latency is send to receipt\n"
    "  --sm                 XEP-0198 on every session (the server's <r/> answered)\n"
    "  --offline K          offline: backlog size (default 10000)\n"
    "  --occupants O        room: occupants (default 100)\n"
    "  --room-rate R        room: messages/s (default 50)\n"
    "  --room-messages M    room: messages (default 500)\n"
    "  --logins L           login: logins at once (default 1000)\n"
    "  --parallel C         logins in progress at once elsewhere (default 200)\n"
    "  --domain D           XMPP domain (default localhost)\n"
    "  --muc-domain D       room service (default conference.DOMAIN)\n"
    "  --timeout S          limit on each wait (default 120)\n"
    "  --path P             the WebSocket endpoint (default /xmpp)\n"
    "  --password PW        SASL PLAIN with PW instead of tokens (for other servers;\n"
    "                       their users must exist: see tests/bench/peers)\n"
    "  --run TAG            usernames start with TAG (default random): TAG_idle<i>,\n"
    "                       TAG_r<i>/TAG_s<i> (rate), TAG_offs0/TAG_offr0, TAG_occ<i>,\n"
    "                       TAG_login<i>\n"
    "Environment: PARLEY_JWT_SECRET (required), PARLEY_JWT_ISSUER, PARLEY_JWT_AUDIENCE,\n"
    "DATABASE_URL (offline: wait until the backlog is stored).\n";

static int int_arg(const char *name, const char *v, int min, int max)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || n < min || n > max) {
        fprintf(stderr, "parley-load: --%s must be an integer in [%d, %d]\n", name, min,
                max);
        exit(2);
    }
    return (int)n;
}

int main(int argc, char **argv)
{
    static char muc[256], run[32];
    struct load_opts o = {
        .host = "127.0.0.1",
        .domain = "localhost",
        .path = "/xmpp",
        .sources = 1,
        .parallel = 200,
        .sessions = 2000,
        .pairs = 500,
        .rates = {2000, 4000},
        .nrates = 2,
        .step_seconds = 5,
        .drain_seconds = 10,
        .logins = 1000,
        .offline = 10000,
        .occupants = 100,
        .room_rate = 50,
        .room_msgs = 500,
        .timeout_sec = 120,
    };
    const char *phases = "idle,rate,offline";
    const char *tag = NULL;
    static const struct option longs[] = {
        {"host", 1, 0, 'H'},
        {"port", 1, 0, 'p'},
        {"pid", 1, 0, 'P'},
        {"pg-pid", 1, 0, 'G'},
        {"phases", 1, 0, 'f'},
        {"sessions", 1, 0, 'n'},
        {"sources", 1, 0, 'S'},
        {"pairs", 1, 0, 'a'},
        {"rates", 1, 0, 'r'},
        {"step-seconds", 1, 0, 's'},
        {"drain-seconds", 1, 0, 'd'},
        {"receipts", 0, 0, 'R'},
        {"sm", 0, 0, 'M'},
        {"offline", 1, 0, 'o'},
        {"occupants", 1, 0, 'O'},
        {"room-rate", 1, 0, 'q'},
        {"room-messages", 1, 0, 'm'},
        {"logins", 1, 0, 'L'},
        {"parallel", 1, 0, 'c'},
        {"domain", 1, 0, 'D'},
        {"muc-domain", 1, 0, 'u'},
        {"timeout", 1, 0, 't'},
        {"help", 0, 0, 'h'},
        {"ladder-stop", 0, 0, 'X'},
        {"password", 1, 0, 'W'},
        {"path", 1, 0, 'T'},
        {"run", 1, 0, 'N'},
        {0, 0, 0, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (ch) {
        case 'H':
            o.host = optarg;
            break;
        case 'p':
            o.port = int_arg("port", optarg, 1, 65535);
            break;
        case 'P':
            o.pid = int_arg("pid", optarg, 1, 1 << 22);
            break;
        case 'G':
            o.pg_pid = int_arg("pg-pid", optarg, 1, 1 << 22);
            break;
        case 'f':
            phases = optarg;
            break;
        case 'n':
            o.sessions = int_arg("sessions", optarg, 1, 200000);
            break;
        case 'S':
            o.sources = int_arg("sources", optarg, 1, 250);
            break;
        case 'a':
            o.pairs = int_arg("pairs", optarg, 1, 50000);
            break;
        case 'r': {
            o.nrates = 0;
            char *copy = strdup(optarg), *save = NULL;
            for (char *t = strtok_r(copy, ",", &save); t && o.nrates < 32;
                 t = strtok_r(NULL, ",", &save))
                o.rates[o.nrates++] = int_arg("rates", t, 1, 1000000);
            free(copy);
            break;
        }
        case 's':
            o.step_seconds = int_arg("step-seconds", optarg, 1, 3600);
            break;
        case 'd':
            o.drain_seconds = int_arg("drain-seconds", optarg, 0, 3600);
            break;
        case 'R':
            o.receipts = 1;
            break;
        case 'M':
            o.sm = 1;
            break;
        case 'o':
            o.offline = int_arg("offline", optarg, 1, 1000000);
            break;
        case 'O':
            o.occupants = int_arg("occupants", optarg, 2, 20000);
            break;
        case 'q':
            o.room_rate = int_arg("room-rate", optarg, 1, 100000);
            break;
        case 'm':
            o.room_msgs = int_arg("room-messages", optarg, 1, 1000000);
            break;
        case 'L':
            o.logins = int_arg("logins", optarg, 1, 100000);
            break;
        case 'c':
            o.parallel = int_arg("parallel", optarg, 1, 100000);
            break;
        case 'D':
            o.domain = optarg;
            break;
        case 'u':
            o.muc_domain = optarg;
            break;
        case 't':
            o.timeout_sec = int_arg("timeout", optarg, 1, 86400);
            break;
        case 'W':
            o.password = optarg;
            break;
        case 'T':
            o.path = optarg;
            break;
        case 'N':
            tag = optarg;
            break;
        case 'X':
            o.ladder_stop = 1;
            break;
        case 'h':
            fputs(USAGE, stdout);
            return 0;
        default:
            fputs(USAGE, stderr);
            return 2;
        }
    }
    /* A load tool aimed elsewhere is a denial of service: loopback only. */
    if (strncmp(o.host, "127.", 4) != 0 || o.port == 0) {
        fputs(USAGE, stderr);
        return 2;
    }
    o.secret = getenv("PARLEY_JWT_SECRET");
    if (!o.password && (!o.secret || !*o.secret)) {
        fprintf(stderr, "parley-load: PARLEY_JWT_SECRET is not set\n");
        return 2;
    }
    o.issuer = getenv("PARLEY_JWT_ISSUER");
    o.audience = getenv("PARLEY_JWT_AUDIENCE");
    if (o.issuer && !*o.issuer)
        o.issuer = NULL;
    if (o.audience && !*o.audience)
        o.audience = NULL;
    if (!o.muc_domain) {
        snprintf(muc, sizeof muc, "conference.%s", o.domain);
        o.muc_domain = muc;
    }
    /* The run's tag from the kernel's random bytes: a tag seen before
     * means the same users and stanza ids, which the server takes as
     * resends of what it already has (seeding rand() from the time and
     * the pid gave a back-to-back run the tag of one five minutes
     * earlier). */
    unsigned seed;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    srand(seed);
    if (tag)
        snprintf(run, sizeof run, "%s", tag);
    else
        snprintf(run, sizeof run, "lg%08x", seed);
    o.run = run;

    /* Each session is a descriptor here and one in parleyd. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct load_loop l;
    if (load_loop_init(&l, &o) < 0) {
        perror("parley-load: epoll");
        return 2;
    }
    int rc = 0;
    char *list = strdup(phases), *save = NULL;
    for (char *ph = strtok_r(list, ",", &save); ph && rc == 0;
         ph = strtok_r(NULL, ",", &save)) {
        l.ready = l.failed = l.closed = 0;
        if (strcmp(ph, "idle") == 0)
            rc = o.pid ? phase_idle(&l, &o) : (fprintf(stderr, "idle needs --pid\n"), -1);
        else if (strcmp(ph, "rate") == 0)
            rc = phase_rate(&l, &o);
        else if (strcmp(ph, "offline") == 0)
            rc = phase_offline(&l, &o);
        else if (strcmp(ph, "room") == 0)
            rc = phase_room(&l, &o);
        else if (strcmp(ph, "login") == 0)
            rc = phase_login(&l, &o);
        else {
            fprintf(stderr, "parley-load: unknown phase %s\n", ph);
            rc = -1;
        }
        if (rc != 0)
            fprintf(stderr, "parley-load: phase %s could not be driven\n", ph);
    }
    free(list);
    load_loop_free(&l);
    printf("RESULT {%.*s%s\"ok\":%s}\n", (int)result.len, result.data ? result.data : "",
           result.len ? "," : "", rc == 0 ? "true" : "false");
    load_buf_free(&result);
    return rc == 0 ? 0 : 1;
}
