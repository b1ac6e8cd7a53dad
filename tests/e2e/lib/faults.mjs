// Helpers of the fault tests (tests/e2e/6x-7x-faults-*).
import { after } from "node:test";
import crypto from "node:crypto";

import { NS, Server, sql, sleep } from "./harness.mjs";

const dbName = new URL(process.env.DATABASE_URL).pathname.slice(1);

/** DATABASE_URL with another database of the same cluster. */
export function databaseUrl(name) {
    const url = new URL(process.env.DATABASE_URL);
    url.pathname = `/${name}`;
    return url.toString();
}

/** sql() on another database of the cluster (:'db' and :"db" name the
 * test database). sql() reads DATABASE_URL as it starts psql, so the
 * switch lasts no longer than that call. */
export function sqlIn(name, query, vars) {
    const saved = process.env.DATABASE_URL;
    process.env.DATABASE_URL = databaseUrl(name);
    try {
        return sql(query, { db: dbName, ...vars });
    } finally {
        process.env.DATABASE_URL = saved;
    }
}

/** psql on the cluster's `postgres` database, to switch the test database
 * on and off while nobody can connect to it. */
export function admin(query, vars) {
    return sqlIn("postgres", query, vars);
}

/** A recipient for a process of its own (node --input-type=module -e
 * RAW_RECIPIENT URL USER TOKEN): logs in over a raw WebSocket, sends
 * presence, prints READY when bound, AVAILABLE when its own presence comes
 * back (the server has it), "MSG body" for every message and CLOSED when
 * the connection ends. */
export const RAW_RECIPIENT = `
import WebSocket from "ws";
const [url, user, token] = process.argv.slice(1);
const ws = new WebSocket(url, ["xmpp"], { headers: { Cookie: "auth_token=" + token } });
const open = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>";
let step = 0;
ws.on("open", () => ws.send(open));
ws.on("message", (d) => {
    const s = String(d);
    if (step === 0 && s.includes("<mechanisms")) {
        step = 1;
        const plain = Buffer.from("\\0" + user + "\\0" + token).toString("base64");
        ws.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + plain + "</auth>");
    } else if (step === 1 && s.includes("<success")) {
        step = 2;
        ws.send(open);
    } else if (step === 2 && s.includes("<bind")) {
        step = 3;
        ws.send("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
    } else if (step === 3 && s.includes("id='b1'") || step === 3 && s.includes('id="b1"')) {
        step = 4;
        ws.send("<presence xmlns='jabber:client'/>");
        console.log("READY");
    } else if (step === 4 && s.startsWith("<presence")) {
        console.log("AVAILABLE"); // its own presence back: the server has it
    } else if (step === 4 && s.startsWith("<message")) {
        const m = s.match(/<body>([^<]*)<\\/body>/);
        if (m) console.log("MSG " + m[1]);
    }
});
ws.on("close", () => console.log("CLOSED"));
`;

/** GET /readyz of a test server, retried while its API is not up yet. */
export async function readyz(srv) {
    for (let tries = 0; ; tries++) {
        try {
            const res = await fetch(`http://127.0.0.1:${srv.apiPort}/readyz`);
            return { status: res.status, text: await res.text() };
        } catch (err) {
            if (tries >= 100) throw err;
            await sleep(50);
        }
    }
}

/** Polls `check` every 100 ms until it gives something truthy. */
export async function until(what, check, ms = 15_000) {
    const deadline = Date.now() + ms;
    for (;;) {
        const v = await check();
        if (v) return v;
        if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
        await sleep(100);
    }
}

/** Two servers with one node name and one secret, the second to start
 * where the first was stopped (a restart); both stopped after the file's
 * tests. `env` is added to PARLEY_NODE. */
export function restartPair(prefix, env = {}) {
    const node = `${prefix}-${crypto.randomBytes(4).toString("hex")}`;
    const all = { PARLEY_NODE: node, ...env };
    const first = new Server({ name: "first", env: all });
    const second = new Server({ name: "second", env: all });
    second.secret = first.secret;
    after(async () => {
        await first.stop().catch(() => {});
        await second.stop().catch(() => {});
    }, { timeout: 30_000 });
    return { first, second };
}

/** Records the room's messages with a body that c gets from now on: body
 * and archive id. */
export function recordRoom(c, room, got) {
    c.xmpp.on("stanza", (el) => {
        if (el.is("message") && String(el.attrs.from).startsWith(`${room}/`) && el.getChild("body")) {
            got.push({ body: el.getChildText("body"), id: Number(el.getChild("stanza-id", NS.sid)?.attrs.id) });
        }
    });
}
