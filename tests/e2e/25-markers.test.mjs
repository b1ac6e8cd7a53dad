// XEP-0333 chat markers: a `displayed` marker from the recipient moves that
// message and every earlier stored one from the same sender to displayed,
// with the time; nobody else's marker counts; markers are routed live (not
// stored); unread counts per peer follow.
import { test } from "node:test";
import assert from "node:assert/strict";

import { T, xml, useServer, stopsCleanly, online, uniqueUser, stopAll, sql, waitForSql } from "./lib/harness.mjs";
import { MARKERS } from "./lib/roster.mjs";

const srv = useServer();

function chat(to, body, id) {
    return xml("message", { type: "chat", to, id }, xml("body", {}, body), xml("markable", { xmlns: MARKERS }));
}

function displayed(to, id) {
    return xml("message", { type: "chat", to }, xml("displayed", { xmlns: MARKERS, id }));
}

function states(sender, recipient) {
    return sql(
        "SELECT m.stanza_id, d.state, d.displayed_at IS NOT NULL FROM messages m " +
            "JOIN deliveries d ON d.message_id = m.id AND d.recipient = :'r' " +
            "WHERE m.sender = :'s' ORDER BY m.id",
        { s: sender, r: recipient },
    );
}

function unread(user) {
    return sql("SELECT peer, unread FROM parley_unread_counts(:'u')", { u: user });
}

test("displayed moves that message and the earlier ones to displayed; the marker reaches the sender", T, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const bob = await online(srv, uniqueUser("bob"));
    try {
        for (const n of [1, 2, 3]) {
            await alice.send(chat(bob.bare, `m${n}`, `mk${n}`));
            await bob.nextMessage(`m${n}`);
        }
        await waitForSql(
            "SELECT count(*) FROM messages m JOIN deliveries d ON d.message_id = m.id WHERE m.sender = :'s' AND d.state = 'delivered'",
            { s: alice.bare },
            (r) => r[0]?.[0] === "3",
            "three delivered",
        );
        assert.deepEqual(await unread(bob.bare), [[alice.bare, "3"]]);

        await bob.send(displayed(alice.bare, "mk2"));
        const m = await alice.next((e) => e.is("message") && e.getChild("displayed", MARKERS), "the marker");
        assert.equal(m.getChild("displayed", MARKERS).attrs.id, "mk2");
        const rows = await waitForSql(
            "SELECT m.stanza_id, d.state FROM messages m JOIN deliveries d ON d.message_id = m.id " +
                "WHERE m.sender = :'s' ORDER BY m.id",
            { s: alice.bare },
            (r) => r[1]?.[1] === "displayed",
            "displayed",
        );
        assert.deepEqual(rows, [["mk1", "displayed"], ["mk2", "displayed"], ["mk3", "delivered"]]);
        const full = await states(alice.bare, bob.bare);
        assert.equal(full[0][2], "t", "displayed_at is set");
        assert.deepEqual(await unread(bob.bare), [[alice.bare, "1"]]);
        // markers are not archived
        const kept = await sql("SELECT count(*) FROM messages WHERE sender = :'s'", { s: bob.bare });
        assert.equal(kept[0][0], "0");
    } finally {
        await stopAll(alice, bob);
    }
});

test("a marker from anyone but the recipient changes nothing", T, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const bob = await online(srv, uniqueUser("bob"));
    const eve = await online(srv, uniqueUser("eve"));
    try {
        await alice.send(chat(bob.bare, "for bob only", "x1"));
        await bob.nextMessage("for bob only");
        await eve.send(displayed(alice.bare, "x1"));
        await alice.next((e) => e.getChild("displayed", MARKERS), "eve's marker, routed");
        await eve.sync();
        await alice.sync();
        const rows = await states(alice.bare, bob.bare);
        assert.notEqual(rows[0][1], "displayed");
        // A marker for a stored message the recipient read elsewhere.
        await bob.send(displayed(alice.bare, "x1"));
        await waitForSql(
            "SELECT d.state FROM messages m JOIN deliveries d ON d.message_id = m.id WHERE m.sender = :'s'",
            { s: alice.bare },
            (r) => r[0]?.[0] === "displayed",
            "displayed by bob",
        );
    } finally {
        await stopAll(alice, bob, eve);
    }
});

stopsCleanly(srv);
