// A fault that loses nothing (SECURITY.md, "Database and network faults"):
// the server's database connections are killed from SQL again and again
// (pg_terminate_backend as fast as psql goes) while 300 messages stream in
// over a few seconds, so that kills land at any point of a batch, its
// commit included (where one lands is chance: a run does not prove each
// point). Each message is stored exactly once, and reaches its recipient
// once, in order.
import { test } from "node:test";
import assert from "node:assert/strict";

import { useServer, stopsCleanly, online, uniqueUser, bareJid, sql, sleep, stopAll, xml, waitForSql } from "./lib/harness.mjs";

const srv = useServer();
const N = 300;

test("connections cut mid-commit, over and over: every message stored once and delivered once, in order", { timeout: 90_000 }, async () => {
    const alice = await online(srv, uniqueUser("cut"));
    const bob = await online(srv, uniqueUser("cutr"));
    const got = [];
    bob.xmpp.on("stanza", (el) => {
        if (el.is("message") && el.getChild("body")) got.push(el.getChildText("body"));
    });
    let kills = 0;
    let killing = true;
    const killer = (async () => {
        while (killing) {
            const rows = await sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :'app'",
                { app: srv.appName },
            );
            kills += rows.length;
            await sleep(25);
        }
    })();
    try {
        for (let i = 0; i < N; i++) {
            alice.send(xml("message", { type: "chat", to: bareJid(bob.username), id: `c${i}` },
                xml("body", {}, `m${i}`))).catch(() => {});
            if (i % 10 === 9) await sleep(150);
        }
        const deadline = Date.now() + 60_000;
        while (new Set(got).size < N && Date.now() < deadline) await sleep(50);
    } finally {
        killing = false;
        await killer;
    }
    console.log(`${kills} connections killed`);
    assert.ok(kills >= 10, `connections were killed (${kills})`);
    const want = Array.from({ length: N }, (_, i) => `m${i}`);
    assert.deepEqual(got, want, "every message once, in order");
    const rows = await sql(
        "SELECT count(*), count(DISTINCT stanza_id) FROM messages WHERE sender = :'s' AND recipient = :'r'",
        { s: alice.bare, r: bob.bare },
    );
    assert.deepEqual(rows[0].map(Number), [N, N], "each stored exactly once");
    await waitForSql(
        "SELECT count(*) FROM deliveries d JOIN messages m ON m.id = d.message_id WHERE m.sender = :'s' AND d.state = 'stored'",
        { s: alice.bare },
        (r) => r[0]?.[0] === "0",
        "every delivery moved past stored",
        20_000,
    );
    await stopAll(alice, bob);
});

stopsCleanly(srv);
