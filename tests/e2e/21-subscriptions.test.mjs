// Presence subscriptions (RFC 6121 section 3): the handshake both ways,
// each state of Appendix A as the roster and the database show it, a
// request to someone offline delivered at their next login, pre-approval,
// cancelling, and a roster remove that cancels both ways.
import { test } from "node:test";
import assert from "node:assert/strict";

import { T, SLOW, useServer, stopsCleanly, connect, online, uniqueUser, stopAll, xml } from "./lib/harness.mjs";
import { rosterGet, rosterItem, rosterRemove, nextPush, sub, rosterRow } from "./lib/roster.mjs";

const srv = useServer();

function isSub(type, from) {
    return (e) => e.is("presence") && e.attrs.type === type && (!from || e.attrs.from === from);
}

/** The item `contact` in c's roster as [subscription, ask]. */
async function state(c, contact) {
    const it = rosterItem(await rosterGet(c), contact);
    return it ? [it.subscription, it.ask ?? null] : null;
}

test("the handshake both ways walks the states of Appendix A", SLOW, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const bob = await online(srv, uniqueUser("bob"));
    try {
        await rosterGet(alice);
        await rosterGet(bob);
        // alice asks: None + Pending Out for her, a request (not a roster
        // item) for bob, who gets the stanza from her bare JID.
        const pushA = nextPush(alice, bob.bare);
        await sub(alice, bob.bare, "subscribe", [xml("status", {}, "it's alice")]);
        const req = await bob.next(isSub("subscribe"), "the request");
        assert.equal(req.attrs.from, alice.bare);
        assert.equal(req.getChildText("status"), "it's alice");
        const p = await pushA;
        assert.equal(p.item.subscription, "none");
        assert.equal(p.item.ask, "subscribe");
        assert.deepEqual(await state(alice, bob.bare), ["none", "subscribe"]);
        assert.equal(await state(bob, alice.bare), null, "a request is not a roster item");
        assert.deepEqual(await rosterRow(bob.username, alice.bare), {
            subscription: "none",
            ask: false,
            pendingIn: true,
            approved: false,
            listed: false,
        });

        // bob approves: alice `to`, bob `from`; alice gets subscribed and
        // bob's presence.
        const pushB = nextPush(bob, alice.bare);
        await sub(bob, alice.bare, "subscribed");
        await alice.next(isSub("subscribed", bob.bare), "subscribed");
        await alice.next((e) => e.is("presence") && !e.attrs.type && e.attrs.from === bob.jid.toString(), "bob's presence");
        assert.equal((await pushB).item.subscription, "from");
        assert.deepEqual(await state(alice, bob.bare), ["to", null]);
        assert.deepEqual(await state(bob, alice.bare), ["from", null]);

        // bob asks back: From + Pending Out / To + Pending In; alice agrees.
        await sub(bob, alice.bare, "subscribe");
        await alice.next(isSub("subscribe", bob.bare), "bob's request");
        assert.deepEqual(await state(bob, alice.bare), ["from", "subscribe"]);
        assert.equal((await rosterRow(alice.username, bob.bare)).pendingIn, true);
        await sub(alice, bob.bare, "subscribed");
        await bob.next(isSub("subscribed", alice.bare), "subscribed");
        assert.deepEqual(await state(alice, bob.bare), ["both", null]);
        assert.deepEqual(await state(bob, alice.bare), ["both", null]);

        // alice unsubscribes: she keeps `from`, bob keeps `to`; alice sees
        // bob go unavailable.
        await sub(alice, bob.bare, "unsubscribe");
        await bob.next(isSub("unsubscribe", alice.bare), "unsubscribe");
        await alice.next(isSub("unavailable", bob.jid.toString()), "bob unavailable");
        assert.deepEqual(await state(alice, bob.bare), ["from", null]);
        assert.deepEqual(await state(bob, alice.bare), ["to", null]);

        // alice cancels bob's subscription: none both ways.
        await sub(alice, bob.bare, "unsubscribed");
        await bob.next(isSub("unsubscribed", alice.bare), "unsubscribed");
        await bob.next(isSub("unavailable", alice.jid.toString()), "alice unavailable");
        assert.deepEqual(await state(alice, bob.bare), ["none", null]);
        assert.deepEqual(await state(bob, alice.bare), ["none", null]);
    } finally {
        await stopAll(alice, bob);
    }
});

test("a denied request leaves no trace on the contact's side", T, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const bob = await online(srv, uniqueUser("bob"));
    try {
        await sub(alice, bob.bare, "subscribe");
        await bob.next(isSub("subscribe"), "the request");
        await sub(bob, alice.bare, "unsubscribed");
        await alice.next(isSub("unsubscribed", bob.bare), "denied");
        await bob.sync();
        assert.deepEqual(await state(alice, bob.bare), ["none", null]);
        assert.equal(await rosterRow(bob.username, alice.bare), null);
    } finally {
        await stopAll(alice, bob);
    }
});

test("a request to someone offline is kept and delivered at their next login", SLOW, async () => {
    const bobName = uniqueUser("bob");
    // bob exists (logged in once) and is offline now
    const once = await connect(srv, bobName);
    await once.stop();
    const alice = await online(srv, uniqueUser("alice"));
    let bob;
    try {
        await sub(alice, `${bobName}@localhost`, "subscribe", [xml("status", {}, "remember me")]);
        await alice.sync();
        assert.equal((await rosterRow(bobName, alice.bare)).pendingIn, true);
        bob = await connect(srv, bobName);
        await bob.expectNone(isSub("subscribe"), "a request before initial presence", 300);
        await bob.presence();
        const req = await bob.next(isSub("subscribe", alice.bare), "the kept request");
        assert.equal(req.getChildText("status"), "remember me");
        // Answered at login, it is gone; every session before then gets it.
        await sub(bob, alice.bare, "subscribed");
        await alice.next(isSub("subscribed", bob.bare), "approved");
        assert.equal((await rosterRow(bobName, alice.bare)).subscription, "from");
    } finally {
        await stopAll(alice, bob);
    }
});

test("pre-approval: subscribed before the request approves it at once", T, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const bob = await online(srv, uniqueUser("bob"));
    try {
        await rosterGet(bob);
        const pushed = nextPush(bob, alice.bare);
        await sub(bob, alice.bare, "subscribed");
        const p = await pushed;
        assert.equal(p.item.approved, "true");
        assert.equal(p.item.subscription, "none");
        await alice.expectNone(isSub("subscribed"), "an approval nobody asked for", 300);

        await sub(alice, bob.bare, "subscribe");
        await alice.next(isSub("subscribed", bob.bare), "approved by the server for bob");
        await bob.expectNone(isSub("subscribe"), "the request, already approved", 300);
        assert.deepEqual(await state(alice, bob.bare), ["to", null]);
        const row = await rosterRow(bob.username, alice.bare);
        assert.equal(row.subscription, "from");
        assert.equal(row.approved, false);
    } finally {
        await stopAll(alice, bob);
    }
});

test("removing a contact cancels the subscriptions both ways", T, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const bob = await online(srv, uniqueUser("bob"));
    try {
        await sub(alice, bob.bare, "subscribe");
        await bob.next(isSub("subscribe"), "request");
        await sub(bob, alice.bare, "subscribed");
        await alice.next(isSub("subscribed"), "approved");
        await sub(bob, alice.bare, "subscribe");
        await alice.next(isSub("subscribe"), "request back");
        await sub(alice, bob.bare, "subscribed");
        await bob.next(isSub("subscribed"), "approved back");

        await rosterRemove(alice, bob.bare);
        await bob.next(isSub("unsubscribe", alice.bare), "unsubscribe");
        await bob.next(isSub("unsubscribed", alice.bare), "unsubscribed");
        assert.equal(await rosterRow(alice.username, bob.bare), null);
        assert.deepEqual(await state(bob, alice.bare), ["none", null]);
    } finally {
        await stopAll(alice, bob);
    }
});

stopsCleanly(srv);
