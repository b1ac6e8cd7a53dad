// Membership and moderation (XEP-0045 sections 8-10, PROTOCOL.md):
// members-only rooms admit affiliated users only (registration-required),
// outcasts get forbidden; kick (307), ban (301), affiliation changes
// (321/322 when it means leaving) and destruction, by owners and admins
// only; anyone else gets forbidden.
import { test } from "node:test";
import assert from "node:assert/strict";

import { T, xml, useServer, stopsCleanly, online, uniqueUser, sql, stopAll } from "./lib/harness.mjs";
import {
    RNS,
    newRoom,
    codes,
    item,
    join,
    joinFully,
    say,
    iq,
    condition,
    submitForm,
} from "./lib/rooms.mjs";

const srv = useServer();

function adminSet(room, ...items) {
    return xml("iq", { type: "set", to: room }, xml("query", { xmlns: RNS.admin }, ...items));
}

function affItem(jid, affiliation, reason) {
    return xml("item", { jid, affiliation }, reason ? xml("reason", {}, reason) : null);
}

function roleItem(nick, role, reason) {
    return xml("item", { nick, role }, reason ? xml("reason", {}, reason) : null);
}

function unavailableFrom(room, nick) {
    return (el) => el.is("presence") && el.attrs.from === `${room}/${nick}` && el.attrs.type === "unavailable";
}

async function configure(c, room, fields) {
    const res = await c.iq(
        xml("iq", { type: "set", to: room }, xml("query", { xmlns: RNS.owner }, submitForm(RNS.config, fields))),
    );
    assert.equal(res.attrs.type, "result");
}

test("a members-only room admits its members only: registration-required for others", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    const c = await online(srv, uniqueUser("carol"));
    const room = newRoom();
    try {
        await joinFully(a, room);
        await configure(a, room, { "muc#roomconfig_membersonly": "1" });
        const refused = await join(b, room);
        assert.equal(condition(refused.error), "registration-required");
        // the owner makes bob a member: now he may join
        const ok = await a.iq(adminSet(room, affItem(b.bare, "member")));
        assert.equal(ok.attrs.type, "result");
        const jb = await joinFully(b, room);
        assert.equal(item(jb.self).attrs.affiliation, "member");
        // carol still may not, and joining did not make her a member
        assert.equal(condition((await join(c, room)).error), "registration-required");
        const rows = await sql(
            "SELECT count(*) FROM room_affiliations a JOIN rooms r ON r.id = a.room_id WHERE r.jid = :'jid' AND a.username = :'u'",
            { jid: room, u: c.username },
        );
        assert.deepEqual(rows, [["0"]]);
        // the member list, for the owner
        const list = await a.iq(
            xml("iq", { type: "get", to: room }, xml("query", { xmlns: RNS.admin }, xml("item", { affiliation: "member" }))),
        );
        const members = list.getChild("query", RNS.admin).getChildren("item").map((i) => i.attrs.jid);
        assert.deepEqual(members, [b.bare]);
    } finally {
        await stopAll(a, b, c);
    }
});

test("the owner kicks (307); the kicked may come back; a participant may not kick (forbidden)", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    const c = await online(srv, uniqueUser("carol"));
    const room = newRoom();
    try {
        await joinFully(a, room);
        await joinFully(b, room);
        await joinFully(c, room);
        const no = await iq(c, adminSet(room, roleItem(b.username, "none")));
        assert.equal(condition(no), "forbidden");
        const res = await a.iq(adminSet(room, roleItem(b.username, "none", "be nice")));
        assert.equal(res.attrs.type, "result");
        const self = await b.next(unavailableFrom(room, b.username), "bob's own kick");
        assert.ok(codes(self).includes(307) && codes(self).includes(110));
        assert.equal(item(self).getChildText("reason"), "be nice");
        assert.equal(item(self).getChild("actor").attrs.nick, a.username);
        const seen = await c.next(unavailableFrom(room, b.username), "carol sees the kick");
        assert.ok(codes(seen).includes(307));
        // kicked is not banned
        const again = await joinFully(b, room);
        assert.equal(item(again.self).attrs.affiliation, "member");
        // an owner may not be kicked
        await a.iq(adminSet(room, affItem(c.bare, "admin")));
        const up = await iq(c, adminSet(room, roleItem(a.username, "none")));
        assert.equal(condition(up), "not-allowed");
    } finally {
        await stopAll(a, b, c);
    }
});

test("a ban makes an outcast (301) who then gets forbidden", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    const c = await online(srv, uniqueUser("carol"));
    const room = newRoom();
    try {
        await joinFully(a, room);
        await joinFully(b, room);
        await joinFully(c, room);
        await a.iq(adminSet(room, affItem(b.bare, "outcast", "spam")));
        const self = await b.next(unavailableFrom(room, b.username), "bob banned");
        assert.ok(codes(self).includes(301));
        assert.equal(item(self).attrs.affiliation, "outcast");
        assert.ok(codes(await c.next(unavailableFrom(room, b.username), "carol sees the ban")).includes(301));
        assert.equal(condition((await join(b, room)).error), "forbidden");
        const rows = await sql(
            "SELECT a.affiliation, a.reason FROM room_affiliations a JOIN rooms r ON r.id = a.room_id WHERE r.jid = :'jid' AND a.username = :'u'",
            { jid: room, u: b.username },
        );
        assert.deepEqual(rows, [["outcast", "spam"]]);
        // a participant may not ban
        const no = await iq(c, adminSet(room, affItem(a.bare, "outcast")));
        assert.equal(condition(no), "forbidden");
    } finally {
        await stopAll(a, b, c);
    }
});

test("affiliation changes: admin (a moderator now), and none in a members-only room (321)", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    const c = await online(srv, uniqueUser("carol"));
    const room = newRoom();
    try {
        await joinFully(a, room);
        await joinFully(b, room);
        await joinFully(c, room);
        await a.iq(adminSet(room, affItem(b.bare, "admin")));
        const p = await c.next(
            (el) => el.is("presence") && el.attrs.from === `${room}/${b.username}` && item(el)?.attrs.affiliation === "admin",
            "bob an admin",
        );
        assert.equal(item(p).attrs.role, "moderator");
        // an admin may not make owners or touch another admin
        assert.equal(condition(await iq(b, adminSet(room, affItem(c.bare, "owner")))), "not-allowed");
        assert.equal(condition(await iq(b, adminSet(room, affItem(a.bare, "member")))), "not-allowed");
        // the room becomes members-only: carol (a member) stays
        await configure(a, room, { "muc#roomconfig_membersonly": "1" });
        // now carol loses her membership: she has to go (321)
        await b.iq(adminSet(room, affItem(c.bare, "none")));
        const gone = await c.next(unavailableFrom(room, c.username), "carol removed");
        assert.ok(codes(gone).includes(321), `codes ${codes(gone)}`);
        // the last owner cannot go
        const last = await iq(a, adminSet(room, affItem(a.bare, "member")));
        assert.equal(condition(last), "conflict");
    } finally {
        await stopAll(a, b, c);
    }
});

test("turning a room members-only removes who is not a member (322)", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    const room = newRoom();
    try {
        await joinFully(a, room);
        await joinFully(b, room);
        // bob is a member by joining; take it away in the open room: he stays
        await a.iq(adminSet(room, affItem(b.bare, "none")));
        await b.next((el) => el.is("presence") && item(el)?.attrs.affiliation === "none", "bob no longer a member");
        await configure(a, room, { "muc#roomconfig_membersonly": "1" });
        const gone = await b.next(unavailableFrom(room, b.username), "bob removed");
        assert.ok(codes(gone).includes(322), `codes ${codes(gone)}`);
    } finally {
        await stopAll(a, b);
    }
});

test("the owner destroys the room: everyone is told, with the alternate venue and reason", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    const room = newRoom();
    const venue = newRoom();
    try {
        await joinFully(a, room);
        await joinFully(b, room);
        const m = await say(a, room, "last words");
        const no = await iq(
            b,
            xml("iq", { type: "set", to: room }, xml("query", { xmlns: RNS.owner }, xml("destroy", {}))),
        );
        assert.equal(condition(no), "forbidden");
        const res = await a.iq(
            xml(
                "iq",
                { type: "set", to: room },
                xml("query", { xmlns: RNS.owner }, xml("destroy", { jid: venue }, xml("reason", {}, "moved"))),
            ),
        );
        assert.equal(res.attrs.type, "result");
        const p = await b.next(unavailableFrom(room, b.username), "bob told");
        const d = p.getChild("x", RNS.user).getChild("destroy");
        assert.equal(d.attrs.jid, venue);
        assert.equal(d.getChildText("reason"), "moved");
        const rows = await sql("SELECT count(*) FROM rooms WHERE jid = :'jid'", { jid: room });
        assert.deepEqual(rows, [["0"]]);
        // the archive stays (an organisation's record)
        const kept = await sql("SELECT body FROM messages WHERE room = :'jid'", { jid: room });
        assert.deepEqual(kept, [["last words"]]);
        assert.ok(m);
    } finally {
        await stopAll(a, b);
    }
});

stopsCleanly(srv);
