/* parleyd: wiring only. Reads the configuration, builds the layers, starts
 * the store workers and runs the XMPP loop; or runs one of the commands
 * (migrate, token). */
#include "api.h"
#include "auth_jwt.h"
#include "auth_upload.h"
#include "chat.h"
#include "db_migrate.h"
#include "db_store.h"
#include "pl_config.h"
#include "pl_error.h"
#include "pl_log.h"
#include "pl_limit.h"
#include "pl_metrics.h"
#include "ws_server.h"
#include "xmpp_parse.h"
#include "xmpp_sm.h"
#include "xmpp_stream.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How long serve waits for an unreachable database before giving up. */
#define DB_START_WAIT_S 30

/* The one global besides the log level (STYLE.md rule 7). */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *out)
{
    fputs("Usage: parleyd [--config FILE] [COMMAND]\n"
          "\n"
          "Parley: a team-chat server speaking XMPP over WebSocket (RFC 7395),\n"
          "storing every message in PostgreSQL.\n"
          "\n"
          "Commands:\n"
          "  serve                  run the server in the foreground (the default)\n"
          "  migrate                apply the database migrations, then exit\n"
          "  check-config           validate the configuration and the database\n"
          "                         connection, print what serve would serve\n"
          "  token USER [--admin] [--ttl SECONDS]\n"
          "                         print a JWT for USER signed with the configured\n"
          "                         HS256 secret (default ttl 86400 s)\n"
          "\n"
          "Options:\n"
          "  -c, --config FILE      read NAME = value settings from FILE; the\n"
          "                         environment overrides them\n"
          "  -h, --help             show this help\n"
          "\n"
          "Settings (environment or config file): DATABASE_URL, PARLEY_DOMAIN,\n"
          "PARLEY_MUC_DOMAIN, PARLEY_XMPP_ADDR, PARLEY_API_ADDR, PARLEY_JWT_SECRET,\n"
          "PARLEY_JWT_PUBLIC_KEY, PARLEY_JWT_ALG, PARLEY_JWT_ISSUER,\n"
          "PARLEY_JWT_AUDIENCE, PARLEY_ALLOWED_ORIGINS, PARLEY_TLS_CERT,\n"
          "PARLEY_TLS_KEY, PARLEY_ALLOW_PLAIN_WS, PARLEY_MAX_STANZA_SIZE,\n"
          "PARLEY_MAX_SEND_QUEUE, PARLEY_STORE_WORKERS, PARLEY_MIGRATIONS_DIR,\n"
          "PARLEY_NODE, PARLEY_LOG_LEVEL, PARLEY_IDLE_TIMEOUT, PARLEY_AUTH_TIMEOUT,\n"
          "PARLEY_METRICS_TOKEN, PARLEY_MAX_SESSIONS_PER_USER, PARLEY_MAX_ROSTER_ITEMS,\n"
          "PARLEY_TEAM_ROSTER, PARLEY_ROOM_CREATION, PARLEY_ROOM_CATCHUP_MAX,\n"
          "PARLEY_MAM_MAX_PAGE, PARLEY_BEHIND_PROXY, PARLEY_TRUSTED_PROXIES,\n"
          "PARLEY_WS_URL. README.md describes each.\n",
          out);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *data = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (data = malloc((size_t)n + 1)) && fread(data, 1, (size_t)n, f) == (size_t)n) {
        data[n] = '\0';
    } else {
        free(data);
        data = NULL;
    }
    fclose(f);
    return data;
}

/* The verifier from the configuration; refuses to go on without a key. */
static int make_verifier(const struct pl_config *cfg, struct auth_verifier **out)
{
    if (!cfg->jwt_secret && !cfg->jwt_public_key) {
        pl_error(0, NULL,
                 "no JWT key: set PARLEY_JWT_SECRET (HS256) or "
                 "PARLEY_JWT_PUBLIC_KEY (RS256/ES256); refusing to start");
        return PL_EINVAL;
    }
    char *pem = NULL;
    if (cfg->jwt_public_key && !(pem = read_file(cfg->jwt_public_key))) {
        pl_error(0, NULL, "cannot read PARLEY_JWT_PUBLIC_KEY %s: %s", cfg->jwt_public_key,
                 strerror(errno));
        return PL_EIO;
    }
    struct auth_config ac = {
        .alg = cfg->jwt_alg,
        .secret = pem ? NULL : cfg->jwt_secret,
        .public_key_pem = pem,
        .issuer = cfg->jwt_issuer,
        .audience = cfg->jwt_audience,
        .leeway = 30,
    };
    char err[256] = "";
    int rc = auth_verifier_new(&ac, out, err, sizeof(err));
    if (rc != PL_OK)
        pl_error(0, NULL, "JWT configuration: %s", err);
    free(pem);
    return rc;
}

/* The WebSocket URL clients are told about (XEP-0156 host-meta): the
 * configured one, else the proxy's https origin, else this listener. */
static void public_ws_url(const struct pl_config *cfg, char *out, size_t outlen)
{
    int tls = cfg->tls_cert && cfg->tls_key;
    if (cfg->ws_url)
        snprintf(out, outlen, "%s", cfg->ws_url);
    else if (cfg->behind_proxy)
        snprintf(out, outlen, "wss://%s/xmpp", cfg->domain);
    else
        snprintf(out, outlen, "%s://%s:%d/xmpp", tls ? "wss" : "ws", cfg->domain,
                 cfg->xmpp_port);
}

/* The base of XEP-0363 upload URLs (the admin API's listener serves
 * them): the configured one, else the proxy's https origin, else this
 * listener (the domain when it binds every address). */
static void public_upload_url(const struct pl_config *cfg, char *out, size_t outlen)
{
    int tls = cfg->tls_cert && cfg->tls_key;
    const char *host = cfg->api_host;
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
        host = cfg->domain;
    if (cfg->upload_url)
        snprintf(out, outlen, "%.*s", (int)strcspn(cfg->upload_url, "?#"),
                 cfg->upload_url);
    else if (cfg->behind_proxy)
        snprintf(out, outlen, "https://%s", cfg->domain);
    else
        snprintf(out, outlen, "%s://%s%s%s:%d", tls ? "https" : "http",
                 strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
                 cfg->api_port);
    size_t n = strlen(out);
    while (n && out[n - 1] == '/')
        out[--n] = '\0';
}

/* The upload folder, made if missing (its parents too), private to us. */
static int make_upload_dir(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
        return PL_EINVAL;
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return PL_EIO;
        *p = '/';
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return PL_EIO;
    return PL_OK;
}

/* Plain listeners only on loopback, unless a TLS proxy is in front
 * (PARLEY_BEHIND_PROXY) or the operator says so (PARLEY_ALLOW_PLAIN_WS): a
 * token must not cross a network in the clear. The XMPP listener checks
 * itself (ws_server_new); this is the admin API's. */
static int check_api_listener(const struct pl_config *cfg)
{
    int tls = cfg->tls_cert && cfg->tls_key;
    if (tls || cfg->allow_plain_public || cfg->behind_proxy ||
        pl_config_is_loopback(cfg->api_host))
        return PL_OK;
    pl_error(0, NULL,
             "refusing plain http:// for the admin API on %s: set PARLEY_TLS_CERT/KEY, "
             "PARLEY_BEHIND_PROXY=1 (a TLS proxy in front) or PARLEY_ALLOW_PLAIN_WS=1",
             cfg->api_host);
    return PL_EINVAL;
}

/* check-config: everything serve would refuse to start on, without binding
 * anything; then what it would serve. Exit 0 when serve would start. */
static int cmd_check_config(const struct pl_config *cfg)
{
    int ok = 1, tls = cfg->tls_cert && cfg->tls_key;
    struct auth_verifier *v = NULL;
    if (make_verifier(cfg, &v) != PL_OK)
        ok = 0;
    auth_verifier_free(v);
    if (!!cfg->tls_cert != !!cfg->tls_key) {
        pl_error(0, NULL, "PARLEY_TLS_CERT and PARLEY_TLS_KEY go together");
        ok = 0;
    }
    const char *files[] = {cfg->tls_cert, cfg->tls_key};
    for (size_t i = 0; i < 2; i++) {
        if (files[i] && access(files[i], R_OK) != 0) {
            pl_error(0, NULL, "cannot read %s: %s", files[i], strerror(errno));
            ok = 0;
        }
    }
    if (!tls && !cfg->allow_plain_public && !cfg->behind_proxy &&
        !pl_config_is_loopback(cfg->xmpp_host)) {
        pl_error(0, NULL,
                 "refusing plain ws:// on %s: set PARLEY_TLS_CERT/KEY, "
                 "PARLEY_BEHIND_PROXY=1 or PARLEY_ALLOW_PLAIN_WS=1",
                 cfg->xmpp_host);
        ok = 0;
    }
    if (check_api_listener(cfg) != PL_OK)
        ok = 0;
    char err[512] = "", db[600];
    int rc = db_migrations_current(cfg->database_url ? cfg->database_url : "",
                                   cfg->migrations_dir, err, sizeof(err));
    if (rc == PL_OK) {
        snprintf(db, sizeof(db), "reachable, migrations current");
    } else if (rc == PL_EIO) {
        pl_error(0, NULL, "database: %s", err);
        snprintf(db, sizeof(db), "NOT reachable: %s", err);
        ok = 0;
    } else {
        /* A new release's migrations are applied after this check. */
        snprintf(db, sizeof(db), "reachable; run `parleyd migrate`: %s", err);
    }
    char url[512];
    public_ws_url(cfg, url, sizeof(url));
    printf("configuration:  %s\n"
           "domain:         %s (rooms %s)\n"
           "xmpp:           %s://%s:%d/xmpp\n"
           "admin api:      %s://%s:%d/api/v1/\n"
           "host-meta:      %s\n"
           "tls:            %s\n"
           "behind proxy:   %s (trusted proxies: %s)\n"
           "jwt:            %s%s\n"
           "database:       %s\n",
           ok ? "ok" : "NOT ok", cfg->domain, cfg->muc_domain, tls ? "wss" : "ws",
           cfg->xmpp_host, cfg->xmpp_port, tls ? "https" : "http", cfg->api_host,
           cfg->api_port, url, tls ? cfg->tls_cert : "off",
           cfg->behind_proxy ? "yes" : "no",
           cfg->trusted_proxies ? cfg->trusted_proxies : "none", cfg->jwt_alg,
           cfg->jwt_public_key ? " public key" : " secret", db);
    char upload_url[512];
    public_upload_url(cfg, upload_url, sizeof(upload_url));
    if (cfg->upload_enabled)
        printf("uploads:        %s/upload/ in %s (max %lld bytes, quota %lld per user)\n",
               upload_url, cfg->upload_dir, cfg->upload_max, cfg->upload_quota);
    else
        printf("uploads:        off\n");
    return ok ? 0 : 1;
}

static int cmd_migrate(const struct pl_config *cfg)
{
    char err[512] = "";
    int rc = db_migrate(cfg->database_url ? cfg->database_url : "", cfg->migrations_dir,
                        err, sizeof(err));
    if (rc != PL_OK) {
        fprintf(stderr, "parleyd migrate: %s\n", err);
        return 1;
    }
    fprintf(stderr, "parleyd migrate: schema is current\n");
    return 0;
}

static int cmd_token(const struct pl_config *cfg, int argc, char **argv)
{
    const char *user = NULL;
    int admin = 0;
    long ttl = 86400;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--admin") == 0) {
            admin = 1;
        } else if (strcmp(argv[i], "--ttl") == 0 && i + 1 < argc) {
            char *end;
            ttl = strtol(argv[++i], &end, 10);
            if (*end || ttl <= 0) {
                fprintf(stderr,
                        "parleyd token: --ttl takes a positive number of seconds\n");
                return 2;
            }
        } else if (!user && argv[i][0] != '-') {
            user = argv[i];
        } else {
            fprintf(stderr, "parleyd token: unexpected argument %s\n", argv[i]);
            return 2;
        }
    }
    if (!user) {
        fprintf(stderr, "usage: parleyd token USER [--admin] [--ttl SECONDS]\n");
        return 2;
    }
    struct auth_verifier *v = NULL;
    if (make_verifier(cfg, &v) != PL_OK)
        return 1;
    char *token = NULL;
    int rc = auth_token_issue(v, user, admin, ttl, (long)time(NULL), &token);
    auth_verifier_free(v);
    if (rc != PL_OK) {
        fprintf(stderr, "parleyd token: %s (signing needs PARLEY_JWT_SECRET)\n",
                pl_strerror(rc));
        return 1;
    }
    printf("%s\n", token);
    free(token);
    return 0;
}

/* Where store workers send their wake-ups: the loop, until it is gone. The
 * lock keeps a worker from waking a loop that is being freed. */
struct loop_waker {
    pthread_mutex_t lock;
    struct ws_server *ws;
};

/* The store's wake-up, from a worker thread: hand over to the loop. */
static void wake_loop(void *ctx)
{
    struct loop_waker *w = ctx;
    pthread_mutex_lock(&w->lock);
    if (w->ws)
        ws_server_wake(w->ws);
    pthread_mutex_unlock(&w->lock);
}

/* What the loop does when woken: hand every completed store job to chat. */
struct loop_drain {
    struct chat_server *chat;
    struct db_store *store;
};

static void drain_store(void *ctx)
{
    struct loop_drain *d = ctx;
    struct db_job *job = d->store ? db_store_take_completed(d->store) : NULL;
    while (job) {
        struct db_job *next = (struct db_job *)job->item.next;
        chat_server_complete(d->chat, job);
        job = next;
    }
}

/* The loop is stopping: chat tells what it must before streams end. */
static void stopping_loop(void *ctx)
{
    struct loop_drain *d = ctx;
    chat_server_stopping(d->chat);
}

/* PARLEY_LIMIT_CONNECTIONS unset (-1): as many as the descriptor limit
 * allows, less room for what else the process holds open: the admin API's
 * own 1,000 connections, the database connections, logs and uploads. So a
 * flood of connections meets a clean refusal, never EMFILE for the API. */
static int connection_cap(int configured)
{
    if (configured >= 0)
        return configured;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return 10000;
    long cap = (long)rl.rlim_cur - 1100;
    return cap < 100 ? 100 : (int)(cap > 10000000 ? 10000000 : cap);
}

static void submit_job(void *ctx, struct db_job *job, const char *shard_key)
{
    db_store_submit(ctx, job, shard_key);
}

static size_t queued_jobs(void *ctx)
{
    return db_store_queued(ctx);
}

static int cmd_serve(const struct pl_config *cfg)
{
    int status = 1;
    const char *conninfo = cfg->database_url ? cfg->database_url : "";
    struct auth_verifier *verifier = NULL;
    struct xmpp_parser *parser = NULL;
    struct chat_server *chat = NULL;
    struct ws_server *ws = NULL;
    struct xmpp_sm_registry *env_sm = NULL; /* XEP-0198's resumable sessions */
    struct db_store *store = NULL;
    struct api_server *api = NULL;
    struct pl_metrics metrics; /* read by the API threads, which stop first */
    /* The loop's: the upgrade's and SASL's authentication failures. */
    struct pl_auth_limit auth_limit;
    struct loop_waker waker = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct loop_drain drain = {NULL, NULL};
    char err[512] = "", ws_url[512];
    public_ws_url(cfg, ws_url, sizeof(ws_url));
    /* XEP-0363: the key that signs PUT URLs, and where files go. */
    struct auth_upload_key upload_key;
    char upload_url[512];
    int upload = cfg->upload_enabled;
    public_upload_url(cfg, upload_url, sizeof(upload_url));
    /* A folder that cannot be made turns the service off (not advertised,
     * /upload/ 404) rather than keeping the chat server down. */
    if (upload &&
        auth_upload_key_init(&upload_key, cfg->upload_secret,
                             cfg->jwt_public_key ? NULL : cfg->jwt_secret) != PL_OK) {
        pl_error(0, NULL, "file upload is off: no random source for its key");
        upload = 0;
    } else if (upload && make_upload_dir(cfg->upload_dir) != PL_OK) {
        pl_warn(0, NULL, "file upload is off: cannot make PARLEY_UPLOAD_DIR %s: %s",
                cfg->upload_dir, strerror(errno));
        upload = 0;
    }
    memset(&metrics, 0, sizeof(metrics));
    pl_auth_limit_init(&auth_limit, cfg->limit_auth_failures);
    auth_limit.metrics = &metrics;

    if (make_verifier(cfg, &verifier) != PL_OK)
        goto out;
    /* A database that is still starting (a container started alongside,
     * say) is waited for, a while; a schema that is not current is not. */
    int rc = PL_EIO;
    for (int waited = 0; !stop_requested; waited++) {
        rc = db_migrations_current(conninfo, cfg->migrations_dir, err, sizeof(err));
        if (rc != PL_EIO || waited == DB_START_WAIT_S)
            break;
        if (waited == 0)
            pl_warn(0, NULL, "database not reachable (%s); waiting up to %d s", err,
                    DB_START_WAIT_S);
        sleep(1);
    }
    if (rc != PL_OK) {
        pl_error(0, NULL, "database not ready: %s%s", err,
                 rc == PL_EIO ? "" : " (run `parleyd migrate`)");
        goto out;
    }
    struct chat_config cc = {
        .domain = cfg->domain,
        .muc_domain = cfg->muc_domain,
        .node = cfg->node_name,
        .send_window = cfg->max_send_queue / 2,
        .metrics = &metrics,
        .max_sessions_per_user = cfg->max_sessions_per_user,
        .max_roster_items = cfg->max_roster_items,
        .team_roster = cfg->team_roster,
        .room_creation_admins = cfg->room_creation_admins,
        .room_catchup_max = cfg->room_catchup_max,
        .mam_max_page = cfg->mam_max_page,
        .upload_url = upload ? upload_url : NULL,
        .upload_key = upload ? &upload_key : NULL,
        .upload_max = cfg->upload_max,
        .upload_quota = cfg->upload_quota,
        .upload_ttl = cfg->upload_ttl,
        .offline_queue_max = cfg->limit_offline_queue,
        .store_queue_max = cfg->limit_store_queue,
        .room_occupants_max = cfg->limit_room_occupants,
        .rooms_per_user_max = cfg->limit_rooms_per_user,
        .room_message_rate = cfg->limit_room_msg_rate,
    };
    if (xmpp_parser_new(&parser) != PL_OK || chat_server_new(&cc, &chat) != PL_OK)
        goto out;
    struct xmpp_env env = {
        .domain = cfg->domain,
        .max_stanza_size = cfg->max_stanza_size,
        .verifier = verifier,
        .parser = parser,
        .auth_limit = &auth_limit,
    };
    chat_server_hooks(chat, &env.hooks);
    /* XEP-0198: resumable sessions live in the loop, with their settings. */
    struct xmpp_sm_config smc = {
        .resume_timeout = cfg->sm_resume_timeout,
        .max_unacked = (uint32_t)cfg->sm_max_unacked,
        .request_every = (uint32_t)cfg->sm_request_every,
        .request_secs = cfg->sm_request_secs,
        .idle_secs = cfg->idle_timeout,
    };
    if (xmpp_sm_registry_new(&smc, &env_sm) != PL_OK)
        goto out;
    env.sm = env_sm;
    struct ws_server_config wc = {
        .host = cfg->xmpp_host,
        .port = cfg->xmpp_port,
        .tls_cert = cfg->tls_cert,
        .tls_key = cfg->tls_key,
        .allow_plain_public = cfg->allow_plain_public || cfg->behind_proxy,
        .trusted_proxies = cfg->trusted_proxies,
        .allowed_origins = cfg->allowed_origins,
        .max_send_queue = cfg->max_send_queue,
        .idle_timeout = cfg->idle_timeout,
        .auth_timeout = cfg->auth_timeout,
        .env = &env,
        .wake = drain_store,
        .ctx = &drain,
        .metrics = &metrics,
        .stopping = stopping_loop,
        .limit_pending_per_ip = cfg->limit_pending_per_ip,
        .limit_connect_rate = cfg->limit_connect_rate,
        .limit_connect_burst = cfg->limit_connect_burst,
        .limit_connections = connection_cap(cfg->limit_connections),
        .limit_session_bytes = cfg->limit_session_bytes,
        .upgrade_timeout = cfg->upgrade_timeout,
        .auth_limit = &auth_limit,
        .session_expiry_close = cfg->session_expiry_close,
    };
    if (check_api_listener(cfg) != PL_OK || ws_server_new(&wc, &ws) != PL_OK)
        goto out;
    waker.ws = ws;
    atomic_store(&metrics.xmpp_listening, 1);

    /* Workers must not take the stop signals: block them while the threads
     * are created (they inherit the mask), then let the loop thread have them. */
    sigset_t stop_sigs, old;
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGINT);
    sigaddset(&stop_sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_sigs, &old);
    struct db_store_config sc = {
        .conninfo = conninfo,
        .node = cfg->node_name,
        .workers = cfg->store_workers,
        .wake = wake_loop,
        .wake_ctx = &waker,
        .metrics = &metrics,
    };
    rc = db_store_start(&sc, &store);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != PL_OK) {
        pl_error(0, NULL, "cannot start the store: %s", pl_strerror(rc));
        goto out;
    }
    drain.chat = chat;
    drain.store = store;
    chat_server_set_store(chat, &(struct chat_store){submit_job, queued_jobs, store});

    /* The admin API: libmicrohttpd's own threads (started with the stop
     * signals blocked, like the workers) and its own connections. */
    struct api_config ac = {
        .host = cfg->api_host,
        .port = cfg->api_port,
        .tls_cert = cfg->tls_cert,
        .tls_key = cfg->tls_key,
        .domain = cfg->domain,
        .muc_domain = cfg->muc_domain,
        .conninfo = conninfo,
        .migrations_dir = cfg->migrations_dir,
        .metrics_token = cfg->metrics_token,
        .verifier = verifier,
        .metrics = &metrics,
        .ws_url = ws_url,
        .upload_dir = cfg->upload_dir,
        .upload_key = upload ? &upload_key : NULL,
        .upload_max = cfg->upload_max,
        .rate_per_token = cfg->limit_api_rate,
    };
    pthread_sigmask(SIG_BLOCK, &stop_sigs, &old);
    rc = api_server_start(&ac, &api);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != PL_OK) {
        pl_error(0, NULL, "cannot start the admin API: %s", pl_strerror(rc));
        goto out;
    }

    pl_info(0, NULL, "parleyd serving domain %s", cfg->domain);
    if (ws_server_run(ws, &stop_requested) == PL_OK)
        status = 0;
    pl_info(0, NULL, "stopping");
out:
    /* The API first: its requests read the database, not the loop, but
     * nothing should answer once the server is going away. */
    atomic_store(&metrics.xmpp_listening, 0);
    api_server_stop(api);
    /* Order matters: closing streams submits their last presence jobs, the
     * store finishes them (and frees completions nobody took), then chat
     * frees the contexts of those jobs. */
    pthread_mutex_lock(&waker.lock);
    waker.ws = NULL;
    pthread_mutex_unlock(&waker.lock);
    ws_server_free(ws);
    /* Detached XEP-0198 sessions end too, before the store stops. */
    xmpp_stream_sm_shutdown(env_sm);
    db_store_stop(store);
    chat_server_free(chat);
    xmpp_parser_free(parser);
    auth_verifier_free(verifier);
    pl_auth_limit_free(&auth_limit);
    return status;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {"check", no_argument, NULL, 'C'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    int check = 0;
    int c;
    /* '+': stop at the first command word, so its own flags stay its own. */
    while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'C':
            check = 1;
            break;
        default:
            usage(stderr);
            return 2;
        }
    }
    const char *cmd = optind < argc ? argv[optind++] : "serve";
    if (check && strcmp(cmd, "serve") == 0)
        cmd = "check-config";

    struct pl_config cfg;
    char err[512] = "";
    if (pl_config_load(&cfg, config_path, err, sizeof(err)) != PL_OK) {
        fprintf(stderr, "parleyd: %s\n", err);
        return 2;
    }
    enum pl_log_level level;
    if (pl_log_parse_level(cfg.log_level, &level) == PL_OK)
        pl_log_set_level(level);

    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int status;
    if (strcmp(cmd, "serve") == 0 && optind == argc) {
        status = cmd_serve(&cfg);
    } else if (strcmp(cmd, "check-config") == 0 && optind == argc) {
        status = cmd_check_config(&cfg);
    } else if (strcmp(cmd, "migrate") == 0 && optind == argc) {
        status = cmd_migrate(&cfg);
    } else if (strcmp(cmd, "token") == 0) {
        status = cmd_token(&cfg, argc - optind, argv + optind);
    } else if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        status = 0;
    } else {
        fprintf(stderr, "parleyd: unknown command %s\n", cmd);
        usage(stderr);
        status = 2;
    }
    pl_config_free(&cfg);
    return status;
}
