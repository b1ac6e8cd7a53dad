// Offline delivery: messages to a user without an online resource are
// stored, then delivered in order with <delay/> after initial presence.
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
    bareJid,
    waitForSql,
    stopAll,
} from "./lib/harness.mjs";

const srv = useServer();

const STAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]00:00)$/;

function chat(to, body, id) {
    return xml("message", { type: "chat", to, id }, xml("body", {}, body));
}

const statesQuery =
    "SELECT m.stanza_id, d.state FROM deliveries d JOIN messages m ON m.id = d.message_id " +
    "WHERE m.sender = :'s' AND d.recipient = :'r' ORDER BY m.id";

/** Sends `n` messages from `ca` to `to` and waits until all are stored. */
async function sendStored(ca, to, n, prefix) {
    const bodies = [];
    for (let i = 0; i < n; i++) {
        const body = `${prefix} ${i}`;
        bodies.push(body);
        await ca.send(chat(to, body, `${prefix}-${i}`));
    }
    await waitForSql(
        statesQuery,
        { s: ca.bare, r: to },
        (rows) => rows.length === n && rows.every((r) => r[1] === "stored"),
        `${n} messages in state 'stored'`,
    );
    return bodies;
}

/** Expects `bodies` in order at `cb`, each with <delay/> and <stanza-id/>. */
async function expectOffline(cb, from, bodies) {
    let lastStamp = "";
    for (const body of bodies) {
        const m = await cb.nextMessage();
        assert.equal(m.getChildText("body"), body, "offline messages arrive in order");
        assert.equal(m.attrs.from, from, "from is the sender's full JID");
        const delay = m.getChild("delay", NS.delay);
        assert.ok(delay, `no <delay xmlns='${NS.delay}'/> in ${m.toString()}`);
        assert.match(delay.attrs.stamp ?? "", STAMP, "XEP-0082 UTC stamp");
        assert.ok(delay.attrs.stamp >= lastStamp, "stamps do not go backwards");
        lastStamp = delay.attrs.stamp;
        const sid = m.getChild("stanza-id", NS.sid);
        assert.ok(sid, `no <stanza-id/> in ${m.toString()}`);
        assert.equal(sid.attrs.by, cb.bare);
        assert.match(sid.attrs.id, /^\d+$/);
    }
}

test("messages to a user who logged in before and is offline are stored, then delivered in order after initial presence", SLOW, async () => {
    const bob = uniqueUser("bob");
    const first = await connect(srv, bob);
    await first.stop();
    const ca = await online(srv, uniqueUser("alice"), { resource: "desk" });
    let cb;
    try {
        const bodies = await sendStored(ca, bareJid(bob), 5, "offline");
        cb = await connect(srv, bob);
        await cb.expectNone((el) => el.is("message"), "message before initial presence", 800);
        await cb.presence();
        await expectOffline(cb, ca.jid.toString(), bodies);
        await waitForSql(
            statesQuery,
            { s: ca.bare, r: bareJid(bob) },
            (rows) => rows.length === 5 && rows.every((r) => r[1] === "delivered"),
            "all 5 in state 'delivered'",
        );
    } finally {
        await stopAll(ca, cb);
    }
});

test("a user never seen before is handled like an offline one", SLOW, async () => {
    const bob = uniqueUser("newbie");
    const ca = await online(srv, uniqueUser("alice"));
    let cb;
    try {
        const bodies = await sendStored(ca, bareJid(bob), 3, "early");
        await ca.expectNone(
            (el) => el.is("message") && el.attrs.type === "error",
            "error bounce for an unknown user",
        );
        cb = await online(srv, bob);
        await expectOffline(cb, ca.jid.toString(), bodies);
    } finally {
        await stopAll(ca, cb);
    }
});

test("delivered offline messages are not delivered again at the next login", SLOW, async () => {
    const bob = uniqueUser("bob");
    const ca = await online(srv, uniqueUser("alice"));
    let cb;
    let cb2;
    try {
        const bodies = await sendStored(ca, bareJid(bob), 2, "once");
        cb = await online(srv, bob);
        await expectOffline(cb, ca.jid.toString(), bodies);
        await waitForSql(
            statesQuery,
            { s: ca.bare, r: bareJid(bob) },
            (rows) => rows.length === 2 && rows.every((r) => r[1] === "delivered"),
            "both in state 'delivered'",
        );
        await cb.stop();
        cb2 = await online(srv, bob);
        await cb2.expectNone((el) => el.is("message"), "a second copy", 1_000);
    } finally {
        await stopAll(ca, cb, cb2);
    }
});

test("messages from several senders all arrive, each sender's in order", SLOW, async () => {
    const bob = uniqueUser("bob");
    const ca = await online(srv, uniqueUser("alice"));
    const cc = await online(srv, uniqueUser("carol"));
    let cb;
    try {
        const a = await sendStored(ca, bareJid(bob), 3, "from-a");
        const c = await sendStored(cc, bareJid(bob), 3, "from-c");
        cb = await online(srv, bob);
        const got = [];
        for (let i = 0; i < 6; i++) got.push((await cb.nextMessage()).getChildText("body"));
        assert.deepEqual(got, [...a, ...c], "all stored messages, oldest first");
    } finally {
        await stopAll(ca, cc, cb);
    }
});

test("more offline messages than one load (1,000) all arrive once, in order", { timeout: 60_000 }, async () => {
    const bob = uniqueUser("bob");
    const ca = await online(srv, uniqueUser("alice"));
    let cb;
    const n = 1_205;
    try {
        for (let i = 0; i < n; i++) await ca.send(chat(bareJid(bob), `bulk ${i}`, `bulk-${i}`));
        await waitForSql(
            "SELECT count(*) FROM deliveries d JOIN messages m ON m.id = d.message_id " +
                "WHERE m.sender = :'s' AND d.recipient = :'r' AND d.state = 'stored'",
            { s: ca.bare, r: bareJid(bob) },
            (rows) => rows[0]?.[0] === String(n),
            `${n} messages stored`,
            20_000,
        );
        cb = await online(srv, bob);
        for (let i = 0; i < n; i++) {
            const m = await cb.nextMessage(undefined, 10_000);
            assert.equal(m.getChildText("body"), `bulk ${i}`, "in order, no repeats");
        }
        await cb.expectNone((el) => el.is("message"), "a repeated message", 800);
    } finally {
        await stopAll(ca, cb);
    }
});

test("a session that goes unavailable and comes back gets what was stored meanwhile", SLOW, async () => {
    const bob = uniqueUser("bob");
    const ca = await online(srv, uniqueUser("alice"));
    const cb = await online(srv, bob);
    try {
        await cb.presence([], { type: "unavailable" });
        await cb.sync();
        const bodies = await sendStored(ca, bareJid(bob), 2, "away");
        await cb.expectNone((el) => el.is("message"), "a message while unavailable", 500);
        await cb.presence();
        await expectOffline(cb, ca.jid.toString(), bodies);
    } finally {
        await stopAll(ca, cb);
    }
});

stopsCleanly(srv);
