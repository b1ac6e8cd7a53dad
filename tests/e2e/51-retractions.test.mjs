// XEP-0424 Message Retraction and XEP-0425 moderation: the sender retracts
// their own message (live and offline recipients get the retraction); the
// archive keeps a tombstone (who, when) in place of the body and MAM
// returns it; in a room an owner retracts anyone's message with
// <moderate/> (advertised in the room's disco), every occupant gets the
// room's retraction, the audit log records it, and a member is refused.
import { test } from "node:test";
import assert from "node:assert/strict";

import { T, SLOW, NS, xml, useServer, stopsCleanly, online, uniqueUser, sql, waitForSql, stopAll } from "./lib/harness.mjs";
import { newRoom, joinFully, say, mam, iq, condition, stanzaId } from "./lib/rooms.mjs";
import { ENS, chat, retraction, moderate, archiveId, nextEdit } from "./lib/edits.mjs";

const srv = useServer();

test("the sender retracts: the recipient gets the retraction, the archive a tombstone, MAM returns it", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    try {
        await a.send(chat(b.bare, "oops, the password is hunter2", "secret-1"));
        await b.nextMessage("oops, the password is hunter2");
        await a.send(retraction(b.bare, "ret-1", "secret-1"));
        const r = await nextEdit(b, "retract", ENS.retract, "secret-1");
        assert.equal(r.attrs.from.split("/")[0], a.bare);
        const id = await archiveId(a.bare, "secret-1");
        const rows = await waitForSql(
            "SELECT t.retracted_by, t.moderated, m.body IS NULL, position('hunter2' in m.stanza) " +
                "FROM message_tombstones t JOIN messages m ON m.id = t.message_id WHERE t.message_id = :'id'",
            { id },
            (x) => x.length === 1,
            "a tombstone",
        );
        assert.deepEqual(rows, [[a.bare, "f", "t", "0"]], "who; the body and its text are gone");
        for (const who of [a, b]) {
            const page = await mam(who, { rsm: { max: 10 } });
            const msgs = page.results.map((x) => x.message);
            assert.equal(msgs.length, 2);
            assert.equal(msgs[0].attrs.id, "secret-1");
            assert.equal(msgs[0].getChild("body"), undefined, "no body in the tombstone");
            const t = msgs[0].getChild("retracted", ENS.retract);
            assert.ok(t, "the tombstone");
            assert.match(t.attrs.stamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
            assert.equal(msgs[1].getChild("retract", ENS.retract)?.attrs.id, "secret-1");
        }
        // the account advertises tombstones (XEP-0424 section 7)
        const info = await iq(a, xml("iq", { type: "get", to: a.bare }, xml("query", { xmlns: NS.discoInfo })));
        const vars = info.getChild("query").getChildren("feature").map((f) => f.attrs.var);
        assert.ok(vars.includes(ENS.retract) && vars.includes(ENS.tombstone), vars.join(" "));
    } finally {
        await stopAll(a, b);
    }
});

test("offline: a retraction reaches the recipient at login, after the tombstone in the original's place", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const bName = uniqueUser("bob");
    let b;
    try {
        const to = `${bName}@localhost`;
        await a.send(chat(to, "wrong chat", "off-r1"));
        await a.send(retraction(to, "off-ret", "off-r1"));
        await waitForSql(
            "SELECT count(*) FROM message_tombstones t JOIN messages m ON m.id = t.message_id WHERE m.sender = :'s'",
            { s: a.bare },
            (r) => r[0][0] === "1",
            "the tombstone",
        );
        b = await online(srv, bName);
        const first = await b.next((el) => el.is("message") && el.attrs.id === "off-r1", "the tombstone");
        assert.equal(first.getChild("body"), undefined);
        assert.ok(first.getChild("retracted", ENS.retract));
        const second = await nextEdit(b, "retract", ENS.retract, "off-r1");
        assert.ok(second.getChild("delay", NS.delay));
    } finally {
        await stopAll(a, b);
    }
});

test("in a room an owner moderates anyone's message; a member is refused; the audit log records it", SLOW, async () => {
    const owner = await online(srv, uniqueUser("owner"));
    const m = await online(srv, uniqueUser("member"));
    const other = await online(srv, uniqueUser("other"));
    const room = newRoom();
    try {
        await joinFully(owner, room); // the creator is the owner
        await joinFully(m, room);
        await joinFully(other, room);
        const info = await iq(m, xml("iq", { type: "get", to: room }, xml("query", { xmlns: NS.discoInfo })));
        const vars = info.getChild("query").getChildren("feature").map((f) => f.attrs.var);
        for (const v of [ENS.moderate, ENS.retract, ENS.correct, ENS.reactions, ENS.reply])
            assert.ok(vars.includes(v), `room disco has ${v}`);

        const spam = await say(other, room, "buy cheap watches", "spam-1");
        const sid = stanzaId(spam).attrs.id;
        await m.nextMessage("buy cheap watches");
        await owner.nextMessage("buy cheap watches");
        // a member may not moderate
        const refused = await iq(m, moderate(room, "mod-no", sid, "I do not like it"));
        assert.equal(condition(refused), "forbidden");
        assert.deepEqual(await sql("SELECT count(*) FROM message_tombstones WHERE message_id = :'id'", { id: sid }), [["0"]]);
        // the owner may
        const ok = await iq(owner, moderate(room, "mod-yes", sid, "spam"));
        assert.equal(ok.attrs?.type ?? "result", "result", ok.toString());
        for (const x of [owner, m, other]) {
            const r = await nextEdit(x, "retract", ENS.retract, sid);
            assert.equal(r.attrs.from, room, "from the room itself");
            const mod = r.getChild("retract", ENS.retract).getChild("moderated", ENS.moderate);
            assert.equal(mod?.attrs.by, `${room}/${owner.username}`);
            assert.equal(r.getChild("retract", ENS.retract).getChildText("reason"), "spam");
            assert.ok(stanzaId(r), "archived");
        }
        const t = await sql(
            "SELECT retracted_by, moderated, reason FROM message_tombstones WHERE message_id = :'id'",
            { id: sid },
        );
        assert.deepEqual(t, [[owner.bare, "t", "spam"]]);
        const audit = await sql(
            "SELECT actor, details->>'room', details->>'sender', details->>'reason' FROM admin_audit " +
                "WHERE action = 'room.message.moderate' AND target = :'id'",
            { id: sid },
        );
        assert.deepEqual(audit, [[owner.bare, room, other.bare, "spam"]]);
        // MAM: the tombstone says moderated, by whom, why
        const page = await mam(m, { to: room, rsm: { max: 10 } });
        const tomb = page.results.find((x) => x.id === sid).message;
        assert.equal(tomb.getChild("body"), undefined);
        const rt = tomb.getChild("retracted", ENS.retract);
        assert.equal(rt.getChild("moderated", ENS.moderate)?.attrs.by, `${room}/${owner.username}`);
        assert.equal(rt.getChildText("reason"), "spam");
        // moderating it again: it is gone already
        assert.equal(condition(await iq(owner, moderate(room, "mod-again", sid))), "item-not-found");
    } finally {
        await stopAll(owner, m, other);
    }
});

test("in a room a participant retracts their own message (by its room stanza id)", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    const room = newRoom();
    try {
        await joinFully(a, room);
        await joinFully(b, room);
        const mine = await say(b, room, "never mind", "nm-1");
        const sid = stanzaId(mine).attrs.id;
        await b.send(retraction(room, "nm-ret", sid, "groupchat"));
        const r = await nextEdit(a, "retract", ENS.retract, sid);
        assert.equal(r.attrs.from, `${room}/${b.username}`);
        await waitForSql(
            "SELECT retracted_by, moderated FROM message_tombstones WHERE message_id = :'id'",
            { id: sid },
            (x) => x.length === 1 && x[0][0] === b.bare && x[0][1] === "f",
            "the tombstone",
        );
    } finally {
        await stopAll(a, b);
    }
});

test("a member away when a message is moderated gets the room's retraction at catch-up; the room advertises its reaction limit", SLOW, async () => {
    const owner = await online(srv, uniqueUser("owner"));
    let m = await online(srv, uniqueUser("member"));
    const room = newRoom();
    try {
        await joinFully(owner, room);
        await joinFully(m, room);
        const info = await iq(m, xml("iq", { type: "get", to: room }, xml("query", { xmlns: NS.discoInfo })));
        const forms = info.getChild("query").getChildren("x", "jabber:x:data");
        const restrictions = forms.find((x) =>
            x.getChildren("field").some((f) => f.attrs.var === "FORM_TYPE" && f.getChildText("value") === `${ENS.reactions}:restrictions`),
        );
        assert.ok(restrictions, "XEP-0444 restrictions form");
        const max = restrictions.getChildren("field").find((f) => f.attrs.var === "max_reactions_per_user");
        assert.equal(max.getChildText("value"), "20");

        const said = await say(owner, room, "leaked link", "leak-1");
        const sid = stanzaId(said).attrs.id;
        await m.nextMessage("leaked link");
        await waitForSql(
            "SELECT p.delivered_id >= :'id' FROM room_positions p JOIN rooms r ON r.id = p.room_id " +
                "WHERE r.jid = :'jid' AND p.username = :'u'",
            { jid: room, u: m.username, id: sid },
            (r) => r.length === 1 && r[0][0] === "t",
            "the member has it",
        );
        await m.stop();
        assert.equal(condition(await iq(owner, moderate(room, "mod-away", sid, "oops"))), undefined);
        m = await online(srv, m.username);
        await joinFully(m, room);
        const r = await nextEdit(m, "retract", ENS.retract, sid);
        assert.equal(r.attrs.from, room);
        assert.ok(r.getChild("delay", NS.delay), "from the history");
        assert.equal(r.getChild("retract", ENS.retract).getChild("moderated", ENS.moderate)?.attrs.by, `${room}/${owner.username}`);
    } finally {
        await stopAll(owner, m);
    }
});

stopsCleanly(srv);
