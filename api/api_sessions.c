/* Live sessions: /api/v1/sessions (everyone online), a user's sessions,
 * and kicks. The sessions table is what every node writes of its own
 * sessions; a kick is a NOTIFY that each node's listener hands to its loop,
 * which closes the session if it is its own. */
#include "api_internal.h"

#include "db_read.h"
#include "pl_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* GET /api/v1/sessions is what dashboards poll, many at once: the same page
 * asked again within this long is answered from the last answer, so a
 * burst of identical polls costs one query. 500 a second of them, each
 * about 0.5 ms of PostgreSQL, took a fifth of a core from the message path
 * on two cores (tests/bench/RESULTS.md). The list is a moment's view
 * anyway: a login's row is written by the store after the login. */
#define API_SESSIONS_FRESH_US 100000

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void api_page_cache_init(struct api_page_cache *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
}

void api_page_cache_free(struct api_page_cache *c)
{
    free(c->key);
    free(c->json);
    pthread_mutex_destroy(&c->lock);
}

/* A copy of the fresh answer for `key`, or NULL. */
static char *cache_get(struct api_page_cache *c, const char *key, int64_t now)
{
    char *json = NULL;
    pthread_mutex_lock(&c->lock);
    if (c->at_us && now - c->at_us < API_SESSIONS_FRESH_US && c->key &&
        strcmp(c->key, key) == 0)
        json = strdup(c->json);
    pthread_mutex_unlock(&c->lock);
    return json;
}

/* Keeps a copy of `json` as the answer for `key`, asked at `asked`. */
static void cache_put(struct api_page_cache *c, const char *key, const char *json,
                      int64_t asked)
{
    char *k = strdup(key), *j = strdup(json);
    if (!k || !j) {
        free(k);
        free(j);
        return; /* not kept: the next ask queries */
    }
    pthread_mutex_lock(&c->lock);
    if (asked >= c->at_us) { /* not older than what is kept */
        free(c->key);
        free(c->json);
        c->key = k;
        c->json = j;
        c->at_us = asked;
        k = j = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    free(k);
    free(j);
}

static int page_limit(struct api_request *req, struct api_reply *rep, int *limit)
{
    if (api_query_limit(&req->query, limit) == PL_OK)
        return PL_OK;
    api_problem(rep, 400, "invalid-parameter", "limit",
                "limit must be an integer from 1 (larger is capped at %d)",
                API_LIMIT_MAX);
    return PL_EINVAL;
}

static void list(struct api_server *srv, struct api_request *req, struct api_reply *rep,
                 const char *user)
{
    int limit;
    if (page_limit(req, rep, &limit) != PL_OK)
        return;
    const char *cursor = api_query_get(&req->query, "cursor");
    /* Only everyone's list is kept: a user's sessions are asked after an
     * action on them, and by a few. */
    struct api_page_cache *cache = user ? NULL : api_server_sessions_cache(srv);
    char key[600];
    int64_t asked = mono_us();
    if (cache && snprintf(key, sizeof(key), "%d %s", limit, cursor ? cursor : "") <
                     (int)sizeof(key)) {
        char *hit = cache_get(cache, key, asked);
        if (hit) {
            api_reply_json(rep, 200, hit);
            return;
        }
    } else {
        cache = NULL; /* a cursor too long to key: asked every time */
    }
    char *json = NULL;
    int rc = db_read_sessions_list(api_server_pool(srv), user, cursor, limit, &json);
    if (rc != PL_OK) {
        api_problem_db(rep, rc, user ? "user" : "sessions");
        return;
    }
    if (cache)
        cache_put(cache, key, json, asked);
    api_reply_json(rep, 200, json);
}

void api_sessions_list(struct api_server *srv, struct api_request *req,
                       struct api_reply *rep)
{
    list(srv, req, rep, NULL);
}

void api_sessions_of_user(struct api_server *srv, struct api_request *req,
                          struct api_reply *rep)
{
    const char *user;
    if (api_path_user(req, rep, &user) == PL_OK)
        list(srv, req, rep, user);
}

void api_sessions_kick_all(struct api_server *srv, struct api_request *req,
                           struct api_reply *rep)
{
    const char *user;
    if (api_path_user(req, rep, &user) != PL_OK)
        return;
    int n = 0;
    int rc = db_admin_kick(api_server_pool(srv), req->actor, user, NULL, &n);
    if (rc != PL_OK) {
        api_problem_db(rep, rc, "user");
        return;
    }
    rep->status = 204;
}

void api_sessions_kick_one(struct api_server *srv, struct api_request *req,
                           struct api_reply *rep)
{
    const char *user;
    if (api_path_user(req, rep, &user) != PL_OK)
        return;
    const char *resource = req->path_params[1];
    int n = 0;
    int rc = db_admin_kick(api_server_pool(srv), req->actor, user, resource, &n);
    if (rc != PL_OK) {
        api_problem_db(rep, rc, "user");
        return;
    }
    if (n == 0) {
        api_problem(rep, 404, "not-found", NULL, "%s has no session with that resource",
                    user);
        return;
    }
    rep->status = 204;
}
