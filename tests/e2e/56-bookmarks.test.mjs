// XEP-0402 bookmarks through the minimal XEP-0163 PEP on the user's own
// bare JID: advertised on the account (identity pubsub/pep,
// urn:xmpp:bookmarks:1#compat), published with XEP-0402's publish-options,
// kept in PostgreSQL, synced to the user's other resources by
// notifications, retracted; the rooms the user is a member of offered with
// autojoin; every unsupported node or operation refused with the XEP-0060
// error and nothing changed.
import { test } from "node:test";
import assert from "node:assert/strict";

import { T, xml, useServer, stopsCleanly, online, uniqueUser, stopAll, sql, DOMAIN, NS } from "./lib/harness.mjs";
import { MUC, newRoom, iq, condition, joinFully } from "./lib/rooms.mjs";

const srv = useServer();

const PUBSUB = "http://jabber.org/protocol/pubsub";
const EVENT = "http://jabber.org/protocol/pubsub#event";
const ERRORS = "http://jabber.org/protocol/pubsub#errors";
const BOOKMARKS = "urn:xmpp:bookmarks:1";
const DATA = "jabber:x:data";

function field(v, value) {
    return xml("field", { var: v }, xml("value", {}, value));
}

/** XEP-0402 section 3.2's publish-options, with any field changed. */
function options(over = {}) {
    const want = {
        "pubsub#persist_items": "true",
        "pubsub#max_items": "max",
        "pubsub#send_last_published_item": "never",
        "pubsub#access_model": "whitelist",
        ...over,
    };
    return xml(
        "publish-options",
        {},
        xml(
            "x",
            { xmlns: DATA, type: "submit" },
            xml("field", { var: "FORM_TYPE", type: "hidden" }, xml("value", {}, `${PUBSUB}#publish-options`)),
            ...Object.entries(want).map(([k, v]) => field(k, v)),
        ),
    );
}

function conference(room, { name, autojoin = "true", nick } = {}) {
    return xml("conference", { xmlns: BOOKMARKS, name, autojoin }, nick ? xml("nick", {}, nick) : null);
}

function publish(room, payload, { node = BOOKMARKS, opts = options() } = {}) {
    return xml(
        "iq",
        { type: "set", id: `pub-${Math.random().toString(16).slice(2)}` },
        xml("pubsub", { xmlns: PUBSUB }, xml("publish", { node }, xml("item", { id: room }, payload)), opts),
    );
}

function itemsGet(node = BOOKMARKS, ids = []) {
    return xml(
        "iq",
        { type: "get" },
        xml("pubsub", { xmlns: PUBSUB }, xml("items", { node }, ...ids.map((id) => xml("item", { id })))),
    );
}

function retract(room, node = BOOKMARKS) {
    return xml(
        "iq",
        { type: "set" },
        xml("pubsub", { xmlns: PUBSUB }, xml("retract", { node, notify: "true" }, xml("item", { id: room }))),
    );
}

async function bookmarks(c) {
    const res = await c.iq(itemsGet());
    const items = res.getChild("pubsub", PUBSUB).getChild("items");
    assert.equal(items.attrs.node, BOOKMARKS);
    return new Map(items.getChildren("item").map((i) => [i.attrs.id, i.getChild("conference", BOOKMARKS)]));
}

function event(node) {
    return (el) =>
        el.is("message") && el.getChild("event", EVENT)?.getChild("items")?.attrs.node === node;
}

async function two(user) {
    const a = await online(srv, user, { resource: "laptop" });
    const b = await online(srv, user, { resource: "phone" });
    return [a, b];
}

test("the account advertises PEP and bookmarks:1#compat", T, async () => {
    const c = await online(srv, uniqueUser("disco"));
    try {
        const res = await c.iq(xml("iq", { type: "get", to: c.bare }, xml("query", { xmlns: NS.discoInfo })));
        const q = res.getChild("query", NS.discoInfo);
        const ids = q.getChildren("identity").map((i) => `${i.attrs.category}/${i.attrs.type}`);
        assert.ok(ids.includes("pubsub/pep"), ids.join(", "));
        assert.ok(ids.includes("account/registered"), ids.join(", "));
        const features = q.getChildren("feature").map((f) => f.attrs.var);
        for (const f of [`${BOOKMARKS}#compat`, `${PUBSUB}#publish`, `${PUBSUB}#publish-options`]) {
            assert.ok(features.includes(f), `${f} missing from ${features.join(", ")}`);
        }
        // nothing of XEP-0060 that is not implemented
        for (const f of [`${PUBSUB}#subscribe`, `${PUBSUB}#auto-create`, `${PUBSUB}#config-node`]) {
            assert.ok(!features.includes(f), `${f} is advertised`);
        }
    } finally {
        await stopAll(c);
    }
});

test("a bookmark published on one resource reaches the other, survives, and is retracted on both", T, async () => {
    const user = uniqueUser("bm");
    const [a, b] = await two(user);
    const room = `${uniqueUser("r")}@${MUC}`;
    try {
        assert.equal((await bookmarks(a)).size, 0);
        const res = await a.iq(publish(room, conference(room, { name: "Design", nick: "ann" })));
        const pub = res.getChild("pubsub", PUBSUB).getChild("publish");
        assert.equal(pub.attrs.node, BOOKMARKS);
        assert.equal(pub.getChild("item").attrs.id, room);

        // the other resource is notified with the item (and so is the publisher)
        for (const c of [b, a]) {
            const ev = await c.next(event(BOOKMARKS), "bookmark notification");
            assert.equal(ev.attrs.from, c.bare);
            const item = ev.getChild("event", EVENT).getChild("items").getChild("item");
            assert.equal(item.attrs.id, room);
            const conf = item.getChild("conference", BOOKMARKS);
            assert.equal(conf.attrs.name, "Design");
            assert.equal(conf.getChildText("nick"), "ann");
        }
        const rows = await sql("SELECT item_id FROM pep_items WHERE owner = :'u'", { u: user });
        assert.deepEqual(rows, [[room]]);

        // a new device (after both left) gets it from the store
        await stopAll(a, b);
        const c = await online(srv, user, { resource: "tablet" });
        try {
            const got = await bookmarks(c);
            assert.equal(got.get(room)?.attrs.name, "Design");
            // a second publish replaces it
            await c.iq(publish(room, conference(room, { name: "Design team", autojoin: "false" })));
            assert.equal((await bookmarks(c)).get(room)?.attrs.name, "Design team");
            const d = await online(srv, user, { resource: "desk" });
            try {
                const res2 = await c.iq(retract(room));
                assert.equal(res2.attrs.type, "result");
                const ev = await d.next(
                    (el) => event(BOOKMARKS)(el) && el.getChild("event", EVENT).getChild("items").getChild("retract"),
                    "retraction notification",
                );
                assert.equal(ev.getChild("event", EVENT).getChild("items").getChild("retract").attrs.id, room);
                assert.equal((await bookmarks(d)).size, 0);
                // retracting it again: item-not-found
                assert.equal(condition(await iq(c, retract(room))), "item-not-found");
            } finally {
                await stopAll(d);
            }
        } finally {
            await stopAll(c);
        }
    } finally {
        await stopAll(a, b);
    }
});

test("the rooms a user is a member of are offered as bookmarks with autojoin", T, async () => {
    const owner = await online(srv, uniqueUser("own"));
    const user = uniqueUser("member");
    const rooms = [newRoom(), newRoom()];
    try {
        for (const r of rooms) {
            await joinFully(owner, r);
            const ok = await owner.iq(
                xml(
                    "iq",
                    { type: "set", to: r },
                    xml(
                        "query",
                        { xmlns: "http://jabber.org/protocol/muc#admin" },
                        xml("item", { jid: `${user}@${DOMAIN}`, affiliation: "member" }),
                    ),
                ),
            );
            assert.equal(ok.attrs.type, "result");
        }
        // a new device of the member opens every room of the team
        const c = await online(srv, user);
        try {
            const got = await bookmarks(c);
            for (const r of rooms) {
                const conf = got.get(r);
                assert.ok(conf, `${r} offered: ${[...got.keys()].join(", ")}`);
                assert.equal(conf.attrs.autojoin, "true");
                assert.equal(conf.getChildText("nick"), user);
            }
            // one of them asked by id
            const one = await c.iq(itemsGet(BOOKMARKS, [rooms[1]]));
            const items = one.getChild("pubsub", PUBSUB).getChild("items").getChildren("item");
            assert.deepEqual(
                items.map((i) => i.attrs.id),
                [rooms[1]],
            );
            // the user's own bookmark of a member room wins over the offer
            await c.iq(publish(rooms[0], conference(rooms[0], { name: "mine", autojoin: "false" })));
            const mine = (await bookmarks(c)).get(rooms[0]);
            assert.equal(mine.attrs.autojoin, "false");
            // a retracted offer stays away
            await c.iq(retract(rooms[1]));
            const after = await bookmarks(c);
            assert.ok(!after.has(rooms[1]), "retracted offer is gone");
            assert.ok(after.has(rooms[0]));
            // the owner's own rooms are offered to the owner too
            const theirs = await bookmarks(owner);
            for (const r of rooms) assert.ok(theirs.has(r), `${r} offered to its owner`);
        } finally {
            await stopAll(c);
        }
    } finally {
        await stopAll(owner);
    }
});

test("bad input: unsupported nodes and operations, bad payloads, unmet options; nothing stored", T, async () => {
    const user = uniqueUser("bad");
    const c = await online(srv, user);
    const room = `${uniqueUser("r")}@${MUC}`;
    // @xmpp/client's StanzaError: the <error/> element, its application condition
    const pubsubError = (x, cond) => x.application?.is(cond, ERRORS) || x.element?.getChild(cond, ERRORS);
    try {
        // a node this PEP does not have (legacy XEP-0048, anything else)
        for (const node of ["storage:bookmarks", "urn:xmpp:avatar:data", "eu.siacs.conversations.axolotl.devicelist"]) {
            const err = await iq(c, publish(room, xml("storage", { xmlns: "storage:bookmarks" }), { node }));
            assert.equal(condition(err), "feature-not-implemented", node);
            assert.ok(pubsubError(err, "unsupported"), "with the pubsub#errors condition");
            assert.equal(condition(await iq(c, itemsGet(node))), "item-not-found", node);
        }
        // operations it does not implement
        const sub = await iq(
            c,
            xml("iq", { type: "set" }, xml("pubsub", { xmlns: PUBSUB }, xml("subscribe", { node: BOOKMARKS, jid: c.bare }))),
        );
        assert.equal(condition(sub), "feature-not-implemented");
        // options it cannot keep
        for (const over of [
            { "pubsub#access_model": "open" },
            { "pubsub#persist_items": "false" },
            { "pubsub#max_items": "1" },
            { "pubsub#notify_retract": "true" },
        ]) {
            const err = await iq(c, publish(room, conference(room), { opts: options(over) }));
            assert.equal(condition(err), "conflict", JSON.stringify(over));
            assert.ok(pubsubError(err, "precondition-not-met"), JSON.stringify(over));
        }
        // payloads that are not a bookmark, ids that are not a room's JID
        assert.equal(condition(await iq(c, publish(room, xml("conference", { xmlns: "urn:xmpp:other" })))), "bad-request");
        assert.equal(condition(await iq(c, publish("not a jid@@", conference(room)))), "bad-request");
        assert.equal(condition(await iq(c, publish(`${room}/res`, conference(room)))), "bad-request");
        const two = xml(
            "iq",
            { type: "set" },
            xml(
                "pubsub",
                { xmlns: PUBSUB },
                xml("publish", { node: BOOKMARKS }, xml("item", { id: room }, conference(room), conference(room))),
            ),
        );
        assert.equal(condition(await iq(c, two)), "bad-request");
        const big = conference(room, { name: "x".repeat(9000) });
        assert.equal(condition(await iq(c, publish(room, big))), "not-acceptable");
        // someone else's PEP is not reachable
        const other = await online(srv, uniqueUser("other"));
        try {
            const err = await iq(other, xml("iq", { type: "get", to: c.bare }, xml("pubsub", { xmlns: PUBSUB }, xml("items", { node: BOOKMARKS }))));
            assert.equal(condition(err), "service-unavailable");
        } finally {
            await stopAll(other);
        }
        const rows = await sql("SELECT count(*) FROM pep_items WHERE owner = :'u'", { u: user });
        assert.equal(rows[0][0], "0");
        // and the session is still fine
        await c.sync();
        assert.equal((await bookmarks(c)).size, 0);
    } finally {
        await stopAll(c);
    }
});

stopsCleanly(srv);
