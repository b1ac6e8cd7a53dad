#!/usr/bin/env node
// What the admin API costs the XMPP loop: compares parley-load outputs of
// the same load run alone and while wrk asked GET /api/v1/sessions at a
// steady rate, alternated (alone, with, alone, with, ..., alone), step by
// step. Each run with the API is set against the mean of the two alone
// runs around it (a "paired" change); the median of those is the figure,
// and the changes between consecutive alone runs are printed beside it as
// the machine's own run-to-run spread. Then one line "RESULT {...}".
// Called by tests/bench/run with BENCH_API_LOAD set; it reports figures
// and asserts nothing.
//
// Usage: node tests/bench/api-cost.mjs --alone A1 --with W1 --api API1
//            --alone A2 [--with W2 --api API2 --alone A3 ...]
// (in the order they ran; there is one more alone run than runs with)
import fs from "node:fs";

function result(file) {
    const line = fs
        .readFileSync(file, "utf8")
        .split("\n")
        .reverse()
        .find((l) => l.startsWith("RESULT "));
    if (!line) throw new Error(`${file}: no RESULT line`);
    return JSON.parse(line.slice("RESULT ".length));
}

const files = { alone: [], with: [], api: [] };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
    const kind = argv[i].replace(/^--/, "");
    if (!files[kind] || !argv[i + 1]) {
        console.error("usage: api-cost.mjs --alone A1 --with W1 --api API1 --alone A2 ...");
        process.exit(2);
    }
    files[kind].push(argv[i + 1]);
}
if (!files.with.length || files.alone.length !== files.with.length + 1 ||
    files.api.length !== files.with.length) {
    console.error("api-cost.mjs: needs N runs with the API, N API outputs and N + 1 alone runs");
    process.exit(2);
}
const alone = files.alone.map(result);
const withApi = files.with.map(result);
const api = files.api.map(result); // tests/bench/api-load.lua's summaries

const median = (xs) => {
    const s = xs.filter((x) => x !== null && x !== undefined).sort((a, b) => a - b);
    if (!s.length) return null;
    const m = s.length >> 1;
    return +(s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2).toFixed(2);
};
const change = (a, b) => (a > 0 ? +((100 * (b - a)) / a).toFixed(1) : null);
const fmt = (v) => (v === null ? "-" : `${v > 0 ? "+" : ""}${v}%`);
const step = (run, offered) => (run.rate ?? []).find((r) => r.offered === offered);
const range = (xs) => {
    const s = xs.filter((x) => x !== null).sort((a, b) => a - b);
    return s.length ? `${fmt(s[0])} .. ${fmt(s[s.length - 1])}` : "-";
};

const fields = ["achieved", "p50_ms", "p99_ms", "server_cpu_pct", "pg_cpu_pct"];
const rows = [];
for (const first of alone[0].rate ?? []) {
    const offered = first.offered;
    const row = { offered };
    for (const f of fields) {
        const a = alone.map((r) => step(r, offered)?.[f] ?? null);
        const w = withApi.map((r) => step(r, offered)?.[f] ?? null);
        // Each run with the API against the mean of its two neighbours.
        const paired = w.map((x, i) =>
            x === null || a[i] === null || a[i + 1] === null ? null : change((a[i] + a[i + 1]) / 2, x));
        // Consecutive alone runs against each other: what changes with nothing changed.
        const noise = a.slice(1).map((x, i) => (x === null || a[i] === null ? null : change(a[i], x)));
        row[f] = { alone: a, with: w, alone_median: median(a), with_median: median(w),
            paired, paired_median: median(paired), alone_to_alone: noise };
    }
    row.lost = { alone: alone.map((r) => step(r, offered)?.lost ?? null),
        with: withApi.map((r) => step(r, offered)?.lost ?? null) };
    rows.push(row);
}

console.log(`\nwhat the API load changed: ${withApi.length} run(s) with it, each against the mean of the`);
console.log("alone runs before and after it; 'alone -> alone' is the change between consecutive alone runs");
for (const r of rows) {
    console.log(`  ${r.offered}/s offered:`);
    const names = { achieved: "achieved/s", p50_ms: "p50 ms", p99_ms: "p99 ms",
        server_cpu_pct: "parleyd CPU %", pg_cpu_pct: "PostgreSQL CPU %" };
    for (const f of fields) {
        const x = r[f];
        console.log(`    ${names[f].padEnd(17)} alone ${x.alone.join(" / ")}; with ${x.with.join(" / ")}`);
        console.log(`    ${"".padEnd(17)} median ${x.alone_median} -> ${x.with_median}; ` +
            `paired change ${fmt(x.paired_median)} (${range(x.paired)}); alone -> alone ${range(x.alone_to_alone)}`);
    }
    const lost = [...r.lost.alone, ...r.lost.with].reduce((s, v) => s + (v ?? 0), 0);
    console.log(`    lost              ${lost}`);
}
console.log(`  best step with p99 < 100 ms and nothing lost: alone ${alone.map((r) => r.rate_best_ok).join(" / ")}; ` +
    `with ${withApi.map((r) => r.rate_best_ok).join(" / ")}`);
for (const a of api)
    console.log(`  API: ${a.requests} requests in ${a.seconds} s = ${a.per_s}/s, ` +
        `${a.errors} socket errors, ${a.non_2xx} not 2xx, p50 ${a.p50_ms} ms, p99 ${a.p99_ms} ms`);
console.log(`RESULT ${JSON.stringify({ api_load: api, steps: rows,
    best: { alone: alone.map((r) => r.rate_best_ok), with: withApi.map((r) => r.rate_best_ok) } })}`);
