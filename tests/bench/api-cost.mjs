#!/usr/bin/env node
// What the admin API costs the XMPP loop: compares parley-load outputs
// (the same load alone, then while wrk asked GET /api/v1/sessions at a
// steady rate, then alone again) step by step: the run with the API
// against the mean of the two alone, whose own difference is printed as
// the machine's run-to-run spread; then one line "RESULT {...}". Called by
// tests/bench/run with BENCH_API_LOAD set; it reports figures and asserts
// nothing.
//
// Usage: node tests/bench/api-cost.mjs ALONE.out WITH.out API.out [ALONE2.out]
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
const alone1 = result(aloneFile);
const withApi = result(withFile);
const alone2 = process.argv[5] ? result(process.argv[5]) : null;
// The mean of the alone runs, step by step (one alone run: itself).
const alone = structuredClone(alone1);
const spread = [];
if (alone2) {
    const mean = (a, b) => +((a + b) / 2).toFixed(2);
    for (const a of alone.rate ?? []) {
        const b = (alone2.rate ?? []).find((r) => r.offered === a.offered);
        if (!b) continue;
        const one = (alone1.rate ?? []).find((r) => r.offered === a.offered);
        spread.push({ offered: a.offered, p50_ms: [one.p50_ms, b.p50_ms], p99_ms: [one.p99_ms, b.p99_ms] });
        a.achieved = mean(a.achieved, b.achieved);
        a.p50_ms = mean(a.p50_ms, b.p50_ms);
        a.p99_ms = mean(a.p99_ms, b.p99_ms);
    }
    if (alone.room && alone2.room) {
        alone.room.p50_ms = mean(alone.room.p50_ms, alone2.room.p50_ms);
        alone.room.p99_ms = mean(alone.room.p99_ms, alone2.room.p99_ms);
    }
}
const api = result(apiFile); // tests/bench/api-load.lua's summary of the wrk run

const change = (a, b) => (a > 0 ? +((100 * (b - a)) / a).toFixed(1) : null);
const fmt = (v) => (v === null ? "-" : `${v > 0 ? "+" : ""}${v}%`);
const rows = [];
if (spread.length) {
    console.log("\nthe two alone runs (run-to-run spread):");
    for (const r of spread)
        console.log(`  ${String(r.offered).padStart(9)}   p50 ${r.p50_ms[0]} / ${r.p50_ms[1]} ms, p99 ${r.p99_ms[0]} / ${r.p99_ms[1]} ms`);
}
console.log(`\nwhat the API load changed (alone${alone2 ? ", the mean of two runs," : ""} -> with GET /api/v1/sessions):`);
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
console.log(`  best step with p99 < 100 ms and nothing lost: ${alone1.rate_best_ok}${alone2 ? ` and ${alone2.rate_best_ok}` : ""} -> ${withApi.rate_best_ok}`);
console.log(`  API: ${api.requests} requests in ${api.seconds} s = ${api.per_s}/s, ` +
    `${api.errors} socket errors, ${api.non_2xx} not 2xx, p50 ${api.p50_ms} ms, p99 ${api.p99_ms} ms`);
console.log(`RESULT ${JSON.stringify({ api_load: api, steps: rows, room, spread, best: [alone1.rate_best_ok, withApi.rate_best_ok, alone2?.rate_best_ok ?? null] })}`);
