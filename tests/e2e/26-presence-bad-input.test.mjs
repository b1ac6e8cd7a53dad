// Bad input to rosters, subscriptions and the blocklist: each gets the
// stanza error the RFC or XEP names, and the session stays up.
import { test } from "node:test";
import assert from "node:assert/strict";

import { T, NS, xml, useServer, stopsCleanly, connect, online, uniqueUser, stopAll, Server, bareJid } from "./lib/harness.mjs";
import { ROSTER, BLOCKING, rosterSet } from "./lib/roster.mjs";

const srv = useServer();

/** The error condition an iq is answered with. */
async function iqError(c, el) {
    try {
        const res = await c.iq(el);
        throw new Error(`expected an error, got ${res.toString()}`);
    } catch (err) {
        if (!err.condition) throw err;
        return err.condition;
    }
}

/** The condition of the presence error answering the presence with `id`. */
async function presenceError(c, to, type, id) {
    await c.send(xml("presence", { to, type, id }));
    const e = await c.next((el) => el.is("presence") && el.attrs.type === "error" && el.attrs.id === id, `presence error ${id}`);
    const err = e.getChild("error");
    const cond = err.children.find((x) => typeof x !== "string" && x.getNS() === NS.stanzas);
    return [err.attrs.type, cond.getName()];
}

function rosterQuery(type, to, ...itemsXml) {
    const attrs = { type };
    if (to) attrs.to = to;
    return xml("iq", attrs, xml("query", { xmlns: ROSTER }, ...itemsXml));
}

test("a subscription to oneself is not-allowed; to an invalid JID jid-malformed", T, async () => {
    const c = await online(srv, uniqueUser("alice"));
    try {
        assert.deepEqual(await presenceError(c, c.bare, "subscribe", "s1"), ["cancel", "not-allowed"]);
        assert.deepEqual(await presenceError(c, c.jid.toString(), "subscribed", "s2"), ["cancel", "not-allowed"]);
        assert.deepEqual(await presenceError(c, "a@b@c", "subscribe", "s3"), ["modify", "jid-malformed"]);
        assert.deepEqual(await presenceError(c, "bad user@localhost", "subscribe", "s4"), ["modify", "jid-malformed"]);
        await c.sync();
    } finally {
        await c.stop();
    }
});

test("the roster of another user is forbidden; one's own bare JID as an item not-allowed", T, async () => {
    const c = await connect(srv, uniqueUser("alice"));
    try {
        const other = bareJid(uniqueUser("bob"));
        assert.equal(await iqError(c, rosterQuery("set", other, xml("item", { jid: bareJid(uniqueUser("x")) }))), "forbidden");
        assert.equal(await iqError(c, rosterQuery("get", other)), "forbidden");
        assert.equal(await iqError(c, rosterQuery("set", undefined, xml("item", { jid: c.bare }))), "not-allowed");
        await c.sync();
    } finally {
        await c.stop();
    }
});

test("malformed roster sets: two items, no JID, a bad JID, a full JID, duplicate or long groups", T, async () => {
    const c = await connect(srv, uniqueUser("alice"));
    try {
        const a = bareJid(uniqueUser("a"));
        const b = bareJid(uniqueUser("b"));
        assert.equal(await iqError(c, rosterQuery("set", undefined, xml("item", { jid: a }), xml("item", { jid: b }))), "bad-request");
        assert.equal(await iqError(c, rosterQuery("set", undefined, xml("item", { name: "no jid" }))), "bad-request");
        assert.equal(await iqError(c, rosterQuery("set", undefined, xml("item", { jid: "x@y@z" }))), "jid-malformed");
        assert.equal(await iqError(c, rosterQuery("set", undefined, xml("item", { jid: `${a}/phone` }))), "bad-request");
        assert.equal(
            await iqError(c, rosterQuery("set", undefined, xml("item", { jid: a }, xml("group", {}, "G"), xml("group", {}, "G")))),
            "bad-request",
        );
        assert.equal(
            await iqError(c, rosterQuery("set", undefined, xml("item", { jid: a }, xml("group", {}, "g".repeat(1100))))),
            "not-acceptable",
        );
        assert.equal(await iqError(c, rosterQuery("set", undefined, xml("item", { jid: a, name: "n".repeat(1100) }))), "not-acceptable");
        await c.sync();
    } finally {
        await c.stop();
    }
});

test("PARLEY_MAX_ROSTER_ITEMS: a roster set past the limit is resource-constraint", T, async () => {
    const small = new Server({ env: { PARLEY_MAX_ROSTER_ITEMS: "3" } });
    await small.start();
    const c = await connect(small, uniqueUser("alice"));
    try {
        const jids = [1, 2, 3, 4].map(() => bareJid(uniqueUser("c")));
        for (const j of jids.slice(0, 3)) await rosterSet(c, j);
        await assert.rejects(rosterSet(c, jids[3]), (err) => err.condition === "resource-constraint");
        await rosterSet(c, jids[0], { name: "still changes" });
        await c.sync();
    } finally {
        await c.stop();
        await small.stop();
    }
});

test("blocklist: an item that is not a JID is jid-malformed, a block of nothing bad-request", T, async () => {
    const c = await connect(srv, uniqueUser("alice"));
    try {
        const block = (...items) => xml("iq", { type: "set" }, xml("block", { xmlns: BLOCKING }, ...items));
        assert.equal(await iqError(c, block(xml("item", { jid: "not a jid@@" }))), "jid-malformed");
        assert.equal(await iqError(c, block(xml("item", {}))), "bad-request");
        assert.equal(await iqError(c, block()), "bad-request");
        assert.equal(
            await iqError(c, xml("iq", { type: "get" }, xml("block", { xmlns: BLOCKING }))),
            "bad-request",
            "a get of something that is not the list",
        );
        await c.sync();
    } finally {
        await c.stop();
    }
});

stopsCleanly(srv);
