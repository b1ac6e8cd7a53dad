// Login: the upgrade's JWT checks, SASL PLAIN, resource binding.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
    T,
    SLOW,
    DOMAIN,
    useServer,
    stopsCleanly,
    connect,
    upgrade,
    uniqueUser,
    makeToken,
    runParleyd,
    sql,
    waitForSql,
    sleep,
    stopAll,
} from "./lib/harness.mjs";

const srv = useServer();

async function expectStatus(opts, status, what) {
    const r = await upgrade(srv, opts);
    if (r.conn) r.conn.terminate();
    assert.equal(
        r.status,
        status,
        `${what}: expected HTTP ${status}, got ${r.conn ? "an open WebSocket" : (r.status ?? r.error?.message)}`,
    );
}

test("login with a chosen resource: authenticated, bound, user provisioned", T, async () => {
    const alice = uniqueUser("alice");
    const c = await connect(srv, alice, { resource: "laptop" });
    try {
        assert.equal(c.jid.toString(), `${alice}@${DOMAIN}/laptop`);
        // The login's session write is a store job: bound does not mean
        // committed yet, so the row is waited for (an immediate read failed
        // once under load).
        const rows = await waitForSql(
            "SELECT username, disabled FROM users WHERE username = :'u'",
            { u: alice },
            (r) => r.length > 0,
            "the user row",
        );
        assert.deepEqual(rows, [[alice, "f"]], "the user is provisioned on first login");
    } finally {
        await c.stop();
    }
});

test("login without a resource gets a generated web-<random> resource", T, async () => {
    const alice = uniqueUser("alice");
    const c1 = await connect(srv, alice);
    const c2 = await connect(srv, alice);
    try {
        const r1 = c1.jid.resource;
        const r2 = c2.jid.resource;
        assert.match(r1, /^web-[A-Za-z0-9]+$/, `generated resource: ${r1}`);
        assert.match(r2, /^web-[A-Za-z0-9]+$/, `generated resource: ${r2}`);
        assert.notEqual(r1, r2, "two generated resources differ");
        assert.equal(c1.jid.bare().toString(), `${alice}@${DOMAIN}`);
    } finally {
        await stopAll(c1, c2);
    }
});

test("a token whose sub is not in prepared form (upper case) gets 401", T, async () => {
    // Mapping "Carol" onto carol would let two identities of the token
    // issuer share one account (tests/e2e/15-input-hardening has the rest).
    const name = uniqueUser("Carol");
    await expectStatus({ token: srv.token(name) }, 401, "upper-case sub");
    const ok = await upgrade(srv, { token: srv.token(name.toLowerCase()) });
    assert.ok(ok.conn, `lower-case sub: ${ok.status ?? ok.error?.message}`);
    ok.conn.terminate();
});

test("an upgrade with an Authorization: Bearer header works", T, async () => {
    const alice = uniqueUser("alice");
    const token = srv.token(alice);
    const c = await connect(srv, alice, { token, cookie: null, bearer: token });
    try {
        assert.equal(c.jid.bare().toString(), `${alice}@${DOMAIN}`);
    } finally {
        await c.stop();
    }
});

test("an upgrade from an allowed origin (http://localhost:3000) works", T, async () => {
    const alice = uniqueUser("alice");
    const c = await connect(srv, alice, { origin: "http://localhost:3000" });
    await c.stop();
});

test("an upgrade from a foreign origin gets 403", T, async () => {
    const alice = uniqueUser("alice");
    await expectStatus(
        { token: srv.token(alice), origin: "http://evil.example" },
        403,
        "foreign origin",
    );
});

test("an upgrade without the xmpp subprotocol is refused", T, async () => {
    const alice = uniqueUser("alice");
    for (const protocols of [[], ["chat"]]) {
        const r = await upgrade(srv, { token: srv.token(alice), protocols });
        if (r.conn) r.conn.terminate();
        assert.ok(
            !r.conn && (r.status >= 400 || r.error),
            `protocols ${JSON.stringify(protocols)}: expected a refusal, got ` +
                (r.conn ? `an open WebSocket (protocol '${r.protocol}')` : String(r.status)),
        );
    }
});

const badTokens = [
    ["no token", () => undefined],
    ["a bad signature", (u) => srv.token(u, { badSignature: true })],
    ["alg none", (u) => srv.token(u, { alg: "none" })],
    ["alg HS512 (wrong algorithm, right secret)", (u) => srv.token(u, { alg: "HS512" })],
    ["alg RS256 (wrong algorithm)", (u) => srv.token(u, { alg: "RS256" })],
    ["an expired token", (u) => srv.token(u, { expIn: -120 })],
    [
        "nbf in the future",
        (u) => srv.token(u, { claims: { nbf: Math.floor(Date.now() / 1000) + 600 } }),
    ],
    ["no exp claim", (u) => srv.token(u, { claims: { exp: undefined } })],
    ["no sub claim", () => makeToken(undefined, { secret: srv.secret })],
    ["garbage", () => "not.a.jwt"],
];

for (const [what, make] of badTokens) {
    test(`an upgrade with ${what} gets 401, cookie or Bearer`, T, async () => {
        const alice = uniqueUser("alice");
        const token = make(alice);
        await expectStatus({ token }, 401, `${what} (cookie)`);
        if (token) await expectStatus({ bearer: token }, 401, `${what} (Bearer)`);
    });
}

test("a disabled user gets 401", SLOW, async () => {
    const alice = uniqueUser("alice");
    const c = await connect(srv, alice);
    await c.stop();
    await sql("UPDATE users SET disabled = true WHERE username = :'u'", { u: alice });
    // The server may learn of the change asynchronously (NOTIFY).
    let last;
    for (let i = 0; i < 20; i++) {
        last = await upgrade(srv, { token: srv.token(alice) });
        if (last.conn) last.conn.terminate();
        if (last.status === 401) break;
        await sleep(100);
    }
    assert.equal(last.status, 401, `disabled user: got ${last.conn ? "a WebSocket" : last.status}`);
    await assert.rejects(connect(srv, alice), "a disabled user cannot log in");
});

test("SASL PLAIN with another user's identity and token is not-authorized", T, async () => {
    const alice = uniqueUser("alice");
    const bob = uniqueUser("bob");
    await assert.rejects(
        connect(srv, alice, {
            cookie: srv.token(alice),
            saslUsername: bob,
            saslPassword: srv.token(bob),
        }),
        (err) => {
            assert.equal(err.condition, "not-authorized", `SASL error: ${err.message}`);
            return true;
        },
    );
});

test("SASL PLAIN with an invalid password token is not-authorized", T, async () => {
    const alice = uniqueUser("alice");
    await assert.rejects(
        connect(srv, alice, {
            cookie: srv.token(alice),
            saslPassword: srv.token(alice, { badSignature: true }),
        }),
        (err) => {
            assert.equal(err.condition, "not-authorized", `SASL error: ${err.message}`);
            return true;
        },
    );
});

test("the server still serves clients after all that", T, async () => {
    const c = await connect(srv, uniqueUser("alice"));
    await c.stop();
    assert.ok(srv.alive(), "parleyd is running");
});

test("parleyd refuses to start without a JWT key", SLOW, async () => {
    const r = await runParleyd([], {
        DATABASE_URL: process.env.DATABASE_URL,
        PARLEY_XMPP_ADDR: "127.0.0.1:0",
        PARLEY_API_ADDR: "127.0.0.1:0",
    });
    assert.notEqual(r.code, 0, `parleyd without a key exited ${r.code}:\n${r.out}`);
    assert.equal(r.signal, null, `parleyd without a key died of ${r.signal}:\n${r.out}`);
    assert.equal(r.sanitizer, null, `sanitizer report:\n${r.sanitizer}`);
    assert.match(r.out, /JWT|key|secret/i, "the message names the missing key");
});

stopsCleanly(srv);
