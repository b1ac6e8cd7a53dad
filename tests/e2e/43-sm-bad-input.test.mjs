// XEP-0198 input that must be refused without harm: bad and impossible
// counters, resumption with an unknown id or another user's, SM elements
// before <enable/>; and a pipelined resume (stanzas right after <resume/>).
import { test } from "node:test";
import assert from "node:assert/strict";

import {
    T,
    SLOW,
    NS,
    useServer,
    stopsCleanly,
    online,
    rawConnect,
    uniqueUser,
    bareJid,
    sql,
    stopAll,
    xml,
} from "./lib/harness.mjs";
import { SM, smClient, resume, bind, authenticate, chatXml } from "./lib/sm.mjs";

const srv = useServer();

const stateOf =
    "SELECT d.state FROM deliveries d JOIN messages m ON m.id = d.message_id " +
    "WHERE m.sender = :'s' AND m.stanza_id = :'id'";

/** bob, with SM, holding one unacknowledged message from alice. */
async function bobWithOne(alice, id) {
    const bob = await smClient(srv, uniqueUser("bob"));
    await alice.send(xml("message", { type: "chat", to: bareJid(bob.username), id },
        xml("body", {}, id)));
    await bob.nextStanza((el) => el.getChildText("body") === id, id);
    return bob;
}

for (const [name, frame] of [
    ["<a/> without h", `<a xmlns='${SM}'/>`],
    ["<a/> with a non-number", `<a xmlns='${SM}' h='two'/>`],
    ["<a/> with a negative h", `<a xmlns='${SM}' h='-1'/>`],
    ["<a/> with h past 2^32", `<a xmlns='${SM}' h='4294967296'/>`],
]) {
    test(`${name}: undefined-condition, and the message is not lost`, SLOW, async () => {
        const alice = await online(srv, uniqueUser("alice"));
        const bob = await bobWithOne(alice, `bad-${name.length}`);
        let again;
        try {
            bob.send(frame);
            await bob.conn.expectStreamError("undefined-condition");
            assert.equal((await sql(stateOf, { s: alice.bare, id: `bad-${name.length}` }))[0][0], "stored");
            // A stream error ends the session: no resumption, and the next
            // login gets the message.
            const r = await resume(srv, bob.username, bob.id, 0);
            assert.ok(r.el.is("failed", SM), r.el.toString());
            again = r.sm;
            await bind(again.conn);
            again.send(`<presence xmlns='jabber:client'/>`);
            const m = await again.nextStanza((el) => el.is("message"), "the message again");
            assert.equal(m.getChildText("body"), `bad-${name.length}`);
        } finally {
            bob.drop();
            again?.drop();
            await stopAll(alice);
        }
    });
}

test("h going backwards: undefined-condition", SLOW, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const bob = await bobWithOne(alice, "back-1");
    try {
        bob.ack(2);
        assert.equal(await bob.request(), 1, "the stream is fine after a good ack");
        bob.ack(1);
        const err = await bob.conn.expectStreamError("undefined-condition");
        assert.equal(err.getChild("handled-count-too-high", SM), undefined, "not too high: backwards");
    } finally {
        bob.drop();
        await stopAll(alice);
    }
});

test("<r/> and <a/> before <enable/>: unsupported-stanza-type", T, async () => {
    for (const frame of [`<r xmlns='${SM}'/>`, `<a xmlns='${SM}' h='0'/>`]) {
        const u = uniqueUser("early");
        const conn = await rawConnect(srv, u);
        try {
            await conn.login(u, srv.token(u));
            conn.send(frame);
            await conn.expectStreamError("unsupported-stanza-type");
        } finally {
            conn.terminate();
        }
    }
});

test("resume with an unknown id: item-not-found, then the same connection binds", T, async () => {
    const u = uniqueUser("unknown");
    const r = await resume(srv, u, "00".repeat(32), 0);
    try {
        assert.ok(r.el.is("failed", SM), r.el.toString());
        assert.ok(r.el.getChild("item-not-found", NS.stanzas));
        const j = await bind(r.sm.conn);
        assert.ok(j.startsWith(bareJid(u) + "/"));
    } finally {
        r.sm.drop();
    }
});

test("resume of another user's id: item-not-found, and the owner's session is untouched", SLOW, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const bob = await bobWithOne(alice, "theirs-1");
    const mallory = uniqueUser("mallory");
    const r = await resume(srv, mallory, bob.id, 1);
    try {
        assert.ok(r.el.is("failed", SM), r.el.toString());
        assert.ok(r.el.getChild("item-not-found", NS.stanzas));
        await bind(r.sm.conn);
        // bob still has his session and his unacknowledged message.
        assert.equal(await bob.request(), 1);
        bob.ack();
        await alice.send(xml("message", { type: "chat", to: bareJid(bob.username), id: "theirs-2" },
            xml("body", {}, "still bob's")));
        await bob.nextStanza((el) => el.getChildText("body") === "still bob's", "bob's next message");
    } finally {
        r.sm.drop();
        bob.drop();
        await stopAll(alice);
    }
});

test("a pipelined resume: stanzas sent right after <resume/> are handled and counted", SLOW, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const bob = await bobWithOne(alice, "pipe-1");
    let bob2;
    try {
        const previd = bob.id;
        bob.drop();
        const r = await resume(srv, bob.username, previd, 1, {
            pipelined: [
                chatXml(alice.bare, "pipelined", "pipe-2"),
                `<r xmlns='${SM}'/>`,
            ],
        });
        bob2 = r.sm;
        assert.ok(r.el.is("resumed", SM), r.el.toString());
        const again = await bob2.nextStanza((el) => el.is("message"), "pipe-1 again");
        assert.equal(again.getChildText("body"), "pipe-1");
        const a = await bob2.nextSm((el) => el.is("a", SM), "<a/> for the pipelined <r/>");
        assert.equal(Number(a.attrs.h), 2, "presence before the drop, the pipelined message");
        await alice.nextMessage("pipelined");
    } finally {
        bob.drop();
        bob2?.drop();
        await stopAll(alice);
    }
});

test("a resume that is not after authentication: unexpected-request", T, async () => {
    const bob = await smClient(srv, uniqueUser("bob"), { presence: false });
    try {
        bob.send(`<resume xmlns='${SM}' previd='${bob.id}' h='0'/>`);
        const f = await bob.nextSm((el) => el.is("failed", SM), "<failed/>");
        assert.ok(f.getChild("unexpected-request", NS.stanzas), f.toString());
    } finally {
        bob.drop();
    }
});

stopsCleanly(srv);
