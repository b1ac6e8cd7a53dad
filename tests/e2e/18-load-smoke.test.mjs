// The load generator (tests/bench/load, parley-load) run small against a
// test server, so that the tool the benchmarks rely on cannot rot: every
// phase must drive the server and account for every message. No timing is
// asserted; the figures it prints are left to the benchmarks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { useServer, stopsCleanly, parleydPath, withTimeout } from "./lib/harness.mjs";

const srv = useServer({ env: { PARLEY_ROOM_CREATION: "anyone" } });
const tool = path.join(path.dirname(parleydPath()), "parley-load");

function runLoad(args) {
    return new Promise((resolve, reject) => {
        const child = spawn(tool, ["--port", String(srv.port), "--pid", String(srv.child.pid), ...args], {
            env: { ...process.env, PARLEY_JWT_SECRET: srv.secret },
            stdio: ["ignore", "pipe", "pipe"],
        });
        let out = "";
        let err = "";
        child.stdout.on("data", (d) => (out += d));
        child.stderr.on("data", (d) => (err += d));
        child.on("error", reject);
        child.on("exit", (code) => resolve({ code, out, err }));
    });
}

function resultOf(run) {
    const line = run.out.split("\n").find((l) => l.startsWith("RESULT "));
    assert.ok(line, `a RESULT line (stdout: ${run.out.slice(-500)}; stderr: ${run.err.slice(-500)})`);
    return JSON.parse(line.slice("RESULT ".length));
}

test("parley-load drives every phase and accounts for every message", { timeout: 120_000 }, async () => {
    assert.ok(fs.existsSync(tool), `parley-load is built next to parleyd (${tool})`);
    const run = await withTimeout(
        runLoad([
            "--phases", "idle,rate,offline,room,login",
            "--sessions", "50", "--sources", "3",
            "--pairs", "10", "--rates", "50,100", "--step-seconds", "1", "--receipts",
            "--offline", "200",
            "--occupants", "5", "--room-rate", "20", "--room-messages", "20",
            "--logins", "30", "--timeout", "60",
        ]),
        110_000,
        "parley-load",
    );
    assert.equal(run.code, 0, `exit 0 (stderr: ${run.err.slice(-800)})`);
    const r = resultOf(run);
    assert.equal(r.ok, true);
    assert.equal(r.idle.established, 50, "every idle session established");
    assert.ok(r.idle.rss_after_kb > 0 && r.idle.rss_before_kb > 0, "parleyd's RSS read");
    assert.equal(r.rate.length, 2, "one row per step of the ladder");
    for (const step of r.rate) {
        assert.equal(step.sent, step.offered, "a 1 s step sends its offered rate once");
        assert.equal(step.completed, step.sent, `every message's receipt came back at ${step.offered}/s`);
        assert.equal(step.lost, 0);
        assert.equal(step.dups, 0, "no receipt counted twice");
    }
    assert.equal(r.receipts, 1);
    assert.equal(r.offline.received, 200, "the whole offline backlog arrived");
    assert.equal(r.room.complete, 20, "every room message reached all 5 occupants");
    assert.equal(r.login.logins, 30);
    assert.ok(r.login.per_s > 0);
});

test("parley-load with stream management: every session enabled, the server's requests answered", { timeout: 120_000 }, async () => {
    const run = await withTimeout(
        runLoad(["--phases", "idle,rate", "--sm", "--sessions", "20", "--pairs", "5",
            "--rates", "50", "--step-seconds", "2", "--receipts", "--timeout", "60"]),
        110_000,
        "parley-load --sm",
    );
    assert.equal(run.code, 0, `exit 0 (stderr: ${run.err.slice(-800)})`);
    const r = resultOf(run);
    assert.equal(r.sm, 1);
    assert.equal(r.idle.established, 20, "every session got <enabled/>");
    // 100 messages with receipts: the server asks <r/> every few stanzas;
    // an unanswered or miscounted one would close the sessions.
    assert.equal(r.rate[0].completed, 100);
    assert.equal(r.rate[0].lost, 0);
});

test("parley-load refuses a target that is not loopback and a run it cannot drive", { timeout: 30_000 }, async () => {
    const bad = await new Promise((resolve) => {
        const child = spawn(tool, ["--host", "10.1.2.3", "--port", "5280"], {
            env: { ...process.env, PARLEY_JWT_SECRET: "x" },
        });
        child.on("exit", (code) => resolve(code));
    });
    assert.equal(bad, 2, "usage error for a non-loopback host");
    // Tokens signed with another key: the server refuses the logins and the
    // tool says it could not drive it, instead of printing figures.
    const refused = await new Promise((resolve) => {
        const child = spawn(tool, ["--port", String(srv.port), "--phases", "rate", "--pairs", "2", "--timeout", "10"], {
            env: { ...process.env, PARLEY_JWT_SECRET: `not-${srv.secret}` },
            stdio: ["ignore", "pipe", "pipe"],
        });
        let out = "";
        child.stdout.on("data", (d) => (out += d));
        child.on("exit", (code) => resolve({ code, out }));
    });
    assert.equal(refused.code, 1);
    assert.match(refused.out, /"ok":false/);
});

stopsCleanly(srv);
