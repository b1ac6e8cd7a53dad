// 1:1 chat: from stamping, routing to full and bare JIDs, escaping,
// stanza-id, storage and delivery state, idempotent store.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
    T,
    NS,
    xml,
    useServer,
    stopsCleanly,
    online,
    uniqueUser,
    bareJid,
    sql,
    waitForSql,
    stopAll,
} from "./lib/harness.mjs";

const srv = useServer();

function chat(to, body, attrs = {}, ...extra) {
    return xml("message", { type: "chat", to, ...attrs }, xml("body", {}, body), ...extra);
}

function stanzaId(el) {
    return el.getChild("stanza-id", NS.sid);
}

async function pair(resA = "a1", resB = "b1") {
    const a = uniqueUser("alice");
    const b = uniqueUser("bob");
    const ca = await online(srv, a, { resource: resA });
    const cb = await online(srv, b, { resource: resB });
    return [ca, cb];
}

test("a message to a full JID arrives, from stamped with the sender's full JID", T, async () => {
    const [ca, cb] = await pair();
    try {
        await ca.send(
            chat(cb.jid.toString(), "hello bob", { id: "m1", from: `mallory@localhost/x` }),
        );
        const m = await cb.nextMessage("hello bob");
        assert.equal(m.attrs.from, ca.jid.toString(), "from is the sender's full JID");
        assert.equal(m.attrs.to, cb.jid.toString());
        assert.equal(m.attrs.type, "chat");
        assert.equal(m.attrs.id, "m1", "the client's id is kept");
    } finally {
        await stopAll(ca, cb);
    }
});

test("a message to a bare JID reaches the online resource", T, async () => {
    const [ca, cb] = await pair();
    try {
        await ca.send(chat(cb.bare, "to your bare jid", { id: "m2" }));
        const m = await cb.nextMessage("to your bare jid");
        assert.equal(m.attrs.from, ca.jid.toString());
    } finally {
        await stopAll(ca, cb);
    }
});

test("a body that looks like markup round-trips as text", T, async () => {
    const [ca, cb] = await pair();
    const tricky = "</body></message><message>&amp; <b>'\"x\"'</b> ]]>";
    try {
        await ca.send(chat(cb.bare, tricky, { id: "m3" }));
        const m = await cb.nextMessage(tricky);
        assert.equal(m.getChildren("body").length, 1, "exactly one body");
        const rows = await waitForSql(
            "SELECT body FROM messages WHERE sender = :'s' AND stanza_id = 'm3'",
            { s: ca.bare },
            (r) => r.length === 1,
            "stored message",
        );
        assert.equal(rows[0][0], tricky, "the stored body is the text");
    } finally {
        await stopAll(ca, cb);
    }
});

test("a received message carries <stanza-id by=recipient> equal to the archive id", T, async () => {
    const [ca, cb] = await pair();
    try {
        await ca.send(chat(cb.bare, "with an archive id", { id: "m4" }));
        const m = await cb.nextMessage("with an archive id");
        const sid = stanzaId(m);
        assert.ok(sid, `no <stanza-id xmlns='${NS.sid}'/> in ${m.toString()}`);
        assert.equal(sid.attrs.by, cb.bare, "by is the recipient's bare JID");
        assert.match(sid.attrs.id, /^\d+$/, "the id is the decimal archive id");
        const rows = await sql(
            "SELECT id, kind, sender, recipient, stanza_id, body FROM messages " +
                "WHERE sender = :'s' AND stanza_id = 'm4'",
            { s: ca.bare },
        );
        assert.deepEqual(rows, [
            [sid.attrs.id, "chat", ca.bare, cb.bare, "m4", "with an archive id"],
        ]);
        await waitForSql(
            "SELECT state FROM deliveries WHERE message_id = :'id' AND recipient = :'r'",
            { id: sid.attrs.id, r: cb.bare },
            (r) => r.length === 1 && r[0][0] === "delivered",
            "delivery state 'delivered'",
        );
    } finally {
        await stopAll(ca, cb);
    }
});

test("the stored stanza has from stamped, not the forged one", T, async () => {
    const [ca, cb] = await pair();
    try {
        await ca.send(chat(cb.bare, "forged from", { id: "m5", from: "eve@localhost/evil" }));
        await cb.nextMessage("forged from");
        const rows = await waitForSql(
            "SELECT stanza FROM messages WHERE sender = :'s' AND stanza_id = 'm5'",
            { s: ca.bare },
            (r) => r.length === 1,
            "stored message",
        );
        assert.ok(!rows[0][0].includes("eve@localhost"), `stored stanza: ${rows[0][0]}`);
        assert.ok(rows[0][0].includes(ca.jid.toString()), `stored stanza: ${rows[0][0]}`);
    } finally {
        await stopAll(ca, cb);
    }
});

test("a repeated stanza id from the same sender is stored once", T, async () => {
    const [ca, cb] = await pair();
    try {
        await ca.send(chat(cb.bare, "once", { id: "dup1" }));
        const first = await cb.nextMessage("once");
        await ca.send(chat(cb.bare, "once", { id: "dup1" }));
        // A second delivery, if any, must carry the same archive id.
        const second = await cb.nextMessage("once", 1_500).catch(() => null);
        if (second) {
            assert.equal(stanzaId(second)?.attrs.id, stanzaId(first).attrs.id);
        }
        await ca.send(chat(cb.bare, "after", { id: "dup2" }));
        await cb.nextMessage("after");
        const rows = await sql(
            "SELECT count(*) FROM messages WHERE sender = :'s' AND stanza_id = 'dup1'",
            { s: ca.bare },
        );
        assert.deepEqual(rows, [["1"]], "one row for (sender, stanza id)");
        const d = await sql(
            "SELECT count(*) FROM deliveries d JOIN messages m ON m.id = d.message_id " +
                "WHERE m.sender = :'s' AND m.stanza_id = 'dup1'",
            { s: ca.bare },
        );
        assert.deepEqual(d, [["1"]], "one delivery row");
    } finally {
        await stopAll(ca, cb);
    }
});

test("messages from one sender arrive in the order sent", T, async () => {
    const [ca, cb] = await pair();
    try {
        for (let i = 0; i < 20; i++) await ca.send(chat(cb.bare, `n${i}`, { id: `o${i}` }));
        const got = [];
        for (let i = 0; i < 20; i++) got.push((await cb.nextMessage()).getChildText("body"));
        assert.deepEqual(
            got,
            Array.from({ length: 20 }, (_, i) => `n${i}`),
        );
    } finally {
        await stopAll(ca, cb);
    }
});

test("a message between two users does not reach a third", T, async () => {
    const [ca, cb] = await pair();
    const cc = await online(srv, uniqueUser("carol"));
    try {
        await ca.send(chat(cb.bare, "private", { id: "p1" }));
        await cb.nextMessage("private");
        await cc.expectNone((el) => el.is("message"), "message to carol");
    } finally {
        await stopAll(ca, cb, cc);
    }
});

test("the sender's bare JID in stored rows", T, async () => {
    const [ca, cb] = await pair();
    try {
        await ca.send(chat(cb.jid.toString(), "full to", { id: "f1" }));
        await cb.nextMessage("full to");
        const rows = await waitForSql(
            "SELECT sender, recipient FROM messages WHERE sender = :'s' AND stanza_id = 'f1'",
            { s: bareJid(ca.username) },
            (r) => r.length === 1,
            "stored message",
        );
        assert.deepEqual(rows, [[ca.bare, cb.bare]], "both are bare JIDs");
    } finally {
        await stopAll(ca, cb);
    }
});

stopsCleanly(srv);
