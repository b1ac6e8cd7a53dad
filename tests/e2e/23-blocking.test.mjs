// Blocking (XEP-0191): advertised, block and unblock (one, several, all)
// kept and pushed, and enforced for messages, presence and iqs, now and
// later (nothing from a blocked sender waits for offline delivery).
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
} from "./lib/harness.mjs";
import { BLOCKING, BLOCKING_ERRORS, befriend, nextPresence } from "./lib/roster.mjs";

const srv = useServer();

function blocklist(c) {
    return c
        .iq(xml("iq", { type: "get" }, xml("blocklist", { xmlns: BLOCKING })))
        .then((r) => r.getChild("blocklist", BLOCKING).getChildren("item").map((i) => i.attrs.jid).sort());
}

function block(c, ...jids) {
    return c.iq(xml("iq", { type: "set" }, xml("block", { xmlns: BLOCKING }, ...jids.map((jid) => xml("item", { jid })))));
}

function unblock(c, ...jids) {
    return c.iq(
        xml("iq", { type: "set" }, xml("unblock", { xmlns: BLOCKING }, ...jids.map((jid) => xml("item", { jid })))),
    );
}

function chat(to, body, id) {
    return xml("message", { type: "chat", to, id }, xml("body", {}, body));
}

function errorOf(c, id) {
    return c.next((e) => e.attrs.type === "error" && e.attrs.id === id, `error for ${id}`);
}

function features(res) {
    return res
        .getChild("query", NS.discoInfo)
        .getChildren("feature")
        .map((f) => f.attrs.var);
}

test("urn:xmpp:blocking is advertised on the server and on accounts", T, async () => {
    const c = await connect(srv, uniqueUser("alice"));
    try {
        const server = await c.iq(xml("iq", { type: "get", to: DOMAIN }, xml("query", { xmlns: NS.discoInfo })));
        assert.ok(features(server).includes(BLOCKING));
        const account = await c.iq(xml("iq", { type: "get", to: c.bare }, xml("query", { xmlns: NS.discoInfo })));
        assert.ok(features(account).includes(BLOCKING));
    } finally {
        await c.stop();
    }
});

test("block several, unblock one, unblock all: kept and pushed to the resources that asked", T, async () => {
    const alice = uniqueUser("alice");
    const a1 = await connect(srv, alice, { resource: "one" });
    const a2 = await connect(srv, alice, { resource: "two" });
    const [x, y] = [`${uniqueUser("x")}@${DOMAIN}`, `${uniqueUser("y")}@${DOMAIN}`];
    try {
        assert.deepEqual(await blocklist(a1), []);
        assert.deepEqual(await blocklist(a2), []);
        const pushed = a2.next((e) => e.is("iq") && e.getChild("block", BLOCKING), "block push");
        await block(a1, x, y, "spam.example");
        const push = await pushed;
        assert.deepEqual(push.getChild("block", BLOCKING).getChildren("item").map((i) => i.attrs.jid).sort(), [x, y, "spam.example"].sort());
        assert.deepEqual(await blocklist(a1), [x, y, "spam.example"].sort());
        const rows = await sql("SELECT jid FROM blocklist WHERE owner = :'o' ORDER BY jid", { o: alice });
        assert.deepEqual(rows.map((r) => r[0]), [x, y, "spam.example"].sort());

        const un = a2.next((e) => e.is("iq") && e.getChild("unblock", BLOCKING), "unblock push");
        await unblock(a1, x);
        assert.deepEqual((await un).getChild("unblock", BLOCKING).getChildren("item").map((i) => i.attrs.jid), [x]);
        assert.deepEqual(await blocklist(a2), [y, "spam.example"].sort());

        const all = a2.next((e) => e.is("iq") && e.getChild("unblock", BLOCKING), "unblock-all push");
        await unblock(a1);
        assert.equal((await all).getChild("unblock", BLOCKING).getChildren("item").length, 0);
        assert.deepEqual(await blocklist(a1), []);
        // The list survives a new login.
        await block(a1, y);
        await a1.stop();
        const again = await connect(srv, alice);
        assert.deepEqual(await blocklist(again), [y]);
        await again.stop();
    } finally {
        await stopAll(a1, a2);
    }
});

test("a blocked sender's messages never reach the user, online or later; they get service-unavailable", SLOW, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const eve = await online(srv, uniqueUser("eve"));
    try {
        await block(alice, eve.bare);
        await eve.send(chat(alice.bare, "let me in", "e1"));
        const err = await errorOf(eve, "e1");
        assert.ok(err.getChild("error").getChild("service-unavailable", NS.stanzas), err.toString());
        // bodiless ones too (chat states)
        await eve.send(xml("message", { type: "chat", to: alice.jid.toString(), id: "e2" }, xml("composing", { xmlns: "http://jabber.org/protocol/chatstates" })));
        await errorOf(eve, "e2");
        await alice.expectNone((e) => e.is("message") && e.attrs.from?.startsWith(eve.bare), "a message from a blocked sender", 300);

        // Offline: nothing is stored for later.
        await alice.stop();
        await eve.send(chat(alice.bare, "while you are away", "e3"));
        await errorOf(eve, "e3");
        const stored = await sql("SELECT count(*) FROM messages WHERE sender = :'s'", { s: eve.bare });
        assert.equal(stored[0][0], "0", "nothing from a blocked sender is in the database");
        const back = await online(srv, alice.username);
        await back.expectNone((e) => e.is("message"), "a message from a blocked sender later", 500);
        // Unblocked: messages flow again.
        await unblock(back, eve.bare);
        await eve.send(chat(alice.bare, "friends again?", "e4"));
        await back.nextMessage("friends again?");
        await back.stop();
    } finally {
        await stopAll(alice, eve);
    }
});

test("the user cannot send to someone they block: not-acceptable with <blocked/>", T, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const bob = await online(srv, uniqueUser("bob"));
    try {
        await block(alice, bob.bare);
        await alice.send(chat(bob.bare, "hi", "a1"));
        const err = (await errorOf(alice, "a1")).getChild("error");
        assert.equal(err.attrs.type, "cancel");
        assert.ok(err.getChild("not-acceptable", NS.stanzas));
        assert.ok(err.getChild("blocked", BLOCKING_ERRORS));
        await bob.expectNone((e) => e.is("message"), "a message to a blocked JID", 300);
    } finally {
        await stopAll(alice, bob);
    }
});

test("presence and iqs of a blocked contact do not get through", T, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const bob = await online(srv, uniqueUser("bob"));
    try {
        await befriend(alice, bob);
        const gone = nextPresence(alice, bob.jid.toString(), "unavailable");
        await block(alice, bob.bare);
        await gone; // the blocked contact is seen going away
        await bob.presence([xml("status", {}, "can you see me?")]);
        await alice.expectNone(
            (e) => e.is("presence") && e.getChildText("status") === "can you see me?",
            "presence from a blocked contact",
            400,
        );
        // An iq from the blocked contact: service-unavailable, as if gone.
        await assert.rejects(
            bob.iq(xml("iq", { type: "get", to: alice.jid.toString() }, xml("ping", { xmlns: NS.ping }))),
            (e) => e.condition === "service-unavailable",
        );
        await alice.expectNone((e) => e.is("iq") && e.attrs.from?.startsWith(bob.bare), "an iq from a blocked contact", 200);
        // Unblocked: presence flows again.
        const back = nextPresence(alice, bob.jid.toString(), undefined);
        await unblock(alice, bob.bare);
        await back;
    } finally {
        await stopAll(alice, bob);
    }
});

stopsCleanly(srv);
