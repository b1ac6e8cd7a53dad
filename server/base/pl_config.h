/* Server configuration: built-in defaults, then a config file of
 * `NAME = value` lines (the same names as the environment variables), then
 * the environment. Every string is owned by the struct. */
#ifndef PL_CONFIG_H
#define PL_CONFIG_H

#include <stddef.h>

struct pl_config {
    char *database_url;     /* DATABASE_URL */
    char *domain;           /* PARLEY_DOMAIN */
    char *muc_domain;       /* PARLEY_MUC_DOMAIN */
    char *xmpp_host;        /* PARLEY_XMPP_ADDR, host part */
    int xmpp_port;          /* PARLEY_XMPP_ADDR, port part */
    char *api_host;         /* PARLEY_API_ADDR, host part */
    int api_port;           /* PARLEY_API_ADDR, port part */
    char *jwt_secret;       /* PARLEY_JWT_SECRET (HS256) */
    char *jwt_public_key;   /* PARLEY_JWT_PUBLIC_KEY: PEM file path (RS256/ES256) */
    char *jwt_alg;          /* PARLEY_JWT_ALG: HS256, RS256 or ES256 */
    char *jwt_issuer;       /* PARLEY_JWT_ISSUER: required `iss`, or NULL */
    char *jwt_audience;     /* PARLEY_JWT_AUDIENCE: required `aud`, or NULL */
    char *allowed_origins;  /* PARLEY_ALLOWED_ORIGINS, comma-separated, or NULL */
    char *tls_cert;         /* PARLEY_TLS_CERT */
    char *tls_key;          /* PARLEY_TLS_KEY */
    int allow_plain_public; /* PARLEY_ALLOW_PLAIN_WS: bind ws:// beyond loopback */
    size_t max_stanza_size; /* PARLEY_MAX_STANZA_SIZE, bytes */
    size_t max_send_queue;  /* PARLEY_MAX_SEND_QUEUE: bytes queued to one client */
    int store_workers;      /* PARLEY_STORE_WORKERS */
    int idle_timeout;       /* PARLEY_IDLE_TIMEOUT: seconds of silence before a
                               connection is dropped (pinged at half) */
    int auth_timeout;       /* PARLEY_AUTH_TIMEOUT: seconds from the WebSocket
                               opening to a bound stream */
    char *migrations_dir;   /* PARLEY_MIGRATIONS_DIR */
    char *node_name;        /* PARLEY_NODE: this node's name in shared tables */
    char *log_level;        /* PARLEY_LOG_LEVEL */
    char *metrics_token;    /* PARLEY_METRICS_TOKEN: Bearer token for /metrics, or NULL */
    int max_sessions_per_user; /* PARLEY_MAX_SESSIONS_PER_USER */
    int max_roster_items;      /* PARLEY_MAX_ROSTER_ITEMS */
    int team_roster;           /* PARLEY_TEAM_ROSTER: everyone in every roster */

    /* rooms and the archive */
    int room_creation_admins; /* PARLEY_ROOM_CREATION: "admins" (1) or "anyone" */
    int room_catchup_max;     /* PARLEY_ROOM_CATCHUP_MAX: messages a member
                                 who was away gets on joining */
    int mam_max_page;         /* PARLEY_MAM_MAX_PAGE: the largest archive page */
    int behind_proxy;         /* PARLEY_BEHIND_PROXY: a TLS proxy is in front */
    char *trusted_proxies;    /* PARLEY_TRUSTED_PROXIES: comma-separated addresses
                                 whose X-Forwarded-For is believed, or NULL */
    char *ws_url;             /* PARLEY_WS_URL: the public WebSocket URL host-meta
                                 announces, or NULL (derived) */

    /* file upload (XEP-0363) */
    char *upload_dir;       /* PARLEY_UPLOAD_DIR: where files are kept */
    char *upload_url;       /* PARLEY_UPLOAD_URL: the public base of upload URLs
                               ("https://chat.example.com"), or NULL (derived
                               from PARLEY_API_ADDR) */
    char *upload_secret;    /* PARLEY_UPLOAD_SECRET: signs PUT URLs, or NULL
                               (derived from the JWT secret) */
    long long upload_max;   /* PARLEY_UPLOAD_MAX_BYTES: the largest file */
    long long upload_quota; /* PARLEY_UPLOAD_QUOTA_BYTES: per user */
    int upload_ttl;         /* PARLEY_UPLOAD_SLOT_TTL: seconds a PUT URL lasts */
    int upload_enabled;     /* PARLEY_UPLOAD: 0 turns the service off */
    /* XEP-0198 stream management */
    int sm_resume_timeout; /* PARLEY_SM_RESUME_TIMEOUT: seconds a dropped session
                              may be resumed */
    int sm_max_unacked;    /* PARLEY_SM_MAX_UNACKED: unacknowledged stanzas
                              before the session is closed */
    int sm_request_every;  /* PARLEY_SM_REQUEST_EVERY: ask <r/> after this many */
    int sm_request_secs;   /* PARLEY_SM_REQUEST_SECS: ...or after this many seconds */
    /* Limits against abuse (SECURITY.md); 0 turns each off. */
    int limit_pending_per_ip;   /* PARLEY_LIMIT_PENDING_PER_IP: connections from one
                                   address whose upgrade is not accepted yet */
    int limit_connect_rate;     /* PARLEY_LIMIT_CONNECT_RATE: new connections a
                                   second per address */
    int limit_connect_burst;    /* PARLEY_LIMIT_CONNECT_BURST: and at once */
    int limit_connections;      /* PARLEY_LIMIT_CONNECTIONS: all connections (-1:
                                   unset, from the descriptor limit) */
    int limit_auth_failures;    /* PARLEY_LIMIT_AUTH_FAILURES: a minute, per
                                   address and per username */
    size_t limit_session_bytes; /* PARLEY_LIMIT_SESSION_BYTES: inbound bytes a
                                   second per connection */
    int limit_offline_queue;    /* PARLEY_LIMIT_OFFLINE_QUEUE: messages waiting
                                   for one recipient */
    int limit_store_queue;      /* PARLEY_LIMIT_STORE_QUEUE: store jobs waiting
                                   for a worker, past which messages are refused */
    int upgrade_timeout;        /* PARLEY_UPGRADE_TIMEOUT: seconds from the TCP
                                   connection to the upgrade's end */
    int limit_api_rate;         /* PARLEY_LIMIT_API_RATE: admin API requests a
                                   second per admin */
    int session_expiry_close;   /* PARLEY_SESSION_EXPIRY: "close" (1) or
                                   "ignore" (0) */
    int limit_room_occupants;   /* PARLEY_LIMIT_ROOM_OCCUPANTS: users in a room */
    int limit_rooms_per_user;   /* PARLEY_LIMIT_ROOMS_PER_USER: rooms a user is in */
    int limit_room_msg_rate;    /* PARLEY_LIMIT_ROOM_MESSAGE_RATE: a second
                                   per occupant */
};

/* Fills `cfg` with defaults, then `path` (if not NULL), then the environment.
 * On failure writes a reason into `err` and returns PL_EINVAL or PL_EIO. */
int pl_config_load(struct pl_config *cfg, const char *path, char *err, size_t errlen);
/* Splits "host:port" ("[::1]:5280" too); PL_EINVAL if malformed. `host` is
 * allocated. */
int pl_config_split_addr(const char *addr, char **host, int *port);
/* 1 if `host` is a loopback name or address. */
int pl_config_is_loopback(const char *host);
/* 1 if `addr` is one of the comma-separated addresses in `list` (NULL: none). */
int pl_config_addr_in_list(const char *list, const char *addr);
void pl_config_free(struct pl_config *cfg);

#endif
