// A fault that loses nothing (SECURITY.md, "Database and network faults"):
// the database goes away while a sender keeps sending, and the store's job
// queue is bounded (PARLEY_LIMIT_STORE_QUEUE, small here). Past the bound
// each new message is refused with <wait/><resource-constraint/> instead of
// being held in the loop's memory; nothing refused is stored or delivered,
// everything accepted is stored once and delivered in order once the
// database is back, and each refusal is counted in /metrics.
import { test } from "node:test";
import assert from "node:assert/strict";

import { NS, useServer, stopsCleanly, online, uniqueUser, bareJid, sql, sleep, stopAll, xml } from "./lib/harness.mjs";

const LIMIT = 20;
const N = 150;
const srv = useServer({ env: { PARLEY_LIMIT_STORE_QUEUE: String(LIMIT) } });

const dbName = new URL(process.env.DATABASE_URL).pathname.slice(1);

/** psql on the cluster's `postgres` database, to switch the test database
 * on and off while nobody can connect to it. */
function admin(query, vars) {
    const url = new URL(process.env.DATABASE_URL);
    url.pathname = "/postgres";
    const saved = process.env.DATABASE_URL;
    process.env.DATABASE_URL = url.toString();
    return sql(query, { db: dbName, ...vars }).finally(() => (process.env.DATABASE_URL = saved));
}

/** The store-queue refusals counted in /metrics (the API listener comes up
 * a moment after the XMPP one, so a refused connection is tried again). */
async function refusals() {
    for (let tries = 0; ; tries++) {
        try {
            const text = await (await fetch(`http://127.0.0.1:${srv.apiPort}/metrics`)).text();
            return Number(text.match(/^parley_limit_refusals_total\{limit="store_queue"\} (\d+)$/m)[1]);
        } catch (err) {
            if (tries >= 100) throw err;
            await sleep(50);
        }
    }
}

test("the store queue full while the database is away: messages refused with wait, the accepted ones stored once and delivered", { timeout: 90_000 }, async () => {
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
        for (let i = 0; i < N; i++) {
            alice.send(xml("message", { type: "chat", to: bareJid(bob.username), id: `q${i}` }, xml("body", {}, `m${i}`)))
                .catch(() => {});
            await sleep(10);
        }
        const deadline = Date.now() + 10_000;
        while (refused.size < N - LIMIT - 10 && Date.now() < deadline) await sleep(50);
        assert.ok(refused.size >= N - LIMIT - 10, `past the bound, messages were refused (${refused.size} of ${N})`);
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
