// XEP-0490 Message Displayed Synchronization through the user's own PEP:
// a displayed position published on one device moves the read position the
// server keeps (so the unread counts of the admin API's GET /users/{u}
// follow) and reaches the user's other devices; the node's items are read
// back from those positions, so an XEP-0333 marker shows there too; a
// stanza-id of another conversation changes nothing.
import { test } from "node:test";
import assert from "node:assert/strict";

import { T, xml, useServer, stopsCleanly, online, uniqueUser, stopAll, NS } from "./lib/harness.mjs";
import { api } from "../api/lib/api.mjs";
import { newRoom, joinFully, say, iq, condition, stanzaId } from "./lib/rooms.mjs";
import { MARKERS } from "./lib/roster.mjs";

const srv = useServer();

const PUBSUB = "http://jabber.org/protocol/pubsub";
const EVENT = "http://jabber.org/protocol/pubsub#event";
const MDS = "urn:xmpp:mds:displayed:0";
const DATA = "jabber:x:data";

/** XEP-0490 section 4's publish-options. */
function options() {
    const f = (v, value) => xml("field", { var: v }, xml("value", {}, value));
    return xml(
        "publish-options",
        {},
        xml(
            "x",
            { xmlns: DATA, type: "submit" },
            f("FORM_TYPE", `${PUBSUB}#publish-options`),
            f("pubsub#persist_items", "true"),
            f("pubsub#max_items", "max"),
            f("pubsub#send_last_published_item", "never"),
            f("pubsub#access_model", "whitelist"),
        ),
    );
}

function displayed(conversation, sid) {
    return xml(
        "iq",
        { type: "set" },
        xml(
            "pubsub",
            { xmlns: PUBSUB },
            xml(
                "publish",
                { node: MDS },
                xml(
                    "item",
                    { id: conversation },
                    xml("displayed", { xmlns: MDS }, xml("stanza-id", { xmlns: NS.sid, id: sid.id, by: sid.by })),
                ),
            ),
            options(),
        ),
    );
}

async function positions(c) {
    const res = await c.iq(xml("iq", { type: "get" }, xml("pubsub", { xmlns: PUBSUB }, xml("items", { node: MDS }))));
    const items = res.getChild("pubsub", PUBSUB).getChild("items").getChildren("item");
    return new Map(
        items.map((i) => {
            const s = i.getChild("displayed", MDS).getChild("stanza-id", NS.sid);
            return [i.attrs.id, { id: s.attrs.id, by: s.attrs.by }];
        }),
    );
}

async function unread(username) {
    const res = await api(srv, "GET", `/api/v1/users/${username}`);
    assert.equal(res.status, 200, res.text);
    return res.json.unread;
}

/** Polls the admin API until `check(unread)` holds (the store commits
 * after the iq's answer is built, and the API reads its own connection). */
async function unreadUntil(username, check, what, ms = 5_000) {
    const end = Date.now() + ms;
    let last;
    while (Date.now() < end) {
        last = await unread(username);
        if (check(last)) return last;
        await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${what}: unread counts are ${JSON.stringify(last)}`);
}

function mdsEvent(conversation) {
    return (el) =>
        el.is("message") &&
        el.getChild("event", EVENT)?.getChild("items")?.attrs.node === MDS &&
        el.getChild("event", EVENT).getChild("items").getChild("item")?.attrs.id === conversation;
}

function chat(to, body) {
    return xml("message", { type: "chat", to, id: `m-${body}` }, xml("body", {}, body), xml("markable", { xmlns: MARKERS }));
}

test("displayed on one device clears the unread count and reaches the other device", T, async () => {
    const user = uniqueUser("reader");
    const laptop = await online(srv, user, { resource: "laptop" });
    const phone = await online(srv, user, { resource: "phone" });
    const bob = await online(srv, uniqueUser("bob"));
    try {
        const sids = [];
        for (const n of [1, 2, 3]) {
            await bob.send(chat(laptop.bare, `d${n}`));
            const m = await laptop.nextMessage(`d${n}`);
            await phone.nextMessage(`d${n}`);
            const s = stanzaId(m);
            assert.equal(s.attrs.by, laptop.bare);
            sids.push({ id: s.attrs.id, by: s.attrs.by });
        }
        await unreadUntil(user, (u) => u.peers[0]?.unread === 3, "three unread");

        // the laptop displayed up to the second: one left, on every device
        const res = await laptop.iq(displayed(bob.bare, sids[1]));
        assert.equal(res.getChild("pubsub", PUBSUB).getChild("publish").attrs.node, MDS);
        const ev = await phone.next(mdsEvent(bob.bare), "the phone's MDS notification");
        assert.equal(ev.attrs.from, phone.bare);
        const got = ev.getChild("event", EVENT).getChild("items").getChild("item").getChild("displayed", MDS);
        assert.equal(got.getChild("stanza-id", NS.sid).attrs.id, sids[1].id);
        let u = await unreadUntil(user, (x) => x.peers[0]?.unread === 1, "one unread");
        assert.deepEqual(u.peers, [{ peer: bob.bare, unread: 1 }]);

        // the phone reads the rest: nothing unread; its position is the node's item
        await phone.iq(displayed(bob.bare, sids[2]));
        await laptop.next(mdsEvent(bob.bare), "the laptop's MDS notification");
        u = await unreadUntil(user, (x) => x.peers.length === 0, "nothing unread");
        assert.deepEqual((await positions(laptop)).get(bob.bare), sids[2]);

        // an older position does not bring anything back
        await laptop.iq(displayed(bob.bare, sids[0]));
        await phone.sync();
        assert.deepEqual((await unread(user)).peers, []);
        assert.deepEqual((await positions(phone)).get(bob.bare), sids[2]);
    } finally {
        await stopAll(laptop, phone, bob);
    }
});

test("a room's displayed position moves the member's room position", T, async () => {
    const owner = await online(srv, uniqueUser("rowner"));
    const user = uniqueUser("rreader");
    const a = await online(srv, user, { resource: "a" });
    const b = await online(srv, user, { resource: "b" });
    const room = newRoom();
    try {
        await joinFully(owner, room);
        await joinFully(a, room);
        let last;
        for (const n of [1, 2]) {
            await say(owner, room, `r${n}`);
            last = await a.next((el) => el.is("message") && el.getChildText("body") === `r${n}`, `room message r${n}`);
        }
        const s = stanzaId(last);
        assert.equal(s.attrs.by, room);
        // the member's sessions saw them; nothing displayed yet
        const roomUnread = (x) => x.rooms.find((r) => r.jid === room)?.unread;
        await unreadUntil(user, (x) => roomUnread(x) === 2, "two unread in the room");
        await b.iq(displayed(room, { id: s.attrs.id, by: room }));
        await a.next(mdsEvent(room), "the other device's notification");
        await unreadUntil(user, (x) => roomUnread(x) === 0, "the room read");
        assert.deepEqual((await positions(a)).get(room), { id: s.attrs.id, by: room });
    } finally {
        await stopAll(owner, a, b);
    }
});

test("an XEP-0333 marker shows in the MDS node too", T, async () => {
    const user = uniqueUser("marker");
    const c = await online(srv, user);
    const bob = await online(srv, uniqueUser("bob"));
    try {
        await bob.send(chat(c.bare, "mk"));
        const m = await c.nextMessage("mk");
        await c.send(xml("message", { type: "chat", to: bob.bare }, xml("displayed", { xmlns: MARKERS, id: "m-mk" })));
        await bob.next((el) => el.getChild("displayed", MARKERS), "the marker");
        const end = Date.now() + 5_000;
        let pos;
        while (Date.now() < end && !(pos = (await positions(c)).get(bob.bare))) await c.sync();
        assert.deepEqual(pos, { id: stanzaId(m).attrs.id, by: c.bare });
    } finally {
        await stopAll(c, bob);
    }
});

test("bad input: another conversation's stanza-id, a bad payload, a retraction: refused, nothing read", T, async () => {
    const user = uniqueUser("mdsbad");
    const c = await online(srv, user);
    const bob = await online(srv, uniqueUser("bob"));
    const eve = await online(srv, uniqueUser("eve"));
    try {
        await bob.send(chat(c.bare, "keep"));
        const m = await c.nextMessage("keep");
        const sid = { id: stanzaId(m).attrs.id, by: c.bare };
        await eve.send(chat(bob.bare, "theirs"));
        const theirs = stanzaId(await bob.nextMessage("theirs"));
        await unreadUntil(user, (x) => x.peers[0]?.unread === 1, "one unread");
        // bob's message, filed under eve; eve's message to bob; by someone else's archive
        for (const [conv, s] of [
            [eve.bare, sid],
            [bob.bare, { id: theirs.attrs.id, by: c.bare }],
            [bob.bare, { id: sid.id, by: bob.bare }],
            [bob.bare, { id: "not-a-number", by: c.bare }],
        ]) {
            assert.equal(condition(await iq(c, displayed(conv, s))), "bad-request", JSON.stringify([conv, s]));
        }
        const noSid = xml(
            "iq",
            { type: "set" },
            xml(
                "pubsub",
                { xmlns: PUBSUB },
                xml("publish", { node: MDS }, xml("item", { id: bob.bare }, xml("displayed", { xmlns: MDS }))),
            ),
        );
        assert.equal(condition(await iq(c, noSid)), "bad-request");
        const retract = xml(
            "iq",
            { type: "set" },
            xml("pubsub", { xmlns: PUBSUB }, xml("retract", { node: MDS }, xml("item", { id: bob.bare }))),
        );
        assert.equal(condition(await iq(c, retract)), "feature-not-implemented");
        assert.deepEqual((await unread(user)).peers, [{ peer: bob.bare, unread: 1 }]);
        assert.equal((await positions(c)).size, 0);
    } finally {
        await stopAll(c, bob, eve);
    }
});

stopsCleanly(srv);
