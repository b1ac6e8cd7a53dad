// What the presence issue left: a full-JID block (XEP-0191 item with a
// resource) stops storage for an offline recipient as a bare-JID block
// does; XEP-0319 idle kept in the last presence: live in the presence
// contacts see, and in the probe answers for a contact who is offline,
// with the time they went idle or, when they left active, the time of the
// last unavailable.
import { test } from "node:test";
import assert from "node:assert/strict";

import { T, SLOW, xml, useServer, stopsCleanly, online, uniqueUser, stopAll, sql, NS } from "./lib/harness.mjs";
import { BLOCKING, befriend, nextPresence } from "./lib/roster.mjs";

const srv = useServer();

const IDLE = "urn:xmpp:idle:1";

function chat(to, body, id) {
    return xml("message", { type: "chat", to, id }, xml("body", {}, body));
}

function errorOf(c, id) {
    return c.next((e) => e.is("message") && e.attrs.type === "error" && e.attrs.id === id, `error for ${id}`);
}

test("a blocked resource's messages are not stored for an offline recipient; other resources' are", SLOW, async () => {
    const bobName = uniqueUser("bob");
    const aliceName = uniqueUser("alice");
    let bob = await online(srv, bobName);
    const phone = await online(srv, aliceName, { resource: "phone" });
    const laptop = await online(srv, aliceName, { resource: "laptop" });
    try {
        const res = await bob.iq(
            xml("iq", { type: "set" }, xml("block", { xmlns: BLOCKING }, xml("item", { jid: `${phone.bare}/phone` }))),
        );
        assert.equal(res.attrs.type, "result");
        // online: the loop matches the resource (as before)
        await phone.send(chat(bob.bare, "online from the phone", "p0"));
        await errorOf(phone, "p0");
        await bob.stop();

        // offline: the store refuses it too, and the phone hears so
        await phone.send(chat(bob.bare, "from the phone", "p1"));
        const err = await errorOf(phone, "p1");
        assert.ok(err.getChild("error").getChild("service-unavailable", NS.stanzas), err.toString());
        await laptop.send(chat(bob.bare, "from the laptop", "l1"));
        await laptop.sync();
        const rows = await sql("SELECT body FROM messages WHERE sender = :'s' AND recipient = :'r' ORDER BY id", {
            s: phone.bare,
            r: `${bobName}@localhost`,
        });
        assert.deepEqual(rows, [["from the laptop"]]);

        bob = await online(srv, bobName);
        await bob.nextMessage("from the laptop");
        await bob.expectNone(
            (e) => e.is("message") && e.getChildText("body") === "from the phone",
            "the blocked resource's message later",
            500,
        );
    } finally {
        await stopAll(bob, phone, laptop);
    }
});

test("idle: kept in the presence contacts see, and in probe answers once the contact is offline", SLOW, async () => {
    const a = await online(srv, uniqueUser("idler"));
    let b = await online(srv, uniqueUser("watcher"));
    const c = await online(srv, uniqueUser("active"));
    try {
        await befriend(a, b);
        await befriend(c, b);
        const since = new Date(Date.now() - 15 * 60_000).toISOString();
        await a.presence([xml("show", {}, "away"), xml("idle", { xmlns: IDLE, since })]);
        const live = await b.next(
            (e) => e.is("presence") && e.attrs.from === a.jid.toString() && e.getChild("idle", IDLE),
            "the idle presence",
        );
        assert.equal(Date.parse(live.getChild("idle", IDLE).attrs.since), Date.parse(since));
        await a.sync();
        await waitIdleStored(a.bare, since);
        await b.stop();
        await a.stop();
        await c.stop();

        // the watcher comes back: both contacts are offline now
        b = await online(srv, b.username);
        const pa = await nextPresence(b, a.bare, "unavailable");
        const idleA = pa.getChild("idle", IDLE);
        assert.ok(idleA, `idle in the probe answer: ${pa.toString()}`);
        assert.equal(Date.parse(idleA.attrs.since), Date.parse(since), "since it went idle, before leaving");
        const pc = await nextPresence(b, c.bare, "unavailable");
        const idleC = pc.getChild("idle", IDLE);
        assert.ok(idleC, `idle in the probe answer: ${pc.toString()}`);
        assert.equal(idleC.attrs.since, pc.getChild("delay", NS.delay).attrs.stamp, "active until it left");
    } finally {
        await stopAll(a, b, c);
    }
});

test("an idle time that is not a date is ignored: the presence goes out, nothing is stored", T, async () => {
    const a = await online(srv, uniqueUser("badidle"));
    try {
        await a.presence([xml("idle", { xmlns: IDLE, since: "yesterday" })]);
        await a.sync();
        const rows = await sql("SELECT count(*) FROM sessions WHERE username = :'u' AND idle_since IS NOT NULL", {
            u: a.username,
        });
        assert.equal(rows[0][0], "0");
        await a.presence([xml("idle", { xmlns: IDLE, since: "2020-01-02T03:04:05.678+01:00" })]);
        const end = Date.now() + 5_000;
        let got;
        while (Date.now() < end) {
            got = await sql(
                "SELECT to_char(idle_since AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') FROM sessions WHERE username = :'u'",
                { u: a.username },
            );
            if (got[0]?.[0]) break;
            await a.sync();
        }
        assert.equal(got[0][0], "2020-01-02 02:04:05.678", "a zone offset is honoured");
    } finally {
        await stopAll(a);
    }
});

async function waitIdleStored(bare, since) {
    const end = Date.now() + 5_000;
    while (Date.now() < end) {
        const r = await sql("SELECT (extract(epoch FROM idle_since) * 1000)::bigint FROM presence_last WHERE jid = :'j'", {
            j: bare,
        });
        if (r[0]?.[0] && Number(r[0][0]) === Date.parse(since)) return;
        await new Promise((res) => setTimeout(res, 50));
    }
    throw new Error("the idle time was not kept in presence_last");
}

stopsCleanly(srv);
