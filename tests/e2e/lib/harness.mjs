// End-to-end harness: starts parleyd processes, mints JWTs, connects
// @xmpp/client clients and raw WebSockets, and queries PostgreSQL.
//
// Environment: PARLEYD (the binary, default build-test/parleyd), DATABASE_URL
// (a migrated database), PARLEY_E2E_LOG_DIR (optional: keep each parleyd's
// output there).
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { before, after, test } from "node:test";

import WebSocket from "ws";
import { client, xml, jid } from "@xmpp/client";
import ConnectionWebSocket from "@xmpp/websocket/lib/Connection.js";
import Socket, { isSecure } from "@xmpp/websocket/lib/Socket.js";
import FramedParser from "@xmpp/websocket/lib/FramedParser.js";

// @xmpp/client calls globalThis.crypto.randomUUID(), global from Node 19 on.
globalThis.crypto ??= crypto.webcrypto;

export { xml, jid };

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, "../../..");
export const DOMAIN = "localhost";
export const NS = {
    framing: "urn:ietf:params:xml:ns:xmpp-framing",
    streams: "http://etherx.jabber.org/streams",
    streamErrors: "urn:ietf:params:xml:ns:xmpp-streams",
    stanzas: "urn:ietf:params:xml:ns:xmpp-stanzas",
    sasl: "urn:ietf:params:xml:ns:xmpp-sasl",
    bind: "urn:ietf:params:xml:ns:xmpp-bind",
    client: "jabber:client",
    discoInfo: "http://jabber.org/protocol/disco#info",
    ping: "urn:xmpp:ping",
    receipts: "urn:xmpp:receipts",
    sid: "urn:xmpp:sid:0",
    delay: "urn:xmpp:delay",
};

/** Options for node:test's test(): no test may hang. */
export const T = { timeout: 10_000 };
export const SLOW = { timeout: 20_000 };

const SANITIZER_MARKS = ["ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer"];

export function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects with `what` timed out after `ms` unless `promise` settles first. */
export function withTimeout(promise, ms, what) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A fresh lower-case username, so no test depends on another's data. */
export function uniqueUser(prefix = "u") {
    return `${prefix}_${crypto.randomBytes(5).toString("hex")}`;
}

export function bareJid(username) {
    return `${username}@${DOMAIN}`;
}

export async function freePort() {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.unref();
        srv.on("error", reject);
        srv.listen(0, "127.0.0.1", () => {
            const { port } = srv.address();
            srv.close(() => resolve(port));
        });
    });
}

function canConnect(port) {
    return new Promise((resolve) => {
        const s = net.connect({ port, host: "127.0.0.1" });
        s.once("connect", () => {
            s.destroy();
            resolve(true);
        });
        s.once("error", () => resolve(false));
    });
}

function sanitizerReport(text) {
    const hit = SANITIZER_MARKS.find((m) => text.includes(m));
    if (!hit) return null;
    const at = text.indexOf(hit);
    return text.slice(Math.max(0, at - 200), at + 3000);
}

/** The last `n` lines of a log, warnings and errors first, with runs of
 * lines that differ only in their time stamp folded into one. */
function tail(text, n = 30) {
    const strip = (l) => l.replace(/^\S+Z /, "");
    const fold = (lines) => {
        const out = [];
        let prev = null;
        let count = 0;
        for (const l of lines) {
            if (prev !== null && strip(l) === strip(prev)) {
                count++;
                continue;
            }
            if (count) out.push(`  (the line above ${count} more times)`);
            out.push(l);
            prev = l;
            count = 0;
        }
        if (count) out.push(`  (the line above ${count} more times)`);
        return out;
    };
    const lines = text.split("\n");
    const bad = fold(lines.filter((l) => / (WARN|ERROR|FATAL) /.test(l))).slice(0, 15);
    const last = fold(lines).slice(-n);
    return (bad.length ? `warnings and errors:\n${bad.join("\n")}\nlast lines:\n` : "") + last.join("\n");
}

// ---------------------------------------------------------------------------
// JWT
// ---------------------------------------------------------------------------

const b64url = (buf) => Buffer.from(buf).toString("base64url");
let rsaKey = null;

/**
 * Mints a JWT for `sub`. Options: secret (HS*), alg (HS256, HS384, HS512,
 * RS256 with a throw-away key, or none), expIn (seconds from now, default
 * 3600), claims (extra or overriding claims; a claim set to undefined is
 * left out), badSignature (sign with another secret).
 */
export function makeToken(sub, opts = {}) {
    const { secret, alg = "HS256", expIn = 3600, claims = {}, badSignature = false } = opts;
    const now = Math.floor(Date.now() / 1000);
    const payload = { sub, iat: now, exp: now + expIn, ...claims };
    for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
    const header = { alg, typ: "JWT" };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
    let sig;
    if (alg === "none") {
        sig = "";
    } else if (alg.startsWith("HS")) {
        const key = badSignature ? `not-${secret}` : secret;
        if (!key) throw new Error("makeToken: HS* needs a secret");
        sig = b64url(crypto.createHmac(`sha${alg.slice(2)}`, key).update(input).digest());
    } else if (alg === "RS256") {
        rsaKey ??= crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
        sig = b64url(crypto.sign("sha256", Buffer.from(input), rsaKey));
    } else {
        throw new Error(`makeToken: unsupported alg ${alg}`);
    }
    return `${input}.${sig}`;
}

// ---------------------------------------------------------------------------
// parleyd
// ---------------------------------------------------------------------------

export function parleydPath() {
    return process.env.PARLEYD || path.join(ROOT, "build-test", "parleyd");
}

/** The environment a test parleyd starts with: the caller's, minus keys. */
function baseEnv() {
    const env = { ...process.env };
    for (const k of Object.keys(env)) {
        if (k.startsWith("PARLEY_") && k !== "PARLEY_LOG_LEVEL") delete env[k];
    }
    return env;
}

/** Runs parleyd with `args` and `env` to its end; resolves {code, signal, out}. */
export function runParleyd(args, env, ms = 15_000) {
    return new Promise((resolve, reject) => {
        const child = spawn(parleydPath(), args, {
            env: { ...baseEnv(), ...env },
            stdio: ["ignore", "pipe", "pipe"],
        });
        let out = "";
        child.stdout.on("data", (d) => (out += d));
        child.stderr.on("data", (d) => (out += d));
        const timer = setTimeout(() => {
            child.kill("SIGKILL");
            reject(new Error(`parleyd ${args.join(" ")} did not exit within ${ms} ms:\n${tail(out)}`));
        }, ms);
        child.on("error", (err) => {
            clearTimeout(timer);
            reject(err);
        });
        child.on("exit", (code, signal) => {
            clearTimeout(timer);
            resolve({ code, signal, out, sanitizer: sanitizerReport(out) });
        });
    });
}

// parleyd processes still running: killed if this test process exits early
// (a crash or an interrupt), so none outlives the run.
const live = new Set();
process.on("exit", () => {
    for (const child of live) child.kill("SIGKILL");
});

const TEST_LIMITS = {
    PARLEY_LIMIT_PENDING_PER_IP: "0",
    PARLEY_LIMIT_CONNECT_RATE: "0",
    PARLEY_LIMIT_AUTH_FAILURES: "0",
    PARLEY_LIMIT_SESSION_BYTES: "0",
};

export class Server {
    /** env: extra environment (e.g. PARLEY_ALLOWED_ORIGINS); bindHost: the
     * listener's address (clients still connect to 127.0.0.1). */
    constructor({ env = {}, name = "parleyd", bindHost = "127.0.0.1" } = {}) {
        this.extraEnv = env;
        this.bindHost = bindHost;
        this.name = name;
        this.secret = crypto.randomBytes(32).toString("hex");
        this.child = null;
        this.output = "";
        this.exit = null;
    }

    get url() {
        const tls = this.extraEnv.PARLEY_TLS_CERT && this.extraEnv.PARLEY_TLS_KEY;
        return `${tls ? "wss" : "ws"}://127.0.0.1:${this.port}/xmpp`;
    }

    token(username, opts = {}) {
        return makeToken(username, { secret: this.secret, ...opts });
    }

    async start() {
        if (!process.env.DATABASE_URL) throw new Error("DATABASE_URL is not set");
        const bin = parleydPath();
        if (!fs.existsSync(bin)) throw new Error(`no parleyd at ${bin} (set PARLEYD)`);
        this.port = await freePort();
        this.apiPort = await freePort();
        this.appName = `parleyd-e2e-${this.port}`;
        const env = {
            ...baseEnv(),
            DATABASE_URL: process.env.DATABASE_URL,
            PARLEY_DOMAIN: DOMAIN,
            PARLEY_XMPP_ADDR: `${this.bindHost}:${this.port}`,
            PARLEY_API_ADDR: `127.0.0.1:${this.apiPort}`,
            PARLEY_JWT_SECRET: this.secret,
            PARLEY_NODE: `e2e-${this.port}`,
            // Names this server's database connections in pg_stat_activity.
            PGAPPNAME: this.appName,
            // Every test client comes from 127.0.0.1: one address doing what
            // thousands of users would (hundreds of bad tokens, bursts of
            // connections, bulk sends). The per-address and byte-rate
            // limits are off here unless a test sets them; 60-limits*
            // tests each one from many loopback addresses.
            ...TEST_LIMITS,
            ...this.extraEnv,
        };
        this.child = spawn(bin, [], { env, stdio: ["ignore", "pipe", "pipe"] });
        live.add(this.child);
        this.child.on("exit", () => live.delete(this.child));
        const logDir = process.env.PARLEY_E2E_LOG_DIR;
        let logFile = null;
        if (logDir) {
            fs.mkdirSync(logDir, { recursive: true });
            const base = path.basename(process.argv[1] || "e2e", ".mjs");
            logFile = fs.createWriteStream(path.join(logDir, `${base}-${this.port}.log`));
        }
        const collect = (d) => {
            this.output += d;
            logFile?.write(d);
        };
        this.child.stdout.on("data", collect);
        this.child.stderr.on("data", collect);
        this.exited = new Promise((resolve) => {
            this.child.on("exit", (code, signal) => {
                this.exit = { code, signal };
                resolve(this.exit);
            });
        });
        this.exited.then(() => setTimeout(() => logFile?.end(), 100));
        this.child.on("error", (err) => {
            this.exit = { code: null, signal: null, error: err };
        });

        const deadline = Date.now() + 20_000;
        while (Date.now() < deadline) {
            if (this.exit) {
                throw new Error(
                    `parleyd exited during start-up (code ${this.exit.code}, signal ` +
                        `${this.exit.signal}):\n${tail(this.output)}`,
                );
            }
            if (await canConnect(this.port)) return this;
            await sleep(50);
        }
        this.child.kill("SIGKILL");
        throw new Error(`parleyd did not listen on ${this.port} within 20 s:\n${tail(this.output)}`);
    }

    /** Throws if parleyd crashed, reported a sanitizer error, or did not
     * exit 0 on SIGTERM. */
    async stop() {
        if (!this.child || this.stopping) return this.stopping;
        this.stopping = this.stopChecked();
        return this.stopping;
    }

    async stopChecked() {
        const crashed = this.exit;
        if (!crashed) this.child.kill("SIGTERM");
        let exit = await withTimeout(this.exited, 15_000, "parleyd exit after SIGTERM").catch(
            (err) => {
                this.child.kill("SIGKILL");
                throw new Error(`${err.message}\n${tail(this.output)}`);
            },
        );
        const report = sanitizerReport(this.output);
        if (report) throw new Error(`parleyd sanitizer report:\n${report}`);
        if (crashed) {
            throw new Error(
                `parleyd died during the tests (code ${exit.code}, signal ${exit.signal}):\n` +
                    tail(this.output),
            );
        }
        if (exit.code !== 0) {
            throw new Error(
                `parleyd exited with code ${exit.code}, signal ${exit.signal} after SIGTERM:\n` +
                    tail(this.output),
            );
        }
    }

    /** True while the process runs. */
    alive() {
        return this.child && !this.exit;
    }
}

/** Registers before/after hooks that start and stop one parleyd for the
 * test file; returns the Server (ready inside tests). End the file with
 * stopsCleanly(srv) so that the shutdown check is a named test; the after
 * hook only makes sure the process is gone (and checks it if no test did). */
export function useServer(opts) {
    const srv = new Server(opts);
    before(() => srv.start(), { timeout: 30_000 });
    after(() => (srv.stopping ? srv.stopping.catch(() => {}) : srv.stop()), {
        timeout: 30_000,
    });
    return srv;
}

/** The last test of a file: parleyd exits 0 on SIGTERM, with no sanitizer
 * report (a leak makes it exit 23) and no crash during the tests. */
export function stopsCleanly(srv) {
    const file = path.basename(process.argv[1] || "e2e");
    test(`${file}: parleyd stops on SIGTERM: exit 0, no sanitizer report`, { timeout: 30_000 }, () =>
        srv.stop(),
    );
}

// ---------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------

/**
 * Runs `query` with psql against DATABASE_URL; psql variables in `vars` are
 * available as :'name' (quoted literal). Resolves rows as arrays of strings
 * (NULL is '').
 */
export function sql(query, vars = {}) {
    const args = ["-X", "-q", "-A", "-t", "-F", "\x1f", "-R", "\x1e", "-v", "ON_ERROR_STOP=1"];
    for (const [k, v] of Object.entries(vars)) args.push("-v", `${k}=${v}`);
    args.push("-d", process.env.DATABASE_URL, "-f", "-");
    return new Promise((resolve, reject) => {
        const child = spawn("psql", args, { stdio: ["pipe", "pipe", "pipe"] });
        let out = "";
        let err = "";
        child.stdout.on("data", (d) => (out += d));
        child.stderr.on("data", (d) => (err += d));
        child.on("error", reject);
        child.on("exit", (code) => {
            if (code !== 0) return reject(new Error(`psql failed (${code}): ${err}\n${query}`));
            const text = out.replace(/\n$/, "");
            if (text === "") return resolve([]);
            resolve(text.split("\x1e").map((r) => r.replace(/^\n/, "").split("\x1f")));
        });
        child.stdin.end(query);
    });
}

/** Polls `query` until `check(rows)` holds; resolves the rows or rejects
 * with `what` and the last rows. */
export async function waitForSql(query, vars, check, what, ms = 5_000) {
    const deadline = Date.now() + ms;
    let rows;
    for (;;) {
        rows = await sql(query, vars);
        if (check(rows)) return rows;
        if (Date.now() > deadline) {
            throw new Error(`${what}: not reached within ${ms} ms; last rows: ${JSON.stringify(rows)}`);
        }
        await sleep(100);
    }
}

// ---------------------------------------------------------------------------
// @xmpp/client
// ---------------------------------------------------------------------------

// @xmpp/client's WebSocket transport opens `new WebSocket(url, ["xmpp"])`
// and has no way to add headers; the cookie (or Bearer header) must be on the
// upgrade, so each client gets a transport whose socket is a `ws` WebSocket
// with headers.
function transportWithHeaders(headers) {
    class HeaderSocket extends Socket {
        connect(url) {
            this.url = url;
            this.secure = isSecure(url);
            this._attachSocket(new WebSocket(url, ["xmpp"], { headers }));
        }
    }
    class HeaderTransport extends ConnectionWebSocket {}
    HeaderTransport.prototype.Socket = HeaderSocket;
    return HeaderTransport;
}

/** @xmpp/client enables XEP-0198 whenever the server offers it; the tests
 * written for the storage promise without it (and most others) connect
 * with this parser, which hides the offer. */
class NoStreamManagementParser extends FramedParser {
    emit(event, el, ...rest) {
        if (event === "element" && el?.is?.("features", NS.streams)) {
            el.children = el.children.filter((c) => c.name !== "sm");
        }
        return super.emit(event, el, ...rest);
    }
}

/** Headers of an upgrade: cookie token, bearer token, origin, extra. */
function upgradeHeaders({ cookie, bearer, origin, headers = {} }) {
    const h = { ...headers };
    if (cookie) h.Cookie = `auth_token=${cookie}`;
    if (bearer) h.Authorization = `Bearer ${bearer}`;
    if (origin) h.Origin = origin;
    return h;
}

/** A connected, authenticated, bound client with an inbox of stanzas. */
export class Client {
    constructor(xmpp, username) {
        this.xmpp = xmpp;
        this.username = username;
        this.inbox = [];
        this.waiters = [];
        this.errors = [];
        this.closed = false;
        xmpp.on("stanza", (el) => {
            this.inbox.push(el);
            this.waiters = this.waiters.filter((w) => !w.check());
        });
        xmpp.on("error", (err) => this.errors.push(err));
        xmpp.on("disconnect", () => (this.closed = true));
        xmpp.on("offline", () => (this.closed = true));
    }

    get jid() {
        return this.xmpp.jid;
    }

    get bare() {
        return bareJid(this.username);
    }

    send(el) {
        return this.xmpp.send(el);
    }

    /** Sends initial presence (with optional show/status children). */
    presence(children = [], attrs = {}) {
        return this.xmpp.send(xml("presence", attrs, ...children));
    }

    iq(el, ms = 5_000) {
        return this.xmpp.iqCaller.request(el, ms);
    }

    /** A round trip to the server (XEP-0199 ping): everything this client
     * sent before has been read by the server when it resolves. An error
     * answer counts as an answer. */
    async sync(ms = 5_000) {
        try {
            await this.iq(xml("iq", { type: "get", to: DOMAIN }, xml("ping", { xmlns: NS.ping })), ms);
        } catch (err) {
            if (!err.condition) throw err;
        }
    }

    /**
     * Resolves (and removes from the inbox) the first stanza for which
     * `pred(el)` holds, waiting up to `ms`; rejects with `what` otherwise.
     */
    next(pred, what = "stanza", ms = 5_000) {
        const take = () => {
            const i = this.inbox.findIndex(pred);
            if (i < 0) return null;
            return this.inbox.splice(i, 1)[0];
        };
        const now = take();
        if (now) return Promise.resolve(now);
        return new Promise((resolve, reject) => {
            const w = {
                check: () => {
                    const el = take();
                    if (!el) return false;
                    clearTimeout(w.timer);
                    resolve(el);
                    return true;
                },
            };
            w.timer = setTimeout(() => {
                this.waiters = this.waiters.filter((x) => x !== w);
                reject(
                    new Error(
                        `${this.username}: no ${what} within ${ms} ms; inbox: ` +
                            this.inbox.map((e) => e.toString()).join("\n"),
                    ),
                );
            }, ms);
            this.waiters.push(w);
        });
    }

    /** Resolves the next <message> with a body (optionally equal to `body`). */
    nextMessage(body, ms = 5_000) {
        return this.next(
            (el) =>
                el.is("message") &&
                el.getChild("body") &&
                (body === undefined || el.getChildText("body") === body),
            body === undefined ? "message" : `message "${body}"`,
            ms,
        );
    }

    /** Rejects if a stanza matching `pred` arrives within `ms`. */
    async expectNone(pred, what, ms = 700) {
        await sleep(ms);
        const el = this.inbox.find(pred);
        if (el) throw new Error(`${this.username}: unexpected ${what}: ${el.toString()}`);
    }

    async stop() {
        if (this.stopped) return;
        this.stopped = true;
        try {
            await withTimeout(this.xmpp.stop(), 3_000, "client stop");
        } catch {
            // The server may already have closed the stream; make sure the
            // socket is gone.
            this.xmpp.socket?.socket?.terminate?.();
        }
    }
}

/**
 * Connects a client as `username`. Options: token (default: a good token from
 * srv), cookie (token for the auth_token cookie, default token; null for
 * none), bearer, origin, resource, saslUsername, saslPassword, ms, sm (let
 * the client enable XEP-0198 stream management).
 * Resolves a Client once online (after bind); rejects on any failure.
 */
export async function connect(srv, username, opts = {}) {
    const token = opts.token ?? srv.token(username);
    const cookie = opts.cookie === undefined ? token : opts.cookie;
    const xmpp = client({
        service: srv.url,
        domain: DOMAIN,
        resource: opts.resource,
        username: opts.saslUsername ?? username,
        password: opts.saslPassword ?? token,
        timeout: 5_000,
    });
    xmpp.reconnect.stop();
    xmpp.transports.length = 0;
    const transport = transportWithHeaders(
        upgradeHeaders({ cookie, bearer: opts.bearer, origin: opts.origin }),
    );
    // opts.sm: let the client enable stream management (XEP-0198).
    if (!opts.sm) transport.prototype.Parser = NoStreamManagementParser;
    xmpp.transports.push(transport);
    const c = new Client(xmpp, username);
    try {
        await withTimeout(xmpp.start(), opts.ms ?? 8_000, `login of ${username}`);
    } catch (err) {
        xmpp.socket?.socket?.terminate?.();
        throw err;
    }
    return c;
}

/** Connects, sends initial presence and waits until the server has it. */
export async function online(srv, username, opts = {}) {
    const c = await connect(srv, username, opts);
    await c.presence();
    await c.sync();
    return c;
}

/** Calls fn for each stanza the client has received so far (its inbox) and
 * for each one after: what a server sends between online()'s presence and
 * the caller's listener (an offline flush starts at the presence) is not
 * missed. */
export function eachStanza(c, fn) {
    for (const el of c.inbox) fn(el);
    c.xmpp.on("stanza", fn);
}

/** Stops every client given, ignoring failures (for finally blocks). */
export async function stopAll(...clients) {
    await Promise.all(clients.filter(Boolean).map((c) => c.stop().catch(() => {})));
}

// ---------------------------------------------------------------------------
// Raw WebSocket
// ---------------------------------------------------------------------------

/**
 * Attempts a WebSocket upgrade. Options: token (cookie), bearer, origin,
 * protocols (default ['xmpp']), headers, wsOptions (for the ws package,
 * e.g. {autoPong: false}). Resolves {status} when the server
 * answered with an HTTP status instead of 101, {error} when the handshake
 * failed otherwise, or {conn: RawConn} when the WebSocket is open.
 */
export function upgrade(srv, opts = {}) {
    const protocols = opts.protocols ?? ["xmpp"];
    const headers = upgradeHeaders({
        cookie: opts.token,
        bearer: opts.bearer,
        origin: opts.origin,
        headers: opts.headers,
    });
    return withTimeout(
        new Promise((resolve) => {
            const ws = new WebSocket(srv.url, protocols, {
                headers,
                maxPayload: 1 << 24,
                ...opts.wsOptions,
            });
            const conn = new RawConn(ws);
            ws.on("unexpected-response", (req, res) => {
                res.resume();
                resolve({ status: res.statusCode, headers: res.headers });
                req.destroy();
            });
            ws.on("error", (error) => resolve({ error }));
            ws.on("open", () => resolve({ conn, protocol: ws.protocol }));
        }),
        5_000,
        "WebSocket upgrade",
    );
}

/** Upgrades with a good token for `username`; resolves the RawConn. */
export async function rawConnect(srv, username, opts = {}) {
    const r = await upgrade(srv, { token: opts.token ?? srv.token(username), ...opts });
    if (!r.conn) {
        throw new Error(`upgrade refused: ${r.status ?? r.error?.message}`);
    }
    r.conn.username = username;
    return r.conn;
}

/** One WebSocket, each text frame parsed as one RFC 7395 element. */
export class RawConn {
    constructor(ws) {
        this.ws = ws;
        this.items = [];
        this.waiters = [];
        this.closeInfo = null;
        this.closed = new Promise((resolve) => {
            ws.on("close", (code, reason) => {
                this.closeInfo = { code, reason: reason.toString() };
                this.wake();
                resolve(this.closeInfo);
            });
        });
        ws.on("error", () => {});
        ws.on("message", (data, isBinary) => {
            const raw = data.toString();
            let item = { kind: "unparsable", raw, binary: isBinary };
            const p = new FramedParser();
            p.on("start", (el) => (item = { kind: "open", el, raw }));
            p.on("end", (el) => (item = { kind: "close", el, raw }));
            p.on("element", (el) => (item = { kind: "element", el, raw }));
            p.on("error", () => {});
            try {
                p.write(raw);
            } catch {
                // left as unparsable
            }
            this.items.push(item);
            this.wake();
        });
    }

    wake() {
        this.waiters = this.waiters.filter((w) => !w());
    }

    send(text) {
        this.ws.send(text);
    }

    /** Resolves the next frame {kind, el, raw}; rejects on timeout or when
     * the socket closed with nothing left. */
    next(what = "frame", ms = 5_000) {
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
                this.waiters = this.waiters.filter((x) => x !== w);
                reject(new Error(`raw: no ${what} within ${ms} ms`));
            }, ms);
            const w = () => {
                if (this.items.length) {
                    clearTimeout(timer);
                    resolve(this.items.shift());
                    return true;
                }
                if (this.closeInfo) {
                    clearTimeout(timer);
                    reject(
                        new Error(
                            `raw: socket closed (${this.closeInfo.code}) while waiting for ${what}`,
                        ),
                    );
                    return true;
                }
                return false;
            };
            if (!w()) this.waiters.push(w);
        });
    }

    /** The next frame, which must be an element; resolves the element. */
    async nextElement(what = "element", ms) {
        const item = await this.next(what, ms);
        if (item.kind !== "element") {
            throw new Error(`raw: expected ${what}, got ${item.kind}: ${item.raw}`);
        }
        return item.el;
    }

    /** Sends <open/> and resolves the <stream:features/> that follow. */
    async openStream(to = DOMAIN) {
        this.send(`<open xmlns='${NS.framing}' to='${to}' version='1.0'/>`);
        const open = await this.next("<open/>");
        if (open.kind !== "open") throw new Error(`raw: expected <open/>, got ${open.raw}`);
        this.openAttrs = open.el.attrs;
        const features = await this.nextElement("<stream:features/>");
        if (features.getName() !== "features" || features.getNS() !== NS.streams) {
            throw new Error(`raw: expected stream features, got ${features.toString()}`);
        }
        return features;
    }

    /** The whole login: open, SASL PLAIN, restart, bind. Resolves the JID. */
    async login(username, token) {
        await this.openStream();
        const plain = Buffer.from(`\0${username}\0${token}`).toString("base64");
        this.send(`<auth xmlns='${NS.sasl}' mechanism='PLAIN'>${plain}</auth>`);
        const ok = await this.nextElement("SASL answer");
        if (ok.getName() !== "success") throw new Error(`raw: SASL failed: ${ok.toString()}`);
        await this.openStream();
        this.send(
            `<iq xmlns='jabber:client' type='set' id='bind1'>` +
                `<bind xmlns='${NS.bind}'/></iq>`,
        );
        const res = await this.nextElement("bind result");
        const j = res.getChild("bind", NS.bind)?.getChildText("jid");
        if (res.attrs.type !== "result" || !j) {
            throw new Error(`raw: bind failed: ${res.toString()}`);
        }
        this.jid = j;
        return j;
    }

    /**
     * Expects what RFC 7395 prescribes after a stream error: a
     * <stream:error> with `condition`, then <close/>, then the WebSocket
     * closing. Frames before the error that are not errors are skipped.
     */
    async expectStreamError(condition, ms = 5_000) {
        let err;
        for (;;) {
            const item = await this.next(`<stream:error> ${condition}`, ms);
            if (item.kind === "element" && item.el.getName() === "error" && item.el.getNS() === NS.streams) {
                err = item.el;
                break;
            }
            if (item.kind === "close" || item.kind === "unparsable") {
                throw new Error(`raw: expected <stream:error> ${condition}, got ${item.raw}`);
            }
        }
        const cond = err.children.find((c) => typeof c !== "string" && c.getNS() === NS.streamErrors);
        if (!cond || cond.getName() !== condition) {
            throw new Error(`raw: expected stream error ${condition}, got ${err.toString()}`);
        }
        const close = await this.next("<close/> after the stream error", ms);
        if (close.kind !== "close") {
            throw new Error(`raw: expected <close/> after the stream error, got ${close.raw}`);
        }
        await withTimeout(this.closed, ms, "WebSocket close after the stream error");
        return err;
    }

    terminate() {
        this.ws.terminate();
    }
}
