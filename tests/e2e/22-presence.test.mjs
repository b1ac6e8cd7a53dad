// Presence that people see (RFC 6121 section 4): show and status reaching
// a contact, unavailable when a contact's socket dies without a close,
// probes at login (current presence, or the last unavailable with its
// time), directed presence, and the last presence kept for the admin API.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
    T,
    SLOW,
    NS,
    xml,
    useServer,
    stopsCleanly,
    connect,
    online,
    uniqueUser,
    stopAll,
    waitForSql,
    rawConnect,
} from "./lib/harness.mjs";
import { befriend, nextPresence } from "./lib/roster.mjs";

const srv = useServer();

test("show, status and priority changes reach a contact, and unavailable at logout", T, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const bob = await online(srv, uniqueUser("bob"));
    try {
        await befriend(alice, bob);
        await alice.presence([xml("show", {}, "away"), xml("status", {}, "Be right back"), xml("priority", {}, "3")]);
        const p = await bob.next(
            (e) => e.is("presence") && e.attrs.from === alice.jid.toString() && e.getChildText("show") === "away",
            "alice away",
        );
        assert.equal(p.getChildText("status"), "Be right back");
        assert.equal(p.getChildText("priority"), "3");
        await alice.presence([], { type: "unavailable" });
        await nextPresence(bob, alice.jid.toString(), "unavailable");
    } finally {
        await stopAll(alice, bob);
    }
});

test("a contact whose socket is destroyed without a close goes unavailable", T, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const bob = await online(srv, uniqueUser("bob"));
    try {
        await befriend(alice, bob);
        const jid = alice.jid.toString();
        alice.xmpp.socket.socket.terminate(); // no <close/>, no close frame
        await nextPresence(bob, jid, "unavailable", 8_000);
    } finally {
        await stopAll(alice, bob);
    }
});

test("login probes: an online contact's presence, an offline one's last unavailable with its time", SLOW, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const bob = await online(srv, uniqueUser("bob"));
    const carol = await online(srv, uniqueUser("carol"));
    let again;
    try {
        await befriend(alice, bob);
        await befriend(alice, carol);
        await bob.presence([xml("show", {}, "dnd"), xml("status", {}, "in a meeting")]);
        await carol.send(xml("presence", { type: "unavailable" }, xml("status", {}, "gone home")));
        await carol.sync();
        await carol.stop();
        await waitForSql(
            "SELECT available, status FROM presence_last WHERE jid = :'j'",
            { j: carol.bare },
            (rows) => rows[0]?.[0] === "f" && rows[0]?.[1] === "gone home",
            "carol's last presence",
        );
        await alice.stop();
        again = await connect(srv, alice.username);
        await again.presence();
        const b = await nextPresence(again, bob.jid.toString(), undefined);
        assert.equal(b.getChildText("show"), "dnd");
        assert.equal(b.getChildText("status"), "in a meeting");
        const c = await nextPresence(again, carol.bare, "unavailable");
        assert.equal(c.getChildText("status"), "gone home");
        const delay = c.getChild("delay", NS.delay);
        assert.ok(delay?.attrs.stamp, `a time with the last unavailable: ${c.toString()}`);
        assert.ok(Math.abs(Date.parse(delay.attrs.stamp) - Date.now()) < 60_000);
    } finally {
        await stopAll(alice, bob, carol, again);
    }
});

test("directed presence reaches a non-contact, who hears unavailable when the session ends", T, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const bob = await online(srv, uniqueUser("bob"));
    try {
        await alice.send(xml("presence", { to: bob.bare }, xml("status", {}, "hi there")));
        const p = await nextPresence(bob, alice.jid.toString(), undefined);
        assert.equal(p.getChildText("status"), "hi there");
        const jid = alice.jid.toString();
        await alice.stop();
        await nextPresence(bob, jid, "unavailable");
    } finally {
        await stopAll(alice, bob);
    }
});

test("a stranger gets no presence broadcast", T, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const eve = await online(srv, uniqueUser("eve"));
    try {
        await alice.presence([xml("status", {}, "only for friends")]);
        await eve.expectNone((e) => e.is("presence") && e.attrs.from?.startsWith(alice.bare), "presence of a stranger", 500);
    } finally {
        await stopAll(alice, eve);
    }
});

test("the last presence and last_seen_at are kept for the admin API", T, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    try {
        await alice.presence([xml("show", {}, "xa"), xml("status", {}, "on holiday"), xml("priority", {}, "2")]);
        await waitForSql(
            "SELECT available, show, status, priority FROM presence_last WHERE jid = :'j'",
            { j: alice.bare },
            (rows) => rows[0]?.join("|") === "t|xa|on holiday|2",
            "the last presence",
        );
        await alice.stop();
        const rows = await waitForSql(
            "SELECT p.available, u.last_seen_at IS NOT NULL FROM presence_last p " +
                "JOIN users u ON u.username = p.username WHERE p.jid = :'j'",
            { j: alice.bare },
            (r) => r[0]?.[0] === "f" && r[0]?.[1] === "t",
            "unavailable and seen",
        );
        assert.equal(rows.length, 1);
    } finally {
        await stopAll(alice);
    }
});

test("one frame of presence reaches every resource of every contact (raw frames)", T, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const bob = await online(srv, uniqueUser("bob"));
    const second = await rawConnect(srv, bob.username);
    try {
        await befriend(alice, bob);
        await second.login(bob.username, srv.token(bob.username));
        second.send("<presence xmlns='jabber:client'/>");
        await alice.presence([xml("status", {}, "to both")]);
        let el;
        do {
            el = await second.nextElement("alice's presence");
        } while (!(el.is("presence") && el.attrs.from === alice.jid.toString() && el.getChildText("status") === "to both"));
        assert.equal(el.attrs.to, undefined, "one frame for every recipient: no `to`");
        await nextPresence(bob, alice.jid.toString(), undefined);
    } finally {
        second.terminate();
        await stopAll(alice, bob);
    }
});


stopsCleanly(srv);
