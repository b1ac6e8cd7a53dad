// XEP-0308 Last Message Correction, direct and in rooms: a correction from
// the original's sender reaches the recipient live, offline and at a room's
// catch-up; the archive holds the corrected text in the original's place
// (its first text kept as revision 1) and the correction itself with its
// <replace id/>, and MAM returns both.
import { test } from "node:test";
import assert from "node:assert/strict";

import { T, SLOW, NS, useServer, stopsCleanly, online, uniqueUser, sql, waitForSql, stopAll } from "./lib/harness.mjs";
import { newRoom, joinFully, say, leave, mam, stanzaId } from "./lib/rooms.mjs";
import { ENS, chat, correction, archiveId } from "./lib/edits.mjs";

const srv = useServer();

const body = (el) => el.getChildText("body");

test("a live correction reaches the recipient with <replace id/>; the archive keeps the first text as a revision", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    try {
        await a.send(chat(b.bare, "helo", "orig-1"));
        await b.nextMessage("helo");
        await a.send(correction(b.bare, "hello", "fix-1", "orig-1"));
        const got = await b.nextMessage("hello");
        assert.equal(got.getChild("replace", ENS.correct)?.attrs.id, "orig-1");
        assert.equal(got.attrs.from.split("/")[0], a.bare);
        assert.ok(got.getChild("stanza-id", NS.sid), "the correction is archived");
        const id = await archiveId(a.bare, "orig-1");
        const rows = await sql("SELECT body FROM messages WHERE id = :'id'", { id });
        assert.deepEqual(rows, [["hello"]], "the original's body is the corrected text");
        const revs = await sql(
            "SELECT revision, body FROM message_revisions WHERE message_id = :'id' ORDER BY revision",
            { id },
        );
        assert.deepEqual(revs, [["1", "helo"]], "the first text is revision 1");
        // a second correction of the same message keeps both earlier texts
        await a.send(correction(b.bare, "hello!", "fix-2", "orig-1"));
        await b.nextMessage("hello!");
        await waitForSql(
            "SELECT revision, body FROM message_revisions WHERE message_id = :'id' ORDER BY revision",
            { id },
            (r) => r.length === 2 && r[1][1] === "hello",
            "two revisions",
        );
    } finally {
        await stopAll(a, b);
    }
});

test("offline: the recipient gets the corrected original, then the correction, both delayed", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const bName = uniqueUser("bob");
    let b;
    try {
        const to = `${bName}@localhost`;
        await a.send(chat(to, "see you at 5", "off-1"));
        await a.send(correction(to, "see you at 6", "off-fix", "off-1"));
        await waitForSql(
            "SELECT count(*) FROM message_revisions r JOIN messages m ON m.id = r.message_id WHERE m.sender = :'s'",
            { s: a.bare },
            (r) => r[0][0] === "1",
            "the correction applied",
        );
        b = await online(srv, bName);
        const first = await b.nextMessage();
        assert.equal(first.attrs.id, "off-1");
        assert.equal(body(first), "see you at 6", "the archive's corrected text");
        assert.ok(first.getChild("delay", NS.delay));
        const second = await b.nextMessage();
        assert.equal(second.attrs.id, "off-fix");
        assert.equal(second.getChild("replace", ENS.correct)?.attrs.id, "off-1");
        assert.ok(second.getChild("delay", NS.delay));
    } finally {
        await stopAll(a, b);
    }
});

test("MAM returns the corrected original and the correction with <replace id/>", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    try {
        await a.send(chat(b.bare, "teh plan", "mam-1"));
        await b.nextMessage("teh plan");
        await a.send(correction(b.bare, "the plan", "mam-fix", "mam-1"));
        await b.nextMessage("the plan");
        await archiveId(a.bare, "mam-fix");
        for (const who of [a, b]) {
            const page = await mam(who, { rsm: { max: 10 } });
            const msgs = page.results.map((r) => r.message);
            assert.equal(msgs.length, 2);
            assert.equal(msgs[0].attrs.id, "mam-1");
            assert.equal(body(msgs[0]), "the plan", "the original's place holds the corrected text");
            assert.equal(msgs[0].getChild("replace", ENS.correct), undefined);
            assert.equal(msgs[1].attrs.id, "mam-fix");
            assert.equal(msgs[1].getChild("replace", ENS.correct)?.attrs.id, "mam-1");
        }
    } finally {
        await stopAll(a, b);
    }
});

test("in a room: live to every occupant, at catch-up for a member who was away, and in the room's MAM", SLOW, async () => {
    const a = await online(srv, uniqueUser("alice"));
    let b = await online(srv, uniqueUser("bob"));
    const room = newRoom();
    try {
        await joinFully(a, room);
        await joinFully(b, room);
        await say(a, room, "first draft", "r-orig");
        await b.nextMessage("first draft");
        await a.send(correction(room, "final text", "r-fix", "r-orig", "groupchat"));
        const live = await b.nextMessage("final text");
        assert.equal(live.getChild("replace", ENS.correct)?.attrs.id, "r-orig");
        assert.equal(live.attrs.from, `${room}/${a.username}`);
        await a.nextMessage("final text"); // the sender's reflection
        await waitForSql(
            "SELECT p.delivered_id >= (SELECT max(id) FROM messages WHERE room = r.jid) FROM room_positions p " +
                "JOIN rooms r ON r.id = p.room_id WHERE r.jid = :'jid' AND p.username = :'u'",
            { jid: room, u: b.username },
            (r) => r.length === 1 && r[0][0] === "t",
            "bob caught up",
        );
        // bob away: another message and its correction
        await leave(b, room);
        await say(a, room, "meeting at 3", "r-2");
        await a.send(correction(room, "meeting at 4", "r-2-fix", "r-2", "groupchat"));
        await a.nextMessage("meeting at 4");
        await b.stop();
        b = await online(srv, b.username);
        const j = await joinFully(b, room);
        assert.deepEqual(j.history.map(body), ["meeting at 4", "meeting at 4"]);
        assert.equal(j.history[0].attrs.id, "r-2");
        assert.equal(j.history[1].getChild("replace", ENS.correct)?.attrs.id, "r-2");
        const page = await mam(b, { to: room, rsm: { max: 10 } });
        const msgs = page.results.map((r) => r.message);
        assert.deepEqual(msgs.map((m) => m.attrs.id), ["r-orig", "r-fix", "r-2", "r-2-fix"]);
        assert.equal(body(msgs[0]), "final text");
        assert.equal(msgs[1].getChild("replace", ENS.correct)?.attrs.id, "r-orig");
        assert.ok(stanzaId(live));
    } finally {
        await stopAll(a, b);
    }
});

stopsCleanly(srv);
