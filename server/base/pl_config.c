#include "pl_config.h"
#include "pl_error.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef PL_DEFAULT_MIGRATIONS_DIR
#define PL_DEFAULT_MIGRATIONS_DIR "migrations"
#endif

static int set_str(char **slot, const char *value)
{
    char *copy = NULL;
    if (value && *value) {
        copy = strdup(value);
        if (!copy)
            return PL_ENOMEM;
    }
    free(*slot);
    *slot = copy;
    return PL_OK;
}

int pl_config_split_addr(const char *addr, char **host, int *port)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || !colon[1])
        return PL_EINVAL;
    const char *h = addr;
    size_t hlen = (size_t)(colon - addr);
    if (h[0] == '[') {
        if (hlen < 3 || h[hlen - 1] != ']')
            return PL_EINVAL;
        h++;
        hlen -= 2;
    }
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || *end || p < 0 || p > 65535)
        return PL_EINVAL;
    char *copy = strndup(h, hlen);
    if (!copy)
        return PL_ENOMEM;
    *host = copy;
    *port = (int)p;
    return PL_OK;
}

int pl_config_is_loopback(const char *host)
{
    return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
           strcmp(host, "::1") == 0;
}

static int parse_size(const char *v, size_t *out)
{
    if (!isdigit((unsigned char)v[0])) /* strtoull would take "-5" */
        return PL_EINVAL;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || end == v || *end || n == 0)
        return PL_EINVAL;
    *out = (size_t)n;
    return PL_OK;
}

/* A positive count of things, up to a million. */
static int parse_count(const char *v, int *out)
{
    size_t n = 0;
    if (parse_size(v, &n) != PL_OK || n > 1000000)
        return PL_EINVAL;
    *out = (int)n;
    return PL_OK;
}

/* The limits: a count from 0 (off) up to `max`. 1 if `name` is one of
 * them (*rc says whether its value was good), else 0. */
static int apply_limit(struct pl_config *cfg, const char *name, const char *value,
                       int *rc)
{
    struct {
        const char *name;
        int *slot;
        long max;
    } ints[] = {
        {"PARLEY_LIMIT_PENDING_PER_IP", &cfg->limit_pending_per_ip, 1000000},
        {"PARLEY_LIMIT_CONNECT_RATE", &cfg->limit_connect_rate, 1000000},
        {"PARLEY_LIMIT_CONNECT_BURST", &cfg->limit_connect_burst, 1000000},
        {"PARLEY_LIMIT_CONNECTIONS", &cfg->limit_connections, 10000000},
        {"PARLEY_LIMIT_AUTH_FAILURES", &cfg->limit_auth_failures, 1000000},
        {"PARLEY_LIMIT_OFFLINE_QUEUE", &cfg->limit_offline_queue, 1000000000},
        {"PARLEY_LIMIT_STORE_QUEUE", &cfg->limit_store_queue, 1000000000},
        {"PARLEY_UPGRADE_TIMEOUT", &cfg->upgrade_timeout, 3600},
        {"PARLEY_LIMIT_API_RATE", &cfg->limit_api_rate, 1000000},
        {"PARLEY_LIMIT_ROOM_OCCUPANTS", &cfg->limit_room_occupants, 1000000},
        {"PARLEY_LIMIT_ROOMS_PER_USER", &cfg->limit_rooms_per_user, 1000000},
        {"PARLEY_LIMIT_ROOM_MESSAGE_RATE", &cfg->limit_room_msg_rate, 1000000},
    };
    if (strcmp(name, "PARLEY_SESSION_EXPIRY") == 0) {
        *rc = PL_OK;
        if (strcmp(value, "close") == 0 || strcmp(value, "ignore") == 0)
            cfg->session_expiry_close = value[0] == 'c';
        else
            *rc = PL_EINVAL;
        return 1;
    }
    int is_session_bytes = strcmp(name, "PARLEY_LIMIT_SESSION_BYTES") == 0;
    int *slot = NULL;
    long max = 0;
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
        if (strcmp(name, ints[i].name) == 0) {
            slot = ints[i].slot;
            max = ints[i].max;
        }
    if (!slot && !is_session_bytes)
        return 0;
    char *end;
    errno = 0;
    unsigned long long n =
        isdigit((unsigned char)value[0]) ? strtoull(value, &end, 10) : 0;
    *rc = PL_OK;
    if (!isdigit((unsigned char)value[0]) || errno || *end ||
        (slot && n > (unsigned long long)max) || (is_session_bytes && n > (1ull << 40)))
        *rc = PL_EINVAL;
    /* lws has no way to turn its header deadline off. */
    else if (slot == &cfg->upgrade_timeout && n == 0)
        *rc = PL_EINVAL;
    else if (slot)
        *slot = (int)n;
    else
        cfg->limit_session_bytes = (size_t)n;
    return 1;
}

/* Applies one NAME=value setting; unknown names are an error so that a typo
 * in a config file does not go unnoticed. */
static int apply(struct pl_config *cfg, const char *name, const char *value, char *err,
                 size_t errlen)
{
    struct {
        const char *name;
        char **slot;
    } strs[] = {
        {"DATABASE_URL", &cfg->database_url},
        {"PARLEY_DOMAIN", &cfg->domain},
        {"PARLEY_MUC_DOMAIN", &cfg->muc_domain},
        {"PARLEY_JWT_SECRET", &cfg->jwt_secret},
        {"PARLEY_JWT_PUBLIC_KEY", &cfg->jwt_public_key},
        {"PARLEY_JWT_ALG", &cfg->jwt_alg},
        {"PARLEY_JWT_ISSUER", &cfg->jwt_issuer},
        {"PARLEY_JWT_AUDIENCE", &cfg->jwt_audience},
        {"PARLEY_ALLOWED_ORIGINS", &cfg->allowed_origins},
        {"PARLEY_TLS_CERT", &cfg->tls_cert},
        {"PARLEY_TLS_KEY", &cfg->tls_key},
        {"PARLEY_MIGRATIONS_DIR", &cfg->migrations_dir},
        {"PARLEY_NODE", &cfg->node_name},
        {"PARLEY_LOG_LEVEL", &cfg->log_level},
        {"PARLEY_METRICS_TOKEN", &cfg->metrics_token},
        {"PARLEY_TRUSTED_PROXIES", &cfg->trusted_proxies},
        {"PARLEY_WS_URL", &cfg->ws_url},
        {"PARLEY_UPLOAD_DIR", &cfg->upload_dir},
        {"PARLEY_UPLOAD_URL", &cfg->upload_url},
        {"PARLEY_UPLOAD_SECRET", &cfg->upload_secret},
    };
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (strcmp(name, strs[i].name) == 0)
            return set_str(strs[i].slot, value);

    int rc = PL_OK;
    if (apply_limit(cfg, name, value, &rc)) {
        if (rc == PL_EINVAL)
            snprintf(err, errlen, "bad value for %s: %s", name, value);
        return rc;
    }
    if (strcmp(name, "PARLEY_XMPP_ADDR") == 0 || strcmp(name, "PARLEY_API_ADDR") == 0) {
        int xmpp = name[7] == 'X';
        char *host = NULL;
        int port = 0;
        rc = pl_config_split_addr(value, &host, &port);
        if (rc == PL_OK) {
            free(xmpp ? cfg->xmpp_host : cfg->api_host);
            *(xmpp ? &cfg->xmpp_host : &cfg->api_host) = host;
            *(xmpp ? &cfg->xmpp_port : &cfg->api_port) = port;
        }
    } else if (strcmp(name, "PARLEY_MAX_STANZA_SIZE") == 0) {
        rc = parse_size(value, &cfg->max_stanza_size);
    } else if (strcmp(name, "PARLEY_MAX_SEND_QUEUE") == 0) {
        rc = parse_size(value, &cfg->max_send_queue);
    } else if (strcmp(name, "PARLEY_IDLE_TIMEOUT") == 0) {
        size_t n = 0;
        rc = parse_size(value, &n);
        if (rc == PL_OK && (n < 2 || n > 65535))
            rc = PL_EINVAL;
        cfg->idle_timeout = (int)n;
    } else if (strcmp(name, "PARLEY_AUTH_TIMEOUT") == 0) {
        size_t n = 0;
        rc = parse_size(value, &n);
        if (rc == PL_OK && n > 3600)
            rc = PL_EINVAL;
        cfg->auth_timeout = (int)n;
    } else if (strcmp(name, "PARLEY_STORE_WORKERS") == 0) {
        size_t n = 0;
        rc = parse_size(value, &n);
        if (rc == PL_OK && n > 64)
            rc = PL_EINVAL;
        cfg->store_workers = (int)n;
    } else if (strcmp(name, "PARLEY_SM_RESUME_TIMEOUT") == 0) {
        rc = parse_count(value, &cfg->sm_resume_timeout);
    } else if (strcmp(name, "PARLEY_SM_MAX_UNACKED") == 0) {
        rc = parse_count(value, &cfg->sm_max_unacked);
    } else if (strcmp(name, "PARLEY_SM_REQUEST_EVERY") == 0) {
        /* 0: never ask for this reason */
        rc = strcmp(value, "0") == 0 ? (cfg->sm_request_every = 0, PL_OK)
                                     : parse_count(value, &cfg->sm_request_every);
    } else if (strcmp(name, "PARLEY_SM_REQUEST_SECS") == 0) {
        rc = strcmp(value, "0") == 0 ? (cfg->sm_request_secs = 0, PL_OK)
                                     : parse_count(value, &cfg->sm_request_secs);
    } else if (strcmp(name, "PARLEY_MAX_SESSIONS_PER_USER") == 0) {
        rc = parse_count(value, &cfg->max_sessions_per_user);
    } else if (strcmp(name, "PARLEY_MAX_ROSTER_ITEMS") == 0) {
        rc = parse_count(value, &cfg->max_roster_items);
    } else if (strcmp(name, "PARLEY_TEAM_ROSTER") == 0) {
        if (strcmp(value, "1") == 0 || strcmp(value, "true") == 0)
            cfg->team_roster = 1;
        else if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0 || !*value)
            cfg->team_roster = 0;
        else
            rc = PL_EINVAL;
    } else if (strcmp(name, "PARLEY_ROOM_CREATION") == 0) {
        if (strcmp(value, "anyone") == 0 || strcmp(value, "admins") == 0)
            cfg->room_creation_admins = value[0] == 'a' && value[1] == 'd';
        else
            rc = PL_EINVAL;
    } else if (strcmp(name, "PARLEY_ROOM_CATCHUP_MAX") == 0 ||
               strcmp(name, "PARLEY_MAM_MAX_PAGE") == 0) {
        /* Bounded: one store job holds the whole history or page. */
        int catchup = name[7] == 'R';
        size_t n = 0;
        rc = parse_size(value, &n);
        if (rc == PL_OK && n > (catchup ? 10000u : 1000u))
            rc = PL_EINVAL;
        *(catchup ? &cfg->room_catchup_max : &cfg->mam_max_page) = (int)n;
    } else if (strcmp(name, "PARLEY_UPLOAD_MAX_BYTES") == 0 ||
               strcmp(name, "PARLEY_UPLOAD_QUOTA_BYTES") == 0) {
        size_t n = 0;
        rc = parse_size(value, &n);
        if (rc == PL_OK && n > (size_t)1 << 50)
            rc = PL_EINVAL;
        *(name[14] == 'M' ? &cfg->upload_max : &cfg->upload_quota) = (long long)n;
    } else if (strcmp(name, "PARLEY_UPLOAD_SLOT_TTL") == 0) {
        size_t n = 0;
        rc = parse_size(value, &n);
        if (rc == PL_OK && n > 86400)
            rc = PL_EINVAL;
        cfg->upload_ttl = (int)n;
    } else if (strcmp(name, "PARLEY_UPLOAD") == 0) {
        if (strcmp(value, "1") == 0 || strcmp(value, "true") == 0)
            cfg->upload_enabled = 1;
        else if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0)
            cfg->upload_enabled = 0;
        else
            rc = PL_EINVAL;
    } else if (strcmp(name, "PARLEY_ALLOW_PLAIN_WS") == 0) {
        cfg->allow_plain_public = strcmp(value, "1") == 0 || strcmp(value, "true") == 0;
    } else if (strcmp(name, "PARLEY_BEHIND_PROXY") == 0) {
        cfg->behind_proxy = strcmp(value, "1") == 0 || strcmp(value, "true") == 0;
    } else {
        snprintf(err, errlen, "unknown setting %s", name);
        return PL_EINVAL;
    }
    if (rc == PL_EINVAL)
        snprintf(err, errlen, "bad value for %s: %s", name, value);
    return rc;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int load_file(struct pl_config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return PL_EIO;
    }
    char line[4096];
    int lineno = 0, rc = PL_OK;
    while (rc == PL_OK && fgets(line, sizeof(line), f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected NAME = value", path, lineno);
            rc = PL_EINVAL;
            break;
        }
        *eq = '\0';
        char *name = trim(s), *value = trim(eq + 1);
        size_t vlen = strlen(value);
        if (vlen >= 2 && (value[0] == '"' || value[0] == '\'') &&
            value[vlen - 1] == value[0]) {
            value[vlen - 1] = '\0';
            value++;
        }
        rc = apply(cfg, name, value, err, errlen);
    }
    fclose(f);
    return rc;
}

static const char *const env_names[] = {
    "DATABASE_URL",
    "PARLEY_DOMAIN",
    "PARLEY_MUC_DOMAIN",
    "PARLEY_XMPP_ADDR",
    "PARLEY_API_ADDR",
    "PARLEY_JWT_SECRET",
    "PARLEY_JWT_PUBLIC_KEY",
    "PARLEY_JWT_ALG",
    "PARLEY_JWT_ISSUER",
    "PARLEY_JWT_AUDIENCE",
    "PARLEY_ALLOWED_ORIGINS",
    "PARLEY_TLS_CERT",
    "PARLEY_TLS_KEY",
    "PARLEY_ALLOW_PLAIN_WS",
    "PARLEY_MAX_STANZA_SIZE",
    "PARLEY_MAX_SEND_QUEUE",
    "PARLEY_STORE_WORKERS",
    "PARLEY_MIGRATIONS_DIR",
    "PARLEY_NODE",
    "PARLEY_LOG_LEVEL",
    "PARLEY_IDLE_TIMEOUT",
    "PARLEY_AUTH_TIMEOUT",
    "PARLEY_METRICS_TOKEN",
    "PARLEY_MAX_SESSIONS_PER_USER",
    "PARLEY_MAX_ROSTER_ITEMS",
    "PARLEY_TEAM_ROSTER",
    "PARLEY_ROOM_CREATION",
    "PARLEY_ROOM_CATCHUP_MAX",
    "PARLEY_MAM_MAX_PAGE",
};

/* XEP-0198 stream management's settings. */
static const char *const env_names_sm[] = {
    "PARLEY_SM_RESUME_TIMEOUT",
    "PARLEY_SM_MAX_UNACKED",
    "PARLEY_SM_REQUEST_EVERY",
    "PARLEY_SM_REQUEST_SECS",
};

/* The deployment settings (a separate table: the one above is other
 * features' too). */
static const char *const env_names_deploy[] = {
    "PARLEY_BEHIND_PROXY",
    "PARLEY_TRUSTED_PROXIES",
    "PARLEY_WS_URL",
};

/* The file upload settings (XEP-0363). */
static const char *const env_names_upload[] = {
    "PARLEY_UPLOAD",          "PARLEY_UPLOAD_DIR",       "PARLEY_UPLOAD_URL",
    "PARLEY_UPLOAD_SECRET",   "PARLEY_UPLOAD_MAX_BYTES", "PARLEY_UPLOAD_QUOTA_BYTES",
    "PARLEY_UPLOAD_SLOT_TTL",
};

/* The limits (a table of their own, like the one above). */
static const char *const env_names_limits[] = {
    "PARLEY_LIMIT_PENDING_PER_IP",    "PARLEY_LIMIT_CONNECT_RATE",
    "PARLEY_LIMIT_CONNECT_BURST",     "PARLEY_LIMIT_CONNECTIONS",
    "PARLEY_LIMIT_AUTH_FAILURES",     "PARLEY_LIMIT_SESSION_BYTES",
    "PARLEY_LIMIT_OFFLINE_QUEUE",     "PARLEY_UPGRADE_TIMEOUT",
    "PARLEY_LIMIT_API_RATE",          "PARLEY_SESSION_EXPIRY",
    "PARLEY_LIMIT_ROOM_OCCUPANTS",    "PARLEY_LIMIT_ROOMS_PER_USER",
    "PARLEY_LIMIT_ROOM_MESSAGE_RATE", "PARLEY_LIMIT_STORE_QUEUE",
};

int pl_config_load(struct pl_config *cfg, const char *path, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->xmpp_port = 5280;
    cfg->api_port = 8080;
    cfg->max_stanza_size = 64 * 1024;
    cfg->max_send_queue = 1024 * 1024;
    cfg->store_workers = 2;
    cfg->idle_timeout = 90;
    cfg->auth_timeout = 10;
    cfg->max_sessions_per_user = 10;
    cfg->max_roster_items = 1000;
    cfg->room_catchup_max = 1000;
    cfg->mam_max_page = 250;
    cfg->upload_enabled = 1;
    cfg->upload_max = 50LL * 1024 * 1024;
    cfg->upload_quota = 1LL << 30;
    cfg->upload_ttl = 300;
    cfg->sm_resume_timeout = 300;
    cfg->sm_max_unacked = 1000;
    cfg->sm_request_every = 5;
    cfg->sm_request_secs = 30;
    cfg->limit_pending_per_ip = 20;
    cfg->limit_connect_rate = 20;
    cfg->limit_connect_burst = 200;
    cfg->limit_connections = -1; /* unset: from the descriptor limit (main.c) */
    cfg->limit_auth_failures = 5;
    cfg->limit_session_bytes = 64 * 1024;
    cfg->limit_offline_queue = 10000;
    cfg->limit_store_queue = 50000;
    cfg->upgrade_timeout = 10;
    cfg->limit_api_rate = 50;
    cfg->limit_room_occupants = 1000;
    cfg->limit_rooms_per_user = 200;
    cfg->limit_room_msg_rate = 30;
    int rc = PL_ENOMEM;
    if (set_str(&cfg->domain, "localhost") || set_str(&cfg->xmpp_host, "127.0.0.1") ||
        set_str(&cfg->api_host, "127.0.0.1") ||
        set_str(&cfg->migrations_dir, PL_DEFAULT_MIGRATIONS_DIR) ||
        set_str(&cfg->log_level, "info") || set_str(&cfg->upload_dir, ".local/uploads"))
        goto fail;
    if (path && (rc = load_file(cfg, path, err, errlen)) != PL_OK)
        goto fail;
    for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++) {
        const char *v = getenv(env_names[i]);
        if (v && (rc = apply(cfg, env_names[i], v, err, errlen)) != PL_OK)
            goto fail;
    }
    for (size_t i = 0; i < sizeof(env_names_sm) / sizeof(env_names_sm[0]); i++) {
        const char *v = getenv(env_names_sm[i]);
        if (v && (rc = apply(cfg, env_names_sm[i], v, err, errlen)) != PL_OK)
            goto fail;
    }
    for (size_t i = 0; i < sizeof(env_names_deploy) / sizeof(env_names_deploy[0]); i++) {
        const char *v = getenv(env_names_deploy[i]);
        if (v && (rc = apply(cfg, env_names_deploy[i], v, err, errlen)) != PL_OK)
            goto fail;
    }
    for (size_t i = 0; i < sizeof(env_names_upload) / sizeof(env_names_upload[0]); i++) {
        const char *v = getenv(env_names_upload[i]);
        if (v && (rc = apply(cfg, env_names_upload[i], v, err, errlen)) != PL_OK)
            goto fail;
    }
    for (size_t i = 0; i < sizeof(env_names_limits) / sizeof(env_names_limits[0]); i++) {
        const char *v = getenv(env_names_limits[i]);
        if (v && (rc = apply(cfg, env_names_limits[i], v, err, errlen)) != PL_OK)
            goto fail;
    }
    if (!cfg->domain) {
        snprintf(err, errlen, "PARLEY_DOMAIN must not be empty");
        rc = PL_EINVAL;
        goto fail;
    }
    if (!cfg->muc_domain) {
        size_t n = strlen(cfg->domain) + sizeof("conference.");
        if (!(cfg->muc_domain = malloc(n)))
            goto fail;
        snprintf(cfg->muc_domain, n, "conference.%s", cfg->domain);
    }
    if (!cfg->jwt_alg && set_str(&cfg->jwt_alg, cfg->jwt_public_key ? "RS256" : "HS256"))
        goto fail;
    if (!cfg->node_name) {
        /* Host and port: two servers on one machine sharing a database get
         * different names, and a restarted server finds its own rows. */
        char host[256] = "localhost";
        gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = '\0';
        size_t n = strlen(host) + 8;
        if (!(cfg->node_name = malloc(n)))
            goto fail;
        snprintf(cfg->node_name, n, "%s:%d", host, cfg->xmpp_port);
    }
    return PL_OK;
fail:
    if (rc == PL_ENOMEM)
        snprintf(err, errlen, "out of memory");
    pl_config_free(cfg);
    return rc;
}

void pl_config_free(struct pl_config *cfg)
{
    char **strs[] = {&cfg->database_url,   &cfg->domain,          &cfg->muc_domain,
                     &cfg->xmpp_host,      &cfg->api_host,        &cfg->jwt_secret,
                     &cfg->jwt_public_key, &cfg->jwt_alg,         &cfg->jwt_issuer,
                     &cfg->jwt_audience,   &cfg->allowed_origins, &cfg->tls_cert,
                     &cfg->tls_key,        &cfg->migrations_dir,  &cfg->node_name,
                     &cfg->log_level,      &cfg->metrics_token};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
    free(cfg->trusted_proxies);
    cfg->trusted_proxies = NULL;
    free(cfg->ws_url);
    cfg->ws_url = NULL;
    free(cfg->upload_dir);
    cfg->upload_dir = NULL;
    free(cfg->upload_url);
    cfg->upload_url = NULL;
    if (cfg->upload_secret)
        explicit_bzero(cfg->upload_secret, strlen(cfg->upload_secret));
    free(cfg->upload_secret);
    cfg->upload_secret = NULL;
}

int pl_config_addr_in_list(const char *list, const char *addr)
{
    size_t n = addr ? strlen(addr) : 0;
    if (!list || !n)
        return 0;
    for (const char *p = list; *p;) {
        while (*p == ',' || *p == ' ')
            p++;
        size_t len = strcspn(p, ", ");
        if (len == n && strncmp(p, addr, n) == 0)
            return 1;
        p += len;
    }
    return 0;
}
