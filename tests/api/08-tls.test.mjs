// Admin API over HTTPS: with PARLEY_TLS_CERT/PARLEY_TLS_KEY the API
// listener speaks TLS (libmicrohttpd with GnuTLS) with the same certificate
// as wss://, and plain HTTP on it gets no answer.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";

import { T, Server, stopsCleanly, adminToken, validateResponse, rawHttp, sleep } from "./lib/api.mjs";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-api-tls-"));
const cert = path.join(dir, "cert.pem");
const key = path.join(dir, "key.pem");
execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
    "-keyout", key, "-out", cert,
], { stdio: "ignore" });

const srv = new Server({ env: { PARLEY_TLS_CERT: cert, PARLEY_TLS_KEY: key } });
before(() => srv.start(), { timeout: 30_000 });
after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    return srv.stopping ? srv.stopping.catch(() => {}) : srv.stop();
});

function get(p, token) {
    return new Promise((resolve, reject) => {
        const req = https.request(
            // Verified against the configured certificate: a different one fails.
            { host: "127.0.0.1", port: srv.apiPort, path: p, ca: fs.readFileSync(cert),
              headers: token ? { Authorization: `Bearer ${token}` } : {} },
            (res) => {
                let text = "";
                res.on("data", (d) => (text += d));
                res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, text,
                    json: text && /json/.test(res.headers["content-type"]) ? JSON.parse(text) : null }));
            },
        );
        req.on("error", reject);
        req.end();
    });
}

async function getRetrying(p, token) {
    for (let i = 0; ; i++) {
        try {
            return await get(p, token);
        } catch (err) {
            if (i > 100 || err.code !== "ECONNREFUSED") throw err;
            await sleep(50);
        }
    }
}

test("the API answers over HTTPS with the configured certificate", T, async () => {
    const res = await getRetrying("/api/v1/users?limit=1", adminToken(srv));
    assert.equal(res.status, 200);
    validateResponse("GET", "/api/v1/users", res);
    const none = await get("/api/v1/users");
    assert.equal(none.status, 401);
    assert.equal((await get("/healthz")).status, 200);
});

test("plain HTTP to the HTTPS listener gets no API answer", T, async () => {
    await getRetrying("/healthz");
    const res = await rawHttp(srv, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 2_000);
    assert.ok(!/"status":"ok"/.test(res.raw), res.raw);
});

stopsCleanly(srv);
