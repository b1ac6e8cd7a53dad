// "A message the server accepted is never lost: not when the database is
// briefly away." Every database connection of the server is killed while
// messages flow; they are stored and delivered once it reconnects.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
    SLOW,
    NS,
    xml,
    useServer,
    stopsCleanly,
    online,
    uniqueUser,
    bareJid,
    sql,
    sleep,
    waitForSql,
    stopAll,
} from "./lib/harness.mjs";

const srv = useServer();

function chat(to, body, id) {
    return xml("message", { type: "chat", to, id }, xml("body", {}, body));
}

async function killConnections() {
    const rows = await sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :'app'",
        { app: srv.appName },
    );
    return rows.length;
}

test("messages sent while the server's database connections die are stored and delivered", SLOW, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const bob = await online(srv, uniqueUser("bob"));
    try {
        const killed = await killConnections();
        assert.ok(killed >= 2, `the server's connections were found (${killed})`);
        const bodies = [];
        for (let i = 0; i < 20; i++) {
            bodies.push(`during the outage ${i}`);
            await alice.send(chat(bareJid(bob.username), bodies[i], `out-${i}`));
            if (i === 10) await killConnections();
        }
        for (const body of bodies) {
            const m = await bob.nextMessage(undefined, 10_000);
            assert.equal(m.getChildText("body"), body, "every message, in order");
            assert.ok(m.getChild("stanza-id", NS.sid), "stored: it has an archive id");
        }
        await waitForSql(
            "SELECT count(*) FROM messages WHERE sender = :'s' AND recipient = :'r'",
            { s: alice.bare, r: bob.bare },
            (rows) => rows[0]?.[0] === "20",
            "20 messages stored once each",
            10_000,
        );
    } finally {
        await stopAll(alice, bob);
    }
});

test("a user disabled after the listener lost its connection is still closed", SLOW, async () => {
    const alice = uniqueUser("alice");
    const c = await online(srv, alice);
    try {
        let closed = false;
        c.xmpp.on("error", (err) => {
            if (err.condition === "not-authorized") closed = true;
        });
        // The notification may be sent while the listener is away; when it
        // reconnects it reports every disabled user again.
        await killConnections();
        await sql("UPDATE users SET disabled = true WHERE username = :'u'", { u: alice });
        for (let i = 0; i < 80 && !closed; i++) await sleep(100);
        assert.ok(closed, "the session was closed with not-authorized");
    } finally {
        await c.stop();
    }
});

stopsCleanly(srv);
