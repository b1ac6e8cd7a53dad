// PARLEY_SESSION_EXPIRY: `ignore` (the default, as the peers do) keeps a
// session whose token has expired since it logged in; `close` ends it with
// a not-authorized stream error when the token expires, and the client
// logs in again with a fresh token. (A disabled user is closed in both
// modes: 07-sessions.)
import { test } from "node:test";
import assert from "node:assert/strict";

import { SLOW, useServer, stopsCleanly, rawConnect, uniqueUser, sleep } from "./lib/harness.mjs";

const ignoring = useServer();
const closing = useServer({ env: { PARLEY_SESSION_EXPIRY: "close" } });

async function loginWith(srv, user, expIn) {
    const token = srv.token(user, { expIn });
    const conn = await rawConnect(srv, user, { token });
    await conn.login(user, token);
    return conn;
}

/** A ping round trip on a raw stream. */
async function pings(conn, id) {
    conn.send(`<iq xmlns='jabber:client' type='get' id='${id}'><ping xmlns='urn:xmpp:ping'/></iq>`);
    for (;;) {
        const el = await conn.nextElement("ping result");
        if (el.getName() === "iq" && el.attrs.id === id) return el.attrs.type;
    }
}

/** Resolves once the clock is past `unixSeconds` (the test waits for the
 * token to expire, not for a guessed time). */
async function until(unixSeconds) {
    while (Date.now() / 1000 <= unixSeconds) await sleep(100);
}

test("close: a session ends with not-authorized when its token expires; a fresh token logs in again", SLOW, async () => {
    const user = uniqueUser("exp");
    const t0 = Date.now();
    const short = await loginWith(closing, user, 2);
    const other = await loginWith(closing, uniqueUser("long"), 3600);
    const err = await short.expectStreamError("not-authorized", 8_000);
    assert.match(err.toString(), /expired/);
    assert.ok(Date.now() - t0 >= 1_000, "not before the token expired");
    assert.equal(await pings(other, "p1"), "result", "a session with a valid token stays");
    const again = await loginWith(closing, user, 3600);
    assert.equal(await pings(again, "p2"), "result");
    again.terminate();
    other.terminate();
});

test("ignore (the default): a session outlives its token", SLOW, async () => {
    const user = uniqueUser("exp");
    const exp = Math.floor(Date.now() / 1000) + 2;
    const conn = await loginWith(ignoring, user, 2);
    await until(exp + 1);
    assert.equal(await pings(conn, "p1"), "result");
    assert.equal(conn.closeInfo, null);
    conn.terminate();
});

stopsCleanly(ignoring);
stopsCleanly(closing);
