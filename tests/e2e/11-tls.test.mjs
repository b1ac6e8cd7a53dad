// wss:// with a certificate from the configuration, and the rule that
// plain ws:// binds beyond loopback only when the configuration says so.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import {
    SLOW,
    NS,
    Server,
    stopsCleanly,
    rawConnect,
    upgrade,
    uniqueUser,
    freePort,
    runParleyd,
} from "./lib/harness.mjs";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-tls-"));
const cert = path.join(dir, "cert.pem");
const key = path.join(dir, "key.pem");
execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
    "-subj", "/CN=localhost", "-keyout", key, "-out", cert,
], { stdio: "ignore" });

const srv = new Server({ env: { PARLEY_TLS_CERT: cert, PARLEY_TLS_KEY: key } });
before(() => srv.start(), { timeout: 30_000 });
after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    return srv.stopping ? srv.stopping.catch(() => {}) : srv.stop();
});

const selfSigned = { wsOptions: { rejectUnauthorized: false } };

test("with a certificate the endpoint is wss:// and a client logs in over TLS", SLOW, async () => {
    assert.match(srv.url, /^wss:/);
    const user = uniqueUser("tls");
    const conn = await rawConnect(srv, user, selfSigned);
    try {
        const jid = await conn.login(user, srv.token(user));
        assert.match(jid, new RegExp(`^${user}@localhost/`));
        conn.send(`<iq xmlns='jabber:client' type='get' id='p' to='localhost'><ping xmlns='${NS.ping}'/></iq>`);
        assert.equal((await conn.nextElement("ping result")).attrs.type, "result");
    } finally {
        conn.ws.terminate();
    }
});

test("the TLS endpoint still checks the token: no token is 401", SLOW, async () => {
    const r = await upgrade(srv, { ...selfSigned });
    if (r.conn) r.conn.ws.terminate();
    assert.equal(r.status, 401);
});

test("plain ws:// on a non-loopback address needs PARLEY_ALLOW_PLAIN_WS", SLOW, async () => {
    const env = {
        DATABASE_URL: process.env.DATABASE_URL,
        PARLEY_JWT_SECRET: "x".repeat(32),
        PARLEY_XMPP_ADDR: `0.0.0.0:${await freePort()}`,
        PARLEY_API_ADDR: `127.0.0.1:${await freePort()}`,
    };
    const r = await runParleyd([], env);
    assert.notEqual(r.code, 0, `parleyd bound plain ws:// on 0.0.0.0:\n${r.out}`);
    assert.match(r.out, /PARLEY_ALLOW_PLAIN_WS|TLS/, "the message says what to set");
    assert.equal(r.sanitizer, null, `sanitizer report:\n${r.sanitizer}`);

    const allowed = new Server({ env: { PARLEY_ALLOW_PLAIN_WS: "1" }, bindHost: "0.0.0.0" });
    await allowed.start();
    try {
        const r2 = await upgrade(allowed, {});
        if (r2.conn) r2.conn.ws.terminate();
        assert.equal(r2.status, 401, "listening on 0.0.0.0 when allowed");
    } finally {
        await allowed.stop();
    }
});

stopsCleanly(srv);
