// Admin API: path normalisation (no spelling of a path reaches a handler
// other than its own, or skips the token: the class of Openfire's
// CVE-2023-32315) and request smuggling shapes, over a raw socket.
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";

import { T, useServer, stopsCleanly, api, adminToken, rawGet, rawHttp, sleep } from "./lib/api.mjs";

const srv = useServer();

test("positive controls: the plain paths answer", T, async () => {
    const token = adminToken(srv);
    assert.equal((await rawGet(srv, "/api/v1/users", token)).status, 200);
    assert.equal((await rawGet(srv, "/api/v1/users")).status, 401);
    assert.equal((await rawGet(srv, "/healthz")).status, 200);
    assert.equal((await rawGet(srv, "/api/v1/users?limit=1", token)).status, 200);
    // An escape of an unreserved character is the same path (RFC 3986
    // 6.2.2.2), and still needs its token.
    assert.equal((await rawGet(srv, "/api/v1/%75sers", token)).status, 200);
    assert.equal((await rawGet(srv, "/api/v1/%75sers")).status, 401);
});

// Each tries to reach /api/v1/users (or another route) through a public
// path or a spelling the router must not take for it.
const refused = [
    "/healthz/../api/v1/users",
    "/healthz/%2e%2e/api/v1/users",
    "/healthz/%2E%2E/api/v1/users",
    "/healthz/.%2e/api/v1/users",
    "/api/v1/openapi.yaml/..%2fusers",
    "/api/v1/openapi.yaml%2f..%2fusers",
    "/api/v1/users%2f..",
    "/api/v1/users/%2e%2e",
    "/api/v1/users/%252e%252e",
    "/api/v1/%u0075sers",
    "/api/v1/users/%u002e%u002e",
    "/api/v1/users%",
    "/api/v1/users%2",
    "//api/v1/users",
    "/api//v1/users",
    "/api/v1/users/",
    "/./api/v1/users",
    "/api/v1/./users",
    "/api/v1/users;jsessionid=1",
    "/api/v1/users/alice;x/sessions",
    "/api/v1/users%3bx",
    "/api/v1/users%00",
    "/api/v1/users%0a",
    "/api/v1/users\\..\\healthz",
    "/api/v1/users%5c..%5chealthz",
    "http://127.0.0.1/api/v1/users",
    "*",
    "/api/v1/users#frag",
];

test("dot segments, encoded separators, ';' parameters, bad escapes, empty segments: 400", T, async () => {
    const token = adminToken(srv);
    for (const target of refused) {
        for (const t of [undefined, token]) {
            const res = await rawGet(srv, target, t);
            assert.ok(res.status === 400 || (res.status === null && res.closed),
                `${target} (${t ? "with" : "without"} a token): ${res.status} ${res.body}`);
            if (res.status === 400 && res.json) assert.match(res.json.type, /^urn:parley:problem:/);
        }
    }
});

test("case tricks and near misses match no route: 404, even with a token", T, async () => {
    const token = adminToken(srv);
    for (const target of ["/API/v1/users", "/api/V1/users", "/api/v1/Users", "/api/v1/users.json",
        "/api/v1/userss", "/api/v2/users", "/healthz%3f", "/Healthz", "/api/v1/users/a/b/c/d"]) {
        const res = await rawGet(srv, target, token);
        assert.equal(res.status, 404, `${target}: ${res.status}`);
        assert.equal(res.json.status, 404);
    }
});

function post(headers, body = "") {
    return `POST /api/v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${adminToken(srv)}\r\n` +
        `Content-Type: application/json\r\n${headers}\r\n${body}`;
}

test("two Content-Lengths, or one with Transfer-Encoding, are 400 and the connection closes", T, async () => {
    const smuggled = "GET /api/v1/stats HTTP/1.1\r\nHost: x\r\n\r\n";
    const shapes = [
        post("Content-Length: 2\r\nContent-Length: 40\r\n", `{}${smuggled}`),
        post("Content-Length: 2, 2\r\n", `{}${smuggled}`),
        post(`Content-Length: ${smuggled.length + 5}\r\nTransfer-Encoding: chunked\r\n`, `0\r\n\r\n${smuggled}`),
        post("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", `0\r\n\r\n${smuggled}`),
        post("Transfer-Encoding: gzip, chunked\r\n", `0\r\n\r\n${smuggled}`),
        post("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", `0\r\n\r\n${smuggled}`),
        post("Content-Length: -1\r\n", `${smuggled}`),
        post("Content-Length: +2\r\n", `{}${smuggled}`),
        post("Transfer-Encoding : chunked\r\n", `0\r\n\r\n${smuggled}`),
        post("Transfer-Encoding:\tchunked\r\n Content-Length: 3\r\n", `0\r\n\r\n${smuggled}`),
    ];
    // Positive control: the same pipelined GET after a well-framed request
    // is answered, so the check below can fail.
    const stats = `GET /api/v1/stats HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${adminToken(srv)}\r\nConnection: close\r\n\r\n`;
    const ok = await rawHttp(srv, post("Content-Length: 2\r\n", `{}${stats}`));
    assert.ok(ok.raw.includes("online_users"), ok.raw);
    for (const req of shapes) {
        const res = await rawHttp(srv, req.replace(smuggled, stats));
        assert.ok(res.status >= 400 && res.status < 500, `${JSON.stringify(req.split("\r\n\r\n")[0])}: ${res.status}\n${res.raw.slice(0, 300)}`);
        assert.ok(!res.raw.includes("online_users"), `the smuggled request got an answer: ${res.raw}`);
        assert.ok(res.closed, "the connection is closed after an ambiguous request");
    }
});

test("a header flood is refused and the server goes on answering", T, async () => {
    let headers = "";
    for (let i = 0; i < 2000; i++) headers += `X-Flood-${i}: ${"v".repeat(40)}\r\n`;
    const res = await rawHttp(srv, `GET /api/v1/users HTTP/1.1\r\nHost: x\r\n${headers}\r\n`);
    assert.ok((res.status >= 400 && res.status < 500) || (res.status === null && res.closed), `${res.status}`);
    const huge = await rawHttp(srv, `GET /api/v1/users HTTP/1.1\r\nHost: x\r\nX-Big: ${"v".repeat(200_000)}\r\n\r\n`);
    assert.ok((huge.status >= 400 && huge.status < 500) || (huge.status === null && huge.closed));
    assert.equal((await api(srv, "GET", "/healthz", { token: null })).status, 200);
});

test("a body trickling at one byte a second is dropped; other requests are answered meanwhile", { timeout: 30_000 }, async () => {
    const sock = net.connect({ host: "127.0.0.1", port: srv.apiPort });
    let closedAt = null;
    let got = "";
    sock.on("data", (d) => (got += d));
    sock.on("close", () => (closedAt = Date.now()));
    sock.on("error", () => {});
    await new Promise((r) => sock.on("connect", r));
    const start = Date.now();
    sock.write(post("Content-Length: 100\r\n"));
    const ticker = setInterval(() => {
        if (!sock.destroyed) sock.write(" ");
    }, 1000);
    try {
        // Meanwhile the server answers others at once: no thread is held.
        for (let i = 0; i < 3; i++) {
            await sleep(1500);
            const t0 = Date.now();
            assert.equal((await api(srv, "GET", "/api/v1/stats")).status, 200);
            assert.ok(Date.now() - t0 < 1000, "a request waited behind the trickle");
        }
        while (!closedAt && Date.now() - start < 20_000) await sleep(100);
    } finally {
        clearInterval(ticker);
        sock.destroy();
    }
    assert.ok(closedAt, "the trickling connection was never closed");
    const took = (closedAt - start) / 1000;
    assert.ok(took >= 9 && took < 16, `closed after ${took.toFixed(1)} s`);
    assert.ok(!/^HTTP\/1\.1 2/.test(got), `the trickled request was answered: ${got}`);
});

stopsCleanly(srv);
