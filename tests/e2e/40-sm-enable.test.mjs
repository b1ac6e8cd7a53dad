// XEP-0198 stream management: the offer, <enable/> and <enabled/>, the
// counts each side keeps, and what an acknowledgement means for delivery
// states (PostgreSQL says `delivered` only once the client's <a h/> covers
// the message).
import { test } from "node:test";
import assert from "node:assert/strict";

import {
    T,
    SLOW,
    NS,
    useServer,
    stopsCleanly,
    online,
    connect,
    rawConnect,
    uniqueUser,
    bareJid,
    sql,
    waitForSql,
    stopAll,
    xml,
    sleep,
} from "./lib/harness.mjs";
import { SM, CSI, authenticate, bind, smClient, chatXml } from "./lib/sm.mjs";

const srv = useServer();

const stateOf =
    "SELECT d.state FROM deliveries d JOIN messages m ON m.id = d.message_id " +
    "WHERE m.sender = :'s' AND m.stanza_id = :'id'";

function chat(to, body, id) {
    return xml("message", { type: "chat", to, id }, xml("body", {}, body));
}

test("stream management and CSI are offered after SASL, not before", T, async () => {
    const u = uniqueUser("offer");
    const conn = await rawConnect(srv, u);
    try {
        const first = await conn.openStream();
        assert.equal(first.getChild("sm", SM), undefined, "no <sm/> before authentication");
        conn.send(`<close xmlns='${NS.framing}'/>`);
        const again = await rawConnect(srv, u);
        const features = await authenticate(again, u, srv.token(u));
        assert.ok(features.getChild("sm", SM), "<sm xmlns='urn:xmpp:sm:3'/> offered");
        assert.ok(features.getChild("csi", CSI), "<csi xmlns='urn:xmpp:csi:0'/> offered");
        again.terminate();
    } finally {
        conn.terminate();
    }
});

test("<enable/> before bind fails; after bind it is <enabled/> with an id and max; twice fails", T, async () => {
    const u = uniqueUser("enable");
    const conn = await rawConnect(srv, u);
    try {
        await authenticate(conn, u, srv.token(u));
        conn.send(`<enable xmlns='${SM}' resume='true'/>`);
        const early = await conn.nextElement("<failed/> for an unbound stream");
        assert.ok(early.is("failed", SM), early.toString());
        assert.ok(early.getChild("unexpected-request", NS.stanzas), early.toString());
        await bind(conn);
        conn.send(`<enable xmlns='${SM}' resume='true'/>`);
        const ok = await conn.nextElement("<enabled/>");
        assert.ok(ok.is("enabled", SM), ok.toString());
        assert.equal(ok.attrs.resume, "true");
        assert.match(ok.attrs.id, /^[0-9a-f]{64}$/, "a 256-bit random id");
        assert.equal(ok.attrs.max, "300", "max is PARLEY_SM_RESUME_TIMEOUT's default");
        conn.send(`<enable xmlns='${SM}'/>`);
        const twice = await conn.nextElement("<failed/> for a second enable");
        assert.ok(twice.is("failed", SM), twice.toString());
        // The stream is still fine: a ping is answered.
        conn.send(`<iq xmlns='jabber:client' type='get' id='p1'><ping xmlns='${NS.ping}'/></iq>`);
        const pong = await conn.nextElement("ping result");
        assert.equal(pong.attrs.type, "result");
    } finally {
        conn.terminate();
    }
});

test("<enable/> without resume gets <enabled/> without an id", T, async () => {
    const bob = await smClient(srv, uniqueUser("plain"), { resume: false, presence: false });
    try {
        assert.equal(bob.id, null);
        assert.equal(await bob.request(), 0, "nothing handled yet");
    } finally {
        bob.drop();
    }
});

test("the server's h counts what it handled; its send count is what it sent", SLOW, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const bob = await smClient(srv, uniqueUser("bob"));
    try {
        // bob has sent one stanza (presence); now a ping, a message to alice
        // (stored: counted only after its commit) and a bad iq (answered
        // with an error: handled too).
        bob.send(`<iq xmlns='jabber:client' type='get' id='p2' to='localhost'><ping xmlns='${NS.ping}'/></iq>`);
        bob.send(chatXml(alice.bare, "counted after commit", "cnt-1"));
        bob.send(`<iq xmlns='jabber:client' type='get'><ping xmlns='${NS.ping}'/></iq>`);
        const h = await bob.request();
        assert.equal(h, 4, "presence, ping, message, bad iq");
        const rows = await sql(stateOf, { s: bareJid(bob.username), id: "cnt-1" });
        assert.equal(rows.length, 1, "the <a/> came after the message's commit");
        await alice.nextMessage("counted after commit");

        // Three messages to bob, then the server's own count: acknowledging
        // exactly what bob got is fine, one more is too high.
        for (let i = 0; i < 3; i++) await alice.send(chat(bareJid(bob.username), `m${i}`, `cnt-m${i}`));
        for (let i = 0; i < 3; i++) await bob.nextStanza((el) => el.getChildText("body") === `m${i}`, `m${i}`);
        bob.ack();
        assert.equal(await bob.request(), 4, "the ack is no stanza");
        bob.ack(bob.received + 1);
        const err = await bob.conn.expectStreamError("undefined-condition");
        const tooHigh = err.getChild("handled-count-too-high", SM);
        assert.ok(tooHigh, err.toString());
        assert.equal(Number(tooHigh.attrs.h), bob.received + 1);
        assert.equal(Number(tooHigh.attrs["send-count"]), bob.received);
    } finally {
        bob.drop();
        await stopAll(alice);
    }
});

test("a message is `delivered` in PostgreSQL only after the client's ack", SLOW, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const bob = await smClient(srv, uniqueUser("bob"));
    try {
        await alice.send(chat(bareJid(bob.username), "ack me", "ack-1"));
        await bob.nextStanza((el) => el.getChildText("body") === "ack me", "the message");
        // The socket took it long ago; without SM it would be `delivered` now.
        await bob.request();
        await sleep(500);
        const before = await sql(stateOf, { s: alice.bare, id: "ack-1" });
        assert.equal(before[0]?.[0], "stored", "written, not acknowledged: still stored");
        bob.ack();
        await waitForSql(stateOf, { s: alice.bare, id: "ack-1" }, (r) => r[0]?.[0] === "delivered",
            "delivered after <a h/>");
    } finally {
        bob.drop();
        await stopAll(alice);
    }
});

test("the server asks <r/> after 5 unacknowledged stanzas", T, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const bob = await smClient(srv, uniqueUser("bob"));
    try {
        // bob got one stanza (its presence); four more make five.
        for (let i = 0; i < 4; i++) await alice.send(chat(bareJid(bob.username), `r${i}`, `rq-${i}`));
        const r = await bob.nextSm((el) => el.is("r", SM), "<r/> from the server");
        assert.ok(r);
        assert.equal(bob.received, 5);
    } finally {
        bob.drop();
        await stopAll(alice);
    }
});

test("@xmpp/client's stream management: enabled, and its answers to <r/> mark delivered", SLOW, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    // No ping here: @xmpp/client 0.14 does not count an iq result its iq
    // caller takes (the caller never passes it on to the SM middleware),
    // so its h would be one short for each.
    const bob = await connect(srv, uniqueUser("bob"), { sm: true });
    try {
        const sm = bob.xmpp.streamManagement;
        // <enabled/> may come just after the client is online.
        for (let i = 0; i < 100 && !sm.enabled; i++) await sleep(50);
        assert.equal(sm.enabled, true, "the client enabled it");
        assert.match(sm.id, /^[0-9a-f]{64}$/);
        await bob.presence();
        await bob.next((el) => el.is("presence"), "own presence");
        // Its presence and nine messages: ten stanzas, two <r/>s from the
        // server (every five), both answered by the library.
        for (let i = 0; i < 9; i++) await alice.send(chat(bob.bare, `lib${i}`, `lib-${i}`));
        for (let i = 0; i < 9; i++) await bob.nextMessage(`lib${i}`);
        for (let i = 0; i < 9; i++) {
            await waitForSql(stateOf, { s: alice.bare, id: `lib-${i}` }, (r) => r[0]?.[0] === "delivered",
                `lib-${i} delivered`);
        }
        assert.equal(sm.inbound, 10);
    } finally {
        await stopAll(alice, bob);
    }
});

stopsCleanly(srv);
