// Admin API: who may call it (PROTOCOL.md "Auth") and every error status,
// each answered with a problem document that names the field at fault.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
    T,
    useServer,
    stopsCleanly,
    uniqueUser,
    api,
    adminToken,
    assertProblem,
    rawHttp,
    insertUsers,
} from "./lib/api.mjs";

const srv = useServer();

test("no token, a bad signature, an expired token, alg none: 401 with WWW-Authenticate", T, async () => {
    const cases = [
        null,
        adminToken(srv, "root", { badSignature: true }),
        adminToken(srv, "root", { expIn: -3600 }),
        adminToken(srv, "root", { alg: "none" }),
        "not.a.jwt",
    ];
    for (const token of cases) {
        const res = await api(srv, "GET", "/api/v1/users", { token });
        assertProblem(res, 401);
        assert.match(res.headers["www-authenticate"], /^Bearer/);
        assert.equal(res.json.type, "urn:parley:problem:unauthorized");
    }
});

test("a chat token (no admin role) gets 403, every time", T, async () => {
    const chat = srv.token("alice");
    for (let i = 0; i < 2; i++) {
        const res = await api(srv, "GET", "/api/v1/users", { token: chat });
        assertProblem(res, 403);
    }
    const other = await api(srv, "GET", "/api/v1/users", {
        token: srv.token("alice", { claims: { role: "user" } }),
    });
    assertProblem(other, 403);
});

test("an admin token used again and again is refused once it has expired", T, async () => {
    // Expired 27 s ago: accepted within the verifier's 30 s leeway, for 3 s
    // more, and never kept by the token cache (it keeps a token until its
    // exp only; that expiry is tests/unit/api/api_tokens_test.c's).
    const token = adminToken(srv, "root", { expIn: -27 });
    for (let i = 0; i < 2; i++) assert.equal((await api(srv, "GET", "/api/v1/users", { token })).status, 200);
    await new Promise((r) => setTimeout(r, 4000));
    assertProblem(await api(srv, "GET", "/api/v1/users", { token }), 401);
    // A fresh token of the same admin, used twice: accepted both times.
    const fresh = adminToken(srv, "root");
    for (let i = 0; i < 2; i++) assert.equal((await api(srv, "GET", "/api/v1/users", { token: fresh })).status, 200);
});

test("the auth_token cookie is never accepted, not even an admin one", T, async () => {
    const res = await api(srv, "GET", "/api/v1/users", {
        token: null,
        headers: { Cookie: `auth_token=${adminToken(srv)}` },
    });
    assertProblem(res, 401);
});

test("an admin token is accepted (positive control)", T, async () => {
    const res = await api(srv, "GET", "/api/v1/users");
    assert.equal(res.status, 200);
    assert.ok(Array.isArray(res.json.items));
});

test("probes and the OpenAPI document need no token; the rest all do", T, async () => {
    for (const p of ["/healthz", "/readyz", "/api/v1/openapi.yaml", "/metrics"]) {
        const res = await api(srv, "GET", p, { token: null });
        assert.equal(res.status, 200, `${p}: ${res.text}`);
    }
    const guarded = [
        ["GET", "/api/v1/users"],
        ["POST", "/api/v1/users"],
        ["GET", "/api/v1/users/alice"],
        ["PATCH", "/api/v1/users/alice"],
        ["DELETE", "/api/v1/users/alice"],
        ["GET", "/api/v1/users/alice/sessions"],
        ["DELETE", "/api/v1/users/alice/sessions"],
        ["DELETE", "/api/v1/users/alice/sessions/web-1"],
        ["GET", "/api/v1/sessions"],
        ["GET", "/api/v1/messages"],
        ["POST", "/api/v1/messages"],
        ["GET", "/api/v1/messages/1"],
        ["GET", "/api/v1/export"],
        ["GET", "/api/v1/stats"],
        ["GET", "/api/v1/audit"],
    ];
    for (const [m, p] of guarded) {
        const res = await api(srv, m, p, { token: null, body: m === "POST" || m === "PATCH" ? {} : undefined });
        assertProblem(res, 401);
    }
});

test("unknown query parameters are 400 naming the parameter", T, async () => {
    for (const p of ["/api/v1/users?nope=1", "/api/v1/sessions?q=x", "/api/v1/stats?limit=1", "/api/v1/messages?User=a"]) {
        const res = await api(srv, "GET", p);
        const name = new URLSearchParams(p.split("?")[1]).keys().next().value;
        assertProblem(res, 400, name);
        assert.equal(res.json.type, "urn:parley:problem:unknown-parameter");
    }
    const twice = await api(srv, "GET", "/api/v1/users?limit=1&limit=2");
    assertProblem(twice, 400, "limit");
});

test("limit: default 50, capped at 500, below 1 or not a number is 400", T, async () => {
    const prefix = uniqueUser("lim");
    const names = Array.from({ length: 510 }, (_, i) => `${prefix}_${String(i).padStart(4, "0")}`);
    await insertUsers(names);
    const def = await api(srv, "GET", `/api/v1/users?q=${prefix}`);
    assert.equal(def.json.items.length, 50);
    assert.ok(def.json.next_cursor);
    const capped = await api(srv, "GET", `/api/v1/users?q=${prefix}&limit=100000`);
    assert.equal(capped.json.items.length, 500);
    assert.equal(capped.json.next_cursor, names[499]);
    for (const bad of ["0", "-1", "abc", "", "1.5", "1e3"]) {
        const res = await api(srv, "GET", `/api/v1/users?limit=${bad}`);
        assertProblem(res, 400, "limit");
    }
});

test("unknown body fields, wrong types, bad JSON, missing fields: 400 naming the field", T, async () => {
    const u = uniqueUser("body");
    const unknown = await api(srv, "POST", "/api/v1/users", { body: { username: u, admin: true } });
    assertProblem(unknown, 400, "admin");
    assert.equal(unknown.json.type, "urn:parley:problem:unknown-field");
    const type = await api(srv, "POST", "/api/v1/users", { body: { username: u, disabled: "yes" } });
    assertProblem(type, 400, "disabled");
    const missing = await api(srv, "POST", "/api/v1/users", { body: { display_name: "x" } });
    assertProblem(missing, 400, "username");
    const broken = await api(srv, "POST", "/api/v1/users", { body: "{\"username\": " });
    assertProblem(broken, 400);
    assert.equal(broken.json.type, "urn:parley:problem:invalid-json");
    const array = await api(srv, "POST", "/api/v1/users", { body: "[]" });
    assertProblem(array, 400);
    const dup = await api(srv, "POST", "/api/v1/users", { body: `{"username":"${u}","username":"x"}` });
    assertProblem(dup, 400);
    const badName = await api(srv, "POST", "/api/v1/users", { body: { username: "Upper" } });
    assertProblem(badName, 400, "username");
    const patchUnknown = await api(srv, "PATCH", `/api/v1/users/${u}`, { body: { role: "admin" } });
    assertProblem(patchUnknown, 400, "role");
});

test("unknown ids are 404", T, async () => {
    assertProblem(await api(srv, "GET", `/api/v1/users/${uniqueUser("ghost")}`), 404);
    assertProblem(await api(srv, "GET", "/api/v1/messages/999999999"), 404);
    assertProblem(await api(srv, "GET", "/api/v1/messages/abc"), 404);
    assertProblem(await api(srv, "GET", "/api/v1/nothing-here", { raw: true }), 404);
    assertProblem(await api(srv, "PATCH", `/api/v1/users/${uniqueUser("ghost")}`, { body: { disabled: true } }), 404);
    assertProblem(await api(srv, "DELETE", `/api/v1/users/${uniqueUser("ghost")}`), 404);
});

test("a method the path does not have is 405 with Allow", T, async () => {
    const put = await api(srv, "PUT", "/api/v1/users", { raw: true });
    assertProblem(put, 405);
    assert.equal(put.headers.allow, "GET, POST");
    const del = await api(srv, "DELETE", "/api/v1/messages", { raw: true });
    assertProblem(del, 405);
    assert.equal(del.headers.allow, "GET, POST");
    const post = await api(srv, "POST", "/api/v1/users/alice", { raw: true, body: {} });
    assertProblem(post, 405);
    assert.equal(post.headers.allow, "GET, PATCH, DELETE");
});

test("creating a user that exists is 409", T, async () => {
    const u = uniqueUser("dup");
    assert.equal((await api(srv, "POST", "/api/v1/users", { body: { username: u } })).status, 201);
    assertProblem(await api(srv, "POST", "/api/v1/users", { body: { username: u } }), 409);
});

test("a body over 1 MiB is 413, declared or chunked", T, async () => {
    // Declared: the Content-Length alone is enough to refuse it, before any
    // of the body is read. (Over fetch, the client could still be writing
    // when the server answered and closed, and got EPIPE instead of the
    // answer: a raw socket reads what came back either way.)
    const declared = await rawHttp(
        srv,
        "POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
            `Authorization: Bearer ${adminToken(srv)}\r\nContent-Length: ${1024 * 1024 + 1}\r\n\r\n` +
            "{\"username\": \"x\"",
        5_000,
    );
    assert.equal(declared.status, 413, declared.raw.slice(0, 300));
    assert.equal(declared.json.status, 413);
    assert.equal(declared.headers["content-type"], "application/problem+json");
    // Chunked: no Content-Length, the size is only known while reading.
    const chunk = "a".repeat(64 * 1024);
    let req = "POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
        `Authorization: Bearer ${adminToken(srv)}\r\nTransfer-Encoding: chunked\r\n\r\n`;
    for (let i = 0; i < 17; i++) req += `${chunk.length.toString(16)}\r\n${chunk}\r\n`;
    req += "0\r\n\r\n";
    const raw = await rawHttp(srv, req, 5_000);
    assert.equal(raw.status, 413, raw.raw.slice(0, 300));
    assert.equal(raw.json.status, 413);
});

test("a body that is not application/json is 415", T, async () => {
    const res = await api(srv, "POST", "/api/v1/users", {
        body: "username=x",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
    });
    assertProblem(res, 415);
    const none = await rawHttp(
        srv,
        "POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n" +
            `Authorization: Bearer ${adminToken(srv)}\r\nConnection: close\r\n\r\n{}`,
    );
    assert.equal(none.status, 415);
    const ok = await api(srv, "POST", "/api/v1/users", {
        body: { username: uniqueUser("ct") },
        headers: { "Content-Type": "application/json; charset=utf-8" },
    });
    assert.equal(ok.status, 201);
});

test("a GET with a body is refused", T, async () => {
    const res = await rawHttp(
        srv,
        "GET /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n" +
            `Authorization: Bearer ${adminToken(srv)}\r\n\r\n{}`,
    );
    assert.equal(res.status, 400);
});

stopsCleanly(srv);
