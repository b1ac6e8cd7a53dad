#!/usr/bin/env node
// Admin API bench: seeds an archive straight into PostgreSQL, then measures
// over HTTP what operators wait for. It never asserts a timing; it prints
// figures (and with --json one line "RESULT {...}").
//
//   history   "the last 50 messages of a conversation":
//             GET /api/v1/messages?user=A&peer=B&limit=50, p50/p99
//   fulltext  GET /api/v1/messages?q=WORD&limit=50 over the whole archive,
//             a rare word (quartz, 1 in 500) and a common one (alpha)
//   export    GET /api/v1/export?user=C (NDJSON): messages/s, and parleyd's
//             VmRSS before and at its peak during the export
//   load      (with --load-seconds S) GET /api/v1/sessions at a steady
//             --load-rate per second (default 500) for S seconds: the rate
//             reached and the latency; run it while tests/bench/run drives
//             the XMPP throughput phase against the same server to see what
//             the API costs the loop (--phases load alone skips the rest)
//
// Usage: node tests/bench/api.mjs --api-port PORT --pid PARLEYD_PID [options]
//   --messages N     archive size to seed (default 1000000; 0: use what is there)
//   --requests R     requests per latency phase (default 500)
//   --export-size E  messages of the exported user (default 200000, within N)
//   --json
// Environment: PARLEY_JWT_SECRET (admin tokens are minted here), DATABASE_URL.
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";

const { values: opt } = parseArgs({
    options: {
        "api-port": { type: "string" },
        pid: { type: "string" },
        messages: { type: "string", default: "1000000" },
        requests: { type: "string", default: "500" },
        "export-size": { type: "string", default: "200000" },
        json: { type: "boolean", default: false },
        "load-seconds": { type: "string", default: "0" },
        "load-rate": { type: "string", default: "500" },
        phases: { type: "string", default: "history,fulltext,export,load" },
    },
});
if (!opt["api-port"] || !process.env.PARLEY_JWT_SECRET || !process.env.DATABASE_URL) {
    console.error("usage: api.mjs --api-port PORT [--pid PID] (PARLEY_JWT_SECRET, DATABASE_URL set)");
    process.exit(2);
}
const base = `http://127.0.0.1:${opt["api-port"]}`;
const N = Number(opt.messages);
const R = Number(opt.requests);
const E = Math.min(Number(opt["export-size"]), N || Infinity);

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
function adminToken() {
    const now = Math.floor(Date.now() / 1000);
    const input = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ sub: "bench", role: "admin", iat: now, exp: now + 3600 })}`;
    const sig = crypto.createHmac("sha256", process.env.PARLEY_JWT_SECRET).update(input).digest("base64url");
    return `${input}.${sig}`;
}
const auth = { Authorization: `Bearer ${adminToken()}` };

function psql(sql) {
    const r = spawnSync("psql", ["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", process.env.DATABASE_URL, "-c", sql], {
        encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`psql: ${r.stderr}`);
    return r.stdout.trim();
}

function rssKb(pid) {
    if (!pid) return 0;
    const m = fs.readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
    return Number(m[1]);
}

const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

async function latency(path) {
    const times = [];
    for (let i = 0; i < R; i++) {
        const t0 = performance.now();
        const res = await fetch(`${base}${path}`, { headers: auth });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
        times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    return { p50_ms: +pct(times, 50).toFixed(2), p99_ms: +pct(times, 99).toFixed(2), requests: R };
}

const phases = new Set(opt.phases.split(","));

// The seed: users bench_0..bench_999; bench_a and bench_b share a
// conversation of 2,000 messages; bench_c sent E messages; the rest are
// random pairs. Bodies draw from a small vocabulary; "quartz" is in 1 in 500.
if (N > 0 && (phases.has("history") || phases.has("fulltext") || phases.has("export"))) {
    const t0 = performance.now();
    psql("TRUNCATE messages, deliveries, deliveries_unsettled CASCADE"); // and what refers to messages (edits, uploads)
    const words = "alpha,build,green,deploy,review,merge,lunch,coffee,ticket,release,design,meeting,budget,friday,notes";
    psql(`INSERT INTO messages (kind, sender, recipient, body, stanza)
          SELECT 'chat',
                 CASE WHEN g <= 2000 THEN (CASE WHEN g % 2 = 0 THEN 'bench_a@localhost' ELSE 'bench_b@localhost' END)
                      WHEN g <= 2000 + ${E} THEN 'bench_c@localhost'
                      ELSE 'bench_' || (g * 7919 % 1000) || '@localhost' END,
                 CASE WHEN g <= 2000 THEN (CASE WHEN g % 2 = 0 THEN 'bench_b@localhost' ELSE 'bench_a@localhost' END)
                      WHEN g <= 2000 + ${E} THEN 'bench_d@localhost'
                      ELSE 'bench_' || (g * 104729 % 1000) || '@localhost' END,
                 (string_to_array('${words}', ','))[1 + g % 15] || ' ' ||
                 (string_to_array('${words}', ','))[1 + (g / 15) % 15] ||
                 CASE WHEN g % 500 = 0 THEN ' quartz' ELSE '' END || ' #' || g,
                 '<message/>'
          FROM generate_series(1::bigint, ${N}) g`); // bigint: g * 104729 passes 2^31 past 20,000 rows
    psql("ANALYZE messages");
    console.log(`seeded ${N} messages in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
const total = Number(psql("SELECT count(*) FROM messages"));
const pid = opt.pid ? Number(opt.pid) : 0;
const result = { archive_messages: total };

if (phases.has("history")) {
    await latency("/api/v1/messages?user=bench_a&peer=bench_b&limit=50"); // warm
    result.history_last50 = await latency("/api/v1/messages?user=bench_a&peer=bench_b&limit=50");
    console.log(`history (last 50 of a conversation, ${total} in the archive): p50 ${result.history_last50.p50_ms} ms, p99 ${result.history_last50.p99_ms} ms`);
}
if (phases.has("fulltext")) {
    result.fulltext = await latency("/api/v1/messages?q=quartz&limit=50");
    console.log(`full text (q=quartz, 1 in 500): p50 ${result.fulltext.p50_ms} ms, p99 ${result.fulltext.p99_ms} ms`);
    result.fulltext_common = await latency("/api/v1/messages?q=alpha&limit=50");
    console.log(`full text (q=alpha, about 1 in 8): p50 ${result.fulltext_common.p50_ms} ms, p99 ${result.fulltext_common.p99_ms} ms`);
}

if (phases.has("export")) {
    const before = rssKb(pid);
    let peak = before;
    const t0 = performance.now();
    const res = await fetch(`${base}/api/v1/export?user=bench_c`, { headers: auth });
    if (res.status !== 200) throw new Error(`export: ${res.status}`);
    let lines = 0;
    let bytes = 0;
    let n = 0;
    for await (const chunk of res.body) {
        bytes += chunk.length;
        for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) lines++;
        if (++n % 64 === 0) peak = Math.max(peak, rssKb(pid));
    }
    const secs = (performance.now() - t0) / 1000;
    peak = Math.max(peak, rssKb(pid));
    result.export = {
        messages: lines,
        seconds: +secs.toFixed(2),
        messages_per_s: Math.round(lines / secs),
        mb: +(bytes / 1048576).toFixed(1),
        rss_before_mb: +(before / 1024).toFixed(1),
        rss_peak_mb: +(peak / 1024).toFixed(1),
    };
    console.log(`export NDJSON: ${lines} messages (${result.export.mb} MB) in ${result.export.seconds} s = ` +
        `${result.export.messages_per_s}/s; RSS ${result.export.rss_before_mb} -> peak ${result.export.rss_peak_mb} MB`);
}
const loadSeconds = Number(opt["load-seconds"]);
if (phases.has("load") && loadSeconds > 0) {
    // Open loop: requests start on a fixed schedule whatever the answers
    // do, so a slow server shows as latency, not as a lower offered rate.
    const rate = Number(opt["load-rate"]);
    const times = [];
    let failed = 0;
    const inflight = new Set();
    const start = performance.now();
    const total = Math.round(rate * loadSeconds);
    for (let i = 0; i < total; i++) {
        const due = start + (i * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const t0 = performance.now();
        const p = fetch(`${base}/api/v1/sessions?limit=50`, { headers: auth })
            .then(async (res) => {
                await res.arrayBuffer();
                if (res.status !== 200) failed++;
                times.push(performance.now() - t0);
            })
            .catch(() => failed++)
            .finally(() => inflight.delete(p));
        inflight.add(p);
    }
    await Promise.all(inflight);
    const secs = (performance.now() - start) / 1000;
    times.sort((a, b) => a - b);
    result.load = {
        offered_per_s: rate,
        reached_per_s: Math.round(times.length / secs),
        failed,
        p50_ms: +pct(times, 50).toFixed(2),
        p99_ms: +pct(times, 99).toFixed(2),
    };
    console.log(`load: GET /api/v1/sessions at ${rate}/s for ${loadSeconds} s: reached ${result.load.reached_per_s}/s, ` +
        `${failed} failed, p50 ${result.load.p50_ms} ms, p99 ${result.load.p99_ms} ms`);
}
if (opt.json) console.log(`RESULT ${JSON.stringify(result)}`);
