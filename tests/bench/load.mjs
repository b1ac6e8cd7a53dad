#!/usr/bin/env node
// Parley load tool: measures a running parleyd and prints figures. It never
// asserts a timing; it fails (exit 1) only when the server cannot be driven
// at all (a login refused, a phase timed out, parleyd gone).
//
// Phases (each may be skipped with --phases):
//   idle        open N authenticated, bound, available sessions; parleyd's
//               VmRSS before and after gives KB per idle session.
//   throughput  P sender/receiver pairs, each sender sends M messages keeping
//               up to W in flight; messages/s end to end (send to receipt by
//               the recipient) and latency percentiles.
//   offline     K messages to a user with no session; once they are stored,
//               the user logs in and the time until all have arrived.
//   fanout      N contacts online and one more user whose presence changes C
//               times; the time from each change until each contact has it
//               (run against a parleyd with PARLEY_TEAM_ROSTER=1, where every
//               user is everyone's contact; not in the default phases).
//   room        O occupants in one room (XEP-0045), one of them posting at a
//               steady R messages/s; the time from each message's send to
//               its receipt by the last occupant (the sender's reflection
//               included), p50/p99, and deliveries/s. Not in the default
//               set: --phases room.
//   mam         "the last 50 of a conversation" and "the last 50 of a room"
//               through XEP-0313, Q times each, as bench_a (against an
//               archive filled by tests/bench/fill-archive.sql): the time
//               from query to <fin/>, p50/p99. Not in the default set.
//
// Usage: node tests/bench/load.mjs --port PORT [--pid PARLEYD_PID] [options]
// Environment: PARLEY_JWT_SECRET (required; HS256 tokens are minted here),
// PARLEY_JWT_ISSUER / PARLEY_JWT_AUDIENCE (when the server checks them),
// DATABASE_URL (optional: lets the offline phase wait until the backlog is
// stored, through psql; without it the phase waits a fixed --settle time).
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";

import WebSocket from "ws";

const USAGE = `usage: load.mjs --port PORT [options]
  --host HOST          127.0.0.1 (default), localhost or ::1 only
  --pid PID            parleyd's pid, for VmRSS (idle phase needs it)
  --pg-pid PID         the postmaster's pid, for PostgreSQL's CPU time (optional)
  --phases LIST        comma-separated: idle,throughput,offline,room,mam
                       (default idle,throughput,offline)
  --sessions N         idle sessions (default 2000)
  --pairs P            sender/receiver pairs (default 50)
  --messages M         messages per pair (default 200)
  --window W           messages in flight per pair (default 20)
  --receipts           throughput: request XEP-0184 receipts; the receiver
                       answers each and a message counts (and leaves the
                       window) when its receipt is back at the sender
  --offline K          offline backlog size (default 2000)
  --contacts N         fanout: contacts online (default 1000)
  --changes C          fanout: presence changes timed (default 20)
  --occupants O        room phase: occupants of the room (default 100)
  --rate R             room phase: messages per second posted (default 20)
  --room-messages M    room phase: messages posted (default 400)
  --queries Q          mam phase: queries of each kind (default 200)
  --connect-parallel C logins in progress at once (default 50)
  --domain D           XMPP domain (default localhost)
  --settle MS          offline phase without DATABASE_URL: wait after sending (default 5000)
  --timeout S          overall limit in seconds (default 900)
  --phase-timeout S    limit per phase in seconds (default 300)
  --sm MODE            XEP-0198 stream management: off (default), on (every
                       session enables it, with resumption, and answers the
                       server's <r/>), or both (throughput runs without and
                       then with it, from the same run; idle sessions enable it)
  --json               also print one line "RESULT {...}" with every figure`;

const NS_FRAMING = "urn:ietf:params:xml:ns:xmpp-framing";
const MAX_SESSIONS = 20000;
const MAX_MESSAGES = 1_000_000;

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

function intOpt(values, name, def, min, max) {
    if (values[name] === undefined) return def;
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min || n > max) {
        fail(`--${name} must be an integer in [${min}, ${max}]`);
    }
    return n;
}

function fail(msg) {
    process.stderr.write(`load.mjs: ${msg}\n`);
    process.exit(1);
}

function parseOptions() {
    let parsed;
    try {
        parsed = parseArgs({
            options: {
                host: { type: "string" },
                port: { type: "string" },
                pid: { type: "string" },
                "pg-pid": { type: "string" },
                phases: { type: "string" },
                sessions: { type: "string" },
                pairs: { type: "string" },
                messages: { type: "string" },
                window: { type: "string" },
                offline: { type: "string" },
                contacts: { type: "string" },
                changes: { type: "string" },
                occupants: { type: "string" },
                rate: { type: "string" },
                "room-messages": { type: "string" },
                queries: { type: "string" },
                "connect-parallel": { type: "string" },
                domain: { type: "string" },
                settle: { type: "string" },
                timeout: { type: "string" },
                "phase-timeout": { type: "string" },
                json: { type: "boolean" },
                receipts: { type: "boolean" },
                sm: { type: "string" },
                help: { type: "boolean" },
            },
        });
    } catch (err) {
        fail(`${err.message}\n${USAGE}`);
    }
    const v = parsed.values;
    if (v.help) {
        process.stdout.write(`${USAGE}\n`);
        process.exit(0);
    }
    const host = v.host ?? "127.0.0.1";
    // A load tool aimed elsewhere is a denial of service: loopback only.
    if (!["127.0.0.1", "localhost", "::1"].includes(host)) fail("only loopback targets are allowed");
    if (v.port === undefined) fail(`--port is required\n${USAGE}`);
    const phases = (v.phases ?? "idle,throughput,offline").split(",").filter(Boolean);
    for (const p of phases) {
        if (!["idle", "throughput", "offline", "fanout", "room", "mam"].includes(p)) fail(`unknown phase ${p}`);
    }
    const secret = process.env.PARLEY_JWT_SECRET;
    if (!secret) fail("PARLEY_JWT_SECRET is not set");
    const opts = {
        host,
        port: intOpt(v, "port", 0, 1, 65535),
        pid: v.pid === undefined ? null : intOpt(v, "pid", 0, 1, 2 ** 22),
        pgPid: v["pg-pid"] === undefined ? null : intOpt(v, "pg-pid", 0, 1, 2 ** 22),
        phases,
        sessions: intOpt(v, "sessions", 2000, 1, MAX_SESSIONS),
        pairs: intOpt(v, "pairs", 50, 1, MAX_SESSIONS / 2),
        messages: intOpt(v, "messages", 200, 1, MAX_MESSAGES),
        window: intOpt(v, "window", 20, 1, 10000),
        offline: intOpt(v, "offline", 2000, 1, MAX_MESSAGES),
        contacts: intOpt(v, "contacts", 1000, 1, MAX_SESSIONS),
        changes: intOpt(v, "changes", 20, 1, 10000),
        occupants: intOpt(v, "occupants", 100, 2, MAX_SESSIONS),
        rate: intOpt(v, "rate", 20, 1, 10000),
        roomMessages: intOpt(v, "room-messages", 400, 1, MAX_MESSAGES),
        queries: intOpt(v, "queries", 200, 1, 100000),
        parallel: intOpt(v, "connect-parallel", 50, 1, 1000),
        domain: v.domain ?? "localhost",
        settleMs: intOpt(v, "settle", 5000, 0, 600_000),
        timeoutS: intOpt(v, "timeout", 900, 1, 86400),
        phaseTimeoutS: intOpt(v, "phase-timeout", 300, 1, 86400),
        json: Boolean(v.json),
        receipts: Boolean(v.receipts),
        sm: v.sm ?? "off",
        smSession: v.sm === "on" || v.sm === "both",
        secret,
        issuer: process.env.PARLEY_JWT_ISSUER || undefined,
        audience: process.env.PARLEY_JWT_AUDIENCE || undefined,
    };
    if (!["off", "on", "both"].includes(opts.sm)) fail("--sm is off, on or both");
    if (opts.pairs * opts.messages > MAX_MESSAGES) fail("--pairs × --messages is too large");
    if (phases.includes("idle") && opts.pid === null) fail("the idle phase needs --pid");
    const hostPart = host === "::1" ? "[::1]" : host;
    opts.url = `ws://${hostPart}:${opts.port}/xmpp`;
    return opts;
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const b64url = (s) => Buffer.from(s).toString("base64url");

function makeToken(opts, sub, ttl = 3600) {
    const now = Math.floor(Date.now() / 1000);
    const payload = { sub, iat: now, exp: now + ttl };
    if (opts.issuer) payload.iss = opts.issuer;
    if (opts.audience) payload.aud = opts.audience;
    const input = `${b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${b64url(JSON.stringify(payload))}`;
    const sig = crypto.createHmac("sha256", opts.secret).update(input).digest("base64url");
    return `${input}.${sig}`;
}

function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

function withTimeout(promise, ms, what) {
    let timer;
    const t = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms / 1000} s`)), ms);
    });
    return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

function xmlEscape(s) {
    return String(s).replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** parleyd's resident set in KB, from /proc/PID/status (VmRSS), and its
 * peak (VmHWM) and open descriptors. */
function procStatus(pid) {
    const text = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (name) => {
        const m = text.match(new RegExp(`^${name}:\\s+(\\d+) kB`, "m"));
        return m ? Number(m[1]) : null;
    };
    let fds = null;
    try {
        fds = fs.readdirSync(`/proc/${pid}/fd`).length;
    } catch {
        /* not ours to read: leave it out */
    }
    return { rssKb: kb("VmRSS"), hwmKb: kb("VmHWM"), fds };
}

/** parleyd's CPU time (user + system) in ms, from /proc/PID/stat; the
 * kernel reports it in USER_HZ ticks, 100 a second on Linux. */
function procCpuMs(pid) {
    if (pid === null) return NaN;
    const text = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may hold spaces: count the fields after its ')'.
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** CPU time in ms of PostgreSQL: the postmaster `pid` and its children
 * (backends, walwriter, checkpointer...). Backends that ended in between are
 * missed, which is fine for a server whose connections are long-lived. */
function pgCpuMs(pid) {
    if (pid === null) return NaN;
    let total = 0;
    for (const d of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(d)) continue;
        let text;
        try {
            text = fs.readFileSync(`/proc/${d}/stat`, "utf8");
        } catch {
            continue; // gone meanwhile
        }
        const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
        if (Number(d) === pid || Number(fields[1]) === pid) {
            total += (Number(fields[11]) + Number(fields[12])) * 10;
        }
    }
    return total;
}

/** CPU used by parleyd, PostgreSQL and this tool since the call; call the
 * returned function to read it. */
function cpuMark(pid, pgPid) {
    const server0 = procCpuMs(pid);
    const pg0 = pgCpuMs(pgPid);
    const self0 = process.cpuUsage();
    return () => {
        const self = process.cpuUsage(self0);
        return {
            server_ms: procCpuMs(pid) - server0,
            pg_ms: pgCpuMs(pgPid) - pg0,
            tool_ms: (self.user + self.system) / 1000,
        };
    };
}

function printCpu(cpu, secs, what) {
    const srv = Number.isFinite(cpu.server_ms)
        ? `parleyd ${f1(cpu.server_ms)} ms (${f1((cpu.server_ms / (secs * 1000)) * 100)}% of a core)`
        : "parleyd n/a";
    const pg = Number.isFinite(cpu.pg_ms)
        ? `, PostgreSQL ${f1(cpu.pg_ms)} ms (${f1((cpu.pg_ms / (secs * 1000)) * 100)}%)`
        : "";
    console.log(`cpu during ${what}: ${srv}${pg}, load tool ${f1(cpu.tool_ms)} ms (${f1((cpu.tool_ms / (secs * 1000)) * 100)}% of a core)`);
}

function percentile(sorted, p) {
    if (sorted.length === 0) return NaN;
    const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
    return sorted[i];
}

const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : "n/a");
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : "n/a");

/** Runs `fn(i)` for i in [0, n) with at most `limit` at a time; rejects on
 * the first failure. */
async function pool(n, limit, fn) {
    let next = 0;
    const workers = [];
    for (let w = 0; w < Math.min(limit, n); w++) {
        workers.push(
            (async () => {
                while (next < n) {
                    const i = next++;
                    await fn(i);
                }
            })(),
        );
    }
    await Promise.all(workers);
}

// ---------------------------------------------------------------------------
// One XMPP-over-WebSocket session, spoken with plain string frames: RFC 7395
// puts one element in each frame, and a load tool should not spend its CPU on
// a full XML parser. Only what this tool sends and expects is recognised.
// ---------------------------------------------------------------------------

// Simulated users are many devices, not one: against 127.0.0.1 each
// session connects from its own loopback address (127.1.x.y, from a hash
// of its name), so the per-address limits (PARLEY_LIMIT_CONNECT_RATE,
// PARLEY_LIMIT_PENDING_PER_IP) see what they would in production.
function sourceAddress(opts, username) {
    if (opts.host !== "127.0.0.1") return {};
    let h = 0;
    for (const ch of username) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
    return { localAddress: `127.1.${(h >>> 8) & 255}.${(h & 255) || 1}` };
}

class Session {
    constructor(opts, username) {
        this.opts = opts;
        this.username = username;
        this.bare = `${username}@${opts.domain}`;
        this.ws = null;
        this.state = "new";
        this.closed = false;
        this.onMessage = null; // (frame, now) => void, for <message/> frames
        this.onPresence = null; // (frame, now) => void, for <presence/> frames
        this.errors = 0;
        this.closedPromise = null;
        // XEP-0198: enable after bind and answer every <r/> with the count
        // of stanzas received since <enabled/>.
        this.sm = Boolean(opts.smSession);
        this.smIn = 0;
    }

    /** Connects and logs in; resolves once bound, available and the initial
     * presence has been processed (a ping sent after it was answered). */
    login(ms = 30_000) {
        const token = makeToken(this.opts, this.username);
        const open = `<open xmlns='${NS_FRAMING}' to='${this.opts.domain}' version='1.0'/>`;
        const p = new Promise((resolve, reject) => {
            const ws = new WebSocket(this.opts.url, "xmpp", {
                headers: { Cookie: `auth_token=${token}` },
                perMessageDeflate: false,
                handshakeTimeout: ms,
                ...sourceAddress(this.opts, this.username),
            });
            this.ws = ws;
            this.closedPromise = new Promise((r) => ws.once("close", r));
            const bad = (why) => {
                if (this.state === "ready") return;
                this.state = "failed";
                reject(new Error(`${this.username}: ${why}`));
                ws.terminate();
            };
            ws.on("unexpected-response", (_req, res) => bad(`upgrade refused: HTTP ${res.statusCode}`));
            ws.on("error", (err) => bad(err.message));
            ws.on("close", (code) => {
                this.closed = true;
                bad(`closed during login (code ${code})`);
            });
            ws.on("open", () => {
                this.state = "features1";
                ws.send(open);
            });
            ws.on("message", (data) => {
                const frame = data.toString();
                const now = performance.now();
                if (this.sm) {
                    if (frame.startsWith("<message") || frame.startsWith("<presence") || frame.startsWith("<iq")) {
                        this.smIn++;
                    } else if (frame.startsWith("<r ")) {
                        ws.send(`<a xmlns='urn:xmpp:sm:3' h='${this.smIn}'/>`);
                        return;
                    } else if (frame.startsWith("<enabled")) {
                        this.smIn = 0;
                        return;
                    } else if (frame.startsWith("<a ")) {
                        return;
                    }
                }
                if (frame.startsWith("<message")) {
                    if (this.onMessage) this.onMessage(frame, now);
                    return;
                }
                if (frame.startsWith("<open")) return;
                if (frame.startsWith("<presence") && this.onPresence) this.onPresence(frame, now);
                if (frame.startsWith("<close") || frame.includes("stream:error") || frame.startsWith("<error")) {
                    this.errors++;
                    bad(`stream closed by server: ${frame.slice(0, 200)}`);
                    return;
                }
                switch (this.state) {
                    case "features1":
                        if (frame.includes("<mechanisms")) {
                            const cred = Buffer.from(`\0${this.username}\0${token}`).toString("base64");
                            ws.send(
                                `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${cred}</auth>`,
                            );
                            this.state = "auth";
                        }
                        break;
                    case "auth":
                        if (frame.startsWith("<success")) {
                            this.state = "features2";
                            ws.send(open);
                        } else if (frame.startsWith("<failure")) {
                            bad(`SASL failure: ${frame.slice(0, 200)}`);
                        }
                        break;
                    case "features2":
                        if (frame.includes("<bind")) {
                            this.state = "bind";
                            ws.send(
                                "<iq type='set' id='bind1' xmlns='jabber:client'>" +
                                    "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>",
                            );
                        }
                        break;
                    case "bind":
                        if (frame.startsWith("<iq") && frame.includes("bind1")) {
                            if (!/type=['"]result['"]/.test(frame)) {
                                bad(`bind failed: ${frame.slice(0, 200)}`);
                                break;
                            }
                            const m = frame.match(/<jid>([^<]+)<\/jid>/);
                            this.fullJid = m ? m[1] : null;
                            this.state = "presence";
                            if (this.sm) ws.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
                            ws.send("<presence xmlns='jabber:client'/>");
                            ws.send(
                                `<iq type='get' id='ping1' to='${this.opts.domain}' xmlns='jabber:client'>` +
                                    "<ping xmlns='urn:xmpp:ping'/></iq>",
                            );
                        }
                        break;
                    case "presence":
                        if (frame.startsWith("<iq") && frame.includes("ping1")) {
                            this.state = "ready";
                            resolve(this);
                        }
                        break;
                    default:
                        break; // presence echoes, pings from the server, ...
                }
            });
        });
        return withTimeout(p, ms, `login of ${this.username}`).catch((err) => {
            this.ws?.terminate();
            throw err;
        });
    }

    sendMessage(to, id, body, receipt = false) {
        this.ws.send(
            `<message xmlns='jabber:client' type='chat' to='${to}' id='${id}'>` +
                `<body>${xmlEscape(body)}</body>` +
                (receipt ? "<request xmlns='urn:xmpp:receipts'/>" : "") +
                "</message>",
        );
    }

    sendReceipt(to, id) {
        this.ws.send(
            `<message xmlns='jabber:client' to='${to}' id='r${id}'>` +
                `<received xmlns='urn:xmpp:receipts' id='${id}'/></message>`,
        );
    }

    /** Closes the stream cleanly; resolves once the socket is closed (or
     * after `ms`, when it is torn down). */
    async close(ms = 5000) {
        if (!this.ws || this.closed) return;
        try {
            if (this.ws.readyState === WebSocket.OPEN) {
                this.ws.send(`<close xmlns='${NS_FRAMING}'/>`);
                this.ws.close(1000);
            }
        } catch {
            /* already going */
        }
        const done = await Promise.race([this.closedPromise.then(() => true), sleep(ms).then(() => false)]);
        if (!done) this.ws.terminate();
    }
}

async function loginMany(opts, names) {
    const sessions = new Array(names.length);
    await pool(names.length, opts.parallel, async (i) => {
        const s = new Session(opts, names[i]);
        sessions[i] = s;
        await s.login();
    });
    return sessions;
}

async function closeMany(sessions, parallel = 200) {
    const live = sessions.filter(Boolean);
    await pool(live.length, parallel, (i) => live[i].close());
}

// ---------------------------------------------------------------------------
// Phases
// ---------------------------------------------------------------------------

async function phaseIdle(opts, run) {
    const n = opts.sessions;
    console.log(`\n== idle sessions: ${n}${opts.smSession ? ", with stream management" : ""}`);
    await sleep(500);
    const before = procStatus(opts.pid);
    const names = Array.from({ length: n }, (_, i) => `idle_${run}_${i}`);
    const t0 = performance.now();
    const cpu = cpuMark(opts.pid, opts.pgPid);
    let sessions = [];
    try {
        sessions = await loginMany(opts, names);
        const loginS = (performance.now() - t0) / 1000;
        const loginCpu = cpu();
        // Let the store workers finish the session rows and the allocator settle.
        await sleep(2000);
        const after = procStatus(opts.pid);
        const perKb = (after.rssKb - before.rssKb) / n;
        console.log(`logins: ${n} in ${f2(loginS)} s (${f1(n / loginS)} logins/s, ${opts.parallel} at a time)`);
        printCpu(loginCpu, loginS, "logins");
        console.log(`parleyd VmRSS before: ${before.rssKb} KB, with ${n} idle sessions: ${after.rssKb} KB`);
        console.log(`per idle session: ${f1(perKb)} KB`);
        if (after.fds !== null) console.log(`parleyd open fds: ${before.fds} -> ${after.fds}`);
        await closeMany(sessions);
        sessions = [];
        await sleep(1000);
        const closed = procStatus(opts.pid);
        console.log(`parleyd VmRSS after closing them: ${closed.rssKb} KB (peak VmHWM ${closed.hwmKb} KB)`);
        return {
            sessions: n,
            sm: opts.smSession,
            login_s: loginS,
            logins_per_s: n / loginS,
            rss_before_kb: before.rssKb,
            rss_after_kb: after.rssKb,
            rss_closed_kb: closed.rssKb,
            kb_per_session: perKb,
            login_cpu: loginCpu,
        };
    } finally {
        if (sessions.length) await closeMany(sessions);
    }
}

/** --sm both: the throughput phase without stream management, then with
 * it (fresh users, the same figures), and their ratio. */
async function phaseThroughputSm(opts, run) {
    if (opts.sm !== "both") return phaseThroughputOnce(opts, run, "");
    const off = await phaseThroughputOnce({ ...opts, smSession: false }, run, "off");
    const on = await phaseThroughputOnce({ ...opts, smSession: true }, run, "on");
    const ratio = on.msgs_per_s / off.msgs_per_s;
    console.log(
        `stream management on/off: ${f1(on.msgs_per_s)} / ${f1(off.msgs_per_s)} messages/s = ` +
            `${f2(ratio)} (p50 ${f1(on.p50_ms)} vs ${f1(off.p50_ms)} ms)`,
    );
    return { sm_off: off, sm_on: on, sm_ratio: ratio };
}

async function phaseThroughputOnce(opts, run, tag) {
    const { pairs, messages: m, window: w, receipts } = opts;
    const total = pairs * m;
    console.log(
        `\n== throughput: ${pairs} pairs × ${m} messages, window ${w}` +
            (receipts ? ", with XEP-0184 receipts (counted when the receipt is back)" : "") +
            (opts.smSession ? ", stream management on" : opts.sm !== "off" ? ", stream management off" : ""),
    );
    const senders = Array.from({ length: pairs }, (_, i) => `snd${tag}_${run}_${i}`);
    const receivers = Array.from({ length: pairs }, (_, i) => `rcv${tag}_${run}_${i}`);
    let sessions = [];
    try {
        sessions = await loginMany(opts, [...senders, ...receivers]);
        const latencies = new Float64Array(total);
        let received = 0;
        let noStanzaId = 0;
        let unexpected = 0;
        let finish;
        const allDone = new Promise((resolve) => (finish = resolve));
        const t0 = performance.now();
        const cpu = cpuMark(opts.pid, opts.pgPid);
        for (let i = 0; i < pairs; i++) {
            const snd = sessions[i];
            const rcv = sessions[pairs + i];
            const sentAt = new Float64Array(m);
            const got = new Uint8Array(m);
            let next = 0;
            let inFlight = 0;
            const pump = () => {
                while (inFlight < w && next < m) {
                    const seq = next++;
                    inFlight++;
                    sentAt[seq] = performance.now();
                    snd.sendMessage(rcv.bare, `t${run}-${i}-${seq}`, `${seq}`, receipts);
                }
            };
            const done = (seq, now) => {
                latencies[received++] = now - sentAt[seq];
                inFlight--;
                if (received === total) finish();
                else pump();
            };
            rcv.onMessage = (frame, now) => {
                const b = frame.match(/<body>(\d+)<\/body>/);
                const seq = b ? Number(b[1]) : -1;
                const fromOk = frame.includes(`from='${snd.bare}/`) || frame.includes(`from="${snd.bare}/`);
                if (seq < 0 || seq >= m || got[seq] || !fromOk) {
                    unexpected++;
                    return;
                }
                got[seq] = 1;
                if (!frame.includes("urn:xmpp:sid:0")) noStanzaId++;
                if (receipts) rcv.sendReceipt(snd.bare, `t${run}-${i}-${seq}`);
                else done(seq, now);
            };
            if (receipts) {
                const acked = new Uint8Array(m);
                snd.onMessage = (frame, now) => {
                    const r = frame.match(/<received xmlns=['"]urn:xmpp:receipts['"] id=['"]t[^-]+-\d+-(\d+)['"]/);
                    const seq = r ? Number(r[1]) : -1;
                    if (seq < 0 || seq >= m || acked[seq] || !got[seq]) {
                        unexpected++;
                        return;
                    }
                    acked[seq] = 1;
                    done(seq, now);
                };
            }
            pump();
        }
        let timedOut = false;
        await withTimeout(allDone, opts.phaseTimeoutS * 1000, "throughput").catch((err) => {
            timedOut = true;
            console.log(`!! ${err.message}: ${received} of ${total} received`);
        });
        const secs = (performance.now() - t0) / 1000;
        const used = cpu();
        const lat = Array.from(latencies.subarray(0, received)).sort((a, b) => a - b);
        const res = {
            pairs,
            sm: opts.smSession,
            messages_per_pair: m,
            window: w,
            receipts,
            sent: total,
            received,
            seconds: secs,
            msgs_per_s: received / secs,
            p50_ms: percentile(lat, 50),
            p95_ms: percentile(lat, 95),
            p99_ms: percentile(lat, 99),
            max_ms: lat.length ? lat[lat.length - 1] : NaN,
            without_stanza_id: noStanzaId,
            unexpected,
            timed_out: timedOut,
            cpu: used,
            server_cpu_us_per_msg: (used.server_ms * 1000) / Math.max(1, received),
            pg_cpu_us_per_msg: (used.pg_ms * 1000) / Math.max(1, received),
        };
        console.log(`received ${received}/${total} in ${f2(secs)} s: ${f1(res.msgs_per_s)} messages/s`);
        console.log(
            `latency ms: p50 ${f1(res.p50_ms)}, p95 ${f1(res.p95_ms)}, p99 ${f1(res.p99_ms)}, max ${f1(res.max_ms)}`,
        );
        printCpu(used, secs, "the run");
        console.log(
            `cpu per message: parleyd ${f1(res.server_cpu_us_per_msg)} µs, PostgreSQL ${f1(res.pg_cpu_us_per_msg)} µs`,
        );
        if (noStanzaId || unexpected) {
            console.log(`note: ${noStanzaId} without <stanza-id/>, ${unexpected} unexpected frames`);
        }
        if (timedOut) throw Object.assign(new Error("throughput phase timed out"), { partial: res });
        return res;
    } finally {
        await closeMany(sessions);
    }
}

/** The number of deliveries still `stored` for `bare`, through psql; null
 * when the database cannot be asked. */
function storedCount(bare) {
    const url = process.env.DATABASE_URL;
    if (!url) return null;
    // psql does not interpolate variables in -c commands: the query goes on
    // standard input.
    const r = spawnSync("psql", ["-X", "-Atq", "-v", "ON_ERROR_STOP=1", "-v", `who=${bare}`, url], {
        input: "SELECT count(*) FROM deliveries WHERE recipient = :'who' AND state = 'stored';\n",
        encoding: "utf8",
        timeout: 10_000,
    });
    if (r.status !== 0) return null;
    const n = Number(r.stdout.trim());
    return Number.isInteger(n) ? n : null;
}

async function phaseOffline(opts, run) {
    const k = opts.offline;
    console.log(`\n== offline backlog: ${k} messages`);
    const target = `off_${run}`;
    const targetBare = `${target}@${opts.domain}`;
    const sender = new Session(opts, `offsnd_${run}`);
    const deadline = Date.now() + opts.phaseTimeoutS * 1000;
    let rcv = null;
    try {
        await sender.login();
        // Send them all, holding back only while the socket's buffer is full:
        // with no recipient online there is nothing to wait for per message.
        const t0 = performance.now();
        for (let seq = 0; seq < k; seq++) {
            sender.sendMessage(targetBare, `o${run}-${seq}`, `${seq}`);
            while (sender.ws.bufferedAmount > 256 * 1024) {
                if (Date.now() > deadline) throw new Error("offline: send timed out");
                await sleep(5);
            }
        }
        const sentS = (performance.now() - t0) / 1000;
        console.log(`sent ${k} in ${f2(sentS)} s`);
        let storedS = null;
        let stored = storedCount(targetBare);
        if (stored === null) {
            console.log(`no database access: waiting ${opts.settleMs} ms for the store`);
            await sleep(opts.settleMs);
        } else {
            while (stored < k) {
                if (Date.now() > deadline) throw new Error(`offline: only ${stored}/${k} stored in time`);
                await sleep(100);
                stored = storedCount(targetBare);
                if (stored === null) throw new Error("offline: psql stopped answering");
            }
            storedS = (performance.now() - t0) / 1000;
            console.log(`all ${k} stored ${f2(storedS)} s after the first send (${f1(k / storedS)} stored/s)`);
        }

        rcv = new Session(opts, target);
        let received = 0;
        let outOfOrder = 0;
        let delayed = 0;
        let last = -1;
        let tFirst = null;
        let finish;
        const allDone = new Promise((resolve) => (finish = resolve));
        const seen = new Uint8Array(k);
        rcv.onMessage = (frame, now) => {
            const b = frame.match(/<body>(\d+)<\/body>/);
            const seq = b ? Number(b[1]) : -1;
            if (seq < 0 || seq >= k || seen[seq]) return;
            seen[seq] = 1;
            if (tFirst === null) tFirst = now;
            if (seq < last) outOfOrder++;
            last = seq;
            if (frame.includes("urn:xmpp:delay")) delayed++;
            if (++received === k) finish();
        };
        const tLogin = performance.now();
        await rcv.login();
        const tReady = performance.now();
        const left = Math.max(1, deadline - Date.now());
        let timedOut = false;
        await withTimeout(allDone, left, "offline delivery").catch((err) => {
            timedOut = true;
            console.log(`!! ${err.message}: ${received} of ${k} received`);
        });
        const tEnd = performance.now();
        const res = {
            messages: k,
            send_s: sentS,
            stored_s: storedS,
            received,
            login_to_all_s: (tEnd - tLogin) / 1000,
            login_ms: tReady - tLogin,
            first_after_login_ms: tFirst === null ? null : tFirst - tLogin,
            msgs_per_s: received / ((tEnd - tLogin) / 1000),
            out_of_order: outOfOrder,
            with_delay: delayed,
            timed_out: timedOut,
        };
        console.log(
            `login to all ${received}/${k} arrived: ${f2(res.login_to_all_s)} s ` +
                `(${f1(res.msgs_per_s)} messages/s; login itself ${f1(res.login_ms)} ms, ` +
                `first message ${f1(res.first_after_login_ms ?? NaN)} ms after connecting)`,
        );
        console.log(`in order: ${outOfOrder === 0 ? "yes" : `no, ${outOfOrder} out of order`}; with <delay/>: ${delayed}`);
        if (timedOut) throw Object.assign(new Error("offline phase timed out"), { partial: res });
        return res;
    } finally {
        await sender.close();
        if (rcv) await rcv.close();
    }
}

async function phaseFanout(opts, run) {
    const n = opts.contacts;
    const k = opts.changes;
    console.log(`\n== presence fan-out: ${n} contacts online, ${k} presence changes of one user (PARLEY_TEAM_ROSTER=1)`);
    const names = Array.from({ length: n }, (_, i) => `fan_${run}_${i}`);
    let sessions = [];
    let star = null;
    try {
        const t0 = performance.now();
        sessions = await loginMany(opts, names);
        star = new Session(opts, `fanstar_${run}`);
        await star.login();
        console.log(`logins: ${n + 1} in ${f2((performance.now() - t0) / 1000)} s (each one's presence goes to everyone online)`);
        await sleep(1000); // the login broadcasts drain
        const cpu = cpuMark(opts.pid, opts.pgPid);
        const lat = [];
        const lastMs = [];
        const tStart = performance.now();
        for (let c = 0; c < k; c++) {
            const status = `fan-${run}-${c}`;
            let got = 0;
            const sent = performance.now();
            const done = new Promise((resolve) => {
                for (const s of sessions) {
                    s.onPresence = (frame, now) => {
                        if (!frame.includes(`>${status}<`)) return;
                        lat.push(now - sent);
                        s.onPresence = null;
                        if (++got === n) resolve();
                    };
                }
            });
            star.ws.send(`<presence xmlns='jabber:client'><status>${status}</status></presence>`);
            const ok = await Promise.race([done.then(() => true), sleep(c === 0 ? 10_000 : 60_000).then(() => false)]);
            if (!ok) {
                throw new Error(
                    `change ${c}: ${got}/${n} contacts had it in time` +
                        (got === 0 ? " (is parleyd running with PARLEY_TEAM_ROSTER=1?)" : ""),
                );
            }
            lastMs.push(performance.now() - sent);
        }
        const secs = (performance.now() - tStart) / 1000;
        const used = cpu();
        lat.sort((a, b) => a - b);
        lastMs.sort((a, b) => a - b);
        const res = {
            contacts: n,
            changes: k,
            deliveries: lat.length,
            p50_ms: percentile(lat, 50),
            p95_ms: percentile(lat, 95),
            p99_ms: percentile(lat, 99),
            max_ms: lat[lat.length - 1],
            to_last_p50_ms: percentile(lastMs, 50),
            to_last_max_ms: lastMs[lastMs.length - 1],
            cpu: used,
        };
        console.log(
            `per contact, change to arrival: p50 ${f1(res.p50_ms)} ms, p95 ${f1(res.p95_ms)} ms, ` +
                `p99 ${f1(res.p99_ms)} ms, max ${f1(res.max_ms)} ms (${lat.length} deliveries)`,
        );
        console.log(`change to the last contact: p50 ${f1(res.to_last_p50_ms)} ms, max ${f1(res.to_last_max_ms)} ms`);
        printCpu(used, secs, "changes");
        return res;
    } finally {
        if (star) await star.close();
        if (sessions.length) await closeMany(sessions);
    }
}

/** One room, O occupants, one of them posting at a steady rate; each
 * message counts when the last occupant (its sender's reflection
 * included) has it. The occupants join with <history maxstanzas='0'/>:
 * the room is new, and the phase measures live fan-out only. */
async function phaseRoom(opts, run) {
    const { occupants: n, rate, roomMessages: m } = opts;
    const muc = `conference.${opts.domain}`;
    const room = `bench-${run}@${muc}`;
    console.log(`\n== room: ${n} occupants, ${m} messages at ${rate}/s (${n * rate} deliveries/s)`);
    const names = Array.from({ length: n }, (_, i) => `occ_${run}_${i}`);
    let sessions = [];
    try {
        sessions = await loginMany(opts, names);
        // Joins one by one for the first (who creates the room), then in
        // parallel; each is done when its subject (the end of a join) came.
        const join = (s) =>
            withTimeout(
                new Promise((resolve) => {
                    s.onMessage = (frame) => {
                        if (frame.includes("<subject")) resolve();
                    };
                    s.ws.send(
                        `<presence xmlns='jabber:client' to='${room}/${s.username}'>` +
                            "<x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x>" +
                            "</presence>",
                    );
                }),
                30_000,
                `join of ${s.username}`,
            );
        const tj = performance.now();
        await join(sessions[0]);
        await pool(n - 1, opts.parallel, (i) => join(sessions[i + 1]));
        const joinS = (performance.now() - tj) / 1000;
        console.log(`${n} occupants joined in ${f2(joinS)} s`);

        const sentAt = new Float64Array(m);
        const seen = new Uint16Array(m);
        const latencies = new Float64Array(m);
        let complete = 0;
        let unexpected = 0;
        let noStanzaId = 0;
        let finish;
        const allDone = new Promise((resolve) => (finish = resolve));
        for (const s of sessions) {
            s.onMessage = (frame, now) => {
                const b = frame.match(/<body>(\d+)<\/body>/);
                const seq = b ? Number(b[1]) : -1;
                if (seq < 0 || seq >= m || !sentAt[seq]) {
                    if (!frame.includes("<subject") && !frame.includes("status code")) unexpected++;
                    return;
                }
                if (!frame.includes("urn:xmpp:sid:0")) noStanzaId++;
                if (++seen[seq] === n) {
                    latencies[seq] = now - sentAt[seq];
                    if (++complete === m) finish();
                }
            };
        }
        const sender = sessions[0];
        const t0 = performance.now();
        const cpu = cpuMark(opts.pid, opts.pgPid);
        const interval = 1000 / rate;
        let next = 0;
        // A steady rate from the start time, not from each send: timer
        // drift does not lower the rate.
        const tick = () => {
            const due = Math.min(m, Math.floor((performance.now() - t0) / interval) + 1);
            while (next < due) {
                const seq = next++;
                sentAt[seq] = performance.now();
                sender.ws.send(
                    `<message xmlns='jabber:client' type='groupchat' to='${room}' id='r${seq}'>` +
                        `<body>${seq}</body></message>`,
                );
            }
            if (next < m) setTimeout(tick, Math.max(0, t0 + next * interval - performance.now()));
        };
        tick();
        let timedOut = false;
        await withTimeout(allDone, opts.phaseTimeoutS * 1000, "room").catch((err) => {
            timedOut = true;
            console.log(`!! ${err.message}: ${complete} of ${m} reached every occupant`);
        });
        const secs = (performance.now() - t0) / 1000;
        const used = cpu();
        const lat = Array.from(latencies.subarray(0, m)).filter((x) => x > 0).sort((a, b) => a - b);
        const res = {
            occupants: n,
            rate_per_s: rate,
            messages: m,
            complete,
            seconds: secs,
            deliveries_per_s: (complete * n) / secs,
            join_all_s: joinS,
            p50_ms: percentile(lat, 50),
            p99_ms: percentile(lat, 99),
            max_ms: lat.length ? lat[lat.length - 1] : NaN,
            without_stanza_id: noStanzaId,
            unexpected,
            timed_out: timedOut,
            cpu: used,
            server_cpu_us_per_delivery: (used.server_ms * 1000) / Math.max(1, complete * n),
        };
        console.log(
            `${complete}/${m} messages reached all ${n} occupants in ${f2(secs)} s ` +
                `(${f1(res.deliveries_per_s)} deliveries/s)`,
        );
        console.log(
            `send to last occupant, ms: p50 ${f1(res.p50_ms)}, p99 ${f1(res.p99_ms)}, max ${f1(res.max_ms)}`,
        );
        printCpu(used, secs, "the run");
        if (noStanzaId || unexpected) {
            console.log(`note: ${noStanzaId} without <stanza-id/>, ${unexpected} unexpected frames`);
        }
        if (timedOut) throw Object.assign(new Error("room phase timed out"), { partial: res });
        return res;
    } finally {
        await closeMany(sessions);
    }
}

/** The two reads the archive must answer fast at any size, through MAM:
 * the last page of 50 of bench_a's conversation with bench_b, and of
 * bench-room's archive (fill-archive.sql makes both). One query at a
 * time, so the time is the server's answer plus a loopback round trip. */
async function phaseMam(opts, run) {
    const q = opts.queries;
    const room = `bench-room@conference.${opts.domain}`;
    console.log(`\n== mam: ${q} × last 50 of a conversation, ${q} × last 50 of a room`);
    const s = new Session(opts, "bench_a");
    try {
        await s.login();
        let pending = null;
        s.onMessage = (frame) => {
            if (pending && frame.includes("urn:xmpp:mam:2") && frame.includes("<result")) pending.results++;
        };
        const orig = s.ws.listeners("message")[0];
        s.ws.removeAllListeners("message");
        s.ws.on("message", (data) => {
            const frame = data.toString();
            if (pending && frame.startsWith("<iq") && frame.includes(`'${pending.id}'`)) {
                const p = pending;
                pending = null;
                p.resolve({ frame, results: p.results, at: performance.now() });
                return;
            }
            orig(data);
        });
        const ask = (id, to, withJid) =>
            new Promise((resolve) => {
                pending = { id, results: 0, resolve };
                const form = withJid
                    ? "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>" +
                      "<value>urn:xmpp:mam:2</value></field>" +
                      `<field var='with'><value>${withJid}</value></field></x>`
                    : "";
                s.ws.send(
                    `<iq xmlns='jabber:client' type='set' id='${id}'${to ? ` to='${to}'` : ""}>` +
                        `<query xmlns='urn:xmpp:mam:2' queryid='${id}'>${form}` +
                        "<set xmlns='http://jabber.org/protocol/rsm'><max>50</max><before/></set>" +
                        "</query></iq>",
                );
            });
        const res = {};
        for (const [kind, to, withJid] of [
            ["conversation", null, `bench_b@${opts.domain}`],
            ["room", room, null],
        ]) {
            const times = [];
            let short = 0;
            for (let i = 0; i < q; i++) {
                const t = performance.now();
                const got = await withTimeout(ask(`m${run}${kind[0]}${i}`, to, withJid), 30_000, `mam ${kind}`);
                times.push(got.at - t);
                if (got.results !== 50 || !got.frame.includes("type='result'")) short++;
            }
            times.sort((a, b) => a - b);
            res[kind] = { queries: q, p50_ms: percentile(times, 50), p99_ms: percentile(times, 99), short_pages: short };
            console.log(
                `last 50 of a ${kind}: p50 ${f2(res[kind].p50_ms)} ms, p99 ${f2(res[kind].p99_ms)} ms` +
                    (short ? ` (${short} pages without 50 results: is the archive filled?)` : ""),
            );
        }
        return res;
    } finally {
        await s.close();
    }
}

// ---------------------------------------------------------------------------

async function main() {
    const opts = parseOptions();
    const run = crypto.randomBytes(4).toString("hex");
    const overall = setTimeout(() => {
        process.stderr.write(`load.mjs: overall limit of ${opts.timeoutS} s reached\n`);
        process.exit(2);
    }, opts.timeoutS * 1000);
    overall.unref();
    console.log(`target ${opts.url}${opts.pid ? ` (parleyd pid ${opts.pid})` : ""}, run ${run}`);
    const results = { run, date: new Date().toISOString() };
    let failed = false;
    const phases = {
        idle: phaseIdle,
        throughput: phaseThroughputSm,
        offline: phaseOffline,
        fanout: phaseFanout,
        room: phaseRoom,
        mam: phaseMam,
    };
    for (const name of opts.phases) {
        if (opts.pid !== null && !fs.existsSync(`/proc/${opts.pid}`)) {
            console.log(`!! parleyd (pid ${opts.pid}) is gone`);
            failed = true;
            break;
        }
        try {
            results[name] = await withTimeout(phases[name](opts, run), opts.phaseTimeoutS * 1000 + 60_000, name);
        } catch (err) {
            console.log(`!! ${name}: ${err.message}`);
            if (err.partial) results[name] = err.partial;
            failed = true;
        }
    }
    if (opts.pid !== null && fs.existsSync(`/proc/${opts.pid}`)) {
        const st = procStatus(opts.pid);
        console.log(`\nparleyd at the end: VmRSS ${st.rssKb} KB, peak VmHWM ${st.hwmKb} KB`);
    }
    if (opts.json) console.log(`RESULT ${JSON.stringify(results)}`);
    clearTimeout(overall);
    process.exit(failed ? 1 : 0);
}

main().catch((err) => {
    fail(err.stack || String(err));
});
