// Bad edits, direct and in rooms: a correction or a retraction of a
// message that does not exist, was sent by someone else, or is in another
// conversation; a reaction to an unknown message; more reactions than the
// limit; malformed edits. Each gets its stanza error and nothing is stored
// or changed.
import { test } from "node:test";
import assert from "node:assert/strict";

import { T, SLOW, xml, useServer, stopsCleanly, online, uniqueUser, sql, stopAll } from "./lib/harness.mjs";
import { newRoom, joinFully, say, iq, condition, stanzaId } from "./lib/rooms.mjs";
import {
    ENS,
    chat,
    correction,
    retraction,
    reaction,
    moderate,
    errorCondition,
    nextError,
    archiveId,
    countStored,
} from "./lib/edits.mjs";

const srv = useServer();

/** Sends `el` (with id `id`) from c and expects the error `cond`, with
 * nothing stored under that id. */
async function refused(c, el, id, cond) {
    await c.send(el);
    const err = await nextError(c, id);
    assert.equal(errorCondition(err), cond, err.toString());
    assert.equal(await countStored(c.bare, id), 0, `${id} stored nothing`);
}

async function unchanged(id, body) {
    assert.deepEqual(
        await sql(
            "SELECT m.body, (SELECT count(*) FROM message_revisions r WHERE r.message_id = m.id), " +
                "(SELECT count(*) FROM message_tombstones t WHERE t.message_id = m.id), " +
                "(SELECT count(*) FROM message_reactions x WHERE x.message_id = m.id) " +
                "FROM messages m WHERE m.id = :'id'",
            { id },
        ),
        [[body, "0", "0", "0"]],
    );
}

test("direct: corrections and retractions of unknown, someone else's, or another conversation's messages", SLOW, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    const c = await online(srv, uniqueUser("carol"));
    try {
        await a.send(chat(b.bare, "to bob", "ab-1"));
        await b.nextMessage("to bob");
        await a.send(chat(c.bare, "to carol", "ac-1"));
        await c.nextMessage("to carol");
        const ab = await archiveId(a.bare, "ab-1");
        const ac = await archiveId(a.bare, "ac-1");

        // a message that does not exist
        await refused(a, correction(b.bare, "x", "bad-c1", "no-such"), "bad-c1", "item-not-found");
        await refused(a, retraction(b.bare, "bad-r1", "no-such"), "bad-r1", "item-not-found");
        // someone else's: bob may not correct or retract alice's message
        await refused(b, correction(a.bare, "hijack", "bad-c2", "ab-1"), "bad-c2", "forbidden");
        await refused(b, retraction(a.bare, "bad-r2", "ab-1"), "bad-r2", "forbidden");
        // by archive id, the same
        await refused(b, retraction(a.bare, "bad-r2b", ab), "bad-r2b", "forbidden");
        // another conversation: alice's message to carol named in a message to bob
        await refused(a, correction(b.bare, "moved", "bad-c3", "ac-1"), "bad-c3", "item-not-found");
        await refused(a, retraction(b.bare, "bad-r3", ac), "bad-r3", "item-not-found");
        // a reaction to an unknown message, or to one of another conversation
        await refused(b, reaction(a.bare, "bad-x1", "no-such", ["👍"]), "bad-x1", "item-not-found");
        await refused(b, reaction(a.bare, "bad-x2", "ac-1", ["👍"]), "bad-x2", "item-not-found");
        // more reactions than the limit (20 distinct)
        const many = Array.from({ length: 21 }, (_, i) => String.fromCodePoint(0x1f600 + i));
        await refused(b, reaction(a.bare, "bad-x3", "ab-1", many), "bad-x3", "not-acceptable");
        // an empty reaction
        await refused(b, reaction(a.bare, "bad-x4", "ab-1", [""]), "bad-x4", "not-acceptable");
        // malformed: a correction without a body, two edits at once, no id
        await refused(
            a,
            xml("message", { type: "chat", to: b.bare, id: "bad-m1" }, xml("replace", { xmlns: ENS.correct, id: "ab-1" })),
            "bad-m1",
            "bad-request",
        );
        await refused(
            a,
            xml(
                "message",
                { type: "chat", to: b.bare, id: "bad-m2" },
                xml("body", {}, "x"),
                xml("replace", { xmlns: ENS.correct, id: "ab-1" }),
                xml("retract", { xmlns: ENS.retract, id: "ab-1" }),
            ),
            "bad-m2",
            "bad-request",
        );
        await refused(
            a,
            xml("message", { type: "chat", to: b.bare, id: "bad-m3" }, xml("retract", { xmlns: ENS.retract })),
            "bad-m3",
            "bad-request",
        );
        await unchanged(ab, "to bob");
        await unchanged(ac, "to carol");
        // nothing reached bob or carol, and the server still works
        await b.expectNone((el) => el.is("message") && el.attrs.id?.startsWith("bad-"), "a refused edit", 300);
        await a.send(chat(b.bare, "still here", "ab-2"));
        await b.nextMessage("still here");
    } finally {
        await stopAll(a, b, c);
    }
});

test("rooms: someone else's message, another room's, an unknown one; a client's own <moderated/>; a moderation of nothing", SLOW, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    const room = newRoom();
    const other = newRoom();
    try {
        await joinFully(a, room);
        await joinFully(b, room);
        await joinFully(a, other);
        const mine = await say(a, room, "alice says", "ra-1");
        const sid = stanzaId(mine).attrs.id;
        await b.nextMessage("alice says");
        const elsewhere = await say(a, other, "elsewhere", "ro-1");
        const osid = stanzaId(elsewhere).attrs.id;

        await refused(b, correction(room, "bob edits", "rbad-1", "ra-1", "groupchat"), "rbad-1", "forbidden");
        await refused(b, retraction(room, "rbad-2", sid, "groupchat"), "rbad-2", "forbidden");
        await refused(a, retraction(room, "rbad-3", osid, "groupchat"), "rbad-3", "item-not-found");
        await refused(a, correction(room, "x", "rbad-4", "no-such", "groupchat"), "rbad-4", "item-not-found");
        await refused(b, reaction(room, "rbad-5", "999999999", ["👍"], "groupchat"), "rbad-5", "item-not-found");
        const many = Array.from({ length: 21 }, (_, i) => String.fromCodePoint(0x1f600 + i));
        await refused(b, reaction(room, "rbad-6", sid, many, "groupchat"), "rbad-6", "not-acceptable");
        // only the room says a message was moderated
        await refused(
            b,
            xml(
                "message",
                { type: "groupchat", to: room, id: "rbad-7" },
                xml("retract", { xmlns: ENS.retract, id: sid }, xml("moderated", { xmlns: ENS.moderate, by: room })),
            ),
            "rbad-7",
            "bad-request",
        );
        // the owner moderating an unknown message, or another room's
        assert.equal(condition(await iq(a, moderate(room, "mbad-1", "424242424242"))), "item-not-found");
        assert.equal(condition(await iq(a, moderate(room, "mbad-2", osid))), "item-not-found");
        assert.equal(
            condition(await iq(a, xml("iq", { type: "set", to: room }, xml("moderate", { xmlns: ENS.moderate, id: sid })))),
            "bad-request",
            "a moderation without <retract/>",
        );
        await unchanged(sid, "alice says");
        await unchanged(osid, "elsewhere");
        assert.deepEqual(
            await sql("SELECT count(*) FROM admin_audit WHERE action = 'room.message.moderate' AND details->>'room' IN (:'r', :'o')", {
                r: room,
                o: other,
            }),
            [["0"]],
        );
        await say(b, room, "room still works", "rb-ok");
    } finally {
        await stopAll(a, b);
    }
});

stopsCleanly(srv);
