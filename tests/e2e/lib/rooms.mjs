// Helpers for the room and archive tests (30-39): joining and leaving
// rooms, group messages, and archive queries, over @xmpp/client clients of
// harness.mjs.
import crypto from "node:crypto";

import { xml, NS } from "./harness.mjs";

export const MUC = "conference.localhost";

export const RNS = {
    muc: "http://jabber.org/protocol/muc",
    user: "http://jabber.org/protocol/muc#user",
    owner: "http://jabber.org/protocol/muc#owner",
    admin: "http://jabber.org/protocol/muc#admin",
    config: "http://jabber.org/protocol/muc#roomconfig",
    occupantId: "urn:xmpp:occupant-id:0",
    mam: "urn:xmpp:mam:2",
    rsm: "http://jabber.org/protocol/rsm",
    data: "jabber:x:data",
    forward: "urn:xmpp:forward:0",
    markers: "urn:xmpp:chat-markers:0",
    discoItems: "http://jabber.org/protocol/disco#items",
    fulltext: "{urn:xmpp:fulltext:0}fulltext",
};

/** A fresh room JID of the seed's form group-{uuid}. */
export function newRoom() {
    return `group-${crypto.randomUUID()}@${MUC}`;
}

/** The status codes of a room presence or message. */
export function codes(el) {
    const x = el.getChild("x", RNS.user);
    return x ? x.getChildren("status").map((s) => Number(s.attrs.code)) : [];
}

export function item(el) {
    return el.getChild("x", RNS.user)?.getChild("item");
}

export function occupantId(el) {
    return el.getChild("occupant-id", RNS.occupantId)?.attrs.id;
}

export function stanzaId(el) {
    return el.getChild("stanza-id", NS.sid);
}

function bareOf(j) {
    return String(j).split("/")[0];
}

/** A presence from room/…: self (110) or others. */
function roomPresence(room) {
    return (el) => el.is("presence") && bareOf(el.attrs.from) === room;
}

/**
 * Joins `room` as `nick` (default: the username). history: attributes of
 * <history/> (e.g. {maxstanzas: 0}), or undefined for none. Resolves
 * {self, others, error} once the self-presence (status 110) or an error
 * presence arrived; does not wait for history or the subject.
 */
export async function join(c, room, { nick = c.username, history, ms = 5_000 } = {}) {
    const x = xml("x", { xmlns: RNS.muc }, history ? xml("history", history) : null);
    await c.send(xml("presence", { to: `${room}/${nick}` }, x));
    const first = await c.next(
        (el) =>
            roomPresence(room)(el) &&
            (el.attrs.type === "error" || codes(el).includes(110)),
        `self-presence from ${room}`,
        ms,
    );
    if (first.attrs.type === "error") return { error: first };
    const others = [];
    for (;;) {
        const i = c.inbox.findIndex((el) => roomPresence(room)(el) && !codes(el).includes(110));
        if (i < 0) break;
        others.push(c.inbox.splice(i, 1)[0]);
    }
    return { self: first, others };
}

/** Joins and waits for the subject, the end of the join: resolves
 * {self, others, history (messages with a body, in order), subject}. */
export async function joinFully(c, room, opts = {}) {
    const j = await join(c, room, opts);
    if (j.error) throw new Error(`join refused: ${j.error.toString()}`);
    const subject = await c.next(
        (el) => el.is("message") && bareOf(el.attrs.from) === room && el.getChild("subject"),
        `subject of ${room}`,
        opts.ms ?? 5_000,
    );
    // everything before the subject from this room is history
    const history = [];
    for (;;) {
        const i = c.inbox.findIndex(
            (el) => el.is("message") && bareOf(el.attrs.from) === room && el.getChild("body"),
        );
        if (i < 0) break;
        history.push(c.inbox.splice(i, 1)[0]);
    }
    return { ...j, history, subject };
}

/** Collects `n` messages with a body from `room`, in arrival order. */
export async function collect(c, room, n, ms = 10_000) {
    const out = [];
    for (let k = 0; k < n; k++) {
        out.push(
            await c.next(
                (el) => el.is("message") && bareOf(el.attrs.from) === room && el.getChild("body"),
                `room message ${k + 1}/${n} from ${room}`,
                ms,
            ),
        );
    }
    return out;
}

export function groupchat(room, body, attrs = {}) {
    return xml("message", { type: "groupchat", to: room, ...attrs }, xml("body", {}, body));
}

/** Sends a group message and waits for its reflection. */
export async function say(c, room, body, id = crypto.randomBytes(4).toString("hex")) {
    await c.send(groupchat(room, body, { id }));
    return c.next(
        (el) =>
            el.is("message") &&
            bareOf(el.attrs.from) === room &&
            el.attrs.id === id &&
            el.getChildText("body") === body,
        `reflection of "${body}"`,
    );
}

export async function leave(c, room) {
    await c.send(xml("presence", { to: `${room}/${c.username}`, type: "unavailable" }));
    return c.next(
        (el) =>
            roomPresence(room)(el) && el.attrs.type === "unavailable" && codes(el).includes(110),
        `unavailable self-presence from ${room}`,
    );
}

/** An iq that may fail: resolves the result or the error element. */
export async function iq(c, el, ms = 5_000) {
    try {
        return await c.iq(el, ms);
    } catch (err) {
        if (err.condition) return err;
        throw err;
    }
}

/** The condition of a stanza error or of an iq error from @xmpp/client. */
export function condition(x) {
    if (x?.condition) return x.condition;
    const e = x?.getChild?.("error");
    return e?.children.find((c) => typeof c !== "string" && c.getNS() === NS.stanzas)?.getName();
}

/** An x data submit form with the fields given (arrays: several values). */
export function submitForm(formType, fields) {
    return xml(
        "x",
        { xmlns: RNS.data, type: "submit" },
        formType
            ? xml("field", { var: "FORM_TYPE", type: "hidden" }, xml("value", {}, formType))
            : null,
        ...Object.entries(fields).map(([k, v]) =>
            xml("field", { var: k }, ...(Array.isArray(v) ? v : [v]).map((x) => xml("value", {}, String(x)))),
        ),
    );
}

/**
 * One archive query (XEP-0313): to (default: the user's own archive),
 * fields (form fields), rsm ({max, after, before}; before '' is the last
 * page). Resolves {results: [{id, stamp, message}], fin, error}.
 */
export async function mam(c, { to, fields = {}, rsm, flip = false, ms = 10_000 } = {}) {
    const queryid = crypto.randomBytes(4).toString("hex");
    const set = rsm
        ? xml(
              "set",
              { xmlns: RNS.rsm },
              rsm.max !== undefined ? xml("max", {}, String(rsm.max)) : null,
              rsm.after !== undefined ? xml("after", {}, String(rsm.after)) : null,
              rsm.before !== undefined ? xml("before", {}, String(rsm.before)) : null,
          )
        : null;
    const q = xml(
        "query",
        { xmlns: RNS.mam, queryid },
        Object.keys(fields).length ? submitForm(RNS.mam, fields) : null,
        set,
        flip ? xml("flip-page") : null,
    );
    const answer = await iq(c, xml("iq", { type: "set", ...(to ? { to } : {}) }, q), ms);
    const mine = (el) => el.is("message") && el.getChild("result", RNS.mam)?.attrs.queryid === queryid;
    const results = c.inbox.filter(mine);
    c.inbox = c.inbox.filter((el) => !mine(el));
    if (answer.condition) return { error: answer.condition, results };
    const fin = answer.getChild("fin", RNS.mam);
    return {
        fin,
        complete: fin?.attrs.complete === "true",
        first: fin?.getChild("set", RNS.rsm)?.getChildText("first"),
        last: fin?.getChild("set", RNS.rsm)?.getChildText("last"),
        results: results.map((el) => {
            const r = el.getChild("result", RNS.mam);
            const f = r.getChild("forwarded", RNS.forward);
            return {
                id: r.attrs.id,
                from: el.attrs.from,
                stamp: f.getChild("delay", NS.delay)?.attrs.stamp,
                message: f.getChild("message"),
            };
        }),
    };
}
