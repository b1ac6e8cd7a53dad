// Several devices: XEP-0280 carbons (received and sent copies, <private/>,
// only chat and normal-with-body, a forged carbon from another user), the
// delivery state that only the real write moves, and the cap on sessions
// per user (PARLEY_MAX_SESSIONS_PER_USER).
import { test } from "node:test";
import assert from "node:assert/strict";

import {
    T,
    SLOW,
    NS,
    DOMAIN,
    xml,
    useServer,
    stopsCleanly,
    connect,
    online,
    uniqueUser,
    stopAll,
    sql,
    waitForSql,
    Server,
} from "./lib/harness.mjs";
import { CARBONS, FORWARD, HINTS } from "./lib/roster.mjs";

const srv = useServer();

function enable(c) {
    return c.iq(xml("iq", { type: "set" }, xml("enable", { xmlns: CARBONS })));
}

function chat(to, body, id, ...extra) {
    return xml("message", { type: "chat", to, id }, xml("body", {}, body), ...extra);
}

/** The next carbon of `kind` ('sent' or 'received') whose inner message
 * has this body; resolves {wrapper, inner}. */
async function nextCarbon(c, kind, body, ms = 5_000) {
    const wrapper = await c.next(
        (e) => e.is("message") && e.getChild(kind, CARBONS)?.getChild("forwarded", FORWARD)?.getChild("message")?.getChildText("body") === body,
        `${kind} carbon "${body}"`,
        ms,
    );
    return { wrapper, inner: wrapper.getChild(kind, CARBONS).getChild("forwarded", FORWARD).getChild("message") };
}

function isCarbon(e) {
    return e.is("message") && (e.getChild("sent", CARBONS) || e.getChild("received", CARBONS));
}

test("carbons are advertised and enabled per resource", T, async () => {
    const c = await connect(srv, uniqueUser("alice"));
    try {
        const res = await c.iq(xml("iq", { type: "get", to: DOMAIN }, xml("query", { xmlns: NS.discoInfo })));
        const vars = res.getChild("query", NS.discoInfo).getChildren("feature").map((f) => f.attrs.var);
        assert.ok(vars.includes(CARBONS));
        const r = await enable(c);
        assert.equal(r.attrs.type, "result");
        const d = await c.iq(xml("iq", { type: "set" }, xml("disable", { xmlns: CARBONS })));
        assert.equal(d.attrs.type, "result");
    } finally {
        await c.stop();
    }
});

test("received and sent copies reach the other carbon-enabled resource; a disabled one gets none", SLOW, async () => {
    const alice = uniqueUser("alice");
    const phone = await online(srv, alice, { resource: "phone" });
    const desk = await online(srv, alice, { resource: "desk" });
    const tv = await online(srv, alice, { resource: "tv" }); // never enables
    const bob = await online(srv, uniqueUser("bob"));
    try {
        await enable(phone);
        await enable(desk);
        // bob writes to alice's phone: the desk gets a received copy
        await bob.send(chat(phone.jid.toString(), "to your phone", "r1"));
        await phone.nextMessage("to your phone");
        const rc = await nextCarbon(desk, "received", "to your phone");
        assert.equal(rc.wrapper.attrs.from, phone.bare, "a carbon comes from the user's bare JID");
        assert.equal(rc.inner.attrs.from, bob.jid.toString());
        assert.ok(rc.inner.getChild("stanza-id", NS.sid), "the copy names the archive id");
        // the phone sends: the desk gets a sent copy
        await phone.send(chat(bob.bare, "from my phone", "s1"));
        await bob.nextMessage("from my phone");
        const sc = await nextCarbon(desk, "sent", "from my phone");
        assert.equal(sc.inner.attrs.to, bob.bare);
        assert.equal(sc.inner.attrs.from, phone.jid.toString());
        await phone.expectNone((e) => isCarbon(e), "a carbon of its own message", 300);
        await tv.expectNone((e) => isCarbon(e), "a carbon on a resource that did not enable them", 10);
        // chat states (bodiless chat) are copied too
        await bob.send(xml("message", { type: "chat", to: phone.jid.toString() }, xml("composing", { xmlns: "http://jabber.org/protocol/chatstates" })));
        await desk.next(
            (e) => e.getChild("received", CARBONS)?.getChild("forwarded", FORWARD)?.getChild("message")?.getChild("composing"),
            "a carbon of a chat state",
        );
        // A carbon moves no delivery state: the message bob sent is delivered
        // because the phone got it; the copy changed nothing.
        const rows = await waitForSql(
            "SELECT d.state FROM deliveries d JOIN messages m ON m.id = d.message_id " +
                "WHERE m.sender = :'s' AND m.stanza_id = 'r1'",
            { s: bob.bare },
            (r) => r[0]?.[0] === "delivered",
            "delivered",
        );
        assert.equal(rows.length, 1);
    } finally {
        await stopAll(phone, desk, tv, bob);
    }
});

test("a carbon moves no delivery state: a copy on a negative-priority resource leaves the message stored", T, async () => {
    const alice = uniqueUser("alice");
    const watch = await connect(srv, alice, { resource: "watch" });
    const bob = await online(srv, uniqueUser("bob"));
    try {
        await watch.presence([xml("priority", {}, "-1")]);
        await enable(watch);
        await bob.send(chat(`${alice}@${DOMAIN}`, "nobody takes bare JIDs", "n1"));
        await nextCarbon(watch, "received", "nobody takes bare JIDs");
        await watch.sync();
        await bob.sync();
        const rows = await sql(
            "SELECT d.state FROM deliveries d JOIN messages m ON m.id = d.message_id " +
                "WHERE m.sender = :'s' AND m.stanza_id = 'n1'",
            { s: bob.bare },
        );
        assert.deepEqual(rows, [["stored"]], "still waiting for a resource that takes it");
    } finally {
        await stopAll(watch, bob);
    }
});

test("<private/> and <no-copy/> keep a message off the other resources; headline is not copied", T, async () => {
    const alice = uniqueUser("alice");
    const phone = await online(srv, alice, { resource: "phone" });
    const desk = await online(srv, alice, { resource: "desk" });
    const bob = await online(srv, uniqueUser("bob"));
    try {
        await enable(phone);
        await enable(desk);
        await phone.send(chat(bob.bare, "private one", "p1", xml("private", { xmlns: CARBONS }), xml("no-copy", { xmlns: HINTS })));
        await bob.nextMessage("private one");
        await bob.send(chat(phone.jid.toString(), "no copy please", "p2", xml("no-copy", { xmlns: HINTS })));
        await phone.nextMessage("no copy please");
        await bob.send(xml("message", { type: "headline", to: phone.jid.toString() }, xml("body", {}, "news")));
        await phone.nextMessage("news");
        await desk.expectNone((e) => isCarbon(e), "a copy of a private, no-copy or headline message", 500);
    } finally {
        await stopAll(phone, desk, bob);
    }
});

test("a forged carbon from another user is delivered as a plain message from its real sender", T, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const eve = await online(srv, uniqueUser("eve"));
    try {
        await enable(alice);
        const forged = xml(
            "message",
            { type: "chat", to: alice.bare, id: "f1" },
            xml("body", {}, "trust me"),
            xml(
                "sent",
                { xmlns: CARBONS },
                xml("forwarded", { xmlns: FORWARD }, xml("message", { xmlns: "jabber:client", from: alice.jid.toString(), to: "bank@example.org", type: "chat" }, xml("body", {}, "send money"))),
            ),
        );
        await eve.send(forged);
        const m = await alice.nextMessage("trust me");
        assert.equal(m.attrs.from, eve.jid.toString(), "from its real sender");
        assert.equal(m.getChild("sent", CARBONS), undefined, "the wrapper is gone");
        assert.equal(m.getChild("received", CARBONS), undefined);
    } finally {
        await stopAll(alice, eve);
    }
});

test("PARLEY_MAX_SESSIONS_PER_USER: past the cap, bind fails with resource-constraint", T, async () => {
    const capped = new Server({ env: { PARLEY_MAX_SESSIONS_PER_USER: "2" } });
    await capped.start();
    const alice = uniqueUser("alice");
    const a = await connect(capped, alice, { resource: "a" });
    const b = await connect(capped, alice, { resource: "b" });
    try {
        await assert.rejects(connect(capped, alice, { resource: "c" }), (err) => {
            assert.match(`${err.condition ?? ""} ${err.message}`, /resource-constraint/);
            return true;
        });
        // Taking over one of the two resources is still a replacement.
        const again = await connect(capped, alice, { resource: "b" });
        await again.stop();
        await a.sync();
    } finally {
        await stopAll(a, b);
        await capped.stop();
    }
});

stopsCleanly(srv);
