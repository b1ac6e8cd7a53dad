// XEP-0198 after the resumption window (PARLEY_SM_RESUME_TIMEOUT, 2 s
// here): what the client had not acknowledged is still `stored` and comes
// once at the next login; contacts see `unavailable` only then, not at the
// drop; a resume then fails with item-not-found and the connection can
// still bind.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
    SLOW,
    NS,
    useServer,
    stopsCleanly,
    online,
    uniqueUser,
    bareJid,
    sql,
    waitForSql,
    stopAll,
    xml,
} from "./lib/harness.mjs";
import { SM, smClient, resume, bind } from "./lib/sm.mjs";

const srv = useServer({ env: { PARLEY_TEAM_ROSTER: "1", PARLEY_SM_RESUME_TIMEOUT: "2" } });

const stateOf =
    "SELECT d.state FROM deliveries d JOIN messages m ON m.id = d.message_id " +
    "WHERE m.sender = :'s' AND m.stanza_id = :'id'";

test("after the window: unacked messages once at the next login, unavailable only then", { timeout: 30_000 }, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const bobName = uniqueUser("bob");
    const bob = await smClient(srv, bobName);
    let fresh;
    try {
        await alice.next((el) => el.is("presence") && el.attrs.from?.startsWith(bareJid(bobName)) &&
            !el.attrs.type, "bob's presence");
        for (let i = 0; i < 3; i++) {
            await alice.send(xml("message", { type: "chat", to: bareJid(bobName), id: `w-${i}` },
                xml("body", {}, `w${i}`)));
        }
        for (let i = 0; i < 3; i++) {
            await bob.nextStanza((el) => el.getChildText("body") === `w${i}`, `w${i}`);
        }
        bob.ack(bob.received - 1); // w2 not acknowledged
        await bob.request();
        await waitForSql(stateOf, { s: alice.bare, id: "w-1" }, (r) => r[0]?.[0] === "delivered",
            "w-1 delivered");
        const previd = bob.id;
        const dropped = Date.now();
        bob.drop();

        const gone = await alice.next((el) => el.is("presence") && el.attrs.type === "unavailable" &&
            el.attrs.from?.startsWith(bareJid(bobName)), "bob's unavailable at the window's end", 10_000);
        assert.ok(gone);
        assert.ok(Date.now() - dropped >= 1_500, "not at the drop: when the 2 s window ended");
        assert.equal((await sql(stateOf, { s: alice.bare, id: "w-2" }))[0][0], "stored",
            "the unacknowledged message is `stored` (it never left)");

        // Resumption now: item-not-found, and the same connection binds.
        const r = await resume(srv, bobName, previd, 4);
        fresh = r.sm;
        assert.ok(r.el.is("failed", SM), r.el.toString());
        assert.ok(r.el.getChild("item-not-found", NS.stanzas), r.el.toString());
        await bind(fresh.conn);
        await fresh.enable();
        fresh.send(`<presence xmlns='jabber:client'/>`);
        const again = await fresh.nextStanza((el) => el.is("message"), "w2 again");
        assert.equal(again.getChildText("body"), "w2");
        assert.ok(again.getChild("delay", NS.delay), "from the store, with <delay/>");
        // Only w2: w0 and w1 were acknowledged.
        await fresh.request();
        assert.equal(fresh.stanzas.filter((el) => el.is("message")).length, 0,
            "nothing else comes again");
        fresh.ack();
        await waitForSql(stateOf, { s: alice.bare, id: "w-2" }, (r) => r[0]?.[0] === "delivered",
            "w-2 delivered once acknowledged");
    } finally {
        bob.drop();
        fresh?.drop();
        await stopAll(alice);
    }
});

test("an unacknowledged message reaches the user's other session at the window's end", SLOW, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const bobName = uniqueUser("bob");
    const phone = await smClient(srv, bobName, { resource: "phone" });
    const desk = await online(srv, bobName, { resource: "desk" });
    try {
        await alice.send(xml("message", { type: "chat", to: `${bareJid(bobName)}/phone`, id: "o-1" },
            xml("body", {}, "to the phone")));
        await phone.nextStanza((el) => el.getChildText("body") === "to the phone", "on the phone");
        phone.drop();
        const got = await desk.nextMessage("to the phone", 10_000);
        assert.ok(got.getChild("delay", NS.delay), "loaded from the store for the desk");
        await desk.expectNone((el) => el.is("message") && el.getChildText("body") === "to the phone",
            "a second copy", 500);
    } finally {
        phone.drop();
        await stopAll(alice, desk);
    }
});

stopsCleanly(srv);
