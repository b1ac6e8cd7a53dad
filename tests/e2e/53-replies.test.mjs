// XEP-0461 replies: a reply is delivered and archived with its <reply/>, and
// the archive keeps the reference resolved to the message replied to (so
// the admin API can show threads), direct and in rooms; a reference to a
// message the archive does not have is kept as given, unresolved.
import { test } from "node:test";
import assert from "node:assert/strict";

import { T, useServer, stopsCleanly, online, uniqueUser, sql, waitForSql, stopAll } from "./lib/harness.mjs";
import { newRoom, joinFully, say, mam, stanzaId } from "./lib/rooms.mjs";
import { ENS, chat, reply, archiveId } from "./lib/edits.mjs";

const srv = useServer();

test("a direct reply carries its reference live and in MAM; the archive resolves it to the original", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    try {
        await a.send(chat(b.bare, "who has the keys?", "q-1"));
        await b.nextMessage("who has the keys?");
        await b.send(reply(a.bare, "I do", "ans-1", "q-1", a.jid.toString()));
        const live = await a.nextMessage("I do");
        assert.equal(live.getChild("reply", ENS.reply)?.attrs.id, "q-1");
        const q = await archiveId(a.bare, "q-1");
        const ans = await archiveId(b.bare, "ans-1");
        const rows = await waitForSql(
            "SELECT reply_to_id, reply_to_ref, reply_to_jid FROM message_replies WHERE message_id = :'id'",
            { id: ans },
            (r) => r.length === 1,
            "the reply's reference",
        );
        assert.deepEqual(rows, [[q, "q-1", a.jid.toString()]]);
        const page = await mam(a, { rsm: { max: 10 } });
        const r = page.results.find((x) => x.id === ans).message;
        assert.equal(r.getChild("reply", ENS.reply)?.attrs.id, "q-1");
        // a reply to an id the archive does not have: kept, unresolved
        await b.send(reply(a.bare, "what?", "ans-2", "no-such-id", a.bare));
        await a.nextMessage("what?");
        const ans2 = await archiveId(b.bare, "ans-2");
        assert.deepEqual(
            await sql("SELECT reply_to_id, reply_to_ref FROM message_replies WHERE message_id = :'id'", { id: ans2 }),
            [["", "no-such-id"]],
        );
    } finally {
        await stopAll(a, b);
    }
});

test("a room reply names the room's stanza id; the archive links the thread", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    const room = newRoom();
    try {
        await joinFully(a, room);
        await joinFully(b, room);
        const q = await say(a, room, "standup in 5?", "rq-1");
        const sid = stanzaId(q).attrs.id;
        await b.nextMessage("standup in 5?");
        await b.send(reply(room, "yes", "ra-1", sid, `${room}/${a.username}`, "groupchat"));
        const live = await a.nextMessage("yes");
        assert.equal(live.getChild("reply", ENS.reply)?.attrs.id, sid);
        const ans = stanzaId(live).attrs.id;
        await waitForSql(
            "SELECT reply_to_id FROM message_replies WHERE message_id = :'id'",
            { id: ans },
            (r) => r.length === 1 && r[0][0] === sid,
            "the thread link",
        );
    } finally {
        await stopAll(a, b);
    }
});

stopsCleanly(srv);
