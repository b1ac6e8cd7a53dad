// deploy/nginx.conf in front of parleyd, both on loopback: TLS at nginx, a
// client logs in with @xmpp/client over wss:// through it, the admin API and
// host-meta answer through it, plain HTTP is sent to HTTPS. And the client
// address: X-Forwarded-For is believed from a trusted proxy only.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";

import {
    SLOW, Server, stopsCleanly, online, rawConnect, uniqueUser, stopAll, waitForSql, freePort,
    scratch, makeCert, nginxConfig, startNginx, withTimeout, xml,
} from "./lib/deploy.mjs";

// The test's own certificate: nginx's is self-signed.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";

const srv = new Server({
    env: { PARLEY_BEHIND_PROXY: "1", PARLEY_TRUSTED_PROXIES: "127.0.0.1" },
});
const dir = scratch("nginx");
let nginx = null;
let httpsPort;
let httpPort;

before(async () => {
    await srv.start();
    httpsPort = await freePort();
    httpPort = await freePort();
    const { cert, key } = makeCert(dir);
    const main = nginxConfig(dir, { httpsPort, httpPort, xmppPort: srv.port, apiPort: srv.apiPort, cert, key });
    nginx = await startNginx(dir, main, httpsPort);
}, { timeout: 30_000 });

after(async () => {
    if (nginx) {
        nginx.kill("SIGTERM");
        await withTimeout(nginx.exited, 5_000, "nginx exit").catch(() => nginx.kill("SIGKILL"));
    }
    fs.rmSync(dir, { recursive: true, force: true });
    return srv.stopping ? srv.stopping.catch(() => {}) : srv.stop();
}, { timeout: 30_000 });

/** The proxy's side of srv: clients reach parleyd through nginx. */
const viaProxy = () => ({
    url: `wss://127.0.0.1:${httpsPort}/xmpp`,
    token: (u, o) => srv.token(u, o),
});

const admin = () => srv.token("root", { claims: { role: "admin" } });

async function apiViaProxy(urlPath, opts = {}) {
    return fetch(`https://127.0.0.1:${httpsPort}${urlPath}`, {
        headers: { Authorization: `Bearer ${admin()}`, ...(opts.headers || {}) },
        redirect: "manual",
    });
}

const addressOf = "SELECT address FROM sessions WHERE username = :'u'";

test("a client logs in with @xmpp/client over wss:// through nginx and chats", SLOW, async () => {
    const a = uniqueUser("px");
    const b = uniqueUser("px");
    const ca = await online(viaProxy(), a);
    const cb = await online(viaProxy(), b);
    try {
        await ca.send(xml("message", { type: "chat", to: `${b}@localhost`, id: "px-1" },
            xml("body", {}, "through the proxy")));
        await cb.nextMessage("through the proxy");
        // The session's address is the client's as nginx saw it, passed on in
        // X-Forwarded-For (127.0.0.1 here too: the point is the path it took).
        const rows = await waitForSql(addressOf, { u: a }, (r) => r.length === 1, "a's session");
        assert.equal(rows[0][0], "127.0.0.1");
    } finally {
        await stopAll(ca, cb);
    }
});

test("the admin API, the probes and host-meta answer through nginx; /metrics does not", SLOW, async () => {
    const user = uniqueUser("pxapi");
    const c = await online(viaProxy(), user);
    try {
        const res = await apiViaProxy(`/api/v1/users/${user}/sessions`);
        assert.equal(res.status, 200);
        const body = await res.json();
        assert.equal(body.items?.length ?? body.sessions?.length ?? body.length, 1, JSON.stringify(body));
    } finally {
        await stopAll(c);
    }
    assert.equal((await apiViaProxy("/healthz")).status, 200);
    assert.equal((await apiViaProxy("/readyz")).status, 200);
    assert.equal((await apiViaProxy("/metrics")).status, 404, "metrics stay private");
    const hm = await apiViaProxy("/.well-known/host-meta.json");
    assert.equal(hm.status, 200);
    // Behind a proxy the default URL is the proxy's: wss://DOMAIN/xmpp.
    assert.deepEqual((await hm.json()).links, [
        { rel: "urn:xmpp:alt-connections:websocket", href: "wss://localhost/xmpp" },
    ]);
    const unauth = await fetch(`https://127.0.0.1:${httpsPort}/api/v1/sessions`);
    assert.equal(unauth.status, 401, "the token is still checked behind the proxy");
});

test("plain HTTP on the proxy is redirected to HTTPS", SLOW, async () => {
    const res = await fetch(`http://127.0.0.1:${httpPort}/api/v1/sessions`, { redirect: "manual" });
    assert.equal(res.status, 301);
    assert.match(res.headers.get("location"), /^https:\/\/127\.0\.0\.1\/api\/v1\/sessions$/);
});

test("nginx replaces a client's own X-Forwarded-For", SLOW, async () => {
    const user = uniqueUser("pxff");
    const conn = await rawConnect(viaProxy(), user, { headers: { "X-Forwarded-For": "198.51.100.9" } });
    try {
        await conn.login(user, srv.token(user));
        conn.send("<presence xmlns='jabber:client'/>");
        const rows = await waitForSql(addressOf, { u: user }, (r) => r.length === 1, "the session");
        assert.equal(rows[0][0], "127.0.0.1");
    } finally {
        conn.ws.terminate();
    }
});

test("X-Forwarded-For from a trusted proxy names the client: its last address", SLOW, async () => {
    const user = uniqueUser("xff");
    const conn = await rawConnect(srv, user, { headers: { "X-Forwarded-For": "198.51.100.9, 203.0.113.7" } });
    try {
        await conn.login(user, srv.token(user));
        conn.send("<presence xmlns='jabber:client'/>");
        const rows = await waitForSql(addressOf, { u: user }, (r) => r.length === 1, "the session");
        assert.equal(rows[0][0], "203.0.113.7");
    } finally {
        conn.ws.terminate();
    }
});

test("X-Forwarded-For from a peer that is not a trusted proxy is ignored", SLOW, async () => {
    const other = new Server({ env: { PARLEY_TRUSTED_PROXIES: "192.0.2.1" } });
    await other.start();
    const user = uniqueUser("xffno");
    try {
        const conn = await rawConnect(other, user, { headers: { "X-Forwarded-For": "203.0.113.7" } });
        try {
            await conn.login(user, other.token(user));
            conn.send("<presence xmlns='jabber:client'/>");
            const rows = await waitForSql(addressOf, { u: user }, (r) => r.length === 1, "the session");
            assert.equal(rows[0][0], "127.0.0.1");
        } finally {
            conn.ws.terminate();
        }
    } finally {
        await other.stop();
    }
});

stopsCleanly(srv);
