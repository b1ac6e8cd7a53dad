// Raw XEP-0198 clients for the stream management tests: every frame is
// seen and every counter chosen by the test, so a bad counter, a pipelined
// resume or a drop at a chosen point can be written down exactly.
import { NS, rawConnect } from "./harness.mjs";

export const SM = "urn:xmpp:sm:3";
export const CSI = "urn:xmpp:csi:0";

/** Open, SASL PLAIN and the restart; resolves the features after it. */
export async function authenticate(conn, username, token) {
    await conn.openStream();
    const plain = Buffer.from(`\0${username}\0${token}`).toString("base64");
    conn.send(`<auth xmlns='${NS.sasl}' mechanism='PLAIN'>${plain}</auth>`);
    const ok = await conn.nextElement("SASL answer");
    if (ok.getName() !== "success") throw new Error(`SASL failed: ${ok.toString()}`);
    return conn.openStream();
}

/** Binds `resource` (or a generated one); resolves the full JID. */
export async function bind(conn, resource) {
    const res = resource ? `<resource>${resource}</resource>` : "";
    conn.send(
        `<iq xmlns='jabber:client' type='set' id='bind1'><bind xmlns='${NS.bind}'>${res}</bind></iq>`,
    );
    const r = await conn.nextElement("bind result");
    const j = r.getChild("bind", NS.bind)?.getChildText("jid");
    if (r.attrs.type !== "result" || !j) throw new Error(`bind failed: ${r.toString()}`);
    conn.jid = j;
    return j;
}

/**
 * A raw connection, logged in and bound, with stream management enabled
 * (resume unless opts.resume === false) and, unless opts.presence ===
 * false, available (its own presence echo read). Tracks `received`: the
 * stanzas the server sent since <enabled/>, in `stanzas`.
 */
export async function smClient(srv, username, opts = {}) {
    const conn = await rawConnect(srv, username);
    const features = await authenticate(conn, username, srv.token(username));
    conn.features = features;
    await bind(conn, opts.resource);
    const sm = new SmConn(conn, username);
    await sm.enable(opts.resume !== false);
    if (opts.presence !== false) {
        conn.send(`<presence xmlns='jabber:client'/>`);
        await sm.nextStanza((el) => el.is("presence"), "own presence");
    }
    return sm;
}

/** Stanzas, SM elements and counters over one RawConn. */
export class SmConn {
    constructor(conn, username) {
        this.conn = conn;
        this.username = username;
        this.received = 0; // stanzas from the server since <enabled/>
        this.stanzas = []; // not yet taken by nextStanza
        this.sm = []; // <r/>, <a/>, ... not yet taken by nextSm
        this.id = null;
    }

    send(text) {
        this.conn.send(text);
    }

    async enable(resume = true) {
        this.send(`<enable xmlns='${SM}'${resume ? " resume='true'" : ""}/>`);
        const el = await this.conn.nextElement("<enabled/>");
        if (!el.is("enabled", SM)) throw new Error(`expected <enabled/>, got ${el.toString()}`);
        this.id = el.attrs.id ?? null;
        this.max = el.attrs.max;
        this.received = 0;
        return el;
    }

    /** Reads one frame into the queues; false if the socket closed. */
    async pump(what, ms) {
        const item = await this.conn.next(what, ms);
        if (item.kind !== "element") {
            this.other = item;
            return item;
        }
        const el = item.el;
        if (["message", "presence", "iq"].includes(el.getName())) {
            this.received++;
            this.stanzas.push(el);
        } else {
            this.sm.push(el);
        }
        return item;
    }

    /** The first stanza for which pred holds (the ones before it stay). */
    async nextStanza(pred = () => true, what = "stanza", ms = 5_000) {
        const deadline = Date.now() + ms;
        for (;;) {
            const i = this.stanzas.findIndex(pred);
            if (i >= 0) return this.stanzas.splice(i, 1)[0];
            const left = deadline - Date.now();
            if (left <= 0) throw new Error(`${this.username}: no ${what} within ${ms} ms`);
            const item = await this.pump(what, left);
            if (item.kind !== "element") {
                throw new Error(`${this.username}: expected ${what}, got ${item.raw}`);
            }
        }
    }

    /** The next SM (or other non-stanza) element for which pred holds. */
    async nextSm(pred = () => true, what = "SM element", ms = 5_000) {
        const deadline = Date.now() + ms;
        for (;;) {
            const i = this.sm.findIndex(pred);
            if (i >= 0) return this.sm.splice(i, 1)[0];
            const left = deadline - Date.now();
            if (left <= 0) throw new Error(`${this.username}: no ${what} within ${ms} ms`);
            const item = await this.pump(what, left);
            if (item.kind !== "element") {
                throw new Error(`${this.username}: expected ${what}, got ${item.raw}`);
            }
        }
    }

    /** Sends <r/>; resolves the server's h from its <a/>. */
    async request(ms) {
        this.send(`<r xmlns='${SM}'/>`);
        const a = await this.nextSm((el) => el.is("a", SM), "<a/>", ms);
        return Number(a.attrs.h);
    }

    /** Acknowledges everything received so far (or h). */
    ack(h = this.received) {
        this.send(`<a xmlns='${SM}' h='${h}'/>`);
    }

    /** Destroys the TCP connection: no WebSocket close frame, no <close/>. */
    drop() {
        this.conn.ws._socket?.destroy();
        this.conn.terminate();
    }
}

/** A new connection that resumes `old` (authenticate, then <resume/>).
 * Resolves {sm, el}: el is <resumed/> or <failed/>. */
export async function resume(srv, username, previd, h, opts = {}) {
    const conn = await rawConnect(srv, username);
    await authenticate(conn, username, srv.token(username));
    const sm = new SmConn(conn, username);
    sm.send(`<resume xmlns='${SM}' previd='${previd}' h='${h}'/>`);
    for (const frame of opts.pipelined ?? []) sm.send(frame);
    const el = await conn.nextElement("<resumed/> or <failed/>");
    sm.id = previd;
    sm.received = Number(h); // the client's count goes on
    return { sm, el };
}

/** A chat message with a body and an id. */
export function chatXml(to, body, id) {
    return `<message xmlns='jabber:client' type='chat' to='${to}' id='${id}'><body>${body}</body></message>`;
}
