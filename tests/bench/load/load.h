/* parley-load: a load generator that speaks XMPP over WebSocket (RFC 7395)
 * itself, on one thread with epoll, so that one process drives thousands of
 * sessions at rates Node cannot generate. It is test code: the WebSocket
 * client and the stanza matching are written by hand and know only what this
 * tool sends and expects (a client library would spend the CPU the server
 * under test needs on the same two cores). */
#ifndef LOAD_H
#define LOAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct load_opts {
    const char *host; /* loopback address of parleyd */
    int port;
    const char *domain;
    const char *muc_domain;
    const char *secret;   /* HS256 key the tokens are signed with */
    const char *password; /* SASL PLAIN password instead of tokens (other servers) */
    const char *path;     /* the WebSocket endpoint's path */
    const char *issuer;   /* `iss` claim, or NULL */
    const char *audience;
    pid_t pid;    /* parleyd, for RSS and CPU; 0 if unknown */
    pid_t pg_pid; /* the postmaster, for PostgreSQL's CPU; 0 if unknown */
    int sources;  /* 127.0.0.x source addresses to spread sessions over */
    int parallel; /* logins in progress at once */
    int sm;       /* enable XEP-0198 on every session */
    int receipts; /* XEP-0184 receipts in the rate phase */
    int sessions; /* idle phase */
    int pairs;    /* rate phase */
    int rates[32];
    int nrates;
    int step_seconds;
    int ladder_stop; /* stop the ladder at the first step that fails */
    int drain_seconds;
    int logins;      /* login phase */
    int offline;     /* offline phase backlog */
    int occupants;   /* room phase */
    int room_rate;   /* room phase messages/s */
    int room_msgs;   /* room phase messages */
    int timeout_sec; /* per wait */
    const char *run; /* a tag that makes this run's usernames unique */
};

struct load_buf {
    char *data;
    size_t len;
    size_t cap;
};

enum load_state {
    LOAD_CONNECTING,
    LOAD_UPGRADE,
    LOAD_FEATURES1,
    LOAD_AUTH,
    LOAD_FEATURES2,
    LOAD_BIND,
    LOAD_PING,
    LOAD_READY,
    LOAD_CLOSED,
    LOAD_FAILED,
};

struct load_conn;
typedef void (*load_frame_fn)(struct load_conn *c, const char *f, size_t n, uint64_t now);

struct load_conn {
    int fd;
    enum load_state state;
    int idx;
    char user[64];
    char jid[160]; /* the bound full JID */
    char why[160]; /* why it failed */
    struct load_buf in;
    struct load_buf out;
    struct load_buf frag; /* a fragmented WebSocket message being joined */
    int out_armed;
    int sm_enabled;
    uint32_t sm_in; /* stanzas handled since <enabled/> (mod 2^32) */
    uint64_t started_ns;
    uint64_t ready_ns;
    load_frame_fn on_frame; /* stanzas once ready */
    void *ud;
};

struct load_loop {
    int ep;
    const struct load_opts *o;
    int ready;
    int failed;
    int closed;
    load_frame_fn on_frame; /* given to each connection it starts */
};

/* load_util.c */
uint64_t load_now_ns(void);
int load_token_make(const struct load_opts *o, const char *user, char *out, size_t cap);
long load_proc_rss_kb(pid_t pid);
long load_proc_cpu_ms(pid_t pid);
long load_proc_tree_cpu_ms(pid_t parent);
long load_self_cpu_ms(void);
void load_buf_put(struct load_buf *b, const void *p, size_t n);
void load_buf_free(struct load_buf *b);
void load_buf_consume(struct load_buf *b, size_t n);
int load_attr(const char *f, size_t n, const char *name, char *out, size_t cap);
const char *load_find(const char *f, size_t n, const char *needle);
uint32_t load_percentile_us(uint32_t *v, size_t n, double p);

/* load_conn.c */
int load_loop_init(struct load_loop *l, const struct load_opts *o);
void load_loop_free(struct load_loop *l);
int load_conn_start(struct load_loop *l, struct load_conn *c, int idx, const char *user);
void load_conn_send(struct load_loop *l, struct load_conn *c, const char *xml, size_t n);
void load_conn_sendf(struct load_loop *l, struct load_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void load_conn_close(struct load_loop *l, struct load_conn *c);
/* Waits for events up to `ms` and handles them; returns the number handled. */
int load_loop_poll(struct load_loop *l, int ms);
/* Logs in `n` sessions, `o->parallel` at a time; 0 when all are ready. */
int load_login_many(struct load_loop *l, struct load_conn *cs, int n, const char *prefix);
void load_close_many(struct load_loop *l, struct load_conn *cs, int n);

#endif
