// XEP-0363 HTTP File Upload: the service in the server's disco#info with
// its max-file-size form; a slot, then PUT and GET of a 10 MiB file on the
// admin API's listener with parleyd's RSS flat; range requests, CORS and
// the headers of a served file; and each bad input (a slot over the size
// or the quota, a PUT of another length or type, a second PUT, an expired
// or forged URL, paths with '..' or encoded slashes), each refused with
// nothing stored.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";

import { xml, useServer, stopsCleanly, online, uniqueUser, stopAll, sql, DOMAIN, NS } from "./lib/harness.mjs";

const UP = "urn:xmpp:http:upload:0";
const MiB = 1024 * 1024;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-uploads-"));

// No ASan quarantine, so that RSS follows what parleyd really holds.
const srv = useServer({
    env: {
        ASAN_OPTIONS: `${process.env.ASAN_OPTIONS ?? ""}:quarantine_size_mb=0`,
        PARLEY_UPLOAD_DIR: dir,
        PARLEY_UPLOAD_MAX_BYTES: String(12 * MiB),
        PARLEY_UPLOAD_QUOTA_BYTES: String(16 * MiB),
    },
});

function rssKb(pid) {
    const m = fs.readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
    return Number(m[1]);
}

function slotRequest(c, filename, size, type) {
    const attrs = { xmlns: UP, filename, size: String(size) };
    if (type) attrs["content-type"] = type;
    return c.iq(xml("iq", { type: "get", to: DOMAIN }, xml("request", attrs)));
}

async function slot(c, filename, size, type) {
    const res = await slotRequest(c, filename, size, type);
    const s = res.getChild("slot", UP) ?? res;
    const put = s.getChild("put").attrs.url;
    const get = s.getChild("get").attrs.url;
    return { put, get };
}

/** A raw HTTP request: the path is sent as written (no normalisation). */
function request(method, url, { headers = {}, body, rawPath } = {}) {
    const u = new URL(url);
    return new Promise((resolve, reject) => {
        const req = http.request(
            { host: u.hostname, port: u.port, method, path: rawPath ?? u.pathname + u.search, headers },
            (res) => {
                const chunks = [];
                res.on("data", (d) => chunks.push(d));
                res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
            },
        );
        req.on("error", reject);
        if (body) req.end(body);
        else req.end();
    });
}

function put(url, body, type, extra = {}) {
    return request("PUT", url, {
        headers: { "Content-Type": type, "Content-Length": String(body.length), ...extra },
        body,
    });
}

async function errorOf(promise) {
    try {
        await promise;
    } catch (err) {
        return err;
    }
    assert.fail("the request was not refused");
}

async function stored(key) {
    const rows = await sql("SELECT coalesce(stored_at::text, ''), coalesce(put_at::text, '') FROM uploads WHERE path_key = :'k'", { k: key });
    return rows[0] ?? null;
}

const keyOf = (url) => new URL(url).pathname.split("/")[2];

test("the server's disco#info lists the upload service with max-file-size", async () => {
    const c = await online(srv, uniqueUser("disco"));
    try {
        const res = await c.iq(xml("iq", { type: "get", to: DOMAIN }, xml("query", { xmlns: NS.discoInfo })));
        const q = res.getChild("query", NS.discoInfo);
        assert.ok(q.getChildren("feature").some((f) => f.attrs.var === UP));
        assert.ok(q.getChildren("identity").some((i) => i.attrs.category === "store" && i.attrs.type === "file"));
        const form = q.getChildren("x", "jabber:x:data").find((x) =>
            x.getChildren("field").some((f) => f.attrs.var === "FORM_TYPE" && f.getChildText("value") === UP),
        );
        assert.ok(form, "an XEP-0128 form of the upload FORM_TYPE");
        const max = form.getChildren("field").find((f) => f.attrs.var === "max-file-size");
        assert.equal(max.getChildText("value"), String(12 * MiB));
    } finally {
        await stopAll(c);
    }
});

test("a 10 MiB file: slot, PUT and GET with parleyd's RSS flat, then a range", { timeout: 60_000 }, async () => {
    const c = await online(srv, uniqueUser("big"));
    try {
        const data = crypto.randomBytes(10 * MiB);
        const sum = crypto.createHash("sha256").update(data).digest("hex");
        const { put: putUrl, get: getUrl } = await slot(c, "holiday photos.bin", data.length, "application/x-test");
        assert.match(putUrl, /^http:\/\/127\.0\.0\.1:\d+\/upload\/[0-9a-f]{32}\/holiday%20photos\.bin\?e=\d+&s=[0-9a-f]{64}$/);
        assert.equal(getUrl, putUrl.slice(0, putUrl.indexOf("?")));
        const pid = srv.child.pid;
        const before = rssKb(pid);
        const res = await put(putUrl, data, "application/x-test");
        assert.equal(res.status, 201, res.body.toString());
        assert.equal(res.headers["access-control-allow-origin"], "*");
        const onDisk = path.join(dir, keyOf(putUrl));
        assert.equal(fs.statSync(onDisk).size, data.length);
        assert.equal(crypto.createHash("sha256").update(fs.readFileSync(onDisk)).digest("hex"), sum);
        const got = await request("GET", getUrl);
        assert.equal(got.status, 200);
        assert.equal(crypto.createHash("sha256").update(got.body).digest("hex"), sum);
        const grown = rssKb(pid) - before;
        console.log(`# parleyd grew by ${grown} KB over a 10 MiB PUT and GET`);
        assert.ok(grown < 4096, `parleyd grew by ${grown} KB: the file went through its memory`);
        assert.equal(got.headers["content-type"], "application/x-test");
        assert.equal(got.headers["content-length"], String(data.length));
        assert.equal(got.headers["accept-ranges"], "bytes");
        assert.equal(got.headers["access-control-allow-origin"], "*");
        assert.equal(got.headers["content-disposition"], `attachment; filename="holiday photos.bin"; filename*=UTF-8''holiday%20photos.bin`);
        assert.match(got.headers["content-security-policy"], /sandbox/);

        const part = await request("GET", getUrl, { headers: { Range: "bytes=1000-1999" } });
        assert.equal(part.status, 206);
        assert.equal(part.headers["content-range"], `bytes 1000-1999/${data.length}`);
        assert.deepEqual(part.body, data.subarray(1000, 2000));
        const tail = await request("GET", getUrl, { headers: { Range: "bytes=-16" } });
        assert.equal(tail.status, 206);
        assert.deepEqual(tail.body, data.subarray(data.length - 16));
        const open = await request("GET", getUrl, { headers: { Range: `bytes=${data.length - 5}-` } });
        assert.equal(open.status, 206);
        assert.deepEqual(open.body, data.subarray(data.length - 5));
        const beyond = await request("GET", getUrl, { headers: { Range: `bytes=${data.length}-` } });
        assert.equal(beyond.status, 416);
        assert.equal(beyond.headers["content-range"], `bytes */${data.length}`);
        const head = await request("HEAD", getUrl);
        assert.equal(head.status, 200);
        assert.equal(head.headers["content-length"], String(data.length));
        assert.equal(head.body.length, 0);
        assert.equal((await sql("SELECT size FROM uploads WHERE path_key = :'k'", { k: keyOf(putUrl) }))[0][0], String(data.length));
    } finally {
        await stopAll(c);
    }
});

test("CORS: the preflight of a PUT and an image served inline", async () => {
    const c = await online(srv, uniqueUser("cors"));
    try {
        const { put: putUrl, get: getUrl } = await slot(c, "dot.png", 4, "image/png");
        const pre = await request("OPTIONS", putUrl, {
            headers: { Origin: "http://localhost:9999", "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "content-type" },
        });
        assert.equal(pre.status, 204);
        assert.equal(pre.headers["access-control-allow-origin"], "*");
        assert.match(pre.headers["access-control-allow-methods"], /PUT/);
        assert.match(pre.headers["access-control-allow-headers"], /Content-Type/);
        assert.equal((await put(putUrl, Buffer.from([0x89, 0x50, 0x4e, 0x47]), "image/png")).status, 201);
        const got = await request("GET", getUrl, { headers: { Origin: "http://localhost:9999" } });
        assert.equal(got.headers["content-type"], "image/png");
        assert.match(got.headers["content-disposition"], /^inline; /);
        assert.equal(got.headers["x-content-type-options"], "nosniff");
    } finally {
        await stopAll(c);
    }
});

test("slot requests over the size limit or the quota get file-too-large with max-file-size", { timeout: 30_000 }, async () => {
    const c = await online(srv, uniqueUser("quota"));
    try {
        let err = await errorOf(slotRequest(c, "huge.iso", 13 * MiB, "application/octet-stream"));
        assert.equal(err.condition, "not-acceptable");
        let ftl = err.application;
        assert.equal(ftl.name, "file-too-large");
        assert.equal(ftl.attrs.xmlns, UP);
        assert.equal(ftl.getChildText("max-file-size"), String(12 * MiB));

        // 10 MiB stored, then a slot for 7 MiB passes the 16 MiB quota.
        const data = Buffer.alloc(10 * MiB, 7);
        const first = await slot(c, "a.bin", data.length, "application/octet-stream");
        assert.equal((await put(first.put, data, "application/octet-stream")).status, 201);
        err = await errorOf(slotRequest(c, "b.bin", 7 * MiB));
        assert.equal(err.condition, "not-acceptable");
        ftl = err.application;
        assert.equal(ftl.getChildText("max-file-size"), String(6 * MiB));
        const rows = await sql("SELECT count(*) FROM uploads WHERE owner = :'o'", { o: c.username });
        assert.equal(rows[0][0], "1");
        // What is left still fits.
        const ok = await slot(c, "c.bin", 6 * MiB);
        assert.ok(ok.put);
    } finally {
        await stopAll(c);
    }
});

test("malformed slot requests are bad-request", async () => {
    const c = await online(srv, uniqueUser("badslot"));
    try {
        for (const attrs of [
            { filename: "x.txt", size: "0" },
            { filename: "x.txt", size: "-5" },
            { filename: "x.txt", size: "12abc" },
            { filename: "", size: "10" },
            { filename: "..", size: "10" },
            { size: "10" },
            { filename: "x.txt", size: "10", "content-type": "no slash" },
            { filename: "x.txt", size: "10", "content-type": "text/été" },
            { filename: "x".repeat(256), size: "10" },
        ]) {
            const err = await errorOf(c.iq(xml("iq", { type: "get", to: DOMAIN }, xml("request", { xmlns: UP, ...attrs }))));
            assert.equal(err.condition, "bad-request", JSON.stringify(attrs));
        }
        const rows = await sql("SELECT count(*) FROM uploads WHERE owner = :'o'", { o: c.username });
        assert.equal(rows[0][0], "0");
        // Separators in a name do not reach the URL's path.
        const { get } = await slot(c, "../../etc/passwd", 3, "text/plain");
        assert.match(get, /\/upload\/[0-9a-f]{32}\/\.\._\.\._etc_passwd$/);
    } finally {
        await stopAll(c);
    }
});

test("a PUT of another length or type, a second PUT, an expired or forged URL are refused", { timeout: 30_000 }, async () => {
    const c = await online(srv, uniqueUser("badput"));
    try {
        const body = Buffer.from("hello upload");
        const s = await slot(c, "note.txt", body.length, "text/plain");
        const key = keyOf(s.put);

        let r = await put(s.put, Buffer.from("hello upload!"), "text/plain");
        assert.equal(r.status, 400, r.body.toString());
        assert.match(JSON.parse(r.body).detail, /Content-Length/);
        r = await put(s.put, body, "text/html");
        assert.equal(r.status, 415);
        r = await put(s.put.replace(/s=[0-9a-f]{64}/, `s=${"0".repeat(64)}`), body, "text/plain");
        assert.equal(r.status, 403);
        r = await put(s.put.replace(/\?.*$/, ""), body, "text/plain");
        assert.equal(r.status, 403);
        const e = Number(new URL(s.put).searchParams.get("e"));
        r = await put(s.put.replace(/e=\d+/, `e=${e + 3600}`), body, "text/plain");
        assert.equal(r.status, 403, "a later expiry than signed");
        // A chunked body (no length) is refused.
        r = await request("PUT", s.put, { headers: { "Content-Type": "text/plain", "Transfer-Encoding": "chunked" }, body });
        assert.equal(r.status, 411);
        assert.deepEqual(await stored(key), ["", ""], "nothing stored, the slot still free");

        r = await put(s.put, body, "text/plain");
        assert.equal(r.status, 201);
        r = await put(s.put, body, "text/plain");
        assert.equal(r.status, 409);
        assert.equal(fs.readFileSync(path.join(dir, key), "utf8"), "hello upload");

        // A slot whose time is over.
        const late = await slot(c, "late.txt", body.length, "text/plain");
        await sql("UPDATE uploads SET expires_at = now() - interval '1 second' WHERE path_key = :'k'", { k: keyOf(late.put) });
        r = await put(late.put, body, "text/plain");
        assert.equal(r.status, 403);
        assert.equal(JSON.parse(r.body).type, "urn:parley:problem:expired");
        assert.equal(fs.existsSync(path.join(dir, keyOf(late.put))), false);
        // A GET of a file never uploaded.
        assert.equal((await request("GET", late.get)).status, 404);
    } finally {
        await stopAll(c);
    }
});

test("paths with '..', encoded slashes or a bad key never reach a file", async () => {
    const c = await online(srv, uniqueUser("paths"));
    try {
        const body = Buffer.from("secret");
        const s = await slot(c, "s.txt", body.length, "text/plain");
        assert.equal((await put(s.put, body, "text/plain")).status, 201);
        const key = keyOf(s.put);
        const base = new URL(s.get).origin;
        for (const raw of [
            `/upload/${key}/../s.txt`,
            `/upload/${key}/%2e%2e/s.txt`,
            `/upload/${key}/..%2fs.txt`,
            `/upload/${key}/x%2F..%2F..%2Fetc%2Fpasswd`,
            `/upload/../../../etc/passwd`,
            `/upload/${key}%2fs.txt`,
            `/upload/${key}/s.txt/extra`,
            `/upload/${key.toUpperCase()}/s.txt`,
            `/upload/../${key}/s.txt`,
            `/upload/${key}/s.txt%00`,
        ]) {
            const r = await request("GET", base, { rawPath: raw });
            assert.ok(r.status === 400 || r.status === 404, `${raw}: ${r.status}`);
            assert.notEqual(r.body.toString(), "secret", raw);
        }
        const r = await request("GET", base, { rawPath: `/upload/${key}/other.txt` });
        assert.equal(r.status, 404, "another name for the same key");
        assert.equal((await request("GET", s.get)).body.toString(), "secret");
        assert.equal((await request("DELETE", s.get)).status, 405);
    } finally {
        await stopAll(c);
    }
});

stopsCleanly(srv);
