// A fault that loses nothing (SECURITY.md, "Database and network faults"):
// the database goes away for 60 s while a sender keeps sending 50 messages
// a second, and the store's job queue is bounded (PARLEY_LIMIT_STORE_QUEUE,
// small here). Past the bound each new message is refused with
// <wait/><resource-constraint/> instead of being held in the loop's memory
// (the queue gauge, sampled throughout, never passes the bound; the
// server's RSS is printed: flat for a Release parleyd, 14,420 -> 14,516 KB
// on 2026-12-02; under ASan it grows by the allocator's quarantine of freed
// memory, so it is not asserted); nothing refused is stored or delivered,
// everything accepted is stored once and delivered in order once the
// database is back, and each refusal is counted in /metrics.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { NS, useServer, stopsCleanly, online, uniqueUser, bareJid, sql, sleep, stopAll, xml } from "./lib/harness.mjs";
import { admin } from "./lib/faults.mjs";

const LIMIT = 20;
const OUTAGE_MS = 60_000;
/* A worker holds at most one batch (db/db_internal.h DB_BATCH_MAX) while it
 * waits for the database: those are accepted beyond the queue's bound. */
const BATCH_MAX = 256;
const N = 3000; /* 50 a second for the whole outage */
const srv = useServer({ env: { PARLEY_LIMIT_STORE_QUEUE: String(LIMIT) } });

/** /metrics (the API listener comes up a moment after the XMPP one, so a
 * refused connection is tried again). */
async function metrics() {
    for (let tries = 0; ; tries++) {
        try {
            return await (await fetch(`http://127.0.0.1:${srv.apiPort}/metrics`)).text();
        } catch (err) {
            if (tries >= 100) throw err;
            await sleep(50);
        }
    }
}

/** The store-queue refusals counted in /metrics. */
async function refusals() {
    return Number((await metrics()).match(/^parley_limit_refusals_total\{limit="store_queue"\} (\d+)$/m)[1]);
}

/** The store's queue gauge: jobs submitted and not yet run. */
async function queued() {
    return Number((await metrics()).match(/^parley_store_queue_jobs (\d+)$/m)[1]);
}

/** parleyd's resident set in KB, from /proc. */
function rssKb() {
    const m = readFileSync(`/proc/${srv.child.pid}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB$/m);
    return m ? Number(m[1]) : NaN;
}

test("the store queue full while the database is away: messages refused with wait, the accepted ones stored once and delivered", { timeout: 150_000 }, async () => {
    const before = await refusals();
    const alice = await online(srv, uniqueUser("sq"));
    const bob = await online(srv, uniqueUser("sqr"));
    const got = [];
    bob.xmpp.on("stanza", (el) => {
        if (el.is("message") && el.getChild("body")) got.push({ body: el.getChildText("body"), sid: !!el.getChild("stanza-id", NS.sid) });
    });
    const refused = new Map();
    alice.xmpp.on("stanza", (el) => {
        if (!el.is("message") || el.attrs.type !== "error") return;
        const e = el.getChild("error");
        refused.set(el.attrs.id, { type: e?.attrs.type, condition: e?.getChild("resource-constraint") ? "resource-constraint" : e?.children[0]?.name });
    });
    // Stored and delivered first: the database is up.
    await alice.send(xml("message", { type: "chat", to: bareJid(bob.username), id: "first" }, xml("body", {}, "first")));
    const deadline0 = Date.now() + 10_000;
    while (got.length < 1 && Date.now() < deadline0) await sleep(20);
    assert.equal(got.length, 1, "the first message arrived while the database was up");

    try {
        await admin("ALTER DATABASE :\"db\" ALLOW_CONNECTIONS false");
        await admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :'db'");
        const t0 = Date.now();
        const rss0 = rssKb();
        let maxQueued = 0;
        for (let i = 0; i < N; i++) {
            alice.send(xml("message", { type: "chat", to: bareJid(bob.username), id: `q${i}` }, xml("body", {}, `m${i}`)))
                .catch(() => {});
            if (i % 50 === 49) {
                maxQueued = Math.max(maxQueued, await queued());
                const wait = t0 + ((i + 1) * OUTAGE_MS) / N - Date.now();
                if (wait > 0) await sleep(wait);
            }
        }
        maxQueued = Math.max(maxQueued, await queued());
        console.log(`# ${N} messages over ${Date.now() - t0} ms with the database away: store queue at most ${maxQueued} jobs; parleyd RSS ${rss0} -> ${rssKb()} KB`);
        assert.ok(maxQueued <= LIMIT, `the store queue stayed within its bound (${maxQueued} > ${LIMIT})`);
        const deadline = Date.now() + 10_000;
        while (refused.size < N - LIMIT - BATCH_MAX && Date.now() < deadline) await sleep(50);
        assert.ok(refused.size >= N - LIMIT - BATCH_MAX, `past the bound, messages were refused (${refused.size} of ${N})`);
        for (const [id, r] of refused) {
            assert.match(id, /^q\d+$/, "only messages sent while the database was away are refused");
            assert.deepEqual(r, { type: "wait", condition: "resource-constraint" }, `the refusal of ${id}`);
        }
        assert.equal(got.length, 1, "nothing was delivered while the database was away");
    } finally {
        await admin("ALTER DATABASE :\"db\" ALLOW_CONNECTIONS true");
    }
    assert.ok(srv.alive(), "the server stayed up");
    const accepted = Array.from({ length: N }, (_, i) => i).filter((i) => !refused.has(`q${i}`)).map((i) => `m${i}`);
    assert.ok(accepted.length >= LIMIT, `at least the queue's bound was accepted (${accepted.length})`);
    const deadline = Date.now() + 60_000;
    while (got.length < 1 + accepted.length && Date.now() < deadline) await sleep(100);
    await sleep(300);
    assert.deepEqual(got.map((g) => g.body), ["first", ...accepted], "every accepted message, once, in order; no refused one");
    assert.ok(got.every((g) => g.sid), "each delivered one was stored (it carries its archive id)");
    const rows = await sql("SELECT count(*), count(DISTINCT stanza_id) FROM messages WHERE sender = :'s' AND recipient = :'r'",
        { s: alice.bare, r: bob.bare });
    assert.deepEqual(rows[0].map(Number), [1 + accepted.length, 1 + accepted.length], "each accepted one stored once, no refused one");
    assert.equal(await refusals() - before, refused.size, "each refusal counted in /metrics");
    // The queue drained: messages are accepted again.
    refused.clear();
    await alice.send(xml("message", { type: "chat", to: bareJid(bob.username), id: "after" }, xml("body", {}, "after")));
    const deadline2 = Date.now() + 10_000;
    while (got.at(-1)?.body !== "after" && Date.now() < deadline2) await sleep(20);
    assert.equal(got.at(-1)?.body, "after", "accepted again once the database is back");
    assert.equal(refused.size, 0);
    await stopAll(alice, bob);
});

stopsCleanly(srv);
