// Joining and leaving rooms (XEP-0045 section 7): presence both ways, the
// nick is the username, a second resource shares the occupant, XEP-0421
// occupant ids, XEP-0410 self-ping, show/status reaching the room, and a
// session that ends (cleanly or not) leaving every room.
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
    sql,
    waitForSql,
    stopAll,
} from "./lib/harness.mjs";
import {
    RNS,
    newRoom,
    codes,
    item,
    occupantId,
    join,
    joinFully,
    leave,
    say,
    iq,
    condition,
} from "./lib/rooms.mjs";

const srv = useServer();

function presenceFrom(room, nick, type) {
    return (el) =>
        el.is("presence") && el.attrs.from === `${room}/${nick}` && el.attrs.type === type;
}

test("a newcomer gets everyone's presence, everyone gets the newcomer's, then its own with 110", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    const room = newRoom();
    try {
        await joinFully(a, room);
        const jb = await joinFully(b, room);
        assert.equal(jb.others.length, 1, "alice's presence came before bob's own");
        assert.equal(jb.others[0].attrs.from, `${room}/${a.username}`);
        assert.equal(item(jb.others[0]).attrs.affiliation, "owner");
        assert.equal(item(jb.others[0]).attrs.jid, a.bare, "not anonymous: the real JID");
        const self = codes(jb.self);
        assert.ok(self.includes(110) && self.includes(100), `codes ${self}`);
        assert.ok(!self.includes(201), "not created by this join");
        assert.equal(item(jb.self).attrs.affiliation, "member", "joining an open room makes a member");
        assert.equal(item(jb.self).attrs.role, "participant");
        const seen = await a.next(presenceFrom(room, b.username, undefined), "bob's presence");
        assert.ok(!codes(seen).includes(110));
        assert.equal(occupantId(seen), occupantId(jb.self), "the same occupant id for everyone");
        const rows = await sql(
            "SELECT a.affiliation FROM room_affiliations a JOIN rooms r ON r.id = a.room_id " +
                "WHERE r.jid = :'jid' AND a.username = :'u'",
            { jid: room, u: b.username },
        );
        assert.deepEqual(rows, [["member"]]);

        await leave(b, room);
        const gone = await a.next(presenceFrom(room, b.username, "unavailable"), "bob leaving");
        assert.equal(item(gone).attrs.role, "none");
        // a member stays a member after leaving
        const after = await sql(
            "SELECT a.affiliation FROM room_affiliations a JOIN rooms r ON r.id = a.room_id " +
                "WHERE r.jid = :'jid' AND a.username = :'u'",
            { jid: room, u: b.username },
        );
        assert.deepEqual(after, [["member"]]);
    } finally {
        await stopAll(a, b);
    }
});

test("the subject comes last in the join, with whoever set it", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    const room = newRoom();
    try {
        await joinFully(a, room);
        await a.send(xml("message", { type: "groupchat", to: room }, xml("subject", {}, "Launch day")));
        await a.next((el) => el.is("message") && el.getChildText("subject") === "Launch day", "subject echo");
        const jb = await joinFully(b, room);
        assert.equal(jb.subject.getChildText("subject"), "Launch day");
        assert.equal(jb.subject.attrs.from, `${room}/${a.username}`);
    } finally {
        await stopAll(a, b);
    }
});

test("a join with another nick than the username is not-acceptable", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const room = newRoom();
    try {
        const j = await join(a, room, { nick: "SomebodyElse" });
        assert.ok(j.error);
        assert.equal(condition(j.error), "not-acceptable");
        await a.sync();
        assert.equal(a.closed, false, "the session stays up");
        // and no room was created by it
        const rows = await sql("SELECT count(*) FROM rooms WHERE jid = :'jid'", { jid: room });
        assert.deepEqual(rows, [["0"]]);
        // a nick change once joined is refused the same way
        await joinFully(a, room);
        await a.send(xml("presence", { to: `${room}/other` }));
        const err = await a.next((el) => el.is("presence") && el.attrs.type === "error", "nick change refusal");
        assert.equal(condition(err), "not-acceptable");
    } finally {
        await stopAll(a);
    }
});

test("a second resource of the same user joins as the same occupant", T, async () => {
    const user = uniqueUser("alice");
    const a1 = await online(srv, user, { resource: "laptop" });
    const a2 = await online(srv, user, { resource: "phone" });
    const b = await online(srv, uniqueUser("bob"));
    const room = newRoom();
    try {
        await joinFully(b, room);
        const j1 = await joinFully(a1, room);
        await b.next(presenceFrom(room, user, undefined), "alice's presence");
        const j2 = await joinFully(a2, room);
        assert.equal(occupantId(j1.self), occupantId(j2.self), "one occupant id");
        assert.equal(j2.self.attrs.from, `${room}/${user}`);
        await b.expectNone(presenceFrom(room, user, undefined), "a second presence for alice", 400);
        // both sessions get the room's messages, the sender's reflection included
        const r = await say(b, room, "to both");
        assert.ok(r);
        for (const c of [a1, a2]) {
            const m = await c.nextMessage("to both");
            assert.equal(m.attrs.from, `${room}/${b.username}`);
        }
        // one session leaving does not make the occupant leave
        await leave(a1, room);
        await b.expectNone(presenceFrom(room, user, "unavailable"), "alice leaving", 400);
        await say(b, room, "still there");
        await a2.nextMessage("still there");
        await leave(a2, room);
        await b.next(presenceFrom(room, user, "unavailable"), "alice gone with her last session");
    } finally {
        await stopAll(a1, a2, b);
    }
});

test("occupant ids (XEP-0421) are stable per room and user, and differ between users", T, async () => {
    const user = uniqueUser("alice");
    const a = await online(srv, user);
    const b = await online(srv, uniqueUser("bob"));
    const room = newRoom();
    const other = newRoom();
    try {
        const first = occupantId((await joinFully(a, room)).self);
        assert.match(first, /^[0-9a-f]{32}$/);
        const jb = await joinFully(b, room);
        assert.notEqual(occupantId(jb.self), first);
        const m = await say(a, room, "with my occupant id");
        assert.equal(occupantId(m), first, "messages carry it too");
        await leave(a, room);
        const again = occupantId((await joinFully(a, room)).self);
        assert.equal(again, first, "the same after leaving and coming back");
        const elsewhere = occupantId((await joinFully(a, other)).self);
        assert.notEqual(elsewhere, first, "another room, another id");
        // a client cannot claim one
        await a.send(
            xml(
                "message",
                { type: "groupchat", to: room, id: "forged" },
                xml("body", {}, "forged id"),
                xml("occupant-id", { xmlns: RNS.occupantId, id: "deadbeef" }),
            ),
        );
        const got = await b.nextMessage("forged id");
        assert.equal(got.getChildren("occupant-id", RNS.occupantId).length, 1);
        assert.equal(occupantId(got), first);
    } finally {
        await stopAll(a, b);
    }
});

test("self-ping (XEP-0410): joined answers a result, not joined not-acceptable", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const room = newRoom();
    const ping = (to) => xml("iq", { type: "get", to }, xml("ping", { xmlns: NS.ping }));
    try {
        await joinFully(a, room);
        const info = await a.iq(xml("iq", { type: "get", to: room }, xml("query", { xmlns: NS.discoInfo })));
        const feats = info.getChild("query", NS.discoInfo).getChildren("feature").map((f) => f.attrs.var);
        assert.ok(feats.includes("http://jabber.org/protocol/muc#self-ping-optimization"));
        const ok = await iq(a, ping(`${room}/${a.username}`));
        assert.equal(ok.attrs.type, "result");
        assert.equal(ok.attrs.from, `${room}/${a.username}`);
        await leave(a, room);
        const no = await iq(a, ping(`${room}/${a.username}`));
        assert.equal(condition(no), "not-acceptable");
    } finally {
        await stopAll(a);
    }
});

test("show and status changes reach the rooms a member is in", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    const room = newRoom();
    try {
        await joinFully(a, room);
        await joinFully(b, room);
        await a.next(presenceFrom(room, b.username, undefined), "bob joined");
        await b.send(xml("presence", {}, xml("show", {}, "away"), xml("status", {}, "lunch")));
        const p = await a.next(
            (el) => presenceFrom(room, b.username, undefined)(el) && el.getChildText("show") === "away",
            "bob away",
        );
        assert.equal(p.getChildText("status"), "lunch");
        assert.equal(item(p).attrs.role, "participant");
        // unavailable to the server leaves the rooms (RFC 6121 section 4.5.2)
        await b.send(xml("presence", { type: "unavailable" }));
        await a.next(presenceFrom(room, b.username, "unavailable"), "bob unavailable");
    } finally {
        await stopAll(a, b);
    }
});

test("a session that ends leaves every room, cleanly or not", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    const c = await online(srv, uniqueUser("carol"));
    const r1 = newRoom();
    const r2 = newRoom();
    try {
        await joinFully(a, r1);
        await joinFully(a, r2);
        await joinFully(b, r1);
        await joinFully(b, r2);
        await joinFully(c, r1);
        // bob closes his stream cleanly
        await b.stop();
        await a.next(presenceFrom(r1, b.username, "unavailable"), "bob leaving r1");
        await a.next(presenceFrom(r2, b.username, "unavailable"), "bob leaving r2");
        // carol's connection just dies
        c.xmpp.socket.socket.terminate();
        await a.next(presenceFrom(r1, c.username, "unavailable"), "carol gone from r1");
        // the positions written were saved on the way out
        await waitForSql(
            "SELECT count(*) FROM room_positions p JOIN rooms r ON r.id = p.room_id " +
                "WHERE r.jid = :'jid' AND p.username IN (:'b', :'c')",
            { jid: r1, b: b.username, c: c.username },
            (rows) => rows[0][0] === "2",
            "positions of bob and carol",
        );
        const others = await iq(
            a,
            xml("iq", { type: "get", to: r1 }, xml("query", { xmlns: RNS.discoItems })),
        );
        const items = others.getChild("query", RNS.discoItems).getChildren("item").map((i) => i.attrs.name);
        assert.deepEqual(items, [a.username], "only alice is left");
    } finally {
        await stopAll(a, b, c);
    }
});

stopsCleanly(srv);
