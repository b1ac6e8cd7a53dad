// Restarts that lose nothing: a rolling restart (the new parleyd starts on
// the same database while the old one runs, then the old one gets SIGTERM
// with messages in flight). Every message the old process accepted (stored)
// reaches the recipient, live or from the new process's offline delivery;
// nothing it did not store is delivered; nothing is stored twice.
import { test, after } from "node:test";
import assert from "node:assert/strict";

import {
    Server, online, uniqueUser, bareJid, xml, sql, sleep, stopAll, withTimeout,
} from "./lib/deploy.mjs";

const oldSrv = new Server({ name: "old" });
const newSrv = new Server({ name: "new" });
newSrv.secret = oldSrv.secret; // one deployment, one key
after(async () => {
    await oldSrv.stop().catch(() => {});
    await newSrv.stop().catch(() => {});
}, { timeout: 30_000 });

const N = 400;

test("rolling restart with messages in flight: every stored message delivered, none stored twice", { timeout: 90_000 }, async () => {
    await oldSrv.start();
    const alice = uniqueUser("ra");
    const bob = uniqueUser("rb");
    const ca = await online(oldSrv, alice);
    let cb = await online(oldSrv, bob);
    const received = [];
    const collect = (c) => c.xmpp.on("stanza", (el) => {
        if (el.is("message") && el.getChild("body")) received.push(el.getChildText("body"));
    });
    collect(cb);
    await newSrv.start();

    let stopping = null;
    for (let i = 0; i < N; i++) {
        ca.send(xml("message", { type: "chat", to: bareJid(bob), id: `rr-${i}` },
            xml("body", {}, `m${i}`))).catch(() => {});
        if (i === N / 2) {
            // Let part of them reach the server, then stop it while the
            // rest are still on their way.
            await sleep(5);
            stopping = oldSrv.stop();
        }
    }
    // The old process drains and exits 0 (Server.stop checks the code and
    // the sanitizers).
    await stopping;
    await withTimeout(new Promise((r) => {
        const t = setInterval(() => { if (cb.closed) { clearInterval(t); r(); } }, 20);
    }), 5_000, "bob's stream closed by the old server");
    const shutdown = cb.errors.some((e) => e.condition === "system-shutdown");
    assert.ok(shutdown, `bob was told system-shutdown: ${cb.errors.map((e) => e.condition ?? e.message)}`);

    const rows = await sql("SELECT stanza_id, count(*) FROM messages WHERE sender = :'s' GROUP BY 1",
        { s: bareJid(alice) });
    const stored = new Map(rows.map(([id, n]) => [id, Number(n)]));
    assert.ok(stored.size > 0, "the old server accepted some of them");
    console.log(`the old server stored ${stored.size} of ${N} before it stopped`);
    const twice = [...stored].filter(([, n]) => n > 1);
    assert.deepEqual(twice, [], "no message stored twice");

    // Bob comes back on the new process and gets the rest from the store.
    await stopAll(ca, cb);
    cb = await online(newSrv, bob);
    collect(cb);
    const want = [...stored.keys()].map((id) => `m${id.slice(3)}`);
    const deadline = Date.now() + 15_000;
    let missing;
    for (;;) {
        const got = new Set(received);
        missing = want.filter((b) => !got.has(b));
        if (!missing.length || Date.now() > deadline) break;
        await sleep(100);
    }
    assert.deepEqual(missing, [], `every stored message reached bob (${stored.size} stored)`);
    const storedBodies = new Set(want);
    const unstored = [...new Set(received)].filter((b) => !storedBodies.has(b));
    assert.deepEqual(unstored, [], "nothing delivered that was not stored");

    // And the new process serves: alice, reconnected, reaches bob live.
    const ca2 = await online(newSrv, alice);
    try {
        await ca2.send(xml("message", { type: "chat", to: bareJid(bob), id: "rr-after" },
            xml("body", {}, "after the restart")));
        await cb.nextMessage("after the restart");
    } finally {
        await stopAll(ca2, cb);
    }
    const after = await sql("SELECT count(*) FROM messages WHERE sender = :'s' AND stanza_id LIKE 'rr-%'",
        { s: bareJid(alice) });
    assert.equal(Number(after[0][0]), stored.size + 1, "the restart stored nothing again");
    await newSrv.stop();
});
