/* The unauthenticated probes and the documents: /healthz (the process
 * answers), /readyz (database reachable, migrations current, the XMPP
 * listener up, the store's writes not refused), /metrics (Prometheus
 * text: the loop's and the store's counters read atomically, the
 * database's gauges, the API's own), and /api/v1/openapi.yaml. */
#include "api_internal.h"

#include "db_read.h"
#include "pl_buf.h"
#include "pl_error.h"

#include <stdlib.h>
#include <string.h>

void api_health_alive(struct api_server *srv, struct api_request *req,
                      struct api_reply *rep)
{
    api_reply_json(rep, 200, strdup("{\"status\":\"ok\"}"));
}

void api_health_ready(struct api_server *srv, struct api_request *req,
                      struct api_reply *rep)
{
    char err[256] = "";
    int rc = db_read_health(api_server_pool(srv), err, sizeof(err));
    if (rc != PL_OK) {
        api_problem(rep, 503, "unavailable", NULL, "not ready: %s", err);
        return;
    }
    const struct pl_metrics *m = api_server_config(srv)->metrics;
    if (m && !atomic_load_explicit(&m->xmpp_listening, memory_order_relaxed)) {
        api_problem(rep, 503, "unavailable", NULL,
                    "not ready: the XMPP listener is not up");
        return;
    }
    if (m && atomic_load_explicit(&m->store_failing, memory_order_relaxed) > 0) {
        /* Reachable, yet it refuses the store's writes (out of disk):
         * messages wait unacknowledged while the store retries. */
        api_problem(rep, 503, "unavailable", NULL,
                    "not ready: the database refuses the store's writes "
                    "(out of disk?); messages wait unacknowledged, the log says why");
        return;
    }
    api_reply_json(rep, 200, strdup("{\"status\":\"ready\"}"));
}

static int counter(struct pl_buf *b, const char *name, const char *help, uint64_t v)
{
    return pl_buf_appendf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help,
                          name, name, (unsigned long long)v);
}

static int gauge(struct pl_buf *b, const char *name, const char *help, double v)
{
    return pl_buf_appendf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %.15g\n", name, help,
                          name, name, v);
}

static int histogram(struct pl_buf *b, const char *name, const char *help,
                     const struct pl_metrics_histogram *h, const uint64_t *bounds,
                     size_t n, double scale)
{
    int rc = pl_buf_appendf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (size_t i = 0; rc == PL_OK && i <= n; i++) {
        cum += pl_metrics_get(&h->bucket[i]);
        if (i < n)
            rc = pl_buf_appendf(b, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i] * scale,
                                (unsigned long long)cum);
        else
            rc = pl_buf_appendf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name,
                                (unsigned long long)cum);
    }
    if (rc == PL_OK)
        rc = pl_buf_appendf(b, "%s_sum %.6f\n%s_count %llu\n", name,
                            (double)pl_metrics_get(&h->sum) * scale, name,
                            (unsigned long long)pl_metrics_get(&h->count));
    return rc;
}

static const char *const kinds[PL_METRICS_STANZA__COUNT] = {"message", "presence", "iq"};

static int loop_metrics(struct pl_buf *b, const struct pl_metrics *m)
{
    int rc = counter(b, "parley_connections_total", "WebSocket connections accepted.",
                     pl_metrics_get(&m->connections_total));
    if (rc == PL_OK)
        rc = gauge(
            b, "parley_connections", "WebSocket connections open.",
            (double)atomic_load_explicit(&m->connections_open, memory_order_relaxed));
    if (rc == PL_OK)
        rc = counter(b, "parley_sessions_total", "XMPP sessions bound.",
                     pl_metrics_get(&m->sessions_total));
    if (rc == PL_OK)
        rc = gauge(b, "parley_sessions", "XMPP sessions bound on this node.",
                   (double)atomic_load_explicit(&m->sessions_open, memory_order_relaxed));
    if (rc == PL_OK)
        rc = counter(b, "parley_logins_total", "Logins whose token was accepted.",
                     pl_metrics_get(&m->logins));
    if (rc == PL_OK)
        rc = counter(b, "parley_login_failures_total", "Logins refused for their token.",
                     pl_metrics_get(&m->login_failures));
    if (rc == PL_OK)
        rc = pl_buf_append_str(b, "# HELP parley_stanzas_total Stanzas by direction and "
                                  "kind.\n# TYPE parley_stanzas_total counter\n");
    for (int i = 0; rc == PL_OK && i < PL_METRICS_STANZA__COUNT; i++)
        rc = pl_buf_appendf(
            b,
            "parley_stanzas_total{direction=\"in\",kind=\"%s\"} %llu\n"
            "parley_stanzas_total{direction=\"out\",kind=\"%s\"} %llu\n",
            kinds[i], (unsigned long long)pl_metrics_get(&m->stanzas_in[i]), kinds[i],
            (unsigned long long)pl_metrics_get(&m->stanzas_out[i]));
    if (rc == PL_OK)
        rc = counter(b, "parley_messages_stored_total", "Messages stored in the archive.",
                     pl_metrics_get(&m->messages_stored));
    if (rc == PL_OK)
        rc = histogram(b, "parley_store_batch_jobs", "Jobs per store transaction.",
                       &m->store_batch, pl_metrics_batch_bounds, PL_METRICS_BATCH_BUCKETS,
                       1);
    if (rc == PL_OK)
        rc =
            histogram(b, "parley_store_commit_seconds",
                      "Time of one store transaction, BEGIN to COMMIT.", &m->store_commit,
                      pl_metrics_commit_bounds, PL_METRICS_COMMIT_BUCKETS, 1e-6);
    if (rc == PL_OK)
        rc = gauge(b, "parley_store_queue_jobs", "Store jobs submitted and not yet run.",
                   (double)atomic_load_explicit(&m->store_queue, memory_order_relaxed));
    if (rc == PL_OK)
        rc = pl_buf_append_str(b, "# HELP parley_limit_refusals_total Refusals by limit "
                                  "(session_bytes: times a reader was slowed).\n"
                                  "# TYPE parley_limit_refusals_total counter\n");
    for (int i = 0; rc == PL_OK && i < PL_METRICS_LIMIT__COUNT; i++)
        rc = pl_buf_appendf(b, "parley_limit_refusals_total{limit=\"%s\"} %llu\n",
                            pl_metrics_limit_names[i],
                            (unsigned long long)pl_metrics_get(&m->limit_refusals[i]));
    return rc;
}

static int db_metrics(struct api_server *srv, struct pl_buf *b)
{
    char *json = NULL;
    int rc = db_read_stats(api_server_pool(srv), &json);
    json_t *v = rc == PL_OK ? json_loads(json, 0, NULL) : NULL;
    free(json);
    rc = gauge(b, "parley_database_up", "1 if the database answered this scrape.",
               v ? 1 : 0);
    if (v && rc == PL_OK) {
        rc = gauge(b, "parley_offline_messages", "Messages stored and not yet delivered.",
                   json_number_value(json_object_get(v, "offline_waiting")));
        if (rc == PL_OK)
            rc = gauge(
                b, "parley_oldest_undelivered_seconds",
                "Age of the oldest message not yet delivered (0: none).",
                json_number_value(json_object_get(v, "oldest_undelivered_seconds")));
        if (rc == PL_OK)
            rc = gauge(b, "parley_online_users", "Users with a session on any node.",
                       json_number_value(json_object_get(v, "online_users")));
    }
    json_decref(v);
    return rc;
}

void api_health_metrics(struct api_server *srv, struct api_request *req,
                        struct api_reply *rep)
{
    struct pl_buf b = PL_BUF_INIT;
    const struct pl_metrics *m = api_server_config(srv)->metrics;
    int rc = m ? loop_metrics(&b, m) : PL_OK;
    if (rc == PL_OK)
        rc = db_metrics(srv, &b);
    if (rc == PL_OK)
        rc = api_server_metrics(srv, &b);
    if (rc != PL_OK) {
        pl_buf_free(&b);
        api_problem(rep, 500, "internal", NULL, "out of memory");
        return;
    }
    size_t len;
    free(rep->body);
    rep->body = pl_buf_steal(&b, &len);
    rep->len = len;
    rep->status = 200;
    rep->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

void api_health_openapi(struct api_server *srv, struct api_request *req,
                        struct api_reply *rep)
{
    char *doc = malloc(api_openapi_yaml_len + 1);
    if (!doc) {
        api_problem(rep, 500, "internal", NULL, "out of memory");
        return;
    }
    memcpy(doc, api_openapi_yaml, api_openapi_yaml_len);
    doc[api_openapi_yaml_len] = '\0';
    free(rep->body);
    rep->body = doc;
    rep->len = api_openapi_yaml_len;
    rep->status = 200;
    rep->content_type = "application/yaml";
}
