// A recipient that stops reading: its send queue is bounded
// (PARLEY_MAX_SEND_QUEUE, here 64 KiB), it is disconnected rather than
// slowing the server, and every message reaches it at the next login.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
    NS,
    xml,
    useServer,
    stopsCleanly,
    online,
    rawConnect,
    uniqueUser,
    bareJid,
    waitForSql,
    withTimeout,
    stopAll,
} from "./lib/harness.mjs";

const srv = useServer({ env: { PARLEY_MAX_SEND_QUEUE: "65536" } });

test("a recipient that stops reading is dropped; nothing sent to it is lost", { timeout: 60_000 }, async () => {
    const bob = uniqueUser("bob");
    const alice = await online(srv, uniqueUser("alice"));
    const conn = await rawConnect(srv, bob);
    let again;
    const n = 120;
    const filler = "x".repeat(40_000);
    try {
        await conn.login(bob, srv.token(bob));
        conn.send(`<presence xmlns='jabber:client'/>`);
        await conn.nextElement("nothing but an answer", 300).catch(() => {});
        // Stop reading: the kernel buffers fill, then the server's queue.
        conn.ws._socket.pause();
        for (let i = 0; i < n; i++) {
            await alice.send(
                xml("message", { type: "chat", to: bareJid(bob), id: `slow-${i}` },
                    xml("body", {}, `${i} ${filler}`)),
            );
        }
        await alice.sync(20_000);
        conn.ws._socket.resume();
        const closed = await withTimeout(conn.closed, 20_000, "the server dropping the reader");
        assert.ok(closed, "the slow reader was disconnected");

        // The server is fine for everyone else.
        await alice.sync();

        await waitForSql(
            "SELECT count(*) FILTER (WHERE d.state = 'stored'), count(*) FROM deliveries d " +
                "JOIN messages m ON m.id = d.message_id WHERE m.sender = :'s' AND d.recipient = :'r'",
            { s: alice.bare, r: bareJid(bob) },
            (rows) => rows[0]?.[1] === String(n) && rows[0]?.[0] === String(n),
            `all ${n} stored, none left 'delivered' by the dropped connection`,
            20_000,
        );
        again = await online(srv, bob);
        for (let i = 0; i < n; i++) {
            const m = await again.nextMessage(undefined, 10_000);
            assert.equal(m.getChildText("body").split(" ")[0], String(i), "every message, in order");
            assert.ok(m.getChild("stanza-id", NS.sid));
        }
    } finally {
        conn.ws.terminate();
        await stopAll(alice, again);
    }
});

stopsCleanly(srv);
