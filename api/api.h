/* The admin REST API (PROTOCOL.md "Admin REST API"): libmicrohttpd with its
 * own thread pool (epoll), its own small pool of PostgreSQL connections
 * (db/db_read.h), jansson for JSON. It reads and writes PostgreSQL only;
 * what it asks of live sessions (kick, disable, deliver a message) reaches
 * the XMPP loops through NOTIFY, never through the loop's memory. */
#ifndef API_H
#define API_H

#include "auth_jwt.h"
#include "pl_metrics.h"

struct api_server;
struct auth_upload_key;

struct api_config {
    const char *host; /* listener address; borrowed while the server runs */
    int port;
    const char *tls_cert; /* PEM files: both set for HTTPS, or neither */
    const char *tls_key;
    const char *domain;     /* the XMPP domain: the sender of server messages */
    const char *muc_domain; /* rooms are group-{uuid}@muc_domain */
    const char *conninfo;   /* libpq connection string */
    const char *migrations_dir;
    const char *metrics_token;            /* NULL: /metrics needs no token */
    const struct auth_verifier *verifier; /* the one verifier; borrowed */
    struct pl_metrics *metrics;           /* the loop's counters; may be NULL */
    int threads;                          /* 0: 4 */
    int db_connections;                   /* 0: threads + 1 */
    /* The public WebSocket URL XEP-0156 host-meta announces; borrowed like
     * the verifier (it must outlive the server); NULL: no host-meta. */
    const char *ws_url;

    /* XEP-0363 uploads under /upload/ (api_upload.c); upload_key NULL: no
     * upload service. */
    const char *upload_dir;                   /* where files are kept; copied */
    const struct auth_upload_key *upload_key; /* verifies PUT URLs; borrowed */
    long long upload_max;                     /* the largest PUT body */
    /* PARLEY_LIMIT_API_RATE: requests a second per admin (the token's
     * subject), bursts of ten times that; 0: no limit. */
    int rate_per_token;
};

/* Binds the listener and starts the threads. Copies what it keeps of cfg
 * except the verifier and metrics, which must outlive the server. */
int api_server_start(const struct api_config *cfg, struct api_server **out);
/* Stops accepting, waits for the requests in progress and frees; NULL is a
 * no-op. */
void api_server_stop(struct api_server *srv);
/* The port bound (useful when cfg->port was 0). */
int api_server_port(const struct api_server *srv);

#endif
