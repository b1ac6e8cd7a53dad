// Admin API: /healthz, /readyz, /metrics (Prometheus text), the OpenAPI
// document, /stats and the audit log's paging.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";

import { Validator } from "@seriousme/openapi-schema-validator";

import {
    T,
    Server,
    useServer,
    stopsCleanly,
    uniqueUser,
    api,
    allPages,
    assertProblem,
    OPENAPI_PATH,
    online,
    stopAll,
    sleep,
} from "./lib/api.mjs";

const srv = useServer();

test("/healthz and /readyz answer without a token", T, async () => {
    assert.deepEqual((await api(srv, "GET", "/healthz", { token: null })).json, { status: "ok" });
    assert.deepEqual((await api(srv, "GET", "/readyz", { token: null })).json, { status: "ready" });
});

test("the OpenAPI document is served as built, and is OpenAPI 3.1", T, async () => {
    const res = await api(srv, "GET", "/api/v1/openapi.yaml", { token: null });
    assert.equal(res.status, 200);
    assert.match(res.headers["content-type"], /^application\/yaml/);
    assert.equal(res.text, fs.readFileSync(OPENAPI_PATH, "utf8"));
    assert.match(res.text, /^openapi: 3\.1\.\d/);
    // The document itself against the OpenAPI 3.1 schema: a description
    // with a comma in a YAML flow mapping once split into a stray key.
    const check = await new Validator().validate(OPENAPI_PATH);
    assert.ok(check.valid, JSON.stringify(check.errors));
});

// What is asserted is that every request is answered, not how fast: the
// limit only keeps a hang from stalling the suite (120 requests through a
// sanitizer build on a loaded 2-core machine took over 10 s once).
test("many requests at once share the pool: every one answered", { timeout: 60_000 }, async () => {
    const all = await Promise.all(
        Array.from({ length: 120 }, (_, i) =>
            api(srv, "GET", i % 3 ? "/api/v1/sessions?limit=5" : "/api/v1/stats"),
        ),
    );
    assert.deepEqual([...new Set(all.map((r) => r.status))], [200]);
});

/** Parses Prometheus text: {name -> [{labels, value}]}, checking each line. */
function parseProm(text) {
    const out = new Map();
    const typed = new Set();
    for (const line of text.split("\n")) {
        if (!line) continue;
        if (line.startsWith("# TYPE ")) {
            typed.add(line.split(" ")[2]);
            continue;
        }
        if (line.startsWith("# HELP ")) continue;
        const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? ([0-9.eE+-]+|\+Inf|NaN)$/);
        assert.ok(m, `not a Prometheus sample: ${line}`);
        const [, name, labels = "", value] = m;
        const base = name.replace(/_(bucket|sum|count)$/, "");
        assert.ok(typed.has(name) || typed.has(base), `${name} has no # TYPE`);
        if (!out.has(name)) out.set(name, []);
        out.get(name).push({ labels, value: Number(value) });
    }
    return out;
}

test("/metrics: loop, store, database and API series in Prometheus text", T, async () => {
    const u = uniqueUser("m");
    const c = await online(srv, u);
    await stopAll(c);
    await api(srv, "GET", "/api/v1/users");
    await api(srv, "GET", "/api/v1/nothing", { raw: true });
    const res = await api(srv, "GET", "/metrics", { token: null });
    assert.equal(res.status, 200);
    assert.match(res.headers["content-type"], /^text\/plain; version=0\.0\.4/);
    const m = parseProm(res.text);
    for (const name of [
        "parley_connections_total",
        "parley_connections",
        "parley_sessions_total",
        "parley_sessions",
        "parley_logins_total",
        "parley_login_failures_total",
        "parley_stanzas_total",
        "parley_messages_stored_total",
        "parley_store_batch_jobs_bucket",
        "parley_store_commit_seconds_bucket",
        "parley_store_queue_jobs",
        "parley_database_up",
        "parley_offline_messages",
        "parley_oldest_undelivered_seconds",
        "parley_api_requests_total",
        "parley_api_request_seconds_bucket",
    ]) {
        assert.ok(m.has(name), `${name} missing`);
    }
    assert.equal(m.get("parley_database_up")[0].value, 1);
    // The loop's and the store's counters moved with that login.
    for (const name of ["parley_connections_total", "parley_logins_total", "parley_sessions_total", "parley_store_batch_jobs_count"]) {
        assert.ok(m.get(name)[0].value >= 1, `${name} = ${m.get(name)[0].value}`);
    }
    const presenceIn = m.get("parley_stanzas_total").find((s) => s.labels.includes('direction="in"') && s.labels.includes('kind="presence"'));
    assert.ok(presenceIn.value >= 1);
    const users = m.get("parley_api_requests_total").find((s) => s.labels.includes('route="/api/v1/users"') && s.labels.includes('status="200"'));
    assert.ok(users && users.value >= 1, res.text);
    const none = m.get("parley_api_requests_total").find((s) => s.labels.includes('route="none"') && s.labels.includes('status="404"'));
    assert.ok(none, "unrouted requests are counted");
    const inf = m.get("parley_api_request_seconds_bucket").filter((s) => s.labels.includes('le="+Inf"'));
    assert.ok(inf.length >= 1);
});

test("with PARLEY_METRICS_TOKEN, /metrics needs it", T, async () => {
    const other = new Server({ env: { PARLEY_METRICS_TOKEN: "scrape-me" } });
    await other.start();
    try {
        assertProblem(await api(other, "GET", "/metrics", { token: null }), 401);
        assertProblem(await api(other, "GET", "/metrics", { token: "wrong" }), 401);
        const ok = await api(other, "GET", "/metrics", { token: "scrape-me" });
        assert.equal(ok.status, 200);
        assert.equal((await api(other, "GET", "/healthz", { token: null })).status, 200);
    } finally {
        await other.stop();
    }
});

test("/stats counts users, sessions and messages", T, async () => {
    const before = (await api(srv, "GET", "/api/v1/stats")).json;
    const a = uniqueUser("st");
    const b = uniqueUser("st");
    await api(srv, "POST", "/api/v1/users", { body: { username: a } });
    await api(srv, "POST", "/api/v1/users", { body: { username: b } });
    await api(srv, "POST", "/api/v1/messages", { body: { to: b, body: "one" } });
    const c = await online(srv, a);
    try {
        let after;
        const deadline = Date.now() + 5_000;
        do {
            after = (await api(srv, "GET", "/api/v1/stats")).json;
            if (after.sessions > before.sessions) break;
            await sleep(50);
        } while (Date.now() < deadline);
        assert.ok(after.users >= before.users + 2);
        assert.ok(after.sessions >= before.sessions + 1);
        assert.ok(after.online_users >= 1);
        assert.ok(after.messages_last_hour >= before.messages_last_hour + 1);
        assert.ok(after.messages_last_day >= after.messages_last_hour);
        assert.ok(after.offline_waiting >= 1, "b is offline: the message waits");
        assert.ok(after.oldest_undelivered_seconds > 0);
        assert.equal(typeof after.rooms, "number");
    } finally {
        await stopAll(c);
    }
});

test("the audit log pages newest first without gaps or duplicates", T, async () => {
    for (let i = 0; i < 7; i++) await api(srv, "POST", "/api/v1/users", { body: { username: uniqueUser("au") } });
    const items = await allPages(srv, "/api/v1/audit", 3);
    const ids = items.map((e) => e.id);
    assert.ok(ids.length >= 7);
    assert.equal(new Set(ids).size, ids.length);
    assert.ok(ids.every((id, i) => i === 0 || id < ids[i - 1]), "newest first");
    assert.ok(items.every((e) => e.actor && e.action && e.target && e.at));
    assert.ok(items.slice(0, 7).every((e) => e.actor === "root" && e.action === "user.create"));
    assertProblem(await api(srv, "GET", "/api/v1/audit?cursor=x"), 400, "cursor");
});

// /proc/<pid>/task/<tid>/stat: the thread's name, then its nice value
// (field 19 of proc(5)).
function threadsOf(pid) {
    return fs.readdirSync(`/proc/${pid}/task`).map((tid) => {
        const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
        const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        return { tid: Number(tid), name, nice: Number(fields[19 - 3]) };
    });
}

test("the API's threads give way to the XMPP loop: nice 10 above the process once they have served", T, async () => {
    for (let i = 0; i < 8; i++) assert.equal((await api(srv, "GET", "/api/v1/users")).status, 200);
    const threads = threadsOf(srv.child.pid);
    const main = threads.find((t) => t.tid === srv.child.pid);
    const mhd = threads.filter((t) => t.name.startsWith("MHD-"));
    assert.ok(mhd.length > 0, `libmicrohttpd's threads among ${threads.map((t) => t.name).join(", ")}`);
    const lowered = Math.min(19, main.nice + 10);
    assert.ok(mhd.some((t) => t.nice === lowered), `an API thread at nice ${lowered}: ${JSON.stringify(mhd)}`);
    for (const t of mhd) assert.ok(t.nice === main.nice || t.nice === lowered, JSON.stringify(t));
    for (const t of threads.filter((t) => !t.name.startsWith("MHD-")))
        assert.equal(t.nice, main.nice, `${t.name} keeps the process's priority`);
});

stopsCleanly(srv);
