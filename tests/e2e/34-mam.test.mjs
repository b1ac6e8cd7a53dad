// The archive of a user's direct messages (XEP-0313 urn:xmpp:mam:2 with
// XEP-0059 paging): paging forward and backward (25 messages, 10 a page:
// 10, 10, 5, complete only on the last), with/start/end, the #extended
// fields, XEP-0431 full text, preferences that stay 'always', the page cap,
// and someone else's archive refused.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
    T,
    SLOW,
    NS,
    xml,
    useServer,
    stopsCleanly,
    online,
    uniqueUser,
    waitForSql,
    stopAll,
} from "./lib/harness.mjs";
import { RNS, mam, iq, condition } from "./lib/rooms.mjs";

const srv = useServer();

function chat(to, body, id) {
    return xml("message", { type: "chat", to, id }, xml("body", {}, body));
}

/** alice and bob with n messages between them (alternating), all stored. */
async function conversation(n, prefix = "msg") {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    for (let i = 1; i <= n; i++) {
        const [from, to] = i % 2 ? [a, b] : [b, a];
        await from.send(chat(to.bare, `${prefix} ${i}`, `${prefix}-${i}`));
        await to.nextMessage(`${prefix} ${i}`);
    }
    await waitForSql(
        "SELECT count(*) FROM messages WHERE kind = 'chat' AND sender IN (:'a', :'b') AND recipient IN (:'a', :'b')",
        { a: a.bare, b: b.bare },
        (r) => r[0][0] === String(n),
        `${n} stored messages`,
    );
    return [a, b];
}

const bodies = (page) => page.results.map((r) => r.message.getChildText("body"));

test("25 messages, 10 a page forward: 10, 10, 5, complete only on the last", SLOW, async () => {
    const [a, b] = await conversation(25);
    try {
        const p1 = await mam(a, { rsm: { max: 10 } });
        assert.deepEqual(bodies(p1), Array.from({ length: 10 }, (_, i) => `msg ${i + 1}`));
        assert.equal(p1.complete, false);
        assert.equal(p1.first, p1.results[0].id);
        assert.equal(p1.last, p1.results[9].id);
        const p2 = await mam(a, { rsm: { max: 10, after: p1.last } });
        assert.deepEqual(bodies(p2), Array.from({ length: 10 }, (_, i) => `msg ${i + 11}`));
        assert.equal(p2.complete, false);
        const p3 = await mam(a, { rsm: { max: 10, after: p2.last } });
        assert.deepEqual(bodies(p3), Array.from({ length: 5 }, (_, i) => `msg ${i + 21}`));
        assert.equal(p3.complete, true);
        // each result: forwarded with a delay, the stored stanza, from the archive
        const r = p1.results[0];
        assert.equal(r.from, a.bare);
        assert.match(r.stamp, /^\d{4}-\d\d-\d\dT/);
        assert.equal(r.message.attrs.from.split("/")[0], a.bare);
        assert.equal(r.message.attrs.to, b.bare);
        // bob sees the same conversation in his archive
        const theirs = await mam(b, { rsm: { max: 50 } });
        assert.equal(theirs.results.length, 25);
        assert.equal(theirs.complete, true);
    } finally {
        await stopAll(a, b);
    }
});

test("paging backward from the end (before empty): 5, 10, 10 with complete at the start", SLOW, async () => {
    const [a, b] = await conversation(25);
    try {
        const p1 = await mam(a, { rsm: { max: 10, before: "" } });
        assert.deepEqual(bodies(p1), Array.from({ length: 10 }, (_, i) => `msg ${i + 16}`));
        assert.equal(p1.complete, false);
        const p2 = await mam(a, { rsm: { max: 10, before: p1.first } });
        assert.deepEqual(bodies(p2), Array.from({ length: 10 }, (_, i) => `msg ${i + 6}`));
        const p3 = await mam(a, { rsm: { max: 10, before: p2.first } });
        assert.deepEqual(bodies(p3), Array.from({ length: 5 }, (_, i) => `msg ${i + 1}`));
        assert.equal(p3.complete, true);
        // flip-page reverses a page's order
        const flipped = await mam(a, { rsm: { max: 3, before: "" }, flip: true });
        assert.deepEqual(bodies(flipped), ["msg 25", "msg 24", "msg 23"]);
    } finally {
        await stopAll(a, b);
    }
});

test("with narrows to one conversation; start and end to a time range", SLOW, async () => {
    const [a, b] = await conversation(4, "ab");
    const c = await online(srv, uniqueUser("carol"));
    try {
        await c.send(chat(a.bare, "from carol", "c1"));
        await a.nextMessage("from carol");
        await waitForSql("SELECT count(*) FROM messages WHERE sender = :'c'", { c: c.bare }, (r) => r[0][0] === "1", "stored");
        const withB = await mam(a, { fields: { with: b.bare } });
        assert.deepEqual(bodies(withB), ["ab 1", "ab 2", "ab 3", "ab 4"]);
        const withC = await mam(a, { fields: { with: c.jid.toString() } });
        assert.deepEqual(bodies(withC), ["from carol"], "a full JID matches the account");
        const all = await mam(a, {});
        assert.equal(all.results.length, 5);
        const stamps = all.results.map((r) => r.stamp);
        // start and end are inclusive, and stamps are whole milliseconds:
        // two messages stored within one millisecond share a stamp, so the
        // expected pages are those of the stamps (and must contain the
        // messages named).
        const names = bodies(all);
        const fromThird = await mam(a, { fields: { start: stamps[2] } });
        assert.deepEqual(bodies(fromThird), names.filter((_, i) => stamps[i] >= stamps[2]));
        assert.deepEqual(bodies(fromThird).slice(-3), ["ab 3", "ab 4", "from carol"]);
        const toSecond = await mam(a, { fields: { end: stamps[1] } });
        assert.deepEqual(bodies(toSecond), names.filter((_, i) => stamps[i] <= stamps[1]));
        assert.deepEqual(bodies(toSecond).slice(0, 2), ["ab 1", "ab 2"]);
        const nothing = await mam(a, { fields: { start: "2999-01-01T00:00:00Z" } });
        assert.deepEqual(nothing.results, []);
        assert.equal(nothing.complete, true);
    } finally {
        await stopAll(a, b, c);
    }
});

test("#extended: after-id, before-id and ids", SLOW, async () => {
    const [a, b] = await conversation(6, "ext");
    try {
        const all = await mam(a, {});
        const ids = all.results.map((r) => r.id);
        const after = await mam(a, { fields: { "after-id": ids[3] } });
        assert.deepEqual(bodies(after), ["ext 5", "ext 6"]);
        const before = await mam(a, { fields: { "before-id": ids[2] } });
        assert.deepEqual(bodies(before), ["ext 1", "ext 2"]);
        const both = await mam(a, { fields: { "after-id": ids[0], "before-id": ids[3] } });
        assert.deepEqual(bodies(both), ["ext 2", "ext 3"]);
        const some = await mam(a, { fields: { ids: [ids[4], ids[1]] } });
        assert.deepEqual(bodies(some), ["ext 2", "ext 5"]);
        assert.equal(some.complete, true);
        const info = await a.iq(xml("iq", { type: "get", to: a.bare }, xml("query", { xmlns: NS.discoInfo })));
        const feats = info.getChild("query", NS.discoInfo).getChildren("feature").map((f) => f.attrs.var);
        for (const f of [RNS.mam, `${RNS.mam}#extended`, "urn:xmpp:fulltext:0"])
            assert.ok(feats.includes(f), `account feature ${f}`);
    } finally {
        await stopAll(a, b);
    }
});

test("full text (XEP-0431) searches bodies", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    try {
        for (const [i, body] of ["the quarterly budget is ready", "lunch?", "Budget approved, quarterly review next"].entries()) {
            await a.send(chat(b.bare, body, `ft${i}`));
            await b.nextMessage(body);
        }
        await waitForSql("SELECT count(*) FROM messages WHERE sender = :'a'", { a: a.bare }, (r) => r[0][0] === "3", "stored");
        const hits = await mam(a, { fields: { [RNS.fulltext]: "quarterly budget" } });
        assert.deepEqual(bodies(hits), ["the quarterly budget is ready", "Budget approved, quarterly review next"]);
        const none = await mam(a, { fields: { [RNS.fulltext]: "holiday" } });
        assert.deepEqual(none.results, []);
    } finally {
        await stopAll(a, b);
    }
});

test("preferences are always 'always'; changing them is not-allowed", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    try {
        const got = await a.iq(xml("iq", { type: "get" }, xml("prefs", { xmlns: RNS.mam })));
        assert.equal(got.getChild("prefs", RNS.mam).attrs.default, "always");
        const change = await iq(
            a,
            xml("iq", { type: "set" }, xml("prefs", { xmlns: RNS.mam, default: "never" })),
        );
        assert.equal(condition(change), "not-allowed");
        const never = await iq(
            a,
            xml(
                "iq",
                { type: "set" },
                xml("prefs", { xmlns: RNS.mam, default: "always" }, xml("never", {}, xml("jid", {}, "bob@localhost"))),
            ),
        );
        assert.equal(condition(never), "not-allowed");
        const same = await iq(a, xml("iq", { type: "set" }, xml("prefs", { xmlns: RNS.mam, default: "always" })));
        assert.equal(same.attrs.type, "result");
    } finally {
        await stopAll(a);
    }
});

test("a max of a million is capped at PARLEY_MAM_MAX_PAGE", SLOW, async () => {
    const capped = new (await import("./lib/harness.mjs")).Server({ env: { PARLEY_MAM_MAX_PAGE: "4" } });
    await capped.start();
    let a, b;
    try {
        a = await online(capped, uniqueUser("alice"));
        b = await online(capped, uniqueUser("bob"));
        for (let i = 0; i < 6; i++) {
            await a.send(chat(b.bare, `cap ${i}`, `cap${i}`));
            await b.nextMessage(`cap ${i}`);
        }
        await waitForSql("SELECT count(*) FROM messages WHERE sender = :'a'", { a: a.bare }, (r) => r[0][0] === "6", "stored");
        const p = await mam(a, { rsm: { max: 1000000 } });
        assert.equal(p.results.length, 4);
        assert.equal(p.complete, false);
        const d = await mam(a, {});
        assert.equal(d.results.length, 4, "and without max the page is the cap too");
    } finally {
        await stopAll(a, b);
        await capped.stop();
    }
});

test("someone else's archive is forbidden", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    try {
        const q = xml("iq", { type: "set", to: b.bare }, xml("query", { xmlns: RNS.mam }));
        const res = await iq(a, q);
        assert.equal(condition(res), "forbidden");
        await a.sync();
        assert.equal(a.closed, false);
    } finally {
        await stopAll(a, b);
    }
});

stopsCleanly(srv);
