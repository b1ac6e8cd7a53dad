// Stream errors over raw WebSocket frames (inputs no XMPP library sends):
// each is answered with <stream:error>, <close/> and a WebSocket close, and
// the server keeps serving everyone else.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
    T,
    NS,
    DOMAIN,
    useServer,
    stopsCleanly,
    connect,
    rawConnect,
    uniqueUser,
} from "./lib/harness.mjs";

const srv = useServer();

/** A normal client still logs in: the server survived. */
async function serverStillWorks() {
    assert.ok(srv.alive(), "parleyd is still running");
    const c = await connect(srv, uniqueUser("probe"));
    await c.stop();
}

/** A logged-in raw connection. */
async function loggedIn() {
    const user = uniqueUser("raw");
    const conn = await rawConnect(srv, user);
    await conn.login(user, srv.token(user));
    return conn;
}

function msg(body) {
    return `<message xmlns='jabber:client' type='chat' to='nobody@${DOMAIN}' id='x'><body>${body}</body></message>`;
}

test("a raw login works (the baseline for the cases below)", T, async () => {
    const conn = await loggedIn();
    assert.match(conn.jid, new RegExp(`^${conn.username}@${DOMAIN}/.+`));
    assert.equal(conn.openAttrs.from, DOMAIN, "<open/> answered from the domain");
    conn.terminate();
});

test("<close/> from the client is answered with <close/> and the socket closes", T, async () => {
    const conn = await loggedIn();
    conn.send(`<close xmlns='${NS.framing}'/>`);
    const item = await conn.next("<close/>");
    assert.equal(item.kind, "close", `expected <close/>, got ${item.raw}`);
    await conn.closed;
});

test("<close/> before authentication is answered too", T, async () => {
    const user = uniqueUser("raw");
    const conn = await rawConnect(srv, user);
    await conn.openStream();
    conn.send(`<close xmlns='${NS.framing}'/>`);
    const item = await conn.next("<close/>");
    assert.equal(item.kind, "close", `expected <close/>, got ${item.raw}`);
    await conn.closed;
});

const cases = [
    ["not-well-formed", "an unclosed element", `<message xmlns='jabber:client'><body>x</message>`],
    ["not-well-formed", "text that is not XML", `this is not xml <`],
    [
        "restricted-xml",
        "a DOCTYPE with an entity declaration",
        `<!DOCTYPE message [<!ENTITY xxe "boom">]>${msg("&xxe;")}`,
    ],
    ["restricted-xml", "a bare DOCTYPE", `<!DOCTYPE message>${msg("hi")}`],
    ["restricted-xml", "an entity reference beyond the five", msg("&nbsp;")],
    ["restricted-xml", "a comment", msg("a<!-- comment -->b")],
    ["restricted-xml", "a processing instruction", msg("a<?pi data?>b")],
];

for (const [condition, what, frame] of cases) {
    test(`${what} after login: ${condition}`, T, async () => {
        const conn = await loggedIn();
        conn.send(frame);
        await conn.expectStreamError(condition);
        await serverStillWorks();
    });
}

test("a comment before authentication: restricted-xml", T, async () => {
    const user = uniqueUser("raw");
    const conn = await rawConnect(srv, user);
    await conn.openStream();
    conn.send(`<!-- hello --><auth xmlns='${NS.sasl}' mechanism='PLAIN'/>`);
    await conn.expectStreamError("restricted-xml");
    await serverStillWorks();
});

test("the five predefined entities and character references are fine", T, async () => {
    const a = await loggedIn();
    const b = await connect(srv, uniqueUser("bob"));
    try {
        await b.presence();
        await b.sync();
        a.send(
            `<message xmlns='jabber:client' type='chat' to='${b.bare}' id='ents'>` +
                `<body>&lt;&gt;&amp;&apos;&quot;&#65;&#x42;</body></message>`,
        );
        const m = await b.nextMessage();
        assert.equal(m.getChildText("body"), `<>&'"AB`);
    } finally {
        a.terminate();
        await b.stop();
    }
});

test("a stanza over 64 KiB: policy-violation", T, async () => {
    const conn = await loggedIn();
    conn.send(msg("x".repeat(70 * 1024)));
    await conn.expectStreamError("policy-violation");
    await serverStillWorks();
});

test("a stanza just under the limit is accepted", T, async () => {
    const conn = await loggedIn();
    const b = await connect(srv, uniqueUser("bob"));
    try {
        await b.presence();
        await b.sync();
        const body = "y".repeat(60 * 1024);
        conn.send(
            `<message xmlns='jabber:client' type='chat' to='${b.bare}' id='big'>` +
                `<body>${body}</body></message>`,
        );
        const m = await b.nextMessage(body);
        assert.equal(m.getChildText("body").length, body.length);
    } finally {
        conn.terminate();
        await b.stop();
    }
});

test("a stanza before authentication: not-authorized", T, async () => {
    const user = uniqueUser("raw");
    const conn = await rawConnect(srv, user);
    await conn.openStream();
    conn.send(msg("too early"));
    await conn.expectStreamError("not-authorized");
    await serverStillWorks();
});

test("an <open/> to another domain: host-unknown", T, async () => {
    const user = uniqueUser("raw");
    const conn = await rawConnect(srv, user);
    conn.send(`<open xmlns='${NS.framing}' to='example.org' version='1.0'/>`);
    await conn.expectStreamError("host-unknown");
    await serverStillWorks();
});

test("malformed XML as the very first frame: not-well-formed", T, async () => {
    const user = uniqueUser("raw");
    const conn = await rawConnect(srv, user);
    conn.send(`<open xmlns='${NS.framing}' to='${DOMAIN}'`);
    await conn.expectStreamError("not-well-formed");
    await serverStillWorks();
});

test("a client that vanishes mid-stream does not hurt the server", T, async () => {
    for (let i = 0; i < 5; i++) {
        const conn = await loggedIn();
        conn.send(msg("half"));
        conn.terminate();
    }
    await serverStillWorks();
});

stopsCleanly(srv);
