// Dead connections: a client that stops answering WebSocket pings is
// dropped after PARLEY_IDLE_TIMEOUT (here 2 s), and what was written to it
// goes back to offline delivery; a live client that answers stays.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
    SLOW,
    NS,
    xml,
    useServer,
    stopsCleanly,
    online,
    rawConnect,
    uniqueUser,
    bareJid,
    sleep,
    waitForSql,
    withTimeout,
    stopAll,
} from "./lib/harness.mjs";

const srv = useServer({ env: { PARLEY_IDLE_TIMEOUT: "2" } });

test("an idle client that answers pings stays connected", SLOW, async () => {
    const user = uniqueUser("idle");
    const conn = await rawConnect(srv, user);
    try {
        await conn.login(user, srv.token(user));
        await sleep(4_500);
        assert.equal(conn.closeInfo, null, "still connected after twice the idle timeout");
        conn.send(
            `<iq xmlns='jabber:client' type='get' id='ping1' to='localhost'>` +
                `<ping xmlns='${NS.ping}'/></iq>`,
        );
        const res = await conn.nextElement("ping result");
        assert.equal(res.attrs.type, "result");
    } finally {
        conn.ws.terminate();
    }
});

test("a client that stops answering is dropped and its messages go back to stored", SLOW, async () => {
    const bob = uniqueUser("bob");
    const alice = await online(srv, uniqueUser("alice"));
    const conn = await rawConnect(srv, bob, { wsOptions: { autoPong: false } });
    try {
        await conn.login(bob, srv.token(bob));
        conn.send(`<presence xmlns='jabber:client'/>`);
        await alice.send(
            xml("message", { type: "chat", to: bareJid(bob), id: "idle-1" }, xml("body", {}, "hello?")),
        );
        // Its own presence comes back first (RFC 6121 section 4.2.2).
        let m = await conn.nextElement("the message");
        while (m.is("presence")) m = await conn.nextElement("the message");
        assert.equal(m.getChildText("body"), "hello?");
        const closed = await withTimeout(conn.closed, 8_000, "the server dropping the connection");
        assert.ok(closed, "the connection was closed by the server");
        await waitForSql(
            "SELECT d.state FROM deliveries d JOIN messages m ON m.id = d.message_id " +
                "WHERE m.sender = :'s' AND m.stanza_id = 'idle-1'",
            { s: alice.bare },
            (rows) => rows[0]?.[0] === "stored",
            "the message back to stored",
        );
    } finally {
        conn.ws.terminate();
        await stopAll(alice);
    }
});

stopsCleanly(srv);
