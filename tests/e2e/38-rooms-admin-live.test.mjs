// The admin API's room changes reach the rooms parleyd has loaded
// (0008_room_events.sql, chat_room_events.c): occupants joined over XMPP,
// an admin API call, and what the occupants receive, as XEP-0045 says for
// the same change made in the room: the destruction presence, 104 for a
// new configuration, 322 when members-only leaves them out, the new
// affiliation in a presence (321 removed, 301 banned), and a message sent
// over REST delivered live, once, like an occupant's. And status 332 to
// every occupant when parleyd shuts down; and changes made over XMPP on one
// node reaching the room another node has loaded.
import { test } from "node:test";
import assert from "node:assert/strict";

import { T, SLOW, xml, Server, useServer, stopsCleanly, online, uniqueUser, stopAll, waitForSql } from "./lib/harness.mjs";
import { api } from "../api/lib/api.mjs";
import { RNS, newRoom, codes, item, join, joinFully, say, stanzaId, occupantId, submitForm } from "./lib/rooms.mjs";

const srv = useServer();

async function users(...prefixes) {
    const out = [];
    for (const p of prefixes) {
        const c = await online(srv, uniqueUser(p));
        out.push(c);
    }
    return out;
}

/** A room made through the API with these members; resolves {id, jid}. */
async function apiRoom(body) {
    const res = await api(srv, "POST", "/api/v1/rooms", { body });
    assert.equal(res.status, 201, res.text);
    return res.json;
}

function presenceOf(room, nick, pred = () => true) {
    return (el) => el.is("presence") && el.attrs.from === `${room}/${nick}` && pred(el);
}

function statusMessage(room, code) {
    return (el) => el.is("message") && el.attrs.from === room && codes(el).includes(code);
}

test("a room deleted over the API: occupants get the destruction presence and the room leaves memory", T, async () => {
    const [a, b] = await users("da", "db");
    try {
        const { id, jid } = await apiRoom({ name: "Doomed", members: [a.username, b.username] });
        await joinFully(a, jid);
        await joinFully(b, jid);
        const del = await api(srv, "DELETE", `/api/v1/rooms/${id}`);
        assert.equal(del.status, 204, del.text);
        for (const c of [a, b]) {
            const self = await c.next(
                presenceOf(jid, c.username, (el) => el.attrs.type === "unavailable" && codes(el).includes(110)),
                "own destruction presence",
            );
            const destroy = self.getChild("x", RNS.user).getChild("destroy");
            assert.ok(destroy, `a <destroy/> in ${self}`);
            assert.equal(item(self).attrs.affiliation, "none");
            assert.equal(item(self).attrs.role, "none");
        }
        // each sees the other go, with the destroy element too
        const other = await a.next(presenceOf(jid, b.username, (el) => el.attrs.type === "unavailable"), "b's destruction");
        assert.ok(other.getChild("x", RNS.user).getChild("destroy"));
        // Gone from memory and from the store: joining the name again creates a new room.
        const again = await join(a, jid);
        assert.ok(codes(again.self).includes(201), `a new room (201): ${again.self}`);
    } finally {
        await stopAll(a, b);
    }
});

test("a configuration patched over the API: 104 to occupants, the loaded room serves it, members-only kicks non-members (322)", SLOW, async () => {
    const [a, b] = await users("ca", "cb");
    try {
        const { id, jid } = await apiRoom({ name: "Before", members: [a.username] });
        await joinFully(a, jid);
        await joinFully(b, jid); // an open room: joining made b a member
        await a.next(presenceOf(jid, b.username), "b's join");
        const patched = await api(srv, "PATCH", `/api/v1/rooms/${id}`, { body: { name: "After" } });
        assert.equal(patched.status, 200, patched.text);
        await a.next(statusMessage(jid, 104), "104 for a");
        await b.next(statusMessage(jid, 104), "104 for b");
        const info = await a.iq(xml("iq", { type: "get", to: jid }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" })));
        const identity = info.getChild("query").getChild("identity");
        assert.equal(identity.attrs.name, "After", "the loaded room has the new name");

        // b's membership removed over the API: in an open room b stays, with affiliation none
        const removed = await api(srv, "DELETE", `/api/v1/rooms/${id}/members/${b.username}`);
        assert.equal(removed.status, 204, removed.text);
        const seen = await a.next(presenceOf(jid, b.username, (el) => !el.attrs.type), "b's new affiliation");
        assert.equal(item(seen).attrs.affiliation, "none");
        const own = await b.next(presenceOf(jid, b.username, (el) => !el.attrs.type && codes(el).includes(110)), "b's own presence");
        assert.equal(item(own).attrs.affiliation, "none");

        // members-only now: b is not a member and has to go, with 322
        const mo = await api(srv, "PATCH", `/api/v1/rooms/${id}`, { body: { members_only: true } });
        assert.equal(mo.status, 200, mo.text);
        await a.next(statusMessage(jid, 104), "104 for members-only");
        const gone = await b.next(
            presenceOf(jid, b.username, (el) => el.attrs.type === "unavailable" && codes(el).includes(110)),
            "b removed",
        );
        assert.ok(codes(gone).includes(322), `322 in ${gone}`);
        const goneOther = await a.next(presenceOf(jid, b.username, (el) => el.attrs.type === "unavailable"), "a sees b go");
        assert.ok(codes(goneOther).includes(322));
        // and the loaded room enforces it
        const refused = await join(b, jid);
        assert.equal(refused.error?.getChild("error")?.getChild("registration-required")?.name, "registration-required");
        // a, a member, stayed
        await a.expectNone(presenceOf(jid, a.username, (el) => el.attrs.type === "unavailable"), "a removed", 300);
    } finally {
        await stopAll(a, b);
    }
});

test("affiliations changed over the API: the new affiliation in a presence, 301 for an outcast, 321 when removed from a members-only room", SLOW, async () => {
    const [a, b, c] = await users("aa", "ab", "ac");
    try {
        const { id, jid } = await apiRoom({ members_only: true, members: [a.username, b.username, c.username] });
        for (const u of [a, b, c]) await joinFully(u, jid);

        const up = await api(srv, "PUT", `/api/v1/rooms/${id}/members/${a.username}`, { body: { affiliation: "admin" } });
        assert.equal(up.status, 200, up.text);
        for (const u of [b, c]) {
            const p = await u.next(presenceOf(jid, a.username, (el) => !el.attrs.type), "a's new affiliation");
            assert.equal(item(p).attrs.affiliation, "admin");
            assert.equal(item(p).attrs.role, "moderator");
        }
        const self = await a.next(presenceOf(jid, a.username, (el) => codes(el).includes(110)), "a's own");
        assert.equal(item(self).attrs.affiliation, "admin");

        const ban = await api(srv, "PUT", `/api/v1/rooms/${id}/members/${b.username}`, { body: { affiliation: "outcast" } });
        assert.equal(ban.status, 200, ban.text);
        const banned = await b.next(
            presenceOf(jid, b.username, (el) => el.attrs.type === "unavailable" && codes(el).includes(110)),
            "b banned",
        );
        assert.ok(codes(banned).includes(301), `301 in ${banned}`);
        assert.equal(item(banned).attrs.affiliation, "outcast");
        const seenBan = await a.next(presenceOf(jid, b.username, (el) => el.attrs.type === "unavailable"), "a sees the ban");
        assert.ok(codes(seenBan).includes(301));
        assert.equal((await join(b, jid)).error?.getChild("error")?.getChild("forbidden")?.name, "forbidden");

        const rm = await api(srv, "DELETE", `/api/v1/rooms/${id}/members/${c.username}`);
        assert.equal(rm.status, 204, rm.text);
        const removed = await c.next(
            presenceOf(jid, c.username, (el) => el.attrs.type === "unavailable" && codes(el).includes(110)),
            "c removed",
        );
        assert.ok(codes(removed).includes(321), `321 in ${removed}`);
        assert.ok(codes(await a.next(presenceOf(jid, c.username, (el) => el.attrs.type === "unavailable"), "a sees c go")).includes(321));
    } finally {
        await stopAll(a, b, c);
    }
});

test("POST /messages to a room: delivered live to its occupants once, like an occupant's message, and moves their positions", SLOW, async () => {
    const [a, b] = await users("ma", "mb");
    try {
        const { id, jid } = await apiRoom({ members: [a.username, b.username] });
        await joinFully(a, jid);
        await joinFully(b, jid);
        const mine = await say(a, jid, "from xmpp");
        await b.nextMessage("from xmpp");
        const sent = await api(srv, "POST", "/api/v1/messages", { body: { from: a.username, room: id, body: "from rest" } });
        assert.equal(sent.status, 201, sent.text);
        const server = await api(srv, "POST", "/api/v1/messages", { body: { room: id, body: "from the server" } });
        assert.equal(server.status, 201, server.text);
        for (const c of [a, b]) {
            const m = await c.nextMessage("from rest");
            assert.equal(m.attrs.from, `${jid}/${a.username}`);
            assert.equal(m.attrs.type, "groupchat");
            assert.equal(stanzaId(m).attrs.by, jid);
            assert.equal(stanzaId(m).attrs.id, String(sent.json.id));
            assert.equal(occupantId(m), occupantId(mine), "the sender's occupant id");
            assert.equal(m.getChild("delay", "urn:xmpp:delay"), undefined, "live, not history");
            const s = await c.nextMessage("from the server");
            assert.equal(s.attrs.from, jid);
            assert.equal(stanzaId(s).attrs.id, String(server.json.id));
        }
        // once each: nothing more arrives
        for (const c of [a, b]) {
            await c.sync();
            await c.expectNone((el) => el.is("message") && el.getChild("body"), "a second copy", 500);
        }
        // the writes moved b's delivered position, as for an occupant's message
        await waitForSql(
            `SELECT p.delivered_id FROM room_positions p JOIN rooms r ON r.id = p.room_id
             WHERE r.jid = :'jid' AND p.username = :'u'`,
            { jid, u: b.username },
            (rows) => rows.length === 1 && Number(rows[0][0]) >= server.json.id,
            "b's position at the server's message",
        );
        // a second session joining after the send gets it in its history, once, not live too
        const b2 = await online(srv, b.username, { resource: "second" });
        try {
            const j = await joinFully(b2, jid);
            assert.equal(j.history.filter((m) => m.getChildText("body") === "from rest").length, 1);
            await b2.sync();
            await b2.expectNone((el) => el.is("message") && el.getChild("body"), "a live copy after the history", 500);
        } finally {
            await stopAll(b2);
        }
    } finally {
        await stopAll(a, b);
    }
});


test("parleyd shutting down (SIGTERM): every occupant gets its unavailable presence with 332 before the stream ends", SLOW, async () => {
    const own = new Server({ name: "parleyd-332" });
    await own.start();
    const a = await online(own, uniqueUser("sa"));
    const b = await online(own, uniqueUser("sb"));
    const b2 = await online(own, b.username, { resource: "second" });
    try {
        const room = newRoom();
        await joinFully(a, room);
        await joinFully(b, room);
        await joinFully(b2, room);
        await own.stop(); // exit 0 and no sanitizer report, checked by stop()
        for (const c of [a, b, b2]) {
            const p = await c.next(
                (el) => el.is("presence") && el.attrs.from === `${room}/${c.username}` && el.attrs.type === "unavailable",
                "own 332 presence",
            );
            assert.deepEqual(codes(p).sort(), [110, 332], `${p}`);
            assert.equal(item(p).attrs.role, "none");
        }
    } finally {
        await stopAll(a, b, b2);
        if (own.alive()) await own.stop();
    }
});

test("changes made over XMPP on one node reach the room loaded on another: 104, subject, 301, destruction", SLOW, async () => {
    const other = new Server({ name: "parleyd-node2" });
    await other.start();
    const a = await online(srv, uniqueUser("na"));
    const b = await online(other, uniqueUser("nb"));
    const c = await online(other, uniqueUser("nc"));
    try {
        const room = newRoom();
        await joinFully(a, room); // created on this node, a owner
        await joinFully(b, room); // loaded by the other node too
        await joinFully(c, room);
        const form = xml(
            "iq",
            { type: "set", to: room },
            xml("query", { xmlns: RNS.owner }, submitForm(RNS.config, { "muc#roomconfig_roomname": "Renamed" })),
        );
        assert.equal((await a.iq(form)).attrs.type, "result");
        await a.next(statusMessage(room, 104), "104 on this node");
        await b.next(statusMessage(room, 104), "104 on the other node");
        await c.next(statusMessage(room, 104), "104 for c");
        await a.send(xml("message", { type: "groupchat", to: room }, xml("subject", {}, "Across nodes")));
        const subj = await b.next((el) => el.is("message") && el.getChildText("subject") === "Across nodes", "the subject");
        assert.equal(subj.attrs.from, `${room}/${a.username}`);
        const ban = xml(
            "iq",
            { type: "set", to: room },
            xml("query", { xmlns: RNS.admin }, xml("item", { jid: `${b.username}@localhost`, affiliation: "outcast" })),
        );
        assert.equal((await a.iq(ban)).attrs.type, "result");
        const banned = await b.next(
            presenceOf(room, b.username, (el) => el.attrs.type === "unavailable" && codes(el).includes(110)),
            "b banned on the other node",
        );
        assert.ok(codes(banned).includes(301));
        const destroy = xml("iq", { type: "set", to: room }, xml("query", { xmlns: RNS.owner }, xml("destroy", {})));
        assert.equal((await a.iq(destroy)).attrs.type, "result");
        const gone = await c.next(
            presenceOf(room, c.username, (el) => el.attrs.type === "unavailable" && codes(el).includes(110)),
            "c told of the destruction on the other node",
        );
        assert.ok(gone.getChild("x", RNS.user).getChild("destroy"));
        // the node that made each change told its own occupant once
        await a.sync();
        await a.expectNone(statusMessage(room, 104), "a second 104", 300);
    } finally {
        await stopAll(a, b, c);
        await other.stop();
    }
});

stopsCleanly(srv);
