// Builders and readers for message edits: XEP-0308 corrections, XEP-0424
// retractions, XEP-0425 moderation, XEP-0444 reactions, XEP-0461 replies.
import { xml, sql, waitForSql } from "./harness.mjs";

export const ENS = {
    correct: "urn:xmpp:message-correct:0",
    retract: "urn:xmpp:message-retract:1",
    tombstone: "urn:xmpp:message-retract:1#tombstone",
    moderate: "urn:xmpp:message-moderate:1",
    reactions: "urn:xmpp:reactions:0",
    reply: "urn:xmpp:reply:0",
    fallback: "urn:xmpp:fallback:0",
};

export function chat(to, body, id, ...extra) {
    return xml("message", { type: "chat", to, id }, body === null ? null : xml("body", {}, body), ...extra);
}

export function correction(to, body, id, of, type = "chat") {
    return xml(
        "message",
        { type, to, id },
        xml("body", {}, body),
        xml("replace", { xmlns: ENS.correct, id: of }),
    );
}

export function retraction(to, id, of, type = "chat") {
    return xml(
        "message",
        { type, to, id },
        xml("retract", { xmlns: ENS.retract, id: of }),
        xml("fallback", { xmlns: ENS.fallback, for: ENS.retract }),
        xml("body", {}, "This person attempted to retract a previous message."),
    );
}

export function reaction(to, id, of, emojis, type = "chat") {
    return xml(
        "message",
        { type, to, id },
        xml("reactions", { xmlns: ENS.reactions, id: of }, ...emojis.map((e) => xml("reaction", {}, e))),
        xml("store", { xmlns: "urn:xmpp:hints" }),
    );
}

export function reply(to, body, id, of, ofJid, type = "chat") {
    return xml(
        "message",
        { type, to, id },
        xml("body", {}, body),
        xml("reply", { xmlns: ENS.reply, id: of, to: ofJid }),
    );
}

export function moderate(room, id, of, reason) {
    return xml(
        "iq",
        { type: "set", to: room, id },
        xml(
            "moderate",
            { xmlns: ENS.moderate, id: of },
            xml("retract", { xmlns: ENS.retract }),
            reason ? xml("reason", {}, reason) : null,
        ),
    );
}

/** The stanza error's condition of a message error. */
export function errorCondition(el) {
    const e = el.getChild("error");
    return e?.children.find((c) => typeof c !== "string" && c.getNS() === "urn:ietf:params:xml:ns:xmpp-stanzas")?.getName();
}

/** Waits for the error answer to the message with this id. */
export function nextError(c, id, ms = 5_000) {
    return c.next((el) => el.is("message") && el.attrs.type === "error" && el.attrs.id === id, `error for ${id}`, ms);
}

/** The archive id of the message with this client id from this sender. */
export async function archiveId(sender, stanzaId) {
    const r = await waitForSql(
        "SELECT id FROM messages WHERE sender = :'s' AND stanza_id = :'i'",
        { s: sender, i: stanzaId },
        (rows) => rows.length === 1,
        `message ${stanzaId} stored`,
    );
    return r[0][0];
}

/** Counts messages from a sender with this client id. */
export async function countStored(sender, stanzaId) {
    const r = await sql("SELECT count(*) FROM messages WHERE sender = :'s' AND stanza_id = :'i'", {
        s: sender,
        i: stanzaId,
    });
    return Number(r[0][0]);
}

/** Waits for a message carrying `name` in `ns` whose edit names `of`. */
export function nextEdit(c, name, ns, of, ms = 5_000) {
    return c.next(
        (el) => el.is("message") && el.getChild(name, ns)?.attrs.id === of,
        `${name} of ${of}`,
        ms,
    );
}
