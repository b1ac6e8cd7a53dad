// The image's entrypoint, run outside a container against the suite's
// PostgreSQL: secrets from files, the migrations applied, then serve; a
// client logs in; /healthz answers at the URL the HEALTHCHECK probes. Then
// check-config and XEP-0156 host-meta.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

import {
    ROOT, SLOW, scratch, freshDatabase, freePort, waitListening, connect, uniqueUser,
    makeToken, parleydPath, runParleyd, withTimeout,
} from "./lib/deploy.mjs";

const dir = scratch("entrypoint");
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Starts docker/entrypoint.sh with env; resolves {child, out(), exited}. */
function entrypoint(args, env) {
    const child = spawn("sh", [path.join(ROOT, "docker", "entrypoint.sh"), ...args], {
        cwd: ROOT,
        env: { PATH: process.env.PATH, PARLEYD: path.resolve(parleydPath()),
            ASAN_OPTIONS: process.env.ASAN_OPTIONS, UBSAN_OPTIONS: process.env.UBSAN_OPTIONS,
            PARLEY_CONFIG: path.join(dir, "absent.conf"), ...env },
        stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    const exited = new Promise((r) => child.on("exit", (code, signal) => r({ code, signal })));
    return { child, out: () => out, exited };
}

test("the entrypoint reads its secrets from files, migrates a new database and serves", SLOW, async () => {
    const url = await freshDatabase("parley_deploy_entry");
    const secret = crypto.randomBytes(32).toString("hex");
    fs.writeFileSync(path.join(dir, "jwt_secret"), `${secret}\n`, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, "database_url"), `${url}\n`, { mode: 0o600 });
    const port = await freePort();
    const apiPort = await freePort();
    const ep = entrypoint([], {
        PARLEY_JWT_SECRET_FILE: path.join(dir, "jwt_secret"),
        DATABASE_URL_FILE: path.join(dir, "database_url"),
        PARLEY_XMPP_ADDR: `127.0.0.1:${port}`,
        PARLEY_API_ADDR: `127.0.0.1:${apiPort}`,
    });
    try {
        await waitListening(port, 20_000, `the entrypoint's parleyd:\n${ep.out()}`);
        assert.match(ep.out(), /parleyd migrate: schema is current/);
        // A client logs in with a token signed by the secret from the file.
        const user = uniqueUser("ep");
        const srv = { url: `ws://127.0.0.1:${port}/xmpp`, token: (u) => makeToken(u, { secret }) };
        const c = await connect(srv, user);
        await c.stop();
        // The HEALTHCHECK's URL, from the same entrypoint and environment.
        const hu = entrypoint(["--health-url"], { PARLEY_API_ADDR: `127.0.0.1:${apiPort}` });
        await hu.exited;
        const healthUrl = hu.out().trim();
        assert.equal(healthUrl, `http://127.0.0.1:${apiPort}/healthz`);
        let res;
        for (let i = 0; i < 100; i++) {
            res = await fetch(healthUrl).catch(() => null);
            if (res) break;
            await new Promise((r) => setTimeout(r, 50));
        }
        assert.equal(res?.status, 200);
    } finally {
        ep.child.kill("SIGTERM");
    }
    const exit = await withTimeout(ep.exited, 15_000, "exit after SIGTERM");
    assert.deepEqual(exit, { code: 0, signal: null }, ep.out());
    assert.doesNotMatch(ep.out(), /AddressSanitizer|runtime error:|LeakSanitizer/);
});

test("the entrypoint refuses a secret file it cannot read", SLOW, async () => {
    const ep = entrypoint(["migrate"], { PARLEY_JWT_SECRET_FILE: path.join(dir, "missing") });
    const exit = await ep.exited;
    assert.equal(exit.code, 1);
    assert.match(ep.out(), /cannot read PARLEY_JWT_SECRET_FILE/);
});

const secret = crypto.randomBytes(16).toString("hex");

test("check-config: exit 0 and what it would serve, for a good configuration", SLOW, async () => {
    const r = await runParleyd(["check-config"], {
        DATABASE_URL: process.env.DATABASE_URL, PARLEY_JWT_SECRET: secret,
        PARLEY_DOMAIN: "chat.example.org", PARLEY_BEHIND_PROXY: "1",
        PARLEY_TRUSTED_PROXIES: "127.0.0.1",
    });
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /^configuration: +ok$/m);
    assert.match(r.out, /^domain: +chat\.example\.org/m);
    assert.match(r.out, /^host-meta: +wss:\/\/chat\.example\.org\/xmpp$/m);
    assert.match(r.out, /^behind proxy: +yes \(trusted proxies: 127\.0\.0\.1\)$/m);
    assert.match(r.out, /^database: +reachable, migrations current$/m);
    const r2 = await runParleyd(["--check"], { DATABASE_URL: process.env.DATABASE_URL, PARLEY_JWT_SECRET: secret });
    assert.equal(r2.code, 0, r2.out);
    // Behind a TLS proxy, plain listeners on every interface are fine.
    const r3 = await runParleyd(["check-config"], {
        DATABASE_URL: process.env.DATABASE_URL, PARLEY_JWT_SECRET: secret, PARLEY_BEHIND_PROXY: "1",
        PARLEY_XMPP_ADDR: "0.0.0.0:5299", PARLEY_API_ADDR: "0.0.0.0:8099",
    });
    assert.equal(r3.code, 0, r3.out);
    assert.match(r3.out, /^xmpp: +ws:\/\/0\.0\.0\.0:5299\/xmpp$/m);
});

test("check-config fails on an unreachable database, a missing key, a plain public listener", SLOW, async () => {
    const cases = [
        [{ DATABASE_URL: "postgresql:///nope?host=/nonexistent", PARLEY_JWT_SECRET: secret }, /database: +NOT reachable/],
        [{ DATABASE_URL: process.env.DATABASE_URL }, /no JWT key/],
        [{ DATABASE_URL: process.env.DATABASE_URL, PARLEY_JWT_SECRET: secret, PARLEY_XMPP_ADDR: "0.0.0.0:5299" },
            /refusing plain ws:\/\/ on 0\.0\.0\.0/],
        [{ DATABASE_URL: process.env.DATABASE_URL, PARLEY_JWT_SECRET: secret, PARLEY_API_ADDR: "0.0.0.0:8099" },
            /refusing plain http:\/\/ for the admin API on 0\.0\.0\.0/],
        [{ DATABASE_URL: process.env.DATABASE_URL, PARLEY_JWT_SECRET: secret, PARLEY_TLS_CERT: "/nonexistent.pem",
            PARLEY_TLS_KEY: "/nonexistent.key" }, /cannot read \/nonexistent\.pem/],
    ];
    for (const [env, why] of cases) {
        const r = await runParleyd(["check-config"], env);
        assert.equal(r.code, 1, `${JSON.stringify(env)}:\n${r.out}`);
        assert.match(r.out, why);
        assert.match(r.out, /^configuration: +NOT ok$/m);
    }
});

test("serve refuses a plain admin API beyond loopback unless a proxy is in front", SLOW, async () => {
    const env = { DATABASE_URL: process.env.DATABASE_URL, PARLEY_JWT_SECRET: secret,
        PARLEY_XMPP_ADDR: `127.0.0.1:${await freePort()}`, PARLEY_API_ADDR: `0.0.0.0:${await freePort()}` };
    const r = await runParleyd([], env);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /refusing plain http:\/\/ for the admin API/);
});

test("XEP-0156: host-meta and host-meta.json announce the WebSocket URL", SLOW, async () => {
    const port = await freePort();
    const apiPort = await freePort();
    const wsUrl = "wss://chat.example.org/xmpp?a=1&b=2";
    const ep = entrypoint(["serve"], {
        DATABASE_URL: process.env.DATABASE_URL, PARLEY_JWT_SECRET: secret, PARLEY_MIGRATE: "0",
        PARLEY_XMPP_ADDR: `127.0.0.1:${port}`, PARLEY_API_ADDR: `127.0.0.1:${apiPort}`,
        PARLEY_WS_URL: wsUrl,
    });
    try {
        await waitListening(port, 20_000, `parleyd:\n${ep.out()}`);
        assert.doesNotMatch(ep.out(), /parleyd migrate/, "PARLEY_MIGRATE=0 skips it");
        let xrd;
        for (let i = 0; i < 100 && !xrd; i++) {
            xrd = await fetch(`http://127.0.0.1:${apiPort}/.well-known/host-meta`).catch(() => null);
            if (!xrd) await new Promise((r) => setTimeout(r, 50));
        }
        assert.equal(xrd.status, 200);
        assert.match(xrd.headers.get("content-type"), /^application\/xrd\+xml/);
        assert.equal(xrd.headers.get("access-control-allow-origin"), "*");
        const text = await xrd.text();
        assert.match(text, /<XRD xmlns='http:\/\/docs\.oasis-open\.org\/ns\/xri\/xrd-1\.0'>/);
        assert.ok(text.includes(`<Link rel="urn:xmpp:alt-connections:websocket" ` +
            `href="wss://chat.example.org/xmpp?a=1&amp;b=2"/>`), text);
        const jrd = await fetch(`http://127.0.0.1:${apiPort}/.well-known/host-meta.json`);
        assert.equal(jrd.status, 200);
        assert.equal(jrd.headers.get("access-control-allow-origin"), "*");
        assert.deepEqual(await jrd.json(),
            { links: [{ rel: "urn:xmpp:alt-connections:websocket", href: wsUrl }] });
    } finally {
        ep.child.kill("SIGTERM");
    }
    const exit = await withTimeout(ep.exited, 15_000, "exit after SIGTERM");
    assert.equal(exit.code, 0, ep.out());
});
