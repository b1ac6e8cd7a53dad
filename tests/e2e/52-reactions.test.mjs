// XEP-0444 reactions, direct and in rooms: delivered live and to offline
// users, stored per message and per user with the latest set winning (an
// empty set removes them), and returned by MAM as the reaction messages.
import { test } from "node:test";
import assert from "node:assert/strict";

import { T, SLOW, NS, useServer, stopsCleanly, online, uniqueUser, sql, waitForSql, stopAll } from "./lib/harness.mjs";
import { newRoom, joinFully, say, leave, mam, stanzaId } from "./lib/rooms.mjs";
import { ENS, chat, reaction, archiveId, nextEdit } from "./lib/edits.mjs";

const srv = useServer();

const setOf = (el) =>
    el
        .getChild("reactions", ENS.reactions)
        .getChildren("reaction")
        .map((r) => r.text());

async function stored(id) {
    return sql("SELECT reactor, reactions FROM message_reactions WHERE message_id = :'id' ORDER BY reactor", { id });
}

test("live: the reaction reaches the sender of the message; the latest set wins; an empty set removes it", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    try {
        await a.send(chat(b.bare, "lunch?", "lunch-1"));
        await b.nextMessage("lunch?");
        const id = await archiveId(a.bare, "lunch-1");
        await b.send(reaction(a.bare, "re-1", "lunch-1", ["👍", "🍕"]));
        const got = await nextEdit(a, "reactions", ENS.reactions, "lunch-1");
        assert.deepEqual(setOf(got), ["👍", "🍕"]);
        assert.ok(got.getChild("stanza-id", NS.sid), "archived");
        await waitForSql(
            "SELECT reactor, reactions FROM message_reactions WHERE message_id = :'id'",
            { id },
            (r) => r.length === 1 && r[0][1] === "{👍,🍕}",
            "bob's set",
        );
        // a new set replaces the last one
        await b.send(reaction(a.bare, "re-2", "lunch-1", ["🎉"]));
        await nextEdit(a, "reactions", ENS.reactions, "lunch-1");
        // alice reacts to her own message too
        await a.send(reaction(b.bare, "re-3", "lunch-1", ["❤️"]));
        await nextEdit(b, "reactions", ENS.reactions, "lunch-1");
        await waitForSql(
            "SELECT reactor, reactions FROM message_reactions WHERE message_id = :'id' ORDER BY reactor",
            { id },
            (r) => r.length === 2,
            "both sets",
        );
        assert.deepEqual(await stored(id), [
            [a.bare, "{❤️}"],
            [b.bare, "{🎉}"],
        ]);
        // the empty set takes bob's away
        await b.send(reaction(a.bare, "re-4", "lunch-1", []));
        await nextEdit(a, "reactions", ENS.reactions, "lunch-1");
        await waitForSql(
            "SELECT count(*) FROM message_reactions WHERE message_id = :'id' AND reactor = :'r'",
            { id, r: b.bare },
            (r) => r[0][0] === "0",
            "bob's set removed",
        );
    } finally {
        await stopAll(a, b);
    }
});

test("offline: reactions sent while the user was away arrive at login, in order; MAM returns them", T, async () => {
    const b = await online(srv, uniqueUser("bob"));
    const aName = uniqueUser("alice");
    let a;
    try {
        a = await online(srv, aName);
        await a.send(chat(b.bare, "ship it?", "ship-1"));
        await b.nextMessage("ship it?");
        await a.stop();
        await b.send(reaction(`${aName}@localhost`, "off-re-1", "ship-1", ["👀"]));
        await b.send(reaction(`${aName}@localhost`, "off-re-2", "ship-1", ["🚀", "✅"]));
        const id = await archiveId(a.bare, "ship-1");
        await waitForSql(
            "SELECT reactions FROM message_reactions WHERE message_id = :'id'",
            { id },
            (r) => r.length === 1 && r[0][0] === "{🚀,✅}",
            "the latest set",
        );
        a = await online(srv, aName);
        const first = await nextEdit(a, "reactions", ENS.reactions, "ship-1");
        assert.equal(first.attrs.id, "off-re-1");
        assert.ok(first.getChild("delay", NS.delay));
        const second = await nextEdit(a, "reactions", ENS.reactions, "ship-1");
        assert.equal(second.attrs.id, "off-re-2");
        assert.deepEqual(setOf(second), ["🚀", "✅"]);
        const page = await mam(a, { rsm: { max: 10 } });
        const msgs = page.results.map((r) => r.message);
        assert.deepEqual(msgs.map((m) => m.attrs.id), ["ship-1", "off-re-1", "off-re-2"]);
        assert.deepEqual(setOf(msgs[2]), ["🚀", "✅"], "the last set in the archive is the one kept");
    } finally {
        await stopAll(a, b);
    }
});

test("in a room: reactions by stanza id reach every occupant and a member away at catch-up; the latest set wins", SLOW, async () => {
    const a = await online(srv, uniqueUser("alice"));
    let b = await online(srv, uniqueUser("bob"));
    const c = await online(srv, uniqueUser("carol"));
    const room = newRoom();
    try {
        await joinFully(a, room);
        await joinFully(b, room);
        await joinFully(c, room);
        const m = await say(a, room, "release today", "rel-1");
        const sid = stanzaId(m).attrs.id;
        await b.nextMessage("release today");
        await c.nextMessage("release today");
        await c.send(reaction(room, "rr-1", sid, ["🎉"], "groupchat"));
        for (const x of [a, b, c]) {
            const r = await nextEdit(x, "reactions", ENS.reactions, sid);
            assert.equal(r.attrs.from, `${room}/${c.username}`);
        }
        await waitForSql(
            "SELECT p.delivered_id >= (SELECT max(id) FROM messages WHERE room = r.jid) FROM room_positions p " +
                "JOIN rooms r ON r.id = p.room_id WHERE r.jid = :'jid' AND p.username = :'u'",
            { jid: room, u: b.username },
            (r) => r.length === 1 && r[0][0] === "t",
            "bob caught up",
        );
        await leave(b, room);
        await c.send(reaction(room, "rr-2", sid, ["🎉", "👍"], "groupchat"));
        await nextEdit(a, "reactions", ENS.reactions, sid);
        await b.stop();
        b = await online(srv, b.username);
        await joinFully(b, room);
        const caught = await nextEdit(b, "reactions", ENS.reactions, sid);
        assert.equal(caught.attrs.id, "rr-2");
        assert.ok(caught.getChild("delay", NS.delay));
        assert.deepEqual(await stored(sid), [[c.bare, "{🎉,👍}"]]);
        const page = await mam(b, { to: room, rsm: { max: 10 } });
        assert.deepEqual(
            page.results.map((r) => r.message.attrs.id),
            ["rel-1", "rr-1", "rr-2"],
        );
    } finally {
        await stopAll(a, b, c);
    }
});

stopsCleanly(srv);
