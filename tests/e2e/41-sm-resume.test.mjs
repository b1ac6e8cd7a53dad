// XEP-0198 resumption: the recipient's TCP connection destroyed (no close
// frame) with 100 messages in flight, then <resume/>: every message exactly
// once, in order, and `delivered` in PostgreSQL once acknowledged; no
// presence flap for contacts; the old connection, if still open, is closed
// with `conflict`.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
    SLOW,
    useServer,
    stopsCleanly,
    online,
    uniqueUser,
    bareJid,
    waitForSql,
    stopAll,
    xml,
} from "./lib/harness.mjs";
import { SM, smClient, resume } from "./lib/sm.mjs";

// Everyone is everyone's contact: presence to contacts can be watched.
const srv = useServer({ env: { PARLEY_TEAM_ROSTER: "1" } });

const states =
    "SELECT m.stanza_id, d.state FROM deliveries d JOIN messages m ON m.id = d.message_id " +
    "WHERE m.sender = :'s' ORDER BY m.id";

function body(el) {
    return el.getChildText("body");
}

test("a drop with 100 messages in flight, then resumption: each exactly once, in order, delivered", { timeout: 60_000 }, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const bobName = uniqueUser("bob");
    let bob = await smClient(srv, bobName);
    let bob2;
    try {
        const N = 100;
        const send = (i) =>
            alice.send(xml("message", { type: "chat", to: bareJid(bobName), id: `f-${i}` },
                xml("body", {}, `n${i}`)));
        for (let i = 0; i < 50; i++) send(i);
        // bob reads a part, acknowledges some of it, then the connection dies.
        const seen = [];
        while (seen.length < 30) {
            const el = await bob.nextStanza((e) => e.is("message") && body(e)?.startsWith("n"),
                "a message", 10_000);
            seen.push(body(el));
        }
        // Acknowledges all but the last ten it received, reads a little
        // more, then loses the connection.
        bob.ack(bob.received - 10);
        await bob.request(); // the ack is in
        while (seen.length < 40) {
            const el = await bob.nextStanza((e) => e.is("message") && body(e)?.startsWith("n"),
                "a message", 10_000);
            seen.push(body(el));
        }
        // The other fifty are on their way (stored, routed, written) when
        // the TCP connection is destroyed.
        for (let i = 50; i < N; i++) send(i);
        for (const el of bob.stanzas) if (el.is("message")) seen.push(body(el));
        const h = bob.received; // what the client got before the drop
        const previd = bob.id;
        bob.drop();

        // alice saw no unavailable from bob: the session is still there.
        await alice.expectNone((el) => el.is("presence") && el.attrs.type === "unavailable" &&
            el.attrs.from?.startsWith(bareJid(bobName)), "unavailable at the drop", 500);

        const r = await resume(srv, bobName, previd, h);
        bob2 = r.sm;
        assert.ok(r.el.is("resumed", SM), r.el.toString());
        assert.equal(r.el.attrs.previd, previd);
        assert.equal(Number(r.el.attrs.h), 1, "the server handled one stanza of bob's: its presence");
        const got = [...seen];
        while (got.length < N) {
            const el = await bob2.nextStanza((e) => e.is("message"), `message ${got.length}`, 10_000);
            got.push(body(el));
        }
        assert.deepEqual(got, Array.from({ length: N }, (_, i) => `n${i}`), "all, once, in order");
        bob2.ack(bob2.received);
        await bob2.request();
        assert.equal(bob2.stanzas.filter((e) => e.is("message")).length, 0, "nothing more");
        await waitForSql(states, { s: alice.bare }, (rows) => rows.length === N &&
            rows.every((row) => row[1] === "delivered"), "all 100 delivered", 10_000);
        // And the resumed session works both ways.
        bob2.send(`<message xmlns='jabber:client' type='chat' to='${alice.bare}' id='back'><body>back</body></message>`);
        await alice.nextMessage("back");
    } finally {
        bob?.drop();
        bob2?.drop();
        await stopAll(alice);
    }
});

test("resuming while the old connection is still open closes it with conflict", SLOW, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const bobName = uniqueUser("bob");
    const bob = await smClient(srv, bobName);
    let bob2;
    try {
        alice.send(xml("message", { type: "chat", to: bareJid(bobName), id: "c-1" }, xml("body", {}, "c1")));
        await bob.nextStanza((e) => e.is("message"), "c1");
        const r = await resume(srv, bobName, bob.id, 0);
        bob2 = r.sm;
        assert.ok(r.el.is("resumed", SM), r.el.toString());
        await bob.conn.expectStreamError("conflict");
        // Not acknowledged on the old connection: sent again on the new one.
        const again = await bob2.nextStanza((e) => e.is("message"), "c1 again");
        assert.equal(body(again), "c1");
    } finally {
        bob.drop();
        bob2?.drop();
        await stopAll(alice);
    }
});

stopsCleanly(srv);
