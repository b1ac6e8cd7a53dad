// PROTOCOL.md storage promise without stream management: what was written to
// a connection that died without a clean close is delivered again at the
// next login, with the same <stanza-id/>; a clean close settles it.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
    SLOW,
    NS,
    xml,
    useServer,
    stopsCleanly,
    connect,
    online,
    uniqueUser,
    bareJid,
    waitForSql,
    stopAll,
} from "./lib/harness.mjs";

const srv = useServer();

const stateOf =
    "SELECT d.state FROM deliveries d JOIN messages m ON m.id = d.message_id " +
    "WHERE m.sender = :'s' AND m.stanza_id = :'id'";

function chat(to, body, id, ...extra) {
    return xml("message", { type: "chat", to, id }, xml("body", {}, body), ...extra);
}

/** Drops the client's TCP connection with no WebSocket or XMPP close. */
function vanish(c) {
    c.stopped = true;
    c.xmpp.socket.socket.terminate();
}

test("a message written to a connection that died is delivered again, same stanza-id", SLOW, async () => {
    const bob = uniqueUser("bob");
    const alice = await online(srv, uniqueUser("alice"));
    let cb = await online(srv, bob);
    try {
        await alice.send(chat(bareJid(bob), "did you get this?", "alo-1"));
        const first = await cb.nextMessage("did you get this?");
        const sid = first.getChild("stanza-id", NS.sid).attrs.id;
        await waitForSql(stateOf, { s: alice.bare, id: "alo-1" }, (r) => r[0]?.[0] === "delivered",
            "state delivered");

        vanish(cb);
        await waitForSql(stateOf, { s: alice.bare, id: "alo-1" }, (r) => r[0]?.[0] === "stored",
            "state back to stored after the connection died");

        cb = await online(srv, bob);
        const again = await cb.nextMessage("did you get this?");
        assert.equal(again.getChild("stanza-id", NS.sid).attrs.id, sid, "the same stanza-id");
        assert.ok(again.getChild("delay", NS.delay), "redelivered with <delay/>");
    } finally {
        await stopAll(alice, cb);
    }
});

test("a clean close settles what was delivered: nothing comes again", SLOW, async () => {
    const bob = uniqueUser("bob");
    const alice = await online(srv, uniqueUser("alice"));
    let cb = await online(srv, bob);
    try {
        await alice.send(chat(bareJid(bob), "once only", "alo-2"));
        await cb.nextMessage("once only");
        await waitForSql(stateOf, { s: alice.bare, id: "alo-2" }, (r) => r[0]?.[0] === "delivered",
            "state delivered");
        await cb.stop();
        cb = await online(srv, bob);
        await cb.expectNone((el) => el.is("message"), "a repeated message", 800);
        const rows = await waitForSql(stateOf, { s: alice.bare, id: "alo-2" }, (r) => r.length === 1,
            "one row");
        assert.equal(rows[0][0], "delivered");
    } finally {
        await stopAll(alice, cb);
    }
});

test("a message the client acknowledged with a receipt is not delivered again", SLOW, async () => {
    const bob = uniqueUser("bob");
    const alice = await online(srv, uniqueUser("alice"));
    let cb = await online(srv, bob);
    try {
        await alice.send(chat(bareJid(bob), "ack me", "alo-3", xml("request", { xmlns: NS.receipts })));
        await cb.nextMessage("ack me");
        await cb.send(xml("message", { to: alice.jid.toString(), id: "r-3" },
            xml("received", { xmlns: NS.receipts, id: "alo-3" })));
        await waitForSql(stateOf, { s: alice.bare, id: "alo-3" }, (r) => r[0]?.[0] === "received",
            "state received");
        vanish(cb);
        cb = await online(srv, bob);
        await cb.expectNone((el) => el.is("message") && el.getChildText("body") === "ack me",
            "the acknowledged message again", 800);
    } finally {
        await stopAll(alice, cb);
    }
});

test("a message requeued while the user is online elsewhere reaches that session", SLOW, async () => {
    const bob = uniqueUser("bob");
    const alice = await online(srv, uniqueUser("alice"));
    const phone = await online(srv, bob, { resource: "phone" });
    const desk = await connect(srv, bob, { resource: "desk" });
    try {
        await alice.send(chat(`${bareJid(bob)}/phone`, "for the phone", "alo-4"));
        await phone.nextMessage("for the phone");
        await waitForSql(stateOf, { s: alice.bare, id: "alo-4" }, (r) => r[0]?.[0] === "delivered",
            "state delivered");
        await desk.presence();
        await desk.sync();
        vanish(phone);
        const m = await desk.nextMessage("for the phone", 5_000);
        assert.ok(m.getChild("delay", NS.delay), "with <delay/>");
    } finally {
        await stopAll(alice, desk);
    }
});

stopsCleanly(srv);
