// Overview: the figures an operator looks at first, polled every 2 s (plain
// polling: one small query each, no connection held open on the server),
// and messages per minute over the last hour as a uPlot chart.
import uPlot from "/vendor/uplot/uPlot.esm.js";
import { get } from "../api.js";
import { h, show, errorBox, seconds, loading } from "../ui.js";

const POLL_MS = 2000;

/** Prometheus text: the value of the first sample of name (no labels). */
function sample(text, name) {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+|NaN)$`, "m").exec(text);
    return m ? Number(m[1]) : null;
}

function figure(id, label) {
    const value = h("dd", { id, class: "figure" }, "–");
    return { node: h("div", { class: "card" }, h("dt", {}, label), value), value };
}

export async function render(main) {
    const figs = {
        online: figure("fig-online", "Online users"),
        sessions: figure("fig-sessions", "Sessions"),
        hour: figure("fig-hour", "Messages, last hour"),
        waiting: figure("fig-waiting", "Deliveries waiting"),
        oldest: figure("fig-oldest", "Oldest undelivered"),
        commit: figure("fig-commit", "Store commit latency"),
        db: figure("fig-db", "Database"),
        users: figure("fig-users", "Users"),
    };
    const status = h("div", { id: "overview-status", "aria-live": "polite" }, loading("Loading the figures…"));
    const chartBox = h("div", { id: "chart", class: "chart", role: "img", "aria-label": "Messages per minute over the last hour" });
    const chartSummary = h("p", { id: "chart-summary", class: "muted" }, "");
    show(
        main,
        h("h1", {}, "Overview"),
        h("p", { class: "muted" }, "Updated every 2 seconds."),
        status,
        h("dl", { class: "cards" }, Object.values(figs).map((f) => f.node)),
        h("section", { "aria-labelledby": "chart-title" }, h("h2", { id: "chart-title" }, "Messages per minute, last hour"), chartBox, chartSummary),
    );

    let plot = null;
    let lastCommit = null;
    let stopped = false;
    let timer = null;

    function draw(perMinute) {
        const now = Math.floor(Date.now() / 60000) * 60;
        const xs = perMinute.map((_, i) => now - (perMinute.length - 1 - i) * 60);
        const data = [xs, perMinute];
        const width = Math.max(320, chartBox.clientWidth || 800);
        if (!plot) {
            plot = new uPlot(
                {
                    width,
                    height: 220,
                    legend: { show: false },
                    scales: { y: { range: (u, min, max) => [0, Math.max(5, max * 1.2)] } },
                    axes: [{ stroke: "#333" }, { stroke: "#333", label: "messages" }],
                    series: [{}, { label: "messages per minute", stroke: "#1f5fa8", fill: "rgba(31,95,168,0.15)", width: 2 }],
                },
                data,
                chartBox,
            );
        } else {
            plot.setData(data);
        }
        const total = perMinute.reduce((a, b) => a + b, 0);
        const peak = Math.max(...perMinute);
        chartBox.dataset.total = String(total);
        chartBox.dataset.last = String(perMinute[perMinute.length - 1]);
        chartSummary.textContent = `${total} messages in the last hour; ${perMinute[perMinute.length - 1]} this minute; the busiest minute had ${peak}.`;
    }

    async function tick() {
        try {
            const [stats, ready, metrics] = await Promise.all([
                get("/api/v1/stats"),
                fetch("/readyz", { cache: "no-store" }).then(
                    async (r) => ({ ok: r.ok, body: await r.json().catch(() => ({})) }),
                    () => ({ ok: false, body: { detail: "the server cannot be reached" } }),
                ),
                // /metrics takes no admin token (only PARLEY_METRICS_TOKEN, when
                // set): asked without one, and a refusal is not a sign-out.
                fetch("/metrics", { cache: "no-store" }).then(
                    (r) => (r.ok ? r.text() : null),
                    () => null,
                ),
            ]);
            if (stopped) return;
            figs.online.value.textContent = stats.online_users;
            figs.sessions.value.textContent = stats.sessions;
            figs.hour.value.textContent = stats.messages_last_hour;
            figs.waiting.value.textContent = stats.offline_waiting;
            figs.oldest.value.textContent = stats.offline_waiting ? seconds(stats.oldest_undelivered_seconds) : "none waiting";
            figs.users.value.textContent = stats.users;
            figs.db.value.textContent = ready.ok ? "healthy" : `not ready: ${ready.body.detail || ready.body.title || "unknown"}`;
            figs.db.value.className = `figure ${ready.ok ? "good" : "bad"}`;
            if (metrics) {
                const sum = sample(metrics, "parley_store_commit_seconds_sum");
                const count = sample(metrics, "parley_store_commit_seconds_count");
                if (sum !== null && count !== null) {
                    // The mean over the last interval, or over the whole run
                    // when nothing was committed since the last poll.
                    let mean = count ? sum / count : null;
                    if (lastCommit && count > lastCommit.count) mean = (sum - lastCommit.sum) / (count - lastCommit.count);
                    lastCommit = { sum, count };
                    figs.commit.value.textContent = mean === null ? "no commits yet" : seconds(mean);
                }
            } else {
                figs.commit.value.textContent = "not available (metrics need their own token)";
            }
            if (Array.isArray(stats.messages_per_minute)) draw(stats.messages_per_minute);
            show(status);
        } catch (err) {
            if (!stopped) show(status, errorBox(err));
        } finally {
            if (!stopped) timer = setTimeout(tick, POLL_MS);
        }
    }
    await tick();
    return () => {
        stopped = true;
        clearTimeout(timer);
        plot?.destroy();
    };
}
