// Bad input to rooms and the archive: each gets its stanza error, the
// session stays up and nothing else changes.
import { test } from "node:test";
import assert from "node:assert/strict";

import { T, xml, useServer, stopsCleanly, online, uniqueUser, sql, stopAll } from "./lib/harness.mjs";
import {
    MUC,
    RNS,
    newRoom,
    joinFully,
    groupchat,
    say,
    mam,
    iq,
    condition,
    submitForm,
} from "./lib/rooms.mjs";

const srv = useServer();

async function stillUp(c) {
    await c.sync();
    assert.equal(c.closed, false, "the session stays up");
}

test("joins to invalid room JIDs: jid-malformed", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    try {
        const cases = [`${MUC}/${a.username}`, newRoom(), `bad@@${MUC}/${a.username}`];
        for (const to of cases) {
            await a.send(xml("presence", { to }, xml("x", { xmlns: RNS.muc })));
            const err = await a.next((el) => el.is("presence") && el.attrs.type === "error", `error for ${to}`);
            assert.equal(condition(err), "jid-malformed", to);
        }
        await stillUp(a);
        const rows = await sql("SELECT count(*) FROM rooms WHERE jid = :'jid'", { jid: cases[1] });
        assert.deepEqual(rows, [["0"]], "no room made from a join without a nick");
    } finally {
        await stopAll(a);
    }
});

test("a message to a room one has not joined, and to a room that does not exist", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    const room = newRoom();
    try {
        await joinFully(a, room);
        await b.send(groupchat(room, "not joined", { id: "n1" }));
        assert.equal(condition(await b.next((el) => el.attrs.type === "error", "refusal")), "not-acceptable");
        await b.send(groupchat(newRoom(), "nobody home", { id: "n2" }));
        assert.equal(condition(await b.next((el) => el.attrs.type === "error", "refusal")), "item-not-found");
        await stillUp(b);
        const rows = await sql("SELECT count(*) FROM messages WHERE sender = :'s'", { s: b.bare });
        assert.deepEqual(rows, [["0"]]);
    } finally {
        await stopAll(a, b);
    }
});

test("an owner form with an unknown or wrong-typed field: bad-request, nothing changes", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const room = newRoom();
    try {
        await joinFully(a, room);
        const submit = (fields, formType = RNS.config) =>
            iq(
                a,
                xml("iq", { type: "set", to: room }, xml("query", { xmlns: RNS.owner }, submitForm(formType, fields))),
            );
        const bad = [
            [{ "muc#roomconfig_roomname": "ok", "muc#roomconfig_nosuchthing": "1" }],
            [{ "muc#roomconfig_membersonly": "maybe" }],
            [{ "muc#roomconfig_membersonly": ["1", "0"] }],
            [{ "muc#roomconfig_roomname": "x" }, "urn:example:other-form"],
        ];
        for (const [fields, formType] of bad) {
            const res = await submit(fields, formType);
            assert.equal(condition(res), "bad-request", JSON.stringify(fields));
        }
        // a field given with the wrong type attribute
        const typed = await iq(
            a,
            xml(
                "iq",
                { type: "set", to: room },
                xml(
                    "query",
                    { xmlns: RNS.owner },
                    xml(
                        "x",
                        { xmlns: RNS.data, type: "submit" },
                        xml("field", { var: "muc#roomconfig_publicroom", type: "text-single" }, xml("value", {}, "1")),
                    ),
                ),
            ),
        );
        assert.equal(condition(typed), "bad-request");
        // a room is always persistent
        assert.equal(condition(await submit({ "muc#roomconfig_persistentroom": "0" })), "not-acceptable");
        const rows = await sql(
            "SELECT coalesce(name, '-'), members_only FROM rooms WHERE jid = :'jid'",
            { jid: room },
        );
        assert.deepEqual(rows, [["-", "f"]], "nothing changed");
        await stillUp(a);
    } finally {
        await stopAll(a);
    }
});

test("a kick by someone who is not a moderator: forbidden", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    const room = newRoom();
    try {
        await joinFully(a, room);
        await joinFully(b, room);
        const res = await iq(
            b,
            xml("iq", { type: "set", to: room }, xml("query", { xmlns: RNS.admin }, xml("item", { nick: a.username, role: "none" }))),
        );
        assert.equal(condition(res), "forbidden");
        await say(a, room, "still here");
        await stillUp(b);
    } finally {
        await stopAll(a, b);
    }
});

test("archive queries with a malformed form or an unknown RSM id", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    try {
        const raw = (...children) =>
            iq(a, xml("iq", { type: "set" }, xml("query", { xmlns: RNS.mam }, ...children)));
        // a form of the wrong type, an unknown field, a date that is not one, another FORM_TYPE
        assert.equal(condition(await raw(xml("x", { xmlns: RNS.data, type: "form" }))), "bad-request");
        assert.equal((await mam(a, { fields: { colour: "blue" } })).error, "bad-request");
        assert.equal((await mam(a, { fields: { start: "yesterday" } })).error, "bad-request");
        assert.equal((await mam(a, { fields: { with: "not a jid@@" } })).error, "bad-request");
        assert.equal(
            condition(await raw(submitForm("urn:example:other", { with: "bob@localhost" }))),
            "bad-request",
        );
        // RSM: an id that is no message of this archive, or not an id at all
        assert.equal((await mam(a, { rsm: { after: "999999999999" } })).error, "item-not-found");
        assert.equal((await mam(a, { rsm: { before: "abc" } })).error, "item-not-found");
        assert.equal((await mam(a, { fields: { "after-id": "nope" } })).error, "item-not-found");
        assert.equal((await mam(a, { rsm: { max: "-1" } })).error, "bad-request");
        // and an unknown payload in the query
        assert.equal(condition(await raw(xml("colour", {}, "blue"))), "bad-request");
        await stillUp(a);
    } finally {
        await stopAll(a);
    }
});

stopsCleanly(srv);
