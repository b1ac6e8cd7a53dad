// Private messages between occupants (XEP-0045 section 7.5): to room/nick,
// routed to every session of that occupant from room/sender, not archived
// in the room. Mediated invitations (section 7.8.2), forwarded from the
// room; in a members-only room only owners and admins invite, and the
// invitee becomes a member; a decline goes back to the inviter. XEP-0249 direct invitations are ordinary
// messages and pass through. Nick changes stay refused (31-rooms-join).
import { test } from "node:test";
import assert from "node:assert/strict";

import { T, SLOW, xml, useServer, stopsCleanly, online, uniqueUser, stopAll, sql, DOMAIN } from "./lib/harness.mjs";
import { RNS, newRoom, joinFully, condition, submitForm, say } from "./lib/rooms.mjs";

const srv = useServer();

async function users(...prefixes) {
    const out = [];
    for (const p of prefixes) out.push(await online(srv, uniqueUser(p)));
    return out;
}

const bare = (c) => `${c.username}@${DOMAIN}`;

function pm(room, nick, body, type = "chat") {
    return xml("message", { type, to: `${room}/${nick}`, id: `pm-${body}` }, xml("body", {}, body));
}

function invite(room, to, reason) {
    return xml(
        "message",
        { to: room, id: `inv-${to}` },
        xml("x", { xmlns: RNS.user }, xml("invite", { to }, reason ? xml("reason", {}, reason) : null)),
    );
}

const errorOf = (id) => (el) => el.is("message") && el.attrs.type === "error" && el.attrs.id === id;

async function membersOnly(c, room) {
    const res = await c.iq(
        xml(
            "iq",
            { type: "set", to: room },
            xml("query", { xmlns: RNS.owner }, submitForm(RNS.config, { "muc#roomconfig_membersonly": "1" })),
        ),
    );
    assert.equal(res.attrs.type, "result");
}

test("a private message reaches every session of the occupant, from room/sender, and is not archived in the room", T, async () => {
    const [a, b, c] = await users("pa", "pb", "pc");
    const b2 = await online(srv, b.username, { resource: "two" });
    const room = newRoom();
    try {
        for (const u of [a, b, b2, c]) await joinFully(u, room);
        await a.send(pm(room, b.username, "psst"));
        for (const u of [b, b2]) {
            const m = await u.nextMessage("psst");
            assert.equal(m.attrs.from, `${room}/${a.username}`);
            assert.equal(m.attrs.type, "chat");
            assert.ok(m.getChild("x", RNS.user), "marked as a private message");
            assert.ok(m.getChild("occupant-id", RNS.occupantId));
        }
        // and back
        await b.send(pm(room, a.username, "hi back"));
        assert.equal((await a.nextMessage("hi back")).attrs.from, `${room}/${b.username}`);
        await c.sync();
        await c.expectNone((el) => el.is("message") && el.getChild("body"), "someone else's private message", 300);
        const [[n]] = await sql(`SELECT count(*) FROM messages WHERE body IN ('psst', 'hi back')`);
        assert.equal(n, "0", "not in the room's archive, nor anyone's");
        // the room's own messages still flow
        await say(c, room, "public");
    } finally {
        await stopAll(a, b, b2, c);
    }
});

test("private messages: only occupants, to a present nick, never groupchat; each refused with its error", T, async () => {
    const [a, b, d] = await users("qa", "qb", "qd");
    const room = newRoom();
    try {
        await joinFully(a, room);
        await joinFully(b, room);
        await d.send(pm(room, b.username, "outsider"));
        assert.equal(condition(await d.next(errorOf("pm-outsider"), "refusal")), "not-acceptable");
        await a.send(pm(room, "nobody", "lost"));
        assert.equal(condition(await a.next(errorOf("pm-lost"), "refusal")), "item-not-found");
        await a.send(pm(room, b.username, "grp", "groupchat"));
        assert.equal(condition(await a.next(errorOf("pm-grp"), "refusal")), "bad-request");
        await b.sync();
        await b.expectNone((el) => el.is("message") && el.getChild("body"), "a refused message", 300);
        await say(a, room, "still here"); // the session stays up
    } finally {
        await stopAll(a, b, d);
    }
});

test("a mediated invitation is forwarded from the room to the invitee, with the inviter and the reason", T, async () => {
    const [a, d] = await users("ia", "id");
    const room = newRoom();
    try {
        await joinFully(a, room);
        await a.send(invite(room, bare(d), "come and see"));
        const m = await d.next((el) => el.is("message") && el.attrs.from === room && el.getChild("x", RNS.user), "invitation");
        const inv = m.getChild("x", RNS.user).getChild("invite");
        assert.equal(inv.attrs.from, bare(a));
        assert.equal(inv.getChildText("reason"), "come and see");
        assert.match(m.getChildText("body"), /invites you/);
        // in an open room nobody's affiliation changed
        const rows = await sql(
            `SELECT count(*) FROM room_affiliations a JOIN rooms r ON r.id = a.room_id WHERE r.jid = :'jid' AND a.username = :'u'`,
            { jid: room, u: d.username },
        );
        assert.deepEqual(rows, [["0"]]);
    } finally {
        await stopAll(a, d);
    }
});

test("a declined invitation goes back to the inviter from the room", T, async () => {
    const [a, d] = await users("da", "dd");
    const room = newRoom();
    try {
        await joinFully(a, room);
        await a.send(invite(room, bare(d)));
        await d.next((el) => el.is("message") && el.attrs.from === room && el.getChild("x", RNS.user), "invitation");
        await d.send(
            xml("message", { to: room }, xml("x", { xmlns: RNS.user }, xml("decline", { to: bare(a) }, xml("reason", {}, "busy")))),
        );
        const m = await a.next(
            (el) => el.is("message") && el.attrs.from === room && el.getChild("x", RNS.user)?.getChild("decline"),
            "the decline",
        );
        const dec = m.getChild("x", RNS.user).getChild("decline");
        assert.equal(dec.attrs.from, bare(d));
        assert.equal(dec.getChildText("reason"), "busy");
    } finally {
        await stopAll(a, d);
    }
});

test("members-only: an owner's invitation makes a member who can join; a member may not invite; bad invitees refused", SLOW, async () => {
    const [a, b, e, f] = await users("ma", "mb", "me", "mf");
    const room = newRoom();
    try {
        await joinFully(a, room);
        await membersOnly(a, room);
        await a.send(invite(room, bare(b)));
        await b.next((el) => el.is("message") && el.attrs.from === room && el.getChild("x", RNS.user), "b's invitation");
        const rows = await sql(
            `SELECT a.affiliation FROM room_affiliations a JOIN rooms r ON r.id = a.room_id WHERE r.jid = :'jid' AND a.username = :'u'`,
            { jid: room, u: b.username },
        );
        assert.deepEqual(rows, [["member"]], "the invitee is a member");
        await joinFully(b, room); // and may join
        // a member (not owner or admin) may not invite into a members-only room
        await b.send(invite(room, bare(e)));
        assert.equal(condition(await b.next(errorOf(`inv-${bare(e)}`), "refusal")), "forbidden");
        await e.sync();
        await e.expectNone((el) => el.is("message") && el.attrs.from === room, "an invitation", 300);
        // an outcast, another server's user, a malformed JID
        const ban = await a.iq(
            xml("iq", { type: "set", to: room }, xml("query", { xmlns: RNS.admin }, xml("item", { jid: bare(f), affiliation: "outcast" }))),
        );
        assert.equal(ban.attrs.type, "result");
        await a.send(invite(room, bare(f)));
        assert.equal(condition(await a.next(errorOf(`inv-${bare(f)}`), "refusal")), "not-allowed");
        await a.send(invite(room, "someone@elsewhere.example"));
        assert.equal(condition(await a.next(errorOf("inv-someone@elsewhere.example"), "refusal")), "not-acceptable");
        await a.send(invite(room, "@@bad"));
        assert.equal(condition(await a.next(errorOf("inv-@@bad"), "refusal")), "jid-malformed");
    } finally {
        await stopAll(a, b, e, f);
    }
});

test("XEP-0249 direct invitations pass through as ordinary messages", T, async () => {
    const [a, d] = await users("xa", "xd");
    const room = newRoom();
    try {
        await joinFully(a, room);
        await a.send(
            xml("message", { to: bare(d), id: "di" }, xml("x", { xmlns: "jabber:x:conference", jid: room, reason: "join us" })),
        );
        const m = await d.next((el) => el.is("message") && el.getChild("x", "jabber:x:conference"), "direct invitation");
        assert.equal(m.attrs.from.split("/")[0], bare(a));
        assert.equal(m.getChild("x", "jabber:x:conference").attrs.jid, room);
        assert.equal(m.getChild("x", "jabber:x:conference").attrs.reason, "join us");
        // with a body it is a stored message like any other
        await a.send(
            xml("message", { to: bare(d), type: "normal", id: "di2" }, xml("body", {}, "invitation"), xml("x", { xmlns: "jabber:x:conference", jid: room })),
        );
        const m2 = await d.nextMessage("invitation");
        assert.equal(m2.getChild("x", "jabber:x:conference").attrs.jid, room);
    } finally {
        await stopAll(a, d);
    }
});

stopsCleanly(srv);
