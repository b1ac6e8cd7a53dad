// Helpers for the roster, presence, blocking and carbons tests (20-29):
// roster iqs, pushes, subscription stanzas, presence waits, and the rows
// the server keeps, read with psql.
import { xml, bareJid, sql } from "./harness.mjs";

export const ROSTER = "jabber:iq:roster";
export const BLOCKING = "urn:xmpp:blocking";
export const BLOCKING_ERRORS = "urn:xmpp:blocking:errors";
export const CARBONS = "urn:xmpp:carbons:2";
export const FORWARD = "urn:xmpp:forward:0";
export const MARKERS = "urn:xmpp:chat-markers:0";
export const HINTS = "urn:xmpp:hints";

function items(query) {
    return query.getChildren("item").map((it) => ({
        jid: it.attrs.jid,
        name: it.attrs.name,
        subscription: it.attrs.subscription,
        ask: it.attrs.ask,
        approved: it.attrs.approved,
        groups: it.getChildren("group").map((g) => g.text()),
    }));
}

/** A roster get (with a XEP-0237 `ver` when given); resolves {ver, items},
 * or {empty: true} when the server says the client's version is current. */
export async function rosterGet(c, ver) {
    const attrs = { xmlns: ROSTER };
    if (ver !== undefined) attrs.ver = ver;
    const res = await c.iq(xml("iq", { type: "get" }, xml("query", attrs)));
    const q = res.getChild("query", ROSTER);
    if (!q) return { empty: true };
    return { ver: q.attrs.ver, items: items(q) };
}

export function rosterItem(roster, jid) {
    return roster.items.find((i) => i.jid === jid);
}

/** A roster set of one item; resolves the result (rejects with the error). */
export function rosterSet(c, jid, { name, groups = [] } = {}) {
    const attrs = { jid };
    if (name !== undefined) attrs.name = name;
    return c.iq(
        xml(
            "iq",
            { type: "set" },
            xml("query", { xmlns: ROSTER }, xml("item", attrs, ...groups.map((g) => xml("group", {}, g)))),
        ),
    );
}

export function rosterRemove(c, jid) {
    return c.iq(
        xml("iq", { type: "set" }, xml("query", { xmlns: ROSTER }, xml("item", { jid, subscription: "remove" }))),
    );
}

/** The next roster push about `jid`; resolves {ver, item}. */
export async function nextPush(c, jid, ms = 5_000) {
    const el = await c.next(
        (e) =>
            e.is("iq") &&
            e.attrs.type === "set" &&
            e.getChild("query", ROSTER)?.getChild("item")?.attrs.jid === jid,
        `roster push for ${jid}`,
        ms,
    );
    const q = el.getChild("query", ROSTER);
    return { ver: q.attrs.ver, item: items(q)[0], from: el.attrs.from };
}

/** A subscription stanza from c to a bare JID. */
export function sub(c, to, type, children = []) {
    return c.send(xml("presence", { to, type }, ...children));
}

/** The next presence from `from` (a full or bare JID, or a prefix with a
 * trailing '/') of `type` (undefined: available). */
export function nextPresence(c, from, type, ms = 5_000) {
    return c.next(
        (e) =>
            e.is("presence") &&
            (from.endsWith("/") ? (e.attrs.from ?? "").startsWith(from) : e.attrs.from === from) &&
            e.attrs.type === type,
        `presence ${type ?? "available"} from ${from}`,
        ms,
    );
}

/** The roster row `owner` (username) keeps for `contact` (bare JID), or
 * null. */
export async function rosterRow(owner, contact) {
    const rows = await sql(
        "SELECT subscription, ask, pending_in, approved, listed FROM roster_items " +
            "WHERE owner = :'o' AND contact = :'c'",
        { o: owner, c: contact },
    );
    if (!rows.length) return null;
    const [subscription, ask, pendingIn, approved, listed] = rows[0];
    return {
        subscription,
        ask: ask === "t",
        pendingIn: pendingIn === "t",
        approved: approved === "t",
        listed: listed === "t",
    };
}

/** Completes a mutual `both` subscription between two online clients. */
export async function befriend(a, b) {
    await sub(a, b.bare, "subscribe");
    await b.next((e) => e.is("presence") && e.attrs.type === "subscribe", "subscribe request");
    await sub(b, a.bare, "subscribed");
    await a.next((e) => e.is("presence") && e.attrs.type === "subscribed", "subscribed");
    await sub(b, a.bare, "subscribe");
    await a.next((e) => e.is("presence") && e.attrs.type === "subscribe", "subscribe request");
    await sub(a, b.bare, "subscribed");
    await b.next((e) => e.is("presence") && e.attrs.type === "subscribed", "subscribed");
    await Promise.all([a.sync(), b.sync()]);
}

export { bareJid };
