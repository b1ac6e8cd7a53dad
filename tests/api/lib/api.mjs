// Admin API test helpers: HTTP requests to a parleyd started by the e2e
// harness (tests/e2e/lib/harness.mjs gives each server an API port), every
// response validated against api/openapi.yaml with Ajv (JSON Schema 2020-12,
// the dialect of OpenAPI 3.1), and raw sockets for the requests no HTTP
// client would send (path tricks, request smuggling shapes).
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import assert from "node:assert/strict";

import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import YAML from "yaml";

import { ROOT, sql } from "../../e2e/lib/harness.mjs";

export * from "../../e2e/lib/harness.mjs";

export const OPENAPI_PATH = path.join(ROOT, "api", "openapi.yaml");
export const openapi = YAML.parse(fs.readFileSync(OPENAPI_PATH, "utf8"));

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
// The whole document as one schema, so that "#/components/..." references
// resolve; each response schema is then compiled by its JSON pointer.
ajv.addSchema(openapi, "openapi");

const compiled = new Map();
function validatorFor(pointer) {
    if (!compiled.has(pointer)) compiled.set(pointer, ajv.getSchema(`openapi#${pointer}`));
    return compiled.get(pointer);
}

const esc = (s) => s.replace(/~/g, "~0").replace(/\//g, "~1");

/** The OpenAPI path template that `p` (a concrete path) matches. */
export function templateOf(p) {
    const segs = p.split("/");
    for (const t of Object.keys(openapi.paths)) {
        const ts = t.split("/");
        if (ts.length !== segs.length) continue;
        if (ts.every((s, i) => (s.startsWith("{") && s.endsWith("}") ? segs[i] !== "" : s === segs[i]))) {
            return t;
        }
    }
    return null;
}

/**
 * Checks a response against the document: the path and method exist, the
 * status is declared for them, the content type is one the status declares,
 * and a JSON body validates against its schema. Throws with the reasons.
 */
export function validateResponse(method, urlPath, res) {
    const t = templateOf(urlPath);
    assert.ok(t, `${urlPath} is not in api/openapi.yaml`);
    const op = openapi.paths[t][method.toLowerCase()];
    assert.ok(op, `${method} ${t} is not in api/openapi.yaml`);
    // `default` (a problem document) covers the errors any request may get.
    let r = op.responses[String(res.status)] ?? (res.status >= 400 ? op.responses.default : undefined);
    assert.ok(r, `${method} ${t}: status ${res.status} is not declared (body ${res.text})`);
    let ref = null;
    if (r.$ref) {
        ref = r.$ref.slice(1);
        r = openapi.components.responses[r.$ref.split("/").pop()];
    }
    if (!r.content) {
        assert.equal(res.text, "", `${method} ${t} ${res.status}: a body where none is declared`);
        return;
    }
    const ct = (res.headers["content-type"] || "").split(";")[0].trim();
    assert.ok(r.content[ct], `${method} ${t} ${res.status}: content type ${ct} not declared`);
    if (ct !== "application/json" && ct !== "application/problem+json") return;
    const key = op.responses[String(res.status)] ? String(res.status) : "default";
    const pointer = ref
        ? `${ref}/content/${esc(ct)}/schema`
        : `/paths/${esc(t)}/${method.toLowerCase()}/responses/${key}/content/${esc(ct)}/schema`;
    const v = validatorFor(pointer);
    assert.ok(v, `no schema at ${pointer}`);
    if (!v(res.json)) {
        throw new Error(
            `${method} ${urlPath} ${res.status} does not match api/openapi.yaml: ` +
                `${ajv.errorsText(v.errors)}\n${res.text.slice(0, 2000)}`,
        );
    }
}

export function adminToken(srv, name = "root", opts = {}) {
    return srv.token(name, { ...opts, claims: { role: "admin", ...(opts.claims || {}) } });
}

/**
 * An HTTP request to srv's API. opts: token (default an admin token; null
 * for none), body (an object is sent as JSON), headers, raw (do not
 * validate). Resolves {status, headers, text, json}.
 */
export async function api(srv, method, urlPath, opts = {}) {
    const headers = { ...(opts.headers || {}) };
    const token = opts.token === undefined ? adminToken(srv) : opts.token;
    if (token) headers.Authorization = `Bearer ${token}`;
    let body;
    if (opts.body !== undefined) {
        body = typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
        headers["Content-Type"] ??= "application/json";
    }
    // The harness waits for the XMPP listener; the API's comes up a moment
    // later (after the store has connected): a refused connection is retried.
    let res;
    for (let tries = 0; ; tries++) {
        try {
            res = await fetch(`http://127.0.0.1:${srv.apiPort}${urlPath}`, {
                method,
                headers,
                body,
                redirect: "manual",
            });
            break;
        } catch (err) {
            if (tries >= 100 || err.cause?.code !== "ECONNREFUSED") throw err;
            await new Promise((r) => setTimeout(r, 50));
        }
    }
    const text = await res.text();
    const out = { status: res.status, headers: Object.fromEntries(res.headers), text, json: null };
    const ct = out.headers["content-type"] || "";
    if (ct.includes("json") && !ct.includes("ndjson") && text) out.json = JSON.parse(text);
    if (!opts.raw) validateResponse(method, urlPath.split("?")[0], out);
    return out;
}

/** Expects a problem document with `status` (and `field`, if given). */
export function assertProblem(res, status, field) {
    assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${res.text}`);
    assert.match(res.headers["content-type"], /^application\/problem\+json/);
    assert.match(res.json.type, /^urn:parley:problem:[a-z-]+$/);
    assert.equal(res.json.status, status);
    assert.ok(res.json.title && res.json.detail);
    if (field !== undefined) assert.equal(res.json.field, field, res.text);
    return res.json;
}

/**
 * Sends `text` as is on a new TCP connection to the API and resolves what
 * comes back until the server closes or `ms` pass: {raw, status, headers,
 * body, closed}. For requests no HTTP client would send.
 */
export async function rawHttp(srv, text, ms = 3_000) {
    for (let tries = 0; ; tries++) {
        try {
            return await rawOnce(srv, text, ms);
        } catch (err) {
            if (tries >= 100 || err.code !== "ECONNREFUSED") throw err;
            await new Promise((r) => setTimeout(r, 50));
        }
    }
}

function rawOnce(srv, text, ms) {
    return new Promise((resolve, reject) => {
        const sock = net.connect({ host: "127.0.0.1", port: srv.apiPort });
        let buf = Buffer.alloc(0);
        let closed = false;
        const done = () => {
            clearTimeout(timer);
            sock.destroy();
            resolve(parseRaw(buf.toString("latin1"), closed));
        };
        const timer = setTimeout(done, ms);
        sock.on("connect", () => sock.write(text, "latin1"));
        sock.on("data", (d) => (buf = Buffer.concat([buf, d])));
        sock.on("end", () => {
            closed = true;
            done();
        });
        sock.on("error", (err) => {
            // The server may answer and close before it has read all that
            // was sent (a 413 for a body too large): what it answered is in
            // buf either way.
            if (err.code === "ECONNRESET" || err.code === "EPIPE") {
                closed = true;
                done();
            } else {
                clearTimeout(timer);
                reject(err);
            }
        });
    });
}

/** Parses the first HTTP response of `raw`. */
export function parseRaw(raw, closed = false) {
    const end = raw.indexOf("\r\n\r\n");
    if (end < 0) return { raw, status: null, headers: {}, body: "", closed };
    const lines = raw.slice(0, end).split("\r\n");
    const status = Number(lines[0].split(" ")[1]);
    const headers = {};
    for (const l of lines.slice(1)) {
        const i = l.indexOf(":");
        headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
    }
    let body = raw.slice(end + 4);
    if (headers["content-length"]) body = body.slice(0, Number(headers["content-length"]));
    let json = null;
    try {
        json = JSON.parse(body);
    } catch {
        // not JSON
    }
    return { raw, status, headers, body, json, closed };
}

/** A GET over a raw socket with exactly this request target. */
export function rawGet(srv, target, token) {
    const auth = token ? `Authorization: Bearer ${token}\r\n` : "";
    return rawHttp(
        srv,
        `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth}Connection: close\r\n\r\n`,
    );
}

/** Creates users straight in the database: `names`, all at once. */
export async function insertUsers(names) {
    await sql(`INSERT INTO users (username) SELECT unnest(string_to_array(:'names', ','))`, {
        names: names.join(","),
    });
}

/** Every item of a paged list, following next_cursor with `limit`. */
export async function allPages(srv, urlPath, limit, sep = "?") {
    const items = [];
    let cursor = null;
    for (let pages = 0; pages < 10_000; pages++) {
        const c = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
        const res = await api(srv, "GET", `${urlPath}${sep}limit=${limit}${c}`);
        assert.equal(res.status, 200, res.text);
        assert.ok(res.json.items.length <= limit);
        items.push(...res.json.items);
        cursor = res.json.next_cursor;
        if (!cursor) return items;
        assert.equal(res.json.items.length, limit, "a page before the last is full");
    }
    throw new Error("too many pages");
}
