#!/usr/bin/env node
// What the admin API costs the XMPP loop: compares two parley-load outputs
// (the same load alone, then while wrk asked GET /api/v1/sessions at a
// steady rate) step by step and prints the change of each figure in per
// cent, then one line "RESULT {...}". Called by tests/bench/run with
// BENCH_API_LOAD set; it reports figures and asserts nothing.
//
// Usage: node tests/bench/api-cost.mjs ALONE.out WITH.out API.out
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

const [aloneFile, withFile, apiFile] = process.argv.slice(2);
if (!apiFile) {
    console.error("usage: api-cost.mjs ALONE.out WITH.out API.out");
    process.exit(2);
}
const alone = result(aloneFile);
const withApi = result(withFile);
const api = result(apiFile); // tests/bench/api-load.lua's summary of the wrk run

const change = (a, b) => (a > 0 ? +((100 * (b - a)) / a).toFixed(1) : null);
const fmt = (v) => (v === null ? "-" : `${v > 0 ? "+" : ""}${v}%`);
const rows = [];
console.log("\nwhat the API load changed (alone -> with GET /api/v1/sessions):");
console.log("  offered/s   achieved alone -> with        p50 ms alone -> with        p99 ms alone -> with");
for (const a of alone.rate ?? []) {
    const b = (withApi.rate ?? []).find((r) => r.offered === a.offered);
    if (!b) continue;
    const row = {
        offered: a.offered,
        achieved: [a.achieved, b.achieved, change(a.achieved, b.achieved)],
        p50_ms: [a.p50_ms, b.p50_ms, change(a.p50_ms, b.p50_ms)],
        p99_ms: [a.p99_ms, b.p99_ms, change(a.p99_ms, b.p99_ms)],
        lost: [a.lost, b.lost],
    };
    rows.push(row);
    const col = (x) => `${x[0]} -> ${x[1]} (${fmt(x[2])})`.padEnd(28);
    console.log(`  ${String(a.offered).padStart(9)}   ${col(row.achieved)}${col(row.p50_ms)}${col(row.p99_ms)}`);
}
let room = null;
if (alone.room && withApi.room) {
    room = {
        p50_ms: [alone.room.p50_ms, withApi.room.p50_ms, change(alone.room.p50_ms, withApi.room.p50_ms)],
        p99_ms: [alone.room.p99_ms, withApi.room.p99_ms, change(alone.room.p99_ms, withApi.room.p99_ms)],
    };
    console.log(`  room: p50 ${room.p50_ms[0]} -> ${room.p50_ms[1]} ms (${fmt(room.p50_ms[2])}), ` +
        `p99 ${room.p99_ms[0]} -> ${room.p99_ms[1]} ms (${fmt(room.p99_ms[2])})`);
}
console.log(`  best step with p99 < 100 ms and nothing lost: ${alone.rate_best_ok} -> ${withApi.rate_best_ok}`);
console.log(`  API: ${api.requests} requests in ${api.seconds} s = ${api.per_s}/s, ` +
    `${api.errors} socket errors, ${api.non_2xx} not 2xx, p50 ${api.p50_ms} ms, p99 ${api.p99_ms} ms`);
console.log(`RESULT ${JSON.stringify({ api_load: api, steps: rows, room, best: [alone.rate_best_ok, withApi.rate_best_ok] })}`);
