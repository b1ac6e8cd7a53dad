// A fault that loses nothing (SECURITY.md, "Database and network faults"):
// parleyd killed with SIGKILL under a steady stream of messages with
// XEP-0184 receipts, then started again on the same database with the
// same node name. Every message whose receipt its sender saw, and every
// message the server stored, reaches its recipient, each sender's in
// order after the restart; nothing is stored twice. 4 senders offer 600
// messages a second each (what an ASan build on a shared machine takes is
// less: the rest waits in the senders' sockets, so messages are in flight
// at every stage when the kill comes); the rate of receipts in the two
// seconds before the kill is printed (PARLEY_TEST_PARLEYD=<a Release
// parleyd> shows it at full speed).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";

import { NS, Server, eachStanza, online, uniqueUser, bareJid, xml, sql, sleep, stopAll, withTimeout } from "./lib/harness.mjs";

const node = `fault-${crypto.randomBytes(4).toString("hex")}`;
const first = new Server({ name: "first", env: { PARLEY_NODE: node } });
const second = new Server({ name: "second", env: { PARLEY_NODE: node } });
second.secret = first.secret; // one deployment, one key
after(async () => {
    await first.stop().catch(() => {}); // killed: its stop reports that, as expected
    await second.stop().catch(() => {});
}, { timeout: 30_000 });

const PAIRS = 4;
const EVERY_MS = 10;
const BATCH = 6; // 600 a second per sender (timers drift: about 2,000 in all)

/** Answers every receipt request `c` gets (as a client does) and records
 * the bodies in arrival order. */
function recipient(c, got) {
    eachStanza(c, (el) => {
        if (!el.is("message") || !el.getChild("body")) return;
        got.push(el.getChildText("body"));
        if (el.getChild("request", NS.receipts) && el.attrs.id) {
            c.send(
                xml("message", { to: el.attrs.from, id: `r-${el.attrs.id}` },
                    xml("received", { xmlns: NS.receipts, id: el.attrs.id })),
            ).catch(() => {});
        }
    });
}

test("kill -9 under load with receipts, then a restart: nothing acknowledged or stored is lost, nothing stored twice", { timeout: 90_000 }, async () => {
    await first.start();
    const pairs = [];
    for (let p = 0; p < PAIRS; p++) {
        const s = uniqueUser(`ks${p}`);
        const r = uniqueUser(`kr${p}`);
        const pair = { s, r, acked: new Set(), got1: [], got2: [] };
        pair.cs = await online(first, s);
        pair.cr = await online(first, r);
        recipient(pair.cr, pair.got1);
        pair.cs.xmpp.on("stanza", (el) => {
            const rec = el.is("message") && el.getChild("received", NS.receipts);
            if (rec) pair.acked.add(rec.attrs.id);
        });
        pairs.push(pair);
    }
    // Each sender sends m0, m1, … BATCH every EVERY_MS until its stream is gone.
    const senders = pairs.map(async (pair) => {
        for (let i = 0; !pair.cs.closed && i < 20_000; ) {
            for (let b = 0; b < BATCH; b++, i++) {
                pair.cs
                    .send(xml("message", { type: "chat", to: bareJid(pair.r), id: `k${i}` },
                        xml("body", {}, `m${i}`), xml("request", { xmlns: NS.receipts })))
                    .catch(() => {});
            }
            await sleep(EVERY_MS);
        }
    });
    // Kill it once receipts are flowing for every pair.
    await withTimeout((async () => {
        while (!pairs.every((p) => p.acked.size >= 200)) await sleep(10);
    })(), 20_000, "receipts flowing");
    // Two seconds more at the steady rate, measured: the receipts the
    // senders saw a second just before the kill.
    const ackedNow = () => pairs.reduce((n, p) => n + p.acked.size, 0);
    const a0 = ackedNow();
    const t0 = Date.now();
    await sleep(2_000);
    const rate = Math.round(((ackedNow() - a0) * 1000) / (Date.now() - t0));
    console.log(`# killed at ${rate} messages a second with receipts (offered ${PAIRS * BATCH * (1000 / EVERY_MS)})`);
    first.child.kill("SIGKILL");
    const exit = await withTimeout(first.exited, 10_000, "the first parleyd's end");
    assert.equal(exit.signal, "SIGKILL");
    await withTimeout(Promise.all(senders), 10_000, "senders stopped");
    await stopAll(...pairs.flatMap((p) => [p.cs, p.cr]));

    await second.start();
    for (const pair of pairs) {
        pair.cr = await online(second, pair.r);
        recipient(pair.cr, pair.got2);
    }
    for (const pair of pairs) {
        const rows = await sql(
            "SELECT stanza_id, count(*) FROM messages WHERE sender = :'s' AND recipient = :'r' GROUP BY 1",
            { s: bareJid(pair.s), r: bareJid(pair.r) },
        );
        const stored = new Map(rows.map(([id, n]) => [id, Number(n)]));
        assert.deepEqual([...stored].filter(([, n]) => n > 1), [], "nothing stored twice");
        console.log(`${pair.r}: ${stored.size} stored, ${pair.acked.size} acknowledged, ` +
            `${pair.got1.length} received before the kill`);
        for (const id of pair.acked) assert.ok(stored.has(id), `${id} was acknowledged, so stored`);
        // Everything stored arrives, in one session or the other.
        const want = [...stored.keys()].map((id) => `m${id.slice(1)}`);
        let missing;
        const deadline = Date.now() + 20_000;
        for (;;) {
            const got = new Set([...pair.got1, ...pair.got2]);
            missing = want.filter((b) => !got.has(b));
            if (!missing.length || Date.now() > deadline) break;
            await sleep(100);
        }
        assert.deepEqual(missing, [], `every stored message reached ${pair.r} (${stored.size} stored, ${pair.acked.size} acknowledged)`);
        // After the restart each sender's messages come in order.
        const seq = pair.got2.map((b) => Number(b.slice(1)));
        assert.deepEqual(seq, [...seq].sort((a, b) => a - b), "in order after the restart");
        const storedBodies = new Set(want);
        assert.deepEqual([...pair.got1, ...pair.got2].filter((b) => !storedBodies.has(b)), [],
            "nothing delivered that was not stored");
    }
    await stopAll(...pairs.map((p) => p.cr));
    await second.stop();
});
