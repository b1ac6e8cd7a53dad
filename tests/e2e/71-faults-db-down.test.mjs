// A fault that loses nothing (SECURITY.md, "Database and network faults"):
// the database goes away under a stream of messages for some seconds (no
// connection is allowed to it and the server's are cut: what a stopped
// PostgreSQL looks like to parleyd), then comes back. Nothing sent
// meanwhile is delivered before it is stored (routing waits for the
// commit); the store reconnects with back-off; afterwards every message is
// stored once and delivered, in order; the server stays up.
import { test } from "node:test";
import assert from "node:assert/strict";

import { NS, useServer, stopsCleanly, online, uniqueUser, bareJid, sql, sleep, stopAll, xml } from "./lib/harness.mjs";
import { admin } from "./lib/faults.mjs";

const srv = useServer();
const OUTAGE_MS = 8_000;
const N = 200;

test("the database away for seconds under load: nothing delivered unstored, everything stored once and delivered after", { timeout: 90_000 }, async () => {
    const alice = await online(srv, uniqueUser("dd"));
    const bob = await online(srv, uniqueUser("ddr"));
    const got = [];
    bob.xmpp.on("stanza", (el) => {
        if (el.is("message") && el.getChild("body")) got.push({ body: el.getChildText("body"), sid: !!el.getChild("stanza-id", NS.sid) });
    });
    let down = false;
    let gotWhileDown = 0;
    try {
        for (let i = 0; i < N; i++) {
            if (i === 50) {
                await admin("ALTER DATABASE :\"db\" ALLOW_CONNECTIONS false");
                await admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :'db'");
                down = true;
                gotWhileDown = got.length;
            }
            alice.send(xml("message", { type: "chat", to: bareJid(bob.username), id: `d${i}` }, xml("body", {}, `m${i}`)))
                .catch(() => {});
            await sleep(i >= 50 ? OUTAGE_MS / (N - 50) : 5);
        }
        // Still down: nothing more was delivered than had been stored
        // before (a few of the first 50 may have been committing).
        assert.ok(got.length <= 50 + 5 && got.length - gotWhileDown <= 5,
            `delivered while the database was away: ${got.length - gotWhileDown}`);
    } finally {
        await admin("ALTER DATABASE :\"db\" ALLOW_CONNECTIONS true");
        down = false;
    }
    assert.ok(!down && srv.alive(), "the server stayed up");
    const deadline = Date.now() + 60_000;
    while (got.length < N && Date.now() < deadline) await sleep(100);
    const bodies = got.map((g) => g.body);
    assert.deepEqual(bodies, Array.from({ length: N }, (_, i) => `m${i}`), "every message, once, in order");
    assert.ok(got.every((g) => g.sid), "each delivered one was stored (it carries its archive id)");
    const rows = await sql("SELECT count(*), count(DISTINCT stanza_id) FROM messages WHERE sender = :'s' AND recipient = :'r'",
        { s: alice.bare, r: bob.bare });
    assert.deepEqual(rows[0].map(Number), [N, N], "each stored once");
    assert.match(srv.output, /cannot reconnect/, "the store said it was reconnecting");
    await stopAll(alice, bob);
});

stopsCleanly(srv);
