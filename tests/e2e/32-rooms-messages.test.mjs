// Group messages (XEP-0045 section 7.4): only occupants send; a message is
// stored once and committed before anyone gets it; everyone, the sender
// included, gets it from room/senderUsername with <stanza-id by=room/> and
// the occupant id; each member's delivered position moves as it is
// written; markers move the displayed position. (Private messages between
// occupants: 39-rooms-private-invites.)
import { test } from "node:test";
import assert from "node:assert/strict";

import {
    T,
    xml,
    useServer,
    stopsCleanly,
    online,
    uniqueUser,
    sql,
    waitForSql,
    stopAll,
} from "./lib/harness.mjs";
import {
    RNS,
    newRoom,
    occupantId,
    stanzaId,
    joinFully,
    groupchat,
    say,
    condition,
} from "./lib/rooms.mjs";

const srv = useServer();

async function trio() {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    const c = await online(srv, uniqueUser("carol"));
    const room = newRoom();
    await joinFully(a, room);
    await joinFully(b, room);
    await joinFully(c, room);
    return { a, b, c, room };
}

test("a message reaches every occupant, the sender too, from room/sender with stanza-id by the room", T, async () => {
    const { a, b, c, room } = await trio();
    try {
        await a.send(groupchat(room, "hello room", { id: "g1" }));
        const got = [];
        for (const x of [a, b, c]) got.push(await x.nextMessage("hello room"));
        const ids = new Set();
        for (const m of got) {
            assert.equal(m.attrs.from, `${room}/${a.username}`);
            assert.equal(m.attrs.type, "groupchat");
            assert.equal(m.attrs.id, "g1", "the sender's id is kept (reflection is recognised by it)");
            const sid = stanzaId(m);
            assert.ok(sid, "stanza-id");
            assert.equal(sid.attrs.by, room);
            ids.add(sid.attrs.id);
            assert.ok(occupantId(m));
        }
        assert.equal(ids.size, 1, "one archive id for everyone");
        const [id] = [...ids];
        // stored once, before anyone got it
        const rows = await sql(
            "SELECT kind, sender, room, recipient, stanza_id, body FROM messages WHERE id = :'id'",
            { id },
        );
        assert.deepEqual(rows, [["groupchat", a.bare, room, "", "g1", "hello room"]]);
        const deliveries = await sql("SELECT count(*) FROM deliveries WHERE message_id = :'id'", { id });
        assert.deepEqual(deliveries, [["0"]], "no delivery rows: positions, not a row per member");
        // each member's delivered position reaches it as it is written
        await waitForSql(
            "SELECT count(*) FROM room_positions p JOIN rooms r ON r.id = p.room_id " +
                "WHERE r.jid = :'jid' AND p.delivered_id >= :'id'",
            { jid: room, id },
            (r) => r[0][0] === "3",
            "three delivered positions",
        );
    } finally {
        await stopAll(a, b, c);
    }
});

test("the stored stanza is the reflected one, without a client's stanza-id or a forged from", T, async () => {
    const { a, b, c, room } = await trio();
    try {
        await a.send(
            xml(
                "message",
                { type: "groupchat", to: room, id: "g2", from: "mallory@localhost/x" },
                xml("body", {}, "check the store"),
                xml("stanza-id", { xmlns: "urn:xmpp:sid:0", id: "forged-by-client", by: room }),
            ),
        );
        const m = await b.nextMessage("check the store");
        assert.equal(m.getChildren("stanza-id", "urn:xmpp:sid:0").length, 1);
        assert.notEqual(stanzaId(m).attrs.id, "forged-by-client");
        const rows = await sql("SELECT stanza FROM messages WHERE id = :'id'", { id: stanzaId(m).attrs.id });
        assert.ok(rows[0][0].includes(`from='${room}/${a.username}'`), rows[0][0]);
        // (Not "999": a room's random uuid may hold it.)
        assert.doesNotMatch(rows[0][0], /forged-by-client|mallory/);
    } finally {
        await stopAll(a, b, c);
    }
});

test("someone who has not joined cannot send (not-acceptable); nothing is stored", T, async () => {
    const { a, b, c, room } = await trio();
    const d = await online(srv, uniqueUser("dave"));
    try {
        await d.send(groupchat(room, "let me in", { id: "x1" }));
        const err = await d.next((el) => el.is("message") && el.attrs.type === "error", "refusal");
        assert.equal(condition(err), "not-acceptable");
        await a.expectNone((el) => el.getChildText?.("body") === "let me in", "the outsider's message", 300);
        const rows = await sql("SELECT count(*) FROM messages WHERE sender = :'s'", { s: d.bare });
        assert.deepEqual(rows, [["0"]]);
        await d.sync();
        assert.equal(d.closed, false, "the session stays up");
    } finally {
        await stopAll(a, b, c, d);
    }
});

test("a displayed marker moves the member's displayed position and unread count", T, async () => {
    const { a, b, c, room } = await trio();
    try {
        const m1 = await say(a, room, "one");
        const m2 = await say(a, room, "two");
        await say(a, room, "three");
        const id2 = stanzaId(m2).attrs.id;
        const unread = () =>
            sql(
                "SELECT parley_room_unread(r.id, :'u') FROM rooms r WHERE r.jid = :'jid'",
                { u: b.username, jid: room },
            );
        await waitForSql(
            "SELECT parley_room_unread(r.id, :'u') FROM rooms r WHERE r.jid = :'jid'",
            { u: b.username, jid: room },
            (r) => r[0][0] === "3",
            "three unread",
        );
        await b.send(
            xml("message", { type: "groupchat", to: room }, xml("displayed", { xmlns: RNS.markers, id: id2 })),
        );
        // the marker is passed on live to the occupants
        const seen = await a.next(
            (el) => el.is("message") && el.getChild("displayed", RNS.markers)?.attrs.id === id2,
            "bob's marker",
        );
        assert.equal(seen.attrs.from, `${room}/${b.username}`);
        await waitForSql(
            "SELECT parley_room_unread(r.id, :'u') FROM rooms r WHERE r.jid = :'jid'",
            { u: b.username, jid: room },
            (r) => r[0][0] === "1",
            "one unread after the marker",
        );
        assert.deepEqual(await unread(), [["1"]]);
        const rows = await sql("SELECT count(*) FROM messages WHERE room = :'jid'", { jid: room });
        assert.deepEqual(rows, [["3"]], "the marker is not archived");
        assert.ok(stanzaId(m1));
    } finally {
        await stopAll(a, b, c);
    }
});

test("a retried message (same id and body) is stored once and reflected to its sender again", T, async () => {
    const { a, b, c, room } = await trio();
    try {
        await a.send(groupchat(room, "maybe twice", { id: "retry-1" }));
        const first = await a.nextMessage("maybe twice");
        await b.nextMessage("maybe twice");
        await a.send(groupchat(room, "maybe twice", { id: "retry-1" }));
        const again = await a.nextMessage("maybe twice");
        assert.equal(stanzaId(again).attrs.id, stanzaId(first).attrs.id, "the same archive id");
        await b.expectNone((el) => el.getChildText?.("body") === "maybe twice", "a second copy", 400);
        const rows = await sql(
            "SELECT count(*) FROM messages WHERE room = :'jid' AND stanza_id = 'retry-1'",
            { jid: room },
        );
        assert.deepEqual(rows, [["1"]]);
    } finally {
        await stopAll(a, b, c);
    }
});

stopsCleanly(srv);
