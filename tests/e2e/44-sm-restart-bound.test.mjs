// XEP-0198 and the ends a session can come to besides the window: a
// restart of parleyd between the drop and the resume (item-not-found, the
// unacknowledged messages once at the next login), and more unacknowledged
// stanzas than PARLEY_SM_MAX_UNACKED (the session is closed, nothing lost).
import { test, after } from "node:test";
import assert from "node:assert/strict";

import {
    SLOW,
    NS,
    Server,
    uniqueUser,
    bareJid,
    online,
    sql,
    waitForSql,
    stopAll,
    xml,
} from "./lib/harness.mjs";
import { SM, smClient, resume, bind } from "./lib/sm.mjs";

const servers = [];
after(async () => {
    for (const s of servers) if (s.alive()) await s.stop().catch(() => {});
});

async function start(env = {}) {
    const s = new Server({ env });
    servers.push(s);
    return s.start();
}

const states =
    "SELECT m.stanza_id, d.state FROM deliveries d JOIN messages m ON m.id = d.message_id " +
    "WHERE m.sender = :'s' ORDER BY m.id";

test("a restart between drop and resume: item-not-found, unacked messages once at the next login", { timeout: 60_000 }, async () => {
    let srv = await start();
    const aliceName = uniqueUser("alice");
    const bobName = uniqueUser("bob");
    let alice = await online(srv, aliceName);
    const bob = await smClient(srv, bobName);
    let bob2;
    try {
        for (let i = 0; i < 4; i++) {
            await alice.send(xml("message", { type: "chat", to: bareJid(bobName), id: `rs-${i}` },
                xml("body", {}, `rs${i}`)));
        }
        for (let i = 0; i < 4; i++) await bob.nextStanza((el) => el.getChildText("body") === `rs${i}`, `rs${i}`);
        bob.ack(3); // presence, rs0, rs1
        await bob.request();
        await waitForSql(states, { s: alice.bare }, (r) => r[1]?.[1] === "delivered", "rs-1 delivered");
        const previd = bob.id;
        bob.drop();
        await stopAll(alice);
        // SIGTERM while bob's session waits for resumption (it must exit 0,
        // sanitizers clean: the detached session is ended on the way out).
        await srv.stop();
        srv = await start();
        alice = await online(srv, aliceName);

        const r = await resume(srv, bobName, previd, 5);
        bob2 = r.sm;
        assert.ok(r.el.is("failed", SM), r.el.toString());
        assert.ok(r.el.getChild("item-not-found", NS.stanzas), "the restart ended the session");
        await bind(bob2.conn);
        await bob2.enable();
        bob2.send(`<presence xmlns='jabber:client'/>`);
        const got = [];
        while (got.length < 2) {
            const el = await bob2.nextStanza((e) => e.is("message"), "a message again", 10_000);
            got.push(el.getChildText("body"));
        }
        assert.deepEqual(got, ["rs2", "rs3"], "only the unacknowledged ones, once, in order");
        await bob2.request();
        assert.equal(bob2.stanzas.filter((e) => e.is("message")).length, 0);
        bob2.ack();
        await waitForSql(states, { s: alice.bare }, (r) => r.length === 4 && r.every((x) => x[1] === "delivered"),
            "all four delivered");
    } finally {
        bob.drop();
        bob2?.drop();
        await stopAll(alice);
        await srv.stop();
    }
});

test("past PARLEY_SM_MAX_UNACKED the session is closed; every message arrives at the next login", { timeout: 60_000 }, async () => {
    const srv = await start({ PARLEY_SM_MAX_UNACKED: "5" });
    const alice = await online(srv, uniqueUser("alice"));
    const bobName = uniqueUser("bob");
    const bob = await smClient(srv, bobName);
    let bob2;
    try {
        for (let i = 0; i < 8; i++) {
            alice.send(xml("message", { type: "chat", to: bareJid(bobName), id: `mx-${i}` },
                xml("body", {}, `mx${i}`)));
        }
        // bob never acknowledges: presence plus five messages is past the bound.
        await bob.conn.expectStreamError("policy-violation", 10_000);
        await waitForSql(states, { s: alice.bare }, (r) => r.length === 8, "all eight stored");
        const rows = await sql(states, { s: alice.bare });
        assert.ok(rows.every((x) => x[1] === "stored"), "none delivered: none acknowledged");
        bob2 = await smClient(srv, bobName, { presence: false });
        bob2.send(`<presence xmlns='jabber:client'/>`);
        const got = [];
        while (got.length < 8) {
            const el = await bob2.nextStanza((e) => e.is("message"), `message ${got.length}`, 10_000);
            got.push(el.getChildText("body"));
            bob2.ack(); // this one keeps within the bound
        }
        assert.deepEqual(got, Array.from({ length: 8 }, (_, i) => `mx${i}`));
        await waitForSql(states, { s: alice.bare }, (r) => r.every((x) => x[1] === "delivered"),
            "all eight delivered");
    } finally {
        bob.drop();
        bob2?.drop();
        await stopAll(alice);
        await srv.stop();
    }
});
