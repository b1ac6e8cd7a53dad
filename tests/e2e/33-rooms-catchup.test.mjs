// Members who were away (PROTOCOL.md, "Storage promises"): a member who
// joins again gets every room message since their position, oldest first,
// once each, with <delay/> and <stanza-id/>, up to PARLEY_ROOM_CATCHUP_MAX;
// <history/> limits are honoured (maxstanzas='0': none); a first-time
// member gets the last 20; unread counts follow the displayed position.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
    T,
    SLOW,
    NS,
    xml,
    Server,
    useServer,
    stopsCleanly,
    online,
    uniqueUser,
    sql,
    waitForSql,
    stopAll,
} from "./lib/harness.mjs";
import { RNS, newRoom, stanzaId, joinFully, leave, say, collect } from "./lib/rooms.mjs";

const srv = useServer();

/** Waits until the member's delivered position has reached the room's
 * last message (so that what follows is "after their position"). */
async function caughtUp(room, username) {
    await waitForSql(
        "SELECT p.delivered_id >= coalesce((SELECT max(id) FROM messages WHERE room = r.jid), 0) " +
            "FROM room_positions p JOIN rooms r ON r.id = p.room_id " +
            "WHERE r.jid = :'jid' AND p.username = :'u'",
        { jid: room, u: username },
        (r) => r.length === 1 && r[0][0] === "t",
        `position of ${username}`,
    );
}

test("a member away for 30 messages gets all 30 on return, in order, once each, with delays", SLOW, async () => {
    const a = await online(srv, uniqueUser("alice"));
    let b = await online(srv, uniqueUser("bob"));
    const room = newRoom();
    try {
        await joinFully(a, room);
        await joinFully(b, room);
        await say(a, room, "before");
        await b.nextMessage("before");
        await caughtUp(room, b.username);
        await leave(b, room);
        const sent = [];
        for (let i = 1; i <= 30; i++) sent.push(await say(a, room, `while away ${i}`));
        await b.stop();
        b = await online(srv, b.username);
        const j = await joinFully(b, room);
        const bodies = j.history.map((m) => m.getChildText("body"));
        assert.deepEqual(bodies, sent.map((m) => m.getChildText("body")), "all 30, oldest first, once each");
        for (const [i, m] of j.history.entries()) {
            const d = m.getChild("delay", NS.delay);
            assert.ok(d, "delay");
            assert.equal(d.attrs.from, room);
            assert.match(d.attrs.stamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
            assert.equal(stanzaId(m).attrs.by, room);
            assert.equal(stanzaId(m).attrs.id, stanzaId(sent[i]).attrs.id, "the archive id");
            assert.equal(m.attrs.from, `${room}/${a.username}`);
        }
        // and the history came before the subject, live messages after it
        await say(a, room, "live again");
        const [live] = await collect(b, room, 1);
        assert.equal(live.getChildText("body"), "live again");
        assert.equal(live.getChild("delay", NS.delay), undefined);
        // nothing a second time on the next join
        await caughtUp(room, b.username);
        await leave(b, room);
        const again = await joinFully(b, room);
        assert.deepEqual(again.history.map((m) => m.getChildText("body")), []);
    } finally {
        await stopAll(a, b);
    }
});

test("<history maxstanzas='0'/> gets no history (the client uses the archive)", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    const room = newRoom();
    try {
        await joinFully(a, room);
        await joinFully(b, room);
        await caughtUp(room, b.username);
        await leave(b, room);
        for (let i = 0; i < 3; i++) await say(a, room, `m${i}`);
        const j = await joinFully(b, room, { history: { maxstanzas: 0 } });
        assert.deepEqual(j.history, []);
        // maxstanzas=2 of the three: the newest two
        await leave(b, room);
        const k = await joinFully(b, room, { history: { maxstanzas: 2 } });
        assert.deepEqual(k.history.map((m) => m.getChildText("body")), ["m1", "m2"]);
    } finally {
        await stopAll(a, b);
    }
});

test("history limits: maxchars and seconds", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    const room = newRoom();
    try {
        await joinFully(a, room);
        for (let i = 0; i < 5; i++) await say(a, room, `x${i}`);
        // a first-time member with maxchars=1: not even one message fits
        const j = await joinFully(b, room, { history: { maxchars: 1 } });
        assert.deepEqual(j.history, []);
        const c = await online(srv, uniqueUser("carol"));
        try {
            const k = await joinFully(c, room, { history: { seconds: 3600 } });
            assert.equal(k.history.length, 5, "all of the last hour");
            const d = await online(srv, uniqueUser("dave"));
            const l = await joinFully(d, room, { history: { since: "2999-01-01T00:00:00Z" } });
            assert.deepEqual(l.history, [], "nothing since the future");
            await stopAll(d);
        } finally {
            await stopAll(c);
        }
    } finally {
        await stopAll(a, b);
    }
});

test("a first-time member gets the last 20 messages", SLOW, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    const room = newRoom();
    try {
        await joinFully(a, room);
        for (let i = 1; i <= 25; i++) await say(a, room, `n${i}`);
        const j = await joinFully(b, room);
        assert.deepEqual(
            j.history.map((m) => m.getChildText("body")),
            Array.from({ length: 20 }, (_, i) => `n${i + 6}`),
        );
        // and starts with nothing unread
        const rows = await sql(
            "SELECT parley_room_unread(r.id, :'u') FROM rooms r WHERE r.jid = :'jid'",
            { u: b.username, jid: room },
        );
        assert.deepEqual(rows, [["0"]]);
    } finally {
        await stopAll(a, b);
    }
});

test("PARLEY_ROOM_CATCHUP_MAX caps the catch-up at the newest messages", SLOW, async () => {
    const small = new Server({ env: { PARLEY_ROOM_CATCHUP_MAX: "5" } });
    await small.start();
    let a, b;
    try {
        a = await online(small, uniqueUser("alice"));
        b = await online(small, uniqueUser("bob"));
        const room = newRoom();
        await joinFully(a, room);
        await joinFully(b, room);
        await caughtUp(room, b.username);
        await leave(b, room);
        for (let i = 1; i <= 8; i++) await say(a, room, `c${i}`);
        const j = await joinFully(b, room);
        assert.deepEqual(j.history.map((m) => m.getChildText("body")), ["c4", "c5", "c6", "c7", "c8"]);
    } finally {
        await stopAll(a, b);
        await small.stop();
    }
});

test("messages sent while a member's catch-up is being written arrive after it, in order", SLOW, async () => {
    const a = await online(srv, uniqueUser("alice"));
    let b = await online(srv, uniqueUser("bob"));
    const room = newRoom();
    try {
        await joinFully(a, room);
        await joinFully(b, room);
        await caughtUp(room, b.username);
        await leave(b, room);
        const big = "y".repeat(2000);
        for (let i = 1; i <= 40; i++) await say(a, room, `${big} ${i}`);
        // bob joins while alice keeps talking
        await b.send(xml("presence", { to: `${room}/${b.username}` }, xml("x", { xmlns: RNS.muc })));
        for (let i = 41; i <= 50; i++) await a.send(xml("message", { type: "groupchat", to: room, id: `k${i}` }, xml("body", {}, `${big} ${i}`)));
        const got = await collect(b, room, 50, 15_000);
        assert.deepEqual(
            got.map((m) => Number(m.getChildText("body").split(" ")[1])),
            Array.from({ length: 50 }, (_, i) => i + 1),
            "every message once, in order",
        );
    } finally {
        await stopAll(a, b);
    }
});

test("unread counts per member and room are readable by SQL", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    const room = newRoom();
    try {
        await joinFully(a, room);
        await joinFully(b, room);
        for (let i = 0; i < 4; i++) await say(a, room, `u${i}`);
        const rows = await waitForSql(
            "SELECT u.username, u.unread FROM room_unread u JOIN rooms r ON r.id = u.room_id " +
                "WHERE r.jid = :'jid' ORDER BY u.username",
            { jid: room },
            (r) => r.length === 2,
            "two members",
        );
        const byUser = Object.fromEntries(rows);
        assert.equal(byUser[b.username], "4", "bob has read none");
    } finally {
        await stopAll(a, b);
    }
});

stopsCleanly(srv);
