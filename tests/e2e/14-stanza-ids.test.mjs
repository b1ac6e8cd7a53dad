// Stanza ids are only unique within a stream (RFC 6120): a reused id is a
// new message unless it is a true retry (same sender, recipient, id and
// body, within the store's window). Each case here lost a message when the
// store deduplicated on (sender, stanza id) alone.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
    T,
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

function chat(to, body, id) {
    return xml("message", { type: "chat", to, id }, xml("body", {}, body));
}

const rowsQuery =
    "SELECT m.body, d.state FROM deliveries d JOIN messages m ON m.id = d.message_id " +
    "WHERE m.sender = :'s' AND d.recipient = :'r' ORDER BY m.id";

test("the same id to another recipient is another message: both get theirs", T, async () => {
    const ca = await online(srv, uniqueUser("alice"));
    const cb = await online(srv, uniqueUser("bob"));
    const cc = await online(srv, uniqueUser("carol"));
    try {
        await ca.send(chat(cb.bare, "for bob", "1"));
        const mb = await cb.nextMessage("for bob");
        await ca.send(chat(cc.bare, "for carol", "1"));
        const mc = await cc.nextMessage("for carol");
        const sb = mb.getChild("stanza-id", NS.sid).attrs.id;
        const sc = mc.getChild("stanza-id", NS.sid).attrs.id;
        assert.notEqual(sb, sc, "two messages, two archive ids");
        await waitForSql(
            rowsQuery,
            { s: ca.bare, r: cc.bare },
            (rows) => rows.length === 1 && rows[0][0] === "for carol",
            "carol's message stored with its own delivery row",
        );
    } finally {
        await stopAll(ca, cb, cc);
    }
});

test("a new session reusing an id with a new body is delivered", T, async () => {
    const alice = uniqueUser("alice");
    let ca = await online(srv, alice);
    const cb = await online(srv, uniqueUser("bob"));
    try {
        await ca.send(chat(cb.bare, "first session", "1"));
        await cb.nextMessage("first session");
        await ca.stop();
        // A simple client or a bot counts from 1 again in its next session.
        ca = await online(srv, alice);
        await ca.send(chat(cb.bare, "second session", "1"));
        await cb.nextMessage("second session");
        await waitForSql(
            rowsQuery,
            { s: bareJid(alice), r: cb.bare },
            (rows) => rows.length === 2 && rows.every((r) => r[1] === "delivered"),
            "two messages, both delivered",
        );
    } finally {
        await stopAll(ca, cb);
    }
});

test("a resend with another body while the first is still stored delivers both", SLOW, async () => {
    const bob = uniqueUser("bob");
    const first = await connect(srv, bob);
    await first.stop();
    const ca = await online(srv, uniqueUser("alice"));
    let cb;
    try {
        await ca.send(chat(bareJid(bob), "old body", "7"));
        await waitForSql(
            rowsQuery,
            { s: ca.bare, r: bareJid(bob) },
            (rows) => rows.length === 1 && rows[0][1] === "stored",
            "the first message stored",
        );
        await ca.send(chat(bareJid(bob), "new body", "7"));
        await ca.sync();
        cb = await connect(srv, bob);
        await cb.presence();
        const m1 = await cb.nextMessage();
        const m2 = await cb.nextMessage();
        assert.deepEqual(
            [m1.getChildText("body"), m2.getChildText("body")],
            ["old body", "new body"],
            "both messages arrive, in order",
        );
    } finally {
        await stopAll(ca, cb);
    }
});

test("a true retry (same id, recipient and body) is stored and delivered once", T, async () => {
    const ca = await online(srv, uniqueUser("alice"));
    const cb = await online(srv, uniqueUser("bob"));
    try {
        await ca.send(chat(cb.bare, "only once", "r1"));
        await cb.nextMessage("only once");
        await waitForSql(
            rowsQuery,
            { s: ca.bare, r: cb.bare },
            (rows) => rows.length === 1 && rows[0][1] === "delivered",
            "delivered",
        );
        await ca.send(chat(cb.bare, "only once", "r1"));
        await ca.sync();
        await cb.expectNone(
            (el) => el.is("message") && el.getChildText("body") === "only once",
            "second copy of a retried message",
        );
        await waitForSql(rowsQuery, { s: ca.bare, r: cb.bare }, (rows) => rows.length === 1, "one row");
    } finally {
        await stopAll(ca, cb);
    }
});

stopsCleanly(srv);
