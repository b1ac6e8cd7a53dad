// Limits against abuse (SECURITY.md): connections not yet upgraded per
// source address, the connect rate per address, the upgrade's own deadline
// (slowloris), the global connection cap, authentication failures (429
// with Retry-After at the upgrade, <temporary-auth-failure/> in SASL,
// logged once) and the inbound byte rate (slowed, nothing lost). Clients
// come from many loopback addresses (127.0.0.x), so that one address's
// limit is seen not to touch another's. Each refusal is counted in
// /metrics.
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";

import {
    T,
    SLOW,
    NS,
    useServer,
    stopsCleanly,
    upgrade,
    rawConnect,
    uniqueUser,
    bareJid,
    withTimeout,
    stopAll,
} from "./lib/harness.mjs";

// Each server turns on the limit its tests are about and the others off,
// so that one test's connections do not trip another's limit.
const OFF = {
    PARLEY_LIMIT_PENDING_PER_IP: "0",
    PARLEY_LIMIT_CONNECT_RATE: "0",
    PARLEY_LIMIT_CONNECTIONS: "0",
    PARLEY_LIMIT_AUTH_FAILURES: "0",
    PARLEY_LIMIT_SESSION_BYTES: "0",
};
const pending = useServer({
    env: { ...OFF, PARLEY_LIMIT_PENDING_PER_IP: "5", PARLEY_UPGRADE_TIMEOUT: "60" },
});
const rate = useServer({
    env: { ...OFF, PARLEY_LIMIT_CONNECT_RATE: "2", PARLEY_LIMIT_CONNECT_BURST: "5" },
});
const capped = useServer({
    env: { ...OFF, PARLEY_LIMIT_CONNECTIONS: "4", PARLEY_UPGRADE_TIMEOUT: "2" },
});
const auth = useServer({ env: { ...OFF, PARLEY_LIMIT_AUTH_FAILURES: "3" } });
const shaped = useServer({ env: { ...OFF, PARLEY_LIMIT_SESSION_BYTES: "20000" } });

/** A TCP connection from `local` that sends nothing. Resolves once
 * connected; .gone resolves when the server closes it. */
function tcpFrom(srv, local) {
    return new Promise((resolve, reject) => {
        const s = net.connect({ port: srv.port, host: "127.0.0.1", localAddress: local });
        s.gone = new Promise((r) => s.on("close", r));
        s.on("error", () => {});
        s.once("connect", () => resolve(s));
        s.once("error", reject);
    });
}

/** An upgrade with a good token for a fresh user, from `local`. */
function upgradeFrom(srv, local, opts = {}) {
    const user = opts.user ?? uniqueUser("lim");
    return upgrade(srv, {
        token: opts.token ?? srv.token(user),
        wsOptions: { localAddress: local },
    }).then((r) => ({ ...r, user }));
}

/** A whole login (open, SASL, bind) from `local`; resolves the RawConn. */
async function loginFrom(srv, local) {
    const user = uniqueUser("lim");
    const conn = await rawConnect(srv, user, { wsOptions: { localAddress: local } });
    await conn.login(user, srv.token(user));
    return conn;
}

/** GET /metrics; the API's listener comes up a moment after the XMPP one
 * that the harness waits for, so a refused connection is tried again. */
async function metricsText(srv) {
    for (let tries = 0; ; tries++) {
        try {
            return await (await fetch(`http://127.0.0.1:${srv.apiPort}/metrics`)).text();
        } catch (err) {
            if (tries >= 100) throw err;
            await new Promise((r) => setTimeout(r, 50));
        }
    }
}

/** parley_limit_refusals_total{limit=name} from /metrics. */
async function refusals(srv, name) {
    const text = await metricsText(srv);
    const m = text.match(new RegExp(`^parley_limit_refusals_total\\{limit="${name}"\\} (\\d+)$`, "m"));
    assert.ok(m, `no parley_limit_refusals_total for ${name} in /metrics`);
    return Number(m[1]);
}

// --- PARLEY_LIMIT_PENDING_PER_IP -------------------------------------------

test("pending per address: the 6th silent connection from one address is closed at once, another address and later ones are served", SLOW, async () => {
    const before = await refusals(pending, "pending_per_ip");
    const held = [];
    for (let i = 0; i < 5; i++) held.push(await tcpFrom(pending, "127.0.0.2"));
    const sixth = await tcpFrom(pending, "127.0.0.2");
    await withTimeout(sixth.gone, 3_000, "the 6th connection closed by the server");
    // The five are still open (the upgrade deadline is a minute here).
    assert.ok(held.every((s) => !s.destroyed && s.readyState === "open"));
    // An upgrade from the same address is refused too, while the five wait.
    const refused = await upgradeFrom(pending, "127.0.0.2");
    assert.ok(refused.error, "an upgrade from the full address is refused");
    // Another address is not affected.
    const other = await loginFrom(pending, "127.0.0.3");
    // Once the five go, the address is served again.
    for (const s of held) s.destroy();
    let again;
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline) {
        again = await upgradeFrom(pending, "127.0.0.2");
        if (again.conn) break;
    }
    assert.ok(again.conn, "the address is served again once its pending connections are gone");
    again.conn.terminate();
    other.terminate();
    assert.ok((await refusals(pending, "pending_per_ip")) >= before + 2);
});

test("authenticated connections are not capped per address (an office behind one NAT)", SLOW, async () => {
    const conns = [];
    for (let i = 0; i < 12; i++) conns.push(await loginFrom(pending, "127.0.0.4"));
    assert.equal(conns.length, 12);
    for (const c of conns) c.terminate();
});

// --- PARLEY_LIMIT_CONNECT_RATE ---------------------------------------------

test("connect rate: a burst of 5 from one address, then 2 a second; another address is not slowed", SLOW, async () => {
    const before = await refusals(rate, "connect_rate");
    const got = [];
    for (let i = 0; i < 5; i++) {
        const r = await upgradeFrom(rate, "127.0.0.5");
        assert.ok(r.conn, `connection ${i + 1} of the burst is accepted`);
        got.push(r.conn);
    }
    const over = await upgradeFrom(rate, "127.0.0.5");
    assert.ok(over.error, "the 6th at once is refused");
    const elsewhere = await upgradeFrom(rate, "127.0.0.6");
    assert.ok(elsewhere.conn, "another address is accepted");
    got.push(elsewhere.conn);
    // A token comes back within half a second or so (2 a second).
    let later;
    const t0 = Date.now();
    while (Date.now() - t0 < 5_000) {
        later = await upgradeFrom(rate, "127.0.0.5");
        if (later.conn) break;
    }
    assert.ok(later.conn, "accepted again once the rate allows");
    got.push(later.conn);
    for (const c of got) c.terminate();
    assert.ok((await refusals(rate, "connect_rate")) >= before + 1);
});

// --- the upgrade deadline and PARLEY_LIMIT_CONNECTIONS ---------------------

test("slowloris: headers trickling in are cut off at PARLEY_UPGRADE_TIMEOUT, and so is a silent socket", SLOW, async () => {
    const slow = await tcpFrom(capped, "127.0.0.7");
    const silent = await tcpFrom(capped, "127.0.0.7");
    const t0 = Date.now();
    slow.write("GET /xmpp HTTP/1.1\r\nHost: x\r\n");
    let i = 0;
    const drip = setInterval(() => slow.writable && slow.write(`X-${i++}: y\r\n`), 200);
    try {
        await withTimeout(slow.gone, 8_000, "the slow upgrade closed");
        await withTimeout(silent.gone, 8_000, "the silent socket closed");
    } finally {
        clearInterval(drip);
    }
    const took = Date.now() - t0;
    assert.ok(took >= 1_500, `closed after ${took} ms, not before the 2 s deadline`);
    assert.ok(i >= 5, "headers kept coming until the deadline");
});

test("global cap: past PARLEY_LIMIT_CONNECTIONS new connections are refused, from any address; a closed one makes room", SLOW, async () => {
    const before = await refusals(capped, "connections");
    const conns = [];
    for (let i = 0; i < 4; i++) conns.push(await loginFrom(capped, `127.0.1.${i + 1}`));
    const fifth = await upgradeFrom(capped, "127.0.1.9");
    assert.ok(fifth.error, "the 5th connection is refused");
    assert.ok((await refusals(capped, "connections")) >= before + 1);
    conns.shift().terminate();
    let again;
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline) {
        again = await upgradeFrom(capped, "127.0.1.9");
        if (again.conn) break;
    }
    assert.ok(again.conn, "room again once one connection closed");
    again.conn.terminate();
    for (const c of conns) c.terminate();
});

// --- PARLEY_LIMIT_AUTH_FAILURES --------------------------------------------

test("failed upgrades: 3 a minute per address, then 429 with Retry-After (even for a good token), logged once; another address is served", SLOW, async () => {
    const before = await refusals(auth, "auth_failures");
    const bad = auth.token("mallory", { secret: "not-the-server-secret" });
    for (let i = 0; i < 3; i++) {
        const r = await upgrade(auth, { token: bad, wsOptions: { localAddress: "127.0.0.8" } });
        assert.equal(r.status, 401, `failure ${i + 1} is a 401`);
    }
    for (let i = 0; i < 4; i++) {
        const r = await upgrade(auth, { token: bad, wsOptions: { localAddress: "127.0.0.8" } });
        assert.equal(r.status, 429);
        const retry = Number(r.headers["retry-after"]);
        assert.ok(retry >= 1 && retry <= 20, `Retry-After ${r.headers["retry-after"]}`);
    }
    const good = await upgradeFrom(auth, "127.0.0.8");
    assert.equal(good.status, 429, "the address is refused whatever it sends");
    const other = await upgradeFrom(auth, "127.0.0.9");
    assert.ok(other.conn, "another address is served");
    other.conn.terminate();
    const lines = auth.output
        .split("\n")
        .filter((l) => l.includes("127.0.0.8: over PARLEY_LIMIT_AUTH_FAILURES"));
    assert.equal(lines.length, 1, "logged once, not at every attempt");
    assert.ok((await refusals(auth, "auth_failures")) >= before + 5);
});

/** SASL PLAIN on an open stream; resolves the answer's element name and
 * its condition. */
async function saslPlain(conn, user, token) {
    const plain = Buffer.from(`\0${user}\0${token}`).toString("base64");
    conn.send(`<auth xmlns='${NS.sasl}' mechanism='PLAIN'>${plain}</auth>`);
    const el = await conn.nextElement("SASL answer");
    const cond = el.children.find((c) => typeof c !== "string");
    return { name: el.getName(), condition: cond?.getName() };
}

test("SASL failures per username: past the limit the user's next login gets temporary-auth-failure, from any address; another user is not affected", SLOW, async () => {
    const user = uniqueUser("sasl");
    const wrong = auth.token(user, { secret: "not-the-server-secret" });
    // Three failures on one stream (the stream's own limit then closes it).
    const a = await rawConnect(auth, user, { wsOptions: { localAddress: "127.0.2.1" } });
    await a.openStream();
    for (let i = 0; i < 3; i++) {
        const r = await saslPlain(a, user, wrong);
        assert.deepEqual(r, { name: "failure", condition: "not-authorized" });
    }
    await a.expectStreamError("not-authorized");
    // From another address, with the right token: come back later.
    const b = await rawConnect(auth, user, { wsOptions: { localAddress: "127.0.2.2" } });
    await b.openStream();
    assert.deepEqual(await saslPlain(b, user, auth.token(user)), {
        name: "failure",
        condition: "temporary-auth-failure",
    });
    b.terminate();
    // Another user from that address logs in.
    const c = await loginFrom(auth, "127.0.2.2");
    c.terminate();
    assert.equal(
        auth.output.split("\n").filter((l) => l.includes(`${bareJid(user)}`) && l.includes("over PARLEY_LIMIT_AUTH_FAILURES")).length,
        1,
    );
});

// --- PARLEY_LIMIT_SESSION_BYTES --------------------------------------------

test("inbound byte rate: a fast sender is slowed, not dropped, and every message arrives in order", { timeout: 30_000 }, async () => {
    const before = await refusals(shaped, "session_bytes");
    const sender = await loginFrom(shaped, "127.0.3.1");
    const rcptUser = uniqueUser("rcpt");
    const rcpt = await rawConnect(shaped, rcptUser, { wsOptions: { localAddress: "127.0.3.2" } });
    await rcpt.login(rcptUser, shaped.token(rcptUser));
    rcpt.send("<presence xmlns='jabber:client'/>");
    await rcpt.nextElement("own presence");
    const body = "x".repeat(1000);
    const n = 150; // about 170 KB at 20 KB/s, past a 64 KiB burst: 5 s or more
    const t0 = Date.now();
    for (let i = 0; i < n; i++) {
        sender.send(
            `<message xmlns='jabber:client' type='chat' to='${bareJid(rcptUser)}' id='m${i}'><body>${i} ${body}</body></message>`,
        );
    }
    const seen = [];
    while (seen.length < n) {
        const el = await rcpt.nextElement("message", 20_000);
        if (el.getName() === "message") seen.push(Number(el.getChildText("body").split(" ")[0]));
    }
    const took = Date.now() - t0;
    assert.deepEqual(seen, [...Array(n).keys()], "all of them, in order");
    assert.ok(took >= 3_000, `took ${took} ms: the sender was slowed`);
    assert.ok(sender.closeInfo === null, "the sender was not dropped");
    assert.ok((await refusals(shaped, "session_bytes")) >= before + 1);
    sender.terminate();
    rcpt.terminate();
});

stopsCleanly(pending);
stopsCleanly(rate);
stopsCleanly(capped);
stopsCleanly(auth);
stopsCleanly(shaped);
