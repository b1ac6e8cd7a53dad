// A fault that loses nothing (SECURITY.md, "Database and network faults"):
// SIGTERM while a large offline backlog is being sent. What the first
// process marked delivered had reached the client; after a start with the
// same node name the rest arrives, in order; every message reaches the
// recipient.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";

import { Server, eachStanza, online, uniqueUser, bareJid, xml, sql, sleep, stopAll, waitForSql, withTimeout } from "./lib/harness.mjs";

const node = `flush-${crypto.randomBytes(4).toString("hex")}`;
const first = new Server({ name: "first", env: { PARLEY_NODE: node } });
const second = new Server({ name: "second", env: { PARLEY_NODE: node } });
second.secret = first.secret;
after(async () => {
    await first.stop().catch(() => {});
    await second.stop().catch(() => {});
}, { timeout: 30_000 });

const N = 1500;

function collect(c, got) {
    eachStanza(c, (el) => {
        if (el.is("message") && el.getChild("body")) got.push(el.getChildText("body"));
    });
}

test("SIGTERM during a large offline flush: nothing marked delivered that was not received, the rest after the restart", { timeout: 120_000 }, async () => {
    await first.start();
    const alice = await online(first, uniqueUser("fa"));
    const bob = uniqueUser("fb");
    for (let i = 0; i < N; i++) {
        alice.send(xml("message", { type: "chat", to: bareJid(bob), id: `f${i}` }, xml("body", {}, `m${i}`)))
            .catch(() => {});
        if (i % 100 === 99) await sleep(5);
    }
    await waitForSql("SELECT count(*) FROM messages WHERE sender = :'s' AND recipient = :'r'",
        { s: alice.bare, r: bareJid(bob) }, (rows) => rows[0]?.[0] === String(N), `${N} stored`, 60_000);
    await stopAll(alice);

    const got1 = [];
    const cb = await online(first, bob);
    collect(cb, got1);
    await withTimeout((async () => { while (got1.length < 100) await sleep(5); })(), 30_000, "the flush under way");
    first.child.kill("SIGTERM");
    const exit = await withTimeout(first.exited, 15_000, "the first parleyd's end");
    assert.equal(exit.code, 0, "a clean stop");
    await withTimeout((async () => { while (!cb.closed) await sleep(10); })(), 5_000, "bob's stream closed");
    await stopAll(cb);
    assert.ok(got1.length < N, `the flush was cut short (${got1.length} of ${N} before the stop)`);

    // Nothing is marked delivered (or received) that bob did not get.
    const marked = await sql(
        `SELECT m.body FROM deliveries d JOIN messages m ON m.id = d.message_id
         WHERE m.sender = :'s' AND d.recipient = :'r' AND d.state <> 'stored'`,
        { s: alice.bare, r: bareJid(bob) },
    );
    const seen1 = new Set(got1);
    assert.deepEqual(marked.map((r) => r[0]).filter((b) => !seen1.has(b)), [],
        "nothing marked delivered that bob did not receive");

    await second.start();
    const got2 = [];
    const cb2 = await online(second, bob);
    collect(cb2, got2);
    const want = Array.from({ length: N }, (_, i) => `m${i}`);
    let missing;
    const deadline = Date.now() + 60_000;
    for (;;) {
        const all = new Set([...got1, ...got2]);
        missing = want.filter((b) => !all.has(b));
        if (!missing.length || Date.now() > deadline) break;
        await sleep(100);
    }
    assert.deepEqual(missing, [], "every message reached bob");
    const seq = got2.map((b) => Number(b.slice(1)));
    assert.deepEqual(seq, [...seq].sort((a, b) => a - b), "the rest in order");
    console.log(`${got1.length} before the stop, ${got2.length} after the restart`);
    await stopAll(cb2);
    await second.stop();
});
